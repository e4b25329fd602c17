// Owns converting stored tensor element types to fp32: float32, float16 and bfloat16 (little-endian),
// chunk by chunk so large tensors never need a second full-size copy. Each conversion also finds the first
// non-finite value (NaN / ±Inf) in the same pass, so loaders never scan the fp32 weights a second time.

export type StoredDType = "F32" | "F16" | "BF16";

export const DTYPE_BYTES: Record<StoredDType, number> = { F32: 4, F16: 2, BF16: 2 };

import { LITTLE_ENDIAN } from "../util/binary.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half -> float (exact: every half value is a float). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** All 65536 half values as floats (256 KB), built on first use: a table lookup beats halfToFloat per element. */
let halfTable: Float32Array | undefined;
function halfToFloatTable(): Float32Array {
  if (!halfTable) {
    const t = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) t[h] = halfToFloat(h);
    halfTable = t;
  }
  return halfTable;
}

/** Index of the first non-finite value of `a` (exponent bits all ones), or -1. Reads the bits, not the floats. */
export function firstNonFinite(a: Float32Array): number {
  const w = new Uint32Array(a.buffer, a.byteOffset, a.length);
  for (let i = 0; i < w.length; i++) if ((w[i] & 0x7f800000) === 0x7f800000) return i;
  return -1;
}

/**
 * Converts `count` little-endian elements of `dtype` from `src` (byte offset `srcOff`) into
 * dst[dstOff .. dstOff+count). bfloat16 is the top half of a float32 and float16 widens exactly, so every
 * path is exact. Returns the index (0 .. count-1) of the first element that is NaN or ±Inf, or -1.
 */
export function toFloat32(dtype: StoredDType, src: Uint8Array, srcOff: number, count: number, dst: Float32Array, dstOff: number): number {
  const abs = src.byteOffset + srcOff;
  switch (dtype) {
    case "F32": {
      if (LITTLE_ENDIAN && abs % 4 === 0) {
        // Bit-exact memcpy (TypedArray.set of the same type), then a scan of the copied bits while in cache.
        const d = dst.subarray(dstOff, dstOff + count);
        d.set(new Float32Array(src.buffer, abs, count));
        return firstNonFinite(d);
      }
      const dv = new DataView(src.buffer, abs, count * 4);
      let bad = -1;
      for (let i = 0; i < count; i++) {
        const b = dv.getUint32(4 * i, true);
        if (bad < 0 && (b & 0x7f800000) === 0x7f800000) bad = i;
        u32[0] = b;
        dst[dstOff + i] = f32[0];
      }
      return bad;
    }
    case "BF16": {
      let bad = -1;
      if (LITTLE_ENDIAN && abs % 2 === 0) {
        // Fast path: widen the 16-bit words into 32-bit slots; exponent all ones = NaN/Inf.
        const h = new Uint16Array(src.buffer, abs, count);
        const w = new Uint32Array(dst.buffer, dst.byteOffset + 4 * dstOff, count);
        for (let i = 0; i < count; i++) {
          const x = h[i];
          w[i] = x << 16;
          if ((x & 0x7f80) === 0x7f80 && bad < 0) bad = i;
        }
        return bad;
      }
      for (let i = 0; i < count; i++) {
        const o = srcOff + 2 * i;
        const x = src[o] | (src[o + 1] << 8);
        if ((x & 0x7f80) === 0x7f80 && bad < 0) bad = i;
        u32[0] = x << 16;
        dst[dstOff + i] = f32[0];
      }
      return bad;
    }
    case "F16": {
      const t = halfToFloatTable();
      let bad = -1;
      if (LITTLE_ENDIAN && abs % 2 === 0) {
        const h = new Uint16Array(src.buffer, abs, count);
        for (let i = 0; i < count; i++) {
          const x = h[i];
          dst[dstOff + i] = t[x];
          if ((x & 0x7c00) === 0x7c00 && bad < 0) bad = i;
        }
        return bad;
      }
      for (let i = 0; i < count; i++) {
        const o = srcOff + 2 * i;
        const x = src[o] | (src[o + 1] << 8);
        if ((x & 0x7c00) === 0x7c00 && bad < 0) bad = i;
        dst[dstOff + i] = t[x];
      }
      return bad;
    }
  }
}
