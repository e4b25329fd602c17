// Test helper: generates NEW tiny random-weight models of the six Hugging Face families in the real transformers
// layout (tensor names as transformers saves them, config.json with the fields transformers 4.57 writes for that
// config class, sorted keys, indent 2, Python float spelling), plus expected.json with the float64 logits, argmax
// and greedy continuation from test/helpers/hf-oracle.ts. The committed copies live in
// test/fixtures/families-tiny/<name>/ and are rewritten only by test/oracle/generate-families.test.ts with
// REGENERATE_FAMILIES=1.
import { mkdirSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { encodeSafetensors, parseSafetensors, roundToBf16, type SafetensorsWriteDtype, type TensorToWrite } from "./safetensors-plain.js";
import { buildHfModel, f64ToBase64, oracleForward, oracleGreedy, oracleLayers, rowArgmax, type HfModel } from "./hf-oracle.js";

export type TinyFamily = "smollm2" | "qwen2_5" | "qwen3" | "smollm3" | "phi4mini" | "gemma3";
export const TINY_FAMILIES: TinyFamily[] = ["smollm2", "qwen2_5", "qwen3", "smollm3", "phi4mini", "gemma3"];

/** The seed each committed tiny model was generated with. */
// (Picked among a few candidates so that the greedy continuation is not one repeated token and its top-1/top-2
// margins stay above ~0.05.)
export const TINY_SEEDS: Record<TinyFamily, number> = { smollm2: 101, qwen2_5: 202, qwen3: 304, smollm3: 408, phi4mini: 508, gemma3: 611 };

/** The fixed teacher-forced input of expected.json (all ids < 384), and the greedy length. */
export const TINY_INPUT_IDS = [1, 17, 93, 211, 5, 340, 77, 128, 256, 42, 300, 9];
export const TINY_GREEDY_NEW = 12;

export interface TinyShape {
  model_type: "llama" | "qwen2" | "qwen3" | "smollm3" | "phi3" | "gemma3_text";
  dtype: SafetensorsWriteDtype;
  V: number;
  H: number;
  nH: number;
  nKV: number;
  hd: number;
  I: number;
  L: number;
  tie: boolean;
}

/** Shapes of the committed tiny models (see test/fixtures/families-tiny/README.md). */
export const TINY_SHAPES: Record<TinyFamily, TinyShape> = {
  smollm2: { model_type: "llama", dtype: "F32", V: 384, H: 48, nH: 4, nKV: 2, hd: 12, I: 32, L: 2, tie: true },
  qwen2_5: { model_type: "qwen2", dtype: "F32", V: 384, H: 48, nH: 4, nKV: 1, hd: 12, I: 32, L: 2, tie: true },
  // head_dim 16 != hidden / heads = 12; untied (lm_head.weight) in bfloat16.
  qwen3: { model_type: "qwen3", dtype: "BF16", V: 384, H: 48, nH: 4, nKV: 2, hd: 16, I: 64, L: 2, tie: false },
  smollm3: { model_type: "smollm3", dtype: "F32", V: 384, H: 48, nH: 4, nKV: 2, hd: 12, I: 32, L: 2, tie: true },
  // head_dim 16 (= 64 / 4), partial_rotary_factor 0.75 -> rotary dim 12.
  phi4mini: { model_type: "phi3", dtype: "BF16", V: 384, H: 64, nH: 4, nKV: 2, hd: 16, I: 64, L: 2, tie: true },
  // 3 sliding layers (window 8) + 1 full, query_pre_attn_scalar 24 != head_dim 16.
  gemma3: { model_type: "gemma3_text", dtype: "BF16", V: 384, H: 48, nH: 4, nKV: 1, hd: 16, I: 48, L: 4, tie: true },
};

export interface GenerateOptions {
  /** Directory to write config.json, model.safetensors and expected.json into (created); omit to only return them. */
  outDir?: string;
  /** Overrides of the family's shape. */
  shape?: Partial<TinyShape>;
  /** Multiplier k of the weight scale (weights ~ N(0, (0.02 k)^2) with a per-kind k); default 1. */
  gain?: number;
}

export interface GeneratedFamily {
  family: TinyFamily;
  seed: number;
  config: Record<string, unknown>;
  configJson: string;
  tensors: Record<string, TensorToWrite>;
  safetensors: Uint8Array;
  model: HfModel;
  expected: Record<string, unknown>;
  expectedJson: string;
}

// ---------------------------------------------------------------------------------------------------------------
// PRNG: splitmix32 (32-bit state, golden-ratio increment, murmur3-style finalizer), normals by Box-Muller.

export function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    return (z >>> 0) / 4294967296;
  };
}

