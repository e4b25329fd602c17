// Parity metrics against hand-worked values and closed forms (never against a second call of the same code).
import { describe, expect, it } from "vitest";
import {
  checkTolerance,
  compareTensors,
  klDivergence,
  softmax64,
  top1,
  top1Agrees,
  topKOverlap,
  type TensorDiff,
} from "../../src/parity/metrics.js";

describe("compareTensors", () => {
  it("identical tensors: no error at all", () => {
    const r = [0.3, -1.7, 2.5, 1e-3];
    expect(compareTensors(r.slice(), r)).toEqual({
      n: 4, maxAbs: 0, maxAbsIndex: 0, meanAbs: 0, nmse: 0, sqnrDb: Infinity, cosine: 1, nonFinite: 0,
    });
  });

  it("r = [1, 2, 3, 4], a = [1, 2, 3, 5], worked by hand", () => {
    // d = a - r = [0, 0, 0, 1]: maxAbs 1 at index 3, meanAbs = 1/4.
    // Σr² = 1 + 4 + 9 + 16 = 30, Σd² = 1, nmse = 1/30, sqnr = 10·log10(30) = 14.771212547196624 dB.
    // Σa·r = 1 + 4 + 9 + 20 = 34, Σa² = 1 + 4 + 9 + 25 = 39, cosine = 34 / sqrt(30·39) = 34 / sqrt(1170).
    const d = compareTensors([1, 2, 3, 5], [1, 2, 3, 4]);
    expect(d.n).toBe(4);
    expect(d.maxAbs).toBe(1);
    expect(d.maxAbsIndex).toBe(3);
    expect(d.meanAbs).toBe(0.25);
    expect(d.nmse).toBe(1 / 30);
    expect(d.sqnrDb).toBeCloseTo(14.771212547196624, 12);
    expect(d.cosine).toBeCloseTo(0.9939990885479664, 14);
    expect(d.cosine).toBeCloseTo(34 / Math.sqrt(1170), 14);
    expect(d.nonFinite).toBe(0);
  });

  it("a = 2r: cosine exactly 1, nmse exactly 1, sqnr 0 dB", () => {
    // a - r = r, so Σ(a-r)² = Σr²; Σa·r = 2Σr² and sqrt(Σa²·Σr²) = sqrt(4(Σr²)²) = 2Σr².
    const r = [0.3, -1.7, 2.5, 1e-3, 7];
    const d = compareTensors(r.map((x) => 2 * x), r);
    expect(d.cosine).toBe(1);
    expect(d.nmse).toBe(1);
    expect(d.sqnrDb).toBe(0);
    expect(d.maxAbs).toBe(7);
    expect(d.maxAbsIndex).toBe(4);
  });

  it("a = -r: cosine exactly -1, nmse 4, sqnr 10·log10(1/4)", () => {
    const r = [0.3, -1.7, 2.5, 1e-3];
    const d = compareTensors(r.map((x) => -x), r);
    expect(d.cosine).toBe(-1);
    expect(d.nmse).toBe(4);
    expect(d.sqnrDb).toBeCloseTo(-6.020599913279624, 12);
    expect(d.maxAbs).toBe(5);
    expect(d.maxAbsIndex).toBe(2);
  });

  it("first index wins a maxAbs tie", () => {
    expect(compareTensors([0, -2, 2], [0, 0, 0]).maxAbsIndex).toBe(1);
  });

  it("zero reference and zero actual", () => {
    expect(compareTensors([0, 0, 0], [0, 0, 0])).toEqual({
      n: 3, maxAbs: 0, maxAbsIndex: 0, meanAbs: 0, nmse: 0, sqnrDb: Infinity, cosine: 1, nonFinite: 0,
    });
    // r = 0, a = [0, 3, -4]: Σd² = 25 > Σr² = 0; |d| = [0, 3, 4].
    expect(compareTensors([0, 3, -4], [0, 0, 0])).toEqual({
      n: 3, maxAbs: 4, maxAbsIndex: 2, meanAbs: 7 / 3, nmse: Infinity, sqnrDb: -Infinity, cosine: 0, nonFinite: 0,
    });
    // a = 0, r = [3, 4]: Σd² = Σr² = 25.
    const d = compareTensors([0, 0], [3, 4]);
    expect([d.nmse, d.sqnrDb, d.cosine, d.maxAbs, d.maxAbsIndex]).toEqual([1, 0, 0, 4, 1]);
  });

  it("empty tensors", () => {
    expect(compareTensors([], new Float32Array(0))).toEqual({
      n: 0, maxAbs: 0, maxAbsIndex: -1, meanAbs: 0, nmse: 0, sqnrDb: Infinity, cosine: 1, nonFinite: 0,
    });
  });

  it("NaN and ±Infinity are counted and left out of every sum", () => {
    // Indices 1, 2, 4 are non-finite. Finite pairs (a, r): (1, 1) at 0 and (5, 4) at 3.
    // maxAbs 1 at 3, meanAbs 1/2, Σr² = 17, Σd² = 1, Σa·r = 21, Σa² = 26.
    const d = compareTensors([1, 2, -Infinity, 5, Infinity], [1, NaN, 3, 4, Infinity]);
    expect(d.n).toBe(5);
    expect(d.nonFinite).toBe(3);
    expect(d.maxAbs).toBe(1);
    expect(d.maxAbsIndex).toBe(3);
    expect(d.meanAbs).toBe(0.5);
    expect(d.nmse).toBe(1 / 17);
    expect(d.sqnrDb).toBeCloseTo(12.304489213782739, 12);
    expect(d.cosine).toBeCloseTo(21 / Math.sqrt(442), 14);
    // Nothing finite at all: no index for maxAbs.
    const all = compareTensors([NaN, 1], [0, -Infinity]);
    expect([all.nonFinite, all.maxAbsIndex, all.meanAbs]).toEqual([2, -1, 0]);
  });

  it("fp32 inputs widen exactly", () => {
    const d = compareTensors(Float32Array.of(0.5, -0.25), Float64Array.of(0.5, -0.25));
    expect([d.maxAbs, d.nmse, d.cosine]).toEqual([0, 0, 1]);
    // 1 + 2^-30 rounds to 1 in fp32 (24-bit significand) but is exact in float64: the error is 2^-30 exactly.
    expect(compareTensors(Float32Array.of(1 + 2 ** -30), [1 + 2 ** -30]).maxAbs).toBe(2 ** -30);
  });

  it("throws a RangeError on a length mismatch", () => {
    expect(() => compareTensors([1, 2], [1, 2, 3])).toThrow(RangeError);
  });
});

