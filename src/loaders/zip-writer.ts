// Owns writing zip archives of STORED entries in PyTorch's style (entry data aligned to 64 bytes by a padding extra
// field, ZIP64 records when offsets or sizes need them), streamed to a file or built in memory. Used by the benchmark
// to make multi-GB test checkpoints and by tests to build (and then damage) small archives.
import { closeSync, openSync, writeSync } from "node:fs";
import { UserError } from "../util/errors.js";
import { concatBytes } from "../util/binary.js";
import { crc32 } from "./zip.js";

export interface ZipWriter {
  addEntry(name: string, data: Uint8Array): void;
  /** Streams an entry of exactly `size` bytes from `chunks` (chunk buffers may be reused between yields). */
  addEntryChunks(name: string, size: number, chunks: Iterable<Uint8Array>): void;
  /** Writes the central directory and end records. */
  close(): void;
}

export interface ZipWriterOptions {
  /** Entry data starts at a multiple of this (default 64, PyTorch's alignment); 1 disables the padding field. */
  align?: number;
}

const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;
const VERSION_ZIP64 = 45; // 4.5: ZIP64 extensions
const VERSION_STORED = 20;
const DOS_DATE_1980_01_01 = (1 << 5) | 1;
const FLAG_UTF8 = 0x0800;
const PAD_ID = 0x4246; // "FB" as PyTorch writes it: bytes 'F','B'
const PAD_FILL = 0x5a; // 'Z'

/** What the central directory needs to know about a written entry. */
interface Written {
  name: Uint8Array;
  utf8: boolean;
  size: number;
  crc: number;
  offset: number;
  zip64Local: boolean;
}

/** Appends little-endian fields to a fixed-size byte array. */
function fieldWriter(length: number) {
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  let p = 0;
  return {
    bytes,
    u16(v: number) {
      view.setUint16(p, v, true);
      p += 2;
    },
    u32(v: number) {
      view.setUint32(p, v >>> 0, true);
      p += 4;
    },
    u64(v: number) {
      view.setUint32(p, v % 0x1_0000_0000, true);
      view.setUint32(p + 4, Math.floor(v / 0x1_0000_0000), true);
      p += 8;
    },
    raw(b: Uint8Array) {
      bytes.set(b, p);
      p += b.length;
    },
    fill(v: number, n: number) {
      bytes.fill(v, p, p + n);
      p += n;
    },
    get pos() {
      return p;
    },
  };
}

/** Local header (CRC written as `crc`, usually patched later) with ZIP64 sizes if needed and alignment padding. */
function localHeader(w: Written, align: number): Uint8Array {
  const z64Len = w.zip64Local ? 4 + 16 : 0;
  const fixed = 30 + w.name.length + z64Len;
  let padLen = 0;
  let padField = 0;
  if (align > 1) {
    padField = 4;
    const start = w.offset + fixed + 4;
    padLen = (align - (start % align)) % align;
  }
  const f = fieldWriter(fixed + padField + padLen);
  f.u32(0x04034b50);
  f.u16(w.zip64Local ? VERSION_ZIP64 : VERSION_STORED);
  f.u16(w.utf8 ? FLAG_UTF8 : 0);
  f.u16(0); // stored
  f.u16(0); // time 00:00:00
  f.u16(DOS_DATE_1980_01_01);
  f.u32(w.crc);
  f.u32(w.zip64Local ? U32_MAX : w.size);
  f.u32(w.zip64Local ? U32_MAX : w.size);
  f.u16(w.name.length);
  f.u16(z64Len + padField + padLen);
  f.raw(w.name);
  if (w.zip64Local) {
    f.u16(0x0001);
    f.u16(16);
    f.u64(w.size); // original size
    f.u64(w.size); // compressed size
  }
  if (padField) {
    f.u16(PAD_ID);
    f.u16(padLen);
    f.fill(PAD_FILL, padLen);
  }
  return f.bytes;
}

