// Owns the threaded WebAssembly SIMD integer kernels of the quantized simulation's convs (issue 18, item 3), over a
// range of output rows [r0, r1) — the work units the project's worker pool (pool.ts) splits over its threads:
// - qdot: exact block sums P[r, t, b] = Σ_{j ∈ block b} x'_tj · w_rj of int16 activation codes x' and int8 / packed
//   int4 weight codes w, written as float64 (exact integers);
// - qrq (what the graph uses): the same block sums, then the plain path's float64 accumulation, per-row accumulator
//   statistics and requantization, writing the fp32 outputs (see qrqFunction).
//
// Operands (src/quant/current/integer-fast.ts prepares them): activation codes q (8- or 16-bit, unsigned) enter as
// x' = q − 32768 (they fit int16); the zero point is added back from the weights' block sums S:
// Σ (q − z)·w = Σ x'·w + (32768 − z)·Σ w, the plain path's integer exactly.
// Weight layouts, row-major, every row padded with zero codes to `cols` (a multiple of the block):
// - "i8x8" / "i8x32": one int8 code per byte (int8 codes; also int4 codes whose blocks are not a multiple of 32
//   columns), blocks of 8k / 32k columns;
// - "i4x32": int4 codes packed two per byte in groups of 32 columns: byte i (0 ≤ i < 16) of a group holds column i in
//   its low nibble and column i + 16 in its high nibble (two's complement nibbles), so one 16-byte load unpacks with
//   shl/shr_s into the group's columns 0..15 and 16..31 in order. Half the bytes of the int8 layouts.
//
// The loop: per row r, per token t, per block of `blk` columns: `i32x4.dot_i16x8_s` multiplies 8 activation codes by 8
// weight codes sign-extended to int16 and adds adjacent products into four int32 lanes, accumulated over the block.
// OVERFLOW BOUND: |x'| ≤ 32768 and |w| ≤ 128, so one product is at most 2^22 in magnitude; a lane receives 2 products
// per 8 columns, i.e. blk/4 products over a block, at most (blk/4)·2^22 = blk·2^20 ≤ 2^30 < 2^31 for blk ≤ MAX_BLOCK =
// 1024. So the int32 lanes never wrap within a block (a run of ≤ 1024 columns); between blocks the four lanes are
// widened to int64, added, and converted to float64 (exact: |sum| ≤ 2^32 < 2^53). Longer rows are several blocks,
// added in float64 (exact integers below 2^53, so in any order). The result is the exact integer, whatever the SIMD
// width or the thread count.
//
// Threads: the output rows are the pool's work units; each output is computed by exactly one thread with the same
// code in the same order, so the outputs do not depend on the thread count. The memory is shared (imported as env.mem,
// as pool.ts binds it) and grows from the main thread.
import { code, encodeModule, F32, F64, I32, I64, op, uleb128, V128, type Code, type FunctionDef, type ValType } from "./encoder.js";
import { createPool, type Pool, type PoolStats } from "./pool.js";
import { createBumpAllocator } from "./bump-allocator.js";
import { quantizeLanes, splatEncoding } from "./simd-quantize.js";

/** Largest block summed in int32 lanes (see OVERFLOW BOUND in the header). */
export const MAX_BLOCK = 1024;
/** Column step of the packed int4 kernel and of the unrolled int8 kernel; blocks must be multiples of it. */
export const GROUP = 32;

/** The kernels: int8 codes with blocks of 8k columns, int8 with blocks of 32k, packed int4 with blocks of 32k. */
export type IntegerLayout = "i8x8" | "i8x32" | "i4x32";
const LAYOUTS: readonly IntegerLayout[] = ["i8x8", "i8x32", "i4x32"];
/** Bytes of a weight row of `cols` columns in a layout. */
export const rowBytes = (layout: IntegerLayout, cols: number): number => (layout === "i4x32" ? cols / 2 : cols);

