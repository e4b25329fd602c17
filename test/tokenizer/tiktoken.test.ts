// Owns the tests of the tiktoken tokenizer (Llama 3 tokenizer.model format), the Llama 3 split pattern and the
// Llama 3 special tokens / chat template.
// Expected ids come from OpenAI tiktoken 0.14 only (test/fixtures/tokenizers_tiktoken.json). The expected pattern
// splits below were produced by running the ORIGINAL pattern (with its `(?i:...)` group and `\s`) in Python's
// `regex` module 2026.5.9, a backtracking engine with the same semantics as tiktoken's fancy-regex (`\s` =
// Unicode White_Space, `(?i)` = simple case folding); a few were also worked out by hand from the pattern (see
// the comments). js-tiktoken (an independent JS port of tiktoken) cross-checks the BPE merge on random text.
// The Llama 3 tokenizer.model is Meta-licensed and not in this repository: its tests run only when the shared
// copy exists next to the repository.
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Tiktoken } from "js-tiktoken/lite";
import { UserError } from "../../src/util/errors.js";
import {
  isTiktokenFile,
  loadTiktokenTokenizer,
  parseTiktokenTokenizer,
  type TiktokenTokenizer,
} from "../../src/tokenizer/tiktoken.js";
import { LLAMA3_PATTERN_ORIGINAL, LLAMA3_PATTERN_SOURCE, llama3Split } from "../../src/tokenizer/llama3-pattern.js";
import {
  LLAMA3_BOS_ID,
  LLAMA3_EOS_ID,
  LLAMA3_EOT_ID,
  LLAMA3_SPECIAL_TOKENS,
  LLAMA3_SPECIAL_TOKEN_NAMES,
  LLAMA3_STOP_IDS,
  llama3ChatPrompt,
} from "../../src/tokenizer/llama3-special.js";
import { createStreamDecoder, decodeAll } from "../../src/tokenizer/stream-decoder.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const FIXTURES = join(ROOT, "test", "fixtures");
const SMALL = join(FIXTURES, "tiktoken_small.model");
const LLAMA3 = join(ROOT, "..", "shared", "models", "llama3", "tokenizer.model");
const HAVE_LLAMA3 = existsSync(LLAMA3);
/** Why the Llama 3 tests skip: in their titles, and once in the test output. */
const LLAMA3_SKIP = HAVE_LLAMA3 ? "" : " (skipped: needs ../shared/models/llama3/tokenizer.model, Meta's Llama 3 tokenizer, not in this repository)";
if (LLAMA3_SKIP) console.info(`Llama 3 tokenizer tests${LLAMA3_SKIP}`);

interface TiktokenSection {
  encode_ordinary: number[][];
  n_ranks: number;
  chat_template_allowed_all?: number[];
  pattern?: string;
}
const ref = JSON.parse(readFileSync(join(FIXTURES, "tokenizers_tiktoken.json"), "utf8")) as {
  strings: string[];
  "tiktoken:llama3": TiktokenSection;
  "tiktoken:tiktoken_small": TiktokenSection;
};
const STRINGS = ref.strings;
const EOT_LITERAL = STRINGS.indexOf("<|eot_id|> literal");

let smallCache: TiktokenTokenizer | undefined;
const small = (): TiktokenTokenizer => (smallCache ??= loadTiktokenTokenizer(SMALL));
let llama3Cache: TiktokenTokenizer | undefined;
const llama3 = (): TiktokenTokenizer => (llama3Cache ??= loadTiktokenTokenizer(LLAMA3, { expectedVocabSize: 128256 }));

const SMALL_BYTES = new Uint8Array(readFileSync(SMALL));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The error a call throws (fails the test if it throws nothing). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error");
}

/** Asserts a one-line UserError naming the path (and the line, when given). */
function expectUserError(f: () => unknown, path: string, line?: number): string {
  const e = thrown(f);
  expect(e).toBeInstanceOf(UserError);
  const msg = (e as Error).message;
  expect(msg).not.toContain("\n");
  expect(msg.startsWith(`tokenizer ${path}: `)).toBe(true);
  if (line !== undefined) expect(msg).toContain(`line ${line}: `);
  return msg;
}

// Seeded xorshift32, for reproducible random tests.
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