describe("softmax64 and klDivergence", () => {
  it("softmax64 closed forms", () => {
    const p = softmax64([0, Math.log(3)]);
    expect(p[0]).toBeCloseTo(0.25, 15);
    expect(p[1]).toBeCloseTo(0.75, 15);
    expect(Array.from(softmax64([1000, 1000, -1000]))).toEqual([0.5, 0.5, 0]);
    expect(softmax64([]).length).toBe(0);
  });

  it("identical logits give 0", () => {
    const x = [0.3, -1.2, 2.5, 0, 11.75];
    expect(klDivergence(x, x.slice())).toBe(0);
  });

  it("logits shifted by a constant give 0 (softmax invariance)", () => {
    const x = [0.3, -1.2, 2.5, 0, 11.75];
    for (const c of [7.25, -3.1, 100]) {
      const kl = klDivergence(x, x.map((v) => v + c));
      expect(kl).toBeGreaterThanOrEqual(0);
      expect(kl).toBeLessThan(1e-15);
    }
  });

  it("two tokens: P = (1/2, 1/2), Q = (1/4, 3/4)", () => {
    // KL = 0.5·ln(0.5/0.25) + 0.5·ln(0.5/0.75) = 0.5·ln(4/3) = 0.14384103622589045
    expect(klDivergence([0, 0], [0, Math.log(3)])).toBeCloseTo(0.14384103622589045, 15);
  });

  it("extreme logits stay finite and correct", () => {
    // P = (1, e^-2000), Q = (e^-2000, 1): log p = (0, -2000), log q = (-2000, 0), the p = e^-2000 term is 0.
    expect(klDivergence([1000, -1000], [-1000, 1000])).toBe(2000);
    expect(klDivergence([1000, -1000], [1000, -1000])).toBe(0);
    // Q = (1, e^-800) up to rounding: q_1 underflows in float64 but log q_1 = -800 does not.
    // KL = 0.5·(ln 0.5 - 0) + 0.5·(ln 0.5 + 800) = 400 - ln 2.
    expect(klDivergence([0, 0], [0, -800])).toBeCloseTo(400 - Math.LN2, 10);
  });

  it("zero probabilities and non-finite logits", () => {
    // P = (1, 0): the p = 0 term contributes 0; KL = 1·ln(1 / 0.5) = ln 2.
    expect(klDivergence([0, -Infinity], [0, 0])).toBeCloseTo(Math.LN2, 15);
    // p_1 = 1/2 > 0 but q_1 = 0.
    expect(klDivergence([0, 0], [0, -Infinity])).toBe(Infinity);
    expect(klDivergence([0, NaN], [0, 0])).toBeNaN();
    expect(klDivergence([0, 0], [Infinity, 0])).toBeNaN();
  });

  it("throws a RangeError on a length mismatch or empty logits", () => {
    expect(() => klDivergence([0, 0], [0])).toThrow(RangeError);
    expect(() => klDivergence([], [])).toThrow(RangeError);
  });
});

