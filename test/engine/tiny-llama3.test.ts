// The Llama 3.2 architecture (GQA 6/2, head_dim 16, rope_theta 5e5 with Llama-3 scaling, tied embeddings,
// bf16 weights) from both the Meta .pth and the Hugging Face safetensors of the tiny test model, against
// float64 Hugging Face transformers (test/fixtures/tiny_llama3_hf_logits.json).
import { describe, expect, it } from "vitest";
import { loadModel } from "../../src/loaders/index.js";
import { createPrefillGraph, prefillForward } from "../../src/engine/prefill-graph.js";
import { causalMask } from "../../src/engine/graph-io.js";
import type { Model } from "../../src/engine/weights.js";
import { greedyRun } from "../helpers/run.js";
import { bitsEqual } from "../helpers/fixtures.js";
import { TINY_HF_DIR, TINY_PARAMS, TINY_PTH, tinyReference } from "../helpers/tiny-llama3.js";

const TOL = 2e-4;
const ref = tinyReference();
const V = 768;

const sources: Record<string, (rope?: number) => Model> = {
  "Meta consolidated.00.pth + params.json": (rope) => loadModel({ checkpoint: TINY_PTH, params: TINY_PARAMS, ropeScaleFactor: rope }).model,
  "Hugging Face safetensors directory": (rope) => loadModel({ checkpoint: TINY_HF_DIR, ropeScaleFactor: rope }).model,
};

function prefillRows(model: Model, tokens: number[]): Float32Array {
  const P = 31;
  const g = createPrefillGraph(model, P + 1);
  const t = new Int32Array(P);
  tokens.forEach((x, i) => (t[i] = x));
  return prefillForward(g, { tokens: t, attnMask: causalMask(P) }).logits;
}

function maxErr(ours: Float32Array, want: Float64Array, rows: number): number {
  let m = 0;
  for (let i = 0; i < rows * V; i++) m = Math.max(m, Math.abs(ours[i] - want[i]));
  return m;
}

describe.each(Object.entries(sources))("tiny Llama 3.2 from %s", (_name, load) => {
  const model = load();

  it("has the Llama 3.2 architecture: GQA, theta 5e5, scaling factor 32, tied embeddings", () => {
    expect(model.config).toMatchObject({ dim: 96, nLayers: 3, nHeads: 6, nKvHeads: 2, headDim: 16, hiddenDim: 384, vocabSize: 768, ropeTheta: 500000 });
    expect(model.config.ropeScaling).toEqual({ factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 });
    // Tied: HF omits lm_head (the loader reuses the embedding array); Meta's file stores an equal output.weight.
    expect(bitsEqual(model.weights.output, model.weights.tokEmbeddings)).toBe(true);
  });

  it.each(ref.cases.map((c, i) => ({ ...c, i })))("logits within 2e-4 of HF float64 at every position (case $i, T=$shape.0)", (c) => {
    const rows = c.shape[0];
    expect(maxErr(prefillRows(model, c.tokens), c.logits, rows)).toBeLessThan(TOL);
  });

  it("with --rope_scale_factor 0 it matches HF's unscaled-RoPE logits instead", () => {
    const unscaled = load(0);
    expect(unscaled.config.ropeScaling).toBeNull();
    const c = ref.cases[1];
    expect(maxErr(prefillRows(unscaled, c.tokens), c.unscaled, c.shape[0])).toBeLessThan(TOL);
    // and the scaled model does not match the unscaled reference: the option is not a no-op
    expect(maxErr(prefillRows(model, c.tokens), c.unscaled, c.shape[0])).toBeGreaterThan(1e-3);
  });

  it.each([
    { mode: "hybrid" as const, kvUpdater: "smart_mask" as const },
    { mode: "hybrid" as const, kvUpdater: "shift_pointer" as const },
    { mode: "kv" as const, kvUpdater: "smart_mask" as const },
    { mode: "kv" as const, kvUpdater: "shift_pointer" as const },
  ])("greedy continuation equals HF's in $mode mode with $kvUpdater", async ({ mode, kvUpdater }) => {
    const want = ref.greedy.slice(ref.greedyPrompt.length);
    const r = await greedyRun(model, { mode, kvUpdater, kvSeqLen: ref.greedy.length + 1, prefillSeqLen: 8, prompt: ref.greedyPrompt, stops: [] });
    expect(r.generated.slice(0, want.length)).toEqual(want);
  });
});

describe("the two files hold the same model", () => {
  it("HF's missing lm_head is tied to the embedding (one shared array)", () => {
    const b = sources["Hugging Face safetensors directory"]();
    expect(b.weights.output).toBe(b.weights.tokEmbeddings);
  });

  it("Meta .pth and HF safetensors (q/k rows un-permuted) give bit-identical weights", () => {
    const a = sources["Meta consolidated.00.pth + params.json"]();
    const b = sources["Hugging Face safetensors directory"]();
    expect(bitsEqual(a.weights.tokEmbeddings, b.weights.tokEmbeddings)).toBe(true);
    a.weights.layers.forEach((la, l) => {
      for (const k of ["wq", "wk", "wv", "wo", "w1", "w2", "w3", "attnNorm", "ffnNorm"] as const)
        expect(bitsEqual(la[k], b.weights.layers[l][k]), `layer ${l} ${k}`).toBe(true);
    });
  });
});
