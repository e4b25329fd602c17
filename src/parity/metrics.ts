// Owns the parity metrics: how far a backend's graph outputs (logits, K/V tensors) depart from the
// reference engine's. Pure functions in float64; every sum runs in ascending index order into a single
// accumulator, so a result depends only on the input values, never on the platform or call history.

/** Element-wise comparison of an actual tensor `a` against a reference `r` (see compareTensors). */
export interface TensorDiff {
  /** Elements compared: the common length, non-finite pairs included. */
  n: number;
  /** max |a_i - r_i| over the finite pairs; 0 when there are none. */
  maxAbs: number;
  /** First (lowest) index where maxAbs occurs; -1 when there are no finite pairs (in particular n = 0). */
  maxAbsIndex: number;
  /** Σ |a_i - r_i| / m over the m = n - nonFinite finite pairs; 0 when m = 0. */
  meanAbs: number;
  /** Σ (a_i - r_i)² / Σ r_i²; 0 when both sums are 0, Infinity when only Σ r_i² is 0. */
  nmse: number;
  /** 10·log10(Σ r_i² / Σ (a_i - r_i)²) in dB; Infinity when Σ (a_i - r_i)² = 0, -Infinity when only Σ r_i² is 0. */
  sqnrDb: number;
  /** Σ a_i·r_i / (‖a‖·‖r‖), clamped to [-1, 1]; 1 when both are all-zero, 0 when exactly one is. */
  cosine: number;
  /** Indices where a_i or r_i is NaN or ±Infinity; they are left out of every sum, max and mean above. */
  nonFinite: number;
}

function sameLength(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) throw new RangeError(`${what}: length mismatch, ${a.length} vs ${b.length}`);
}

/**
 * Compares `actual` (a) with `reference` (r), element by element, in float64 (fp32 inputs widen exactly).
 * With d_i = a_i - r_i over the finite pairs only (an index where either value is NaN or ±Infinity is
 * counted in `nonFinite` and skipped):
 *   maxAbs = max |d_i| (first index on ties), meanAbs = Σ|d_i| / m,
 *   nmse = Σd_i² / Σr_i², sqnrDb = 10·log10(Σr_i² / Σd_i²), cosine = Σa_i·r_i / sqrt(Σa_i² · Σr_i²).
 * Each of the five sums is one accumulator filled in ascending index order. Sums of squares overflow for
 * values beyond about 1e154; tensors of such magnitude are out of scope.
 * Throws a RangeError when the lengths differ.
 */
export function compareTensors(actual: ArrayLike<number>, reference: ArrayLike<number>): TensorDiff {
  sameLength(actual, reference, "compareTensors");
  const n = reference.length;
  let nonFinite = 0;
  let maxAbs = 0;
  let maxAbsIndex = -1;
  let sumAbs = 0;
  let sumD2 = 0;
  let sumR2 = 0;
  let sumA2 = 0;
  let dot = 0;
  for (let i = 0; i < n; i++) {
    const a = +actual[i];
    const r = +reference[i];
    if (!Number.isFinite(a) || !Number.isFinite(r)) {
      nonFinite++;
      continue;
    }
    const d = a - r;
    const ad = Math.abs(d);
    if (maxAbsIndex < 0 || ad > maxAbs) {
      maxAbs = ad;
      maxAbsIndex = i;
    }
    sumAbs += ad;
    sumD2 += d * d;
    sumR2 += r * r;
    sumA2 += a * a;
    dot += a * r;
  }
  const m = n - nonFinite;
  return {
    n,
    maxAbs,
    maxAbsIndex,
    meanAbs: m === 0 ? 0 : sumAbs / m,
    nmse: sumD2 === 0 ? 0 : sumD2 / sumR2,
    sqnrDb: sqnrDb(sumR2, sumD2),
    cosine: cosine(dot, sumA2, sumR2),
    nonFinite,
  };
}

function sqnrDb(sumR2: number, sumD2: number): number {
  if (sumD2 === 0) return Infinity;
  if (sumR2 === 0) return -Infinity;
  const ratio = sumR2 / sumD2;
  // The ratio can overflow or underflow when the two sums are far apart; the logs of each cannot.
  if (ratio > 0 && Number.isFinite(ratio)) return 10 * Math.log10(ratio);
  return 10 * (Math.log10(sumR2) - Math.log10(sumD2));
}

function cosine(dot: number, sumA2: number, sumR2: number): number {
  if (sumA2 === 0 && sumR2 === 0) return 1;
  if (sumA2 === 0 || sumR2 === 0) return 0;
  // sqrt of the product (not the product of sqrts) so that a = c·r with c a power of two gives exactly ±1.
  const prod = sumA2 * sumR2;
  const denom = prod > 0 && Number.isFinite(prod) ? Math.sqrt(prod) : Math.sqrt(sumA2) * Math.sqrt(sumR2);
  const c = dot / denom;
  return c > 1 ? 1 : c < -1 ? -1 : c;
}