// Splits of the original pattern, from Python `regex` 2026.5.9 (see the header). Checked by hand as well:
// "hello   world" -> `\s+(?!\S)` backtracks to leave the last space for " world"; "'\u017ft": U+017F (long s)
// folds to "s", so "'\u017f" is a contraction; "12345678" -> runs of at most three digits; "a\r\n\r\nb" -> the
// line ends stay together through `\s*[\r\n]+`; "x  " -> trailing spaces are one piece.
const SPLIT_CASES: [string, string[]][] = [
  ["'S", ["'S"]],
  ["'s", ["'s"]],
  ["'LL", ["'LL"]],
  ["'lL", ["'lL"]],
  ["'Re", ["'Re"]],
  ["'rE", ["'rE"]],
  ["'VE", ["'VE"]],
  ["'M", ["'M"]],
  ["'D", ["'D"]],
  ["'T", ["'T"]],
  ["I'M HERE", ["I", "'M", " HERE"]],
  ["DON'T", ["DON", "'T"]],
  ["we'Ve they'RE", ["we", "'Ve", " they", "'RE"]],
  ["it'S'd", ["it", "'S", "'d"]],
  ["'\u017ft", ["'\u017f", "t"]],
  ["'x", ["'x"]],
  ["''s", ["''", "s"]], // the punctuation run "''" wins over the contraction at offset 1
  ["'", ["'"]],
  ["'ll've", ["'ll", "'ve"]],
  ["1", ["1"]],
  ["12", ["12"]],
  ["123", ["123"]],
  ["1234", ["123", "4"]],
  ["12345678", ["123", "456", "78"]],
  ["a1234b", ["a", "123", "4", "b"]],
  ["\u0661\u0662\u0663\u0664", ["\u0661\u0662\u0663", "\u0664"]],
  ["\u00bd\u2153x", ["\u00bd\u2153", "x"]],
  ["3.14", ["3", ".", "14"]],
  ["a\r\nb", ["a", "\r\n", "b"]],
  ["a\r\n\r\nb", ["a", "\r\n\r\n", "b"]],
  ["  \r\n  x", ["  \r\n", " ", " x"]],
  ["x\r\n", ["x", "\r\n"]],
  ["\r\r\n\n", ["\r\r\n\n"]],
  ["a\nb\r", ["a", "\n", "b", "\r"]],
  ["hello   ", ["hello", "   "]],
  ["hello   world", ["hello", "  ", " world"]],
  ["a \n b", ["a", " \n", " b"]],
  [" \t x", [" \t", " x"]],
  ["x  ", ["x", "  "]],
  ["   ", ["   "]],
  ["\t\t\tdef", ["\t\t", "\tdef"]],
  ["!!!\n\n", ["!!!\n\n"]],
  [" ?!\r\n", [" ?!\r\n"]],
  ["...abc", ["...", "abc"]],
  ["$100", ["$", "100"]],
  [" (x)", [" (", "x", ")"]],
  ["a--b", ["a", "--", "b"]],
  ["a\u0085b", ["a", "\u0085b"]],
  ["a\u0085 b", ["a", "\u0085", " b"]],
  [" \u0085x", [" ", "\u0085x"]],
  ["a\u0085\n", ["a", "\u0085\n"]],
  ["a\u00a0 b", ["a", "\u00a0", " b"]],
  ["a\ufeffb", ["a", "\ufeffb"]],
  ["a \ufeffb", ["a", " \ufeff", "b"]],
  ["a\u3000\u3000b", ["a", "\u3000", "\u3000b"]],
  ["\u2028x", ["\u2028x"]],
  ["nai\u0308ve", ["nai", "\u0308ve"]],
  ["na\u00efve", ["na\u00efve"]],
  ["\u4f60\u597d\uff0c\u4e16\u754c", ["\u4f60\u597d", "\uff0c\u4e16\u754c"]],
  ["\ud83d\ude42\ud83d\udc4d\ud83c\udffd x", ["\ud83d\ude42\ud83d\udc4d\ud83c\udffd", " x"]],
  ["<|eot_id|> literal", ["<|", "eot", "_id", "|>", " literal"]],
  ["x\u000b\u000cy", ["x", "\u000b", "\u000cy"]],
];
// Random strings over an alphabet of tricky characters (Python `random.Random(20240611)`), same oracle.
const SPLIT_RANDOM: [string, string[]][] = [
  ["\u00bd\u03080d\u0661R2\ufeff\u00e9  20Zm\u0085\u00a0\u2019-L  ", ["\u00bd", "\u0308", "0", "d", "\u0661", "R", "2", "\ufeff\u00e9", " ", " ", "20", "Zm", "\u0085", "\u00a0", "\u2019-", "L", "  "]],
  ["51", ["51"]],
  ["\u2019\u00a0-TELZv aM\u2019\u2019\u00bd54V\u00bd8_\u00a0\u3000>2", ["\u2019", "\u00a0", "-TELZv", " aM", "\u2019\u2019", "\u00bd54", "V", "\u00bd8", "_", "\u00a0", "\u3000", ">", "2"]],
  ["\ud83d\ude42M\u017f\ufeffS\u2028!d2D3m\ud83d\ude42V", ["\ud83d\ude42M\u017f", "\ufeffS", "\u2028", "!d", "2", "D", "3", "m", "\ud83d\ude42V"]],
  ["R6\u00a0S\u00bd  >\u017f3Z0\u00bd\u0085\r42l>", ["R", "6", "\u00a0S", "\u00bd", " ", " >", "\u017f", "3", "Z", "0\u00bd", "\u0085\r", "42", "l", ">"]],
  ["\ufeff70\u4e16\r\nSL!-E\u00a0S\u0661>", ["\ufeff", "70", "\u4e16", "\r\n", "SL", "!-", "E", "\u00a0S", "\u0661", ">"]],
  ["'\ufeff\u0308\u3000 \u0085V\ra0\ud83d\ude42.ZMM\ud83d\ude4222\u0308\r\u3000\u00bd", ["'\ufeff\u0308", "\u3000 ", "\u0085V", "\r", "a", "0", "\ud83d\ude42.", "ZMM", "\ud83d\ude42", "22", "\u0308\r", "\u3000", "\u00bd"]],
  ["\u0085s,\u0308Rt\u2028d  \u00bd\u0308\u4e16da", ["\u0085s", ",\u0308", "Rt", "\u2028d", " ", " ", "\u00bd", "\u0308\u4e16da"]],
  ["\u30008d__rTM\u017f 1783St'me\t", ["\u3000", "8", "d", "__", "rTM\u017f", " ", "178", "3", "St", "'m", "e", "\t"]],
  ["\u00855EE'_S\u2028\r\n\u00bd,S\ufeff7\u0661\u00e9\u0661\u4e160\u00a0", ["\u0085", "5", "EE", "'_", "S", "\u2028\r\n", "\u00bd", ",S", "\ufeff", "7\u0661", "\u00e9", "\u0661", "\u4e16", "0", "\u00a0"]],
  ["\u0661t32\r\n5l\u0085'a2\ufeffveV R\r\n5\u0308\u2028-\u017f", ["\u0661", "t", "32", "\r\n", "5", "l", "\u0085", "'a", "2", "\ufeffveV", " R", "\r\n", "5", "\u0308", "\u2028", "-\u017f"]],
  ["1- ", ["1", "-", " "]],
  ["\u4e16DT_s5!9.<\u3000\u2019\u2019\u4e16", ["\u4e16DT", "_s", "5", "!", "9", ".<", "\u3000", "\u2019\u2019", "\u4e16"]],
  ["5\ufeff.e\u017fT\r\n\u2019", ["5", "\ufeff.", "e\u017fT", "\r\n", "\u2019"]],
  ["\nmE\u3000632\u00a0v\u0308", ["\n", "mE", "\u3000", "632", "\u00a0v", "\u0308"]],
  ["\u4e16>\u00bd8\u2028ZMal\ud83d\ude422\u4e16!r", ["\u4e16", ">", "\u00bd8", "\u2028ZMal", "\ud83d\ude42", "2", "\u4e16", "!r"]],
  ["-1\ufeffM\r86\rZ_S", ["-", "1", "\ufeffM", "\r", "86", "\r", "Z", "_S"]],
  ["\u00bd_\u4e16,\u017fl7E_Zs\rDS\u00bd5|'v\u4e16a\u3000\u0085\u00a0", ["\u00bd", "_\u4e16", ",\u017fl", "7", "E", "_Zs", "\r", "DS", "\u00bd5", "|'", "v\u4e16a", "\u3000\u0085\u00a0"]],
  ["'EE\u0661d  \u06613s\u0661<e_la", ["'EE", "\u0661", "d", " ", " ", "\u06613", "s", "\u0661", "<e", "_la"]],
  ["R'l,\u00bd\u00e9 \t2\ufeff1", ["R", "'l", ",", "\u00bd", "\u00e9", " ", "\t", "2", "\ufeff", "1"]],
  ["2Vr4!1\u00a0e_", ["2", "Vr", "4", "!", "1", "\u00a0e", "_"]],
  ["\r\na9\u017f 4t\u00a0\ufeff", ["\r\n", "a", "9", "\u017f", " ", "4", "t", "\u00a0", "\ufeff"]],
  ["|\u00e94\u30006\r\nd\u00bd", ["|\u00e9", "4", "\u3000", "6", "\r\n", "d", "\u00bd"]],
  ["'e8.\ud83d\ude4298?\u00bd\u4e16", ["'e", "8", ".\ud83d\ude42", "98", "?", "\u00bd", "\u4e16"]],
  [" \ud83d\ude42,<\u0085_\u2019a\u00bd|!L", [" \ud83d\ude42,<", "\u0085", "_\u2019", "a", "\u00bd", "|!", "L"]],
  ["  ae", [" ", " ae"]],
  ["\u0085", ["\u0085"]],
  ["5\u00a0a\ud83d\ude42\u20194_E.D\ufeff\u2019TeZ\u0085L\u017f", ["5", "\u00a0a", "\ud83d\ude42\u2019", "4", "_E", ".D", "\ufeff\u2019", "TeZ", "\u0085L\u017f"]],
  ["St\u017f1rm\u2028-9 \u3000\u4e16-R|", ["St\u017f", "1", "rm", "\u2028", "-", "9", " ", "\u3000\u4e16", "-R", "|"]],
  ["\t\u0308'", ["\t", "\u0308'"]],
  ["l\u066147\u4e16\ufeff\r\u4e16\u017f.0\n\u4e16\t\u00bdt\u4e16\t\u017f92\t", ["l", "\u066147", "\u4e16", "\ufeff\r", "\u4e16\u017f", ".", "0", "\n", "\u4e16", "\t", "\u00bd", "t\u4e16", "\t\u017f", "92", "\t"]],
  ["l!?8?  a1v\u30008\u2019>01\ufeff\r.", ["l", "!?", "8", "?", " ", " a", "1", "v", "\u3000", "8", "\u2019>", "01", "\ufeff\r", "."]],
  ["R\u017f<e87,\u017f  \u2028v", ["R\u017f", "<e", "87", ",\u017f", "  ", "\u2028v"]],
  ["13e\ufeffM\r\n9rE'\u0085\u017fa>V", ["13", "e", "\ufeffM", "\r\n", "9", "rE", "'", "\u0085\u017fa", ">V"]],
  ["\u3000\rs?\u0661", ["\u3000\r", "s", "?", "\u0661"]],
  ["\u0085-8s9\u2028\u2028Z<L\u3000\u2028\u0308mdva>49\r\nT", ["\u0085", "-", "8", "s", "9", "\u2028", "\u2028Z", "<L", "\u3000", "\u2028", "\u0308mdva", ">", "49", "\r\n", "T"]],
  ["\u30000\u0308>.7L|VE", ["\u3000", "0", "\u0308>.", "7", "L", "|VE"]],
  ["L\n\u017f6d2?", ["L", "\n", "\u017f", "6", "d", "2", "?"]],
  ["v5 -tE, <\r\nr.L<0dr", ["v", "5", " -", "tE", ",", " <\r\n", "r", ".L", "<", "0", "dr"]],
  ["72L\ud83d\ude42\nS\ud83d\ude42", ["72", "L", "\ud83d\ude42\n", "S", "\ud83d\ude42"]],
  [",m\u00e98\u00e90Rvd4v\u4e16R\u00e9s", [",m\u00e9", "8", "\u00e9", "0", "Rvd", "4", "v\u4e16R\u00e9s"]],
  ["4\r8'\ufeff", ["4", "\r", "8", "'\ufeff"]],
  ["50taS7?\u0085Z3\u00bd\u00e9.,\u0085Z\u3000\n\u00e96", ["50", "taS", "7", "?", "\u0085Z", "3\u00bd", "\u00e9", ".,", "\u0085Z", "\u3000\n", "\u00e9", "6"]],
  ["\u00e9\u00e9s a54Z\u00e9\u2028Z\u017f\ta7mS \r\nM!", ["\u00e9\u00e9s", " a", "54", "Z\u00e9", "\u2028Z\u017f", "\ta", "7", "mS", " \r\n", "M", "!"]],
  ["|  ", ["|", "  "]],
  ["0S\u0085v8", ["0", "S", "\u0085v", "8"]],
  ["\u3000S4\ud83d\ude42\r\ns!  ", ["\u3000S", "4", "\ud83d\ude42\r\n", "s", "!", "  "]],
  ["_T\u00bdlv\u30006\u3000L\u00e9\u00a0>S.", ["_T", "\u00bd", "lv", "\u3000", "6", "\u3000L\u00e9", "\u00a0", ">S", "."]],
  ["\u30008\tZ2\u20196t\u2019'L\u00a0>_", ["\u3000", "8", "\tZ", "2", "\u2019", "6", "t", "\u2019'", "L", "\u00a0", ">_"]],
  ["  SLr\r\n1\u2028V\u0308\ne02\ufeffL05", [" ", " SLr", "\r\n", "1", "\u2028V", "\u0308\n", "e", "02", "\ufeffL", "05"]],
  ["Lt2\u00e9>  s43D90ve\u0308Z", ["Lt", "2", "\u00e9", ">", " ", " s", "43", "D", "90", "ve", "\u0308Z"]],
  ["|\u00bd\n159\u0085\u2028Ve\u2019L6\n,S2V", ["|", "\u00bd", "\n", "159", "\u0085", "\u2028Ve", "\u2019L", "6", "\n", ",S", "2", "V"]],
  ["1R", ["1", "R"]],
  ["\ufeff\u0661\u2028s\u3000<MS2T\u00e99", ["\ufeff", "\u0661", "\u2028s", "\u3000", "<MS", "2", "T\u00e9", "9"]],
  ["\u00a0\r  !\u3000  L< _'\tdD?\u201977", ["\u00a0\r", " ", " !", "\u3000 ", " L", "<", " _'", "\tdD", "?\u2019", "77"]],
  ["\t\u2028Mm87.Z\u017f\u00bd\u00e9", ["\t", "\u2028Mm", "87", ".Z\u017f", "\u00bd", "\u00e9"]],
  ["0r\ud83d\ude42R'v7a85", ["0", "r", "\ud83d\ude42R", "'v", "7", "a", "85"]],
  ["\u0661 \u008593800", ["\u0661", " ", "\u0085", "938", "00"]],
  ["\u00bd  v\u0085-64L.", ["\u00bd", " ", " v", "\u0085", "-", "64", "L", "."]],
  ["\ufeff\u017f>\tL><R\u00e9vRDr\u4e16\n' \u017fDre", ["\ufeff\u017f", ">", "\tL", "><", "R\u00e9vRDr\u4e16", "\n", "'", " \u017fDre"]],
];

