// Owns the TypeScript face of the optional QNN addon (native/, built by `npm run build:native` into
// native/build/Release/lg_qnn.node): loading it, explaining why it is unavailable, mapping its raw
// answers (numeric QNN enums) to names, checking buffer sizes before any native call, and turning the
// expected failures (missing or foreign library, no fitting provider, unsupported versions, a binary
// the library refuses) into one-line UserErrors. Failures while executing stay Errors carrying
// { qnnCall, qnnCode } from the addon.
//
// Life cycle: openQnnContext creates (QnnLog), QnnBackend, QnnDevice (when the backend has devices) and
// the context from the binary; close() frees them in reverse order and is idempotent; a context that is
// never closed is freed by the addon's finalizer when it is garbage-collected.
import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { oneLine, UserError } from "../util/errors.js";
import { encodingName, type TensorEncoding } from "./encoding.js";

export type QnnDataType =
  | "INT_8"
  | "INT_16"
  | "INT_32"
  | "INT_64"
  | "UINT_8"
  | "UINT_16"
  | "UINT_32"
  | "UINT_64"
  | "FLOAT_16"
  | "FLOAT_32"
  | "SFIXED_POINT_8"
  | "SFIXED_POINT_16"
  | "SFIXED_POINT_32"
  | "UFIXED_POINT_8"
  | "UFIXED_POINT_16"
  | "UFIXED_POINT_32"
  | "BOOL_8"
  | string;

/**
 * A tensor's quantization encoding (src/qnn/encoding.ts, TensorEncoding): real = scale * (q + offset), the QNN
 * convention (offset = -zero_point). Codes 0..3 with their parameters (bw_axis_scale_offset's offsets are 0
 * when the library gives none: symmetric); later codes (4..11: BLOCK, BLOCKWISE_EXPANSION of LPBQ weights,
 * VECTOR, ...) as { kind: "other", code, name } with the QnnTypes.h name.
 */
export type QnnEncoding = TensorEncoding;

export interface QnnTensorInfo {
  id: number;
  name: string;
  type: string /* "APP_WRITE" | "APP_READ" | ... */;
  dataType: QnnDataType;
  dims: number[];
  encoding: QnnEncoding;
}
export interface QnnGraphInfo {
  name: string;
  inputs: QnnTensorInfo[];
  outputs: QnnTensorInfo[];
}
export interface QnnBinaryInfo {
  binaryInfoVersion: number;
  coreApiVersion: string;
  backendApiVersion: string;
  buildId?: string;
  /** Binary info version 3 only. */
  socModel?: number;
  /** Not in the backend-independent binary info; never set by this addon (kept for the agreed interface). */
  hwArch?: number;
  /** The binary info's socVersion string, when the library gives one. */
  socVersion?: string;
  graphs: QnnGraphInfo[];
}
export interface QnnLibraries {
  backendLib: string;
  systemLib: string;
}

export type QnnLogLevel = "error" | "warn" | "info" | "verbose" | "debug";

export interface QnnContext {
  provider: { name: string; coreApiVersion: string; backendApiVersion: string; backendId: number };
  info: QnnBinaryInfo;
  /** QnnGraph_retrieve; UserError when absent, listing the names. */
  graph(name: string): QnnGraph;
  /** Frees context, device, backend, log; idempotent. */
  close(): void;
}
export interface QnnGraph {
  name: string;
  inputs: QnnTensorInfo[];
  outputs: QnnTensorInfo[];
  /** Raw bytes per tensor, in the graph's input/output order; sizes must match dims x dtype size (checked, error otherwise). Synchronous. */
  execute(inputs: Uint8Array[], outputs: Uint8Array[]): void;
}

/** An Error from the addon; qnnCall / qnnCode are set when a QNN function returned an error code. */
export interface QnnCallError extends Error {
  qnnKind?: string;
  qnnCall?: string;
  qnnCode?: number;
}

// ---------------------------------------------------------------------------------------------- raw addon

