// Owns the code every pool thread runs (src/compute/pool.ts), the main thread included, and the worker's entry:
// binding the pool's kernel table (wasm exports instantiated once per memory shard, or JS kernels), running one
// chunk of a job, taking chunks of the current job until none is left, and the worker's loop (wait for a job on
// the control block, take chunks, exit on OP_QUIT). No message per job; only startup uses postMessage.
//
// The worker is started from source text (`WORKER_SOURCE`, `new Worker(..., { eval: true })`) built from these
// functions' `toString()`, so the same code runs from compiled dist/ JavaScript and under vitest (which
// executes the .ts sources and whose worker threads would not load TypeScript). Every function here must
// therefore be self-contained: no imports (types only), no outer variables but each other; everything else
// comes in `workerData` (the protocol constants of protocol.ts, the kernel table, the shared memories).
import type * as WorkerThreads from "node:worker_threads";
import type { Protocol } from "./protocol.js";

/**
 * A kernel of the pool's table as sent to a thread. It is called with `args` int32 arguments from the job
 * descriptor, the chunk's unit range [u0, u1) inserted before argument `at`; its first `arrays` arguments are
 * indices into the pool's shared arrays, passed as those arrays.
 * - wasm: the name of an export of the pool's module, called on the instance of the job's memory shard;
 * - js: a self-contained function (its source text when sent to a worker), the same for every shard.
 */
export type KernelEntry = { args: number; at: number; arrays: number } & ({ wasm: string } | { js: string | ((...a: never[]) => void) });

/** A kernel bound in one thread: its function per shard and a reusable argument vector. */
export interface BoundKernel {
  fns: ((...a: unknown[]) => void)[];
  arrays: readonly Float32Array[];
  nArgs: number;
  nArrays: number;
  at: number;
  v: unknown[];
}

/** What a worker receives once, at startup (structured-cloned; SharedArrayBuffers and Memories are shared). */
export interface WorkerData {
  /** The control block's SharedArrayBuffer (see protocol.ts). */
  control: SharedArrayBuffer;
  protocol: Protocol;
  /** The kernel module, instantiated on every memory (imported as env.mem); absent for JS-only pools. */
  module?: WebAssembly.Module;
  memories: WebAssembly.Memory[];
  /** SharedArrayBuffer-backed arrays the JS kernels read and write. */
  arrays: Float32Array[];
  kernels: KernelEntry[];
  /** This worker's index (1 … threads-1; the main thread is 0). */
  index: number;
}

/** Binds the kernel table in the calling thread; throws when a wasm kernel is not an export of the module. */
export function bindKernels(
  table: readonly KernelEntry[],
  module: WebAssembly.Module | undefined,
  memories: readonly WebAssembly.Memory[],
  arrays: readonly Float32Array[],
): BoundKernel[] {
  const exports = module ? memories.map((mem) => new WebAssembly.Instance(module, { env: { mem } }).exports) : [];
  return table.map((k) => {
    let fns: ((...a: unknown[]) => void)[];
    if ("wasm" in k) {
      fns = exports.map((e) => e[k.wasm] as (...a: unknown[]) => void);
      if (fns.some((f) => typeof f !== "function")) throw new Error(`pool: the module has no export ${k.wasm}`);
    } else {
      fns = [typeof k.js === "string" ? (new Function(`return (${k.js});`)() as (...a: unknown[]) => void) : (k.js as (...a: unknown[]) => void)];
    }
    return { fns, arrays, nArgs: k.args, nArrays: k.arrays, at: k.at, v: [] };
  });
}

/** Runs units [u0, u1) of a job: kernel `k` on memory `shard`, its arguments a[o], a[o+1], … */
export function runChunk(k: BoundKernel, shard: number, a: ArrayLike<number>, o: number, u0: number, u1: number): void {
  const v = k.v;
  let j = 0;
  for (let i = 0; i < k.nArgs; i++) {
    if (i === k.at) {
      v[j++] = u0;
      v[j++] = u1;
    }
    v[j++] = i < k.nArrays ? k.arrays[a[o + i]] : a[o + i];
  }
  if (k.at >= k.nArgs) {
    v[j++] = u0;
    v[j++] = u1;
  }
  const f = k.fns.length === 1 ? k.fns[0] : k.fns[shard];
  f(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]);
}

