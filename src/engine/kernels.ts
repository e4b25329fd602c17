// Owns the arithmetic of the reference graphs: the plain fp32 ops over typed arrays.
//
// Numerical contract (the "golden" rule, see docs/numerics.md):
// - Every tensor a graph materialises is fp32 (Float32Array).
// - Inside one op, arithmetic is float64 (JavaScript numbers) and the op rounds once, with Math.fround,
//   when it writes each output element.
// - Every reduction runs in one fixed order. Matrix products (the weight matmuls, ~99% of the time) use four
//   float64 lanes: lane k sums the products of indices j ≡ k (mod 4) in ascending j, and the result is
//   (lane0 + lane1) + (lane2 + lane3); this is also the order a 2×f64x2 SIMD kernel computes, so a vectorised
//   path can match it bit for bit. All other reductions use one float64 accumulator in ascending index order.
//   Nothing depends on thread count or timing; splitting work over output rows never changes a result.
// These loops are the oracle: faster variants elsewhere must be checked against them.

const fround = Math.fround;

/**
 * Dot product of w[wOff .. wOff+n) and x[xOff .. xOff+n) in the matmul order: four float64 lanes, lane k
 * summing indices j ≡ k (mod 4) in ascending j, combined as (l0 + l1) + (l2 + l3). Not rounded.
 */
export function dotLanes4(w: Float32Array, wOff: number, x: Float32Array, xOff: number, n: number): number {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  const n4 = n - (n & 3);
  let j = 0;
  for (; j < n4; j += 4) {
    a0 += w[wOff + j] * x[xOff + j];
    a1 += w[wOff + j + 1] * x[xOff + j + 1];
    a2 += w[wOff + j + 2] * x[xOff + j + 2];
    a3 += w[wOff + j + 3] * x[xOff + j + 3];
  }
  // Tail: index j goes to lane j mod 4, as in the main loop.
  if (j < n) a0 += w[wOff + j] * x[xOff + j];
  if (j + 1 < n) a1 += w[wOff + j + 1] * x[xOff + j + 1];
  if (j + 2 < n) a2 += w[wOff + j + 2] * x[xOff + j + 2];
  // prettier-ignore
  return ((a0 + a1) + (a2 + a3));
}

/**
 * Matrix-vector product y = W x for W [m, n] row-major (the checkpoint's [out, in] orientation):
 * y[r] = fround(dotLanes4(W[r, :], x)).
 */
export function matVec(y: Float32Array, w: Float32Array, x: Float32Array, m: number, n: number, xOff = 0): void {
  for (let r = 0; r < m; r++) y[r] = fround(dotLanes4(w, r * n, x, xOff, n));
}

/**
 * Batched matrix product for T rows of X [T, n]: Y [T, m] with Y[t, r] = (W x_t)[r], each element computed
 * exactly as matVec does (same order, same rounding), so prefill rows equal KV-graph rows bit for bit.
 * Loops weight rows outermost so each weight row is read once for all T inputs.
 */
export function matMulRows(y: Float32Array, w: Float32Array, x: Float32Array, t: number, m: number, n: number): void {
  for (let r = 0; r < m; r++) {
    const base = r * n;
    for (let i = 0; i < t; i++) y[i * m + r] = fround(dotLanes4(w, base, x, i * n, n));
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

/** GELU (tanh approximation, `gelu_pytorch_tanh`) of one value, float64: 0.5·v·(1 + tanh(√(2/π)·(v + 0.044715·v³))). */
export function geluTanh(v: number): number {
  return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
}

/** GeGLU gate (Gemma's MLP): g[i] = fround(gelu_tanh(a[i]) * b[i]). */
export function geglu(g: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) g[i] = fround(geluTanh(a[i]) * b[i]);
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
