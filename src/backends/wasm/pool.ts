// Owns the wasm backend's thread pool: `threads - 1` worker threads plus the main thread, all running the same
// kernel module on the same shared memories. A job (one matmul on one shard) is published in the shared
// control block and the workers are woken with Atomics.notify. Its row panels are cut into a fixed set of
// chunks (control.ts chunksFor / shareOf) that every thread, the main one included, takes one at a time until
// none is left; the main thread then waits until all chunks are done. A worker that wakes late (descheduled
// by another process) finds its work already taken instead of holding the job up.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import {
  chunksFor,
  CLAIM_INDEX_BITS,
  CLAIM_INDEX_MASK,
  CLAIM_TAG_MASK,
  claimWord,
  CTRL,
  CTRL_SLOTS,
  ERROR_TEXT_SLOTS,
  initialPolling,
  MAX_THREADS,
  nextPolling,
  OP_MATMUL,
  OP_QUIT,
  shareOf,
  type Polling,
} from "./control.js";
import { WORKER_SOURCE, type WorkerData } from "./worker.js";

/** One matmul job, addresses in bytes in the shard's memory (see src/wasm/kernels.ts MATMUL_PARAMS). */
export interface MatMulJob {
  shard: number;
  w: number;
  x: number;
  y: number;
  nGroups: number;
  panels: number;
  t: number;
  xGroupStride: number;
  yStride: number;
}

export interface Pool {
  readonly threads: number;
  /** Runs a job over all threads (or on the main thread alone when `parallel` is false); returns when done. */
  run(job: MatMulJob, parallel: boolean): void;
  /** Stops and terminates the workers; the pool cannot run jobs afterwards. */
  dispose(): void;
  /**
   * Counters for diagnostics: jobs run, jobs split over the threads, their chunks and how many of those the
   * main thread took, times polling was switched off.
   */
  readonly stats: { jobs: number; parallelJobs: number; chunks: number; mainChunks: number; pollingBackoffs: number };
}

export interface PoolOptions {
  /** Threads computing a job, the main thread included (1 = no workers). */
  threads: number;
  /** Export name of the kernel every thread calls. */
  kernel: string;
  /**
   * Microseconds a waiting thread polls the control block before it sleeps in Atomics.wait (default 1000; always
   * 0 when there are more threads than CPUs). Switched off for a while when other processes compete for the
   * cores (control.ts nextPolling).
   */
  spinMicros?: number;
  /** Longest wait for the workers of one job before giving up, ms (default 60 s). */
  timeoutMs?: number;
  /** Worker source text (default WORKER_SOURCE; tests pass the source as compiled for dist/). */
  workerSource?: string;
}

type Kernel = (...args: number[]) => void;

