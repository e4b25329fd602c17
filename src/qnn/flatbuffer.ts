// Owns reading FlatBuffers binaries without trusting them: root offset, file identifier, tables through their
// vtables, scalars (64-bit ones as bigint), strings, vectors of scalars / structs / bytes / tables. Every offset
// is checked against the buffer before it is followed, so a truncated or corrupt buffer ends in a one-line
// UserError naming the file (`where`) and the object that points outside, never in a RangeError.
//
// The binary format (FlatBuffers "Internals" documentation, google/flatbuffers docs/source/internals.md):
// - little-endian throughout; the buffer starts with a uoffset_t (u32) to the root table, optionally followed by a
//   4-byte file identifier at bytes 4..8;
// - a table starts with a soffset_t (i32): the vtable lives at table_pos - soffset; a vtable is u16 vtable size in
//   bytes, u16 inline size of the table, then one u16 per field (offset from the table start, 0 = absent: the
//   field has its default). Fields past the end of a (shorter, older) vtable are absent too, which is how schema
//   evolution works: a reader ignores fields it does not know and defaults fields the writer did not know;
// - references to tables, vectors and strings are uoffset_t relative to where the reference itself is stored;
// - a vector is a u32 element count followed by the elements (tables: one uoffset_t each, relative to that
//   element's own position; structs: inline, fixed size); a string is a vector of bytes plus a NUL terminator;
// - a union is two fields: a u8 type (field n) and a reference to the table (field n + 1).
import { UserError } from "../util/errors.js";

export interface FbBuffer {
  readonly bytes: Uint8Array;
  readonly dv: DataView;
  /** Names the source in errors (e.g. "model.pte"). */
  readonly where: string;
}

export interface FbTable {
  readonly buf: FbBuffer;
  /** Absolute position of the table (its soffset_t). */
  readonly pos: number;
  /** Absolute position of its vtable. */
  readonly vtable: number;
  /** Bytes in the vtable (4 + 2 x the number of field slots it has). */
  readonly vtableSize: number;
  /** Inline size of the table in bytes, from the vtable. */
  readonly inlineSize: number;
  /** What the table is, for errors (e.g. "Program.execution_plan[1]"). */
  readonly what: string;
}

/** A vector's element count and the absolute position of its first element. */
export interface FbVector {
  readonly start: number;
  readonly length: number;
}

export function fbBuffer(bytes: Uint8Array, where: string): FbBuffer {
  return { bytes, dv: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), where };
}

/** A UserError for a corrupt buffer: `where: truncated or corrupt flatbuffer (detail)`. */
export function fbError(buf: FbBuffer, detail: string): UserError {
  return new UserError(`${buf.where}: truncated or corrupt flatbuffer (${detail})`);
}

/** Throws unless [pos, pos + size) lies inside the buffer. */
function need(buf: FbBuffer, pos: number, size: number, what: string): void {
  if (!Number.isSafeInteger(pos) || pos < 0) throw fbError(buf, `${what} at ${pos} points before the start`);
  if (pos + size > buf.bytes.length) throw fbError(buf, `${what} at ${pos} runs past the end of the ${buf.bytes.length}-byte buffer`);
}

const u8 = (buf: FbBuffer, pos: number, what: string): number => (need(buf, pos, 1, what), buf.dv.getUint8(pos));
const u16 = (buf: FbBuffer, pos: number, what: string): number => (need(buf, pos, 2, what), buf.dv.getUint16(pos, true));
const u32 = (buf: FbBuffer, pos: number, what: string): number => (need(buf, pos, 4, what), buf.dv.getUint32(pos, true));
const i32 = (buf: FbBuffer, pos: number, what: string): number => (need(buf, pos, 4, what), buf.dv.getInt32(pos, true));

/** Follows the uoffset_t stored at `at` (relative to `at`) and returns the absolute target. */
function follow(buf: FbBuffer, at: number, what: string): number {
  const target = at + u32(buf, at, `reference to ${what}`);
  need(buf, target, 0, what);
  return target;
}

/** The table at absolute position `pos`, with its vtable checked. */
export function fbTableAt(buf: FbBuffer, pos: number, what: string): FbTable {
  const soff = i32(buf, pos, what);
  const vtable = pos - soff;
  const vtableSize = u16(buf, vtable, `vtable of ${what}`);
  if (vtableSize < 4 || vtableSize % 2 !== 0) throw fbError(buf, `vtable of ${what} at ${vtable} has size ${vtableSize}`);
  need(buf, vtable, vtableSize, `vtable of ${what}`);
  const inlineSize = u16(buf, vtable + 2, `vtable of ${what}`);
  if (inlineSize < 4) throw fbError(buf, `${what} at ${pos} has inline size ${inlineSize}`);
  need(buf, pos, inlineSize, what);
  return { buf, pos, vtable, vtableSize, inlineSize, what };
}

/** The root table (the uoffset_t at byte 0). */
export function fbRoot(buf: FbBuffer, what: string): FbTable {
  return fbTableAt(buf, follow(buf, 0, what), what);
}

