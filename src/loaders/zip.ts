// Owns reading zip archives (PyTorch .pt/.pth checkpoints) from a random-access ByteSource: the end of central
// directory (and its ZIP64 form), the central directory, local headers, whole-entry and chunked reads with CRC-32
// checks, and the CRC-32 itself. Every problem in the file is a one-line UserError naming the file.
import * as zlib from "node:zlib";
import { constants as bufferConstants } from "node:buffer";
import { UserError } from "../util/errors.js";
import { sourceLabel, type ByteSource } from "./byte-source.js";

export interface ZipEntry {
  /** As stored (UTF-8 when general-purpose flag bit 11 is set, else CP437; torch uses ASCII). */
  name: string;
  /** 0 stored, 8 deflate. */
  method: number;
  compressedSize: number;
  /** Uncompressed size. */
  size: number;
  crc32: number;
  localHeaderOffset: number;
  /** Absolute offset of the entry's data, from the LOCAL header (its own name/extra lengths). */
  dataOffset: number;
}

export interface ZipArchive {
  source: ByteSource;
  entries: ZipEntry[];
  byName: Map<string, ZipEntry>;
}

// Record signatures and fixed sizes (PKWARE APPNOTE.TXT sections 4.3.7, 4.3.12, 4.3.14 - 4.3.16).
const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const LOCAL_HEADER_SIZE = 30;
const CENTRAL_HEADER_SIZE = 46;
const EOCD_SIZE = 22;
const ZIP64_EOCD_SIZE = 56;
const ZIP64_LOCATOR_SIZE = 20;
const MAX_COMMENT = 0xffff;
const ZIP64_EXTRA_ID = 0x0001;

const FLAG_ENCRYPTED = 0x0001;
const FLAG_STRONG_ENCRYPTION = 0x0040;
const FLAG_UTF8 = 0x0800;

/** The central directory is read whole; a real checkpoint's is a few KB, 256 MiB is millions of entries. */
const MAX_CENTRAL_DIRECTORY_BYTES = 256 * 1024 * 1024;
/** Raw deflate cannot expand by more than about 1032:1; a larger claim is a corrupt (or hostile) size. */
const MAX_DEFLATE_RATIO = 1032;
/** Largest entry readEntry returns as one Uint8Array; bigger ones must go through readEntryChunks. */
const MAX_WHOLE_ENTRY_BYTES = Math.min(bufferConstants.MAX_LENGTH, 2 ** 32);

// ---------------------------------------------------------------------------------------------------------------
// CRC-32 (ISO-HDLC / zip: reflected polynomial 0xEDB88320). `crc32` is Node's native zlib.crc32 (Node >= 20.15,
// ~4x faster than the JS below on this project's machines) when present and agreeing with the JS version on the
// check vector; otherwise `crc32Js`, slicing-by-8 over eight 256-entry tables. Both take a seed to continue.

function buildCrcTables(): Int32Array {
  const t = new Int32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c;
  }
  // Table k advances a byte through k further zero bytes: t_k[i] = t_0[t_{k-1}[i] & 0xff] ^ (t_{k-1}[i] >>> 8).
  for (let k = 1; k < 8; k++) {
    for (let i = 0; i < 256; i++) {
      const prev = t[(k - 1) * 256 + i];
      t[k * 256 + i] = t[prev & 0xff] ^ (prev >>> 8);
    }
  }
  return t;
}

const CRC_TABLES = buildCrcTables();