interface RawEncoding {
  definition: number;
  code: number;
  scale: number;
  offset: number;
  axis: number;
  bitwidth: number;
  scales: number[];
  offsets: number[];
}
interface RawTensor {
  id: number;
  name: string;
  version: number;
  type: number;
  dataFormat: number;
  dataType: number;
  dims: number[];
  byteSize: number;
  encoding: RawEncoding;
}
interface RawGraph {
  name: string;
  infoVersion: number;
  inputs: RawTensor[];
  outputs: RawTensor[];
}
interface RawBinaryInfo {
  version: number;
  backendId: number;
  buildId: string;
  socVersion: string;
  coreApiVersion: string;
  backendApiVersion: string;
  socModel?: number;
  graphs: RawGraph[];
}
interface RawProvider {
  name: string;
  backendId: number;
  coreApiVersion: string;
  backendApiVersion: string;
}
interface RawContext {
  provider: RawProvider;
  info: RawBinaryInfo;
  retrieveGraph(name: string): number;
  execute(graph: number, inputs: Uint8Array[], outputs: Uint8Array[]): void;
  close(): void;
  closed(): boolean;
}
interface RawAddon {
  listProviders(backendLib: string): RawProvider[];
  readBinaryInfo(systemLib: string, binary: Uint8Array): RawBinaryInfo;
  openContext(backendLib: string, systemLib: string, binary: Uint8Array, provider: string, logLevel: number): RawContext;
  apiVersionMajor: number;
  systemApiVersionMajor: number;
  /** The oldest core and system API versions the addon accepts, "2.14" and "1.2" (native/include/lg_qnn_api.h). */
  minimumCoreApi?: string;
  minimumSystemApi?: string;
}

// ---------------------------------------------------------------------------------------------- loading

/** The package root: the nearest ancestor of this file holding native/binding.gyp (src/ or dist/src/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, "native", "binding.gyp"))) return dir;
    dir = dirname(dir);
  }
  return join(dirname(fileURLToPath(import.meta.url)), "..", "..");
}

const BUILD_HINT = "build it with `npm run build:native`";

function addonPath(root: string): string {
  return join(root, "native", "build", "Release", "lg_qnn.node");
}

/** What scripts/build-native.mjs recorded about the last build, if anything. */
function buildStatus(root: string): { state?: string; reason?: string } {
  try {
    return JSON.parse(readFileSync(join(root, "native", "build", "lg-qnn-status.json"), "utf8")) as { state?: string; reason?: string };
  } catch {
    return {};
  }
}

type Loaded = { ok: true; addon: RawAddon; path: string } | { ok: false; reason: string };

function loadAddon(root: string = packageRoot()): Loaded {
  const path = addonPath(root);
  if (!existsSync(path)) {
    const s = buildStatus(root);
    if (s.state === "skipped") return { ok: false, reason: `the QNN addon was not built (${s.reason}); ${BUILD_HINT}` };
    if (s.state === "failed")
      return { ok: false, reason: oneLine(`the QNN addon build failed (${s.reason}); see native/build/build.log, or ${BUILD_HINT} to see the errors`) };
    return { ok: false, reason: `the QNN addon is not built (no ${path}); ${BUILD_HINT}` };
  }
  try {
    // require() caches the module: loading it again is a map lookup.
    const addon = createRequire(import.meta.url)(path) as RawAddon;
    return { ok: true, addon, path };
  } catch (e) {
    const msg = oneLine(String((e as Error).message ?? e));
    const foreign = /ELF|Mach-O|not a valid Win32|wrong architecture|invalid ELF|NODE_MODULE_VERSION|undefined symbol/i.test(msg);
    return {
      ok: false,
      reason: foreign
        ? `the QNN addon ${path} was built for another platform, architecture or Node.js (${msg}); rebuild it with \`npm run build:native\``
        : `the QNN addon ${path} cannot be loaded (${msg}); ${BUILD_HINT}`,
    };
  }
}

/** Whether the addon can be used, or why not (with the command that builds it). `root`: the package root (tests). */
export function nativeAddonStatus(root?: string): { available: true; path: string } | { available: false; reason: string } {
  const l = loadAddon(root);
  return l.ok ? { available: true, path: l.path } : { available: false, reason: l.reason };
}

