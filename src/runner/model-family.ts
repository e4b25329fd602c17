// Owns the model families (SPEC §1, §6; SPEC-2026 §2.2, §5.3, §7): each family's BOS, stop tokens, tokenizer kind,
// chat template and attention defaults (masked softmax, R3), by the seed's `--llama_model` names and the current
// flow's upstream `--decoder_model` names; and the inference of a family from a checkpoint's config when no flag
// names it.
import type { ModelConfig } from "../engine/config.js";
import type { ChatTemplateName } from "./chat-template.js";

export type LlamaModel = "stories260k" | "stories110m" | "llama3_2";
export const LLAMA_MODELS: readonly LlamaModel[] = ["stories260k", "stories110m", "llama3_2"];

/** The Hugging Face families' upstream --decoder_model names (__init__.py register_llm_model, SPEC-2026 §2.2). */
export type HfDecoderModel =
  | "qwen2_5-0_5b" | "qwen2_5-1_5b" | "qwen3-0_6b" | "qwen3-1_7b" | "smollm2_135m" | "smollm3-3b" | "phi_4_mini" | "gemma3-1b";

export interface ModelFamily {
  /** A --llama_model name, or an upstream --decoder_model name of a Hugging Face family. */
  name: LlamaModel | HfDecoderModel;
  /** BOS id the runner puts in front of a prompt; -1 = whatever the tokenizer's own BOS is (Hugging Face families). */
  bos: number;
  /** Stop set of the device runner when no tokenizer is loaded (with one: its EOS plus the template's extra stop). */
  stops: number[];
  /** Which tokenizer file the runner uses for this family. */
  tokenizer: "llama2c-bin" | "tiktoken" | "hf-json";
  /** The runner's chat template (SPEC-2026 §7). */
  chat: ChatTemplateName;
  /** Attention defaults of the exported graph (SPEC-2026 §2.2, §8.1, §8.2); --masked_softmax / --r3 override. */
  maskedSoftmax: boolean;
  r3: boolean;
  /** The config's model_type this family's checkpoints have (src/engine/arch.ts; "llama" for the Llama ones). */
  modelType: string;
}

const llama = (name: LlamaModel, bos: number, stops: number[], tokenizer: ModelFamily["tokenizer"], chat: ChatTemplateName): ModelFamily => ({
  name, bos, stops, tokenizer, chat, maskedSoftmax: false, r3: false, modelType: "llama",
});
const hf = (name: HfDecoderModel, modelType: string, chat: ChatTemplateName, maskedSoftmax: boolean, r3: boolean): ModelFamily => ({
  name, bos: -1, stops: [], tokenizer: "hf-json", chat, maskedSoftmax, r3, modelType,
});

export const FAMILIES: Record<LlamaModel | HfDecoderModel, ModelFamily> = {
  stories260k: llama("stories260k", 1, [2], "llama2c-bin", "llama2"),
  stories110m: llama("stories110m", 1, [2], "llama2c-bin", "llama2"),
  // Llama 3: <|begin_of_text|> 128000; stop on <|end_of_text|> 128001 and <|eot_id|> 128009.
  llama3_2: llama("llama3_2", 128000, [128001, 128009], "tiktoken", "llama3"),
  // SPEC-2026 §2.2: masked softmax and R3 per exported config.
  "qwen2_5-0_5b": hf("qwen2_5-0_5b", "qwen2", "qwen2_5", true, true),
  "qwen2_5-1_5b": hf("qwen2_5-1_5b", "qwen2", "qwen2_5", true, true),
  "qwen3-0_6b": hf("qwen3-0_6b", "qwen3", "qwen3", true, false),
  "qwen3-1_7b": hf("qwen3-1_7b", "qwen3", "qwen3", true, true),
  smollm2_135m: hf("smollm2_135m", "llama", "smollm2_135m", false, true),
  "smollm3-3b": hf("smollm3-3b", "smollm3", "smollm3", true, false),
  phi_4_mini: hf("phi_4_mini", "phi3", "phi_4_mini", false, false),
  "gemma3-1b": hf("gemma3-1b", "gemma3_text", "gemma3", true, false),
};

/** The family of a --decoder_model name (upstream spellings; the Llama 3.2 ones map to llama3_2), or undefined. */
export function familyOfDecoderModel(name: string): ModelFamily | undefined {
  const key = name.toLowerCase();
  if (key.startsWith("llama3_2")) return FAMILIES.llama3_2;
  return (FAMILIES as Record<string, ModelFamily>)[key];
}

/**
 * The family a checkpoint most likely is. Hugging Face families by model_type, the variant by hidden size (Qwen2.5
 * 1.5B: 1536, Qwen3 1.7B: 2048; the smaller otherwise, tiny test models included); SmolLM2 is a Llama config with
 * SmolLM's 49152-token vocabulary. Otherwise Llama 3 vocabulary or scaled RoPE -> llama3_2; else stories.
 */
export function inferFamily(c: ModelConfig): LlamaModel | HfDecoderModel {
  switch (c.arch?.modelType) {
    case "qwen2":
      return c.dim >= 1536 ? "qwen2_5-1_5b" : "qwen2_5-0_5b";
    case "qwen3":
      return c.dim >= 2048 ? "qwen3-1_7b" : "qwen3-0_6b";
    case "smollm3":
      return "smollm3-3b";
    case "phi3":
      return "phi_4_mini";
    case "gemma3_text":
      return "gemma3-1b";
    default:
      break;
  }
  if (c.vocabSize === 49152) return "smollm2_135m";
  if (c.vocabSize >= 128000 || c.ropeScaling !== null || c.ropeTheta >= 500000) return "llama3_2";
  return c.dim <= 64 ? "stories260k" : "stories110m";
}
