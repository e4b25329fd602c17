// Owns the `qnn` backend: the device's own compiled graphs (the QNN context binary inside an ExecuTorch .pte)
// run through the native addon (src/qnn/native.ts) behind the Backend interface. The binary's tensors are
// bound to SPEC §3 (src/qnn/tensor-map.ts); a call quantizes our float / int32 inputs into the device
// tensors' bytes with their encodings (the mask too: 0 -> 65535, -255 -> 0 under the usual uint16 mask
// encoding), executes, and dequantizes the outputs (src/qnn/encoding.ts). I/O byte buffers are allocated
// once per graph. Device-native callers skip the conversion: `executeKvCodes` takes typed arrays already in
// the device's element types (a QUANT_ENCODING cache manager's uint8 caches and uint16 mask, uint16 logits)
// and hands their bytes to the graph without a copy; `executeKvBytes` takes raw bytes in SPEC §3 order.
// Intermediate tensors are not observable on the device: supportsTaps is false.
//
// Current flow (BackendInit.contextLen set, SPEC-2026 §3): the .pte's kv_forward is the AR-N graph of AR = 1 and,
// when arLens holds a prompt length AR_pp > 1, prefill_forward is the AR-N graph of AR_pp; both are bound by
// bindArGraph and run by executeAr with the same conversion as executeKv (the float 0 / -255 mask goes through
// the mask tensor's encoding: 65535 / 0, the runner's codes, under the calibrated scale 255/65535, offset
// -65535). With fixed-point logits, logitsEncoding tells the runner session how to recover the raw codes the
// device runner samples (SPEC-2026 §9). `executeArBytes` takes raw device bytes in SPEC-2026 §3 order.
import type { Backend, BackendInit } from "../engine/backend.js";
import { kvGraphSpec, prefillGraphSpec, type GraphSpec } from "../engine/graph-io.js";
import { arGraphSpec, type ArGraphSpec } from "../engine/ar-graph-io.js";
import type { CacheArray, MaskArray } from "../kvcache/types.js";
import { bytesOf, dequantizeFrom, isFixedPoint, quantizeInto } from "../qnn/encoding.js";
import { bindArGraph, bindGraph, type ArGraphBinding, type DeviceGraphInfo, type GraphBinding, type TensorBinding } from "../qnn/tensor-map.js";
import { LITTLE_ENDIAN } from "../util/binary.js";
import { UserError } from "../util/errors.js";
import { openFileSource } from "../loaders/byte-source.js";

/** A graph that executes on raw little-endian buffers in its reported input / output order (QnnGraph). */
export interface ExecutableGraph extends DeviceGraphInfo {
  execute(inputs: Uint8Array[], outputs: Uint8Array[]): void;
}

export interface QnnBackendInit extends BackendInit {
  /** The ExecuTorch program holding the QnnBackend delegate(s). */
  pte: string;
  /** libQnnHtp.so / QnnHtp.dll (else QNN_BACKEND_LIB, else $QNN_SDK_ROOT). */
  backendLib?: string;
  /** libQnnSystem.so / QnnSystem.dll (else QNN_SYSTEM_LIB, else $QNN_SDK_ROOT). */
  systemLib?: string;
  /** Backend provider name, when the library offers several. */
  provider?: string;
}

/** KV-graph inputs in the device's element types (e.g. a QUANT_ENCODING cache manager's views). */
export interface KvCodesInputs {
  tokens: Int32Array;
  attnMask: MaskArray;
  inputPos: Int32Array;
  kCaches: CacheArray[];
  vCaches: CacheArray[];
}

export interface KvCodesOutputs {
  logits: Uint8Array | Uint16Array | Float32Array;
  kOut: CacheArray[];
  vOut: CacheArray[];
}

