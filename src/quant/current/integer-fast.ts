// Owns the fast integer arithmetic of the current flow's quantized simulation (issue 18): the same exact arithmetic as
// integer.ts (the plain versions, kept as the test oracles), on hand-written WebAssembly SIMD kernels:
// - convs (createFastConvRows) on src/compute/integer-kernel.ts, split over the worker pool's threads by output rows
//   when built on a pooled kernel (createIntegerKernel(n)). Per conv, once (lazily at its first call, or ahead of it
//   block by block through `load`, which a quantized model file's reader uses): the weight codes are copied into the
//   kernel's memory — int4 codes packed two per byte (layout "i4x32"), int8 codes as bytes —, rows
//   padded with zero codes to a multiple of the kernel block, with the weights' block sums S_rb = Σ_{j∈b} w_rj (int32),
//   LPBQ's multipliers and the channel scales (no fp32 copy of the weights is made). Per call: the activation codes q
//   (quantizeAct's expression) enter as q − 32768 in int16; the kernel sums P_rtb = Σ (q − 32768)·w exactly (int32
//   lanes over blocks of at most 1024 columns, widened to int64 between blocks: the bound is in integer-kernel.ts), and
//   the plain path's block sum is P_rtb + (32768 − z)·S_rb — the same integer; then, in the kernel, the plain path's
//   float64 accumulation (per channel Σ_b, LPBQ Σ_b m_rb·part_b in the plain order), per-row statistics and
//   requantization (the same IEEE operations as integer.ts's requantized), so outputs and statistics are bit-identical.
//   Tokens are processed in tiles so the kernel's output stays within a few MB. LPBQ blocks that are not a multiple of
//   8 or exceed 1024 columns, and inputs holding a NaN, use the plain path.
// - attention matmuls (createWasmAttention) on src/compute/integer-attention.ts (K / V codes converted and multiplied
//   in SIMD lanes, exact float64 sums), with fastScores / fastProbsTimesV (codes converted once per call in JS) for the
//   views the kernels do not take;
// - the large q/dq points (createFastFakeQuant) on int-dot.ts's float32 SIMD lanes.
import type { QuantEncoding } from "../affine.js";
import { intDotSupported, type IntDotInstance, createIntDotInstance } from "../../compute/int-dot.js";
import { createIntegerKernelSync, DESC, GROUP, integerKernelSupported, MAX_BLOCK, rowBytes, type IntegerKernel, type IntegerLayout } from "../../compute/integer-kernel.js";
import { fakeQuantInPlace } from "./activations.js";
import { createIntegerAttentionKernel, integerAttentionSupported } from "../../compute/integer-attention.js";
import { integerConvRows, integerProbsTimesV, integerScores, requantized, track, type AttentionIntegerEncodings, type IntegerStats } from "./integer.js";
import type { KvView } from "../../engine/attention.js";
import type { ConvWeights } from "./weights.js";

const OFFSET = 32768;
const MAX_EXACT = 2 ** 53;
const MAX_OUT_BYTES = 8 * 2 ** 20;

interface PreparedConv {
  layout: IntegerLayout;
  /** Byte offsets in the kernel's memory: the padded codes [rows, colsP] in the layout; Σ w per (row, kernel block),
   * int32 [rows, nk]; LPBQ's multipliers, uint8 [rows, nk] (0: per channel); the channel scales, float32 [rows]. */
  w: number;
  sums: number;
  mult: number;
  ch: number;
  colsP: number;
  /** Kernel block length (columns summed per output). */
  blk: number;
  /** Kernel blocks per row. */
  nk: number;
}

/** A conv function with the plain path's signature, backed by one kernel (one per quantized backend). */
export type ConvRowsFn = (y: Float32Array, w: ConvWeights, x: Float32Array, T: number, eIn: QuantEncoding, eOut: QuantEncoding, stats: IntegerStats) => void;

/** Whether the fast conv can run here (WebAssembly SIMD and shared memories). */
export const fastConvSupported = (): boolean => integerKernelSupported();

