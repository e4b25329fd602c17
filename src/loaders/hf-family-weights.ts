// Owns the Hugging Face tensor layout of the model families (src/engine/arch.ts) and turning it into the engine's
// Model: the names transformers saves per `model_type`, their shapes, and the load-time transformations — the fused
// Phi-3 `qkv_proj` / `gate_up_proj` split into row blocks (views, no copy), Gemma's (1 + w) norms folded into the
// weight arrays, HF's q/k row permutation undone only for the interleaved order (Llama with biases), and the tied
// LM head. Anything missing, extra or mis-shaped is refused with one line naming the tensor.
import type { ModelConfig } from "../engine/config.js";
import { archOf } from "../engine/arch.js";
import { checkWeights, weightShapes, type LayerWeights, type Model } from "../engine/weights.js";
import { sharedFloat32, type TensorSet } from "./tensors.js";
import { checkTensorNames, loadWanted, sharedCopy, unpermuteHfRows, type BuildOptions } from "./state-dict.js";

/** Where each engine weight of layer `l` lives in a family's checkpoint. */
function layerNames(c: ModelConfig, l: number) {
  const a = archOf(c);
  const p = `model.layers.${l}.`;
  const gemma = a.modelType === "gemma3_text";
  const fused = a.modelType === "phi3";
  return {
    attnNorm: `${p}input_layernorm.weight`,
    ffnNorm: gemma ? `${p}pre_feedforward_layernorm.weight` : `${p}post_attention_layernorm.weight`,
    postAttnNorm: gemma ? `${p}post_attention_layernorm.weight` : null,
    postFfnNorm: gemma ? `${p}post_feedforward_layernorm.weight` : null,
    qkv: fused ? `${p}self_attn.qkv_proj.weight` : null,
    gateUp: fused ? `${p}mlp.gate_up_proj.weight` : null,
    wq: fused ? null : `${p}self_attn.q_proj.weight`,
    wk: fused ? null : `${p}self_attn.k_proj.weight`,
    wv: fused ? null : `${p}self_attn.v_proj.weight`,
    wo: `${p}self_attn.o_proj.weight`,
    w1: fused ? null : `${p}mlp.gate_proj.weight`,
    w3: fused ? null : `${p}mlp.up_proj.weight`,
    w2: `${p}mlp.down_proj.weight`,
    bq: a.bias.q ? `${p}self_attn.q_proj.bias` : null,
    bk: a.bias.k ? `${p}self_attn.k_proj.bias` : null,
    bv: a.bias.v ? `${p}self_attn.v_proj.bias` : null,
    bo: a.bias.o ? `${p}self_attn.o_proj.bias` : null,
    qNorm: a.qkNorm ? `${p}self_attn.q_norm.weight` : null,
    kNorm: a.qkNorm ? `${p}self_attn.k_norm.weight` : null,
  };
}

/** fround(1 + w) into a fresh shared array (Gemma's RMSNorm multiplies by 1 + w in fp32). */
function plusOne(w: Float32Array): Float32Array {
  const out = sharedFloat32(w.length);
  for (let i = 0; i < w.length; i++) out[i] = Math.fround(1 + w[i]);
  return out;
}

