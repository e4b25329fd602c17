// Owns the tests of the SentencePiece tokenizer (src/tokenizer/sentencepiece.ts) and of its protobuf reader
// (src/tokenizer/sentencepiece-model.ts). Expected ids and texts come from Google sentencepiece itself
// (tokenizers_sentencepiece.json); the piece table is cross-checked against models/tok512.bin, which llama2.c's
// tokenizer.py export of tok512.model reproduces byte for byte. The small synthetic models below are built with
// the protobuf wire format written out by hand in this file.
import { afterAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../../src/util/errors.js";
import { loadLlama2cTokenizer } from "../../src/tokenizer/llama2c-bin.js";
import {
  isSentencePieceModel,
  ModelType,
  PieceType,
  readSentencePieceModel,
} from "../../src/tokenizer/sentencepiece-model.js";
import {
  loadSentencePieceTokenizer,
  parseSentencePieceTokenizer,
  type SentencePieceTokenizer,
} from "../../src/tokenizer/sentencepiece.js";
import { createStreamDecoder, decodeAll } from "../../src/tokenizer/stream-decoder.js";

const here = (rel: string): string => fileURLToPath(new URL(rel, import.meta.url));
const TOK512_MODEL = here("../fixtures/tok512.model");
const TOK512_BIN = here("../../models/tok512.bin");
const LLAMA2_MODEL = here("../../../shared/models/tokenizer.model");
const LLAMA2_BIN = here("../../../shared/models/tokenizer.bin");
const LLAMA3_TIKTOKEN = here("../../../shared/models/llama3/tokenizer.model");
const TIKTOKEN_SMALL = here("../../../shared/models/tiktoken_small/tiktoken_small.model");
const HAVE_LLAMA2 = existsSync(LLAMA2_MODEL);
/** Why the Llama 2 tests skip: in their titles, and once in the test output. */
const LLAMA2_SKIP = HAVE_LLAMA2 ? "" : " (skipped: needs ../shared/models/tokenizer.model, Meta's Llama 2 tokenizer, not in this repository)";
const LLAMA2_BIN_SKIP = !HAVE_LLAMA2 ? LLAMA2_SKIP : existsSync(LLAMA2_BIN) ? "" : " (skipped: needs ../shared/models/tokenizer.bin, Meta's Llama 2 tokenizer, not in this repository)";
if (LLAMA2_SKIP || LLAMA2_BIN_SKIP) console.info(`Llama 2 tokenizer tests${LLAMA2_SKIP || LLAMA2_BIN_SKIP}`);

interface SpSection {
  encode: number[][];
  decode_roundtrip: string[];
  bos: number;
  eos: number;
  vocab: number;
}
const reference = JSON.parse(readFileSync(here("../fixtures/tokenizers_sentencepiece.json"), "utf8")) as {
  strings: string[];
  "spm:tok512.model": SpSection;
  "spm:tokenizer.model": SpSection;
};

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-spm-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const tok512Bytes = (): Uint8Array => new Uint8Array(readFileSync(TOK512_MODEL));
const utf8 = new TextEncoder();

/** A failure must be a UserError whose message is one line naming the file. */
async function expectUserError(p: Promise<unknown> | (() => unknown), path: string, pattern?: RegExp): Promise<string> {
  let err: unknown;
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err, `expected a UserError for ${path}`).toBeInstanceOf(UserError);
  const msg = (err as UserError).message;
  expect(msg).toContain(path);
  expect(msg).not.toMatch(/\n/);
  if (pattern) expect(msg).toMatch(pattern);
  return msg;
}

const emscriptenListenerCounts = (): [number, number] => [
  process.listeners("uncaughtException").length,
  process.listeners("unhandledRejection").length,
];

// ---- protobuf builder (wire format by hand) ----

function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) b |= 0x80;
    out.push(b);
  } while (v !== 0n);
  return out;
}
const tag = (field: number, wire: number): number[] => varint(field * 8 + wire);
const lenField = (field: number, payload: number[] | Uint8Array): number[] => [
  ...tag(field, 2),
  ...varint(payload.length),
  ...payload,
];
const strField = (field: number, s: string): number[] => lenField(field, utf8.encode(s));
const intField = (field: number, n: number | bigint): number[] => [...tag(field, 0), ...varint(n)];
function floatField(field: number, x: number): number[] {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, x, true);
  return [...tag(field, 5), ...b];
}

interface PieceSpec {
  piece: string;
  score?: number;
  type?: number;
}
const pieceMsg = (p: PieceSpec): number[] =>
  lenField(1, [...strField(1, p.piece), ...floatField(2, p.score ?? 0), ...(p.type ? intField(3, p.type) : [])]);

