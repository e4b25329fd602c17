// Validates test/helpers/hf-oracle.ts (the independent float64 Hugging Face forward pass) against the independent
// float64 references of test/fixtures/families (see its README): logits, argmax and greedy decoding of seven tiny
// models (six families, and Gemma3 with the real gemma-3-1b config layout and final logit soft-capping), each under
// its transformers 4.57 config.json and its transformers 5.18 config_transformers5.json. Also covers the plain
// safetensors reader/writer and the config fields the oracle refuses.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildHfModel,
  f64FromBase64,
  loadHfModel,
  oracleForward,
  oracleGreedy,
  oracleLayers,
  parseHfConfig,
  rowArgmax,
  type HfModel,
} from "../helpers/hf-oracle.js";
import { bf16ToNumber, encodeSafetensors, numberToBf16, parseSafetensors, readSafetensors, roundToBf16 } from "../helpers/safetensors-plain.js";

const FAM = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "families");
const refs = JSON.parse(readFileSync(join(FAM, "refs.json"), "utf8"));
const NAMES = Object.keys(refs.families);
const CONFIGS = ["config.json", "config_transformers5.json"] as const;
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** The directory holding a family's weights (gemma3_softcap uses gemma3's, see refs `same_weights_as`). */
const weightsDir = (name: string) => join(FAM, refs.families[name].same_weights_as ?? name);
const load = (name: string, config: string = "config.json", opts = {}) => loadHfModel(weightsDir(name), { config: join(FAM, name, config), ...opts });
const readJson = (name: string, file: string) => JSON.parse(readFileSync(join(FAM, name, file), "utf8")) as Record<string, unknown>;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe("families fixtures", () => {
  it("has the seven cases of refs.json", () => {
    expect(NAMES).toEqual(["qwen2_5", "qwen3", "smollm2", "smollm3", "phi4mini", "gemma3", "gemma3_softcap"]);
  });
  for (const name of NAMES) {
    it(`${name}: the copied files match refs' files_sha256`, () => {
      const f = refs.families[name];
      for (const [file, hash] of Object.entries(f.files_sha256 as Record<string, string>)) {
        const dir = file === "model.safetensors" ? weightsDir(name) : join(FAM, name);
        expect(sha256(readFileSync(join(dir, file))), `${name}/${file}`).toBe(hash);
      }
      if (f.same_weights_as) expect(f.files_sha256["model.safetensors"]).toBe(refs.families[f.same_weights_as].files_sha256["model.safetensors"]);
    });
  }
});

describe("hf-oracle vs the independent float64 references", () => {
  const maxDiffs: Record<string, number> = {};
  for (const name of NAMES) {
    for (const cfg of CONFIGS) {
      describe(`${name} (${cfg})`, () => {
        const f = refs.families[name];
        const s = f.sequences[0];
        let model: HfModel;
        const get = () => (model ??= load(name, cfg));

        it("parses the architecture and the per-layer RoPE / window / kind as refs describe them", () => {
          const m = get();
          const { attn_softcap, scaling, ...arch } = m.arch;
          const { scaling: refScaling, ...refArch } = f.arch;
          expect(attn_softcap).toBeNull();
          expect(arch).toEqual(refArch);
          // hd ** -0.5: V8's Math.pow and C's pow may differ in the last bit.
          expect(Math.abs(scaling - refScaling)).toBeLessThanOrEqual(2 * Number.EPSILON * refScaling);
          const refLayers = (f.layers as { use_rope: boolean; theta: number; window: number | null; kind: string }[]).map(({ use_rope, ...l }) => ({ useRope: use_rope, ...l }));
          expect(oracleLayers(m)).toEqual(refLayers);
        });

        it("teacher-forced logits agree to < 1e-9 and their argmax is equal", () => {
          const m = get();
          const logits = oracleForward(m, s.input_ids);
          const ref = f64FromBase64(s.logits.b64);
          expect(s.logits.shape).toEqual([s.T, m.arch.V]);
          const d = maxAbsDiff(logits, ref);
          maxDiffs[`${name} ${cfg}`] = d;
          expect(d).toBeLessThan(1e-9);
          expect(rowArgmax(logits, m.arch.V)).toEqual(s.argmax);
        });

        it("greedy decoding of 16 tokens (EOS ignored) is equal", () => {
          expect(s.greedy.eos_ignored).toBe(true);
          expect(oracleGreedy(get(), s.input_ids, s.greedy.n_new)).toEqual(s.greedy.tokens);
        });
      });
    }
  }
  it("(summary) max |oracle - refs| per case", () => {
    // Printed for the record; each case is asserted above.
    console.log(Object.entries(maxDiffs).map(([k, v]) => `${k}: ${v.toExponential(2)}`).join("\n"));
    expect(Object.keys(maxDiffs).length).toBe(NAMES.length * CONFIGS.length);
  });
});

