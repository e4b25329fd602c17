// Owns golden vectors: a recording of every graph call a run makes (each input and output tensor as a raw
// little-endian file in the tensor's dtype, a JSON manifest, and qnn-net-run input lists), so the same calls
// can be fed to a device graph or replayed without the engine (src/backends/replay.ts).
//
// Layout under `dir`:
//   manifest.json                                 format, version, graph specs, every call's tensors
//   call_<NNNN>_<graph>/in/<name>.raw             inputs of global call N, graph spec (device) order
//   call_<NNNN>_<graph>/out/<name>.raw            outputs of call N
//   input_list_<graph>.txt                        qnn-net-run --input_list: one line per call of that graph,
//                                                 `<input name>:=<path>` pairs separated by spaces, in the
//                                                 graph's input order, paths relative to `dir`
// qnn-net-run writes the outputs of input-list line N to `<output_dir>/Result_<N>/<output name>.raw`; those
// files compare byte for byte with this recording's `out/` files of the N-th call of the graph.
import { readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { endianness } from "node:os";
import { isAbsolute, join, normalize, sep } from "node:path";
import {
  numel,
  type DType,
  type GraphSpec,
  type KvGraphInputs,
  type KvGraphOutputs,
  type PrefillGraphInputs,
  type PrefillGraphOutputs,
} from "../engine/graph-io.js";
import type { ArGraphInputs, ArGraphName, ArGraphOutputs, ArGraphSpec } from "../engine/ar-graph-io.js";
import { oneLine, UserError } from "../util/errors.js";
import { describeFsError } from "../util/files.js";

export const GOLDEN_FORMAT = "llama-golden-golden-vectors";
export const GOLDEN_VERSION = 1;
export const MANIFEST_FILE = "manifest.json";

/** Seed graphs (SPEC §3) and the current flow's AR-N graphs (SPEC-2026 §3: decode, prompt, calibration). */
export type GraphName = GraphSpec["name"] | ArGraphName;
const GRAPH_NAMES: readonly GraphName[] = ["kv_forward", "prefill_forward", "calibrate"];
/** The flow a recording's graphs belong to; manifests of the seed flow carry no `flow` key (older recordings). */
export type GoldenFlow = "seed" | "current";

export interface GoldenTensor {
  name: string;
  shape: number[];
  dtype: DType;
  /** Quantization encoding of the raw values; null for plain fp32/int32 I/O (room for quantized I/O later). */
  encoding: null;
  /** Path of the raw file relative to the recording directory, '/'-separated. */
  file: string;
}

export interface GoldenCall {
  /** Global call index (0-based, over both graphs, in execution order). */
  index: number;
  graph: GraphName;
  inputs: GoldenTensor[];
  outputs: GoldenTensor[];
}

export interface GoldenManifest {
  format: typeof GOLDEN_FORMAT;
  version: typeof GOLDEN_VERSION;
  /** Present for the current flow only ("current"); the graphs then are AR-N graphs with merged per-layer KV. */
  flow?: "current";
  graphs: Partial<Record<GraphName, GraphSpec | ArGraphSpec>>;
  calls: GoldenCall[];
}

/** The flow of a manifest. */
export const manifestFlow = (m: Pick<GoldenManifest, "flow">): GoldenFlow => m.flow ?? "seed";

export interface GoldenVectors {
  dir: string;
  manifest: GoldenManifest;
}

export type RawTensor = Int32Array | Float32Array;

export const DTYPE_BYTES: Record<DType, number> = { int32: 4, float32: 4 };

/** The input-list file of one graph, relative to the recording directory. */
export const inputListFile = (graph: GraphName): string => `input_list_${graph}.txt`;

/** A tensor name made safe as a file name: anything outside [A-Za-z0-9._-] becomes '_', never "." or "..". */
export function sanitizeTensorName(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]/g, "_");
  return s === "" || /^\.+$/.test(s) ? `_${s}` : s;
}

/** The tensors of a KV-graph call in the spec's (device) order. */
export function kvInputTensors(i: KvGraphInputs): RawTensor[] {
  return [i.tokens, i.attnMask, i.inputPos, ...i.kCaches, ...i.vCaches];
}
export function kvOutputTensors(o: KvGraphOutputs): RawTensor[] {
  return [o.logits, ...o.kOut, ...o.vOut];
}
export function prefillInputTensors(i: PrefillGraphInputs): RawTensor[] {
  return [i.tokens, i.attnMask];
}
export function prefillOutputTensors(o: PrefillGraphOutputs): RawTensor[] {
  return [o.logits, ...o.kOut, ...o.vOut];
}
/**
 * An AR-N call's inputs in arGraphSpec order: tokens, atten_mask, window_atten_mask (sliding-window models only),
 * input_pos (absent when AR == CL), K per layer, V per layer.
 */
