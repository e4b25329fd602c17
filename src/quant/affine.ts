// Owns the scalar quantization arithmetic of SPEC §7: round half to even, the per-tensor affine activation
// encoding, the symmetric weight encoding, and quantize / dequantize of numbers and arrays.
//
// Arithmetic (one definition, used everywhere in src/quant):
// - Formulas (ranges, divisions, the zero point, x / s) are evaluated in float64.
// - A scale is *stored* as fp32 (`Math.fround`), as the device (QNN Qnn_ScaleOffset_t.scale is a float) and
//   the seed's torch observers (fp32 scale tensors) hold it. For a symmetric scale amax / qmax with amax an
//   fp32 value the float64 quotient rounded once to fp32 is exactly torch's fp32 division (double rounding is
//   innocuous for a single division: 53 >= 2*24 + 2). The zero point and every code are computed from the
//   stored fp32 scale, as torch computes the zero point from its fp32 scale tensor.
// - Dequantization (q - zp) * s is exact in float64 (a <= 33-bit integer times a 24-bit mantissa) and then
//   rounded to fp32 once, which is the fp32 product the device computes.
// - eps: the seed's observers are built by ExecuTorch's Qualcomm qconfig with `extra_args = {"eps": 2**-12}`
//   (get_ptq_per_channel_quant_config / get_ptq_per_block_quant_config, the configs of the llama flow's
//   per-channel and per-block weights and of their activations); the older per-tensor 16-bit configs use
//   2**-20 and torch's own default is torch.finfo(torch.float32).eps = 2**-23. DEFAULT_EPS is 2**-12; every
//   function takes an `eps` override.
// - Round half to even is torch.round's rule (the seed's observers: zp = qmin - torch.round(min / scale)).

/** The eps of the seed's per-channel / per-block qconfigs (ExecuTorch backends/qualcomm qconfig, 2**-12). */
export const DEFAULT_EPS = 2 ** -12;
/** torch.finfo(torch.float32).eps, torch.ao observers' default eps. */
export const TORCH_F32_EPS = 2 ** -23;

/** A scale/zero-point encoding of one tensor (or one channel): real = (q - zeroPoint) * scale. */
export interface QuantEncoding {
  /** fp32-representable scale (already rounded with Math.fround). */
  scale: number;
  zeroPoint: number;
  /** QNN's offset: -zeroPoint (QNN dequantizes (q + offset) * scale). */
  offset: number;
  qmin: number;
  qmax: number;
  bitwidth: number;
  /** True for signed code types (int4/int8/int16 weights), false for uint8/uint16. */
  signed: boolean;
  symmetric: boolean;
}

/** Rounds to the nearest integer, ties to the even one (torch.round / numpy.round). -0 becomes 0; NaN stays NaN. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // ties toward +Infinity
  // r - x is exact here (Sterbenz for |x| >= 1; trivially for |x| < 1), so a tie is detected exactly.
  const v = r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
  return v + 0; // normalizes -0
}

const clamp = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);

function checkBits(bits: number, where: string): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > 32) throw new RangeError(`${where}: bitwidth ${bits} is not an integer in 1..32`);
}

function checkEps(eps: number, where: string): void {
  if (!(eps > 0) || !Number.isFinite(eps)) throw new RangeError(`${where}: eps ${eps} must be a positive finite number`);
}

/**
 * Unsigned per-tensor affine encoding of an observed range [xmin, xmax] (SPEC §7, torch MinMaxObserver
 * per_tensor_affine with quant_min 0, quant_max 2^bits - 1):
 *   lo = min(xmin, 0), hi = max(xmax, 0), s = fp32(max((hi - lo) / (qmax - qmin), eps)),
 *   zp = clamp(qmin - round_half_even(lo / s), qmin, qmax), offset = -zp.
 * Worked example: xmin -1, xmax 3, 8 bits: s = fp32(4/255), lo/s = -63.75, zp = 64, offset = -64.
 */
export function activationEncoding(xmin: number, xmax: number, bits: number, eps: number = DEFAULT_EPS): QuantEncoding {
  checkBits(bits, "activationEncoding");
  checkEps(eps, "activationEncoding");
  if (!Number.isFinite(xmin) || !Number.isFinite(xmax)) throw new RangeError(`activationEncoding: range [${xmin}, ${xmax}] is not finite`);
  if (xmin > xmax) throw new RangeError(`activationEncoding: min ${xmin} > max ${xmax}`);
  const qmin = 0;
  const qmax = 2 ** bits - 1;
  const lo = Math.min(xmin, 0);
  const hi = Math.max(xmax, 0);
  const scale = Math.fround(Math.max((hi - lo) / (qmax - qmin), eps));
  const zeroPoint = clamp(qmin - roundHalfEven(lo / scale), qmin, qmax);
  return { scale, zeroPoint, offset: -zeroPoint + 0, qmin, qmax, bitwidth: bits, signed: false, symmetric: false };
}

