// Owns a minimal protobuf ENCODER for the ONNX messages the ORT backend builds (onnx.proto3): varints,
// length-delimited fields, packed repeated int64, fixed32 floats, and raw_data tensors. Messages are kept
// as lists of byte chunks (large initializers are referenced, not copied) and flattened once at the end.
import os from "node:os";

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** ONNX AttributeProto.AttributeType values used here. */
const AttrType = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextEncoder();

/** Varint bytes of a non-negative safe integer or a negative one (two's complement int64, 10 bytes). */
function varintBytes(v: number | bigint): number[] {
  let b = BigInt(v);
  if (b < 0n) b = BigInt.asUintN(64, b);
  const out: number[] = [];
  if (typeof v === "number" && v >= 0 && v < 2 ** 31) {
    let n = v;
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return out;
  }
  while (b >= 0x80n) {
    out.push(Number(b & 0x7fn) | 0x80);
    b >>= 7n;
  }
  out.push(Number(b));
  return out;
}

/** A protobuf message under construction: an ordered list of encoded chunks. */
export class Msg {
  readonly parts: Uint8Array[] = [];
  length = 0;
  private small: number[] = [];

  private flushSmall(): void {
    if (this.small.length) {
      this.parts.push(Uint8Array.from(this.small));
      this.small = [];
    }
  }
  private pushBytes(b: number[]): void {
    for (const x of b) this.small.push(x);
    this.length += b.length;
  }
  private pushChunk(c: Uint8Array): void {
    this.flushSmall();
    this.parts.push(c);
    this.length += c.length;
  }
  private tag(field: number, wire: number): void {
    this.pushBytes(varintBytes(field * 8 + wire));
  }

  /** int32/int64/enum/bool scalar field (always written, even when 0). */
  varint(field: number, v: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.pushBytes(varintBytes(v));
    return this;
  }
  /** float scalar field (fixed32, little-endian). */
  float(field: number, v: number): this {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.pushBytes(Array.from(b));
    return this;
  }
  /** bytes field; the chunk is referenced, not copied. */
  bytes(field: number, b: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.pushBytes(varintBytes(b.length));
    this.pushChunk(b);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }
  /** Embedded message field. */
  msg(field: number, m: Msg): this {
    m.flushSmall();
    this.tag(field, WIRE_LEN);
    this.pushBytes(varintBytes(m.length));
    this.flushSmall();
    for (const p of m.parts) this.parts.push(p);
    this.length += m.length;
    return this;
  }
  /** Packed repeated int64 (or int32) field. */
  packed(field: number, values: readonly number[]): this {
    const body: number[] = [];
    for (const v of values) for (const x of varintBytes(v)) body.push(x);
    this.tag(field, WIRE_LEN);
    this.pushBytes(varintBytes(body.length));
    this.pushBytes(body);
    return this;
  }
  /** The message's bytes as one contiguous array. */
  finish(): Uint8Array {
    this.flushSmall();
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

const bytesOf = (a: Float32Array | Int32Array | BigInt64Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

if (os.endianness() !== "LE") throw new Error("onnx proto encoder: raw_data is little-endian; big-endian hosts are not supported");

// ---- ONNX messages (field numbers of onnx.proto3) ----

/** TensorProto: dims(1) data_type(2) name(8) raw_data(9). */
export function tensorProto(name: string, dims: readonly number[], data: Float32Array | Int32Array | BigInt64Array): Msg {
  const n = dims.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`tensor ${name}: ${data.length} elements for dims [${dims.join(",")}]`);
  const dt = data instanceof Float32Array ? DataType.FLOAT : data instanceof Int32Array ? DataType.INT32 : DataType.INT64;
  const m = new Msg();
  if (dims.length) m.packed(1, dims);
  m.varint(2, dt).string(8, name).bytes(9, bytesOf(data));
  return m;
}

/** ValueInfoProto name(1) type(2) -> TypeProto tensor_type(1) -> elem_type(1) shape(2) -> dim(1) -> dim_value(1). */
export function valueInfo(name: string, elemType: DataTypeCode, shape: readonly number[]): Msg {
  const shp = new Msg();
  for (const d of shape) shp.msg(1, new Msg().varint(1, d));
  const tensorType = new Msg().varint(1, elemType).msg(2, shp);
  const type = new Msg().msg(1, tensorType);
  return new Msg().string(1, name).msg(2, type);
}

export type AttrValue = number | string | readonly number[] | { float: number };

/** AttributeProto: name(1) f(2) i(3) s(4) ints(8) type(20). Plain numbers are INT; `{float}` is FLOAT. */
function attribute(name: string, v: AttrValue): Msg {
  const m = new Msg().string(1, name);
  if (typeof v === "number") {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer (use {float})`);
    m.varint(3, v).varint(20, AttrType.INT);
  } else if (typeof v === "string") m.string(4, v).varint(20, AttrType.STRING);
  else if (Array.isArray(v)) {
    for (const x of v) m.varint(8, x); // repeated int64 ints = 8 (unpacked is always accepted)
    m.varint(20, AttrType.INTS);
  } else m.float(2, (v as { float: number }).float).varint(20, AttrType.FLOAT);
  return m;
}

/** NodeProto: input(1) output(2) name(3) op_type(4) attribute(5). */
export function nodeProto(op: string, inputs: readonly string[], outputs: readonly string[], name: string, attrs: Record<string, AttrValue> = {}): Msg {
  const m = new Msg();
  for (const i of inputs) m.string(1, i);
  for (const o of outputs) m.string(2, o);
  m.string(3, name).string(4, op);
  for (const [k, v] of Object.entries(attrs)) m.msg(5, attribute(k, v));
  return m;
}

/** GraphProto: node(1) name(2) initializer(5) input(11) output(12). */
export function graphProto(name: string, nodes: Msg[], initializers: Msg[], inputs: Msg[], outputs: Msg[]): Msg {
  const g = new Msg();
  for (const n of nodes) g.msg(1, n);
  g.string(2, name);
  for (const t of initializers) g.msg(5, t);
  for (const i of inputs) g.msg(11, i);
  for (const o of outputs) g.msg(12, o);
  return g;
}

/** ModelProto: ir_version(1) producer_name(2) graph(7) opset_import(8) -> OperatorSetIdProto domain(1) version(2). */
export function modelProto(graph: Msg, o: { irVersion: number; opset: number; producer: string }): Uint8Array {
  const opset = new Msg().string(1, "").varint(2, o.opset);
  const m = new Msg().varint(1, o.irVersion).string(2, o.producer).msg(7, graph).msg(8, opset);
  return m.finish();
}