describe("hf-oracle semantics details", () => {
  it("gemma3: the embedding scale rounded to the fp32 checkpoint dtype moves the logits by ~1e-7 only", () => {
    const s = refs.families.gemma3.sequences[0];
    const m = load("gemma3", "config.json", { gemmaEmbedScale: "weights-dtype" });
    expect(m.arch.embed_scale).toBe(Math.fround(Math.sqrt(96)));
    const d = maxAbsDiff(oracleForward(m, s.input_ids), f64FromBase64(s.logits.b64));
    expect(d).toBeGreaterThan(1e-9);
    expect(d).toBeLessThan(1e-5);
  });

  it("gemma3_softcap: final_logit_softcapping bounds the logits by the cap; without it they are gemma3's", () => {
    const s = refs.families.gemma3_softcap.sequences[0];
    const capped = oracleForward(load("gemma3_softcap"), s.input_ids);
    const cfg = { ...readJson("gemma3_softcap", "config.json"), final_logit_softcapping: null };
    const plain = oracleForward(buildHfModel(cfg, readSafetensors(join(weightsDir("gemma3_softcap"), "model.safetensors"))), s.input_ids);
    for (let i = 0; i < plain.length; i++) expect(Math.abs(capped[i] - Math.tanh(plain[i] / 15) * 15)).toBeLessThan(1e-12);
    // gemma3 and gemma3_softcap differ only in the cap (and the layer types being derived from the pattern).
    const g = oracleForward(load("gemma3"), s.input_ids);
    expect(maxAbsDiff(g, plain)).toBe(0);
  });

  it("gemma3: layer types derive from sliding_window_pattern when layer_types is absent", () => {
    const cfg = readJson("gemma3", "config.json");
    delete cfg.layer_types;
    expect(parseHfConfig(cfg).layers.map((l) => l.kind)).toEqual(["sliding_attention", "sliding_attention", "full_attention", "sliding_attention"]);
    delete cfg.sliding_window_pattern; // transformers' default pattern is 6 (it reads sliding_window_pattern, not _sliding_window_pattern)
    expect(parseHfConfig(cfg).layers.map((l) => l.kind)).toEqual(Array(4).fill("sliding_attention"));
  });

  it("gemma3: linear rope scaling applies to the full-attention layers only, in both config layouts", () => {
    const s = refs.families.gemma3.sequences[0];
    const w = readSafetensors(join(weightsDir("gemma3"), "model.safetensors"));
    const v4 = { ...readJson("gemma3", "config.json"), rope_scaling: { rope_type: "linear", factor: 8.0 } };
    const v5 = readJson("gemma3", "config_transformers5.json");
    v5.rope_parameters = { ...(v5.rope_parameters as object), full_attention: { rope_type: "linear", factor: 8.0, rope_theta: 1000000.0 } };
    const a = buildHfModel(v4, w);
    const b = buildHfModel(v5, w);
    expect(a.layers.map((l) => l.rope.factor)).toEqual([1, 1, 8, 1]);
    expect(b.layers.map((l) => l.rope.factor)).toEqual([1, 1, 8, 1]);
    const la = oracleForward(a, s.input_ids);
    expect(maxAbsDiff(la, oracleForward(b, s.input_ids))).toBe(0);
    expect(maxAbsDiff(la, f64FromBase64(s.logits.b64))).toBeGreaterThan(1e-6); // it does change the result
  });

  it("smollm3: no_rope_layers derives from no_rope_layer_interval when absent", () => {
    const cfg = readJson("smollm3", "config.json");
    delete cfg.no_rope_layers;
    expect(parseHfConfig(cfg).layers.map((l) => l.useRope)).toEqual([true, true, false, true]); // interval 3
    cfg.no_rope_layer_interval = 2;
    expect(parseHfConfig(cfg).layers.map((l) => l.useRope)).toEqual([true, false, true, false]);
    delete cfg.no_rope_layer_interval; // SmolLM3Config default 4
    expect(parseHfConfig(cfg).layers.map((l) => l.useRope)).toEqual([true, true, true, false]);
  });

  it("tie_word_embeddings defaults to the config class default when absent", () => {
    // smollm3's and gemma3's 4.57 config.json omit it (equal to the class default, true).
    expect(readJson("smollm3", "config.json").tie_word_embeddings).toBeUndefined();
    expect(parseHfConfig(readJson("smollm3", "config.json")).arch.tie).toBe(true);
    const llama = readJson("smollm2", "config.json");
    delete llama.tie_word_embeddings;
    expect(parseHfConfig(llama).arch.tie).toBe(false); // LlamaConfig default
  });

  it("phi3 longrope: short factors below original_max_position_embeddings, attention factor from the max/original ratio", () => {
    const s = refs.families.phi4mini.sequences[0];
    const w = readSafetensors(join(weightsDir("phi4mini"), "model.safetensors"));
    const base = readJson("phi4mini", "config.json");
    const half = 12;
    // Unit short factors and max == original: identical to the default rope.
    const same = { ...base, max_position_embeddings: 4096, rope_scaling: { type: "longrope", short_factor: Array(half).fill(1), long_factor: Array(half).fill(3) } };
    const m1 = buildHfModel(same, w);
    expect(m1.layers[0].rope.attentionFactor).toBe(1);
    expect(maxAbsDiff(oracleForward(m1, s.input_ids), f64FromBase64(s.logits.b64))).toBeLessThan(1e-9);
    // Phi-4-mini-like: max 131072 / original 4096 -> attention factor sqrt(1 + ln 32 / ln 4096).
    const sf = Array.from({ length: half }, (_, i) => 1 + i / 4);
    const lr: Record<string, unknown> = { ...base, rope_scaling: { rope_type: "longrope", short_factor: sf, long_factor: Array(half).fill(5) } };
    const m2 = buildHfModel(lr, w);
    expect(m2.layers[0].rope.attentionFactor).toBeCloseTo(Math.sqrt(1 + Math.log(32) / Math.log(4096)), 15);
    // The same model as transformers 5 writes it (rope_parameters) gives the same logits.
    const { rope_scaling: _r, rope_theta: _t, ...rest } = lr;
    const lr5 = { ...rest, rope_parameters: { ...(lr.rope_scaling as object), rope_theta: 10000.0, partial_rotary_factor: 0.75 } };
    expect(maxAbsDiff(oracleForward(m2, s.input_ids), oracleForward(buildHfModel(lr5, w), s.input_ids))).toBe(0);
  });

  it("the sliding window hides keys i - j >= window", () => {
    // gemma3's window is 16 > T = 7, so shrinking it to 2 must change every row from the third on, and only those.
    const s = refs.families.gemma3.sequences[0];
    const w = readSafetensors(join(weightsDir("gemma3"), "model.safetensors"));
    const m = buildHfModel({ ...readJson("gemma3", "config.json"), sliding_window: 2 }, w);
    expect(oracleLayers(m).map((l) => l.window)).toEqual([2, 2, null, 2]);
    const a = oracleForward(m, s.input_ids);
    const b = f64FromBase64(s.logits.b64);
    const V = m.arch.V;
    for (let t = 0; t < s.T; t++) {
      const d = maxAbsDiff(a.subarray(t * V, (t + 1) * V), b.subarray(t * V, (t + 1) * V));
      if (t < 2) expect(d).toBeLessThan(1e-9);
      else expect(d).toBeGreaterThan(1e-6);
    }
  });
});

