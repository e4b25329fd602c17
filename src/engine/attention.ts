// Owns scaled dot-product attention of one query head as the device graph computes it (SPEC §1, §3):
// scores = (q·k) / sqrt(hd), then + mask, then softmax over all key columns, then ·V. Each of the graph's
// ops (matmul, divide, add, softmax, matmul) rounds its output to fp32; sums run in ascending column/dim order.
// The masked-softmax variant (SPEC-2026 §8.1) replaces the add by a substitution of masked scores with (row min - 20).
import { softmaxInPlace } from "./kernels.js";
import type { ModelConfig } from "./config.js";

const fround = Math.fround;

/** fp32 sqrt(hd), the divisor the graph uses (`attn / head_dim**0.5`). */
export const attentionScale = (hd: number): number => fround(Math.sqrt(hd));

/** The scores' divisor of a model: fround(sqrt(hd)), or fround(sqrt(query_pre_attn_scalar)) for Gemma (src/engine/arch.ts). */
export const attentionScaleOf = (c: ModelConfig): number => attentionScale(c.arch?.queryPreAttnScalar ?? c.headDim);

/**
 * Keys and values of one KV head as strided views: key column c, dim d at kData[kOff + d*kRowStride + c*kColStride];
 * value row c, dim d at vData[vOff + c*vRowStride + d].
 */
export interface KvView {
  kData: Float32Array;
  kOff: number;
  kRowStride: number;
  kColStride: number;
  vData: Float32Array;
  vOff: number;
  vRowStride: number;
}

/** fround(q·k_c): the float64 dot product over ascending d, rounded once (the graph's matmul output). */
export function scoreDot(q: Float32Array, qOff: number, hd: number, view: KvView, c: number): number {
  const kc = view.kOff + c * view.kColStride;
  let dot = 0;
  for (let d = 0; d < hd; d++) dot += q[qOff + d] * view.kData[kc + d * view.kRowStride];
  return fround(dot);
}

/** softmax over scores[0..cols) in place, then y[yOff + d] = fround(Σ_c p_c·V[c][d]) in ascending c. */
function softmaxTimesV(scores: Float32Array, cols: number, hd: number, view: KvView, y: Float32Array, yOff: number): void {
  softmaxInPlace(scores, cols);
  probsTimesV(scores, cols, hd, view, y, yOff);
}

/** y[yOff + d] = fround(Σ_c p_c·V[c][d]) over c ascending (the graph's second matmul). */
export function probsTimesV(p: Float32Array, cols: number, hd: number, view: KvView, y: Float32Array, yOff: number): void {
  const { vData, vOff, vRowStride } = view;
  for (let d = 0; d < hd; d++) {
    let acc = 0;
    for (let c = 0; c < cols; c++) acc += p[c] * vData[vOff + c * vRowStride + d];
    y[yOff + d] = fround(acc);
  }
}

/**
 * One query head over `cols` key columns, in column order 0..cols-1, with `mask[maskOff + c]` added.
 * `scores` is scratch of length >= cols. Writes y[yOff .. yOff+hd).
 */
export function attendHead(
  q: Float32Array,
  qOff: number,
  hd: number,
  view: KvView,
  cols: number,
  mask: Float32Array,
  maskOff: number,
  scale: number,
  scores: Float32Array,
  y: Float32Array,
  yOff: number,
): void {
  for (let c = 0; c < cols; c++) scores[c] = fround(fround(scoreDot(q, qOff, hd, view, c) / scale) + mask[maskOff + c]);
  softmaxTimesV(scores, cols, hd, view, y, yOff);
}

/** The signature of one query row's attention (attendHead, attendHeadMaskedSoftmax, or a quantized variant). */
export type AttendRowFn = typeof attendHead;

/** The masked softmax's margin below the row minimum (static_llama's `minus_value`). */
export const MASKED_SOFTMAX_OFFSET = 20;

/**
 * attendHead with the masked softmax of SPEC-2026 §8.1 (static_llama's `enable_masked_softmax`): s_c = fround(
 * fround(q·k_c) / scale) over all `cols` columns (attendHead's sums), m = min_c s_c over all of them, s'_c = s_c where
 * mask[maskOff + c] == 0 and fround(m - 20) elsewhere (any non-zero mask value means masked; the mask is never added),
 * then attendHead's softmax and ·V. Masked columns keep weight e^(m-20-max), not 0. Same arguments as attendHead.
 */
export function attendHeadMaskedSoftmax(
  q: Float32Array,
  qOff: number,
  hd: number,
  view: KvView,
  cols: number,
  mask: Float32Array,
  maskOff: number,
  scale: number,
  scores: Float32Array,
  y: Float32Array,
  yOff: number,
): void {
  let min = Infinity;
  for (let c = 0; c < cols; c++) {
    const s = fround(scoreDot(q, qOff, hd, view, c) / scale);
    scores[c] = s;
    if (s < min) min = s;
  }
  const fill = fround(min - MASKED_SOFTMAX_OFFSET);
  for (let c = 0; c < cols; c++) if (mask[maskOff + c] !== 0) scores[c] = fill;
  softmaxTimesV(scores, cols, hd, view, y, yOff);
}
