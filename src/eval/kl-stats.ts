// Owns the statistics of comparing a model's next-token distributions with a base run's (issue 18; the quantities
// llama.cpp's `perplexity --kl-divergence` reports): per scored token the KL divergence base→new and new→base, whether
// the top token agrees, Δp (the new probability of the actual next token minus the base's), and both log-likelihoods;
// over a run their means with standard errors, percentiles, Δp RMS, "same top" with its binomial error, ln(PPL ratio)
// and the correlation of the per-token log-likelihoods; and the compact storage of a base run's log-probabilities.
//
// Definitions (all float64):
// - log-probabilities lp = log_softmax(logits) (max-shifted, sums in ascending vocabulary order);
// - KL(base‖new) = Σ_v p_base(v)·(lp_base(v) − lp_new(v)); reverse KL = KL(new‖base);
// - Δp = p_new(target) − p_base(target); same top: argmax lp_new = argmax lp_base (first index on ties);
// - mean ± error: the sample mean and its standard error sqrt(Σ(x − mean)² / (n(n − 1))) (0 for n < 2);
// - same-top fraction f ± sqrt(f(1 − f)/(n − 1)); Δp RMS = sqrt(mean(Δp²)) with the error of mean(Δp²) carried through
//   the square root (err / (2·RMS));
// - ln(PPL_new / PPL_base) = mean(nll_new − nll_base) ± its standard error (paired);
// - percentiles: linear interpolation between the closest ranks of the sorted values (rank p·(n − 1)), numpy's
//   default; max = 100 %, min = 0 %.
// - storage (`packLogProbs`): per token the log-probabilities as uint16 codes over [min, max] of that row
//   (code = round((lp − min)/scale), scale = (max − min)/65535), with min and scale as float64; the statistics compare
//   decoded rows, and a new run is decoded the same way, so a model against itself gives exactly zero.

/** log_softmax of one logits row, float64, max-shifted, the sum in ascending index order. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  const n = logits.length;
  let m = -Infinity;
  for (let i = 0; i < n; i++) if (+logits[i] > m) m = +logits[i];
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(+logits[i] - m);
  const lse = m + Math.log(s);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = +logits[i] - lse;
  return out;
}

/** One row of stored log-probabilities: uint16 codes over [min, min + 65535·scale]. */
export interface PackedLogProbs {
  min: number;
  scale: number;
  codes: Uint16Array;
}

export function packLogProbs(lp: Float64Array): PackedLogProbs {
  let min = Infinity;
  let max = -Infinity;
  for (const v of lp) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const scale = max > min ? (max - min) / 65535 : 1;
  const codes = new Uint16Array(lp.length);
  for (let i = 0; i < lp.length; i++) codes[i] = Math.min(65535, Math.max(0, Math.round((lp[i] - min) / scale)));
  return { min, scale, codes };
}

export function unpackLogProbs(p: PackedLogProbs): Float64Array {
  const out = new Float64Array(p.codes.length);
  for (let i = 0; i < out.length; i++) out[i] = p.min + p.codes[i] * p.scale;
  return out;
}

/** What one scored token contributes. */
export interface TokenComparison {
  kl: number;
  reverseKl: number;
  sameTop: boolean;
  dp: number;
  /** −lp(target) under each model. */
  nllBase: number;
  nllNew: number;
}

const argmax = (x: Float64Array): number => {
  let b = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[b]) b = i;
  return b;
};

/** Compares one position's base and new log-probabilities for the actual next token `target`. */
export function compareToken(lpBase: Float64Array, lpNew: Float64Array, target: number): TokenComparison {
  if (lpBase.length !== lpNew.length) throw new RangeError(`vocabularies differ: ${lpBase.length} vs ${lpNew.length}`);
  if (!(Number.isInteger(target) && target >= 0 && target < lpBase.length)) throw new RangeError(`target ${target} outside [0, ${lpBase.length})`);
  let kl = 0;
  let rkl = 0;
  for (let v = 0; v < lpBase.length; v++) {
    const d = lpBase[v] - lpNew[v];
    kl += Math.exp(lpBase[v]) * d;
    rkl -= Math.exp(lpNew[v]) * d;
  }
  return {
    kl,
    reverseKl: rkl,
    sameTop: argmax(lpBase) === argmax(lpNew),
    dp: Math.exp(lpNew[target]) - Math.exp(lpBase[target]),
    nllBase: -lpBase[target],
    nllNew: -lpNew[target],
  };
}

