// Owns the `--ptq` calibration of SPEC §7: one greedy fp32 run of runner sessions on the instrumented reference
// graphs (the KV graph first, then the prefill graph), MinMax observers on every activation tap, and the encodings
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
import { createEngineBackend } from "../engine/engine-backend.js";
import { createKvSession, createSession } from "../runner/session.js";
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
  /**
   * Progress in graph calls (a progress bar; never changes the result): called with (0, total) before the
   * weights are quantized, then after every call. `total` is the most calls the run can make (EOS may end it
   * sooner), the prefill graph's one call included.
   */
  onProgress?: (done: number, total: number) => void;
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
  const { headDim: hd, nKvHeads: H, nLayers: NL } = c;
  const prompt = o.promptTokens;
  const n = prompt.length;
  const eos = o.eos ?? 2;
  if (!Number.isInteger(o.kvSeqLen) || o.kvSeqLen < 2) throw new RangeError(`kv_seq_len must be an integer >= 2, got ${o.kvSeqLen}`);
  const L = o.kvSeqLen - 1;
  if (n < 1 || n > L) throw new RangeError(`calibrate: ${n} prompt tokens do not fit kv_seq_len ${o.kvSeqLen}`);
  // KV calls: the prompt's n, then one per generated token (at most maxTokens), within the cache's L positions.
  const totalCalls = Math.min(L, n + (o.maxTokens ?? Infinity)) + (o.prefillSeqLen !== undefined ? 1 : 0);
  o.onProgress?.(0, totalCalls);
  const weights = quantizeModelWeights(model, scheme, o.weightOptions);

  // --- KV graph: a greedy kv-mode session of the fp32 graphs on a Smart Mask cache (slot p holds position p,
  // the mask opens as it fills); the generated tokens are fed until EOS or maxTokens (neither is fed). ---
  const obs = newObservers(NL * H);
  const tap = observerTap(obs, H, hd);
  const s = createKvSession(createEngineBackend({ model, kvSeqLen: o.kvSeqLen }), c, o.kvSeqLen, prompt);
  const seq = prompt.slice();
  const maxGen = o.maxTokens ?? Infinity;
  let generated = 0;
  let fed = 0;
  while (s.phase !== "done") {
    const call = s.callSync({ tap });
    fed++;
    o.onProgress?.(fed, totalCalls);
    obs.logits.update(call.logits);
    if (call.position < n - 1) {
      s.advance(prompt[call.position + 1]);
      continue;
    }
    const next = argmax(call.row);
    if (next === eos || generated >= maxGen) break;
    seq.push(next);
    generated++;
    s.advance(next);
  }
  const embeddingEnc = weights.tokEmbeddings.encoding;
  const kvPart = finish(obs, scheme, embeddingEnc);

  // --- Prefill graph over the padded prompt; outputs forced onto the KV graph's encodings. ---
  let prefill: PrefillEncodings | undefined;
  if (o.prefillSeqLen !== undefined) {
    if (!Number.isInteger(o.prefillSeqLen) || o.prefillSeqLen < 2) throw new RangeError(`prefill_seq_len must be an integer >= 2, got ${o.prefillSeqLen}`);
    const P = o.prefillSeqLen - 1;
    if (n > P) throw new RangeError(`calibrate: ${n} prompt tokens do not fit prefill_seq_len ${o.prefillSeqLen}`);
    const pobs = newObservers(NL * H);
    // One call of the prefill graph over the prompt right-padded with id 0 (a prefill-mode session's first call).
    const backend = createEngineBackend({ model, prefillSeqLen: o.prefillSeqLen });
    const ps = createSession({ backend, config: c, mode: "prefill", kvSeqLen: 0, prefillSeqLen: o.prefillSeqLen, kvUpdater: "smart_mask", promptTokens: prompt });
    pobs.logits.update(ps.callSync({ tap: observerTap(pobs, H, hd) }).logits);
    o.onProgress?.(totalCalls, totalCalls);
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
