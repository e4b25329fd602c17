// SeqMSE (SPEC-2026 §10.4) against a brute-force oracle written here: every candidate of the two sweeps evaluated
// with the test's own fake quantization (fp32(code·s·m), codes by the fp32 reciprocal, ties to even) and the
// engine's conv (matMulRows), the best kept by the spec's rule (m = 1 first, strictly smaller loss replaces).
import { describe, expect, it } from "vitest";
import { matMulRows } from "../../../src/engine/kernels.js";
import { linspace32, seqMseLoss, seqMseSearch, type SeqMseProblem } from "../../../src/quant/current/seq-mse.js";
import { observerScales } from "../../../src/quant/current/weights.js";
import { rng } from "../../helpers/rng.js";

const f32 = Math.fround;

function rhe(v: number): number {
  const fl = Math.floor(v);
  const d = v - fl;
  return (d < 0.5 ? fl : d > 0.5 ? fl + 1 : fl % 2 === 0 ? fl : fl + 1) + 0;
}

/** The oracle's loss: float64 mean of squared errors over the whole conv output. */
function oracleLoss(p: SeqMseProblem, m: number): number {
  const w = new Float32Array(p.rows * p.cols);
  const per = p.cols / p.group;
  for (let r = 0; r < p.rows; r++)
    for (let j = 0; j < p.cols; j++) {
      const s = f32(p.scales[r * per + Math.floor(j / p.group)] * m);
      const q = Math.min(p.qmax, Math.max(-p.qmax, rhe(f32(p.weight[r * p.cols + j] * f32(1 / s)))));
      w[r * p.cols + j] = f32(q * s);
    }
  const y = new Float32Array(p.T * p.rows);
  matMulRows(y, w, p.x, p.T, p.rows, p.cols);
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += (y[i] - p.y[i]) ** 2;
  return sum / y.length;
}

/** linspace as SPEC-2026 §10.4 / torch in fp32: start + i·step for the first half, end − (K−1−i)·step after. */
function oracleLinspace(a0: number, b0: number, K: number): number[] {
  const a = f32(a0);
  const b = f32(b0);
  const step = f32(f32(b - a) / (K - 1));
  return Array.from({ length: K }, (_, i) => (i < Math.floor(K / 2) ? f32(a + f32(step * i)) : f32(b - f32(step * (K - 1 - i)))));
}

function oracleSearch(p: SeqMseProblem, K: number): { step: number; loss: number } {
  let best = 1;
  let bestLoss = oracleLoss(p, 1);
  for (const m of oracleLinspace(1 / K, 1, K)) {
    const l = oracleLoss(p, m);
    if (l < bestLoss) [best, bestLoss] = [m, l];
  }
  for (const m of oracleLinspace(Math.max(best - 1 / K, 0.001), Math.min(best + 1 / K, 1), K)) {
    const l = oracleLoss(p, m);
    if (l < bestLoss) [best, bestLoss] = [m, l];
  }
  return { step: best, loss: bestLoss };
}

/** A conv whose weights have a few outliers (so clipping the scale pays), random inputs, float outputs. */
function problem(seed: number, rows: number, cols: number, T: number, group: number, qmax: number): SeqMseProblem {
  const r = rng(seed);
  const weight = Float32Array.from({ length: rows * cols }, () => (r() - 0.5) * 0.2);
  for (let k = 0; k < rows; k++) weight[k * cols + Math.floor(r() * cols)] = (r() < 0.5 ? -1 : 1) * (0.6 + r());
  const x = Float32Array.from({ length: T * cols }, () => (r() - 0.5) * 2);
  const y = new Float32Array(T * rows);
  matMulRows(y, weight, x, T, rows, cols);
  return { weight, rows, cols, T, group, qmax, x, y, scales: observerScales(weight, rows, cols, group, qmax) };
}

describe("SeqMSE (SPEC-2026 §10.4)", () => {
  it("linspace in fp32, as torch: endpoints exact, K values", () => {
    expect(linspace32(0.02, 1, 50)).toEqual(oracleLinspace(0.02, 1, 50));
    expect(linspace32(0.02, 1, 50)[0]).toBe(f32(0.02));
    expect(linspace32(0.02, 1, 50)[49]).toBe(1);
    expect(linspace32(0.3, 0.34, 7)).toEqual(oracleLinspace(0.3, 0.34, 7));
    expect(linspace32(0.5, 0.5, 1)).toEqual([0.5]);
  });

  const cases: [string, number, number, number, number, number][] = [
    // name, seed, rows, cols, group, qmax
    ["int4 per channel", 1, 12, 32, 32, 7],
    ["int8 per channel", 2, 10, 24, 24, 127],
    ["int4 per block of 8", 3, 12, 32, 8, 7],
  ];
  for (const [name, seed, rows, cols, group, qmax] of cases)
    for (const K of [5, 20]) {
      it(`${name}, K = ${K}: the search's step and loss are the brute-force oracle's`, () => {
        const p = problem(seed, rows, cols, 9, group, qmax);
        const got = seqMseSearch(p, K);
        const want = oracleSearch(p, K);
        expect(got.step).toBe(want.step);
        expect(got.loss).toBe(want.loss);
        expect(got.loss1).toBe(oracleLoss(p, 1));
        expect(got.evaluations).toBe(1 + 2 * K);
        expect(seqMseLoss(p, got.step)).toBe(want.loss);
        expect(got.loss).toBeLessThanOrEqual(got.loss1);
      });
    }

  it("with outliers the search clips (step < 1) and lowers the loss", () => {
    const p = problem(7, 16, 32, 12, 32, 7);
    const r = seqMseSearch(p, 50);
    expect(r.step).toBeLessThan(1);
    expect(r.loss).toBeLessThan(r.loss1);
  });
});
