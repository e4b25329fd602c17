// Owns the I/O contract of the two static graphs (SPEC §3): the typed arrays a call takes and returns, and
// the tensor list (names, shapes, dtypes, order) a backend must present in the device's order.
import type { ModelConfig } from "./config.js";

/** Float mask values of the fp32 graphs (SPEC §3): 0 = attend, -255 = masked (not -inf, as on the device). */
export const MASK_ATTEND = 0;
export const MASK_BLOCKED = -255;

export interface KvGraphInputs {
  /** [1, 1] int32: the token being fed. */
  tokens: Int32Array;
  /** [1, kv_seq_len]: column L is the current token. */
  attnMask: Float32Array;
  /** [1, 1] int32: absolute position of the token. */
  inputPos: Int32Array;
  /** NL*H tensors (layer-major, then KV head), each [hd, L] row-major: row = dim, column = slot. */
  kCaches: Float32Array[];
  /** NL*H tensors, each [L, hd]: row = slot. */
  vCaches: Float32Array[];
}

export interface KvGraphOutputs {
  /** [1, 1, vocab]. */
  logits: Float32Array;
  /** NL*H tensors [hd, 1]: the new token's K (RoPE applied, half-split order). */
  kOut: Float32Array[];
  /** NL*H tensors [1, hd]: the new token's V. */
  vOut: Float32Array[];
}

export interface PrefillGraphInputs {
  /** [1, P] int32: prompt right-padded with id 0. */
  tokens: Int32Array;
  /** [P, P] causal mask. */
  attnMask: Float32Array;
}

export interface PrefillGraphOutputs {
  /** [1, P, vocab]. */
  logits: Float32Array;
  /** NL*H tensors [hd, P]. */
  kOut: Float32Array[];
  /** NL*H tensors [P, hd]. */
  vOut: Float32Array[];
}

export type DType = "int32" | "float32";

export interface TensorSpec {
  name: string;
  shape: number[];
  dtype: DType;
}

export interface GraphSpec {
  name: "kv_forward" | "prefill_forward";
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

const cacheNames = (c: ModelConfig, prefix: string): string[] => {
  const names: string[] = [];
  for (let l = 0; l < c.nLayers; l++) for (let h = 0; h < c.nKvHeads; h++) names.push(`${prefix}_l${l}_h${h}`);
  return names;
};

/** The KV graph's tensors in device order (SPEC §3). */
export function kvGraphSpec(c: ModelConfig, kvSeqLen: number): GraphSpec {
  const L = kvSeqLen - 1;
  const hd = c.headDim;
  return {
    name: "kv_forward",
    inputs: [
      { name: "tokens", shape: [1, 1], dtype: "int32" },
      { name: "atten_mask", shape: [1, kvSeqLen], dtype: "float32" },
      { name: "input_pos", shape: [1, 1], dtype: "int32" },
      ...cacheNames(c, "k_cache").map((name) => ({ name, shape: [1, hd, L], dtype: "float32" as const })),
      ...cacheNames(c, "v_cache").map((name) => ({ name, shape: [1, L, hd], dtype: "float32" as const })),
    ],
    outputs: [
      { name: "logits", shape: [1, 1, c.vocabSize], dtype: "float32" },
      ...cacheNames(c, "k_out").map((name) => ({ name, shape: [1, hd, 1], dtype: "float32" as const })),
      ...cacheNames(c, "v_out").map((name) => ({ name, shape: [1, 1, hd], dtype: "float32" as const })),
    ],
  };
}

/** The prefill graph's tensors in device order (SPEC §3). */
export function prefillGraphSpec(c: ModelConfig, prefillSeqLen: number): GraphSpec {
  const P = prefillSeqLen - 1;
  const hd = c.headDim;
  return {
    name: "prefill_forward",
    inputs: [
      { name: "tokens", shape: [1, P], dtype: "int32" },
      { name: "atten_mask", shape: [P, P], dtype: "float32" },
    ],
    outputs: [
      { name: "logits", shape: [1, P, c.vocabSize], dtype: "float32" },
      ...cacheNames(c, "k_out").map((name) => ({ name, shape: [1, hd, P], dtype: "float32" as const })),
      ...cacheNames(c, "v_out").map((name) => ({ name, shape: [1, P, hd], dtype: "float32" as const })),
    ],
  };
}

export const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** Plain causal mask [P, P]: row i attends columns j <= i (no padding mask, as the device runner builds it). */
export function causalMask(P: number): Float32Array {
  const m = new Float32Array(P * P);
  for (let i = 0; i < P; i++) for (let j = 0; j < P; j++) m[i * P + j] = j <= i ? MASK_ATTEND : MASK_BLOCKED;
  return m;
}

/** Allocates zeroed KV-graph outputs. */
export function allocKvOutputs(c: ModelConfig): KvGraphOutputs {
  const n = c.nLayers * c.nKvHeads;
  return {
    logits: new Float32Array(c.vocabSize),
    kOut: Array.from({ length: n }, () => new Float32Array(c.headDim)),
    vOut: Array.from({ length: n }, () => new Float32Array(c.headDim)),
  };
}

/** Allocates zeroed prefill-graph outputs. */
export function allocPrefillOutputs(c: ModelConfig, prefillSeqLen: number): PrefillGraphOutputs {
  const n = c.nLayers * c.nKvHeads;
  const P = prefillSeqLen - 1;
  return {
    logits: new Float32Array(P * c.vocabSize),
    kOut: Array.from({ length: n }, () => new Float32Array(c.headDim * P)),
    vOut: Array.from({ length: n }, () => new Float32Array(P * c.headDim)),
  };
}
