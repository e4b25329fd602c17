// Owns the quantization of weight matrices (row-major [out, in] Float32Array, see src/engine/weights.ts):
// symmetric per-output-channel int4/int8/int16 and the int4 blockwise "LPBQ" form of 16a4w_block (SPEC §7),
// with their dequantization. Arithmetic conventions (float64 formulas, fp32-stored scales, eps) are those
// documented at the top of affine.ts.
//
// LPBQ (low-power blockwise quantization), as ExecuTorch's Qualcomm backend hands it to QNN
// (backends/qualcomm/builders/node_visitor.py make_qnn_per_block_config; AIMET's LPBQ export uses the same
// rule, grouped_dynamic_quantize in its QNN encoding export): per output channel c the fp32 block scales
// f_cb are expressed as a per-channel fp32 scale S_c = max_b(f_cb) / 2^4 times an integer multiplier
// m_cb = clamp(round_half_even(f_cb / S_c), 1, 16), stored with QNN_BLOCKWISE_EXPANSION (block scale
// bitwidth 4, offset 0). The device dequantizes w = code * m_cb * S_c.
import { DEFAULT_EPS, roundHalfEven } from "./affine.js";

export type WeightBits = 4 | 8 | 16;

/** The default (narrow, symmetric) code range of a signed weight type: int4 7, int8 127, int16 32767. */
export function defaultQmax(bits: WeightBits): number {
  return 2 ** (bits - 1) - 1;
}

export interface PerChannelOptions {
  bits: WeightBits;
  /** Largest code; default defaultQmax(bits). Codes span [-qmax, qmax]. */
  qmax?: number;
  eps?: number;
}

export interface PerChannelWeights {
  /** Codes, row-major [rows, cols]: Int8Array for 4- and 8-bit, Int16Array for 16-bit. */
  codes: Int8Array | Int16Array;
  /** One fp32 scale per row (output channel); zero point 0. */
  scales: Float32Array;
  rows: number;
  cols: number;
  bits: WeightBits;
  qmax: number;
}

function checkShape(w: Float32Array, rows: number, cols: number, where: string): void {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1 || w.length !== rows * cols)
    throw new RangeError(`${where}: ${w.length} elements do not form a [${rows}, ${cols}] matrix`);
}

function rowAbsMax(w: Float32Array, start: number, end: number, where: string): number {
  let m = 0;
  for (let i = start; i < end; i++) {
    const v = w[i];
    if (!Number.isFinite(v)) throw new RangeError(`${where}: weight element ${i} is ${v}`);
    const a = Math.abs(v);
    if (a > m) m = a;
  }
  return m;
}

/**
 * Symmetric per-output-channel quantization: s_c = fp32(max(amax_c / qmax, eps)),
 * code = clamp(round_half_even(w / s_c), -qmax, qmax) with w / s_c in float64.
 */
export function quantizeWeightPerChannel(w: Float32Array, rows: number, cols: number, opts: PerChannelOptions): PerChannelWeights {
  const where = "quantizeWeightPerChannel";
  checkShape(w, rows, cols, where);
  const bits = opts.bits;
  if (bits !== 4 && bits !== 8 && bits !== 16) throw new RangeError(`${where}: bits ${bits} is not 4, 8 or 16`);
  const qmax = opts.qmax ?? defaultQmax(bits);
  if (!Number.isInteger(qmax) || qmax < 1 || qmax > defaultQmax(bits)) throw new RangeError(`${where}: qmax ${qmax} does not fit int${bits}`);
  const eps = opts.eps ?? DEFAULT_EPS;
  const codes = bits === 16 ? new Int16Array(rows * cols) : new Int8Array(rows * cols);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    const s = Math.fround(Math.max(rowAbsMax(w, base, base + cols, where) / qmax, eps));
    scales[r] = s;
    for (let i = base; i < base + cols; i++) {
      const q = roundHalfEven(w[i] / s);
      codes[i] = q > qmax ? qmax : q < -qmax ? -qmax : q;
    }
  }
  return { codes, scales, rows, cols, bits, qmax };
}

/** fp32 codes * scale, row-major [rows, cols]. */
export function dequantizeWeightPerChannel(q: PerChannelWeights): Float32Array {
  const out = new Float32Array(q.rows * q.cols);
  for (let r = 0; r < q.rows; r++) {
    const s = q.scales[r];
    for (let i = r * q.cols; i < (r + 1) * q.cols; i++) out[i] = q.codes[i] * s;
  }
  return out;
}

/** LPBQ multipliers are 4-bit: 2^4 steps of S_c (ExecuTorch / AIMET: bitwidth_of_scale = 4). */
export const LPBQ_SCALE_BITS = 4;
export const LPBQ_STEPS = 2 ** LPBQ_SCALE_BITS;

