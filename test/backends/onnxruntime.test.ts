// The ONNX Runtime backend against the reference: the exported graphs load in ORT with exactly the device
// I/O of SPEC §3, greedy generation in every mode and KV updater matches the reference token for token with
// logits SQNR >= 60 dB at every step, every tap matches, and an unknown execution provider is a UserError.
import { afterAll, describe, expect, it } from "vitest";
import type * as ort from "onnxruntime-node";
import type { Backend } from "../../src/engine/backend.js";
import { createReferenceBackend } from "../../src/backends/reference.js";
import { createOnnxRuntimeBackend, type OnnxRuntimeBackend } from "../../src/backends/onnxruntime.js";
import { tapList } from "../../src/backends/onnx/build-graph.js";
import {
  allocKvOutputs,
  allocPrefillOutputs,
  causalMask,
  MASK_ATTEND,
  MASK_BLOCKED,
  type GraphSpec,
} from "../../src/engine/graph-io.js";
import type { Model } from "../../src/engine/weights.js";
import { loadModel } from "../../src/loaders/index.js";
import { generate, type KvUpdater } from "../../src/runner/generate.js";
import { createSampler } from "../../src/runner/sampler.js";
import type { EvalMode } from "../../src/kvcache/types.js";
import { UserError } from "../../src/util/errors.js";
import { llama2cCases, loadStories260K } from "../helpers/fixtures.js";
import { TINY_PARAMS, TINY_PTH, tinyReference } from "../helpers/tiny-llama3.js";
import { sqnrDb as sqnr } from "../helpers/sqnr.js";


interface Run {
  generated: number[];
  /** Every logits row in the order reported: prompt rows, then sampled rows. */
  rows: Float32Array[];
}

async function greedy(
  backend: Backend,
  model: Model,
  o: { mode: EvalMode; kvUpdater: KvUpdater; kvSeqLen: number; prefillSeqLen: number; prompt: number[] },
): Promise<Run> {
  const rows: Float32Array[] = [];
  const r = await generate({
    backend,
    config: model.config,
    mode: o.mode,
    kvSeqLen: o.kvSeqLen,
    prefillSeqLen: o.prefillSeqLen,
    kvUpdater: o.kvUpdater,
    promptTokens: o.prompt,
    stopTokens: [],
    sampler: createSampler({ vocabSize: model.config.vocabSize, temperature: 0, seed: 0n }),
    onPromptLogits: (_pos, row) => rows.push(row.slice()),
    onSampleLogits: (row) => rows.push(row.slice()),
  });
  return { generated: r.generatedTokens, rows };
}

const KV_SEQ_LEN = 40;
const HYBRID_PREFILL_SEQ_LEN = 16;
const PREFILL_SEQ_LEN = 40;

const cases: { mode: EvalMode; kvUpdater: KvUpdater }[] = [
  { mode: "prefill", kvUpdater: "smart_mask" },
  { mode: "kv", kvUpdater: "smart_mask" },
  { mode: "kv", kvUpdater: "shift_pointer" },
  { mode: "hybrid", kvUpdater: "smart_mask" },
  { mode: "hybrid", kvUpdater: "shift_pointer" },
];

const models: { id: string; load: () => Model; prompt: () => number[] }[] = [
  {
    id: "stories260K",
    load: loadStories260K,
    prompt: () => llama2cCases().find((x) => x.id === "once_upon_n64")!.prompt_tokens,
  },
  {
    id: "tiny_llama3",
    load: () => loadModel({ checkpoint: TINY_PTH, params: TINY_PARAMS }).model,
    prompt: () => tinyReference().greedyPrompt,
  },
];

const toDispose: Backend[] = [];
afterAll(() => toDispose.forEach((b) => b.dispose()));