/** Index of the largest logit; NaN if any logit is NaN; throws on an empty vector. */
function maxOf(x: ArrayLike<number>, what: string): number {
  if (x.length === 0) throw new RangeError(`${what}: empty logits`);
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = +x[i];
    if (Number.isNaN(v)) return NaN;
    if (v > m) m = v;
  }
  return m;
}

/**
 * log p_i = x_i - M - log Σ_j exp(x_j - M), M = max_j x_j, in float64 (sum in ascending j). Computed
 * directly rather than as log(softmax) so that tiny probabilities keep a finite log. All entries are NaN
 * when M is not finite (a NaN or +Infinity logit, or every logit -Infinity); a -Infinity logit gets -Infinity.
 */
function logSoftmax64(x: ArrayLike<number>, what: string): Float64Array {
  const out = new Float64Array(x.length);
  const m = maxOf(x, what);
  if (!Number.isFinite(m)) return out.fill(NaN);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(+x[i] - m);
  const lse = m + Math.log(s);
  for (let i = 0; i < x.length; i++) out[i] = +x[i] - lse;
  return out;
}

/**
 * p_i = exp(x_i - M) / Σ_j exp(x_j - M), M = max_j x_j, in float64 (sum in ascending j).
 * An empty input gives an empty result; a NaN or +Infinity logit (or all -Infinity) gives all NaN.
 */
export function softmax64(logits: ArrayLike<number>): Float64Array {
  const n = logits.length;
  const out = new Float64Array(n);
  if (n === 0) return out;
  const m = maxOf(logits, "softmax64");
  if (!Number.isFinite(m)) return out.fill(NaN);
  let s = 0;
  for (let i = 0; i < n; i++) {
    out[i] = Math.exp(+logits[i] - m);
    s += out[i];
  }
  for (let i = 0; i < n; i++) out[i] /= s;
  return out;
}

/**
 * KL(P_ref ‖ P_act) = Σ_i p_i · (log p_i - log q_i) in nats, with P = softmax(referenceLogits),
 * Q = softmax(actualLogits), both log-probabilities computed by log-softmax in float64 (see logSoftmax64).
 * A term with p_i = exp(log p_i) = 0 (underflow or a -Infinity reference logit) contributes 0. The sum runs
 * in ascending i into one accumulator and is clamped at 0 below (KL ≥ 0; the clamp only removes rounding).
 * Returns Infinity when some p_i > 0 has q_i = 0 exactly (a -Infinity actual logit), NaN when either
 * vector is not a distribution (a NaN or +Infinity logit, or all -Infinity).
 * Throws a RangeError when the lengths differ or the vectors are empty.
 */
export function klDivergence(referenceLogits: ArrayLike<number>, actualLogits: ArrayLike<number>): number {
  sameLength(referenceLogits, actualLogits, "klDivergence");
  const lp = logSoftmax64(referenceLogits, "klDivergence");
  const lq = logSoftmax64(actualLogits, "klDivergence");
  let s = 0;
  for (let i = 0; i < lp.length; i++) {
    const p = Math.exp(lp[i]);
    if (p === 0) continue; // p_ref = 0 (log p = -Infinity or underflow); a NaN p falls through and propagates
    s += p * (lp[i] - lq[i]);
  }
  return s < 0 ? 0 : s;
}

/**
 * argmax with the device sampler's rule: start at index 0, move only on a strictly greater value, so the
 * first index wins ties (and a NaN never wins, except at index 0 where nothing compares greater).
 * Returns -1 for an empty vector.
 */
export function top1(logits: ArrayLike<number>): number {
  if (logits.length === 0) return -1;
  let best = 0;
  let bv = +logits[0];
  for (let i = 1; i < logits.length; i++) {
    const v = +logits[i];
    if (v > bv) {
      bv = v;
      best = i;
    }
  }
  return best;
}

/** top1(ref) === top1(act); throws a RangeError when the lengths differ. */
export function top1Agrees(refLogits: ArrayLike<number>, actLogits: ArrayLike<number>): boolean {
  sameLength(refLogits, actLogits, "top1Agrees");
  return top1(refLogits) === top1(actLogits);
}

/** Ranking order of topK: larger value first, NaN below everything, lower index first on ties. */
function ranksBefore(vi: number, i: number, vj: number, j: number): boolean {
  if (Number.isNaN(vi)) return Number.isNaN(vj) && i < j;
  if (Number.isNaN(vj)) return true;
  return vi > vj || (vi === vj && i < j);
}

/** The k best indices under ranksBefore, as a set. */
function topKSet(x: ArrayLike<number>, k: number): Set<number> {
  const idx: number[] = []; // sorted, best first, at most k long
  for (let i = 0; i < x.length; i++) {
    const v = +x[i];
    if (idx.length === k) {
      const w = idx[k - 1];
      if (!ranksBefore(v, i, +x[w], w)) continue;
      idx.pop();
    }
    let p = idx.length;
    while (p > 0 && ranksBefore(v, i, +x[idx[p - 1]], idx[p - 1])) p--;
    idx.splice(p, 0, i);
  }
  return new Set(idx);
}

