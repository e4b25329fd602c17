// Owns the current flow's activation encodings (SPEC-2026 §10.1): MinMax observers' qparams from an observed
// range, and quantize / dequantize / fake-quantize of activation arrays, in torch's fp32 arithmetic (the seed's
// src/quant/seed/qparams.ts style, whose minMaxQParams formulas these are):
// - affine (uint8 / uint16): lo = min(min, 0), hi = max(max, 0), s = max(fp32(fp32(hi - lo) / (qmax - qmin)),
//   fp32(eps)), zp = clamp(qmin - round_half_even(fp32(lo / s)), qmin, qmax);
// - symmetric uint8 without a custom range (annotate_kv_8bit's K/V, 8a4w's act_symmetric): s = max(fp32(amax /
//   127.5), fp32(eps)), zp = 128 (torch's default symmetric zero point for uint8);
// - codes: q = clamp(round_half_even(fp32(x · fp32(1 / s))) + zp, qmin, qmax); values: fp32((q - zp) · s).
// Encodings use src/quant/affine.ts's QuantEncoding record (offset = -zp, QNN's convention).
import type { QuantEncoding } from "../affine.js";
import { quantizeValue } from "../seed/qparams.js";
import { roundHalfEven } from "../affine.js";
import type { ActSpec } from "./recipe.js";

const fround = Math.fround;

/** An observed [min, max] (empty: min > max). */
export interface Range {
  min: number;
  max: number;
}

export const emptyRange = (): Range => ({ min: Infinity, max: -Infinity });

/** Widens `r` by the values of `x` (NaN is an error: an observer would record it). */
export function observe(r: Range, x: ArrayLike<number>, start = 0, end = x.length): void {
  let lo = r.min;
  let hi = r.max;
  for (let i = start; i < end; i++) {
    const v = x[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    if (v !== v) throw new RangeError(`observed a NaN at element ${i}`);
  }
  r.min = lo;
  r.max = hi;
}

/** The MinMax observer's encoding of an observed range under `spec` (an empty range observes nothing: [0, 0]). */
export function actEncoding(spec: ActSpec, r: Range): QuantEncoding {
  const min = r.min <= r.max ? fround(r.min) : 0;
  const max = r.min <= r.max ? fround(r.max) : 0;
  const eps = fround(spec.eps);
  const qmax = 2 ** spec.bits - 1;
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  if (spec.symmetric) {
    if (spec.bits !== 8) throw new RangeError("symmetric activations are uint8 here");
    const scale = Math.max(fround(Math.max(-lo, hi) / (qmax / 2)), eps);
    return { scale, zeroPoint: 128, offset: -128, qmin: 0, qmax, bitwidth: 8, signed: false, symmetric: true };
  }
  const scale = Math.max(fround(fround(hi - lo) / qmax), eps);
  const zp = Math.min(qmax, Math.max(0, 0 - roundHalfEven(fround(lo / scale))));
  return { scale, zeroPoint: zp, offset: -zp + 0, qmin: 0, qmax, bitwidth: spec.bits, signed: false, symmetric: false };
}

/** One code of an activation. */
export const quantizeAct = (x: number, e: QuantEncoding): number => quantizeValue(x, e.scale, e.zeroPoint, e.qmin, e.qmax);

/** One value of a code: fp32((q - zp) · s). */
export const dequantizeAct = (q: number, e: QuantEncoding): number => fround((q - e.zeroPoint) * e.scale);

/** Quantize → dequantize in place (what a q/dq pair does to a tensor). */
export function fakeQuantInPlace(x: Float32Array, e: QuantEncoding, start = 0, end = x.length): void {
  const inv = fround(1 / e.scale);
  const { scale, zeroPoint: zp, qmin, qmax } = e;
  for (let i = start; i < end; i++) {
    let q = roundHalfEven(fround(x[i] * inv)) + zp;
    if (q < qmin) q = qmin;
    else if (q > qmax) q = qmax;
    else if (q !== q) throw new RangeError(`fake quantization of a NaN at element ${i}`);
    x[i] = fround((q - zp) * scale);
  }
}

/** A fake-quantized copy. */
export function fakeQuant(x: Float32Array, e: QuantEncoding): Float32Array {
  const y = x.slice();
  fakeQuantInPlace(y, e);
  return y;
}

/** Codes of a float array into a uint8 / uint16 array. */
export function quantizeInto(x: ArrayLike<number>, e: QuantEncoding, out: Uint8Array | Uint16Array): void {
  if (out.length !== x.length) throw new RangeError(`${x.length} values into ${out.length} codes`);
  for (let i = 0; i < x.length; i++) out[i] = quantizeAct(x[i], e);
}

/** Values of a code array into a float array. */
export function dequantizeInto(q: ArrayLike<number>, e: QuantEncoding, out: Float32Array): void {
  if (out.length !== q.length) throw new RangeError(`${q.length} codes into ${out.length} values`);
  for (let i = 0; i < q.length; i++) out[i] = dequantizeAct(q[i], e);
}
