// Test helper: an independent float64 forward pass for six Hugging Face model families (model_type llama, qwen2,
// qwen3, smollm3, phi3, gemma3_text), written from the semantics of the transformers modeling and configuration code
// (4.57 / 5.x), NOT from this project's engine: nothing here imports from src/. Plain JS numbers, plain loops, a full
// causal recompute for every call. It refuses (throws on) config fields and tensors it does not understand, so a
// model it accepts is computed exactly as described below.
//
// Per layer (llama-like):  x += o(attn(rope(q(n1(x))), rope(k(n1(x))), v(n1(x))));  x += down(act(gate(n2(x))) * up(n2(x)))
// gemma3_text:             h = x + n_post_attn(attn(n_in(x)));  x = h + n_post_ff(mlp(n_pre_ff(h)))
// RoPE is HF's rotate_half form on the first rotary_dim dims of each head; GQA maps query head h to kv head
// floor(h / (nH / nKV)); masked keys are left out of the softmax (HF adds the dtype minimum, whose exp is 0).
import { readFileSync, existsSync, statSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { readSafetensors, type PlainTensor } from "./safetensors-plain.js";

export type HfModelType = "llama" | "qwen2" | "qwen3" | "smollm3" | "phi3" | "gemma3_text";

/** Architecture summary; the keys mirror the `arch` objects of test/fixtures/families/refs.json. */
export interface HfArch {
  model_type: HfModelType;
  H: number;
  nH: number;
  nKV: number;
  L: number;
  hd: number;
  V: number;
  I: number;
  eps: number;
  tie: boolean;
  qkv_bias: boolean;
  o_bias: boolean;
  mlp_bias: boolean;
  fused: boolean;
  qk_norm: boolean;
  gemma: boolean;
  act: "silu" | "gelu_pytorch_tanh";
  embed_scale: number;
  scaling: number;
  rotary_dim: number;
  final_softcap: number | null;
  attn_softcap: number | null;
}

/** RoPE of one layer, after resolving rope_theta / rope_scaling / rope_parameters. */
export interface RopeSpec {
  type: "default" | "linear" | "longrope";
  theta: number;
  /** linear: inv_freq / factor. */
  factor: number;
  /** longrope only. */
  shortFactor?: number[];
  longFactor?: number[];
  originalMaxPos?: number;
  attentionFactor: number;
}

export interface OracleLayer {
  useRope: boolean;
  theta: number;
  /** Sliding window: key j is visible to query i iff j <= i and i - j < window; null = plain causal. */
  window: number | null;
  kind: "full_attention" | "sliding_attention";
  rope: RopeSpec;
}

interface LayerWeights {
  inNorm: Float64Array;
  /** llama-like: the pre-MLP norm; gemma3: the norm applied to the attention output. */
  postAttnNorm: Float64Array;
  preFfNorm: Float64Array | null;
  postFfNorm: Float64Array | null;
  wq: Float64Array;
  wk: Float64Array;
  wv: Float64Array;
  wo: Float64Array;
  bq: Float64Array | null;
  bk: Float64Array | null;
  bv: Float64Array | null;
  bo: Float64Array | null;
  qNorm: Float64Array | null;
  kNorm: Float64Array | null;
  wGate: Float64Array;
  wUp: Float64Array;
  wDown: Float64Array;
  bGate: Float64Array | null;
  bUp: Float64Array | null;
  bDown: Float64Array | null;
}

export interface HfModel {
  configPath: string | null;
  weightsPath: string | null;
  config: Record<string, unknown>;
  arch: HfArch;
  layers: OracleLayer[];
  embed: Float64Array;
  finalNorm: Float64Array;
  lmHead: Float64Array;
  w: LayerWeights[];
}

// ---------------------------------------------------------------------------------------------------------------
// Config

/** Keys with no effect on a float64 forward pass (dropout, init, ids, bookkeeping). */
const INERT_KEYS = [
  "_name_or_path",
  "architectures",
  "attention_dropout",
  "bos_token_id",
  "eos_token_id",
  "pad_token_id",
  "dtype",
  "torch_dtype",
  "initializer_range",
  "transformers_version",
  "use_cache",
  "max_position_embeddings",
  "model_type",
];
const CORE_KEYS = [
  "hidden_size",
  "intermediate_size",
  "num_hidden_layers",
  "num_attention_heads",
  "num_key_value_heads",
  "head_dim",
  "rms_norm_eps",
  "vocab_size",
  "tie_word_embeddings",
  "rope_theta",
  "rope_scaling",
  "rope_parameters",
];
const FAMILY_KEYS: Record<HfModelType, string[]> = {
  // pretraining_tp and is_llama_config are not read by the transformers Llama modeling code.
  llama: ["hidden_act", "attention_bias", "mlp_bias", "pretraining_tp", "rope_interleaved", "is_llama_config"],
  qwen2: ["hidden_act", "layer_types", "max_window_layers", "use_sliding_window", "sliding_window"],
  qwen3: ["hidden_act", "attention_bias", "layer_types", "max_window_layers", "use_sliding_window", "sliding_window"],
  smollm3: ["hidden_act", "attention_bias", "mlp_bias", "no_rope_layers", "no_rope_layer_interval", "layer_types", "use_sliding_window", "sliding_window"],
  phi3: [
    "hidden_act",
    "embd_pdrop",
    "resid_pdrop",
    "original_max_position_embeddings",
    "partial_rotary_factor",
    "sliding_window",
    // Phi-4-mini remote-code leftovers; the transformers Phi3 classes ignore them, so only their no-op values pass.
    "attention_bias",
    "mlp_bias",
    "lm_head_bias",
    "full_attn_mod",
    "interpolate_factor",
    "auto_map",
  ],
  gemma3_text: [
    "hidden_activation",
    "attention_bias",
    "attn_logit_softcapping",
    "final_logit_softcapping",
    "query_pre_attn_scalar",
    "rope_local_base_freq",
    "sliding_window",
    "sliding_window_pattern",
    "_sliding_window_pattern",
    "layer_types",
    "cache_implementation",
    "use_bidirectional_attention",
  ],
};

/** tie_word_embeddings default of each transformers config class (used only when the field is absent). */
const TIE_DEFAULT: Record<HfModelType, boolean> = { llama: false, qwen2: false, qwen3: false, smollm3: true, phi3: false, gemma3_text: true };

const ROPE_KEYS = new Set([
  "rope_type",
  "type",
  "rope_theta",
  "factor",
  "short_factor",
  "long_factor",
  "attention_factor",
  "original_max_position_embeddings",
  "partial_rotary_factor",
]);

function fail(msg: string): never {
  throw new Error(`hf-oracle: ${msg}`);
}

function num(c: Record<string, unknown>, key: string, def?: number): number {
  const v = c[key];
  if (v === undefined || v === null) {
    if (def !== undefined) return def;
    fail(`config field ${key} is missing`);
  }
  if (typeof v !== "number" || !Number.isFinite(v)) fail(`config field ${key} is not a number: ${JSON.stringify(v)}`);
  return v;
}

function int(c: Record<string, unknown>, key: string, def?: number): number {
  const v = num(c, key, def);
  if (!Number.isInteger(v) || v <= 0) fail(`config field ${key} must be a positive integer, got ${v}`);
  return v;
}

function bool(c: Record<string, unknown>, key: string, def: boolean): boolean {
  const v = c[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== "boolean") fail(`config field ${key} is not a boolean: ${JSON.stringify(v)}`);
  return v;
}

function nullableNum(c: Record<string, unknown>, key: string): number | null {
  const v = c[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== "number" || !(v > 0)) fail(`config field ${key} must be null or a positive number, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * One rope dict (4.x rope_scaling merged with rope_theta, or a 5.x rope_parameters entry) -> RopeSpec.
 * Supported: default, linear, and (phi3 only) longrope.
 */
function ropeSpec(
  dict: Record<string, unknown> | null,
  theta: number | undefined,
  mt: HfModelType,
  ctx: { maxPos: number; topOriginalMaxPos: number | null; seqDependentOk: boolean },
): RopeSpec {
  const d = dict ?? {};
  for (const k of Object.keys(d)) if (!ROPE_KEYS.has(k)) fail(`rope field ${k} is not supported`);
  // Only Phi3 applies RoPE to part of the head (its partial_rotary_factor is read in parseHfConfig).
  if (d.partial_rotary_factor !== undefined && d.partial_rotary_factor !== null && d.partial_rotary_factor !== 1 && mt !== "phi3")
    fail(`partial_rotary_factor ${d.partial_rotary_factor} is only handled for phi3`);
  const type = (d.rope_type ?? d.type ?? "default") as string;
  const th = d.rope_theta ?? theta;
  if (typeof th !== "number" || !(th > 0)) fail(`rope_theta missing or invalid: ${JSON.stringify(th)}`);
  if (type === "default") {
    for (const k of ["factor", "short_factor", "long_factor", "attention_factor"]) if (d[k] !== undefined && d[k] !== null) fail(`rope type default with ${k}`);
    return { type: "default", theta: th, factor: 1, attentionFactor: 1 };
  }
  if (type === "linear") {
    const f = d.factor;
    if (typeof f !== "number" || !(f > 0)) fail(`linear rope needs a positive factor, got ${JSON.stringify(f)}`);
    for (const k of ["short_factor", "long_factor", "attention_factor"]) if (d[k] !== undefined && d[k] !== null) fail(`rope type linear with ${k}`);
    return { type: "linear", theta: th, factor: f, attentionFactor: 1 };
  }
  if (type === "longrope" || type === "su") {
    if (mt !== "phi3" || !ctx.seqDependentOk) fail(`longrope is only handled for phi3`);
    const sf = d.short_factor;
    const lf = d.long_factor;
    if (!Array.isArray(sf) || !Array.isArray(lf)) fail("longrope needs short_factor and long_factor lists");
    const omp = (d.original_max_position_embeddings as number | undefined) ?? ctx.topOriginalMaxPos ?? null;
    // transformers: with original_max_position_embeddings, the scale is max_position_embeddings / original and the
    // default attention factor sqrt(1 + ln(s) / ln(original)) (1 when s <= 1); otherwise rope's own factor is used.
    let s: number;
    let original: number;
    if (omp !== null) {
      original = omp;
      s = ctx.maxPos / omp;
    } else {
      original = ctx.maxPos;
      s = (d.factor as number | undefined) ?? 1;
    }
    let af = d.attention_factor as number | undefined | null;
    if (af === undefined || af === null) af = s <= 1 ? 1 : Math.sqrt(1 + Math.log(s) / Math.log(original));
    return { type: "longrope", theta: th, factor: 1, shortFactor: sf.map(Number), longFactor: lf.map(Number), originalMaxPos: original, attentionFactor: af };
  }
  fail(`rope type ${type} is not supported`);
}

/** Parses and checks a config.json (transformers 4.x or 5.x layout); throws on anything not handled. */
export function parseHfConfig(config: Record<string, unknown>): { arch: HfArch; layers: OracleLayer[] } {
  const mt = config.model_type as string;
  if (mt === "gemma3") fail("model_type gemma3 (a multimodal wrapper with text_config) is not handled; use a gemma3_text config");
  if (!(mt in FAMILY_KEYS)) fail(`model_type ${JSON.stringify(mt)} is not handled`);
  const family = mt as HfModelType;
  const known = new Set([...INERT_KEYS, ...CORE_KEYS, ...FAMILY_KEYS[family]]);
  const unknown = Object.keys(config).filter((k) => !known.has(k));
  if (unknown.length) fail(`config fields not handled for ${mt}: ${unknown.join(", ")}`);

  const H = int(config, "hidden_size");
  const nH = int(config, "num_attention_heads");
  const nKV = int(config, "num_key_value_heads");
  const L = int(config, "num_hidden_layers");
  const V = int(config, "vocab_size");
  const I = int(config, "intermediate_size");
  const eps = num(config, "rms_norm_eps");
  const gemma = family === "gemma3_text";
  const hd = int(config, "head_dim", gemma ? 256 : H / nH);
  if (nH % nKV !== 0) fail(`num_attention_heads ${nH} is not a multiple of num_key_value_heads ${nKV}`);
  const tie = bool(config, "tie_word_embeddings", TIE_DEFAULT[family]);
  const maxPos = num(config, "max_position_embeddings", 1);

  // Activation.
  if (gemma) {
    const a = config.hidden_activation ?? "gelu_pytorch_tanh";
    if (a !== "gelu_pytorch_tanh") fail(`hidden_activation ${JSON.stringify(a)} is not handled`);
  } else if ((config.hidden_act ?? "silu") !== "silu") fail(`hidden_act ${JSON.stringify(config.hidden_act)} is not handled`);

  // Biases.
  let qkvBias = false;
  let oBias = false;
  let mlpBias = false;
  if (family === "llama" || family === "smollm3") {
    qkvBias = oBias = bool(config, "attention_bias", false);
    mlpBias = bool(config, "mlp_bias", false);
  } else if (family === "qwen2") {
    qkvBias = true; // Qwen2Attention: q/k/v Linear(bias=True), o_proj bias=False
  } else if (family === "qwen3" || family === "gemma3_text") {
    qkvBias = oBias = bool(config, "attention_bias", false);
  } else if (family === "phi3") {
    for (const k of ["attention_bias", "mlp_bias", "lm_head_bias"]) if (bool(config, k, false)) fail(`phi3 ${k}: true is not handled (transformers' Phi3 has no such biases)`);
    for (const k of ["full_attn_mod", "interpolate_factor"]) if (config[k] !== undefined && config[k] !== 1) fail(`phi3 ${k} != 1 is not handled`);
  }
  if (family === "llama") {
    if (config.rope_interleaved === true) fail("rope_interleaved: true is not handled (transformers ignores it and applies rotate_half)");
    const tp = config.pretraining_tp;
    if (tp !== undefined && tp !== null && tp !== 1) fail("pretraining_tp != 1 is not handled");
  }

  // Rotary dims.
  let prf = 1;
  if (family === "phi3") {
    const top = config.partial_rotary_factor as number | undefined;
    const rp = config.rope_parameters as Record<string, unknown> | undefined | null;
    const inner = rp && typeof rp === "object" ? (rp.partial_rotary_factor as number | undefined) : undefined;
    if (top !== undefined && inner !== undefined && top !== inner) fail(`partial_rotary_factor ${top} vs rope_parameters ${inner}`);
    prf = top ?? inner ?? 1;
    if (!(prf > 0 && prf <= 1)) fail(`partial_rotary_factor ${prf} out of range`);
  }
  const rd = Math.trunc(hd * prf);
  if (rd % 2 !== 0 || rd <= 0) fail(`rotary dim ${rd} must be a positive even number`);

  // Scaling and soft-capping.
  let scaling = Math.pow(hd, -0.5);
  let finalSoftcap: number | null = null;
  let attnSoftcap: number | null = null;
  if (gemma) {
    scaling = Math.pow(num(config, "query_pre_attn_scalar", 256), -0.5);
    finalSoftcap = nullableNum(config, "final_logit_softcapping");
    attnSoftcap = nullableNum(config, "attn_logit_softcapping");
    if (config.use_bidirectional_attention) fail("use_bidirectional_attention: true is not handled");
  }

  // Layer types and windows.
  const layerTypesRaw = config.layer_types as unknown;
  let layerTypes: string[];
  if (layerTypesRaw !== undefined && layerTypesRaw !== null) {
    if (!Array.isArray(layerTypesRaw) || layerTypesRaw.length !== L) fail(`layer_types must be a list of ${L} entries`);
    layerTypes = layerTypesRaw.map(String);
  } else if (gemma) {
    // Gemma3TextConfig: self._sliding_window_pattern = kwargs.get("sliding_window_pattern", 6)
    const p = int(config, "sliding_window_pattern", 6);
    layerTypes = Array.from({ length: L }, (_, i) => ((i + 1) % p !== 0 ? "sliding_attention" : "full_attention"));
  } else if (family === "qwen2" || family === "qwen3") {
    const sw = bool(config, "use_sliding_window", false) ? nullableNum(config, "sliding_window") : null;
    const mwl = num(config, "max_window_layers", 28);
    layerTypes = Array.from({ length: L }, (_, i) => (sw !== null && i >= mwl ? "sliding_attention" : "full_attention"));
  } else layerTypes = Array.from({ length: L }, () => "full_attention");
  for (const t of layerTypes) if (t !== "full_attention" && t !== "sliding_attention") fail(`layer type ${t} is not handled`);
  if (family === "llama" && layerTypes.some((t) => t !== "full_attention")) fail("llama with sliding layers is not handled");

  // RoPE on/off per layer (SmolLM3).
  let useRope: boolean[] = Array.from({ length: L }, () => true);
  if (family === "smollm3") {
    const nr = config.no_rope_layers as unknown;
    if (nr !== undefined && nr !== null) {
      if (!Array.isArray(nr) || nr.length < L) fail(`no_rope_layers must list at least ${L} entries`);
      useRope = nr.slice(0, L).map((v) => {
        if (v !== 0 && v !== 1) fail(`no_rope_layers entries must be 0 or 1, got ${v}`);
        return v === 1;
      });
    } else {
      const n = int(config, "no_rope_layer_interval", 4);
      useRope = Array.from({ length: L }, (_, l) => (l + 1) % n !== 0);
    }
  }

  // Rope parameters per layer type.
  const topOmp = family === "phi3" ? ((config.original_max_position_embeddings as number | undefined) ?? null) : null;
  const ctx = { maxPos, topOriginalMaxPos: topOmp, seqDependentOk: true };
  const rp = config.rope_parameters as Record<string, unknown> | undefined | null;
  const hasOld = config.rope_theta !== undefined || config.rope_scaling !== undefined || config.rope_local_base_freq !== undefined;
  const ropeFor: Record<string, RopeSpec> = {};
  if (rp !== undefined && rp !== null) {
    if (hasOld) fail("config has both rope_parameters and rope_theta/rope_scaling/rope_local_base_freq");
    if (gemma) {
      for (const k of Object.keys(rp)) if (k !== "full_attention" && k !== "sliding_attention") fail(`gemma3 rope_parameters key ${k} is not a layer type`);
      for (const t of new Set(layerTypes)) {
        const e = rp[t] as Record<string, unknown> | undefined;
        if (!e) fail(`rope_parameters has no entry for ${t}`);
        ropeFor[t] = ropeSpec(e, undefined, family, ctx);
      }
    } else {
      const spec = ropeSpec(rp, undefined, family, ctx);
      ropeFor.full_attention = ropeFor.sliding_attention = spec;
    }
  } else {
    const theta = num(config, "rope_theta");
    const scal = config.rope_scaling as Record<string, unknown> | null | undefined;
    if (scal !== undefined && scal !== null && typeof scal !== "object") fail("rope_scaling must be null or a dict");
    const full = ropeSpec(scal ?? null, theta, family, ctx);
    ropeFor.full_attention = full;
    // Gemma3TextModel: the local rotary embedding copies the config with rope_theta = rope_local_base_freq and
    // rope_scaling = {"rope_type": "default"}.
    ropeFor.sliding_attention = gemma ? ropeSpec(null, num(config, "rope_local_base_freq", 10000), family, ctx) : full;
  }

  // Windows.
  const windowFor = (t: string): number | null => {
    if (family === "phi3") return nullableNum(config, "sliding_window"); // Phi3: every layer, when set
    if (t !== "sliding_attention") return null;
    if (gemma) return int(config, "sliding_window", 4096);
    if (family === "qwen2" || family === "qwen3") {
      // Qwen2Config: sliding_window = sliding_window if use_sliding_window else None
      return bool(config, "use_sliding_window", false) ? nullableNum(config, "sliding_window") : null;
    }
    const w = nullableNum(config, "sliding_window");
    if (w === null) fail("a sliding_attention layer without sliding_window");
    return w;
  };

  const layers: OracleLayer[] = layerTypes.map((t, l) => ({
    useRope: useRope[l],
    theta: ropeFor[t].theta,
    window: windowFor(t),
    kind: t as OracleLayer["kind"],
    rope: ropeFor[t],
  }));
  for (const ly of layers) {
    const r = ly.rope;
    if (r.type === "longrope" && (r.shortFactor!.length !== rd / 2 || r.longFactor!.length !== rd / 2)) fail(`longrope factors must have ${rd / 2} entries`);
  }

  const arch: HfArch = {
    model_type: family,
    H,
    nH,
    nKV,
    L,
    hd,
    V,
    I,
    eps,
    tie,
    qkv_bias: qkvBias,
    o_bias: oBias,
    mlp_bias: mlpBias,
    fused: family === "phi3",
    qk_norm: family === "qwen3" || gemma,
    gemma,
    act: gemma ? "gelu_pytorch_tanh" : "silu",
    // Gemma3TextScaledWordEmbedding: embed_scale = hidden_size**0.5 (see BuildOptions.gemmaEmbedScale).
    embed_scale: gemma ? Math.sqrt(H) : 1,
    scaling,
    rotary_dim: rd,
    final_softcap: finalSoftcap,
    attn_softcap: attnSoftcap,
  };
  return { arch, layers };
}

// ---------------------------------------------------------------------------------------------------------------
// Weights

export interface BuildOptions {
  /**
   * Gemma3 embedding scale sqrt(hidden_size). transformers keeps it in a tensor created in the dtype the model is
   * instantiated in and casts it to the embedding weights' dtype (`embed_scale.to(self.weight.dtype)`), so a model
   * run in float64 multiplies by the float64 square root: "float64" (the default, what the independent float64
   * references in test/fixtures/families use). "weights-dtype" rounds it to the checkpoint's dtype instead (fp32:
   * Math.fround), i.e. what transformers does when run in the checkpoint's own dtype; for fp32 weights the two
   * differ by ~2e-7 in the logits.
   */
  gemmaEmbedScale?: "weights-dtype" | "float64";
}

/** Builds the oracle model from a parsed config.json object and the safetensors tensors; every tensor must be used. */
export function buildHfModel(config: Record<string, unknown>, tensors: Map<string, PlainTensor>, opts: BuildOptions = {}): HfModel {
  const { arch, layers } = parseHfConfig(config);
  const used = new Set<string>();
  const take = (name: string, shape: number[]): Float64Array => {
    const t = tensors.get(name);
    if (!t) fail(`tensor ${name} is missing`);
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) fail(`tensor ${name} has shape [${t.shape}], expected [${shape}]`);
    used.add(name);
    return t.data;
  };
  const maybe = (flag: boolean, name: string, shape: number[]) => (flag ? take(name, shape) : null);
  const { H, nH, nKV, hd, I, V } = arch;
  const w: LayerWeights[] = [];
  for (let l = 0; l < arch.L; l++) {
    const p = `model.layers.${l}.`;
    let wq: Float64Array, wk: Float64Array, wv: Float64Array, wGate: Float64Array, wUp: Float64Array;
    if (arch.fused) {
      const qkv = take(p + "self_attn.qkv_proj.weight", [(nH + 2 * nKV) * hd, H]);
      wq = qkv.slice(0, nH * hd * H);
      wk = qkv.slice(nH * hd * H, (nH + nKV) * hd * H);
      wv = qkv.slice((nH + nKV) * hd * H);
      const gu = take(p + "mlp.gate_up_proj.weight", [2 * I, H]);
      wGate = gu.slice(0, I * H);
      wUp = gu.slice(I * H);
    } else {
      wq = take(p + "self_attn.q_proj.weight", [nH * hd, H]);
      wk = take(p + "self_attn.k_proj.weight", [nKV * hd, H]);
      wv = take(p + "self_attn.v_proj.weight", [nKV * hd, H]);
      wGate = take(p + "mlp.gate_proj.weight", [I, H]);
      wUp = take(p + "mlp.up_proj.weight", [I, H]);
    }
    w.push({
      inNorm: take(p + "input_layernorm.weight", [H]),
      postAttnNorm: take(p + "post_attention_layernorm.weight", [H]),
      preFfNorm: maybe(arch.gemma, p + "pre_feedforward_layernorm.weight", [H]),
      postFfNorm: maybe(arch.gemma, p + "post_feedforward_layernorm.weight", [H]),
      wq,
      wk,
      wv,
      wo: take(p + "self_attn.o_proj.weight", [H, nH * hd]),
      bq: maybe(arch.qkv_bias, p + "self_attn.q_proj.bias", [nH * hd]),
      bk: maybe(arch.qkv_bias, p + "self_attn.k_proj.bias", [nKV * hd]),
      bv: maybe(arch.qkv_bias, p + "self_attn.v_proj.bias", [nKV * hd]),
      bo: maybe(arch.o_bias, p + "self_attn.o_proj.bias", [H]),
      qNorm: maybe(arch.qk_norm, p + "self_attn.q_norm.weight", [hd]),
      kNorm: maybe(arch.qk_norm, p + "self_attn.k_norm.weight", [hd]),
      wGate,
      wUp,
      wDown: take(p + "mlp.down_proj.weight", [H, I]),
      bGate: maybe(arch.mlp_bias, p + "mlp.gate_proj.bias", [I]),
      bUp: maybe(arch.mlp_bias, p + "mlp.up_proj.bias", [I]),
      bDown: maybe(arch.mlp_bias, p + "mlp.down_proj.bias", [H]),
    });
  }
  const embed = take("model.embed_tokens.weight", [V, H]);
  const finalNorm = take("model.norm.weight", [H]);
  const lmHead = arch.tie ? embed : take("lm_head.weight", [V, H]);
  const unused = [...tensors.keys()].filter((k) => !used.has(k));
  if (unused.length) fail(`tensors not used by the ${arch.model_type} forward: ${unused.slice(0, 8).join(", ")}${unused.length > 8 ? ", ..." : ""}`);
  if (arch.gemma) {
    const dt = tensors.get("model.embed_tokens.weight")!.dtype;
    const mode = opts.gemmaEmbedScale ?? "float64";
    const s = Math.sqrt(H);
    if (mode === "float64") arch.embed_scale = s;
    else if (dt === "F32") arch.embed_scale = Math.fround(s);
    else if (dt === "BF16") arch.embed_scale = bf16Round(s);
    else if (dt === "F16") arch.embed_scale = f16Round(s);
    else fail(`embedding dtype ${dt}`);
  }
  return { configPath: null, weightsPath: null, config, arch, layers, embed, finalNorm, lmHead, w };
}

function bf16Round(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 16) << 16;
  return f[0];
}

