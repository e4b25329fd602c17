// Owns Hugging Face `config.json` for the families the engine runs (src/engine/arch.ts): `model_type` llama (Llama,
// SmolLM2), qwen2 (Qwen2.5), qwen3, smollm3, phi3 (Phi-4-mini) and gemma3_text, in the layout transformers 4.x writes
// (`rope_theta`, `rope_scaling`, Gemma's `rope_local_base_freq`) and the one 5.x writes (`rope_parameters`, for Gemma
// keyed by layer type). Every field is either used, checked to have the value the engine implements, or known to
// have no effect on the forward pass (training and generation settings); any other field is refused by name, so a
// config the engine would run differently from transformers never loads silently.
import { validateConfig, type ModelConfig, type RopeScaling } from "../engine/config.js";
import { MODEL_TYPES, type Arch, type LayerArch, type LayerRope, type LongRope, type ModelType } from "../engine/arch.js";
import { oneLine, UserError } from "../util/errors.js";
import { readUserFile } from "../util/files.js";

export interface HfConfig {
  config: ModelConfig;
  modelType: ModelType;
  tieWordEmbeddings: boolean;
  /** Phi-3 only: the config carries LongRoPE factors (applied only with `applyLongRope`). */
  hasLongRope: boolean;
  /** bos_token_id / eos_token_id(s) as the config gives them (informational; the runner's stop set is per family). */
  bosTokenId: number | null;
  eosTokenIds: number[];
}

export interface HfConfigOptions {
  /** Phi-3: apply the LongRoPE factors of `rope_scaling` (transformers does; the Qualcomm flow does not, SPEC-2026 §2.2). */
  applyLongRope?: boolean;
}

type Obj = Record<string, unknown>;

/** Fields with no effect on the forward pass of a causal LM at inference (any family). */
const INERT = new Set([
  "architectures", "transformers_version", "torch_dtype", "dtype", "use_cache", "initializer_range", "attention_dropout",
  "bos_token_id", "eos_token_id", "pad_token_id", "max_position_embeddings", "_name_or_path", "name_or_path", "output_attentions",
  "output_hidden_states", "return_dict", "pruned_heads", "chunk_size_feed_forward", "is_encoder_decoder", "is_decoder",
  "add_cross_attention", "tie_encoder_decoder", "torchscript", "problem_type", "id2label", "label2id", "tokenizer_class",
  "prefix", "sep_token_id", "decoder_start_token_id", "task_specific_params", "finetuning_task", "cache_implementation",
  "embd_pdrop", "resid_pdrop", "pretraining_tp", "is_llama_config", "model_type",
  "max_window_layers", "_sliding_window_pattern", "sliding_window_pattern", "use_return_dict", "output_router_logits",
  "original_max_position_embeddings", "layer_types", "rope_interleaved", "use_sliding_window", "sliding_window",
  "use_bidirectional_attention", "attn_logit_softcapping", "final_logit_softcapping", "tie_word_embeddings",
  "no_rope_layers", "no_rope_layer_interval", "attention_bias", "mlp_bias", "hidden_act", "hidden_activation",
  "query_pre_attn_scalar", "partial_rotary_factor", "rope_theta", "rope_scaling", "rope_parameters", "rope_local_base_freq",
  "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
  "rms_norm_eps", "vocab_size",
]);
// (The shape and RoPE fields above are read below; the checked ones are validated per family.)

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function reader(o: Obj, path: string) {
  const bad = (msg: string): never => {
    throw new UserError(`config ${path}: ${msg}`);
  };
  const num = (k: string, dflt?: number, from: Obj = o): number => {
    const v = from[k];
    if (v === undefined || v === null) {
      if (dflt !== undefined) return dflt;
      return bad(`missing "${k}"`);
    }
    if (typeof v !== "number" || !Number.isFinite(v)) return bad(`"${k}" must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const int = (k: string, dflt?: number, from: Obj = o): number => {
    const v = num(k, dflt, from);
    if (!Number.isInteger(v)) bad(`"${k}" must be an integer, got ${v}`);
    return v;
  };
  const bool = (k: string, dflt: boolean): boolean => {
    const v = o[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== "boolean") return bad(`"${k}" must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  return { bad, num, int, bool };
}

/** A rope_scaling / rope_parameters dict: its type, or "default". */
const ropeType = (r: Obj | undefined): string => (r ? String(r.rope_type ?? r.type ?? "default") : "default");

/** Llama-3 scaling, linear factor, or nothing, from one rope dict; other types are refused by name. */
function ropeOfDict(r: Obj | undefined, theta: number, path: string, what: string, allowLinear: boolean): LayerRope {
  const { num } = reader(r ?? {}, path);
  const t = ropeType(r);
  if (t === "default") return { theta, scaling: null, linearFactor: 1, longRope: null };
  if (t === "llama3") {
    const scaling: RopeScaling = {
      factor: num("factor"),
      lowFreqFactor: num("low_freq_factor"),
      highFreqFactor: num("high_freq_factor"),
      originalContext: num("original_max_position_embeddings"),
    };
    return { theta, scaling, linearFactor: 1, longRope: null };
  }
  if (t === "linear" && allowLinear) return { theta, scaling: null, linearFactor: num("factor"), longRope: null };
  throw new UserError(`config ${path}: ${what} RoPE type ${JSON.stringify(t)} is not implemented`);
}

function numberList(v: unknown, path: string, what: string): number[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== "number" || !Number.isFinite(x)))
    throw new UserError(`config ${path}: "${what}" must be a list of numbers`);
  return v as number[];
}

