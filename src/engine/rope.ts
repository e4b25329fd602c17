// Owns rotary position embedding (SPEC §2): the fp32 cos/sin tables the device graph holds as constants,
// the optional Llama-3 frequency scaling, and the rotation with the half-split output layout.
import type { RopeScaling } from "./config.js";

const fround = Math.fround;

export interface RopeTables {
  /** Number of positions the tables cover. */
  maxPos: number;
  /** headDim / 2. */
  half: number;
  /** cos[pos*half + k], fp32. */
  cos: Float32Array;
  /** sin[pos*half + k], fp32. */
  sin: Float32Array;
}

/**
 * inv_freq[k] = theta^(-2k/hd) for k < hd/2, computed as the exporting PyTorch code does in fp32:
 * 1 / theta^(fp32(2k)/hd), each step rounded to fp32; then the Llama-3 scaling when given.
 */
export function ropeInvFreq(headDim: number, theta: number, scaling: RopeScaling | null): Float32Array {
  const half = headDim / 2;
  const inv = new Float32Array(half);
  for (let k = 0; k < half; k++) {
    const expo = fround((2 * k) / headDim);
    inv[k] = fround(1 / fround(Math.pow(theta, expo)));
  }
  if (scaling && scaling.factor > 0) applyLlama3Scaling(inv, scaling);
  return inv;
}

/**
 * Llama-3 scaling of inverse frequencies (SPEC §2): wavelength wl = 2π/f; keep if wl < orig/high;
 * divide by factor if wl > orig/low; else blend (1-s)*f/factor + s*f with s = (orig/wl - low)/(high - low).
 */
export function applyLlama3Scaling(inv: Float32Array, s: RopeScaling): void {
  const lowWl = s.originalContext / s.lowFreqFactor;
  const highWl = s.originalContext / s.highFreqFactor;
  for (let k = 0; k < inv.length; k++) {
    const f = inv[k];
    const wl = (2 * Math.PI) / f;
    if (wl < highWl) continue;
    if (wl > lowWl) {
      inv[k] = fround(f / s.factor);
    } else {
      const sm = (s.originalContext / wl - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      inv[k] = fround((1 - sm) * (f / s.factor) + sm * f);
    }
  }
}

/** cos/sin tables for positions 0..maxPos-1: angle = fp32(pos * inv_freq[k]), values rounded to fp32. */
export function buildRopeTables(
  headDim: number,
  maxPos: number,
  theta: number,
  scaling: RopeScaling | null,
): RopeTables {
  const half = headDim / 2;
  const inv = ropeInvFreq(headDim, theta, scaling);
  const cos = new Float32Array(maxPos * half);
  const sin = new Float32Array(maxPos * half);
  for (let p = 0; p < maxPos; p++) {
    for (let k = 0; k < half; k++) {
      const a = fround(p * inv[k]);
      cos[p * half + k] = fround(Math.cos(a));
      sin[p * half + k] = fround(Math.sin(a));
    }
  }
  return { maxPos, half, cos, sin };
}

/**
 * Rotates one head vector x[xOff .. xOff+hd) (checkpoint order: pairs (x[2k], x[2k+1]) rotate by angle k)
 * and writes the device graph's HALF-SPLIT layout to out[oOff ..]: first the hd/2 rotated even elements,
 * then the hd/2 rotated odd ones. q·k is unchanged by the permutation, but the K cache stores this order.
 */
export function ropeHalfSplit(
  out: Float32Array,
  oOff: number,
  x: Float32Array,
  xOff: number,
  t: RopeTables,
  pos: number,
): void {
  const half = t.half;
  const tb = pos * half;
  for (let k = 0; k < half; k++) {
    const xr = x[xOff + 2 * k];
    const xi = x[xOff + 2 * k + 1];
    const c = t.cos[tb + k];
    const s = t.sin[tb + k];
    out[oOff + k] = fround(xr * c - xi * s);
    out[oOff + half + k] = fround(xr * s + xi * c);
  }
}
