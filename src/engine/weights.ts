// Owns the in-memory layout of a model's weights: fp32 row-major matrices [out, in] as loaded from a
// checkpoint (Meta / llama2.c orientation), one record per layer, and the shape check every loader runs.
import type { ModelConfig } from "./config.js";

export interface LayerWeights {
  /** RMSNorm weight before attention, [dim]. */
  attnNorm: Float32Array;
  /** Query projection, [nHeads*headDim, dim], rows in the checkpoint's interleaved-pair RoPE order. */
  wq: Float32Array;
  /** Key projection, [nKvHeads*headDim, dim], interleaved-pair order. */
  wk: Float32Array;
  /** Value projection, [nKvHeads*headDim, dim]. */
  wv: Float32Array;
  /** Output projection, [dim, nHeads*headDim]. */
  wo: Float32Array;
  /** RMSNorm weight before the FFN, [dim]. */
  ffnNorm: Float32Array;
  /** Gate projection, [hiddenDim, dim]. */
  w1: Float32Array;
  /** Down projection, [dim, hiddenDim]. */
  w2: Float32Array;
  /** Up projection, [hiddenDim, dim]. */
  w3: Float32Array;
  // Family extras (src/engine/arch.ts), present exactly when the config's arch asks for them.
  /** q/k/v/o biases: [nHeads*headDim], [nKvHeads*headDim] (same row order as wq/wk), [nKvHeads*headDim], [dim]. */
  bq?: Float32Array;
  bk?: Float32Array;
  bv?: Float32Array;
  bo?: Float32Array;
  /** Per-head RMSNorm weights of q and k, [headDim] (row order as wq/wk within a head). */
  qNorm?: Float32Array;
  kNorm?: Float32Array;
  /** Gemma: RMSNorm of the attention output and of the FFN output before their residual adds, [dim]. */
  postAttnNorm?: Float32Array;
  postFfnNorm?: Float32Array;
}

/** The per-layer weights every architecture has (the Llama set). */
export type BaseLayerKey = "attnNorm" | "wq" | "wk" | "wv" | "wo" | "ffnNorm" | "w1" | "w2" | "w3";

/** The optional per-layer weights and whether an arch needs each. */
export const LAYER_EXTRAS = ["bq", "bk", "bv", "bo", "qNorm", "kNorm", "postAttnNorm", "postFfnNorm"] as const;
export type LayerExtra = (typeof LAYER_EXTRAS)[number];

/** The extras a config's layers carry. */
export function layerExtras(c: ModelConfig): LayerExtra[] {
  const a = c.arch;
  if (!a) return [];
  const out: LayerExtra[] = [];
  if (a.bias.q) out.push("bq");
  if (a.bias.k) out.push("bk");
  if (a.bias.v) out.push("bv");
  if (a.bias.o) out.push("bo");
  if (a.qkNorm) out.push("qNorm", "kNorm");
  if (a.sandwichNorms) out.push("postAttnNorm", "postFfnNorm");
  return out;
}

export interface ModelWeights {
  /** Token embedding table, [vocab, dim]. */
  tokEmbeddings: Float32Array;
  layers: LayerWeights[];
  /** Final RMSNorm weight, [dim]. */
  norm: Float32Array;
  /** LM head, [vocab, dim]; the same array as tokEmbeddings when tied. */
  output: Float32Array;
}

export interface Model {
  config: ModelConfig;
  weights: ModelWeights;
}

/** Expected element count of every weight tensor, by name; used by loaders and tests. */
export function weightShapes(c: ModelConfig): Record<string, [number, number] | [number]> {
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  return {
    tokEmbeddings: [c.vocabSize, c.dim],
    attnNorm: [c.dim],
    wq: [qDim, c.dim],
    wk: [kvDim, c.dim],
    wv: [kvDim, c.dim],
    wo: [c.dim, qDim],
    ffnNorm: [c.dim],
    w1: [c.hiddenDim, c.dim],
    w2: [c.dim, c.hiddenDim],
    w3: [c.hiddenDim, c.dim],
    norm: [c.dim],
    output: [c.vocabSize, c.dim],
    bq: [qDim],
    bk: [kvDim],
    bv: [kvDim],
    bo: [c.dim],
    qNorm: [c.headDim],
    kNorm: [c.headDim],
    postAttnNorm: [c.dim],
    postFfnNorm: [c.dim],
  };
}

const numel = (s: number[]): number => s.reduce((a, b) => a * b, 1);

/** Throws a plain Error (a loader bug, not a user mistake) when an array has the wrong length. */
export function checkWeights(c: ModelConfig, w: ModelWeights): void {
  const shapes = weightShapes(c);
  const check = (name: string, a: Float32Array, where: string) => {
    const want = numel(shapes[name]);
    if (a.length !== want) throw new Error(`weight ${where}${name}: ${a.length} elements, expected ${want}`);
  };
  check("tokEmbeddings", w.tokEmbeddings, "");
  check("norm", w.norm, "");
  check("output", w.output, "");
  if (w.layers.length !== c.nLayers) throw new Error(`weights: ${w.layers.length} layers, expected ${c.nLayers}`);
  w.layers.forEach((l, i) => {
    for (const k of ["attnNorm", "wq", "wk", "wv", "wo", "ffnNorm", "w1", "w2", "w3"] as const)
      check(k, l[k], `layers.${i}.`);
    const extras = new Set<string>(layerExtras(c));
    for (const k of LAYER_EXTRAS) {
      const a = l[k];
      if (extras.has(k) && !a) throw new Error(`weight layers.${i}.${k}: missing (the architecture needs it)`);
      if (!extras.has(k) && a) throw new Error(`weight layers.${i}.${k}: present, but the architecture does not use it`);
      if (a) check(k, a, `layers.${i}.`);
    }
  });
}
