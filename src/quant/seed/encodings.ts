// Owns the plain-data result of a seed `--ptq` calibration (SPEC §7): from the calibrated observers of one
// graph, every group's qparams; the activation encoding of every node output with an observer, of the graph
// inputs and constant tables (the group of their first annotated consumer edge), and of every re-quantized edge
// (`producer->consumer`, an input edge whose group is not its producer's output group); and every weight's
// encoding with its integer codes as convert_pt2e folds them. Names and fields follow the shared reference
// (test/fixtures/README.md): min/max are the encoding's range (qmin - zp)·s .. (qmax - zp)·s, offset = -zp.
import type { SeedGraph } from "./node-graph.js";
import type { ObserverGroup, SeedObservers } from "./observers.js";
import {
  bitwidthOf,
  encodingRange,
  fixedQParams,
  minMaxQParams,
  perChannelQParams,
  quantizePerChannel,
  quantizePerTensor,
  type QParams,
} from "./qparams.js";
import { edgeEnds, isEdge, schemeConfigs, type OutputQuantAttrs, type QSpec, type SeedScheme } from "./qspecs.js";

/** Storage type of codes: QNN's view of the spec (int32 0..65535 is uint16; int8 -7..7 is int4). */
export type CodeDtype = "uint8" | "uint16" | "int8" | "int4";

export interface SeedActivationEncoding {
  bitwidth: 8 | 16;
  dtype: "uint8" | "uint16";
  isSymmetric: boolean;
  scale: number;
  zeroPoint: number;
  /** QNN offset, -zeroPoint. */
  offset: number;
  /** Encoding range (qmin - zp)·s and (qmax - zp)·s, fp32. */
  min: number;
  max: number;
  group: number;
}

export interface SeedGroupEncoding extends Omit<SeedActivationEncoding, "group" | "dtype" | "bitwidth"> {
  id: number;
  spec: string;
  specSource: string;
  observer: QSpec["observer"];
  qscheme: QSpec["qscheme"];
  dtype: CodeDtype;
  bitwidth: 4 | 8 | 16;
  quantMin: number;
  quantMax: number;
  /** Observer eps (null for fixed qparams). */
  eps: number | null;
  /** The observer's running range (null for fixed qparams). */
  observedMin: number | null;
  observedMax: number | null;
  epsClamped: boolean;
  /** First member in annotation order (the member whose spec built the observer). */
  firstMember: string;
  members: string[];
}

export interface SeedWeightEncoding {
  group: number;
  spec: string;
  observer: QSpec["observer"];
  qscheme: QSpec["qscheme"];
  dtype: CodeDtype;
  bitwidth: 4 | 8 | 16;
  quantMin: number;
  quantMax: number;
  isSymmetric: boolean;
  eps: number | null;
  encoding: "per_channel(axis 0)" | "per_tensor";
  /** OIHW for 1×1 convs. */
  shape: number[];
  /** One per output channel for per-channel weights, else one value. */
  scale: number[] | number;
  zeroPoint: number[] | number;
  offset: number[] | number;
  /** Integer codes, one per element (int4 codes one per byte, as int8). */
  codes: Int8Array | Uint8Array | Uint16Array;
  /** Little-endian element type of `codes`: "<i1", "<u1" or "<u2". */
  codesDtype: "<i1" | "<u1" | "<u2";
  /** Per-tensor weights: the encoding range (qmin - zp)·s .. (qmax - zp)·s and the observed range. */
  min?: number;
  max?: number;
  observedMin?: number;
  observedMax?: number;
}

export interface SeedEncodings {
  scheme: SeedScheme;
  mode: SeedGraph["mode"];
  /** By tensor name (node output, graph input, constant table) and by re-quantized edge `producer->consumer`. */
  activations: Record<string, SeedActivationEncoding>;
  /** Activation observer groups by id (weight-only groups are in `weights`). */
  groups: Record<number, SeedGroupEncoding>;
  /** Group of every node output, graph input and constant table with an activation encoding. */
  tensorToGroup: Record<string, number>;
  /** Edges quantized in another group than their producer's output (fromGroup null: the producer has none). */
  edgeRequant: Record<string, { group: number; fromGroup: number | null }>;
  /** Every parameter's encoding and codes (16a4w_block: without the per-block conv weights). */
  weights: Record<string, SeedWeightEncoding>;
  /** Calibration calls the observers saw. */
  calls: number;
}