/**
 * Takes chunks of job `seq` until none is left (protocol.ts claimWord); returns how many this thread took. A
 * chunk that throws is reported to `fail` and still counts as done. A job that finished or moved on while this
 * thread was asleep has a different tag: nothing to do.
 */
export function takeChunks(c: Int32Array, P: Protocol, seq: number, kernels: readonly BoundKernel[], fail: (e: unknown) => void): number {
  const tag = (seq & P.tagMask) << P.indexBits;
  let taken = 0;
  for (;;) {
    const w = Atomics.load(c, P.NEXT);
    const left = w & P.indexMask;
    if (w - left !== tag || left === 0) return taken;
    if (Atomics.compareExchange(c, P.NEXT, w, w - 1) !== w) continue;
    taken++;
    const K = c[P.CHUNKS];
    const U = c[P.UNITS];
    const i = K - left;
    try {
      // chunk i of K: units floor(U·i/K) … floor(U·(i+1)/K) - 1 (protocol.ts shareOf)
      runChunk(kernels[c[P.KERNEL]], c[P.SHARD], c, P.ARGS, Math.floor((U * i) / K), Math.floor((U * (i + 1)) / K));
    } catch (e) {
      fail(e);
    }
    if (Atomics.add(c, P.DONE, 1) + 1 === K) Atomics.notify(c, P.DONE);
  }
}

/** The worker's entry point; receives the node:worker_threads module and the functions above. */
export function workerMain(wt: typeof WorkerThreads, bind: typeof bindKernels, take: typeof takeChunks): void {
  const d = wt.workerData as WorkerData;
  const c = new Int32Array(d.control);
  const P = d.protocol;
  const kernels = bind(d.kernels, d.module, d.memories, d.arrays);
  const fail = (e: unknown) => {
    if (Atomics.compareExchange(c, P.ERROR, 0, 1) !== 0) return;
    const text = `pool worker ${d.index}: ${e instanceof Error ? e.message : String(e)}`.slice(0, P.errorTextSlots);
    for (let k = 0; k < text.length; k++) c[P.ERROR_TEXT + k] = text.charCodeAt(k);
    c[P.ERROR_LENGTH] = text.length;
  };
  let seen = Atomics.load(c, P.SEQ);
  wt.parentPort!.postMessage("ready");
  for (;;) {
    let s = Atomics.load(c, P.SEQ);
    const spinMicros = Atomics.load(c, P.SPIN); // the main thread's current polling time (protocol.ts)
    if (s === seen && spinMicros > 0) {
      const until = performance.now() + spinMicros / 1000;
      for (let i = 1; s === seen; i++) {
        s = Atomics.load(c, P.SEQ);
        if ((i & 1023) === 0 && performance.now() > until) break;
      }
    }
    while (s === seen) {
      Atomics.wait(c, P.SEQ, seen);
      s = Atomics.load(c, P.SEQ);
    }
    seen = s;
    if (c[P.OP] === P.opQuit) return;
    take(c, P, s, kernels, fail);
  }
}

/**
 * Source text of a worker (CommonJS: eval workers run as scripts): the functions above applied to
 * node:worker_threads. `__name` is defined in case a transpiler that keeps function names (esbuild keepNames)
 * referenced its helper.
 */
export const WORKER_SOURCE = [
  '"use strict";',
  "var __name = (f) => f;",
  `const runChunk = ${runChunk.toString()};`,
  `const takeChunks = ${takeChunks.toString()};`,
  `const bindKernels = ${bindKernels.toString()};`,
  `(${workerMain.toString()})(require("node:worker_threads"), bindKernels, takeChunks);`,
].join("\n");