function f16Round(x: number): number {
  // Round to 11 significant bits (normal range only, which is all an embedding scale needs).
  const e = Math.floor(Math.log2(Math.abs(x)));
  const q = 2 ** (e - 10);
  const r = x / q;
  const fl = Math.floor(r);
  const d = r - fl;
  const n = d > 0.5 || (d === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  return n * q;
}

export interface LoadOptions extends BuildOptions {
  /** A config file to use instead of <dir>/config.json (absolute, or relative to dir). */
  config?: string;
  /** A safetensors file to use instead of <dir>/model.safetensors (absolute, or relative to dir). */
  weights?: string;
}

/** Loads <dir>/config.json (or opts.config) and <dir>/model.safetensors (or opts.weights). */
export function loadHfModel(dir: string, opts: LoadOptions = {}): HfModel {
  const resolve = (p: string | undefined, def: string) => (p === undefined ? join(dir, def) : isAbsolute(p) ? p : join(dir, p));
  const configPath = resolve(opts.config, "config.json");
  const weightsPath = resolve(opts.weights, "model.safetensors");
  if (!existsSync(configPath)) fail(`no config at ${configPath}`);
  if (!existsSync(weightsPath) || !statSync(weightsPath).isFile()) fail(`no weights at ${weightsPath} (config in ${dirname(configPath)})`);
  const config = JSON.parse(readFileSync(configPath, "utf8")) as Record<string, unknown>;
  const m = buildHfModel(config, readSafetensors(weightsPath), opts);
  m.configPath = configPath;
  m.weightsPath = weightsPath;
  return m;
}

/** Per-layer description: RoPE on/off, theta, sliding window (null = none) and layer type. */
export function oracleLayers(model: HfModel): { useRope: boolean; theta: number; window: number | null; kind: string }[] {
  return model.layers.map((l) => ({ useRope: l.useRope, theta: l.theta, window: l.window, kind: l.kind }));
}

// ---------------------------------------------------------------------------------------------------------------
// Forward

/** y = W x (+ b), W row-major [out, in]. */
function linear(W: Float64Array, b: Float64Array | null, x: Float64Array, out: number, inp: number): Float64Array {
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = 0;
    const row = o * inp;
    for (let i = 0; i < inp; i++) s += W[row + i] * x[i];
    y[o] = b ? s + b[o] : s;
  }
  return y;
}

