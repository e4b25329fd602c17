// Test helper: a greedy kv-mode generation loop on the quantized KV graph, driving the real cache managers
// with device bytes (uint8 or uint16 caches, uint16 mask), plus an fp32 KV graph fed the same tokens so each
// step's logits can be compared (SQNR) on identical inputs.
import type { Model } from "../../src/engine/weights.js";
import { createKvGraph, kvForward } from "../../src/engine/kv-graph.js";
import { createSmartMask } from "../../src/kvcache/smart-mask.js";
import { createShiftPointer } from "../../src/kvcache/shift-pointer.js";
import { QUANT_ENCODING, type CacheEncoding, type KvCacheManager } from "../../src/kvcache/types.js";
import type { QuantEncodings } from "../../src/quant/calibrate.js";
import { dequantizeLogits, quantKvForward } from "../../src/quant/qgraph.js";

/** uint16 caches (16-bit K/V schemes) with the quantized uint16 mask. */
export const QUANT16_ENCODING: CacheEncoding<Uint16Array, Uint16Array> = { cache: Uint16Array, mask: Uint16Array, attend: 65535, blocked: 0 };

export type Codes = Uint8Array | Uint16Array;

export interface QuantRun {
  prompt: number[];
  /** Generated tokens (the stop token included when hit). */
  generated: number[];
  /** Per KV step: dequantized quantized logits and the fp32 graph's logits on the same inputs. */
  qLogits: Float32Array[];
  fLogits: Float32Array[];
  /** Every stored K/V byte of every (layer, head) for positions < final pos, in position order. */
  snapshot: number[];
  cache: KvCacheManager<Codes, Uint16Array>;
}

/** First index of the maximum (the sampler's temperature-0 rule). */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** 10 log10(Σ ref² / Σ (ref - x)²) in dB (Infinity when identical). */
export function sqnrDb(ref: ArrayLike<number>, x: ArrayLike<number>): number {
  let s = 0;
  let e = 0;
  for (let i = 0; i < ref.length; i++) {
    s += ref[i] * ref[i];
    const d = ref[i] - x[i];
    e += d * d;
  }
  return e === 0 ? Infinity : 10 * Math.log10(s / e);
}

export function quantGreedyKv(
  model: Model,
  qenc: QuantEncodings,
  o: {
    kind: "smart_mask" | "shift_pointer";
    kvSeqLen: number;
    prompt: number[];
    stop?: number;
    /**
     * Fill the caches with each head's zero-point code before the first step, so never-written slots
     * dequantize to 0.0 as in the fp32 graph. Default false: zero bytes, as the managers (and the device
     * runner's std::vector<uint8_t>) allocate them; code 0 then dequantizes to about -amax in every dim.
     */
    fillZeroPoint?: boolean;
  },
): QuantRun {
  const c = model.config;
  const kvBits = Math.max(...qenc.kv.k.map((e) => e.bitwidth), ...qenc.kv.v.map((e) => e.bitwidth));
  const enc = (kvBits <= 8 ? QUANT_ENCODING : QUANT16_ENCODING) as CacheEncoding<Codes, Uint16Array>;
  const dims = { nLayers: c.nLayers, nKvHeads: c.nKvHeads, headDim: c.headDim, kvSeqLen: o.kvSeqLen, prefillSeqLen: 2, mode: "kv" as const };
  const cache = o.kind === "smart_mask" ? createSmartMask(dims, enc) : createShiftPointer(dims, enc);
  // fp32 twin: plain caches, slot p = position p.
  const fg = createKvGraph(model, o.kvSeqLen);
  const L = fg.cacheLen;
  const n = o.prompt.length;
  const NH = c.nLayers * c.nKvHeads;
  const hd = c.headDim;
  const fk = Array.from({ length: NH }, () => new Float32Array(hd * L));
  const fv = Array.from({ length: NH }, () => new Float32Array(L * hd));
  const fmask = new Float32Array(L + 1).fill(-255);
  fmask[L] = 0;
  const stop = o.stop ?? 2;

  const logits = new Uint16Array(c.vocabSize);
  const tokens = new Int32Array(1);
  const inputPos = new Int32Array(1);
  const generated: number[] = [];
  const qLogits: Float32Array[] = [];
  const fLogits: Float32Array[] = [];
  cache.startKv();
  if (o.fillZeroPoint) {
    const inp0 = cache.kvInputs();
    inp0.kCaches.forEach((a, i) => a.fill(qenc.kv.k[i].zeroPoint));
    inp0.vCaches.forEach((a, i) => a.fill(qenc.kv.v[i].zeroPoint));
  }
  let cur = o.prompt[0];
  let pos = 0;
  while (pos < L) {
    tokens[0] = cur;
    inputPos[0] = pos;
    const inp = cache.kvInputs();
    const outs = cache.kvOutputs();
    quantKvForward(model, qenc, o.kvSeqLen, { tokens, attnMask: inp.attnMask, inputPos, kCaches: inp.kCaches, vCaches: inp.vCaches }, { logits, kOut: outs.kOut, vOut: outs.vOut });
    const fo = kvForward(fg, { tokens, attnMask: fmask, inputPos, kCaches: fk, vCaches: fv });
    for (let i = 0; i < NH; i++) {
      for (let d = 0; d < hd; d++) fk[i][d * L + pos] = fo.kOut[i][d];
      fv[i].set(fo.vOut[i], pos * hd);
    }
    fmask[pos] = 0;
    qLogits.push(dequantizeLogits(qenc, logits));
    fLogits.push(fo.logits.slice());
    const next = argmax(logits);
    cur = pos < n - 1 ? o.prompt[pos + 1] : next;
    cache.updateAfterKvStep(pos);
    pos += 1;
    if (pos >= n) {
      generated.push(cur);
      if (cur === stop) break;
    }
  }
  const snapshot: number[] = [];
  for (let l = 0; l < c.nLayers; l++)
    for (let h = 0; h < c.nKvHeads; h++)
      for (let p = 0; p < pos; p++) {
        snapshot.push(...cache.readK(l, h, p));
        snapshot.push(...cache.readV(l, h, p));
      }
  return { prompt: o.prompt, generated, qLogits, fLogits, snapshot, cache };
}
