// Owns the `--ptq` calibration of SPEC §7: one greedy fp32 run through the instrumented reference graphs
// (the KV graph first, then the prefill graph), MinMax observers on every activation tap, and the encodings
// the quantized graphs (src/quant/qgraph.ts) run with.
//
// What is observed and which encoding each tensor gets:
// - every LAYER_TAPS tensor of every layer plus `final_norm`: unsigned per-tensor affine at the scheme's
//   activation bitwidth over the running min/max of everything the graph computed (prompt rows included);
// - `embedding` (the gather output) takes the embedding table's own encoding (a gather passes its table's
//   encoding through); its observed range is not used;
// - `k` and `v` are not in `activations`: the new K / V of each (layer, KV head) feed both attention matmuls
//   and the caches, so they take the scheme's symmetric unsigned K/V spec (8-bit, zp 128 for 16a4w) with
//   amax over every value seen (the caches only ever hold earlier outputs, so this covers them too);
// - logits: one unsigned affine encoding at the activation bitwidth (uint16 for the 16-bit schemes);
// - the prefill graph is calibrated on the prompt right-padded with id 0 (padding rows observed too, as the
//   device computes them); its own activation encodings are kept, but its outputs (logits, K, V) are FORCED
//   to the KV graph's encodings so prefill K/V bytes can be copied into the KV caches as they are.
// Deterministic: a pure function of (model, scheme, options).
import type { Model } from "../engine/weights.js";
import { createKvGraph, kvForward } from "../engine/kv-graph.js";
import { createPrefillGraph, prefillForward } from "../engine/prefill-graph.js";
import { causalMask, MASK_ATTEND, MASK_BLOCKED } from "../engine/graph-io.js";
import type { TapName } from "../engine/decoder.js";
import { activationEncoding, symmetricEncoding, type QuantEncoding } from "./affine.js";
import { quantizeModelWeights, SCHEMES, type QuantizeModelOptions, type SchemeName } from "./schemes.js";

export type Encoding = QuantEncoding;

/** Key of an activation tap in `QuantEncodings.activations`: `${layer}:${name}` (embedding -1, final_norm nLayers). */
export const tapKey = (layer: number, name: TapName): string => `${layer}:${name}`;

/** Taps whose encoding is the symmetric K/V spec (kept in `kv`, not in `activations`). */
const KV_TAPS: ReadonlySet<TapName> = new Set<TapName>(["k", "v"]);

export interface KvEncodings {
  /** Index layer * nKvHeads + head. */
  k: Encoding[];
  v: Encoding[];
}

export interface PrefillEncodings {
  /** The prefill graph's own activation encodings (same keys as the KV graph's). */
  activations: Map<string, Encoding>;
  /** Forced: the very encodings of the KV graph (`QuantEncodings.kv` / `.logits`). */
  kv: KvEncodings;
  logits: Encoding;
  /** What the prefill graph's outputs would have been encoded with had they not been forced (diagnostics). */
  observedOutputs: { kv: KvEncodings; logits: Encoding };
  /** Observed [min, max] of every prefill activation tap (by tapKey). */
  activationRanges: Map<string, [number, number]>;
}

export interface QuantEncodings {
  scheme: SchemeName;
  /** KV graph activation encodings by tapKey. */
  activations: Map<string, Encoding>;
  /** K/V (graph outputs and caches) per (layer, KV head). */
  kv: KvEncodings;
  /** Logits, shared by both graphs. */
  logits: Encoding;
  weights: ReturnType<typeof quantizeModelWeights>;
  /** Present when a prefill_seq_len was given. */
  prefill?: PrefillEncodings;
  /** The tokens the KV graph was fed during calibration (prompt, then greedy tokens), in order. */
  calibrationTokens: number[];
  /** Observed [min, max] of every KV-graph activation tap (by tapKey), so a recipe can re-encode at other bits. */
  activationRanges: Map<string, [number, number]>;
}

export interface CalibrateOptions {
  kvSeqLen: number;
  /** Calibrate the prefill graph too (hybrid). */
  prefillSeqLen?: number;
  promptTokens: number[];
  /** Cap on generated tokens (default: up to the cache length). */
  maxTokens?: number;
  /** Stop token (default 2, llama2 EOS). */
  eos?: number;
  /** Passed to quantizeModelWeights (e.g. blockSize 32 for 16a4w_block, stories false for non-llama2.c heads). */
  weightOptions?: QuantizeModelOptions;
}

class MinMax {
  min = Infinity;
  max = -Infinity;
  update(xs: ArrayLike<number>, start = 0, end = xs.length, stride = 1): void {
    for (let i = start; i < end; i += stride) {
      const v = xs[i];
      if (Number.isNaN(v)) throw new RangeError("calibrate: NaN in an observed tensor");
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
    }
  }
  get amax(): number {
    return Math.max(Math.abs(this.min), Math.abs(this.max));
  }
  affine(bits: number): Encoding {
    if (this.min > this.max) throw new Error("calibrate: an observer saw nothing");
    return activationEncoding(this.min, this.max, bits);
  }
}

interface Observers {
  acts: Map<string, MinMax>;
  k: MinMax[];
  v: MinMax[];
  logits: MinMax;
}

function newObservers(nHeadsTotal: number): Observers {
  return {
    acts: new Map(),
    k: Array.from({ length: nHeadsTotal }, () => new MinMax()),
    v: Array.from({ length: nHeadsTotal }, () => new MinMax()),
    logits: new MinMax(),
  };
}

