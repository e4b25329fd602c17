// Owns the threaded WebAssembly SIMD integer kernels of the quantized simulation's convs (issue 18, item 3): exact
// block sums P[r, t, b] = Σ_{j ∈ block b} x'_tj · w_rj of int16 activation codes x' and int8 / packed int4 weight
// codes w, written as float64 (exact integers), over a range of output rows [r0, r1) — the work units the project's
// worker pool (pool.ts) splits over its threads.
//
// Operands (src/quant/current/integer-fast.ts prepares them): activation codes q (8- or 16-bit, unsigned) enter as
// x' = q − 32768 (they fit int16); the caller adds the zero point back from the weights' block sums S:
// Σ (q − z)·w = Σ x'·w + (32768 − z)·Σ w, the plain path's integer exactly.
// Weight layouts, row-major, every row padded with zero codes to `cols` (a multiple of the block):
// - "i8": one int8 code per byte (int8 codes; also int4 codes whose blocks are not a multiple of 32 columns);
// - "i4": int4 codes packed two per byte in groups of 32 columns: byte i (0 ≤ i < 16) of a group holds column i in its
//   low nibble and column i + 16 in its high nibble (two's complement nibbles), so one 16-byte load unpacks with
//   shl/shr_s into the group's columns 0..15 and 16..31 in order. Half the bytes of "i8".
//
// The loop: per row r, per token t, per block of `blk` columns: `i32x4.dot_i16x8_s` multiplies 8 activation codes by 8
// weight codes sign-extended to int16 and adds adjacent products into four int32 lanes, accumulated over the block.
// OVERFLOW BOUND: |x'| ≤ 32768 and |w| ≤ 128, so one product is at most 2^22 in magnitude; a lane receives 2 products
// per 8 columns, i.e. blk/4 products over a block, at most (blk/4)·2^22 = blk·2^20 ≤ 2^30 < 2^31 for blk ≤ MAX_BLOCK =
// 1024. So the int32 lanes never wrap within a block (a run of ≤ 1024 columns); between blocks the four lanes are
// widened to int64, added, and stored as float64 (exact: |sum| ≤ 2^32 < 2^53). Longer rows are several blocks, added
// by the caller in float64 (exact integers below 2^53, so in any order). The result is the exact integer, whatever
// the SIMD width or the thread count.
//
// Threads: the output rows are the pool's work units; each (r, t, b) is computed by exactly one thread with the same
// code in the same order, so the outputs do not depend on the thread count (and being exact integers, not even on
// the order). The memory is shared (imported as env.mem, as pool.ts binds it) and grows from the main thread.
import { code, encodeModule, I32, I64, op, uleb128, V128, type Code } from "./encoder.js";
import { createPool, type Pool, type PoolStats } from "./pool.js";

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

/** One step of the inner loop (columns K .. K + step of the current row and token), accumulating into ACC. */
function step(layout: IntegerLayout): Code {
  const get = op.localGet;
  const xAt = (bytes: number) => code(get(XROW), get(K), op.i32Const(1), op.i32Shl, op.i32Add, v128Load(bytes));
  const dot = (xBytes: number, w: Code) => code(get(ACC), xAt(xBytes), w, i32x4DotI16x8S, i32x4Add, op.localSet(ACC));
  if (layout === "i8x8") return dot(0, code(get(WROW), get(K), op.i32Add, v128Load8x8S(0)));
  if (layout === "i8x32") return code(...[0, 1, 2, 3].map((i) => dot(16 * i, code(get(WROW), get(K), op.i32Add, v128Load8x8S(8 * i)))));
  // i4x32: 16 bytes = 32 nibbles; low nibbles are columns 0..15, high nibbles 16..31 (sign-extended by shr_s).
  return code(
    get(WROW), get(K), op.i32Const(1), op.i32ShrU, op.i32Add, v128Load(0), op.localTee(WV),
    op.i32Const(4), i8x16Shl, op.i32Const(4), i8x16ShrS, op.localSet(LO),
    dot(0, code(get(LO), i16x8ExtendLowI8x16S)),
    dot(16, code(get(LO), i16x8ExtendHighI8x16S)),
    get(WV), op.i32Const(4), i8x16ShrS, op.localSet(LO),
    dot(32, code(get(LO), i16x8ExtendLowI8x16S)),
    dot(48, code(get(LO), i16x8ExtendHighI8x16S)),
  );
}

