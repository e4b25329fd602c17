// Owns converting stored tensor element types to fp32: float32, float16 and bfloat16 (little-endian),
// chunk by chunk so large tensors never need a second full-size copy.

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

/**
 * Converts `count` little-endian elements of `dtype` from `src` (byte offset `srcOff`) into
 * dst[dstOff .. dstOff+count). bfloat16 is the top half of a float32, so it converts exactly.
 */
export function toFloat32(dtype: StoredDType, src: Uint8Array, srcOff: number, count: number, dst: Float32Array, dstOff: number): void {
  switch (dtype) {
    case "F32": {
      const dv = new DataView(src.buffer, src.byteOffset + srcOff, count * 4);
      for (let i = 0; i < count; i++) dst[dstOff + i] = dv.getFloat32(4 * i, true);
      return;
    }
    case "BF16": {
      if (LITTLE_ENDIAN && (src.byteOffset + srcOff) % 2 === 0 && dst.byteOffset % 4 === 0) {
        // Fast path: bf16 is the top half of a float32, so widen the 16-bit words into 32-bit slots.
        const h = new Uint16Array(src.buffer, src.byteOffset + srcOff, count);
        const w = new Uint32Array(dst.buffer, dst.byteOffset + 4 * dstOff, count);
        for (let i = 0; i < count; i++) w[i] = h[i] << 16;
        return;
      }
      for (let i = 0; i < count; i++) {
        const o = srcOff + 2 * i;
        u32[0] = (src[o] | (src[o + 1] << 8)) << 16;
        dst[dstOff + i] = f32[0];
      }
      return;
    }
    case "F16": {
      for (let i = 0; i < count; i++) {
        const o = srcOff + 2 * i;
        dst[dstOff + i] = halfToFloat(src[o] | (src[o + 1] << 8));
      }
      return;
    }
  }
}
