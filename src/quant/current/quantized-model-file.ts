// Owns the quantized model file (written by the run command's `--save_quantized FILE`, read by `--quantized_model
// FILE`): a calibrated current-flow model as the device holds it — the weight codes, the scales and every activation
// encoding — so a model is calibrated once and then run or evaluated without its fp32 checkpoint. A 1B model at 16a4w
// is 1.28 GB on disk and about 1.3 GiB in memory instead of 4.6 GiB (issue 18). The format is the project's own
// (docs/quantization.md "Quantized model files"):
// nothing standard holds QNN's codes with the encodings they were made against (AIMET's files hold encodings only, a
// .pte holds a compiled graph).
//
// Layout, little-endian:
//   "LGQMODEL" · u32 version (1) · u32 0 · u64 header bytes H · H bytes of UTF-8 JSON · zero padding to a multiple of
//   64 · the data sections, each at header-given offset (from the start of the data, 64-byte aligned) and length.
// The header holds the model config, the recipe (resolved again on load, so the convs' schemes are this project's
// reading of it), the calibration's activation encodings and observed ranges, per conv its input/output encodings,
// SeqMSE step and the sections of its codes and scales, per RMSNorm its encoding and device weights, and the other
// small fp32 tensors (raw RMSNorm weights, biases, q/k norms, Gemma's sandwich norms). JSON numbers are written as
// JavaScript prints them (the shortest round trip of the double, exact); -0, ±Infinity and NaN as the strings "-0",
// "Infinity", "-Infinity", "NaN".
// Sections: conv codes `i4` (two per byte, per row: column 2j in the low nibble, 2j + 1 in the high one, a row of odd
// width padded with a zero nibble) or `i8`; scales `f32`; LPBQ multipliers `u8`; the embedding table `u16` — the codes of
// the embedding tap's encoding, whose values dequantize to exactly what the fp32 table's gathered rows fake-quantize to
// (checked element by element when writing; a table where that fails, e.g. a NaN, or Gemma's scaled embedding, whose
// tap follows the scale, is stored as `f32`).
//
// Reading never trusts a size in the file: every section's type and length must be what the config and recipe imply,
// lie inside the file, and the whole header must describe the same model the recipe resolves to; problems are one-line
// UserErrors naming the file. Conv codes go straight from the file into the integer kernel's memory, a block of rows
// at a time (createFastConvRows().load), so no whole-tensor code array is built; the lean model's fp32 conv weights are
// empty placeholders (the quantized graph finds a conv by its weight array) and the embedding is gathered from codes.
import { closeSync, readSync } from "node:fs";
import type { ModelConfig } from "../../engine/config.js";
import { validateConfig } from "../../engine/config.js";
import type { EmbedFn } from "../../engine/decoder.js";
import { LAYER_EXTRAS, layerExtras, weightShapes, type LayerWeights, type Model, type ModelWeights } from "../../engine/weights.js";
import { describeFsError, openUserFileSync } from "../../util/files.js";
import { UserError } from "../../util/errors.js";
import type { QuantEncoding } from "../affine.js";
import { dequantizeInto, fakeQuantInPlace, quantizeInto, type Range } from "./activations.js";
import { EMBEDDING_NAME, encodingOf, type ConvQuant, type CurrentEncodings, type NormQuant } from "./encodings.js";
import type { FastConvRows } from "./integer-fast.js";
import { resolveRecipe, type CurrentRecipe } from "./recipe.js";
import { convWeightsOf, type ConvWeights, type WeightSpec } from "./weights.js";

const MAGIC = "LGQMODEL";
const VERSION = 1;
const ALIGN = 64;
/** Codes per block of rows read or written at once. */
const BLOCK_CODES = 1 << 22;

