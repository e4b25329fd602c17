// Owns the fast exact matmul of the reference engine: a MatMulFn (src/engine/decoder.ts) that computes a
// model's weight products with the exact WebAssembly kernel (src/wasm/kernels-exact.ts) or the two-row JS
// kernel (src/engine/kernels-fast.ts), its output rows cut into chunks that the main thread and
// `threads - 1` worker threads claim until none is left. Every output element is computed by the same
// sequential code as the oracle's (same lane order, same roundings), so the result is bit-identical to
// matMulRows for any thread count, any kernel, any run.
//
// Memory: with the wasm kernel the weights are copied once, at pool creation, into one shared
// WebAssembly.Memory (wasm32: at most 4 GiB in all; weights beyond that, or all of them when such a memory
// cannot be allocated, use the JS kernel). With the JS kernel the workers read the model's own arrays when
// they are SharedArrayBuffer-backed, else a shared copy made once here. x and y go through shared scratch
// (the MatMulFn copies x in and y out); jobs are posted and completed through an Int32Array control block
// with Atomics (src/engine/parallel/protocol.ts), never with postMessage. Workers are unref'd: a forgotten
// pool does not keep the process alive; dispose() ends them.
import os from "node:os";
import { Worker } from "node:worker_threads";
import type { MatMulFn } from "../decoder.js";
import type { Model } from "../weights.js";
import { matMulRange } from "../kernels-fast.js";
import { buildExactMatMulModule, EXACT_KERNEL_MEMORY, instantiateExactMatMul, type ExactMatMul } from "../../wasm/kernels-exact.js";
import { chunkRange, chunkRows, CLOSED, CTL, KIND_JS, KIND_WASM } from "./protocol.js";
import { workerSource, type WorkerInit } from "./worker-main.js";

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
  /** Workers spin this long (ms) for the next job before sleeping. Default 2, or 0 when threads exceed the cores. */
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

interface Slot {
  /** Index in the slot table the workers received. */
  index: number;
  kind: typeof KIND_WASM | typeof KIND_JS;
  /** Byte offset in wasm memory (wasm slots). */
  wasmOff: number;
  /** The array the JS kernel reads (SharedArrayBuffer-backed when threads > 1). */
  js: Float32Array;
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

function checkThreads(threads: number): number {
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new RangeError(`threads must be an integer in [1, 256], got ${threads}`);
  return threads;
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

/**
 * Builds the pool for `model`: lays out the weights and scratch, starts `threads - 1` workers and waits until
 * they are ready. The shapes of the products it will see come from the model's config.
 */
export async function createMatMulPool(model: Model, opts: MatMulPoolOptions = {}): Promise<MatMulPool> {
  const threads = checkThreads(opts.threads ?? 1);
  const kernel = opts.kernel ?? "wasm";
  if (kernel !== "wasm" && kernel !== "js") throw new RangeError(`kernel must be "wasm" or "js", got ${String(kernel)}`);
  const minParallelMacs = opts.minParallelMacs ?? 1 << 17;
  const tokenRows = opts.tokenRows ?? 32;
  if (!Number.isInteger(tokenRows) || tokenRows < 1) throw new RangeError(`tokenRows must be a positive integer, got ${tokenRows}`);
  const cores = typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
  const spinMs = opts.spinMs ?? (threads <= cores ? 2 : 0);

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
  const slotList: Slot[] = [];
  let memory: WebAssembly.Memory | undefined;
  let module: WebAssembly.Module | undefined;
  let mm: ExactMatMul | undefined;
  let scratch: ArrayBuffer | SharedArrayBuffer | undefined;
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
      module = new WebAssembly.Module(buildExactMatMulModule());
      mm = instantiateExactMatMul(module, memory);
      scratch = memory.buffer;
      for (const [w, off] of placed) {
        new Float32Array(memory.buffer, off, w.length).set(w);
        const s: Slot = { index: slotList.length, kind: KIND_WASM, wasmOff: off, js: w };
        slots.set(w, s);
        slotList.push(s);
      }
    }
  }
  if (scratch === undefined) scratch = threads > 1 ? new SharedArrayBuffer(scratchBytes) : new ArrayBuffer(scratchBytes);
  for (const w of mats) {
    if (slots.has(w)) continue;
    let js = w;
    if (threads > 1 && !(w.buffer instanceof SharedArrayBuffer)) {
      js = new Float32Array(new SharedArrayBuffer(w.byteLength));
      js.set(w);
    }
    const s: Slot = { index: slotList.length, kind: KIND_JS, wasmOff: 0, js };
    slots.set(w, s);
    slotList.push(s);
  }
  const x64 = new Float64Array(scratch, x64Off, tokenRows * maxN);
  const x32 = new Float32Array(scratch, x32Off, tokenRows * maxN);
  const ys = new Float32Array(scratch, yOff, tokenRows * maxM);