const simd = (opcode: number, imm: Code = []): Code => code(0xfd, uleb128(opcode), imm);
const memarg = (alignLog2: number, offset: number): Code => code(uleb128(alignLog2), uleb128(offset));
const v128Load = (offset = 0): Code => simd(0x00, memarg(0, offset));
const v128Load8x8S = (offset = 0): Code => simd(0x01, memarg(0, offset));
const i8x16Shl = simd(0x6b);
const i8x16ShrS = simd(0x6c);
const i16x8ExtendLowI8x16S = simd(0x87);
const i16x8ExtendHighI8x16S = simd(0x88);
const i32x4DotI16x8S = simd(0xba);
const i32x4Add = simd(0xae);
const i32x4ExtractLane = (lane: number): Code => simd(0x1b, [lane]);
const i64ExtendI32S: Code = [0xac];
const i64Add: Code = [0x7c];
const f64ConvertI64S: Code = [0xb9];
const i64Const0: Code = [0x42, 0x00];

// qdot(x, w, out, T, cols, blk, r0, r1): for r in [r0, r1), t < T, b < cols/blk:
//   out[((r·T) + t)·(cols/blk) + b] (float64) = Σ_{j ∈ [b·blk, (b+1)·blk)} x[t·cols + j] · w_r[j]
// x: int16 [T, cols]; w: rows in the layout (rowBytes each); every address a byte offset in env.mem.
const [X, W, OUT, T, COLS, BLK, R0, R1] = [0, 1, 2, 3, 4, 5, 6, 7];
const [R, TT, K, KEND, WROW, XROW, O, WSTRIDE] = [8, 9, 10, 11, 12, 13, 14, 15];
const [ACC, WV, LO] = [16, 17, 18]; // v128
const S = 19; // i64

interface StepLocals {
  ACC: number;
  WV: number;
  LO: number;
  /** Byte pointers to the step's first activation code and first weight byte (advanced by the loop). */
  XP: number;
  WP: number;
}

/** Weight bytes per step. */
const stepBytes = (layout: IntegerLayout): number => (layout === "i8x8" ? 8 : layout === "i8x32" ? GROUP : GROUP / 2);
const stepCols = (layout: IntegerLayout): number => (layout === "i8x8" ? 8 : GROUP);

/** One step of the inner loop (stepCols columns at XP / WP), accumulating into ACC. */
function step(layout: IntegerLayout, L: StepLocals): Code {
  const { ACC, WV, LO, XP, WP } = L;
  const get = op.localGet;
  const dot = (xBytes: number, w: Code) => code(get(ACC), get(XP), v128Load(xBytes), w, i32x4DotI16x8S, i32x4Add, op.localSet(ACC));
  if (layout === "i8x8") return dot(0, code(get(WP), v128Load8x8S(0)));
  if (layout === "i8x32") return code(...[0, 1, 2, 3].map((i) => dot(16 * i, code(get(WP), v128Load8x8S(8 * i)))));
  // i4x32: 16 bytes = 32 nibbles; low nibbles are columns 0..15, high nibbles 16..31 (sign-extended by shr_s).
  return code(
    get(WP), v128Load(0), op.localTee(WV),
    op.i32Const(4), i8x16Shl, op.i32Const(4), i8x16ShrS, op.localSet(LO),
    dot(0, code(get(LO), i16x8ExtendLowI8x16S)),
    dot(16, code(get(LO), i16x8ExtendHighI8x16S)),
    get(WV), op.i32Const(4), i8x16ShrS, op.localSet(LO),
    dot(32, code(get(LO), i16x8ExtendLowI8x16S)),
    dot(48, code(get(LO), i16x8ExtendHighI8x16S)),
  );
}

/** The block loop of one (row, token): XP at the token's codes, WP at the row's; `end` the token row's end pointer. */
function blockInner(layout: IntegerLayout, L: StepLocals, kend: number, blk: number): Code {
  const get = op.localGet;
  return code(
    op.v128Const(new Uint8Array(16)), op.localSet(L.ACC),
    get(L.XP), get(blk), op.i32Const(1), op.i32Shl, op.i32Add, op.localSet(kend),
    op.loop(),
    step(layout, L),
    get(L.WP), op.i32Const(stepBytes(layout)), op.i32Add, op.localSet(L.WP),
    get(L.XP), op.i32Const(2 * stepCols(layout)), op.i32Add, op.localTee(L.XP),
    get(kend), op.i32LtU, op.brIf(0),
    op.end,
  );
}

