// Owns encoding with the options the runner and the tokenize command use, over any Tokenizer: BOS/EOS and
// whether special-token text (e.g. "<|eot_id|>") is recognised, which only tiktoken tokenizers support.
import { UserError } from "../util/errors.js";
import type { Tokenizer } from "./types.js";

export interface EncodeOptions {
  bos?: boolean;
  eos?: boolean;
  /** Recognise special tokens written in the text; otherwise the text is encoded as ordinary text. */
  allowSpecial?: boolean;
}

interface SpecialAware {
  encodeWithSpecial(text: string, o: { allowSpecial: boolean; bos?: boolean; eos?: boolean }): number[];
}

const isSpecialAware = (t: Tokenizer): t is Tokenizer & SpecialAware => typeof (t as Partial<SpecialAware>).encodeWithSpecial === "function";

export function encodeText(tok: Tokenizer, text: string, o: EncodeOptions = {}): number[] {
  if (o.allowSpecial) {
    if (!isSpecialAware(tok)) throw new UserError(`--allow_special: the ${tok.kind} tokenizer has no special tokens that can be written in text`);
    return tok.encodeWithSpecial(text, { allowSpecial: true, bos: o.bos, eos: o.eos });
  }
  return tok.encode(text, { bos: o.bos, eos: o.eos });
}