function normals(next: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const v = spare;
      spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = next();
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

// ---------------------------------------------------------------------------------------------------------------
// config.json as transformers writes it: json.dumps(d, indent=2, sort_keys=True) + "\n", Python float spelling.

/** Marks a number to be written the way Python writes a float (1000000.0, 1e-06, 0.0). */
export class PyFloat {
  constructor(readonly value: number) {}
}
const F = (v: number) => new PyFloat(v);

function pyFloatRepr(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`non-finite float ${v}`);
  if (v === 0) return Object.is(v, -0) ? "-0.0" : "0.0";
  const [mant, expStr] = v.toExponential().split("e");
  const exp = Number(expStr);
  if (exp < -4 || exp >= 16) return `${mant}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  const s = String(v);
  return s.includes(".") ? s : `${s}.0`;
}

export function pythonJson(value: unknown, indent = 0): string {
  const pad = (n: number) => " ".repeat(n);
  if (value instanceof PyFloat) return pyFloatRepr(value.value);
  if (value === null) return "null";
  if (typeof value === "number") {
    if (!Number.isInteger(value)) return pyFloatRepr(value);
    return String(value);
  }
  if (typeof value === "string" || typeof value === "boolean") return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => pad(indent + 2) + pythonJson(v, indent + 2)).join(",\n")}\n${pad(indent)}]`;
  }
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  if (keys.length === 0) return "{}";
  return `{\n${keys.map((k) => `${pad(indent + 2)}${JSON.stringify(k)}: ${pythonJson(o[k], indent + 2)}`).join(",\n")}\n${pad(indent)}}`;
}