function qdotBody(layout: IntegerLayout): Code {
  const get = op.localGet;
  const set = op.localSet;
  const WP = 20; // i32, after the v128 and i64 locals
  const L: StepLocals = { ACC, WV, LO, XP: XROW, WP };
  return code(
    get(R0), get(R1), op.i32LtU,
    op.if(),
    // wStride = row bytes; o = out + r0 · T · (cols / blk) · 8
    layout === "i4x32" ? code(get(COLS), op.i32Const(1), op.i32ShrU) : get(COLS), set(WSTRIDE),
    get(OUT), get(R0), get(T), op.i32Mul, get(COLS), get(BLK), op.i32DivU, op.i32Mul, op.i32Const(3), op.i32Shl, op.i32Add, set(O),
    get(R0), set(R),
    op.loop(),
    get(W), get(R), get(WSTRIDE), op.i32Mul, op.i32Add, set(WROW),
    op.i32Const(0), set(TT),
    op.loop(),
    // XP = x + t · cols · 2 (K: the token row's end), WP = the weight row
    get(X), get(TT), get(COLS), op.i32Mul, op.i32Const(1), op.i32Shl, op.i32Add, op.localTee(XROW),
    get(COLS), op.i32Const(1), op.i32Shl, op.i32Add, set(K),
    get(WROW), set(WP),
    op.loop(),
    blockInner(layout, L, KEND, BLK),
    // the block's four int32 lanes (each < 2^30 in magnitude) widened to int64, summed, stored as float64
    i64Const0, set(S),
    ...[0, 1, 2, 3].map((l) => code(get(S), get(ACC), i32x4ExtractLane(l), i64ExtendI32S, i64Add, set(S))),
    get(O), get(S), f64ConvertI64S, op.f64Store(0, 3),
    get(O), op.i32Const(8), op.i32Add, set(O),
    get(XROW), get(K), op.i32LtU, op.brIf(0),
    op.end,
    get(TT), op.i32Const(1), op.i32Add, op.localTee(TT), get(T), op.i32LtU, op.brIf(0),
    op.end,
    get(R), op.i32Const(1), op.i32Add, op.localTee(R), get(R1), op.i32LtU, op.brIf(0),
    op.end,
    op.end,
  );
}

// qrq(desc, r0, r1): the conv's block sums as qdot, then per (r, t) the plain path's float64 accumulation, statistics
// and requantization (integer.ts integerConvRows / track / requantized), rows [r0, r1):
//   part_b = P_b + zfix·S[r·nk + b] (P_b the block's exact sum as float64; S int32 weight block sums)
//   acc = Σ_b part_b (per channel) or Σ_b part_b·mult[r·nk + b] (LPBQ, uint8 multipliers), b ascending
//   rowMax[r] = max_t |acc|, rowOvf[r] = #{t : |acc| ≥ 2^31}
//   m = (sIn · f64(ch[r])) / sOut; q = clamp(nearest(acc·m) + zOut, qmin, qmax); y[t·rows + r] = f32((q − zOut)·sOut)
// The same IEEE float64 operations in the same order as the JS (f64.nearest is round-half-even, as roundHalfEven), so
// the outputs are the plain path's bits. The descriptor at `desc` (byte offsets; see DESC):
export const DESC = {
  x: 0, w: 4, y: 8, T: 12, cols: 16, blk: 20, sums: 24, mult: 28, ch: 32, rowMax: 36, rowOvf: 40, rows: 44,
  zfix: 48, sIn: 56, sOut: 64, zOut: 72, qmin: 80, qmax: 88, bytes: 96,
} as const; // prettier-ignore