/** Starts the workers (each instantiates `module` on every memory) and resolves when all are waiting for jobs. */
export async function createPool(module: WebAssembly.Module, memories: WebAssembly.Memory[], o: PoolOptions): Promise<Pool> {
  const threads = o.threads;
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) throw new RangeError(`threads must be an integer in [1, ${MAX_THREADS}], got ${threads}`);
  const configuredSpin = threads > availableParallelism() ? 0 : Math.max(0, Math.round(o.spinMicros ?? 1000));
  let polling: Polling = initialPolling(configuredSpin);
  const timeoutMs = o.timeoutMs ?? 60_000;
  const kernels: Kernel[] = memories.map((mem) => new WebAssembly.Instance(module, { env: { mem } }).exports[o.kernel] as Kernel);
  if (kernels.some((k) => typeof k !== "function")) throw new Error(`wasm pool: the module has no export ${o.kernel}`);
  const control = new SharedArrayBuffer(CTRL_SLOTS * 4);
  const c = new Int32Array(control);
  c[CTRL.SPIN] = polling.spinMicros;
  const workers: Worker[] = [];
  let failure: Error | undefined;
  let disposed = false;

  const stopWorkers = () => {
    c[CTRL.OP] = OP_QUIT;
    Atomics.store(c, CTRL.NEXT, 0);
    Atomics.add(c, CTRL.SEQ, 1);
    Atomics.notify(c, CTRL.SEQ);
    for (const w of workers) void w.terminate();
  };

  try {
    const ready: Promise<void>[] = [];
    for (let i = 1; i < threads; i++) {
      const workerData: WorkerData = {
        module,
        memories,
        control,
        slots: { ...CTRL },
        opQuit: OP_QUIT,
        errorTextSlots: ERROR_TEXT_SLOTS,
        indexBits: CLAIM_INDEX_BITS,
        indexMask: CLAIM_INDEX_MASK,
        tagMask: CLAIM_TAG_MASK,
        index: i,
        kernel: o.kernel,
      };
      const w = new Worker(o.workerSource ?? WORKER_SOURCE, { eval: true, workerData });
      workers.push(w);
      ready.push(
        new Promise<void>((resolve, reject) => {
          w.once("message", () => resolve());
          w.once("error", reject);
          w.once("exit", (code) => reject(new Error(`wasm worker ${i} exited with code ${code} before it was ready`)));
        }),
      );
      w.on("error", (e) => (failure ??= e instanceof Error ? e : new Error(String(e))));
      w.on("exit", (code) => {
        if (!disposed) failure ??= new Error(`wasm worker ${i} exited with code ${code}`);
      });
    }
    await Promise.all(ready);
  } catch (e) {
    disposed = true;
    stopWorkers();
    throw e;
  }
  for (const w of workers) w.unref();

  /** Waits until `n` chunks of the current job are done: polls for the current polling time, then sleeps. */
  const waitFor = (n: number) => {
    const deadline = Date.now() + timeoutMs;
    let done = Atomics.load(c, CTRL.DONE);
    const spinMicros = polling.spinMicros;
    if (done < n && spinMicros > 0) {
      const until = performance.now() + spinMicros / 1000;
      for (let i = 1; done < n; i++) {
        done = Atomics.load(c, CTRL.DONE);
        if ((i & 1023) === 0 && performance.now() > until) break;
      }
    }
    for (;;) {
      if (done >= n) return;
      if (Atomics.wait(c, CTRL.DONE, done, 100) === "timed-out" && Date.now() > deadline)
        throw new Error(`wasm pool: the workers did not finish a job within ${timeoutMs} ms${failure ? ` (${failure.message})` : ""}`);
      done = Atomics.load(c, CTRL.DONE);
    }
  };

  const stats = { jobs: 0, parallelJobs: 0, chunks: 0, mainChunks: 0, pollingBackoffs: 0 };
  let seq = 0;
  return {
    threads,
    stats,
    run(job, parallel) {
      if (disposed) throw new Error("wasm pool: used after dispose()");
      if (failure) throw new Error(`wasm pool: a worker failed: ${failure.message}`);
      const k = kernels[job.shard];
      const kernel = (p0: number, p1: number) => k(job.w, job.x, job.y, job.nGroups, p0, p1, job.t, job.xGroupStride, job.yStride);
      stats.jobs++;
      const K = chunksFor(job.panels, threads);
      if (!parallel || threads === 1 || K < 2) {
        kernel(0, job.panels);
        return;
      }
      stats.parallelJobs++;
      stats.chunks += K;
      c[CTRL.SHARD] = job.shard;
      c[CTRL.W] = job.w;
      c[CTRL.X] = job.x;
      c[CTRL.Y] = job.y;
      c[CTRL.N_GROUPS] = job.nGroups;
      c[CTRL.PANELS] = job.panels;
      c[CTRL.T] = job.t;
      c[CTRL.X_GROUP_STRIDE] = job.xGroupStride;
      c[CTRL.Y_STRIDE] = job.yStride;
      c[CTRL.CHUNKS] = K;
      c[CTRL.OP] = OP_MATMUL;
      c[CTRL.ERROR] = 0;
      Atomics.store(c, CTRL.DONE, 0);
      seq = (seq + 1) | 0;
      Atomics.store(c, CTRL.NEXT, claimWord(seq, K));
      const t0 = performance.now();
      Atomics.store(c, CTRL.SEQ, seq);
      Atomics.notify(c, CTRL.SEQ);
      // Take chunks like a worker (worker.ts), until none is left.
      const tag = claimWord(seq, 0);
      let mainError: unknown;
      let mine = 0;
      for (;;) {
        const v = Atomics.load(c, CTRL.NEXT);
        const left = v & CLAIM_INDEX_MASK;
        if (v - left !== tag || left === 0) break;
        if (Atomics.compareExchange(c, CTRL.NEXT, v, v - 1) !== v) continue;
        mine++;
        try {
          kernel(...shareOf(job.panels, K, K - left));
        } catch (e) {
          mainError ??= e;
        }
        Atomics.add(c, CTRL.DONE, 1);
      }
      const t1 = performance.now();
      waitFor(K);
      const t2 = performance.now();
      stats.mainChunks += mine;
      const next = nextPolling(polling, configuredSpin, threads, t1 - t0, t2 - t1, mine / K, t2);
      if (next.spinMicros !== polling.spinMicros) {
        Atomics.store(c, CTRL.SPIN, next.spinMicros);
        if (next.spinMicros === 0) stats.pollingBackoffs++;
      }
      polling = next;
      if (mainError !== undefined) throw mainError;
      if (Atomics.load(c, CTRL.ERROR) !== 0) {
        const len = c[CTRL.ERROR_LENGTH];
        throw new Error(String.fromCharCode(...c.subarray(CTRL.ERROR_TEXT, CTRL.ERROR_TEXT + len)));
      }
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      kernels.length = 0; // the instances hold the shard memories
      stopWorkers();
    },
  };
}
