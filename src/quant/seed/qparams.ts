// Owns the seed observers' qparams arithmetic and the folded weight codes (SPEC §7.1), step for step as torch
// computes them in fp32 (torch.ao.quantization.observer._calculate_qparams; quantized_decomposed
// quantize_per_tensor / quantize_per_channel as convert_pt2e folds them):
// - affine:    lo = min(xmin, 0), hi = max(xmax, 0), s = max(fp32(fp32(hi - lo) / (qmax - qmin)), eps),
//              zp = clamp(qmin - round_half_even(fp32(lo / s)), qmin, qmax);
// - symmetric: amax = max(-lo, hi), s = max(fp32(amax / ((qmax - qmin) / 2)), eps); zp = 128 for uint8 without an
//              explicit range, (qmin + qmax) // 2 with one, 0 for signed dtypes (per-channel weights: s_c = amax_c / qmax);
// - codes:     q = clamp(round_half_even(fp32(x · fp32(1 / s))) + zp, qmin, qmax).
// Every intermediate is a float64 operation on fp32 values rounded once with Math.fround, which is the
// correctly rounded fp32 result torch's fp32 tensor arithmetic gives for a single +, -, /, ·.
import { roundHalfEven } from "../affine.js";
import { effectiveRange, type QSpec } from "./qspecs.js";

const fround = Math.fround;

export interface QParams {
  scale: number;
  zeroPoint: number;
  quantMin: number;
  quantMax: number;
  /** True when eps raised the scale (the observed range alone gives a smaller one). */
  epsClamped?: boolean;
}

const clamp = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);

/** Zero point of a symmetric spec (torch: uint8 -> 128, or the range midpoint when customized; signed -> 0). */
function symmetricZeroPoint(s: QSpec, qmin: number, qmax: number): number {
  if (s.dtype !== "uint8") return 0;
  return s.quantMin !== null && s.quantMax !== null ? Math.floor((qmin + qmax) / 2) : 128;
}

/** MinMaxObserver.calculate_qparams for a per-tensor spec over an observed [min, max]. */
export function minMaxQParams(s: QSpec, min: number, max: number): QParams {
  const [qmin, qmax] = effectiveRange(s);
  if (!(min <= max)) return { scale: 1, zeroPoint: 0, quantMin: qmin, quantMax: qmax }; // never observed
  const eps = fround(s.eps!);
  const lo = Math.min(fround(min), 0);
  const hi = Math.max(fround(max), 0);
  if (s.qscheme === "per_tensor_symmetric" || s.qscheme === "per_channel_symmetric") {
    const raw = fround(Math.max(-lo, hi) / ((qmax - qmin) / 2));
    const scale = Math.max(raw, eps);
    return { scale, zeroPoint: symmetricZeroPoint(s, qmin, qmax), quantMin: qmin, quantMax: qmax, epsClamped: raw < eps };
  }
  const raw = fround(fround(hi - lo) / (qmax - qmin));
  const scale = Math.max(raw, eps);
  const zeroPoint = clamp(qmin - roundHalfEven(fround(lo / scale)), qmin, qmax);
  return { scale, zeroPoint, quantMin: qmin, quantMax: qmax, epsClamped: raw < eps };
}

/** FixedQParamsObserver.calculate_qparams: its fp32 scale and zero point. */
export function fixedQParams(s: QSpec): QParams {
  const [qmin, qmax] = effectiveRange(s);
  return { scale: fround(s.fixed!.scale), zeroPoint: s.fixed!.zeroPoint, quantMin: qmin, quantMax: qmax };
}

/** PerChannelMinMaxObserver.calculate_qparams (symmetric, axis 0): one scale per channel, zp 0 for signed codes. */
export function perChannelQParams(s: QSpec, mins: ArrayLike<number>, maxs: ArrayLike<number>): { scales: number[]; zeroPoints: number[]; quantMin: number; quantMax: number } {
  const scales: number[] = [];
  const zeroPoints: number[] = [];
  let range: [number, number] = effectiveRange(s);
  for (let c = 0; c < mins.length; c++) {
    const q = minMaxQParams(s, mins[c], maxs[c]);
    scales.push(q.scale);
    zeroPoints.push(q.zeroPoint);
    range = [q.quantMin, q.quantMax];
  }
  return { scales, zeroPoints, quantMin: range[0], quantMax: range[1] };
}

/** One code: clamp(round_half_even(fp32(x · fp32(1/s))) + zp, qmin, qmax). */
export function quantizeValue(x: number, scale: number, zeroPoint: number, qmin: number, qmax: number): number {
  return clamp(roundHalfEven(fround(x * fround(1 / scale))) + zeroPoint, qmin, qmax);
}

/** quantize_per_tensor over an array (codes as numbers). */
export function quantizePerTensor(xs: ArrayLike<number>, q: QParams): number[] {
  const out = new Array<number>(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = quantizeValue(xs[i], q.scale, q.zeroPoint, q.quantMin, q.quantMax);
  return out;
}

/** quantize_per_channel along axis 0 of a row-major [channels, rest] array. */
export function quantizePerChannel(
  xs: ArrayLike<number>,
  scales: readonly number[],
  zeroPoints: readonly number[],
  qmin: number,
  qmax: number,
): number[] {
  const per = xs.length / scales.length;
  const out = new Array<number>(xs.length);
  for (let c = 0; c < scales.length; c++)
    for (let i = c * per; i < (c + 1) * per; i++) out[i] = quantizeValue(xs[i], scales[c], zeroPoints[c], qmin, qmax);
  return out;
}

/** The encoding range a (scale, zp, qmin, qmax) covers: [fp32((qmin - zp)·s), fp32((qmax - zp)·s)]. */
export function encodingRange(q: QParams): [number, number] {
  return [fround((q.quantMin - q.zeroPoint) * q.scale), fround((q.quantMax - q.zeroPoint) * q.scale)];
}

/** QNN bitwidth of a code range (node_visitor.py: a range of 15 or less is 4-bit). */
export function bitwidthOf(qmin: number, qmax: number): 4 | 8 | 16 {
  const r = qmax - qmin;
  return r <= 15 ? 4 : r <= 255 ? 8 : 16;
}
