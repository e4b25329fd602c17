// Owns turning a set of named checkpoint tensors into the engine's Model: the two naming layouts (Meta /
// llama2.c `tok_embeddings`, `layers.N.attention.wq` ...; Hugging Face `model.embed_tokens`, `q_proj` ...),
// shape checks against the config, undoing HF's q/k row permutation (SPEC §2), and the tied LM head. Tensors
// are read in file order (a cold file is read front to back) into one shared arena (see tensors.ts).
import type { ModelConfig } from "../engine/config.js";
import { checkWeights, weightShapes, type BaseLayerKey, type LayerWeights, type Model } from "../engine/weights.js";
import { UserError } from "../util/errors.js";
import { hugePagesLikely, startPrefault } from "./prefault.js";
import { numelOf, sharedArena, sharedFloat32, type NamedTensor, type TensorSet } from "./tensors.js";
import { buildFamilyModel } from "./hf-family-weights.js";

export const sharedCopy = (a: Float32Array): Float32Array => {
  const c = sharedFloat32(a.length);
  c.set(a);
  return c;
};

export type NameLayout = "meta" | "hf";

type WeightKey = BaseLayerKey;
/** Per-layer weight names of the Meta / llama2.c layout (also the names of the encodings files). */
export const META_LAYER: Record<WeightKey, string> = {
  attnNorm: "attention_norm.weight",
  wq: "attention.wq.weight",
  wk: "attention.wk.weight",
  wv: "attention.wv.weight",
  wo: "attention.wo.weight",
  ffnNorm: "ffn_norm.weight",
  w1: "feed_forward.w1.weight",
  w2: "feed_forward.w2.weight",
  w3: "feed_forward.w3.weight",
};
const HF_LAYER: Record<WeightKey, string> = {
  attnNorm: "input_layernorm.weight",
  wq: "self_attn.q_proj.weight",
  wk: "self_attn.k_proj.weight",
  wv: "self_attn.v_proj.weight",
  wo: "self_attn.o_proj.weight",
  ffnNorm: "post_attention_layernorm.weight",
  w1: "mlp.gate_proj.weight",
  w2: "mlp.down_proj.weight",
  w3: "mlp.up_proj.weight",
};

interface LayoutNames {
  embedding: string;
  norm: string;
  output: string;
  layer: (l: number, k: WeightKey) => string;
  /** Tensors a checkpoint may carry that the engine does not use (precomputed RoPE tables). */
  ignorable: RegExp;
}

export function layoutNames(layout: NameLayout): LayoutNames {
  return layout === "meta"
    ? {
        embedding: "tok_embeddings.weight",
        norm: "norm.weight",
        output: "output.weight",
        layer: (l, k) => `layers.${l}.${META_LAYER[k]}`,
        ignorable: /^(rope\.freqs|freqs_cis|freqs_cos|freqs_sin)$/,
      }
    : {
        embedding: "model.embed_tokens.weight",
        norm: "model.norm.weight",
        output: "lm_head.weight",
        layer: (l, k) => `model.layers.${l}.${HF_LAYER[k]}`,
        ignorable: /\.rotary_emb\.inv_freq$/,
      };
}

/** Prefixes training wrappers add to every name (torch.compile's `_orig_mod.`, DataParallel's `module.`). */
const WRAPPER_PREFIXES = ["_orig_mod.", "module."];

/** Strips a wrapper prefix shared by every name, and tells which naming layout the checkpoint uses. */
export function detectLayout(tensors: TensorSet, path: string): { layout: NameLayout; tensors: TensorSet } {
  let set = tensors;
  for (const p of WRAPPER_PREFIXES) {
    const names = [...set.keys()];
    if (names.length > 0 && names.every((n) => n.startsWith(p))) set = new Map(names.map((n) => [n.slice(p.length), { ...set.get(n)!, name: n.slice(p.length) }]));
  }
  if (set.has("tok_embeddings.weight")) return { layout: "meta", tensors: set };
  if (set.has("model.embed_tokens.weight")) return { layout: "hf", tensors: set };
  const sample = [...set.keys()].slice(0, 4).map((n) => JSON.stringify(n)).join(", ");
  throw new UserError(`checkpoint ${path}: tensor names match no known layout (Meta/llama2.c or Hugging Face); first names: ${sample || "(none)"}`);
}

