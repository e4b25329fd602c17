// Owns rotary position embedding (SPEC §2): the fp32 cos/sin tables the device graph holds as constants,
// the optional Llama-3 frequency scaling, and the rotation with the half-split output layout.
import type { ModelConfig, RopeScaling } from "./config.js";
import { archOf, type LayerRope } from "./arch.js";

const fround = Math.fround;

export interface RopeTables {
  /** Number of positions the tables cover. */
  maxPos: number;
  /** rotaryDim / 2 (headDim / 2 unless the rotary embedding is partial). */
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

/** Extra RoPE settings of the families (src/engine/arch.ts); all optional, none changes the Llama tables. */
export interface RopeVariant {
  /** Rotated dims per head (default headDim): inverse frequencies use it as their exponent's denominator. */
  rotaryDim?: number;
  /** HF "linear" scaling: inv_freq / factor (default 1). */
  linearFactor?: number;
  /** LongRoPE: inv_freq = 1 / (ext_k · theta^(2k/r)) with ext = short (CL <= original) or long factors; cos, sin × attentionFactor. */
  longRope?: LayerRope["longRope"];
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
  variant: RopeVariant = {},
): RopeTables {
  const rd = variant.rotaryDim ?? headDim;
  const half = rd / 2;
  const inv = ropeInvFreq(rd, theta, scaling);
  const lf = variant.linearFactor ?? 1;
  if (lf !== 1) for (let k = 0; k < half; k++) inv[k] = fround(inv[k] / lf);
  let mag = 1;
  const lr = variant.longRope;
  if (lr) {
    const ext = maxPos > lr.originalContext ? lr.longFactor : lr.shortFactor;
    if (ext.length !== half) throw new RangeError(`LongRoPE: ${ext.length} factors for ${half} frequencies`);
    for (let k = 0; k < half; k++) inv[k] = fround(1 / fround(ext[k] * fround(Math.pow(theta, fround((2 * k) / rd)))));
    mag = fround(lr.attentionFactor);
  }
  const cos = new Float32Array(maxPos * half);
  const sin = new Float32Array(maxPos * half);
  for (let p = 0; p < maxPos; p++) {
    for (let k = 0; k < half; k++) {
      const a = fround(p * inv[k]);
      cos[p * half + k] = mag === 1 ? fround(Math.cos(a)) : fround(fround(Math.cos(a)) * mag);
      sin[p * half + k] = mag === 1 ? fround(Math.sin(a)) : fround(fround(Math.sin(a)) * mag);
    }
  }
  return { maxPos, half, cos, sin };
}

/** Per-layer RoPE tables of a model (null = the layer applies none); layers with the same settings share one table. */
export interface ModelRope {
  maxPos: number;
  layers: (RopeTables | null)[];
}

/** The tables every layer of `c` uses, for positions 0..maxPos-1 (Llama: one table for all layers). */
export function buildModelRope(c: ModelConfig, maxPos: number): ModelRope {
  const a = archOf(c);
  const made = new Map<LayerRope, RopeTables>();
  const byKey = new Map<string, RopeTables>();
  const layers = a.layers.map((l) => {
    if (!l.rope) return null;
    const r = l.rope;
    let t = made.get(r);
    if (!t) {
      const key = JSON.stringify(r);
      t = byKey.get(key) ?? buildRopeTables(c.headDim, maxPos, r.theta, r.scaling, { rotaryDim: a.rotaryDim, linearFactor: r.linearFactor, longRope: r.longRope });
      byKey.set(key, t);
      made.set(r, t);
    }
    return t;
  });
  return { maxPos, layers };
}

/**
 * Rotates one head vector x[xOff .. xOff+hd) (checkpoint order: pairs (x[2k], x[2k+1]) rotate by angle k)
 * and writes the device graph's HALF-SPLIT layout to out[oOff ..]: first the hd/2 rotated even elements,
 * then the hd/2 rotated odd ones. q·k is unchanged by the permutation, but the K cache stores this order. With a
 * partial rotary embedding (2·half < headDim) the dims past the rotated ones pass through.
 */
export function ropeHalfSplit(
  out: Float32Array,
  oOff: number,
  x: Float32Array,
  xOff: number,
  t: RopeTables,
  pos: number,
  headDim = 2 * t.half,
): void {
  rotatePairs(out, oOff, x, xOff, t, pos, headDim, 2, 1);
}

/**
 * The same rotation for a head vector already in HF's rotate_half order (pairs (x[k], x[k + r/2]), r = 2·half
 * rotated dims): out[k] = x[k]·cos − x[k+half]·sin, out[k+half] = x[k+half]·cos + x[k]·sin, dims past r unchanged.
 * Same products and roundings as ropeHalfSplit on the un-permuted vector, so the same bits.
 */
export function ropeRotateHalf(
  out: Float32Array,
  oOff: number,
  x: Float32Array,
  xOff: number,
  t: RopeTables,
  pos: number,
  headDim = 2 * t.half,
): void {
  rotatePairs(out, oOff, x, xOff, t, pos, headDim, 1, t.half);
}

/** Pair k is (x[step·k], x[step·k + imOff]); writes out[k] = xr·c − xi·s, out[half + k] = xr·s + xi·c, then the pass-through dims. */
function rotatePairs(out: Float32Array, oOff: number, x: Float32Array, xOff: number, t: RopeTables, pos: number, headDim: number, step: number, imOff: number): void {
  const half = t.half;
  const tb = pos * half;
  for (let k = 0; k < half; k++) {
    const xr = x[xOff + step * k];
    const xi = x[xOff + step * k + imOff];
    const c = t.cos[tb + k];
    const s = t.sin[tb + k];
    out[oOff + k] = fround(xr * c - xi * s);
    out[oOff + half + k] = fround(xr * s + xi * c);
  }
  for (let d = 2 * half; d < headDim; d++) out[oOff + d] = x[xOff + d];
}