describe("Llama 3 split pattern", () => {
  it("documents the same original pattern the reference ids were made with", () => {
    expect(LLAMA3_PATTERN_ORIGINAL).toBe(ref["tiktoken:llama3"].pattern);
  });

  it.each(SPLIT_CASES)("splits %j like the original pattern", (text, pieces) => {
    expect(llama3Split(text)).toEqual(pieces);
  });

  it("splits random strings of tricky characters like the original pattern", () => {
    for (const [text, pieces] of SPLIT_RANDOM) expect(llama3Split(text), JSON.stringify(text)).toEqual(pieces);
  });

  it("needs the rewrite: JavaScript's own \\s and a plain [sS] would split some of these differently", () => {
    const naive = new RegExp(
      "'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|" +
        " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      "gu",
    );
    const split = (s: string) => Array.from(s.matchAll(naive), (m) => m[0]);
    const differ = [...SPLIT_CASES, ...SPLIT_RANDOM].filter(([t, p]) => JSON.stringify(split(t)) !== JSON.stringify(p));
    expect(differ.map(([t]) => t)).toEqual(expect.arrayContaining(["'\u017ft", " \u0085x", "a \ufeffb"]));
  });

  it("the pieces tile the text (no character is skipped)", () => {
    for (const [text] of [...SPLIT_CASES, ...SPLIT_RANDOM]) expect(llama3Split(text).join("")).toBe(text);
  });
});

