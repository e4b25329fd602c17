// Owns the fp32 panel matmul as a job of the worker pool (pool.ts): the wasm backend's weight products, one
// kernel call (kernels.ts MATMUL_PARAMS) on one memory shard per job, its row panels the pool's work units
// (about 4 chunks per thread, protocol.ts chunksFor). This file only maps a typed job onto the pool's
// kernel table; spawning, waking, claiming, waiting and errors are the pool's.
import { MATMUL_PARAMS } from "./kernels.js";
import { createPool, type PoolStats } from "./pool.js";

/** One matmul job, addresses in bytes in the shard's memory (see kernels.ts MATMUL_PARAMS). */
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

export interface PanelPool {
  readonly threads: number;
  /** Runs a job over all threads (or on the main thread alone when `parallel` is false); returns when done. */
  run(job: MatMulJob, parallel: boolean): void;
  /** Stops and terminates the workers; the pool cannot run jobs afterwards. */
  dispose(): void;
  /** The pool's counters (pool.ts PoolStats). */
  readonly stats: PoolStats;
}

export interface PanelPoolOptions {
  /** Threads computing a job, the main thread included (1 = no workers). */
  threads: number;
  /** Export name of the matmul kernel every thread calls (kernels.ts matmulName). */
  kernel: string;
  /** See pool.ts PoolOptions. */
  spinMicros?: number;
  timeoutMs?: number;
  workerSource?: string;
}

/** The kernel's arguments without its panel range (p0, p1). */
const ARGS = MATMUL_PARAMS.length - 2;
const AT = MATMUL_PARAMS.indexOf("p0");

/** Starts the pool: every thread instantiates `module` on every memory (shard). */
export async function createPanelPool(module: WebAssembly.Module, memories: WebAssembly.Memory[], o: PanelPoolOptions): Promise<PanelPool> {
  const pool = await createPool({
    threads: o.threads,
    kernels: [{ wasm: o.kernel, args: ARGS, at: AT, arrays: 0 }],
    module,
    memories,
    spinMicros: o.spinMicros,
    timeoutMs: o.timeoutMs,
    workerSource: o.workerSource,
  });
  const args = new Array<number>(ARGS).fill(0);
  return {
    threads: pool.threads,
    stats: pool.stats,
    run(j, parallel) {
      // MATMUL_PARAMS order: w, x, y, nGroups, [p0, p1], T, xGroupStride, yStride
      args[0] = j.w;
      args[1] = j.x;
      args[2] = j.y;
      args[3] = j.nGroups;
      args[4] = j.t;
      args[5] = j.xGroupStride;
      args[6] = j.yStride;
      pool.run({ kernel: 0, shard: j.shard, units: j.panels, args }, parallel);
    },
    dispose: () => pool.dispose(),
  };
}
