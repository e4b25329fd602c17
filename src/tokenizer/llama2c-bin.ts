// Owns the llama2.c `tokenizer.bin` BPE tokenizer: loading the file (plain llama2.c layout and the ExecuTorch
// layout with a 16-byte header), and encoding/decoding exactly as llama2.c `run.c` encode()/decode() and
// ExecuTorch's BPETokenizer (the same algorithm) do.
//
// File layouts (all little-endian):
//   llama2.c:   uint32 max_token_length, then records until EOF: float32 score, uint32 n, n bytes of piece.
//   ExecuTorch: uint32 vocab_size, uint32 bos_id, uint32 eos_id, uint32 max_token_length, then exactly
//               vocab_size records as above (written by executorch extension/llm/tokenizer/tokenizer.py
//               `Tokenizer.export`, struct.pack("IIII", n_words, bos_id, eos_id, max_token_length)).
// The layout is detected from the structure (the ExecuTorch header's vocab_size makes the records end exactly at
// EOF), never from the file name. With the ExecuTorch header, BOS and EOS come from it (ExecuTorch's encoder uses
// them); otherwise BOS is 1 and EOS 2 as in run.c. Not accepted (ExecuTorch's own loader is laxer): fewer records
// than vocab_size (it pads with "<pad>"), and the `--prepend-padding` export, which writes vocab_size + 1 records.
// ExecuTorch's encode() refuses empty text; here, as in run.c, "" encodes to [] (plus BOS/EOS if asked).
//
// Decisions where run.c is undefined or cannot be reproduced exactly:
//   - Duplicate pieces: run.c looks pieces up with bsearch over a qsort-ed copy of the vocabulary, so which of
//     two equal pieces it finds depends on the C library. Here the lowest id wins. Neither shipped vocabulary
//     (tok512.bin, Llama 2 tokenizer.bin) has duplicate pieces, so this never matters for them.
//   - Pieces are compared by their exact bytes. run.c compares C strings (a NUL byte would end a piece early);
//     the shipped vocabularies have no NUL bytes in any piece, so the two agree.
//   - No piece " " (dummy prefix): run.c would push id -1 and read out of bounds; here the prefix is skipped.
//   - Text is a JS string, encoded to UTF-8 with TextEncoder (a lone surrogate becomes U+FFFD). A NUL character
//     is encoded like any other byte (run.c cannot receive one: its prompt is a C string).
//   - A byte-fallback id (byte + 3) outside the vocabulary is a UserError (run.c would read out of bounds).
//   - decodeBytes treats only a piece that is exactly `<0xHH>` as a byte token; run.c's sscanf also accepts
//     e.g. `<0xA>` or `<0x41>junk`, which no shipped vocabulary has outside ids 3..258. `<0x00>` gives the byte
//     0x00 (run.c returns it as a C string, so it prints nothing); what to print is the runner's business.
import { UserError } from "../util/errors.js";
import { readUserFile } from "../util/files.js";
import type { Tokenizer } from "./types.js";

/** A loaded llama2.c tokenizer.bin: the common interface plus the file's details. */
export interface Llama2cTokenizer extends Tokenizer {
  /** Which file layout was found. */
  readonly variant: "llama2c" | "executorch";
  /** max_token_length from the file. */
  readonly maxTokenLength: number;
  /** The merge score of an id (float32 from the file). */
  score(id: number): number;
  /** The exact bytes of a piece (a copy). */
  pieceBytes(id: number): Uint8Array;
  /** run.c's plain O(n²) merge loop, no BOS/EOS: the oracle the fast encode is tested against. */
  encodePlain(text: string): number[];
}

/** run.c starts its best merge score at -1e10 and needs a strictly greater score to merge. */
const MERGE_SCORE_FLOOR = -1e10;
const WHAT = "tokenizer";

interface Records {
  pieces: Uint8Array[];
  scores: Float32Array;
}

/** A scan result; a failed scan says how many records it read before the problem. */
type Scan = { ok: true; records: Records } | { ok: false; problem: string; read: number };