function addon(): RawAddon {
  const l = loadAddon();
  if (!l.ok) throw new UserError(l.reason);
  return l.addon;
}

/**
 * Error kinds of the addon that come from what the user gave us (libraries, binaries) or their setup. "api":
 * a library older than the addon's minimum core / system API (refused before any of its structures is read).
 */
const USER_KINDS = new Set(["load", "provider", "api", "version", "library", "qnn"]);
/** The kinds that are about a library itself, whatever the binary: it cannot be used at all. */
const LIBRARY_KINDS = new Set(["load", "provider", "api"]);

/**
 * A UserError from the addon; `qnnKind` says what failed (see native/src/qnn_session.h), `libraryUnusable`
 * that the library itself was refused (not loadable, no fitting provider, too old an API), whatever the binary.
 */
export class QnnUserError extends UserError {
  readonly qnnKind: string;
  readonly libraryUnusable: boolean;
  constructor(message: string, qnnKind: string) {
    super(message);
    this.qnnKind = qnnKind;
    this.libraryUnusable = LIBRARY_KINDS.has(qnnKind);
  }
}

/** Rethrows an addon error: the user-facing kinds become one-line UserErrors, others stay as they are. */
function rethrow(e: unknown): never {
  const err = e as QnnCallError;
  if (err && typeof err === "object" && typeof err.qnnKind === "string" && USER_KINDS.has(err.qnnKind)) throw new QnnUserError(oneLine(err.message), err.qnnKind);
  throw e;
}

/** The oldest core and system API versions the built addon accepts (undefined when it is not available). */
export function qnnMinimumApiVersions(): { core: string; system: string } | undefined {
  const l = loadAddon();
  if (!l.ok || l.addon.minimumCoreApi === undefined || l.addon.minimumSystemApi === undefined) return undefined;
  return { core: l.addon.minimumCoreApi, system: l.addon.minimumSystemApi };
}

/** A library given as a path must exist; a bare file name is left to the loader's search path. */
function checkLibrary(path: string, what: string): void {
  if (typeof path !== "string" || path === "") throw new UserError(`${what}: no path given`);
  if (!/[\\/]/.test(path)) return;
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new UserError(`${what} ${path}: no such file`);
  }
  if (!isFile) throw new UserError(`${what} ${path}: not a file`);
}

function checkBinary(binary: Uint8Array): void {
  if (!(binary instanceof Uint8Array)) throw new TypeError("QNN context binary must be a Uint8Array");
  if (binary.byteLength === 0) throw new UserError("QNN context binary is empty");
}

// ---------------------------------------------------------------------------------------------- mapping

const DATA_TYPE_NAMES = new Map<number, string>([
  [0x0008, "INT_8"],
  [0x0016, "INT_16"],
  [0x0032, "INT_32"],
  [0x0064, "INT_64"],
  [0x0108, "UINT_8"],
  [0x0116, "UINT_16"],
  [0x0132, "UINT_32"],
  [0x0164, "UINT_64"],
  [0x0216, "FLOAT_16"],
  [0x0226, "BFLOAT_16"],
  [0x0232, "FLOAT_32"],
  [0x0264, "FLOAT_64"],
  [0x0304, "SFIXED_POINT_4"],
  [0x0308, "SFIXED_POINT_8"],
  [0x0316, "SFIXED_POINT_16"],
  [0x0332, "SFIXED_POINT_32"],
  [0x0404, "UFIXED_POINT_4"],
  [0x0408, "UFIXED_POINT_8"],
  [0x0416, "UFIXED_POINT_16"],
  [0x0432, "UFIXED_POINT_32"],
  [0x0508, "BOOL_8"],
  [0x0608, "STRING"],
]);

const DATA_TYPE_CODES = new Map<string, number>([...DATA_TYPE_NAMES].map(([code, name]) => [name, code]));