export interface BlockwiseOptions {
  /** Block length along the input axis (SPEC §7: 64, later 32). Must divide cols. */
  blockSize: number;
  /** Largest code; default 7 (int4 [-7, 7]). */
  qmax?: number;
  eps?: number;
  /**
   * Which scale the codes are rounded against:
   * - "expanded" (default): the scale the device dequantizes with, m_cb * S_c (this module's definition of
   *   16a4w_block, so code * m_cb * S_c is the nearest grid point the device can represent);
   * - "block": the unquantized fp32 block scale f_cb, as the seed's torchao quantize_affine does when it
   *   folds the weights before the backend re-expresses the scales (the codes then are not recomputed).
   */
  codeScale?: "expanded" | "block";
}

export interface BlockwiseWeights {
  /** int4 codes in [-qmax, qmax], row-major [rows, cols]. */
  codes: Int8Array;
  /** S_c = fp32(max_b f_cb / 16), one per row. */
  channelScales: Float32Array;
  /** m_cb in 1..16, row-major [rows, nBlocks]. */
  multipliers: Uint8Array;
  /** f_cb = fp32(max(amax_cb / qmax, eps)), row-major [rows, nBlocks] (kept for diagnostics and "block" codes). */
  blockScales: Float32Array;
  rows: number;
  cols: number;
  blockSize: number;
  nBlocks: number;
  qmax: number;
}

/**
 * 16a4w_block / LPBQ. For row c and block b (columns [b*B, (b+1)*B)):
 *   f_cb = fp32(max(amax_cb / qmax, eps))            (the seed's PerBlockParamObserver, symmetric, qmax 7)
 *   S_c  = fp32(max_b(f_cb) / 16)                    (ExecuTorch make_qnn_per_block_config: amax / num_steps)
 *   m_cb = clamp(round_half_even(f_cb / S_c), 1, 16) (ditto: torch.clamp(torch.round(...), 1, 2**4))
 *   code = clamp(round_half_even(w / (m_cb * S_c)), -qmax, qmax)   (codeScale "expanded"; m_cb * S_c is
 *          exact in float64 and is not itself rounded to fp32, since it is never stored)
 * m_cb reaches 16 exactly for the block(s) holding the row maximum; 16 does not fit an unsigned 4-bit field,
 * which is why QNN stores the multipliers in 8-bit containers (QNN_BLOCKWISE_EXPANSION_BITWIDTH_SCALE_STORAGE_8).
 */
export function quantizeWeightBlockwise(w: Float32Array, rows: number, cols: number, opts: BlockwiseOptions): BlockwiseWeights {
  const where = "quantizeWeightBlockwise";
  checkShape(w, rows, cols, where);
  const B = opts.blockSize;
  if (!Number.isInteger(B) || B < 1 || cols % B !== 0) throw new RangeError(`${where}: block size ${B} does not divide ${cols} columns`);
  const qmax = opts.qmax ?? 7;
  if (!Number.isInteger(qmax) || qmax < 1 || qmax > 7) throw new RangeError(`${where}: qmax ${qmax} does not fit int4`);
  const eps = opts.eps ?? DEFAULT_EPS;
  const useBlock = (opts.codeScale ?? "expanded") === "block";
  const nBlocks = cols / B;
  const codes = new Int8Array(rows * cols);
  const channelScales = new Float32Array(rows);
  const multipliers = new Uint8Array(rows * nBlocks);
  const blockScales = new Float32Array(rows * nBlocks);
  for (let r = 0; r < rows; r++) {
    let fmax = 0;
    for (let b = 0; b < nBlocks; b++) {
      const start = r * cols + b * B;
      const f = Math.fround(Math.max(rowAbsMax(w, start, start + B, where) / qmax, eps));
      blockScales[r * nBlocks + b] = f;
      if (f > fmax) fmax = f;
    }
    const S = Math.fround(fmax / LPBQ_STEPS);
    channelScales[r] = S;
    for (let b = 0; b < nBlocks; b++) {
      const f = blockScales[r * nBlocks + b];
      const m = Math.min(LPBQ_STEPS, Math.max(1, roundHalfEven(f / S)));
      multipliers[r * nBlocks + b] = m;
      const s = useBlock ? f : m * S;
      const start = r * cols + b * B;
      for (let i = start; i < start + B; i++) {
        const q = roundHalfEven(w[i] / s);
        codes[i] = q > qmax ? qmax : q < -qmax ? -qmax : q;
      }
    }
  }
  return { codes, channelScales, multipliers, blockScales, rows, cols, blockSize: B, nBlocks, qmax };
}

/** What the device computes: fp32(code * m_cb * S_c), row-major [rows, cols]. */
export function dequantizeWeightBlockwise(q: BlockwiseWeights): Float32Array {
  const out = new Float32Array(q.rows * q.cols);
  for (let r = 0; r < q.rows; r++) {
    for (let b = 0; b < q.nBlocks; b++) {
      const s = q.multipliers[r * q.nBlocks + b] * q.channelScales[r];
      const start = r * q.cols + b * q.blockSize;
      for (let i = start; i < start + q.blockSize; i++) out[i] = q.codes[i] * s;
    }
  }
  return out;
}