/** What the tensor shapes alone say about the model (for params that a checkpoint lacks or to check them). */
export function shapeFacts(tensors: TensorSet, layout: NameLayout): { vocabSize: number; dim: number; nLayers: number; hiddenDim?: number; kvDim?: number; qDim?: number } {
  const n = layoutNames(layout);
  const emb = tensors.get(n.embedding)!;
  let nLayers = 0;
  // HF families may fuse q/k/v (Phi-3): count layers by their first norm there.
  const layerKey: WeightKey = layout === "hf" ? "attnNorm" : "wq";
  while (tensors.has(n.layer(nLayers, layerKey))) nLayers++;
  const w1 = tensors.get(n.layer(0, "w1"));
  const wk = tensors.get(n.layer(0, "wk"));
  const wq = tensors.get(n.layer(0, "wq"));
  return { vocabSize: emb.shape[0], dim: emb.shape[1], nLayers, hiddenDim: w1?.shape[0], kvDim: wk?.shape[0], qDim: wq?.shape[0] };
}

/**
 * Inverse of HF's permutation of q_proj/k_proj rows, in place: HF row h*hd + j*hd/2 + i holds Meta row
 * h*hd + 2i + j (HF stores w.view(nh, hd/2, 2, dim).transpose(1, 2)). Afterwards `w` holds the rows in Meta's
 * interleaved-pair order. Works head by head through one head-sized scratch copy, so the weights stay where the
 * loader put them (in the model's shared arena). Returns `w`.
 */
export function unpermuteHfRows(w: Float32Array, nHeads: number, headDim: number, dim: number): Float32Array {
  const half = headDim / 2;
  const head = new Float32Array(headDim * dim);
  for (let h = 0; h < nHeads; h++) {
    const base = h * headDim * dim;
    head.set(w.subarray(base, base + headDim * dim));
    for (let j = 0; j < 2; j++)
      for (let i = 0; i < half; i++) {
        const src = (j * half + i) * dim;
        w.set(head.subarray(src, src + dim), base + (2 * i + j) * dim);
      }
  }
  return w;
}

export interface BuildOptions {
  /** Hugging Face families: the LM head is the embedding table (config `tie_word_embeddings`); a stored lm_head is then ignored, as transformers does. */
  tieWordEmbeddings?: boolean;
  /** Called after each distinct tensor is loaded, with the stored bytes read so far and in total. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** Page-touching worker ahead of the loop for arenas of 64 MB and more (prefault.ts); default: when huge pages are in use. */
  prefault?: boolean;
}

/** Builds the Model from named tensors, checking every name and shape against `config`. */
export function buildModel(tensors: TensorSet, layout: NameLayout, config: ModelConfig, path: string, o: BuildOptions = {}): Model {
  if (layout === "hf" && config.arch) return buildFamilyModel(tensors, config, path, o);
  const names = layoutNames(layout);
  const shapes = weightShapes(config);
  const wanted = new Map<string, number[]>();
  wanted.set(names.embedding, shapes.tokEmbeddings);
  wanted.set(names.norm, shapes.norm);
  for (let l = 0; l < config.nLayers; l++) for (const k of Object.keys(META_LAYER) as WeightKey[]) wanted.set(names.layer(l, k), shapes[k]);
  const tied = !tensors.has(names.output);
  if (!tied) wanted.set(names.output, shapes.output);
  checkTensorNames(tensors, wanted, names.ignorable, path, `a ${config.nLayers}-layer Llama; biases or extra layers are not supported`);
  const { get, ownArray } = loadWanted(tensors, wanted, path, o);
  // HF q/k rows are put back in Meta's order in place when the array is this tensor's alone (its own arena slot,
  // used by one name); otherwise (a storage shared with other views or names) in a copy, leaving the rest intact.
  const unpermuted = (name: string, heads: number): Float32Array =>
    unpermuteHfRows(ownArray(name) ? get(name) : sharedCopy(get(name)), heads, config.headDim, config.dim);
  const { nHeads, nKvHeads } = config;
  const tokEmbeddings = get(names.embedding);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const w = (k: WeightKey) => get(names.layer(l, k));
    let wq = w("wq");
    let wk = w("wk");
    if (layout === "hf") {
      wq = unpermuted(names.layer(l, "wq"), nHeads);
      wk = unpermuted(names.layer(l, "wk"), nKvHeads);
    }
    layers.push({ attnNorm: w("attnNorm"), wq, wk, wv: w("wv"), wo: w("wo"), ffnNorm: w("ffnNorm"), w1: w("w1"), w2: w("w2"), w3: w("w3") });
  }
  const norm = get(names.norm);
  const output = tied ? tokEmbeddings : get(names.output);
  const weights = { tokEmbeddings, layers, norm, output };
  checkWeights(config, weights);
  return { config, weights };
}

