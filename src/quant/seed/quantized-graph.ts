// Owns the quantized execution of a calibrated seed node graph (SPEC §7): the graph convert_pt2e makes of it,
// with a quantize -> dequantize pair at every observer and the weights folded to their codes, evaluated in one
// of two arithmetics:
// - "fake" (the oracle): every op runs in fp32 on dequantized values (torch's CPU kernels of tensor-math.ts),
//   and each annotated tensor is quantized and dequantized with its encoding where convert_pt2e puts the pair:
//   after every node with an output observer, and on every input edge whose observer group is not its
//   producer's (a re-quantized edge, SPEC §7.2), parameters and constant tables included;
// - "integer" (the default, what the NPU computes): the same graph, but every conv2d and matmul multiplies the
//   integer codes of its inputs and accumulates them exactly, Σ (q_x − z_x)·(q_w − z_w), and requantizes the
//   accumulator to its output encoding: q = clamp(round_half_even(acc · M) + z_out, qmin, qmax) with
//   M = s_x·s_w / s_out in float64. LPBQ (16a4w_block) weights accumulate per block and scale each block
//   accumulator by its integer multiplier m_cb before the channel scale S_c. The other ops (RMSNorm, softmax,
//   sigmoid, elementwise mul/add/sub, division, RoPE, data moves) run as in "fake": QNN's internal arithmetic
//   for them is not public, and their output is re-quantized to the same encodings either way.
// The integer accumulators are exact: every product is below 2^32 and every sum below 2^53 (checked), so a
// JavaScript number holds them without rounding. A sum that would not fit an int32 (the HTP accumulator) is
// counted in `int32Overflows` rather than wrapped, so a report can say where the device would overflow.
// The requantization multiplier and its rounding are this project's choice (documented in docs/quantization.md):
// QNN's fixed-point multiplier and shift are not public; float64 with round-half-to-even makes the integer path
// differ from the oracle only by the fp32 accumulation error of the latter.
import { roundHalfEven } from "../affine.js";
import { quantizeWeightBlockwise, type BlockwiseWeights } from "../weights.js";
import { groupQParams } from "./encodings.js";
import { placeholderValue, type SeedGraph, type SeedNode, type SeedValues } from "./node-graph.js";
import type { SeedObservers } from "./observers.js";
import { perChannelQParams, quantizeValue, type QParams } from "./qparams.js";
import { edgeKey, schemeConfigs, type SeedScheme } from "./qspecs.js";
import { permute, type Tensor } from "./tensor.js";

export type SeedArithmetic = "integer" | "fake";
export const SEED_ARITHMETICS: readonly SeedArithmetic[] = ["integer", "fake"];

/** A conv weight as integer codes: per output channel (scale per row) or LPBQ blocks. */
export type IntegerWeight =
  | { kind: "per_channel"; codes: Int32Array; rows: number; cols: number; scales: Float64Array }
  | { kind: "per_block"; codes: Int32Array; rows: number; cols: number; blockSize: number; multipliers: Uint8Array; channelScales: Float64Array };

export interface SeedQuantGraph {
  graph: SeedGraph;
  scheme: SeedScheme;
  /** Encoding of every node output with an observer, of graph inputs and of constant tables (by name). */
  out: Map<string, QParams>;
  /** Observer group of each entry of `out` (equal groups mean equal grids). */
  outGroup: Map<string, number>;
  /** Re-quantized input edges `producer->consumer` (their own observer group). */
  edge: Map<string, QParams>;
  edgeGroup: Map<string, number>;
  /** Parameters and constant tables as the device holds them: dequantized codes. */
  params: Map<string, Tensor>;
  /** Conv weights as integer codes (the integer arithmetic's operands). */
  convWeights: Map<string, IntegerWeight>;
  /** 16a4w_block: block length of the per-block conv weights. */
  blockSize?: number;
}

export interface SeedQuantGraphOptions {
  /** 16a4w_block's block length (`--group_size`); default 64 (the block size of e6c7b30c). */
  blockSize?: number;
}

const fround = Math.fround;

/** fp32 dequantize: fp32((q − zp)·s), as quantized_decomposed.dequantize_per_tensor. */
const dequantizeValue = (q: number, e: QParams): number => fround((q - e.zeroPoint) * e.scale);

/** quantize -> dequantize of a whole tensor (a new tensor). */
export function fakeQuantize(t: Tensor, e: QParams): Tensor {
  const d = t.data;
  const out = new Float32Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = dequantizeValue(quantizeValue(d[i], e.scale, e.zeroPoint, e.quantMin, e.quantMax), e);
  return { shape: t.shape, data: out };
}

