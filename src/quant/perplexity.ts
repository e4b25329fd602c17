// Owns perplexity of a token sequence under the KV graph, fp32 or quantized (`--ptq`, SPEC §7), and the
// single-token "steppers" both perplexity and the quantization report (src/quant/report.ts) drive.
//
// Perplexity is teacher-forced: the graph is fed token t at position p and its logits score token t+1 with
// a log-softmax in float64 (the quantized graph's logits are its uint16 codes, dequantized). The static KV
// graph holds at most L = kv_seq_len - 1 positions, so the sequence is cut into consecutive windows of at
// most L tokens; each window restarts the cache (a fresh cache manager, positions from 0) and scores its
// own tokens 1..w-1 only: the first token of every window is context, never scored, and no context crosses
// a window boundary. Windows overlap by one token (window k+1 starts with window k's last token) so every
// token of the sequence but the first is scored exactly once. One pass per graph; deterministic.
import type { Model } from "../engine/weights.js";
import { createKvGraph, kvForward } from "../engine/kv-graph.js";
import { MASK_ATTEND, MASK_BLOCKED } from "../engine/graph-io.js";
import type { TapFn } from "../engine/decoder.js";
import { createSmartMask } from "../kvcache/smart-mask.js";
import { createShiftPointer } from "../kvcache/shift-pointer.js";
import { QUANT_ENCODING, type CacheEncoding, type KvCacheManager } from "../kvcache/types.js";
import type { QuantEncodings } from "./calibrate.js";
import { dequantizeLogits, quantKvForward } from "./qgraph.js";

export type CacheKind = "smart_mask" | "shift_pointer";

/** One KV-graph call at a time on its own caches; `step` must be called with positions 0, 1, 2, ... */
export interface Stepper {
  /** Cache slots L = kv_seq_len - 1: the most positions one run can feed. */
  readonly cacheLen: number;
  /** Feeds `token` at position `pos` and returns that step's logits (a fresh fp32 array). */
  step(token: number, pos: number, tap?: TapFn): Float32Array;
}

/** The fp32 KV graph with plain caches: slot p holds position p and the mask opens as the cache fills. */
export function fp32Stepper(model: Model, kvSeqLen: number): Stepper {
  const c = model.config;
  const g = createKvGraph(model, kvSeqLen);
  const L = g.cacheLen;
  const NH = c.nLayers * c.nKvHeads;
  const hd = c.headDim;
  const kCaches = Array.from({ length: NH }, () => new Float32Array(hd * L));
  const vCaches = Array.from({ length: NH }, () => new Float32Array(L * hd));
  const mask = new Float32Array(L + 1).fill(MASK_BLOCKED);
  mask[L] = MASK_ATTEND;
  const tokens = new Int32Array(1);
  const inputPos = new Int32Array(1);
  return {
    cacheLen: L,
    step(token, pos, tap) {
      if (!(pos >= 0 && pos < L)) throw new RangeError(`position ${pos} does not fit ${L} cache slots`);
      tokens[0] = token;
      inputPos[0] = pos;
      const o = kvForward(g, { tokens, attnMask: mask, inputPos, kCaches, vCaches }, undefined, tap);
      for (let i = 0; i < NH; i++) {
        for (let d = 0; d < hd; d++) kCaches[i][d * L + pos] = o.kOut[i][d];
        vCaches[i].set(o.vOut[i], pos * hd);
      }
      mask[pos] = MASK_ATTEND;
      return o.logits.slice();
    },
  };
}

/** uint16 caches (16-bit K/V schemes) with the quantized uint16 mask. */
const QUANT16_ENCODING: CacheEncoding<Uint16Array, Uint16Array> = { cache: Uint16Array, mask: Uint16Array, attend: 65535, blocked: 0 };

type Codes = Uint8Array | Uint16Array;

/**
 * The quantized KV graph on device bytes, driving a real cache manager (uint8 caches, or uint16 for 16-bit
 * K/V schemes; uint16 mask). Caches start as zero bytes, as the managers allocate them. Returns the
 * dequantized logits codes.
 */
