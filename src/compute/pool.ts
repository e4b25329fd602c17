// Owns the project's one worker pool: `threads - 1` worker threads plus the main thread, all running the same
// kernel table (worker.ts) on the same shared memories and arrays. What a job computes is a kernel of that
// table — a wasm export instantiated once per memory shard, or a self-contained JS function — called with the
// job's int32 arguments and a range of its work units; the users are the exact matmul of the reference engine
// (exact-matmul.ts) and the wasm backend's fp32 panel matmul (panel-matmul.ts).
//
// A job is published in the shared control block (protocol.ts) and the workers are woken with
// Atomics.notify; no message per job. Its units are cut into a fixed set of chunks (shareOf) that every
// thread, the main one included, takes one at a time until none is left; the main thread then waits until all
// chunks are done. A worker that wakes late (descheduled by another process) finds its work already taken
// instead of holding the job up. Waiting threads poll, then sleep, with the adaptive policy of nextPolling. A
// chunk that throws in any thread comes back as an Error from run(); a worker that dies makes the next run()
// fail. Workers are unref'd (a forgotten pool does not keep the process alive); dispose() ends them.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { chunksFor, CLAIM_INDEX_MASK, claimWord, CTRL, CTRL_SLOTS, initialPolling, MAX_ARGS, MAX_THREADS, nextPolling, OP_QUIT, OP_RUN, PROTOCOL, type Polling } from "./protocol.js";
import { bindKernels, runChunk, takeChunks, WORKER_SOURCE, type KernelEntry, type WorkerData } from "./worker.js";

export type { KernelEntry } from "./worker.js";

/** One job: a kernel of the pool's table over `units` work units. */
export interface Job {
  /** Index in the pool's kernel table. */
  kernel: number;
  /** Memory shard whose instance runs a wasm kernel (0 for JS kernels). */
  shard: number;
  /** Work units; chunk i computes units shareOf(units, chunks, i). */
  units: number;
  /** Chunks to cut the units into (default chunksFor(units, threads); at most CLAIM_INDEX_MASK). */
  chunks?: number;
  /** The kernel's int32 arguments (KernelEntry.args of them), without the unit range. */
  args: ArrayLike<number>;
}

export interface PoolStats {
  /** Jobs run, jobs split over the threads, their chunks and how many of those the main thread took. */
  jobs: number;
  parallelJobs: number;
  chunks: number;
  mainChunks: number;
  /** Times polling was switched off (protocol.ts nextPolling). */
  pollingBackoffs: number;
}

export interface Pool {
  readonly threads: number;
  /** Runs a job over all threads (or on the main thread alone when `parallel` is false); returns when done. */
  run(job: Job, parallel: boolean): void;
  /** Stops and terminates the workers and drops the kernel instances; the pool cannot run jobs afterwards. */
  dispose(): void;
  /** Counters for diagnostics. */
  readonly stats: PoolStats;
}

export interface PoolOptions {
  /** Threads computing a job, the main thread included (1 = no workers). */
  threads: number;
  /** What jobs can run (Job.kernel indexes it). */
  kernels: KernelEntry[];
  /** The wasm kernels' module, instantiated on each of `memories` (imported as env.mem). */
  module?: WebAssembly.Module;
  /** Shared memories (shards) of the wasm kernels. */
  memories?: WebAssembly.Memory[];
  /** Arrays of the JS kernels (SharedArrayBuffer-backed when threads > 1). */
  arrays?: Float32Array[];
  /**
   * Microseconds a waiting thread polls the control block before it sleeps in Atomics.wait (default 1000; always
   * 0 when there are more threads than CPUs). Switched off for a while when other processes compete for the
   * cores (protocol.ts nextPolling).
   */
  spinMicros?: number;
  /** Longest wait for the workers of one job before giving up, ms (default 60 s). */
  timeoutMs?: number;
  /** Worker source text (default WORKER_SOURCE; tests pass the source as compiled for dist/). */
  workerSource?: string;
}

