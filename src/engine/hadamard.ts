// Owns the R3 rotation of the current flow's attention (SPEC-2026 §8.2): the normalised Sylvester Hadamard matrix
// Hd[a][b] = (-1)^popcount(a & b) / sqrt(hd) (hd a power of two; symmetric, orthonormal) and the row-vector product
// x·Hd applied per head to q and k after RoPE. fp32 arithmetic: the entries are fp32, ±fround(1/sqrt(hd)), and
// out[b] = fround(Σ_a x[a]·Hd[a][b]) with one float64 accumulator over a = 0 … hd-1 ascending, rounded once to fp32
// when written — the rule numerics.md gives every non-weight product (like the attention q·k). Each product
// x[a]·Hd[a][b] is exact in float64 (24-bit × 24-bit significands), so only the additions and the final fround round.

const fround = Math.fround;

/** Whether n is a power of two (1, 2, 4, …). */
export const isPowerOfTwo = (n: number): boolean => Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;

/** Population count of a non-negative 32-bit integer. */
function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v !== 0; v &= v - 1) n++;
  return n;
}

/**
 * The fp32 matrix Hd [hd, hd] row-major (a*hd + b): Hd[a][b] = (-1)^popcount(a & b) · fround(1/sqrt(hd)).
 * Throws a RangeError unless hd is a power of two.
 */
export function hadamardMatrix(hd: number): Float32Array {
  if (!isPowerOfTwo(hd)) throw new RangeError(`R3 needs head_dim to be a power of two, got ${hd}`);
  const h = fround(1 / Math.sqrt(hd));
  const m = new Float32Array(hd * hd);
  for (let a = 0; a < hd; a++) for (let b = 0; b < hd; b++) m[a * hd + b] = popcount(a & b) & 1 ? -h : h;
  return m;
}

/**
 * out[outOff + b] = fround(Σ_a x[xOff + a]·H[a*hd + b]) for b = 0 … hd-1 (float64 accumulator, a ascending).
 * `out` may not overlap x[xOff .. xOff+hd) (the sum reads every x[a] for each b).
 */
export function hadamardRow(out: Float32Array, outOff: number, x: Float32Array, xOff: number, H: Float32Array, hd: number): void {
  for (let b = 0; b < hd; b++) {
    let acc = 0;
    for (let a = 0; a < hd; a++) acc += x[xOff + a] * H[a * hd + b];
    out[outOff + b] = fround(acc);
  }
}

/** Applies x·Hd to every hd-long head slice of `x` ([rows, width], width a multiple of hd), writing `out` (not x). */
export function hadamardHeads(out: Float32Array, x: Float32Array, H: Float32Array, hd: number): void {
  if (out === x) throw new RangeError("hadamardHeads: out must not be the input");
  for (let off = 0; off + hd <= x.length; off += hd) hadamardRow(out, off, x, off, H, hd);
}
