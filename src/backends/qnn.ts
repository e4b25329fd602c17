// Owns the `qnn` backend: the device's own compiled graphs (the QNN context binary inside an ExecuTorch .pte)
// run through the native addon (src/qnn/native.ts) behind the Backend interface. The binary's tensors are
// bound to SPEC §3 (src/qnn/tensor-map.ts); a call quantizes our float / int32 inputs into the device
// tensors' bytes with their encodings (the mask too: 0 -> 65535, -255 -> 0 under the usual uint16 mask
// encoding), executes, and dequantizes the outputs (src/qnn/encoding.ts). I/O byte buffers are allocated
// once per graph. Device-native callers skip the conversion: `executeKvCodes` takes typed arrays already in
// the device's element types (a QUANT_ENCODING cache manager's uint8 caches and uint16 mask, uint16 logits)
// and hands their bytes to the graph without a copy; `executeKvBytes` takes raw bytes in SPEC §3 order.
// Intermediate tensors are not observable on the device: supportsTaps is false.
import type { Backend, BackendInit } from "../engine/backend.js";
import { kvGraphSpec, prefillGraphSpec, type GraphSpec } from "../engine/graph-io.js";
import type { CacheArray, MaskArray } from "../kvcache/types.js";
import { bytesOf, dequantizeFrom, quantizeInto } from "../qnn/encoding.js";
import { bindGraph, type DeviceGraphInfo, type GraphBinding, type TensorBinding } from "../qnn/tensor-map.js";
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
  /** How every SPEC §3 tensor maps onto the device's. */
  readonly bindings: { kv?: GraphBinding; prefill?: GraphBinding };
  /** Raw device bytes per tensor in SPEC §3 order, executed as they are (no conversion, no copy). */
  executeKvBytes(inputs: Uint8Array[], outputs: Uint8Array[]): void;
  executePrefillBytes(inputs: Uint8Array[], outputs: Uint8Array[]): void;
  /** Device-native typed arrays; each element size must be the device tensor's. */
  executeKvCodes(inputs: KvCodesInputs, outputs: KvCodesOutputs): void;
}

interface Bound {
  graph: ExecutableGraph;
  binding: GraphBinding;
  spec: GraphSpec;
  /** Preallocated buffers in the graph's reported order. */
  inBufs: Uint8Array[];
  outBufs: Uint8Array[];
}

function bind(kind: "kv" | "prefill", graph: ExecutableGraph, init: BackendInit, seqLen: number, where: string): Bound {
  const c = init.model.config;
  const binding = bindGraph(kind, graph, c, seqLen, where);
  const spec = kind === "kv" ? kvGraphSpec(c, seqLen) : prefillGraphSpec(c, seqLen);
  const inBufs: Uint8Array[] = new Array(graph.inputs.length);
  const outBufs: Uint8Array[] = new Array(graph.outputs.length);
  for (const b of binding.inputs) inBufs[b.deviceIndex] = new Uint8Array(b.bytes);
  for (const b of binding.outputs) outBufs[b.deviceIndex] = new Uint8Array(b.bytes);
  return { graph, binding, spec, inBufs, outBufs };
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

  const executeKvBytes = (inputs: Uint8Array[], outputs: Uint8Array[]) => {
    const g = live(kv, "kv_forward");
    g.graph.execute(arrange(g.binding.inputs, inputs, "inputs", "kv_forward"), arrange(g.binding.outputs, outputs, "outputs", "kv_forward"));
  };

  const run = (g: Bound, ins: ArrayLike<number>[], outs: (Float32Array | Int32Array)[]) => {
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
    graphs: { kv: kv?.spec, prefill: prefill?.spec },
    bindings: { kv: kv?.binding, prefill: prefill?.binding },
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
 * set, prefill_forward when prefillSeqLen is), opens them through the addon and binds the graphs.
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

  const want: { kind: "kv" | "prefill"; name: "kv_forward" | "prefill_forward" }[] = [];
  if (init.kvSeqLen !== undefined) want.push({ kind: "kv", name: "kv_forward" });
  if (init.prefillSeqLen !== undefined) want.push({ kind: "prefill", name: "prefill_forward" });
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
