// Owns the stand-in context binary "LGQNNSB1" (our own format, parsed by the stand-in QNN libraries in
// test/native/stand-in; layout in docs/qnn.md) and its recorder: the device graphs of a run, with their
// tensors named and encoded as an ExecuTorch-QNN export would have them, whose TABLE programs hold the
// quantized reference outputs of every graph call `parity` will make, optionally with a fault from a chosen
// step on. With the stand-in libraries, `parity --backend qnn` then runs end to end through the addon and
// must report exactly that step as the first departure.
//
// Tensor encodings in the format: 0 none, 1 scale_offset, 2 axis_scale_offset (then u32 axis | u32 n |
// (f32 scale, i32 offset)[n] after the unused per-tensor pair), 3 bw_scale_offset (then u32 bitwidth),
// 4 bw_axis_scale_offset (u32 bitwidth, then as 2), 5 any other encoding by its QNN code (u32 code; the
// stand-in reports the code with no parameters).
//
// Recording (deterministic):
//   1. a parity run of the reference against itself observes every output's range (logits, and K and V per
//      (layer, KV head) over both graphs); the encodings are chosen from it with a 1/128 margin: logits
//      UFIXED_POINT_16 affine, K/V UFIXED_POINT_8 symmetric (offset -128) per (layer, head) shared by the
//      caches and both graphs' outputs (SPEC §7), mask UFIXED_POINT_16 scale 255/65535 offset -65535,
//      tokens / input_pos INT_32;
//   2. a parity run of the reference against the qnn backend (src/backends/qnn.ts) over in-memory TABLE
//      graphs: a call whose key is new computes the reference graph on the exact float inputs it was given
//      (in lock-step: the reference's own caches), quantizes the outputs with the encodings, applies the
//      fault, and stores the entry; a known key returns its entry, as the C stand-in does. So every call of
//      the real run finds its entry, and a lock-step call's output differs from the reference only by the
//      output quantization (at most half a step per element).
// Keys: kv_forward (tokens, input_pos, atten_mask); prefill_forward (tokens, atten_mask) — the mask in the
// key makes a wrongly quantized mask miss the table (an execute error) instead of passing unnoticed.
// Inputs are listed in the binary in reverse order with ExecuTorch's `input_<id>_` names, so binding must
// order them by id; output names are ExecuTorch-like node names that carry no SPEC name.
import type { Model } from "../../src/engine/weights.js";
import { allocKvOutputs, allocPrefillOutputs, type KvGraphInputs, type PrefillGraphInputs } from "../../src/engine/graph-io.js";
import { createKvGraph, kvForward } from "../../src/engine/kv-graph.js";
import { createPrefillGraph, prefillForward } from "../../src/engine/prefill-graph.js";
import type { Backend, BackendInit } from "../../src/engine/backend.js";
import { createReferenceBackend } from "../../src/backends/reference.js";
import { createQnnBackendFromGraphs, type ExecutableGraph } from "../../src/backends/qnn.js";
import { runParity, type SeedParityOptions } from "../../src/parity/run-parity.js";
import { defaultTolerance } from "../../src/parity/tolerances.js";
import { roundHalfEven } from "../../src/quant/affine.js";
import { concatBytes } from "../../src/util/binary.js";
import { dataTypeInfo, quantizeInto, tensorByteSize } from "../../src/qnn/encoding.js";
import type { DeviceTensorInfo } from "../../src/qnn/tensor-map.js";

export const STANDIN_MAGIC = "LGQNNSB1";
export const STANDIN_FORMAT_VERSION = 1;
/** Qnn_TensorType_t values. */
export const QNN_TENSOR_TYPE = { APP_WRITE: 0, APP_READ: 1 } as const;
export const STANDIN_KIND = { ADD: 1, TABLE: 2 } as const;

export interface StandInTensor extends DeviceTensorInfo {
  id: number;
  /** Qnn_TensorType_t (0 APP_WRITE for inputs, 1 APP_READ for outputs). */
  tensorType: number;
}

export interface StandInTableEntry {
  /** The key inputs' bytes, concatenated in keyInputs order. */
  key: Uint8Array;
  /** Every output's bytes, concatenated in output order. */
  out: Uint8Array;
}