/** Central directory header; ZIP64 extra carries whichever of size / offset does not fit (all of them if forced). */
function centralHeader(w: Written, forceZip64: boolean): Uint8Array {
  const bigSize = forceZip64 || w.size >= U32_MAX;
  const bigOffset = forceZip64 || w.offset >= U32_MAX;
  const z64Data = (bigSize ? 16 : 0) + (bigOffset ? 8 : 0);
  const z64Len = z64Data ? 4 + z64Data : 0;
  const version = z64Len || w.zip64Local ? VERSION_ZIP64 : VERSION_STORED;
  const f = fieldWriter(46 + w.name.length + z64Len);
  f.u32(0x02014b50);
  f.u16(version); // made by (MS-DOS host)
  f.u16(version); // needed
  f.u16(w.utf8 ? FLAG_UTF8 : 0);
  f.u16(0);
  f.u16(0);
  f.u16(DOS_DATE_1980_01_01);
  f.u32(w.crc);
  f.u32(bigSize ? U32_MAX : w.size);
  f.u32(bigSize ? U32_MAX : w.size);
  f.u16(w.name.length);
  f.u16(z64Len);
  f.u16(0); // comment
  f.u16(0); // disk start
  f.u16(0); // internal attributes
  f.u32(0); // external attributes
  f.u32(bigOffset ? U32_MAX : w.offset);
  f.raw(w.name);
  if (z64Len) {
    f.u16(0x0001);
    f.u16(z64Data);
    if (bigSize) {
      f.u64(w.size);
      f.u64(w.size);
    }
    if (bigOffset) f.u64(w.offset);
  }
  return f.bytes;
}

/** ZIP64 end record + locator (when needed or forced) and the classic end record. */
function endRecords(count: number, cdOffset: number, cdSize: number, forceZip64: boolean): Uint8Array {
  const bigCount = forceZip64 || count >= U16_MAX;
  const bigSize = forceZip64 || cdSize >= U32_MAX;
  const bigOffset = forceZip64 || cdOffset >= U32_MAX;
  const zip64 = bigCount || bigSize || bigOffset;
  const f = fieldWriter((zip64 ? 56 + 20 : 0) + 22);
  if (zip64) {
    const recPos = cdOffset + cdSize;
    f.u32(0x06064b50);
    f.u64(56 - 12);
    f.u16(VERSION_ZIP64);
    f.u16(VERSION_ZIP64);
    f.u32(0);
    f.u32(0);
    f.u64(count);
    f.u64(count);
    f.u64(cdSize);
    f.u64(cdOffset);
    f.u32(0x07064b50);
    f.u32(0);
    f.u64(recPos);
    f.u32(1);
  }
  f.u32(0x06054b50);
  f.u16(0);
  f.u16(0);
  f.u16(bigCount ? U16_MAX : count);
  f.u16(bigCount ? U16_MAX : count);
  f.u32(bigSize ? U32_MAX : cdSize);
  f.u32(bigOffset ? U32_MAX : cdOffset);
  f.u16(0);
  return f.bytes;
}

/** Where bytes go: appended in order, with a positioned patch for the CRC once the data has streamed by. */
interface Sink {
  append(bytes: Uint8Array): void;
  patch(position: number, bytes: Uint8Array): void;
  finish(): void;
  /** Releases the output after a failed entry (the archive is left incomplete). */
  abort(): void;
}

function validAlign(align: number | undefined): number {
  const a = align ?? 64;
  if (!Number.isInteger(a) || a < 1 || a > 0x8000) throw new RangeError(`zip writer: alignment must be an integer in 1..32768, got ${a}`);
  return a;
}