/** RMSNorm over x[off .. off+n): x / sqrt(mean(x^2) + eps) * w, or * (1 + w) for Gemma. In place. */
function rmsNormInPlace(x: Float64Array, off: number, n: number, w: Float64Array, eps: number, gemma: boolean): void {
  let ss = 0;
  for (let i = 0; i < n; i++) ss += x[off + i] * x[off + i];
  const inv = 1 / Math.sqrt(ss / n + eps);
  for (let i = 0; i < n; i++) x[off + i] = x[off + i] * inv * (gemma ? 1 + w[i] : w[i]);
}

function rmsNorm(x: Float64Array, w: Float64Array, eps: number, gemma: boolean): Float64Array {
  const y = Float64Array.from(x);
  rmsNormInPlace(y, 0, y.length, w, eps, gemma);
  return y;
}

const silu = (x: number) => x / (1 + Math.exp(-x));
const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

/**
 * inv_freq of a layer's RoPE for a forward whose largest position is seqLen - 1. longrope switches from the short to
 * the long factors when seqLen > original_max_position_embeddings (transformers' dynamic update uses
 * max(position_ids) + 1); with a full recompute every position then uses the same factors.
 */
function invFreq(r: RopeSpec, rd: number, seqLen: number): Float64Array {
  const f = new Float64Array(rd / 2);
  let ext: number[] | null = null;
  if (r.type === "longrope") ext = seqLen > r.originalMaxPos! ? r.longFactor! : r.shortFactor!;
  for (let i = 0; i < rd / 2; i++) {
    const base = Math.pow(r.theta, (2 * i) / rd);
    f[i] = ext ? 1 / (ext[i] * base) : 1 / base / r.factor;
  }
  return f;
}

