// Owns reading ExecuTorch program files (`.pte`) far enough to find the delegates and their data: the optional
// extended header, the Program flatbuffer's execution plans, their BackendDelegates (id, where the processed
// data is, compile specs), the inline delegate data and the data segments; and, on top, the QNN context
// binaries of the "QnnBackend" delegates, and the constant methods' values (the runner's metadata, such as the logits
// encoding `eval --logits_pte` reads). Nothing in the file is trusted: every size, offset and index is checked, and
// every problem is a one-line UserError naming the file.
//
// Supported: file identifier "ET12" with Program.version 0 (EXECUTORCH_SCHEMA_VERSION, exir/schema_version.py;
// the C++ runtime refuses other versions and identifiers, runtime/executor/program.cpp), the extended header
// "eh00" of 24 or 32+ bytes. Fields this reader does not know (later schema additions such as
// Program.named_data) are skipped, as FlatBuffers schema evolution allows.
//
// Facts relied on, from pytorch/executorch:
// - schema/program.fbs (namespace executorch_flatbuffer, file_identifier "ET12", root_type Program). Field
//   indices in schema order, as read below:
//     Program:                       0 version: uint, 1 execution_plan: [ExecutionPlan], 2 constant_buffer,
//                                    3 backend_delegate_data: [BackendDelegateInlineData], 4 segments: [DataSegment],
//                                    5 constant_segment, 6 mutable_data_segments (7+ later additions, unread)
//     ExecutionPlan:                 0 name: string, 1 container_meta_type, 2 values: [EValue], 3 inputs,
//                                    4 outputs: [int], 5 chains, 6 operators, 7 delegates: [BackendDelegate],
//                                    8 non_const_buffer_sizes
//     EValue:                        0 val_type: ubyte, 1 val (union KernelTypes: Null 1, Int 2, Bool 3, Double 4, ...)
//     Int / Bool / Double:           0 int_val: long / bool_val: bool / double_val: double
//   Constant methods (exir's constant_methods, e.g. the Qualcomm runner's get_logits_scale) are plans with no
//   delegates whose one output is such a value.
//     BackendDelegate:               0 id: string, 1 processed: BackendDelegateDataReference, 2 compile_specs: [CompileSpec]
//     BackendDelegateDataReference:  0 location: DataLocation (byte; INLINE = 0, SEGMENT = 1), 1 index: uint
//     CompileSpec:                   0 key: string, 1 value: [ubyte]
//     BackendDelegateInlineData:     0 data: [ubyte]
//     DataSegment:                   0 offset: uint64, 1 size: uint64 (relative to the segment base offset)
//   INLINE indexes Program.backend_delegate_data, SEGMENT indexes Program.segments.
// - exir/_serialize/_program.py and schema/extended_header.cpp: the extended header sits right after the
//   flatbuffer's root offset and identifier, at byte 8: "eh00", u32 header length (>= 24), u64 program size
//   (the flatbuffer bytes including the header), u64 segment base offset (0: no segments), and, when the length
//   is >= 32, u64 segment data size. Segment i lives at segment_base_offset + segments[i].offset.
// - backends/qualcomm/runtime/QnnExecuTorchBackend.cpp registers the backend as "QnnBackend".
import { constants as bufferConstants } from "node:buffer";
import { UserError } from "../util/errors.js";
import { openFileSource } from "../loaders/byte-source.js";
import { fbBuffer, fbBytes, fbF64, fbI32s, fbI64, fbRoot, fbString, fbTableField, fbTables, fbU32, fbU64, fbU8, type FbTable } from "./flatbuffer.js";
import { unwrapQnnContext, type QnnContextHeader } from "./context-header.js";

export const PTE_IDENTIFIER = "ET12";
export const SUPPORTED_SCHEMA_VERSIONS: readonly number[] = [0];
export const EXTENDED_HEADER_MAGIC = "eh00";
/** Magic + length + program size + segment base offset. */
export const EXTENDED_HEADER_MIN_LENGTH = 24;
export const QNN_BACKEND_ID = "QnnBackend";

