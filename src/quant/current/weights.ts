// Owns the current flow's conv weights (SPEC-2026 §10.1): the weight observers' scales (per channel, or per block
// of a conv's input channels), the int4 / int8 codes convert_pt2e folds, LPBQ's re-expression of block scales at
// lowering, and the device's dequantized weights. Weights are row-major [rows = output channels, cols = inputs].
//
// Arithmetic, as torch computes it in fp32 (every operation rounded once with Math.fround, round half to even),
// in the style of src/quant/seed/qparams.ts:
// - observer scale of a group g (a row, or a block of B columns of a row), symmetric, codes [-qmax, qmax]:
//     s_g = max(fp32(amax_g / qmax), fp32(eps))          (amax / ((qmax - (-qmax)) / 2); PerChannelMinMaxObserver,
//   and torchao choose_qparams_affine_with_min_max for PerBlockParamObserver, per_block_param_observer.py:76-93)
//   with eps = DEFAULT_EPS_16BIT = 1e-4/65535 for every conv weight (qconfig.py:614, 697: the per-channel and
//   per-block configs default to it whatever the activation width; constants.py:62-63);
// - codes: q = clamp(round_half_even(fp32(w · fp32(1 / s_g))), -qmax, qmax) (quantize_per_channel /
//   torchao quantize_affine as convert_pt2e folds them);
// - per channel, the device weight is fp32(q · s_c);
// - LPBQ (backends/qualcomm/builders/node_visitor.py:179-246, make_qnn_per_block_config): per row
//   S_c = fp32(max_b s_cb / 16), m_cb = clamp(round_half_even(fp32(s_cb / S_c)), 1, 16) (uint8 storage, 4-bit
//   scale); the codes stay those computed against s_cb ("params should have been quantized by framework"), so the
//   device weight is q · m_cb · S_c, exact in float64 and rounded once to fp32;
// - SeqMSE's multiplier m (src/quant/current/seq-mse.ts) scales every observer scale first: s_g' = fp32(s_g · m)
//   (RemoveSeqMse, backends/qualcomm/_passes/seq_mse.py:215-222), then codes and LPBQ as above.
// An all-zero group gets s_g = fp32(eps) and codes 0.
import { roundHalfEven } from "../affine.js";

const fround = Math.fround;

/** DEFAULT_EPS_16BIT (backends/qualcomm/utils/constants.py:63). */
export const EPS_16BIT = 1e-4 / 65535;
/** DEFAULT_EPS_8BIT (constants.py:62). */
export const EPS_8BIT = 1e-4 / 255;

/** LPBQ's block-scale width (PerBlockParamObserver.bitwidth_of_scale = 4; num_steps 16). */
export const LPBQ_STEPS = 16;

export type WeightSpec = { kind: "per_channel"; bits: 4 | 8; qmax: number } | { kind: "lpbq"; blockSize: number; qmax: number };

/** Columns per scale group: the whole row (per channel) or the block. */
export const groupLength = (spec: WeightSpec, cols: number): number => (spec.kind === "lpbq" ? spec.blockSize : cols);

function checkShape(w: Float32Array, rows: number, cols: number, group: number): void {
  if (w.length !== rows * cols) throw new RangeError(`weight of ${w.length} elements is not [${rows}, ${cols}]`);
  if (!Number.isInteger(group) || group < 1 || cols % group !== 0) throw new RangeError(`group of ${group} columns does not divide ${cols}`);
}

/** The observer's scales, one per (row, group) in row-major order: s = max(fp32(amax / qmax), fp32(eps)). */
export function observerScales(w: Float32Array, rows: number, cols: number, group: number, qmax: number, eps: number = EPS_16BIT): Float32Array {
  checkShape(w, rows, cols, group);
  const per = cols / group;
  const out = new Float32Array(rows * per);
  const e = fround(eps);
  for (let r = 0; r < rows; r++)
    for (let g = 0; g < per; g++) {
      let amax = 0;
      const start = r * cols + g * group;
      for (let i = start; i < start + group; i++) {
        const a = Math.abs(w[i]);
        if (!(a <= amax)) {
          if (Number.isNaN(a) || a === Infinity) throw new RangeError(`weight element ${i} is ${w[i]}`);
          amax = a;
        }
      }
      out[r * per + g] = Math.max(fround(amax / qmax), e);
    }
  return out;
}

/** Every scale times SeqMSE's step, in fp32 (`scale * step` of a float32 tensor). */
export function scaleByStep(scales: Float32Array, step: number): Float32Array {
  if (step === 1) return scales.slice();
  return scales.map((s) => fround(s * step));
}

/** One code: clamp(round_half_even(fp32(x · inv)), -qmax, qmax) with inv = fp32(1/s) (seed qparams' quantizeValue, zp 0). */
function code(x: number, inv: number, qmax: number): number {
  const v = fround(x * inv);
  let q = Math.round(v);
  if (q - v === 0.5 && (q & 1) !== 0) q -= 1; // ties to even (|v| < 2^31 here: |x| <= qmax·s, up to rounding)
  return q > qmax ? qmax : q < -qmax ? -qmax : q + 0;
}