describe("Llama 3 special tokens and chat template", () => {
  it("has 256 distinct names with the Llama 3.1/3.2 ids", () => {
    expect(LLAMA3_SPECIAL_TOKEN_NAMES).toHaveLength(256);
    expect(new Set(LLAMA3_SPECIAL_TOKEN_NAMES).size).toBe(256);
    for (const name of LLAMA3_SPECIAL_TOKEN_NAMES) expect(name).toMatch(/^<\|[a-z0-9_]+\|>$/);
    const expected: [number, string][] = [
      [128000, "<|begin_of_text|>"],
      [128001, "<|end_of_text|>"],
      [128002, "<|reserved_special_token_0|>"],
      [128003, "<|reserved_special_token_1|>"],
      [128004, "<|finetune_right_pad_id|>"],
      [128005, "<|reserved_special_token_2|>"],
      [128006, "<|start_header_id|>"],
      [128007, "<|end_header_id|>"],
      [128008, "<|eom_id|>"],
      [128009, "<|eot_id|>"],
      [128010, "<|python_tag|>"],
      [128011, "<|reserved_special_token_3|>"],
      [128012, "<|reserved_special_token_4|>"],
      [128254, "<|reserved_special_token_246|>"],
      [128255, "<|reserved_special_token_247|>"],
    ];
    for (const [id, name] of expected) expect(LLAMA3_SPECIAL_TOKENS.get(name)).toBe(id);
    expect([LLAMA3_BOS_ID, LLAMA3_EOS_ID, LLAMA3_EOT_ID]).toEqual([128000, 128001, 128009]);
    expect(LLAMA3_STOP_IDS).toEqual([128001, 128009]);
  });

  it("builds SPEC §6's template text", () => {
    expect(llama3ChatPrompt("what is 1+1")).toBe(
      "<|start_header_id|>user<|end_header_id|>\n\nwhat is 1+1<|eot_id|>" +
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
    );
    expect(llama3ChatPrompt("hi", "Be brief.")).toBe(
      "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
        "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    );
    // An empty system prompt is no system prompt (the runner's flag defaults to ""); text is kept verbatim.
    expect(llama3ChatPrompt(" x ", "")).toBe(llama3ChatPrompt(" x "));
    expect(llama3ChatPrompt(" x ")).toContain("\n\n x <|eot_id|>");
  });
});

describe("tiktoken file detection", () => {
  it("recognises tiktoken files by their first line", () => {
    expect(isTiktokenFile(SMALL_BYTES.subarray(0, 4096))).toBe(true);
    expect(isTiktokenFile(enc("IQ== 0\r\nIg== 1\r\n"))).toBe(true);
    expect(isTiktokenFile(enc("SGVsbG8= 42"))).toBe(true);
  });

  it.skipIf(!HAVE_LLAMA3)(`recognises the Llama 3 tokenizer.model${LLAMA3_SKIP}`, () => {
    expect(isTiktokenFile(new Uint8Array(readFileSync(LLAMA3)).subarray(0, 4096))).toBe(true);
  });

  it("rejects llama2.c tokenizer.bin, SentencePiece protobuf and other bytes", () => {
    const tok512 = new Uint8Array(readFileSync(join(ROOT, "models", "tok512.bin")));
    expect(isTiktokenFile(tok512.subarray(0, 4096))).toBe(false);
    // A SentencePiece ModelProto starts with field 1 (pieces), wire type 2: 0x0a, length, then the piece message.
    const protobuf = Uint8Array.of(0x0a, 0x0b, 0x0a, 0x05, 0x3c, 0x75, 0x6e, 0x6b, 0x3e, 0x15, 0, 0, 0, 0);
    expect(isTiktokenFile(protobuf)).toBe(false);
    const spm = join(ROOT, "..", "shared", "models", "tok512.model");
    if (existsSync(spm)) expect(isTiktokenFile(new Uint8Array(readFileSync(spm)).subarray(0, 4096))).toBe(false);
    const notTiktoken = ["", "\n", "IQ==", "IQ== ", "IQ== x", "IQ 0", "IQ==  0", " IQ== 0", "I Q== 0", "hello world\n", "{}"];
    for (const s of notTiktoken) {
      expect(isTiktokenFile(enc(s)), JSON.stringify(s)).toBe(false);
    }
  });
});

/** Reference-id checks shared by both files. */
function referenceTests(name: "tiktoken:llama3" | "tiktoken:tiktoken_small", tok: () => TiktokenTokenizer): void {
  const section = ref[name];
  it.each(STRINGS.map((s, i) => [s, i] as const))("encodes %j to tiktoken's ids", (s, i) => {
    expect(tok().encode(s)).toEqual(section.encode_ordinary[i]);
    expect(tok().encodeWithSpecial(s, { allowSpecial: false })).toEqual(section.encode_ordinary[i]);
  });

  it("has the reference's number of ranks, plus 256 special tokens", () => {
    expect(tok().numRanks).toBe(section.n_ranks);
    expect(tok().vocabSize).toBe(section.n_ranks + 256);
    expect(tok().bosId).toBe(section.n_ranks);
    expect(tok().eosIds).toEqual([section.n_ranks + 1, section.n_ranks + 9]);
  });

  it("decodes every string back, streaming, without U+FFFD in the middle of a character", () => {
    for (const [i, s] of STRINGS.entries()) {
      const ids = section.encode_ordinary[i];
      expect(decodeAll(tok(), ids)).toBe(s);
      const dec = createStreamDecoder(tok());
      let out = "";
      let prev = tok().bosId;
      for (const id of ids) {
        const part = dec.push(prev, id);
        expect(part).not.toContain("\ufffd");
        out += part;
        prev = id;
      }
      expect(out + dec.flush()).toBe(s);
    }
  });

  it("treats special-token text as ordinary text unless allowed", () => {
    const ordinary = section.encode_ordinary[EOT_LITERAL];
    expect(tok().encode("<|eot_id|> literal")).toEqual(ordinary);
    expect(tok().encodeWithSpecial("<|eot_id|> literal", { allowSpecial: false })).toEqual(ordinary);
    const eot = tok().numRanks + 9;
    const allowed = tok().encodeWithSpecial("<|eot_id|> literal", { allowSpecial: true });
    expect(allowed).toEqual([eot, ...tok().encode(" literal")]);
  });
}

describe("tiktoken_small.model (2,000 ranks)", () => {
  referenceTests("tiktoken:tiktoken_small", small);

  it("shows pieces readably: text, <0xNN> for bytes that are not whole characters, names for special tokens", () => {
    const tok = small();
    expect(tok.piece(72)).toBe("H");
    expect(tok.piece(0xe4)).toBe("<0xE4>");
    expect(tok.piece(2000)).toBe("<|begin_of_text|>");
    expect(tok.piece(2255)).toBe("<|reserved_special_token_247|>");
    expect(Array.from(tok.pieceBytes(2009))).toEqual(Array.from(enc("<|eot_id|>")));
    expect(() => tok.piece(2256)).toThrow(/out of range/);
    expect(() => tok.decodeBytes(0, -1)).toThrow(/out of range/);
  });

  it("adds BOS/EOS only when asked; decodeBytes never strips a space (prev is ignored)", () => {
    const tok = small();
    expect(tok.encode("Hello world", { bos: true, eos: true })).toEqual([2000, 72, 381, 111, 441, 307, 2001]);
    expect(tok.encode("")).toEqual([]);
    // A lone surrogate is encoded as U+FFFD would be.
    expect(tok.encode("a\ud800b \udfff")).toEqual(tok.encode("a\ufffdb \ufffd"));
    expect(tok.encode("", { bos: true })).toEqual([2000]);
    const spaceHello = ref["tiktoken:tiktoken_small"].encode_ordinary[1][0]; // " H..." starts with a space
    expect(new TextDecoder().decode(tok.decodeBytes(tok.bosId, spaceHello))).toMatch(/^ /);
    expect(new TextDecoder().decode(tok.decodeBytes(2009, 2006))).toBe("<|start_header_id|>");
  });

  it("with specialTokens 'none': 2,000 ids, no BOS, special text stays text", () => {
    const tok = parseTiktokenTokenizer(SMALL_BYTES, SMALL, { specialTokens: "none" });
    expect(tok.vocabSize).toBe(2000);
    expect(tok.bosId).toBe(-1);
    expect(tok.eosIds).toEqual([]);
    expect(tok.specialTokens.size).toBe(0);
    const ordinary = ref["tiktoken:tiktoken_small"].encode_ordinary[EOT_LITERAL];
    expect(tok.encodeWithSpecial("<|eot_id|> literal", { allowSpecial: true })).toEqual(ordinary);
    expectUserError(() => tok.encode("x", { bos: true }), SMALL);
  });

  it("checks the model's vocab_size", () => {
    expect(parseTiktokenTokenizer(SMALL_BYTES, SMALL, { expectedVocabSize: 2256 }).vocabSize).toBe(2256);
    const msg = expectUserError(() => parseTiktokenTokenizer(SMALL_BYTES, SMALL, { expectedVocabSize: 2000 }), SMALL);
    expect(msg).toContain("2256 tokens (2000 ranks + 256 special tokens)");
    expect(msg).toContain("vocab_size is 2000");
  });

  it("recognises special tokens anywhere when allowed, and encodes the text between them separately", () => {
    const tok = small();
    const text = "a\n\n<|eot_id|><|eot_id|>  <|start_header_id|>x<|reserved_special_token_17|><|not_special|><|eot_id";
    const ids = tok.encodeWithSpecial(text, { allowSpecial: true });
    const expected = [
      ...tok.encode("a\n\n"),
      2009,
      2009,
      ...tok.encode("  "),
      2006,
      ...tok.encode("x"),
      tok.specialTokens.get("<|reserved_special_token_17|>")!,
      ...tok.encode("<|not_special|><|eot_id"),
    ];
    expect(ids).toEqual(expected);
    expect(decodeAll(tok, ids)).toBe(text);
  });
});

describe.skipIf(!HAVE_LLAMA3)(`Llama 3 tokenizer.model (128,000 ranks)${LLAMA3_SKIP}`, () => {
  referenceTests("tiktoken:llama3", llama3);

  it("encodes the chat template with special tokens allowed to the reference ids, BOS once in front", () => {
    const text = llama3ChatPrompt("what is 1+1");
    const expected = ref["tiktoken:llama3"].chat_template_allowed_all!;
    expect(llama3().encodeWithSpecial(text, { allowSpecial: true })).toEqual(expected);
    expect(llama3().encodeWithSpecial(text, { allowSpecial: true, bos: true })).toEqual([128000, ...expected]);
    expect(decodeAll(llama3(), expected)).toBe(text);
    // Not allowed: the template's special tokens are just text.
    expect(llama3().encodeWithSpecial(text, { allowSpecial: false })).not.toContain(128009);
  });

  it("has vocabSize 128256 with ids 128000..128255 for the special tokens", () => {
    const tok = llama3();
    expect(tok.vocabSize).toBe(128256);
    expect([tok.bosId, ...tok.eosIds]).toEqual([LLAMA3_BOS_ID, ...LLAMA3_STOP_IDS]);
    for (const [name, id] of LLAMA3_SPECIAL_TOKENS) expect(tok.specialTokens.get(name)).toBe(id);
    expect(tok.piece(9906)).toBe("Hello");
    expect(tok.piece(128009)).toBe("<|eot_id|>");
    const bytes = new Uint8Array(readFileSync(LLAMA3));
    expectUserError(() => parseTiktokenTokenizer(bytes, LLAMA3, { expectedVocabSize: 128000 }), LLAMA3);
  });

  it("encodes 100 kB of text quickly (timing is printed, not asserted)", () => {
    const tok = llama3();
    const base = STRINGS.join(" ") + "\n" + readFileSync(join(ROOT, "README.md"), "utf8");
    const text = base.repeat(Math.ceil(100_000 / base.length)).slice(0, 100_000);
    let t0 = performance.now();
    const ids = tok.encode(text);
    const ms = performance.now() - t0;
    expect(decodeAll(tok, ids)).toBe(text);
    // Pathological pieces: one 100,000-letter word and 100,000 spaces (quadratic merges would take minutes).
    t0 = performance.now();
    const word = tok.encode("ab".repeat(50_000));
    const wordMs = performance.now() - t0;
    t0 = performance.now();
    const spaces = tok.encode(" ".repeat(100_000));
    const spacesMs = performance.now() - t0;
    expect(decodeAll(tok, word)).toBe("ab".repeat(50_000));
    expect(decodeAll(tok, spaces)).toBe(" ".repeat(100_000));
    console.log(
      `llama3 encode: 100 kB text -> ${ids.length} tokens in ${ms.toFixed(1)} ms; ` +
        `100k-letter word ${wordMs.toFixed(1)} ms; 100k spaces ${spacesMs.toFixed(1)} ms`,
    );
  });
});

/** A js-tiktoken encoder over the same ranks and the same (rewritten) pattern: an independent BPE to compare with. */
function jsTiktoken(bytes: Uint8Array, specials: ReadonlyMap<string, number>): Tiktoken {
  const lines = new TextDecoder().decode(bytes).split("\n").filter(Boolean);
  const tokens = lines.map((l) => l.split(" ")).sort((a, b) => Number(a[1]) - Number(b[1])).map((p) => p[0]);
  // js-tiktoken's compressed ranks format: "<name> <first rank> <base64> <base64> ..." (consecutive ranks).
  const bpeRanks = `x 0 ${tokens.join(" ")}`;
  return new Tiktoken({ pat_str: LLAMA3_PATTERN_SOURCE, special_tokens: Object.fromEntries(specials), bpe_ranks: bpeRanks });
}

const ALPHABET = [
  ..."aAbBeEsStTlLrRdDmMvVxyz'' 0123456789\t\n\r.,;:!?-_<|>()[]#*",
  "\u00a0", "\u0085", "\ufeff", "\u3000", "\u00e9", "e\u0301", "\u00ef", "\u4e16", "\u754c", "\uff0c", "\u0661",
  "\ud83d\ude42", "\ud83d\udc4d\ud83c\udffd", "\u017f", "  ", "\r\n",
  "<|eot_id|>", "<|start_header_id|>", "ing", "the ",
];
function randomText(next: () => number, maxLen: number): string {
  let s = "";
  const n = 1 + Math.floor(next() * maxLen);
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(next() * ALPHABET.length)];
  return s;
}

