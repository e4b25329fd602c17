// The fast exact matmul kernels against the oracle (src/engine/kernels.ts matMulRows), bit for bit: the two-row
// JS kernel (src/compute/kernels-fast.ts) and the f64x2 WebAssembly kernel (src/compute/kernels-exact.ts), on
// small random matrices with n not a multiple of 4, odd m, row ranges and token counts, and on values that
// make the summation order visible (so a kernel that summed in another order would fail: checked below).
import { describe, expect, it } from "vitest";
import { dotLanes4, matMulRows } from "../../src/engine/kernels.js";
import { matMulRange, matMulRowsFast } from "../../src/compute/kernels-fast.js";
import { buildExactMatMulModule, instantiateExactMatMul, MAX_TOKEN_BLOCK } from "../../src/compute/kernels-exact.js";

/** Deterministic values, each in ±2^-6 .. ±2^6. */
function rand(len: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(len);
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32 - 0.5;
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = u * 2 ** ((s >>> 28) - 6);
  }
  return a;
}

/**
 * Inputs whose fp32 results depend on the summation order. Plain random data almost never shows it (a float64
 * sum of fp32 products rounds back to the same fp32), so each token row i gets a huge pair x[i, p] = +H_i,
 * x[i, q] = -H_i (H_i = 2^80..2^87, so a partial sum holding H_i·w has an ulp far above the other terms) and every weight row has w[r, q] = w[r, p]: the two products cancel
 * exactly, but whatever small terms were added to the partial sum holding one of them before the other
 * arrived are lost, and which ones those are depends on the lane assignment and, with p and q in lanes two
 * apart (the usual case here: one in (l0, l1), the other in (l2, l3)), on the combine order.
 */
function orderSensitive(t: number, m: number, n: number, seed: number): { w: Float32Array; x: Float32Array } {
  const w = rand(m * n, seed);
  const x = rand(t * n, seed + 1);
  if (n >= 2) {
    const p = seed % n;
    const q = (p + 2 + 4 * ((seed >>> 3) % Math.max(1, Math.floor((n - 3) / 4)))) % n; // usually lane p ± 2
    for (let r = 0; r < m; r++) w[r * n + q] = w[r * n + p];
    for (let i = 0; i < t; i++) {
      x[i * n + p] = 2 ** (80 + (i % 8));
      x[i * n + q] = -x[i * n + p];
    }
  }
  return { w, x };
}

const SHAPES: [number, number, number][] = [
  // [t, m, n]
  [1, 1, 1],
  [1, 5, 7],
  [1, 7, 4],
  [2, 3, 2],
  [3, 9, 13],
  [4, 6, 3],
  [5, 17, 33],
  [1, 64, 64],
  [7, 31, 70],
  [31, 18, 97],
];

