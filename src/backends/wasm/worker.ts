// Owns the code a wasm-backend worker thread runs: instantiate the kernel module once per weight shard (each
// on that shard's shared memory), then loop: wait for a job on the control block, take panel chunks
// until none is left, count each done. No message per job; only startup uses postMessage.
//
// The worker is started from source text (`WORKER_SOURCE`, `new Worker(..., { eval: true })`) built from
// `workerMain.toString()`, so the same code runs from compiled dist/ JavaScript and under vitest (which
// executes the .ts sources and whose worker threads would not load TypeScript). `workerMain` must therefore
// be self-contained: no imports, no outer variables; everything it needs comes in `workerData`.
import type * as WorkerThreads from "node:worker_threads";

export interface WorkerData {
  module: WebAssembly.Module;
  memories: WebAssembly.Memory[];
  /** The control block's SharedArrayBuffer (see control.ts). */
  control: SharedArrayBuffer;
  /** The control block's slot indices (CTRL) and op codes, passed in because workerMain cannot import. */
  slots: Record<string, number>;
  opQuit: number;
  errorTextSlots: number;
  /** Claim word layout (control.ts): index bits, index mask, tag mask. */
  indexBits: number;
  indexMask: number;
  tagMask: number;
  /** This worker's share index (1 … threads-1; the main thread is 0). */
  index: number;
  /** Export name of the matmul kernel. */
  kernel: string;
}

/** The worker's entry point; receives the node:worker_threads module. */
export function workerMain(wt: typeof WorkerThreads): void {
  const d = wt.workerData as WorkerData;
  const c = new Int32Array(d.control);
  const S = d.slots;
  type Kernel = (...args: number[]) => void;
  const kernels: Kernel[] = d.memories.map((mem) => new WebAssembly.Instance(d.module, { env: { mem } }).exports[d.kernel] as Kernel);
  let seen = Atomics.load(c, S.SEQ);
  wt.parentPort!.postMessage("ready");
  for (;;) {
    let s = Atomics.load(c, S.SEQ);
    const spinMicros = Atomics.load(c, S.SPIN); // the main thread's current polling time (control.ts)
    if (s === seen && spinMicros > 0) {
      const until = performance.now() + spinMicros / 1000;
      for (let i = 1; s === seen; i++) {
        s = Atomics.load(c, S.SEQ);
        if ((i & 1023) === 0 && performance.now() > until) break;
      }
    }
    while (s === seen) {
      Atomics.wait(c, S.SEQ, seen);
      s = Atomics.load(c, S.SEQ);
    }
    seen = s;
    if (c[S.OP] === d.opQuit) return;
    // Take chunks of job `s` until none is left (the protocol of control.ts claimWord; the main thread runs the
    // same loop). A job that finished or moved on while this thread was asleep has a different tag: nothing to do.
    const tag = s & d.tagMask;
    for (;;) {
      const v = Atomics.load(c, S.NEXT);
      const left = v & d.indexMask;
      if (v >>> d.indexBits !== tag || left === 0) break;
      if (Atomics.compareExchange(c, S.NEXT, v, v - 1) !== v) continue;
      const K = c[S.CHUNKS];
      const i = K - left;
      const P = c[S.PANELS];
      try {
        // chunk i of K: panels floor(P·i/K) … floor(P·(i+1)/K) - 1 (control.ts shareOf)
        kernels[c[S.SHARD]](c[S.W], c[S.X], c[S.Y], c[S.N_GROUPS], Math.floor((P * i) / K), Math.floor((P * (i + 1)) / K), c[S.T], c[S.X_GROUP_STRIDE], c[S.Y_STRIDE]);
      } catch (e) {
        if (Atomics.compareExchange(c, S.ERROR, 0, 1) === 0) {
          const text = `wasm worker ${d.index}: ${e instanceof Error ? e.message : String(e)}`.slice(0, d.errorTextSlots);
          for (let k = 0; k < text.length; k++) c[S.ERROR_TEXT + k] = text.charCodeAt(k);
          c[S.ERROR_LENGTH] = text.length;
        }
      }
      Atomics.add(c, S.DONE, 1);
      Atomics.notify(c, S.DONE);
    }
  }
}

/** Source text of a worker: workerMain applied to node:worker_threads (run with `eval: true`, CommonJS). */
export const WORKER_SOURCE = `"use strict";\n(${workerMain.toString()})(require("node:worker_threads"));\n`;
