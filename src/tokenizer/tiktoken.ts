// Owns the tiktoken BPE tokenizer of Llama 3: loading a tiktoken-format `tokenizer.model` (one
// `base64(token bytes) SPACE rank` line per token), encoding exactly as OpenAI tiktoken does with the Llama 3
// split pattern, the Llama 3 special tokens, and decoding token by token as ExecuTorch's Tiktoken::decode does.
//
// Encoding (tiktoken `CoreBPE`): the text is cut into pieces by the split pattern (llama3-pattern.ts); a piece
// whose UTF-8 bytes are a token is that token; otherwise its bytes are merged byte-pair-wise: repeatedly merge the
// adjacent pair whose concatenation has the lowest rank (the leftmost such pair on ties) until no adjacent pair is
// a token. With special tokens allowed, the text is first cut at every special-token string (leftmost first) and
// each part between them is encoded as above, so the pattern never sees across a special token.
//
// Why not js-tiktoken (a dependency of this package): it reproduces the reference ids (it takes custom ranks in
// its `bpe_ranks` text format and a custom `pat_str`), but its merge loop recomputes every pair of a piece after
// each merge with `Array.join` keys, which is quadratic in the piece length: one 20,000-letter word takes ~27 s
// to encode with the Llama 3 ranks (a 100 kB text without spaces would take many minutes). It also silently drops
// or emits `undefined` for bytes that have no token, and its constructor takes ~0.75 s for 128,000 ranks. The merge
// below is the same algorithm (same results: lowest rank, leftmost on ties, whole-piece lookup first) run on a
// binary heap, O(n log n) per piece. The test suite uses js-tiktoken as an independent cross-check.
//
// Decisions:
//   - The file is checked strictly (tiktoken itself skips blank lines, splits on any whitespace and accepts
//     non-canonical base64): every line must be exactly `<base64> <decimal rank>` (LF or CRLF line ends, the
//     last line end optional); the ranks must be 0..n-1, each once, in any order; no two lines may decode to the
//     same bytes; all 256 single bytes must be tokens (byte-level BPE can encode any text only then; tiktoken
//     would panic on a missing byte). Problems are UserErrors naming the path and the line.
//   - Special tokens ("llama3", the default) get ids n + i, i = 0..255 (Meta's tokenizer.py and ExecuTorch's
//     Tiktoken: `num_base_tokens + i`), so vocabSize = n + 256 (128256 for Llama 3). The reference ids in
//     test/fixtures/tokenizers_tiktoken.json used 128000 + i for both files; the two agree for Llama 3 and no
//     reference id of tiktoken_small is a special token. With "none" there are no special tokens, no BOS
//     (bosId -1) and no stop ids. `bos: true` prepends <|begin_of_text|>, `eos: true` appends <|end_of_text|>
//     (Meta's tokenizer.py); eosIds, the runner's stop set, is {<|end_of_text|>, <|eot_id|>} (SPEC §6).
//   - encode() never recognises special tokens: their text is ordinary text (tiktoken's encode_ordinary).
//     encodeWithSpecial({allowSpecial: true}) recognises all of them (tiktoken's encode(allowed_special="all"),
//     and what ExecuTorch's Tiktoken::encode always does); the runner uses it for the chat template.
//   - A lone UTF-16 surrogate in the text is encoded as U+FFFD (as tiktoken does after its surrogate fix-up).
//   - decodeBytes(prev, token) is the token's bytes, a special token's name as UTF-8; `prev` is ignored, no space
//     is ever stripped (ExecuTorch's Tiktoken::decode does the same: `(void)prev`).
//   - Meta's tokenizer.py also cuts texts longer than 400,000 characters and runs of more than 25,000 spaces /
//     non-spaces before calling tiktoken (a tiktoken stack limit); this is not reproduced: here such texts are
//     encoded whole, exactly as tiktoken's own encode does.
import { UserError } from "../util/errors.js";
import { readUserFile } from "../util/files.js";
import { LLAMA3_SPECIAL_INDEX, LLAMA3_SPECIAL_TOKEN_NAMES } from "./llama3-special.js";
import { LLAMA3_PATTERN_SOURCE } from "./llama3-pattern.js";
import type { Tokenizer } from "./types.js";

export interface TiktokenOptions {
  /** The model's vocabulary size: a different vocabSize (ranks + special tokens) is a UserError. */
  expectedVocabSize?: number;
  /** Which special tokens follow the ranks (default "llama3": 256 tokens, ids n..n+255). */
  specialTokens?: "llama3" | "none";
}

export interface EncodeWithSpecialOptions {
  /** Recognise special-token strings in the text; when false they are ordinary text. */
  allowSpecial: boolean;
  bos?: boolean;
  eos?: boolean;
}