/** The pieces of a tiny BPE model SentencePiece accepts. */
const TINY_PIECES: PieceSpec[] = [
  { piece: "<unk>", type: PieceType.UNKNOWN },
  { piece: "<s>", type: PieceType.CONTROL },
  { piece: "</s>", type: PieceType.CONTROL },
  { piece: "\u2581a", score: -1 },
  { piece: "ab", score: -2 },
  { piece: "\u2581", score: -3 },
  { piece: "a", score: -4 },
  { piece: "b", score: -5 },
];

function buildModel(
  o: {
    pieces?: PieceSpec[];
    rawPieces?: number[][];
    trainer?: number[];
    normalizer?: number[];
    vocabSize?: number | null;
    byteFallback?: boolean;
    extra?: number[];
  } = {},
): Uint8Array {
  const pieces = o.rawPieces ?? (o.pieces ?? TINY_PIECES).map(pieceMsg);
  const vocab = o.vocabSize === undefined ? pieces.length : o.vocabSize;
  const trainer = [
    ...intField(3, ModelType.BPE),
    ...(vocab === null ? [] : intField(4, vocab)),
    ...(o.byteFallback ? intField(35, 1) : []),
    ...(o.trainer ?? []),
  ];
  const normalizer = o.normalizer ?? [...strField(1, "identity"), ...intField(3, 1), ...intField(4, 0)];
  return Uint8Array.from([...pieces.flat(), ...lenField(2, trainer), ...lenField(3, normalizer), ...(o.extra ?? [])]);
}

// ---- seeded PRNG (mulberry32) ----

function prng(seed: number) {
  let s = seed >>> 0;
  const u32 = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return { int: (n: number): number => Math.floor((u32() / 2 ** 32) * n) };
}

// ---- tests ----

describe("SentencePiece tokenizer: Google sentencepiece reference ids", () => {
  const cases: [string, string, boolean, string][] = [
    ["tok512.model", TOK512_MODEL, true, ""],
    ["tokenizer.model", LLAMA2_MODEL, HAVE_LLAMA2, LLAMA2_SKIP],
  ];
  for (const [name, file, present, skipped] of cases) {
    const ref = reference[`spm:${name}` as "spm:tok512.model"];

    it.skipIf(!present)(`${name}: vocabulary, BOS and EOS${skipped}`, async () => {
      const tok = await loadSentencePieceTokenizer(file, ref.vocab);
      expect(tok.kind).toBe("sentencepiece");
      expect(tok.vocabSize).toBe(ref.vocab);
      expect(tok.bosId).toBe(ref.bos);
      expect(tok.eosIds).toEqual([ref.eos]);
      expect(tok.unkId).toBe(0);
    });

    it.skipIf(!present)(`${name}: every string encodes to exactly the reference ids and decodes back${skipped}`, async () => {
      const tok = await loadSentencePieceTokenizer(file);
      reference.strings.forEach((text, i) => {
        const ids = tok.encode(text);
        expect(ids, JSON.stringify(text)).toEqual(ref.encode[i]);
        expect(tok.encode(text, { bos: true, eos: true })).toEqual([ref.bos, ...ref.encode[i], ref.eos]);
        // Decoded as the runner prints a prompt after its BOS: SentencePiece's decode drops the dummy-prefix space,
        // the runner drops a leading space after BOS.
        expect(decodeAll(tok, ids, tok.bosId), JSON.stringify(text)).toBe(ref.decode_roundtrip[i]);
      });
    });
  }

  it("encodes the empty string to no ids (plus BOS / EOS if asked)", async () => {
    const tok = await loadSentencePieceTokenizer(TOK512_MODEL);
    expect(tok.encode("")).toEqual([]);
    expect(tok.encode("", { bos: true })).toEqual([1]);
    expect(tok.encode("", { bos: true, eos: true })).toEqual([1, 2]);
  });

  it("encodes a lone surrogate as U+FFFD (as TextEncoder does), not as the bytes embind would make of it", async () => {
    const tok = await loadSentencePieceTokenizer(TOK512_MODEL);
    expect(tok.encode("a\uD800b")).toEqual(tok.encode("a\uFFFDb"));
    expect(tok.encode("\uDC00")).toEqual(tok.encode("\uFFFD"));
    // U+FFFD has no piece in tok512: three byte-fallback tokens (0xEF 0xBF 0xBD + 3).
    expect(tok.encode("\uFFFD").slice(-3)).toEqual([0xef + 3, 0xbf + 3, 0xbd + 3]);
    // A proper surrogate pair is left alone.
    expect(decodeAll(tok, tok.encode("\u{1F642}"), tok.bosId)).toBe("\u{1F642}");
  });
});

