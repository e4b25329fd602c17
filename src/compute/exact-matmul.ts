// Owns the fast exact matmul of the reference engine: a MatMulFn (src/engine/decoder.ts) that computes a
// model's weight products on the worker pool (pool.ts) with the exact WebAssembly kernel (kernels-exact.ts) or
// the two-row JS kernel (kernels-fast.ts), its output rows cut into chunks that the main thread and
// `threads - 1` worker threads claim until none is left. Every output element is computed by the same
// sequential code as the oracle's (same lane order, same roundings), so the result is bit-identical to
// matMulRows (src/engine/kernels.ts) for any thread count, any kernel, any run.
//
// Memory: with the wasm kernel the weights are copied once, at pool creation, into one shared
// WebAssembly.Memory (wasm32: at most 4 GiB in all; weights beyond that, or all of them when such a memory
// cannot be allocated, use the JS kernel). With the JS kernel the workers read the model's own arrays when
// they are SharedArrayBuffer-backed, else a shared copy made once here. x and y go through shared scratch
// (the MatMulFn copies x in and y out). dispose() ends the workers; later products run on the calling thread.
import type { MatMulFn } from "../engine/decoder.js";
import type { Model } from "../engine/weights.js";
import { matMulRange } from "./kernels-fast.js";
import { buildExactMatMulModule, EXACT_MATMUL } from "./kernels-exact.js";
import { checkPoolThreads, createPool, type KernelEntry } from "./pool.js";
import { chunkRows } from "./protocol.js";

export type KernelChoice = "wasm" | "js";

export interface MatMulPoolOptions {
  /** Threads computing each product, the main thread included (1 = no workers). Default 1. */
  threads?: number;
  /** "wasm" (default): the exact SIMD kernel, weights copied into wasm memory; "js": the two-row JS kernel. */
  kernel?: KernelChoice;
  /** Products with fewer multiply-adds (t·m·n) than this run on the main thread alone. Default 2^17. */
  minParallelMacs?: number;
  /** Token rows per job: larger t is processed in chunks of this many rows (same results). Default 32. */
  tokenRows?: number;
  /** Threads poll this long (ms) for the next job before sleeping. Default 2, or 0 when threads exceed the cores. */
  spinMs?: number;
  /** Test hook: cap on the wasm memory in bytes (weights that do not fit use the JS kernel). */
  maxWasmBytes?: number;
}

export interface MatMulPool {
  /** The MatMulFn to give createKvGraph / createPrefillGraph (`{ matMul: pool.matMul }`). */
  readonly matMul: MatMulFn;
  readonly threads: number;
  /** How many weight matrices use each kernel (for reports and tests). */
  readonly kernels: { wasm: number; js: number };
  /** Ends the workers (idempotent). Later products run on the main thread alone. */
  dispose(): void;
}

/** The pool's kernel table: the exact wasm kernel on the one memory, the JS kernel on the shared arrays. */
const KERNEL_WASM = 0;
const KERNEL_JS = 1;
const KERNELS: KernelEntry[] = [
  // mm(w, x, y, t, m, n, r0, r1): byte offsets in the memory
  { wasm: EXACT_MATMUL, args: 6, at: 6, arrays: 0 },
  // matMulRange(y, w, x, t, m, n, r0, r1): y, w, x are indices into the pool's arrays
  { js: matMulRange, args: 6, at: 6, arrays: 3 },
];
/** Indices of the scratch arrays in the pool's arrays (weights follow). */
const X32 = 0;
const YS = 1;

interface Slot {
  kernel: typeof KERNEL_WASM | typeof KERNEL_JS;
  /** Byte offset in wasm memory (wasm slots) or index in the pool's arrays (JS slots). */
  at: number;
}

const PAGE = 65536;
const WASM_MAX_BYTES = 65536 * PAGE;
/** How long the main thread waits for workers before it gives up (a worker that died cannot report). */
const JOB_TIMEOUT_MS = 10 * 60 * 1000;