interface Vocab {
  readonly path: string;
  readonly pieces: readonly Uint8Array[];
  /** Piece bytes as a latin1 string (one char per byte), for exact-byte Map keys and cheap concatenation. */
  readonly keys: readonly string[];
  readonly scores: Float32Array;
  readonly lookup: ReadonlyMap<string, number>;
  /** Longest piece actually present (a concatenation longer than this cannot be a piece). */
  readonly longestPiece: number;
  readonly spaceId: number;
  readonly bosId: number;
  readonly eosId: number;
}

/** Reads and parses a tokenizer.bin; every problem is a UserError naming the path. */
export function loadLlama2cTokenizer(path: string, expectedVocabSize?: number): Llama2cTokenizer {
  return parseLlama2cTokenizer(readUserFile(path, WHAT), path, expectedVocabSize);
}

/** Parses tokenizer.bin bytes (`path` is only used in messages). */
export function parseLlama2cTokenizer(
  bytes: Uint8Array,
  path: string,
  expectedVocabSize?: number,
): Llama2cTokenizer {
  const fail = (problem: string): never => {
    throw new UserError(`${WHAT} ${path}: ${problem}`);
  };
  const layout = detectLayout(bytes, fail);
  const n = layout.records.pieces.length;
  if (expectedVocabSize !== undefined && n !== expectedVocabSize) {
    fail(`has ${n} pieces but the model's vocab_size is ${expectedVocabSize}`);
  }
  if (layout.bosId >= n || layout.eosId >= n) {
    fail(`has only ${n} pieces, so BOS id ${layout.bosId} / EOS id ${layout.eosId} do not exist`);
  }
  const vocab = buildVocab(path, layout.records, layout.bosId, layout.eosId);
  return makeTokenizer(vocab, layout.variant, layout.maxTokenLength);
}

interface Layout {
  variant: "llama2c" | "executorch";
  records: Records;
  maxTokenLength: number;
  bosId: number;
  eosId: number;
}

function detectLayout(bytes: Uint8Array, fail: (problem: string) => never): Layout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length === 0) fail("empty file");
  if (bytes.length < 4) fail(`only ${bytes.length} bytes, too short for the max_token_length header`);

  // ExecuTorch layout: accepted only if its header's vocab_size records end exactly at EOF.
  let etFailure: { problem: string; read: number } | undefined;
  if (bytes.length >= 16) {
    const [vocabSize, bos, eos, maxLen] = [0, 4, 8, 12].map((o) => view.getUint32(o, true));
    if (vocabSize > 0 && bos < vocabSize && eos < vocabSize) {
      const et = scanRecords(view, 16, maxLen, vocabSize);
      if (et.ok) {
        return { variant: "executorch", records: et.records, maxTokenLength: maxLen, bosId: bos, eosId: eos };
      }
      etFailure = {
        problem: `${et.problem} (read as an ExecuTorch tokenizer.bin with header vocab_size ${vocabSize}, bos ${bos}, eos ${eos}, max_token_length ${maxLen})`,
        read: et.read,
      };
    }
  }

  const maxLen = view.getUint32(0, true);
  const l2 = scanRecords(view, 4, maxLen, undefined);
  if (!l2.ok) {
    // Both layouts failed: report the one that made more sense of the file (read more records before failing).
    return fail(etFailure !== undefined && etFailure.read > l2.read ? etFailure.problem : l2.problem);
  }
  const n = l2.records.pieces.length;
  if (n === 0) fail("no records after the max_token_length header");
  if (n < 3) fail(`has only ${n} pieces; llama2.c needs at least <unk>, BOS (1) and EOS (2)`);
  return { variant: "llama2c", records: l2.records, maxTokenLength: maxLen, bosId: 1, eosId: 2 };
}

/**
 * Reads records from `start`: exactly `count` of them ending at EOF, or (count undefined) as many as there are
 * until EOF. Never trusts a length: each is checked against the bytes left.
 */
