// Owns the current flow's integer arithmetic (`--quant_arithmetic integer`, the default): the quantized graph's
// convs and attention matmuls as the NPU computes them, the seed graph's rule (src/quant/seed/quantized-graph.ts):
// - operands are the integer codes of their encodings, centred on the zero point (every operand here is already on
//   its encoding's grid, so its code is exact);
// - a conv sums Σ_j (q_x,j − z_x)·w_rj exactly — per channel with the int4 / int8 codes, LPBQ as
//   Σ_b m_rb·Σ_{j∈b} (q_x,j − z_x)·w_rj — and requantizes with the float64 multiplier M_r = s_x·s_r / s_y (s_r: the
//   channel scale s_c, or S_c for LPBQ): q_y = clamp(round_half_even(acc·M_r) + z_y), value fp32((q_y − z_y)·s_y);
// - q·k and softmax·V the same way on (q, K) and (p, V) codes, M = s_a·s_b / s_out.
// Sums are exact in float64 (every product below 2^31, every sum below 2^53: checked); accumulators reaching 2^31 (an
// int32 accumulator would wrap) are counted. QNN's fixed-point multiplier and shift are not public: float64 with
// round-half-even is the documented stand-in, as in the seed graph.
import type { QuantEncoding } from "../affine.js";
import { roundHalfEven } from "../affine.js";
import { quantizeAct } from "./activations.js";
import type { ConvWeights } from "./weights.js";
import type { KvView } from "../../engine/attention.js";

export type CurrentArithmetic = "integer" | "fake";
export const CURRENT_ARITHMETICS: readonly CurrentArithmetic[] = ["integer", "fake"];

/** Accumulator statistics, over every call of a backend. */
export interface IntegerStats {
  int32Overflows: number;
  maxAccumulator: number;
}

const MAX_EXACT = 2 ** 53;
const INT32 = 2 ** 31;
const fround = Math.fround;

export function track(stats: IntegerStats, acc: number): void {
  const a = Math.abs(acc);
  if (a > stats.maxAccumulator) stats.maxAccumulator = a;
  if (a >= INT32) stats.int32Overflows++;
  if (a >= MAX_EXACT) throw new Error("integer accumulation exceeded 2^53");
}

/** The value of the output code of an accumulator under multiplier m and encoding e (also the fast path's). */
export function requantized(acc: number, m: number, e: QuantEncoding): number {
  let q = roundHalfEven(acc * m) + e.zeroPoint;
  if (q < e.qmin) q = e.qmin;
  else if (q > e.qmax) q = e.qmax;
  return fround((q - e.zeroPoint) * e.scale);
}

/** Centred codes q − zp of values on e's grid. */
export function centredCodes(x: ArrayLike<number>, e: QuantEncoding, start = 0, end = x.length): Int32Array {
  const out = new Int32Array(end - start);
  for (let i = start; i < end; i++) out[i - start] = quantizeAct(x[i], e) - e.zeroPoint;
  return out;
}

/** y[t, r] for t < T rows of x [T, cols] (values on eIn's grid) times the conv's codes; outputs on eOut's grid. */
export function integerConvRows(y: Float32Array, w: ConvWeights, x: Float32Array, T: number, eIn: QuantEncoding, eOut: QuantEncoding, stats: IntegerStats): void {
  const { rows, cols, codes } = w;
  const xc = centredCodes(x, eIn, 0, T * cols);
  const block = w.spec.kind === "lpbq" ? w.spec.blockSize : cols;
  const nb = cols / block;
  for (let r = 0; r < rows; r++) {
    const m = (eIn.scale * w.channelScales[r]) / eOut.scale;
    for (let t = 0; t < T; t++) {
      const xo = t * cols;
      const wo = r * cols;
      let acc = 0;
      if (!w.multipliers) {
        for (let i = 0; i < cols; i++) acc += xc[xo + i] * codes[wo + i];
      } else {
        for (let b = 0; b < nb; b++) {
          let part = 0;
          for (let i = b * block; i < (b + 1) * block; i++) part += xc[xo + i] * codes[wo + i];
          acc += part * w.multipliers[r * nb + b];
        }
      }
      track(stats, acc);
      y[t * rows + r] = requantized(acc, m, eOut);
    }
  }
}

/** The encodings of one layer's attention matmuls. */
export interface AttentionIntegerEncodings {
  /** q as attention reads it (q_rope, or q_r3 with R3), K and V (the layer's cache encodings). */
  q: QuantEncoding;
  k: QuantEncoding;
  v: QuantEncoding;
  /** q·k's output, the softmax output (the second matmul's left operand) and the attention output. */
  qk: QuantEncoding;
  softmax: QuantEncoding;
  attn: QuantEncoding;
}

/** scores[c] = q·k_c on codes for one query row (qOff) and the key columns c < cols of a view; on e.qk's grid. */
export function integerScores(q: Float32Array, qOff: number, hd: number, view: KvView, cols: number, scores: Float32Array, e: AttentionIntegerEncodings, stats: IntegerStats): void {
  const qc = centredCodes(q, e.q, qOff, qOff + hd);
  const m = (e.q.scale * e.k.scale) / e.qk.scale;
  for (let c = 0; c < cols; c++) {
    const kc = view.kOff + c * view.kColStride;
    let acc = 0;
    for (let d = 0; d < hd; d++) acc += qc[d] * (quantizeAct(view.kData[kc + d * view.kRowStride], e.k) - e.k.zeroPoint);
    track(stats, acc);
    scores[c] = requantized(acc, m, e.qk);
  }
}

/** y[yOff + d] = Σ_c p_c·V[c][d] on codes (p on e.softmax's grid); outputs on e.attn's grid. */
export function integerProbsTimesV(p: Float32Array, cols: number, hd: number, view: KvView, y: Float32Array, yOff: number, e: AttentionIntegerEncodings, stats: IntegerStats): void {
  const pc = centredCodes(p, e.softmax, 0, cols);
  const m = (e.softmax.scale * e.v.scale) / e.attn.scale;
  const { vData, vOff, vRowStride } = view;
  for (let d = 0; d < hd; d++) {
    let acc = 0;
    for (let c = 0; c < cols; c++) acc += pc[c] * (quantizeAct(vData[vOff + c * vRowStride + d], e.v) - e.v.zeroPoint);
    track(stats, acc);
    y[yOff + d] = requantized(acc, m, e.attn);
  }
}
