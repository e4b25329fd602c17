// Owns the base-run file of `eval` (issue 18): a base model's log-probabilities at every scored position, stored once
// so later runs compare against it without recomputing the base (as llama.cpp's --kl-divergence-base does). Its own
// format, written and read here (nothing else reads it), checked strictly: a file is never trusted for a size.
//
// Layout (little-endian):
//   "LGKLBASE" | u32 version (1) | u32 header bytes H | H bytes of UTF-8 JSON | zero padding to a multiple of 8 |
//   per scored position: u32 target token, u32 0 (padding), f64 min, f64 scale, V × u16 codes, zero padding to 8.
// The JSON header: { vocab: V, positions: n, dataset_sha256, tokens_sha256, windowing, context_len, model } — what a
// comparison must match (a base made from other text, another tokenization or vocabulary, or other windows is refused).
import { createHash } from "node:crypto";
import { closeSync, readSync } from "node:fs";
import { UserError } from "../util/errors.js";
import { openUserFileSync } from "../util/files.js";
import type { PackedLogProbs } from "./kl-stats.js";

const MAGIC = "LGKLBASE";
const VERSION = 1;

export interface BaseHeader {
  vocab: number;
  positions: number;
  /** sha256 of the dataset's bytes. */
  dataset_sha256: string;
  /** sha256 of the scored token ids (u32 LE), so a different tokenization is caught even on the same text. */
  tokens_sha256: string;
  windowing: string;
  context_len: number;
  /** A description of the base model (informational). */
  model: string;
}

export interface BaseRow {
  target: number;
  packed: PackedLogProbs;
}

const pad8 = (n: number) => (8 - (n % 8)) % 8;
const rowBytes = (V: number) => 24 + 2 * V + pad8(24 + 2 * V);

/** sha256 of token ids as u32 little-endian. */
export function tokensSha256(ids: readonly number[]): string {
  const b = new Uint8Array(4 * ids.length);
  const dv = new DataView(b.buffer);
  ids.forEach((t, i) => dv.setUint32(4 * i, t, true));
  return createHash("sha256").update(b).digest("hex");
}

export function encodeBaseFile(header: BaseHeader, rows: readonly BaseRow[]): Uint8Array {
  if (rows.length !== header.positions) throw new RangeError(`${rows.length} rows for ${header.positions} positions`);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const head = 16 + json.length + pad8(16 + json.length);
  const V = header.vocab;
  const out = new Uint8Array(head + rows.length * rowBytes(V));
  const dv = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MAGIC), 0);
  dv.setUint32(8, VERSION, true);
  dv.setUint32(12, json.length, true);
  out.set(json, 16);
  rows.forEach((r, i) => {
    const at = head + i * rowBytes(V);
    if (r.packed.codes.length !== V) throw new RangeError(`row ${i} has ${r.packed.codes.length} codes, vocabulary ${V}`);
    dv.setUint32(at, r.target, true);
    dv.setFloat64(at + 8, r.packed.min, true);
    dv.setFloat64(at + 16, r.packed.scale, true);
    for (let v = 0; v < V; v++) dv.setUint16(at + 24 + 2 * v, r.packed.codes[v], true);
  });
  return out;
}

export function decodeBaseFile(bytes: Uint8Array, path: string): { header: BaseHeader; rows: BaseRow[] } {
  const bad = (msg: string): never => {
    throw new UserError(`base file ${path}: ${msg}`);
  };
  if (bytes.length < 16 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) return bad("not an eval base file (no LGKLBASE header)");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== VERSION) bad(`format version ${version}, this llama-golden reads ${VERSION}`);
  const H = dv.getUint32(12, true);
  if (16 + H > bytes.length) bad(`the header claims ${H} bytes, the file has ${bytes.length - 16} after the preamble`);
  let header: BaseHeader;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(16, 16 + H)));
  } catch {
    return bad("the header is not valid JSON");
  }
  const isCount = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  if (typeof header !== "object" || header === null) bad("the header is not a JSON object");
  if (!isCount(header.vocab) || header.vocab < 1 || header.vocab > 2 ** 24) bad(`vocab ${JSON.stringify(header.vocab)} is not a vocabulary size`);
  if (!isCount(header.positions)) bad(`positions ${JSON.stringify(header.positions)} is not a count`);
  for (const k of ["dataset_sha256", "tokens_sha256", "windowing", "model"] as const)
    if (typeof header[k] !== "string") bad(`the header lacks "${k}"`);
  if (!isCount(header.context_len)) bad(`context_len ${JSON.stringify(header.context_len)} is not a count`);
  const head = 16 + H + pad8(16 + H);
  const V = header.vocab;
  const want = head + header.positions * rowBytes(V);
  if (bytes.length !== want) bad(`${bytes.length} bytes, but ${header.positions} positions of a ${V}-token vocabulary take ${want} (truncated or not this format)`);
  const rows: BaseRow[] = [];
  for (let i = 0; i < header.positions; i++) {
    const at = head + i * rowBytes(V);
    const target = dv.getUint32(at, true);
    if (target >= V) bad(`position ${i}: target token ${target} is outside the vocabulary [0, ${V})`);
    const min = dv.getFloat64(at + 8, true);
    const scale = dv.getFloat64(at + 16, true);
    if (!Number.isFinite(min) || !(scale > 0) || !Number.isFinite(scale)) bad(`position ${i}: min ${min} / scale ${scale} are not finite (positive) numbers`);
    const codes = new Uint16Array(V);
    for (let v = 0; v < V; v++) codes[v] = dv.getUint16(at + 24 + 2 * v, true);
    rows.push({ target, packed: { min, scale, codes } });
  }
  return { header, rows };
}

