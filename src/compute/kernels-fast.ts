// Owns the fast exact JavaScript matmul: the oracle's products (src/engine/kernels.ts matMulRows) computed two
// weight rows per pass, so each x element is loaded once for both rows and the two rows' eight accumulator
// chains run side by side. Every output keeps the oracle's own arithmetic — four float64 lanes, lane k summing
// j ≡ k (mod 4) in ascending j, (l0 + l1) + (l2 + l3), one Math.fround — only the interleaving across rows
// changes, so each element is bit-identical to matMulRows whatever rows it is grouped with.
//
// matMulRange is self-contained (no free variables but Math): the worker pool (pool.ts, a JS kernel of
// exact-matmul.ts) runs its source text in worker threads, so the threads execute literally the same code as
// the main thread.

/**
 * Rows [r0, r1) of Y [t, m] = X [t, n]·Wᵀ (W [m, n] row-major): for every token row i < t and r0 <= r < r1,
 * y[i*m + r] = fround(dotLanes4(W[r, :], x_i)). Weight rows outermost (a pair at a time), so a weight row is
 * reused from cache for all t token rows.
 */
export function matMulRange(
  y: Float32Array,
  w: Float32Array,
  x: Float32Array,
  t: number,
  m: number,
  n: number,
  r0: number,
  r1: number,
): void {
  const n4 = n - (n & 3);
  const rem = n & 3;
  let r = r0;
  for (; r + 1 < r1; r += 2) {
    const o0 = r * n;
    const o1 = o0 + n;
    for (let i = 0; i < t; i++) {
      const xo = i * n;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0; // prettier-ignore
      let j = 0;
      for (; j < n4; j += 4) {
        const x0 = x[xo + j], x1 = x[xo + j + 1], x2 = x[xo + j + 2], x3 = x[xo + j + 3]; // prettier-ignore
        a0 += w[o0 + j] * x0;
        a1 += w[o0 + j + 1] * x1;
        a2 += w[o0 + j + 2] * x2;
        a3 += w[o0 + j + 3] * x3;
        b0 += w[o1 + j] * x0;
        b1 += w[o1 + j + 1] * x1;
        b2 += w[o1 + j + 2] * x2;
        b3 += w[o1 + j + 3] * x3;
      }
      // Tail: column j goes to lane j mod 4, as in dotLanes4.
      if (rem > 0) {
        a0 += w[o0 + j] * x[xo + j];
        b0 += w[o1 + j] * x[xo + j];
      }
      if (rem > 1) {
        a1 += w[o0 + j + 1] * x[xo + j + 1];
        b1 += w[o1 + j + 1] * x[xo + j + 1];
      }
      if (rem > 2) {
        a2 += w[o0 + j + 2] * x[xo + j + 2];
        b2 += w[o1 + j + 2] * x[xo + j + 2];
      }
      y[i * m + r] = Math.fround((a0 + a1) + (a2 + a3)); // prettier-ignore
      y[i * m + r + 1] = Math.fround((b0 + b1) + (b2 + b3)); // prettier-ignore
    }
  }
  if (r < r1) {
    const o0 = r * n;
    for (let i = 0; i < t; i++) {
      const xo = i * n;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0; // prettier-ignore
      let j = 0;
      for (; j < n4; j += 4) {
        a0 += w[o0 + j] * x[xo + j];
        a1 += w[o0 + j + 1] * x[xo + j + 1];
        a2 += w[o0 + j + 2] * x[xo + j + 2];
        a3 += w[o0 + j + 3] * x[xo + j + 3];
      }
      if (rem > 0) a0 += w[o0 + j] * x[xo + j];
      if (rem > 1) a1 += w[o0 + j + 1] * x[xo + j + 1];
      if (rem > 2) a2 += w[o0 + j + 2] * x[xo + j + 2];
      y[i * m + r] = Math.fround((a0 + a1) + (a2 + a3)); // prettier-ignore
    }
  }
}

/** matMulRows' contract (a MatMulFn), all rows on the calling thread, with the two-row kernel. */
export function matMulRowsFast(y: Float32Array, w: Float32Array, x: Float32Array, t: number, m: number, n: number): void {
  matMulRange(y, w, x, t, m, n, 0, m);
}
