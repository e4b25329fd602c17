// Owns the numbers at the QNN graph boundary: the QNN data types (codes, element sizes, ranges), the
// conversion between our float / int32 tensors and a device tensor's little-endian bytes under its
// quantization encoding, and IEEE half-precision conversion.
//
// QNN convention (QnnTypes.h, Qnn_ScaleOffset_t): real = scale * (q + offset), offset = -zero_point. So
//   quantize:   q = clamp(round_half_even(x / scale) - offset, qmin, qmax)      (x / scale in float64)
//   dequantize: x = fp32(scale * (q + offset))
// which is src/quant/affine.ts's arithmetic (zeroPoint = -offset). ±Infinity saturates to qmin / qmax (a
// -inf mask becomes the blocked code); NaN is an error. Per-axis encodings (axis_scale_offset) use the scale
// and offset of the element's index along `axis`. Integer types (INT_*, UINT_*) carry plain integers
// (tokens, input_pos) and ignore any encoding; FLOAT_16 is converted with round to nearest, ties to even.
import { roundHalfEven } from "../quant/affine.js";
import { LITTLE_ENDIAN } from "../util/binary.js";
import { UserError } from "../util/errors.js";

/** A QNN data type by its QnnTypes.h name without the QNN_DATATYPE_ prefix ("UFIXED_POINT_16"). */
export type QnnDataTypeName = string;

/**
 * Quantization encoding of a tensor as the addon reports it (src/qnn/native.ts, QnnEncoding): the four
 * encodings whose parameters the addon reads (Qnn_QuantizationEncoding_t 0..3), else the code and its
 * QnnTypes.h name (QNN_ENCODING_NAMES). Only the first two can convert values here.
 */
export type TensorEncoding =
  | { kind: "none" }
  | { kind: "scale_offset"; scale: number; offset: number }
  | { kind: "axis_scale_offset"; axis: number; scales: number[]; offsets: number[] }
  | { kind: "bw_scale_offset"; bitwidth: number; scale: number; offset: number }
  | { kind: "bw_axis_scale_offset"; bitwidth: number; axis: number; scales: number[]; offsets: number[] }
  | { kind: "other"; code: number; name?: string };

/**
 * Qnn_QuantizationEncoding_t names without the QNN_QUANTIZATION_ENCODING_ prefix, by value (QnnTypes.h of
 * core API 2.32; BLOCKWISE_EXPANSION is the encoding of LPBQ weights).
 */
export const QNN_ENCODING_NAMES: readonly string[] = [
  "SCALE_OFFSET",
  "AXIS_SCALE_OFFSET",
  "BW_SCALE_OFFSET",
  "BW_AXIS_SCALE_OFFSET",
  "BLOCK",
  "BLOCKWISE_EXPANSION",
  "VECTOR",
  "FLOAT_BLOCK",
  "BW_AXIS_SCALE_OFFSET_MAPPED",
  "BW_BLOCK_MAPPED",
  "BW_BLOCKWISE_EXPANSION_MAPPED",
  "BW_FLOAT_BLOCK",
];

/** The QnnTypes.h name of a Qnn_QuantizationEncoding_t value; unknown values as "UNKNOWN_<code>". */
export function encodingName(code: number): string {
  return QNN_ENCODING_NAMES[code] ?? `UNKNOWN_${code}`;
}

/** The Qnn_QuantizationEncoding_t value and name of an encoding (undefined for "none"). */
export function encodingCode(e: TensorEncoding): { code: number; name: string } | undefined {
  switch (e.kind) {
    case "none":
      return undefined;
    case "scale_offset":
      return { code: 0, name: QNN_ENCODING_NAMES[0] };
    case "axis_scale_offset":
      return { code: 1, name: QNN_ENCODING_NAMES[1] };
    case "bw_scale_offset":
      return { code: 2, name: QNN_ENCODING_NAMES[2] };
    case "bw_axis_scale_offset":
      return { code: 3, name: QNN_ENCODING_NAMES[3] };
    default:
      return { code: e.code, name: e.name ?? encodingName(e.code) };
  }
}

/** What this module needs of a device tensor (structurally a QnnTensorInfo). */
export interface DeviceTensor {
  name: string;
  dataType: QnnDataTypeName;
  dims: number[];
  encoding: TensorEncoding;
}

export type DataKind = "int" | "uint" | "float" | "sfixed" | "ufixed" | "bool";

export interface DataTypeInfo {
  name: QnnDataTypeName;
  /** Qnn_DataType_t value. */
  code: number;
  bytes: number;
  kind: DataKind;
  /** Smallest and largest code (integers and fixed point); ±Infinity for floats. */
  min: number;
  max: number;
}