/** rotate_half RoPE on v[off .. off+rd) at position pos; dims rd .. hd pass through. */
function ropeInPlace(v: Float64Array, off: number, rd: number, pos: number, inv: Float64Array, af: number): void {
  const half = rd / 2;
  for (let i = 0; i < half; i++) {
    const a = pos * inv[i];
    const c = Math.cos(a) * af;
    const s = Math.sin(a) * af;
    const x1 = v[off + i];
    const x2 = v[off + i + half];
    v[off + i] = x1 * c - x2 * s;
    v[off + i + half] = x2 * c + x1 * s;
  }
}

function attention(model: HfModel, l: number, xs: Float64Array[]): Float64Array[] {
  const { H, nH, nKV, hd, eps, gemma, scaling, rotary_dim: rd, attn_softcap: cap } = model.arch;
  const lw = model.w[l];
  const ly = model.layers[l];
  const T = xs.length;
  const group = nH / nKV;
  const inv = invFreq(ly.rope, rd, T);
  const q: Float64Array[] = [];
  const k: Float64Array[] = [];
  const v: Float64Array[] = [];
  for (let t = 0; t < T; t++) {
    const qt = linear(lw.wq, lw.bq, xs[t], nH * hd, H);
    const kt = linear(lw.wk, lw.bk, xs[t], nKV * hd, H);
    const vt = linear(lw.wv, lw.bv, xs[t], nKV * hd, H);
    if (lw.qNorm) for (let h = 0; h < nH; h++) rmsNormInPlace(qt, h * hd, hd, lw.qNorm, eps, gemma);
    if (lw.kNorm) for (let h = 0; h < nKV; h++) rmsNormInPlace(kt, h * hd, hd, lw.kNorm, eps, gemma);
    if (ly.useRope) {
      for (let h = 0; h < nH; h++) ropeInPlace(qt, h * hd, rd, t, inv, ly.rope.attentionFactor);
      for (let h = 0; h < nKV; h++) ropeInPlace(kt, h * hd, rd, t, inv, ly.rope.attentionFactor);
    }
    q.push(qt);
    k.push(kt);
    v.push(vt);
  }
  const out: Float64Array[] = [];
  const scores = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    const ctx = new Float64Array(nH * hd);
    const j0 = ly.window === null ? 0 : Math.max(0, i - ly.window + 1);
    for (let h = 0; h < nH; h++) {
      const g = Math.floor(h / group);
      let max = -Infinity;
      for (let j = j0; j <= i; j++) {
        let s = 0;
        for (let d = 0; d < hd; d++) s += q[i][h * hd + d] * k[j][g * hd + d];
        s *= scaling;
        if (cap !== null) s = Math.tanh(s / cap) * cap;
        scores[j] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let j = j0; j <= i; j++) {
        scores[j] = Math.exp(scores[j] - max);
        sum += scores[j];
      }
      for (let j = j0; j <= i; j++) {
        const p = scores[j] / sum;
        for (let d = 0; d < hd; d++) ctx[h * hd + d] += p * v[j][g * hd + d];
      }
    }
    out.push(linear(lw.wo, lw.bo, ctx, H, nH * hd));
  }
  return out;
}