describe("SentencePiece tokenizer: decoding as the device runner prints", () => {
  it("streams byte-fallback tokens as whole UTF-8 characters", async () => {
    const tok = await loadSentencePieceTokenizer(TOK512_MODEL);
    for (const text of ["你好，世界！", "🙂👍🏽 emoji 🚀🚀", "café naïve résumé"]) {
      const ids = tok.encode(text);
      const dec = createStreamDecoder(tok);
      const chunks: string[] = [];
      let prev = tok.bosId;
      for (const id of ids) {
        chunks.push(dec.push(prev, id));
        prev = id;
      }
      chunks.push(dec.flush());
      expect(chunks.join("")).toBe(text);
      // No chunk holds half a character: no U+FFFD, no lone surrogate.
      for (const c of chunks) expect(c).not.toMatch(/\uFFFD|\p{Cs}/u);
      // The CJK text is all byte fallback in tok512 after the dummy-prefix piece "▁" (printed as nothing after
      // BOS): bytes come one per token, whole characters every third token.
      if (text === "你好，世界！") {
        expect(tok.piece(ids[0])).toBe("\u2581");
        expect(ids.slice(1).every((id) => id >= 3 && id <= 258)).toBe(true);
        expect(chunks.slice(0, 7)).toEqual(["", "", "", "你", "", "", "好"]);
      }
    }
  });

  it("prints control / unknown pieces as the llama2.c export writes them, and drops a leading space after BOS", async () => {
    const tok = await loadSentencePieceTokenizer(TOK512_MODEL);
    const text = (prev: number, id: number): string => new TextDecoder().decode(tok.decodeBytes(prev, id));
    expect(text(5, 0)).toBe("<unk>");
    expect(text(5, 1)).toBe("\n<s>\n");
    expect(text(5, 2)).toBe("\n</s>\n");
    expect(tok.piece(259)).toBe("\u2581t");
    expect(text(5, 259)).toBe(" t");
    expect(text(1, 259)).toBe("t");
    expect(Array.from(tok.decodeBytes(5, 3 + 0xe4))).toEqual([0xe4]);
    expect(Array.from(tok.decodeBytes(5, 3))).toEqual([0]);
    // The ExecuTorch exporter's spelling.
    const et = await parseSentencePieceTokenizer(tok512Bytes(), TOK512_MODEL, 512, { specialPieces: "executorch" });
    expect(new TextDecoder().decode(et.decodeBytes(5, 1))).toBe("<s>");
    expect(new TextDecoder().decode(et.decodeBytes(5, 2))).toBe("</s>");
    expect(new TextDecoder().decode(et.decodeBytes(5, 0))).toBe("<unk>");
  });

  it("returns copies and refuses ids outside the vocabulary", async () => {
    const tok = await loadSentencePieceTokenizer(TOK512_MODEL);
    const a = tok.decodeBytes(5, 300);
    a.fill(0);
    expect(tok.decodeBytes(5, 300)).not.toEqual(a);
    for (const bad of [-1, 512, 1.5, NaN]) {
      expect(() => tok.decodeBytes(5, bad)).toThrow(/out of range/);
      expect(() => tok.piece(bad)).toThrow(/out of range/);
    }
  });
});

