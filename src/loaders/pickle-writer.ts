// Owns the small protocol-2 pickler: turns plain JS values (plus GLOBAL / REDUCE / BINPERSID nodes) into the
// bytes Python's pickle would read back, without memoization. Used by the benchmark to write torch.save-style
// checkpoints and by tests. Input is trusted program data (the writer recurses on it).
//
// What torch.save writes for a state dict (zip format; seen in stories260K.pt from PyTorch 1.13 and in a
// PyTorch 2.11 consolidated.00.pth, and in torch's serialization code): a zip archive whose members all sit
// under one folder `<name>/` (the file name without extension: `stories260K/`, `consolidated.00/`), stored
// uncompressed:
//   <name>/data.pkl      the pickle below, protocol 2 (torch's DEFAULT_PROTOCOL)
//   <name>/data/<key>    the raw little-endian bytes of each storage, one member per storage key
//   <name>/version       "3\n"; 2.x also writes .format_version, .storage_alignment ("64"), byteorder
//                        ("little") and .data/serialization_id
// The pickle is the saved object. A state dict is `collections.OrderedDict`, pickled by its __reduce__ as
//   GLOBAL 'collections OrderedDict'  EMPTY_TUPLE  REDUCE  MARK <key> <tensor> ... SETITEMS
// (items are set on the REDUCE result, in order). Each tensor is
//   GLOBAL 'torch._utils _rebuild_tensor_v2'
//   ( BINPERSID(('storage', GLOBAL 'torch <Dtype>Storage', '<key>', 'cpu', <numel of the storage>)),
//     <storage offset, in elements>, (<sizes>), (<strides, in elements>), <requires_grad: False>,
//     OrderedDict() <backward hooks, always empty> )  REDUCE
// i.e. `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`;
// the 7th `metadata` argument only appears when a tensor carries extra metadata (neither real file has it).
// Storage types seen: torch.FloatStorage (fp32), torch.BFloat16Storage (bf16, 2.11), torch.HalfStorage (fp16).
// Keys are "0", "1", ... in first-use order; tensors that are views of one storage (tied embeddings) repeat
// its key, and the very same tensor object saved twice is a memo GET of the first (stories260K's
// output.weight). nn.Parameter (torch.save of parameters rather than state_dict()) wraps the tensor as
// `torch._utils._rebuild_parameter(tensor, requires_grad, OrderedDict())`. Top level: llama2.c's train.py
// saves {"model": state_dict, "model_args": {...}, "config": {...}, ...}; Meta's consolidated.*.pth files are
// the state dict itself (a plain dict in the 2.11 file). Python's pickler also memoizes (BINPUT) every
// non-atomic value and string; this writer does not, which Python's unpickler does not need.
//
// Value mapping: null -> None; boolean -> bool; safe-integer number or bigint -> int; other numbers and
// `{ $float: x }` -> float; string -> str; Uint8Array -> bytes (protocol 2 has no bytes opcode, so, like
// Python, `_codecs.encode(<latin-1 str>, 'latin1')`, and `__builtin__.bytes()` when empty); array -> list;
// `{ $tuple: [...] }` -> tuple; Map or plain object -> dict (plain-object key order is JS's: integer-like keys
// first; use a Map when that matters). Special nodes are objects with exactly these keys:
//   { $global: "module.name" }             GLOBAL (module is everything before the last dot)
//   { $reduce: [callable, [args...]] }     callable, args tuple, REDUCE; optional `$setitems: Map|object`
//                                          adds MARK k v ... SETITEMS on the result (how OrderedDict saves)
//   { $persid: value }                     value, BINPERSID
import { UserError } from "../util/errors.js";

export type WritableKey = string | number | bigint | boolean | null;
export type WritableValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | WritableValue[]
  | Map<WritableKey, WritableValue>
  | { $tuple: WritableValue[] }
  | { $float: number }
  | { $global: string }
  | { $reduce: [WritableValue, WritableValue[]]; $setitems?: Map<WritableKey, WritableValue> | { [key: string]: WritableValue } }
  | { $persid: WritableValue }
  | { [key: string]: WritableValue };

/** Items per APPENDS / SETITEMS batch, as Python's pickler does. */
const BATCH = 1000;