/** A loaded tiktoken tokenizer: the common interface plus special-token aware encoding and the file's details. */
export interface TiktokenTokenizer extends Tokenizer {
  readonly kind: "tiktoken";
  /** Number of ranks (lines) in the file: the first special id. */
  readonly numRanks: number;
  /** Special token name -> id (empty with specialTokens "none"). */
  readonly specialTokens: ReadonlyMap<string, number>;
  /** Like encode(), but special-token strings in the text become their ids when `allowSpecial` is true. */
  encodeWithSpecial(text: string, opts: EncodeWithSpecialOptions): number[];
  /** The exact bytes of a token (a special token: its name as UTF-8); a copy. */
  pieceBytes(id: number): Uint8Array;
}

const WHAT = "tokenizer";

interface Vocab {
  readonly path: string;
  /** Token bytes by rank, as latin1 strings (one char per byte) for exact-byte Map keys and cheap slicing. */
  readonly keys: readonly string[];
  readonly lookup: ReadonlyMap<string, number>;
  /** Longest token in bytes (a longer byte range cannot be a token). */
  readonly maxTokenLength: number;
  readonly specialNames: readonly string[];
  readonly specialIds: ReadonlyMap<string, number>;
  /** Matches any special-token name (global), or undefined when there are none. */
  readonly specialSource: string | undefined;
}

/** Reads and parses a tiktoken tokenizer.model; every problem is a UserError naming the path. */
export function loadTiktokenTokenizer(path: string, opts: TiktokenOptions = {}): TiktokenTokenizer {
  return parseTiktokenTokenizer(readUserFile(path, WHAT), path, opts);
}

/** Parses tiktoken tokenizer.model bytes (`path` is only used in messages). */
export function parseTiktokenTokenizer(bytes: Uint8Array, path: string, opts: TiktokenOptions = {}): TiktokenTokenizer {
  const fail = (problem: string): never => {
    throw new UserError(`${WHAT} ${path}: ${problem}`);
  };
  const { keys, lookup, maxTokenLength } = parseRanks(bytes, fail);
  const n = keys.length;
  const specialNames = (opts.specialTokens ?? "llama3") === "llama3" ? LLAMA3_SPECIAL_TOKEN_NAMES : [];
  const vocabSize = n + specialNames.length;
  if (opts.expectedVocabSize !== undefined && vocabSize !== opts.expectedVocabSize) {
    const parts = `${n} ranks + ${specialNames.length} special tokens`;
    fail(`has ${vocabSize} tokens (${parts}) but the model's vocab_size is ${opts.expectedVocabSize}`);
  }
  const specialIds = new Map(specialNames.map((name, i) => [name, n + i] as const));
  const vocab: Vocab = {
    path,
    keys,
    lookup,
    maxTokenLength,
    specialNames,
    specialIds,
    specialSource: specialNames.length === 0 ? undefined : specialNames.map(escapeRegExp).join("|"),
  };
  return makeTokenizer(vocab);
}

// ---------------------------------------------------------------------------------------------------------------
// File format

/** base64 alphabet value of each byte, -1 if not in the standard alphabet. */
const B64 = (() => {
  const t = new Int8Array(256).fill(-1);
  const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (let i = 0; i < abc.length; i++) t[abc.charCodeAt(i)] = i;
  return t;
})();
const EQ = 0x3d;
const SPACE = 0x20;
const MAX_RANK = 0x7fffffff;

type LineResult = { ok: true; key: string; rank: number } | { ok: false; problem: string };

/** Parses one line (without its line end): `<base64> <rank>`. */
function parseLine(line: Uint8Array): LineResult {
  const bad = (problem: string): LineResult => ({ ok: false, problem });
  if (line.length === 0) return bad("empty line (expected `<base64 token> <rank>`)");
  const sp = line.indexOf(SPACE);
  if (sp === -1) return bad(`no space between a base64 token and a rank in ${excerpt(line)}`);
  if (sp === 0) return bad(`empty base64 token before the rank in ${excerpt(line)}`);
  const key = decodeBase64(line.subarray(0, sp));
  if (typeof key !== "string") return bad(`${key.problem} in ${excerpt(line)}`);
  const digits = line.subarray(sp + 1);
  if (digits.length === 0) return bad(`missing rank after the space in ${excerpt(line)}`);
  let rank = 0;
  for (const c of digits) {
    if (c < 0x30 || c > 0x39) return bad(`the rank is not a decimal number in ${excerpt(line)}`);
    rank = rank * 10 + (c - 0x30);
    if (rank > MAX_RANK) return bad(`the rank is larger than ${MAX_RANK} in ${excerpt(line)}`);
  }
  return { ok: true, key, rank };
}

