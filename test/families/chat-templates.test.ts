// The current runner's chat templates (SPEC-2026 §7, qnn_llama_runner.cpp:get_formatted_prompt) byte for byte, with
// and without a system prompt, the expected strings written out here from the contract's text; the families' stop
// tokens (§5.3) and attention defaults (§2.2); the family a checkpoint implies and the refusal of a mismatch.
import { describe, expect, it } from "vitest";
import { CHAT_TEMPLATES, extraStopToken, formatChatPrompt, type ChatTemplateName } from "../../src/runner/chat-template.js";
import { familyOfDecoderModel, FAMILIES, inferFamily } from "../../src/runner/model-family.js";
import { attentionFor, familyFor } from "../../src/cli/family.js";
import { familyStops } from "../../src/runner/prompt.js";
import type { ModelConfig } from "../../src/engine/config.js";
import type { Tokenizer } from "../../src/tokenizer/types.js";
import { llamaArch } from "../../src/engine/arch.js";
import { UserError } from "../../src/util/errors.js";

const P = "Hi there";
const S = "Be brief.";

/** [template, without system, with system] — SPEC-2026 §7's strings with {P} and {S} filled in. */
const CASES: [ChatTemplateName, string, string][] = [
  ["llama2", "Hi there", "Hi there"],
  ["qwen2_5", "Hi there", "Hi there"],
  ["codegen", "Hi there", "Hi there"],
  [
    "llama3",
    "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
  ],
  [
    "gemma3",
    "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n",
    "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\nBe brief.<end_of_turn>\n",
  ],
  [
    "gemma",
    "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n",
    "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\nBe brief.<end_of_turn>\n",
  ],
  ["gemma2", "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n", "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n"],
  ["gemma4", "<bos><|turn>user\nHi there<turn|>\n<|turn>model\n", "<bos><|turn>system\nBe brief.<turn|>\n<|turn>user\nHi there<turn|>\n<|turn>model\n"],
  [
    "granite",
    "<|start_of_role|>user<|end_of_role|>Hi there<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>",
    "<|start_of_role|>system<|end_of_role|>Be brief.<|end_of_text|>\n<|start_of_role|>user<|end_of_role|>Hi there<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>",
  ],
  ["phi_4_mini", "<|user|>Hi there<|end|><|assistant|>", "<|system|>Be brief.<|end|><|user|>Hi there<|end|><|assistant|>"],
  [
    "qwen3",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>assistant",
  ],
  [
    "smollm2_135m",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n\n",
    "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n\n",
  ],
  [
    "smollm3",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nBe brief.\n\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
  ],
  ["glm", "<|user|>\nHi there<|assistant|>\n", "<|user|>\nHi there<|system|>\nBe brief.<|assistant|>\n"],
];

describe("chat templates, byte for byte (SPEC-2026 §7)", () => {
  it("covers every template the runner hard-codes", () => {
    expect(CASES.map((c) => c[0]).sort()).toEqual([...CHAT_TEMPLATES].sort());
  });
  for (const [t, plain, withSystem] of CASES)
    it(t, () => {
      expect(formatChatPrompt(t, P)).toBe(plain);
      expect(formatChatPrompt(t, P, "")).toBe(plain);
      expect(formatChatPrompt(t, P, S)).toBe(withSystem);
      // Every turn gets the same template (the system block repeats each turn).
      expect(formatChatPrompt(t, "second", S)).toBe(withSystem.replace("Hi there", "second"));
    });
});

