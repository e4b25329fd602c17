// The documented summation orders of the plain kernels (docs/numerics.md), checked against direct
// restatements of the rule; these orders are what faster paths must reproduce bit for bit.
import { describe, expect, it } from "vitest";
import { dotLanes4, matMulRows, matVec, rmsNorm, softmaxInPlace } from "../../src/engine/kernels.js";

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 2 ** ((s >>> 27) - 8);
}

/** The rule, restated: lane k = Σ_{j ≡ k mod 4, ascending} w_j x_j in float64; (l0 + l1) + (l2 + l3). */
function lanesRule(w: Float32Array, x: Float32Array): number {
  const lanes = [0, 0, 0, 0];
  for (let j = 0; j < w.length; j++) lanes[j % 4] += w[j] * x[j];
  return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

describe("matmul summation order", () => {
  it("dotLanes4 follows the four-lane rule exactly for every length (tails included)", () => {
    const r = lcg(7);
    for (const n of [0, 1, 2, 3, 4, 5, 6, 7, 9, 63, 172, 768]) {
      const w = Float32Array.from({ length: n }, r);
      const x = Float32Array.from({ length: n }, r);
      expect(Object.is(dotLanes4(w, 0, x, 0, n), lanesRule(w, x) + 0)).toBe(true);
    }
  });

  it("the order is observable: cancellation differs from a single running sum", () => {
    const w = Float32Array.of(2 ** 60, 1, -(2 ** 60), 1, 1, 0, 0, 0);
    const x = new Float32Array(8).fill(1);
    let single = 0;
    for (let j = 0; j < 8; j++) single += w[j] * x[j];
    expect(single).toBe(2); // 2^60 + 1 loses the 1; after -2^60 the two later 1s survive
    // Lanes: l0 = 2^60 + 1 (j=4) = 2^60, l1 = 1, l2 = -2^60, l3 = 1; (2^60 + 1) + (-2^60 + 1) = 2^60 - 2^60 = 0.
    expect(dotLanes4(w, 0, x, 0, 8)).toBe(0);
  });

  it("matVec and matMulRows round each output once and agree row for row", () => {
    const r = lcg(3);
    const m = 5, n = 11, t = 3;
    const w = Float32Array.from({ length: m * n }, r);
    const x = Float32Array.from({ length: t * n }, r);
    const y = new Float32Array(t * m);
    matMulRows(y, w, x, t, m, n);
    for (let i = 0; i < t; i++) {
      const yi = new Float32Array(m);
      matVec(yi, w, x, m, n, i * n);
      expect(Array.from(yi)).toEqual(Array.from(y.subarray(i * m, (i + 1) * m)));
      for (let k = 0; k < m; k++) expect(yi[k]).toBe(Math.fround(lanesRule(w.subarray(k * n, (k + 1) * n), x.subarray(i * n, (i + 1) * n))));
    }
  });
});

describe("other ops", () => {
  it("rmsNorm = x / sqrt(mean(x²) + eps) * w, rounded once", () => {
    const x = Float32Array.of(1, -2, 3, 0.5);
    const w = Float32Array.of(1, 2, 0.5, -1);
    const out = new Float32Array(4);
    rmsNorm(out, x, w, 4, 1e-5);
    const inv = 1 / Math.sqrt((1 + 4 + 9 + 0.25) / 4 + 1e-5);
    expect(Array.from(out)).toEqual(Array.from(x).map((v, i) => Math.fround(v * inv * w[i])));
  });

  it("softmax: a column masked with -255 contributes exactly zero wherever it sits", () => {
    const a = Float32Array.of(1.5, -0.25, 3, 0.125 - 255);
    const b = Float32Array.of(0.125 - 255, 1.5, -0.25, 3);
    softmaxInPlace(a, 4);
    softmaxInPlace(b, 4);
    expect(a[3]).toBe(0);
    expect(Array.from(a.subarray(0, 3))).toEqual(Array.from(b.subarray(1, 4)));
    expect(a[0] + a[1] + a[2]).toBeCloseTo(1, 6);
  });
});
