// Owns turning token ids back into text for any Tokenizer: a streaming UTF-8 decoder that keeps
// multi-byte characters whole when their bytes arrive in separate byte-fallback tokens.
import type { Tokenizer } from "./types.js";

/** Incremental id-to-text decoder. */
export interface StreamDecoder {
  /** Text that became complete after `token` (which follows `prev`); may be "" while a character is split. */
  push(prev: number, token: number): string;
  /** Ends the stream: returns any held-back text (an incomplete character becomes U+FFFD). */
  flush(): string;
}

/** A streaming decoder over `tok.decodeBytes`, holding back incomplete UTF-8 sequences. */
export function createStreamDecoder(tok: Tokenizer): StreamDecoder {
  // ignoreBOM: a U+FEFF at the start of the output is text the model produced, not a byte-order mark to strip.
  const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
  return {
    push(prev: number, token: number): string {
      return utf8.decode(tok.decodeBytes(prev, token), { stream: true });
    },
    flush(): string {
      return utf8.decode();
    },
  };
}

/**
 * Decodes a whole id sequence: each id is decoded as following the id before it, and the first as following
 * `firstPrev` (default -1: none). Every id is printed, a BOS too (the runner never prints its own leading BOS:
 * to get its text for `[BOS, ...rest]`, call `decodeAll(tok, rest, BOS)`).
 */
export function decodeAll(tok: Tokenizer, ids: readonly number[], firstPrev = -1): string {
  const dec = createStreamDecoder(tok);
  let out = "";
  let prev = firstPrev;
  for (const id of ids) {
    out += dec.push(prev, id);
    prev = id;
  }
  return out + dec.flush();
}
