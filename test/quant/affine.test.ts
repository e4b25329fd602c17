// SPEC §7 scalar arithmetic: round half to even, the unsigned affine activation encoding (worked by hand),
// the symmetric encodings, quantize / dequantize and the eps floor.
import { describe, expect, it } from "vitest";
import {
  activationEncoding,
  DEFAULT_EPS,
  dequantize,
  dequantizeArray,
  minMax,
  quantize,
  quantizeArray,
  roundHalfEven,
  symmetricEncoding,
  TORCH_F32_EPS,
} from "../../src/quant/affine.js";
import { rhe } from "./reference.js";

describe("roundHalfEven", () => {
  it("rounds ties to the even neighbour", () => {
    const cases: [number, number][] = [
      [0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [-0.5, 0], [-1.5, -2], [-2.5, -2], [-3.5, -4],
      [0.49999999999999994, 0], [2.5000000000000004, 3], [-2.5000000000000004, -3], [1.4999999999999998, 1],
      [0, 0], [7, 7], [-7.2, -7], [6.7, 7], [2 ** 53, 2 ** 53], [4503599627370495.5, 4503599627370496],
    ];
    for (const [x, want] of cases) expect([x, roundHalfEven(x)]).toEqual([x, want]);
    expect(Object.is(roundHalfEven(-0.5), 0)).toBe(true);
    expect(Object.is(roundHalfEven(-0.2), 0)).toBe(true);
    expect(roundHalfEven(NaN)).toBeNaN();
  });

  it("agrees with an independent floor-based rounding on halves and random values", () => {
    for (let k = -1000; k <= 1000; k++) expect(roundHalfEven(k / 2)).toBe(rhe(k / 2));
    let seed = 12345;
    for (let i = 0; i < 10000; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const x = (seed / 2 ** 31 - 0.5) * 2000;
      expect(roundHalfEven(x)).toBe(rhe(x));
    }
  });
});

describe("activationEncoding (unsigned per-tensor affine)", () => {
  it("xmin -1, xmax 3, 8 bits: s = 4/255, zp = round(63.75) = 64, offset -64", () => {
    const e = activationEncoding(-1, 3, 8);
    expect(e.scale).toBe(Math.fround(4 / 255));
    expect(e.zeroPoint).toBe(64);
    expect(e.offset).toBe(-64);
    expect([e.qmin, e.qmax, e.bitwidth, e.signed, e.symmetric]).toEqual([0, 255, 8, false, false]);
    expect(quantize(0, e)).toBe(64); // zero is exact
    expect(dequantize(64, e)).toBe(0);
    expect(quantize(3, e)).toBe(255); // 3 / s = 191.25 -> 191 + 64
    expect(quantize(-1, e)).toBe(0); // -63.75 -> -64 + 64
    expect(quantize(100, e)).toBe(255);
    expect(quantize(-100, e)).toBe(0);
  });

  it("ranges that exclude zero are widened to include it", () => {
    const pos = activationEncoding(0.5, 2, 8); // lo = 0
    expect(pos.scale).toBe(Math.fround(2 / 255));
    expect(pos.zeroPoint).toBe(0);
    const neg = activationEncoding(-3, -1, 8); // hi = 0
    expect(neg.scale).toBe(Math.fround(3 / 255));
    expect(neg.zeroPoint).toBe(255);
    expect(neg.offset).toBe(-255);
  });

  it("16 bits: xmin -8, xmax 24: s = 32/65535, zp = round(16383.75) = 16384", () => {
    const e = activationEncoding(-8, 24, 16);
    expect(e.scale).toBe(Math.fround(32 / 65535));
    expect(e.zeroPoint).toBe(16384);
    expect(e.qmax).toBe(65535);
  });

  it("16 bits with the seed's eps 2^-12: any range narrower than 16 gets s = 2^-12", () => {
    // (6 - -2) / 65535 = 1.2e-4 < 2^-12 = 2.4e-4: the floor wins, zp = 2 / 2^-12 = 8192
    const e = activationEncoding(-2, 6, 16);
    expect(e.scale).toBe(2 ** -12);
    expect(e.zeroPoint).toBe(8192);
    const fine = activationEncoding(-2, 6, 16, 2 ** -20);
    expect(fine.scale).toBe(Math.fround(8 / 65535));
    expect(fine.zeroPoint).toBe(16384);
  });

  it("an all-zero tensor gets the eps scale and zero point 0", () => {
    const e = activationEncoding(0, 0, 16);
    expect(e.scale).toBe(DEFAULT_EPS);
    expect(DEFAULT_EPS).toBe(2 ** -12);
    expect(e.zeroPoint).toBe(0);
    expect(activationEncoding(0, 0, 8, TORCH_F32_EPS).scale).toBe(2 ** -23);
    // a range narrower than eps * qrange is floored too
    expect(activationEncoding(-1e-9, 1e-9, 8).scale).toBe(DEFAULT_EPS);
  });

  it("rejects bad arguments", () => {
    expect(() => activationEncoding(1, -1, 8)).toThrow(/min 1 > max -1/);
    expect(() => activationEncoding(NaN, 1, 8)).toThrow(RangeError);
    expect(() => activationEncoding(0, 1, 0)).toThrow(/bitwidth/);
    expect(() => activationEncoding(0, 1, 33)).toThrow(/bitwidth/);
    expect(() => activationEncoding(0, 1, 8, 0)).toThrow(/eps/);
  });
});

describe("symmetricEncoding", () => {
  it("signed: s = amax / qmax, zp 0, codes [-qmax, qmax]", () => {
    const e = symmetricEncoding(3.5, 4, { signed: true });
    expect([e.scale, e.zeroPoint, e.offset, e.qmin, e.qmax]).toEqual([0.5, 0, 0, -7, 7]);
    // ties go to even: 0.25/0.5 = 0.5 -> 0, 0.75/0.5 = 1.5 -> 2, -1.25/0.5 = -2.5 -> -2
    expect([0.25, 0.75, -1.25, 3.5, 100, -100].map((x) => quantize(x, e))).toEqual([0, 2, -2, 7, 7, -7]);
    const i8 = symmetricEncoding(1.27, 8, { signed: true });
    expect([i8.scale, i8.qmin, i8.qmax]).toEqual([Math.fround(1.27 / 127), -127, 127]);
    expect(symmetricEncoding(1, 8, { signed: true, qmax: 7 }).scale).toBe(Math.fround(1 / 7));
    expect(symmetricEncoding(0, 4, { signed: true }).scale).toBe(2 ** -12);
  });

  it("unsigned 8-bit (the K/V caches): s = amax / 127.5, zp 128", () => {
    const e = symmetricEncoding(127.5, 8, { signed: false });
    expect([e.scale, e.zeroPoint, e.offset, e.qmin, e.qmax]).toEqual([1, 128, -128, 0, 255]);
    expect([0, -127.5, 127.5, 0.5, 1.5, -0.5].map((x) => quantize(x, e))).toEqual([128, 0, 255, 128, 130, 128]);
  });

  it("rejects bad arguments", () => {
    expect(() => symmetricEncoding(-1, 8, { signed: true })).toThrow(/amax/);
    expect(() => symmetricEncoding(1, 4, { signed: true, qmax: 8 })).toThrow(/qmax/);
    expect(() => symmetricEncoding(1, 8, { signed: false, qmax: 100 })).toThrow(/qmax/);
  });
});

describe("quantize / dequantize arrays", () => {
  it("match the scalar versions and round trip within half a step", () => {
    const e = activationEncoding(-1.3, 2.9, 8);
    const xs = Float32Array.from({ length: 301 }, (_, i) => -1.5 + i * 0.0149);
    const q = quantizeArray(xs, e);
    const d = dequantizeArray(q, e);
    for (let i = 0; i < xs.length; i++) {
      expect(q[i]).toBe(quantize(xs[i], e));
      expect(d[i]).toBe(dequantize(q[i], e));
      expect(d[i]).toBe(Math.fround((q[i] - e.zeroPoint) * e.scale));
      if (xs[i] >= -1.3 && xs[i] <= 2.9) expect(Math.abs(d[i] - xs[i])).toBeLessThanOrEqual(e.scale / 2 + 1e-7);
    }
    expect(() => quantize(NaN, e)).toThrow(/not a number/);
  });

  it("minMax", () => {
    expect(minMax([3, -2, 5, 0])).toEqual([-2, 5]);
    expect(minMax([])).toEqual([0, 0]);
    expect(() => minMax([1, NaN])).toThrow(/NaN/);
  });
});