type Dtype = "i4" | "i8" | "u8" | "u16" | "f32";
interface Section {
  offset: number;
  bytes: number;
  dtype: Dtype;
}
interface ConvEntry {
  path: string;
  inputName: string;
  input: QuantEncoding;
  requantInput: boolean;
  output: QuantEncoding;
  seqMse?: ConvQuant["seqMse"];
  step: number;
  codes: Section;
  groupScales: Section;
  channelScales: Section;
  multipliers?: Section;
}
interface NormEntry {
  name: string;
  layer: number;
  which: NormQuant["which"];
  encoding: QuantEncoding;
  device: Section;
}
interface TensorEntry {
  /** -1: the model's final norm. */
  layer: number;
  key: string;
  data: Section;
}
interface Header {
  format: "llama-golden-quantized-model";
  version: number;
  config: ModelConfig;
  recipe: CurrentRecipe;
  contextLen: number;
  attention: { maskedSoftmax: boolean; r3: boolean };
  sequences: number;
  activations: [string, QuantEncoding][];
  observed: [string, Range][];
  convs: ConvEntry[];
  norms: NormEntry[];
  tensors: TensorEntry[];
  embedding: { dtype: "u16" | "f32"; data: Section };
  dataBytes: number;
}

const BYTES: Record<Dtype, number> = { i4: 0.5, i8: 1, u8: 1, u16: 2, f32: 4 };
const sectionBytes = (dtype: Dtype, rows: number, cols: number): number => (dtype === "i4" ? rows * Math.ceil(cols / 2) : rows * cols * BYTES[dtype]);

// Exact JSON for doubles: -0 and the non-finite values as strings.
const replacer = (_k: string, v: unknown): unknown =>
  typeof v === "number" ? (Object.is(v, -0) ? "-0" : Number.isFinite(v) ? v : String(v)) : v;
const SPECIAL: Record<string, number> = { "-0": -0, Infinity: Infinity, "-Infinity": -Infinity, NaN: NaN };
const reviver = (_k: string, v: unknown): unknown => (typeof v === "string" && v in SPECIAL ? SPECIAL[v] : v);

/** Where the quantized model file is written: the run's atomic output (src/cli/atomic-file.ts) or any byte sink. */
export interface ByteSink {
  write(bytes: Uint8Array): void;
}

/** The bytes of a typed array (a view, no copy). */
const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Codes [rows, cols] packed two per byte per row (low nibble first). */
function packInt4(codes: Int8Array, rows: number, cols: number): Uint8Array {
  const rb = Math.ceil(cols / 2);
  const out = new Uint8Array(rows * rb);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < cols; j += 2) {
      const lo = codes[r * cols + j] & 15;
      const hi = j + 1 < cols ? codes[r * cols + j + 1] & 15 : 0;
      out[r * rb + (j >> 1)] = lo | (hi << 4);
    }
  return out;
}

/** packInt4 read back, nibbles sign-extended. */
function unpackInt4(bytes: Uint8Array, rows: number, cols: number): Int8Array {
  const rb = Math.ceil(cols / 2);
  const out = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < cols; j++) {
      const b = bytes[r * rb + (j >> 1)];
      out[r * cols + j] = (((j & 1) === 0 ? b & 15 : b >> 4) << 28) >> 28;
    }
  return out;
}

/**
 * The embedding table as codes of the embedding tap's encoding when every row gathered from them equals the fp32 row
 * fake-quantized (what the quantized graph computes), else null (keep fp32). Gemma's scaled embedding is fp32 (its tap
 * follows the scale).
 */
function embeddingCodes(model: Model, enc: CurrentEncodings): Uint16Array | null {
  const c = model.config;
  if ((c.arch?.embedScale ?? 1) !== 1) return null;
  const e = encodingOf(enc, EMBEDDING_NAME);
  if (e.bitwidth > 16 || e.signed) return null;
  const table = model.weights.tokEmbeddings;
  const codes = new Uint16Array(table.length);
  const row = new Float32Array(c.dim);
  const back = new Float32Array(c.dim);
  for (let t = 0; t < c.vocabSize; t++) {
    const x = table.subarray(t * c.dim, (t + 1) * c.dim);
    const q = codes.subarray(t * c.dim, (t + 1) * c.dim);
    quantizeInto(x, e, q);
    dequantizeInto(q, e, back);
    row.set(x);
    try {
      fakeQuantInPlace(row, e);
    } catch {
      return null; // a NaN has no code (the graph's q/dq would refuse it too): keep the table in fp32
    }
    for (let i = 0; i < c.dim; i++) if (!Object.is(row[i], back[i])) return null;
  }
  return codes;
}

