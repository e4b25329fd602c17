// Owns Hugging Face `tokenizer.json` (BPE: the Qwen, SmolLM, Phi and Gemma families): recognising the file by
// content, validating it, and encoding / decoding through Hugging Face's own TypeScript port of its tokenizers
// library (`@huggingface/tokenizers`: normalizers, pre-tokenizers incl. byte-level, BPE merges, added and special
// tokens, post-processor templates), behind the project's Tokenizer interface.
//
// Decisions:
// - The library does the tokenization (it follows the Rust crate, which is the reference; the test suite cross-checks
//   it against the Rust crate's N-API binding on a few hundred strings). The project validates the file first, so a
//   damaged or hostile file is a one-line UserError naming it, never a library stack trace: a JSON object whose
//   `model.type` is "BPE" (others refused by name), `model.vocab` an object of non-negative integer ids below 2^31
//   with no id used twice, `model.merges` pairs (["a", "b"] or "a b"), `added_tokens` entries with an integer id and
//   string content, and no id naming two different strings across vocab and added tokens.
// - vocabSize = max id + 1. A tokenizer may be smaller than the model's embedding table (real Qwen checkpoints pad it
//   to 151936 rows for 151669 ids); one with ids past the model's vocabulary is refused (`expectedVocabSize`).
// - BOS / EOS come from `tokenizer_config.json` beside the file (`bos_token`, `eos_token`; strings or {content}), as
//   the device runner's HF tokenizer reads them; without one, none. `encode(text, {bos})` puts the BOS id in front
//   itself and never applies the post-processor template, so "encode with n_bos = 1" means the same for every format.
// - Added tokens written in the text are always matched, by `encode` as by `encodeWithSpecial`: the library (like the
//   Rust crate) has no "ordinary text" mode for them, and the runner matches them too (SPEC-2026 §7).
// - decodeBytes(prev, id): the token's own bytes, for streaming. Byte-level BPE (Qwen, SmolLM, Phi): each character of
//   the token string maps back through the GPT-2 byte-to-unicode table. SentencePiece-style BPE (Gemma): "▁" is a
//   space and "<0xNN>" byte-fallback tokens are that byte. Added tokens go the same way, as in the Rust decoders.
//   `prev` is ignored.
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { oneLine, UserError } from "../util/errors.js";
import { readUserFile } from "../util/files.js";
import type { Tokenizer } from "./types.js";

export interface HfJsonOptions {
  /** The model's vocabulary size: a tokenizer with ids at or past it is refused. */
  expectedVocabSize?: number;
  /** tokenizer_config.json text (default: the file beside the tokenizer, if any). */
  configText?: string;
}

export interface HfJsonTokenizer extends Tokenizer {
  encodeWithSpecial(text: string, o: { allowSpecial: boolean; bos?: boolean; eos?: boolean }): number[];
  /** Exactly the library's encode(text, { add_special_tokens }) ids (what the tests cross-check against the Rust crate). */
  encodeHf(text: string, addSpecialTokens: boolean): number[];
  /** The library's decode. */
  decode(ids: number[], skipSpecialTokens?: boolean): string;
  /** The id of a token string (vocab or added token), or undefined. */
  tokenId(token: string): number | undefined;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const MAX_ID = 2 ** 31 - 1;

/** True when the bytes look like a Hugging Face tokenizer.json: a JSON object with "model" and "added_tokens" or "pre_tokenizer". */
export function isHfTokenizerJson(bytes: Uint8Array): boolean {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  if (bytes[i] !== 0x7b) return false;
  const head = new TextDecoder("utf-8", { fatal: false }).decode(bytes.subarray(0, Math.min(bytes.length, 1 << 16)));
  return /"model"\s*:/.test(head) || (/"added_tokens"\s*:/.test(head) && /"(pre_tokenizer|normalizer|truncation|version)"\s*:/.test(head));
}

/** GPT-2's byte <-> unicode table (printable bytes map to themselves, the others to U+0100 onwards in byte order). */
function byteDecoderTable(): Map<string, number> {
  const keep: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  const kept = new Set(keep);
  const m = new Map<string, number>();
  for (const b of keep) m.set(String.fromCodePoint(b), b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (!kept.has(b)) m.set(String.fromCodePoint(256 + n++), b);
  return m;
}

function tokenText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isObj(v) && typeof v.content === "string") return v.content;
  return undefined;
}

