// The generated matmul kernels against plain JavaScript: the packed layout element by element, the kernel's
// output bit for bit against the fp32 four-lane statement of its numerics (and close to the float64 reference
// dot product), for every variant shape, ragged m and n, token counts around the token blocks, panel ranges
// that leave other rows untouched, and independence of the blocking (same bits from every variant).
import { describe, expect, it } from "vitest";
import {
  ATTN_PV,
  ATTN_SCORES,
  buildKernelModule,
  DEFAULT_MATMUL,
  dotLanesF32,
  matmulFunction,
  matmulName,
  packActivations,
  packedBytes,
  packPanels,
  pvF32,
  scoreF32,
  type MatMulVariant,
} from "../../src/compute/kernels.js";
import { dotLanes4 } from "../../src/engine/kernels.js";

/** xorshift32 fill in [-amp, amp). */
function fill(n: number, seed: number, amp = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = ((s >>> 0) / 2 ** 32 - 0.5) * 2 * amp;
  }
  return a;
}

const VARIANTS: MatMulVariant[] = [
  DEFAULT_MATMUL,
  { rows: 4, rowBlock: 4, tokenBlocks: [1] },
  { rows: 8, rowBlock: 8, tokenBlocks: [1] },
  { rows: 8, rowBlock: 4, tokenBlocks: [3, 1] },
  { rows: 16, rowBlock: 8, tokenBlocks: [4, 2, 1] },
];

const module = new WebAssembly.Module(buildKernelModule(VARIANTS));

/** Runs a variant on W [m, n] and X [T, n] in a fresh memory; returns Y [T, mPad] and the sentinel-filled rest. */
function runKernel(v: MatMulVariant, w: Float32Array, m: number, n: number, x: Float32Array, T: number, p0?: number, p1?: number) {
  const R = v.rows;
  const panels = Math.ceil(m / R);
  const mPad = panels * R;
  const groups = Math.ceil(n / 4);
  const xBytes = groups * T * 16;
  const yOff = Math.ceil(xBytes / 64) * 64 + 64;
  const wOff = yOff + Math.ceil((T * mPad * 4) / 64) * 64 + 64;
  const total = wOff + packedBytes(m, n, R);
  const mem = new WebAssembly.Memory({ initial: Math.ceil(total / 65536) + 1, maximum: 65536, shared: true });
  const f = new Float32Array(mem.buffer);
  f.fill(NaN);
  packPanels(new Float32Array(mem.buffer, wOff, packedBytes(m, n, R) / 4), w, m, n, R);
  packActivations(f, 0, x, 0, T, n, T);
  const k = new WebAssembly.Instance(module, { env: { mem } }).exports[matmulName(v)] as (...a: number[]) => void;
  k(wOff, 0, yOff, groups, p0 ?? 0, p1 ?? panels, T, T * 16, mPad * 4);
  return { y: f.slice(yOff / 4, yOff / 4 + T * mPad), mPad };
}

describe("packing", () => {
  it("packPanels puts W[pR + r, 4g + k] at ((p·G + g)·R + r)·4 + k and zero-pads rows and columns", () => {
    const m = 6;
    const n = 7;
    const R = 4;
    const w = Float32Array.from({ length: m * n }, (_, i) => i + 1);
    const out = new Float32Array(packedBytes(m, n, R) / 4).fill(NaN);
    packPanels(out, w, m, n, R);
    const G = 2;
    expect(out.length).toBe(2 * G * R * 4);
    for (let p = 0; p < 2; p++)
      for (let g = 0; g < G; g++)
        for (let r = 0; r < R; r++)
          for (let k = 0; k < 4; k++) {
            const row = p * R + r;
            const col = 4 * g + k;
            expect(out[((p * G + g) * R + r) * 4 + k]).toBe(row < m && col < n ? w[row * n + col] : 0);
          }
  });

  it("packActivations writes x_t[4g + k] at (g·tStride + t)·4 + k, zero-padding the last group", () => {
    const x = Float32Array.from({ length: 3 * 5 }, (_, i) => i + 1);
    const out = new Float32Array(2 + 2 * 4 * 4).fill(NaN);
    packActivations(out, 2, x, 0, 3, 5, 4);
    for (let t = 0; t < 3; t++)
      for (let j = 0; j < 8; j++) expect(out[2 + ((j >> 2) * 4 + t) * 4 + (j & 3)]).toBe(j < 5 ? x[t * 5 + j] : 0);
  });

  it("refuses mismatched sizes", () => {
    expect(() => packPanels(new Float32Array(10), new Float32Array(12), 3, 4, 4)).toThrow(RangeError);
    expect(() => packPanels(new Float32Array(16), new Float32Array(11), 3, 4, 4)).toThrow(RangeError);
  });
});