/** QNN's storage type of a spec. */
export function codeDtype(s: QSpec, qmin: number, qmax: number): CodeDtype {
  if (qmin >= 0) return qmax > 255 ? "uint16" : "uint8";
  return bitwidthOf(qmin, qmax) === 4 ? "int4" : "int8";
}

const isSym = (s: QSpec): boolean => s.qscheme === "per_tensor_symmetric" || s.qscheme === "per_channel_symmetric";

/** The qparams a per-tensor observer group computes. */
export function groupQParams(grp: ObserverGroup): QParams {
  return grp.spec.observer === "FixedQParamsObserver" ? fixedQParams(grp.spec) : minMaxQParams(grp.spec, grp.min, grp.max);
}

function groupEncoding(grp: ObserverGroup): SeedGroupEncoding {
  const q = groupQParams(grp);
  const [min, max] = encodingRange(q);
  const fixed = grp.spec.observer === "FixedQParamsObserver";
  return {
    id: grp.id,
    spec: grp.spec.id,
    specSource: grp.spec.source,
    observer: grp.spec.observer,
    qscheme: grp.spec.qscheme,
    dtype: codeDtype(grp.spec, q.quantMin, q.quantMax),
    bitwidth: bitwidthOf(q.quantMin, q.quantMax),
    quantMin: q.quantMin,
    quantMax: q.quantMax,
    isSymmetric: isSym(grp.spec),
    eps: grp.spec.eps,
    scale: q.scale,
    zeroPoint: q.zeroPoint,
    offset: -q.zeroPoint + 0,
    observedMin: fixed ? null : grp.min,
    observedMax: fixed ? null : grp.max,
    epsClamped: q.epsClamped ?? false,
    min,
    max,
    firstMember: grp.members[0],
    members: [...grp.members],
  };
}

function activationOf(e: SeedGroupEncoding): SeedActivationEncoding {
  if (e.dtype !== "uint8" && e.dtype !== "uint16") throw new Error(`group ${e.id}: activation with ${e.dtype} codes`);
  return {
    bitwidth: e.bitwidth as 8 | 16,
    dtype: e.dtype,
    isSymmetric: e.isSymmetric,
    scale: e.scale,
    zeroPoint: e.zeroPoint,
    offset: e.offset,
    min: e.min,
    max: e.max,
    group: e.id,
  };
}

function codesArray(dt: CodeDtype, codes: number[]): [Int8Array | Uint8Array | Uint16Array, "<i1" | "<u1" | "<u2"] {
  if (dt === "uint16") return [Uint16Array.from(codes), "<u2"];
  if (dt === "uint8") return [Uint8Array.from(codes), "<u1"];
  return [Int8Array.from(codes), "<i1"];
}

