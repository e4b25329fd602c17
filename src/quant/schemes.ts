// Owns the `--ptq` scheme table of SPEC §7 (which bitwidth and granularity every tensor kind gets under
// 8a8w / 16a4w / 16a8w / 16a16w / 16a4w_block, with the seed's exceptions) and the quantization of a
// model's weights under a scheme.
import type { ModelConfig } from "../engine/config.js";
import type { LayerWeights, Model } from "../engine/weights.js";
import { activationEncoding, DEFAULT_EPS, minMax, quantizeArray, type QuantEncoding } from "./affine.js";
import {
  defaultQmax,
  quantizeWeightBlockwise,
  quantizeWeightPerChannel,
  type BlockwiseWeights,
  type PerChannelWeights,
  type WeightBits,
} from "./weights.js";

export type SchemeName = "8a8w" | "16a4w" | "16a8w" | "16a16w" | "16a4w_block";
export const SCHEME_NAMES: readonly SchemeName[] = ["8a8w", "16a4w", "16a8w", "16a16w", "16a4w_block"];

/** Linear weights of a layer, plus the LM head. */
export type LinearKind = "wq" | "wk" | "wv" | "wo" | "w1" | "w2" | "w3" | "output";
export const LAYER_LINEARS: readonly Exclude<LinearKind, "output">[] = ["wq", "wk", "wv", "wo", "w1", "w2", "w3"];
/** Weights quantized with the activation spec (per-tensor unsigned affine). */
export type TableKind = "tokEmbeddings" | "attnNorm" | "ffnNorm" | "norm";
export type WeightKind = LinearKind | TableKind;

export type WeightSpec =
  | { granularity: "per-channel"; bits: WeightBits; qmax: number }
  | { granularity: "per-block"; bits: 4; qmax: number; blockSize: number }
  /** Unsigned per-tensor affine over the tensor's min/max, at the scheme's activation bitwidth. */
  | { granularity: "per-tensor-affine"; bits: 8 | 16 };

export interface SchemeSpec {
  name: SchemeName;
  /** Bitwidth of every unsigned per-tensor affine activation (uint8 / uint16). */
  activationBits: 8 | 16;
  /** q/k/v/o and FFN projections. */
  linear: WeightSpec;
  /** The V projection's weight (its output activation is `vProjectionActivationBits`). */
  vProjection: WeightSpec;
  vProjectionActivationBits: 8 | 16;
  /** LM head of the stories (llama2.c) models; other families use `linear`. */
  storiesLmHead: WeightSpec;
  /** K and V inputs of the attention matmuls (and so the K/V caches): symmetric, unsigned, zp 2^(bits-1). */
  kv: { bits: 8 | 16; symmetric: true };
  /** Embedding table and RMSNorm weights. */
  table: WeightSpec;
}

const perChannel = (bits: WeightBits): WeightSpec => ({ granularity: "per-channel", bits, qmax: defaultQmax(bits) });
const INT4 = perChannel(4);
const INT8 = perChannel(8);

/**
 * SPEC §7. The 16a4w exceptions (8-bit symmetric K/V, 8a4w V projection, int8 per-channel stories LM head)
 * are the seed's custom annotations for 16a4w; 16a4w_block keeps them and replaces the int4 per-channel
 * linears by LPBQ blocks of 64. 16a8w / 16a16w use int8 / int16 per-channel weights (narrow range,
 * [-127, 127] / [-32767, 32767], as ExecuTorch's per-channel qconfig: iinfo.min + 1 .. iinfo.max) and 16-bit
 * K/V; 8a8w is uniformly 8-bit.
 */
export const SCHEMES: Readonly<Record<SchemeName, SchemeSpec>> = {
  "8a8w": {
    name: "8a8w",
    activationBits: 8,
    linear: INT8,
    vProjection: INT8,
    vProjectionActivationBits: 8,
    storiesLmHead: INT8,
    kv: { bits: 8, symmetric: true },
    table: { granularity: "per-tensor-affine", bits: 8 },
  },
  "16a4w": {
    name: "16a4w",
    activationBits: 16,
    linear: INT4,
    vProjection: INT4,
    vProjectionActivationBits: 8,
    storiesLmHead: INT8,
    kv: { bits: 8, symmetric: true },
    table: { granularity: "per-tensor-affine", bits: 16 },
  },
  "16a8w": {
    name: "16a8w",
    activationBits: 16,
    linear: INT8,
    vProjection: INT8,
    vProjectionActivationBits: 16,
    storiesLmHead: INT8,
    kv: { bits: 16, symmetric: true },
    table: { granularity: "per-tensor-affine", bits: 16 },
  },
  "16a16w": {
    name: "16a16w",
    activationBits: 16,
    linear: perChannel(16),
    vProjection: perChannel(16),
    vProjectionActivationBits: 16,
    storiesLmHead: perChannel(16),
    kv: { bits: 16, symmetric: true },
    table: { granularity: "per-tensor-affine", bits: 16 },
  },
  "16a4w_block": {
    name: "16a4w_block",
    activationBits: 16,
    linear: { granularity: "per-block", bits: 4, qmax: 7, blockSize: 64 },
    vProjection: { granularity: "per-block", bits: 4, qmax: 7, blockSize: 64 },
    vProjectionActivationBits: 8,
    storiesLmHead: INT8,
    kv: { bits: 8, symmetric: true },
    table: { granularity: "per-tensor-affine", bits: 16 },
  },
};