const sameBits = (a: Float32Array, b: Float32Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe("order-sensitive inputs", () => {
  it("distinguish the oracle's lane order from a sequential sum and from the combine (l0 + l2) + (l1 + l3)", () => {
    const [t, m, n] = [4, 64, 33];
    const { w, x } = orderSensitive(t, m, n, 12345);
    let seqDiffers = 0;
    let combineDiffers = 0;
    for (let i = 0; i < t; i++)
      for (let r = 0; r < m; r++) {
        const ref = Math.fround(dotLanes4(w, r * n, x, i * n, n));
        let seq = 0;
        const l = [0, 0, 0, 0];
        for (let j = 0; j < n; j++) {
          seq += w[r * n + j] * x[i * n + j];
          l[j & 3] += w[r * n + j] * x[i * n + j];
        }
        if (Math.fround(seq) !== ref) seqDiffers++;
        if (Math.fround((l[0] + l[2]) + (l[1] + l[3])) !== ref) combineDiffers++; // a lane-wise f64x2 add first
      }
    expect(seqDiffers).toBeGreaterThan(t * m * 0.2);
    expect(combineDiffers).toBeGreaterThan(t * m * 0.2);
  });
});

describe("two-row JS kernel", () => {
  it.each(SHAPES)("t=%i m=%i n=%i equals matMulRows bit for bit", (t, m, n) => {
    const { w, x } = orderSensitive(t, m, n, m * 131 + n * 7 + t);
    const want = new Float32Array(t * m);
    matMulRows(want, w, x, t, m, n);
    const got = new Float32Array(t * m).fill(NaN);
    matMulRowsFast(got, w, x, t, m, n);
    expect(sameBits(got, want)).toBe(true);
  });

  it("row ranges that start on odd rows write only their rows, with the oracle's values", () => {
    const [t, m, n] = [3, 11, 9];
    const { w, x } = orderSensitive(t, m, n, 5);
    const want = new Float32Array(t * m);
    matMulRows(want, w, x, t, m, n);
    for (const [r0, r1] of [[0, 0], [1, 4], [3, 11], [5, 6], [0, 11]]) {
      const got = new Float32Array(t * m).fill(-1);
      matMulRange(got, w, x, t, m, n, r0, r1);
      for (let i = 0; i < t; i++)
        for (let r = 0; r < m; r++) {
          const v = got[i * m + r];
          if (r >= r0 && r < r1) expect(Object.is(v, want[i * m + r])).toBe(true);
          else expect(v).toBe(-1);
        }
    }
  });
});

describe("exact WebAssembly kernel", () => {
  const memory = new WebAssembly.Memory({ initial: 16, maximum: 16, shared: true });
  const mm = instantiateExactMatMul(new WebAssembly.Module(buildExactMatMulModule()), memory);

  /** Runs mm with W and Y at offsets that are not 16-byte aligned (wasm loads need no alignment); X is f64. */
  function run(w: Float32Array, x: Float32Array, t: number, m: number, n: number, r0: number, r1: number, fill = NaN): Float32Array {
    const wOff = 36;
    const xOff = Math.ceil((wOff + m * n * 4) / 8) * 8 + 8;
    const yOff = xOff + t * n * 8 + 4;
    new Float32Array(memory.buffer, wOff, m * n).set(w);
    new Float64Array(memory.buffer, xOff, t * n).set(x);
    new Float32Array(memory.buffer, yOff, t * m).fill(fill);
    mm(wOff, xOff, yOff, t, m, n, r0, r1);
    return new Float32Array(memory.buffer, yOff, t * m).slice();
  }

  it.each(SHAPES)("t=%i m=%i n=%i equals matMulRows bit for bit", (t, m, n) => {
    const { w, x } = orderSensitive(t, m, n, m * 131 + n * 7 + t + 1);
    const want = new Float32Array(t * m);
    matMulRows(want, w, x, t, m, n);
    expect(sameBits(run(w, x, t, m, n, 0, m), want)).toBe(true);
  });

  it("a row range writes only its rows", () => {
    const [t, m, n] = [3, 10, 6];
    const { w, x } = orderSensitive(t, m, n, 8);
    const want = new Float32Array(t * m);
    matMulRows(want, w, x, t, m, n);
    const got = run(w, x, t, m, n, 3, 7, -1);
    for (let i = 0; i < t; i++)
      for (let r = 0; r < m; r++) expect(Object.is(got[i * m + r], r >= 3 && r < 7 ? want[i * m + r] : -1)).toBe(true);
  });

  it("keeps signed zeros, infinities and subnormal results as the oracle does", () => {
    const [t, m, n] = [2, 4, 5];
    const w = Float32Array.of(-0, 0, -0, 0, -0, 1e-30, 1e-30, 0, 0, 0, 3e38, 3e38, 1, 1, 1, -1, 2, 0.5, 0.25, 0.125);
    const x = Float32Array.of(1, 1, 1, 1, 1, 1e-20, 1e-20, 1, 1, 1);
    const want = new Float32Array(t * m);
    matMulRows(want, w, x, t, m, n);
    expect(sameBits(run(w, x, t, m, n, 0, m), want)).toBe(true);
    expect(want.some((v) => v === Infinity)).toBe(true);
  });

  it.each([[[1]], [[2, 1]], [[3, 1]], [[4, 3, 2, 1]]])("token blocks %j: t = 1 … 9 equal matMulRows", (blocks) => {
    const mmB = instantiateExactMatMul(new WebAssembly.Module(buildExactMatMulModule(blocks)), memory);
    const [m, n] = [5, 11];
    for (let t = 1; t <= 9; t++) {
      const { w, x } = orderSensitive(t, m, n, 100 + t);
      const want = new Float32Array(t * m);
      matMulRows(want, w, x, t, m, n);
      const wOff = 16;
      const xOff = 512;
      const yOff = xOff + t * n * 8;
      new Float32Array(memory.buffer, wOff, m * n).set(w);
      new Float64Array(memory.buffer, xOff, t * n).set(x);
      mmB(wOff, xOff, yOff, t, m, n, 0, m);
      expect(sameBits(new Float32Array(memory.buffer, yOff, t * m), want)).toBe(true);
    }
  });

  it("refuses token blocks that do not end in 1, do not decrease, or exceed the maximum", () => {
    for (const bad of [[], [2], [1, 2], [2, 2, 1], [MAX_TOKEN_BLOCK + 1, 1], [1.5, 1]]) expect(() => buildExactMatMulModule(bad)).toThrow(RangeError);
  });
});