function qrqFunction(layout: IntegerLayout): { locals: ValType[]; body: Code } {
  const get = op.localGet;
  const set = op.localSet;
  let n = 0;
  const DSC = n++, RA = n++, RB = n++; // prettier-ignore
  const [X_, W_, Y_, T_, COLS_, BLK_, SUMS_, MULT_, CH_, RMAX_, ROVF_, ROWS_, NK_, R_, TT_, K_, KEND_, WROW_, XROW_, B_, WSTRIDE_, OVF_] = Array.from({ length: 22 }, () => n++);
  const [ZFIX_, SIN_, SOUT_, ZOUT_, QMIN_, QMAX_, ACCF_, M_, A_, MAXR_, V_] = Array.from({ length: 11 }, () => n++);
  const [ACCV_, WV_, LO_] = Array.from({ length: 3 }, () => n++);
  const S_ = n++;
  const WP_ = n++;
  const L: StepLocals = { ACC: ACCV_, WV: WV_, LO: LO_, XP: XROW_, WP: WP_ };
  const ldI = (field: number, local: number) => code(get(DSC), op.i32Load(field), set(local));
  const ldF = (field: number, local: number) => code(get(DSC), op.f64Load(field), set(local));
  const i32Load8U = (offset = 0): Code => code(0x2d, memarg(0, offset));
  const f64ConvertI32S: Code = [0xb7];
  const f64ConvertI32U: Code = [0xb8];
  const f64Nearest: Code = [0x9e];
  const f64Abs: Code = [0x99];
  const f64Min: Code = [0xa4];
  const f64Max: Code = [0xa5];
  const f64Gt: Code = [0x64];
  const f64Ge: Code = [0x66];
  const rowIdx = (base: number, shift: number) => code(get(base), get(R_), get(NK_), op.i32Mul, get(B_), op.i32Add, op.i32Const(shift), op.i32Shl, op.i32Add);
  return {
    locals: [...Array<ValType>(22).fill(I32), ...Array<ValType>(11).fill(F64), V128, V128, V128, I64, I32],
    body: code(
      get(RA), get(RB), op.i32LtU,
      op.if(),
      ldI(DESC.x, X_), ldI(DESC.w, W_), ldI(DESC.y, Y_), ldI(DESC.T, T_), ldI(DESC.cols, COLS_), ldI(DESC.blk, BLK_),
      ldI(DESC.sums, SUMS_), ldI(DESC.mult, MULT_), ldI(DESC.ch, CH_), ldI(DESC.rowMax, RMAX_), ldI(DESC.rowOvf, ROVF_), ldI(DESC.rows, ROWS_),
      ldF(DESC.zfix, ZFIX_), ldF(DESC.sIn, SIN_), ldF(DESC.sOut, SOUT_), ldF(DESC.zOut, ZOUT_), ldF(DESC.qmin, QMIN_), ldF(DESC.qmax, QMAX_),
      get(COLS_), get(BLK_), op.i32DivU, set(NK_),
      layout === "i4x32" ? code(get(COLS_), op.i32Const(1), op.i32ShrU) : get(COLS_), set(WSTRIDE_),
      get(RA), set(R_),
      op.loop(),
      get(W_), get(R_), get(WSTRIDE_), op.i32Mul, op.i32Add, set(WROW_),
      // m = (sIn · f64(ch[r])) / sOut
      get(SIN_), get(CH_), get(R_), op.i32Const(2), op.i32Shl, op.i32Add, op.f32Load(0), op.f64PromoteF32, op.f64Mul, get(SOUT_), op.f64Div, set(M_),
      op.f64Const(0), set(MAXR_),
      op.i32Const(0), set(OVF_),
      op.i32Const(0), set(TT_),
      op.loop(),
      // XP = x + t · cols · 2 (K: the token row's end), WP = the weight row
      get(X_), get(TT_), get(COLS_), op.i32Mul, op.i32Const(1), op.i32Shl, op.i32Add, op.localTee(XROW_),
      get(COLS_), op.i32Const(1), op.i32Shl, op.i32Add, set(K_),
      get(WROW_), set(WP_),
      op.i32Const(0), set(B_),
      op.f64Const(0), set(ACCF_),
      op.loop(),
      blockInner(layout, L, KEND_, BLK_),
      // P_b: the four int32 lanes (each < 2^30 in magnitude) widened to int64 and summed, as float64
      i64Const0, set(S_),
      ...[0, 1, 2, 3].map((l) => code(get(S_), get(ACCV_), i32x4ExtractLane(l), i64ExtendI32S, i64Add, set(S_))),
      // part_b = P_b + zfix · S[r·nk + b]
      get(S_), f64ConvertI64S, get(ZFIX_), rowIdx(SUMS_, 2), op.i32Load(0), f64ConvertI32S, op.f64Mul, op.f64Add, set(V_),
      get(MULT_),
      op.if(),
      get(V_), rowIdx(MULT_, 0), i32Load8U(0), f64ConvertI32U, op.f64Mul, set(V_),
      op.end,
      get(ACCF_), get(V_), op.f64Add, set(ACCF_),
      get(B_), op.i32Const(1), op.i32Add, set(B_),
      get(XROW_), get(K_), op.i32LtU, op.brIf(0),
      op.end,
      // statistics
      get(ACCF_), f64Abs, op.localTee(A_), get(MAXR_), f64Gt,
      op.if(), get(A_), set(MAXR_), op.end,
      get(OVF_), get(A_), op.f64Const(2 ** 31), f64Ge, op.i32Add, set(OVF_),
      // y[t·rows + r] = f32((clamp(nearest(acc·m) + zOut, qmin, qmax) − zOut) · sOut)
      get(Y_), get(TT_), get(ROWS_), op.i32Mul, get(R_), op.i32Add, op.i32Const(2), op.i32Shl, op.i32Add,
      get(ACCF_), get(M_), op.f64Mul, f64Nearest, get(ZOUT_), op.f64Add, get(QMIN_), f64Max, get(QMAX_), f64Min,
      get(ZOUT_), op.f64Sub, get(SOUT_), op.f64Mul, op.f32DemoteF64, op.f32Store(0, 2),
      get(TT_), op.i32Const(1), op.i32Add, op.localTee(TT_), get(T_), op.i32LtU, op.brIf(0),
      op.end,
      get(RMAX_), get(R_), op.i32Const(3), op.i32Shl, op.i32Add, get(MAXR_), op.f64Store(0, 3),
      get(ROVF_), get(R_), op.i32Const(2), op.i32Shl, op.i32Add, get(OVF_), op.i32Store(0, 2),
      get(R_), op.i32Const(1), op.i32Add, op.localTee(R_), get(RB), op.i32LtU, op.brIf(0),
      op.end,
      op.end,
    ),
  };
}