interface Scratch {
  desc: number;
  x: number;
  xBytes: number;
  /** One token's float32 activations, the kernel's qx input. */
  xf: number;
  xfBytes: number;
  /** y tile, float32 [tile, rows]; per-row statistics (float64 max, int32 count). */
  y: number;
  yBytes: number;
  rowMax: number;
  rowOvf: number;
  rows: number;
}

/**
 * A conv function backed by one kernel, which can also take a conv's codes ahead of its first call, a block of rows at
 * a time (`load`: a quantized model file's reader, so no whole-tensor code array is ever held), and read them back
 * (`codesOf`, for a conv loaded that way).
 */
export interface FastConvRows extends ConvRowsFn {
  /** Whether the kernel takes this conv's layout (else it runs on the plain path from its own codes). */
  takes(w: Pick<ConvWeights, "spec" | "cols">): boolean;
  /**
   * Allocates `w`'s place in the kernel's memory (channel scales, LPBQ multipliers) and returns a function that copies
   * rows [r0, r0 + n) of its codes (row-major [n, cols]) in; every row must be given once before the first call.
   */
  load(w: Omit<ConvWeights, "codes" | "device">): (r0: number, codes: Int8Array) => void;
  /** The int4/int8 codes of a conv in the kernel's memory, row-major [rows, cols] (a fresh array). */
  codesOf(w: Pick<ConvWeights, "rows" | "cols">): Int8Array;
}

/**
 * The fast conv on kernel `k0` (a new single-threaded one by default; pass a pooled one from createIntegerKernel(n) to
 * split rows over n threads), or the plain one where the kernel cannot run.
 */
export function createFastConvRows(k0?: IntegerKernel): FastConvRows {
  if (!k0 && !integerKernelSupported()) return plainConvRows();
  const k = k0 ?? createIntegerKernelSync();
  const prepared = new WeakMap<object, PreparedConv | null>();
  const sc: Scratch = { desc: k.alloc(DESC.bytes), x: 0, xBytes: 0, xf: 0, xfBytes: 0, y: 0, yBytes: 0, rowMax: 0, rowOvf: 0, rows: 0 };
  const need = (xBytes: number, yBytes: number, rows: number, xfBytes: number): Scratch => {
    if (xBytes > sc.xBytes) [sc.x, sc.xBytes] = [k.alloc(xBytes), xBytes];
    if (xfBytes > sc.xfBytes) [sc.xf, sc.xfBytes] = [k.alloc(xfBytes), xfBytes];
    if (yBytes > sc.yBytes) [sc.y, sc.yBytes] = [k.alloc(yBytes), yBytes];
    if (rows > sc.rows) [sc.rowMax, sc.rowOvf, sc.rows] = [k.alloc(rows * 8), k.alloc(rows * 4), rows];
    return sc;
  };
  const fn = ((y, w, x, T, eIn, eOut, stats) => {
    let p = prepared.get(w);
    if (p === undefined) {
      p = convLayout(w) ? allocConv(k, w) : null;
      if (p) fillRows(k, p, w.cols, 0, w.codes);
      prepared.set(w, p);
    }
    if (p === null) return integerConvRows(y, w, x, T, eIn, eOut, stats);
    convRows(k, p, need, y, w, x, T, eIn, eOut, stats);
  }) as FastConvRows;
  fn.takes = (w) => convLayout(w) !== null;
  fn.load = (w) => {
    if (!fn.takes(w)) throw new Error("integer kernel: load() of a conv whose layout the kernel does not take");
    const p = allocConv(k, w);
    prepared.set(w, p);
    return (r0, codes) => fillRows(k, p, w.cols, r0, codes);
  };
  fn.codesOf = (w) => {
    const p = prepared.get(w);
    if (!p) throw new Error("integer kernel: codesOf() of a conv it does not hold");
    return unpackRows(k, p, w.rows, w.cols);
  };
  return fn;
}