function mlp(model: HfModel, l: number, x: Float64Array): Float64Array {
  const { H, I, act } = model.arch;
  const lw = model.w[l];
  const g = linear(lw.wGate, lw.bGate, x, I, H);
  const u = linear(lw.wUp, lw.bUp, x, I, H);
  const f = act === "silu" ? silu : geluTanh;
  for (let i = 0; i < I; i++) g[i] = f(g[i]) * u[i];
  return linear(lw.wDown, lw.bDown, g, H, I);
}

/** Final hidden states (after the final norm) for every position. */
function hidden(model: HfModel, inputIds: readonly number[]): Float64Array[] {
  const { H, V, eps, gemma, embed_scale } = model.arch;
  let xs = inputIds.map((id) => {
    if (!Number.isInteger(id) || id < 0 || id >= V) fail(`token id ${id} out of range [0, ${V})`);
    const x = new Float64Array(H);
    for (let i = 0; i < H; i++) x[i] = model.embed[id * H + i] * embed_scale;
    return x;
  });
  for (let l = 0; l < model.arch.L; l++) {
    const lw = model.w[l];
    const a = attention(model, l, xs.map((x) => rmsNorm(x, lw.inNorm, eps, gemma)));
    xs = xs.map((x, t) => {
      const at = gemma ? rmsNorm(a[t], lw.postAttnNorm, eps, true) : a[t];
      const h = new Float64Array(H);
      for (let i = 0; i < H; i++) h[i] = x[i] + at[i];
      const m0 = mlp(model, l, rmsNorm(h, gemma ? lw.preFfNorm! : lw.postAttnNorm, eps, gemma));
      const m = gemma ? rmsNorm(m0, lw.postFfNorm!, eps, true) : m0;
      for (let i = 0; i < H; i++) h[i] += m[i];
      return h;
    });
  }
  return xs.map((x) => rmsNorm(x, model.finalNorm, eps, gemma));
}

