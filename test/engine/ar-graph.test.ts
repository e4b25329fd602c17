// The AR-N graph (SPEC-2026 §3) against the seed graphs: AR = 1 equals the seed KV graph bit for bit, chunked prompt
// processing equals one-token steps, the calibration graph (AR = CL, no caches) equals the seed prefill graph and the
// float64 HF references; plus the tensor list, aliasing outputs and length errors.
import { describe, expect, it } from "vitest";
import { bitsEqual, hfCases, loadStories260K, maxAbsDiff } from "../helpers/fixtures.js";
import { TINY_PARAMS, TINY_PTH, tinyReference } from "../helpers/tiny-llama3.js";
import { loadModel } from "../../src/loaders/index.js";
import type { Model } from "../../src/engine/weights.js";
import { arForward, createArGraph } from "../../src/engine/ar-graph.js";
import { allocArCaches, allocArOutputs, arCausalMask, arGraphSpec } from "../../src/engine/ar-graph-io.js";
import { createKvGraph, kvForward } from "../../src/engine/kv-graph.js";
import { createPrefillGraph, prefillForward } from "../../src/engine/prefill-graph.js";
import { causalMask, MASK_ATTEND, MASK_BLOCKED } from "../../src/engine/graph-io.js";
import { updateCaches } from "../helpers/ar-caches.js";

const stories = loadStories260K();
const tiny = loadModel({ checkpoint: TINY_PTH, params: TINY_PARAMS }).model;
const tinyRef = tinyReference();

const models: { name: string; model: Model; tokens: number[] }[] = [
  { name: "stories260K", model: stories, tokens: hfCases()[0].greedy_hf_f64 },
  { name: "tiny Llama 3.2", model: tiny, tokens: tinyRef.greedy },
];

/** Deterministic stale bytes for unused cache slots (masked columns must not matter). */
function stale(a: Float32Array, seed: number): Float32Array {
  for (let i = 0; i < a.length; i++) a[i] = Math.fround(Math.sin(seed + i * 0.7));
  return a;
}


interface Step {
  logits: Float32Array;
  /** Per layer, the new K/V of this position as [H*hd] (head-major), the AR = 1 output layout. */
  k: Float32Array[];
  v: Float32Array[];
}

/** One-token steps through the AR = 1 graph at positions 0..n-1 (slot p opened as it fills, column CL-1 = self). */
function arSequential(model: Model, CL: number, tokens: number[]): Step[] {
  const g = createArGraph(model, { contextLen: CL, arLen: 1 });
  const { kCaches, vCaches } = allocArCaches(model.config, CL, 1);
  kCaches.forEach((a, l) => stale(a, l));
  vCaches.forEach((a, l) => stale(a, 100 + l));
  const steps: Step[] = [];
  for (let p = 0; p < tokens.length; p++) {
    const inp = { tokens: Int32Array.of(tokens[p]), attnMask: arCausalMask(CL, 1, p), inputPos: Int32Array.of(p), kCaches, vCaches };
    const out = arForward(g, inp);
    updateCaches(g, kCaches, vCaches, out, p, 1);
    steps.push({ logits: out.logits, k: out.kOut, v: out.vOut });
  }
  return steps;
}

/** The seed KV graph (per-(layer, head) caches, Smart Mask slot p, mask column L = self) at positions 0..n-1. */
function seedSequential(model: Model, kvSeqLen: number, tokens: number[]): Step[] {
  const c = model.config;
  const g = createKvGraph(model, kvSeqLen);
  const L = g.cacheLen;
  const hd = c.headDim;
  const n = c.nLayers * c.nKvHeads;
  const kCaches = Array.from({ length: n }, (_, i) => stale(new Float32Array(hd * L), i));
  const vCaches = Array.from({ length: n }, (_, i) => stale(new Float32Array(L * hd), 100 + i));
  const steps: Step[] = [];
  for (let p = 0; p < tokens.length; p++) {
    const mask = new Float32Array(kvSeqLen).fill(MASK_BLOCKED);
    mask.fill(MASK_ATTEND, 0, p);
    mask[L] = MASK_ATTEND;
    const out = kvForward(g, { tokens: Int32Array.of(tokens[p]), attnMask: mask, inputPos: Int32Array.of(p), kCaches, vCaches });
    for (let i = 0; i < n; i++)
      for (let d = 0; d < hd; d++) {
        kCaches[i][d * L + p] = out.kOut[i][d];
        vCaches[i][p * hd + d] = out.vOut[i][d];
      }
    const perLayer = (a: Float32Array[]) =>
      Array.from({ length: c.nLayers }, (_, l) => {
        const m = new Float32Array(c.nKvHeads * hd);
        for (let h = 0; h < c.nKvHeads; h++) m.set(a[l * c.nKvHeads + h], h * hd);
        return m;
      });
    steps.push({ logits: out.logits.slice(), k: perLayer(out.kOut), v: perLayer(out.vOut) });
  }
  return steps;
}

