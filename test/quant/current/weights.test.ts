// The current flow's weight codes (SPEC-2026 §10.1) against a plain oracle written here from the spec: per-channel
// int4 / int8 and LPBQ (block scales s_cb = amax_cb/7 with eps 1e-4/65535, S_c = max_b s_cb / 16, m = clamp(round(
// s_cb / S_c), 1, 16), codes against s_cb, device weight code·m·S_c), with torch's fp32 rounding spelled out
// (fp32 scale division, codes via the fp32 reciprocal, round half to even). Weights are small and random, plus
// rows built so that w/s lands exactly on .5 (power-of-two scales), all-zero blocks, and multipliers that tie.
import { describe, expect, it } from "vitest";
import { lpbqScales, observerScales, quantizeConvWeights, weightCodes, type WeightSpec } from "../../../src/quant/current/weights.js";
import { rng } from "../../helpers/rng.js";

const f32 = Math.fround;
const EPS = 1e-4 / 65535;

/** Round half to even by floor and fraction (independent of the code under test). */
function rhe(v: number): number {
  const fl = Math.floor(v);
  const d = v - fl;
  return (d < 0.5 ? fl : d > 0.5 ? fl + 1 : fl % 2 === 0 ? fl : fl + 1) + 0;
}

interface Oracle {
  codes: number[];
  groupScales: number[];
  channelScales: number[];
  multipliers: number[];
  device: number[];
}

/** SPEC-2026 §10.1 in float64 loops; B = cols for per channel. */
function oracle(w: Float32Array, rows: number, cols: number, B: number, qmax: number, lpbq: boolean): Oracle {
  const nb = cols / B;
  const o: Oracle = { codes: [], groupScales: [], channelScales: [], multipliers: [], device: [] };
  for (let r = 0; r < rows; r++) {
    const s: number[] = [];
    for (let b = 0; b < nb; b++) {
      let amax = 0;
      for (let j = 0; j < B; j++) amax = Math.max(amax, Math.abs(w[r * cols + b * B + j]));
      s.push(Math.max(f32(amax / qmax), f32(EPS)));
    }
    o.groupScales.push(...s);
    const S = f32(Math.max(...s) / 16);
    const m = s.map((x) => Math.min(16, Math.max(1, rhe(f32(x / S)))));
    if (lpbq) {
      o.channelScales.push(S);
      o.multipliers.push(...m);
    } else o.channelScales.push(s[0]);
    for (let j = 0; j < cols; j++) {
      const b = Math.floor(j / B);
      const q = Math.min(qmax, Math.max(-qmax, rhe(f32(w[r * cols + j] * f32(1 / s[b])))));
      o.codes.push(q + 0);
      o.device.push(lpbq ? f32(q * m[b] * S) : f32(q * s[b]));
    }
  }
  return o;
}

/** Random rows, then a row of exact .5 ties (scale 2^-4), an all-zero row or block, and LPBQ multiplier ties. */
function testWeights(rows: number, cols: number, B: number, seed: number): Float32Array {
  const r = rng(seed);
  const w = Float32Array.from({ length: rows * cols }, () => (r() - 0.5) * 0.3);
  // Row 0: amax 7/16 gives s = 1/16 exactly; every other weight is (k + 0.5)/16, a tie for w/s.
  for (let j = 0; j < cols; j++) w[j] = j === 0 ? 7 / 16 : ((j % 14) - 7 + 0.5) / 16;
  // Row 1: all zero (every block).
  w.fill(0, cols, 2 * cols);
  // Row 2: block amaxes 7·{2^-2, 2.5·2^-6, 3.5·2^-6, 0.5·2^-6, 0}: S = 2^-6 and s_cb/S = 16, 2.5, 3.5, 0.5, 0·.
  const amax = [7 * 2 ** -2, 7 * 2.5 * 2 ** -6, 7 * 3.5 * 2 ** -6, 7 * 0.5 * 2 ** -6, 0];
  for (let b = 0; b < cols / B; b++)
    for (let j = 0; j < B; j++) w[2 * cols + b * B + j] = j === 0 ? amax[b % amax.length] : ((r() - 0.5) * 2 * amax[b % amax.length]) / 1.01;
  return w;
}

