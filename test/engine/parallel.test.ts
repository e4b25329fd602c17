// The fast exact matmul pool (src/compute/exact-matmul.ts on the worker pool src/compute/pool.ts) against the oracle graphs, bit for bit: kv_forward and
// prefill_forward outputs (logits, K, V) with 1, 2 and 3 threads and both kernels (exact wasm, two-row JS), on
// stories260K, the tiny Llama 3.2 (GQA) and a random model with odd shapes (n not a multiple of 4, m not a
// multiple of the row chunk); a whole greedy hybrid run; and the pool's own edge cases.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bitsEqual, loadStories260K } from "../helpers/fixtures.js";
import { TINY_PARAMS, TINY_PTH } from "../helpers/tiny-llama3.js";
import { greedyRun } from "../helpers/run.js";
import { loadModel } from "../../src/loaders/index.js";
import { createKvGraph, kvForward } from "../../src/engine/kv-graph.js";
import { createPrefillGraph, prefillForward } from "../../src/engine/prefill-graph.js";
import { causalMask, MASK_ATTEND, MASK_BLOCKED, type KvGraphInputs } from "../../src/engine/graph-io.js";
import { matMulRows } from "../../src/engine/kernels.js";
import { validateConfig, type ModelConfig } from "../../src/engine/config.js";
import type { Model } from "../../src/engine/weights.js";
import { createMatMulPool, weightMatrices, type KernelChoice, type MatMulPool } from "../../src/compute/exact-matmul.js";
import { chunkRows } from "../../src/compute/protocol.js";
import { createParallelReferenceBackend } from "../../src/backends/reference.js";

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

/** A random model whose every matmul has an awkward shape: n in {30, 53}, m in {10, 30, 53, 101}; untied head. */
function oddModel(): Model {
  const config: ModelConfig = validateConfig(
    { dim: 30, nLayers: 2, nHeads: 3, nKvHeads: 1, vocabSize: 101, hiddenDim: 53, headDim: 10, normEps: 1e-5, ropeTheta: 10000, ropeScaling: null, maxSeqLen: 64 },
    "odd model",
  );
  const rnd = lcg(99);
  const mat = (m: number, n: number) => Float32Array.from({ length: m * n }, () => rnd() * (2 / Math.sqrt(n)));
  const norm = (n: number) => Float32Array.from({ length: n }, () => 1 + rnd() * 0.1);
  const { dim, hiddenDim: h, vocabSize: V } = config;
  const kv = config.nKvHeads * config.headDim;
  return {
    config,
    weights: {
      tokEmbeddings: mat(V, dim),
      layers: Array.from({ length: config.nLayers }, () => ({
        attnNorm: norm(dim),
        wq: mat(dim, dim),
        wk: mat(kv, dim),
        wv: mat(kv, dim),
        wo: mat(dim, dim),
        ffnNorm: norm(dim),
        w1: mat(h, dim),
        w2: mat(dim, h),
        w3: mat(h, dim),
      })),
      norm: norm(dim),
      output: mat(V, dim),
    },
  };
}

const MODELS: [string, () => Model][] = [
  ["stories260K", loadStories260K],
  ["tiny Llama 3.2 (GQA 6/2)", () => loadModel({ checkpoint: TINY_PTH, params: TINY_PARAMS }).model],
  ["odd-shaped random model", oddModel],
];

const KV_SEQ_LEN = 12;
const PREFILL_SEQ_LEN = 10;

/** KV-graph inputs at position `pos`: random caches, slots 0..pos-1 and the last column open. */
function kvInputs(model: Model, pos: number, seed: number): KvGraphInputs {
  const c = model.config;
  const L = KV_SEQ_LEN - 1;
  const rnd = lcg(seed);
  const n = c.nLayers * c.nKvHeads;
  const mask = new Float32Array(L + 1).fill(MASK_BLOCKED);
  for (let j = 0; j < pos; j++) mask[j] = MASK_ATTEND;
  mask[L] = MASK_ATTEND;
  return {
    tokens: Int32Array.of((seed * 31) % c.vocabSize),
    attnMask: mask,
    inputPos: Int32Array.of(pos),
    kCaches: Array.from({ length: n }, () => Float32Array.from({ length: c.headDim * L }, rnd)),
    vCaches: Array.from({ length: n }, () => Float32Array.from({ length: c.headDim * L }, rnd)),
  };
}

