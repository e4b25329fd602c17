// The evaluation statistics (src/eval/kl-stats.ts) against a plain implementation written here on small arrays:
// probabilities normalised directly (not through log-softmax), KL as Σ p·ln(p/q), errors from the sample variance,
// percentiles by explicit rank interpolation; a model against itself is exactly zero; the stored log-probabilities
// decode within half a code step.
import { describe, expect, it } from "vitest";
import { compareToken, correlation, logSoftmax, meanWithError, packLogProbs, percentile, summarize, unpackLogProbs } from "../../src/eval/kl-stats.js";
import { rng } from "../helpers/rng.js";

const probs = (logits: number[]) => {
  const m = Math.max(...logits);
  const e = logits.map((x) => Math.exp(x - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
};

describe("per-token comparison", () => {
  it("KL, reverse KL, Δp, same top and NLL equal the plain formulas", () => {
    const r = rng(7);
    for (let trial = 0; trial < 50; trial++) {
      const V = 3 + (trial % 9);
      const a = Array.from({ length: V }, () => 4 * r() - 2);
      const b = Array.from({ length: V }, () => 4 * r() - 2);
      const target = trial % V;
      const p = probs(a);
      const q = probs(b);
      const t = compareToken(logSoftmax(a), logSoftmax(b), target);
      const kl = p.reduce((s, pi, i) => s + pi * Math.log(pi / q[i]), 0);
      const rkl = q.reduce((s, qi, i) => s + qi * Math.log(qi / p[i]), 0);
      expect(t.kl).toBeCloseTo(kl, 12);
      expect(t.reverseKl).toBeCloseTo(rkl, 12);
      expect(t.dp).toBeCloseTo(q[target] - p[target], 12);
      expect(t.nllBase).toBeCloseTo(-Math.log(p[target]), 12);
      expect(t.nllNew).toBeCloseTo(-Math.log(q[target]), 12);
      expect(t.sameTop).toBe(p.indexOf(Math.max(...p)) === q.indexOf(Math.max(...q)));
    }
  });
});

describe("summaries", () => {
  it("mean ± standard error, percentiles and correlation match plain code", () => {
    const xs = [0.3, 1.7, 0.2, 5.1, 2.2, 0.9, 0.0, 3.3];
    const n = xs.length;
    const mean = xs.reduce((a, b) => a + b, 0) / n;
    const sd = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
    expect(meanWithError(xs).mean).toBeCloseTo(mean, 14);
    expect(meanWithError(xs).err).toBeCloseTo(sd / Math.sqrt(n), 14);
    const sorted = [...xs].sort((a, b) => a - b);
    // rank p(n-1): 0.5 -> 3.5 between sorted[3] and sorted[4]; 0.9 -> 6.3.
    expect(percentile(sorted, 0.5)).toBeCloseTo((sorted[3] + sorted[4]) / 2, 14);
    expect(percentile(sorted, 0.9)).toBeCloseTo(sorted[6] + 0.3 * (sorted[7] - sorted[6]), 14);
    expect(percentile(sorted, 1)).toBe(5.1);
    expect(percentile(sorted, 0)).toBe(0);
    const ys = xs.map((x, i) => 2 * x + (i % 2 ? 0.5 : -0.5));
    const my = ys.reduce((a, b) => a + b, 0) / n;
    const cov = xs.reduce((s, x, i) => s + (x - mean) * (ys[i] - my), 0);
    const r = cov / Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) * ys.reduce((s, y) => s + (y - my) ** 2, 0));
    expect(correlation(xs, ys)).toBeCloseTo(r, 14);
  });

  it("a run against itself is exactly zero (same stored rows on both sides)", () => {
    const r = rng(11);
    const items = Array.from({ length: 40 }, (_, i) => {
      const lp = unpackLogProbs(packLogProbs(logSoftmax(Array.from({ length: 32 }, () => 6 * r() - 3))));
      return compareToken(lp, lp, i % 32);
    });
    const s = summarize(items);
    expect(s.kl).toEqual({ mean: 0, err: 0 });
    expect(s.reverseKl).toEqual({ mean: 0, err: 0 });
    expect(s.dp).toEqual({ mean: 0, err: 0 });
    expect(s.dpRms).toEqual({ mean: 0, err: 0 });
    expect(s.sameTop).toEqual({ mean: 1, err: 0 });
    expect(s.lnPplRatio).toEqual({ mean: 0, err: 0 });
    expect(s.pplNew).toBe(s.pplBase);
    expect(Object.values(s.klPercentiles).every((v) => v === 0)).toBe(true);
    expect(s.logProbCorrelation).toBeCloseTo(1, 12);
  });

  it("same top fraction with its binomial error, ln PPL ratio, Δp RMS", () => {
    const mk = (kl: number, same: boolean, dp: number, nb: number, nn: number) => ({ kl, reverseKl: kl, sameTop: same, dp, nllBase: nb, nllNew: nn });
    const items = [mk(0.1, true, 0.02, 1, 1.1), mk(0.3, false, -0.05, 2, 2.4), mk(0, true, 0, 0.5, 0.5), mk(0.2, true, 0.01, 3, 2.9)];
    const s = summarize(items);
    expect(s.sameTop.mean).toBe(0.75);
    expect(s.sameTop.err).toBeCloseTo(Math.sqrt((0.75 * 0.25) / 3), 14);
    const d = [0.1, 0.4, 0, -0.1];
    const md = d.reduce((a, b) => a + b, 0) / 4;
    expect(s.lnPplRatio.mean).toBeCloseTo(md, 14);
    expect(s.pplNew / s.pplBase).toBeCloseTo(Math.exp(md), 12);
    expect(s.dpRms.mean).toBeCloseTo(Math.sqrt((0.02 ** 2 + 0.05 ** 2 + 0.01 ** 2) / 4), 14);
    expect(s.klPercentiles.max).toBe(0.3);
    expect(s.klPercentiles.min).toBe(0);
    expect(s.dpPercentiles.median).toBeCloseTo(0.005, 14);
  });
});

describe("stored log-probabilities", () => {
  it("decode within half a code step, and exactly at the row's min and max", () => {
    const r = rng(3);
    const lp = logSoftmax(Array.from({ length: 500 }, () => 20 * r() - 10));
    const p = packLogProbs(lp);
    const back = unpackLogProbs(p);
    let worst = 0;
    for (let i = 0; i < lp.length; i++) worst = Math.max(worst, Math.abs(back[i] - lp[i]));
    expect(worst).toBeLessThanOrEqual(p.scale / 2 + 1e-12);
    const iMin = lp.indexOf(Math.min(...lp));
    expect(back[iMin]).toBe(lp[iMin]);
  });
});
