// Owns prompt assembly (SPEC §6): the ids the runner feeds, for every command that runs the flow (run, parity,
// quant-report). Llama 2 / stories: the prompt verbatim with one BOS in front. Llama 3: the chat template (a
// system block only with a system prompt), special tokens recognised, one BOS. A tokenized prompt is used
// verbatim (no BOS added). `--fold_vocab` folds ids at or above the model's vocabulary to id mod V.
import { encodeText } from "../tokenizer/encode.js";
import { llama3ChatPrompt } from "../tokenizer/llama3-special.js";
import type { Tokenizer } from "../tokenizer/types.js";
import { UserError } from "../util/errors.js";
import type { ModelFamily } from "./model-family.js";
import { extraStopToken, formatChatPrompt } from "./chat-template.js";
import { checkPromptIds } from "./session.js";

export interface PromptInput {
  family: ModelFamily;
  /** Needed unless `tokenizedIds` is given. */
  tokenizer?: Tokenizer;
  prompt: string;
  systemPrompt?: string;
  /** `--tokenized_prompt`: ids used verbatim. */
  tokenizedIds?: number[];
  foldVocab: boolean;
  vocabSize: number;
  /** Put the BOS in front (default true; a later turn of a conversation has none: SPEC-2026 §7). */
  bos?: boolean;
}

export interface AssembledPrompt {
  /** The ids as fed. */
  ids: number[];
  /** The text the runner prints before the generated text ("" for a tokenized prompt). */
  text: string;
  /** Things the user should be told (e.g. an ignored flag), one line each. */
  notes: string[];
}

/** --fold_vocab: ids at or above the model's vocabulary are folded to id mod V (for small test models). */
export function foldIds(ids: number[], vocabSize: number, fold: boolean): number[] {
  return fold ? ids.map((t) => t % vocabSize) : ids;
}

/** Llama 3 prompts need the tiktoken tokenizer (its chat template's special tokens). */
export function requireLlama3Tokenizer(tok: Tokenizer): void {
  if (tok.kind !== "tiktoken") throw new UserError(`--llama_model llama3_2 needs the Llama 3 tiktoken tokenizer.model (got a ${tok.kind} tokenizer)`);
}

export function assemblePrompt(p: PromptInput): AssembledPrompt {
  const fold = (ids: number[]) => {
    const folded = foldIds(ids, p.vocabSize, p.foldVocab);
    checkPromptIds(folded, p.vocabSize);
    return folded;
  };
  if (p.tokenizedIds !== undefined) return { ids: fold(p.tokenizedIds), text: "", notes: [] };
  const tok = p.tokenizer;
  if (!tok) throw new UserError("no tokenizer: give --tokenizer_bin / --tokenizer_model, or the prompt as ids with --tokenized_prompt");
  if (p.family.tokenizer === "hf-json") {
    // SPEC-2026 §7: the family's hard-coded template on every turn; the tokenizer's own BOS (if it has one) on turn 1.
    const text = formatChatPrompt(p.family.chat, p.prompt, p.systemPrompt);
    const bos = (p.bos ?? true) && tok.bosId >= 0;
    return { ids: fold(encodeText(tok, text, { bos, allowSpecial: true })), text, notes: [] };
  }
  if (p.family.name === "llama3_2") {
    requireLlama3Tokenizer(tok);
    const text = llama3ChatPrompt(p.prompt, p.systemPrompt);
    const bos = p.bos ?? true;
    return { ids: fold(encodeText(tok, text, { bos, allowSpecial: true })), text: (bos ? "<|begin_of_text|>" : "") + text, notes: [] };
  }
  const notes = p.systemPrompt !== undefined ? ["note: --system_prompt is ignored for Llama 2 / stories models (the prompt is used verbatim)"] : [];
  return { ids: fold([...((p.bos ?? true) ? [p.family.bos] : []), ...tok.encode(p.prompt)]), text: p.prompt, notes };
}

/**
 * Plain text (no chat template, special-token text not recognised) with one BOS — the tokenizer's own for
 * Llama 3, the family's otherwise: quant-report's evaluation and calibration texts.
 */
export function plainTextIds(family: ModelFamily, tok: Tokenizer, text: string, vocabSize: number, foldVocab: boolean): number[] {
  const ids =
    family.name === "llama3_2" || family.tokenizer === "hf-json" ? encodeText(tok, text, { bos: tok.bosId >= 0 }) : [family.bos, ...tok.encode(text)];
  return foldIds(ids, vocabSize, foldVocab);
}

/**
 * The runner's stop set (SPEC-2026 §5.3): the tokenizer's EOS ids plus the family's extra stop token (e.g. <|im_end|>
 * for Qwen3, <end_of_turn> for Gemma3) when the tokenizer has it as one special token.
 */
export function familyStops(family: ModelFamily, tok: Tokenizer): number[] {
  const stops = new Set(tok.eosIds);
  const extra = extraStopToken(family.chat);
  if (extra !== null && typeof (tok as Partial<{ encodeWithSpecial: unknown }>).encodeWithSpecial === "function") {
    const ids = encodeText(tok, extra, { allowSpecial: true });
    if (ids.length === 1) stops.add(ids[0]);
  }
  return [...stops];
}