const dt = (name: string, code: number, bytes: number, kind: DataKind): DataTypeInfo => {
  const bits = 8 * bytes;
  const signed = kind === "int" || kind === "sfixed";
  const [min, max] =
    kind === "float" ? [-Infinity, Infinity] : kind === "bool" ? [0, 1] : signed ? [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1] : [0, 2 ** bits - 1];
  return { name, code, bytes, kind, min, max };
};

/** The Qnn_DataType_t values of QnnTypes.h (low byte: bit width in decimal digits, high byte: family). */
export const QNN_DATA_TYPES: readonly DataTypeInfo[] = [
  dt("INT_8", 0x0008, 1, "int"),
  dt("INT_16", 0x0016, 2, "int"),
  dt("INT_32", 0x0032, 4, "int"),
  dt("INT_64", 0x0064, 8, "int"),
  dt("UINT_8", 0x0108, 1, "uint"),
  dt("UINT_16", 0x0116, 2, "uint"),
  dt("UINT_32", 0x0132, 4, "uint"),
  dt("UINT_64", 0x0164, 8, "uint"),
  dt("FLOAT_16", 0x0216, 2, "float"),
  dt("FLOAT_32", 0x0232, 4, "float"),
  dt("SFIXED_POINT_8", 0x0308, 1, "sfixed"),
  dt("SFIXED_POINT_16", 0x0316, 2, "sfixed"),
  dt("SFIXED_POINT_32", 0x0332, 4, "sfixed"),
  dt("UFIXED_POINT_8", 0x0408, 1, "ufixed"),
  dt("UFIXED_POINT_16", 0x0416, 2, "ufixed"),
  dt("UFIXED_POINT_32", 0x0432, 4, "ufixed"),
  dt("BOOL_8", 0x0508, 1, "bool"),
];

const BY_NAME = new Map(QNN_DATA_TYPES.map((d) => [d.name, d]));

/** Accepts "UFIXED_POINT_16" and "QNN_DATATYPE_UFIXED_POINT_16". */
export function dataTypeInfo(name: QnnDataTypeName, where = "qnn"): DataTypeInfo {
  const d = BY_NAME.get(name.replace(/^QNN_DATATYPE_/, ""));
  if (!d) throw new UserError(`${where}: data type ${JSON.stringify(name)} is not supported (expected one of ${QNN_DATA_TYPES.map((x) => x.name).join(", ")})`);
  return d;
}

export const isFixedPoint = (d: DataTypeInfo): boolean => d.kind === "sfixed" || d.kind === "ufixed";

export const elementCount = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** Byte size of a tensor: product(dims) x element size. */
export function tensorByteSize(t: Pick<DeviceTensor, "dataType" | "dims">): number {
  return elementCount(t.dims) * dataTypeInfo(t.dataType).bytes;
}

// ---- IEEE 754 half precision ----

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** fp32 -> fp16 bits, round to nearest, ties to even; overflow -> ±Inf; NaN -> quiet NaN 0x7e00 (sign kept). */
export function f32ToF16Bits(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return mant !== 0 ? sign | 0x7e00 : sign | 0x7c00;
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 31) return sign | 0x7c00; // >= 2^16: past the largest half even before rounding
  if (e <= 0) {
    // Half subnormal (or zero): value = m * 2^-24 with m = round(M * 2^(exp - 126)), M the 24-bit significand.
    if (exp < 102) return sign; // < 2^-25: rounds to zero (2^-25 itself is handled below as a tie)
    const M = 0x800000 | mant;
    const shift = 126 - exp; // 14..24
    let q = M >>> shift;
    const rem = M & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (q & 1) === 1)) q++;
    return sign | q; // q may reach 0x400: the smallest normal, correctly encoded
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry rolls into the exponent (up to Inf)
  return sign | h;
}

/** fp16 bits -> the exact value (as a number; every half is an fp32 value). */
export function f16BitsToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m !== 0 ? NaN : s * Infinity;
  return s * (1024 + m) * 2 ** (e - 25);
}

// ---- encodings ----

/** Per-element (scale, offset) lookup for a fixed-point tensor; validated once per tensor. */
interface ScaleOffsetFn {
  scaleAt(i: number): number;
  offsetAt(i: number): number;
}

