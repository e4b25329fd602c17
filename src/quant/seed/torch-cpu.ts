// Owns the fp32 rounding behaviour of the torch CPU kernels the seed's calibration runs on, so the seed
// graph's fp32 values (and therefore every observer's min/max, and every scale) come out bit for bit as the
// shared quantization reference computed them (torch 1.13 CPU, AVX2 kernels, reference-BLAS sgemm):
// - sgemm (1×1 conv2d through slow_conv2d, matmul/bmm through addmm): each output element is a sequential
//   fp32 sum over k = 0, 1, ... of fp32 products, no FMA (the netlib loop C += B(l,j)·A(i,l));
// - sum reductions (RMSNorm's mean): ATen's vectorised cascade sum (SumKernel.cpp) with 8-lane vectors and 4
//   interleaved accumulators, then the lanes added in order;
// - exp in vectorised kernels (softmax, sigmoid): SLEEF's xexpf (src/quant/seed/sleef.ts); scalar tails use
//   the C library's expf (taken as correctly rounded);
// - vec::reduce_all (softmax's max and sum): lane-wise over 8-lane vectors, then the AVX2 in-register
//   tree (128-bit, 64-bit, 32-bit shuffles).
// Each choice was established against the reference's observed ranges: with all of them every observer range
// agrees bit for bit; replacing any one (f64 or FMA dot products, a plain sum, a sequential lane reduction,
// SLEEF or libm exp on the whole sigmoid, libm sin/cos for the RoPE tables) breaks that.

const fround = Math.fround;

/** C library expf, taken as correctly rounded. */
export const libmExpf = (x: number): number => fround(Math.exp(x));

/**
 * Sequential fp32 dot product Σ_k a[ao + k·as]·b[bo + k·bs], k ascending, each product and each partial sum
 * rounded to fp32 (reference sgemm, beta = 0).
 */
export function sgemmDot(a: Float32Array, ao: number, as: number, b: Float32Array, bo: number, bs: number, n: number): number {
  let s = 0;
  for (let k = 0; k < n; k++) s = fround(s + fround(a[ao + k * as] * b[bo + k * bs]));
  return s;
}

const VEC = 8; // AVX2 Vectorized<float>::size()
const ILP = 4; // SumKernel row_sum ilp_factor
const NUM_LEVELS = 4;

/** SumKernel's CeilLog2: 1 for x <= 2, else ceil(log2(x)). */
const ceilLog2 = (x: number): number => (x <= 2 ? 1 : 32 - Math.clz32(x - 1));

/** SumKernel multi_row_sum over `size` rows of `nrows` interleaved accumulators; row(i, k) gives each term. */
function multiRowSum(nrows: number, size: number, row: (i: number, k: number) => number): number[] {
  const levelPower = Math.max(4, Math.floor(ceilLog2(size) / NUM_LEVELS));
  const levelStep = 1 << levelPower;
  const levelMask = levelStep - 1;
  const acc = Array.from({ length: NUM_LEVELS }, () => new Array<number>(nrows).fill(0));
  let i = 0;
  for (; i + levelStep <= size; ) {
    for (let j = 0; j < levelStep; j++, i++) for (let k = 0; k < nrows; k++) acc[0][k] = fround(acc[0][k] + row(i, k));
    for (let j = 1; j < NUM_LEVELS; j++) {
      for (let k = 0; k < nrows; k++) {
        acc[j][k] = fround(acc[j][k] + acc[j - 1][k]);
        acc[j - 1][k] = 0;
      }
      if ((i & (levelMask << (j * levelPower))) !== 0) break;
    }
  }
  for (; i < size; i++) for (let k = 0; k < nrows; k++) acc[0][k] = fround(acc[0][k] + row(i, k));
  for (let j = 1; j < NUM_LEVELS; j++) for (let k = 0; k < nrows; k++) acc[0][k] = fround(acc[0][k] + acc[j][k]);
  return acc[0];
}

/**
 * ATen's fp32 sum of x[off .. off+n) (contiguous inner reduction, vectorized_inner_sum): 8-lane vectors summed by
 * row_sum (4 interleaved vector accumulators through the cascade), the scalar tail, then the 8 lanes in order.
 */
export function torchSumF32(x: Float32Array, off: number, n: number): number {
  const nVec = Math.floor(n / VEC);
  const lanes = new Array<number>(VEC).fill(0);
  if (nVec > 0) {
    const sizeIlp = Math.floor(nVec / ILP);
    for (let l = 0; l < VEC; l++) {
      const vec = (v: number): number => x[off + v * VEC + l];
      const partial = multiRowSum(ILP, sizeIlp, (i, k) => vec(i * ILP + k));
      for (let v = sizeIlp * ILP; v < nVec; v++) partial[0] = fround(partial[0] + vec(v));
      let p = partial[0];
      for (let k = 1; k < ILP; k++) p = fround(p + partial[k]);
      lanes[l] = p;
    }
  }
  let acc = 0;
  for (let k = nVec * VEC; k < n; k++) acc = fround(acc + x[off + k]);
  for (let l = 0; l < VEC; l++) acc = fround(acc + lanes[l]);
  return acc;
}

/**
 * vec::reduce_all over x[off .. off+n) with a binary lane op: lane-wise accumulation over 8-lane vectors
 * (a partial last vector only updates its lanes), then the AVX2 shuffle tree; fewer than 8 values reduce
 * in order.
 */
export function reduceAllF32(x: Float32Array, off: number, n: number, op: (a: number, b: number) => number): number {
  if (n < VEC) {
    let a = x[off];
    for (let i = 1; i < n; i++) a = op(a, x[off + i]);
    return a;
  }
  const acc = Array.from(x.subarray(off, off + VEC));
  let d = VEC;
  for (; d < n - (n % VEC); d += VEC) for (let l = 0; l < VEC; l++) acc[l] = op(acc[l], x[off + d + l]);
  for (let l = 0; d + l < n; l++) acc[l] = op(acc[l], x[off + d + l]);
  const u = [0, 1, 2, 3].map((i) => op(acc[i], acc[i + 4]));
  return op(op(u[0], u[2]), op(u[1], u[3]));
}
