// Owns the Llama 3 pre-tokenizer split pattern: the regular expression that cuts text into pieces before BPE,
// rewritten so that Node 20's RegExp gives exactly the matches of the original.
//
// The original (Meta llama-models `tokenizer.py` `pat_str`, the same as OpenAI's cl100k_base pattern; OpenAI
// tiktoken runs it with the Rust `fancy-regex` crate, a backtracking, leftmost-first engine):
//
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// Two things in it do not carry over to JavaScript as written:
//
// 1. `(?i:...)`, a case-insensitive group. Node 20 (V8 11.3) has no inline modifiers, and an `i` flag on the whole
//    RegExp would also change the rest of the pattern. So each letter of the contractions is spelled out as the
//    class of the characters it matches under Unicode simple case folding, which is what the original engines use:
//    s -> [sSſ] (U+017F LATIN SMALL LETTER LONG S folds to "s"), and t, r, e, v, m, l, d -> just their two ASCII
//    cases (no other code point folds to them). The apostrophe is only U+0027. Keeping the seven alternatives in
//    the original order keeps leftmost-first alternation identical: `'(?i:re)` and `'[rR][eE]` accept exactly the
//    same strings, and so on for each alternative.
// 2. `\s` / `\S`. In fancy-regex (Rust `regex` in Unicode mode) and in Python's `regex` module, `\s` is the
//    Unicode White_Space property. JavaScript's `\s` differs: it adds U+FEFF (BOM) and lacks U+0085 (NEL). So `\s`
//    is written `\p{White_Space}` and `\S` is written `\P{White_Space}`, which the `u` flag supports.
//
// Everything else is kept as is: `\p{L}` / `\p{N}` (general categories; they need the `u` flag, which also makes
// the RegExp match by code point like the Rust engine does on UTF-8), the greedy quantifiers, `{1,3}`, and the
// negative lookahead `(?!...)` (JavaScript backtracks into `\s+` exactly as fancy-regex does). The only residual
// difference is the Unicode version of the property tables (Node's ICU vs the Rust crate), which matters only for
// characters assigned in the most recent Unicode versions.
//
// Checked in test/tokenizer/tiktoken.test.ts: splits of tricky strings equal those of the original pattern run by
// Python's `regex` module, and whole encodings equal OpenAI tiktoken's ids.

/** The original pattern string, as Meta's tokenizer.py and the reference ids (tiktoken 0.14) use it. */
export const LLAMA3_PATTERN_ORIGINAL =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** The same pattern in JavaScript syntax (compile with the `u` flag; see the header comment). */
export const LLAMA3_PATTERN_SOURCE = [
  "'[sS\\u017F]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]",
  "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+",
  "\\p{N}{1,3}",
  " ?[^\\p{White_Space}\\p{L}\\p{N}]+[\\r\\n]*",
  "\\p{White_Space}*[\\r\\n]+",
  "\\p{White_Space}+(?!\\P{White_Space})",
  "\\p{White_Space}+",
].join("|");

/** A fresh global RegExp for the Llama 3 split (global RegExps carry `lastIndex`, so each user gets its own). */
export function llama3SplitRegExp(): RegExp {
  return new RegExp(LLAMA3_PATTERN_SOURCE, "gu");
}

/** The pieces the Llama 3 pattern cuts `text` into (tiktoken's `find_iter` over the pattern). */
export function llama3Split(text: string): string[] {
  return Array.from(text.matchAll(llama3SplitRegExp()), (m) => m[0]);
}
