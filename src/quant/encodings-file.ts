// Owns the quantization encodings JSON file in the AIMET 1.x layout (the one QNN's converters take with
// --quantization_overrides) and its strict validation on read.
//
// Layout (AIMET "Encoding Format Specification", quic/aimet Docs/api_docs/quantization_encoding_specification.rst,
// versions 0.4.0 / 0.5.0; AIMET 1.x exports it as version "0.6.1"):
//   { "version": "0.6.1",
//     "activation_encodings": { <tensor name>: [Encoding, ...] },
//     "param_encodings":      { <tensor name>: [Encoding, ...] } }
//   Encoding = { "bitwidth": int, "dtype": "int", "is_symmetric": "True" | "False",
//                "max": float, "min": float, "offset": int, "scale": float }  |  { "dtype": "float", "bitwidth": int }
// More than one Encoding for a tensor means one per output channel. The offset is QNN's: real = (q + offset)
// * scale on the *unsigned* code q (offset = -zero_point). A signed symmetric weight (int4/int8/int16, zero
// point 0) is therefore written the way AIMET writes symmetric encodings, offset = -2^(bitwidth-1) (its
// unsigned storage is the signed code + 2^(bitwidth-1)); reading maps it back. The newer AIMET 2.x / QNN
// "1.0.0" layout (param_encodings a list of {name, dtype: "INT", enc_type: PER_TENSOR | PER_CHANNEL | LPBQ,
// bw, is_sym, scale: [...], offset: [...], block_size, compressed_bw, per_block_int_scale}) is recognised
// by its version and rejected with a clear message; it is not read or written here.
import { readFileSync, writeFileSync } from "node:fs";
import { oneLine, UserError } from "../util/errors.js";
import type { QuantEncoding } from "./affine.js";
import type { PerChannelWeights } from "./weights.js";

export const AIMET_1X_VERSION = "0.6.1";

export interface IntEncodingEntry {
  dtype: "int";
  bitwidth: number;
  isSymmetric: boolean;
  min: number;
  max: number;
  /** QNN offset on the unsigned code: -zero_point (unsigned) or -2^(bitwidth-1) (signed symmetric). */
  offset: number;
  scale: number;
}

export interface FloatEncodingEntry {
  dtype: "float";
  bitwidth: number;
}

export type EncodingEntry = IntEncodingEntry | FloatEncodingEntry;

/**
 * A per-block (LPBQ) weight, which the AIMET 1.x layout cannot express. Written under the top-level key
 * `lpbq_encodings` with the fields of AIMET 2.x's LPBQ entry: per output channel the float scale S_c and per
 * (channel, block) the 4-bit integer multiplier m (effective block scale m·S_c), symmetric int4 codes.
 */
export interface BlockEncodingEntry {
  bitwidth: 4;
  blockSize: number;
  compressedBitwidth: 4;
  channelScales: number[];
  /** [channel][block] multipliers in 1..16. */
  perBlockIntScale: number[][];
}

export interface EncodingsFile {
  version: string;
  activationEncodings: Record<string, EncodingEntry[]>;
  paramEncodings: Record<string, EncodingEntry[]>;
  /** Per-block weights (16a4w_block), by tensor name. */
  blockEncodings?: Record<string, BlockEncodingEntry>;
}

/** The AIMET entry of an encoding: min/max are the real values of the lowest/highest code. */
export function entryFromEncoding(enc: QuantEncoding): IntEncodingEntry {
  const offset = enc.signed ? -enc.zeroPoint - 2 ** (enc.bitwidth - 1) : -enc.zeroPoint;
  return {
    dtype: "int",
    bitwidth: enc.bitwidth,
    isSymmetric: enc.symmetric,
    min: (enc.qmin - enc.zeroPoint) * enc.scale,
    max: (enc.qmax - enc.zeroPoint) * enc.scale,
    offset: offset + 0,
    scale: enc.scale,
  };
}