describe("cross-check with js-tiktoken", () => {
  it("tiktoken_small: random texts encode the same, with and without special tokens", () => {
    const tok = small();
    const js = jsTiktoken(SMALL_BYTES, tok.specialTokens);
    const next = rng(0x5eed);
    for (let i = 0; i < 400; i++) {
      const text = randomText(next, 60);
      expect(tok.encode(text), JSON.stringify(text)).toEqual(js.encode(text, [], []));
      expect(tok.encodeWithSpecial(text, { allowSpecial: true }), JSON.stringify(text)).toEqual(js.encode(text, "all"));
    }
    // Long pieces exercise many merge steps (js-tiktoken is quadratic there, so keep them moderate).
    for (const text of ["abracadabra".repeat(40), "thethethe".repeat(50), "x".repeat(700), " ".repeat(500) + "y"]) {
      expect(tok.encode(text)).toEqual(js.encode(text, [], []));
    }
  });

  it.skipIf(!HAVE_LLAMA3)(`Llama 3: random texts encode the same${LLAMA3_SKIP}`, () => {
    const tok = llama3();
    const js = jsTiktoken(new Uint8Array(readFileSync(LLAMA3)), tok.specialTokens);
    const next = rng(0xc0ffee);
    for (let i = 0; i < 300; i++) {
      const text = randomText(next, 80);
      expect(tok.encodeWithSpecial(text, { allowSpecial: true }), JSON.stringify(text)).toEqual(js.encode(text, "all"));
    }
    const long = ["supercalifragilisticexpialidocious".repeat(20), "\u4e16\u754c".repeat(200), "-=".repeat(300)];
    for (const text of long) {
      expect(tok.encode(text)).toEqual(js.encode(text, [], []));
    }
  });
});