/** Codes against per-group scales: clamp(round_half_even(fp32(w · fp32(1/s))), -qmax, qmax). */
export function weightCodes(w: Float32Array, rows: number, cols: number, scales: Float32Array, group: number, qmax: number): Int8Array {
  checkShape(w, rows, cols, group);
  if (qmax > 127) throw new RangeError(`qmax ${qmax} does not fit int8`);
  const per = cols / group;
  const codes = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let g = 0; g < per; g++) {
      const inv = fround(1 / scales[r * per + g]);
      const start = r * cols + g * group;
      for (let i = start; i < start + group; i++) codes[i] = code(w[i], inv, qmax);
    }
  return codes;
}

/** Fake quantization with per-group scales: fp32(code · s) (torch.fake_quantize_per_channel_affine, _fake_quantize_affine). */
export function fakeQuantWeight(w: Float32Array, rows: number, cols: number, scales: Float32Array, group: number, qmax: number, out?: Float32Array): Float32Array {
  checkShape(w, rows, cols, group);
  const per = cols / group;
  const y = out ?? new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let g = 0; g < per; g++) {
      const s = scales[r * per + g];
      const inv = fround(1 / s);
      const start = r * cols + g * group;
      for (let i = start; i < start + group; i++) y[i] = fround(code(w[i], inv, qmax) * s);
    }
  return y;
}

export interface LpbqScales {
  /** S_c = fp32(max_b s_cb / 16), one per row. */
  channelScales: Float32Array;
  /** m_cb in 1..16, row-major [rows, nBlocks]. */
  multipliers: Uint8Array;
}

/** node_visitor.py make_qnn_per_block_config: S_c and the 4-bit multipliers m_cb of block scales [rows, nBlocks]. */
export function lpbqScales(blockScales: Float32Array, rows: number, nBlocks: number): LpbqScales {
  if (blockScales.length !== rows * nBlocks) throw new RangeError(`${blockScales.length} block scales are not [${rows}, ${nBlocks}]`);
  const channelScales = new Float32Array(rows);
  const multipliers = new Uint8Array(rows * nBlocks);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let b = 0; b < nBlocks; b++) max = Math.max(max, blockScales[r * nBlocks + b]);
    const S = fround(max / LPBQ_STEPS);
    channelScales[r] = S;
    for (let b = 0; b < nBlocks; b++) {
      const m = roundHalfEven(fround(blockScales[r * nBlocks + b] / S));
      multipliers[r * nBlocks + b] = Math.min(LPBQ_STEPS, Math.max(1, m));
    }
  }
  return { channelScales, multipliers };
}

/** A conv's quantized weight as the device holds it. */
export interface ConvWeights {
  spec: WeightSpec;
  rows: number;
  cols: number;
  /** int4 / int8 codes, row-major [rows, cols]. */
  codes: Int8Array;
  /** The scales the codes were computed against (after SeqMSE), one per (row, group): s_c, or s_cb for LPBQ. */
  groupScales: Float32Array;
  /** Per channel: s_c (= groupScales); LPBQ: S_c. */
  channelScales: Float32Array;
  /** LPBQ: m_cb, row-major [rows, nBlocks]. */
  multipliers?: Uint8Array;
  /** SeqMSE's scale multiplier (1 without SeqMSE). */
  step: number;
  /**
   * What the device computes with: fp32(q · s_c), or fp32(q · m_cb · S_c). Computed on first use (the fake-quant
   * arithmetic, reports, tests) and kept: the integer arithmetic never reads it, so no fp32 copy of the weights is
   * made there (issue 18: a 1B model's copy is ~5 GB).
   */
  readonly device: Float32Array;
}

/** fp32(q · s_c) per channel, fp32(q · m_cb · S_c) for LPBQ. */
function deviceWeights(cw: Omit<ConvWeights, "device">): Float32Array {
  const { rows, cols, codes, spec } = cw;
  const device = new Float32Array(rows * cols);
  if (spec.kind === "per_channel") {
    const s = cw.groupScales;
    for (let r = 0; r < rows; r++) for (let i = r * cols; i < (r + 1) * cols; i++) device[i] = fround(codes[i] * s[r]);
    return device;
  }
  const group = groupLength(spec, cols);
  const nBlocks = cols / group;
  const m = cw.multipliers!;
  for (let r = 0; r < rows; r++)
    for (let b = 0; b < nBlocks; b++) {
      const s = m[r * nBlocks + b] * cw.channelScales[r];
      const start = r * cols + b * group;
      for (let i = start; i < start + group; i++) device[i] = fround(codes[i] * s);
    }
  return device;
}

/** `cw` with its `device` weights computed on first read (enumerable, so copies and comparisons see it). */
export function convWeightsOf(cw: Omit<ConvWeights, "device">): ConvWeights {
  let device: Float32Array | undefined;
  return Object.defineProperty(cw, "device", { enumerable: true, configurable: true, get: () => (device ??= deviceWeights(cw)) }) as ConvWeights;
}

/** Observer scales (times SeqMSE's step), codes, LPBQ scales and the device weight (lazy) of one conv. */
export function quantizeConvWeights(w: Float32Array, rows: number, cols: number, spec: WeightSpec, step = 1): ConvWeights {
  const group = groupLength(spec, cols);
  const groupScales = scaleByStep(observerScales(w, rows, cols, group, spec.qmax), step);
  const codes = weightCodes(w, rows, cols, groupScales, group, spec.qmax);
  if (spec.kind === "per_channel") return convWeightsOf({ spec, rows, cols, codes, groupScales, channelScales: groupScales, step });
  const { channelScales, multipliers } = lpbqScales(groupScales, rows, cols / group);
  return convWeightsOf({ spec, rows, cols, codes, groupScales, channelScales, multipliers, step });
}
