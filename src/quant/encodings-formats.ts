// Owns recognising a quantization encodings file by its content and reading it into one normalised form, for
// `quant-report --compare_encodings` (src/quant/encodings-diff.ts). Three layouts are read:
// - AIMET 0.x (0.4.0 / 0.5.0 / 0.6.1, the project's own --dump_encodings files, with their `lpbq_encodings`):
//   read by src/quant/encodings-file.ts parseEncodings, so both readers validate alike;
// - AIMET 1.0.0 (AIMET 2.x / QAIRT; qualcomm/aimet Docs/quantsim/encoding_spec.rst §5): `activation_encodings`
//   and `param_encodings` are LISTS of { name, dtype: INT | FLOAT, enc_type: PER_TENSOR | PER_CHANNEL |
//   PER_BLOCK | LPBQ, bw, is_sym, scale: [...], offset: [...], block_size?, compressed_bw?,
//   per_block_int_scale? }; one entry per tensor, per-channel scales in one array. AIMET writes FLOAT entries
//   as { dtype, bw, enc_type } only;
// - the JSON of `llama-golden qnn inspect --json` (src/cli/qnn-command.ts): contexts[].info.graphs[] with the
//   graph inputs and outputs { name, type, dataType, dims, encoding: { kind, scale, offset, scales, offsets,
//   bitwidth, axis } } as src/qnn/native.ts reports them. Only a context's graph inputs and outputs are
//   listed (QNN's binary info holds nothing else), so weights and inner activations are never in it. Names
//   are "<graph>/<tensor>" ("<context>/<graph>/<tensor>" when several contexts list graphs), since one
//   context binary holds several graphs (prefill and kv) whose tensors may share names.
//
// The normalised encoding uses the offset convention of the AIMET files, QNN's on the UNSIGNED code:
// real = scale * (q_u + offset), so a symmetric b-bit encoding has offset -2^(b-1). QNN's signed fixed-point
// tensors (SFIXED_POINT_*) carry the offset of the signed code q_s = q_u - 2^(b-1); they are shifted by
// -2^(b-1) here. Per-block encodings are normalised to their effective block scales: LPBQ's
// per_block_int_scale x per-channel scale, block by block, the channel's offset for each block. A tensor the
// device does not record as symmetric or not (QNN) has no `symmetric` unless its offsets rule symmetry out.
// Every problem is a one-line UserError naming the file: not JSON, unknown layout or version, a non-positive
// or non-finite scale, scale / offset lists of different lengths, a duplicate tensor name.
import { readUserFile } from "../util/files.js";
import { oneLine, UserError } from "../util/errors.js";
import { parseEncodings, type EncodingEntry, type EncodingsFile } from "./encodings-file.js";

export type TensorKind = "activation" | "param";

export interface NormalEncoding {
  name: string;
  kind: TensorKind;
  dtype: "int" | "float";
  bitwidth: number;
  /** undefined: the layout does not say (QNN tensors, whose grid fits a symmetric encoding). */
  symmetric?: boolean;
  /** One (per tensor), one per output channel, or one per block (int only; empty for float). */
  scales: number[];
  /** Same length as scales; QNN's offset on the unsigned code. */
  offsets: number[];
  /** Per-block encodings: the block size. */
  blockSize?: number;
  /** Per-block encodings whose channel count is known (LPBQ): output channels (blocks per channel = scales / channels). */
  channels?: number;
  /** LPBQ: the bitwidth of the codes (bitwidth is the decompressed one). */
  compressedBitwidth?: number;
}

export type EncodingsLayout = "aimet-0.x" | "aimet-1.0.0" | "qnn-inspect";

export interface EncodingsSet {
  file: string;
  layout: EncodingsLayout;
  /** The layout for people: "AIMET 0.6.1", "AIMET 1.0.0", "qnn inspect --json". */
  label: string;
  tensors: NormalEncoding[];
  /** Tensors (or contexts) whose encodings could not be read, with the reason. */
  skipped: { name: string; reason: string }[];
}

type Fail = (msg: string) => never;
type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
/** A value as shown in an error message: numbers as JS prints them, others as JSON. */
const show = (v: unknown): string => (v === undefined ? "missing" : typeof v === "number" ? String(v) : (JSON.stringify(v) ?? String(v)));
const SECTIONS = ["activation_encodings", "param_encodings"] as const;
const kindOf = (section: (typeof SECTIONS)[number]): TensorKind => (section === "activation_encodings" ? "activation" : "param");