export interface QnnBackend extends Backend {
  /** How every SPEC §3 tensor maps onto the device's (current flow: `ar`, one per AR length, as graphs.ar). */
  readonly bindings: { kv?: GraphBinding; prefill?: GraphBinding; ar?: readonly ArGraphBinding[] };
  /** Raw device bytes per tensor in SPEC §3 order, executed as they are (no conversion, no copy). */
  executeKvBytes(inputs: Uint8Array[], outputs: Uint8Array[]): void;
  executePrefillBytes(inputs: Uint8Array[], outputs: Uint8Array[]): void;
  /** Device-native typed arrays; each element size must be the device tensor's. */
  executeKvCodes(inputs: KvCodesInputs, outputs: KvCodesOutputs): void;
  /** Current flow: raw device bytes of the AR-N graph of `arLen` rows, in SPEC-2026 §3 order (no conversion, no copy). */
  executeArBytes(arLen: number, inputs: Uint8Array[], outputs: Uint8Array[]): void;
}

interface Bound<S = GraphSpec, B extends { graph: string; inputs: TensorBinding[]; outputs: TensorBinding[] } = GraphBinding> {
  graph: ExecutableGraph;
  binding: B;
  spec: S;
  /** Preallocated buffers in the graph's reported order. */
  inBufs: Uint8Array[];
  outBufs: Uint8Array[];
}

type ArBound = Bound<ArGraphSpec, ArGraphBinding>;

function withBuffers<S, B extends { graph: string; inputs: TensorBinding[]; outputs: TensorBinding[] }>(graph: ExecutableGraph, binding: B, spec: S): Bound<S, B> {
  const inBufs: Uint8Array[] = new Array(graph.inputs.length);
  const outBufs: Uint8Array[] = new Array(graph.outputs.length);
  for (const b of binding.inputs) inBufs[b.deviceIndex] = new Uint8Array(b.bytes);
  for (const b of binding.outputs) outBufs[b.deviceIndex] = new Uint8Array(b.bytes);
  return { graph, binding, spec, inBufs, outBufs };
}

function bind(kind: "kv" | "prefill", graph: ExecutableGraph, init: BackendInit, seqLen: number, where: string): Bound {
  const c = init.model.config;
  const binding = bindGraph(kind, graph, c, seqLen, where);
  return withBuffers(graph, binding, kind === "kv" ? kvGraphSpec(c, seqLen) : prefillGraphSpec(c, seqLen));
}

function bindAr(graph: ExecutableGraph, init: BackendInit, contextLen: number, arLen: number, where: string): ArBound {
  const c = init.model.config;
  const binding = bindArGraph(graph, c, contextLen, arLen, where);
  return withBuffers(graph, binding, arGraphSpec(c, contextLen, arLen, binding.graph));
}

/**
 * The current flow's AR-N graphs of `init` by AR length: kv_forward for AR = 1, prefill_forward for the prompt
 * length AR_pp > 1 (SPEC-2026 §2.1: one of each at most).
 */
function bindArGraphs(init: BackendInit, graphs: { kv?: ExecutableGraph; prefill?: ExecutableGraph }, where: string): Map<number, ArBound> {
  const CL = init.contextLen!;
  const lens = [...new Set(init.arLens ?? [1])].sort((a, b) => a - b);
  const prompt = lens.filter((a) => a > 1);
  if (prompt.length > 1) throw new Error(`qnn backend: one prompt graph (prefill_forward) serves one AR length, asked for ${prompt.join(", ")}`);
  const out = new Map<number, ArBound>();
  for (const ar of lens) {
    const name = ar === 1 ? "kv_forward" : "prefill_forward";
    const g = ar === 1 ? graphs.kv : graphs.prefill;
    if (!g) throw new Error(`qnn backend: the AR-N graph of ${ar} row${ar === 1 ? "" : "s"} needs a ${name} graph`);
    out.set(ar, bindAr(g, init, CL, ar, where));
  }
  return out;
}

/** Places SPEC-ordered byte arrays at their device positions, checking sizes. */
function arrange(list: TensorBinding[], given: Uint8Array[], what: string, graph: string): Uint8Array[] {
  if (given.length !== list.length) throw new RangeError(`${graph}: ${given.length} ${what}, the graph has ${list.length}`);
  const out: Uint8Array[] = new Array(list.length);
  list.forEach((b, i) => {
    if (given[i].byteLength !== b.bytes)
      throw new RangeError(`${graph}: ${what} ${b.spec.name} is ${given[i].byteLength} bytes, the device tensor ${b.device.dataType}[${b.device.dims.join(", ")}] needs ${b.bytes}`);
    out[b.deviceIndex] = given[i];
  });
  return out;
}