describe("SentencePiece protobuf reader", () => {
  it("reads tok512.model's trainer and normalizer spec", () => {
    const m = readSentencePieceModel(tok512Bytes(), TOK512_MODEL);
    expect(m.pieces.length).toBe(512);
    expect(m.pieces.slice(0, 4)).toEqual([
      { piece: "<unk>", score: 0, type: PieceType.UNKNOWN },
      { piece: "<s>", score: 0, type: PieceType.CONTROL },
      { piece: "</s>", score: 0, type: PieceType.CONTROL },
      { piece: "<0x00>", score: 0, type: PieceType.BYTE },
    ]);
    expect(m.pieces.filter((p) => p.type === PieceType.BYTE).length).toBe(256);
    expect(m.pieces.slice(259).every((p) => p.type === PieceType.NORMAL)).toBe(true);
    expect(m.trainerSpec).toMatchObject({
      present: true,
      modelType: ModelType.BPE,
      vocabSize: 512,
      unkId: 0,
      bosId: 1,
      eosId: 2,
      padId: -1,
      byteFallback: true,
    });
    expect(m.normalizerSpec).toEqual({
      present: true,
      name: "identity",
      addDummyPrefix: true,
      removeExtraWhitespaces: true,
      escapeWhitespaces: true,
    });
  });

  /** llama2.c tokenizer.py export(): BOS / EOS get "\n<s>\n" / "\n</s>\n", `▁` becomes a space. */
  function checkAgainstBin(modelPath: string, binPath: string): void {
    const m = readSentencePieceModel(new Uint8Array(readFileSync(modelPath)), modelPath);
    const bin = loadLlama2cTokenizer(binPath);
    expect(bin.vocabSize).toBe(m.pieces.length);
    m.pieces.forEach((p, id) => {
      const exported = id === 1 ? "\n<s>\n" : id === 2 ? "\n</s>\n" : p.piece.replaceAll("\u2581", " ");
      expect(Buffer.from(bin.pieceBytes(id)).equals(Buffer.from(exported, "utf8")), `piece ${id}`).toBe(true);
      expect(Object.is(bin.score(id), p.score), `score ${id}: ${bin.score(id)} vs ${p.score}`).toBe(true);
    });
  }

  it("reads the same pieces and scores as models/tok512.bin (the llama2.c export of tok512.model)", () => {
    checkAgainstBin(TOK512_MODEL, TOK512_BIN);
  });

  it.skipIf(!HAVE_LLAMA2 || !existsSync(LLAMA2_BIN))(`reads the same pieces and scores as the Llama 2 tokenizer.bin${LLAMA2_BIN_SKIP}`, () => {
    checkAgainstBin(LLAMA2_MODEL, LLAMA2_BIN);
  });

  it("decodes every id exactly as the llama2.c tokenizer does on tok512.bin", async () => {
    const sp = await loadSentencePieceTokenizer(TOK512_MODEL);
    const bin = loadLlama2cTokenizer(TOK512_BIN);
    for (let id = 0; id < 512; id++) {
      for (const prev of [1, 0, 2, 300, id]) {
        expect(Array.from(sp.decodeBytes(prev, id)), `prev ${prev}, id ${id}`).toEqual(Array.from(bin.decodeBytes(prev, id)));
      }
    }
  });

  it("recognises SentencePiece models, and not llama2.c tokenizer.bin or tiktoken files", () => {
    const bin = new Uint8Array(readFileSync(TOK512_BIN));
    expect(isSentencePieceModel(tok512Bytes().subarray(0, 64))).toBe(true);
    expect(isSentencePieceModel(tok512Bytes())).toBe(true);
    expect(isSentencePieceModel(buildModel())).toBe(true);
    expect(isSentencePieceModel(bin.subarray(0, 64))).toBe(false);
    // The ExecuTorch tokenizer.bin layout (16-byte header), also with header bytes that start like a tag.
    for (const vocab of [512, 32000, 0x0a, 0x7d0a, 0x0a0a0a]) {
      const et = new Uint8Array(64);
      new DataView(et.buffer).setUint32(0, vocab, true);
      et.set(bin.subarray(4, 52), 16);
      expect(isSentencePieceModel(et), `vocab ${vocab}`).toBe(false);
    }
    const tiktoken = utf8.encode("IQ== 0\nIg== 1\nIw== 2\nJA== 3\nJQ== 4\nJg== 5\nJw== 6\nKA== 7\nKQ== 8\n");
    expect(isSentencePieceModel(tiktoken)).toBe(false);
    for (const f of [LLAMA2_MODEL]) if (existsSync(f)) expect(isSentencePieceModel(new Uint8Array(readFileSync(f)).subarray(0, 64))).toBe(true);
    for (const f of [LLAMA2_BIN, LLAMA3_TIKTOKEN, TIKTOKEN_SMALL]) {
      if (existsSync(f)) expect(isSentencePieceModel(new Uint8Array(readFileSync(f)).subarray(0, 64)), f).toBe(false);
    }
    for (const head of [[], [0x0a], [0x0a, 0x00, 0x00, 0x00], [0x0a, 0x05, 0x0a, 0x00, 0x15]]) {
      expect(isSentencePieceModel(Uint8Array.from(head)), JSON.stringify(head)).toBe(false);
    }
  });

  it("accepts a small hand-built model, which SentencePiece then loads and runs", async () => {
    const bytes = buildModel();
    const m = readSentencePieceModel(bytes, "tiny.model");
    expect(m.pieces.map((p) => p.piece)).toEqual(TINY_PIECES.map((p) => p.piece));
    expect(m.normalizerSpec.removeExtraWhitespaces).toBe(false);
    const tok = await parseSentencePieceTokenizer(bytes, "tiny.model", 8);
    const ids = tok.encode("ab a");
    expect(ids.every((id) => id >= 0 && id < 8)).toBe(true);
    expect(decodeAll(tok, ids, tok.bosId)).toBe("ab a");
    // Unknown characters (no byte fallback) become <unk>.
    expect(tok.encode("c")).toContain(0);
    // Negative int32 values are 10-byte varints; unknown fields (also extensions >= 200) are skipped.
    const padNeg = buildModel({ trainer: [...intField(43, -1), ...intField(200, 5), ...strField(201, "x")], extra: intField(300, 7) });
    expect(readSentencePieceModel(padNeg, "x").trainerSpec.padId).toBe(-1);
    // A model with no trainer_spec vocab_size is not checked against it.
    expect(readSentencePieceModel(buildModel({ vocabSize: null }), "x").trainerSpec.vocabSize).toBeUndefined();
  });

  const structural: [string, () => Uint8Array, RegExp][] = [
    ["empty file", () => new Uint8Array(0), /empty file/],
    ["first byte not a piece tag", () => Uint8Array.of(0x08, 0x01), /not a SentencePiece model/],
    ["zero pieces", () => Uint8Array.from(buildModel({ rawPieces: [], vocabSize: null }).subarray(0)), /not a SentencePiece model|no pieces/],
    ["only a trainer spec", () => Uint8Array.from([...lenField(1, []), ...lenField(2, intField(4, 0))]), /piece 0 is empty|no pieces|vocab_size/],
    ["vocab_size disagrees", () => buildModel({ vocabSize: 9 }), /8 pieces but its trainer_spec\.vocab_size is 9/],
    ["score not finite", () => buildModel({ pieces: [...TINY_PIECES.slice(0, 3), { piece: "x", score: Infinity }] }), /pieces\[3\]\.score at offset \d+ is not finite/],
    ["score NaN", () => buildModel({ pieces: [...TINY_PIECES.slice(0, 3), { piece: "x", score: NaN }] }), /not finite \(NaN\)/],
    [
      "piece not UTF-8",
      () => buildModel({ rawPieces: [...TINY_PIECES.map(pieceMsg), lenField(1, lenField(1, [0x61, 0xc3]))] }),
      /pieces\[8\]\.piece at offset \d+ is not valid UTF-8/,
    ],
    [
      "score with the varint wire type",
      () => buildModel({ rawPieces: [...TINY_PIECES.map(pieceMsg), lenField(1, [...strField(1, "x"), ...intField(2, 1)])] }),
      /pieces\[8\]\.score \(field 2\) at offset \d+ has wire type varint, expected fixed32/,
    ],
    [
      "piece with the fixed32 wire type",
      () => buildModel({ rawPieces: [...TINY_PIECES.map(pieceMsg), lenField(1, floatField(1, 1))] }),
      /pieces\[8\]\.piece \(field 1\) .* expected length-delimited/,
    ],
    ["trainer_spec as a varint", () => Uint8Array.from([...pieceMsg(TINY_PIECES[0]), ...intField(2, 1)]), /trainer_spec \(field 2\) .* expected length-delimited/],
    ["vocab_size as fixed32", () => buildModel({ vocabSize: null, trainer: floatField(4, 8) }), /trainer_spec\.vocab_size \(field 4\)/],
    ["byte_fallback = 2", () => buildModel({ trainer: intField(35, 2) }), /trainer_spec\.byte_fallback at offset \d+ is a bool with value other than 0 or 1/],
    ["normalizer add_dummy_prefix as a string", () => buildModel({ normalizer: strField(3, "yes") }), /normalizer_spec\.add_dummy_prefix/],
    ["piece type 7", () => buildModel({ pieces: [...TINY_PIECES, { piece: "x", type: 7 }] }), /pieces\[8\]\.type at offset \d+ is 7, not one of 1, 2, 3, 4, 5, 6/],
    ["model_type 9", () => buildModel({ trainer: intField(3, 9) }), /trainer_spec\.model_type at offset \d+ is 9/],
    ["unk_id beyond int32", () => buildModel({ trainer: intField(40, 2n ** 33n) }), /trainer_spec\.unk_id at offset \d+ is outside the int32 range/],
    ["a group (wire type 3)", () => Uint8Array.from([...pieceMsg(TINY_PIECES[0]), ...tag(9, 3)]), /wire type start-group/],
    ["wire type 7", () => Uint8Array.from([...pieceMsg(TINY_PIECES[0]), ...tag(9, 7)]), /wire type 7/],
    ["field number 0", () => Uint8Array.from([...pieceMsg(TINY_PIECES[0]), 0x02, 0x00]), /field number 0/],
    ["tag beyond 32 bits", () => Uint8Array.from([...pieceMsg(TINY_PIECES[0]), ...varint(2n ** 40n)]), /does not fit in 32 bits/],
    ["varint of 11 bytes", () => Uint8Array.from([...pieceMsg(TINY_PIECES[0]), ...tag(9, 0), ...new Array(10).fill(0x80), 0x01]), /varint longer than 10 bytes/],
    ["truncated varint", () => Uint8Array.from([...pieceMsg(TINY_PIECES[0]), ...tag(9, 0), 0x80]), /field 9 \(varint\) at offset \d+ runs past the end of the file/],
    ["length past the end", () => Uint8Array.from([...pieceMsg(TINY_PIECES[0]), ...tag(2, 2), 0x20, 0x08]), /trainer_spec: length 32 at offset \d+ runs past the end of the file/],
    ["huge length", () => Uint8Array.from([...pieceMsg(TINY_PIECES[0]), ...tag(2, 2), ...varint(2n ** 40n)]), /length over 2\^32/],
    [
      "nested length past its message",
      () => Uint8Array.from([...lenField(1, [...tag(1, 2), 0x05, 0x61]), ...intField(9, 1), ...intField(9, 1)]),
      /pieces\[0\]\.piece: length 5 at offset 3 runs past the end of pieces\[0\] \(which ends at offset 5\)/,
    ],
    [
      "truncated score",
      () => Uint8Array.from([...lenField(1, [...strField(1, "a"), ...tag(2, 5), 0, 0]), ...pieceMsg(TINY_PIECES[0])]),
      /pieces\[0\]\.score \(4-byte fixed field\) at offset 6 runs past the end of pieces\[0\] \(which ends at offset 8\)/,
    ],
  ];
  for (const [name, make, pattern] of structural) {
    it(`refuses: ${name}`, async () => {
      const path = `/bad/${name.replace(/\W+/g, "_")}.model`;
      await expectUserError(() => readSentencePieceModel(make(), path), path, pattern);
      await expectUserError(parseSentencePieceTokenizer(make(), path), path, pattern);
    });
  }
});