/** Encoding and codes of a parameter from its group (per-channel weight observer, or a per-tensor activation spec). */
function weightEncoding(g: SeedGraph, name: string, grp: ObserverGroup): SeedWeightEncoding {
  const v = g.byName.get(name)!.value!;
  const s = grp.spec;
  const base = { group: grp.id, spec: s.id, observer: s.observer, qscheme: s.qscheme, isSymmetric: isSym(s), eps: s.eps, shape: [...v.shape] };
  if (grp.channelMin) {
    const q = perChannelQParams(s, grp.channelMin, grp.channelMax!);
    const dt = codeDtype(s, q.quantMin, q.quantMax);
    const [codes, codesDtype] = codesArray(dt, quantizePerChannel(v.data, q.scales, q.zeroPoints, q.quantMin, q.quantMax));
    return {
      ...base, dtype: dt, bitwidth: bitwidthOf(q.quantMin, q.quantMax), quantMin: q.quantMin, quantMax: q.quantMax,
      encoding: "per_channel(axis 0)", scale: q.scales, zeroPoint: q.zeroPoints, offset: q.zeroPoints.map((z) => -z + 0), codes, codesDtype,
    }; // prettier-ignore
  }
  const q = groupQParams(grp);
  const dt = codeDtype(s, q.quantMin, q.quantMax);
  const [codes, codesDtype] = codesArray(dt, quantizePerTensor(v.data, q));
  const [min, max] = encodingRange(q);
  return {
    ...base, dtype: dt, bitwidth: bitwidthOf(q.quantMin, q.quantMax), quantMin: q.quantMin, quantMax: q.quantMax,
    encoding: "per_tensor", scale: q.scale, zeroPoint: q.zeroPoint, offset: -q.zeroPoint + 0, codes, codesDtype,
    min, max, observedMin: grp.min, observedMax: grp.max,
  }; // prettier-ignore
}

/** Group of a graph input or constant: that of its first annotated consumer edge. */
function inputGroup(obs: SeedObservers, name: string): number | undefined {
  for (const u of obs.graph.users.get(name) ?? []) {
    const id = obs.groupOf.get(`${name}->${u}`);
    if (id !== undefined) return id;
  }
  return undefined;
}

/** Builds the encodings of one calibrated graph. */
export function seedEncodings(obs: SeedObservers, scheme: SeedScheme): SeedEncodings {
  const g = obs.graph;
  const groups: Record<number, SeedGroupEncoding> = {};
  for (const grp of obs.groups) if (!grp.isWeight) groups[grp.id] = groupEncoding(grp);
  const activations: Record<string, SeedActivationEncoding> = {};
  const tensorToGroup: Record<string, number> = {};
  const edgeRequant: Record<string, { group: number; fromGroup: number | null }> = {};
  const weights: Record<string, SeedWeightEncoding> = {};
  for (const n of g.nodes) {
    if (n.op === "param") {
      const id = obs.groupOf.get(`${n.name}->${g.users.get(n.name)![0]}`);
      // 16a4w_block's conv weights of the scheme's own int4 spec are per block (SPEC §7.7; quantized-graph.ts
      // computes them); the V convs (8a4w) and the stories LM head (16a8w) keep their per-channel weights.
      const perBlock = scheme === "16a4w_block" && id !== undefined && obs.groups[id].spec.id === schemeConfigs(scheme).perChannel.weight.id;
      if (id !== undefined && !perBlock) weights[n.name] = weightEncoding(g, n.name, obs.groups[id]);
      continue;
    }
    const id = n.op === "placeholder" || n.op === "constant" ? inputGroup(obs, n.name) : obs.groupOf.get(n.name);
    if (id !== undefined && groups[id]) {
      activations[n.name] = activationOf(groups[id]);
      tensorToGroup[n.name] = id;
    }
  }
  for (const [key, id] of obs.groupOf) {
    if (!isEdge(key) || !groups[id]) continue;
    const from = obs.groupOf.get(edgeEnds(key)[0]);
    if (from === id) continue;
    activations[key] = activationOf(groups[id]);
    edgeRequant[key] = { group: id, fromGroup: from ?? null };
  }
  return { scheme, mode: g.mode, activations, groups, tensorToGroup, edgeRequant, weights, calls: obs.calls };
}

/** The dequantize parameters of each graph output (logits, new K..., new V...), as hybrid mode hands them on. */
export function outputQuantAttrs(obs: SeedObservers): OutputQuantAttrs[] {
  return obs.graph.outputNames.map((name) => {
    const grp = obs.groups[obs.groupOf.get(name)!];
    const q = groupQParams(grp);
    return { scale: q.scale, zeroPoint: q.zeroPoint, quantMin: q.quantMin, quantMax: q.quantMax, dtype: grp.spec.dtype };
  });
}
