// Owns the arithmetic ops of the seed node graph, each producing one fp32 tensor as the torch CPU op does:
// 1×1 conv2d, batched matmul, broadcasting mul/add/sub, division by a scalar, softmax over the last dim,
// RMSNorm over the last dim (x·rsqrt(mean(x²) + eps)·w), sigmoid. Elementwise ops are single fp32 operations
// (exact emulation); the reductions and exp follow the torch CPU kernels of src/quant/seed/torch-cpu.ts, so the
// values equal the shared reference's bit for bit and the engine's (src/engine) to fp32 rounding.
import { sleefExpf } from "./sleef.js";
import { libmExpf, reduceAllF32, sgemmDot, torchSumF32 } from "./torch-cpu.js";
import { numelOf, permute, stridesOf, type Tensor } from "./tensor.js";

const fround = Math.fround;

/** conv2d with a 1×1 kernel, no bias: x [1, C, H, W], w [O, C, 1, 1] -> [1, O, H, W]. */
export function conv1x1(x: Tensor, w: Tensor): Tensor {
  const [n, c, h, wd] = x.shape;
  const [o, wc] = w.shape;
  if (n !== 1 || c !== wc || w.shape[2] !== 1 || w.shape[3] !== 1)
    throw new RangeError(`conv1x1: x [${x.shape}] w [${w.shape}]`);
  const hw = h * wd;
  // Pixel-major copy so each pixel's C values are contiguous (the engine's x_t rows).
  const xt = hw === 1 ? x.data : permute({ shape: [c, hw], data: x.data }, [1, 0]).data;
  const out = new Float32Array(o * hw);
  for (let r = 0; r < o; r++) for (let p = 0; p < hw; p++) out[r * hw + p] = sgemmDot(w.data, r * c, 1, xt, p * c, 1, c);
  return { shape: [1, o, h, wd], data: out };
}

/** a [..., M, K] @ b [..., K, N] (same leading dims): each element the sequential fp32 sgemm sum over k. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const [m, k] = a.shape.slice(ra - 2);
  const [kb, n] = b.shape.slice(rb - 2);
  const lead = a.shape.slice(0, ra - 2);
  if (k !== kb || ra !== rb || lead.some((s, i) => s !== b.shape[i])) throw new RangeError(`matmul: [${a.shape}] @ [${b.shape}]`);
  const batch = numelOf(lead);
  const out = new Float32Array(batch * m * n);
  for (let bt = 0; bt < batch; bt++) {
    const ao = bt * m * k;
    const bo = bt * k * n;
    const oo = bt * m * n;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) out[oo + i * n + j] = sgemmDot(a.data, ao + i * k, 1, b.data, bo + j, n, k);
  }
  return { shape: [...lead, m, n], data: out };
}

/** Broadcast shape of two shapes (numpy rules). */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new RangeError(`broadcast: [${a}] vs [${b}]`);
    out.push(Math.max(x, y));
  }
  return out;
}

/** Strides of `shape` read as a broadcast view of rank `rank` onto `out` (0 on broadcast axes). */
function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const s = stridesOf(shape);
  const pad = out.length - shape.length;
  return out.map((size, i) => (i < pad || shape[i - pad] === 1 ? 0 : s[i - pad]));
}

/** Elementwise a ∘ b with broadcasting, each result rounded to fp32. */
function binary(a: Tensor, b: Tensor, f: (x: number, y: number) => number): Tensor {
  const shape = broadcastShape(a.shape, b.shape);
  const n = numelOf(shape);
  const out = new Float32Array(n);
  if (numelOf(a.shape) === n && numelOf(b.shape) === n) {
    for (let i = 0; i < n; i++) out[i] = fround(f(a.data[i], b.data[i]));
    return { shape, data: out };
  }
  const sa = broadcastStrides(a.shape, shape);
  const sb = broadcastStrides(b.shape, shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < n; o++) {
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < shape.length; d++) {
      ia += idx[d] * sa[d];
      ib += idx[d] * sb[d];
    }
    out[o] = fround(f(a.data[ia], b.data[ib]));
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return { shape, data: out };
}

export const mul = (a: Tensor, b: Tensor): Tensor => binary(a, b, (x, y) => x * y);
export const add = (a: Tensor, b: Tensor): Tensor => binary(a, b, (x, y) => x + y);
export const sub = (a: Tensor, b: Tensor): Tensor => binary(a, b, (x, y) => x - y);

/** x / d for a Python float d: torch divides by the fp32 value of d. */
export function divScalar(x: Tensor, d: number): Tensor {
  const df = fround(d);
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = fround(x.data[i] / df);
  return { shape: [...x.shape], data: out };
}

/**
 * Softmax over the last dim (ATen _vec_softmax_lastdim): m = reduce_all max, e = exp(fp32(x - m)) (SLEEF),
 * Σ = reduce_all sum, p = fp32(e · fp32(1 / Σ)).
 */
export function softmaxLast(x: Tensor): Tensor {
  const n = x.shape[x.shape.length - 1];
  const rows = x.data.length / n;
  const out = new Float32Array(x.data.length);
  const max = (a: number, b: number): number => (a > b ? a : b);
  const sum = (a: number, b: number): number => fround(a + b);
  for (let r = 0; r < rows; r++) {
    const o = r * n;
    const m = reduceAllF32(x.data, o, n, max);
    for (let i = 0; i < n; i++) out[o + i] = sleefExpf(fround(x.data[o + i] - m));
    const inv = fround(1 / reduceAllF32(out, o, n, sum));
    for (let i = 0; i < n; i++) out[o + i] = fround(out[o + i] * inv);
  }
  return { shape: [...x.shape], data: out };
}

/**
 * RMSNorm over the last dim, x·rsqrt(mean(x²) + eps)·w op by op in fp32: the mean is ATen's vectorised sum
 * divided by n, rsqrt is fp32(1 / fp32(sqrt)).
 */
export function rmsNormLast(x: Tensor, w: Tensor, eps: number): Tensor {
  const n = x.shape[x.shape.length - 1];
  if (w.data.length !== n) throw new RangeError(`rms_norm: weight ${w.data.length} for last dim ${n}`);
  const rows = x.data.length / n;
  const out = new Float32Array(x.data.length);
  const epsF = fround(eps);
  const sq = new Float32Array(n);
  for (let r = 0; r < rows; r++) {
    const o = r * n;
    for (let i = 0; i < n; i++) sq[i] = fround(x.data[o + i] * x.data[o + i]);
    const ms = fround(fround(torchSumF32(sq, 0, n) / n) + epsF);
    const rs = fround(1 / fround(Math.sqrt(ms)));
    for (let i = 0; i < n; i++) out[o + i] = fround(fround(x.data[o + i] * rs) * w.data[i]);
  }
  return { shape: [...x.shape], data: out };
}

/**
 * Sigmoid as ATen's fp32 kernel over the flattened tensor: fp32(1 / fp32(exp(-x) + 1)), exp by SLEEF on the
 * vectorised part (whole pairs of 8-lane vectors) and by the C library on the scalar tail.
 */
export function sigmoid(x: Tensor): Tensor {
  const n = x.data.length;
  const vec = n - (n % 16);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const e = i < vec ? sleefExpf(-x.data[i]) : libmExpf(-x.data[i]);
    out[i] = fround(1 / fround(e + 1));
  }
  return { shape: [...x.shape], data: out };
}