/**
 * |topk(ref) ∩ topk(act)| / k, where topk takes the k largest logits, ties broken by the lower index
 * (NaN ranks below every number). k must be an integer in [1, length]; otherwise, or when the lengths
 * differ, throws a RangeError.
 */
export function topKOverlap(refLogits: ArrayLike<number>, actLogits: ArrayLike<number>, k: number): number {
  sameLength(refLogits, actLogits, "topKOverlap");
  if (!Number.isInteger(k) || k < 1 || k > refLogits.length)
    throw new RangeError(`topKOverlap: k = ${k} outside [1, ${refLogits.length}]`);
  const r = topKSet(refLogits, k);
  let common = 0;
  for (const i of topKSet(actLogits, k)) if (r.has(i)) common++;
  return common / k;
}

/** Limits a TensorDiff (and optionally a KL value and a top-1 agreement) must meet; unset = not checked. */
export interface Tolerance {
  /** Pass when maxAbs <= this. */
  maxAbs?: number;
  /** Pass when sqnrDb >= this. */
  minSqnrDb?: number;
  /** Pass when cosine >= this. */
  minCosine?: number;
  /** Pass when extra.kl <= this; fails when extra.kl is not given. */
  maxKl?: number;
  /** Pass when extra.top1 is true; fails when extra.top1 is not given. */
  requireTop1?: boolean;
  /** Pass when nonFinite <= this. Always checked: defaults to 0, so a NaN or Infinity fails. */
  maxNonFinite?: number;
}

/**
 * Checks `d` (and `extra`) against `t`. Every limit is inclusive, and a NaN metric fails its check.
 * Failures come in a fixed order (nonFinite, maxAbs, sqnrDb, cosine, kl, top1), one short string each:
 *   "nonFinite 2 > 0", "maxAbs 3.1e-3 > 1e-3 at index 7", "sqnrDb 35.2 < 40", "cosine 0.9984 < 0.999",
 *   "kl 0.02 > 0.01", "kl not measured", "top1 disagrees", "top1 not measured".
 */
export function checkTolerance(
  d: TensorDiff,
  t: Tolerance,
  extra?: { kl?: number; top1?: boolean },
): { passed: boolean; failures: string[] } {
  const failures: string[] = [];
  const maxNonFinite = t.maxNonFinite ?? 0;
  if (!(d.nonFinite <= maxNonFinite)) failures.push(`nonFinite ${d.nonFinite} > ${fmt(maxNonFinite)}`);
  if (t.maxAbs !== undefined && !(d.maxAbs <= t.maxAbs))
    failures.push(`maxAbs ${fmtVs(d.maxAbs, t.maxAbs)} > ${fmt(t.maxAbs)} at index ${d.maxAbsIndex}`);
  if (t.minSqnrDb !== undefined && !(d.sqnrDb >= t.minSqnrDb))
    failures.push(`sqnrDb ${fmtVs(d.sqnrDb, t.minSqnrDb)} < ${fmt(t.minSqnrDb)}`);
  if (t.minCosine !== undefined && !(d.cosine >= t.minCosine))
    failures.push(`cosine ${fmtVs(d.cosine, t.minCosine)} < ${fmt(t.minCosine)}`);
  if (t.maxKl !== undefined) {
    const kl = extra?.kl;
    if (kl === undefined) failures.push("kl not measured");
    else if (!(kl <= t.maxKl)) failures.push(`kl ${fmtVs(kl, t.maxKl)} > ${fmt(t.maxKl)}`);
  }
  if (t.requireTop1) {
    const agrees = extra?.top1;
    if (agrees === undefined) failures.push("top1 not measured");
    else if (!agrees) failures.push("top1 disagrees");
  }
  return { passed: failures.length === 0, failures };
}

/** A number as plain decimals for 1e-2 <= |x| < 1e4, in e-notation otherwise ("3.1e-3"). */
function fmt(x: number): string {
  if (!Number.isFinite(x) || x === 0) return String(x);
  const ax = Math.abs(x);
  return ax >= 1e-2 && ax < 1e4 ? String(x) : x.toExponential();
}

/**
 * `v` rounded to the fewest significant digits (at least 2) that keep it on the same side of `limit`, so
 * a failure never prints as equal to, or beyond, its own limit.
 */
function fmtVs(v: number, limit: number): string {
  if (!Number.isFinite(v) || !Number.isFinite(limit)) return fmt(v);
  const side = Math.sign(v - limit);
  for (let p = 2; p <= 17; p++) {
    const r = Number(v.toPrecision(p));
    if (Math.sign(r - limit) === side) return fmt(r);
  }
  return fmt(v);
}