export interface SymmetricOptions {
  /** Signed codes [-qmax, qmax] with zp 0 (weights), or unsigned [0, 2^bits - 1] with zp 2^(bits-1) (K/V). */
  signed: boolean;
  /** Largest code of a signed encoding; default 2^(bits-1) - 1 (the narrow range: int4 7, int8 127, int16 32767). */
  qmax?: number;
  eps?: number;
}

/**
 * Symmetric encoding of a range [-amax, amax] (SPEC §7, torch per_*_symmetric):
 * - signed: s = fp32(max(amax / qmax, eps)), zp 0, codes [-qmax, qmax]
 *   (torch: amax / ((quant_max - quant_min) / 2) with quant_min = -quant_max);
 * - unsigned: codes [0, 2^bits - 1], s = fp32(max(amax / ((2^bits - 1) / 2), eps)), zp = 2^(bits-1)
 *   (torch's default symmetric zero point 128 for quint8: the seed's 8-bit K/V).
 */
export function symmetricEncoding(amax: number, bits: number, opts: SymmetricOptions): QuantEncoding {
  checkBits(bits, "symmetricEncoding");
  const eps = opts.eps ?? DEFAULT_EPS;
  checkEps(eps, "symmetricEncoding");
  if (!Number.isFinite(amax) || amax < 0) throw new RangeError(`symmetricEncoding: amax ${amax} is not a finite non-negative number`);
  if (opts.signed) {
    const qmax = opts.qmax ?? 2 ** (bits - 1) - 1;
    if (!Number.isInteger(qmax) || qmax < 1 || qmax > 2 ** (bits - 1) - 1)
      throw new RangeError(`symmetricEncoding: qmax ${qmax} does not fit a signed ${bits}-bit code`);
    const scale = Math.fround(Math.max(amax / qmax, eps));
    return { scale, zeroPoint: 0, offset: 0, qmin: -qmax, qmax, bitwidth: bits, signed: true, symmetric: true };
  }
  if (opts.qmax !== undefined) throw new RangeError("symmetricEncoding: qmax applies to signed encodings only");
  const qmax = 2 ** bits - 1;
  const zeroPoint = 2 ** (bits - 1);
  const scale = Math.fround(Math.max(amax / (qmax / 2), eps));
  return { scale, zeroPoint, offset: -zeroPoint, qmin: 0, qmax, bitwidth: bits, signed: false, symmetric: true };
}

/** q = clamp(round_half_even(x / s) + zp, qmin, qmax), x / s in float64. NaN is an error. */
export function quantize(x: number, enc: QuantEncoding): number {
  const q = roundHalfEven(x / enc.scale) + enc.zeroPoint;
  if (Number.isNaN(q)) throw new RangeError(`quantize: ${x} is not a number`);
  return clamp(q, enc.qmin, enc.qmax);
}

/** fp32((q - zp) * s); the float64 product is exact, so this is the device's fp32 product. */
export function dequantize(q: number, enc: QuantEncoding): number {
  return Math.fround((q - enc.zeroPoint) * enc.scale);
}

/** quantize over an array; codes in an Int32Array (enough for signed codes up to 32 bits and unsigned up to 31). */
export function quantizeArray(xs: ArrayLike<number>, enc: QuantEncoding): Int32Array {
  const out = new Int32Array(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = quantize(xs[i], enc);
  return out;
}

/** dequantize over an array, as fp32. */
export function dequantizeArray(qs: ArrayLike<number>, enc: QuantEncoding): Float32Array {
  const out = new Float32Array(qs.length);
  for (let i = 0; i < qs.length; i++) out[i] = (qs[i] - enc.zeroPoint) * enc.scale;
  return out;
}

/** min and max of an array (NaN is an error); [0, 0] for an empty array. */
export function minMax(xs: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i];
    if (Number.isNaN(v)) throw new RangeError(`minMax: element ${i} is NaN`);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return xs.length === 0 ? [0, 0] : [lo, hi];
}
