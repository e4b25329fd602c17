// Owns next-token sampling as the device runner's Sampler does it (SPEC §6), in fp32 arithmetic:
// temperature 0 -> argmax (first index wins ties); otherwise logits * fp32(1/T), max-subtracted softmax,
// then top-p 0.9 over the candidates >= (1-0.9)/(V-1), sorted by probability descending, cut where the
// cumulative sum first exceeds 0.9, and a draw of coin * cumsum from that prefix.
// The C++ sorts with std::sort (unstable); the golden model breaks probability ties by ascending id.
import { createRng, randomF32, type Rng } from "./rng.js";

const fround = Math.fround;

export interface SamplerOptions {
  vocabSize: number;
  temperature: number;
  /** Top-p; the device runner uses 0.9. Values <= 0 or >= 1 sample from the whole distribution. */
  topp?: number;
  seed: bigint;
}

export interface Sampler {
  readonly temperature: number;
  readonly seed: bigint;
  readonly rng: Rng;
  /** Picks the next id from a logits row (not modified). Consumes one random draw unless greedy. */
  sample(logits: Float32Array): number;
}

export function argmax(x: Float32Array, n = x.length): number {
  let best = 0;
  let bv = x[0];
  for (let i = 1; i < n; i++)
    if (x[i] > bv) {
      bv = x[i];
      best = i;
    }
  return best;
}

/** In-place fp32 softmax with the sampler's float arithmetic (single-precision sum in index order). */
export function samplerSoftmax(x: Float32Array, n: number): void {
  let m = x[0];
  for (let i = 1; i < n; i++) if (x[i] > m) m = x[i];
  let sum = 0;
  for (let i = 0; i < n; i++) {
    x[i] = fround(Math.exp(fround(x[i] - m)));
    sum = fround(sum + x[i]);
  }
  for (let i = 0; i < n; i++) x[i] = fround(x[i] / sum);
}

export function sampleMult(p: Float32Array, n: number, coin: number): number {
  let cdf = 0;
  for (let i = 0; i < n; i++) {
    cdf = fround(cdf + p[i]);
    if (coin < cdf) return i;
  }
  return n - 1;
}

export function sampleTopP(p: Float32Array, n: number, topp: number, coin: number): number {
  const tp = fround(topp);
  const cutoff = fround(fround(1 - tp) / (n - 1));
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (p[i] >= cutoff) idx.push(i);
  idx.sort((a, b) => p[b] - p[a] || a - b);
  let cum = 0;
  let last = idx.length - 1;
  for (let i = 0; i < idx.length; i++) {
    cum = fround(cum + p[idx[i]]);
    if (cum > tp) {
      last = i;
      break;
    }
  }
  const r = fround(coin * cum);
  let cdf = 0;
  for (let i = 0; i <= last; i++) {
    cdf = fround(cdf + p[idx[i]]);
    if (r < cdf) return idx[i];
  }
  return idx[last];
}

export function createSampler(o: SamplerOptions): Sampler {
  const topp = o.topp ?? 0.9;
  const invT = o.temperature === 0 ? 0 : fround(1 / fround(o.temperature));
  const rng = createRng(o.seed);
  const buf = new Float32Array(o.vocabSize);
  return {
    temperature: o.temperature,
    seed: o.seed,
    rng,
    sample(logits: Float32Array): number {
      const n = o.vocabSize;
      if (invT === 0) return argmax(logits, n);
      for (let i = 0; i < n; i++) buf[i] = fround(logits[i] * invT);
      samplerSoftmax(buf, n);
      const coin = randomF32(rng);
      return topp <= 0 || topp >= 1 ? sampleMult(buf, n, coin) : sampleTopP(buf, n, topp, coin);
    },
  };
}