describe("top1 and topKOverlap", () => {
  it("top1 takes the first index on ties", () => {
    expect(top1([1, 3, 3, 2])).toBe(1);
    expect(top1(Float32Array.of(-2, -2, -2))).toBe(0);
    expect(top1([-5, -1, -3])).toBe(1);
    expect(top1([])).toBe(-1);
  });

  it("top1Agrees", () => {
    expect(top1Agrees([1, 3, 3], [1, 3, 2.9])).toBe(true);
    expect(top1Agrees([1, 3, 3], [1, 2.9, 3])).toBe(false);
    expect(() => top1Agrees([1], [1, 2])).toThrow(RangeError);
  });

  it("topKOverlap", () => {
    const ref = [5, 4, 3, 2, 1];
    const act = [1, 2, 3, 4, 5];
    expect(topKOverlap(ref, act, 2)).toBe(0); // {0, 1} vs {4, 3}
    expect(topKOverlap(ref, act, 3)).toBe(1 / 3); // {0, 1, 2} vs {4, 3, 2}
    expect(topKOverlap(ref, act, 5)).toBe(1);
    expect(topKOverlap(ref, ref.slice(), 1)).toBe(1);
  });

  it("topKOverlap breaks ties by lower index and ranks NaN last", () => {
    expect(topKOverlap([1, 1, 1, 1], [1, 1, 1, 1], 2)).toBe(1); // {0, 1} both
    expect(topKOverlap([1, 1, 1, 1], [0, 1, 1, 1], 2)).toBe(0.5); // {0, 1} vs {1, 2}
    expect(topKOverlap([NaN, 1, 2], [0, 1, 2], 2)).toBe(1); // {2, 1} both
  });

  it("topKOverlap rejects a bad k or a length mismatch", () => {
    for (const k of [0, 4, 1.5, NaN]) expect(() => topKOverlap([1, 2, 3], [1, 2, 3], k)).toThrow(RangeError);
    expect(() => topKOverlap([1, 2, 3], [1, 2], 1)).toThrow(RangeError);
  });
});

describe("checkTolerance", () => {
  const exact: TensorDiff = {
    n: 4, maxAbs: 0, maxAbsIndex: 0, meanAbs: 0, nmse: 0, sqnrDb: Infinity, cosine: 1, nonFinite: 0,
  };
  const all = { maxAbs: 1e-3, minSqnrDb: 40, minCosine: 0.999, maxKl: 0.01, requireTop1: true };

  it("passes when every limit holds, limits inclusive", () => {
    expect(checkTolerance(exact, all, { kl: 0, top1: true })).toEqual({ passed: true, failures: [] });
    expect(checkTolerance(exact, {})).toEqual({ passed: true, failures: [] });
    const atLimit = { ...exact, maxAbs: 1e-3, sqnrDb: 40, cosine: 0.999 };
    expect(checkTolerance(atLimit, all, { kl: 0.01, top1: true }).passed).toBe(true);
  });

  it("lists every failure in a fixed order", () => {
    // The hand-worked example above: maxAbs 1 at 3, sqnr 14.77 dB, cosine 0.99400.
    const d: TensorDiff = {
      n: 4, maxAbs: 1, maxAbsIndex: 3, meanAbs: 0.25, nmse: 1 / 30,
      sqnrDb: 14.771212547196624, cosine: 0.9939990885479664, nonFinite: 0,
    };
    expect(checkTolerance(d, all, { kl: 0.02, top1: false })).toEqual({
      passed: false,
      failures: ["maxAbs 1 > 1e-3 at index 3", "sqnrDb 15 < 40", "cosine 0.99 < 0.999", "kl 0.02 > 0.01", "top1 disagrees"],
    });
    expect(checkTolerance(exact, all).failures).toEqual(["kl not measured", "top1 not measured"]);
  });

  it("prints a value with enough digits to stay on its side of the limit", () => {
    const d = { ...exact, maxAbs: 0.0031, maxAbsIndex: 7, cosine: 0.99944 };
    expect(checkTolerance(d, { maxAbs: 1e-3 }).failures).toEqual(["maxAbs 3.1e-3 > 1e-3 at index 7"]);
    expect(checkTolerance(d, { minCosine: 0.99945 }).failures).toEqual(["cosine 0.999 < 0.99945"]);
    expect(checkTolerance({ ...exact, maxAbs: 1.00004e-3 }, { maxAbs: 1e-3 }).failures).toEqual([
      "maxAbs 1.00004e-3 > 1e-3 at index 0",
    ]);
  });

  it("non-finite elements fail unless allowed, and a NaN metric fails", () => {
    const d = { ...exact, nonFinite: 2 };
    expect(checkTolerance(d, {}).failures).toEqual(["nonFinite 2 > 0"]);
    expect(checkTolerance(d, { maxNonFinite: 2 }).passed).toBe(true);
    expect(checkTolerance({ ...exact, cosine: NaN }, { minCosine: 0.9 }).failures).toEqual(["cosine NaN < 0.9"]);
    expect(checkTolerance(exact, { maxKl: 0.1 }, { kl: NaN }).failures).toEqual(["kl NaN > 0.1"]);
  });
});