/**
 * Writes `model` quantized with `enc` (calibrateCurrent of that model, or a quantized model file's own) to `sink`.
 * The model's conv codes come from the encodings; its fp32 conv weights are not read.
 */
export function writeQuantizedModel(sink: ByteSink, model: Model, enc: CurrentEncodings): void {
  const c = model.config;
  if (model.weights.tokEmbeddings.length !== c.vocabSize * c.dim) throw new Error("writeQuantizedModel: the model has no fp32 embedding table (a loaded quantized model is not written again)");
  let at = 0;
  const parts: (() => void)[] = [];
  const section = (dtype: Dtype, bytes: number, write: () => void): Section => {
    const s = { offset: at, bytes, dtype };
    at += Math.ceil(bytes / ALIGN) * ALIGN;
    const pad = Math.ceil(bytes / ALIGN) * ALIGN - bytes;
    parts.push(() => {
      write();
      if (pad) sink.write(new Uint8Array(pad));
    });
    return s;
  };
  const plain = (dtype: Dtype, a: ArrayBufferView): Section => section(dtype, a.byteLength, () => sink.write(bytesOf(a)));
  const convs: ConvEntry[] = enc.convs.map((q) => {
    const w = q.weights;
    const int4 = w.spec.qmax <= 7;
    const rowsPerBlock = Math.max(1, Math.floor(BLOCK_CODES / w.cols));
    const codes = section(int4 ? "i4" : "i8", sectionBytes(int4 ? "i4" : "i8", w.rows, w.cols), () => {
      for (let r = 0; r < w.rows; r += rowsPerBlock) {
        const n = Math.min(rowsPerBlock, w.rows - r);
        const block = w.codes.subarray(r * w.cols, (r + n) * w.cols);
        sink.write(int4 ? packInt4(block, n, w.cols) : bytesOf(block));
      }
    });
    return {
      path: q.conv.path,
      inputName: q.inputName,
      input: q.input,
      requantInput: q.requantInput,
      output: q.output,
      ...(q.seqMse ? { seqMse: q.seqMse } : {}),
      step: w.step,
      codes,
      groupScales: plain("f32", w.groupScales),
      channelScales: plain("f32", w.channelScales),
      ...(w.multipliers ? { multipliers: plain("u8", w.multipliers) } : {}),
    };
  });
  const norms: NormEntry[] = enc.norms.map((n) => ({ name: n.name, layer: n.layer, which: n.which, encoding: n.encoding, device: plain("f32", n.device) }));
  const tensors: TensorEntry[] = [{ layer: -1, key: "norm", data: plain("f32", model.weights.norm) }];
  model.weights.layers.forEach((lw, l) => {
    for (const key of ["attnNorm", "ffnNorm", ...layerExtras(c)] as const) tensors.push({ layer: l, key, data: plain("f32", lw[key]!) });
  });
  const codes = embeddingCodes(model, enc);
  const embedding = codes ? { dtype: "u16" as const, data: plain("u16", codes) } : { dtype: "f32" as const, data: plain("f32", model.weights.tokEmbeddings) };
  const header: Header = {
    format: "llama-golden-quantized-model",
    version: VERSION,
    config: c,
    recipe: enc.recipe.recipe,
    contextLen: enc.contextLen,
    attention: enc.attention,
    sequences: enc.sequences,
    activations: [...enc.activations],
    observed: [...enc.observed],
    convs,
    norms,
    tensors,
    embedding,
    dataBytes: at,
  };
  const json = new TextEncoder().encode(JSON.stringify(header, replacer));
  const head = new Uint8Array(24);
  head.set(new TextEncoder().encode(MAGIC));
  const dv = new DataView(head.buffer);
  dv.setUint32(8, VERSION, true);
  dv.setBigUint64(16, BigInt(json.length), true);
  sink.write(head);
  sink.write(json);
  const pad = (ALIGN - ((24 + json.length) % ALIGN)) % ALIGN;
  if (pad) sink.write(new Uint8Array(pad));
  for (const p of parts) p();
}