function scanRecords(view: DataView, start: number, maxLen: number, count: number | undefined): Scan {
  const size = view.byteLength;
  if (count !== undefined && count * 8 > size - start) {
    const problem = `${count} records need at least ${count * 8} bytes, the file has ${size - start} after the header (truncated?)`;
    return { ok: false, problem, read: 0 };
  }
  const pieces: Uint8Array[] = [];
  const scores: number[] = [];
  let off = start;
  for (let i = 0; count === undefined ? off < size : i < count; i++) {
    const failure = (problem: string): Scan => ({ ok: false, problem, read: i });
    const left = size - off;
    if (left === 0) return failure(`file ends after ${i} of ${count} records (truncated?)`);
    if (left < 8) {
      return failure(
        `record ${i} runs past the end of the file: only ${left} bytes left for its 8-byte score and length (truncated file or trailing garbage?)`,
      );
    }
    const score = view.getFloat32(off, true);
    const len = view.getUint32(off + 4, true);
    if (!Number.isFinite(score)) return failure(`record ${i} has a non-finite score (${score})`);
    if (len > maxLen) return failure(`record ${i} has a piece of ${len} bytes, longer than max_token_length ${maxLen}`);
    if (len > left - 8) {
      return failure(
        `record ${i} runs past the end of the file (truncated?): its piece of ${len} bytes starts at offset ${off + 8}, the file has ${size} bytes`,
      );
    }
    pieces.push(new Uint8Array(view.buffer, view.byteOffset + off + 8, len).slice());
    scores.push(score);
    off += 8 + len;
  }
  if (off !== size) {
    const problem = `${size - off} trailing bytes after the last of ${pieces.length} records`;
    return { ok: false, problem, read: pieces.length };
  }
  return { ok: true, records: { pieces, scores: Float32Array.from(scores) } };
}

