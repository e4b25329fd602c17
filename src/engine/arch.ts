// Owns the architecture variants of the model families the current flow runs (SPEC-2026 §2.2, issue 16): what
// differs from the Llama body of SPEC §1 per family, as plain data the decoder, the graphs and the backends read.
// A ModelConfig without `arch` is the Llama architecture (llama2.c, Meta, HF LlamaForCausalLM, SmolLM2).
//
// Per family (Hugging Face `model_type` → what the engine does differently):
//   qwen2 (Qwen2.5)   q/k/v biases.
//   qwen3             per-head RMSNorm of q and k (q_norm / k_norm, width head_dim) before RoPE; head_dim set apart
//                     from hidden/heads; optional biases on q/k/v/o (attention_bias).
//   smollm3           layers without RoPE (no_rope_layers / no_rope_layer_interval).
//   phi3 (Phi-4-mini) fused qkv_proj / gate_up_proj (split at load), partial rotary factor (only the first
//                     rotaryDim dims of a head are rotated); LongRoPE factors ignored unless asked for (§2.2).
//   gemma3_text       RMSNorm by (1 + w) (folded into the weights at load: the arrays hold fround(1 + w)),
//                     embeddings times fround(sqrt(hidden)), GELU-tanh MLP, post-attention and post-FFN norms,
//                     q/k norms, scores divided by sqrt(query_pre_attn_scalar), sliding-window layers with their own
//                     RoPE theta and the second mask input (§8.4), full layers with the causal mask, and the final
//                     logit soft-capping when the config sets it.
import type { ModelConfig, RopeScaling } from "./config.js";
import { UserError } from "../util/errors.js";

export type ModelType = "llama" | "qwen2" | "qwen3" | "smollm3" | "phi3" | "gemma3_text";
export const MODEL_TYPES: readonly ModelType[] = ["llama", "qwen2", "qwen3", "smollm3", "phi3", "gemma3_text"];

/** The MLP's gate activation: SiLU (SwiGLU) or the tanh approximation of GELU (GeGLU, `gelu_pytorch_tanh`). */
export type Activation = "silu" | "gelu_tanh";

/** LongRoPE (Phi-3 `rope_scaling.type == "longrope"`): per-frequency divisors and the cos/sin magnitude factor. */
export interface LongRope {
  /** Used when the context (CL) is at most originalContext. */
  shortFactor: number[];
  longFactor: number[];
  originalContext: number;
  /** cos and sin are multiplied by this (HF: sqrt(1 + ln(s)/ln(original)), s = max_position / original). */
  attentionFactor: number;
}

/** RoPE of one layer; `null` in LayerArch.rope = this layer applies no rotary embedding at all (SmolLM3). */
export interface LayerRope {
  theta: number;
  /** Llama-3 scaling of the inverse frequencies, or null. */
  scaling: RopeScaling | null;
  /** Linear scaling (HF rope_type "linear"): inverse frequencies divided by this; 1 = none. */
  linearFactor: number;
  /** LongRoPE factors, applied only when the model is loaded with them switched on (else null). */
  longRope: LongRope | null;
}

export interface LayerArch {
  rope: LayerRope | null;
  /** Sliding window (Gemma3 `sliding_attention` layers): this layer reads the window mask; null = causal mask. */
  window: number | null;
}

export interface Arch {
  modelType: ModelType;
  /** Biases of the q, k, v and o projections (arrays in LayerWeights.bq/bk/bv/bo when true). */
  bias: { q: boolean; k: boolean; v: boolean; o: boolean };
  /** Per-head RMSNorm of q and k before RoPE (LayerWeights.qNorm/kNorm, [headDim]). */
  qkNorm: boolean;
  /** Gemma: the norm weights are stored as fround(1 + w) (folded at load); informational for reports. */
  normAddOne: boolean;
  /** Embedding rows are multiplied by this fp32 value (1 = not at all). */
  embedScale: number;
  act: Activation;
  /** Gemma: post-attention and post-FFN RMSNorms (LayerWeights.postAttnNorm/postFfnNorm) before each residual add. */
  sandwichNorms: boolean;
  /** Scores are divided by fround(sqrt(this)) instead of fround(sqrt(headDim)); null = headDim (Gemma: query_pre_attn_scalar). */
  queryPreAttnScalar: number | null;
  /** Leading dims of each head that RoPE rotates (even, <= headDim); the rest pass through (Phi-3 partial rotary). */
  rotaryDim: number;
  /**
   * Order of the q/k projection rows (and their biases and norm weights) inside a head, as loaded: "interleaved"
   * (Meta's pairs (2i, 2i+1); HF Llama rows are un-permuted at load) or "rotate_half" (HF's order, pairs (i, i+r/2),
   * kept as the device does for families with transform_weight off, SPEC-2026 §2.2). Either way the rotated output is
   * in the half-split order the K cache holds.
   */
  ropeOrder: "interleaved" | "rotate_half";
  layers: LayerArch[];
  /** Gemma: logits = tanh(logits / c)·c when set. */
  finalLogitSoftcap: number | null;
}