/** Checks a thread count: an integer in [1, MAX_THREADS]. */
export function checkPoolThreads(threads: number): number {
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) throw new RangeError(`threads must be an integer in [1, ${MAX_THREADS}], got ${threads}`);
  return threads;
}

/** Binds the kernels, starts the workers and resolves when all are waiting for jobs. */
export async function createPool(o: PoolOptions): Promise<Pool> {
  const threads = checkPoolThreads(o.threads);
  const memories = o.memories ?? [];
  const arrays = o.arrays ?? [];
  for (const k of o.kernels)
    if (k.args > MAX_ARGS || k.arrays > k.args || k.at > k.args) throw new RangeError(`pool: bad kernel entry ${JSON.stringify({ ...k, js: undefined })}`);
  const kernels = bindKernels(o.kernels, o.module, memories, arrays);
  const configuredSpin = threads > availableParallelism() ? 0 : Math.max(0, Math.round(o.spinMicros ?? 1000));
  let polling: Polling = initialPolling(configuredSpin);
  const timeoutMs = o.timeoutMs ?? 60_000;
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
    for (const w of workers) void w.terminate().catch(() => {});
  };

  try {
    const ready: Promise<void>[] = [];
    const wire = o.kernels.map((k) => ("js" in k ? { ...k, js: String(k.js) } : k));
    for (let i = 1; i < threads; i++) {
      const workerData: WorkerData = { control, protocol: PROTOCOL, module: o.module, memories, arrays, kernels: wire, index: i };
      const w = new Worker(o.workerSource ?? WORKER_SOURCE, { eval: true, workerData });
      workers.push(w);
      ready.push(
        new Promise<void>((resolve, reject) => {
          w.once("message", () => resolve());
          w.once("error", reject);
          w.once("exit", (code) => reject(new Error(`pool worker ${i} exited with code ${code} before it was ready`)));
        }),
      );
      w.on("error", (e) => (failure ??= e instanceof Error ? e : new Error(String(e))));
      w.on("exit", (code) => {
        if (!disposed) failure ??= new Error(`pool worker ${i} exited with code ${code}`);
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
        throw new Error(`pool: the workers did not finish a job within ${timeoutMs} ms${failure ? ` (${failure.message})` : ""}`);
      done = Atomics.load(c, CTRL.DONE);
    }
  };

  const stats: PoolStats = { jobs: 0, parallelJobs: 0, chunks: 0, mainChunks: 0, pollingBackoffs: 0 };
  let seq = 0;
  return {
    threads,
    stats,
    run(job, parallel) {
      if (disposed) throw new Error("pool: used after dispose()");
      if (failure) throw new Error(`pool: a worker failed: ${failure.message}`);
      const k = kernels[job.kernel];
      stats.jobs++;
      const K = Math.min(job.chunks ?? chunksFor(job.units, threads), job.units, CLAIM_INDEX_MASK);
      if (!parallel || threads === 1 || K < 2) {
        runChunk(k, job.shard, job.args, 0, 0, job.units);
        return;
      }
      stats.parallelJobs++;
      stats.chunks += K;
      c[CTRL.SHARD] = job.shard;
      c[CTRL.KERNEL] = job.kernel;
      c[CTRL.UNITS] = job.units;
      c[CTRL.CHUNKS] = K;
      for (let i = 0; i < k.nArgs; i++) c[CTRL.ARGS + i] = job.args[i];
      c[CTRL.OP] = OP_RUN;
      c[CTRL.ERROR] = 0;
      Atomics.store(c, CTRL.DONE, 0);
      seq = (seq + 1) | 0;
      Atomics.store(c, CTRL.NEXT, claimWord(seq, K));
      const t0 = performance.now();
      Atomics.store(c, CTRL.SEQ, seq);
      Atomics.notify(c, CTRL.SEQ);
      // Take chunks like a worker (worker.ts takeChunks), until none is left.
      let mainError: unknown;
      const mine = takeChunks(c, PROTOCOL, seq, kernels, (e) => (mainError ??= e));
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
