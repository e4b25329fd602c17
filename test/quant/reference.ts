// Test-only, independent restatement of SPEC §7's formulas (written separately from src/quant): a float64
// loop with its own floor-based round-half-even, fp32 storage of scales via Math.fround.

/** Round half to even via floor and the fractional part (a different algorithm from src/quant/affine.ts). */
export function rhe(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  let r: number;
  if (d < 0.5) r = f;
  else if (d > 0.5) r = f + 1;
  else r = f % 2 === 0 ? f : f + 1;
  return r === 0 ? 0 : r;
}

export const EPS = 1 / 4096; // 2^-12, the seed's qconfig eps

/** Symmetric per-row: s = fp32(max(amax/qmax, eps)); codes = clamp(rhe(w/s), -qmax, qmax). */
export function refPerChannel(w: Float32Array, rows: number, cols: number, qmax: number, eps = EPS) {
  const codes: number[] = [];
  const scales: number[] = [];
  for (let r = 0; r < rows; r++) {
    const row = Array.from(w.subarray(r * cols, (r + 1) * cols));
    const amax = Math.max(...row.map(Math.abs));
    const s = Math.fround(Math.max(amax / qmax, eps));
    scales.push(s);
    for (const v of row) codes.push(Math.min(qmax, Math.max(-qmax, rhe(v / s))));
  }
  return { codes, scales };
}

/** LPBQ per SPEC §7 / the brief: f = fp32(max(amax_b/7, eps)), S = fp32(max f / 16), m = clamp(rhe(f/S), 1, 16). */
export function refBlock(w: Float32Array, rows: number, cols: number, B: number, useRawBlockScale = false, eps = EPS) {
  const codes: number[] = [];
  const S: number[] = [];
  const m: number[] = [];
  const f: number[] = [];
  const nb = cols / B;
  for (let r = 0; r < rows; r++) {
    const fs: number[] = [];
    for (let b = 0; b < nb; b++) {
      let amax = 0;
      for (let j = 0; j < B; j++) amax = Math.max(amax, Math.abs(w[r * cols + b * B + j]));
      fs.push(Math.fround(Math.max(amax / 7, eps)));
    }
    const Sc = Math.fround(Math.max(...fs) / 16);
    S.push(Sc);
    f.push(...fs);
    for (let b = 0; b < nb; b++) {
      const mb = Math.min(16, Math.max(1, rhe(fs[b] / Sc)));
      m.push(mb);
      const s = useRawBlockScale ? fs[b] : mb * Sc;
      for (let j = 0; j < B; j++) codes.push(Math.min(7, Math.max(-7, rhe(w[r * cols + b * B + j] / s))));
    }
  }
  return { codes, S, m, f };
}

/** Unsigned affine: lo = min(xmin,0), hi = max(xmax,0), s = fp32(max((hi-lo)/(2^b-1), eps)), zp = clamp(-rhe(lo/s)). */
export function refAffine(xmin: number, xmax: number, bits: number, eps = EPS) {
  const qmax = 2 ** bits - 1;
  const lo = Math.min(xmin, 0);
  const hi = Math.max(xmax, 0);
  const s = Math.fround(Math.max((hi - lo) / qmax, eps));
  const zp = Math.min(qmax, Math.max(0, -rhe(lo / s)));
  return { s, zp, qmax };
}