function logitsOf(model: HfModel, h: Float64Array): Float64Array {
  const { H, V, final_softcap: cap } = model.arch;
  const z = linear(model.lmHead, null, h, V, H);
  if (cap !== null) for (let i = 0; i < V; i++) z[i] = Math.tanh(z[i] / cap) * cap;
  return z;
}

/** Logits [T, vocab] row-major; row t = the logits after reading tokens 0..t (full causal recompute). */
export function oracleForward(model: HfModel, inputIds: readonly number[]): Float64Array {
  const V = model.arch.V;
  const hs = hidden(model, inputIds);
  const out = new Float64Array(hs.length * V);
  hs.forEach((h, t) => out.set(logitsOf(model, h), t * V));
  return out;
}

/** Index of the largest value (the first one on ties, like torch.argmax). */
export function argmax(x: ArrayLike<number>, off = 0, n = x.length - off): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[off + i] > x[off + best]) best = i;
  return best;
}

/** Argmax of every row of a [T, V] logits array. */
export function rowArgmax(logits: Float64Array, V: number): number[] {
  return Array.from({ length: logits.length / V }, (_, t) => argmax(logits, t * V, V));
}

/** Greedy decoding of nNew tokens (EOS ignored), each step a full recompute of the whole sequence. */
export function oracleGreedy(model: HfModel, promptIds: readonly number[], nNew: number): number[] {
  const ids = [...promptIds];
  const out: number[] = [];
  for (let s = 0; s < nNew; s++) {
    const hs = hidden(model, ids);
    const next = argmax(logitsOf(model, hs[hs.length - 1]));
    out.push(next);
    ids.push(next);
  }
  return out;
}

/** base64 little-endian float64 <-> Float64Array (the encoding of refs.json and expected.json). */
export function f64FromBase64(b64: string): Float64Array {
  const b = Buffer.from(b64, "base64");
  const out = new Float64Array(b.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = b.readDoubleLE(8 * i);
  return out;
}

export function f64ToBase64(x: Float64Array): string {
  const b = Buffer.alloc(x.length * 8);
  for (let i = 0; i < x.length; i++) b.writeDoubleLE(x[i], 8 * i);
  return b.toString("base64");
}
