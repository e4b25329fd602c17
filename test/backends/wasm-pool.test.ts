// The worker pool (src/compute/pool.ts) running the wasm backend's panel matmul jobs (src/compute/panel-matmul.ts): the fixed panel split covers every panel once, jobs over 1..4 threads give
// the single-thread bits, a worker's trap comes back as an Error naming the worker (and the pool keeps
// working), dispose() stops it, and the worker source as the TypeScript build emits it (dist/) runs too.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";
import {
  chunksFor,
  CLAIM_INDEX_BITS,
  CLAIM_INDEX_MASK,
  CLAIM_TAG_MASK,
  claimWord,
  GOOD_JOBS,
  initialPolling,
  LATE_MS,
  LATE_STRIKES,
  MAX_BACKOFF_MS,
  MIN_BACKOFF_MS,
  nextPolling,
  shareOf,
  starvedShare,
  WINDOW_JOBS,
  type Polling,
} from "../../src/compute/protocol.js";
import { createPanelPool as createPool, type MatMulJob, type PanelPool as Pool } from "../../src/compute/panel-matmul.js";
import { buildKernelModule, DEFAULT_MATMUL, matmulName, packActivations, packedBytes, packPanels } from "../../src/compute/kernels.js";
import { ROOT } from "../helpers/fixtures.js";

const pools: Pool[] = [];
afterAll(() => pools.forEach((p) => p.dispose()));

function fill(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = (s >>> 0) / 2 ** 32 - 0.5;
  }
  return a;
}

/** One shard holding W [m, n] and room for T rows; returns the memory and the job. */
function setup(m: number, n: number, T: number) {
  const R = DEFAULT_MATMUL.rows;
  const panels = Math.ceil(m / R);
  const groups = Math.ceil(n / 4);
  const yOff = groups * T * 16;
  const wOff = yOff + T * panels * R * 4;
  const mem = new WebAssembly.Memory({ initial: Math.ceil((wOff + packedBytes(m, n, R)) / 65536), maximum: 65536, shared: true });
  const f = new Float32Array(mem.buffer);
  const pack = () => {
    packPanels(new Float32Array(mem.buffer, wOff, packedBytes(m, n, R) / 4), fill(m * n, m + n), m, n, R);
    packActivations(f, 0, fill(T * n, 3 + T), 0, T, n, T);
  };
  pack();
  const job: MatMulJob = { shard: 0, w: wOff, x: 0, y: yOff, nGroups: groups, panels, t: T, xGroupStride: T * 16, yStride: panels * R * 4 };
  return { mem, f, job, yLen: T * panels * R, pack };
}

const module = new WebAssembly.Module(buildKernelModule([DEFAULT_MATMUL]));
const kernel = matmulName(DEFAULT_MATMUL);

describe("chunks and claims", () => {
  it("chunksFor: about 4 chunks per thread, never more than panels", () => {
    expect(chunksFor(1000, 2)).toBe(8);
    expect(chunksFor(5, 2)).toBe(5);
    expect(chunksFor(0, 2)).toBe(0);
    expect(chunksFor(10 ** 6, 64)).toBe(256);
  });

  it("claimWord: the job's tag above the count left, a positive int32 for every sequence number", () => {
    for (const seq of [1, 2, 1 << 19, (1 << 20) - 1, 1 << 20, 2 ** 31 - 1, -5])
      for (const left of [0, 1, 8, CLAIM_INDEX_MASK]) {
        const w = claimWord(seq, left);
        expect(w).toBeGreaterThanOrEqual(0);
        expect(w & CLAIM_INDEX_MASK).toBe(left);
        expect(w >>> CLAIM_INDEX_BITS).toBe(seq & CLAIM_TAG_MASK);
      }
    expect(claimWord(1, 8)).not.toBe(claimWord(2, 8));
  });

  it("shareOf splits panels into contiguous chunks covering each panel exactly once, sizes within one", () => {
    for (const panels of [0, 1, 2, 3, 7, 64, 1001])
      for (const threads of [1, 2, 3, 4, 7]) {
        let next = 0;
        const sizes: number[] = [];
        for (let i = 0; i < threads; i++) {
          const [p0, p1] = shareOf(panels, threads, i);
          expect(p0).toBe(next);
          sizes.push(p1 - p0);
          next = p1;
        }
        expect(next).toBe(panels);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }
  });
});

describe("nextPolling", () => {
  const on = initialPolling(1000);
  const fair = 0.5;
  const late = (p: Polling, now: number) => nextPolling(p, 1000, 2, 0.1, 0.1 + 2 * LATE_MS, fair, now);
  const punctual = (p: Polling, now: number, share = fair) => nextPolling(p, 1000, 2, 0.5, 0.01, share, now);

  it("keeps polling while the workers keep up, and after isolated late jobs", () => {
    let p = on;
    for (let i = 0; i < 10 * WINDOW_JOBS; i++) {
      p = i % 2 ? punctual(p, i, i % 4 === 1 ? 0.75 : 0.375) : late(p, i);
      expect(p.spinMicros).toBe(1000);
    }
  });

  it(`stops after ${LATE_STRIKES} late jobs in a row; retries after a back-off that doubles while lateness persists`, () => {
    let p = on;
    let now = 100;
    let backoff = MIN_BACKOFF_MS;
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < LATE_STRIKES; i++) p = late(p, now);
      expect(p.spinMicros).toBe(0);
      expect(p.retryAt).toBe(now + backoff);
      expect(punctual(p, p.retryAt - 1)).toBe(p); // still off
      now = p.retryAt;
      p = punctual(p, now); // back on
      expect(p.spinMicros).toBe(1000);
      backoff = Math.min(MAX_BACKOFF_MS, 2 * backoff);
    }
    expect(backoff).toBe(MAX_BACKOFF_MS);
    // a long good stretch resets the back-off
    for (let i = 0; i < GOOD_JOBS; i++) p = punctual(p, now);
    for (let i = 0; i < LATE_STRIKES; i++) p = late(p, now);
    expect(p.retryAt).toBe(now + MIN_BACKOFF_MS);
  });

  it("stops when the main thread ends up taking most chunks over a window (starving workers)", () => {
    expect(starvedShare(2)).toBe(0.75);
    expect(starvedShare(4)).toBe(0.625);
    let p = on;
    for (let i = 0; i < WINDOW_JOBS - 1; i++) p = punctual(p, i, 0.875);
    expect(p.spinMicros).toBe(1000);
    p = punctual(p, 99, 0.875);
    expect(p.spinMicros).toBe(0);
    expect(p.retryAt).toBe(99 + MIN_BACKOFF_MS);
  });

  it("judges a worker against the main thread's own part (long prefill jobs are not late)", () => {
    let p = on;
    for (let i = 0; i < 5; i++) p = nextPolling(p, 1000, 2, 20, 20 + LATE_MS / 2, fair, i);
    expect(p.spinMicros).toBe(1000);
  });

  it("never polls when configured off", () => {
    expect(nextPolling(on, 0, 2, 0, 0, 1, 0).spinMicros).toBe(0);
  });
});

