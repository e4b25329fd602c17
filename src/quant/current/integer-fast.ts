// Owns the fast integer arithmetic of the current flow's quantized simulation (issue 18): the same exact arithmetic as
// integer.ts's `integerConvRows` (the plain version, kept as the test oracle), with the integer sums of the convs done
// by the threaded WebAssembly SIMD kernels of src/compute/integer-kernel.ts.
//
// Per conv, once (lazily, at its first call): the weight codes are copied into the kernel's memory — int4 codes packed
// two per byte (layout "i4x32"), int8 codes as bytes — rows padded with zero codes to a multiple of the kernel block,
// and the weights' block sums S_rb = Σ_{j∈b} w_rj are kept (no fp32 copy of the weights is made). Per call: the
// activation codes q (the plain path's quantizeAct) enter as q − 32768 in int16; the kernel gives P_rtb = Σ (q −
// 32768)·w exactly (int32 lanes over blocks of at most 1024 columns, widened to int64 between blocks: see the bound in
// integer-kernel.ts), and the plain path's block sum is P_rtb + (32768 − z)·S_rb — the same integer. Per channel the
// blocks of at most 1024 columns are added (exact integers, in any order); LPBQ keeps the plain order Σ_b m_rb·part_b.
// The accumulator statistics and the requantization are integer.ts's own functions, in the plain path's (r, t) order,
// so outputs and statistics are bit-identical. Tokens are processed in tiles so the kernel's output stays within a
// few MB. LPBQ blocks that are not a multiple of 8 or exceed 1024 columns use the plain path.
import type { QuantEncoding } from "../affine.js";
import { intDotSupported, type IntDotInstance, createIntDotInstance } from "../../compute/int-dot.js";
import { createIntegerKernelSync, GROUP, integerKernelSupported, MAX_BLOCK, rowBytes, type IntegerKernel, type IntegerLayout } from "../../compute/integer-kernel.js";
import { fakeQuantInPlace, quantizeAct } from "./activations.js";
import { integerConvRows, requantized, track, type AttentionIntegerEncodings, type IntegerStats } from "./integer.js";
import type { KvView } from "../../engine/attention.js";
import type { ConvWeights } from "./weights.js";

const OFFSET = 32768;
const MAX_OUT_BYTES = 8 * 2 ** 20;

interface PreparedConv {
  layout: IntegerLayout;
  /** Byte offset of the padded codes [rows, colsP] in the layout. */
  w: number;
  colsP: number;
  /** Kernel block length (columns summed per output). */
  blk: number;
  /** Kernel blocks per row. */
  nk: number;
  /** Σ w per (row, kernel block), row-major [rows, nk]. */
  sums: Float64Array;
}

/** A conv function with the plain path's signature, backed by one kernel (one per quantized backend). */
export type ConvRowsFn = (y: Float32Array, w: ConvWeights, x: Float32Array, T: number, eIn: QuantEncoding, eOut: QuantEncoding, stats: IntegerStats) => void;

/** Whether the fast conv can run here (WebAssembly SIMD and shared memories). */
export const fastConvSupported = (): boolean => integerKernelSupported();

/**
 * The fast conv on kernel `k0` (a new single-threaded one by default; pass a pooled one from createIntegerKernel(n) to
 * split rows over n threads), or the plain one where the kernel cannot run.
 */
export function createFastConvRows(k0?: IntegerKernel): ConvRowsFn {
  if (!k0 && !integerKernelSupported()) return integerConvRows;
  const k = k0 ?? createIntegerKernelSync();
  const prepared = new WeakMap<ConvWeights, PreparedConv | null>();
  let scratch = { x: 0, out: 0, xBytes: 0, outBytes: 0 };
  const need = (xBytes: number, outBytes: number) => {
    if (xBytes > scratch.xBytes) scratch = { ...scratch, x: k.alloc(xBytes), xBytes };
    if (outBytes > scratch.outBytes) scratch = { ...scratch, out: k.alloc(outBytes), outBytes };
    return scratch;
  };
  return (y, w, x, T, eIn, eOut, stats) => {
    let p = prepared.get(w);
    if (p === undefined) {
      p = prepare(k, w);
      prepared.set(w, p);
    }
    if (p === null) return integerConvRows(y, w, x, T, eIn, eOut, stats);
    convRows(k, p, need, y, w, x, T, eIn, eOut, stats);
  };
}

