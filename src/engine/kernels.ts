// Owns the arithmetic of the reference graphs: the plain fp32 ops over typed arrays.
//
// Numerical contract (the "golden" rule, see docs/numerics.md):
// - Every tensor a graph materialises is fp32 (Float32Array).
// - Inside one op, arithmetic is float64 (JavaScript numbers) and the op rounds once, with Math.fround,
//   when it writes each output element.
// - Every reduction runs in one fixed order: ascending index, a single float64 accumulator.
//   Nothing depends on thread count or timing; splitting work over output rows never changes a result.
// These loops are the oracle: faster variants elsewhere must be checked against them.

const fround = Math.fround;

/**
 * Matrix-vector product y = W x for W [m, n] row-major (the checkpoint's [out, in] orientation).
 * y[r] = fround(Σ_{j=0..n-1} W[r*n + j] * x[xOff + j]), j ascending, float64 accumulator.
 */
export function matVec(y: Float32Array, w: Float32Array, x: Float32Array, m: number, n: number, xOff = 0): void {
  for (let r = 0; r < m; r++) {
    const base = r * n;
    let acc = 0;
    for (let j = 0; j < n; j++) acc += w[base + j] * x[xOff + j];
    y[r] = fround(acc);
  }
}

/**
 * Batched matrix product for T rows of X [T, n]: Y [T, m] with Y[t, r] = (W x_t)[r], each element computed
 * exactly as matVec does (same order, same rounding), so prefill rows equal KV-graph rows bit for bit.
 * Loops weight rows outermost so each weight row is read once for all T inputs.
 */
export function matMulRows(y: Float32Array, w: Float32Array, x: Float32Array, t: number, m: number, n: number): void {
  for (let r = 0; r < m; r++) {
    const base = r * n;
    for (let i = 0; i < t; i++) {
      const xb = i * n;
      let acc = 0;
      for (let j = 0; j < n; j++) acc += w[base + j] * x[xb + j];
      y[i * m + r] = fround(acc);
    }
  }
}

/**
 * RMSNorm of one row: out[i] = fround(x[i] * (1/sqrt(Σx²/n + eps)) * w[i]), the sum of squares in ascending
 * order in float64 (SPEC §1: x * 1/sqrt(mean(x²) + eps) * w).
 */
export function rmsNorm(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  n: number,
  eps: number,
  off = 0,
): void {
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const v = x[off + i];
    ss += v * v;
  }
  const inv = 1 / Math.sqrt(ss / n + eps);
  for (let i = 0; i < n; i++) out[off + i] = fround(x[off + i] * inv * w[i]);
}

/** In-place residual add: x[i] = fround(x[i] + y[i]). */
export function addInPlace(x: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) x[i] = fround(x[i] + y[i]);
}

/** SwiGLU gate: g[i] = fround(silu(a[i]) * b[i]) with silu(v) = v / (1 + e^-v). */
export function swiglu(g: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = a[i];
    g[i] = fround((v / (1 + Math.exp(-v))) * b[i]);
  }
}

/**
 * Softmax over s[0..n-1] in place, the device graph's op: m = max; e_c = fround(exp(s_c - m));
 * sum in ascending c (float64); p_c = fround(e_c / sum). Because e_c is rounded to fp32 first, a masked
 * column (score shifted by -255) contributes exactly +0 to the sum wherever it sits, so the slot order of
 * a cache (Shift Pointer vs Smart Mask) cannot change the result.
 */
export function softmaxInPlace(s: Float32Array, n: number): void {
  let m = -Infinity;
  for (let c = 0; c < n; c++) if (s[c] > m) m = s[c];
  let sum = 0;
  for (let c = 0; c < n; c++) {
    const e = fround(Math.exp(s[c] - m));
    s[c] = e;
    sum += e;
  }
  for (let c = 0; c < n; c++) s[c] = fround(s[c] / sum);
}