/** Codes of a tensor under an encoding, minus the zero point (exact integers for values on its grid). */
function centredCodes(d: Float32Array, e: QParams): Int32Array {
  const out = new Int32Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = quantizeValue(d[i], e.scale, e.zeroPoint, e.quantMin, e.quantMax) - e.zeroPoint;
  return out;
}

/** The codes of a tensor under an encoding (for the graph's output bytes). */
export function tensorCodes(d: Float32Array, e: QParams, into: { [i: number]: number; length: number }): void {
  for (let i = 0; i < d.length; i++) into[i] = quantizeValue(d[i], e.scale, e.zeroPoint, e.quantMin, e.quantMax);
}

/** Codes -> fp32 values under an encoding. */
export function dequantizeCodes(codes: ArrayLike<number>, e: QParams): Float32Array {
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = dequantizeValue(codes[i], e);
  return out;
}

/** Whether an op only moves values (its output equals some input values, so re-quantizing onto the same grid is a no-op). */
const MOVES = new Set<SeedNode["op"]>(["reshape", "transpose", "permute", "unsqueeze", "squeeze", "slice", "select", "index", "cat", "embedding"]);

/** Per-block conv weights for 16a4w_block (SPEC §7.7 at b743cc1e / HEAD): codes against the unquantized block scale. */
function perBlockWeight(w: Tensor, blockSize: number, eps: number): { weight: IntegerWeight; dequantized: Float32Array } | undefined {
  const [rows, cols] = w.shape;
  if (cols % blockSize !== 0) return undefined;
  const q: BlockwiseWeights = quantizeWeightBlockwise(w.data, rows, cols, { blockSize, qmax: 7, eps, codeScale: "block" });
  const dequantized = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let b = 0; b < q.nBlocks; b++) {
      const s = fround(q.multipliers[r * q.nBlocks + b] * q.channelScales[r]);
      for (let i = r * cols + b * blockSize; i < r * cols + (b + 1) * blockSize; i++) dequantized[i] = fround(q.codes[i] * s);
    }
  return {
    weight: { kind: "per_block", codes: Int32Array.from(q.codes), rows, cols, blockSize, multipliers: q.multipliers, channelScales: Float64Array.from(q.channelScales) },
    dequantized,
  };
}

/**
 * The converted graph of a calibrated seed graph: encodings of every q/dq point and the weights' codes. Under
 * 16a4w_block the convs carrying the scheme's own int4 per-channel spec become per-block (LPBQ); the V convs
 * (8a4w, annotate_matmul_16a8w) and the LM head (16a8w, stories) keep their per-channel weights, as later
 * upstream does. A conv whose input width the block size does not divide keeps its per-channel weights.
 */