export type DelegateStorage = "inline" | "segment";

export interface PteExtendedHeader {
  headerLength: number;
  /** Bytes of flatbuffer data from the start of the file (the header included). */
  programSize: number;
  /** Absolute offset of the segment data; 0 when the program has no segments. */
  segmentBaseOffset: number;
  /** Present when the header is long enough to carry it. */
  segmentDataSize?: number;
}

export interface PteCompileSpec {
  key: string;
  value: Uint8Array;
}

export interface PteDelegate {
  /** Position in the plan's delegates list. */
  index: number;
  id: string;
  storage: DelegateStorage;
  /** Index into backend_delegate_data (inline) or segments (segment). */
  dataIndex: number;
  byteSize: number;
  compileSpecs: PteCompileSpec[];
}

export interface PtePlan {
  name: string;
  delegates: PteDelegate[];
  /**
   * A constant method's value (ExecuTorch's constant_methods, e.g. the Qualcomm runner's get_logits_scale): a plan
   * without delegates whose one output is an Int (bigint), Double (number) or Bool EValue.
   */
  constant?: bigint | number | boolean;
}

export interface PteSegment {
  /** Relative to the segment base offset. */
  offset: number;
  size: number;
}

export interface PteProgram {
  where: string;
  fileSize: number;
  identifier: string;
  schemaVersion: number;
  extendedHeader?: PteExtendedHeader;
  plans: PtePlan[];
  /** backend_delegate_data[i].data, views into the program bytes. */
  inlineData: Uint8Array[];
  segments: PteSegment[];
  /** Reads `length` bytes at absolute `offset` of the file (bounds already checked by the caller). */
  readonly read: (offset: number, length: number) => Uint8Array;
}

/** Random access to the file's bytes: an in-memory buffer or a ByteSource over a file. */
export interface PteSource {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
}

export interface QnnDelegate {
  plan: string;
  /** Position in the plan's delegates list. */
  index: number;
  storage: DelegateStorage;
  dataIndex: number;
  /** As stored: QNN's custom header + the context binary. */
  data: Uint8Array;
}

export interface QnnContextEntry {
  plan: string;
  index: number;
  storage: DelegateStorage;
  dataIndex: number;
  /** The raw QNN context binary. */
  binary: Uint8Array;
  header?: QnnContextHeader;
}

const ascii = (bytes: Uint8Array, at: number, n: number): string => String.fromCharCode(...bytes.subarray(at, at + n));

