// Owns the device runner's generation loop (SPEC §6) on the quantized graphs of SPEC §7 (`--ptq`): the same
// flow as src/runner/generate.ts (kv and hybrid modes, the runner's quirks, stop tokens, timings), with the
// device's bytes at the graph boundary: uint8 caches (uint16 for the 16-bit K/V schemes), a uint16 mask,
// uint16 logits dequantized with the shared logits encoding before sampling. The hybrid hand-over copies
// the prefill graph's K/V codes into the KV caches through the manager as they are (calibration forced the
// prefill outputs onto the KV graph's encodings, so the codes mean the same thing in both graphs).
import type { Model } from "../engine/weights.js";
import { createShiftPointer } from "../kvcache/shift-pointer.js";
import { createSmartMask } from "../kvcache/smart-mask.js";
import { QUANT_ENCODING, type CacheEncoding, type KvCacheManager } from "../kvcache/types.js";
import { checkRunShape, type GenerateResult, type GenerateTimings, type KvUpdater } from "../runner/generate.js";
import type { Sampler } from "../runner/sampler.js";
import { UserError } from "../util/errors.js";
import type { QuantEncodings } from "./calibrate.js";
import { dequantizeLogits, quantCausalMask, quantKvForward, quantPrefillForward, type CacheCodes } from "./qgraph.js";

/** uint16 caches (16-bit K/V schemes) with the quantized uint16 mask. */
export const QUANT16_ENCODING: CacheEncoding<Uint16Array, Uint16Array> = { cache: Uint16Array, mask: Uint16Array, attend: 65535, blocked: 0 };

export type QuantCacheManager = KvCacheManager<CacheCodes, Uint16Array>;

export interface GenerateQuantizedOptions {
  model: Model;
  qenc: QuantEncodings;
  mode: "kv" | "hybrid";
  kvUpdater: KvUpdater;
  kvSeqLen: number;
  prefillSeqLen: number;
  /** Prompt ids as fed (BOS included). */
  promptTokens: number[];
  stopTokens: readonly number[];
  sampler: Sampler;
  onToken?: (prev: number, token: number) => void;
  /** The dequantized logits row each generated token was sampled from, in order. */
  onSampleLogits?: (row: Float32Array) => void;
  /**
   * Start every cache byte at the K/V zero point (default true), so never-written and padding slots
   * dequantize to 0.0 and a masked slot's score stays far below the mask's -255. With false the caches start
   * as zero bytes (the seed runner's allocation): code 0 dequantizes to about -amax in every dimension, whose
   * scores can outweigh the mask, so masked slots may leak and Smart Mask / Shift Pointer (which leave
   * different bytes in unused slots) may then disagree.
   */
  fillZeroPoint?: boolean;
  now?: () => number;
}

export interface GenerateQuantizedResult extends GenerateResult {
  /** The cache manager at the end (its caches hold the device bytes; tests read them with readK / readV). */
  cache: QuantCacheManager;
}

const wallClock = () => performance.timeOrigin + performance.now();

/** The cache element type of a calibration: uint8 when every K/V encoding fits 8 bits, else uint16. */
export function cacheEncodingFor(qenc: QuantEncodings): CacheEncoding<CacheCodes, Uint16Array> {
  const bits = Math.max(...qenc.kv.k.map((e) => e.bitwidth), ...qenc.kv.v.map((e) => e.bitwidth));
  return (bits <= 8 ? QUANT_ENCODING : QUANT16_ENCODING) as CacheEncoding<CacheCodes, Uint16Array>;
}

/** Fills every cache buffer with the K/V zero point (whole buffers when all heads share one, else the views). */
function fillCaches(cache: QuantCacheManager, qenc: QuantEncodings, mode: "kv" | "hybrid"): void {
  const zps = new Set([...qenc.kv.k, ...qenc.kv.v].map((e) => e.zeroPoint));
  const inp = cache.kvInputs();
  const outs = cache.kvOutputs();
  const pre = mode === "hybrid" ? cache.prefillOutputs() : undefined;
  if (zps.size === 1) {
    const zp = [...zps][0];
    const arrays = [...inp.kCaches, ...inp.vCaches, ...outs.kOut, ...outs.vOut, ...(pre ? [...pre.kOut, ...pre.vOut] : [])];
    for (const buf of new Set(arrays.map((a) => a.buffer))) {
      const Ctor = arrays[0].constructor as typeof Uint8Array | typeof Uint16Array;
      new Ctor(buf as ArrayBuffer).fill(zp);
    }
    return;
  }
  inp.kCaches.forEach((a, i) => a.fill(qenc.kv.k[i].zeroPoint));
  inp.vCaches.forEach((a, i) => a.fill(qenc.kv.v[i].zeroPoint));
}