// qx(src, dst, n, inv, zp, qmin, qmax): activation codes of n float32 values at src (n a multiple of 8, no NaN) as the
// kernels' int16 operands x' = q − 32768 at dst, q = quantizeAct in float32 lanes (simd-quantize.ts); subtracting
// 32768 is exact, and the result is an integer in [−32768, 32767], so the conversion to int32 and the narrowing to
// int16 are exact.
const I32X4_TRUNC_SAT_F32X4_S = 0xf8;
const I16X8_NARROW_I32X4_S = 0x85;
function qxFunction(): Omit<FunctionDef, "name" | "params" | "results"> {
  const get = op.localGet;
  const set = op.localSet;
  const [SRC, DST, N, INV, ZP, QMIN, QMAX] = [0, 1, 2, 3, 4, 5, 6];
  const [END, VINV, VZP, VMIN, VMAX, VOFF] = [7, 8, 9, 10, 11, 12];
  const enc = { inv: VINV, zp: VZP, lo: VMIN, hi: VMAX };
  const codes = (offset: number): Code =>
    code(get(SRC), op.v128Load(offset, 0), quantizeLanes(enc), get(VOFF), op.f32x4Sub, simd(I32X4_TRUNC_SAT_F32X4_S));
  return {
    locals: [I32, V128, V128, V128, V128, V128],
    body: code(
      get(SRC), get(N), op.i32Const(2), op.i32Shl, op.i32Add, set(END),
      splatEncoding({ inv: INV, zp: ZP, qmin: QMIN, qmax: QMAX }, enc),
      op.f32Const(32768), op.f32x4Splat, set(VOFF),
      get(SRC), get(END), op.i32LtU,
      op.if(),
      op.loop(),
      get(DST), codes(0), codes(16), simd(I16X8_NARROW_I32X4_S), op.v128Store(0, 0),
      get(DST), op.i32Const(16), op.i32Add, set(DST),
      get(SRC), op.i32Const(32), op.i32Add, op.localTee(SRC),
      get(END), op.i32LtU, op.brIf(0),
      op.end,
      op.end,
    ),
  };
}