export function quantStepper(model: Model, qenc: QuantEncodings, kvSeqLen: number, kind: CacheKind = "smart_mask"): Stepper {
  const c = model.config;
  const kvBits = Math.max(...qenc.kv.k.map((e) => e.bitwidth), ...qenc.kv.v.map((e) => e.bitwidth));
  const enc = (kvBits <= 8 ? QUANT_ENCODING : QUANT16_ENCODING) as CacheEncoding<Codes, Uint16Array>;
  const dims = { nLayers: c.nLayers, nKvHeads: c.nKvHeads, headDim: c.headDim, kvSeqLen, prefillSeqLen: 2, mode: "kv" as const };
  const cache: KvCacheManager<Codes, Uint16Array> = kind === "smart_mask" ? createSmartMask(dims, enc) : createShiftPointer(dims, enc);
  cache.startKv();
  const logits = new Uint16Array(c.vocabSize);
  const tokens = new Int32Array(1);
  const inputPos = new Int32Array(1);
  return {
    cacheLen: cache.cacheLen,
    step(token, pos) {
      if (!(pos >= 0 && pos < cache.cacheLen)) throw new RangeError(`position ${pos} does not fit ${cache.cacheLen} cache slots`);
      tokens[0] = token;
      inputPos[0] = pos;
      const inp = cache.kvInputs();
      const outs = cache.kvOutputs();
      quantKvForward(model, qenc, kvSeqLen, { tokens, attnMask: inp.attnMask, inputPos, kCaches: inp.kCaches, vCaches: inp.vCaches }, { logits, kOut: outs.kOut, vOut: outs.vOut });
      cache.updateAfterKvStep(pos);
      return dequantizeLogits(qenc, logits);
    },
  };
}

/** log softmax(logits)[target] in float64 (max-shifted). */
export function logProb(logits: ArrayLike<number>, target: number): number {
  if (!(target >= 0 && target < logits.length)) throw new RangeError(`token ${target} is outside the vocabulary [0, ${logits.length})`);
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) if (+logits[i] > m) m = +logits[i];
  let s = 0;
  for (let i = 0; i < logits.length; i++) s += Math.exp(+logits[i] - m);
  return +logits[target] - m - Math.log(s);
}

export interface Perplexity {
  /** Tokens scored (every token but the first; see the file header). */
  tokens: number;
  /** Mean negative log-likelihood in nats per scored token. */
  nllMean: number;
  /** exp(nllMean). */
  ppl: number;
}

/**
 * Teacher-forced perplexity of `tokens` with a fresh stepper per window of at most L tokens (see the file
 * header). `newStepper` is called once per window.
 */
export function perplexityWith(newStepper: () => Stepper, tokens: readonly number[]): Perplexity {
  if (tokens.length < 2) throw new RangeError(`perplexity: need at least 2 tokens, got ${tokens.length}`);
  let nll = 0;
  let scored = 0;
  let start = 0;
  while (start < tokens.length - 1) {
    const s = newStepper();
    const L = s.cacheLen;
    if (L < 2) throw new RangeError("perplexity: kv_seq_len must be at least 3 (two cache slots per window)");
    const end = Math.min(start + L, tokens.length); // window tokens[start, end)
    for (let p = 0; p < end - start - 1; p++) {
      const logits = s.step(tokens[start + p], p);
      nll -= logProb(logits, tokens[start + p + 1]);
      scored++;
    }
    start = end - 1;
  }
  const nllMean = nll / scored;
  return { tokens: scored, nllMean, ppl: Math.exp(nllMean) };
}

/** Perplexity under the fp32 KV graph. */
export function fp32Perplexity(model: Model, kvSeqLen: number, tokens: readonly number[]): Perplexity {
  return perplexityWith(() => fp32Stepper(model, kvSeqLen), tokens);
}

/** Perplexity under the quantized KV graph (dequantized logits codes). */
export function quantPerplexity(model: Model, qenc: QuantEncodings, kvSeqLen: number, tokens: readonly number[], kind: CacheKind = "smart_mask"): Perplexity {
  return perplexityWith(() => quantStepper(model, qenc, kvSeqLen, kind), tokens);
}