/** Does the JSON describe byte-level BPE (a ByteLevel pre-tokenizer or decoder anywhere in their trees)? */
function usesByteLevel(o: Obj): boolean {
  const has = (v: unknown): boolean => {
    if (!isObj(v)) return false;
    if (v.type === "ByteLevel") return true;
    for (const k of ["pretokenizers", "decoders"]) if (Array.isArray(v[k]) && (v[k] as unknown[]).some(has)) return true;
    return false;
  };
  return has(o.pre_tokenizer) || has(o.decoder);
}

export function parseHfTokenizerJson(bytes: Uint8Array, path: string, opts: HfJsonOptions = {}): HfJsonTokenizer {
  const bad = (msg: string): never => {
    throw new UserError(`tokenizer ${path}: ${msg}`);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    return bad(`not valid tokenizer.json (${oneLine((e as Error).message)})`);
  }
  if (!isObj(raw)) return bad("not a tokenizer.json object");
  const model = raw.model;
  if (!isObj(model)) return bad(`no "model" object`);
  if (model.type !== "BPE") return bad(`model type ${JSON.stringify(model.type)} is not supported (BPE only)`);
  const vocab = model.vocab;
  if (!isObj(vocab)) return bad(`"model.vocab" must be an object of token → id`);
  const byId = new Map<number, string>();
  let maxId = -1;
  for (const [tok, id] of Object.entries(vocab)) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > MAX_ID) bad(`vocab entry ${JSON.stringify(tok)} has id ${JSON.stringify(id)}, not an integer in [0, 2^31)`);
    const prev = byId.get(id as number);
    if (prev !== undefined) bad(`vocab id ${id} is used by both ${JSON.stringify(prev)} and ${JSON.stringify(tok)}`);
    byId.set(id as number, tok);
    if ((id as number) > maxId) maxId = id as number;
  }
  const merges = model.merges;
  if (merges !== undefined) {
    if (!Array.isArray(merges)) bad(`"model.merges" must be a list`);
    (merges as unknown[]).forEach((m, i) => {
      const ok = (typeof m === "string" && m.split(" ").length === 2) || (Array.isArray(m) && m.length === 2 && m.every((x) => typeof x === "string"));
      if (!ok) bad(`merge ${i} (${JSON.stringify(m).slice(0, 60)}) is not a pair of tokens`);
    });
  }
  const added = raw.added_tokens ?? [];
  if (!Array.isArray(added)) return bad(`"added_tokens" must be a list`);
  const specials = new Map<string, number>();
  (added as unknown[]).forEach((t, i) => {
    if (!isObj(t) || typeof t.content !== "string" || typeof t.id !== "number" || !Number.isInteger(t.id) || t.id < 0 || t.id > MAX_ID)
      bad(`added token ${i} needs an integer "id" in [0, 2^31) and a string "content"`);
    const a = t as { id: number; content: string };
    const prev = byId.get(a.id);
    if (prev !== undefined && prev !== a.content) bad(`id ${a.id} is both ${JSON.stringify(prev)} and the added token ${JSON.stringify(a.content)}`);
    byId.set(a.id, a.content);
    specials.set(a.content, a.id);
    if (a.id > maxId) maxId = a.id;
  });
  if (maxId < 0) return bad("the vocabulary is empty");
  const vocabSize = maxId + 1;
  if (opts.expectedVocabSize !== undefined && vocabSize > opts.expectedVocabSize)
    bad(`${vocabSize} token ids, but the model's vocabulary has ${opts.expectedVocabSize} (see --fold_vocab)`);

  // tokenizer_config.json: BOS / EOS.
  let configText = opts.configText;
  const cfgPath = join(dirname(path), "tokenizer_config.json");
  if (configText === undefined && existsSync(cfgPath)) configText = new TextDecoder().decode(readUserFile(cfgPath, "tokenizer config"));
  let config: Obj = {};
  if (configText !== undefined) {
    try {
      const c = JSON.parse(configText);
      if (!isObj(c)) throw new Error("not an object");
      config = c;
    } catch (e) {
      bad(`its tokenizer_config.json is not a JSON object (${oneLine((e as Error).message)})`);
    }
  }
  const idOf = (text: string | undefined, what: string): number => {
    if (text === undefined) return -1;
    const id = specials.get(text) ?? (vocab as Record<string, number>)[text];
    if (id === undefined) bad(`tokenizer_config.json's ${what} ${JSON.stringify(text)} is not a token`);
    return id as number;
  };
  const bosId = idOf(tokenText(config.bos_token), "bos_token");
  const eosId = idOf(tokenText(config.eos_token), "eos_token");

  let hf: HfTokenizer;
  try {
    hf = new HfTokenizer(raw, config);
  } catch (e) {
    return bad(`the tokenizer library cannot build it (${oneLine((e as Error).message)})`);
  }
  const byteLevel = usesByteLevel(raw);
  const byteFallback = model.byte_fallback === true;
  const table = byteDecoderTable();
  const utf8 = new TextEncoder();

  // As the Rust decoders do for every token, added ones included: ByteLevel maps a token's characters through the
  // byte table (a token with a character outside it keeps its UTF-8 bytes); otherwise ▁ is a space and <0xNN> a byte.
  const tokenBytes = (id: number): Uint8Array => {
    const s = byId.get(id);
    if (s === undefined) return new Uint8Array(0);
    if (byteLevel) {
      const out: number[] = [];
      for (const ch of s) {
        const b = table.get(ch);
        if (b === undefined) return utf8.encode(s);
        out.push(b);
      }
      return Uint8Array.from(out);
    }
    const m = byteFallback ? /^<0x([0-9A-Fa-f]{2})>$/.exec(s) : null;
    if (m) return Uint8Array.of(parseInt(m[1], 16));
    return utf8.encode(s.replaceAll("\u2581", " "));
  };
  const checkId = (id: number) => {
    if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) throw new RangeError(`token id ${id} is outside the tokenizer's [0, ${vocabSize})`);
  };
  const withBosEos = (ids: number[], bos?: boolean, eos?: boolean): number[] => {
    if (bos && bosId < 0) bad("a BOS was asked for, but the tokenizer has none (no bos_token in tokenizer_config.json)");
    if (eos && eosId < 0) bad("an EOS was asked for, but the tokenizer has none (no eos_token in tokenizer_config.json)");
    return [...(bos ? [bosId] : []), ...ids, ...(eos ? [eosId] : [])];
  };
  const plain = (text: string) => hf.encode(text, { add_special_tokens: false }).ids;

  return {
    kind: "hf-json",
    vocabSize,
    bosId,
    eosIds: eosId >= 0 ? [eosId] : [],
    encode: (text, o = {}) => withBosEos(plain(text), o.bos, o.eos),
    encodeWithSpecial: (text, o) => withBosEos(plain(text), o.bos, o.eos),
    encodeHf: (text, addSpecialTokens) => hf.encode(text, { add_special_tokens: addSpecialTokens }).ids,
    // The library refuses an empty list; the empty sequence decodes to "".
    decode: (ids, skipSpecialTokens = false) => (ids.length === 0 ? "" : hf.decode(ids, { skip_special_tokens: skipSpecialTokens })),
    decodeBytes: (_prev, id) => {
      checkId(id);
      return tokenBytes(id);
    },
    piece: (id) => {
      checkId(id);
      return byId.get(id) ?? "";
    },
    tokenId: (t) => specials.get(t) ?? (vocab as Record<string, number>)[t],
  };
}

/** A tokenizer.json given as a file or as its directory. */
export function hfTokenizerJsonPath(path: string): string | undefined {
  try {
    if (statSync(path).isDirectory()) {
      const p = join(path, "tokenizer.json");
      return existsSync(p) ? p : undefined;
    }
  } catch {
    return undefined;
  }
  return path;
}