/** Replaces PyFloat markers by plain numbers (the parsed form of the written config). */
function plain(value: unknown): unknown {
  if (value instanceof PyFloat) return value.value;
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

const TORCH_DTYPE: Record<SafetensorsWriteDtype, string> = { F32: "float32", BF16: "bfloat16" };

function configFor(family: TinyFamily, s: TinyShape): Record<string, unknown> {
  const common = {
    attention_dropout: F(0),
    dtype: TORCH_DTYPE[s.dtype],
    hidden_size: s.H,
    initializer_range: F(0.02),
    intermediate_size: s.I,
    num_attention_heads: s.nH,
    num_hidden_layers: s.L,
    num_key_value_heads: s.nKV,
    transformers_version: "4.57.6",
    use_cache: true,
    vocab_size: s.V,
  };
  const full = Array.from({ length: s.L }, () => "full_attention");
  switch (family) {
    case "smollm2":
      return {
        ...common,
        architectures: ["LlamaForCausalLM"],
        attention_bias: false,
        bos_token_id: 1,
        eos_token_id: 2,
        head_dim: s.hd,
        hidden_act: "silu",
        is_llama_config: true,
        max_position_embeddings: 8192,
        mlp_bias: false,
        model_type: "llama",
        pad_token_id: 2,
        pretraining_tp: 1,
        rms_norm_eps: F(1e-5),
        rope_interleaved: false,
        rope_scaling: null,
        rope_theta: F(100000),
        tie_word_embeddings: s.tie,
      };
    case "qwen2_5":
      return {
        ...common,
        architectures: ["Qwen2ForCausalLM"],
        bos_token_id: 1,
        eos_token_id: 2,
        hidden_act: "silu",
        layer_types: full,
        max_position_embeddings: 32768,
        max_window_layers: s.L,
        model_type: "qwen2",
        rms_norm_eps: F(1e-6),
        rope_scaling: null,
        rope_theta: F(1000000),
        sliding_window: null,
        tie_word_embeddings: s.tie,
        use_sliding_window: false,
      };
    case "qwen3":
      return {
        ...common,
        architectures: ["Qwen3ForCausalLM"],
        attention_bias: false,
        bos_token_id: 1,
        eos_token_id: 2,
        head_dim: s.hd,
        hidden_act: "silu",
        layer_types: full,
        max_position_embeddings: 40960,
        max_window_layers: s.L,
        model_type: "qwen3",
        rms_norm_eps: F(1e-6),
        rope_scaling: null,
        rope_theta: F(1000000),
        sliding_window: null,
        tie_word_embeddings: s.tie,
        use_sliding_window: false,
      };
    case "smollm3": {
      // no_rope_layer_interval 2: layer l uses RoPE iff (l + 1) % 2 != 0 -> [1, 0] for 2 layers (written out, as
      // SmolLM3Config does).
      const interval = 2;
      const cfg: Record<string, unknown> = {
        ...common,
        architectures: ["SmolLM3ForCausalLM"],
        attention_bias: false,
        bos_token_id: null,
        eos_token_id: 2,
        hidden_act: "silu",
        layer_types: full,
        max_position_embeddings: 65536,
        mlp_bias: false,
        model_type: "smollm3",
        no_rope_layer_interval: interval,
        no_rope_layers: Array.from({ length: s.L }, (_, l) => ((l + 1) % interval !== 0 ? 1 : 0)),
        pad_token_id: 3,
        rms_norm_eps: F(1e-6),
        rope_scaling: null,
        rope_theta: F(5000000),
        sliding_window: null,
        use_sliding_window: false,
      };
      // transformers omits tie_word_embeddings when it equals both the base and the SmolLM3Config default (true).
      if (!s.tie) cfg.tie_word_embeddings = false;
      return cfg;
    }
    case "phi4mini": {
      if (s.hd !== s.H / s.nH) throw new Error("phi3 head_dim is hidden_size / num_attention_heads");
      const cfg: Record<string, unknown> = {
        ...common,
        architectures: ["Phi3ForCausalLM"],
        bos_token_id: 1,
        embd_pdrop: F(0),
        eos_token_id: 2,
        hidden_act: "silu",
        max_position_embeddings: 131072,
        model_type: "phi3",
        original_max_position_embeddings: 4096,
        pad_token_id: 2,
        partial_rotary_factor: F(0.75),
        resid_pdrop: F(0),
        rms_norm_eps: F(1e-5),
        rope_scaling: null,
        rope_theta: F(10000),
        sliding_window: 262144,
        tie_word_embeddings: s.tie,
      };
      return cfg;
    }
    case "gemma3": {
      const pattern = 4;
      const cfg: Record<string, unknown> = {
        ...common,
        _sliding_window_pattern: pattern,
        architectures: ["Gemma3ForCausalLM"],
        attention_bias: false,
        attn_logit_softcapping: null,
        bos_token_id: 2,
        eos_token_id: 1,
        final_logit_softcapping: null,
        head_dim: s.hd,
        hidden_activation: "gelu_pytorch_tanh",
        layer_types: Array.from({ length: s.L }, (_, i) => ((i + 1) % pattern !== 0 ? "sliding_attention" : "full_attention")),
        max_position_embeddings: 32768,
        model_type: "gemma3_text",
        pad_token_id: 0,
        query_pre_attn_scalar: 24,
        rms_norm_eps: F(1e-6),
        rope_local_base_freq: F(10000),
        rope_scaling: null,
        rope_theta: F(1000000),
        sliding_window: 8,
        sliding_window_pattern: pattern,
        use_bidirectional_attention: false,
      };
      if (!s.tie) cfg.tie_word_embeddings = false;
      return cfg;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Weights

function tensorsFor(family: TinyFamily, s: TinyShape, seed: number, gain: number): Record<string, TensorToWrite> {
  const randn = normals(splitmix32(seed));
  const out: Record<string, TensorToWrite> = {};
  const gemma = s.model_type === "gemma3_text";
  // Values are drawn in a fixed order (the insertion order below), then rounded to the storage dtype.
  const add = (name: string, shape: number[], gen: () => number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = gen();
    if (s.dtype === "BF16") for (let i = 0; i < n; i++) data[i] = roundToBf16(data[i]);
    out[name] = { dtype: s.dtype, shape, data };
  };
  // Scales, as 0.02 * k: projections ~ 1/sqrt(fan_in), embeddings large enough that the logits are not flat,
  // RMSNorm weights 1 + N(0, 0.05) (Gemma stores w with the norm scaling by 1 + w, so w ~ N(0, 0.05)).
  // The residual branches' output projections (o_proj, down_proj) get 3x that, so that with tied embeddings a
  // token's own embedding does not dominate its logits (random tied models otherwise echo their input).
  const proj = (fanIn: number, k = 7) => () => randn() * (0.02 * gain * k * Math.sqrt(48 / fanIn));
  const outProj = (fanIn: number) => proj(fanIn, 21);
  // Gemma multiplies the embeddings by sqrt(hidden_size), hence its smaller embedding scale.
  const embedStd = 0.02 * gain * (gemma ? 4 : 15);
  const norm = () => (gemma ? 0 : 1) + randn() * 0.05;
  const bias = () => randn() * 0.02 * gain * 5;
  const { V, H, nH, nKV, hd, I, L } = s;
  add("model.embed_tokens.weight", [V, H], () => randn() * embedStd);
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    add(p + "input_layernorm.weight", [H], norm);
    if (family === "phi4mini") {
      add(p + "self_attn.qkv_proj.weight", [(nH + 2 * nKV) * hd, H], proj(H));
    } else {
      add(p + "self_attn.q_proj.weight", [nH * hd, H], proj(H));
      add(p + "self_attn.k_proj.weight", [nKV * hd, H], proj(H));
      add(p + "self_attn.v_proj.weight", [nKV * hd, H], proj(H));
      if (family === "qwen2_5") {
        add(p + "self_attn.q_proj.bias", [nH * hd], bias);
        add(p + "self_attn.k_proj.bias", [nKV * hd], bias);
        add(p + "self_attn.v_proj.bias", [nKV * hd], bias);
      }
    }
    if (family === "qwen3" || gemma) {
      add(p + "self_attn.q_norm.weight", [hd], norm);
      add(p + "self_attn.k_norm.weight", [hd], norm);
    }
    add(p + "self_attn.o_proj.weight", [H, nH * hd], outProj(nH * hd));
    add(p + "post_attention_layernorm.weight", [H], norm);
    if (gemma) {
      add(p + "pre_feedforward_layernorm.weight", [H], norm);
      add(p + "post_feedforward_layernorm.weight", [H], norm);
    }
    if (family === "phi4mini") {
      add(p + "mlp.gate_up_proj.weight", [2 * I, H], proj(H));
    } else {
      add(p + "mlp.gate_proj.weight", [I, H], proj(H));
      add(p + "mlp.up_proj.weight", [I, H], proj(H));
    }
    add(p + "mlp.down_proj.weight", [H, I], outProj(I));
  }
  add("model.norm.weight", [H], norm);
  if (!s.tie) add("lm_head.weight", [V, H], () => randn() * embedStd);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

/** Top-1 minus top-2 of one logits row. */
function margin(row: Float64Array): number {
  let a = -Infinity;
  let b = -Infinity;
  for (const v of row) {
    if (v > a) {
      b = a;
      a = v;
    } else if (v > b) b = v;
  }
  return a - b;
}

/** Generates one tiny model (and its oracle expectations); writes it when opts.outDir is given. */
export function generateFamilyModel(family: TinyFamily, seed: number, opts: GenerateOptions = {}): GeneratedFamily {
  const shape: TinyShape = { ...TINY_SHAPES[family], ...opts.shape };
  const cfgMarked = configFor(family, shape);
  const configJson = pythonJson(cfgMarked) + "\n";
  const config = plain(cfgMarked) as Record<string, unknown>;
  const tensors = tensorsFor(family, shape, seed, opts.gain ?? 1);
  const safetensors = encodeSafetensors(tensors);
  // The oracle reads back exactly the bytes that are written.
  const model = buildHfModel(JSON.parse(configJson), parseSafetensors(safetensors));
  const V = model.arch.V;
  const logits = oracleForward(model, TINY_INPUT_IDS);
  const greedy = oracleGreedy(model, TINY_INPUT_IDS, TINY_GREEDY_NEW);
  // Margins along the greedy path (one full forward of prompt + greedy tokens; row T0-1+i predicts greedy[i]).
  const path = oracleForward(model, [...TINY_INPUT_IDS, ...greedy.slice(0, -1)]);
  const margins = greedy.map((_, i) => margin(path.subarray((TINY_INPUT_IDS.length - 1 + i) * V, (TINY_INPUT_IDS.length + i) * V)));
  const expected = {
    about:
      "float64 logits from test/helpers/hf-oracle.ts (a forward pass written from the Hugging Face modeling code, validated against the independent references in test/fixtures/families) for this tiny random-weight model",
    family,
    model_type: model.arch.model_type,
    seed,
    weights_dtype: shape.dtype,
    files_sha256: { "config.json": sha256(configJson), "model.safetensors": sha256(safetensors) },
    arch: model.arch,
    layers: oracleLayers(model),
    input_ids: TINY_INPUT_IDS,
    logits: { shape: [TINY_INPUT_IDS.length, V], dtype: "float64", byte_order: "little", b64: f64ToBase64(logits) },
    argmax: rowArgmax(logits, V),
    argmax_top1_minus_top2: Array.from({ length: TINY_INPUT_IDS.length }, (_, t) => margin(logits.subarray(t * V, (t + 1) * V))),
    greedy: { n_new: TINY_GREEDY_NEW, eos_ignored: true, tokens: greedy, top1_minus_top2: margins, min_margin: Math.min(...margins) },
  };
  const expectedJson = JSON.stringify(expected) + "\n";
  if (opts.outDir) {
    mkdirSync(opts.outDir, { recursive: true });
    writeFileSync(join(opts.outDir, "config.json"), configJson);
    writeFileSync(join(opts.outDir, "model.safetensors"), safetensors);
    writeFileSync(join(opts.outDir, "expected.json"), expectedJson);
  }
  return { family, seed, config, configJson, tensors, safetensors, model, expected, expectedJson };
}