export interface EntryToEncodingOptions {
  /** Signed code type (weights) or unsigned (activations). */
  signed: boolean;
  /** Largest signed code; default 2^(bitwidth-1) - 1 (the narrow range of every seed weight spec). */
  qmax?: number;
}

/** The inverse of entryFromEncoding for a validated entry (the scale is rounded to fp32). */
export function encodingFromEntry(e: IntEncodingEntry, opts: EntryToEncodingOptions): QuantEncoding {
  const scale = Math.fround(e.scale);
  if (opts.signed) {
    const qmax = opts.qmax ?? 2 ** (e.bitwidth - 1) - 1;
    const zeroPoint = -e.offset - 2 ** (e.bitwidth - 1) + 0;
    return { scale, zeroPoint, offset: -zeroPoint + 0, qmin: -qmax, qmax, bitwidth: e.bitwidth, signed: true, symmetric: e.isSymmetric };
  }
  const zeroPoint = -e.offset + 0;
  return { scale, zeroPoint, offset: e.offset, qmin: 0, qmax: 2 ** e.bitwidth - 1, bitwidth: e.bitwidth, signed: false, symmetric: e.isSymmetric };
}

/** One entry per output channel of a per-channel quantized weight. */
export function perChannelEntries(q: PerChannelWeights): IntEncodingEntry[] {
  return Array.from(q.scales, (scale) =>
    entryFromEncoding({ scale, zeroPoint: 0, offset: 0, qmin: -q.qmax, qmax: q.qmax, bitwidth: q.bits, signed: true, symmetric: true }),
  );
}

function entryToJson(e: EncodingEntry): Record<string, unknown> {
  if (e.dtype === "float") return { bitwidth: e.bitwidth, dtype: "float" };
  return {
    bitwidth: e.bitwidth,
    dtype: "int",
    is_symmetric: e.isSymmetric ? "True" : "False",
    max: e.max,
    min: e.min,
    offset: e.offset,
    scale: e.scale,
  };
}

export function serializeEncodings(f: EncodingsFile): string {
  const section = (s: Record<string, EncodingEntry[]>) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.map(entryToJson)]));
  return (
    JSON.stringify(
      {
        version: f.version,
        activation_encodings: section(f.activationEncodings),
        param_encodings: section(f.paramEncodings),
        ...(f.blockEncodings && Object.keys(f.blockEncodings).length > 0
          ? {
              lpbq_encodings: Object.fromEntries(
                Object.entries(f.blockEncodings).map(([k, b]) => [
                  k,
                  { enc_type: "LPBQ", bw: b.bitwidth, is_sym: true, block_size: b.blockSize, compressed_bw: b.compressedBitwidth, scale: b.channelScales, per_block_int_scale: b.perBlockIntScale },
                ]),
              ),
            }
          : {}),
      },
      null,
      2,
    ) + "\n"
  );
}

export function writeEncodingsFile(path: string, f: EncodingsFile): void {
  try {
    writeFileSync(path, serializeEncodings(f));
  } catch (e) {
    throw new UserError(oneLine(`${path}: cannot write encodings (${(e as { code?: string }).code ?? (e as Error).message})`));
  }
}

/** What a tensor's encodings must look like (from the scheme). */
export interface TensorExpectation {
  bitwidth?: number;
  /** Number of entries (1 per-tensor, the output-channel count per-channel). */
  channels?: number;
  symmetric?: boolean;
}

export interface ReadEncodingsOptions {
  /** Tensor names that may appear; any other name is an error. */
  validNames?: ReadonlySet<string>;
  /** Per tensor name, what its encodings must match. */
  expected?: ReadonlyMap<string, TensorExpectation>;
}

const SECTIONS = [
  ["activation_encodings", "activationEncodings"],
  ["param_encodings", "paramEncodings"],
] as const;