describe.each(models)("AR-N graph on $name", ({ model, tokens }) => {
  const c = model.config;
  const V = c.vocabSize;

  it("AR = 1 equals the seed KV graph bit for bit (logits and new K/V at every step)", () => {
    const CL = 24;
    const seq = tokens.slice(0, CL - 1);
    const seed = seedSequential(model, CL, seq);
    const ar = arSequential(model, CL, seq);
    for (let p = 0; p < seq.length; p++) {
      expect(bitsEqual(ar[p].logits, seed[p].logits), `logits at ${p}`).toBe(true);
      for (let l = 0; l < c.nLayers; l++) {
        expect(bitsEqual(ar[p].k[l], seed[p].k[l]), `K at ${p}, layer ${l}`).toBe(true);
        expect(bitsEqual(ar[p].v[l], seed[p].v[l]), `V at ${p}, layer ${l}`).toBe(true);
      }
    }
  });

  it.each([2, 4, 8])("chunked prompt with AR = %i equals one-token steps (11 tokens, padded last chunk)", (AR) => {
    const CL = 32;
    const n = 11;
    const prompt = tokens.slice(0, n);
    const ref = arSequential(model, CL, prompt);
    const g = createArGraph(model, { contextLen: CL, arLen: AR });
    const { kCaches, vCaches } = allocArCaches(c, CL, AR);
    kCaches.forEach((a, l) => stale(a, 7 + l));
    vCaches.forEach((a, l) => stale(a, 70 + l));
    const tok = new Int32Array(AR); // padding rows keep the previous chunk's (stale) tokens, as the runner's buffer does
    const pos = new Int32Array(AR);
    let worst = 0;
    let kvExact = true;
    for (let nPast = 0; nPast < n; nPast += AR) {
      const nUpdate = Math.min(AR, n - nPast);
      for (let j = 0; j < AR; j++) pos[j] = nPast + j;
      tok.set(prompt.slice(nPast, nPast + nUpdate));
      const out = arForward(g, { tokens: tok, attnMask: arCausalMask(CL, AR, nPast), inputPos: pos, kCaches, vCaches });
      for (let j = 0; j < nUpdate; j++) {
        const p = nPast + j;
        worst = Math.max(worst, maxAbsDiff(out.logits.subarray(j * V, (j + 1) * V), ref[p].logits));
        const { nKvHeads: H, headDim: hd } = c;
        for (let l = 0; l < c.nLayers; l++)
          for (let r = 0; r < H * hd; r++) {
            const h = Math.floor(r / hd);
            const d = r % hd;
            if (out.kOut[l][r * AR + j] !== ref[p].k[l][r] || out.vOut[l][(h * AR + j) * hd + d] !== ref[p].v[l][r]) kvExact = false;
          }
      }
      updateCaches(g, kCaches, vCaches, out, nPast, nUpdate);
    }
    console.log(`${model.config.dim}-dim model, AR=${AR}: max |chunked - sequential| logit = ${worst}`);
    expect(worst).toBeLessThan(1e-5);
    expect(worst).toBe(0); // measured: masked columns add exactly +0 (exp underflows in fp32), so the rows are bit-identical
    expect(kvExact).toBe(true);
  });

  it("outputs may alias the cache inputs (CL = 2·AR: same sizes)", () => {
    const CL = 8;
    const AR = 4;
    const g = createArGraph(model, { contextLen: CL, arLen: AR });
    const mk = () => {
      const { kCaches, vCaches } = allocArCaches(c, CL, AR);
      kCaches.forEach((a, l) => stale(a, l));
      vCaches.forEach((a, l) => stale(a, 9 + l));
      return { kCaches, vCaches };
    };
    const inp = { tokens: Int32Array.from(tokens.slice(4, 8)), attnMask: arCausalMask(CL, AR, 4), inputPos: Int32Array.of(4, 5, 6, 7) };
    const want = arForward(g, { ...inp, ...mk() });
    const caches = mk();
    const aliased = arForward(g, { ...inp, ...caches }, { logits: new Float32Array(AR * V), kOut: caches.vCaches, vOut: caches.kCaches });
    expect(bitsEqual(aliased.logits, want.logits)).toBe(true);
    for (let l = 0; l < c.nLayers; l++) {
      expect(bitsEqual(caches.vCaches[l], want.kOut[l])).toBe(true);
      expect(bitsEqual(caches.kCaches[l], want.vOut[l])).toBe(true);
    }
  });
});