/** JSON text to a value; Python's NaN / Infinity literals become strings (reported by name where they are). */
export function parseJsonText(text: string, fail: Fail): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    try {
      return JSON.parse(text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, (m) => (m.startsWith('"') ? m : `"${m}"`)));
    } catch {
      return fail(`not valid JSON (${(e as Error).message})`);
    }
  }
}

/** True for the first bytes of an ExecuTorch program: a flatbuffer with file identifier "ET" + 2 characters at byte 4. */
export function looksLikePte(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  const id = String.fromCharCode(...bytes.subarray(4, 8));
  return /^ET[0-9A-Za-z]{2}$/.test(id);
}

/** Reads a file given to --compare_encodings: refuses a .pte (say what to run instead) and binary files. */
export function readEncodingsAny(path: string): EncodingsSet {
  const bytes = readUserFile(path, "--compare_encodings");
  if (looksLikePte(bytes) || /\.pte$/i.test(path))
    throw new UserError(
      `${path}: an ExecuTorch program (.pte), not an encodings file; run "llama-golden qnn inspect --pte ${path} --json > encodings.json" on a machine with the QNN SDK (the native addon lists the context's tensors and encodings) and compare that JSON`,
    );
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new UserError(`${path}: not valid JSON (a binary file, not UTF-8 text)`);
  }
  return parseEncodingsAny(text, path);
}

/** Recognises the layout of an encodings text and normalises it; `file` names it in every error. */
export function parseEncodingsAny(text: string, file: string): EncodingsSet {
  const fail: Fail = (msg) => {
    throw new UserError(oneLine(`${file}: ${msg}`));
  };
  const doc = parseJsonText(text, fail);
  if (!isObject(doc)) return fail("not an encodings file (the top level is not a JSON object)");
  if (Array.isArray(doc.contexts) && ("graph_listing" in doc || "plans" in doc)) return readQnnInspect(doc, file, fail);
  const version = doc.version;
  if (version !== undefined && typeof version !== "string") return fail(`version ${show(version)} is not a string`);
  if (version === "1.0.0") return readAimetV1(doc, file, fail);
  if (version === undefined && SECTIONS.every((k) => doc[k] === undefined))
    return fail("unknown layout: neither AIMET encodings (version, activation_encodings, param_encodings) nor qnn inspect --json output (contexts, graph_listing)");
  if (version !== undefined && !/^0\.\d+(\.\d+)?$/.test(version))
    return fail(`encodings version ${version} is not supported (read: AIMET 0.x, AIMET 1.0.0, qnn inspect --json output)`);
  return readAimet0x(parseEncodings(text, file), file, fail);
}

// ---- AIMET 0.x ----

function readAimet0x(f: EncodingsFile, file: string, fail: Fail): EncodingsSet {
  const tensors: NormalEncoding[] = [];
  const seen = new Map<string, string>();
  const claim = (name: string, where: string) => {
    const before = seen.get(name);
    if (before !== undefined) fail(`duplicate tensor name ${JSON.stringify(name)} (in ${before} and ${where})`);
    seen.set(name, where);
  };
  for (const [section, entries, kind] of [
    ["activation_encodings", f.activationEncodings, "activation"],
    ["param_encodings", f.paramEncodings, "param"],
  ] as const) {
    for (const [name, list] of Object.entries(entries)) {
      claim(name, section);
      tensors.push(fromEntries(name, kind, list, `${section} ${JSON.stringify(name)}`, fail));
    }
  }
  for (const [name, b] of Object.entries(f.blockEncodings ?? {})) {
    claim(name, "lpbq_encodings");
    const blocks = b.perBlockIntScale[0].length;
    tensors.push({
      name,
      kind: "param",
      dtype: "int",
      bitwidth: b.bitwidth,
      symmetric: true,
      ...expandLpbq(b.channelScales, b.channelScales.map(() => -(2 ** (b.bitwidth - 1))), b.perBlockIntScale.flat(), blocks),
      blockSize: b.blockSize,
      channels: b.channelScales.length,
      compressedBitwidth: b.compressedBitwidth,
    });
  }
  return { file, layout: "aimet-0.x", label: `AIMET ${f.version}`, tensors, skipped: [] };
}

