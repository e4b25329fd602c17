// Owns the code a pool worker runs, and the worker's source text. workerMain is self-contained (it sees only
// its arguments and globals: Atomics, WebAssembly, performance, Math), so its compiled text plus the kernel's
// and the chunk range's text form the worker's whole program, run with `new Worker(source, { eval: true })`.
// That works the same from the built dist/ JavaScript and under vitest (which runs the .ts sources): no
// worker file has to be found on disk. The threads run literally the same kernel code as the main thread.
import { chunkRange, CLOSED, CTL, KIND_JS, KIND_WASM } from "./protocol.js";
import { matMulRange } from "../kernels-fast.js";

/** What a worker receives once, at startup (structured-cloned; SharedArrayBuffers and the Memory are shared). */
export interface WorkerInit {
  ctl: Int32Array;
  /** Wasm path: the compiled exact kernel and the shared memory holding x (f64), y and the weights. */
  module?: WebAssembly.Module;
  memory?: WebAssembly.Memory;
  /** Where the kernel module imports its memory from (EXACT_KERNEL_MEMORY in src/wasm/kernels-exact.ts). */
  memoryImport: { module: string; name: string };
  /** Byte offsets of the scratch areas in `memory` (wasm path). */
  x64Off: number;
  yOff: number;
  /** Scratch for the JS path: x (fp32) and y, over a SharedArrayBuffer. */
  x32: Float32Array;
  y: Float32Array;
  /** Per weight slot: the byte offset of the weight in `memory` (wasm) or its SharedArrayBuffer-backed array (JS). */
  slots: { wasmOff: number; js?: Float32Array }[];
  /** How long to spin on GEN before sleeping in Atomics.wait, in milliseconds. */
  spinMs: number;
}

type MatMulRange = typeof matMulRange;
type ChunkRange = typeof chunkRange;

/** The worker's loop (see src/engine/parallel/protocol.ts): wait for a job, compute chunks while any are left; exit on STOP. */
export function workerMain(
  d: WorkerInit,
  ctlLayout: typeof CTL,
  kinds: { wasm: number; js: number },
  closed: number,
  kernel: MatMulRange,
  range: ChunkRange,
  ready: () => void,
): void {
  const c = d.ctl;
  const L = ctlLayout;
  let mm: ((...a: number[]) => void) | undefined;
  if (d.module && d.memory) {
    const inst = new WebAssembly.Instance(d.module, { [d.memoryImport.module]: { [d.memoryImport.name]: d.memory } });
    mm = inst.exports.mm as (...a: number[]) => void;
  }
  // The control block is fresh: generation 0 means no job yet. The pool issues none before every worker is ready.
  let seen = 0;
  ready();
  for (;;) {
    // Spin briefly (the next job usually follows within microseconds during a graph call), then sleep.
    let g = Atomics.load(c, L.GEN);
    if (g === seen && d.spinMs > 0) {
      const until = performance.now() + d.spinMs;
      for (let k = 1; g === seen; k++) {
        g = Atomics.load(c, L.GEN);
        if ((k & 1023) === 0 && performance.now() > until) break;
      }
    }
    while (g === seen) {
      Atomics.wait(c, L.GEN, seen);
      g = Atomics.load(c, L.GEN);
    }
    seen = g;
    if (Atomics.load(c, L.STOP) === 1) return;
    // Enter through the gate (never while the main thread is writing the descriptor), then read it.
    for (;;) {
      const a = Atomics.load(c, L.ACTIVE);
      if (a !== closed && Atomics.compareExchange(c, L.ACTIVE, a, a + 1) === a) break;
    }
    const t = c[L.T], m = c[L.M], n = c[L.N], chunk = c[L.CHUNK], nChunks = c[L.NCHUNKS], kind = c[L.KIND]; // prettier-ignore
    const slotIndex = c[L.SLOT];
    const slot = d.slots[slotIndex];
    for (;;) {
      const k = Atomics.add(c, L.NEXT, 1);
      if (k >= nChunks) break;
      try {
        const [r0, r1] = range(m, chunk, k);
        if (kind === kinds.wasm) mm!(slot.wasmOff, d.x64Off, d.yOff, t, m, n, r0, r1);
        else if (kind === kinds.js) kernel(d.y, slot.js!, d.x32, t, m, n, r0, r1);
        else throw new Error(`unknown kernel kind ${kind}`);
      } catch {
        Atomics.store(c, L.ERR, 1);
      }
      if (Atomics.add(c, L.FINISHED, 1) + 1 === nChunks) Atomics.notify(c, L.FINISHED);
    }
    Atomics.sub(c, L.ACTIVE, 1);
    Atomics.notify(c, L.ACTIVE);
  }
}

/**
 * The worker program: CommonJS (eval workers run as scripts), reading its WorkerInit from workerData. `__name`
 * is defined in case a transpiler that keeps function names (esbuild keepNames) referenced its helper.
 */
export function workerSource(): string {
  return [
    "'use strict';",
    "var __name = (f) => f;",
    "const { workerData, parentPort } = require('node:worker_threads');",
    `const kernel = ${matMulRange.toString()};`,
    `const range = ${chunkRange.toString()};`,
    `const main = ${workerMain.toString()};`,
    `main(workerData, ${JSON.stringify(CTL)}, ${JSON.stringify({ wasm: KIND_WASM, js: KIND_JS })}, ${CLOSED}, kernel, range, () => parentPort.postMessage('ready'));`,
  ].join("\n");
}