describe("SentencePiece tokenizer: what SentencePiece itself would refuse", () => {
  const P = TINY_PIECES;
  const bytePieces = (n: number): PieceSpec[] =>
    Array.from({ length: n }, (_, b) => ({ piece: `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`, type: PieceType.BYTE }));
  const semantic: [string, () => Uint8Array, RegExp][] = [
    ["an empty piece", () => buildModel({ pieces: [...P, { piece: "" }] }), /piece 8 is empty/],
    ["a NUL in a piece", () => buildModel({ pieces: [...P, { piece: "a\0b" }] }), /piece 8 "a\\u0000b" contains a NUL character/],
    ["a piece of 8000 bytes", () => buildModel({ pieces: [...P, { piece: "x".repeat(8000) }] }), /8000 bytes or longer/],
    ["a duplicate piece", () => buildModel({ pieces: [...P, { piece: "ab" }] }), /piece 8 "ab" is defined twice \(ids 4 and 8\)/],
    ["no unknown piece", () => buildModel({ pieces: [{ piece: "<x>", type: PieceType.CONTROL }, ...P.slice(1)] }), /no UNKNOWN piece/],
    ["two unknown pieces", () => buildModel({ pieces: [...P, { piece: "<unk2>", type: PieceType.UNKNOWN }] }), /two UNKNOWN pieces \(ids 0 and 8\)/],
    ["a byte piece without byte_fallback", () => buildModel({ pieces: [...P, ...bytePieces(256)] }), /BYTE piece but trainer_spec\.byte_fallback is false/],
    ["a malformed byte piece", () => buildModel({ byteFallback: true, pieces: [...P, { piece: "<0xzz>", type: PieceType.BYTE }] }), /not of the form <0xHH>/],
    ["lower-case byte piece", () => buildModel({ byteFallback: true, pieces: [...P, { piece: "<0xab>", type: PieceType.BYTE }] }), /not of the form <0xHH>/],
    ["missing byte pieces", () => buildModel({ byteFallback: true, pieces: [...P, ...bytePieces(255)] }), /only 255 of the 256 byte pieces/],
    ["no BOS piece", () => buildModel({ pieces: [P[0], { piece: "<x>", type: PieceType.CONTROL }, ...P.slice(2)] }), /has no BOS: no CONTROL piece "<s>"/],
    ["BOS not a control piece", () => buildModel({ pieces: [P[0], { piece: "<s>" }, ...P.slice(2)] }), /has no BOS/],
    ["no EOS piece", () => buildModel({ pieces: [...P.slice(0, 2), { piece: "<x>", type: PieceType.CONTROL }, ...P.slice(3)] }), /has no EOS/],
    ["bos_id disagreeing with the <s> piece", () => buildModel({ trainer: intField(41, 3) }), /trainer_spec\.bos_id is 3 but the BOS piece "<s>" is id 1/],
    ["unk_id disagreeing with the unknown piece", () => buildModel({ trainer: intField(40, 2) }), /trainer_spec\.unk_id is 2 but the UNKNOWN piece is id 0/],
  ];
  for (const [name, make, pattern] of semantic) {
    it(`refuses: ${name}`, async () => {
      const path = `/bad/${name.replace(/\W+/g, "_")}.model`;
      await expectUserError(parseSentencePieceTokenizer(make(), path), path, pattern);
    });
  }

  it("finds BOS / EOS by the trainer spec's piece names, as SentencePiece does", async () => {
    const pieces = [P[0], { piece: "<bos>", type: PieceType.CONTROL }, { piece: "<eos>", type: PieceType.CONTROL }, ...P.slice(3)];
    const bytes = buildModel({ pieces, trainer: [...strField(46, "<bos>"), ...strField(47, "<eos>")] });
    const tok = await parseSentencePieceTokenizer(bytes, "named.model");
    expect([tok.bosId, tok.eosIds[0]]).toEqual([1, 2]);
    const swapped = buildModel({ pieces, trainer: [...strField(46, "<eos>"), ...strField(47, "<bos>"), ...intField(41, 2), ...intField(42, 1)] });
    const tok2 = await parseSentencePieceTokenizer(swapped, "swapped.model");
    expect([tok2.bosId, tok2.eosIds[0]]).toEqual([2, 1]);
  });

  it("turns the library's refusal into a UserError, and a later good load still works", async () => {
    const before = emscriptenListenerCounts();
    // A precompiled_charsmap that is not a valid blob: the protobuf is fine, SentencePiece's normalizer refuses it.
    const bad = buildModel({ normalizer: [...strField(1, "broken"), ...lenField(2, [1, 2, 3])] });
    await expectUserError(parseSentencePieceTokenizer(bad, "/x/broken.model"), "/x/broken.model", /SentencePiece \(sentencepiece-js\) refused it: .*Blob for normalization rule is broken/);
    const tok = await loadSentencePieceTokenizer(TOK512_MODEL, 512);
    expect(tok.encode("Hello world")).toEqual(reference["spm:tok512.model"].encode[0]);
    expect(emscriptenListenerCounts()).toEqual(before);
  });
});