/** CRC-32 of `bytes` in JavaScript (slicing-by-8); `seed` continues a previous result (crc32Js(b, crc32Js(a)) === crc32Js(a ++ b)). */
export function crc32Js(bytes: Uint8Array, seed = 0): number {
  const t = CRC_TABLES;
  let c = ~seed | 0;
  let i = 0;
  const n = bytes.length;
  const n8 = n - (n & 7);
  while (i < n8) {
    c ^= bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    c =
      t[1792 + (c & 0xff)] ^
      t[1536 + ((c >>> 8) & 0xff)] ^
      t[1280 + ((c >>> 16) & 0xff)] ^
      t[1024 + (c >>> 24)] ^
      t[768 + bytes[i + 4]] ^
      t[512 + bytes[i + 5]] ^
      t[256 + bytes[i + 6]] ^
      t[bytes[i + 7]];
    i += 8;
  }
  while (i < n) c = t[(c ^ bytes[i++]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** Node's native CRC-32 when it exists and gives the standard check value (and a continued one) like crc32Js. */
function pickNativeCrc(): ((bytes: Uint8Array, seed: number) => number) | undefined {
  const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
  if (typeof native !== "function") return undefined;
  const check = new TextEncoder().encode("123456789");
  try {
    const ok = native(check, 0) === 0xcbf43926 && native(check.subarray(4), native(check.subarray(0, 4), 0)) === 0xcbf43926;
    return ok ? (b, s) => native(b, s) : undefined;
  } catch {
    return undefined;
  }
}

const NATIVE_CRC = pickNativeCrc();

/** Which CRC-32 implementation `crc32` uses ("zlib" native or "js"). */
export const CRC32_IMPLEMENTATION: "zlib" | "js" = NATIVE_CRC ? "zlib" : "js";

/** CRC-32 of `bytes`; pass a previous result as `seed` to continue it (crc32(b, crc32(a)) === crc32(a ++ b)). */
export function crc32(bytes: Uint8Array, seed = 0): number {
  return NATIVE_CRC ? NATIVE_CRC(bytes, seed >>> 0) : crc32Js(bytes, seed);
}

// ---------------------------------------------------------------------------------------------------------------
// Little-endian field access.

const u16 = (b: Uint8Array, o: number): number => b[o] | (b[o + 1] << 8);
const u32 = (b: Uint8Array, o: number): number => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
/** A 64-bit field as a JS number; values past 2^53 lose precision but stay huge, so range checks still refuse them. */
const u64 = (b: Uint8Array, o: number): number => u32(b, o) + u32(b, o + 4) * 0x1_0000_0000;

const hex = (n: number): string => `0x${n.toString(16).padStart(8, "0")}`;

/** A name for a message: quoted, with anything unprintable escaped so the message stays one line. */
function quote(s: string): string {
  return `"${s.replace(/[^\x20-\x7e]|["\\]/g, (ch) => (ch === '"' || ch === "\\" ? `\\${ch}` : `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`))}"`;
}

const CP437_HIGH =
  "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0";

function decodeCp437(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x < 0x80 ? String.fromCharCode(x) : CP437_HIGH[x - 0x80];
  return s;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

export function isZip(head: Uint8Array): boolean {
  if (head.length < 4 || head[0] !== 0x50 || head[1] !== 0x4b) return false;
  return (head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6);
}

// ---------------------------------------------------------------------------------------------------------------
// End of central directory.

interface DirectoryLocation {
  count: number;
  cdOffset: number;
  cdSize: number;
  /** Where the central directory must end: the ZIP64 end record if there is one, else the end record. */
  cdLimit: number;
}

interface EocdCandidate {
  pos: number;
  diskNo: number;
  cdDisk: number;
  entriesOnDisk: number;
  entries: number;
  cdSize: number;
  cdOffset: number;
}

const isSaturated = (e: EocdCandidate): boolean =>
  e.diskNo === 0xffff ||
  e.cdDisk === 0xffff ||
  e.entriesOnDisk === 0xffff ||
  e.entries === 0xffff ||
  e.cdSize === 0xffffffff ||
  e.cdOffset === 0xffffffff;

/** Why a candidate end record cannot be the real one, or undefined if it is plausible. */
function eocdProblem(e: EocdCandidate): string | undefined {
  if (isSaturated(e)) return undefined; // checked against the ZIP64 record later
  if (e.diskNo !== 0 || e.cdDisk !== 0) return "multi-disk (split) zip archives are not supported";
  if (e.entriesOnDisk !== e.entries) return "zip end of central directory record has inconsistent entry counts";
  if (e.cdOffset + e.cdSize > e.pos) return "zip end of central directory record points past the end of the file (truncated?)";
  return undefined;
}

/** Scans the last 65557 bytes backwards for the end record, taking the nearest plausible candidate. */
function findEocd(source: ByteSource, label: string): EocdCandidate {
  const tailLen = Math.min(source.size, EOCD_SIZE + MAX_COMMENT);
  const tailStart = source.size - tailLen;
  const tail = source.read(tailStart, tailLen);
  let firstProblem: string | undefined;
  for (let i = tailLen - EOCD_SIZE; i >= 0; i--) {
    if (tail[i] !== 0x50 || u32(tail, i) !== SIG_EOCD) continue;
    const commentLen = u16(tail, i + 20);
    if (i + EOCD_SIZE + commentLen > tailLen) {
      firstProblem ??= "zip end of central directory comment runs past the end of the file (truncated?)";
      continue;
    }
    const c: EocdCandidate = {
      pos: tailStart + i,
      diskNo: u16(tail, i + 4),
      cdDisk: u16(tail, i + 6),
      entriesOnDisk: u16(tail, i + 8),
      entries: u16(tail, i + 10),
      cdSize: u32(tail, i + 12),
      cdOffset: u32(tail, i + 16),
    };
    const problem = eocdProblem(c);
    if (problem === undefined) return c;
    firstProblem ??= problem;
  }
  throw new UserError(
    `${label}: ${firstProblem ?? "no zip end of central directory record found (not a zip archive, or truncated?)"}`,
  );
}

/** Reads the ZIP64 locator just before the end record and the ZIP64 end record it points to, if present. */
function readZip64(source: ByteSource, label: string, eocd: EocdCandidate): DirectoryLocation | undefined {
  const locPos = eocd.pos - ZIP64_LOCATOR_SIZE;
  const loc = locPos >= 0 ? source.read(locPos, ZIP64_LOCATOR_SIZE) : undefined;
  if (loc === undefined || u32(loc, 0) !== SIG_ZIP64_LOCATOR) {
    if (isSaturated(eocd)) {
      throw new UserError(`${label}: zip end of central directory record needs a zip64 locator, but there is none (corrupt archive?)`);
    }
    return undefined;
  }
  const locDisk = u32(loc, 4);
  const recPos = u64(loc, 8);
  const disks = u32(loc, 16);
  if (locDisk !== 0 || disks > 1) throw new UserError(`${label}: multi-disk (split) zip archives are not supported`);
  if (recPos + ZIP64_EOCD_SIZE > locPos) {
    throw new UserError(`${label}: zip64 end of central directory locator points outside the file (offset ${recPos}; truncated?)`);
  }
  const rec = source.read(recPos, ZIP64_EOCD_SIZE);
  if (u32(rec, 0) !== SIG_ZIP64_EOCD) {
    throw new UserError(`${label}: no zip64 end of central directory record at offset ${recPos} (corrupt archive?)`);
  }
  const recSize = u64(rec, 4);
  if (recSize < ZIP64_EOCD_SIZE - 12 || recPos + 12 + recSize > locPos) {
    throw new UserError(`${label}: zip64 end of central directory record has a bad size ${recSize} (corrupt archive?)`);
  }
  const disk = u32(rec, 16);
  const cdDisk = u32(rec, 20);
  const entriesOnDisk = u64(rec, 24);
  const count = u64(rec, 32);
  const cdSize = u64(rec, 40);
  const cdOffset = u64(rec, 48);
  if (disk !== 0 || cdDisk !== 0) throw new UserError(`${label}: multi-disk (split) zip archives are not supported`);
  if (entriesOnDisk !== count) {
    throw new UserError(`${label}: zip64 end of central directory record has inconsistent entry counts (corrupt archive?)`);
  }
  // Fields the classic record could hold must agree with the ZIP64 record.
  const disagrees =
    (eocd.entries !== 0xffff && eocd.entries !== count) ||
    (eocd.cdSize !== 0xffffffff && eocd.cdSize !== cdSize) ||
    (eocd.cdOffset !== 0xffffffff && eocd.cdOffset !== cdOffset);
  if (disagrees) {
    throw new UserError(`${label}: zip64 end of central directory record disagrees with the end of central directory record (corrupt archive?)`);
  }
  return { count, cdOffset, cdSize, cdLimit: recPos };
}

function locateDirectory(source: ByteSource, label: string): DirectoryLocation {
  const eocd = findEocd(source, label);
  const loc = readZip64(source, label, eocd) ?? {
    count: eocd.entries,
    cdOffset: eocd.cdOffset,
    cdSize: eocd.cdSize,
    cdLimit: eocd.pos,
  };
  if (loc.cdOffset + loc.cdSize > loc.cdLimit) {
    throw new UserError(`${label}: zip central directory (offset ${loc.cdOffset}, ${loc.cdSize} bytes) runs past the end of the file (truncated?)`);
  }
  if (loc.count * CENTRAL_HEADER_SIZE > loc.cdSize) {
    throw new UserError(`${label}: zip central directory claims ${loc.count} entries, which cannot fit in its ${loc.cdSize} bytes (corrupt archive?)`);
  }
  if (loc.cdSize > MAX_CENTRAL_DIRECTORY_BYTES) {
    throw new UserError(`${label}: zip central directory of ${loc.cdSize} bytes is too large (limit ${MAX_CENTRAL_DIRECTORY_BYTES})`);
  }
  return loc;
}

// ---------------------------------------------------------------------------------------------------------------
// Central directory.

interface RawEntry {
  entry: ZipEntry;
  rawName: Uint8Array;
}

/** Replaces 0xFFFF.. placeholders with the values of the ZIP64 extended-information extra field (APPNOTE 4.5.3). */
function applyZip64Extra(
  label: string,
  what: string,
  extra: Uint8Array,
  e: { size: number; compressedSize: number; localHeaderOffset: number; diskStart: number },
): void {
  const needSize = e.size === 0xffffffff;
  const needComp = e.compressedSize === 0xffffffff;
  const needOffset = e.localHeaderOffset === 0xffffffff;
  const needDisk = e.diskStart === 0xffff;
  if (!needSize && !needComp && !needOffset && !needDisk) return;
  for (let q = 0; q + 4 <= extra.length; ) {
    const id = u16(extra, q);
    const len = u16(extra, q + 2);
    if (q + 4 + len > extra.length) break;
    if (id === ZIP64_EXTRA_ID) {
      const want = (needSize ? 8 : 0) + (needComp ? 8 : 0) + (needOffset ? 8 : 0) + (needDisk ? 4 : 0);
      if (len < want) throw new UserError(`${label}: ${what}: zip64 extra field is too short (corrupt archive?)`);
      let r = q + 4;
      if (needSize) {
        e.size = u64(extra, r);
        r += 8;
      }
      if (needComp) {
        e.compressedSize = u64(extra, r);
        r += 8;
      }
      if (needOffset) {
        e.localHeaderOffset = u64(extra, r);
        r += 8;
      }
      if (needDisk) e.diskStart = u32(extra, r);
      return;
    }
    q += 4 + len;
  }
  throw new UserError(`${label}: ${what}: sizes or offset need a zip64 extra field, but there is none (corrupt archive?)`);
}

function parseCentralDirectory(label: string, cd: Uint8Array, loc: DirectoryLocation): RawEntry[] {
  const out: RawEntry[] = [];
  let p = 0;
  for (let i = 0; i < loc.count; i++) {
    const where = `zip central directory entry ${i}`;
    if (p + CENTRAL_HEADER_SIZE > cd.length) throw new UserError(`${label}: ${where} runs past the end of the central directory (corrupt archive?)`);
    if (u32(cd, p) !== SIG_CENTRAL) throw new UserError(`${label}: ${where} has a bad signature (corrupt archive?)`);
    const flags = u16(cd, p + 8);
    const method = u16(cd, p + 10);
    const nameLen = u16(cd, p + 28);
    const extraLen = u16(cd, p + 30);
    const commentLen = u16(cd, p + 32);
    const end = p + CENTRAL_HEADER_SIZE + nameLen + extraLen + commentLen;
    if (end > cd.length) throw new UserError(`${label}: ${where}: name or extra field runs past the end of the central directory (corrupt archive?)`);
    const rawName = cd.slice(p + CENTRAL_HEADER_SIZE, p + CENTRAL_HEADER_SIZE + nameLen);
    let name: string;
    if (flags & FLAG_UTF8) {
      try {
        name = UTF8.decode(rawName);
      } catch {
        throw new UserError(`${label}: ${where}: name is not valid UTF-8 (corrupt archive?)`);
      }
    } else {
      name = decodeCp437(rawName);
    }
    const what = `zip entry ${quote(name)}`;
    if (flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION)) throw new UserError(`${label}: ${what} is encrypted, which is not supported`);
    const f = {
      size: u32(cd, p + 24),
      compressedSize: u32(cd, p + 20),
      localHeaderOffset: u32(cd, p + 42),
      diskStart: u16(cd, p + 34),
    };
    applyZip64Extra(label, what, cd.subarray(p + CENTRAL_HEADER_SIZE + nameLen, p + CENTRAL_HEADER_SIZE + nameLen + extraLen), f);
    out.push({
      rawName,
      entry: {
        name,
        method,
        compressedSize: f.compressedSize,
        size: f.size,
        crc32: u32(cd, p + 16),
        localHeaderOffset: f.localHeaderOffset,
        dataOffset: -1,
      },
    });
    p = end;
  }
  return out;
}

/** Size and placement checks that need only the central directory (before any local header is read). */
function checkEntryBounds(label: string, e: ZipEntry, source: ByteSource, loc: DirectoryLocation): void {
  const what = `zip entry ${quote(e.name)}`;
  if (e.localHeaderOffset >= source.size) throw new UserError(`${label}: ${what} points past the end of the file (truncated?)`);
  if (e.localHeaderOffset + LOCAL_HEADER_SIZE > loc.cdOffset) {
    throw new UserError(`${label}: ${what}: local header at offset ${e.localHeaderOffset} overlaps the central directory (corrupt archive?)`);
  }
  if (e.localHeaderOffset + LOCAL_HEADER_SIZE + e.compressedSize > loc.cdOffset) {
    throw new UserError(`${label}: ${what}: its ${e.compressedSize} bytes of data run past the central directory or the end of the file (truncated?)`);
  }
  if (e.method === 0 && e.compressedSize !== e.size) {
    throw new UserError(`${label}: ${what} is stored but its sizes disagree (${e.compressedSize} vs ${e.size}; corrupt archive?)`);
  }
  if (e.method === 8 && e.size > e.compressedSize * MAX_DEFLATE_RATIO + 64) {
    throw new UserError(`${label}: ${what} claims ${e.size} bytes from ${e.compressedSize} compressed bytes, which deflate cannot produce (corrupt archive?)`);
  }
}

/** Reads the local header: signature, name as in the central directory, and where the data really starts. */
function readLocalHeader(label: string, source: ByteSource, raw: RawEntry, loc: DirectoryLocation): void {
  const e = raw.entry;
  const what = `zip entry ${quote(e.name)}`;
  const h = source.read(e.localHeaderOffset, LOCAL_HEADER_SIZE);
  if (u32(h, 0) !== SIG_LOCAL) {
    throw new UserError(`${label}: ${what}: no local header at offset ${e.localHeaderOffset} (corrupt archive?)`);
  }
  if (u16(h, 6) & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION)) throw new UserError(`${label}: ${what} is encrypted, which is not supported`);
  const nameLen = u16(h, 26);
  const extraLen = u16(h, 28);
  const nameAt = e.localHeaderOffset + LOCAL_HEADER_SIZE;
  if (nameLen !== raw.rawName.length || nameAt + nameLen > loc.cdOffset) {
    throw new UserError(`${label}: ${what}: local header name differs from the central directory (corrupt archive?)`);
  }
  const localName = source.read(nameAt, nameLen);
  for (let k = 0; k < nameLen; k++) {
    if (localName[k] !== raw.rawName[k]) {
      throw new UserError(`${label}: ${what}: local header name differs from the central directory (corrupt archive?)`);
    }
  }
  e.dataOffset = nameAt + nameLen + extraLen;
  if (e.dataOffset + e.compressedSize > loc.cdOffset) {
    throw new UserError(`${label}: ${what}: data at offset ${e.dataOffset} (${e.compressedSize} bytes) runs past the central directory or the end of the file (truncated?)`);
  }
}

/** Refuses entries whose header + data ranges overlap (a corrupt or zip-bomb style archive). */
function checkNoOverlap(label: string, entries: ZipEntry[]): void {
  const sorted = [...entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1];
    const b = sorted[i];
    if (a.dataOffset + a.compressedSize > b.localHeaderOffset) {
      throw new UserError(`${label}: zip entries ${quote(a.name)} and ${quote(b.name)} overlap (corrupt archive?)`);
    }
  }
}

/** Parses the archive's directory and every local header; entry data is not read. */
export function openZip(source: ByteSource): ZipArchive {
  const label = sourceLabel(source);
  const loc = locateDirectory(source, label);
  const raws = parseCentralDirectory(label, source.read(loc.cdOffset, loc.cdSize), loc);
  const byName = new Map<string, ZipEntry>();
  for (const raw of raws) {
    if (byName.has(raw.entry.name)) throw new UserError(`${label}: duplicate zip entry name ${quote(raw.entry.name)}`);
    byName.set(raw.entry.name, raw.entry);
    checkEntryBounds(label, raw.entry, source, loc);
  }
  for (const raw of raws) readLocalHeader(label, source, raw, loc);
  const entries = raws.map((r) => r.entry);
  checkNoOverlap(label, entries);
  return { source, entries, byName };
}

// ---------------------------------------------------------------------------------------------------------------
// Entry data.

function checkCrc(label: string, e: ZipEntry, actual: number): void {
  if (actual !== e.crc32) {
    throw new UserError(`${label}: zip entry ${quote(e.name)}: CRC-32 mismatch (stored ${hex(e.crc32)}, computed ${hex(actual)}; the file is corrupt)`);
  }
}

function unsupportedMethod(label: string, e: ZipEntry): UserError {
  return new UserError(`${label}: zip entry ${quote(e.name)} uses compression method ${e.method}, which is not supported (only stored and deflate)`);
}

/** The whole entry, stored or deflate, with its size and CRC-32 verified. */
export function readEntry(zip: ZipArchive, entry: ZipEntry): Uint8Array {
  const label = sourceLabel(zip.source);
  const what = `zip entry ${quote(entry.name)}`;
  if (entry.method !== 0 && entry.method !== 8) throw unsupportedMethod(label, entry);
  if (entry.size > MAX_WHOLE_ENTRY_BYTES || entry.compressedSize > MAX_WHOLE_ENTRY_BYTES) {
    throw new UserError(`${label}: ${what} is ${entry.size} bytes, too large to read at once (limit ${MAX_WHOLE_ENTRY_BYTES})`);
  }
  let data: Uint8Array;
  if (entry.method === 0) {
    data = zip.source.read(entry.dataOffset, entry.size);
  } else {
    const packed = zip.source.read(entry.dataOffset, entry.compressedSize);
    let out: Buffer;
    try {
      out = zlib.inflateRawSync(packed, { maxOutputLength: Math.max(1, entry.size) });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "ERR_BUFFER_TOO_LARGE") throw new UserError(`${label}: ${what} inflates to more than its declared ${entry.size} bytes (corrupt archive?)`);
      throw new UserError(`${label}: ${what}: deflate data is corrupt (${String((e as Error).message ?? e).replace(/\s+/g, " ")})`);
    }
    if (out.length !== entry.size) {
      throw new UserError(`${label}: ${what} inflates to ${out.length} bytes, expected ${entry.size} (corrupt archive?)`);
    }
    data = new Uint8Array(out.buffer, out.byteOffset, out.length);
  }
  checkCrc(label, entry, crc32(data));
  return data;
}

