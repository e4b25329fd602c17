// Owns the `wasm` backend: the reference graphs (src/engine: SPEC §3's kv_forward / prefill_forward and the current
// flow's AR-N graphs of SPEC-2026 §3, one per AR length, with the §8 attention options; same I/O, caches, attention,
// RoPE, taps) with every weight product computed by the project's WebAssembly SIMD kernel (src/compute/kernels.ts) over
// weights packed into row panels at load time, in shared memories (wasm/layout.ts) that the worker pool
// (src/compute/pool.ts, as panel matmul jobs: src/compute/panel-matmul.ts) reads together with the main
// thread. Results are deterministic and the same for any thread count; they differ from the reference by fp32
// rounding only (docs/wasm.md).
import { cpus } from "node:os";
import type { MatMulFn } from "../engine/decoder.js";
import { createKvGraph } from "../engine/kv-graph.js";
import { createPrefillGraph } from "../engine/prefill-graph.js";
import { createArGraph, type ArGraph } from "../engine/ar-graph.js";
import { buildKernelModule, DEFAULT_MATMUL, matmulName, packActivations } from "../compute/kernels.js";
import { createPanelPool, type PanelPool } from "../compute/panel-matmul.js";
import { UserError } from "../util/errors.js";
import { wasmArForward, wasmKvForward, wasmPrefillForward, type ArForwardFn } from "./wasm/graphs.js";
import { allocateShards, modelMatrices, planShards, type PlacedMatrix, type ShardPlan } from "./wasm/layout.js";
import type { Backend, BackendInit } from "../engine/backend.js";

export interface WasmBackendOptions {
  /** Threads computing each weight product, the main thread included (default 1). */
  threads?: number;
  /** Largest weight shard (one shared WebAssembly.Memory) in bytes; default 3 GiB. Small values force shards. */
  shardBytes?: number;
  /** Token rows per kernel call (longer blocks are cut into chunks); default min(32, most rows of a call: prefill rows, largest AR). */
  tokenCap?: number;
  /**
   * Products with fewer multiply-adds (m·n·T) run on the main thread alone, where waking the workers would
   * cost more than it saves; default 65536. Which thread computes a row never changes its value.
   */
  minParallelWork?: number;
  /** Microseconds a waiting thread polls before it sleeps (see src/compute/pool.ts PoolOptions.spinMicros). */
  spinMicros?: number;
}

export interface WasmBackend extends Backend {
  readonly threads: number;
  /** Thread pool counters (see src/compute/pool.ts PoolStats). */
  readonly poolStats: Readonly<PanelPool["stats"]>;
  /** The shard plan (for tests and diagnostics). */
  readonly shards: readonly ShardPlan[];
}

export const DEFAULT_SHARD_BYTES = 3 * 2 ** 30;
/** Most threads of the backend (--threads), the main thread included. */
export const MAX_THREADS = 64;
const DEFAULT_MIN_PARALLEL_WORK = 65536;
const MAX_TOKEN_CAP = 32;

/** Checks a --threads value: an integer in [1, MAX_THREADS]. */
export function checkThreads(threads: number): number {
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS)
    throw new UserError(`--threads ${threads}: expected an integer from 1 to ${MAX_THREADS} (this machine has ${cpus().length} CPUs)`);
  return threads;
}

