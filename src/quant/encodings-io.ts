// Owns the mapping between a calibration (QuantEncodings) and the AIMET 1.x encodings file of
// src/quant/encodings-file.ts: which tensor name each encoding gets, writing a calibration out
// (`--dump_encodings`) and overriding a calibration from a device's file (`--encodings`).
//
// Names:
// - activation_encodings: `layers.<l>.<tap>` for every per-layer tap except k / v, `embedding`,
//   `final_norm`, `logits`, `k_cache.l<l>.h<h>` / `v_cache.l<l>.h<h>` (the symmetric K/V encodings of the
//   graph outputs and caches, per KV head), and, when the prefill graph was calibrated, its own activation
//   encodings under `prefill.` + the same names (its logits / K / V are the KV graph's, so not repeated);
// - param_encodings: the checkpoint's Meta names (`tok_embeddings.weight`, `layers.<l>.attention.wq.weight`,
//   `layers.<l>.feed_forward.w1.weight`, `layers.<l>.attention_norm.weight`, `norm.weight`, `output.weight`
//   ...), one entry per output channel for the linears. An LPBQ (per-block) weight has no AIMET 1.x form: it
//   is written per channel with each channel's largest block scale (S_c * 16), which is informative only, and
//   exactly under `lpbq_encodings` (AIMET 2.x's LPBQ fields: channel scales and 4-bit per-block multipliers).
// Reading (`applyEncodingsFile`) validates every name and bitwidth against the calibration and then replaces
// the activation, K/V and logits encodings; param encodings are validated but not applied (the weights stay
// quantized from the checkpoint under the scheme).
import type { Model } from "../engine/weights.js";
import { LAYER_TAPS, type TapName } from "../engine/decoder.js";
import { UserError } from "../util/errors.js";
import type { QuantEncoding } from "./affine.js";
import { tapKey, type KvEncodings, type QuantEncodings } from "./calibrate.js";
import {
  AIMET_1X_VERSION,
  encodingFromEntry,
  entryFromEncoding,
  perChannelEntries,
  type EncodingsFile,
  type IntEncodingEntry,
  type TensorExpectation,
  type BlockEncodingEntry,
} from "./encodings-file.js";
import type { QuantizedLinear, QuantizedModelWeights, QuantizedTable } from "./schemes.js";
import { META_LAYER } from "../loaders/state-dict.js";
import type { BaseLayerKey } from "../engine/weights.js";

export type LayerParam = BaseLayerKey;
export const LAYER_PARAMS = Object.keys(META_LAYER) as LayerParam[];

/** Where a param tensor lives in the model: a layer weight, or one of the global ones. */
export type ParamRef = { layer: number; kind: LayerParam } | { layer: -1; kind: "tokEmbeddings" | "norm" | "output" };

export const layerParamName = (l: number, k: LayerParam): string => `layers.${l}.${META_LAYER[k]}`;

/** Every weight tensor of a model by its Meta checkpoint name, in model order. */
export function paramTensors(nLayers: number): Map<string, ParamRef> {
  const m = new Map<string, ParamRef>();
  m.set("tok_embeddings.weight", { layer: -1, kind: "tokEmbeddings" });
  for (let l = 0; l < nLayers; l++) for (const k of LAYER_PARAMS) m.set(layerParamName(l, k), { layer: l, kind: k });
  m.set("norm.weight", { layer: -1, kind: "norm" });
  m.set("output.weight", { layer: -1, kind: "output" });
  return m;
}

export function paramOf(w: QuantizedModelWeights, r: ParamRef): QuantizedLinear | QuantizedTable {
  if (r.layer === -1) return w[r.kind as "tokEmbeddings" | "norm" | "output"];
  const layer = w.layers[r.layer];
  const k = r.kind as LayerParam;
  if (k === "attnNorm" || k === "ffnNorm") return layer[k];
  return layer.linears[k];
}

/** Activation tensor name of a tapKey's (layer, tap). */
function actName(layer: number, tap: string, nLayers: number): string {
  return layer < 0 || layer >= nLayers ? tap : `layers.${layer}.${tap}`;
}

const kvName = (which: "k" | "v", l: number, h: number) => `${which}_cache.l${l}.h${h}`;

/** The activation names of a model mapped to their tapKey (taps k / v excluded: they are the K/V caches). */
function activationNames(nLayers: number): Map<string, string> {
  const m = new Map<string, string>();
  m.set("embedding", tapKey(-1, "embedding"));
  for (let l = 0; l < nLayers; l++)
    for (const tap of LAYER_TAPS) if (tap !== "k" && tap !== "v") m.set(actName(l, tap, nLayers), tapKey(l, tap as TapName));
  m.set("final_norm", tapKey(nLayers, "final_norm"));
  return m;
}

function paramEntries(q: QuantizedLinear | QuantizedTable): IntEncodingEntry[] {
  if (q.granularity === "per-tensor-affine") return [entryFromEncoding(q.encoding)];
  if (q.granularity === "per-channel") return perChannelEntries(q);
  return perChannelEntries({ ...q, bits: 4, scales: q.channelScales.map((s) => Math.fround(s * 16)) } as never);
}