/** The Llama architecture for a config without `arch` (every layer with the model's RoPE, causal mask). */
export function llamaArch(nLayers: number, headDim: number, theta: number, scaling: RopeScaling | null): Arch {
  const rope: LayerRope = { theta, scaling, linearFactor: 1, longRope: null };
  return {
    modelType: "llama",
    bias: { q: false, k: false, v: false, o: false },
    qkNorm: false,
    normAddOne: false,
    embedScale: 1,
    act: "silu",
    sandwichNorms: false,
    queryPreAttnScalar: null,
    rotaryDim: headDim,
    ropeOrder: "interleaved",
    layers: Array.from({ length: nLayers }, () => ({ rope, window: null })),
    finalLogitSoftcap: null,
  };
}

/** The architecture of a config: its `arch`, or the Llama one built from its RoPE fields. */
export function archOf(c: ModelConfig): Arch {
  return c.arch ?? llamaArch(c.nLayers, c.headDim, c.ropeTheta, c.ropeScaling);
}

/**
 * The first feature of `c` that the plain Llama body of SPEC §1 lacks (a short name for error messages), or null
 * when the config is plain Llama: what the seed flow's graphs and the backends without family support can run.
 */
export function nonLlamaFeature(c: ModelConfig): string | null {
  const a = c.arch;
  if (!a) return null;
  if (a.modelType !== "llama") return `model_type ${a.modelType}`;
  if (a.bias.q || a.bias.k || a.bias.v || a.bias.o) return "attention biases";
  if (a.qkNorm) return "q/k norms";
  if (a.normAddOne || a.sandwichNorms) return "Gemma norms";
  if (a.embedScale !== 1) return "embedding scale";
  if (a.act !== "silu") return `activation ${a.act}`;
  if (a.queryPreAttnScalar !== null) return "query_pre_attn_scalar";
  if (a.rotaryDim !== c.headDim) return "partial rotary";
  if (a.ropeOrder !== "interleaved") return "rotate_half weight order";
  if (a.finalLogitSoftcap !== null) return "final logit soft-capping";
  if (c.headDim * c.nHeads !== c.dim) return "head_dim apart from hidden / heads";
  for (const l of a.layers) {
    if (l.window !== null) return "sliding-window layers";
    if (l.rope === null) return "layers without RoPE";
    if (l.rope.linearFactor !== 1 || l.rope.longRope !== null || l.rope.theta !== c.ropeTheta || l.rope.scaling !== c.ropeScaling) return "per-layer RoPE";
  }
  return null;
}

/** The sliding window shared by the window layers (the runner has one `get_sliding_window`), or null without any. */
export function slidingWindowOf(a: Arch | undefined): number | null {
  if (!a) return null;
  let w: number | null = null;
  for (const l of a.layers) {
    if (l.window === null) continue;
    if (w !== null && w !== l.window) throw new RangeError(`sliding windows of ${w} and ${l.window} in one model; the runner has one window size`);
    w = l.window;
  }
  return w;
}

/** Refuses a non-Llama config where only the Llama body is implemented (`what` names the graph or backend). */
export function requirePlainLlama(c: ModelConfig, what: string): void {
  const f = nonLlamaFeature(c);
  if (f !== null) throw new UserError(`this model (${f}) is not supported by ${what}, which runs the Llama architecture only`);
}