/** Packs the model's weights, starts the worker threads and returns the backend. */
export async function createWasmBackend(init: BackendInit, opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  const { model } = init;
  const threads = checkThreads(opts.threads ?? 1);
  const variant = DEFAULT_MATMUL;
  const rows = variant.rows;
  const prefillRows = init.prefillSeqLen !== undefined ? init.prefillSeqLen - 1 : 1;
  const arLens = init.contextLen !== undefined ? [...new Set(init.arLens ?? [1])] : [];
  // Built before any worker starts: a bad AR length, or R3 with head_dim not a power of two, throws here.
  const arGraphs: ArGraph[] = arLens.map((arLen) => createArGraph(model, { contextLen: init.contextLen!, arLen, ...init.attention }));
  const callRows = Math.max(prefillRows, ...arLens);
  const tokenCap = opts.tokenCap ?? Math.max(1, Math.min(MAX_TOKEN_CAP, callRows));
  if (!Number.isInteger(tokenCap) || tokenCap < 1) throw new RangeError(`wasm backend: tokenCap must be a positive integer, got ${tokenCap}`);
  const minParallelWork = opts.minParallelWork ?? DEFAULT_MIN_PARALLEL_WORK;

  const mats = modelMatrices(model);
  const plan = planShards(mats, { rows, tokenCap, shardBytes: opts.shardBytes ?? DEFAULT_SHARD_BYTES });
  const memories = allocateShards(plan, mats, rows);
  const views = memories.map((m) => new Float32Array(m.buffer));
  const placed = new Map<Float32Array, PlacedMatrix>();
  const byName = new Map(mats.map((m) => [m.name, m.w]));
  for (const s of plan) for (const p of s.matrices) placed.set(byName.get(p.name)!, p);

  const module = await WebAssembly.compile(buildKernelModule([variant]));
  const pool = await createPanelPool(module, memories, { threads, kernel: matmulName(variant), spinMicros: opts.spinMicros });

  let disposed = false;
  const matMul: MatMulFn = (y, w, x, T, m, n) => {
    if (disposed) throw new Error("wasm backend: used after dispose()");
    const p = placed.get(w);
    if (!p) throw new Error("wasm backend: matMul called with a weight array that was not packed at load (not one of the model's own arrays)");
    if (p.m !== m || p.n !== n) throw new Error(`wasm backend: ${p.name} is [${p.m}, ${p.n}], called as [${m}, ${n}]`);
    if (x.length < T * n || y.length < T * m) throw new RangeError(`wasm backend: ${p.name}: x or y shorter than ${T} rows`);
    const f = views[p.shard];
    const yBase = plan[p.shard].yOff / 4;
    for (let t0 = 0; t0 < T; t0 += tokenCap) {
      const tc = Math.min(tokenCap, T - t0);
      packActivations(f, 0, x, t0 * n, tc, n, tc);
      pool.run(
        { shard: p.shard, w: p.offset, x: 0, y: yBase * 4, nGroups: p.nGroups, panels: p.panels, t: tc, xGroupStride: tc * 16, yStride: p.mPad * 4 },
        m * n * tc >= minParallelWork,
      );
      if (p.mPad === m) y.set(f.subarray(yBase, yBase + tc * m), t0 * m);
      else for (let t = 0; t < tc; t++) y.set(f.subarray(yBase + t * p.mPad, yBase + t * p.mPad + m), (t0 + t) * m);
    }
  };

  const kvGraph = init.kvSeqLen !== undefined ? createKvGraph(model, init.kvSeqLen) : undefined;
  const prefillGraph = init.prefillSeqLen !== undefined ? createPrefillGraph(model, init.prefillSeqLen) : undefined;
  const kv = kvGraph && wasmKvForward(kvGraph, module, matMul);
  const prefill = prefillGraph && wasmPrefillForward(prefillGraph, module, matMul);
  const ar = new Map<number, ArForwardFn>(arGraphs.map((g) => [g.arLen, wasmArForward(g, module, matMul)]));
  return {
    name: "wasm",
    supportsTaps: true,
    threads,
    poolStats: pool.stats,
    shards: plan,
    graphs: { kv: kvGraph?.spec, prefill: prefillGraph?.spec, ...(arGraphs.length ? { ar: arGraphs.map((g) => g.spec) } : {}) },
    async executeKv(inputs, outputs, o) {
      if (!kv) throw new Error("wasm backend: built without a KV graph (kvSeqLen)");
      kv(inputs, outputs, o?.tap);
    },
    async executePrefill(inputs, outputs, o) {
      if (!prefill) throw new Error("wasm backend: built without a prefill graph (prefillSeqLen)");
      prefill(inputs, outputs, o?.tap);
    },
    async executeAr(arLen, inputs, outputs, o) {
      const f = ar.get(arLen);
      if (!f)
        throw new Error(`wasm backend: built without an AR-N graph of ${arLen} rows (built: ${arLens.length ? arLens.join(", ") : "none, contextLen not given"})`);
      f(inputs, outputs, o?.tap);
    },
    dispose() {
      // Drop every reference to the shard memories (GBs for a large model) even if the caller keeps the backend.
      disposed = true;
      pool.dispose();
      views.length = 0;
      placed.clear();
    },
  };
}