export function seedQuantGraph(obs: SeedObservers, scheme: SeedScheme, opts: SeedQuantGraphOptions = {}): SeedQuantGraph {
  const g = obs.graph;
  const blockSize = scheme === "16a4w_block" ? (opts.blockSize ?? 64) : undefined;
  if (blockSize !== undefined && (!Number.isInteger(blockSize) || blockSize < 1)) throw new RangeError(`block size must be a positive integer, got ${blockSize}`);
  const blockSpec = schemeConfigs(scheme).perChannel.weight.id;
  const qpOf = (id: number): QParams => groupQParams(obs.groups[id]);
  const out = new Map<string, QParams>();
  const outGroup = new Map<string, number>();
  const edge = new Map<string, QParams>();
  const edgeGroup = new Map<string, number>();
  const params = new Map<string, Tensor>();
  const convWeights = new Map<string, IntegerWeight>();
  const firstEdgeGroup = (name: string): number | undefined => {
    for (const u of g.users.get(name) ?? []) {
      const id = obs.groupOf.get(edgeKey(name, u));
      if (id !== undefined) return id;
    }
    return undefined;
  };
  for (const n of g.nodes) {
    if (n.op === "param") continue;
    const id = n.op === "placeholder" || n.op === "constant" ? firstEdgeGroup(n.name) : obs.groupOf.get(n.name);
    if (id === undefined || obs.groups[id].isWeight) continue;
    out.set(n.name, qpOf(id));
    outGroup.set(n.name, id);
  }
  for (const n of g.nodes)
    for (const p of new Set(n.inputs)) {
      const k = edgeKey(p, n.name);
      const id = obs.groupOf.get(k);
      if (id === undefined || g.byName.get(p)!.op === "param") continue;
      if (outGroup.get(p) === id) continue;
      edge.set(k, qpOf(id));
      edgeGroup.set(k, id);
    }
  // Constant tables (RoPE cos/sin) are quantized once with their encoding (the q/dq pair convert_pt2e puts on
  // their edge; the tables are not inputs of a call).
  for (const n of g.nodes) if (n.op === "constant" && out.has(n.name)) params.set(n.name, fakeQuantize(n.value!, out.get(n.name)!));
  for (const n of g.nodes) {
    if (n.op !== "param") continue;
    const user = g.users.get(n.name)![0];
    const id = obs.groupOf.get(edgeKey(n.name, user));
    const v = n.value!;
    if (id === undefined) {
      params.set(n.name, v);
      continue;
    }
    const grp = obs.groups[id];
    if (grp.channelMin) {
      const rows = v.shape[0];
      const cols = v.data.length / rows;
      const w2 = { shape: [rows, cols], data: v.data };
      const block = blockSize !== undefined && grp.spec.id === blockSpec ? perBlockWeight(w2, blockSize, grp.spec.eps!) : undefined;
      if (block) {
        params.set(n.name, { shape: v.shape, data: block.dequantized });
        convWeights.set(user, block.weight);
        continue;
      }
      const q = perChannelQParams(grp.spec, grp.channelMin, grp.channelMax!);
      const scales = Float64Array.from(q.scales);
      const zps = q.zeroPoints;
      const codes = new Int32Array(v.data.length);
      const deq = new Float32Array(v.data.length);
      for (let r = 0; r < rows; r++)
        for (let i = r * cols; i < (r + 1) * cols; i++) {
          const c = quantizeValue(v.data[i], scales[r], zps[r], q.quantMin, q.quantMax);
          codes[i] = c - zps[r];
          deq[i] = fround((c - zps[r]) * scales[r]);
        }
      params.set(n.name, { shape: v.shape, data: deq });
      convWeights.set(user, { kind: "per_channel", codes, rows, cols, scales });
      continue;
    }
    // Per-tensor parameters (RMSNorm weights, the embedding table): quantize -> dequantize with their encoding.
    params.set(n.name, fakeQuantize(v, qpOf(id)));
  }
  return { graph: g, scheme, out, outGroup, edge, edgeGroup, params, convWeights, blockSize };
}

/** Integer accumulation statistics of one call. */
export interface IntegerStats {
  /** Accumulator sums whose magnitude reached 2^31 (an int32 accumulator would wrap). */
  int32Overflows: number;
  /** Largest |accumulator| seen. */
  maxAccumulator: number;
}

const MAX_EXACT = 2 ** 53;
const INT32 = 2 ** 31;

function outputCode(acc: number, m: number, e: QParams): number {
  const q = roundHalfEven(acc * m) + e.zeroPoint;
  return q < e.quantMin ? e.quantMin : q > e.quantMax ? e.quantMax : q;
}

function track(stats: IntegerStats, acc: number): void {
  const a = Math.abs(acc);
  if (a > stats.maxAccumulator) stats.maxAccumulator = a;
  if (a >= INT32) stats.int32Overflows++;
  if (a >= MAX_EXACT) throw new Error("integer accumulation exceeded 2^53");
}

/** conv2d 1×1 on codes: x [1, C, H, W] (its encoding ex), weight codes [O, C]; output values on eo's grid. */
function integerConv(x: Tensor, ex: QParams, w: IntegerWeight, eo: QParams, stats: IntegerStats): Tensor {
  const [, c, h, wd] = x.shape;
  const hw = h * wd;
  if (w.cols !== c) throw new RangeError(`integer conv: weight [${w.rows}, ${w.cols}] for ${c} input channels`);
  const xc = centredCodes(hw === 1 ? x.data : permute({ shape: [c, hw], data: x.data }, [1, 0]).data, ex);
  const out = new Float32Array(w.rows * hw);
  for (let r = 0; r < w.rows; r++) {
    const m = w.kind === "per_channel" ? (ex.scale * w.scales[r]) / eo.scale : (ex.scale * w.channelScales[r]) / eo.scale;
    for (let p = 0; p < hw; p++) {
      let acc = 0;
      if (w.kind === "per_channel") {
        for (let i = 0; i < c; i++) acc += xc[p * c + i] * w.codes[r * c + i];
      } else {
        const nb = c / w.blockSize;
        for (let b = 0; b < nb; b++) {
          let blockAcc = 0;
          for (let i = b * w.blockSize; i < (b + 1) * w.blockSize; i++) blockAcc += xc[p * c + i] * w.codes[r * c + i];
          acc += blockAcc * w.multipliers[r * nb + b];
        }
      }
      track(stats, acc);
      out[r * hw + p] = dequantizeValue(outputCode(acc, m, eo), eo);
    }
  }
  return { shape: [1, w.rows, h, wd], data: out };
}