/** A value as shown in an error message: numbers as JS prints them (Infinity, NaN), others as JSON. */
const show = (v: unknown): string => (v === undefined ? "missing" : typeof v === "number" ? String(v) : (JSON.stringify(v) ?? String(v)));

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses and validates an encodings file's text; every problem is a one-line UserError naming file and tensor. */
export function parseEncodings(text: string, file: string, opts: ReadEncodingsOptions = {}): EncodingsFile {
  const fail = (msg: string): never => {
    throw new UserError(oneLine(`${file}: ${msg}`));
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    // Python's json module writes NaN / Infinity / -Infinity literals: read them as strings, so the entry
    // holding one is reported by name below instead of the whole file failing as "not JSON".
    try {
      doc = JSON.parse(text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, (m) => (m.startsWith('"') ? m : `"${m}"`)));
    } catch {
      fail(`not valid JSON (${(e as Error).message})`);
    }
  }
  if (!isObject(doc)) return fail("not an encodings file (the top level is not a JSON object)");
  let version = AIMET_1X_VERSION;
  if (doc.version !== undefined) {
    if (typeof doc.version !== "string") return fail("version is not a string");
    if (!/^0\.\d+(\.\d+)?$/.test(doc.version))
      fail(`encodings version ${doc.version} is not supported (only the AIMET 1.x layout, versions 0.x)`);
    version = doc.version;
  }
  if (SECTIONS.every(([key]) => doc[key] === undefined || (isObject(doc[key]) && Object.keys(doc[key] as object).length === 0)))
    fail(`holds no encodings (${SECTIONS.map(([key]) => key).join(" and ")} are missing or empty)`);
  const out: EncodingsFile = { version, activationEncodings: {}, paramEncodings: {} };
  for (const [key, field] of SECTIONS) {
    const section = doc[key];
    if (section === undefined) continue;
    if (!isObject(section)) return fail(`${key} is not an object of tensor names`);
    for (const [name, list] of Object.entries(section)) {
      const where = `${key} ${JSON.stringify(name)}`;
      if (opts.validNames && !opts.validNames.has(name)) fail(`${where}: unknown tensor name`);
      if (!Array.isArray(list) || list.length === 0) return fail(`${where}: not a non-empty list of encodings`);
      const expect = opts.expected?.get(name);
      if (expect?.channels !== undefined && list.length !== expect.channels)
        fail(`${where}: ${list.length} encodings, expected ${expect.channels}`);
      out[field][name] = list.map((raw, i) => parseEntry(raw, list.length > 1 ? `${where}[${i}]` : where, expect, fail));
    }
  }
  if (doc.lpbq_encodings !== undefined) out.blockEncodings = parseBlockSection(doc.lpbq_encodings, opts, fail);
  return out;
}

function parseBlockSection(section: unknown, opts: ReadEncodingsOptions, fail: (m: string) => never): Record<string, BlockEncodingEntry> {
  if (!isObject(section)) return fail("lpbq_encodings is not an object of tensor names");
  const out: Record<string, BlockEncodingEntry> = {};
  for (const [name, raw] of Object.entries(section)) {
    const where = `lpbq_encodings ${JSON.stringify(name)}`;
    if (opts.validNames && !opts.validNames.has(name)) fail(`${where}: unknown tensor name`);
    if (!isObject(raw)) return fail(`${where}: not an object`);
    if (raw.enc_type !== "LPBQ") fail(`${where}: enc_type ${show(raw.enc_type)} is not "LPBQ"`);
    if (raw.bw !== 4) fail(`${where}: bw ${show(raw.bw)}, expected 4`);
    if (raw.compressed_bw !== 4) fail(`${where}: compressed_bw ${show(raw.compressed_bw)}, expected 4`);
    const bs = raw.block_size;
    if (typeof bs !== "number" || !Number.isInteger(bs) || bs < 1) return fail(`${where}: block_size ${show(bs)} is not a positive integer`);
    const scales = raw.scale;
    if (!Array.isArray(scales) || scales.length === 0) return fail(`${where}: scale is not a non-empty list`);
    scales.forEach((v, i) => {
      if (typeof v !== "number" || !Number.isFinite(v) || !(v > 0)) fail(`${where}: scale[${i}] ${show(v)} is not a positive finite number`);
    });
    const expect = opts.expected?.get(name);
    if (expect?.channels !== undefined && scales.length !== expect.channels) fail(`${where}: ${scales.length} channel scales, expected ${expect.channels}`);
    const m = raw.per_block_int_scale;
    if (!Array.isArray(m) || m.length !== scales.length) return fail(`${where}: per_block_int_scale is not a list of ${scales.length} channels`);
    let blocks = -1;
    m.forEach((row, c) => {
      if (!Array.isArray(row) || row.length === 0) fail(`${where}: per_block_int_scale[${c}] is not a non-empty list`);
      if (blocks === -1) blocks = (row as unknown[]).length;
      else if ((row as unknown[]).length !== blocks) fail(`${where}: per_block_int_scale[${c}] has ${(row as unknown[]).length} blocks, expected ${blocks}`);
      (row as unknown[]).forEach((v, b) => {
        if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 16) fail(`${where}: per_block_int_scale[${c}][${b}] ${show(v)} is not an integer in 1..16`);
      });
    });
    out[name] = { bitwidth: 4, blockSize: bs, compressedBitwidth: 4, channelScales: scales as number[], perBlockIntScale: m as number[][] };
  }
  return out;
}