describe("pool", () => {
  it("gives the single-thread bits on 2, 3 and 4 threads, sleeping or polling between jobs", async () => {
    const { mem, f, job, yLen } = setup(203, 70, 5);
    const single = await createPool(module, [mem], { threads: 1, kernel });
    pools.push(single);
    single.run(job, true);
    const want = f.slice(job.y / 4, job.y / 4 + yLen);
    expect(want.some((v) => v !== 0)).toBe(true);
    for (const [threads, spinMicros] of [[2, 0], [2, 200], [3, 0], [4, 0]]) {
      const pool = await createPool(module, [mem], { threads, kernel, spinMicros });
      pools.push(pool);
      for (let rep = 0; rep < 20; rep++) {
        f.fill(NaN, job.y / 4, job.y / 4 + yLen);
        pool.run(job, true);
        expect(f.slice(job.y / 4, job.y / 4 + yLen)).toEqual(want);
      }
      pool.dispose();
      expect(() => pool.run(job, true)).toThrow(/after dispose/);
    }
  });

  it("reports a trap in any thread's chunk as an Error, then keeps working", async () => {
    const { mem, f, job, yLen, pack } = setup(64, 16, 1);
    const pool = await createPool(module, [mem], { threads: 2, kernel });
    pools.push(pool);
    pool.run(job, true);
    const want = f.slice(job.y / 4, job.y / 4 + yLen);
    // Twice the panels that fit before the end of memory: the later chunks trap (the earlier ones write their
    // outputs over the packed weights, repacked below). Whichever thread takes a trapping chunk, the job fails.
    const panelBytes = job.nGroups * DEFAULT_MATMUL.rows * 16;
    const bad = { ...job, panels: 2 * Math.floor((mem.buffer.byteLength - job.w) / panelBytes) };
    for (let i = 0; i < 5; i++) expect(() => pool.run(bad, true)).toThrow(/out of bounds/);
    pack();
    f.fill(NaN, job.y / 4, job.y / 4 + yLen);
    pool.run(job, true);
    expect(f.slice(job.y / 4, job.y / 4 + yLen)).toEqual(want);
  });

  it("the workers take chunks of a long job (the main thread does not do it all alone)", async () => {
    const { mem, job } = setup(2048, 512, 4);
    const pool = await createPool(module, [mem], { threads: 2, kernel });
    pools.push(pool);
    for (let i = 0; i < 200 && pool.stats.chunks === pool.stats.mainChunks; i++) pool.run(job, true);
    expect(pool.stats.parallelJobs).toBeGreaterThan(0);
    expect(pool.stats.chunks).toBe(pool.stats.parallelJobs * chunksFor(job.panels, 2));
    expect(pool.stats.chunks - pool.stats.mainChunks).toBeGreaterThan(0);
    // small products on request run on the main thread alone
    const before = { ...pool.stats };
    pool.run(job, false);
    expect(pool.stats.jobs).toBe(before.jobs + 1);
    expect(pool.stats.parallelJobs).toBe(before.parallelJobs);
  });

  it("refuses a bad thread count or a missing kernel", async () => {
    const { mem } = setup(4, 4, 1);
    await expect(createPool(module, [mem], { threads: 0, kernel })).rejects.toThrow(RangeError);
    await expect(createPool(module, [mem], { threads: 1, kernel: "nope" })).rejects.toThrow(/no export/);
  });

  it("runs the worker source as tsc emits it for dist/ (plain Node, no vitest transform)", async () => {
    const src = readFileSync(join(ROOT, "src", "compute", "worker.ts"), "utf8");
    const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 } }).outputText;
    const mod = (await import(`data:text/javascript,${encodeURIComponent(js)}`)) as typeof import("../../src/compute/worker.js");
    expect(mod.WORKER_SOURCE).toContain("workerMain");
    const { mem, f, job, yLen } = setup(101, 33, 3);
    const ref = await createPool(module, [mem], { threads: 1, kernel });
    pools.push(ref);
    ref.run(job, true);
    const want = f.slice(job.y / 4, job.y / 4 + yLen);
    const pool = await createPool(module, [mem], { threads: 3, kernel, workerSource: mod.WORKER_SOURCE });
    pools.push(pool);
    f.fill(NaN, job.y / 4, job.y / 4 + yLen);
    pool.run(job, true);
    expect(f.slice(job.y / 4, job.y / 4 + yLen)).toEqual(want);
  });
});