/** Strict standard base64 (padded, canonical) to a latin1 string, or a problem. */
function decodeBase64(s: Uint8Array): string | { problem: string } {
  const len = s.length;
  if (len % 4 !== 0) return { problem: `base64 token of ${len} characters is not a multiple of 4 (truncated?)` };
  let pad = 0;
  if (s[len - 1] === EQ) pad = s[len - 2] === EQ ? 2 : 1;
  const out: number[] = [];
  for (let i = 0; i < len; i += 4) {
    const last = i + 4 === len;
    const v = [0, 0, 0, 0];
    for (let k = 0; k < 4; k++) {
      const c = s[i + k];
      if (last && k >= 4 - pad) continue; // padding '=' (checked below to be only at the end)
      const d = B64[c];
      if (d === -1) return { problem: `invalid base64 character ${describeByte(c)}` };
      v[k] = d;
    }
    out.push((v[0] << 2) | (v[1] >> 4));
    if (last && pad === 2) {
      if ((v[1] & 0x0f) !== 0) return { problem: "non-canonical base64 (nonzero bits before the padding)" };
      break;
    }
    out.push(((v[1] & 0x0f) << 4) | (v[2] >> 2));
    if (last && pad === 1) {
      if ((v[2] & 0x03) !== 0) return { problem: "non-canonical base64 (nonzero bits before the padding)" };
      break;
    }
    out.push(((v[2] & 0x03) << 6) | v[3]);
  }
  return latin1(out);
}

interface Ranks {
  /** Token bytes (latin1) by rank. */
  keys: string[];
  lookup: Map<string, number>;
  maxTokenLength: number;
}

function parseRanks(bytes: Uint8Array, fail: (problem: string) => never): Ranks {
  if (bytes.length === 0) fail("empty file");
  const lineKeys: string[] = [];
  const lineRanks: number[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const nl = bytes.indexOf(0x0a, pos);
    const end = nl === -1 ? bytes.length : nl;
    const lineEnd = end > pos && bytes[end - 1] === 0x0d ? end - 1 : end;
    const r = parseLine(bytes.subarray(pos, lineEnd));
    if (!r.ok) fail(`line ${lineKeys.length + 1}: ${r.problem}`);
    else {
      lineKeys.push(r.key);
      lineRanks.push(r.rank);
    }
    pos = end + 1;
  }
  const n = lineKeys.length;
  const keys = new Array<string>(n);
  const rankLine = new Int32Array(n); // 1-based line of each rank, 0 = not seen yet
  const lookup = new Map<string, number>();
  let maxTokenLength = 0;
  for (let i = 0; i < n; i++) {
    const line = i + 1;
    const rank = lineRanks[i];
    const key = lineKeys[i];
    if (rank >= n) {
      fail(`line ${line}: rank ${rank} is out of range: the file has ${n} tokens, so the ranks must be 0..${n - 1}`);
    }
    if (rankLine[rank] !== 0) fail(`line ${line}: rank ${rank} was already given on line ${rankLine[rank]}`);
    const seen = lookup.get(key);
    if (seen !== undefined) {
      fail(`line ${line}: the token bytes ${describeKey(key)} were already given on line ${rankLine[seen]}`);
    }
    rankLine[rank] = line;
    keys[rank] = key;
    lookup.set(key, rank);
    if (key.length > maxTokenLength) maxTokenLength = key.length;
  }
  // n distinct ranks, all below n: every rank 0..n-1 is present.
  for (let b = 0; b < 256; b++) {
    if (!lookup.has(String.fromCharCode(b))) {
      fail(`no token for the single byte ${describeByte(b)} (${n} tokens); byte-level BPE needs all 256 single bytes`);
    }
  }
  return { keys, lookup, maxTokenLength };
}

/** Cheap structural check of the first line: `<base64> <decimal>`; false for llama2.c .bin and protobuf files. */
export function isTiktokenFile(head: Uint8Array): boolean {
  const nl = head.indexOf(0x0a);
  let end = nl === -1 ? head.length : nl;
  if (end > 0 && head[end - 1] === 0x0d) end--;
  return parseLine(head.subarray(0, end)).ok;
}

// ---------------------------------------------------------------------------------------------------------------
// Tokenizer

