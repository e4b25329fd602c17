// Test helper shared by the backends' AR-N graph tests (wasm, onnxruntime, tfjs): the two models, seeded random
// call inputs at CL = 32, the attention variants to sweep, and small comparisons. The oracle itself is
// src/engine/ar-graph.ts's arForward, called by each test.
import { expect } from "vitest";
import { arCausalMask, type ArGraphInputs, type ArGraphOutputs } from "../../src/engine/ar-graph-io.js";
import type { ModelConfig } from "../../src/engine/config.js";
import { isPowerOfTwo } from "../../src/engine/hadamard.js";
import type { Model } from "../../src/engine/weights.js";
import { loadModel } from "../../src/loaders/index.js";
import { bitsEqual, llama2cCases, loadStories260K } from "./fixtures.js";
import { TINY_PARAMS, TINY_PTH, tinyReference } from "./tiny-llama3.js";
import { sqnrDb } from "./sqnr.js";
import type { Backend } from "../../src/engine/backend.js";
import type { TapFn } from "../../src/engine/decoder.js";
import { generateCurrent, type GenerateResult } from "../../src/runner/generate.js";
import { createSampler } from "../../src/runner/sampler.js";
import { rng } from "./rng.js";

/** The compiled context of every AR-N backend test. */
export const CL = 32;

export const AR_MODELS: { id: string; load: () => Model; prompt: () => number[] }[] = [
  { id: "stories260K", load: loadStories260K, prompt: () => llama2cCases().find((x) => x.id === "lily_park_n64")!.prompt_tokens },
  { id: "tiny_llama3", load: () => loadModel({ checkpoint: TINY_PTH, params: TINY_PARAMS }).model, prompt: () => tinyReference().greedyPrompt },
];


export type MaskKind = "causal" | "soft";

/**
 * One call's inputs: random caches (uniform [-2, 2), every slot filled, masked or not), random tokens at positions
 * nPast … nPast+AR-1 (input_pos omitted when AR == CL), and arCausalMask(CL, AR, nPast); "soft" replaces each blocked
 * entry by one of -3, -0.5, 0.25 (the additive mask then only biases those columns; §8.1 still substitutes them).
 */
export function randomInputs(c: ModelConfig, AR: number, kind: MaskKind, seed: number): ArGraphInputs {
  const r = rng(seed);
  const C = CL - AR;
  const nPast = Math.floor(C * 0.6);
  const layer = (n: number) => Float32Array.from({ length: n }, () => r() * 4 - 2);
  const size = c.nKvHeads * c.headDim * C;
  const attnMask = arCausalMask(CL, AR, nPast);
  if (kind === "soft") for (let i = 0; i < attnMask.length; i++) if (attnMask[i] !== 0) attnMask[i] = [-3, -0.5, 0.25][Math.floor(r() * 3)];
  return {
    tokens: Int32Array.from({ length: AR }, () => Math.floor(r() * c.vocabSize)),
    attnMask,
    inputPos: AR === CL ? undefined : Int32Array.from({ length: AR }, (_, i) => nPast + i),
    kCaches: Array.from({ length: c.nLayers }, () => layer(size)),
    vCaches: Array.from({ length: c.nLayers }, () => layer(size)),
  };
}

export const argmax = (a: Float32Array) => a.reduce((best, x, i) => (x > a[best] ? i : best), 0);
export const concat = (xs: Float32Array[]) => Float32Array.from(xs.flatMap((x) => Array.from(x)));

export function sameBits(a: ArGraphOutputs, b: ArGraphOutputs): boolean {
  return bitsEqual(a.logits, b.logits) && a.kOut.every((k, l) => bitsEqual(k, b.kOut[l])) && a.vOut.every((v, l) => bitsEqual(v, b.vOut[l]));
}

/** masked softmax × R3 on/off (R3 only where head_dim is a power of two). */
export const attentionVariants = (hd: number) =>
  [false, true].flatMap((r3) => (r3 && !isPowerOfTwo(hd) ? [] : [false, true].map((maskedSoftmax) => ({ maskedSoftmax, r3 }))));

/** Lowest SQNR figures a test has seen (printed at its end). */
export interface LowestSqnr {
  logits: number;
  kv: number;
}

/**
 * A backend's AR-N outputs against arForward's: logits and every layer's K and V at least 60 dB (and not
 * bit-identical, which would mean the reference itself ran), top-1 equal on every row; updates `low`.
 */
export function expectNearReference(got: ArGraphOutputs, ref: ArGraphOutputs, c: ModelConfig, AR: number, what: string, low: LowestSqnr): void {
  const V = c.vocabSize;
  const db = sqnrDb(got.logits, ref.logits);
  expect(db, `${what}: logits`).toBeGreaterThanOrEqual(60);
  expect(db, `${what}: bit-identical would mean the reference ran`).toBeLessThan(Infinity);
  low.logits = Math.min(low.logits, db);
  for (let i = 0; i < AR; i++)
    expect(argmax(got.logits.subarray(i * V, (i + 1) * V)), `${what}: top-1 of row ${i}`).toBe(argmax(ref.logits.subarray(i * V, (i + 1) * V)));
  for (let l = 0; l < c.nLayers; l++)
    for (const [name, g, want] of [["K", got.kOut[l], ref.kOut[l]], ["V", got.vOut[l], ref.vOut[l]]] as const) {
      const s = sqnrDb(g, want);
      expect(s, `${what}: ${name} out of layer ${l}`).toBeGreaterThanOrEqual(60);
      low.kv = Math.min(low.kv, s);
    }
}

/**
 * §8.1 fill-value inputs: every row attends cache slot 0 only; slot 0's values are 0 and every other slot's ±1000 in
 * every layer, so each layer's `attn` is made of the masked columns' weights alone (0 with the additive mask) and
 * any other fill value, or a row minimum over the wrong columns, moves it by a factor e^Δ.
 */
export function fillValueInputs(c: ModelConfig, AR: number): ArGraphInputs {
  const C = CL - AR;
  const inp = randomInputs(c, AR, "causal", 31);
  inp.attnMask.fill(-255);
  for (let i = 0; i < AR; i++) inp.attnMask[i * CL] = 0;
  const r = rng(5);
  for (const v of inp.vCaches)
    for (let h = 0; h < c.nKvHeads; h++)
      for (let s = 0; s < C; s++)
        for (let d = 0; d < c.headDim; d++) v[(h * C + s) * c.headDim + d] = s === 0 ? 0 : r() < 0.5 ? -1000 : 1000;
  return inp;
}

/** Every tap a run reports, by `layer.name` (copies). */
export async function collectTaps(run: (tap: TapFn) => Promise<unknown> | unknown): Promise<Map<string, Float32Array>> {
  const m = new Map<string, Float32Array>();
  await run((layer, name, data) => void m.set(`${layer}.${name}`, data.slice()));
  return m;
}

/** A greedy generateCurrent run at CL with a prompt graph of AR rows, to the end of the context. */
export function greedyCurrent(backend: Backend, c: ModelConfig, mode: "kv" | "hybrid", AR: number, prompt: readonly number[]): Promise<GenerateResult> {
  return generateCurrent({
    backend,
    config: c,
    mode,
    contextLen: CL,
    prefillArLen: AR,
    maxSeqLen: CL,
    promptTokens: [...prompt],
    stopTokens: [],
    sampler: createSampler({ vocabSize: c.vocabSize, temperature: 0, seed: 0n }),
  });
}
