// Owns the current flow's attention with its quantization points (SPEC-2026 §8.1, §10.1): one query row as the
// static graph's forward_attention_conv computes it (static_llama.py at cff6f4dd, 433-446), op by op, with a
// `stage` callback after every op whose output the QNN quantizer annotates (backends/qualcomm/quantizer/
// annotators/htp_rules.py: MatMul, Div, Add, Amin, Where, Softmax — every one an output observer of the default
// 16-bit activation spec, except the Div by the constant √hd, whose output encoding is derived from its input's:
// scale s/√hd, same zero point):
//   qk          = q @ kh                      matmul output            (observer)
//   scaled      = qk / √hd                    div by a constant         (derived: fp32(s_qk / fp32(√hd)), zp_qk)
//   without masked softmax:
//   mask_add    = scaled + atten_mask         add                       (observer)
//   with masked softmax (enable_masked_softmax):
//   min         = amin(scaled, -1)            amin, one per row         (observer)
//   min_minus   = min + (-20)                 add of a scalar           (observer)
//   select      = where(mask == 0, scaled, min_minus)                   (observer)
//   softmax     = softmax(mask_add | select)  softmax                   (observer)
//   then y = softmax @ vh — the layer's `attention.attn` encoding, applied by the decoder's `attn` tap.
// The inputs of where share their producers' encodings (same spec), so nothing is re-quantized between the ops.
// With a no-op stage the row is bit-identical to src/engine/attention.ts attendHead / attendHeadMaskedSoftmax
// (tested): the same fp32 roundings in the same order. Calibration passes an observing stage, the quantized graph
// a fake-quantizing one (forward.ts).
import { MASKED_SOFTMAX_OFFSET, probsTimesV, scoreDot, type AttendRowFn, type KvView } from "../../engine/attention.js";
import { softmaxInPlace } from "../../engine/kernels.js";

const fround = Math.fround;

/** The quantization points inside attention, in graph order. */
export const ATTENTION_POINTS = ["qk", "scaled", "mask_add", "min", "min_minus", "select", "softmax"] as const;
export type AttentionPoint = (typeof ATTENTION_POINTS)[number];

/** The points a graph has: the mask add, or the masked softmax's min / min-20 / select. */
export function attentionPoints(maskedSoftmax: boolean): AttentionPoint[] {
  return maskedSoftmax ? ["qk", "scaled", "min", "min_minus", "select", "softmax"] : ["qk", "scaled", "mask_add", "softmax"];
}

/** The encoding name of an attention point of layer `l`: `layers.l.attention.<point>`. */
export const attentionPointName = (l: number, p: AttentionPoint): string => `layers.${l}.attention.${p}`;

/** Called on an op's output x[start, end) (may change it in place). */
export type AttentionStage = (point: AttentionPoint, x: Float32Array, start: number, end: number) => void;

/** The two matmuls of a row, replaceable (the integer arithmetic, src/quant/current/integer.ts). */
export interface AttentionMatmuls {
  /** scores[c] = q·k_c for c < cols (default: fround of the float64 dot, ascending d). */
  scores(q: Float32Array, qOff: number, hd: number, view: KvView, cols: number, scores: Float32Array): void;
  /** y[yOff + d] = Σ_c p_c·V[c][d] (default: probsTimesV). */
  timesV(p: Float32Array, cols: number, hd: number, view: KvView, y: Float32Array, yOff: number): void;
}

const FLOAT_MATMULS: AttentionMatmuls = {
  scores(q, qOff, hd, view, cols, scores) {
    for (let c = 0; c < cols; c++) scores[c] = scoreDot(q, qOff, hd, view, c);
  },
  timesV: probsTimesV,
};

/**
 * One query row's attention with `stage` after every annotated op (same arguments as attendHead); `matmuls` replaces
 * q·k and softmax·V (the stage then sees their outputs as they are, e.g. already on their grid).
 */
export function stagedAttendRow(maskedSoftmax: boolean, stage: AttentionStage, matmuls: AttentionMatmuls = FLOAT_MATMULS): AttendRowFn {
  const one = new Float32Array(1);
  return (q, qOff, hd, view, cols, mask, maskOff, scale, scores, y, yOff) => {
    matmuls.scores(q, qOff, hd, view, cols, scores);
    stage("qk", scores, 0, cols);
    for (let c = 0; c < cols; c++) scores[c] = fround(scores[c] / scale);
    stage("scaled", scores, 0, cols);
    if (!maskedSoftmax) {
      for (let c = 0; c < cols; c++) scores[c] = fround(scores[c] + mask[maskOff + c]);
      stage("mask_add", scores, 0, cols);
    } else {
      let min = Infinity;
      for (let c = 0; c < cols; c++) if (scores[c] < min) min = scores[c];
      one[0] = min;
      stage("min", one, 0, 1);
      one[0] = fround(one[0] - MASKED_SOFTMAX_OFFSET);
      stage("min_minus", one, 0, 1);
      const fill = one[0];
      for (let c = 0; c < cols; c++) if (mask[maskOff + c] !== 0) scores[c] = fill;
      stage("select", scores, 0, cols);
    }
    softmaxInPlace(scores, cols);
    stage("softmax", scores, 0, cols);
    matmuls.timesV(scores, cols, hd, view, y, yOff);
  };
}