describe("bad tokenizer files", () => {
  const P = "bad/tokenizer.model";
  /** The first `n` lines of tiktoken_small, as text. */
  const head = (n: number): string =>
    new TextDecoder().decode(SMALL_BYTES).split("\n").slice(0, n).join("\n") + "\n";
  const parse = (text: string | Uint8Array) =>
    parseTiktokenTokenizer(typeof text === "string" ? enc(text) : text, P, { specialTokens: "none" });

  it("accepts the small file with CRLF line ends and without a final line end", () => {
    const text = new TextDecoder().decode(SMALL_BYTES);
    expect(parse(text.replace(/\n/g, "\r\n")).vocabSize).toBe(2000);
    expect(parse(text.replace(/\n$/, "")).vocabSize).toBe(2000);
  });

  it("an empty file", () => {
    expect(expectUserError(() => parse(""), P)).toContain("empty file");
  });

  it("a truncated file (cut inside a line)", () => {
    const full = new TextDecoder().decode(SMALL_BYTES);
    // Cut inside the base64 of line 1000.
    const cut = full.split("\n").slice(0, 999).join("\n").length + 1 + 3;
    expectUserError(() => parse(full.slice(0, cut)), P, 1000);
    // Cut inside the rank of the last line ("IG91Z2h0 1999" -> "IG91Z2h0 19"): a rank given twice.
    const msg = expectUserError(() => parse(full.slice(0, full.length - 3)), P, 2000);
    expect(msg).toContain("rank 19 was already given on line 20");
    const missing = join(FIXTURES, "no-such-file.model");
    expect(expectUserError(() => loadTiktokenTokenizer(missing), missing)).toContain("no such file");
  });

  it("a line without a space", () => {
    expect(expectUserError(() => parse(head(5) + "AAA=\n"), P, 6)).toContain("no space");
  });

  it("bad base64", () => {
    expect(expectUserError(() => parse(head(3) + "A!== 3\n"), P, 4)).toContain('invalid base64 character "!" (0x21)');
    expect(expectUserError(() => parse(head(3) + "QUJ 3\n"), P, 4)).toContain("not a multiple of 4");
    expect(expectUserError(() => parse(head(3) + "QR== 3\n"), P, 4)).toContain("non-canonical");
    expect(expectUserError(() => parse(head(3) + "Q=Q= 3\n"), P, 4)).toContain('invalid base64 character "=" (0x3D)');
    expect(expectUserError(() => parse(head(3) + " 3\n"), P, 4)).toContain("empty base64 token");
  });

  it("a non-numeric or missing rank", () => {
    expect(expectUserError(() => parse(head(3) + "QUJD x3\n"), P, 4)).toContain("not a decimal number");
    expect(expectUserError(() => parse(head(3) + "QUJD -3\n"), P, 4)).toContain("not a decimal number");
    expect(expectUserError(() => parse(head(3) + "QUJD 3 \n"), P, 4)).toContain("not a decimal number");
    expect(expectUserError(() => parse(head(3) + "QUJD \n"), P, 4)).toContain("missing rank");
    expect(expectUserError(() => parse(head(3) + "QUJD 99999999999\n"), P, 4)).toContain("larger than");
  });

  it("duplicate ranks, out-of-range ranks, duplicate token bytes, blank lines", () => {
    expect(expectUserError(() => parse(head(3) + "QUJD 1\n"), P, 4)).toContain("rank 1 was already given on line 2");
    expect(expectUserError(() => parse(head(3) + "QUJD 4\n"), P, 4)).toContain("rank 4 is out of range");
    expect(expectUserError(() => parse(head(3) + "AQ== 3\n"), P, 4)).toContain("already given on line 2");
    expect(expectUserError(() => parse(head(3) + "\nQUJD 3\n"), P, 4)).toContain("empty line");
  });

  it("a vocabulary without all 256 single bytes", () => {
    // The small file's first 256 ranks are the single bytes 0..255; drop byte 0x41 ('A', rank 65).
    const lines = new TextDecoder().decode(SMALL_BYTES).split("\n").slice(0, 256);
    lines[65] = "QUJD 65"; // "ABC" instead of "A"
    expect(expectUserError(() => parse(lines.join("\n")), P)).toContain('single byte "A" (0x41)');
  });

  it("binary garbage", () => {
    const next = rng(7);
    const garbage = Uint8Array.from({ length: 3000 }, () => Math.floor(next() * 256));
    expectUserError(() => parse(garbage), P, 1);
    expectUserError(() => parse(new Uint8Array(readFileSync(join(ROOT, "models", "tok512.bin")))), P, 1);
    expectUserError(() => parse(Uint8Array.of(0, 0, 0, 0)), P, 1);
  });

  it("seeded fuzz: flips, truncations, deletions and insertions only ever give a one-line UserError", () => {
    const next = rng(0xf022);
    const text = "Hello world 'S 1234 \u4e16\u754c\r\n  <|eot_id|>";
    let ok = 0;
    for (let i = 0; i < 220; i++) {
      const b = SMALL_BYTES.slice();
      const at = Math.floor(next() * b.length);
      let mutated: Uint8Array;
      switch (i % 5) {
        case 0:
          b[at] = Math.floor(next() * 256);
          mutated = b;
          break;
        case 1:
          b[at] ^= 1 << Math.floor(next() * 8);
          mutated = b;
          break;
        case 2:
          mutated = b.subarray(0, at);
          break;
        case 3:
          mutated = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1 + Math.floor(next() * 40))]);
          break;
        default: {
          const junk = Array.from({ length: 1 + Math.floor(next() * 8) }, () => Math.floor(next() * 256));
          mutated = Uint8Array.from([...b.subarray(0, at), ...junk, ...b.subarray(at)]);
        }
      }
      let tok: TiktokenTokenizer;
      try {
        tok = parseTiktokenTokenizer(mutated, P);
      } catch (e) {
        expect(e, `mutation ${i}`).toBeInstanceOf(UserError);
        expect((e as Error).message).not.toContain("\n");
        expect((e as Error).message.startsWith(`tokenizer ${P}: `)).toBe(true);
        continue;
      }
      ok++;
      // A mutation that still parses (e.g. one token's bytes changed) must still encode and decode any text.
      const ids = tok.encodeWithSpecial(text, { allowSpecial: true, bos: true });
      expect(decodeAll(tok, ids.slice(1))).toBe(text);
    }
    expect(ok).toBeLessThan(220);
  });
});