export function parseHfConfig(text: string, path: string, opts: HfConfigOptions = {}): HfConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UserError(`config ${path}: not valid JSON (${oneLine((e as Error).message)})`);
  }
  if (!isObj(raw)) throw new UserError(`config ${path}: expected a JSON object`);
  let o: Obj = raw;
  // A multimodal Gemma3 config (model_type gemma3) wraps the text model's config.
  if (o.model_type === "gemma3" && isObj(o.text_config)) o = { ...o.text_config, model_type: "gemma3_text" };
  const mtRaw = o.model_type ?? "llama";
  if (typeof mtRaw !== "string" || !(MODEL_TYPES as readonly string[]).includes(mtRaw))
    throw new UserError(`config ${path}: model_type ${JSON.stringify(mtRaw)} is not supported (supported: ${MODEL_TYPES.join(", ")})`);
  const mt = mtRaw as ModelType;
  const { bad, num, int, bool } = reader(o, path);
  for (const k of Object.keys(o)) if (!INERT.has(k)) bad(`field "${k}" is not implemented for model_type ${mt}`);

  const dim = int("hidden_size");
  const nHeads = int("num_attention_heads");
  const nLayers = int("num_hidden_layers");
  const headDimDefault = mt === "gemma3_text" ? 256 : dim / nHeads;
  // Without head_dim the default may be fractional; validateConfig then names the indivisible shapes.
  const headDim = o.head_dim === undefined || o.head_dim === null ? headDimDefault : int("head_dim");
  if (mt === "llama" || mt === "qwen2" || mt === "phi3" || mt === "smollm3") {
    if (headDim !== dim / nHeads) bad(`head_dim ${headDim} differs from hidden_size / num_attention_heads (${dim / nHeads}); model_type ${mt} ties them`);
  }

  // Activation.
  const actKey = mt === "gemma3_text" ? "hidden_activation" : "hidden_act";
  const act = o[actKey] ?? (mt === "gemma3_text" ? "gelu_pytorch_tanh" : "silu");
  if (mt === "gemma3_text" ? act !== "gelu_pytorch_tanh" : act !== "silu") bad(`${actKey} ${JSON.stringify(act)} is not implemented for model_type ${mt}`);
  if (mt === "gemma3_text" && o.hidden_act !== undefined && o.hidden_act !== null && o.hidden_act !== "gelu_pytorch_tanh")
    bad(`hidden_act ${JSON.stringify(o.hidden_act)} is not implemented for model_type ${mt}`);

  // Biases.
  const attnBias = bool("attention_bias", false);
  if (bool("mlp_bias", false)) bad(`"mlp_bias" is set; MLP biases are not implemented`);
  const bias =
    mt === "qwen2"
      ? { q: true, k: true, v: true, o: false }
      : { q: attnBias, k: attnBias, v: attnBias, o: attnBias };
  if (mt === "phi3" && attnBias) bad(`"attention_bias" is set; Phi-3's fused qkv_proj has no bias in the engine`);

  // Features that must be off.
  if (bool("rope_interleaved", false)) bad(`"rope_interleaved" is true; only the rotate_half RoPE of transformers is implemented`);
  if (bool("use_bidirectional_attention", false)) bad(`"use_bidirectional_attention" is true; only causal attention is implemented`);
  if (o.attn_logit_softcapping !== undefined && o.attn_logit_softcapping !== null)
    bad(`"attn_logit_softcapping" is set; attention soft-capping is not implemented (the Qualcomm graph drops it, SPEC-2026 §11-3)`);
  if (o.final_logit_softcapping !== undefined && o.final_logit_softcapping !== null && mt !== "gemma3_text")
    bad(`"final_logit_softcapping" is not implemented for model_type ${mt}`);
  if (mt !== "gemma3_text" && bool("use_sliding_window", false)) bad(`"use_sliding_window" is true; sliding windows are implemented for gemma3_text only`);
  if (o.layer_types !== undefined && o.layer_types !== null) {
    const lt = o.layer_types;
    if (!Array.isArray(lt) || lt.length !== nLayers) bad(`"layer_types" must list ${nLayers} layer types`);
    for (const t of lt as unknown[])
      if (t !== "full_attention" && !(t === "sliding_attention" && mt === "gemma3_text")) bad(`layer type ${JSON.stringify(t)} is not implemented for model_type ${mt}`);
  }
  if (mt === "phi3") {
    const sw = o.sliding_window;
    const maxPos = num("max_position_embeddings", 4096);
    if (sw !== undefined && sw !== null && (typeof sw !== "number" || sw < maxPos))
      bad(`"sliding_window" ${JSON.stringify(sw)} is shorter than max_position_embeddings ${maxPos}; Phi-3 sliding windows are not implemented`);
  }

  // RoPE per layer.
  const params = isObj(o.rope_parameters) ? (o.rope_parameters as Obj) : undefined;
  const scalingDict = isObj(o.rope_scaling) ? (o.rope_scaling as Obj) : undefined;
  if (o.rope_scaling !== undefined && o.rope_scaling !== null && !scalingDict) bad(`"rope_scaling" must be an object or null`);
  if (o.rope_parameters !== undefined && o.rope_parameters !== null && !params) bad(`"rope_parameters" must be an object or null`);
  let rotaryDim = headDim;
  let hasLongRope = false;
  const layers: LayerArch[] = [];
  let globalRope: LayerRope;
  if (mt === "gemma3_text") {
    const full = params && isObj(params.full_attention) ? (params.full_attention as Obj) : undefined;
    const slide = params && isObj(params.sliding_attention) ? (params.sliding_attention as Obj) : undefined;
    if (params && (!full || !slide)) bad(`"rope_parameters" must have "full_attention" and "sliding_attention" entries for gemma3_text`);
    const thetaGlobal = full ? num("rope_theta", 1e6, full) : num("rope_theta", 1e6);
    const thetaLocal = slide ? num("rope_theta", 1e4, slide) : num("rope_local_base_freq", 1e4);
    globalRope = ropeOfDict(full ?? scalingDict, thetaGlobal, path, "full-attention", true);
    const localRope = ropeOfDict(slide, thetaLocal, path, "sliding-attention", true);
    let types = o.layer_types as string[] | undefined | null;
    if (!types) {
      const pattern = int("sliding_window_pattern", o._sliding_window_pattern !== undefined ? int("_sliding_window_pattern") : 6);
      if (pattern < 1) bad(`"sliding_window_pattern" must be >= 1`);
      types = Array.from({ length: nLayers }, (_, l) => ((l + 1) % pattern !== 0 ? "sliding_attention" : "full_attention"));
    }
    const window = int("sliding_window", 4096);
    if (window < 1) bad(`"sliding_window" must be >= 1`);
    for (const t of types) layers.push(t === "sliding_attention" ? { rope: localRope, window } : { rope: globalRope, window: null });
  } else {
    const theta = params ? num("rope_theta", 10000, params) : num("rope_theta", 10000);
    const dict = params ?? scalingDict;
    const prf = mt === "phi3" ? num("partial_rotary_factor", params ? num("partial_rotary_factor", 1, params) : 1) : 1;
    if (mt !== "phi3" && o.partial_rotary_factor !== undefined && o.partial_rotary_factor !== 1) bad(`"partial_rotary_factor" is not implemented for model_type ${mt}`);
    rotaryDim = Math.trunc(headDim * prf);
    if (rotaryDim % 2 !== 0 || rotaryDim < 2) bad(`partial_rotary_factor ${prf} gives ${rotaryDim} rotary dims of head_dim ${headDim}; need an even number >= 2`);
    const t = ropeType(dict);
    if (mt === "phi3" && (t === "longrope" || t === "su")) {
      hasLongRope = true;
      const d = dict as Obj;
      const original = num("original_max_position_embeddings", undefined, d.original_max_position_embeddings !== undefined ? d : o);
      const maxPos = num("max_position_embeddings", original);
      const s = maxPos / original;
      const af = d.attention_factor;
      const attentionFactor = typeof af === "number" ? af : s <= 1 ? 1 : Math.sqrt(1 + Math.log(s) / Math.log(original));
      const lr: LongRope = {
        shortFactor: numberList(d.short_factor, path, "short_factor"),
        longFactor: numberList(d.long_factor, path, "long_factor"),
        originalContext: original,
        attentionFactor,
      };
      for (const f of [lr.shortFactor, lr.longFactor])
        if (f.length !== rotaryDim / 2) bad(`LongRoPE factor lists must have ${rotaryDim / 2} entries (rotary dims / 2), got ${f.length}`);
      globalRope = { theta, scaling: null, linearFactor: 1, longRope: opts.applyLongRope ? lr : null };
    } else {
      globalRope = ropeOfDict(dict, theta, path, "the", false);
    }
    let useRope: boolean[] = Array.from({ length: nLayers }, () => true);
    if (mt === "smollm3") {
      if (o.no_rope_layers !== undefined && o.no_rope_layers !== null) {
        const l = numberList(o.no_rope_layers, path, "no_rope_layers");
        if (l.length !== nLayers || l.some((x) => x !== 0 && x !== 1)) bad(`"no_rope_layers" must list 0 or 1 for each of the ${nLayers} layers`);
        useRope = l.map((x) => x === 1);
      } else {
        const n = int("no_rope_layer_interval", 4);
        if (n < 1) bad(`"no_rope_layer_interval" must be >= 1`);
        useRope = useRope.map((_, i) => (i + 1) % n !== 0);
      }
    } else if (o.no_rope_layers !== undefined || o.no_rope_layer_interval !== undefined) bad(`"no_rope_layers" is not implemented for model_type ${mt}`);
    for (let l = 0; l < nLayers; l++) layers.push({ rope: useRope[l] ? globalRope : null, window: null });
  }
  if (opts.applyLongRope && !hasLongRope) bad(`LongRoPE was asked for, but the config has no longrope rope_scaling`);

  const gemma = mt === "gemma3_text";
  const qpas = gemma ? num("query_pre_attn_scalar", headDim) : null;
  if (!gemma && o.query_pre_attn_scalar !== undefined) bad(`"query_pre_attn_scalar" is not implemented for model_type ${mt}`);
  for (const k of ["rope_local_base_freq", "hidden_activation", "sliding_window_pattern", "_sliding_window_pattern"])
    if (!gemma && o[k] !== undefined && o[k] !== null) bad(`"${k}" is not implemented for model_type ${mt}`);
  if (o.final_logit_softcapping !== undefined && o.final_logit_softcapping !== null && !(num("final_logit_softcapping") > 0))
    bad(`"final_logit_softcapping" must be > 0`);
  const arch: Arch = {
    modelType: mt,
    bias,
    qkNorm: mt === "qwen3" || gemma,
    normAddOne: gemma,
    embedScale: gemma ? Math.fround(Math.sqrt(dim)) : 1,
    act: gemma ? "gelu_tanh" : "silu",
    sandwichNorms: gemma,
    queryPreAttnScalar: qpas,
    rotaryDim,
    // transform_weight (SPEC-2026 §2.2): on for Llama / SmolLM2 (rows un-permuted to Meta order), off for the others.
    ropeOrder: mt === "llama" ? "interleaved" : "rotate_half",
    layers,
    finalLogitSoftcap: gemma && typeof o.final_logit_softcapping === "number" ? o.final_logit_softcapping : null,
  };
  const tieDefault = gemma || mt === "smollm3";
  const eos = o.eos_token_id;
  const config = validateConfig(
    {
      dim,
      nLayers,
      nHeads,
      nKvHeads: int("num_key_value_heads", nHeads),
      vocabSize: int("vocab_size"),
      hiddenDim: int("intermediate_size"),
      headDim,
      normEps: num("rms_norm_eps", 1e-6),
      ropeTheta: globalRope.theta,
      ropeScaling: globalRope.scaling,
      maxSeqLen: int("max_position_embeddings", 2048),
      // A plain Llama config keeps the engine's classic (arch-less) form.
      ...(mt === "llama" && !attnBias ? {} : { arch }),
    },
    `config ${path}`,
  );
  return {
    config,
    modelType: mt,
    tieWordEmbeddings: bool("tie_word_embeddings", tieDefault),
    hasLongRope,
    bosTokenId: typeof o.bos_token_id === "number" ? o.bos_token_id : null,
    eosTokenIds: typeof eos === "number" ? [eos] : Array.isArray(eos) ? eos.filter((x): x is number => typeof x === "number") : [],
  };
}

export function readHfConfig(path: string, opts: HfConfigOptions = {}): HfConfig {
  return parseHfConfig(new TextDecoder().decode(readUserFile(path, "config")), path, opts);
}