describe("families", () => {
  it("stop tokens the runner adds to the tokenizer's EOS (SPEC-2026 §5.3)", () => {
    expect(extraStopToken("llama3")).toBe("<|eot_id|>");
    expect(extraStopToken("phi_4_mini")).toBe("<|end|>");
    for (const t of ["qwen3", "smollm2_135m", "smollm3"] as const) expect(extraStopToken(t)).toBe("<|im_end|>");
    for (const t of ["gemma", "gemma2", "gemma3"] as const) expect(extraStopToken(t)).toBe("<end_of_turn>");
    expect(extraStopToken("qwen2_5")).toBeNull();
    expect(extraStopToken("llama2")).toBeNull();
  });

  it("familyStops: the tokenizer's EOS plus the family's stop token when the tokenizer has it as one token", () => {
    const specials: Record<string, number> = { "<|im_end|>": 7, "<end_of_turn>": 9 };
    const tok = {
      kind: "fake",
      vocabSize: 10,
      bosId: -1,
      eosIds: [5],
      encode: () => [],
      decodeBytes: () => new Uint8Array(),
      piece: () => "",
      encodeWithSpecial: (text: string) => (text in specials ? [specials[text]] : [1, 2]),
    } as Tokenizer;
    expect(familyStops(FAMILIES["qwen3-0_6b"], tok).sort()).toEqual([5, 7]);
    expect(familyStops(FAMILIES["gemma3-1b"], tok).sort()).toEqual([5, 9]);
    expect(familyStops(FAMILIES.phi_4_mini, tok)).toEqual([5]); // <|end|> is not one token of this tokenizer
    expect(familyStops(FAMILIES["qwen2_5-0_5b"], tok)).toEqual([5]);
  });

  it("attention defaults of the exported configs (SPEC-2026 §2.2), overridden by the flags", () => {
    const table = Object.fromEntries(Object.values(FAMILIES).map((f) => [f.name, [f.maskedSoftmax, f.r3]]));
    expect(table).toEqual({
      stories260k: [false, false],
      stories110m: [false, false],
      llama3_2: [false, false],
      "qwen2_5-0_5b": [true, true],
      "qwen2_5-1_5b": [true, true],
      "qwen3-0_6b": [true, false],
      "qwen3-1_7b": [true, true],
      smollm2_135m: [false, true],
      "smollm3-3b": [true, false],
      phi_4_mini: [false, false],
      "gemma3-1b": [true, false],
    });
    expect(attentionFor({}, FAMILIES["qwen3-1_7b"])).toEqual({ maskedSoftmax: true, r3: true });
    expect(attentionFor({ maskedSoftmax: false, r3: false }, FAMILIES["qwen3-1_7b"])).toEqual({ maskedSoftmax: false, r3: false });
  });

  const cfg = (modelType: string, dim: number, vocab = 1000): ModelConfig => {
    const base: ModelConfig = { dim, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: vocab, hiddenDim: 4 * dim, headDim: dim / 4, normEps: 1e-6, ropeTheta: 1e6, ropeScaling: null, maxSeqLen: 4096 };
    if (modelType === "llama") return base;
    return { ...base, arch: { ...llamaArch(2, dim / 4, 1e6, null), modelType: modelType as never } };
  };

  it("infers the family from config.json: model_type, the variant by hidden size", () => {
    expect(inferFamily(cfg("qwen2", 896))).toBe("qwen2_5-0_5b");
    expect(inferFamily(cfg("qwen2", 1536))).toBe("qwen2_5-1_5b");
    expect(inferFamily(cfg("qwen3", 1024))).toBe("qwen3-0_6b");
    expect(inferFamily(cfg("qwen3", 2048))).toBe("qwen3-1_7b");
    expect(inferFamily(cfg("smollm3", 2048))).toBe("smollm3-3b");
    expect(inferFamily(cfg("phi3", 3072))).toBe("phi_4_mini");
    expect(inferFamily(cfg("gemma3_text", 1152))).toBe("gemma3-1b");
    expect(inferFamily(cfg("llama", 576, 49152))).toBe("smollm2_135m");
  });

  it("--decoder_model names pick the family; one that does not match the checkpoint is refused", () => {
    expect(familyOfDecoderModel("qwen3-0_6b")?.chat).toBe("qwen3");
    expect(familyOfDecoderModel("llama3_2-1b_instruct")?.name).toBe("llama3_2");
    expect(familyOfDecoderModel("gemma3-1b")?.modelType).toBe("gemma3_text");
    expect(familyFor({ decoderModel: "qwen3-1_7b" }, cfg("qwen3", 64)).name).toBe("qwen3-1_7b");
    expect(() => familyFor({ decoderModel: "gemma3-1b" }, cfg("qwen3", 64))).toThrow(UserError);
    expect(() => familyFor({ decoderModel: "gemma3-1b" }, cfg("qwen3", 64))).toThrow(/--decoder_model gemma3-1b is a gemma3_text model, but the checkpoint's config.json says model_type qwen3/);
    expect(() => familyFor({ decoderModel: "stories260k" }, cfg("phi3", 64))).toThrow(/model_type phi3/);
  });
});