/** Refuses a base that was not made for this comparison, naming the first field that differs. */
export function checkBaseMatches(header: BaseHeader, want: Omit<BaseHeader, "model" | "positions"> & { positions?: number }, path: string): void {
  for (const k of ["vocab", "dataset_sha256", "tokens_sha256", "windowing", "context_len", "positions"] as const) {
    const w = want[k];
    if (w !== undefined && header[k] !== w)
      throw new UserError(`base file ${path}: made with ${k} ${JSON.stringify(header[k])}, this run has ${JSON.stringify(w)} (compare against a base of the same data, tokenizer and windows)`);
  }
}

/** The preamble and JSON header of a base file, as bytes (the rows follow, each encodeBaseRow's). */
export function encodeBaseHeader(header: BaseHeader): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(16 + json.length + pad8(16 + json.length));
  const dv = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MAGIC), 0);
  dv.setUint32(8, VERSION, true);
  dv.setUint32(12, json.length, true);
  out.set(json, 16);
  return out;
}

/** One row of a base file, as bytes. */
export function encodeBaseRow(r: BaseRow, V: number): Uint8Array {
  if (r.packed.codes.length !== V) throw new RangeError(`a row of ${r.packed.codes.length} codes, vocabulary ${V}`);
  const out = new Uint8Array(rowBytes(V));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, r.target, true);
  dv.setFloat64(8, r.packed.min, true);
  dv.setFloat64(16, r.packed.scale, true);
  for (let v = 0; v < V; v++) dv.setUint16(24 + 2 * v, r.packed.codes[v], true);
  return out;
}

/** The largest JSON header a base file may claim (nothing in the file decides a larger allocation). */
const MAX_HEADER_BYTES = 1 << 20;

/** A base file opened for reading rows on demand (a base of a large dataset does not fit in memory). */
export interface BaseReader {
  header: BaseHeader;
  row(i: number): BaseRow;
  close(): void;
}

/** Opens a base file: its header is read and checked, its size compared with what the header implies; rows are read when asked. */
export function openBaseFile(path: string): BaseReader {
  const bad = (msg: string): never => {
    throw new UserError(`base file ${path}: ${msg}`);
  };
  const { fd, size } = openUserFileSync(path, `base file ${path}`);
  try {
    const pre = new Uint8Array(Math.min(16, size));
    readSync(fd, pre, 0, pre.length, 0);
    if (size < 16 || new TextDecoder().decode(pre.subarray(0, 8)) !== MAGIC) bad("not an eval base file (no LGKLBASE header)");
    const H = new DataView(pre.buffer).getUint32(12, true);
    if (H > MAX_HEADER_BYTES) bad(`the header claims ${H} bytes, more than the ${MAX_HEADER_BYTES}-byte limit`);
    if (16 + H > size) bad(`the header claims ${H} bytes, the file has ${size - 16} after the preamble`);
    const headBytes = new Uint8Array(16 + H + pad8(16 + H));
    readSync(fd, headBytes, 0, Math.min(headBytes.length, size), 0);
    // The header's checks are decodeBaseFile's, run on the preamble and header alone with no rows.
    const checked = decodeBaseFile(withZeroRows(headBytes, H), path).header;
    const probe: BaseHeader = { ...checked, positions: (JSON.parse(new TextDecoder().decode(headBytes.subarray(16, 16 + H))) as BaseHeader).positions };
    const V = probe.vocab;
    const want = headBytes.length + probe.positions * rowBytes(V);
    if (size !== want) bad(`${size} bytes, but ${probe.positions} positions of a ${V}-token vocabulary take ${want} (truncated or not this format)`);
    const rb = rowBytes(V);
    const buf = new Uint8Array(rb);
    const dv = new DataView(buf.buffer);
    return {
      header: probe,
      row(i: number): BaseRow {
        if (!(Number.isSafeInteger(i) && i >= 0 && i < probe.positions)) throw new RangeError(`base row ${i} outside [0, ${probe.positions})`);
        if (readSync(fd, buf, 0, rb, headBytes.length + i * rb) !== rb) bad("the file changed while being read");
        const target = dv.getUint32(0, true);
        if (target >= V) bad(`position ${i}: target token ${target} is outside the vocabulary [0, ${V})`);
        const min = dv.getFloat64(8, true);
        const scale = dv.getFloat64(16, true);
        if (!Number.isFinite(min) || !(scale > 0) || !Number.isFinite(scale)) bad(`position ${i}: min ${min} / scale ${scale} are not finite (positive) numbers`);
        const codes = new Uint16Array(V);
        for (let v = 0; v < V; v++) codes[v] = dv.getUint16(24 + 2 * v, true);
        return { target, packed: { min, scale, codes } };
      },
      close: () => closeSync(fd),
    };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** The header bytes with its positions count set to 0, so decodeBaseFile checks the header without rows. */
function withZeroRows(headBytes: Uint8Array, H: number): Uint8Array {
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headBytes.subarray(16, 16 + H)));
  } catch {
    return headBytes; // decodeBaseFile names the problem
  }
  if (typeof header !== "object" || header === null) return headBytes;
  const zero = encodeBaseHeader({ ...(header as unknown as BaseHeader), positions: 0 });
  // Keep the claimed count checkable: positions must still be a count.
  const p = (header as { positions?: unknown }).positions;
  if (!(typeof p === "number" && Number.isSafeInteger(p) && p >= 0)) return headBytes;
  return zero;
}