/** The memory the kernels import (shared: the pool's threads all run on it). */
export const INTEGER_KERNEL_MEMORY = { module: "env", name: "mem", minPages: 1, maxPages: 65536, shared: true } as const;

const exportName = (layout: IntegerLayout) => `qdot_${layout}`;

/** The module's bytes: `qdot_<layout>(x, w, out, T, cols, blk, r0, r1)` and `qrq_<layout>(desc, r0, r1)` per layout. */
export function integerKernelBytes(): Uint8Array {
  const functions: FunctionDef[] = [
      ...LAYOUTS.map((l): FunctionDef => ({
        name: exportName(l),
        params: [I32, I32, I32, I32, I32, I32, I32, I32],
        results: [],
        locals: [I32, I32, I32, I32, I32, I32, I32, I32, V128, V128, V128, I64, I32],
        body: qdotBody(l),
      })),
      ...LAYOUTS.map((l): FunctionDef => ({ name: `qrq_${l}`, params: [I32, I32, I32], results: [], ...qrqFunction(l) })),
      { name: "qx", params: [I32, I32, I32, F32, F32, F32, F32], results: [], ...qxFunction() },
  ];
  return encodeModule({ memory: INTEGER_KERNEL_MEMORY, functions });
}

let supported: boolean | undefined;
/** Whether this runtime validates the kernels (WebAssembly SIMD and shared memories). */
export function integerKernelSupported(): boolean {
  if (supported === undefined) {
    try {
      supported = WebAssembly.validate(integerKernelBytes()) && typeof SharedArrayBuffer === "function";
    } catch {
      supported = false;
    }
  }
  return supported;
}

let moduleCache: WebAssembly.Module | undefined;
const kernelModule = () => (moduleCache ??= new WebAssembly.Module(integerKernelBytes()));

/** The kernels over one shared memory with a bump allocator, run on the calling thread or split over a pool. */
export interface IntegerKernel {
  /** Threads a call is split over (1: the calling thread only). */
  readonly threads: number;
  readonly memory: WebAssembly.Memory;
  /** Byte offset of a fresh region of `bytes` bytes (16-byte aligned); the memory grows as needed. */
  alloc(bytes: number): number;
  /** out[(r·T + t)·(cols/blk) + b] for every row r < rows (see the header); split over the threads by rows. */
  qdot(layout: IntegerLayout, x: number, w: number, out: number, T: number, rows: number, cols: number, blk: number): void;
  /**
   * The fused conv of the descriptor at `desc` (DESC: block sums, accumulation, statistics per row, requantization)
   * for every row r < rows; split over the threads by rows when it has at least `macs` multiply-adds.
   */
  qrq(layout: IntegerLayout, desc: number, rows: number, macs: number): void;
  /**
   * The int16 operands x' = q − 32768 of n float32 activations at `src` (n a multiple of 8, no NaN) into `dst`, q =
   * quantizeAct under (inv = fp32(1/scale), zp, qmin, qmax); on the calling thread (see qxFunction).
   */
  qx(src: number, dst: number, n: number, inv: number, zp: number, qmin: number, qmax: number): void;
  /** The pool's counters (undefined with one thread). */
  readonly poolStats?: PoolStats;
  /** Ends the pool's workers (a no-op with one thread). */
  dispose(): void;
}