export interface MeanErr {
  mean: number;
  err: number;
}

export function meanWithError(xs: ArrayLike<number>): MeanErr {
  const n = xs.length;
  if (n === 0) return { mean: NaN, err: NaN };
  let s = 0;
  for (let i = 0; i < n; i++) s += xs[i];
  const mean = s / n;
  if (n < 2) return { mean, err: 0 };
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (xs[i] - mean) ** 2;
  return { mean, err: Math.sqrt(ss / (n * (n - 1))) };
}

/** The p-quantile (0..1) of ascending `sorted` values, linear between the closest ranks. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const r = p * (n - 1);
  const lo = Math.floor(r);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (r - lo);
}

/** Pearson correlation of two equally long series (NaN when either is constant). */
export function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** The percentiles llama.cpp reports: KL at max, 99.9, 99, 95, 90, median, 10, 5, 1, 0.1, min; Δp also at 75 and 25. */
export const KL_PERCENTILES = [1, 0.999, 0.99, 0.95, 0.9, 0.5, 0.1, 0.05, 0.01, 0.001, 0] as const;
export const DP_PERCENTILES = [1, 0.999, 0.99, 0.95, 0.9, 0.75, 0.5, 0.25, 0.1, 0.05, 0.01, 0.001, 0] as const;

export interface KlSummary {
  tokens: number;
  pplBase: number;
  pplNew: number;
  /** ln(PPL_new / PPL_base) ± error (paired per-token differences). */
  lnPplRatio: MeanErr;
  /** Correlation of the per-token log-likelihoods. */
  logProbCorrelation: number;
  kl: MeanErr;
  klPercentiles: Record<string, number>;
  reverseKl: MeanErr;
  /** Fraction of positions whose top token agrees ± binomial error. */
  sameTop: MeanErr;
  dp: MeanErr;
  dpRms: MeanErr;
  dpPercentiles: Record<string, number>;
}

const pctKey = (p: number) => (p === 1 ? "max" : p === 0 ? "min" : p === 0.5 ? "median" : `${+(p * 100).toFixed(1)}`);

export function summarize(items: readonly TokenComparison[]): KlSummary {
  const n = items.length;
  if (n === 0) throw new RangeError("no scored tokens");
  const kl = items.map((t) => t.kl);
  const dp = items.map((t) => t.dp);
  const diff = items.map((t) => t.nllNew - t.nllBase);
  const same = items.filter((t) => t.sameTop).length / n;
  const dp2 = meanWithError(dp.map((x) => x * x));
  const rms = Math.sqrt(dp2.mean);
  const klSorted = Float64Array.from(kl).sort();
  const dpSorted = Float64Array.from(dp).sort();
  const nllB = meanWithError(items.map((t) => t.nllBase)).mean;
  const nllN = meanWithError(items.map((t) => t.nllNew)).mean;
  return {
    tokens: n,
    pplBase: Math.exp(nllB),
    pplNew: Math.exp(nllN),
    lnPplRatio: meanWithError(diff),
    logProbCorrelation: correlation(
      items.map((t) => -t.nllBase),
      items.map((t) => -t.nllNew),
    ),
    kl: meanWithError(kl),
    klPercentiles: Object.fromEntries(KL_PERCENTILES.map((p) => [pctKey(p), percentile(klSorted, p)])),
    reverseKl: meanWithError(items.map((t) => t.reverseKl)),
    sameTop: { mean: same, err: n > 1 ? Math.sqrt((same * (1 - same)) / (n - 1)) : 0 },
    dp: meanWithError(dp),
    dpRms: { mean: rms, err: rms > 0 ? dp2.err / (2 * rms) : 0 },
    dpPercentiles: Object.fromEntries(DP_PERCENTILES.map((p) => [pctKey(p), percentile(dpSorted, p)])),
  };
}