/** The AIMET 1.x file of a calibration. */
export function encodingsToFile(qenc: QuantEncodings, model: Model): EncodingsFile {
  const c = model.config;
  const act: Record<string, IntEncodingEntry[]> = {};
  const putActs = (prefix: string, acts: Map<string, QuantEncoding>) => {
    for (const [name, key] of activationNames(c.nLayers)) {
      const e = acts.get(key);
      if (e) act[prefix + name] = [entryFromEncoding(e)];
    }
  };
  putActs("", qenc.activations);
  act.logits = [entryFromEncoding(qenc.logits)];
  for (let l = 0; l < c.nLayers; l++)
    for (let h = 0; h < c.nKvHeads; h++) {
      act[kvName("k", l, h)] = [entryFromEncoding(qenc.kv.k[l * c.nKvHeads + h])];
      act[kvName("v", l, h)] = [entryFromEncoding(qenc.kv.v[l * c.nKvHeads + h])];
    }
  if (qenc.prefill) putActs("prefill.", qenc.prefill.activations);
  const params: Record<string, IntEncodingEntry[]> = {};
  const blocks: Record<string, BlockEncodingEntry> = {};
  for (const [name, ref] of paramTensors(c.nLayers)) {
    const q = paramOf(qenc.weights, ref);
    params[name] = paramEntries(q);
    if (q.granularity === "per-block") {
      const nBlocks = q.multipliers.length / q.rows;
      blocks[name] = {
        bitwidth: 4,
        blockSize: q.blockSize,
        compressedBitwidth: 4,
        channelScales: Array.from(q.channelScales),
        perBlockIntScale: Array.from({ length: q.rows }, (_, r) => Array.from(q.multipliers.subarray(r * nBlocks, (r + 1) * nBlocks))),
      };
    }
  }
  return { version: AIMET_1X_VERSION, activationEncodings: act, paramEncodings: params, ...(Object.keys(blocks).length ? { blockEncodings: blocks } : {}) };
}

/** Valid names and, per name, the bitwidth / channel count / symmetry the calibration's scheme implies. */
export function encodingsExpectations(qenc: QuantEncodings, model: Model): { validNames: Set<string>; expected: Map<string, TensorExpectation> } {
  const c = model.config;
  const expected = new Map<string, TensorExpectation>();
  const fromEnc = (e: QuantEncoding): TensorExpectation => ({ bitwidth: e.bitwidth, channels: 1, symmetric: e.symmetric });
  for (const [name, key] of activationNames(c.nLayers)) {
    const e = qenc.activations.get(key);
    if (e) {
      expected.set(name, fromEnc(e));
      // The prefill graph's own activations share the scheme's bitwidths (accepted even in kv mode).
      expected.set("prefill." + name, fromEnc(qenc.prefill?.activations.get(key) ?? e));
    }
  }
  expected.set("logits", fromEnc(qenc.logits));
  for (let l = 0; l < c.nLayers; l++)
    for (let h = 0; h < c.nKvHeads; h++) {
      expected.set(kvName("k", l, h), fromEnc(qenc.kv.k[l * c.nKvHeads + h]));
      expected.set(kvName("v", l, h), fromEnc(qenc.kv.v[l * c.nKvHeads + h]));
    }
  for (const [name, ref] of paramTensors(c.nLayers)) {
    const q = paramOf(qenc.weights, ref);
    if (q.granularity === "per-tensor-affine") expected.set(name, fromEnc(q.encoding));
    else expected.set(name, { bitwidth: q.granularity === "per-block" ? 4 : q.bits, channels: q.rows, symmetric: true });
  }
  return { validNames: new Set(expected.keys()), expected };
}

/**
 * A new calibration whose activation, K/V and logits encodings are replaced by the file's (names missing from
 * the file keep the calibrated encoding). The file must have been read with encodingsExpectations' options;
 * a name or bitwidth that does not fit is still rejected here (UserError naming the tensor).
 */
export function applyEncodingsFile(qenc: QuantEncodings, file: EncodingsFile, model: Model, path = "encodings"): QuantEncodings {
  const c = model.config;
  const { expected } = encodingsExpectations(qenc, model);
  const get = (name: string, section: Record<string, unknown[]>): QuantEncoding | undefined => {
    const list = section[name] as IntEncodingEntry[] | undefined;
    if (!list) return undefined;
    const e = list[0];
    const want = expected.get(name);
    if (e.dtype !== "int") throw new UserError(`${path}: activation_encodings ${JSON.stringify(name)}: a float encoding is not supported with --ptq`);
    if (want?.bitwidth !== undefined && e.bitwidth !== want.bitwidth)
      throw new UserError(`${path}: activation_encodings ${JSON.stringify(name)}: bitwidth ${e.bitwidth}, expected ${want.bitwidth}`);
    return encodingFromEntry(e, { signed: false });
  };
  for (const name of [...Object.keys(file.activationEncodings), ...Object.keys(file.paramEncodings)])
    if (!expected.has(name)) throw new UserError(`${path}: ${JSON.stringify(name)}: unknown tensor name`);
  const A = file.activationEncodings;
  const overrideActs = (prefix: string, acts: Map<string, QuantEncoding>) => {
    const out = new Map(acts);
    for (const [name, key] of activationNames(c.nLayers)) {
      const e = get(prefix + name, A);
      if (e && out.has(key)) out.set(key, e);
    }
    return out;
  };
  const kv: KvEncodings = { k: qenc.kv.k.slice(), v: qenc.kv.v.slice() };
  for (let l = 0; l < c.nLayers; l++)
    for (let h = 0; h < c.nKvHeads; h++) {
      const i = l * c.nKvHeads + h;
      kv.k[i] = get(kvName("k", l, h), A) ?? kv.k[i];
      kv.v[i] = get(kvName("v", l, h), A) ?? kv.v[i];
    }
  const logits = get("logits", A) ?? qenc.logits;
  const out: QuantEncodings = { ...qenc, activations: overrideActs("", qenc.activations), kv, logits };
  if (qenc.prefill) out.prefill = { ...qenc.prefill, activations: overrideActs("prefill.", qenc.prefill.activations), kv, logits };
  return out;
}