/**
 * Streams a stored entry through one reusable buffer of `chunkBytes`: `onChunk` gets a view that is overwritten by
 * the next chunk (copy it to keep it). The CRC-32 is checked after the last chunk.
 */
export function readEntryChunks(
  zip: ZipArchive,
  entry: ZipEntry,
  chunkBytes: number,
  onChunk: (chunk: Uint8Array, offsetInEntry: number) => void,
): void {
  const label = sourceLabel(zip.source);
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0) throw new RangeError(`readEntryChunks: bad chunk size ${chunkBytes}`);
  if (entry.method === 8) {
    throw new UserError(`${label}: zip entry ${quote(entry.name)} is deflate-compressed; compressed tensor data is not supported (torch never compresses storages)`);
  }
  if (entry.method !== 0) throw unsupportedMethod(label, entry);
  const buf = new Uint8Array(Math.min(chunkBytes, entry.size));
  let crc = 0;
  for (let off = 0; off < entry.size; ) {
    const n = Math.min(buf.length, entry.size - off);
    const chunk = n === buf.length ? buf : buf.subarray(0, n);
    zip.source.readInto(entry.dataOffset + off, chunk);
    crc = crc32(chunk, crc);
    onChunk(chunk, off);
    off += n;
  }
  checkCrc(label, entry, crc);
}