/** a [..., M, K] @ b [..., K, N] on codes (encodings ea, eb); output values on eo's grid. */
function integerMatmul(a: Tensor, ea: QParams, b: Tensor, eb: QParams, eo: QParams, stats: IntegerStats): Tensor {
  const ra = a.shape.length;
  const [mm, k] = a.shape.slice(ra - 2);
  const n = b.shape[b.shape.length - 1];
  const lead = a.shape.slice(0, ra - 2);
  const batch = lead.reduce((x, y) => x * y, 1);
  const ac = centredCodes(a.data, ea);
  const bc = centredCodes(b.data, eb);
  const mult = (ea.scale * eb.scale) / eo.scale;
  const out = new Float32Array(batch * mm * n);
  for (let bt = 0; bt < batch; bt++)
    for (let i = 0; i < mm; i++)
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let t = 0; t < k; t++) acc += ac[bt * mm * k + i * k + t] * bc[bt * k * n + t * n + j];
        track(stats, acc);
        out[bt * mm * n + i * n + j] = dequantizeValue(outputCode(acc, mult, eo), eo);
      }
  return { shape: [...lead, mm, n], data: out };
}

/**
 * Runs the converted graph on placeholder values `feeds` (fp32 values; the device's input codes dequantized).
 * Returns every node's value (on its encoding's grid where it has one) and the integer statistics.
 */
export function runSeedQuantGraph(
  q: SeedQuantGraph,
  feeds: ReadonlyMap<string, Tensor>,
  arithmetic: SeedArithmetic = "integer",
): { values: SeedValues; stats: IntegerStats } {
  const g = q.graph;
  const values: SeedValues = new Map();
  const stats: IntegerStats = { int32Overflows: 0, maxAccumulator: 0 };
  const inputOf = (p: string, n: string): Tensor => {
    const e = q.edge.get(edgeKey(p, n));
    const v = values.get(p)!;
    return e ? fakeQuantize(v, e) : v;
  };
  const encodingOfInput = (p: string, n: string): QParams | undefined => q.edge.get(edgeKey(p, n)) ?? q.out.get(p);
  for (const nd of g.nodes) {
    if (nd.op === "placeholder") {
      const e = q.out.get(nd.name);
      const t = placeholderValue(g, nd, feeds);
      values.set(nd.name, e && nd.dtype === "float32" ? fakeQuantize(t, e) : t);
      continue;
    }
    if (nd.op === "param") {
      values.set(nd.name, q.params.get(nd.name)!);
      continue;
    }
    if (nd.op === "constant") {
      values.set(nd.name, q.params.get(nd.name) ?? nd.value!);
      continue;
    }
    const eo = q.out.get(nd.name);
    let v: Tensor | undefined;
    if (arithmetic === "integer" && eo && nd.op === "conv2d") {
      const w = q.convWeights.get(nd.name);
      const ex = encodingOfInput(nd.inputs[0], nd.name);
      if (w && ex) v = integerConv(inputOf(nd.inputs[0], nd.name), ex, w, eo, stats);
    } else if (arithmetic === "integer" && eo && nd.op === "matmul") {
      const ea = encodingOfInput(nd.inputs[0], nd.name);
      const eb = encodingOfInput(nd.inputs[1], nd.name);
      if (ea && eb) v = integerMatmul(inputOf(nd.inputs[0], nd.name), ea, inputOf(nd.inputs[1], nd.name), eb, eo, stats);
    }
    if (!v) {
      const r = nd.evaluate!(nd.inputs.map((p) => inputOf(p, nd.name)));
      const sameGrid = MOVES.has(nd.op) && nd.inputs.every((p) => (q.edgeGroup.get(edgeKey(p, nd.name)) ?? q.outGroup.get(p)) === q.outGroup.get(nd.name));
      v = eo && !sameGrid ? fakeQuantize(r, eo) : r;
    }
    values.set(nd.name, v);
  }
  return { values, stats };
}