/** Checks a fixed-point tensor's encoding and returns its per-element lookup; UserError when unusable. */
export function checkEncoding(t: DeviceTensor, where: string): ScaleOffsetFn | undefined {
  const d = dataTypeInfo(t.dataType, where);
  if (!isFixedPoint(d)) return undefined;
  const e = t.encoding;
  const bad = (why: string) => new UserError(`${where}: tensor ${JSON.stringify(t.name)} (${d.name}): ${why}`);
  const okScale = (s: number) => Number.isFinite(s) && s > 0;
  const okOffset = (o: number) => Number.isInteger(o) && Math.abs(o) <= 2 ** 32;
  if (e.kind === "scale_offset") {
    if (!okScale(e.scale)) throw bad(`scale ${e.scale} is not a positive finite number`);
    if (!okOffset(e.offset)) throw bad(`offset ${e.offset} is not an integer`);
    return { scaleAt: () => e.scale, offsetAt: () => e.offset };
  }
  if (e.kind === "axis_scale_offset") {
    if (!Number.isInteger(e.axis) || e.axis < 0 || e.axis >= t.dims.length) throw bad(`encoding axis ${e.axis} is outside the tensor's ${t.dims.length} dimensions`);
    const n = t.dims[e.axis];
    if (e.scales.length !== n || e.offsets.length !== n)
      throw bad(`per-axis encoding has ${e.scales.length} scales and ${e.offsets.length} offsets for ${n} channels on axis ${e.axis}`);
    e.scales.forEach((s, c) => {
      if (!okScale(s)) throw bad(`channel ${c}: scale ${s} is not a positive finite number`);
    });
    e.offsets.forEach((o, c) => {
      if (!okOffset(o)) throw bad(`channel ${c}: offset ${o} is not an integer`);
    });
    const inner = elementCount(t.dims.slice(e.axis + 1));
    const ch = (i: number) => Math.floor(i / inner) % n;
    return { scaleAt: (i) => e.scales[ch(i)], offsetAt: (i) => e.offsets[ch(i)] };
  }
  if (e.kind === "none") throw bad("a fixed-point tensor without a quantization encoding cannot be converted");
  const c = encodingCode(e)!;
  throw bad(`quantization encoding ${c.name} (type ${c.code}) is not supported (only scale/offset and per-axis scale/offset)`);
}

/** q = clamp(round_half_even(x / scale) - offset, min, max); ±Infinity saturates; NaN is an error. */
export function quantizeValue(x: number, scale: number, offset: number, min: number, max: number): number {
  if (Number.isNaN(x)) throw new RangeError("quantize: NaN has no code");
  const q = roundHalfEven(x / scale) - offset;
  return q < min ? min : q > max ? max : q;
}

/** fp32(scale * (q + offset)). */
export function dequantizeValue(q: number, scale: number, offset: number): number {
  return Math.fround(scale * (q + offset));
}

type Put = (dv: DataView, at: number, v: number) => void;
type Get = (dv: DataView, at: number) => number;

function putter(d: DataTypeInfo): Put {
  switch (d.bytes) {
    case 1:
      return d.min < 0 ? (dv, at, v) => dv.setInt8(at, v) : (dv, at, v) => dv.setUint8(at, v);
    case 2:
      if (d.kind === "float") return (dv, at, v) => dv.setUint16(at, f32ToF16Bits(v), true);
      return d.min < 0 ? (dv, at, v) => dv.setInt16(at, v, true) : (dv, at, v) => dv.setUint16(at, v, true);
    case 4:
      if (d.kind === "float") return (dv, at, v) => dv.setFloat32(at, v, true);
      return d.min < 0 ? (dv, at, v) => dv.setInt32(at, v, true) : (dv, at, v) => dv.setUint32(at, v, true);
    default:
      return d.min < 0 ? (dv, at, v) => dv.setBigInt64(at, BigInt(v), true) : (dv, at, v) => dv.setBigUint64(at, BigInt(v), true);
  }
}

function getter(d: DataTypeInfo): Get {
  switch (d.bytes) {
    case 1:
      return d.min < 0 ? (dv, at) => dv.getInt8(at) : (dv, at) => dv.getUint8(at);
    case 2:
      if (d.kind === "float") return (dv, at) => f16BitsToF32(dv.getUint16(at, true));
      return d.min < 0 ? (dv, at) => dv.getInt16(at, true) : (dv, at) => dv.getUint16(at, true);
    case 4:
      if (d.kind === "float") return (dv, at) => dv.getFloat32(at, true);
      return d.min < 0 ? (dv, at) => dv.getInt32(at, true) : (dv, at) => dv.getUint32(at, true);
    default:
      return d.min < 0 ? (dv, at) => Number(dv.getBigInt64(at, true)) : (dv, at) => Number(dv.getBigUint64(at, true));
  }
}

const viewOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