/** One char per byte, so equal strings mean equal bytes. */
function latin1(bytes: Uint8Array, from = 0, to = bytes.length): string {
  let s = "";
  for (let i = from; i < to; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

function buildVocab(path: string, records: Records, bosId: number, eosId: number): Vocab {
  const keys = records.pieces.map((p) => latin1(p));
  const lookup = new Map<string, number>();
  let longestPiece = 0;
  keys.forEach((key, id) => {
    // Duplicate pieces: the lowest id wins (see the header comment).
    if (!lookup.has(key)) lookup.set(key, id);
    longestPiece = Math.max(longestPiece, key.length);
  });
  return {
    path,
    pieces: records.pieces,
    keys,
    scores: records.scores,
    lookup,
    longestPiece,
    spaceId: lookup.get(" ") ?? -1,
    bosId,
    eosId,
  };
}

function makeTokenizer(vocab: Vocab, variant: "llama2c" | "executorch", maxTokenLength: number): Llama2cTokenizer {
  const checkId = (id: number): void => {
    if (!Number.isInteger(id) || id < 0 || id >= vocab.pieces.length) {
      throw new Error(`llama2c tokenizer: token id ${id} is out of range 0..${vocab.pieces.length - 1}`);
    }
  };
  const utf8 = new TextDecoder("utf-8");
  return {
    kind: "llama2c-bin",
    variant,
    maxTokenLength,
    vocabSize: vocab.pieces.length,
    bosId: vocab.bosId,
    eosIds: [vocab.eosId],
    encode: (text, opts) => encode(vocab, text, opts?.bos ?? false, opts?.eos ?? false),
    encodePlain: (text) => mergePairsPlain(vocab, initialTokens(vocab, utf8Encoder.encode(text))),
    decodeBytes: (prevToken, token) => {
      checkId(token);
      return decodePiece(vocab.pieces[token], prevToken === vocab.bosId);
    },
    piece: (id) => {
      checkId(id);
      return utf8.decode(vocab.pieces[id]);
    },
    score: (id) => {
      checkId(id);
      return vocab.scores[id];
    },
    pieceBytes: (id) => {
      checkId(id);
      return vocab.pieces[id].slice();
    },
  };
}

/** run.c decode(): drop a leading space after BOS, then turn a `<0xHH>` piece into its byte. */
function decodePiece(piece: Uint8Array, afterBos: boolean): Uint8Array {
  const body = afterBos && piece[0] === 0x20 ? piece.subarray(1) : piece;
  const byte = byteTokenValue(body);
  return byte === -1 ? body.slice() : Uint8Array.of(byte);
}

/** The byte of a piece that is exactly `<0xHH>` (hex digits in either case), else -1. */
function byteTokenValue(p: Uint8Array): number {
  if (p.length !== 6 || p[0] !== 0x3c || p[1] !== 0x30 || p[2] !== 0x78 || p[5] !== 0x3e) return -1;
  const hi = hexDigit(p[3]);
  const lo = hexDigit(p[4]);
  return hi === -1 || lo === -1 ? -1 : hi * 16 + lo;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

const utf8Encoder = new TextEncoder();

/** run.c encode(): [BOS] + merge(dummy prefix + codepoint/byte-fallback tokens) + [EOS]. */
function encode(vocab: Vocab, text: string, bos: boolean, eos: boolean): number[] {
  const tokens = mergePairs(vocab, initialTokens(vocab, utf8Encoder.encode(text)));
  const out: number[] = [];
  if (bos) out.push(vocab.bosId);
  for (const t of tokens) out.push(t);
  if (eos) out.push(vocab.eosId);
  return out;
}

/**
 * The tokens before merging: the " " piece (if the text is non-empty and the piece exists), then one token
 * per UTF-8 codepoint that is a piece, or one byte-fallback token (byte + 3) per byte of a codepoint that is
 * not. A codepoint is, as in run.c, any byte plus the continuation bytes (10xxxxxx) after it, at most 4 bytes.
 */
function initialTokens(vocab: Vocab, bytes: Uint8Array): Int32Array {
  const out = new Int32Array(bytes.length + 1);
  let n = 0;
  if (bytes.length > 0 && vocab.spaceId !== -1) out[n++] = vocab.spaceId;
  let i = 0;
  while (i < bytes.length) {
    let end = i + 1;
    while (end < bytes.length && end - i < 4 && (bytes[end] & 0xc0) === 0x80) end++;
    const id = vocab.lookup.get(latin1(bytes, i, end));
    if (id !== undefined) {
      out[n++] = id;
    } else {
      for (let k = i; k < end; k++) out[n++] = byteFallbackId(vocab, bytes[k]);
    }
    i = end;
  }
  return out.subarray(0, n);
}

function byteFallbackId(vocab: Vocab, byte: number): number {
  const id = byte + 3;
  if (id >= vocab.pieces.length) {
    const hex = byte.toString(16).toUpperCase().padStart(2, "0");
    throw new UserError(
      `${WHAT} ${vocab.path}: cannot encode byte 0x${hex}: its byte-fallback id ${id} is outside the vocabulary (${vocab.pieces.length} pieces)`,
    );
  }
  return id;
}

/** The id that the pair (a, b) merges into, or -1 if it does not merge (no such piece, or score too low). */
function mergeOf(vocab: Vocab, a: number, b: number): number {
  const ka = vocab.keys[a];
  const kb = vocab.keys[b];
  if (ka.length + kb.length > vocab.longestPiece) return -1;
  const id = vocab.lookup.get(ka + kb);
  return id !== undefined && vocab.scores[id] > MERGE_SCORE_FLOOR ? id : -1;
}

/**
 * run.c's merge loop: repeatedly merge the adjacent pair with the highest score (leftmost on ties: strict >)
 * until none merges. Same O(n^2) scan as run.c, but the pair results are cached so each step does one numeric
 * scan plus two lookups instead of n string lookups.
 */
function mergePairsPlain(vocab: Vocab, initial: Int32Array): number[] {
  const tokens = Int32Array.from(initial);
  let n = tokens.length;
  const pairId = new Int32Array(Math.max(n - 1, 0));
  for (let i = 0; i < n - 1; i++) pairId[i] = mergeOf(vocab, tokens[i], tokens[i + 1]);
  const scores = vocab.scores;
  for (;;) {
    let best = -1;
    let bestScore = MERGE_SCORE_FLOOR;
    for (let i = 0; i < n - 1; i++) {
      const id = pairId[i];
      if (id !== -1 && scores[id] > bestScore) {
        bestScore = scores[id];
        best = i;
      }
    }
    if (best === -1) break;
    tokens[best] = pairId[best];
    tokens.copyWithin(best + 1, best + 2, n);
    pairId.copyWithin(best + 1, best + 2, n - 1);
    n--;
    if (best > 0) pairId[best - 1] = mergeOf(vocab, tokens[best - 1], tokens[best]);
    if (best < n - 1) pairId[best] = mergeOf(vocab, tokens[best], tokens[best + 1]);
  }
  return Array.from(tokens.subarray(0, n));
}

/**
 * The same merges as mergePairsPlain (the oracle, tested against it), in O(n log n): candidate pairs sit in a
 * max-heap ordered by (score, then original position of the left token); because merging never reorders
 * tokens, the smallest original position is the leftmost pair, so the heap picks exactly the pair the plain
 * scan picks. Tokens form a linked list; a pair whose tokens changed or left the list is skipped when popped
 * (version stamps).
 */
function mergePairs(vocab: Vocab, initial: Int32Array): number[] {
  const n = initial.length;
  const tok = Int32Array.from(initial);
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const ver = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  const scores = vocab.scores;
  // Heap of candidate pairs, parallel arrays; better(a, b): higher score, then smaller left position.
  let size = 0;
  let cap = Math.max(16, 2 * n);
  let hs = new Float64Array(cap);
  let hl = new Int32Array(cap);
  let hr = new Int32Array(cap);
  let hlv = new Int32Array(cap);
  let hrv = new Int32Array(cap);
  let hid = new Int32Array(cap);
  const better = (a: number, b: number) => hs[a] > hs[b] || (hs[a] === hs[b] && hl[a] < hl[b]);
  const swap = (a: number, b: number) => {
    let t: number;
    t = hs[a]; hs[a] = hs[b]; hs[b] = t;
    t = hl[a]; hl[a] = hl[b]; hl[b] = t;
    t = hr[a]; hr[a] = hr[b]; hr[b] = t;
    t = hlv[a]; hlv[a] = hlv[b]; hlv[b] = t;
    t = hrv[a]; hrv[a] = hrv[b]; hrv[b] = t;
    t = hid[a]; hid[a] = hid[b]; hid[b] = t;
  };
  const grow = () => {
    cap *= 2;
    const g = <T extends Float64Array | Int32Array>(a: T): T => {
      const b = new (a.constructor as { new (n: number): T })(cap);
      b.set(a);
      return b;
    };
    hs = g(hs); hl = g(hl); hr = g(hr); hlv = g(hlv); hrv = g(hrv); hid = g(hid);
  };
  const push = (left: number) => {
    if (left < 0) return;
    const right = next[left];
    if (right < 0) return;
    const id = mergeOf(vocab, tok[left], tok[right]);
    if (id === -1) return;
    if (size === cap) grow();
    let i = size++;
    hs[i] = scores[id]; hl[i] = left; hr[i] = right; hlv[i] = ver[left]; hrv[i] = ver[right]; hid[i] = id;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!better(i, p)) break;
      swap(i, p);
      i = p;
    }
  };
  const popTop = () => {
    size--;
    if (size > 0) {
      swap(0, size);
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < size && better(l, m)) m = l;
        if (r < size && better(r, m)) m = r;
        if (m === i) break;
        swap(i, m);
        i = m;
      }
    }
  };
  for (let i = 0; i < n - 1; i++) push(i);
  while (size > 0) {
    const left = hl[0], right = hr[0], id = hid[0];
    const stale = ver[left] !== hlv[0] || ver[right] !== hrv[0] || next[left] !== right;
    popTop();
    if (stale) continue;
    tok[left] = id;
    ver[left]++;
    ver[right]++;
    const after = next[right];
    next[left] = after;
    if (after >= 0) prev[after] = left;
    next[right] = -1;
    push(prev[left]);
    push(left);
  }
  const out: number[] = [];
  for (let i = n > 0 ? 0 : -1; i >= 0; i = next[i]) out.push(tok[i]);
  return out;
}
