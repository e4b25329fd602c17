// Stored dtypes to fp32: both bfloat16 paths (aligned fast path, unaligned byte path) and float16 specials.
import { describe, expect, it } from "vitest";
import { halfToFloat, toFloat32 } from "../../src/loaders/dtype.js";

describe("dtype conversion", () => {
  const values = [1.5, -2, 3.140625, 1e-3, -0, 65504, 1e30, -1e-30];
  const f = new Float32Array(values);
  const bits = new Uint32Array(f.buffer);
  const bf = new Uint8Array(values.length * 2 + 1);
  bits.forEach((b, i) => {
    bf[1 + 2 * i] = (b >>> 16) & 0xff; // at an odd offset: forces the byte path
    bf[2 + 2 * i] = b >>> 24;
  });
  const truncated = Array.from(new Float32Array(new Uint32Array(Array.from(bits, (b) => b & 0xffff0000)).buffer));

  it("bfloat16 keeps the top 16 bits of each float, on both paths", () => {
    const slow = new Float32Array(values.length);
    toFloat32("BF16", bf, 1, values.length, slow, 0);
    const aligned = bf.slice(1);
    const fast = new Float32Array(values.length);
    toFloat32("BF16", aligned, 0, values.length, fast, 0);
    expect(Array.from(slow)).toEqual(truncated);
    expect(Array.from(fast)).toEqual(truncated);
  });

  it("float16: normals, subnormals, zeros, infinities, NaN", () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x03ff)).toBe(1023 * 2 ** -24);
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(halfToFloat(0xfc00)).toBe(-Infinity);
    expect(halfToFloat(0x7e00)).toBeNaN();
  });

  it("float32 little-endian at any offset", () => {
    const b = new Uint8Array(1 + 4 * values.length);
    b.set(new Uint8Array(f.buffer), 1);
    const out = new Float32Array(values.length);
    toFloat32("F32", b, 1, values.length, out, 0);
    expect(Array.from(out)).toEqual(Array.from(f));
  });
});