/** The writer logic shared by the file and in-memory forms. */
function writerOver(sink: Sink, align: number, forceZip64: boolean): ZipWriter {
  const written: Written[] = [];
  const names = new Set<string>();
  let pos = 0;
  let closed = false;
  const append = (b: Uint8Array) => {
    sink.append(b);
    pos += b.length;
  };

  const addEntryChunks = (name: string, size: number, chunks: Iterable<Uint8Array>): void => {
    if (closed) throw new Error("zip writer: entry added after close");
    if (names.has(name)) throw new Error(`zip writer: duplicate entry name ${JSON.stringify(name)}`);
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`zip writer: bad size ${size} for ${JSON.stringify(name)}`);
    const nameBytes = new TextEncoder().encode(name);
    if (nameBytes.length === 0 || nameBytes.length > U16_MAX) throw new RangeError(`zip writer: bad entry name length ${nameBytes.length}`);
    names.add(name);
    try {
      writeEntry(name, nameBytes, size, chunks);
    } catch (e) {
      // A short or failing chunk source leaves a broken archive: release the output, refuse further use.
      closed = true;
      sink.abort();
      throw e;
    }
  };

  const writeEntry = (name: string, nameBytes: Uint8Array, size: number, chunks: Iterable<Uint8Array>): void => {
    const w: Written = {
      name: nameBytes,
      utf8: /[^\x00-\x7f]/.test(name),
      size,
      crc: 0,
      offset: pos,
      zip64Local: forceZip64 || size >= U32_MAX,
    };
    append(localHeader(w, align));
    let crc = 0;
    let done = 0;
    for (const chunk of chunks) {
      if (done + chunk.length > size) throw new Error(`zip writer: entry ${JSON.stringify(name)} got more than its ${size} bytes`);
      crc = crc32(chunk, crc);
      append(chunk);
      done += chunk.length;
    }
    if (done !== size) throw new Error(`zip writer: entry ${JSON.stringify(name)} got ${done} of its ${size} bytes`);
    w.crc = crc;
    const crcBytes = new Uint8Array(4);
    new DataView(crcBytes.buffer).setUint32(0, crc, true);
    sink.patch(w.offset + 14, crcBytes);
    written.push(w);
  };

  return {
    addEntry: (name, data) => addEntryChunks(name, data.length, [data]),
    addEntryChunks,
    close() {
      if (closed) return;
      closed = true;
      const cdOffset = pos;
      for (const w of written) append(centralHeader(w, forceZip64));
      append(endRecords(written.length, cdOffset, pos - cdOffset, forceZip64));
      sink.finish();
    },
  };
}

function fileSink(path: string): Sink {
  let fd: number;
  try {
    fd = openSync(path, "w");
  } catch (e) {
    throw new UserError(`zip output ${path}: ${String((e as Error).message ?? e).replace(/\s+/g, " ")}`);
  }
  let pos = 0;
  const writeAll = (bytes: Uint8Array, at: number) => {
    for (let done = 0; done < bytes.length; ) {
      done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30), at + done);
    }
  };
  return {
    append(bytes) {
      writeAll(bytes, pos);
      pos += bytes.length;
    },
    patch(position, bytes) {
      writeAll(bytes, position);
    },
    finish() {
      closeSync(fd);
    },
    abort() {
      closeSync(fd);
    },
  };
}

/** Streams an archive of stored entries to `path`. */
export function createZipWriter(path: string, opts?: ZipWriterOptions): ZipWriter {
  return writerOver(fileSink(path), validAlign(opts?.align), false);
}

/** Builds a small archive in memory; `zip64: true` forces every ZIP64 record so tests can exercise them. */
export function zipToBytes(entries: { name: string; data: Uint8Array }[], opts?: { align?: number; zip64?: boolean }): Uint8Array {
  const parts: Uint8Array[] = [];
  const patches: { position: number; bytes: Uint8Array }[] = [];
  let result: Uint8Array | undefined;
  const sink: Sink = {
    append: (bytes) => parts.push(bytes.slice()),
    patch: (position, bytes) => patches.push({ position, bytes: bytes.slice() }),
    finish() {
      const out = concatBytes(parts);
      for (const p of patches) out.set(p.bytes, p.position);
      result = out;
    },
    abort() {},
  };
  const w = writerOver(sink, validAlign(opts?.align), opts?.zip64 ?? false);
  for (const e of entries) w.addEntry(e.name, e.data);
  w.close();
  return result!;
}