/** Calibration graph (AR = CL, C = 0) vs the seed prefill graph with P = CL; returns the AR-N outputs. */
function calibrateVsPrefill(model: Model, CL: number, prompt: number[]): { logits: Float32Array; diff: number } {
  const c = model.config;
  const tokens = new Int32Array(CL);
  tokens.set(prompt);
  const g = createArGraph(model, { contextLen: CL, arLen: CL });
  expect(g.spec.name).toBe("calibrate");
  const out = arForward(g, { tokens, attnMask: arCausalMask(CL, CL, 0), ...allocArCaches(c, CL, CL) });
  // input_pos given explicitly as arange(CL) gives the same bits
  const inputPos = Int32Array.from({ length: CL }, (_, i) => i);
  const withPos = arForward(g, { tokens, attnMask: arCausalMask(CL, CL, 0), inputPos, ...allocArCaches(c, CL, CL) });
  expect(bitsEqual(withPos.logits, out.logits)).toBe(true);
  const seed = prefillForward(createPrefillGraph(model, CL + 1), { tokens, attnMask: causalMask(CL) });
  const { nKvHeads: H, headDim: hd } = c;
  for (let l = 0; l < c.nLayers; l++) {
    const k = new Float32Array(H * hd * CL);
    const v = new Float32Array(H * CL * hd);
    for (let h = 0; h < H; h++) {
      k.set(seed.kOut[l * H + h], h * hd * CL);
      v.set(seed.vOut[l * H + h], h * CL * hd);
    }
    expect(bitsEqual(out.kOut[l], k), `K layer ${l}`).toBe(true);
    expect(bitsEqual(out.vOut[l], v), `V layer ${l}`).toBe(true);
  }
  return { logits: out.logits, diff: maxAbsDiff(out.logits, seed.logits) };
}

function maxErrRows(ours: Float32Array, ref: Float64Array, rows: number, V: number): number {
  let m = 0;
  for (let i = 0; i < rows * V; i++) m = Math.max(m, Math.abs(ours[i] - ref[i]));
  return m;
}

describe("calibration graph (AR = CL, zero-length caches)", () => {
  it.each(hfCases())("stories260K, $id: equals the seed prefill graph and HF float64 within 1e-4", (hc) => {
    const { logits, diff } = calibrateVsPrefill(stories, 15, hc.prompt_tokens);
    const hf = maxErrRows(logits, hc.logits, hc.shape[0], stories.config.vocabSize);
    console.log(`stories260K ${hc.id}: |calibrate - prefill| = ${diff}, |calibrate - HF f64| = ${hf}`);
    expect(diff).toBe(0);
    expect(hf).toBeLessThan(1e-4);
    expect(hf).toBeGreaterThan(0);
  });

  it.each(tinyRef.cases.map((tc, i) => ({ ...tc, i })))("tiny Llama 3.2, case $i: equals the seed prefill graph and HF float64", (tc) => {
    const { logits, diff } = calibrateVsPrefill(tiny, 31, tc.tokens);
    const hf = maxErrRows(logits, tc.logits, tc.shape[0], tiny.config.vocabSize);
    console.log(`tiny Llama 3.2 case ${tc.i}: |calibrate - prefill| = ${diff}, |calibrate - HF f64| = ${hf}`);
    expect(diff).toBe(0);
    expect(hf).toBeLessThan(1e-4);
  });
});