describe("hf-oracle refuses what it does not handle", () => {
  const cfg = (name: string, patch: Record<string, unknown>) => ({ ...readJson(name, "config.json"), ...patch });
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["an unknown config field", cfg("qwen2_5", { use_mrope: true }), /not handled for qwen2: use_mrope/],
    ["an unknown model_type", cfg("qwen2_5", { model_type: "mistral" }), /model_type "mistral"/],
    ["the multimodal gemma3 wrapper", { model_type: "gemma3", text_config: {} }, /gemma3_text/],
    ["a yarn rope", cfg("smollm2", { rope_scaling: { rope_type: "yarn", factor: 4 } }), /rope type yarn/],
    ["a llama3 rope", cfg("smollm2", { rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }), /low_freq_factor|llama3/],
    ["longrope outside phi3", cfg("smollm2", { rope_scaling: { rope_type: "longrope", short_factor: [], long_factor: [] } }), /longrope/],
    ["another activation", cfg("smollm2", { hidden_act: "gelu" }), /hidden_act/],
    ["attention softcap values that are not numbers", cfg("gemma3", { attn_logit_softcapping: "50" }), /attn_logit_softcapping/],
    ["bidirectional gemma attention", cfg("gemma3", { use_bidirectional_attention: true }), /use_bidirectional_attention/],
    ["rope_interleaved: true", cfg("smollm2", { rope_interleaved: true }), /rope_interleaved/],
    ["both rope_theta and rope_parameters", { ...readJson("qwen3", "config_transformers5.json"), rope_theta: 1000000 }, /both rope_parameters/],
    ["a partial rotary factor outside phi3", { ...readJson("qwen3", "config_transformers5.json"), rope_parameters: { rope_type: "default", rope_theta: 1e6, partial_rotary_factor: 0.5 } }, /only handled for phi3/],
    ["an odd rotary dim", cfg("phi4mini", { partial_rotary_factor: 0.71875 }), /rotary dim 23/],
  ];
  for (const [what, config, msg] of cases) it(what, () => expect(() => parseHfConfig(config)).toThrow(msg));

  it("a tensor the config does not account for, and a missing one", () => {
    const w = readSafetensors(join(weightsDir("smollm2"), "model.safetensors"));
    const extra = new Map(w);
    extra.set("model.layers.0.self_attn.o_proj.bias", { shape: [64], dtype: "F32", data: new Float64Array(64) });
    expect(() => buildHfModel(readJson("smollm2", "config.json"), extra)).toThrow(/not used.*o_proj\.bias/);
    const missing = new Map(w);
    missing.delete("model.norm.weight");
    expect(() => buildHfModel(readJson("smollm2", "config.json"), missing)).toThrow(/model\.norm\.weight is missing/);
    // attention_bias: true needs the four biases.
    expect(() => buildHfModel({ ...readJson("smollm2", "config.json"), attention_bias: true }, w)).toThrow(/q_proj\.bias is missing/);
  });
});