/** The model's matrices, each once (a tied LM head is the embedding table itself). */
export function weightMatrices(model: Model): Float32Array[] {
  const w = model.weights;
  const list: Float32Array[] = [];
  for (const l of w.layers) list.push(l.wq, l.wk, l.wv, l.wo, l.w1, l.w2, l.w3);
  list.push(w.output);
  return [...new Set(list)];
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

/**
 * Builds the pool for `model`: lays out the weights and scratch, starts `threads - 1` workers and waits until
 * they are ready. The shapes of the products it will see come from the model's config.
 */
export async function createMatMulPool(model: Model, opts: MatMulPoolOptions = {}): Promise<MatMulPool> {
  const threads = checkPoolThreads(opts.threads ?? 1);
  const kernel = opts.kernel ?? "wasm";
  if (kernel !== "wasm" && kernel !== "js") throw new RangeError(`kernel must be "wasm" or "js", got ${String(kernel)}`);
  const minParallelMacs = opts.minParallelMacs ?? 1 << 17;
  const tokenRows = opts.tokenRows ?? 32;
  if (!Number.isInteger(tokenRows) || tokenRows < 1) throw new RangeError(`tokenRows must be a positive integer, got ${tokenRows}`);

  const c = model.config;
  const maxN = Math.max(c.dim, c.nHeads * c.headDim, c.hiddenDim);
  const maxM = Math.max(c.dim, c.nHeads * c.headDim, c.hiddenDim, c.vocabSize);
  const mats = weightMatrices(model);

  // Scratch: x as float64 (wasm kernel) and fp32 (JS kernel), y fp32; tokenRows token rows.
  const x64Bytes = align(tokenRows * maxN * 8, 64);
  const x32Bytes = align(tokenRows * maxN * 4, 64);
  const yBytes = align(tokenRows * maxM * 4, 64);
  const scratchBytes = 64 + x64Bytes + x32Bytes + yBytes;
  const x64Off = 64;
  const x32Off = x64Off + x64Bytes;
  const yOff = x32Off + x32Bytes;

  // Wasm layout: scratch, then as many weights as fit (16-byte aligned), in model order.
  const slots = new Map<Float32Array, Slot>();
  let memory: WebAssembly.Memory | undefined;
  if (kernel === "wasm") {
    const cap = Math.min(opts.maxWasmBytes ?? WASM_MAX_BYTES, WASM_MAX_BYTES);
    let end = scratchBytes;
    const placed: [Float32Array, number][] = [];
    for (const w of mats) {
      const off = align(end, 16);
      if (off + w.byteLength > cap) continue;
      placed.push([w, off]);
      end = off + w.byteLength;
    }
    const pages = Math.ceil(end / PAGE);
    try {
      memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    } catch {
      // No room for one shared wasm memory this large: every weight takes the JS kernel instead (same bits).
      memory = undefined;
    }
    if (memory) {
      for (const [w, off] of placed) {
        new Float32Array(memory.buffer, off, w.length).set(w);
        slots.set(w, { kernel: KERNEL_WASM, at: off });
      }
    }
  }
  const scratch = memory?.buffer ?? (threads > 1 ? new SharedArrayBuffer(scratchBytes) : new ArrayBuffer(scratchBytes));
  const x64 = new Float64Array(scratch, x64Off, tokenRows * maxN);
  const x32 = new Float32Array(scratch, x32Off, tokenRows * maxN);
  const ys = new Float32Array(scratch, yOff, tokenRows * maxM);
  const arrays = [x32, ys];
  for (const w of mats) {
    if (slots.has(w)) continue;
    let js = w;
    if (threads > 1 && !(w.buffer instanceof SharedArrayBuffer)) {
      js = new Float32Array(new SharedArrayBuffer(w.byteLength));
      js.set(w);
    }
    slots.set(w, { kernel: KERNEL_JS, at: arrays.length });
    arrays.push(js);
  }
  const nWasm = [...slots.values()].filter((s) => s.kernel === KERNEL_WASM).length;

  const pool = await createPool({
    threads,
    kernels: KERNELS,
    module: memory && new WebAssembly.Module(buildExactMatMulModule()),
    memories: memory ? [memory] : [],
    arrays,
    spinMicros: (opts.spinMs ?? 2) * 1000,
    timeoutMs: JOB_TIMEOUT_MS,
  });
  let disposed = false;
  const args = [0, 0, 0, 0, 0, 0];

  const matMul: MatMulFn = (y, w, x, t, m, n) => {
    const slot = slots.get(w);
    if (disposed || slot === undefined || m * n > w.length || m > maxM || n > maxN) {
      // Not one of the model's matrices (or a shape the scratch was not sized for), or after dispose(): exact,
      // on this thread.
      matMulRange(y, w, x, t, m, n, 0, m);
      return;
    }
    const chunks = Math.ceil(m / chunkRows(m, threads));
    for (let t0 = 0; t0 < t; t0 += tokenRows) {
      const tc = Math.min(tokenRows, t - t0);
      const xs = x.subarray(t0 * n, (t0 + tc) * n);
      if (slot.kernel === KERNEL_WASM) {
        x64.set(xs);
        args[0] = slot.at;
        args[1] = x64Off;
        args[2] = yOff;
      } else {
        x32.set(xs);
        args[0] = YS;
        args[1] = slot.at;
        args[2] = X32;
      }
      args[3] = tc;
      args[4] = m;
      args[5] = n;
      pool.run({ kernel: slot.kernel, shard: 0, units: m, chunks, args }, tc * m * n >= minParallelMacs);
      y.set(ys.subarray(0, tc * m), t0 * m);
    }
  };

  return {
    matMul,
    threads,
    kernels: { wasm: nWasm, js: slots.size - nWasm },
    dispose() {
      if (disposed) return;
      disposed = true;
      pool.dispose();
    },
  };
}
