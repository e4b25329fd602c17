// Owns the chat templates the current runner hard-codes (SPEC-2026 §7, `qnn_llama_runner.cpp:get_formatted_prompt`
// at executorch cff6f4dd), byte for byte, quirks included: Qwen3 and Gemma place the system block AFTER the user
// turn, SmolLM3's system block is never closed with <|im_end|>, SmolLM2 ends with a double newline, Qwen3 has no
// newline after `assistant` and no think block, Gemma2 ignores the system prompt. The template is applied to every
// turn of a conversation (a non-empty system block is repeated each turn). `[..]` parts appear only when the system
// prompt is non-empty. BOS is not part of the template (the tokenizer adds it on turn 1), except gemma4's literal <bos>.

export type ChatTemplateName =
  | "llama2" | "llama3" | "qwen2_5" | "codegen" | "gemma" | "gemma2" | "gemma3" | "gemma4" | "granite" | "phi_4_mini"
  | "qwen3" | "smollm2_135m" | "smollm3" | "glm";

export const CHAT_TEMPLATES: readonly ChatTemplateName[] = [
  "llama2", "llama3", "qwen2_5", "codegen", "gemma", "gemma2", "gemma3", "gemma4", "granite", "phi_4_mini", "qwen3", "smollm2_135m", "smollm3", "glm",
];

/** The formatted prompt of one turn: `prompt` {P} and `system` {S} ("" or undefined = no system block). */
export function formatChatPrompt(template: ChatTemplateName, prompt: string, system?: string): string {
  const P = prompt;
  const S = system ?? "";
  const has = S.length > 0;
  switch (template) {
    case "llama2":
    case "qwen2_5":
    case "codegen":
      return P;
    case "llama3":
      return (
        (has ? `<|start_header_id|>system<|end_header_id|>\n\n${S}<|eot_id|>` : "") +
        `<|start_header_id|>user<|end_header_id|>\n\n${P}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`
      );
    case "gemma":
    case "gemma3":
      // quirk: the system text comes after the model header.
      return `<start_of_turn>user\n${P}<end_of_turn>\n<start_of_turn>model\n` + (has ? `${S}<end_of_turn>\n` : "");
    case "gemma2":
      return `<start_of_turn>user\n${P}<end_of_turn>\n<start_of_turn>model\n`;
    case "gemma4":
      return `<bos>` + (has ? `<|turn>system\n${S}<turn|>\n` : "") + `<|turn>user\n${P}<turn|>\n<|turn>model\n`;
    case "granite":
      return (
        (has ? `<|start_of_role|>system<|end_of_role|>${S}<|end_of_text|>\n` : "") +
        `<|start_of_role|>user<|end_of_role|>${P}<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>`
      );
    case "phi_4_mini":
      return (has ? `<|system|>${S}<|end|>` : "") + `<|user|>${P}<|end|><|assistant|>`;
    case "qwen3":
      // quirk: system after user; no newline after `assistant`; no think block.
      return `<|im_start|>user\n${P}<|im_end|>\n` + (has ? `<|im_start|>system\n${S}<|im_end|>\n` : "") + `<|im_start|>assistant`;
    case "smollm2_135m":
      return (has ? `<|im_start|>system\n${S}<|im_end|>\n` : "") + `<|im_start|>user\n${P}<|im_end|>\n<|im_start|>assistant\n\n`;
    case "smollm3":
      // quirk: the system block is not closed with <|im_end|>.
      return (has ? `<|im_start|>system\n${S}\n\n` : "") + `<|im_start|>user\n${P}<|im_end|>\n<|im_start|>assistant\n`;
    case "glm":
      return `<|user|>\n${P}` + (has ? `<|system|>\n${S}` : "") + `<|assistant|>\n`;
  }
}

/** The stop token the runner adds to the tokenizer's EOS for a template's family (SPEC-2026 §5.3), by its text. */
export function extraStopToken(template: ChatTemplateName): string | null {
  switch (template) {
    case "llama3":
      return "<|eot_id|>";
    case "phi_4_mini":
      return "<|end|>";
    case "qwen3":
    case "smollm2_135m":
    case "smollm3":
      return "<|im_end|>";
    case "gemma":
    case "gemma2":
    case "gemma3":
      return "<end_of_turn>";
    case "gemma4":
      return "<turn|>";
    case "codegen":
      return "<|endoftext|>";
    case "glm":
      return "<|user|>";
    default:
      return null;
  }
}