  const ctl = new Int32Array(threads > 1 ? new SharedArrayBuffer(CTL.LENGTH * 4) : new ArrayBuffer(CTL.LENGTH * 4));
  const workers: Worker[] = [];
  if (threads > 1) {
    const source = workerSource();
    const started: Promise<void>[] = [];
    for (let k = 1; k < threads; k++) {
      const init: WorkerInit = {
        ctl,
        module,
        memory,
        memoryImport: { module: EXACT_KERNEL_MEMORY.module, name: EXACT_KERNEL_MEMORY.name },
        x64Off,
        yOff,
        x32,
        y: ys,
        // Wasm slots need only their offset; JS slots their shared array.
        slots: slotList.map((s) => (s.kind === KIND_WASM ? { wasmOff: s.wasmOff } : { wasmOff: 0, js: s.js })),
        spinMs,
      };
      const worker = new Worker(source, { eval: true, workerData: init });
      workers.push(worker);
      started.push(
        new Promise<void>((resolve, reject) => {
          worker.once("message", () => resolve());
          worker.once("error", reject);
          worker.once("exit", (code) => reject(new Error(`matmul worker ${k} exited (code ${code}) before it was ready`)));
        }),
      );
    }
    try {
      await Promise.all(started);
    } catch (e) {
      for (const w of workers) void w.terminate();
      throw e;
    }
    for (const w of workers) {
      w.removeAllListeners("exit");
      w.removeAllListeners("error");
      w.on("error", () => {}); // a failure shows up as ERR / a timeout in the job protocol
      w.unref();
    }
  }
  let disposed = threads === 1;

  const compute = (slot: Slot, tc: number, m: number, n: number, r0: number, r1: number): void => {
    if (slot.kind === KIND_WASM) mm!(slot.wasmOff, x64Off, yOff, tc, m, n, r0, r1);
    else matMulRange(ys, slot.js, x32, tc, m, n, r0, r1);
  };

  /** Spins, then sleeps in Atomics.wait, until ctl[i] satisfies `done`; gives up after JOB_TIMEOUT_MS. */
  const waitFor = (i: number, done: (v: number) => boolean, what: string): void => {
    let v = Atomics.load(ctl, i);
    for (let k = 0; !done(v) && k < 20000; k++) v = Atomics.load(ctl, i);
    const deadline = Date.now() + JOB_TIMEOUT_MS;
    while (!done(v)) {
      if (Date.now() > deadline) throw new Error(`matmul pool: timed out waiting for ${what} (a worker died?)`);
      Atomics.wait(ctl, i, v, 100);
      v = Atomics.load(ctl, i);
    }
  };

  /** Closes the gate (ACTIVE: 0 -> CLOSED), waiting while workers are still inside the previous job. */
  const closeGate = (): void => {
    let a = Atomics.compareExchange(ctl, CTL.ACTIVE, 0, CLOSED);
    for (let k = 0; a !== 0 && k < 20000; k++) a = Atomics.compareExchange(ctl, CTL.ACTIVE, 0, CLOSED);
    const deadline = Date.now() + JOB_TIMEOUT_MS;
    while (a !== 0) {
      if (Date.now() > deadline) throw new Error("matmul pool: timed out waiting for the workers to leave a job (a worker died?)");
      Atomics.wait(ctl, CTL.ACTIVE, a, 100);
      a = Atomics.compareExchange(ctl, CTL.ACTIVE, 0, CLOSED);
    }
  };

  /** Runs one job of tc ≤ tokenRows token rows whose x is already in scratch; y lands in scratch. */
  const runJob = (slot: Slot, tc: number, m: number, n: number): void => {
    if (disposed || tc * m * n < minParallelMacs) {
      compute(slot, tc, m, n, 0, m);
      return;
    }
    const chunk = chunkRows(m, threads);
    const nChunks = Math.ceil(m / chunk);
    closeGate();
    ctl[CTL.KIND] = slot.kind;
    ctl[CTL.SLOT] = slot.index;
    ctl[CTL.T] = tc;
    ctl[CTL.M] = m;
    ctl[CTL.N] = n;
    ctl[CTL.CHUNK] = chunk;
    ctl[CTL.NCHUNKS] = nChunks;
    Atomics.store(ctl, CTL.NEXT, 0);
    Atomics.store(ctl, CTL.FINISHED, 0);
    Atomics.store(ctl, CTL.ACTIVE, 0); // open the gate
    Atomics.add(ctl, CTL.GEN, 1);
    Atomics.notify(ctl, CTL.GEN);
    for (;;) {
      const k = Atomics.add(ctl, CTL.NEXT, 1);
      if (k >= nChunks) break;
      const [r0, r1] = chunkRange(m, chunk, k);
      compute(slot, tc, m, n, r0, r1);
      Atomics.add(ctl, CTL.FINISHED, 1);
    }
    waitFor(CTL.FINISHED, (v) => v >= nChunks, "the workers' chunks");
    if (Atomics.load(ctl, CTL.ERR) !== 0) {
      Atomics.store(ctl, CTL.ERR, 0);
      throw new Error("matmul pool: a worker failed while computing a product");
    }
  };

  const matMul: MatMulFn = (y, w, x, t, m, n) => {
    const slot = slots.get(w);
    if (slot === undefined || m * n > w.length || m > maxM || n > maxN) {
      // Not one of the model's matrices (or a shape the scratch was not sized for): exact, on this thread.
      matMulRange(y, w, x, t, m, n, 0, m);
      return;
    }
    for (let t0 = 0; t0 < t; t0 += tokenRows) {
      const tc = Math.min(tokenRows, t - t0);
      const xs = x.subarray(t0 * n, (t0 + tc) * n);
      if (slot.kind === KIND_WASM) x64.set(xs);
      else x32.set(xs);
      runJob(slot, tc, m, n);
      y.set(ys.subarray(0, tc * m), t0 * m);
    }
  };

  return {
    matMul,
    threads,
    kernels: { wasm: slotList.filter((s) => s.kind === KIND_WASM).length, js: slotList.filter((s) => s.kind === KIND_JS).length },
    dispose() {
      if (disposed) return;
      disposed = true;
      Atomics.store(ctl, CTL.STOP, 1);
      Atomics.add(ctl, CTL.GEN, 1);
      Atomics.notify(ctl, CTL.GEN);
      for (const w of workers) void w.terminate().catch(() => {});
    },
  };
}