describe.each(models)("$id: ORT vs reference, greedy generation", ({ load, prompt: getPrompt }) => {
  const model = load();
  const prompt = getPrompt();

  it.each(cases)("$mode / $kvUpdater: identical tokens, logits SQNR >= 60 dB at every step", async ({ mode, kvUpdater }) => {
    const prefillSeqLen = mode === "prefill" ? PREFILL_SEQ_LEN : HYBRID_PREFILL_SEQ_LEN;
    expect(prompt.length).toBeLessThanOrEqual(prefillSeqLen - 1);
    const init = {
      model,
      kvSeqLen: mode !== "prefill" ? KV_SEQ_LEN : undefined,
      prefillSeqLen: mode !== "kv" ? prefillSeqLen : undefined,
    };
    const ortBackend = await createOnnxRuntimeBackend(init);
    toDispose.push(ortBackend);
    const o = { mode, kvUpdater, kvSeqLen: KV_SEQ_LEN, prefillSeqLen, prompt };
    const ref = await greedy(createReferenceBackend(init), model, o);
    const got = await greedy(ortBackend, model, o);

    expect(got.generated).toEqual(ref.generated);
    expect(got.generated.length).toBeGreaterThan(10);
    expect(got.rows.length).toBe(ref.rows.length);
    const db = got.rows.map((row, i) => sqnr(row, ref.rows[i]));
    const min = Math.min(...db);
    console.log(`[sqnr] ${model.config.dim}d ${mode}/${kvUpdater}: ${db.length} rows, min ${min.toFixed(1)} dB, max ${Math.max(...db).toFixed(1)} dB`);
    db.forEach((d, i) => expect(d, `row ${i}`).toBeGreaterThanOrEqual(60));
  });
});

/** A deterministic pseudo-random fill in [-amp, amp). */
function fill(a: Float32Array, seed: number, amp: number): Float32Array {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 * amp;
  }
  return a;
}

type Taps = Map<string, Float32Array>;
const collect = (m: Taps) => (layer: number, name: string, data: Float32Array) => {
  m.set(`${layer}.${name}`, data.slice());
};

function expectSpec(s: OnnxRuntimeBackend["sessions"]["kv"], spec: GraphSpec, extraOutputs: string[]): void {
  expect(s).toBeDefined();
  expect(s!.inputNames).toEqual(spec.inputs.map((t) => t.name));
  expect(s!.outputNames).toEqual([...spec.outputs.map((t) => t.name), ...extraOutputs]);
  const meta = (m: readonly ort.InferenceSession.ValueMetadata[]) =>
    m.map((x) => (x.isTensor ? { name: x.name, shape: [...x.shape], dtype: x.type } : x));
  expect(meta(s!.inputMetadata)).toEqual(spec.inputs);
  expect(meta(s!.outputMetadata).slice(0, spec.outputs.length)).toEqual(spec.outputs);
}