export interface WeightSpecOptions {
  /** The stories (llama2.c) family: its LM head takes `storiesLmHead`. Default true. */
  stories?: boolean;
  /** Overrides the block size of a per-block scheme (SPEC §7: 64, later 32). */
  blockSize?: number;
}

/** The weight spec of one tensor kind under a scheme. */
export function weightSpecFor(scheme: SchemeName, kind: WeightKind, opts: WeightSpecOptions = {}): WeightSpec {
  const s = SCHEMES[scheme];
  if (!s) throw new RangeError(`unknown quantization scheme ${scheme}`);
  let spec: WeightSpec;
  switch (kind) {
    case "tokEmbeddings":
    case "attnNorm":
    case "ffnNorm":
    case "norm":
      return s.table;
    case "wv":
      spec = s.vProjection;
      break;
    case "output":
      spec = (opts.stories ?? true) ? s.storiesLmHead : s.linear;
      break;
    default:
      spec = s.linear;
  }
  if (spec.granularity === "per-block" && opts.blockSize !== undefined) spec = { ...spec, blockSize: opts.blockSize };
  return spec;
}

export type QuantizedLinear =
  | ({ granularity: "per-channel" } & PerChannelWeights)
  | ({ granularity: "per-block" } & BlockwiseWeights);

export interface QuantizedTable {
  granularity: "per-tensor-affine";
  codes: Int32Array;
  encoding: QuantEncoding;
}

export interface QuantizedLayer {
  linears: Record<Exclude<LinearKind, "output">, QuantizedLinear>;
  attnNorm: QuantizedTable;
  ffnNorm: QuantizedTable;
}

export interface QuantizedModelWeights {
  scheme: SchemeName;
  layers: QuantizedLayer[];
  output: QuantizedLinear;
  tokEmbeddings: QuantizedTable;
  norm: QuantizedTable;
}

export interface QuantizeModelOptions extends WeightSpecOptions {
  eps?: number;
}

/**
 * Quantizes one [rows, cols] weight with a linear spec. A per-block spec whose block size does not divide the
 * input dimension (stories260K's w2 has 172 inputs) falls back to int4 per-channel with the same qmax:
 * QNN's blockwise expansion needs equal blocks, and per-channel is the one-block limit of the same grid.
 */
export function quantizeLinear(w: Float32Array, rows: number, cols: number, spec: WeightSpec, eps: number = DEFAULT_EPS): QuantizedLinear {
  if (spec.granularity === "per-block") {
    if (cols % spec.blockSize === 0)
      return { granularity: "per-block", ...quantizeWeightBlockwise(w, rows, cols, { blockSize: spec.blockSize, qmax: spec.qmax, eps }) };
    return { granularity: "per-channel", ...quantizeWeightPerChannel(w, rows, cols, { bits: 4, qmax: spec.qmax, eps }) };
  }
  if (spec.granularity === "per-channel")
    return { granularity: "per-channel", ...quantizeWeightPerChannel(w, rows, cols, { bits: spec.bits, qmax: spec.qmax, eps }) };
  throw new RangeError(`quantizeLinear: a ${spec.granularity} spec is not a linear weight spec`);
}

function quantizeTable(w: Float32Array, spec: WeightSpec, eps: number): QuantizedTable {
  if (spec.granularity !== "per-tensor-affine") throw new RangeError(`table weights take a per-tensor-affine spec, not ${spec.granularity}`);
  const [lo, hi] = minMax(w);
  const encoding = activationEncoding(lo, hi, spec.bits, eps);
  return { granularity: "per-tensor-affine", codes: quantizeArray(w, encoding), encoding };
}

/** [rows, cols] of every linear weight of a model (row-major, out × in). */
export function linearShapes(c: ModelConfig): Record<LinearKind, [number, number]> {
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  return {
    wq: [qDim, c.dim],
    wk: [kvDim, c.dim],
    wv: [kvDim, c.dim],
    wo: [c.dim, qDim],
    w1: [c.hiddenDim, c.dim],
    w2: [c.dim, c.hiddenDim],
    w3: [c.hiddenDim, c.dim],
    output: [c.vocabSize, c.dim],
  };
}

/** Codes and scales of every weight of a model under a scheme (SPEC §7). */
export function quantizeModelWeights(model: Model, scheme: SchemeName, opts: QuantizeModelOptions = {}): QuantizedModelWeights {
  const c = model.config;
  const eps = opts.eps ?? DEFAULT_EPS;
  const shapes = linearShapes(c);
  const table = weightSpecFor(scheme, "norm", opts);
  const layers = model.weights.layers.map((l: LayerWeights): QuantizedLayer => {
    const linears = {} as Record<Exclude<LinearKind, "output">, QuantizedLinear>;
    for (const k of LAYER_LINEARS) linears[k] = quantizeLinear(l[k], shapes[k][0], shapes[k][1], weightSpecFor(scheme, k, opts), eps);
    return { linears, attnNorm: quantizeTable(l.attnNorm, table, eps), ffnNorm: quantizeTable(l.ffnNorm, table, eps) };
  });
  return {
    scheme,
    layers,
    output: quantizeLinear(model.weights.output, c.vocabSize, c.dim, weightSpecFor(scheme, "output", opts), eps),
    tokEmbeddings: quantizeTable(model.weights.tokEmbeddings, weightSpecFor(scheme, "tokEmbeddings", opts), eps),
    norm: quantizeTable(model.weights.norm, table, eps),
  };
}