/** The plain path behind the FastConvRows interface (no kernel here: every conv keeps its own codes). */
function plainConvRows(): FastConvRows {
  const fn = ((y, w, x, T, eIn, eOut, stats) => integerConvRows(y, w, x, T, eIn, eOut, stats)) as FastConvRows;
  fn.takes = () => false;
  fn.load = () => {
    throw new Error("integer kernel: not available here");
  };
  fn.codesOf = () => {
    throw new Error("integer kernel: not available here");
  };
  return fn;
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

/** A conv's regions in the kernel's memory (codes and block sums zero until filled), channel scales and multipliers set. */
function allocConv(k: IntegerKernel, w: Pick<ConvWeights, "spec" | "rows" | "cols" | "channelScales" | "multipliers">): PreparedConv {
  const { rows } = w;
  const { layout, blk, colsP } = convLayout(w)!;
  const nk = colsP / blk;
  const rb = rowBytes(layout, colsP);
  const at = k.alloc(rows * rb);
  const sumsAt = k.alloc(rows * nk * 4);
  const chAt = k.alloc(rows * 4);
  const multAt = w.multipliers ? k.alloc(rows * nk) : 0;
  new Float32Array(k.memory.buffer, chAt, rows).set(w.channelScales);
  if (w.multipliers) new Uint8Array(k.memory.buffer, multAt, rows * nk).set(w.multipliers);
  return { layout, w: at, sums: sumsAt, mult: multAt, ch: chAt, colsP, blk, nk };
}

/** Copies rows r0 .. r0 + codes.length / cols of a conv's codes into its regions (packed, padded) with their block sums. */
function fillRows(k: IntegerKernel, p: PreparedConv, cols: number, r0: number, codes: Int8Array): void {
  const { layout, colsP, blk, nk } = p;
  const rb = rowBytes(layout, colsP);
  const n = codes.length / cols;
  const mem = new Int8Array(k.memory.buffer, p.w + r0 * rb, n * rb);
  const sums = new Int32Array(k.memory.buffer, p.sums + r0 * nk * 4, n * nk);
  for (let r = 0; r < n; r++) {
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
}

/** fillRows read back: the codes [rows, cols] (int4 nibbles sign-extended). */
function unpackRows(k: IntegerKernel, p: PreparedConv, rows: number, cols: number): Int8Array {
  const rb = rowBytes(p.layout, p.colsP);
  const mem = new Int8Array(k.memory.buffer, p.w, rows * rb);
  const out = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < cols; j++) {
      if (p.layout !== "i4x32") {
        out[r * cols + j] = mem[r * rb + j];
        continue;
      }
      const byte = mem[r * rb + (j >> 5) * 16 + (j & 15)];
      out[r * cols + j] = (j & 16) === 0 ? (byte << 28) >> 28 : byte >> 4;
    }
  return out;
}

function convRows(
  k: IntegerKernel,
  p: PreparedConv,
  need: (xBytes: number, yBytes: number, rows: number, xfBytes: number) => Scratch,
  y: Float32Array,
  w: ConvWeights,
  x: Float32Array,
  T: number,
  eIn: QuantEncoding,
  eOut: QuantEncoding,
  stats: IntegerStats,
): void {
  const { rows, cols } = w;
  const { colsP } = p;
  // A NaN activation has no int16 code: the plain path handles it (NaN outputs) as it always has.
  for (let i = 0; i < T * cols; i++) if (x[i] !== x[i]) return integerConvRows(y, w, x, T, eIn, eOut, stats);
  const tile = Math.max(1, Math.min(T, Math.floor(MAX_OUT_BYTES / (rows * 4))));
  const sc = need(tile * colsP * 2, tile * rows * 4, rows, cols * 4);
  const buf = k.memory.buffer;
  // the descriptor (integer-kernel.ts DESC)
  const di = new Int32Array(buf, sc.desc, DESC.bytes / 4);
  const df = new Float64Array(buf, sc.desc, DESC.bytes / 8);
  di[DESC.x / 4] = sc.x;
  di[DESC.w / 4] = p.w;
  di[DESC.y / 4] = sc.y;
  di[DESC.cols / 4] = colsP;
  di[DESC.blk / 4] = p.blk;
  di[DESC.sums / 4] = p.sums;
  di[DESC.mult / 4] = p.mult;
  di[DESC.ch / 4] = p.ch;
  di[DESC.rowMax / 4] = sc.rowMax;
  di[DESC.rowOvf / 4] = sc.rowOvf;
  di[DESC.rows / 4] = rows;
  df[DESC.zfix / 8] = OFFSET - eIn.zeroPoint;
  df[DESC.sIn / 8] = eIn.scale;
  df[DESC.sOut / 8] = eOut.scale;
  df[DESC.zOut / 8] = eOut.zeroPoint;
  df[DESC.qmin / 8] = eOut.qmin;
  df[DESC.qmax / 8] = eOut.qmax;
  // activations.ts quantizeAct (seed qparams quantizeValue) with fp32(1 / s) hoisted: the same expression
  const inv = Math.fround(1 / eIn.scale);
  const { zeroPoint: zIn, qmin: inMin, qmax: inMax } = eIn;
  const rowMax = new Float64Array(buf, sc.rowMax, rows);
  const rowOvf = new Int32Array(buf, sc.rowOvf, rows);
  let maxAcc = stats.maxAccumulator;
  let overflows = stats.int32Overflows;
  for (let t0 = 0; t0 < T; t0 += tile) {
    const tn = Math.min(tile, T - t0);
    const xs = new Int16Array(buf, sc.x, tn * colsP);
    for (let t = 0; t < tn; t++) {
      const src = (t0 + t) * cols;
      const dst = t * colsP;
      // the kernel's qx on float32 lanes for the first multiple of 8 columns (the same expression), JS for the rest
      const n8 = cols & ~7;
      if (n8 > 0) {
        new Float32Array(buf, sc.xf, n8).set(x.subarray(src, src + n8));
        k.qx(sc.xf, sc.x + dst * 2, n8, inv, zIn, inMin, inMax);
      }
      for (let i = n8; i < cols; i++) {
        const v = Math.fround(x[src + i] * inv);
        let r = Math.round(v);
        if (r - v === 0.5 && r % 2 !== 0) r -= 1;
        let q = r + zIn;
        if (q < inMin) q = inMin;
        else if (q > inMax) q = inMax;
        xs[dst + i] = q - OFFSET;
      }
      xs.fill(0, dst + cols, dst + colsP);
    }
    di[DESC.T / 4] = tn;
    k.qrq(p.layout, sc.desc, rows, rows * tn * colsP);
    y.set(new Float32Array(buf, sc.y, tn * rows), t0 * rows);
    // integer.ts track() over the rows' maxima and counts
    for (let r = 0; r < rows; r++) {
      if (rowMax[r] > maxAcc) maxAcc = rowMax[r];
      overflows += rowOvf[r];
    }
  }
  stats.maxAccumulator = maxAcc;
  stats.int32Overflows = overflows;
  if (maxAcc >= MAX_EXACT) throw new Error("integer accumulation exceeded 2^53"); // integer.ts track()'s error
}

/** Centred codes q − zp of values on e's grid into out[o ..], with 1/scale computed once (quantizeAct's expression). */
function centredInto(out: Int32Array | Float64Array, o: number, x: ArrayLike<number>, start: number, stride: number, n: number, e: QuantEncoding): void {
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

/** The attention matmuls with integer.ts's signatures (without the scratch argument). */
export interface AttentionMatmuls {
  scores: typeof integerScores;
  timesV: typeof integerProbsTimesV;
}

/**
 * integer.ts's integerScores / integerProbsTimesV on the WebAssembly SIMD kernels of src/compute/integer-attention.ts
 * (the K / V codes converted and multiplied in SIMD lanes, exact float64 sums: see the bound there), then integer.ts's
 * own statistics and requantization in the plain order: bit-identical. The left operand's codes are converted here with
 * quantizeAct's expression. Views the kernels do not take (keys not contiguous along the columns, a head dim not a
 * multiple of 4) go through fastScores / fastProbsTimesV; an input NaN through the plain functions. Falls back to
 * fastScores / fastProbsTimesV entirely without WebAssembly SIMD.
 */
export function createWasmAttention(): AttentionMatmuls {
  const s = newAttentionScratch();
  if (!integerAttentionSupported())
    return { scores: (q, qOff, hd, view, cols, sc, e, st) => fastScores(q, qOff, hd, view, cols, sc, e, st, s), timesV: (p, cols, hd, view, y, yOff, e, st) => fastProbsTimesV(p, cols, hd, view, y, yOff, e, st, s) };
  const k = createIntegerAttentionKernel();
  const a16 = (n: number) => (n + 15) & ~15;
  const scores: typeof integerScores = (q, qOff, hd, view, cols, sc, e, stats) => {
    if (view.kColStride !== 1) return fastScores(q, qOff, hd, view, cols, sc, e, stats, s);
    const cols4 = (cols + 3) & ~3;
    const qcAt = 16;
    const kAt = a16(qcAt + hd * 8);
    const outAt = a16(kAt + hd * cols4 * 4);
    k.reserve(outAt + cols4 * 8);
    const buf = k.memory.buffer;
    centredInto(new Float64Array(buf, qcAt, hd), 0, q, qOff, 1, hd, e.q);
    const kf = new Float32Array(buf, kAt, hd * cols4);
    const { kData, kOff, kRowStride } = view;
    for (let d = 0; d < hd; d++) {
      const src = kOff + d * kRowStride;
      kf.set(kData.subarray(src, src + cols), d * cols4);
      for (let c = cols; c < cols4; c++) kf[d * cols4 + c] = 0;
    }
    const ek = e.k;
    if (k.kscores(qcAt, kAt, cols4, hd, cols4, Math.fround(1 / ek.scale), ek.zeroPoint, ek.qmin, ek.qmax, outAt)) return integerScores(q, qOff, hd, view, cols, sc, e, stats);
    const acc = new Float64Array(buf, outAt, cols);
    const m = (e.q.scale * ek.scale) / e.qk.scale;
    for (let c = 0; c < cols; c++) {
      track(stats, acc[c]);
      sc[c] = requantized(acc[c], m, e.qk);
    }
  };
  const timesV: typeof integerProbsTimesV = (p, cols, hd, view, y, yOff, e, stats) => {
    if (hd % 4 !== 0) return fastProbsTimesV(p, cols, hd, view, y, yOff, e, stats, s);
    const pcAt = 16;
    const vAt = a16(pcAt + cols * 8);
    const outAt = a16(vAt + cols * hd * 4);
    k.reserve(outAt + hd * 8);
    const buf = k.memory.buffer;
    centredInto(new Float64Array(buf, pcAt, cols), 0, p, 0, 1, cols, e.softmax);
    const vf = new Float32Array(buf, vAt, cols * hd);
    const { vData, vOff, vRowStride } = view;
    if (vRowStride === hd) vf.set(vData.subarray(vOff, vOff + cols * hd));
    else for (let c = 0; c < cols; c++) vf.set(vData.subarray(vOff + c * vRowStride, vOff + c * vRowStride + hd), c * hd);
    const ev = e.v;
    if (k.pv(pcAt, vAt, hd, cols, Math.fround(1 / ev.scale), ev.zeroPoint, ev.qmin, ev.qmax, outAt)) return integerProbsTimesV(p, cols, hd, view, y, yOff, e, stats);
    const acc = new Float64Array(buf, outAt, hd);
    const m = (e.softmax.scale * ev.scale) / e.attn.scale;
    for (let d = 0; d < hd; d++) {
      track(stats, acc[d]);
      y[yOff + d] = requantized(acc[d], m, e.attn);
    }
  };
  return { scores, timesV };
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