/** Multiply-adds below which a call stays on the calling thread (waking the workers costs more). */
const PARALLEL_MIN_MACS = 1 << 16;

export interface IntegerKernelOptions {
  /** Multiply-adds from which a call is split over the threads (default 2^16; 0 = always, for tests). */
  parallelMinMacs?: number;
  /** See pool.ts PoolOptions. */
  spinMicros?: number;
}

/** The kernels on `threads` threads (the calling one included: 1 = no workers). */
export async function createIntegerKernel(threads = 1, o: IntegerKernelOptions = {}): Promise<IntegerKernel> {
  if (threads <= 1) return createIntegerKernelSync();
  const memory = new WebAssembly.Memory({ initial: 1, maximum: INTEGER_KERNEL_MEMORY.maxPages, shared: true });
  const kernels = [...LAYOUTS.map((l) => ({ wasm: exportName(l), args: 6, at: 6, arrays: 0 })), ...LAYOUTS.map((l) => ({ wasm: `qrq_${l}`, args: 1, at: 1, arrays: 0 }))];
  const pool = await createPool({ threads, kernels, module: kernelModule(), memories: [memory], spinMicros: o.spinMicros });
  // qx runs on the calling thread: an instance of its own over the shared memory.
  const qx = new WebAssembly.Instance(kernelModule(), { env: { mem: memory } }).exports.qx as (...a: number[]) => void;
  return wrap(memory, threads, pool, undefined, qx, o.parallelMinMacs ?? PARALLEL_MIN_MACS);
}

/** The kernels on the calling thread only (synchronous). */
export function createIntegerKernelSync(): IntegerKernel {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: INTEGER_KERNEL_MEMORY.maxPages, shared: true });
  const e = new WebAssembly.Instance(kernelModule(), { env: { mem: memory } }).exports;
  const fns = (name: (l: IntegerLayout) => string) => Object.fromEntries(LAYOUTS.map((l) => [l, e[name(l)] as (...a: number[]) => void])) as Direct;
  return wrap(memory, 1, undefined, { qdot: fns(exportName), qrq: fns((l) => `qrq_${l}`) }, e.qx as (...a: number[]) => void);
}

type Direct = Record<IntegerLayout, (...a: number[]) => void>;

function wrap(
  memory: WebAssembly.Memory,
  threads: number,
  pool: Pool | undefined,
  direct: { qdot: Direct; qrq: Direct } | undefined,
  qx: (...a: number[]) => void,
  parallelMinMacs = PARALLEL_MIN_MACS,
): IntegerKernel {
  const args = [0, 0, 0, 0, 0, 0];
  const one = [0];
  return {
    threads,
    memory,
    poolStats: pool?.stats,
    alloc: createBumpAllocator(memory),
    qdot(layout, x, w, out, T, rows, cols, blk) {
      if (cols % blk !== 0 || blk % (layout === "i8x8" ? 8 : GROUP) !== 0 || blk > MAX_BLOCK) throw new RangeError(`integer kernel: block ${blk} does not fit ${layout} over ${cols} columns`);
      if (direct) return direct.qdot[layout](x, w, out, T, cols, blk, 0, rows);
      args[0] = x;
      args[1] = w;
      args[2] = out;
      args[3] = T;
      args[4] = cols;
      args[5] = blk;
      pool!.run({ kernel: LAYOUTS.indexOf(layout), shard: 0, units: rows, args }, rows * T * cols >= parallelMinMacs);
    },
    qrq(layout, desc, rows, macs) {
      if (direct) return direct.qrq[layout](desc, 0, rows);
      one[0] = desc;
      pool!.run({ kernel: LAYOUTS.length + LAYOUTS.indexOf(layout), shard: 0, units: rows, args: one }, macs >= parallelMinMacs);
    },
    qx(src, dst, n, inv, zp, qmin, qmax) {
      if (n % 8 !== 0) throw new RangeError(`integer kernel: qx of ${n} values (a multiple of 8 is needed)`);
      qx(src, dst, n, inv, zp, qmin, qmax);
    },
    dispose: () => pool?.dispose(),
  };
}
