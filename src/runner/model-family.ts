// Owns the model families of `--llama_model` (SPEC §1, §6): each family's BOS and stop tokens, and the
// inference of a family from a checkpoint's shape when the flag is not given.
import type { ModelConfig } from "../engine/config.js";

export type LlamaModel = "stories260k" | "stories110m" | "llama3_2";
export const LLAMA_MODELS: readonly LlamaModel[] = ["stories260k", "stories110m", "llama3_2"];

export interface ModelFamily {
  name: LlamaModel;
  bos: number;
  /** Stop set of the device runner. */
  stops: number[];
  /** Which tokenizer file the runner uses for this family. */
  tokenizer: "llama2c-bin" | "tiktoken";
}

export const FAMILIES: Record<LlamaModel, ModelFamily> = {
  stories260k: { name: "stories260k", bos: 1, stops: [2], tokenizer: "llama2c-bin" },
  stories110m: { name: "stories110m", bos: 1, stops: [2], tokenizer: "llama2c-bin" },
  // Llama 3: <|begin_of_text|> 128000; stop on <|end_of_text|> 128001 and <|eot_id|> 128009.
  llama3_2: { name: "llama3_2", bos: 128000, stops: [128001, 128009], tokenizer: "tiktoken" },
};

/** The family a checkpoint most likely is: Llama 3 vocabulary or scaled RoPE -> llama3_2; else stories. */
export function inferFamily(c: ModelConfig): LlamaModel {
  if (c.vocabSize >= 128000 || c.ropeScaling !== null || c.ropeTheta >= 500000) return "llama3_2";
  return c.dim <= 64 ? "stories260k" : "stories110m";
}