describe("safetensors-plain", () => {
  it("bf16: round to nearest, ties to even, on the fp32 bits", () => {
    expect(roundToBf16(1 + 2 ** -8)).toBe(1); // tie -> even mantissa 0
    expect(roundToBf16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6); // tie -> even mantissa 2
    expect(roundToBf16(1 + 2 ** -8 + 2 ** -20)).toBe(1 + 2 ** -7); // above the tie
    expect(roundToBf16(-3.140625)).toBe(-3.140625); // exact
    expect(numberToBf16(Infinity)).toBe(0x7f80);
    expect(Number.isNaN(bf16ToNumber(numberToBf16(NaN)))).toBe(true);
    expect(numberToBf16(3.4e38)).toBe(0x7f80); // rounds up to +inf like torch
  });

  it("writes a valid file and reads it back (F32 exact, BF16 rounded), header padded to 8 with sorted tensors", () => {
    const a = Float32Array.from([1.5, -2.25, 3.1, 1e-3, 7, 8]);
    const b = Float32Array.from([0.1, 0.2, 0.3]);
    const bytes = encodeSafetensors({ "z.weight": { dtype: "F32", shape: [2, 3], data: a }, "a.bias": { dtype: "BF16", shape: [3], data: b } });
    const n = Number(Buffer.from(bytes).readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString("utf8"));
    expect(Object.keys(header)).toEqual(["__metadata__", "a.bias", "z.weight"]);
    expect(header.__metadata__).toEqual({ format: "pt" });
    expect(header["a.bias"]).toEqual({ dtype: "BF16", shape: [3], data_offsets: [0, 6] });
    expect(header["z.weight"]).toEqual({ dtype: "F32", shape: [2, 3], data_offsets: [6, 30] });
    expect(bytes.length).toBe(8 + n + 30);
    const t = parseSafetensors(bytes);
    expect([...t.get("z.weight")!.data]).toEqual([...a]);
    expect([...t.get("a.bias")!.data]).toEqual([...b].map(roundToBf16));
    expect(t.get("z.weight")!.shape).toEqual([2, 3]);
  });

  it("reads the BF16 qwen3 reference file like a bit-level decode", () => {
    const buf = readFileSync(join(FAM, "qwen3", "model.safetensors"));
    const t = readSafetensors(join(FAM, "qwen3", "model.safetensors"));
    const n = Number(buf.readBigUInt64LE(0));
    const h = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
    const e = h["model.norm.weight"];
    expect(e.dtype).toBe("BF16");
    const at = 8 + n + e.data_offsets[0];
    const bits = buf.readUInt16LE(at + 2 * 5);
    const f = new Float32Array(new Uint32Array([bits << 16]).buffer)[0];
    expect(t.get("model.norm.weight")!.data[5]).toBe(f);
  });
});
