// Hugging Face config.json → ModelConfig: the tiny fixture (newer transformers: RoPE under `rope_parameters`), the
// older layout (`rope_scaling` plus top-level `rope_theta`) with Llama 3.2 1B's real values, both spellings giving
// the same config; RoPE "default" or absent means no scaling; everything not a plain Llama is a one-line UserError.
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseHfConfig, readHfConfig } from "../../src/loaders/hf-config.js";
import { configFromParams, type ModelConfig } from "../../src/engine/config.js";
import { UserError } from "../../src/util/errors.js";
import { FIXTURES } from "../helpers/fixtures.js";

const TINY_PATH = join(FIXTURES, "tiny_llama3", "hf", "config.json");
const TINY = JSON.parse(readFileSync(TINY_PATH, "utf8")) as Record<string, unknown>;
const P = "/models/llama/config.json";

/** meta-llama/Llama-3.2-1B config.json (transformers 4.45 era: `rope_scaling` and a top-level `rope_theta`). */
const LLAMA_32_1B = {
  architectures: ["LlamaForCausalLM"],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: 128001,
  head_dim: 64,
  hidden_act: "silu",
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: "llama",
  num_attention_heads: 32,
  num_hidden_layers: 16,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: "llama3" },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  transformers_version: "4.45.0.dev0",
  use_cache: true,
  vocab_size: 128256,
};

const LLAMA3_SCALING = { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 };

/** Older layout → newer: `rope_scaling` + top-level `rope_theta` become one `rope_parameters` object. */
function toRopeParameters(c: Record<string, unknown>): Record<string, unknown> {
  const { rope_scaling, rope_theta, ...rest } = c;
  return { ...rest, rope_parameters: { ...(rope_scaling as object), rope_theta } };
}

/** Newer layout → older. */
function toRopeScaling(c: Record<string, unknown>): Record<string, unknown> {
  const { rope_parameters, ...rest } = c;
  const { rope_theta, ...scaling } = rope_parameters as Record<string, unknown>;
  return { ...rest, rope_scaling: scaling, rope_theta };
}

const parse = (o: unknown, path = P) => parseHfConfig(typeof o === "string" ? o : JSON.stringify(o, null, 2), path);

function expectUserError(f: () => unknown, ...parts: (string | RegExp)[]): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, "expected a UserError").toBeInstanceOf(UserError);
  const msg = (err as Error).message;
  expect(msg).not.toMatch(/[\r\n]/);
  expect(msg).toContain(P);
  for (const p of parts) expect(msg).toMatch(p);
}