function parseEntry(raw: unknown, where: string, expect: TensorExpectation | undefined, fail: (m: string) => never): EncodingEntry {
  if (!isObject(raw)) return fail(`${where}: an encoding is not an object`);
  const bw = raw.bitwidth;
  if (typeof bw !== "number" || !Number.isInteger(bw) || bw < 1 || bw > 32) return fail(`${where}: bitwidth ${show(bw)} is not an integer in 1..32`);
  if (expect?.bitwidth !== undefined && bw !== expect.bitwidth) fail(`${where}: bitwidth ${bw}, expected ${expect.bitwidth}`);
  const dtype = raw.dtype ?? "int"; // version 0.4.0 entries have no dtype: integer
  if (dtype === "float") {
    if (bw !== 16 && bw !== 32) fail(`${where}: float bitwidth ${bw} is not 16 or 32`);
    if (expect?.symmetric !== undefined) fail(`${where}: a float encoding, expected an integer one`);
    return { dtype: "float", bitwidth: bw };
  }
  if (dtype !== "int") return fail(`${where}: dtype ${show(dtype)} is not "int" or "float"`);
  let isSymmetric: boolean;
  const sym = raw.is_symmetric;
  if (sym === "True" || sym === true) isSymmetric = true;
  else if (sym === "False" || sym === false) isSymmetric = false;
  else return fail(`${where}: is_symmetric ${show(sym)} is not "True" or "False"`);
  if (expect?.symmetric !== undefined && isSymmetric !== expect.symmetric)
    fail(`${where}: is_symmetric ${isSymmetric ? "True" : "False"}, expected ${expect.symmetric ? "True" : "False"}`);
  const num = (k: string): number => {
    const v = raw[k];
    if (typeof v !== "number" || !Number.isFinite(v)) return fail(`${where}: ${k} ${show(v)} is not a finite number`);
    return v;
  };
  const scale = num("scale");
  if (!(scale > 0)) fail(`${where}: scale ${scale} is not positive`);
  const offset = num("offset");
  const lowest = -(2 ** bw - 1);
  if (!Number.isInteger(offset) || offset < lowest || offset > 0) fail(`${where}: offset ${offset} is not an integer in [${lowest}, 0] for bitwidth ${bw}`);
  const min = num("min");
  const max = num("max");
  if (min > max) fail(`${where}: min ${min} > max ${max}`);
  return { dtype: "int", bitwidth: bw, isSymmetric, min, max, offset: offset + 0, scale };
}

export function readEncodingsFile(path: string, opts: ReadEncodingsOptions = {}): EncodingsFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UserError(oneLine(`${path}: cannot read encodings (${(e as { code?: string }).code ?? (e as Error).message})`));
  }
  return parseEncodings(text, path, opts);
}