/**
 * Absolute position of field `index` (0-based, in schema order; a union takes two indices), or undefined when
 * the field is absent. `size` bytes of the field must lie inside the table's inline part.
 */
export function fbField(t: FbTable, index: number, size: number, name: string): number | undefined {
  const slot = 4 + 2 * index;
  if (slot + 2 > t.vtableSize) return undefined; // older writer: the field did not exist yet
  const off = t.buf.dv.getUint16(t.vtable + slot, true);
  if (off === 0) return undefined;
  if (off < 4 || off + size > t.inlineSize) throw fbError(t.buf, `field ${t.what}.${name} at offset ${off} lies outside its ${t.inlineSize}-byte table`);
  return t.pos + off;
}

export function fbU8(t: FbTable, index: number, name: string, def = 0): number {
  const p = fbField(t, index, 1, name);
  return p === undefined ? def : u8(t.buf, p, `${t.what}.${name}`);
}

export function fbU32(t: FbTable, index: number, name: string, def = 0): number {
  const p = fbField(t, index, 4, name);
  return p === undefined ? def : u32(t.buf, p, `${t.what}.${name}`);
}

export function fbU64(t: FbTable, index: number, name: string, def = 0n): bigint {
  const p = fbField(t, index, 8, name);
  if (p === undefined) return def;
  need(t.buf, p, 8, `${t.what}.${name}`);
  return t.buf.dv.getBigUint64(p, true);
}

export function fbI64(t: FbTable, index: number, name: string, def = 0n): bigint {
  const p = fbField(t, index, 8, name);
  if (p === undefined) return def;
  need(t.buf, p, 8, `${t.what}.${name}`);
  return t.buf.dv.getBigInt64(p, true);
}

export function fbF64(t: FbTable, index: number, name: string, def = 0): number {
  const p = fbField(t, index, 8, name);
  if (p === undefined) return def;
  need(t.buf, p, 8, `${t.what}.${name}`);
  return t.buf.dv.getFloat64(p, true);
}

/** An [int] (int32) field's values ([] when absent). */
export function fbI32s(t: FbTable, index: number, name: string): number[] {
  const v = fbVectorField(t, index, 4, name);
  if (v === undefined) return [];
  const out: number[] = [];
  for (let i = 0; i < v.length; i++) out.push(t.buf.dv.getInt32(v.start + 4 * i, true));
  return out;
}

export function fbTableField(t: FbTable, index: number, name: string): FbTable | undefined {
  const p = fbField(t, index, 4, name);
  return p === undefined ? undefined : fbTableAt(t.buf, follow(t.buf, p, `${t.what}.${name}`), `${t.what}.${name}`);
}

/** A vector field whose elements are `elemSize` bytes each (4 for references), or undefined when absent. */
export function fbVectorField(t: FbTable, index: number, elemSize: number, name: string): FbVector | undefined {
  const p = fbField(t, index, 4, name);
  if (p === undefined) return undefined;
  const what = `${t.what}.${name}`;
  const at = follow(t.buf, p, what);
  const length = u32(t.buf, at, `length of ${what}`);
  // The byte count is at most 2^32 x elemSize: exact in a double, and compared to the buffer before any loop.
  need(t.buf, at + 4, length * elemSize, `vector ${what} (${length} elements)`);
  return { start: at + 4, length };
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** A string field (UTF-8, NUL-terminated as the format requires), or undefined when absent. */
export function fbString(t: FbTable, index: number, name: string): string | undefined {
  const v = fbVectorField(t, index, 1, name);
  if (v === undefined) return undefined;
  const what = `${t.what}.${name}`;
  need(t.buf, v.start + v.length, 1, `terminator of string ${what}`);
  if (t.buf.bytes[v.start + v.length] !== 0) throw fbError(t.buf, `string ${what} at ${v.start - 4} is not NUL-terminated`);
  try {
    return UTF8.decode(t.buf.bytes.subarray(v.start, v.start + v.length));
  } catch {
    throw fbError(t.buf, `string ${what} at ${v.start - 4} is not valid UTF-8`);
  }
}

/** A [ubyte] field as a view into the buffer (no copy), or undefined when absent. */
export function fbBytes(t: FbTable, index: number, name: string): Uint8Array | undefined {
  const v = fbVectorField(t, index, 1, name);
  return v === undefined ? undefined : t.buf.bytes.subarray(v.start, v.start + v.length);
}

/** The tables of a [Table] field ([] when absent); element i is named `${what}.${name}[i]` in errors. */
export function fbTables(t: FbTable, index: number, name: string): FbTable[] {
  const v = fbVectorField(t, index, 4, name);
  if (v === undefined) return [];
  const out: FbTable[] = [];
  for (let i = 0; i < v.length; i++) {
    const what = `${t.what}.${name}[${i}]`;
    out.push(fbTableAt(t.buf, follow(t.buf, v.start + 4 * i, what), what));
  }
  return out;
}