export type StandInGraph = { name: string; inputs: StandInTensor[]; outputs: StandInTensor[] } & (
  | { kind: "ADD" }
  | { kind: "TABLE"; keyInputs: number[]; entries: StandInTableEntry[] }
);

export interface StandInBinary {
  /** 0 = any SoC; otherwise the stand-in device must report the same (env LG_STANDIN_SOC). */
  socModel?: number;
  graphs: StandInGraph[];
}

// ---- writer ----

function u32(v: number, what: string): Uint8Array {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`stand-in binary: ${what} ${v} is not a u32`);
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

function str(s: string, what: string): Uint8Array[] {
  const b = new TextEncoder().encode(s);
  return [u32(b.length, `${what} length`), b];
}

function tensorChunks(t: StandInTensor): Uint8Array[] {
  const d = dataTypeInfo(t.dataType, `stand-in tensor ${t.name}`);
  const e = t.encoding;
  if (e.kind === "other" && !(Number.isInteger(e.code) && e.code >= 0 && e.code <= 0xffffffff))
    throw new RangeError(`stand-in binary: tensor ${t.name}: encoding code ${e.code} is not a u32`);
  const pairs: [number, number][] =
    e.kind === "scale_offset" || e.kind === "bw_scale_offset"
      ? [[e.scale, e.offset]]
      : e.kind === "axis_scale_offset" || e.kind === "bw_axis_scale_offset"
        ? e.scales.map((s, i) => [s, e.offsets[i]])
        : [];
  for (const [scale, offset] of pairs) {
    if (Math.fround(scale) !== scale) throw new RangeError(`stand-in binary: tensor ${t.name}: scale ${scale} is not an fp32 value`);
    if (!Number.isInteger(offset) || offset < -(2 ** 31) || offset >= 2 ** 31) throw new RangeError(`stand-in binary: tensor ${t.name}: offset ${offset} is not an i32`);
  }
  // encodingKind | f32 scale | i32 offset, then per kind (test/native/stand-in/standin_common.h):
  //   2 axis_scale_offset     u32 axis | u32 n | (f32, i32)[n]
  //   3 bw_scale_offset       u32 bitwidth
  //   4 bw_axis_scale_offset  u32 bitwidth | u32 axis | u32 n | (f32, i32)[n]
  //   5 other                 u32 Qnn_QuantizationEncoding_t (the stand-in reports just the code)
  const kind = { none: 0, scale_offset: 1, axis_scale_offset: 2, bw_scale_offset: 3, bw_axis_scale_offset: 4, other: 5 }[e.kind];
  const head: number[] = [];
  if (e.kind === "bw_scale_offset" || e.kind === "bw_axis_scale_offset") head.push(e.bitwidth);
  if (e.kind === "axis_scale_offset" || e.kind === "bw_axis_scale_offset") head.push(e.axis, pairs.length);
  if (e.kind === "other") head.push(e.code);
  const perAxis = e.kind === "axis_scale_offset" || e.kind === "bw_axis_scale_offset";
  const enc = new Uint8Array(12 + 4 * head.length + (perAxis ? 8 * pairs.length : 0));
  const dv = new DataView(enc.buffer);
  dv.setUint32(0, kind, true);
  if (e.kind === "scale_offset" || e.kind === "bw_scale_offset") {
    dv.setFloat32(4, e.scale, true);
    dv.setInt32(8, e.offset, true);
  }
  head.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`stand-in binary: tensor ${t.name}: encoding field ${v} is not a u32`);
    dv.setUint32(12 + 4 * i, v, true);
  });
  if (perAxis)
    pairs.forEach(([s, o], i) => {
      dv.setFloat32(12 + 4 * head.length + 8 * i, s, true);
      dv.setInt32(16 + 4 * head.length + 8 * i, o, true);
    });
  return [
    u32(t.id, "tensor id"),
    ...str(t.name, "tensor name"),
    u32(t.tensorType, "tensor type"),
    u32(d.code, "data type"),
    u32(t.dims.length, "rank"),
    ...t.dims.map((x) => u32(x, "dim")),
    enc,
  ];
}