describe("parseHfConfig: Llama configs", () => {
  const tinyWant: ModelConfig = {
    dim: 96,
    nLayers: 3,
    nHeads: 6,
    nKvHeads: 2,
    vocabSize: 768,
    hiddenDim: 384,
    headDim: 16,
    normEps: 1e-5,
    ropeTheta: 500000,
    ropeScaling: LLAMA3_SCALING,
    maxSeqLen: 131072,
  };

  it("the tiny fixture (rope_parameters, newer transformers)", () => {
    expect(TINY.rope_parameters).toBeDefined();
    expect(TINY.rope_scaling).toBeUndefined();
    const c = parse(TINY);
    expect(c.config).toEqual(tinyWant);
    expect(c.tieWordEmbeddings).toBe(true);
    expect(readHfConfig(TINY_PATH)).toEqual(c);
  });

  it("the tiny fixture rewritten with rope_scaling + top-level rope_theta gives the same config", () => {
    const old = toRopeScaling(TINY);
    expect(old.rope_parameters).toBeUndefined();
    expect(parse(old)).toEqual(parse(TINY));
  });

  it("Llama 3.2 1B's config.json (rope_scaling, older transformers)", () => {
    const c = parse(LLAMA_32_1B);
    expect(c.config).toEqual({
      dim: 2048,
      nLayers: 16,
      nHeads: 32,
      nKvHeads: 8,
      vocabSize: 128256,
      hiddenDim: 8192,
      headDim: 64,
      normEps: 1e-5,
      ropeTheta: 500000,
      ropeScaling: LLAMA3_SCALING,
      maxSeqLen: 131072,
    });
    expect(c.tieWordEmbeddings).toBe(true);
  });

  it("Llama 3.2 1B rewritten with rope_parameters gives the same config", () => {
    const newer = toRopeParameters(LLAMA_32_1B);
    expect(newer.rope_theta).toBeUndefined();
    expect(parse(newer)).toEqual(parse(LLAMA_32_1B));
  });

  it("agrees with Meta's params.json for Llama 3.2 1B (FFN 8192 from ffn_dim_multiplier 1.5, use_scaled_rope → factor 32)", () => {
    const meta = configFromParams(
      { dim: 2048, n_layers: 16, n_heads: 32, n_kv_heads: 8, vocab_size: 128256, ffn_dim_multiplier: 1.5, multiple_of: 256, norm_eps: 1e-5, rope_theta: 500000, use_scaled_rope: true },
      "params.json",
    );
    // params.json does not state the context length (max_seq_len defaults); everything else matches.
    expect({ ...parse(LLAMA_32_1B).config, maxSeqLen: 0 }).toEqual({ ...meta, maxSeqLen: 0 });
  });

  it("legacy `type` instead of `rope_type` is read too", () => {
    const { rope_type, ...rest } = LLAMA_32_1B.rope_scaling;
    expect(rope_type).toBe("llama3");
    expect(parse({ ...LLAMA_32_1B, rope_scaling: { ...rest, type: "llama3" } }).config.ropeScaling).toEqual(LLAMA3_SCALING);
  });

  it("Llama 3.1 8B's values (untied, factor 8) map as written", () => {
    const c = parse({
      ...LLAMA_32_1B,
      hidden_size: 4096,
      intermediate_size: 14336,
      num_hidden_layers: 32,
      head_dim: 128,
      tie_word_embeddings: false,
      rope_scaling: { ...LLAMA_32_1B.rope_scaling, factor: 8.0 },
    });
    expect(c.config).toMatchObject({ dim: 4096, hiddenDim: 14336, nLayers: 32, nHeads: 32, nKvHeads: 8, headDim: 128, ropeScaling: { ...LLAMA3_SCALING, factor: 8 } });
    expect(c.tieWordEmbeddings).toBe(false);
  });

  it("defaults: no num_key_value_heads → MHA, no head_dim → hidden / heads, no tie_word_embeddings → untied", () => {
    const { num_key_value_heads: _kv, head_dim: _hd, tie_word_embeddings: _tie, ...rest } = LLAMA_32_1B;
    const c = parse(rest);
    expect(c.config.nKvHeads).toBe(32);
    expect(c.config.headDim).toBe(64);
    expect(c.tieWordEmbeddings).toBe(false);
  });
});

describe("parseHfConfig: RoPE without scaling", () => {
  const plain = (extra: Record<string, unknown>) => {
    const { rope_scaling: _s, rope_theta: _t, ...rest } = LLAMA_32_1B;
    return parse({ ...rest, ...extra }).config;
  };

  it('rope_type "default" → no scaling, in either spelling', () => {
    expect(plain({ rope_theta: 10000, rope_scaling: { rope_type: "default" } })).toMatchObject({ ropeScaling: null, ropeTheta: 10000 });
    expect(plain({ rope_theta: 10000, rope_scaling: { type: "default" } }).ropeScaling).toBeNull();
    expect(plain({ rope_parameters: { rope_type: "default", rope_theta: 250000 } })).toMatchObject({ ropeScaling: null, ropeTheta: 250000 });
  });

  it("no rope_scaling / rope_parameters at all, or null → no scaling, theta 10000 unless given", () => {
    expect(plain({})).toMatchObject({ ropeScaling: null, ropeTheta: 10000 });
    expect(plain({ rope_scaling: null, rope_theta: 500000 })).toMatchObject({ ropeScaling: null, ropeTheta: 500000 });
    expect(plain({ rope_parameters: null })).toMatchObject({ ropeScaling: null, ropeTheta: 10000 });
  });

  it("a rope_parameters object without rope_type is the default RoPE", () => {
    expect(plain({ rope_parameters: { rope_theta: 1e6 } })).toMatchObject({ ropeScaling: null, ropeTheta: 1e6 });
  });
});