describe("tensor list and errors", () => {
  it("lists §3's tensors in device order", () => {
    const c = stories.config;
    const s = arGraphSpec(c, 32, 8);
    const { nLayers: NL, nKvHeads: H, headDim: hd, vocabSize: V } = c;
    expect(s.name).toBe("prefill_forward");
    const caches = Array.from({ length: 2 * NL }, (_, i) => `args_${i}`);
    expect(s.inputs.map((t) => t.name)).toEqual(["tokens", "atten_mask", "input_pos", ...caches]);
    expect(s.inputs.slice(0, 3).map((t) => [t.shape, t.dtype])).toEqual([[[1, 8], "int32"], [[1, 1, 8, 32], "float32"], [[1, 8], "int32"]]);
    expect(s.inputs[3].shape).toEqual([1, H, hd, 24]);
    expect(s.inputs[3 + NL].shape).toEqual([1, H, 24, hd]);
    expect(s.outputs.map((t) => t.shape)).toEqual([
      [1, 8, V],
      ...Array.from({ length: NL }, () => [1, H, hd, 8]),
      ...Array.from({ length: NL }, () => [1, H, 8, hd]),
    ]);
    expect(arGraphSpec(c, 32, 1).name).toBe("kv_forward");
    const cal = arGraphSpec(c, 32, 32);
    expect(cal.name).toBe("calibrate");
    expect(cal.inputs.map((t) => t.name).slice(0, 3)).toEqual(["tokens", "atten_mask", "args_0"]); // input_pos absent when AR == CL
    expect(cal.inputs[2].shape).toEqual([1, H, hd, 0]);
  });

  it("rejects bad shapes and lengths with RangeError", () => {
    const c = stories.config;
    expect(() => createArGraph(stories, { contextLen: 8, arLen: 9 })).toThrow(RangeError);
    expect(() => createArGraph(stories, { contextLen: 8, arLen: 0 })).toThrow(RangeError);
    expect(() => createArGraph(stories, { contextLen: 8.5, arLen: 1 })).toThrow(RangeError);
    const CL = 8;
    const AR = 2;
    const g = createArGraph(stories, { contextLen: CL, arLen: AR });
    const ok = () => ({
      tokens: Int32Array.of(1, 2), attnMask: arCausalMask(CL, AR, 0), inputPos: Int32Array.of(0, 1), ...allocArCaches(c, CL, AR),
    });
    expect(() => arForward(g, ok())).not.toThrow();
    expect(() => arForward(g, { ...ok(), tokens: Int32Array.of(1) })).toThrow(/tokens has 1 elements, expected 2/);
    expect(() => arForward(g, { ...ok(), attnMask: new Float32Array(CL) })).toThrow(RangeError);
    expect(() => arForward(g, { ...ok(), inputPos: Int32Array.of(0) })).toThrow(/input_pos/);
    expect(() => arForward(g, { ...ok(), inputPos: undefined })).toThrow(/input_pos is required/);
    expect(() => arForward(g, { ...ok(), inputPos: Int32Array.of(7, 8) })).toThrow(/input_pos 8 at row 1 is outside \[0, 8\)/);
    expect(() => arForward(g, { ...ok(), tokens: Int32Array.of(1, c.vocabSize) })).toThrow(RangeError);
    const bad = ok();
    bad.kCaches.pop();
    expect(() => arForward(g, bad)).toThrow(/k caches \(count\)/);
    const bad2 = ok();
    bad2.vCaches[1] = new Float32Array(3);
    expect(() => arForward(g, bad2)).toThrow(/v cache of layer 1/);
    const out = allocArOutputs(c, CL, AR);
    out.kOut[0] = new Float32Array(1);
    expect(() => arForward(g, ok(), out)).toThrow(/k out of layer 0/);
    const shortLogits = { ...allocArOutputs(c, CL, AR), logits: new Float32Array(c.vocabSize) };
    expect(() => arForward(g, ok(), shortLogits)).toThrow(/logits/);
    expect(() => arCausalMask(CL, AR, CL - AR + 1)).toThrow(RangeError);
  });
});
