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
  });
}