export function arInputTensors(i: ArGraphInputs): RawTensor[] {
  return [i.tokens, i.attnMask, ...(i.windowMask ? [i.windowMask] : []), ...(i.inputPos ? [i.inputPos] : []), ...i.kCaches, ...i.vCaches];
}
export function arOutputTensors(o: ArGraphOutputs): RawTensor[] {
  return [o.logits, ...o.kOut, ...o.vOut];
}

const LITTLE_ENDIAN_HOST = endianness() === "LE";

/** The little-endian bytes of a tensor in its dtype (a copy). */
export function tensorBytes(a: RawTensor, dtype: DType, what: string): Uint8Array {
  if ((dtype === "int32") !== a instanceof Int32Array || (dtype === "float32") !== a instanceof Float32Array)
    throw new TypeError(`${what}: expected a ${dtype} array, got ${a.constructor.name}`);
  const out = new Uint8Array(a.length * DTYPE_BYTES[dtype]);
  if (LITTLE_ENDIAN_HOST) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return out;
  }
  const dv = new DataView(out.buffer);
  for (let k = 0; k < a.length; k++) {
    if (dtype === "int32") dv.setInt32(4 * k, a[k], true);
    else dv.setFloat32(4 * k, a[k], true);
  }
  return out;
}

/** Decodes little-endian raw bytes into a fresh typed array of the dtype. */
export function decodeRaw(bytes: Uint8Array, dtype: DType): RawTensor {
  const n = bytes.length / DTYPE_BYTES[dtype];
  const out = dtype === "int32" ? new Int32Array(n) : new Float32Array(n);
  if (LITTLE_ENDIAN_HOST) {
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let k = 0; k < n; k++) out[k] = dtype === "int32" ? dv.getInt32(4 * k, true) : dv.getFloat32(4 * k, true);
  return out;
}

/** Writes a file atomically: a temporary file beside it, renamed into place. */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export const callDirName = (index: number, graph: GraphName) => `call_${String(index).padStart(4, "0")}_${graph}`;

/** The spec's tensors as manifest records under `sub` ("call_0000_kv_forward/in"); checks names stay unique. */
export function tensorRecords(specs: { name: string; shape: number[]; dtype: DType }[], sub: string): GoldenTensor[] {
  const seen = new Set<string>();
  return specs.map((t) => {
    const fileName = `${sanitizeTensorName(t.name)}.raw`;
    if (seen.has(fileName)) throw new Error(`golden vectors: two tensors map to the file name ${fileName}`);
    seen.add(fileName);
    return { name: t.name, shape: t.shape.slice(), dtype: t.dtype, encoding: null, file: `${sub}/${fileName}` };
  });
}

/** Checks a call's tensors against the graph spec: count and element counts. */
export function checkCount(graph: GraphName, what: string, tensors: RawTensor[], specs: { name: string; shape: number[] }[]): void {
  if (tensors.length !== specs.length) throw new RangeError(`${graph}: ${tensors.length} ${what}, the graph has ${specs.length}`);
  tensors.forEach((a, k) => {
    const want = numel(specs[k].shape);
    if (a.length !== want) throw new RangeError(`${graph}: ${specs[k].name} has ${a.length} elements, expected ${want}`);
  });
}

// ---- reading ----

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isShape = (v: unknown): v is number[] => Array.isArray(v) && v.every((d) => Number.isInteger(d) && d >= 0);
const isDType = (v: unknown): v is DType => v === "int32" || v === "float32";

function checkSpec(where: string, v: unknown, name: GraphName): GraphSpec | ArGraphSpec {
  const bad = (why: string) => new UserError(`${where}: graph ${name}: ${why}`);
  if (!isObj(v) || v.name !== name || !Array.isArray(v.inputs) || !Array.isArray(v.outputs))
    throw bad("expected {name, inputs, outputs}");
  for (const list of [v.inputs, v.outputs] as unknown[][])
    for (const t of list)
      if (!isObj(t) || typeof t.name !== "string" || !isShape(t.shape) || !isDType(t.dtype))
        throw bad("a tensor is not {name, shape, dtype}");
  return v as unknown as GraphSpec | ArGraphSpec;
}