/** The kernel layout and block of a conv, or null for the plain path. */
export function convLayout(w: Pick<ConvWeights, "spec" | "cols">): { layout: IntegerLayout; blk: number; colsP: number } | null {
  const int4 = w.spec.qmax <= 7;
  if (w.spec.kind === "lpbq") {
    const blk = w.spec.blockSize;
    if (blk % 8 !== 0 || blk > MAX_BLOCK) return null;
    return { layout: blk % GROUP !== 0 ? "i8x8" : int4 ? "i4x32" : "i8x32", blk, colsP: w.cols };
  }
  const c32 = Math.ceil(w.cols / GROUP) * GROUP;
  const blk = Math.min(MAX_BLOCK, c32);
  return { layout: int4 ? "i4x32" : "i8x32", blk, colsP: Math.ceil(c32 / blk) * blk };
}

function prepare(k: IntegerKernel, w: ConvWeights): PreparedConv | null {
  const { rows, cols, codes } = w;
  const l = convLayout(w);
  if (!l) return null;
  const { layout, blk, colsP } = l;
  const nk = colsP / blk;
  const rb = rowBytes(layout, colsP);
  const at = k.alloc(rows * rb);
  const mem = new Int8Array(k.memory.buffer, at, rows * rb);
  const sums = new Float64Array(rows * nk);
  for (let r = 0; r < rows; r++) {
    const src = r * cols;
    if (layout === "i4x32") {
      // group g of 32 columns: byte 16g + i = column 32g + i (low nibble) | column 32g + 16 + i (high nibble)
      const dst = r * rb;
      for (let g = 0; g < colsP / GROUP; g++)
        for (let i = 0; i < 16; i++) {
          const j = g * GROUP + i;
          const lo = j < cols ? codes[src + j] : 0;
          const hi = j + 16 < cols ? codes[src + j + 16] : 0;
          mem[dst + g * 16 + i] = (lo & 15) | (hi << 4);
        }
    } else mem.set(codes.subarray(src, src + cols), r * rb);
    for (let b = 0; b < nk; b++) {
      let s = 0;
      for (let j = b * blk; j < Math.min((b + 1) * blk, cols); j++) s += codes[src + j];
      sums[r * nk + b] = s;
    }
  }
  return { layout, w: at, colsP, blk, nk, sums };
}

function convRows(
  k: IntegerKernel,
  p: PreparedConv,
  need: (xBytes: number, outBytes: number) => { x: number; out: number },
  y: Float32Array,
  w: ConvWeights,
  x: Float32Array,
  T: number,
  eIn: QuantEncoding,
  eOut: QuantEncoding,
  stats: IntegerStats,
): void {
  const { rows, cols } = w;
  const { colsP, nk, sums } = p;
  const tile = Math.max(1, Math.min(T, Math.floor(MAX_OUT_BYTES / (rows * nk * 8))));
  const { x: xAt, out: outAt } = need(tile * colsP * 2, tile * rows * nk * 8);
  const zfix = OFFSET - eIn.zeroPoint;
  const lpbq = w.multipliers;
  for (let t0 = 0; t0 < T; t0 += tile) {
    const tn = Math.min(tile, T - t0);
    const xs = new Int16Array(k.memory.buffer, xAt, tn * colsP);
    for (let t = 0; t < tn; t++) {
      const src = (t0 + t) * cols;
      const dst = t * colsP;
      for (let i = 0; i < cols; i++) xs[dst + i] = quantizeAct(x[src + i], eIn) - OFFSET;
      xs.fill(0, dst + cols, dst + colsP);
    }
    k.qdot(p.layout, xAt, p.w, outAt, tn, rows, colsP, p.blk);
    const out = new Float64Array(k.memory.buffer, outAt, rows * tn * nk);
    for (let r = 0; r < rows; r++) {
      const m = (eIn.scale * w.channelScales[r]) / eOut.scale;
      for (let t = 0; t < tn; t++) {
        const o = (r * tn + t) * nk;
        let acc = 0;
        if (!lpbq) {
          for (let b = 0; b < nk; b++) acc += out[o + b] + zfix * sums[r * nk + b];
        } else {
          for (let b = 0; b < nk; b++) {
            const part = out[o + b] + zfix * sums[r * nk + b];
            acc += part * lpbq[r * nk + b];
          }
        }
        track(stats, acc);
        y[(t0 + t) * rows + r] = requantized(acc, m, eOut);
      }
    }
  }
}