/** Serializes a stand-in binary; checks every table entry's key and output sizes against the tensors. */
export function writeStandInBinary(b: StandInBinary): Uint8Array {
  const chunks: Uint8Array[] = [new TextEncoder().encode(STANDIN_MAGIC), u32(STANDIN_FORMAT_VERSION, "version"), u32(b.socModel ?? 0, "socModel"), u32(b.graphs.length, "graph count")];
  for (const g of b.graphs) {
    chunks.push(...str(g.name, "graph name"), u32(STANDIN_KIND[g.kind], "kind"), u32(g.inputs.length, "inputs"), u32(g.outputs.length, "outputs"));
    for (const t of [...g.inputs, ...g.outputs]) chunks.push(...tensorChunks(t));
    if (g.kind === "TABLE") {
      const keyBytes = g.keyInputs.reduce((s, i) => {
        if (!(i >= 0 && i < g.inputs.length)) throw new RangeError(`stand-in binary: graph ${g.name}: key input ${i} does not exist`);
        return s + tensorByteSize(g.inputs[i]);
      }, 0);
      const outBytes = g.outputs.reduce((s, t) => s + tensorByteSize(t), 0);
      chunks.push(u32(g.keyInputs.length, "key count"), ...g.keyInputs.map((i) => u32(i, "key input")), u32(g.entries.length, "entry count"));
      g.entries.forEach((e, k) => {
        if (e.key.length !== keyBytes || e.out.length !== outBytes)
          throw new RangeError(`stand-in binary: graph ${g.name} entry ${k}: ${e.key.length}/${e.out.length} bytes, expected ${keyBytes}/${outBytes}`);
        chunks.push(e.key, e.out);
      });
    }
  }
  const total = chunks.reduce((s, c) => s + c.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

// ---- encodings and device graphs of a run ----

export interface ScaleOffset {
  scale: number;
  offset: number;
}

export interface StandInEncodings {
  logits: ScaleOffset;
  /** Per (layer, KV head), layer-major. */
  k: ScaleOffset[];
  v: ScaleOffset[];
  mask: ScaleOffset;
}

/** The quantized mask input (SPEC §3): 65535 -> 0.0 (attend), 0 -> -255 (blocked). */
export const MASK_SCALE_OFFSET: ScaleOffset = { scale: Math.fround(255 / 65535), offset: -65535 };
/** Relative widening of the observed ranges, so that no recorded value is clipped. */
export const RANGE_MARGIN = 1 / 128;

/** UFIXED_POINT_16 affine encoding covering [min(lo,0), max(hi,0)] widened by RANGE_MARGIN. */
export function logitsEncoding(lo: number, hi: number): ScaleOffset {
  const a = Math.min(lo, 0);
  const b = Math.max(hi, 0);
  const pad = (b - a) * RANGE_MARGIN;
  const scale = Math.fround(Math.max((b - a + 2 * pad) / 65535, 2 ** -20));
  return { scale, offset: roundHalfEven((a - pad) / scale) + 0 };
}

/** UFIXED_POINT_8 symmetric (offset -128) covering [-amax, amax] widened by RANGE_MARGIN. */
export function kvEncoding(amax: number): ScaleOffset {
  return { scale: Math.fround(Math.max((amax * (1 + RANGE_MARGIN)) / 127.5, 2 ** -20)), offset: -128 };
}

const so = (e: ScaleOffset) => ({ kind: "scale_offset" as const, scale: e.scale, offset: e.offset });

export interface StandInGraphs {
  kv?: StandInGraph & { kind: "TABLE" };
  prefill?: StandInGraph & { kind: "TABLE" };
}

/**
 * The device graphs of a run (no entries yet): SPEC §3 tensors with ExecuTorch-like names and the encodings,
 * inputs listed in reverse id order.
 */
export function standInGraphs(model: Model, init: { kvSeqLen?: number; prefillSeqLen?: number }, enc: StandInEncodings): StandInGraphs {
  const c = model.config;
  const NLH = c.nLayers * c.nKvHeads;
  const hd = c.headDim;
  let id = 1;
  const tensor = (name: string, tensorType: number, dataType: string, dims: number[], e: ScaleOffset | undefined): StandInTensor => ({
    id: id++,
    name,
    type: tensorType === 0 ? "APP_WRITE" : "APP_READ",
    tensorType,
    dataType,
    dims,
    encoding: e ? so(e) : { kind: "none" },
  });
  const IN = QNN_TENSOR_TYPE.APP_WRITE;
  const OUT = QNN_TENSOR_TYPE.APP_READ;
  const caches = (first: number, dims: number[]) => [
    ...enc.k.map((e, j) => tensor(`input_${first + j}_args_${j}_0`, IN, "UFIXED_POINT_8", dims, e)),
    ...enc.v.map((e, j) => tensor(`input_${first + NLH + j}_args_${NLH + j}_0`, IN, "UFIXED_POINT_8", [dims[0], dims[2], dims[1]], e)),
  ];
  const outputs = (P: number) => [
    tensor("output_aten_view_copy_default_0", OUT, "UFIXED_POINT_16", [1, P, c.vocabSize], enc.logits),
    ...enc.k.map((e, j) => tensor(`output_aten_permute_copy_default_${j + 1}_0`, OUT, "UFIXED_POINT_8", [1, hd, P], e)),
    ...enc.v.map((e, j) => tensor(`output_aten_view_copy_default_${NLH + j + 1}_0`, OUT, "UFIXED_POINT_8", [1, P, hd], e)),
  ];
  const out: StandInGraphs = {};
  if (init.kvSeqLen !== undefined) {
    const L = init.kvSeqLen - 1;
    const inputs = [
      tensor("input_0_tokens_0", IN, "INT_32", [1, 1], undefined),
      tensor("input_1_atten_mask_0", IN, "UFIXED_POINT_16", [1, init.kvSeqLen], enc.mask),
      tensor("input_2_input_pos_0", IN, "INT_32", [1, 1], undefined),
      ...caches(3, [1, hd, L]),
    ].reverse();
    const at = (n: string) => inputs.findIndex((t) => t.name === n);
    out.kv = {
      name: "kv_forward",
      kind: "TABLE",
      inputs,
      outputs: outputs(1),
      keyInputs: [at("input_0_tokens_0"), at("input_2_input_pos_0"), at("input_1_atten_mask_0")],
      entries: [],
    };
  }
  if (init.prefillSeqLen !== undefined) {
    const P = init.prefillSeqLen - 1;
    const inputs = [
      tensor("input_0_tokens_0", IN, "INT_32", [1, P], undefined),
      tensor("input_1_atten_mask_0", IN, "UFIXED_POINT_16", [P, P], enc.mask),
    ].reverse();
    out.prefill = { name: "prefill_forward", kind: "TABLE", inputs, outputs: outputs(P), keyInputs: [1, 0], entries: [] };
  }
  return out;
}

// ---- faults ----

/**
 * Device bugs the recorder can plant from a step on, each one parity must catch:
 *   logits_offset  every logits code shifted by +1.0 (in real units): SQNR falls to about 10·log10(mean r²)
 *                  dB, while KL and top-1 stay unchanged (softmax ignores a constant);
 *   swap_top2      the two largest logits codes of every row exchanged: top-1 flips, KL grows;
 *   k_noise        the new K of layer 0, KV head 0 gets ±K_NOISE_CODES codes (alternating): K SQNR falls about
 *                  20·log10(K_NOISE_CODES / 0.5) dB below the output quantization's bound.
 */
export type StandInFaultKind = "logits_offset" | "swap_top2" | "k_noise";
export const STANDIN_FAULTS: readonly StandInFaultKind[] = ["logits_offset", "swap_top2", "k_noise"];
export const LOGITS_OFFSET = 1.0;
export const K_NOISE_CODES = 6;

export interface StandInFault {
  /** Lock-step step index (parity's `index`) of the first faulty call. */
  fromStep: number;
  kind: StandInFaultKind;
}

function applyFault(kind: StandInFaultKind, outs: Uint8Array[], enc: StandInEncodings, V: number): void {
  const logits = new Uint16Array(outs[0].buffer, outs[0].byteOffset, outs[0].byteLength / 2);
  if (kind === "logits_offset") {
    const d = roundHalfEven(LOGITS_OFFSET / enc.logits.scale);
    for (let i = 0; i < logits.length; i++) logits[i] = Math.min(65535, logits[i] + d);
  } else if (kind === "swap_top2") {
    for (let r = 0; r < logits.length / V; r++) {
      const row = logits.subarray(r * V, (r + 1) * V);
      let a = 0;
      for (let i = 1; i < V; i++) if (row[i] > row[a]) a = i;
      let b = a === 0 ? 1 : 0;
      for (let i = 0; i < V; i++) if (i !== a && row[i] > row[b]) b = i;
      const t = row[a];
      row[a] = row[b];
      row[b] = t;
    }
  } else {
    const k = outs[1];
    for (let i = 0; i < k.length; i++) k[i] = Math.max(0, Math.min(255, k[i] + (i % 2 === 0 ? K_NOISE_CODES : -K_NOISE_CODES)));
  }
}

// ---- recorder ----

/** The run to record: the fields parity's own options name the same way (model, flow, prompt, --steps). */
export interface RecordStandInOptions
  extends Pick<SeedParityOptions, "model" | "mode" | "kvUpdater" | "kvSeqLen" | "prefillSeqLen" | "promptTokens" | "steps"> {
  fault?: StandInFault;
  socModel?: number;
}

export interface StandInRecording {
  /** The LGQNNSB1 bytes (wrap with wrapQnnContext and put in a .pte for the qnn backend). */
  binary: Uint8Array;
  graphs: StandInGraphs;
  encodings: StandInEncodings;
}

/** A TABLE graph in memory: returns a known key's entry, computes and stores a new one (see header). */
function tableGraph(g: StandInGraph & { kind: "TABLE" }, onMiss: (outputs: Uint8Array[], missIndex: number) => void): ExecutableGraph {
  const index = new Map<string, number>();
  return {
    name: g.name,
    inputs: g.inputs,
    outputs: g.outputs,
    execute(inputs, outputs) {
      const key = concatBytes(g.keyInputs.map((i) => inputs[i]));
      const h = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1");
      const at = index.get(h);
      if (at === undefined) {
        onMiss(outputs, g.entries.length);
        index.set(h, g.entries.length);
        g.entries.push({ key, out: concatBytes(outputs) });
        return;
      }
      let off = 0;
      const e = g.entries[at].out;
      for (const o of outputs) {
        o.set(e.subarray(off, off + o.length));
        off += o.length;
      }
    },
  };
}

function runInit(o: RecordStandInOptions): BackendInit {
  return {
    model: o.model,
    kvSeqLen: o.mode !== "prefill" ? o.kvSeqLen : undefined,
    prefillSeqLen: o.mode !== "kv" ? o.prefillSeqLen : undefined,
  };
}

const parityRun = (o: RecordStandInOptions, candidate: Backend) =>
  runParity({
    model: o.model,
    reference: createReferenceBackend(runInit(o)),
    candidate,
    mode: o.mode,
    kvUpdater: o.kvUpdater,
    kvSeqLen: o.kvSeqLen,
    prefillSeqLen: o.prefillSeqLen,
    promptTokens: o.promptTokens,
    steps: o.steps,
    tolerance: defaultTolerance("reference"),
  });

/** Pass 1: the ranges of every output over the calls of the run (reference against itself). */
async function observeRanges(o: RecordStandInOptions): Promise<StandInEncodings> {
  const c = o.model.config;
  const NLH = c.nLayers * c.nKvHeads;
  let lo = Infinity;
  let hi = -Infinity;
  const kMax = new Float64Array(NLH);
  const vMax = new Float64Array(NLH);
  const see = (logits: Float32Array, kOut: Float32Array[], vOut: Float32Array[]) => {
    for (const x of logits) {
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    kOut.forEach((a, i) => a.forEach((x) => (kMax[i] = Math.max(kMax[i], Math.abs(x)))));
    vOut.forEach((a, i) => a.forEach((x) => (vMax[i] = Math.max(vMax[i], Math.abs(x)))));
  };
  const inner = createReferenceBackend(runInit(o));
  const observer: Backend = {
    ...inner,
    name: "observer",
    async executeKv(i, out) {
      await inner.executeKv(i, out);
      see(out.logits, out.kOut, out.vOut);
    },
    async executePrefill(i, out) {
      await inner.executePrefill(i, out);
      see(out.logits, out.kOut, out.vOut);
    },
  };
  await parityRun(o, observer);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new Error("stand-in recorder: no finite logits observed");
  return { logits: logitsEncoding(lo, hi), k: [...kMax].map(kvEncoding), v: [...vMax].map(kvEncoding), mask: MASK_SCALE_OFFSET };
}

/** Records the stand-in binary of a run (see the header); deterministic for the same options. */
export async function recordStandIn(o: RecordStandInOptions): Promise<StandInRecording> {
  const c = o.model.config;
  const V = c.vocabSize;
  const n = o.promptTokens.length;
  const f = o.fault;
  if (f && (!Number.isInteger(f.fromStep) || f.fromStep < 0)) throw new RangeError(`stand-in recorder: fault step ${f.fromStep} must be an integer >= 0`);
  const init = runInit(o);
  const encodings = await observeRanges(o);
  const graphs = standInGraphs(o.model, init, encodings);

  // Which calls are faulty: KV calls from the position of step fromStep on; prefill calls in hybrid mode when
  // fromStep is 0, in prefill mode from the fromStep-th new prefill key on (lock-step calls come first).
  const firstFaultPos = !f ? Infinity : o.mode === "kv" ? f.fromStep : o.mode === "hybrid" ? (f.fromStep === 0 ? 0 : n + f.fromStep - 1) : Infinity;
  const prefillFaulty = (miss: number) => !!f && (o.mode === "hybrid" ? f.fromStep === 0 : miss >= f.fromStep);

  let pendingKv: KvGraphInputs | undefined;
  let pendingPrefill: PrefillGraphInputs | undefined;
  const kvRef = init.kvSeqLen !== undefined ? createKvGraph(o.model, init.kvSeqLen) : undefined;
  const prefillRef = init.prefillSeqLen !== undefined ? createPrefillGraph(o.model, init.prefillSeqLen) : undefined;
  const store = (g: StandInGraph, tensors: Float32Array[], outs: Uint8Array[]) => tensors.forEach((t, i) => quantizeInto(t, g.outputs[i], outs[i]));

  const kvTable = graphs.kv
    ? tableGraph(graphs.kv, (outs) => {
        const inp = pendingKv!;
        const r = kvForward(kvRef!, inp, allocKvOutputs(c));
        store(graphs.kv!, [r.logits, ...r.kOut, ...r.vOut], outs);
        if (f && inp.inputPos[0] >= firstFaultPos) applyFault(f.kind, outs, encodings, V);
      })
    : undefined;
  const prefillTable = graphs.prefill
    ? tableGraph(graphs.prefill, (outs, miss) => {
        const r = prefillForward(prefillRef!, pendingPrefill!, allocPrefillOutputs(c, init.prefillSeqLen!));
        store(graphs.prefill!, [r.logits, ...r.kOut, ...r.vOut], outs);
        if (f && prefillFaulty(miss)) applyFault(f.kind, outs, encodings, V);
      })
    : undefined;
  const core = createQnnBackendFromGraphs(init, { kv: kvTable, prefill: prefillTable }, { where: "stand-in recorder" });
  const simulated: Backend = {
    ...core,
    async executeKv(inputs, outputs) {
      pendingKv = inputs;
      try {
        await core.executeKv(inputs, outputs);
      } finally {
        pendingKv = undefined;
      }
    },
    async executePrefill(inputs, outputs) {
      pendingPrefill = inputs;
      try {
        await core.executePrefill(inputs, outputs);
      } finally {
        pendingPrefill = undefined;
      }
    },
  };
  await parityRun(o, simulated);
  const list = [graphs.prefill, graphs.kv].filter((g): g is StandInGraph & { kind: "TABLE" } => g !== undefined);
  return { binary: writeStandInBinary({ socModel: o.socModel ?? 0, graphs: list }), graphs, encodings };
}
