// Owns the benchmark's synthetic model: a random-weight Model of any shape, built in memory only (never
// written to disk), filled by a small deterministic PRNG so every run of the bench sees the same weights.
// Weights are SharedArrayBuffer-backed, as the loaders return them, so threaded backends share them as-is.
import { sharedFloat32 } from "../src/loaders/tensors.js";
import { validateConfig, type ModelConfig } from "../src/engine/config.js";
import { checkWeights, weightShapes, type LayerWeights, type Model, type ModelWeights } from "../src/engine/weights.js";

/** The stories110M shape (llama2.c's 110M TinyStories model): dim 768, 12 layers, 12 heads, FFN 2048. */
export const STORIES110M_CONFIG: ModelConfig = {
  dim: 768,
  nLayers: 12,
  nHeads: 12,
  nKvHeads: 12,
  vocabSize: 32000,
  hiddenDim: 2048,
  headDim: 64,
  normEps: 1e-5,
  ropeTheta: 10000,
  ropeScaling: null,
  maxSeqLen: 1024,
};

/**
 * mulberry32: a 32-bit state PRNG (one add, two multiplies, three xor-shifts per draw). Not cryptographic;
 * chosen because it is tiny, fast in V8 (all int32 ops) and good enough to make weights look like noise.
 * The state lives in a one-element Int32Array so a fill loop can keep it in a local.
 */
type Mulberry32 = Int32Array;
const mulberry32 = (seed: number): Mulberry32 => Int32Array.of(seed | 0);

/** Fills `a` with center + uniform(-amp, amp): draws from `rng` in index order, mapped u32 -> [0, 2*amp). */
function fillUniform(a: Float32Array, rng: Mulberry32, center: number, amp: number): Float32Array {
  const k = (2 * amp) / 4294967296;
  const base = center - amp;
  let s = rng[0];
  for (let i = 0; i < a.length; i++) {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    a[i] = base + ((t ^ (t >>> 14)) >>> 0) * k;
  }
  rng[0] = s;
  return a;
}

/** Fills `a` with uniform(-amp, amp) from its own mulberry32 stream (bench inputs such as KV caches). */
export function randomFill(a: Float32Array, seed: number, amp: number): Float32Array {
  return fillUniform(a, mulberry32(seed), 0, amp);
}

/**
 * A model of shape `config` with random weights, deterministic in `seed`.
 * - Matrices [out, in]: uniform in ±1/sqrt(in) (±0.036 for dim 768, ±0.022 for the FFN down projection),
 *   so a projection of an RMS-normalised row keeps an RMS of about 0.6 and activations stay finite.
 * - Token embeddings: uniform ±0.02. The LM head is tied to them (output === tokEmbeddings), as in the
 *   llama2.c stories checkpoints, which also keeps the resident size at ~4 bytes per parameter.
 * - RMSNorm weights: 1 ± 0.05.
 * One PRNG stream fills the tensors in a fixed order, so the whole model is a pure function of the seed.
 */
export function randomModel(config: ModelConfig, seed: number): Model {
  const c = validateConfig({ ...config }, "random model");
  const shapes = weightShapes(c);
  const rng = mulberry32(seed);
  const numel = (name: string) => shapes[name].reduce((a, b) => a * b, 1);
  const matrix = (name: string): Float32Array => {
    const fanIn = shapes[name][shapes[name].length - 1];
    return fillUniform(sharedFloat32(numel(name)), rng, 0, 1 / Math.sqrt(fanIn));
  };
  const norm = (name: string): Float32Array => fillUniform(sharedFloat32(numel(name)), rng, 1, 0.05);

  const tokEmbeddings = fillUniform(sharedFloat32(numel("tokEmbeddings")), rng, 0, 0.02);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.nLayers; l++)
    layers.push({
      attnNorm: norm("attnNorm"),
      wq: matrix("wq"),
      wk: matrix("wk"),
      wv: matrix("wv"),
      wo: matrix("wo"),
      ffnNorm: norm("ffnNorm"),
      w1: matrix("w1"),
      w2: matrix("w2"),
      w3: matrix("w3"),
    });
  const weights: ModelWeights = { tokEmbeddings, layers, norm: norm("norm"), output: tokEmbeddings };
  checkWeights(c, weights);
  return { config: c, weights };
}

/** Distinct parameters (a tied LM head counted once). */
export function parameterCount(m: Model): number {
  const w = m.weights;
  let n = w.tokEmbeddings.length + w.norm.length + (w.output === w.tokEmbeddings ? 0 : w.output.length);
  for (const l of w.layers) n += l.attnNorm.length + l.wq.length + l.wk.length + l.wv.length + l.wo.length + l.ffnNorm.length + l.w1.length + l.w2.length + l.w3.length;
  return n;
}