const TENSOR_TYPE_NAMES = [
  "APP_WRITE",
  "APP_READ",
  "APP_READWRITE",
  "NATIVE",
  "STATIC",
  "NULL",
  "UPDATEABLE_STATIC",
  "UPDATEABLE_NATIVE",
  "UPDATEABLE_APP_WRITE",
  "UPDATEABLE_APP_READ",
  "UPDATEABLE_APP_READWRITE",
  "OPTIONAL_APP_WRITE",
  "OPTIONAL_APP_READ",
  "OPTIONAL_APP_READWRITE",
];

const hex4 = (v: number) => `0x${v.toString(16).padStart(4, "0")}`;

/** QnnTypes.h name of a Qnn_DataType_t value without the prefix; unknown values as "0x....". */
export function dataTypeName(code: number): QnnDataType {
  return DATA_TYPE_NAMES.get(code) ?? hex4(code);
}

export function tensorTypeName(code: number): string {
  return TENSOR_TYPE_NAMES[code] ?? `UNKNOWN_${code}`;
}

const QNN_UNDEFINED = 0x7fffffff;

function encodingOf(e: RawEncoding): QnnEncoding {
  if (e.definition === QNN_UNDEFINED || e.code === QNN_UNDEFINED) return { kind: "none" };
  switch (e.code) {
    case 0:
      return { kind: "scale_offset", scale: e.scale, offset: e.offset };
    case 1:
      return { kind: "axis_scale_offset", axis: e.axis, scales: e.scales, offsets: e.offsets };
    case 2:
      return { kind: "bw_scale_offset", bitwidth: e.bitwidth, scale: e.scale, offset: e.offset };
    case 3:
      return { kind: "bw_axis_scale_offset", bitwidth: e.bitwidth, axis: e.axis, scales: e.scales, offsets: e.offsets };
    default:
      return { kind: "other", code: e.code, name: encodingName(e.code) };
  }
}

function tensorOf(t: RawTensor): QnnTensorInfo {
  return { id: t.id, name: t.name, type: tensorTypeName(t.type), dataType: dataTypeName(t.dataType), dims: t.dims, encoding: encodingOf(t.encoding) };
}

function binaryInfoOf(r: RawBinaryInfo): QnnBinaryInfo {
  const info: QnnBinaryInfo = {
    binaryInfoVersion: r.version,
    coreApiVersion: r.coreApiVersion,
    backendApiVersion: r.backendApiVersion,
    graphs: r.graphs.map((g) => ({ name: g.name, inputs: g.inputs.map(tensorOf), outputs: g.outputs.map(tensorOf) })),
  };
  if (r.buildId) info.buildId = r.buildId;
  if (r.socModel !== undefined) info.socModel = r.socModel;
  if (r.socVersion) info.socVersion = r.socVersion;
  return info;
}

/**
 * Byte size of a tensor's data: product of dims x element size (4-bit types: two per byte, rounded up);
 * undefined when the data type's size is unknown.
 */
export function tensorByteSize(t: { dataType: QnnDataType; dims: number[] }): number | undefined {
  const code = DATA_TYPE_CODES.get(t.dataType.startsWith("QNN_DATATYPE_") ? t.dataType.slice(13) : t.dataType);
  if (code === undefined || code >> 8 > 5) return undefined;
  const count = t.dims.reduce((a, b) => a * b, 1);
  const bits = code & 0xff;
  if (bits === 0x04) return Math.ceil(count / 2);
  const size = ({ 0x08: 1, 0x16: 2, 0x32: 4, 0x64: 8 } as Record<number, number>)[bits];
  return size === undefined ? undefined : count * size;
}

// ---------------------------------------------------------------------------------------------- API

/** The interface providers of a backend library (for diagnostics). */
export function listQnnProviders(backendLib: string): QnnContext["provider"][] {
  checkLibrary(backendLib, "QNN backend library");
  const a = addon();
  try {
    return a.listProviders(backendLib).map((p) => ({ ...p }));
  } catch (e) {
    rethrow(e);
  }
}

/** Graphs and tensors of a context binary, via QnnSystemContext_getBinaryInfo. */
export function readBinaryInfo(systemLib: string, binary: Uint8Array): QnnBinaryInfo {
  checkLibrary(systemLib, "QNN system library");
  checkBinary(binary);
  const a = addon();
  try {
    return binaryInfoOf(a.readBinaryInfo(systemLib, binary));
  } catch (e) {
    rethrow(e);
  }
}