const prefillTokens = (model: Model) => Int32Array.from({ length: PREFILL_SEQ_LEN - 1 }, (_, i) => (1 + i * 37) % model.config.vocabSize);

const CONFIGS: { kernel: KernelChoice; threads: number }[] = [
  { kernel: "wasm", threads: 1 },
  { kernel: "wasm", threads: 2 },
  { kernel: "wasm", threads: 3 },
  { kernel: "js", threads: 1 },
  { kernel: "js", threads: 2 },
  { kernel: "js", threads: 3 },
];

describe.each(MODELS)("%s: graphs with the pool equal the oracle bit for bit", (_name, load) => {
  const model = load();
  const pools = new Map<string, MatMulPool>();
  beforeAll(async () => {
    // minParallelMacs 0: even the tiny products are split over the threads; tokenRows 4: prefill is chunked.
    for (const c of CONFIGS) pools.set(`${c.kernel}/${c.threads}`, await createMatMulPool(model, { ...c, minParallelMacs: 0, tokenRows: 4 }));
  });
  afterAll(() => pools.forEach((p) => p.dispose()));

  const oracleKv = createKvGraph(model, KV_SEQ_LEN);
  const oraclePf = createPrefillGraph(model, PREFILL_SEQ_LEN);

  it.each(CONFIGS)("kv_forward, $kernel kernel, $threads thread(s): logits, K and V", ({ kernel, threads }) => {
    const g = createKvGraph(model, KV_SEQ_LEN, { matMul: pools.get(`${kernel}/${threads}`)!.matMul });
    for (const [pos, seed] of [[0, 3], [7, 5], [KV_SEQ_LEN - 2, 8]]) {
      const inp = kvInputs(model, pos, seed);
      const want = kvForward(oracleKv, inp);
      const got = kvForward(g, inp);
      expect(bitsEqual(got.logits, want.logits)).toBe(true);
      got.kOut.forEach((k, i) => expect(bitsEqual(k, want.kOut[i])).toBe(true));
      got.vOut.forEach((v, i) => expect(bitsEqual(v, want.vOut[i])).toBe(true));
    }
  });

  it.each(CONFIGS)("prefill_forward, $kernel kernel, $threads thread(s): logits, K and V", ({ kernel, threads }) => {
    const g = createPrefillGraph(model, PREFILL_SEQ_LEN, { matMul: pools.get(`${kernel}/${threads}`)!.matMul });
    const inp = { tokens: prefillTokens(model), attnMask: causalMask(PREFILL_SEQ_LEN - 1) };
    const want = prefillForward(oraclePf, inp);
    const got = prefillForward(g, inp);
    expect(bitsEqual(got.logits, want.logits)).toBe(true);
    got.kOut.forEach((k, i) => expect(bitsEqual(k, want.kOut[i])).toBe(true));
    got.vOut.forEach((v, i) => expect(bitsEqual(v, want.vOut[i])).toBe(true));
  });
});

describe("greedy hybrid run through the runner", () => {
  it.each([2, 3])("stories260K with %i threads: same tokens and the same logits rows as the oracle backend", async (threads) => {
    const model = loadStories260K();
    const run = { mode: "hybrid" as const, kvSeqLen: 48, prefillSeqLen: 16, prompt: [1, 403, 407, 261, 378] };
    const want = await greedyRun(model, run);
    const backend = await createParallelReferenceBackend(
      { model, kvSeqLen: run.kvSeqLen, prefillSeqLen: run.prefillSeqLen },
      { threads, minParallelMacs: 0 },
    );
    try {
      const got = await greedyRun(model, run, { backend });
      expect(got.generated).toEqual(want.generated);
      expect(got.generated.length).toBeGreaterThan(10);
      expect([...got.rows.keys()]).toEqual([...want.rows.keys()]);
      for (const [pos, row] of want.rows) expect(bitsEqual(got.rows.get(pos)!, row)).toBe(true);
    } finally {
      backend.dispose();
    }
  });
});