function makeTokenizer(v: Vocab): TiktokenTokenizer {
  const n = v.keys.length;
  const vocabSize = n + v.specialNames.length;
  const hasSpecial = v.specialNames.length > 0;
  const bosId = hasSpecial ? n + LLAMA3_SPECIAL_INDEX.beginOfText : -1;
  const eosId = hasSpecial ? n + LLAMA3_SPECIAL_INDEX.endOfText : -1;
  const eosIds = hasSpecial ? [n + LLAMA3_SPECIAL_INDEX.endOfText, n + LLAMA3_SPECIAL_INDEX.eot] : [];
  const specialBytes = v.specialNames.map((name) => utf8Encoder.encode(name));

  const checkId = (id: number): void => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new Error(`tiktoken tokenizer: token id ${id} is out of range 0..${vocabSize - 1}`);
    }
  };
  const bytesOf = (id: number): Uint8Array => (id < n ? latin1Bytes(v.keys[id]) : specialBytes[id - n].slice());
  const wrap = (ids: number[], bos: boolean, eos: boolean): number[] => {
    if ((bos || eos) && !hasSpecial) {
      throw new UserError(`${WHAT} ${v.path}: loaded without special tokens, so it has no BOS/EOS to add`);
    }
    if (bos) ids.unshift(bosId);
    if (eos) ids.push(eosId);
    return ids;
  };

  return {
    kind: "tiktoken",
    vocabSize,
    bosId,
    eosIds,
    numRanks: n,
    specialTokens: v.specialIds,
    encode: (text, opts) => wrap(encodeOrdinary(v, text), opts?.bos ?? false, opts?.eos ?? false),
    encodeWithSpecial: (text, opts) =>
      wrap(opts.allowSpecial ? encodeSpecial(v, text) : encodeOrdinary(v, text), opts.bos ?? false, opts.eos ?? false),
    decodeBytes: (_prevToken, token) => {
      checkId(token);
      return bytesOf(token);
    },
    piece: (id) => {
      checkId(id);
      return id < n ? readable(latin1Bytes(v.keys[id])) : v.specialNames[id - n];
    },
    pieceBytes: (id) => {
      checkId(id);
      return bytesOf(id);
    },
  };
}

/** tiktoken encode_ordinary: split with the pattern, then BPE each piece. */
function encodeOrdinary(v: Vocab, text: string): number[] {
  const out: number[] = [];
  encodeOrdinaryInto(v, text, out);
  return out;
}

function encodeOrdinaryInto(v: Vocab, text: string, out: number[]): void {
  const re = new RegExp(LLAMA3_PATTERN_SOURCE, "gu");
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const key = utf8Key(m[0]);
    const whole = v.lookup.get(key);
    if (whole !== undefined) out.push(whole);
    else bytePairEncode(v, key, out);
  }
}

/** tiktoken encode with every special token allowed: cut at special-token strings, encode the parts between. */
function encodeSpecial(v: Vocab, text: string): number[] {
  if (v.specialSource === undefined) return encodeOrdinary(v, text);
  const out: number[] = [];
  const re = new RegExp(v.specialSource, "g");
  let start = 0;
  for (;;) {
    re.lastIndex = start;
    const m = re.exec(text);
    encodeOrdinaryInto(v, text.slice(start, m === null ? text.length : m.index), out);
    if (m === null) break;
    out.push(v.specialIds.get(m[0]) as number);
    start = m.index + m[0].length;
  }
  return out;
}

// Scratch buffers of the merge, grown on demand (encoding is synchronous and never re-entered).
let next = new Int32Array(64); // next[a]: start of the part after the part starting at a (m at the end)
let prev = new Int32Array(64); // prev[a]: start of the part before (-1 for the first)
let alive = new Uint8Array(64); // 1 while a part starts at a
let heapRank = new Int32Array(192);
let heapStart = new Int32Array(192);
let heapEnd = new Int32Array(192);

function ensureCapacity(m: number): void {
  if (next.length >= m + 1) return;
  const cap = Math.max(m + 1, next.length * 2);
  next = new Int32Array(cap);
  prev = new Int32Array(cap);
  alive = new Uint8Array(cap);
  heapRank = new Int32Array(3 * cap);
  heapStart = new Int32Array(3 * cap);
  heapEnd = new Int32Array(3 * cap);
}

/**
 * tiktoken's byte-pair merge of one piece (its bytes as latin1 `key`, not itself a token): merge the adjacent
 * pair of parts whose concatenation has the lowest rank, the leftmost on equal ranks, until no pair is a token.
 * A heap holds the candidate pairs as (rank, start, end); an entry is stale once a boundary inside or around it
 * has changed, which is checked when it is popped.
 */