describe("SentencePiece tokenizer: bad files", () => {
  it("refuses a wrong expected vocabulary size", async () => {
    await expectUserError(loadSentencePieceTokenizer(TOK512_MODEL, 32000), TOK512_MODEL, /has 512 pieces but the model's vocab_size is 32000/);
  });

  it("refuses a missing file, a directory, an empty file", async () => {
    await expectUserError(loadSentencePieceTokenizer(join(tmp, "nope.model")), join(tmp, "nope.model"), /no such file/);
    await expectUserError(loadSentencePieceTokenizer(tmp), tmp, /directory/);
    const empty = join(tmp, "empty.model");
    writeFileSync(empty, new Uint8Array(0));
    await expectUserError(loadSentencePieceTokenizer(empty), empty, /empty file/);
  });

  it("refuses a llama2.c tokenizer.bin, an ExecuTorch tokenizer.bin and tiktoken text passed as a .model", async () => {
    const bin = new Uint8Array(readFileSync(TOK512_BIN));
    const et = new Uint8Array(bin.length + 12);
    new DataView(et.buffer).setUint32(0, 512, true);
    new DataView(et.buffer).setUint32(4, 1, true);
    new DataView(et.buffer).setUint32(8, 2, true);
    et.set(bin, 12);
    const files: [string, Uint8Array][] = [
      ["tok512.bin.model", bin],
      ["et.model", et],
      ["tiktoken.model", utf8.encode("IQ== 0\nIg== 1\nIw== 2\n")],
      ["text.model", utf8.encode("\nhello\n")],
    ];
    for (const f of [LLAMA3_TIKTOKEN, TIKTOKEN_SMALL, LLAMA2_BIN]) if (existsSync(f)) files.push([f.replace(/\W+/g, "_"), new Uint8Array(readFileSync(f))]);
    for (const [name, bytes] of files) {
      const path = join(tmp, name);
      writeFileSync(path, bytes);
      await expectUserError(loadSentencePieceTokenizer(path), path);
    }
  });

  it("refuses the model truncated at every length, never crashing or hanging", async () => {
    const full = tok512Bytes();
    const path = "/trunc/tok512.model";
    const before = emscriptenListenerCounts();
    let loaded = 0;
    for (let len = 0; len < full.length; len++) {
      const t0 = Date.now();
      try {
        const tok = await parseSentencePieceTokenizer(full.slice(0, len), path);
        // Only a cut at a top-level field boundary after all pieces and the trainer spec can still be a model.
        expect(tok.vocabSize, `length ${len}`).toBe(512);
        loaded++;
      } catch (e) {
        expect(e, `length ${len}: ${String(e)}`).toBeInstanceOf(UserError);
        expect((e as Error).message).toContain(path);
        expect((e as Error).message).not.toMatch(/\n/);
      }
      expect(Date.now() - t0, `length ${len}`).toBeLessThan(3000);
    }
    // tok512.model: pieces, trainer_spec, normalizer_spec; cutting off the whole normalizer_spec leaves a model.
    expect(loaded).toBe(1);
    expect(emscriptenListenerCounts()).toEqual(before);
  });

  it("survives ~200 seeded random corruptions: a UserError naming the file, or a working tokenizer", async () => {
    const full = tok512Bytes();
    const path = "/fuzz/tok512.model";
    const before = emscriptenListenerCounts();
    const outcomes = { reader: 0, checks: 0, library: 0, loaded: 0 };
    for (let iter = 0; iter < 200; iter++) {
      const rng = prng(0x5eed0000 + iter);
      const bytes = full.slice();
      const flips = 1 + rng.int(4);
      const what: string[] = [];
      for (let k = 0; k < flips; k++) {
        const at = rng.int(bytes.length);
        const v = rng.int(256);
        what.push(`[${at}]=${v}`);
        bytes[at] = v;
      }
      const label = `iteration ${iter}: ${what.join(" ")}`;
      const t0 = Date.now();
      let tok: SentencePieceTokenizer | undefined;
      try {
        tok = await parseSentencePieceTokenizer(bytes, path);
      } catch (e) {
        expect(e, `${label}: ${String(e)}`).toBeInstanceOf(UserError);
        const msg = (e as Error).message;
        expect(msg, label).toContain(path);
        expect(msg, label).not.toMatch(/\n/);
        if (/sentencepiece-js/.test(msg)) outcomes.library++;
        else if (/offset|pieces but|has no pieces|not a SentencePiece/.test(msg)) outcomes.reader++;
        else outcomes.checks++;
      }
      if (tok !== undefined) {
        outcomes.loaded++;
        expect(tok.vocabSize, label).toBe(512);
        for (const s of reference.strings) {
          const ids = tok.encode(s);
          expect(ids.every((id) => Number.isInteger(id) && id >= 0 && id < 512), label).toBe(true);
          decodeAll(tok, ids, tok.bosId);
        }
      }
      expect(Date.now() - t0, label).toBeLessThan(3000);
    }
    // Both paths are exercised: most corruptions are refused, flipped letters inside pieces still load.
    expect(outcomes.reader + outcomes.checks).toBeGreaterThan(20);
    expect(outcomes.loaded).toBeGreaterThan(10);
    expect(emscriptenListenerCounts()).toEqual(before);
    // And a good load after all of it.
    const tok = await loadSentencePieceTokenizer(TOK512_MODEL, 512);
    expect(tok.encode("Once upon a time")).toEqual([403, 407, 261, 378]);
  });

  it("keeps one WebAssembly instance per tokenizer: concurrent loads, independent tokenizers, no leaked listeners", async () => {
    const before = emscriptenListenerCounts();
    const [a, b, c] = await Promise.all([
      loadSentencePieceTokenizer(TOK512_MODEL),
      parseSentencePieceTokenizer(buildModel(), "tiny.model"),
      parseSentencePieceTokenizer(buildModel({ vocabSize: 3 }), "bad.model").catch((e: unknown) => e),
    ]);
    expect(c).toBeInstanceOf(UserError);
    expect((a as SentencePieceTokenizer).encode("Hello world")).toEqual(reference["spm:tok512.model"].encode[0]);
    expect((b as SentencePieceTokenizer).vocabSize).toBe(8);
    expect(emscriptenListenerCounts()).toEqual(before);
  });
});