describe("generated matmul", () => {
  it("every variant validates and the module exports one function per variant", () => {
    expect(WebAssembly.validate(buildKernelModule(VARIANTS))).toBe(true);
    expect(() => matmulFunction({ rows: 6, rowBlock: 6, tokenBlocks: [1] })).toThrow(RangeError);
    expect(() => matmulFunction({ rows: 8, rowBlock: 4, tokenBlocks: [2] })).toThrow(RangeError);
    expect(() => matmulFunction({ rows: 8, rowBlock: 12, tokenBlocks: [1] })).toThrow(RangeError);
  });

  const shapes: [number, number][] = [
    [1, 1],
    [3, 5],
    [4, 4],
    [13, 10],
    [16, 64],
    [37, 172],
    [64, 97],
  ];
  it.each(VARIANTS.map((v) => ({ v, name: matmulName(v) })))("$name: bit-equal to the fp32 four-lane statement for ragged shapes and T = 1..7", ({ v }) => {
    for (const [m, n] of shapes) {
      const w = fill(m * n, m * 31 + n, 0.5);
      for (const T of [1, 2, 3, 4, 5, 7]) {
        const x = fill(T * n, 1000 + T * 7 + n, 2);
        const { y, mPad } = runKernel(v, w, m, n, x, T);
        for (let t = 0; t < T; t++)
          for (let r = 0; r < m; r++) {
            const got = y[t * mPad + r];
            const want = dotLanesF32(w, r * n, x, t * n, n);
            if (got !== want) expect.fail(`${matmulName(v)} m=${m} n=${n} T=${T}: y[${t}, ${r}] = ${got}, want ${want}`);
            // and within fp32 accumulation error of the float64 reference
            const ref = dotLanes4(w, r * n, x, t * n, n);
            let mag = 0;
            for (let j = 0; j < n; j++) mag += Math.abs(w[r * n + j] * x[t * n + j]);
            expect(Math.abs(got - ref)).toBeLessThanOrEqual(mag * n * 2 ** -23 + 1e-30);
          }
        // padded rows of the last panel are exactly zero (zero weights)
        for (let t = 0; t < T; t++) for (let r = m; r < mPad; r++) expect(y[t * mPad + r]).toBe(0);
      }
    }
  });

  it("computes exactly the panels [p0, p1) and leaves every other output untouched", () => {
    const v = DEFAULT_MATMUL;
    const m = 37;
    const n = 20;
    const T = 3;
    const w = fill(m * n, 5);
    const x = fill(T * n, 6);
    const { y, mPad } = runKernel(v, w, m, n, x, T, 2, 7);
    for (let t = 0; t < T; t++)
      for (let r = 0; r < mPad; r++) {
        const inside = r >= 2 * 4 && r < 7 * 4;
        if (inside && r < m) expect(y[t * mPad + r]).toBe(dotLanesF32(w, r * n, x, t * n, n));
        else if (!inside) expect(y[t * mPad + r]).toBeNaN();
      }
    // an empty range writes nothing
    const e = runKernel(v, w, m, n, x, T, 4, 4);
    expect(e.y.every((z) => Number.isNaN(z))).toBe(true);
  });

  it("results do not depend on the blocking: every variant gives the same bits", () => {
    const m = 40;
    const n = 68;
    const T = 9;
    const w = fill(m * n, 77, 0.3);
    const x = fill(T * n, 78, 3);
    const outs = VARIANTS.map((v) => {
      const { y, mPad } = runKernel(v, w, m, n, x, T);
      return Array.from({ length: T }, (_, t) => Array.from(y.subarray(t * mPad, t * mPad + m)));
    });
    for (const o of outs.slice(1)) expect(o).toEqual(outs[0]);
  });

  it("propagates non-finite inputs like the scalar statement", () => {
    const m = 4;
    const n = 8;
    const w = fill(m * n, 9);
    const x = fill(n, 10);
    x[3] = Infinity;
    w[1 * n + 3] = 0; // 0·inf = NaN in row 1
    const { y } = runKernel(DEFAULT_MATMUL, w, m, n, x, 1);
    for (let r = 0; r < m; r++) expect(Object.is(y[r], dotLanesF32(w, r * n, x, 0, n))).toBe(true);
    expect(y[1]).toBeNaN();
  });
});