const LOG_LEVELS: Record<QnnLogLevel, number> = { error: 1, warn: 2, info: 3, verbose: 4, debug: 5 };

function checkBuffers(graph: string, what: "input" | "output", tensors: QnnTensorInfo[], buffers: Uint8Array[]): void {
  if (!Array.isArray(buffers) || buffers.length !== tensors.length)
    throw new RangeError(`QNN graph ${graph}: ${tensors.length} ${what}s expected, got ${Array.isArray(buffers) ? buffers.length : typeof buffers}`);
  tensors.forEach((t, i) => {
    const b = buffers[i];
    if (!(b instanceof Uint8Array)) throw new TypeError(`QNN graph ${graph} ${what} ${i} (${t.name}): a Uint8Array is required`);
    const need = tensorByteSize(t);
    if (need === undefined) throw new RangeError(`QNN graph ${graph} ${what} ${i} (${t.name}): data type ${t.dataType} has no known element size`);
    if (b.byteLength !== need)
      throw new RangeError(`QNN graph ${graph} ${what} ${i} (${t.name}): buffer has ${b.byteLength} bytes, the tensor needs ${need} ([${t.dims.join(", ")}] x ${t.dataType})`);
  });
}

/**
 * Opens a QNN context from a context binary: provider (by name, else the first whose core API is 2.x at or
 * above the addon's minimum minor, see qnnMinimumApiVersions), optional log, backend, device (if supported)
 * and context. Every failure is a UserError naming the library or QNN call; a library older than the minimum
 * is refused in one line naming its version and the minimum. Nothing stays allocated after a failure.
 */
export function openQnnContext(o: QnnLibraries & { binary: Uint8Array; provider?: string; logLevel?: QnnLogLevel }): QnnContext {
  checkLibrary(o.backendLib, "QNN backend library");
  checkLibrary(o.systemLib, "QNN system library");
  checkBinary(o.binary);
  const level = o.logLevel === undefined ? 0 : LOG_LEVELS[o.logLevel];
  if (level === undefined) throw new UserError(`QNN log level ${o.logLevel}: expected one of ${Object.keys(LOG_LEVELS).join(", ")}`);
  const a = addon();
  let raw: RawContext;
  try {
    raw = a.openContext(o.backendLib, o.systemLib, o.binary, o.provider ?? "", level);
  } catch (e) {
    rethrow(e);
  }
  const info = binaryInfoOf(raw.info);
  const provider = { name: raw.provider.name, coreApiVersion: raw.provider.coreApiVersion, backendApiVersion: raw.provider.backendApiVersion, backendId: raw.provider.backendId };
  const graphs = new Map<string, QnnGraph>();
  const closedError = (what: string) => new Error(`QNN context is closed (${what})`);

  const makeGraph = (name: string, index: number, g: QnnGraphInfo): QnnGraph => ({
    name,
    inputs: g.inputs,
    outputs: g.outputs,
    execute(inputs: Uint8Array[], outputs: Uint8Array[]): void {
      if (raw.closed()) throw closedError(`execute ${name}`);
      checkBuffers(name, "input", g.inputs, inputs);
      checkBuffers(name, "output", g.outputs, outputs);
      raw.execute(index, inputs, outputs); // errors carry qnnCall / qnnCode
    },
  });

  return {
    provider,
    info,
    graph(name: string): QnnGraph {
      if (raw.closed()) throw closedError(`graph ${name}`);
      const known = graphs.get(name);
      if (known) return known;
      const g = info.graphs.find((x) => x.name === name);
      if (!g) throw new UserError(`no graph named ${JSON.stringify(name)} in the QNN context binary; it has: ${info.graphs.map((x) => x.name).join(", ") || "no graphs"}`);
      let index: number;
      try {
        index = raw.retrieveGraph(name);
      } catch (e) {
        rethrow(e);
      }
      const graph = makeGraph(name, index, g);
      graphs.set(name, graph);
      return graph;
    },
    close(): void {
      raw.close();
    },
  };
}
