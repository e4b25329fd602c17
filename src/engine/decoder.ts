// Owns the transformer body shared by both static graphs (SPEC §1): embedding, per layer RMSNorm ->
// Q/K/V projections -> RoPE (half-split) -> attention (supplied by the graph) -> Wo -> residual ->
// RMSNorm -> SwiGLU FFN -> residual, then the final RMSNorm and the LM head, for T rows at once.
// With a family architecture (src/engine/arch.ts) the same body also does, each as its own fp32 op: the embedding
// scale, q/k/v/o biases (added after the product: fround(fround(W·x) + b)), per-head q/k RMSNorm before RoPE, per-layer
// RoPE tables (none, partial, another theta; rotate_half weight order), the post-attention / post-FFN norms, GELU-tanh,
// and the final logit soft-capping.
import type { Model } from "./weights.js";
import { addInPlace, geglu, matMulRows, rmsNorm, swiglu } from "./kernels.js";
import { ropeHalfSplit, ropeRotateHalf, type ModelRope, type RopeTables } from "./rope.js";
import { archOf } from "./arch.js";

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
 * (layer -1, after the embedding scale); after them `final_norm` (layer nLayers). With a family architecture `q`/`k`
 * are after the biases, q/k norms and RoPE; `attn_out` and `ffn_out` are what is added to the residual (after the o bias
 * and Gemma's post-norms); `ffn_act` is the GELU-tanh product for Gemma.
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

/** Writes the embedding row of token `tok` (dim values) into `dst`; the default reads model.weights.tokEmbeddings. */
export type EmbedFn = (tok: number, dst: Float32Array) => void;

/**
 * Runs the decoder over T tokens at the given positions and writes logits [T, vocab] for every row.
 * Everything is a pure function of (weights, tokens, positions, what `attend` reads); scratch is local.
 * `matMul` computes every weight product (default: the oracle matMulRows); any MatMulFn honouring its
 * contract gives the same bits.
 */
export function runDecoder(
  model: Model,
  rope: RopeTables | ModelRope,
  tokens: Int32Array,
  positions: Int32Array,
  attend: AttentionFn,
  logits: Float32Array,
  tap?: TapFn,
  matMul: MatMulFn = matMulRows,
  embed?: EmbedFn,
): void {
  const c = model.config;
  const w = model.weights;
  const T = tokens.length;
  const { dim, headDim: hd, nHeads, nKvHeads, hiddenDim, vocabSize } = c;
  const qDim = nHeads * hd;
  const kvDim = nKvHeads * hd;
  const arch = archOf(c);
  const layerRope = (l: number): RopeTables | null => ("layers" in rope ? rope.layers[l] : rope);
  const maxPos = rope.maxPos;
  const rotate = arch.ropeOrder === "rotate_half" ? ropeRotateHalf : ropeHalfSplit;
  const embedScale = arch.embedScale;

  const x = new Float32Array(T * dim);
  for (let t = 0; t < T; t++) {
    const tok = tokens[t];
    if (!(tok >= 0 && tok < vocabSize)) throw new RangeError(`token ${tok} at row ${t} is outside the vocabulary [0, ${vocabSize})`);
    const p = positions[t];
    if (!(p >= 0 && p < maxPos)) throw new RangeError(`position ${p} at row ${t} is outside [0, ${maxPos})`);
    if (embed) embed(tok, x.subarray(t * dim, (t + 1) * dim));
    else x.set(w.tokEmbeddings.subarray(tok * dim, (tok + 1) * dim), t * dim);
  }
  if (embedScale !== 1) for (let i = 0; i < T * dim; i++) x[i] = Math.fround(x[i] * embedScale);

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
  const act = arch.act === "gelu_tanh" ? geglu : swiglu;

  for (let l = 0; l < c.nLayers; l++) {
    const lw = w.layers[l];
    for (let t = 0; t < T; t++) rmsNorm(a, x, lw.attnNorm, dim, c.normEps, t * dim);
    tap?.(l, "attn_norm", a);
    matMul(qLin, lw.wq, a, T, qDim, dim);
    matMul(kLin, lw.wk, a, T, kvDim, dim);
    matMul(v, lw.wv, a, T, kvDim, dim);
    if (lw.bq) addBias(qLin, lw.bq, T);
    if (lw.bk) addBias(kLin, lw.bk, T);
    if (lw.bv) addBias(v, lw.bv, T);
    if (lw.qNorm && lw.kNorm) {
      // Per-head RMSNorm over hd (Qwen3, Gemma3), before RoPE; in place on the projections.
      for (let r = 0; r < T * nHeads; r++) rmsNorm(qLin, qLin, lw.qNorm, hd, c.normEps, r * hd);
      for (let r = 0; r < T * nKvHeads; r++) rmsNorm(kLin, kLin, lw.kNorm, hd, c.normEps, r * hd);
    }
    const tables = layerRope(l);
    if (tables) {
      for (let t = 0; t < T; t++) {
        const p = positions[t];
        for (let h = 0; h < nHeads; h++) rotate(q, t * qDim + h * hd, qLin, t * qDim + h * hd, tables, p, hd);
        for (let g = 0; g < nKvHeads; g++) rotate(k, t * kvDim + g * hd, kLin, t * kvDim + g * hd, tables, p, hd);
      }
    } else {
      // A layer without RoPE (SmolLM3): q and k as projected.
      q.set(qLin);
      k.set(kLin);
    }
    if (tap) {
      tap(l, "q", q);
      tap(l, "k", k);
      tap(l, "v", v);
    }
    attend(l, q, k, v, y);
    tap?.(l, "attn", y);
    matMul(o, lw.wo, y, T, dim, qDim);
    if (lw.bo) addBias(o, lw.bo, T);
    if (lw.postAttnNorm) for (let t = 0; t < T; t++) rmsNorm(o, o, lw.postAttnNorm, dim, c.normEps, t * dim);
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
    act(h1, h1, h3, T * hiddenDim);
    tap?.(l, "ffn_act", h1);
    matMul(o, lw.w2, h1, T, dim, hiddenDim);
    if (lw.postFfnNorm) for (let t = 0; t < T; t++) rmsNorm(o, o, lw.postFfnNorm, dim, c.normEps, t * dim);
    tap?.(l, "ffn_out", o);
    addInPlace(x, o, T * dim);
    tap?.(l, "resid_ffn", x);
  }

  for (let t = 0; t < T; t++) rmsNorm(a, x, w.norm, dim, c.normEps, t * dim);
  tap?.(c.nLayers, "final_norm", a);
  matMul(logits, w.output, a, T, vocabSize, dim);
  if (arch.finalLogitSoftcap !== null) softcapInPlace(logits, arch.finalLogitSoftcap, T * vocabSize);
}

/** y[t, i] = fround(y[t, i] + b[i]) for T rows of width b.length (a projection's bias, its own fp32 op). */
export function addBias(y: Float32Array, b: Float32Array, T: number): void {
  const n = b.length;
  for (let t = 0; t < T; t++) for (let i = 0; i < n; i++) y[t * n + i] = Math.fround(y[t * n + i] + b[i]);
}

/** Gemma's final soft-capping, three fp32 ops as the graph writes them: x = fround(fround(tanh(fround(x / c))) · c). */
export function softcapInPlace(x: Float32Array, cap: number, n: number): void {
  const fc = Math.fround(cap);
  for (let i = 0; i < n; i++) x[i] = Math.fround(Math.fround(Math.tanh(Math.fround(x[i] / fc))) * fc);
}
