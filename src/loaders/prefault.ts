// Owns making a large SharedArrayBuffer resident ahead of the loader: a worker thread writes one word per 4 KiB
// page, front to back, while the main thread reads, CRC-checks and converts tensors into the same buffer, so the
// page faults of fresh memory (slow on some VMs: see docs/performance.md) overlap the loader's CPU work instead of
// adding to it. The worker only ever writes 0 over 0 with an atomic compare-exchange, so a word the main thread
// has already written is never changed, whichever thread gets to a page first.
//
// It helps only with transparent huge pages (one fault per 2 MiB, mostly the host's cost, on the worker's core);
// with 4 KiB pages the main thread overtakes the worker at once and the two contend for the same page-table work
// (measured slower: docs/performance.md). So by default it runs only when huge pages back this process's large
// allocations: THP "always", or "madvise" with glibc's glibc.malloc.hugetlb tunable set.
import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";

/** THP mode from sysfs ("always", "madvise", "never"), or "" off Linux. */
function thpMode(): string {
  try {
    return /\[(\w+)\]/.exec(readFileSync("/sys/kernel/mm/transparent_hugepage/enabled", "utf8"))?.[1] ?? "";
  } catch {
    return "";
  }
}

/** Whether large allocations of this process get transparent huge pages (see the header). */
export function hugePagesLikely(env: NodeJS.ProcessEnv = process.env, mode: string = thpMode()): boolean {
  if (mode === "always") return true;
  return mode === "madvise" && /(^|:)glibc\.malloc\.hugetlb=[12](:|$)/.test(env.GLIBC_TUNABLES ?? "");
}

/** Below this many bytes starting a thread costs more than it saves. */
export const PREFAULT_MIN_BYTES = 64 * 1024 * 1024;

/** The worker: CAS(0 -> 0) on the first word of every 4 KiB page, in order; stops early when told to. */
const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const a = new Int32Array(workerData.buffer);
const stop = new Int32Array(workerData.stop);
for (let i = 0; i < a.length; i += 1024) {
  if ((i & 0x3ffff) === 0 && Atomics.load(stop, 0) !== 0) break;
  Atomics.compareExchange(a, i, 0, 0);
}
`;

export interface Prefault {
  /** Stops the worker (it finishes the page it is on) and releases it; safe to call more than once. */
  stop(): void;
  /** Settles when the worker thread has exited (after the last page, or after stop()). */
  exited: Promise<void>;
}

/**
 * Starts touching every page of `buffer` on a worker thread and returns at once. Returns undefined (and does
 * nothing) when the buffer is small or a worker cannot be started; the caller's work is correct either way.
 */
export function startPrefault(buffer: SharedArrayBuffer, minBytes = PREFAULT_MIN_BYTES): Prefault | undefined {
  if (buffer.byteLength < minBytes) return undefined;
  const stop = new SharedArrayBuffer(4);
  let worker: Worker;
  try {
    worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { buffer, stop } });
  } catch {
    return undefined;
  }
  worker.unref();
  worker.on("error", () => {}); // an optimisation only: a failed worker changes no result
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  let stopped = false;
  return {
    exited,
    stop() {
      if (stopped) return;
      stopped = true;
      const flags = new Int32Array(stop);
      Atomics.store(flags, 0, 1);
      void worker.terminate();
    },
  };
}
