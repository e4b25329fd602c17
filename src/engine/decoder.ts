// Owns the transformer body shared by both static graphs (SPEC §1): embedding, per layer RMSNorm ->
// Q/K/V projections -> RoPE (half-split) -> attention (supplied by the graph) -> Wo -> residual ->
// RMSNorm -> SwiGLU FFN -> residual, then the final RMSNorm and the LM head, for T rows at once.
import type { Model } from "./weights.js";
import { addInPlace, matMulRows, rmsNorm, swiglu } from "./kernels.js";
import { ropeHalfSplit, type RopeTables } from "./rope.js";

/**
 * Attention for one layer. q: [T, nHeads*hd], k and v: [T, nKvHeads*hd] (q and k RoPE'd, half-split);
 * writes y: [T, nHeads*hd] (heads concatenated, as the graph's torch.concat). Also the place where a
 * graph copies the layer's new K/V to its outputs.
 */
export type AttentionFn = (layer: number, q: Float32Array, k: Float32Array, v: Float32Array, y: Float32Array) => void;

/**
 * Intermediate tensors a graph call can report, in the order they are computed (for parity bisection).
 * Each is [T, width] row-major over the call's T rows: per layer `attn_norm` [dim], `q` [nHeads*hd] and `k`
 * [nKvHeads*hd] after RoPE (half-split), `v` [nKvHeads*hd], `attn` [nHeads*hd] (heads concatenated, before Wo),
 * `attn_out` [dim] (Wo·attn), `resid_attn` [dim] (x after the attention residual), `ffn_norm` [dim],
 * `ffn_gate` [hidden] (W1 f), `ffn_up` [hidden] (W3 f), `ffn_act` [hidden] (silu(gate)·up), `ffn_out` [dim]
 * (W2·act), `resid_ffn` [dim] (x after the FFN residual: the layer's output). Before the layers, `embedding`
 * (layer -1); after them `final_norm` (layer nLayers).
 */
export const LAYER_TAPS = [
  "attn_norm", "q", "k", "v", "attn", "attn_out", "resid_attn", "ffn_norm", "ffn_gate", "ffn_up", "ffn_act", "ffn_out", "resid_ffn",
] as const;
export type TapName = (typeof LAYER_TAPS)[number] | "embedding" | "final_norm";

/**
 * Receives intermediate tensors; `data` is only valid during the call (copy what you keep). Each tap runs right
 * after its tensor is produced and before anything reads it, so a tap may also transform the tensor in place:
 * the quantization simulation fake-quantizes activations this way (src/quant/qgraph.ts).
 */
export type TapFn = (layer: number, name: TapName, data: Float32Array) => void;

/**
 * A weight product Y[t, m] = X[t, n]·Wᵀ for W [m, n] row-major. The golden graphs need matMulRows' exact
 * contract (src/engine/kernels.ts): every element equal to fround(dotLanes4(W[r, :], x_t)), as the oracle and
 * the exact pool (src/compute/exact-matmul.ts) give. The wasm backend passes an fp32 SIMD product instead,
 * which is not bit-exact and feeds only its own graphs (docs/wasm.md). `w` is always one of the model's own
 * weight arrays (never a copy or subarray), so an implementation may key per-weight state on its identity.
 */
export type MatMulFn = (y: Float32Array, w: Float32Array, x: Float32Array, t: number, m: number, n: number) => void;

/**
 * Runs the decoder over T tokens at the given positions and writes logits [T, vocab] for every row.
 * Everything is a pure function of (weights, tokens, positions, what `attend` reads); scratch is local.
 * `matMul` computes every weight product (default: the oracle matMulRows); any MatMulFn honouring its
 * contract gives the same bits.
 */
export function runDecoder(
  model: Model,
  rope: RopeTables,
  tokens: Int32Array,
  positions: Int32Array,
  attend: AttentionFn,
  logits: Float32Array,
  tap?: TapFn,
  matMul: MatMulFn = matMulRows,
): void {
  const c = model.config;
  const w = model.weights;
  const T = tokens.length;
  const { dim, headDim: hd, nHeads, nKvHeads, hiddenDim, vocabSize } = c;
  const qDim = nHeads * hd;
  const kvDim = nKvHeads * hd;

  const x = new Float32Array(T * dim);
  for (let t = 0; t < T; t++) {
    const tok = tokens[t];
    if (!(tok >= 0 && tok < vocabSize)) throw new RangeError(`token ${tok} at row ${t} is outside the vocabulary [0, ${vocabSize})`);
    const p = positions[t];
    if (!(p >= 0 && p < rope.maxPos)) throw new RangeError(`position ${p} at row ${t} is outside [0, ${rope.maxPos})`);
    x.set(w.tokEmbeddings.subarray(tok * dim, (tok + 1) * dim), t * dim);
  }

  tap?.(-1, "embedding", x);
  const a = new Float32Array(T * dim);
  const qLin = new Float32Array(T * qDim);
  const kLin = new Float32Array(T * kvDim);
  const q = new Float32Array(T * qDim);
  const k = new Float32Array(T * kvDim);
  const v = new Float32Array(T * kvDim);
  const y = new Float32Array(T * qDim);
  const o = new Float32Array(T * dim);
  const h1 = new Float32Array(T * hiddenDim);
  const h3 = new Float32Array(T * hiddenDim);

  for (let l = 0; l < c.nLayers; l++) {
    const lw = w.layers[l];
    for (let t = 0; t < T; t++) rmsNorm(a, x, lw.attnNorm, dim, c.normEps, t * dim);
    tap?.(l, "attn_norm", a);
    matMul(qLin, lw.wq, a, T, qDim, dim);
    matMul(kLin, lw.wk, a, T, kvDim, dim);
    matMul(v, lw.wv, a, T, kvDim, dim);
    for (let t = 0; t < T; t++) {
      const p = positions[t];
      for (let h = 0; h < nHeads; h++) ropeHalfSplit(q, t * qDim + h * hd, qLin, t * qDim + h * hd, rope, p);
      for (let g = 0; g < nKvHeads; g++) ropeHalfSplit(k, t * kvDim + g * hd, kLin, t * kvDim + g * hd, rope, p);
    }
    if (tap) {
      tap(l, "q", q);
      tap(l, "k", k);
      tap(l, "v", v);
    }
    attend(l, q, k, v, y);
    tap?.(l, "attn", y);
    matMul(o, lw.wo, y, T, dim, qDim);
    tap?.(l, "attn_out", o);
    addInPlace(x, o, T * dim);
    tap?.(l, "resid_attn", x);

    for (let t = 0; t < T; t++) rmsNorm(a, x, lw.ffnNorm, dim, c.normEps, t * dim);
    tap?.(l, "ffn_norm", a);
    matMul(h1, lw.w1, a, T, hiddenDim, dim);
    matMul(h3, lw.w3, a, T, hiddenDim, dim);
    if (tap) {
      tap(l, "ffn_gate", h1);
      tap(l, "ffn_up", h3);
    }
    swiglu(h1, h1, h3, T * hiddenDim);
    tap?.(l, "ffn_act", h1);
    matMul(o, lw.w2, h1, T, dim, hiddenDim);
    tap?.(l, "ffn_out", o);
    addInPlace(x, o, T * dim);
    tap?.(l, "resid_ffn", x);
  }

  for (let t = 0; t < T; t++) rmsNorm(a, x, w.norm, dim, c.normEps, t * dim);
  tap?.(c.nLayers, "final_norm", a);
  matMul(logits, w.output, a, T, vocabSize, dim);
}