describe("pool edge cases (odd-shaped model)", () => {
  const model = oddModel();
  const mats = weightMatrices(model);
  const c = model.config;
  const shapes = new Map<Float32Array, [number, number]>([[model.weights.output, [c.vocabSize, c.dim]]]);
  for (const l of model.weights.layers) {
    for (const w of [l.wq, l.wo]) shapes.set(w, [c.dim, c.dim]);
    for (const w of [l.wk, l.wv]) shapes.set(w, [c.nKvHeads * c.headDim, c.dim]);
    for (const w of [l.w1, l.w3]) shapes.set(w, [c.hiddenDim, c.dim]);
    shapes.set(l.w2, [c.dim, c.hiddenDim]);
  }
  const shapeOf = (w: Float32Array): [number, number] => shapes.get(w)!;
  const check = (pool: MatMulPool, t: number, seed: number) => {
    const rnd = lcg(seed);
    for (const w of mats) {
      const [m, n] = shapeOf(w);
      const x = Float32Array.from({ length: t * n }, rnd);
      const want = new Float32Array(t * m);
      matMulRows(want, w, x, t, m, n);
      const got = new Float32Array(t * m).fill(NaN);
      pool.matMul(got, w, x, t, m, n);
      expect(bitsEqual(got, want)).toBe(true);
    }
  };

  it("the shapes are awkward: n mod 4 != 0 and m not a multiple of the row chunk", () => {
    const all = mats.map(shapeOf);
    expect(all.length).toBe(shapes.size);
    expect(all.every(([, n]) => n % 4 !== 0)).toBe(true);
    for (const threads of [2, 3]) expect(all.some(([m]) => m % chunkRows(m, threads) !== 0)).toBe(true);
  });

  it("t = 1, 2, 5, 9 token rows with tokenRows 4 (chunked), 2 and 3 threads, both kernels", async () => {
    for (const kernel of ["wasm", "js"] as const)
      for (const threads of [2, 3]) {
        const pool = await createMatMulPool(model, { kernel, threads, minParallelMacs: 0, tokenRows: 4 });
        try {
          for (const t of [1, 2, 5, 9]) check(pool, t, t * 13 + threads);
        } finally {
          pool.dispose();
        }
      }
  });

  it("weights that do not fit the wasm memory use the JS kernel; mixed, the results are the same", async () => {
    const pool = await createMatMulPool(model, { threads: 2, minParallelMacs: 0, maxWasmBytes: 64 * 1024 });
    try {
      expect(pool.kernels.wasm).toBeGreaterThan(0);
      expect(pool.kernels.js).toBeGreaterThan(0);
      expect(pool.kernels.wasm + pool.kernels.js).toBe(mats.length);
      check(pool, 3, 7);
    } finally {
      pool.dispose();
    }
  });

  it("a matrix that is not one of the model's, and any product after dispose(), is still exact", async () => {
    const pool = await createMatMulPool(model, { threads: 2, minParallelMacs: 0 });
    const rnd = lcg(4);
    const [m, n] = [7, 9];
    const w = Float32Array.from({ length: m * n }, rnd);
    const x = Float32Array.from({ length: 2 * n }, rnd);
    const want = new Float32Array(2 * m);
    matMulRows(want, w, x, 2, m, n);
    const got = new Float32Array(2 * m);
    pool.matMul(got, w, x, 2, m, n);
    expect(bitsEqual(got, want)).toBe(true);
    pool.dispose();
    pool.dispose(); // idempotent
    check(pool, 2, 11);
  });

  it("rejects a bad thread count", async () => {
    await expect(createMatMulPool(model, { threads: 0 })).rejects.toThrow(/threads/);
    await expect(createMatMulPool(model, { threads: 1.5 })).rejects.toThrow(/threads/);
  });
});