/** A TapFn feeding the observers; k / v are split per KV head (rows are [T, nKvHeads*hd]). */
function observerTap(obs: Observers, nKvHeads: number, hd: number) {
  const kvDim = nKvHeads * hd;
  return (layer: number, name: TapName, data: Float32Array): void => {
    if (KV_TAPS.has(name)) {
      const set = name === "k" ? obs.k : obs.v;
      const T = data.length / kvDim;
      for (let g = 0; g < nKvHeads; g++)
        for (let t = 0; t < T; t++) set[layer * nKvHeads + g].update(data, t * kvDim + g * hd, t * kvDim + (g + 1) * hd);
      return;
    }
    const key = tapKey(layer, name);
    let o = obs.acts.get(key);
    if (!o) obs.acts.set(key, (o = new MinMax()));
    o.update(data);
  };
}

function finish(obs: Observers, scheme: SchemeName, embedding: Encoding): { activations: Map<string, Encoding>; kv: KvEncodings; logits: Encoding; ranges: Map<string, [number, number]> } {
  const s = SCHEMES[scheme];
  const activations = new Map<string, Encoding>();
  const ranges = new Map<string, [number, number]>();
  for (const key of [...obs.acts.keys()].sort()) ranges.set(key, [obs.acts.get(key)!.min, obs.acts.get(key)!.max]);
  // Keys in sorted order so the map's iteration order does not depend on tap order.
  for (const key of [...obs.acts.keys()].sort()) {
    activations.set(key, key === tapKey(-1, "embedding") ? embedding : obs.acts.get(key)!.affine(s.activationBits));
  }
  const sym = (o: MinMax) => symmetricEncoding(o.amax, s.kv.bits, { signed: false });
  return { activations, kv: { k: obs.k.map(sym), v: obs.v.map(sym) }, logits: obs.logits.affine(s.activationBits), ranges };
}

const argmax = (row: Float32Array): number => {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
};

/** SPEC §7 calibration; see the file header for what each tensor's encoding is. */
export function calibrate(model: Model, scheme: SchemeName, o: CalibrateOptions): QuantEncodings {
  if (!SCHEMES[scheme]) throw new RangeError(`unknown quantization scheme ${scheme}`);
  const c = model.config;
  const { headDim: hd, nKvHeads: H, nLayers: NL, vocabSize: V } = c;
  const prompt = o.promptTokens;
  const n = prompt.length;
  const eos = o.eos ?? 2;
  const g = createKvGraph(model, o.kvSeqLen);
  const L = g.cacheLen;
  if (n < 1 || n > L) throw new RangeError(`calibrate: ${n} prompt tokens do not fit kv_seq_len ${o.kvSeqLen}`);
  const weights = quantizeModelWeights(model, scheme, o.weightOptions);

  // --- KV graph: greedy fp32 run with plain caches (slot p holds position p, mask opened as it fills). ---
  const obs = newObservers(NL * H);
  const tap = observerTap(obs, H, hd);
  const kCaches = Array.from({ length: NL * H }, () => new Float32Array(hd * L));
  const vCaches = Array.from({ length: NL * H }, () => new Float32Array(L * hd));
  const mask = new Float32Array(L + 1).fill(MASK_BLOCKED);
  mask[L] = MASK_ATTEND;
  const out = {
    logits: new Float32Array(V),
    kOut: Array.from({ length: NL * H }, () => new Float32Array(hd)),
    vOut: Array.from({ length: NL * H }, () => new Float32Array(hd)),
  };
  const tokens = new Int32Array(1);
  const inputPos = new Int32Array(1);
  const seq = prompt.slice();
  const maxGen = o.maxTokens ?? Infinity;
  let generated = 0;
  let fed = 0;
  for (let pos = 0; pos < L; pos++) {
    tokens[0] = seq[pos];
    inputPos[0] = pos;
    kvForward(g, { tokens, attnMask: mask, inputPos, kCaches, vCaches }, out, tap);
    fed++;
    obs.logits.update(out.logits);
    for (let i = 0; i < NL * H; i++) {
      for (let d = 0; d < hd; d++) kCaches[i][d * L + pos] = out.kOut[i][d];
      vCaches[i].set(out.vOut[i], pos * hd);
    }
    mask[pos] = MASK_ATTEND;
    if (pos < n - 1) continue;
    const next = argmax(out.logits);
    if (next === eos || generated >= maxGen) break;
    seq.push(next);
    generated++;
  }
  const embeddingEnc = weights.tokEmbeddings.encoding;
  const kvPart = finish(obs, scheme, embeddingEnc);

  // --- Prefill graph over the padded prompt; outputs forced onto the KV graph's encodings. ---
  let prefill: PrefillEncodings | undefined;
  if (o.prefillSeqLen !== undefined) {
    const pg = createPrefillGraph(model, o.prefillSeqLen);
    const P = pg.rows;
    if (n > P) throw new RangeError(`calibrate: ${n} prompt tokens do not fit prefill_seq_len ${o.prefillSeqLen}`);
    const pobs = newObservers(NL * H);
    const ptokens = new Int32Array(P);
    prompt.forEach((t, i) => (ptokens[i] = t));
    const pout = prefillForward(pg, { tokens: ptokens, attnMask: causalMask(P) }, undefined, observerTap(pobs, H, hd));
    pobs.logits.update(pout.logits);
    const own = finish(pobs, scheme, embeddingEnc);
    prefill = {
      activations: own.activations,
      kv: kvPart.kv,
      logits: kvPart.logits,
      observedOutputs: { kv: own.kv, logits: own.logits },
      activationRanges: own.ranges,
    };
  }

  return { scheme, activations: kvPart.activations, kv: kvPart.kv, logits: kvPart.logits, weights, prefill, calibrationTokens: seq.slice(0, fed), activationRanges: kvPart.ranges };
}
