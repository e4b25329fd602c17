// Owns the reference backend: the golden fp32 graphs of src/engine behind the Backend interface, either with
// the plain oracle matmul (createReferenceBackend, synchronous) or with the fast exact matmul pool
// (createParallelReferenceBackend: exact WebAssembly/JS kernels split over worker threads). Both give the same
// bits for every output, whatever the thread count (docs/numerics.md, "Fast path").
import { createKvGraph, kvForward } from "../engine/kv-graph.js";
import { createPrefillGraph, prefillForward } from "../engine/prefill-graph.js";
import type { MatMulFn } from "../engine/decoder.js";
import { createMatMulPool, type MatMulPoolOptions } from "../engine/parallel/pool.js";
import type { Backend, BackendInit } from "../engine/backend.js";

function referenceBackend(init: BackendInit, matMul: MatMulFn | undefined, dispose: () => void): Backend {
  const kv = init.kvSeqLen !== undefined ? createKvGraph(init.model, init.kvSeqLen, { matMul }) : undefined;
  const prefill = init.prefillSeqLen !== undefined ? createPrefillGraph(init.model, init.prefillSeqLen, { matMul }) : undefined;
  return {
    name: "reference",
    supportsTaps: true,
    graphs: { kv: kv?.spec, prefill: prefill?.spec },
    async executeKv(inputs, outputs, opts) {
      if (!kv) throw new Error("reference backend: built without a KV graph (kvSeqLen)");
      kvForward(kv, inputs, outputs, opts?.tap);
    },
    async executePrefill(inputs, outputs, opts) {
      if (!prefill) throw new Error("reference backend: built without a prefill graph (prefillSeqLen)");
      prefillForward(prefill, inputs, outputs, opts?.tap);
    },
    dispose,
  };
}

/** The oracle: plain single-threaded TypeScript matmuls (src/engine/kernels.ts). */
export function createReferenceBackend(init: BackendInit): Backend {
  return referenceBackend(init, undefined, () => {});
}

/**
 * The same graphs with the fast exact matmul pool (src/engine/parallel/pool.ts): `threads` threads per weight
 * product (default 1: no workers, the exact WebAssembly kernel on the calling thread). Bit-identical to
 * createReferenceBackend. dispose() ends the workers.
 */
export async function createParallelReferenceBackend(
  init: BackendInit,
  opts: MatMulPoolOptions = {},
): Promise<Backend & { readonly threads: number; readonly kernels: { wasm: number; js: number } }> {
  const pool = await createMatMulPool(init.model, opts);
  return { ...referenceBackend(init, pool.matMul, () => pool.dispose()), threads: pool.threads, kernels: pool.kernels };
}