function checkSizes(t: DeviceTensor, d: DataTypeInfo, n: number, bytes: number, what: string): void {
  const want = elementCount(t.dims);
  if (n !== want) throw new RangeError(`${what} ${t.name}: ${n} elements, the device tensor [${t.dims.join(", ")}] has ${want}`);
  if (bytes !== want * d.bytes) throw new RangeError(`${what} ${t.name}: a ${bytes}-byte buffer, ${d.name}[${t.dims.join(", ")}] needs ${want * d.bytes}`);
}

/**
 * Writes `src` (float values, or integers for INT_* / UINT_* tensors) into `dst` as the device tensor's
 * little-endian bytes under its encoding. Sizes must match exactly.
 */
export function quantizeInto(src: ArrayLike<number>, t: DeviceTensor, dst: Uint8Array): void {
  const d = dataTypeInfo(t.dataType, "qnn");
  checkSizes(t, d, src.length, dst.length, "quantize");
  const n = src.length;
  if (isFixedPoint(d)) {
    const so = checkEncoding(t, "qnn")!;
    const perTensor = t.encoding.kind === "scale_offset";
    const s0 = so.scaleAt(0);
    const o0 = so.offsetAt(0);
    const at = (i: number) => {
      const x = src[i];
      if (Number.isNaN(x)) throw new RangeError(`quantize ${t.name}: element ${i} is NaN`);
      return perTensor ? quantizeValue(x, s0, o0, d.min, d.max) : quantizeValue(x, so.scaleAt(i), so.offsetAt(i), d.min, d.max);
    };
    if (d.bytes === 1) {
      if (d.min < 0) for (let i = 0; i < n; i++) dst[i] = at(i) & 0xff;
      else for (let i = 0; i < n; i++) dst[i] = at(i);
      return;
    }
    if (d.bytes === 2 && d.min === 0 && LITTLE_ENDIAN && dst.byteOffset % 2 === 0) {
      const u16 = new Uint16Array(dst.buffer, dst.byteOffset, n);
      for (let i = 0; i < n; i++) u16[i] = at(i);
      return;
    }
    const put = putter(d);
    const dv = viewOf(dst);
    for (let i = 0; i < n; i++) put(dv, i * d.bytes, at(i));
    return;
  }
  if (d.kind === "float") {
    if (d.bytes === 4 && LITTLE_ENDIAN && dst.byteOffset % 4 === 0) {
      new Float32Array(dst.buffer, dst.byteOffset, n).set(src);
      return;
    }
    const put = putter(d);
    const dv = viewOf(dst);
    for (let i = 0; i < n; i++) put(dv, i * d.bytes, src[i]);
    return;
  }
  if (d.kind === "bool") {
    for (let i = 0; i < n; i++) {
      if (Number.isNaN(src[i])) throw new RangeError(`quantize ${t.name}: element ${i} is NaN`);
      dst[i] = src[i] !== 0 ? 1 : 0;
    }
    return;
  }
  // Plain integers: the values as they are, which must be integers in range.
  const put = putter(d);
  const dv = viewOf(dst);
  for (let i = 0; i < n; i++) {
    const v = src[i];
    if (!Number.isInteger(v) || v < d.min || v > d.max)
      throw new RangeError(`quantize ${t.name}: element ${i} = ${v} is not a ${d.name} integer`);
    put(dv, i * d.bytes, v);
  }
}

/** Reads the device tensor's bytes into `dst` as real values (fixed point dequantized, fp16 widened). */
export function dequantizeFrom(src: Uint8Array, t: DeviceTensor, dst: Float32Array | Int32Array): void {
  const d = dataTypeInfo(t.dataType, "qnn");
  checkSizes(t, d, dst.length, src.length, "dequantize");
  const n = dst.length;
  if (isFixedPoint(d)) {
    const so = checkEncoding(t, "qnn")!;
    if (d.bytes === 1 && d.min === 0 && t.encoding.kind === "scale_offset") {
      const s = t.encoding.scale;
      const o = t.encoding.offset;
      for (let i = 0; i < n; i++) dst[i] = Math.fround(s * (src[i] + o));
      return;
    }
    const get = getter(d);
    const dv = viewOf(src);
    for (let i = 0; i < n; i++) dst[i] = dequantizeValue(get(dv, i * d.bytes), so.scaleAt(i), so.offsetAt(i));
    return;
  }
  if (d.kind === "float" && d.bytes === 4 && LITTLE_ENDIAN && src.byteOffset % 4 === 0 && dst instanceof Float32Array) {
    dst.set(new Float32Array(src.buffer, src.byteOffset, n));
    return;
  }
  const get = getter(d);
  const dv = viewOf(src);
  for (let i = 0; i < n; i++) dst[i] = get(dv, i * d.bytes);
}

/** The raw little-endian bytes of a typed array (a view, no copy): how device-native codes are handed over. */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