/** One 0.x tensor: a list of one encoding (per tensor) or one per output channel, which must agree in kind. */
function fromEntries(name: string, kind: TensorKind, list: EncodingEntry[], where: string, fail: Fail): NormalEncoding {
  const first = list[0];
  for (const e of list) {
    if (e.dtype !== first.dtype) fail(`${where}: mixes int and float encodings`);
    if (e.bitwidth !== first.bitwidth) fail(`${where}: channels disagree on bitwidth (${first.bitwidth} and ${e.bitwidth})`);
  }
  if (first.dtype === "float") return { name, kind, dtype: "float", bitwidth: first.bitwidth, scales: [], offsets: [] };
  const ints = list.filter((e) => e.dtype === "int");
  if (ints.some((e) => e.isSymmetric !== ints[0].isSymmetric)) fail(`${where}: channels disagree on is_symmetric`);
  return { name, kind, dtype: "int", bitwidth: first.bitwidth, symmetric: ints[0].isSymmetric, scales: ints.map((e) => e.scale), offsets: ints.map((e) => e.offset) };
}

/** LPBQ's effective block scales m[c][b] * S_c (channel-major) and the channel offsets repeated per block. */
function expandLpbq(channelScales: number[], channelOffsets: number[], multipliers: number[], blocks: number): { scales: number[]; offsets: number[] } {
  return {
    scales: multipliers.map((m, i) => m * channelScales[Math.floor(i / blocks)]),
    offsets: multipliers.map((_, i) => channelOffsets[Math.floor(i / blocks)]),
  };
}

// ---- AIMET 1.0.0 ----

const ENC_TYPES = ["PER_TENSOR", "PER_CHANNEL", "PER_BLOCK", "LPBQ"] as const;

function readAimetV1(doc: Obj, file: string, fail: Fail): EncodingsSet {
  if (SECTIONS.every((k) => doc[k] === undefined || (Array.isArray(doc[k]) && (doc[k] as unknown[]).length === 0)))
    fail(`holds no encodings (${SECTIONS.join(" and ")} are missing or empty)`);
  const tensors: NormalEncoding[] = [];
  const seen = new Map<string, string>();
  for (const section of SECTIONS) {
    const list = doc[section];
    if (list === undefined) continue;
    if (!Array.isArray(list)) return fail(`${section} is not a list (version 1.0.0 holds lists of { name, enc_type, bw, scale, offset, ... })`);
    list.forEach((raw, i) => {
      const where = `${section}[${i}]`;
      const enc = readV1Entry(raw, kindOf(section), where, fail);
      const before = seen.get(enc.name);
      if (before !== undefined) fail(`${where}: duplicate tensor name ${JSON.stringify(enc.name)} (also ${before})`);
      seen.set(enc.name, where);
      tensors.push(enc);
    });
  }
  return { file, layout: "aimet-1.0.0", label: "AIMET 1.0.0", tensors, skipped: [] };
}

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

function readV1Entry(raw: unknown, kind: TensorKind, at: string, fail: Fail): NormalEncoding {
  if (!isObject(raw)) return fail(`${at}: an encoding is not an object`);
  const name = raw.name;
  if (typeof name !== "string" || name === "") return fail(`${at}: name ${show(name)} is not a non-empty string`);
  const where = `${at} ${JSON.stringify(name)}`;
  const encType = raw.enc_type;
  if (!ENC_TYPES.includes(encType as (typeof ENC_TYPES)[number])) return fail(`${where}: enc_type ${show(encType)} is not one of ${ENC_TYPES.join(", ")}`);
  const bw = raw.bw;
  if (!isInt(bw) || bw < 1 || bw > 32) return fail(`${where}: bw ${show(bw)} is not an integer in 1..32`);
  const dtype = raw.dtype;
  if (dtype === "FLOAT" || dtype === "FP") {
    if (bw !== 16 && bw !== 32) fail(`${where}: float bw ${bw} is not 16 or 32`);
    if (encType !== "PER_TENSOR") fail(`${where}: a float encoding with enc_type ${encType}`);
    return { name, kind, dtype: "float", bitwidth: bw, scales: [], offsets: [] };
  }
  if (dtype !== "INT") return fail(`${where}: dtype ${show(dtype)} is not "INT" or "FLOAT"`);
  const sym = raw.is_sym;
  const symmetric = sym === true || sym === "True" ? true : sym === false || sym === "False" ? false : fail(`${where}: is_sym ${show(sym)} is not true or false`);
  const scales = numberList(raw.scale, "scale", where, fail);
  const offsets = offsetList(raw.offset, bw, where, fail);
  if (scales.length !== offsets.length) fail(`${where}: scale has ${scales.length} values, offset ${offsets.length}`);
  const base = { name, kind, dtype: "int" as const, bitwidth: bw, symmetric };
  if (encType === "PER_TENSOR") {
    if (scales.length !== 1) fail(`${where}: PER_TENSOR with ${scales.length} scales, expected 1`);
    return { ...base, scales, offsets };
  }
  if (encType === "PER_CHANNEL") return { ...base, scales, offsets };
  const blockSize = raw.block_size;
  if (!isInt(blockSize) || blockSize < 1) return fail(`${where}: block_size ${show(blockSize)} is not a positive integer`);
  if (encType === "PER_BLOCK") return { ...base, scales, offsets, blockSize };
  const cbw = raw.compressed_bw;
  if (!isInt(cbw) || cbw < 1 || cbw > bw) return fail(`${where}: compressed_bw ${show(cbw)} is not an integer in 1..${bw}`);
  const m = blockMultipliers(raw.per_block_int_scale, scales.length, where, fail);
  return { ...base, ...expandLpbq(scales, offsets, m, m.length / scales.length), blockSize, channels: scales.length, compressedBitwidth: cbw };
}