describe("parseHfConfig: refusals are one-line UserErrors naming the file", () => {
  it("unsupported RoPE types", () => {
    for (const t of ["yarn", "linear", "dynamic", "longrope", "su", "mrope"]) {
      expectUserError(() => parse({ ...LLAMA_32_1B, rope_scaling: { rope_type: t, factor: 4.0 } }), `RoPE type "${t}" is not implemented`);
      expectUserError(() => parse({ ...toRopeParameters(LLAMA_32_1B), rope_parameters: { rope_type: t, factor: 4.0, rope_theta: 1e4 } }), `RoPE type "${t}"`);
      expectUserError(() => parse({ ...LLAMA_32_1B, rope_scaling: { type: t, factor: 4.0 } }), `RoPE type "${t}"`);
    }
  });

  it("llama3 scaling with a field missing or not a number", () => {
    const { low_freq_factor: _l, ...noLow } = LLAMA_32_1B.rope_scaling;
    expectUserError(() => parse({ ...LLAMA_32_1B, rope_scaling: noLow }), 'missing "low_freq_factor"');
    expectUserError(() => parse({ ...LLAMA_32_1B, rope_scaling: { ...LLAMA_32_1B.rope_scaling, factor: "32" } }), '"factor" must be a number, got "32"');
  });

  it("a model that is not a Llama", () => {
    for (const mt of ["mistral", "gemma", "gemma2", "llama4", "mllama", "qwen3_moe"]) expectUserError(() => parse({ ...LLAMA_32_1B, model_type: mt }), `model_type "${mt}" is not supported (supported: llama, qwen2, qwen3, smollm3, phi3, gemma3_text)`);
  });

  it("attention or MLP biases", () => {
    // attention_bias is implemented (issue 16: q/k/v/o biases); MLP biases are not.
    expect(parse({ ...LLAMA_32_1B, attention_bias: true }).config.arch?.bias).toEqual({ q: true, k: true, v: true, o: true });
    expectUserError(() => parse({ ...LLAMA_32_1B, mlp_bias: true }), '"mlp_bias" is set; MLP biases are not implemented');
  });

  it("an activation other than SiLU", () => {
    for (const act of ["gelu", "gelu_pytorch_tanh", "relu", "swish"]) expectUserError(() => parse({ ...LLAMA_32_1B, hidden_act: act }), `hidden_act "${act}" is not implemented for model_type llama`);
  });

  it("head_dim other than hidden_size / num_attention_heads", () => {
    expectUserError(() => parse({ ...LLAMA_32_1B, head_dim: 128 }), "head_dim 128 differs from hidden_size / num_attention_heads (64)");
    expectUserError(() => parse({ ...LLAMA_32_1B, head_dim: 32 }), /head_dim 32 differs/);
  });

  it("shapes the engine cannot run", () => {
    expectUserError(() => parse({ ...LLAMA_32_1B, num_key_value_heads: 5 }), /n_heads 32 is not a multiple of n_kv_heads 5/);
    expectUserError(() => parse({ ...LLAMA_32_1B, num_attention_heads: 30, head_dim: undefined }), /not divisible by n_heads 30/);
    expectUserError(() => parse({ ...LLAMA_32_1B, num_hidden_layers: 0 }), /nLayers must be a positive integer, got 0/);
    expectUserError(() => parse({ ...LLAMA_32_1B, rms_norm_eps: 0 }), /norm_eps must be > 0/);
  });

  it("missing or mistyped fields", () => {
    const { hidden_size: _h, ...noHidden } = LLAMA_32_1B;
    expectUserError(() => parse(noHidden), 'missing "hidden_size"');
    expectUserError(() => parse({ ...LLAMA_32_1B, vocab_size: "128256" }), '"vocab_size" must be a number, got "128256"');
    expectUserError(() => parse({ ...LLAMA_32_1B, intermediate_size: [8192] }), '"intermediate_size" must be a number');
  });

  it("text that is not JSON (V8 quotes it, line breaks included) or not an object", () => {
    expectUserError(() => parse('{\n  "hidden_size": 2048,\n  oops\n}'), /not valid JSON \(/);
    expectUserError(() => parse("{\n\n"), /not valid JSON/);
    expectUserError(() => parse("[1, 2]"), "expected a JSON object");
    expectUserError(() => parse("null"), "expected a JSON object");
  });

  it("a config file that does not exist", () => {
    const dir = mkdtempSync(join(tmpdir(), "llama-golden-hfc-"));
    const missing = join(dir, "config.json");
    let err: unknown;
    try {
      readHfConfig(missing);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(`config ${missing}: no such file`);
    writeFileSync(missing, JSON.stringify(LLAMA_32_1B));
    expect(readHfConfig(missing).config.dim).toBe(2048);
  });
});