/** Reads and validates a recording: manifest shape, every call against its graph spec, every raw file's size. */
export function readGoldenVectors(dir: string): GoldenVectors {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UserError(`golden vectors ${path}: ${describeFsError(e)}`);
  }
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new UserError(`golden vectors ${path}: not valid JSON (${oneLine((e as Error).message)})`);
  }
  const where = `golden vectors ${path}`;
  if (!isObj(m) || m.format !== GOLDEN_FORMAT)
    throw new UserError(`${where}: not a golden-vector manifest (format should be "${GOLDEN_FORMAT}")`);
  if (m.version !== GOLDEN_VERSION) throw new UserError(`${where}: unsupported version ${JSON.stringify(m.version)}, expected ${GOLDEN_VERSION}`);
  if (!isObj(m.graphs) || !Array.isArray(m.calls)) throw new UserError(`${where}: missing "graphs" or "calls"`);
  if (m.flow !== undefined && m.flow !== "current") throw new UserError(`${where}: unknown flow ${JSON.stringify(m.flow)} (expected "current" or no flow key)`);
  const graphs: GoldenManifest["graphs"] = {};
  for (const g of GRAPH_NAMES) if (m.graphs[g] !== undefined) graphs[g] = checkSpec(where, m.graphs[g], g);
  const calls = m.calls.map((c: unknown, pos: number): GoldenCall => {
    const bad = (why: string) => new UserError(`${where}: call ${pos}: ${why}`);
    if (!isObj(c)) throw bad("not an object");
    if (c.index !== pos) throw bad(`index is ${JSON.stringify(c.index)}, expected ${pos}`);
    if (typeof c.graph !== "string" || !GRAPH_NAMES.includes(c.graph as GraphName)) throw bad(`unknown graph ${JSON.stringify(c.graph)}`);
    const graph = c.graph as GraphName;
    const spec = graphs[graph];
    if (!spec) throw bad(`graph ${graph} is not in "graphs"`);
    const tensors = (what: "inputs" | "outputs"): GoldenTensor[] => {
      const list = c[what];
      const want = spec[what];
      if (!Array.isArray(list) || list.length !== want.length) throw bad(`${what}: expected ${want.length} tensors`);
      return list.map((t: unknown, k: number) => {
        const s = want[k];
        if (!isObj(t) || t.name !== s.name || !isShape(t.shape) || t.shape.join(",") !== s.shape.join(",") || t.dtype !== s.dtype)
          throw bad(`${what}[${k}] does not match ${graph}'s tensor ${s.name} ${s.dtype}[${s.shape.join(", ")}]`);
        if (t.encoding !== null) throw bad(`${s.name}: encoding ${JSON.stringify(t.encoding)} is not supported (fp32/int32 I/O only)`);
        if (typeof t.file !== "string" || t.file === "" || isAbsolute(t.file) || normalize(t.file).split(sep).includes(".."))
          throw bad(`${s.name}: file ${JSON.stringify(t.file)} must be a path inside the recording`);
        const file = join(dir, t.file);
        let size: number;
        try {
          const st = statSync(file);
          if (!st.isFile()) throw bad(`${s.name}: ${file} is not a file`);
          size = st.size;
        } catch (e) {
          if (e instanceof UserError) throw e;
          throw bad(`${s.name}: ${file}: ${describeFsError(e)}`);
        }
        const bytes = numel(s.shape) * DTYPE_BYTES[s.dtype];
        if (size !== bytes)
          throw bad(`${s.name}: ${file} has ${size} bytes, ${s.dtype}[${s.shape.join(", ")}] needs ${bytes}`);
        return { name: s.name, shape: s.shape.slice(), dtype: s.dtype, encoding: null, file: t.file };
      });
    };
    return { index: pos, graph, inputs: tensors("inputs"), outputs: tensors("outputs") };
  });
  const manifest: GoldenManifest = { format: GOLDEN_FORMAT, version: GOLDEN_VERSION, ...(m.flow === "current" ? { flow: "current" as const } : {}), graphs, calls };
  return { dir, manifest };
}

/** Reads one recorded tensor's raw bytes, checking the size again (the file may have changed since reading). */
export function readGoldenBytes(dir: string, t: GoldenTensor): Uint8Array {
  const file = join(dir, t.file);
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new UserError(`golden vectors ${file}: ${describeFsError(e)}`);
  }
  const want = numel(t.shape) * DTYPE_BYTES[t.dtype];
  if (buf.length !== want) throw new UserError(`golden vectors ${file}: ${buf.length} bytes, ${t.name} needs ${want}`);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Reads one recorded tensor as a typed array of its dtype. */
export function readGoldenTensor(dir: string, t: GoldenTensor): RawTensor {
  return decodeRaw(readGoldenBytes(dir, t), t.dtype);
}