/** Checks that a typed array holds the device tensor's elements in its element size. */
function codesOf(a: ArrayBufferView & { length: number; BYTES_PER_ELEMENT: number }, b: TensorBinding, graph: string): Uint8Array {
  if (a.BYTES_PER_ELEMENT !== b.dataType.bytes)
    throw new UserError(
      `${graph}: ${b.spec.name} is ${b.device.dataType} on the device (${b.dataType.bytes}-byte elements) but the caller's buffer has ${a.BYTES_PER_ELEMENT}-byte elements (KV bit-width mismatch?)`,
    );
  return bytesOf(a);
}

/**
 * The backend over already retrieved graphs (the addon's QnnGraph, or any ExecutableGraph such as the
 * stand-in recorder's). `where` names the source in errors; `onDispose` frees the context.
 */
export function createQnnBackendFromGraphs(
  init: BackendInit,
  graphs: { kv?: ExecutableGraph; prefill?: ExecutableGraph },
  o: { where: string; onDispose?: () => void },
): QnnBackend {
  if (init.contextLen !== undefined && (init.kvSeqLen !== undefined || init.prefillSeqLen !== undefined))
    throw new Error("qnn backend: the seed flow's kv_seq_len / prefill_seq_len and the current flow's max_context_len both given; a .pte holds one flow's graphs");
  const ar = init.contextLen !== undefined ? bindArGraphs(init, graphs, o.where) : new Map<number, ArBound>();
  const kv = init.kvSeqLen !== undefined ? graphs.kv && bind("kv", graphs.kv, init, init.kvSeqLen, o.where) : undefined;
  const prefill = init.prefillSeqLen !== undefined ? graphs.prefill && bind("prefill", graphs.prefill, init, init.prefillSeqLen, o.where) : undefined;
  if (init.kvSeqLen !== undefined && !kv) throw new Error("qnn backend: a kv_seq_len was given but no kv_forward graph");
  if (init.prefillSeqLen !== undefined && !prefill) throw new Error("qnn backend: a prefill_seq_len was given but no prefill_forward graph");
  let disposed = false;
  const live = (g: Bound | undefined, name: string): Bound => {
    if (disposed) throw new Error("qnn backend: used after dispose()");
    if (!g) throw new Error(`qnn backend: built without a ${name} graph`);
    return g;
  };

  const liveAr = (arLen: number): ArBound => {
    if (disposed) throw new Error("qnn backend: used after dispose()");
    const g = ar.get(arLen);
    if (!g)
      throw new Error(
        ar.size ? `qnn backend: no AR-N graph of ${arLen} rows (built for AR ${[...ar.keys()].join(", ")})` : `qnn backend: built without the current flow's AR-N graphs (contextLen)`,
      );
    return g;
  };

  const executeKvBytes = (inputs: Uint8Array[], outputs: Uint8Array[]) => {
    const g = live(kv, "kv_forward");
    g.graph.execute(arrange(g.binding.inputs, inputs, "inputs", "kv_forward"), arrange(g.binding.outputs, outputs, "outputs", "kv_forward"));
  };

  const run = (g: Bound<unknown, { graph: string; inputs: TensorBinding[]; outputs: TensorBinding[] }>, ins: ArrayLike<number>[], outs: (Float32Array | Int32Array)[]) => {
    const name = g.binding.graph;
    if (ins.length !== g.binding.inputs.length) throw new RangeError(`${name}: ${ins.length} inputs, the graph has ${g.binding.inputs.length}`);
    if (outs.length !== g.binding.outputs.length) throw new RangeError(`${name}: ${outs.length} outputs, the graph has ${g.binding.outputs.length}`);
    g.binding.inputs.forEach((b, i) => quantizeInto(ins[i], b.device, g.inBufs[b.deviceIndex]));
    g.graph.execute(g.inBufs, g.outBufs);
    g.binding.outputs.forEach((b, i) => dequantizeFrom(g.outBufs[b.deviceIndex], b.device, outs[i]));
  };

  return {
    name: "qnn",
    supportsTaps: false,
    graphs: { kv: kv?.spec, prefill: prefill?.spec, ...(ar.size ? { ar: [...ar.values()].map((g) => g.spec) } : {}) },
    bindings: { kv: kv?.binding, prefill: prefill?.binding, ...(ar.size ? { ar: [...ar.values()].map((g) => g.binding) } : {}) },
    logitsEncoding(arLen) {
      const b = ar.get(arLen)?.binding.outputs[0];
      if (!b || !isFixedPoint(b.dataType) || b.device.encoding.kind !== "scale_offset") return undefined;
      return { scale: b.device.encoding.scale, offset: b.device.encoding.offset };
    },
    async executeAr(arLen, inputs, outputs) {
      const g = liveAr(arLen);
      const { graph: name, contextLen: CL } = g.binding;
      const NL = init.model.config.nLayers;
      for (const [what, n] of [["K caches", inputs.kCaches.length], ["V caches", inputs.vCaches.length], ["K outputs", outputs.kOut.length], ["V outputs", outputs.vOut.length]] as const)
        if (n !== NL) throw new RangeError(`${name}: ${n} ${what}, the graph has one per layer (${NL})`);
      const pos: Int32Array[] = [];
      if (arLen < CL) {
        if (!inputs.inputPos) throw new RangeError(`${name}: input_pos is required when AR (${arLen}) < CL (${CL})`);
        inputs.inputPos.forEach((p, i) => {
          if (!(p >= 0 && p < CL)) throw new RangeError(`${name}: input_pos ${p} at row ${i} is outside [0, ${CL})`);
        });
        pos.push(inputs.inputPos);
      }
      const win = inputs.windowMask ? [inputs.windowMask] : []; // window_atten_mask follows atten_mask (SPEC-2026 §3)
      run(g, [inputs.tokens, inputs.attnMask, ...win, ...pos, ...inputs.kCaches, ...inputs.vCaches], [outputs.logits, ...outputs.kOut, ...outputs.vOut]);
    },
    executeArBytes(arLen, inputs, outputs) {
      const g = liveAr(arLen);
      const name = g.binding.graph;
      g.graph.execute(arrange(g.binding.inputs, inputs, "inputs", name), arrange(g.binding.outputs, outputs, "outputs", name));
    },
    async executeKv(inputs, outputs) {
      const g = live(kv, "kv_forward");
      run(g, [inputs.tokens, inputs.attnMask, inputs.inputPos, ...inputs.kCaches, ...inputs.vCaches], [outputs.logits, ...outputs.kOut, ...outputs.vOut]);
    },
    async executePrefill(inputs, outputs) {
      const g = live(prefill, "prefill_forward");
      run(g, [inputs.tokens, inputs.attnMask], [outputs.logits, ...outputs.kOut, ...outputs.vOut]);
    },
    executeKvBytes,
    executePrefillBytes(inputs, outputs) {
      const g = live(prefill, "prefill_forward");
      g.graph.execute(
        arrange(g.binding.inputs, inputs, "inputs", "prefill_forward"),
        arrange(g.binding.outputs, outputs, "outputs", "prefill_forward"),
      );
    },
    executeKvCodes(inputs, outputs) {
      const g = live(kv, "kv_forward");
      if (!LITTLE_ENDIAN) throw new Error("qnn backend: device-native typed arrays need a little-endian host");
      const b = g.binding;
      const ins = [inputs.tokens, inputs.attnMask, inputs.inputPos, ...inputs.kCaches, ...inputs.vCaches];
      const outs = [outputs.logits, ...outputs.kOut, ...outputs.vOut];
      if (ins.length !== b.inputs.length || outs.length !== b.outputs.length)
        throw new RangeError(`kv_forward: ${ins.length} inputs / ${outs.length} outputs, the graph has ${b.inputs.length} / ${b.outputs.length}`);
      executeKvBytes(
        ins.map((a, i) => codesOf(a, b.inputs[i], "kv_forward")),
        outs.map((a, i) => codesOf(a, b.outputs[i], "kv_forward")),
      );
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      o.onDispose?.();
    },
  };
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0;

/**
 * Reads the .pte, finds the context binaries that hold the graphs the run needs (kv_forward when kvSeqLen is
 * set or arLens holds 1, prefill_forward when prefillSeqLen is set or arLens holds an AR_pp > 1), opens them
 * through the addon and binds the graphs.
 */
export async function createQnnBackend(init: QnnBackendInit): Promise<QnnBackend> {
  const where = `--pte ${init.pte}`;
  // Read through a file source: only the flatbuffer and the delegate data are loaded, and programs over 2 GiB
  // (a 3B model's .pte) work, where reading the whole file into one buffer would not.
  const { qnnContexts, readPteFrom } = await import("../qnn/pte.js");
  const src = openFileSource(init.pte, "--pte");
  let found: ReturnType<typeof qnnContexts>;
  try {
    found = qnnContexts(readPteFrom(src, where));
  } finally {
    src.close();
  }
  if (found.length === 0) throw new UserError(`${where}: the program has no QnnBackend delegate (was it lowered with the Qualcomm backend?)`);
  const binaries: Uint8Array[] = [];
  for (const f of found) if (!binaries.some((b) => sameBytes(b, f.binary))) binaries.push(f.binary);

  const native = await import("../qnn/native.js");
  const status = native.nativeAddonStatus();
  if (!status.available)
    throw new UserError(`--backend qnn: the native QNN addon is not available (${status.reason}); build it with npm run build:native (see docs/qnn.md)`);
  const { resolveQnnLibraries } = await import("../qnn/libraries.js");
  const libs = resolveQnnLibraries({ backendLib: init.backendLib, systemLib: init.systemLib });

  // Seed flow: kv_forward for kv_seq_len, prefill_forward for prefill_seq_len. Current flow: kv_forward is the AR = 1
  // graph, prefill_forward the AR_pp > 1 one.
  const arLens = init.contextLen !== undefined ? init.arLens ?? [1] : [];
  const want: { kind: "kv" | "prefill"; name: "kv_forward" | "prefill_forward" }[] = [];
  if (init.kvSeqLen !== undefined || arLens.includes(1)) want.push({ kind: "kv", name: "kv_forward" });
  if (init.prefillSeqLen !== undefined || arLens.some((a) => a > 1)) want.push({ kind: "prefill", name: "prefill_forward" });
  const infos = binaries.map((b) => native.readBinaryInfo(libs.systemLib, b));
  const allNames = infos.flatMap((i) => i.graphs.map((g) => g.name));
  const pick = new Map<string, number>();
  for (const w of want) {
    const at = infos.findIndex((i) => i.graphs.some((g) => g.name === w.name));
    if (at < 0)
      throw new UserError(
        `${where}: no QNN graph named ${w.name} in its context binar${binaries.length > 1 ? "ies" : "y"} (graphs: ${allNames.join(", ") || "none"}); this --model_mode needs ${want.map((x) => x.name).join(" and ")}`,
      );
    pick.set(w.name, at);
  }

  const opened = new Map<number, ReturnType<typeof native.openQnnContext>>();
  const closeAll = () => {
    for (const c of opened.values()) c.close();
  };
  try {
    for (const at of new Set(pick.values()))
      opened.set(at, native.openQnnContext({ ...libs, binary: binaries[at], provider: init.provider }));
    const graphs: { kv?: ExecutableGraph; prefill?: ExecutableGraph } = {};
    for (const w of want) graphs[w.kind] = opened.get(pick.get(w.name)!)!.graph(w.name);
    return createQnnBackendFromGraphs(init, graphs, { where, onDispose: closeAll });
  } catch (e) {
    closeAll();
    throw e;
  }
}
