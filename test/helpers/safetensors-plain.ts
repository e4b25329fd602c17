// Test helper: a minimal, plain safetensors reader and writer, written from the format description
// (https://github.com/huggingface/safetensors: 8-byte little-endian header length N, N bytes of JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the tensor bytes, offsets relative
// to the end of the header). Independent of src/ on purpose: it is part of the check of the engine's loaders.
import { readFileSync, writeFileSync } from "node:fs";

export interface PlainTensor {
  shape: number[];
  dtype: string;
  /** The values, widened to float64 (exact for F32, BF16 and F16). */
  data: Float64Array;
}

export type SafetensorsWriteDtype = "F32" | "BF16";

export interface TensorToWrite {
  dtype: SafetensorsWriteDtype;
  shape: number[];
  data: Float32Array;
}

const f32View = new Float32Array(1);
const u32View = new Uint32Array(f32View.buffer);

/** bfloat16 bits -> value. */
export function bf16ToNumber(bits: number): number {
  u32View[0] = (bits & 0xffff) << 16;
  return f32View[0];
}

/** IEEE half bits -> value. */
export function f16ToNumber(bits: number): number {
  const s = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** float32 value -> bfloat16 bits, rounding the fp32 bits to nearest, ties to even (NaN -> quiet NaN). */
export function numberToBf16(x: number): number {
  f32View[0] = x;
  const bits = u32View[0];
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) return ((bits >>> 16) | 0x0040) & 0xffff;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Rounds a number to the nearest bfloat16 value (through float32 first, as torch does for an fp32 tensor). */
export function roundToBf16(x: number): number {
  return bf16ToNumber(numberToBf16(x));
}

const ELEMENT_BYTES: Record<string, number> = { F32: 4, BF16: 2, F16: 2 };

/** Parses a safetensors buffer into name -> tensor (float64 values). */
export function parseSafetensors(buf: Uint8Array): Map<string, PlainTensor> {
  if (buf.length < 8) throw new Error("safetensors: file shorter than its 8-byte header length");
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (8 + n > buf.length) throw new Error(`safetensors: header length ${n} exceeds the file`);
  const header = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + 8, n).toString("utf8")) as Record<string, unknown>;
  const base = 8 + n;
  const out = new Map<string, PlainTensor>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const info = raw as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const size = ELEMENT_BYTES[info.dtype];
    if (size === undefined) throw new Error(`safetensors: ${name}: unsupported dtype ${info.dtype}`);
    const count = info.shape.reduce((a, b) => a * b, 1);
    const [begin, end] = info.data_offsets;
    if (end - begin !== count * size) throw new Error(`safetensors: ${name}: ${end - begin} bytes for ${count} x ${info.dtype}`);
    if (base + end > buf.length) throw new Error(`safetensors: ${name}: data past the end of the file`);
    const data = new Float64Array(count);
    const at = base + begin;
    if (info.dtype === "F32") for (let i = 0; i < count; i++) data[i] = dv.getFloat32(at + 4 * i, true);
    else if (info.dtype === "BF16") for (let i = 0; i < count; i++) data[i] = bf16ToNumber(dv.getUint16(at + 2 * i, true));
    else for (let i = 0; i < count; i++) data[i] = f16ToNumber(dv.getUint16(at + 2 * i, true));
    out.set(name, { shape: info.shape.slice(), dtype: info.dtype, data });
  }
  return out;
}

export function readSafetensors(path: string): Map<string, PlainTensor> {
  return parseSafetensors(readFileSync(path));
}

/**
 * Serializes tensors: header {"__metadata__": {"format": "pt"}, then the tensors in sorted-name order} padded with
 * spaces to a multiple of 8 bytes, then the data in the same order. BF16 = the fp32 bits rounded to nearest-even.
 */
export function encodeSafetensors(tensors: Record<string, TensorToWrite>): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`safetensors: ${name}: shape [${t.shape}] but ${t.data.length} values`);
    const bytes = count * ELEMENT_BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  while (Buffer.byteLength(json, "utf8") % 8 !== 0) json += " ";
  const hbytes = Buffer.from(json, "utf8");
  const out = new Uint8Array(8 + hbytes.length + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let at = 8 + hbytes.length;
  for (const name of names) {
    const t = tensors[name];
    if (t.dtype === "F32") {
      for (let i = 0; i < t.data.length; i++, at += 4) dv.setFloat32(at, t.data[i], true);
    } else {
      for (let i = 0; i < t.data.length; i++, at += 2) dv.setUint16(at, numberToBf16(t.data[i]), true);
    }
  }
  return out;
}

export function writeSafetensors(path: string, tensors: Record<string, TensorToWrite>): void {
  writeFileSync(path, encodeSafetensors(tensors));
}