describe("current-flow weights (SPEC-2026 §10.1) against the oracle", () => {
  const cases: [string, WeightSpec, number][] = [
    ["int4 per channel", { kind: "per_channel", bits: 4, qmax: 7 }, 0],
    ["int8 per channel", { kind: "per_channel", bits: 8, qmax: 127 }, 0],
    ["LPBQ block 8", { kind: "lpbq", blockSize: 8, qmax: 7 }, 8],
    ["LPBQ block 16", { kind: "lpbq", blockSize: 16, qmax: 7 }, 16],
  ];
  for (const [name, spec, B] of cases)
    it(name, () => {
      const rows = 9;
      const cols = 80;
      const w = testWeights(rows, cols, B || 16, 11);
      const o = oracle(w, rows, cols, B || cols, spec.qmax, spec.kind === "lpbq");
      const q = quantizeConvWeights(w, rows, cols, spec);
      expect(Array.from(q.codes)).toEqual(o.codes);
      expect(Array.from(q.groupScales)).toEqual(o.groupScales);
      expect(Array.from(q.channelScales)).toEqual(o.channelScales);
      if (spec.kind === "lpbq") expect(Array.from(q.multipliers!)).toEqual(o.multipliers);
      expect(Array.from(q.device)).toEqual(o.device);
    });

  it("the hand-built rows: .5 ties round to even, zero rows use eps, multipliers 16, 2 (2.5), 4 (3.5), 1 (0.5 and a zero block)", () => {
    const cols = 80;
    const B = 16;
    const w = testWeights(3, cols, B, 3);
    const q = quantizeConvWeights(w, 3, cols, { kind: "lpbq", blockSize: B, qmax: 7 });
    // Row 0: every block's amax is 7/16 (s = 1/16 exactly); (k + 0.5) ties go to the even code.
    expect(q.groupScales[0]).toBe(1 / 16);
    for (let j = 1; j < 16; j++) expect(q.codes[j]).toBe(rhe((j % 14) - 7 + 0.5));
    expect(Array.from(q.codes.subarray(1, 6))).toEqual([-6, -4, -4, -2, -2]); // -5.5, -4.5, -3.5, -2.5, -1.5
    // Row 1: all zero — s = fp32(eps) in every block, each the row maximum, so m = 16 everywhere; codes 0.
    expect(Array.from(q.groupScales.subarray(5, 10))).toEqual(Array(5).fill(f32(EPS)));
    expect(Array.from(q.multipliers!.subarray(5, 10))).toEqual([16, 16, 16, 16, 16]);
    expect(Array.from(q.codes.subarray(cols, 2 * cols)).every((c) => c === 0)).toBe(true);
    // Row 2: S = 2^-6.
    expect(q.channelScales[2]).toBe(2 ** -6);
    expect(Array.from(q.multipliers!.subarray(10, 15))).toEqual([16, 2, 4, 1, 1]);
  });

  it("a SeqMSE step scales every observer scale in fp32 before the codes and LPBQ", () => {
    const w = testWeights(6, 32, 8, 5);
    const step = f32(0.62);
    const q = quantizeConvWeights(w, 6, 32, { kind: "lpbq", blockSize: 8, qmax: 7 }, step);
    const s = observerScales(w, 6, 32, 8, 7).map((x) => f32(x * step));
    expect(Array.from(q.groupScales)).toEqual(Array.from(s));
    expect(Array.from(q.codes)).toEqual(Array.from(weightCodes(w, 6, 32, s, 8, 7)));
    expect(Array.from(q.channelScales)).toEqual(Array.from(lpbqScales(s, 6, 4).channelScales));
    expect(q.step).toBe(step);
  });

  it("non-finite weights and a block that does not divide are errors", () => {
    expect(() => observerScales(Float32Array.of(1, NaN), 1, 2, 2, 7)).toThrow(/NaN/);
    expect(() => observerScales(new Float32Array(12), 2, 6, 4, 7)).toThrow(/does not divide/);
  });
});