/** A printable rendering of 4 identifier bytes for messages. */
function showId(id: string): string {
  return JSON.stringify(id).replace(/[\u007f-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

/** What a file that is not an ExecuTorch program looks like, for the error message. */
function foreignHint(head: Uint8Array): string {
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 3 && head[3] === 4) return " (a zip archive: a PyTorch checkpoint?)";
  if (head.length >= 8 && ascii(head, 0, 8) === "LGQNNSB1") return " (a stand-in QNN context binary, not a program)";
  if (head.length >= 4 && new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true) === 0x5678abcd) return " (a QNN context binary with ExecuTorch's header, not a program)";
  return "";
}

const toSafe = (v: bigint, where: string, what: string): number => {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new UserError(`${where}: ${what} ${v} is out of range`);
  return Number(v);
};

function parseExtendedHeader(head: Uint8Array, fileSize: number, where: string): PteExtendedHeader | undefined {
  if (head.length < 16 || ascii(head, 8, 4) !== EXTENDED_HEADER_MAGIC) return undefined;
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const headerLength = dv.getUint32(12, true);
  if (headerLength < EXTENDED_HEADER_MIN_LENGTH) throw new UserError(`${where}: extended header length ${headerLength} < ${EXTENDED_HEADER_MIN_LENGTH}: corrupt`);
  if (head.length < 8 + EXTENDED_HEADER_MIN_LENGTH) throw new UserError(`${where}: truncated extended header (${fileSize} bytes in the file)`);
  const programSize = dv.getBigUint64(16, true);
  const base = dv.getBigUint64(24, true);
  const size = BigInt(fileSize);
  if (programSize > size) throw new UserError(`${where}: truncated: the extended header says the program is ${programSize} bytes, the file has ${fileSize}`);
  if (programSize < BigInt(8 + headerLength)) throw new UserError(`${where}: extended header says the program is ${programSize} bytes, less than its own ${8 + headerLength}: corrupt`);
  if (base !== 0n && base < programSize) throw new UserError(`${where}: extended header puts the segments at ${base}, inside the ${programSize}-byte program: corrupt`);
  if (base > size) throw new UserError(`${where}: truncated: the segments start at ${base}, the file has ${fileSize} bytes`);
  const eh: PteExtendedHeader = { headerLength, programSize: Number(programSize), segmentBaseOffset: Number(base) };
  if (headerLength >= 32) {
    if (head.length < 40) throw new UserError(`${where}: truncated extended header (${fileSize} bytes in the file)`);
    const dataSize = dv.getBigUint64(32, true);
    if (base !== 0n && base + dataSize > size) {
      throw new UserError(`${where}: truncated: the extended header says ${dataSize} bytes of segment data from ${base}, the file has ${fileSize}`);
    }
    eh.segmentDataSize = Number(dataSize);
  }
  return eh;
}

function readDelegate(d: FbTable, index: number, where: string): Omit<PteDelegate, "byteSize"> {
  const id = fbString(d, 0, "id");
  if (id === undefined) throw new UserError(`${where}: ${d.what} has no id`);
  const processed = fbTableField(d, 1, "processed");
  if (processed === undefined) throw new UserError(`${where}: ${d.what} (${id}) has no processed data reference`);
  const location = fbU8(processed, 0, "location");
  if (location !== 0 && location !== 1) throw new UserError(`${where}: ${d.what} (${id}) has unknown data location ${location}`);
  const dataIndex = fbU32(processed, 1, "index");
  const compileSpecs = fbTables(d, 2, "compile_specs").map((c) => ({ key: fbString(c, 0, "key") ?? "", value: fbBytes(c, 1, "value") ?? new Uint8Array(0) }));
  return { index, id, storage: location === 0 ? "inline" : "segment", dataIndex, compileSpecs };
}

/** union KernelTypes (schema/program.fbs): NONE 0, Null 1, Int 2, Bool 3, Double 4, Tensor 5, ... */
const KERNEL_INT = 2;
const KERNEL_BOOL = 3;
const KERNEL_DOUBLE = 4;

/** A constant method's value: a plan with no delegates, outputs [i], values[i] an Int / Bool / Double EValue. */
function constantOf(plan: FbTable, delegates: number, where: string, name: string): { constant?: bigint | number | boolean } {
  if (delegates > 0) return {};
  const outputs = fbI32s(plan, 4, "outputs");
  if (outputs.length !== 1) return {};
  const values = fbTables(plan, 2, "values");
  const i = outputs[0];
  if (!(i >= 0 && i < values.length)) throw new UserError(`${where}: plan "${name}" outputs value ${i}, it has ${values.length}`);
  const type = fbU8(values[i], 0, "val_type");
  if (type !== KERNEL_INT && type !== KERNEL_BOOL && type !== KERNEL_DOUBLE) return {};
  const val = fbTableField(values[i], 1, "val");
  if (val === undefined) throw new UserError(`${where}: plan "${name}" value ${i} has a type but no value`);
  return { constant: type === KERNEL_INT ? fbI64(val, 0, "int_val") : type === KERNEL_DOUBLE ? fbF64(val, 0, "double_val") : fbU8(val, 0, "bool_val") !== 0 };
}

/** The value of constant method `name` (e.g. "get_logits_scale"), or undefined when the program has none by that name. */
export function pteConstant(p: PteProgram, name: string): bigint | number | boolean | undefined {
  return p.plans.find((x) => x.name === name)?.constant;
}

/**
 * The logits encoding a device's .pte declares: its constant methods get_logits_scale (a double) and
 * get_logits_zero_point (an int), which the Qualcomm runner reads (SPEC-2026 §2.1, static_llama.py get_metadata), as
 * this reader's { scale, offset = −zero point }.
 */
export function logitsEncodingOfPte(path: string): { scale: number; offset: number } {
  const where = `--logits_pte ${path}`;
  const src = openFileSource(path, "--logits_pte");
  try {
    const p = readPteFrom(src, where);
    const value = (name: string): number => {
      const v = pteConstant(p, name);
      if (v === undefined) throw new UserError(`${where}: no constant method ${name} (a program exported without quantized logits?)`);
      if (typeof v === "boolean") throw new UserError(`${where}: ${name} is a bool, expected a number`);
      return Number(v);
    };
    const scale = value("get_logits_scale");
    const zeroPoint = value("get_logits_zero_point");
    if (!(scale > 0 && Number.isFinite(scale))) throw new UserError(`${where}: get_logits_scale is ${scale}, expected a number > 0`);
    if (!(Number.isInteger(zeroPoint) && zeroPoint >= 0 && zeroPoint <= 65535)) throw new UserError(`${where}: get_logits_zero_point is ${zeroPoint}, expected an integer in [0, 65535]`);
    return { scale, offset: -zeroPoint + 0 };
  } finally {
    src.close();
  }
}


/** Parses a program from random-access bytes; `where` names the file in every error. */
export function readPteFrom(src: PteSource, where: string): PteProgram {
  const fileSize = src.size;
  const head = src.read(0, Math.min(fileSize, 64));
  if (fileSize < 8) throw new UserError(`${where}: ${fileSize} bytes, too short for an ExecuTorch program`);
  const identifier = ascii(head, 4, 4);
  if (identifier !== PTE_IDENTIFIER) {
    if (/^ET[0-9A-Za-z]{2}$/.test(identifier)) {
      throw new UserError(`${where}: ExecuTorch program with file identifier ${identifier}; this reader supports ${PTE_IDENTIFIER} (export with a matching ExecuTorch version)`);
    }
    throw new UserError(`${where}: not an ExecuTorch program (identifier ${showId(identifier)} at bytes 4..8, expected "${PTE_IDENTIFIER}")${foreignHint(head)}`);
  }
  const extendedHeader = parseExtendedHeader(head, fileSize, where);
  const programSize = extendedHeader?.programSize ?? fileSize;
  if (programSize > bufferConstants.MAX_LENGTH) throw new UserError(`${where}: the program part is ${programSize} bytes, more than this Node.js can hold in one buffer`);
  const fb = fbBuffer(src.read(0, programSize), where);
  const root = fbRoot(fb, "Program");
  // The root table must lie after the identifier (and the extended header): offsets below are corrupt.
  const minRoot = 8 + (extendedHeader?.headerLength ?? 0);
  if (root.pos < minRoot) throw new UserError(`${where}: truncated or corrupt flatbuffer (root table at ${root.pos}, inside the file header)`);
  const schemaVersion = fbU32(root, 0, "version");
  if (!SUPPORTED_SCHEMA_VERSIONS.includes(schemaVersion)) {
    throw new UserError(`${where}: Program schema version ${schemaVersion} is not supported (this reader knows version ${SUPPORTED_SCHEMA_VERSIONS.join(", ")})`);
  }

  const inlineData = fbTables(root, 3, "backend_delegate_data").map((t) => fbBytes(t, 0, "data") ?? new Uint8Array(0));
  const base = extendedHeader?.segmentBaseOffset ?? 0;
  const segments = fbTables(root, 4, "segments").map((t, i): PteSegment => {
    const offset = fbU64(t, 0, "offset");
    const size = fbU64(t, 1, "size");
    // Checked only when the file has segment data at all; without a base no delegate may point at a segment.
    if (base !== 0 && BigInt(base) + offset + size > BigInt(fileSize)) {
      throw new UserError(`${where}: truncated: segment ${i} (${size} bytes at ${base} + ${offset}) runs past the end of the ${fileSize}-byte file`);
    }
    return { offset: toSafe(offset, where, `segment ${i} offset`), size: toSafe(size, where, `segment ${i} size`) };
  });

  const plans = fbTables(root, 1, "execution_plan").map((t): PtePlan => {
    const name = fbString(t, 0, "name");
    if (name === undefined) throw new UserError(`${where}: ${t.what} has no name`);
    const delegates = fbTables(t, 7, "delegates").map((d, i): PteDelegate => {
      const r = readDelegate(d, i, where);
      const what = `plan "${name}" delegate ${i} (${r.id})`;
      let byteSize: number;
      if (r.storage === "inline") {
        if (r.dataIndex >= inlineData.length) throw new UserError(`${where}: ${what} refers to inline data ${r.dataIndex}, the program has ${inlineData.length}`);
        byteSize = inlineData[r.dataIndex].length;
      } else {
        if (r.dataIndex >= segments.length) throw new UserError(`${where}: ${what} refers to segment ${r.dataIndex}, the program has ${segments.length}`);
        if (base === 0) throw new UserError(`${where}: ${what} refers to segment ${r.dataIndex}, but the file has no extended header giving the segment base offset`);
        byteSize = segments[r.dataIndex].size;
      }
      return { ...r, byteSize };
    });
    return { name, delegates, ...constantOf(t, delegates.length, where, name) };
  });

  return { where, fileSize, identifier, schemaVersion, extendedHeader, plans, inlineData, segments, read: (o, n) => src.read(o, n) };
}

/** Parses a program held in memory (delegate data are views into `bytes`). */
export function readPte(bytes: Uint8Array, where: string): PteProgram {
  return readPteFrom({ size: bytes.length, read: (o, n) => bytes.subarray(o, o + n) }, where);
}

/** The processed data of a delegate, as stored (read from the file for segment storage). */
export function delegateData(p: PteProgram, d: PteDelegate): Uint8Array {
  if (d.storage === "inline") return p.inlineData[d.dataIndex];
  const seg = p.segments[d.dataIndex];
  if (seg.size > bufferConstants.MAX_LENGTH) throw new UserError(`${p.where}: segment ${d.dataIndex} is ${seg.size} bytes, more than this Node.js can hold in one buffer`);
  return p.read(p.extendedHeader!.segmentBaseOffset + seg.offset, seg.size);
}

/** The "QnnBackend" delegates of every plan, in program order; data shared by several are read once. */
export function findQnnDelegates(p: PteProgram): QnnDelegate[] {
  const cache = new Map<string, Uint8Array>();
  const out: QnnDelegate[] = [];
  for (const plan of p.plans) {
    for (const d of plan.delegates) {
      if (d.id !== QNN_BACKEND_ID) continue;
      const key = `${d.storage}:${d.dataIndex}`;
      let data = cache.get(key);
      if (data === undefined) cache.set(key, (data = delegateData(p, d)));
      out.push({ plan: plan.name, index: d.index, storage: d.storage, dataIndex: d.dataIndex, data });
    }
  }
  return out;
}

/** The QNN context binaries of a parsed program, QNN's custom header stripped. */
export function qnnContexts(p: PteProgram): QnnContextEntry[] {
  return findQnnDelegates(p).map((d) => {
    const u = unwrapQnnContext(d.data, `${p.where}: plan "${d.plan}" delegate ${d.index}`);
    return { plan: d.plan, index: d.index, storage: d.storage, dataIndex: d.dataIndex, binary: u.binary, header: u.header };
  });
}

/** Reads a program held in memory and returns the raw QNN context binary of every QnnBackend delegate. */
export function extractQnnContexts(bytes: Uint8Array, where: string): QnnContextEntry[] {
  return qnnContexts(readPte(bytes, where));
}