describe("attention kernels", () => {
  /** A memory with `floats` addressable floats, NaN-filled, and the two kernels instantiated on it. */
  const setupMem = (floats: number) => {
    const mem = new WebAssembly.Memory({ initial: Math.ceil((floats * 4) / 65536) + 1, maximum: 65536, shared: true });
    const f = new Float32Array(mem.buffer);
    f.fill(NaN);
    const ex = new WebAssembly.Instance(module, { env: { mem } }).exports;
    return { f, scores: ex[ATTN_SCORES] as (...a: number[]) => void, pv: ex[ATTN_PV] as (...a: number[]) => void };
  };

  it("attn_scores: bit-equal to the fp32 statement; strides, a shared mask row, padding columns only touched", () => {
    for (const [nq, hd, cols] of [
      [1, 8, 1],
      [2, 16, 5],
      [3, 64, 37],
      [4, 12, 16],
      [1, 64, 127],
    ]) {
      const qStride = hd + 3;
      const kStride = cols + 1; // unaligned rows, as a K cache [hd, L] copied in whole
      const sStride = Math.ceil(cols / 4) * 4 + 4;
      const { f, scores } = setupMem(1 << 16);
      const Q = 64, K = Q + nq * qStride + 64, M = K + hd * kStride + 64, S = M + (nq + 1) * (cols + 8) + 64;
      f.set(fill(nq * qStride, nq + hd, 1.5), Q);
      f.set(fill(hd * kStride + 4, cols + 7, 1.5), K);
      const mask = fill(cols + 4, 99, 1).map((x) => (x < 0 ? -255 : 0));
      f.set(mask, M);
      const scale = Math.fround(Math.sqrt(hd));
      for (const shared of [true, false]) {
        if (!shared) f.set(fill(nq * (cols + 4), 5, 1), M);
        const maskStride = shared ? 0 : cols + 4;
        f.fill(NaN, S, S + nq * sStride);
        scores(Q * 4, K * 4, S * 4, M * 4, nq, hd, cols, qStride * 4, kStride * 4, sStride * 4, maskStride * 4, scale);
        for (let i = 0; i < nq; i++) {
          for (let c = 0; c < cols; c++) {
            const want = scoreF32(f, Q + i * qStride, f, K + c, kStride, hd, scale, f[M + i * maskStride + c]);
            if (f[S + i * sStride + c] !== want) expect.fail(`nq=${nq} hd=${hd} cols=${cols}: s[${i}, ${c}] = ${f[S + i * sStride + c]}, want ${want}`);
          }
          const padEnd = Math.ceil(cols / 4) * 4;
          for (let c = padEnd; c < sStride; c++) expect(f[S + i * sStride + c]).toBeNaN();
        }
      }
    }
  });

  it("attn_pv: bit-equal to the fp32 statement for hd not a multiple of 4 and strided rows", () => {
    for (const [nq, cols, hd] of [
      [1, 1, 4],
      [2, 5, 6],
      [3, 33, 64],
      [4, 128, 16],
      [2, 7, 40],
    ]) {
      const pStride = cols + 2;
      const vStride = hd + 1;
      const yStride = Math.ceil(hd / 4) * 4 + 4;
      const { f, pv } = setupMem(1 << 17);
      const P = 16, V = P + nq * pStride + 16, Y = V + (cols + 1) * vStride + 16;
      f.set(fill(nq * pStride, cols, 1), P);
      f.set(fill((cols + 1) * vStride, hd + 1, 2), V);
      pv(P * 4, V * 4, Y * 4, nq, cols, hd, pStride * 4, vStride * 4, yStride * 4);
      for (let i = 0; i < nq; i++) {
        for (let d = 0; d < hd; d++) {
          const want = pvF32(f, P + i * pStride, f, V + d, vStride, cols);
          if (f[Y + i * yStride + d] !== want) expect.fail(`nq=${nq} cols=${cols} hd=${hd}: y[${i}, ${d}] = ${f[Y + i * yStride + d]}, want ${want}`);
        }
        for (let d = Math.ceil(hd / 4) * 4; d < yStride; d++) expect(f[Y + i * yStride + d]).toBeNaN();
      }
    }
  });

  it("zero rows, columns or dims write nothing", () => {
    const { f, scores, pv } = setupMem(4096);
    scores(0, 0, 1024, 0, 0, 8, 8, 32, 32, 32, 0, 1);
    scores(0, 0, 1024, 0, 2, 8, 0, 32, 32, 32, 0, 1);
    pv(0, 0, 1024, 2, 0, 8, 32, 32, 32);
    pv(0, 0, 1024, 2, 8, 0, 32, 32, 32);
    expect(f.subarray(256, 512).every((x) => Number.isNaN(x))).toBe(true);
  });
});