/** Refuses a tensor that is not wanted (nor ignorable), a wanted one that is missing, and a shape mismatch, naming the tensor. */
export function checkTensorNames(tensors: TensorSet, wanted: Map<string, number[]>, ignorable: RegExp, path: string, what: string): void {
  for (const [name, t] of tensors) {
    if (wanted.has(name) || ignorable.test(name)) continue;
    throw new UserError(`checkpoint ${path}: unexpected tensor ${JSON.stringify(name)} ${JSON.stringify(t.shape)} (not part of ${what})`);
  }
  for (const [name, shape] of wanted) {
    const t = tensors.get(name);
    if (!t) throw new UserError(`checkpoint ${path}: missing tensor ${JSON.stringify(name)}`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new UserError(`checkpoint ${path}: tensor ${JSON.stringify(name)} has shape ${JSON.stringify(t.shape)}, but the parameters say ${JSON.stringify(shape)}`);
  }
}

/**
 * Loads every wanted tensor once (a tied head stored under two names too), in file order, into one shared arena
 * (see tensors.ts); refuses non-finite values. `get(name)` is a tensor's fp32 array; `ownArray(name)` says whether
 * that array is this name's alone (its own arena slot, used by no other wanted name), so it may be changed in place.
 */
export function loadWanted(tensors: TensorSet, wanted: Map<string, number[]>, path: string, o: BuildOptions): { get: (name: string) => Float32Array; ownArray: (name: string) => boolean } {
  const distinct = new Map<string, NamedTensor>();
  for (const n of wanted.keys()) if (!distinct.has(tensors.get(n)!.identity)) distinct.set(tensors.get(n)!.identity, tensors.get(n)!);
  const loadOrder = [...distinct.values()].sort((a, b) => a.filePos.file - b.filePos.file || a.filePos.offset - b.filePos.offset);
  const owning = loadOrder.filter((t) => t.ownsArray);
  const slots = sharedArena(owning.map((t) => numelOf(t.shape)), `checkpoint ${path}`);
  const slotOf = new Map(owning.map((t, i) => [t, slots[i]]));
  const total = loadOrder.reduce((s, t) => s + t.byteLength, 0);
  let done = 0;
  const cache = new Map<string, Float32Array>();
  // The slots lie in load order: a worker makes the arena's pages resident ahead of the loop (see prefault.ts).
  const prefault = slots.length > 0 && (o.prefault ?? hugePagesLikely()) ? startPrefault(slots[0].buffer as SharedArrayBuffer) : undefined;
  try {
    for (const t of loadOrder) {
      const { data, firstNonFinite } = t.loadChecked(slotOf.get(t));
      if (data.length !== numelOf(t.shape)) throw new Error(`loader returned ${data.length} values for ${t.name}`);
      // As the llama2.c loader does: a NaN / Inf weight means a damaged file (safetensors has no checksum).
      if (firstNonFinite >= 0)
        throw new UserError(`checkpoint ${path}: tensor ${JSON.stringify(t.name)} holds a non-finite value (${data[firstNonFinite]}) at element ${firstNonFinite}; corrupt file?`);
      cache.set(t.identity, data);
      done += t.byteLength;
      o.onProgress?.(done, total);
    }
  } finally {
    prefault?.stop();
  }
  const uses = new Map<string, number>();
  for (const n of wanted.keys()) uses.set(tensors.get(n)!.identity, (uses.get(tensors.get(n)!.identity) ?? 0) + 1);
  return {
    get: (name) => cache.get(tensors.get(name)!.identity)!,
    ownArray: (name) => {
      const t = tensors.get(name)!;
      return t.ownsArray && uses.get(t.identity) === 1;
    },
  };
}
