// Owns the reference backend: the golden fp32 graphs of src/engine behind the Backend interface, either with
// the plain oracle matmul (createReferenceBackend, synchronous) or with the fast exact matmul pool
// (createParallelReferenceBackend: exact WebAssembly/JS kernels split over worker threads). Both give the same
// bits for every output, whatever the thread count (docs/numerics.md, "Fast path").
import { createEngineBackend, type EngineBackend } from "../engine/engine-backend.js";
import { createMatMulPool, type MatMulPoolOptions } from "../compute/exact-matmul.js";
import type { BackendInit } from "../engine/backend.js";

/** The oracle: plain single-threaded TypeScript matmuls (src/engine/kernels.ts). */
export function createReferenceBackend(init: BackendInit): EngineBackend {
  return createEngineBackend(init);
}

/**
 * The same graphs with the fast exact matmul pool (src/compute/exact-matmul.ts): `threads` threads per weight
 * product (default 1: no workers, the exact WebAssembly kernel on the calling thread). Bit-identical to
 * createReferenceBackend. dispose() ends the workers.
 */
export async function createParallelReferenceBackend(
  init: BackendInit,
  opts: MatMulPoolOptions = {},
): Promise<EngineBackend & { readonly threads: number; readonly kernels: { wasm: number; js: number } }> {
  const pool = await createMatMulPool(init.model, opts);
  return { ...createEngineBackend(init, { matMul: pool.matMul, dispose: () => pool.dispose() }), threads: pool.threads, kernels: pool.kernels };
}