/** A non-empty list of positive finite numbers (scales). */
function numberList(v: unknown, key: string, where: string, fail: Fail): number[] {
  if (!Array.isArray(v) || v.length === 0) return fail(`${where}: ${key} is not a non-empty list`);
  v.forEach((x, i) => {
    if (typeof x !== "number" || !Number.isFinite(x) || !(x > 0)) fail(`${where}: ${key}[${i}] ${show(x)} is not a positive finite number`);
  });
  return v as number[];
}

/** A list of integer offsets in [-(2^bw - 1), 0] (QNN's offset on the unsigned code, as in the 0.x reader). */
function offsetList(v: unknown, bw: number, where: string, fail: Fail): number[] {
  if (!Array.isArray(v)) return fail(`${where}: offset is not a list`);
  const lowest = -(2 ** bw - 1);
  v.forEach((x, i) => {
    if (!isInt(x) || x < lowest || x > 0) fail(`${where}: offset[${i}] ${show(x)} is not an integer in [${lowest}, 0] for bw ${bw}`);
  });
  return (v as number[]).map((x) => x + 0);
}

/** LPBQ per_block_int_scale, flat (the spec) or per channel (the project's own files): positive integers, a whole number of blocks per channel. */
function blockMultipliers(v: unknown, channels: number, where: string, fail: Fail): number[] {
  if (!Array.isArray(v) || v.length === 0) return fail(`${where}: per_block_int_scale is not a non-empty list`);
  const flat = v.every(Array.isArray) ? (v as unknown[][]).flat() : v;
  flat.forEach((x, i) => {
    if (!isInt(x) || x < 1 || x > 65535) fail(`${where}: per_block_int_scale[${i}] ${show(x)} is not an integer in 1..65535`);
  });
  if (flat.length % channels !== 0) fail(`${where}: per_block_int_scale has ${flat.length} values, not a whole number of blocks for ${channels} channels`);
  return flat as number[];
}

// ---- qnn inspect --json ----

function readQnnInspect(doc: Obj, file: string, fail: Fail): EncodingsSet {
  const listing = doc.graph_listing;
  if (isObject(listing) && listing.available === false)
    fail(`qnn inspect could not list the graphs (${typeof listing.reason === "string" ? listing.reason : "no reason given"}); run "qnn inspect --json" where the native addon and the QNN SDK are available`);
  const contexts = (doc.contexts as unknown[]).map((c, i) => (isObject(c) ? c : fail(`contexts[${i}] is not an object`)));
  const skipped: EncodingsSet["skipped"] = [];
  const withGraphs: { label: string; graphs: unknown[] }[] = [];
  contexts.forEach((c, i) => {
    const label = typeof c.label === "string" ? c.label : `context ${i}`;
    if (typeof c.error === "string") skipped.push({ name: label, reason: `graphs not readable: ${c.error}` });
    else if (isObject(c.info) && Array.isArray(c.info.graphs)) withGraphs.push({ label, graphs: c.info.graphs });
    else fail(`contexts[${i}] has neither info.graphs nor an error`);
  });
  if (withGraphs.length === 0) fail("lists no graphs (no context has info.graphs)");
  const tensors: NormalEncoding[] = [];
  const seen = new Set<string>();
  for (const ctx of withGraphs) {
    ctx.graphs.forEach((g, gi) => {
      if (!isObject(g) || typeof g.name !== "string") return fail(`context ${ctx.label}: graphs[${gi}] has no name`);
      const prefix = withGraphs.length > 1 ? `${ctx.label}/${g.name}/` : `${g.name}/`;
      for (const dir of ["inputs", "outputs"] as const) {
        const list = g[dir];
        if (!Array.isArray(list)) return fail(`graph ${g.name}: ${dir} is not a list`);
        list.forEach((t, ti) => {
          const where = `graph ${g.name} ${dir}[${ti}]`;
          if (!isObject(t) || typeof t.name !== "string") return fail(`${where}: not a tensor with a name`);
          const name = prefix + t.name;
          if (seen.has(name)) fail(`${where}: duplicate tensor name ${JSON.stringify(name)}`);
          seen.add(name);
          const r = readQnnTensor(t, name, `${where} ${JSON.stringify(t.name)}`, fail);
          if (r === undefined) return;
          if ("reason" in r) skipped.push(r);
          else tensors.push(r);
        });
      }
    });
  }
  return { file, layout: "qnn-inspect", label: "qnn inspect --json", tensors, skipped };
}