export async function generateQuantized(o: GenerateQuantizedOptions): Promise<GenerateQuantizedResult> {
  const mode = o.mode as string;
  if (mode !== "kv" && mode !== "hybrid") throw new UserError(`--ptq supports kv and hybrid (--model_mode ${mode})`);
  const { model, qenc, sampler } = o;
  const config = model.config;
  checkRunShape({ mode: o.mode, kvSeqLen: o.kvSeqLen, prefillSeqLen: o.prefillSeqLen, promptTokens: o.promptTokens, config });
  if (o.mode === "hybrid" && !qenc.prefill) throw new Error("generateQuantized: hybrid mode needs encodings calibrated with a prefill_seq_len");
  const now = o.now ?? wallClock;
  const prompt = o.promptTokens;
  const n = prompt.length;
  const V = config.vocabSize;
  const stops = new Set(o.stopTokens);
  const dims = { nLayers: config.nLayers, nKvHeads: config.nKvHeads, headDim: config.headDim, kvSeqLen: o.kvSeqLen, prefillSeqLen: o.prefillSeqLen, mode: o.mode };
  const enc = cacheEncodingFor(qenc);
  const cache: QuantCacheManager = o.kvUpdater === "shift_pointer" ? createShiftPointer(dims, enc) : createSmartMask(dims, enc);
  if (o.fillZeroPoint ?? true) fillCaches(cache, qenc, o.mode);
  // The runner's seq_len: max(prefill cache len, kv cache len) + 1; it loops while pos < seq_len - 1.
  const seqLen = cache.sizedLen + 1;
  const generated: number[] = [];
  const t: GenerateTimings = { inferenceStartMs: now(), promptEvalEndMs: 0, firstTokenMs: 0, inferenceEndMs: 0, samplingMs: 0 };
  let stoppedOnToken = false;

  const sample = (row: Float32Array): number => {
    const s = now();
    const tok = sampler.sample(row);
    t.samplingMs += now() - s;
    return tok;
  };
  const emit = (prev: number, tok: number, row: Float32Array) => {
    generated.push(tok);
    o.onSampleLogits?.(row);
    o.onToken?.(prev, tok);
  };

  let pos = 0;
  let cur = prompt[0];

  if (o.mode === "hybrid") {
    const P = o.prefillSeqLen - 1;
    const tokens = new Int32Array(P); // right-padded with id 0
    prompt.forEach((id, i) => (tokens[i] = id));
    const out = { logits: new Uint16Array(P * V), ...cache.prefillOutputs() };
    quantPrefillForward(model, qenc, o.prefillSeqLen, { tokens, attnMask: quantCausalMask(P) }, out);
    pos = n - 1;
    const row = dequantizeLogits(qenc, out.logits.subarray(pos * V, (pos + 1) * V));
    const prev = prompt[pos];
    cur = sample(row);
    pos += 1;
    emit(prev, cur, row);
    t.firstTokenMs = t.promptEvalEndMs = now();
    // Quirk (as the fp32 runner): a stop token sampled from the prefill graph does not end generation.
    cache.handOverFromPrefill(n);
  }

  const tokenIn = new Int32Array(1);
  const posIn = new Int32Array(1);
  const logits = new Uint16Array(V);
  cache.startKv();
  while (pos < seqLen - 1) {
    const inp = cache.kvInputs();
    const outs = cache.kvOutputs();
    tokenIn[0] = cur;
    posIn[0] = pos;
    quantKvForward(model, qenc, o.kvSeqLen, { tokens: tokenIn, attnMask: inp.attnMask, inputPos: posIn, kCaches: inp.kCaches, vCaches: inp.vCaches }, { logits, kOut: outs.kOut, vOut: outs.vOut });
    if (o.mode === "kv") {
      // Quirk (kept, as generate.ts): first_token stamped after the call at pos == n, prompt_eval_end at n - 1.
      if (pos === n) t.firstTokenMs = now();
      else if (pos === n - 1) t.promptEvalEndMs = now();
    }
    const row = dequantizeLogits(qenc, logits);
    const prev = cur;
    // Quirk: the runner samples at every step, prompt positions included (the RNG advances).
    cur = sample(row);
    if (pos < n - 1) cur = prompt[pos + 1];
    cache.updateAfterKvStep(pos);
    pos += 1;
    if (pos >= n) emit(prev, cur, row);
    if (pos >= n && stops.has(cur)) {
      stoppedOnToken = true;
      break;
    }
  }

  t.inferenceEndMs = now();
  if (t.promptEvalEndMs === 0) t.promptEvalEndMs = t.inferenceEndMs;
  if (t.firstTokenMs === 0) t.firstTokenMs = t.inferenceEndMs;
  return { promptTokens: prompt.slice(), generatedTokens: generated, finalPos: pos, stoppedOnToken, timings: t, cache };
}