function bytePairEncode(v: Vocab, key: string, out: number[]): void {
  const m = key.length;
  ensureCapacity(m);
  let size = 0;
  const less = (i: number, j: number): boolean =>
    heapRank[i] < heapRank[j] || (heapRank[i] === heapRank[j] && heapStart[i] < heapStart[j]);
  const swap = (i: number, j: number): void => {
    let t = heapRank[i];
    heapRank[i] = heapRank[j];
    heapRank[j] = t;
    t = heapStart[i];
    heapStart[i] = heapStart[j];
    heapStart[j] = t;
    t = heapEnd[i];
    heapEnd[i] = heapEnd[j];
    heapEnd[j] = t;
  };
  const push = (start: number, end: number): void => {
    if (end - start > v.maxTokenLength) return;
    const rank = v.lookup.get(key.slice(start, end));
    if (rank === undefined) return;
    let i = size++;
    heapRank[i] = rank;
    heapStart[i] = start;
    heapEnd[i] = end;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(i, p)) break;
      swap(i, p);
      i = p;
    }
  };
  const popTop = (): void => {
    size--;
    if (size > 0) {
      heapRank[0] = heapRank[size];
      heapStart[0] = heapStart[size];
      heapEnd[0] = heapEnd[size];
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= size) break;
        const c = l + 1 < size && less(l + 1, l) ? l + 1 : l;
        if (!less(c, i)) break;
        swap(c, i);
        i = c;
      }
    }
  };

  for (let i = 0; i < m; i++) {
    next[i] = i + 1;
    prev[i] = i - 1;
    alive[i] = 1;
  }
  for (let i = 0; i + 1 < m; i++) push(i, i + 2);
  while (size > 0) {
    const a = heapStart[0];
    const end = heapEnd[0];
    popTop();
    const b = next[a];
    if (alive[a] === 0 || b >= m || next[b] !== end) continue; // stale
    alive[b] = 0;
    next[a] = end;
    if (end < m) prev[end] = a;
    if (prev[a] >= 0) push(prev[a], end);
    if (end < m) push(a, next[end]);
  }
  for (let a = 0; a < m; a = next[a]) {
    const id = v.lookup.get(key.slice(a, next[a]));
    if (id === undefined) throw new Error("tiktoken: internal error: a merged part is not a token");
    out.push(id);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Byte helpers

const utf8Encoder = new TextEncoder();
const fatalUtf8 = new TextDecoder("utf-8", { fatal: true });

/** One char per byte, so equal strings mean equal bytes. Chunked: a hostile line may be megabytes long. */
function latin1(bytes: ArrayLike<number>): string {
  let s = "";
  const CHUNK = 8192;
  for (let i = 0; i < bytes.length; i += CHUNK) {
    const part: number[] = [];
    for (let k = i; k < Math.min(i + CHUNK, bytes.length); k++) part.push(bytes[k]);
    s += String.fromCharCode(...part);
  }
  return s;
}

function latin1Bytes(key: string): Uint8Array {
  const out = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) out[i] = key.charCodeAt(i);
  return out;
}

/** A piece's UTF-8 bytes as a latin1 key (an ASCII piece is its own key; a lone surrogate becomes U+FFFD). */
function utf8Key(piece: string): string {
  for (let i = 0; i < piece.length; i++) {
    if (piece.charCodeAt(i) > 0x7f) return latin1(utf8Encoder.encode(piece));
  }
  return piece;
}

/** Token bytes for display: valid UTF-8 as text, other bytes as <0xNN>. */
function readable(bytes: Uint8Array): string {
  try {
    return fatalUtf8.decode(bytes);
  } catch {
    // fall through: render byte by byte
  }
  let s = "";
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    const len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (len > 0 && i + len <= bytes.length) {
      try {
        s += fatalUtf8.decode(bytes.subarray(i, i + len));
        i += len;
        continue;
      } catch {
        // not a valid sequence
      }
    }
    s += `<0x${hex2(b)}>`;
    i++;
  }
  return s;
}

function hex2(b: number): string {
  return b.toString(16).toUpperCase().padStart(2, "0");
}

function describeByte(b: number): string {
  return b >= 0x21 && b <= 0x7e ? `${JSON.stringify(String.fromCharCode(b))} (0x${hex2(b)})` : `0x${hex2(b)}`;
}

function describeKey(key: string): string {
  return JSON.stringify(readable(latin1Bytes(key)));
}

/** A short, printable, one-line rendering of a line for messages. */
function excerpt(line: Uint8Array): string {
  const MAX = 40;
  let s = "";
  for (let i = 0; i < Math.min(line.length, MAX); i++) {
    const c = line[i];
    s += c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c ? String.fromCharCode(c) : `\\x${hex2(c)}`;
  }
  return `"${s}${line.length > MAX ? "..." : ""}"`;
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
}