/** Builds a family model (config.arch set) from HF-named tensors. */
export function buildFamilyModel(tensors: TensorSet, config: ModelConfig, path: string, o: BuildOptions): Model {
  const a = archOf(config);
  const s = weightShapes(config);
  const { dim, headDim: hd, nHeads, nKvHeads, hiddenDim } = config;
  const qDim = nHeads * hd;
  const kvDim = nKvHeads * hd;
  const wanted = new Map<string, number[]>();
  wanted.set("model.embed_tokens.weight", s.tokEmbeddings);
  wanted.set("model.norm.weight", s.norm);
  const tied = o.tieWordEmbeddings ?? !tensors.has("lm_head.weight");
  if (!tied) wanted.set("lm_head.weight", s.output);
  const perLayer = Array.from({ length: config.nLayers }, (_, l) => layerNames(config, l));
  for (const n of perLayer) {
    const put = (name: string | null, shape: number[]) => {
      if (name) wanted.set(name, shape);
    };
    put(n.attnNorm, s.attnNorm);
    put(n.ffnNorm, s.ffnNorm);
    put(n.postAttnNorm, s.postAttnNorm);
    put(n.postFfnNorm, s.postFfnNorm);
    put(n.qkv, [qDim + 2 * kvDim, dim]);
    put(n.gateUp, [2 * hiddenDim, dim]);
    put(n.wq, s.wq);
    put(n.wk, s.wk);
    put(n.wv, s.wv);
    put(n.wo, s.wo);
    put(n.w1, s.w1);
    put(n.w3, s.w3);
    put(n.w2, s.w2);
    put(n.bq, s.bq);
    put(n.bk, s.bk);
    put(n.bv, s.bv);
    put(n.bo, s.bo);
    put(n.qNorm, s.qNorm);
    put(n.kNorm, s.kNorm);
  }
  // Precomputed RoPE buffers are not weights; a stored LM head of a tied model is ignored (transformers re-ties it).
  const ignorable = tied ? /(\.rotary_emb\.inv_freq$|^lm_head\.weight$)/ : /\.rotary_emb\.inv_freq$/;
  checkTensorNames(tensors, wanted, ignorable, path, `a ${config.nLayers}-layer ${a.modelType} model`);
  const { get, ownArray } = loadWanted(tensors, wanted, path, o);
  const norm = (name: string) => (a.normAddOne ? plusOne(get(name)) : get(name));
  // Interleaved order (Llama rows, SPEC §2): q/k rows and their biases go back to Meta's pair order.
  const interleave = (name: string, x: Float32Array, heads: number, cols: number) =>
    a.ropeOrder === "interleaved" ? unpermuteHfRows(ownArray(name) ? x : sharedCopy(x), heads, hd, cols) : x;

  const layers: LayerWeights[] = perLayer.map((n) => {
    let wq: Float32Array, wk: Float32Array, wv: Float32Array, w1: Float32Array, w3: Float32Array;
    if (n.qkv && n.gateUp) {
      // Phi-3: qkv_proj rows [q; k; v], gate_up_proj rows [gate; up] (transformers' chunk order).
      const qkv = get(n.qkv);
      wq = qkv.subarray(0, qDim * dim);
      wk = qkv.subarray(qDim * dim, (qDim + kvDim) * dim);
      wv = qkv.subarray((qDim + kvDim) * dim, (qDim + 2 * kvDim) * dim);
      const gu = get(n.gateUp);
      w1 = gu.subarray(0, hiddenDim * dim);
      w3 = gu.subarray(hiddenDim * dim, 2 * hiddenDim * dim);
    } else {
      wq = interleave(n.wq!, get(n.wq!), nHeads, dim);
      wk = interleave(n.wk!, get(n.wk!), nKvHeads, dim);
      wv = get(n.wv!);
      w1 = get(n.w1!);
      w3 = get(n.w3!);
    }
    const lw: LayerWeights = { attnNorm: norm(n.attnNorm), wq, wk, wv, wo: get(n.wo), ffnNorm: norm(n.ffnNorm), w1, w2: get(n.w2), w3 };
    if (n.bq) lw.bq = interleave(n.bq, get(n.bq), nHeads, 1);
    if (n.bk) lw.bk = interleave(n.bk, get(n.bk), nKvHeads, 1);
    if (n.bv) lw.bv = get(n.bv);
    if (n.bo) lw.bo = get(n.bo);
    if (n.qNorm) lw.qNorm = norm(n.qNorm);
    if (n.kNorm) lw.kNorm = norm(n.kNorm);
    if (n.postAttnNorm) lw.postAttnNorm = norm(n.postAttnNorm);
    if (n.postFfnNorm) lw.postFfnNorm = norm(n.postFfnNorm);
    return lw;
  });
  const tokEmbeddings = get("model.embed_tokens.weight");
  const weights = { tokEmbeddings, layers, norm: norm("model.norm.weight"), output: tied ? tokEmbeddings : get("lm_head.weight") };
  checkWeights(config, weights);
  return { config, weights };
}