function qdotBody(layout: IntegerLayout): Code {
  const get = op.localGet;
  const set = op.localSet;
  const stepCols = layout === "i8x8" ? 8 : GROUP;
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
    get(X), get(TT), get(COLS), op.i32Mul, op.i32Const(1), op.i32Shl, op.i32Add, set(XROW),
    op.i32Const(0), set(K),
    op.loop(),
    op.v128Const(new Uint8Array(16)), set(ACC),
    get(K), get(BLK), op.i32Add, set(KEND),
    op.loop(),
    step(layout),
    get(K), op.i32Const(stepCols), op.i32Add, op.localTee(K),
    get(KEND), op.i32LtU, op.brIf(0),
    op.end,
    // the block's four int32 lanes (each < 2^30 in magnitude) widened to int64, summed, stored as float64
    i64Const0, set(S),
    ...[0, 1, 2, 3].map((l) => code(get(S), get(ACC), i32x4ExtractLane(l), i64ExtendI32S, i64Add, set(S))),
    get(O), get(S), f64ConvertI64S, op.f64Store(0, 3),
    get(O), op.i32Const(8), op.i32Add, set(O),
    get(K), get(COLS), op.i32LtU, op.brIf(0),
    op.end,
    get(TT), op.i32Const(1), op.i32Add, op.localTee(TT), get(T), op.i32LtU, op.brIf(0),
    op.end,
    get(R), op.i32Const(1), op.i32Add, op.localTee(R), get(R1), op.i32LtU, op.brIf(0),
    op.end,
    op.end,
  );
}

/** The memory the kernels import (shared: the pool's threads all run on it). */
export const INTEGER_KERNEL_MEMORY = { module: "env", name: "mem", minPages: 1, maxPages: 65536, shared: true } as const;

const exportName = (layout: IntegerLayout) => `qdot_${layout}`;

/** The module's bytes: one export `qdot_<layout>(x, w, out, T, cols, blk, r0, r1)` per layout. */
export function integerKernelBytes(): Uint8Array {
  return encodeModule({
    memory: INTEGER_KERNEL_MEMORY,
    functions: LAYOUTS.map((l) => ({
      name: exportName(l),
      params: [I32, I32, I32, I32, I32, I32, I32, I32],
      results: [],
      locals: [I32, I32, I32, I32, I32, I32, I32, I32, V128, V128, V128, I64],
      body: qdotBody(l),
    })),
  });
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
  const kernels = LAYOUTS.map((l) => ({ wasm: exportName(l), args: 6, at: 6, arrays: 0 }));
  const pool = await createPool({ threads, kernels, module: kernelModule(), memories: [memory], spinMicros: o.spinMicros });
  return wrap(memory, threads, pool, undefined, o.parallelMinMacs ?? PARALLEL_MIN_MACS);
}

/** The kernels on the calling thread only (synchronous). */
export function createIntegerKernelSync(): IntegerKernel {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: INTEGER_KERNEL_MEMORY.maxPages, shared: true });
  const e = new WebAssembly.Instance(kernelModule(), { env: { mem: memory } }).exports;
  const direct = Object.fromEntries(LAYOUTS.map((l) => [l, e[exportName(l)] as (...a: number[]) => void])) as Record<IntegerLayout, (...a: number[]) => void>;
  return wrap(memory, 1, undefined, direct);
}

function wrap(memory: WebAssembly.Memory, threads: number, pool: Pool | undefined, direct: Record<IntegerLayout, (...a: number[]) => void> | undefined, parallelMinMacs = PARALLEL_MIN_MACS): IntegerKernel {
  let top = 16;
  const args = [0, 0, 0, 0, 0, 0];
  return {
    threads,
    memory,
    poolStats: pool?.stats,
    alloc(bytes: number): number {
      const at = (top + 15) & ~15;
      const end = at + bytes;
      if (end > 2 ** 32 - 65536) throw new RangeError(`the integer kernel's memory would exceed 4 GiB (${end} bytes)`);
      const have = memory.buffer.byteLength;
      if (end > have) memory.grow(Math.ceil((end - have) / 65536));
      top = end;
      return at;
    },
    qdot(layout, x, w, out, T, rows, cols, blk) {
      if (cols % blk !== 0 || blk % (layout === "i8x8" ? 8 : GROUP) !== 0 || blk > MAX_BLOCK) throw new RangeError(`integer kernel: block ${blk} does not fit ${layout} over ${cols} columns`);
      if (direct) return direct[layout](x, w, out, T, cols, blk, 0, rows);
      args[0] = x;
      args[1] = w;
      args[2] = out;
      args[3] = T;
      args[4] = cols;
      args[5] = blk;
      pool!.run({ kernel: LAYOUTS.indexOf(layout), shard: 0, units: rows, args }, rows * T * cols >= parallelMinMacs);
    },
    dispose: () => pool?.dispose(),
  };
}