/** A quantized model file loaded: a model with placeholder conv weights, its encodings, and the gather from codes. */
export interface LoadedQuantizedModel {
  model: Model;
  encodings: CurrentEncodings;
  /** The embedding gather when the table is held as codes (pass to the quantized backend). */
  embed?: EmbedFn;
  /** The conv function holding the codes (pass to the quantized backend), when the kernel took any. */
  convRows?: FastConvRows;
  /** Bytes held for the weights (codes, scales, tables). */
  weightBytes: number;
}

export interface LoadQuantizedOptions {
  /**
   * The fast integer conv (createFastConvRows on the backend's kernel): convs it takes are read straight into its
   * memory. Without it (or for a conv it does not take), the codes are kept as arrays (the plain path).
   */
  convRows?: FastConvRows;
}

/** Reads a quantized model file (see the header). Every problem is a one-line UserError naming `path`. */
export function loadQuantizedModel(path: string, o: LoadQuantizedOptions = {}): LoadedQuantizedModel {
  const fail = (problem: string) => new UserError(`quantized model ${path}: ${problem}`);
  const { fd, size } = openUserFileSync(path, `quantized model ${path}`);
  try {
    return readModel(path, fd, size, fail, o);
  } finally {
    closeSync(fd);
  }
}

function readModel(path: string, fd: number, size: number, fail: (p: string) => UserError, o: LoadQuantizedOptions): LoadedQuantizedModel {
  const read = (position: number, length: number): Uint8Array => {
    const buf = new Uint8Array(length);
    for (let done = 0; done < length; ) {
      let n: number;
      try {
        n = readSync(fd, buf, done, length - done, position + done);
      } catch (e) {
        throw fail(describeFsError(e));
      }
      if (n === 0) throw fail("the file changed while being read (it is shorter than it was)");
      done += n;
    }
    return buf;
  };
  if (size < 24) throw fail(`${size} bytes, too short for a quantized model file`);
  const head = read(0, 24);
  if (new TextDecoder().decode(head.subarray(0, 8)) !== MAGIC) throw fail("not a quantized model file (no LGQMODEL magic; write one with --save_quantized)");
  const dv = new DataView(head.buffer);
  const version = dv.getUint32(8, true);
  if (version !== VERSION) throw fail(`format version ${version}, this llama-golden reads version ${VERSION}`);
  const hBytes = Number(dv.getBigUint64(16, true));
  if (hBytes > size - 24) throw fail(`the header claims ${hBytes} bytes, more than the file holds (truncated?)`);
  let h: Header;
  try {
    h = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(read(24, hBytes)), reviver) as Header;
  } catch (e) {
    throw fail(`the header is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const dataStart = Math.ceil((24 + hBytes) / ALIGN) * ALIGN;
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
  if (!isObj(h) || h.format !== "llama-golden-quantized-model") throw fail("the header is not a quantized model header");
  for (const k of ["config", "recipe", "attention", "embedding"] as const) if (!isObj(h[k])) throw fail(`the header has no ${k} object`);
  for (const k of ["activations", "observed", "convs", "norms", "tensors"] as const) if (!Array.isArray(h[k])) throw fail(`the header has no ${k} list`);
  if (!(Number.isSafeInteger(h.dataBytes) && h.dataBytes >= 0)) throw fail("the header's dataBytes is not a byte count");
  if (dataStart + h.dataBytes > size) throw fail(`the data sections need ${dataStart + h.dataBytes} bytes, the file has ${size} (truncated?)`);
  if (dataStart + h.dataBytes < size) throw fail(`${size - dataStart - h.dataBytes} bytes after the last data section`);
  const c = validateConfig(h.config, `quantized model ${path}: config`);
  if (!(Number.isSafeInteger(h.contextLen) && h.contextLen > 0) || !(Number.isSafeInteger(h.sequences) && h.sequences >= 0)) throw fail("the header's contextLen / sequences are not counts");
  const shapes = weightShapes(c);

  /** Checks a section against the type and element count the model implies; returns its byte offset in the file. */
  const check = (s: Section | undefined, what: string, dtype: Dtype, rows: number, cols: number): number => {
    if (!isObj(s)) throw fail(`${what}: no section`);
    if (s.dtype !== dtype) throw fail(`${what}: ${String(s.dtype)} data, expected ${dtype}`);
    const want = sectionBytes(dtype, rows, cols);
    if (s.bytes !== want) throw fail(`${what}: ${String(s.bytes)} bytes, expected ${want} (${rows}×${cols} ${dtype})`);
    if (!(Number.isSafeInteger(s.offset) && s.offset >= 0 && s.offset % ALIGN === 0 && s.offset + s.bytes <= h.dataBytes))
      throw fail(`${what}: offset ${String(s.offset)} is not an aligned place inside the data`);
    return dataStart + s.offset;
  };
  const f32 = (s: Section | undefined, what: string, n: number): Float32Array => {
    const at = check(s, what, "f32", 1, n);
    const b = read(at, n * 4);
    return new Float32Array(b.buffer, 0, n);
  };

  let resolved;
  try {
    resolved = resolveRecipe(h.recipe, c);
  } catch (e) {
    throw fail(`its recipe does not resolve on its config (${e instanceof Error ? e.message : String(e)})`);
  }
  // Encodings and ranges: the shapes the graphs read (numbers and flags), so a damaged header fails here, in one line.
  const encoding = (x: unknown, what: string): QuantEncoding => {
    const nums = ["scale", "zeroPoint", "offset", "qmin", "qmax", "bitwidth"] as const;
    if (!isObj(x) || nums.some((k) => typeof x[k] !== "number") || typeof x.signed !== "boolean" || typeof x.symmetric !== "boolean" || !((x.scale as number) > 0))
      throw fail(`${what}: not an encoding {scale > 0, zeroPoint, offset, qmin, qmax, bitwidth, signed, symmetric}`);
    return x as unknown as QuantEncoding;
  };
  const pairs = (list: unknown[], what: string): [string, unknown][] =>
    list.map((p, i) => {
      if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== "string") throw fail(`${what}[${i}] is not a [name, value] pair`);
      return [p[0], p[1]];
    });
  const activations = new Map<string, QuantEncoding>(pairs(h.activations, "activations").map(([n, x]) => [n, encoding(x, `activation ${n}`)]));
  const observed = new Map<string, Range>(
    pairs(h.observed, "observed").map(([n, r]) => {
      if (!isObj(r) || typeof r.min !== "number" || typeof r.max !== "number") throw fail(`observed ${n}: not a {min, max} range`);
      return [n, r as unknown as Range];
    }),
  );

  // The fp32 tensors: raw norms and the family's extras.
  const empty = () => new Float32Array(0);
  for (const t of h.tensors) if (!isObj(t) || typeof t.layer !== "number" || typeof t.key !== "string") throw fail("a tensor entry without a layer and key");
  const tensor = new Map(h.tensors.map((t) => [`${t.layer}.${t.key}`, t]));
  const want = (layer: number, key: string): Float32Array => {
    const t = tensor.get(`${layer}.${key}`);
    if (!t) throw fail(`no ${layer < 0 ? key : `layers.${layer}.${key}`} tensor`);
    return f32(t.data, `${layer < 0 ? key : `layers.${layer}.${key}`}`, (shapes[key] as number[]).reduce((a, b) => a * b, 1));
  };
  const extras = layerExtras(c);
  const layers: LayerWeights[] = Array.from({ length: c.nLayers }, (_, l) => {
    const lw: LayerWeights = { attnNorm: want(l, "attnNorm"), ffnNorm: want(l, "ffnNorm"), wq: empty(), wk: empty(), wv: empty(), wo: empty(), w1: empty(), w2: empty(), w3: empty() };
    for (const k of extras) lw[k] = want(l, k);
    return lw;
  });
  if (h.tensors.length !== 1 + c.nLayers * (2 + extras.length) || h.tensors.some((t) => t.layer >= 0 && !["attnNorm", "ffnNorm", ...LAYER_EXTRAS].includes(t.key)))
    throw fail("its tensor list does not match the config (extra or repeated tensors)");
  let weightBytes = 0;

  // The embedding table: codes with a gather that dequantizes, or fp32.
  const V = c.vocabSize;
  const D = c.dim;
  let tokEmbeddings: Float32Array = empty();
  let embed: EmbedFn | undefined;
  if (h.embedding.dtype === "u16") {
    if ((c.arch?.embedScale ?? 1) !== 1) throw fail("an embedding table as codes for a model with an embedding scale");
    const e = activations.get(EMBEDDING_NAME);
    if (!e) throw fail(`no ${EMBEDDING_NAME} encoding for its embedding codes`);
    const at = check(h.embedding.data, "embedding", "u16", V, D);
    const b = read(at, V * D * 2);
    const codes = new Uint16Array(b.buffer, 0, V * D);
    for (let i = 0; i < codes.length; i++) if (codes[i] < e.qmin || codes[i] > e.qmax) throw fail(`embedding code ${codes[i]} outside [${e.qmin}, ${e.qmax}]`);
    embed = (tok, dst) => dequantizeInto(codes.subarray(tok * D, (tok + 1) * D), e, dst);
    weightBytes += b.byteLength;
  } else if (h.embedding.dtype === "f32") {
    tokEmbeddings = f32(h.embedding.data, "embedding", V * D);
    weightBytes += tokEmbeddings.byteLength;
  } else throw fail(`embedding dtype ${String(h.embedding.dtype)}, expected u16 or f32`);

  const weights: ModelWeights = { tokEmbeddings, layers, norm: want(-1, "norm"), output: empty() };
  const model: Model = { config: c, weights };

  // Convs: match the recipe's convs one to one, codes into the kernel block by block.
  const byPath = new Map<string, ConvEntry>();
  for (const e of h.convs) {
    if (!isObj(e) || typeof e.path !== "string") throw fail("a conv entry without a path");
    if (byPath.has(e.path)) throw fail(`conv ${e.path} twice`);
    byPath.set(e.path, e);
  }
  if (byPath.size !== resolved.convs.length) throw fail(`${byPath.size} convs, its recipe resolves to ${resolved.convs.length}`);
  const convs: ConvQuant[] = resolved.convs.map((conv) => {
    const e = byPath.get(conv.path);
    if (!e) throw fail(`no conv ${conv.path}`);
    const spec: WeightSpec = conv.weight;
    const { rows, cols } = conv;
    const int4 = spec.qmax <= 7;
    const nGroups = spec.kind === "lpbq" ? cols / spec.blockSize : 1;
    const groupScales = f32(e.groupScales, `${conv.path} group scales`, rows * nGroups);
    const channelScales = f32(e.channelScales, `${conv.path} channel scales`, rows);
    let multipliers: Uint8Array | undefined;
    if (spec.kind === "lpbq") multipliers = read(check(e.multipliers, `${conv.path} multipliers`, "u8", rows, nGroups), rows * nGroups);
    else if (e.multipliers !== undefined) throw fail(`${conv.path}: multipliers for a per-channel conv`);
    if (typeof e.step !== "number") throw fail(`${conv.path}: no SeqMSE step`);
    const codesAt = check(e.codes, `${conv.path} codes`, int4 ? "i4" : "i8", rows, cols);
    const parts = { spec, rows, cols, groupScales, channelScales, ...(multipliers ? { multipliers } : {}), step: e.step };
    const rowsPerBlock = Math.max(1, Math.floor(BLOCK_CODES / cols));
    const rb = int4 ? Math.ceil(cols / 2) : cols;
    // Every nibble / byte is a valid code: the weight range is the whole signed int4 / int8 range ([−qmax − 1, qmax]).
    if (spec.qmax !== (int4 ? 7 : 127)) throw new Error(`quantized model: a ${spec.qmax}-qmax weight spec has no code type here`);
    const blockCodes = (r: number, n: number): Int8Array => {
      const b = read(codesAt + r * rb, n * rb);
      return int4 ? unpackInt4(b, n, cols) : new Int8Array(b.buffer, 0, n * cols);
    };
    let weightsOut: ConvWeights;
    weightBytes += groupScales.byteLength + channelScales.byteLength + (multipliers?.byteLength ?? 0);
    if (o.convRows?.takes({ spec, cols })) {
      const kernel = o.convRows;
      // The codes live in the kernel's memory only; read back on demand (the plain path's NaN fallback, fp32 views).
      let codes: Int8Array | undefined;
      const lean = Object.defineProperty({ ...parts }, "codes", { enumerable: true, configurable: true, get: () => (codes ??= kernel.codesOf(lean as ConvWeights)) }) as Omit<ConvWeights, "device">;
      weightsOut = convWeightsOf(lean);
      const fill = kernel.load(weightsOut);
      for (let r = 0; r < rows; r += rowsPerBlock) fill(r, blockCodes(r, Math.min(rowsPerBlock, rows - r)));
      weightBytes += rows * rb;
    } else {
      const codes = new Int8Array(rows * cols);
      for (let r = 0; r < rows; r += rowsPerBlock) codes.set(blockCodes(r, Math.min(rowsPerBlock, rows - r)), r * cols);
      weightsOut = convWeightsOf({ ...parts, codes });
      weightBytes += codes.byteLength;
    }
    if (typeof e.inputName !== "string") throw fail(`${conv.path}: no input name`);
    return {
      conv,
      weights: weightsOut,
      inputName: e.inputName,
      input: encoding(e.input, `${conv.path} input`),
      requantInput: e.requantInput === true,
      output: encoding(e.output, `${conv.path} output`),
      ...(e.seqMse ? { seqMse: e.seqMse } : {}),
    };
  });
  const norms: NormQuant[] = h.norms.map((n, i) => {
    if (!isObj(n) || typeof n.name !== "string" || typeof n.layer !== "number" || !["attnNorm", "ffnNorm", "norm"].includes(n.which)) throw fail(`norm entry ${i} is not {name, layer, which, encoding, device}`);
    const len = n.which === "norm" ? shapes.norm[0] : shapes.attnNorm[0];
    return { name: n.name, layer: n.layer, which: n.which, encoding: encoding(n.encoding, `norm ${n.name}`), device: f32(n.device, `${n.name} device weights`, len) };
  });
  for (const which of ["attnNorm", "ffnNorm"] as const)
    for (let l = 0; l < c.nLayers; l++) if (!norms.some((n) => n.which === which && n.layer === l)) throw fail(`no ${which} encoding of layer ${l}`);
  if (!norms.some((n) => n.which === "norm" && n.layer === -1)) throw fail("no final norm encoding");
  const encodings: CurrentEncodings = {
    config: c,
    recipe: resolved,
    contextLen: h.contextLen,
    attention: { maskedSoftmax: h.attention.maskedSoftmax === true, r3: h.attention.r3 === true },
    activations,
    observed,
    convs,
    norms,
    sequences: h.sequences,
  };
  return { model, encodings, ...(embed ? { embed } : {}), ...(o.convRows ? { convRows: o.convRows } : {}), weightBytes };
}