/** Centred codes q − zp of values on e's grid into out[o ..], with 1/scale computed once (quantizeAct's expression). */
function centredInto(out: Int32Array, o: number, x: ArrayLike<number>, start: number, stride: number, n: number, e: QuantEncoding): void {
  const inv = Math.fround(1 / e.scale);
  const { zeroPoint: zp, qmin, qmax } = e;
  for (let i = 0; i < n; i++) {
    const v = Math.fround(x[start + i * stride] * inv);
    // roundHalfEven (affine.ts), inlined
    let r = Math.round(v);
    if (r - v === 0.5 && r % 2 !== 0) r -= 1;
    let q = r + zp;
    if (q < qmin) q = qmin;
    else if (q > qmax) q = qmax;
    out[o + i] = q - zp;
  }
}

/** Scratch of the fast attention matmuls (grown as needed; one per quantized graph). */
export interface AttentionScratch {
  a: Int32Array;
  b: Int32Array;
}
export const newAttentionScratch = (): AttentionScratch => ({ a: new Int32Array(256), b: new Int32Array(4096) });
const fit = (s: AttentionScratch, na: number, nb: number) => {
  if (s.a.length < na) s.a = new Int32Array(na);
  if (s.b.length < nb) s.b = new Int32Array(nb);
};

/**
 * integer.ts's integerScores with the codes of q and of each key column converted once per call (1/scale hoisted):
 * the same exact integer sums, so bit-identical scores and statistics.
 */
export function fastScores(q: Float32Array, qOff: number, hd: number, view: KvView, cols: number, scores: Float32Array, e: AttentionIntegerEncodings, stats: IntegerStats, s: AttentionScratch = newAttentionScratch()): void {
  fit(s, hd, hd);
  const qc = s.a;
  const kc = s.b;
  centredInto(qc, 0, q, qOff, 1, hd, e.q);
  const m = (e.q.scale * e.k.scale) / e.qk.scale;
  for (let c = 0; c < cols; c++) {
    centredInto(kc, 0, view.kData, view.kOff + c * view.kColStride, view.kRowStride, hd, e.k);
    let acc = 0;
    for (let d = 0; d < hd; d++) acc += qc[d] * kc[d];
    track(stats, acc);
    scores[c] = requantized(acc, m, e.qk);
  }
}

/** integer.ts's integerProbsTimesV with the V codes converted once per call: bit-identical. */
export function fastProbsTimesV(p: Float32Array, cols: number, hd: number, view: KvView, y: Float32Array, yOff: number, e: AttentionIntegerEncodings, stats: IntegerStats, s: AttentionScratch = newAttentionScratch()): void {
  fit(s, cols, cols * hd);
  const pc = s.a;
  const vc = s.b;
  centredInto(pc, 0, p, 0, 1, cols, e.softmax);
  for (let c = 0; c < cols; c++) centredInto(vc, c * hd, view.vData, view.vOff + c * view.vRowStride, 1, hd, e.v);
  const m = (e.softmax.scale * e.v.scale) / e.attn.scale;
  const acc = new Float64Array(hd);
  for (let c = 0; c < cols; c++) {
    const pcc = pc[c];
    if (pcc === 0) continue;
    const o = c * hd;
    for (let d = 0; d < hd; d++) acc[d] += pcc * vc[o + d];
  }
  for (let d = 0; d < hd; d++) {
    track(stats, acc[d]);
    y[yOff + d] = requantized(acc[d], m, e.attn);
  }
}

/** An in-place q/dq with activations.ts's fakeQuantInPlace signature. */
export type FakeQuantFn = (x: Float32Array, e: QuantEncoding, start?: number, end?: number) => void;

/**
 * activations.ts's fakeQuantInPlace on the kernel's `fq` (float32 SIMD lanes, the same operations: see int-dot.ts), for
 * the large q/dq points (the graph's K/V cache inputs, conv outputs). A tail of fewer than 4 values and a NaN input go
 * through the plain function (which reports the NaN as it always has). Falls back to the plain one without SIMD.
 */
export function createFastFakeQuant(k0?: IntDotInstance): FakeQuantFn {
  if (!intDotSupported()) return fakeQuantInPlace;
  const k = k0 ?? createIntDotInstance();
  let at = 0;
  let cap = 0;
  return (x, e, start = 0, end = x.length) => {
    const n4 = (end - start) & ~3;
    if (n4 < 64) return fakeQuantInPlace(x, e, start, end);
    if (n4 > cap) {
      at = k.alloc(n4 * 4);
      cap = n4;
    }
    const mem = new Float32Array(k.memory.buffer, at, n4);
    mem.set(x.subarray(start, start + n4));
    if (k.fq(at, n4, Math.fround(1 / e.scale), e.zeroPoint, e.qmin, e.qmax, e.scale)) return fakeQuantInPlace(x, e, start, end);
    x.set(mem, start);
    if (start + n4 < end) fakeQuantInPlace(x, e, start + n4, end);
  };
}