/** Growable output buffer. */
class Out {
  buf = new Uint8Array(1 << 12);
  len = 0;
  private room(n: number) {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  byte(b: number) {
    this.room(1);
    this.buf[this.len++] = b;
  }
  bytes(b: Uint8Array) {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  u16(v: number) {
    this.byte(v & 0xff);
    this.byte(v >>> 8);
  }
  u32(v: number) {
    this.room(4);
    new DataView(this.buf.buffer).setUint32(this.len, v, true);
    this.len += 4;
  }
  i32(v: number) {
    this.room(4);
    new DataView(this.buf.buffer).setInt32(this.len, v, true);
    this.len += 4;
  }
  f64be(v: number) {
    this.room(8);
    new DataView(this.buf.buffer).setFloat64(this.len, v, false);
    this.len += 8;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

const utf8 = new TextEncoder();

/** Minimal little-endian two's complement bytes of `v` (Python's encode_long; 0 -> empty). */
export function encodeLongLE(v: bigint): Uint8Array {
  if (v === 0n) return new Uint8Array(0);
  const out: number[] = [];
  let x = v;
  for (;;) {
    out.push(Number(x & 0xffn));
    x >>= 8n; // arithmetic shift: stays -1 for negatives
    const last = out[out.length - 1];
    if ((x === 0n && (last & 0x80) === 0) || (x === -1n && (last & 0x80) !== 0)) break;
  }
  return Uint8Array.from(out);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Map);
}

/** The special-node key of `v` ($tuple, $float, $global, $reduce, $persid), or null for a plain dict. */
function specialKind(v: Record<string, unknown>): string | null {
  const keys = Object.keys(v);
  if (keys.length === 1 && ["$tuple", "$float", "$global", "$reduce", "$persid"].includes(keys[0])) return keys[0];
  if (keys.length === 2 && "$reduce" in v && "$setitems" in v) return "$reduce";
  return null;
}

function writeInt(out: Out, v: bigint) {
  if (v >= 0n && v < 256n) {
    out.byte(0x4b); // BININT1
    out.byte(Number(v));
  } else if (v >= 0n && v < 65536n) {
    out.byte(0x4d); // BININT2
    out.u16(Number(v));
  } else if (v >= -(2n ** 31n) && v < 2n ** 31n) {
    out.byte(0x4a); // BININT
    out.i32(Number(v));
  } else {
    const b = encodeLongLE(v);
    if (b.length < 256) {
      out.byte(0x8a); // LONG1
      out.byte(b.length);
    } else {
      out.byte(0x8b); // LONG4
      out.i32(b.length);
    }
    out.bytes(b);
  }
}

function writeStr(out: Out, s: string) {
  const b = utf8.encode(s);
  out.byte(0x58); // BINUNICODE
  out.u32(b.length);
  out.bytes(b);
}

function writeGlobal(out: Out, qualified: string) {
  const dot = qualified.lastIndexOf(".");
  if (dot <= 0 || dot === qualified.length - 1 || qualified.includes("\n")) {
    throw new UserError(`pickle writer: global name ${JSON.stringify(qualified)} is not "module.name"`);
  }
  out.byte(0x63); // GLOBAL
  out.bytes(utf8.encode(`${qualified.slice(0, dot)}\n${qualified.slice(dot + 1)}\n`));
}

function writeBytes(out: Out, b: Uint8Array) {
  if (b.length === 0) {
    writeGlobal(out, "__builtin__.bytes");
    out.byte(0x29); // EMPTY_TUPLE
    out.byte(0x52); // REDUCE
    return;
  }
  writeGlobal(out, "_codecs.encode");
  let s = "";
  for (let i = 0; i < b.length; i += 8192) {
    s += String.fromCharCode.apply(null, b.subarray(i, i + 8192) as unknown as number[]);
  }
  writeStr(out, s);
  writeStr(out, "latin1");
  out.byte(0x86); // TUPLE2
  out.byte(0x52); // REDUCE
}

function writeTuple(out: Out, items: WritableValue[]) {
  if (items.length === 0) {
    out.byte(0x29); // EMPTY_TUPLE
    return;
  }
  if (items.length <= 3) {
    for (const it of items) writeValue(out, it);
    out.byte(0x84 + items.length); // TUPLE1..TUPLE3
    return;
  }
  out.byte(0x28); // MARK
  for (const it of items) writeValue(out, it);
  out.byte(0x74); // TUPLE
}

function dictEntries(d: Map<WritableKey, WritableValue> | { [key: string]: WritableValue }): [WritableKey, WritableValue][] {
  return d instanceof Map ? [...d.entries()] : Object.entries(d);
}

/** MARK k v ... SETITEMS on the dict at the top of the stack, in batches. */
function writeSetItems(out: Out, entries: [WritableKey, WritableValue][]) {
  for (let i = 0; i < entries.length; i += BATCH) {
    const batch = entries.slice(i, i + BATCH);
    if (batch.length === 1) {
      writeValue(out, batch[0][0]);
      writeValue(out, batch[0][1]);
      out.byte(0x73); // SETITEM
      continue;
    }
    out.byte(0x28); // MARK
    for (const [k, v] of batch) {
      writeValue(out, k);
      writeValue(out, v);
    }
    out.byte(0x75); // SETITEMS
  }
}

function writeList(out: Out, items: WritableValue[]) {
  out.byte(0x5d); // EMPTY_LIST
  for (let i = 0; i < items.length; i += BATCH) {
    const batch = items.slice(i, i + BATCH);
    if (batch.length === 1) {
      writeValue(out, batch[0]);
      out.byte(0x61); // APPEND
      continue;
    }
    out.byte(0x28); // MARK
    for (const it of batch) writeValue(out, it);
    out.byte(0x65); // APPENDS
  }
}

function writeSpecial(out: Out, kind: string, v: Record<string, unknown>) {
  switch (kind) {
    case "$tuple":
      return writeTuple(out, v.$tuple as WritableValue[]);
    case "$float":
      out.byte(0x47); // BINFLOAT
      return out.f64be(v.$float as number);
    case "$global":
      return writeGlobal(out, v.$global as string);
    case "$persid":
      writeValue(out, v.$persid as WritableValue);
      return out.byte(0x51); // BINPERSID
    case "$reduce": {
      const [callable, args] = v.$reduce as [WritableValue, WritableValue[]];
      writeValue(out, callable);
      writeTuple(out, args);
      out.byte(0x52); // REDUCE
      const items = v.$setitems as Map<WritableKey, WritableValue> | { [key: string]: WritableValue } | undefined;
      if (items !== undefined) writeSetItems(out, dictEntries(items));
      return;
    }
  }
}

function writeValue(out: Out, v: WritableValue) {
  if (v === null) return out.byte(0x4e); // NONE
  switch (typeof v) {
    case "boolean":
      return out.byte(v ? 0x88 : 0x89); // NEWTRUE / NEWFALSE
    case "bigint":
      return writeInt(out, v);
    case "number":
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) return writeInt(out, BigInt(v));
      out.byte(0x47); // BINFLOAT
      return out.f64be(v);
    case "string":
      return writeStr(out, v);
  }
  if (v instanceof Uint8Array) return writeBytes(out, v);
  if (Array.isArray(v)) return writeList(out, v);
  if (v instanceof Map) {
    out.byte(0x7d); // EMPTY_DICT
    return writeSetItems(out, [...v.entries()]);
  }
  if (isPlainObject(v)) {
    const kind = specialKind(v);
    if (kind) return writeSpecial(out, kind, v);
    out.byte(0x7d); // EMPTY_DICT
    return writeSetItems(out, Object.entries(v as { [key: string]: WritableValue }));
  }
  throw new UserError(`pickle writer: cannot pickle a value of type ${typeof v}`);
}

/** Protocol-2 pickle of `value` (PROTO 2 ... STOP), no memo. */
export function picklePlain(value: WritableValue): Uint8Array {
  const out = new Out();
  out.byte(0x80); // PROTO
  out.byte(2);
  writeValue(out, value);
  out.byte(0x2e); // STOP
  return out.result();
}

// ---------------------------------------------------------------------------------------------------------
// torch.save building blocks (see the header for the layout they reproduce).

/** `collections.OrderedDict()` with `items` set on it, as torch pickles a state dict. */
export function torchOrderedDict(items: Map<string, WritableValue> | { [key: string]: WritableValue } = new Map()): WritableValue {
  const node = { $reduce: [{ $global: "collections.OrderedDict" }, []] } as { $reduce: [WritableValue, WritableValue[]]; $setitems?: Map<WritableKey, WritableValue> | { [key: string]: WritableValue } };
  if ((items instanceof Map ? items.size : Object.keys(items).length) > 0) node.$setitems = items as Map<WritableKey, WritableValue>;
  return node;
}

export interface TorchTensorSpec {
  /** Storage type global, e.g. "torch.FloatStorage", "torch.BFloat16Storage", "torch.HalfStorage". */
  storageType: string;
  /** Storage key: the archive member `data/<key>`. */
  key: string;
  /** Elements in the whole storage. */
  storageNumel: number;
  sizes: number[];
  /** Default: contiguous row-major strides of `sizes`. */
  strides?: number[];
  /** Element offset into the storage; default 0. */
  offset?: number;
  /** Default "cpu". */
  location?: string;
}

/** Row-major contiguous strides of `sizes`. */
export function contiguousStrides(sizes: number[]): number[] {
  const s = new Array<number>(sizes.length);
  let acc = 1;
  for (let i = sizes.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= sizes[i];
  }
  return s;
}

/** `torch._utils._rebuild_tensor_v2(persid(('storage', <type>, key, location, numel)), offset, sizes, strides, False, OrderedDict())`. */
export function torchTensor(t: TorchTensorSpec): WritableValue {
  const pid: WritableValue = {
    $tuple: ["storage", { $global: t.storageType }, t.key, t.location ?? "cpu", t.storageNumel],
  };
  return {
    $reduce: [
      { $global: "torch._utils._rebuild_tensor_v2" },
      [
        { $persid: pid },
        t.offset ?? 0,
        { $tuple: t.sizes },
        { $tuple: t.strides ?? contiguousStrides(t.sizes) },
        false,
        torchOrderedDict(),
      ],
    ],
  };
}