describe.each(models)("$id: graph I/O and taps", ({ load }) => {
  const model = load();
  const c = model.config;
  const kvSeqLen = 24;
  const prefillSeqLen = 12;

  it("declares exactly kvGraphSpec / prefillGraphSpec; every tap of one KV and one prefill call matches (>= 60 dB)", async () => {
    const init = { model, kvSeqLen, prefillSeqLen };
    const ortB = await createOnnxRuntimeBackend({ ...init, taps: true });
    toDispose.push(ortB);
    const ref = createReferenceBackend(init);
    expect(ortB.name).toBe("onnxruntime");
    expect(ortB.supportsTaps).toBe(true);
    expect(ortB.graphs).toEqual(ref.graphs);
    const tapNames = tapList(model).map((t) => `tap.${t.layer}.${t.name}`);
    expectSpec(ortB.sessions.kv, ref.graphs.kv!, tapNames);
    expectSpec(ortB.sessions.prefill, ref.graphs.prefill!, tapNames);

    const checkTaps = (got: Taps, want: Taps, T: number, what: string) => {
      const order = tapList(model);
      expect([...got.keys()], `${what} tap order`).toEqual(order.map((t) => `${t.layer}.${t.name}`));
      expect([...want.keys()]).toEqual([...got.keys()]);
      for (const t of order) {
        const k = `${t.layer}.${t.name}`;
        expect(got.get(k)!.length, `${what} ${k} length`).toBe(T * t.width);
        expect(sqnr(got.get(k)!, want.get(k)!), `${what} tap ${k}`).toBeGreaterThanOrEqual(60);
      }
    };

    // KV call at position 9: slots 0..8 of the caches hold (random) past tokens; the rest are masked.
    const L = kvSeqLen - 1;
    const pos = 9;
    const n = c.nLayers * c.nKvHeads;
    // Caches as views into one big buffer (as Shift Pointer hands them over), at odd offsets.
    const pool = fill(new Float32Array(2 * n * c.headDim * L + 7), 42, 1);
    const kCaches = Array.from({ length: n }, (_, i) => pool.subarray(3 + i * c.headDim * L, 3 + (i + 1) * c.headDim * L));
    const vCaches = Array.from({ length: n }, (_, i) => pool.subarray(3 + (n + i) * c.headDim * L, 3 + (n + i + 1) * c.headDim * L));
    const attnMask = new Float32Array(kvSeqLen).fill(MASK_BLOCKED);
    for (let j = 0; j < pos; j++) attnMask[j] = MASK_ATTEND;
    attnMask[L] = MASK_ATTEND;
    const kvIn = { tokens: Int32Array.of(7), attnMask, inputPos: Int32Array.of(pos), kCaches, vCaches };
    const gotKv = allocKvOutputs(c);
    const wantKv = allocKvOutputs(c);
    const gotTaps: Taps = new Map();
    const wantTaps: Taps = new Map();
    await ortB.executeKv(kvIn, gotKv, { tap: collect(gotTaps) });
    await ref.executeKv(kvIn, wantKv, { tap: collect(wantTaps) });
    checkTaps(gotTaps, wantTaps, 1, "kv");
    expect(sqnr(gotKv.logits, wantKv.logits)).toBeGreaterThanOrEqual(60);
    for (let i = 0; i < n; i++) {
      expect(sqnr(gotKv.kOut[i], wantKv.kOut[i]), `k_out ${i}`).toBeGreaterThanOrEqual(60);
      expect(sqnr(gotKv.vOut[i], wantKv.vOut[i]), `v_out ${i}`).toBeGreaterThanOrEqual(60);
    }

    // Prefill call: 7 prompt tokens right-padded with 0.
    const P = prefillSeqLen - 1;
    const tokens = new Int32Array(P);
    [1, 5, 9, 33, 2, 17, 100].forEach((t, i) => (tokens[i] = t));
    const pIn = { tokens, attnMask: causalMask(P) };
    const gotP = allocPrefillOutputs(c, prefillSeqLen);
    const wantP = allocPrefillOutputs(c, prefillSeqLen);
    gotTaps.clear();
    wantTaps.clear();
    await ortB.executePrefill(pIn, gotP, { tap: collect(gotTaps) });
    await ref.executePrefill(pIn, wantP, { tap: collect(wantTaps) });
    checkTaps(gotTaps, wantTaps, P, "prefill");
    expect(sqnr(gotP.logits, wantP.logits)).toBeGreaterThanOrEqual(60);
    for (let i = 0; i < n; i++) {
      expect(sqnr(gotP.kOut[i], wantP.kOut[i]), `prefill k_out ${i}`).toBeGreaterThanOrEqual(60);
      expect(sqnr(gotP.vOut[i], wantP.vOut[i]), `prefill v_out ${i}`).toBeGreaterThanOrEqual(60);
    }
  });
});

describe("execution providers", () => {
  const model = loadStories260K();

  it("an unknown execution provider is a UserError", async () => {
    const p = createOnnxRuntimeBackend({ model, kvSeqLen: 8, executionProviders: ["no_such_provider"] });
    await expect(p).rejects.toBeInstanceOf(UserError);
    await expect(p).rejects.toThrow(/no_such_provider/);
  });

  it("without taps, supportsTaps is false and the tap callback is never called", async () => {
    const b = await createOnnxRuntimeBackend({ model, kvSeqLen: 8 });
    toDispose.push(b);
    expect(b.supportsTaps).toBe(false);
    expect(b.sessions.kv!.outputNames.some((n) => n.startsWith("tap."))).toBe(false);
    const inp = {
      tokens: Int32Array.of(1),
      attnMask: new Float32Array(8).fill(MASK_BLOCKED).fill(MASK_ATTEND, 7),
      inputPos: Int32Array.of(0),
      kCaches: Array.from({ length: 20 }, () => new Float32Array(8 * 7)),
      vCaches: Array.from({ length: 20 }, () => new Float32Array(7 * 8)),
    };
    let calls = 0;
    await b.executeKv(inp, allocKvOutputs(model.config), { tap: () => (calls += 1) });
    expect(calls).toBe(0);
  });
});