/** Qnn_DataType_t names with or without the QNN_DATATYPE_ prefix: family and bit width. */
function dataTypeOf(v: unknown): { family: string; bits: number } | undefined {
  const m = typeof v === "string" ? /^(?:QNN_DATATYPE_)?(UFIXED_POINT|SFIXED_POINT|FLOAT|INT|UINT|BOOL)_(\d+)$/.exec(v) : null;
  return m ? { family: m[1], bits: Number(m[2]) } : undefined;
}

/**
 * One graph input / output: fixed point with scale/offset (per tensor or per axis) and floats are read; plain
 * integers and booleans (token ids, positions) have no encoding and are left out (undefined); a fixed-point
 * tensor whose encoding inspect does not list (none, BLOCKWISE_EXPANSION, ...) is skipped with the reason.
 */
function readQnnTensor(t: Obj, name: string, where: string, fail: Fail): NormalEncoding | { name: string; reason: string } | undefined {
  const dt = dataTypeOf(t.dataType);
  if (dt === undefined) return { name, reason: `data type ${show(t.dataType)} not known` };
  const kind: TensorKind = typeof t.type === "string" && t.type.endsWith("STATIC") ? "param" : "activation";
  if (dt.family === "FLOAT") return { name, kind, dtype: "float", bitwidth: dt.bits, scales: [], offsets: [] };
  if (dt.family !== "UFIXED_POINT" && dt.family !== "SFIXED_POINT") return undefined;
  const e = t.encoding;
  if (!isObject(e)) return fail(`${where}: encoding is not an object`);
  const num = (k: string): number => {
    const v = e[k];
    if (typeof v !== "number" || !Number.isFinite(v)) return fail(`${where}: ${k} ${show(v)} is not a finite number`);
    return v;
  };
  let bitwidth = dt.bits;
  let scales: number[];
  let offsets: number[];
  switch (e.kind) {
    case "scale_offset":
    case "bw_scale_offset":
      if (e.kind === "bw_scale_offset") bitwidth = num("bitwidth");
      scales = [num("scale")];
      offsets = [num("offset")];
      if (!(scales[0] > 0)) fail(`${where}: scale ${scales[0]} is not positive`);
      break;
    case "axis_scale_offset":
    case "bw_axis_scale_offset":
      if (e.kind === "bw_axis_scale_offset") bitwidth = num("bitwidth");
      scales = numberList(e.scales, "scales", where, fail);
      if (!Array.isArray(e.offsets)) return fail(`${where}: offsets is not a list`);
      offsets = e.offsets as number[];
      if (scales.length !== offsets.length) fail(`${where}: scales has ${scales.length} values, offsets ${offsets.length}`);
      break;
    case "none":
      return { name, reason: `${dt.family}_${dt.bits} without a quantization encoding` };
    default:
      return { name, reason: `encoding ${typeof e.name === "string" ? e.name : show(e.kind)} (its parameters are not listed by qnn inspect)` };
  }
  if (!isInt(bitwidth) || bitwidth < 1 || bitwidth > 32) fail(`${where}: bitwidth ${bitwidth} is not an integer in 1..32`);
  offsets.forEach((o, i) => {
    if (!isInt(o)) fail(`${where}: offset${offsets.length > 1 ? `s[${i}]` : ""} ${show(o)} is not an integer`);
  });
  const signed = dt.family === "SFIXED_POINT";
  const shift = signed ? -(2 ** (bitwidth - 1)) : 0;
  const unsignedOffsets = offsets.map((o) => o + shift + 0);
  const symmetricOffset = -(2 ** (bitwidth - 1));
  const symmetric = unsignedOffsets.every((o) => o === symmetricOffset) ? undefined : false;
  return { name, kind, dtype: "int", bitwidth, ...(symmetric === undefined ? {} : { symmetric }), scales, offsets: unsignedOffsets };
}
