// Owns the tests of the llama2.c tokenizer.bin loader/encoder/decoder and the streaming decoder.
// Expected ids come from independent implementations only: llama2.c run.c (stories260K_llama2c_greedy.json)
// and Google sentencepiece (tokenizers_sentencepiece.json); the small synthetic vocabularies below are checked
// against results worked out by hand from run.c's rules.
import { describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../../src/util/errors.js";
import { loadLlama2cTokenizer, parseLlama2cTokenizer } from "../../src/tokenizer/llama2c-bin.js";
import { createStreamDecoder, decodeAll } from "../../src/tokenizer/stream-decoder.js";

const here = (rel: string): string => fileURLToPath(new URL(rel, import.meta.url));
const TOK512 = here("../../models/tok512.bin");
const LLAMA2 = here("../../../shared/models/tokenizer.bin");
const HAVE_LLAMA2 = existsSync(LLAMA2);
/** Why the Llama 2 tests skip: in their titles, and once in the test output. */
const LLAMA2_SKIP = HAVE_LLAMA2 ? "" : " (skipped: needs ../shared/models/tokenizer.bin, Meta's Llama 2 tokenizer, not in this repository)";
if (LLAMA2_SKIP) console.info(`Llama 2 tokenizer.bin tests${LLAMA2_SKIP}`);
const BOS = 1;

interface GreedyCase {
  id: string;
  prompt: string;
  stdout: string;
  prompt_tokens: number[];
  generated_tokens: number[];
}
interface SpSection {
  encode: number[][];
  decode_roundtrip: string[];
  bos: number;
  eos: number;
  vocab: number;
}
const greedy = JSON.parse(readFileSync(here("../fixtures/stories260K_llama2c_greedy.json"), "utf8")) as {
  cases: GreedyCase[];
};
const sp = JSON.parse(readFileSync(here("../fixtures/tokenizers_sentencepiece.json"), "utf8")) as {
  strings: string[];
  "spm:tok512.model": SpSection;
  "spm:tokenizer.model": SpSection;
};

/** SentencePiece's remove_extra_whitespaces: strip leading/trailing spaces, collapse runs of spaces. */
const collapseSpaces = (s: string): string => s.replace(/ +/g, " ").replace(/^ /, "").replace(/ $/, "");

/** Builds tokenizer.bin bytes (llama2.c layout, or with the ExecuTorch header when `et` is given). */
function buildBin(
  pieces: (string | Uint8Array)[],
  scores: number[],
  opts: { maxLen?: number; et?: { vocabSize?: number; bos: number; eos: number } } = {},
): Uint8Array {
  const enc = pieces.map((p) => (typeof p === "string" ? new TextEncoder().encode(p) : p));
  const maxLen = opts.maxLen ?? Math.max(0, ...enc.map((p) => p.length));
  const head = opts.et ? [opts.et.vocabSize ?? pieces.length, opts.et.bos, opts.et.eos, maxLen] : [maxLen];
  const size = head.length * 4 + enc.reduce((s, p) => s + 8 + p.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let off = 0;
  for (const w of head) {
    view.setUint32(off, w, true);
    off += 4;
  }
  enc.forEach((p, i) => {
    view.setFloat32(off, scores[i], true);
    view.setUint32(off + 4, p.length, true);
    out.set(p, off + 8);
    off += 8 + p.length;
  });
  return out;
}

/** The three special pieces llama2.c files start with. */
const SPECIALS = ["<unk>", "\n<s>\n", "\n</s>\n"];

describe("tok512.bin (llama2.c layout)", () => {
  const tok = loadLlama2cTokenizer(TOK512, 512);

  it("has the documented layout", () => {
    expect(tok.kind).toBe("llama2c-bin");
    expect(tok.variant).toBe("llama2c");
    expect(tok.vocabSize).toBe(512);
    expect(tok.maxTokenLength).toBe(7);
    expect(tok.bosId).toBe(1);
    expect(tok.eosIds).toEqual([2]);
    expect([0, 1, 2].map((i) => tok.piece(i))).toEqual(SPECIALS);
    for (let b = 0; b < 256; b++) {
      expect(tok.piece(b + 3)).toBe(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    }
    for (let id = 259; id < 512; id++) expect(tok.score(id)).toBe(-(id - 259));
  });

  it("has no duplicate pieces (so the duplicate rule never applies)", () => {
    const seen = new Set<string>();
    for (let id = 0; id < tok.vocabSize; id++) seen.add(Buffer.from(tok.pieceBytes(id)).toString("latin1"));
    expect(seen.size).toBe(tok.vocabSize);
  });

  describe.each(greedy.cases)("llama2.c run.c case $id", (c) => {
    it("encodes the prompt to run.c's prompt tokens (BOS first)", () => {
      expect(tok.encode(c.prompt, { bos: true })).toEqual(c.prompt_tokens);
    });

    it("decodes prompt + generated tokens to run.c's stdout", () => {
      // run.c prints decode(prev, next) for every token after the leading BOS, then one "\n" at the end.
      expect(c.stdout.endsWith("\n")).toBe(true);
      const promptText = decodeAll(tok, c.prompt_tokens.slice(1), BOS);
      expect(promptText).toBe(c.prompt);
      const last = c.prompt_tokens[c.prompt_tokens.length - 1];
      const genText = decodeAll(tok, c.generated_tokens, last);
      expect(promptText + genText + "\n").toBe(c.stdout);
    });
  });

  it("adds BOS / EOS only when asked", () => {
    const plain = tok.encode("Once upon a time");
    expect(plain).toEqual(greedy.cases[1].prompt_tokens.slice(1));
    expect(tok.encode("Once upon a time", { eos: true })).toEqual([...plain, 2]);
    expect(tok.encode("Once upon a time", { bos: true, eos: true })).toEqual([1, ...plain, 2]);
    expect(tok.encode("")).toEqual([]);
    expect(tok.encode("", { bos: true, eos: true })).toEqual([1, 2]);
  });

  describeSentencePiece(() => tok, "spm:tok512.model");

  it("decodeBytes drops a leading space after BOS only, and turns <0xHH> into one byte", () => {
    const id = tok.encode("t")[0]; // " t": the dummy prefix merged with "t"
    expect(tok.piece(id)).toBe(" t");
    expect(Array.from(tok.decodeBytes(BOS, id))).toEqual([0x74]);
    expect(Array.from(tok.decodeBytes(300, id))).toEqual([0x20, 0x74]);
    expect(Array.from(tok.decodeBytes(BOS, 13))).toEqual([0x0a]);
    expect(Array.from(tok.decodeBytes(-1, 3 + 0xff))).toEqual([0xff]);
    expect(Array.from(tok.decodeBytes(-1, 0))).toEqual(Array.from(new TextEncoder().encode("<unk>")));
    expect(() => tok.decodeBytes(1, 512)).toThrow(/512/);
    expect(() => tok.decodeBytes(1, -1)).toThrow(/-1/);
    expect(() => tok.piece(1000)).toThrow(/1000/);
  });

  it("encodes a few thousand characters quickly and decodes them back", () => {
    const story = greedy.cases.map((c) => c.stdout).join("") + "café 🚀 naïve\t";
    const text = story.repeat(Math.ceil(6000 / story.length));
    const t0 = performance.now();
    const ids = tok.encode(text, { bos: true });
    const ms = performance.now() - t0;
    expect(decodeAll(tok, ids.slice(1), BOS)).toBe(text);
    expect(ms).toBeLessThan(5000);
  });
});

/** Compares with SentencePiece where it normalizes nothing, and checks the documented difference elsewhere. */
function describeSentencePiece(getTok: () => ReturnType<typeof loadLlama2cTokenizer>, key: "spm:tok512.model" | "spm:tokenizer.model"): void {
  const ref = sp[key];
  sp.strings.forEach((s, i) => {
    // decode_roundtrip shows what SentencePiece's normalizer kept: where it equals the input, nothing was
    // normalized and run.c must give the same ids; elsewhere SentencePiece removed extra spaces.
    if (ref.decode_roundtrip[i] === s) {
      it(`agrees with sentencepiece on ${JSON.stringify(s)}`, () => {
        expect(getTok().encode(s)).toEqual(ref.encode[i]);
      });
    } else {
      it(`differs from sentencepiece only by its whitespace normalization on ${JSON.stringify(s)}`, () => {
        const tok = getTok();
        expect(ref.decode_roundtrip[i]).toBe(collapseSpaces(s));
        expect(tok.encode(s)).not.toEqual(ref.encode[i]);
        expect(tok.encode(collapseSpaces(s))).toEqual(ref.encode[i]);
      });
    }
  });
}

describe.skipIf(!HAVE_LLAMA2)(`Llama 2 tokenizer.bin (../shared, 32000 pieces)${LLAMA2_SKIP}`, () => {
  const tok = HAVE_LLAMA2 ? loadLlama2cTokenizer(LLAMA2, 32000) : undefined;
  const getTok = () => tok!;

  it("has the documented layout and no duplicate pieces", () => {
    const t = getTok();
    expect(t.variant).toBe("llama2c");
    expect(t.vocabSize).toBe(32000);
    expect(t.maxTokenLength).toBe(27);
    expect([0, 1, 2].map((i) => t.piece(i))).toEqual(SPECIALS);
    const seen = new Set<string>();
    for (let id = 0; id < t.vocabSize; id++) seen.add(Buffer.from(t.pieceBytes(id)).toString("latin1"));
    expect(seen.size).toBe(t.vocabSize);
  });

  it("sentencepiece's Llama 2 model normalizes no whitespace in these strings", () => {
    expect(sp["spm:tokenizer.model"].decode_roundtrip).toEqual(sp.strings);
  });

  describeSentencePiece(getTok, "spm:tokenizer.model");
});

describe("ExecuTorch layout (16-byte header)", () => {
  const raw = new Uint8Array(readFileSync(TOK512));
  const maxLen = new DataView(raw.buffer, raw.byteOffset).getUint32(0, true);
  const withHeader = (vocabSize: number, bos: number, eos: number, body = raw.subarray(4)): Uint8Array => {
    const out = new Uint8Array(16 + body.length);
    const v = new DataView(out.buffer);
    [vocabSize, bos, eos, maxLen].forEach((w, i) => v.setUint32(i * 4, w, true));
    out.set(body, 16);
    return out;
  };

  it("is detected from its structure and tokenizes like the llama2.c layout", () => {
    const tok = parseLlama2cTokenizer(withHeader(512, 1, 2), "/x/et.bin", 512);
    expect(tok.variant).toBe("executorch");
    expect(tok.vocabSize).toBe(512);
    expect(tok.maxTokenLength).toBe(7);
    for (const c of greedy.cases) expect(tok.encode(c.prompt, { bos: true })).toEqual(c.prompt_tokens);
    expect(tok.encode(sp.strings[4])).toEqual(sp["spm:tok512.model"].encode[4]);
  });

  it("takes BOS and EOS from the header", () => {
    const tok = parseLlama2cTokenizer(withHeader(512, 2, 1), "/x/et.bin");
    expect(tok.bosId).toBe(2);
    expect(tok.eosIds).toEqual([1]);
    const body = greedy.cases[1].prompt_tokens.slice(1);
    expect(tok.encode(greedy.cases[1].prompt, { bos: true, eos: true })).toEqual([2, ...body, 1]);
  });

  it("a header whose vocab_size does not match the records is an error naming the file", () => {
    const bad = withHeader(513, 1, 2);
    expect(() => parseLlama2cTokenizer(bad, "/x/et-bad.bin")).toThrow(UserError);
    expect(() => parseLlama2cTokenizer(bad, "/x/et-bad.bin")).toThrow(/\/x\/et-bad\.bin.*ExecuTorch/);
  });

  it("a truncated file or trailing bytes are reported against the ExecuTorch layout", () => {
    const full = withHeader(512, 1, 2);
    expect(() => parseLlama2cTokenizer(full.subarray(0, full.length - 2), "/x/et-cut.bin")).toThrow(
      /^tokenizer \/x\/et-cut\.bin: record 511 runs past the end.*ExecuTorch/,
    );
    const tail = Uint8Array.from([...full, 0, 0]);
    expect(() => parseLlama2cTokenizer(tail, "/x/et-tail.bin")).toThrow(
      /^tokenizer \/x\/et-tail\.bin: 2 trailing bytes after the last of 512 records.*ExecuTorch/,
    );
  });

  it("is not confused by a file name", () => {
    const tok = parseLlama2cTokenizer(raw, "/x/executorch_tokenizer.bin");
    expect(tok.variant).toBe("llama2c");
  });
});

describe("merge rules (synthetic vocabularies, expectations worked out from run.c)", () => {
  // ids: 0..2 specials, 3 " ", 4 "a", 5 "b", 6 "ab", 7 "ba"
  const vocab = (abScore: number, baScore: number) =>
    parseLlama2cTokenizer(
      buildBin([...SPECIALS, " ", "a", "b", "ab", "ba"], [0, 0, 0, 0, 0, 0, abScore, baScore]),
      "/x/syn.bin",
    );

  it("ties go to the leftmost pair", () => {
    expect(vocab(-1, -1).encode("aba")).toEqual([3, 6, 4]);
    expect(vocab(-1, -1).encode("bab")).toEqual([3, 7, 5]);
  });

  it("the highest score wins", () => {
    expect(vocab(-1, 0).encode("aba")).toEqual([3, 4, 7]);
  });

  it("a merge needs a score above -1e10", () => {
    expect(vocab(-1e10, -2e10).encode("aba")).toEqual([3, 4, 5, 4]);
    expect(vocab(-9.9e9, -2e10).encode("aba")).toEqual([3, 6, 4]);
  });

  it("duplicate pieces: the lowest id wins", () => {
    const tok = parseLlama2cTokenizer(buildBin([...SPECIALS, " ", "a", "a"], [0, 0, 0, 0, -5, 3]), "/x/dup.bin");
    expect(tok.encode("aa")).toEqual([3, 4, 4]);
  });

  it("without a ' ' piece the dummy prefix is skipped", () => {
    const tok = parseLlama2cTokenizer(buildBin([...SPECIALS, "a"], [0, 0, 0, 0]), "/x/nospace.bin");
    expect(tok.encode("aa", { bos: true })).toEqual([1, 3, 3]);
  });

  it("byte fallback outside a small vocabulary is a UserError naming the file", () => {
    const tok = parseLlama2cTokenizer(buildBin([...SPECIALS, " ", "a"], [0, 0, 0, 0, 0]), "/x/small.bin");
    expect(() => tok.encode("b")).toThrow(UserError);
    expect(() => tok.encode("b")).toThrow(/\/x\/small\.bin.*0x62/);
  });

  it("a codepoint that is a piece is one token; other codepoints fall back to their bytes", () => {
    const pieces: string[] = [...SPECIALS];
    for (let b = 0; b < 256; b++) pieces.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    pieces.push(" ", "é");
    const tok = parseLlama2cTokenizer(buildBin(pieces, pieces.map(() => 0)), "/x/cp.bin");
    expect(tok.encode("éü")).toEqual([259, 260, 0xc3 + 3, 0xbc + 3]);
  });
});

describe("bad tokenizer files", () => {
  const dir = mkdtempSync(join(tmpdir(), "tok-bad-"));
  const raw = new Uint8Array(readFileSync(TOK512));
  const write = (name: string, bytes: Uint8Array): string => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  const expectUserError = (path: string, pattern: RegExp, expectedVocabSize?: number): void => {
    let err: unknown;
    try {
      loadLlama2cTokenizer(path, expectedVocabSize);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    const msg = (err as Error).message;
    expect(msg).toContain(path);
    expect(msg).toMatch(pattern);
    expect(msg).not.toContain("\n");
  };
  /** Offset of record `i`'s 8-byte (score, length) header in tok512.bin. */
  const recordOffset = (i: number): number => {
    const v = new DataView(raw.buffer, raw.byteOffset);
    let off = 4;
    for (let k = 0; k < i; k++) off += 8 + v.getUint32(off + 4, true);
    return off;
  };
  const patched = (f: (v: DataView) => void): Uint8Array => {
    const copy = raw.slice();
    f(new DataView(copy.buffer));
    return copy;
  };

  it("truncated file", () => {
    expectUserError(write("cut.bin", raw.subarray(0, recordOffset(300) + 10)), /record 300 runs past the end.*truncated/);
    expectUserError(write("cut2.bin", raw.subarray(0, recordOffset(17) + 5)), /record 17 runs past the end/);
  });

  it("a length field pointing past the end", () => {
    const last = recordOffset(511);
    expectUserError(write("len.bin", patched((v) => v.setUint32(last + 4, 7, true))), /record 511 runs past the end/);
  });

  it("a length longer than max_token_length", () => {
    const p = write("huge.bin", patched((v) => v.setUint32(recordOffset(17) + 4, 0xfffffff0, true)));
    expectUserError(p, /record 17 .*longer than max_token_length 7/);
    expectUserError(write("maxlen.bin", patched((v) => v.setUint32(0, 5, true))), /longer than max_token_length 5/);
  });

  it("trailing bytes", () => {
    const withTail = (tail: number[]) => Uint8Array.from([...raw, ...tail]);
    expectUserError(write("tail3.bin", withTail([1, 2, 3])), /record 512 runs past the end/);
    expectUserError(write("tail12.bin", withTail([0, 0, 0, 0, 200, 0, 0, 0, 9, 9, 9, 9])), /record 512/);
  });

  it("a non-finite score", () => {
    expectUserError(write("nan.bin", patched((v) => v.setFloat32(recordOffset(42), NaN, true))), /record 42 .*non-finite/);
    expectUserError(write("inf.bin", patched((v) => v.setFloat32(recordOffset(7), -Infinity, true))), /record 7 .*non-finite/);
  });

  it("wrong expected vocab size", () => {
    expectUserError(TOK512, /512 pieces.*vocab_size is 32000/, 32000);
  });

  it("empty file, header only, too few pieces", () => {
    expectUserError(write("empty.bin", new Uint8Array(0)), /empty/);
    expectUserError(write("short.bin", Uint8Array.of(7, 0)), /too short/);
    expectUserError(write("header.bin", raw.subarray(0, 4)), /no records/);
    expectUserError(write("two.bin", buildBin(["<unk>", "<s>"], [0, 0])), /only 2 pieces/);
  });

  it("a directory or a missing path", () => {
    expectUserError(dir, /directory/);
    expectUserError(join(dir, "nope.bin"), /no such file/);
  });
});

describe("stream decoder", () => {
  const tok = loadLlama2cTokenizer(TOK512);

  // "é" is a piece of tok512 (id 485), "ï" and "ü" are not.
  it.each(["ï", "ü", "🚀", "naïve 你好"])("keeps %s whole across byte-fallback tokens", (text) => {
    const ids = tok.encode(text, { bos: true });
    const byteTokens = ids.filter((id) => id >= 3 && id < 259);
    expect(byteTokens.length).toBeGreaterThan(1);
    const dec = createStreamDecoder(tok);
    const parts: string[] = [];
    for (let i = 1; i < ids.length; i++) parts.push(dec.push(ids[i - 1], ids[i]));
    parts.push(dec.flush());
    for (const p of parts) expect(p).not.toContain("\uFFFD");
    expect(parts.join("")).toBe(text);
    expect(decodeAll(tok, ids.slice(1), BOS)).toBe(text);
  });

  it("flush ends a stream cut mid-character with U+FFFD", () => {
    const dec = createStreamDecoder(tok);
    expect(dec.push(-1, 0xc3 + 3)).toBe("");
    expect(dec.flush()).toBe("\uFFFD");
  });

  it("decodeAll decodes the first id after the given previous id (default: none)", () => {
    const id = tok.encode("t")[0]; // " t"
    expect(decodeAll(tok, [id])).toBe(" t");
    expect(decodeAll(tok, [id], BOS)).toBe("t");
    expect(decodeAll(tok, [BOS, id])).toBe(SPECIALS[1] + "t");
  });
});

describe("fast merge loop equals run.c's plain loop", () => {
  const texts = (seed: number): string[] => {
    let s = seed >>> 0;
    const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const alphabet = "aeiou tnsrhldcmTHE,.!?\n'0123456789éü你🙂  ";
    const chars = Array.from(alphabet);
    return Array.from({ length: 60 }, () => Array.from({ length: Math.floor(rnd() * 400) }, () => chars[Math.floor(rnd() * chars.length)]).join(""));
  };
  const story = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. ".repeat(40);

  it("tok512.bin: identical ids on random texts and a long story", () => {
    const tok = loadLlama2cTokenizer(here("../../models/tok512.bin"));
    for (const t of [...texts(1), story]) expect(tok.encode(t)).toEqual(tok.encodePlain(t));
  });

  it.skipIf(!existsSync(here("../../../shared/models/tokenizer.bin")))(`Llama 2 tokenizer.bin: identical ids${LLAMA2_SKIP}`, () => {
    const tok = loadLlama2cTokenizer(here("../../../shared/models/tokenizer.bin"));
    for (const t of [...texts(2), story]) expect(tok.encode(t)).toEqual(tok.encodePlain(t));
  });
});
