// Owns the WebAssembly SIMD integer dot-product kernel of the quantized simulation's convs (issue 18): exact block sums
// P[r, t, b] = Σ_{j ∈ block b} x'_tj · w_rj of int16 activation codes x' and int8 weight codes w (int4 codes are int8
// values in [−8, 7]), written as float64 (exact: every sum here is an integer far below 2^53).
//
// Operands: activation codes q (8- or 16-bit, unsigned) enter as x' = q − 32768 (they fit int16); the zero point is
// put back by the caller from the weights' block sums S: Σ (q − z)·w = Σ x'·w + (32768 − z)·Σ w (src/quant/current/
// integer-fast.ts), so the integer result is the plain path's to the bit.
//
// The loop: per row, per token, per block of `blk` columns (a multiple of 8), `v128.load8x8_s` sign-extends 8 weight
// codes to int16, `i32x4.dot_i16x8_s` multiplies them with 8 activation codes and adds adjacent pairs into four int32
// lanes, accumulated over the block. Overflow bound: a pair adds at most 2·32768·128 = 2^23 to a lane, a block of at
// most 1024 columns is 128 steps, so a lane stays within 2^30 < 2^31. The four lanes are then summed in int64 and
// stored as float64. Deterministic: integer sums are exact, so order does not matter.
// The same module holds `fq`, the graph's q/dq in float32 SIMD lanes (see fqBody).
// Superseded for the convs by src/compute/integer-kernel.ts (threaded, int4 packed two per byte, accumulation and
// requantization in the kernel): the quantized graph calls only `fq` of this module now; `qdot` stays as a reference.
import { code, encodeModule, F32, I32, I64, op, uleb128, V128, type Code } from "./encoder.js";

/** Largest block the kernel sums in int32 lanes (see the overflow bound in the header). */
export const MAX_BLOCK = 1024;

const simd = (opcode: number, imm: Code = []): Code => code(0xfd, uleb128(opcode), imm);
const memarg = (alignLog2: number, offset: number): Code => code(uleb128(alignLog2), uleb128(offset));
const v128Load8x8S = (offset = 0): Code => simd(0x01, memarg(3, offset));
const i32x4DotI16x8S = simd(186);
const i32x4Add = simd(174);
const i32x4ExtractLane = (lane: number): Code => simd(27, [lane]);
const i64ExtendI32S: Code = [0xac];
const i64Add: Code = [0x7c];
const f64ConvertI64S: Code = [0xb9];
const i64Const0: Code = [0x42, 0x00];

// Parameters: x, w, out, T, rows, cols, blk (byte offsets / counts). Locals follow.
const [X, W, OUT, T, ROWS, COLS, BLK] = [0, 1, 2, 3, 4, 5, 6];
const [R, TT, K, KEND, WROW, XROW, O] = [7, 8, 9, 10, 11, 12, 13];
const ACC = 14; // v128
const S = 15; // i64

function qdotBody(): Code {
  const get = op.localGet;
  const set = op.localSet;
  return code(
    get(OUT), set(O),
    op.i32Const(0), set(R),
    op.loop(),
    // wRow = w + r * cols
    get(W), get(R), get(COLS), op.i32Mul, op.i32Add, set(WROW),
    op.i32Const(0), set(TT),
    op.loop(),
    // xRow = x + t * cols * 2
    get(X), get(TT), get(COLS), op.i32Mul, op.i32Const(1), op.i32Shl, op.i32Add, set(XROW),
    op.i32Const(0), set(K),
    op.loop(),
    op.v128Const(new Uint8Array(16)), set(ACC),
    get(K), get(BLK), op.i32Add, set(KEND),
    op.loop(),
    get(ACC),
    get(XROW), get(K), op.i32Const(1), op.i32Shl, op.i32Add, op.v128Load(0, 0),
    get(WROW), get(K), op.i32Add, v128Load8x8S(0),
    i32x4DotI16x8S,
    i32x4Add,
    set(ACC),
    get(K), op.i32Const(8), op.i32Add, op.localTee(K),
    get(KEND), op.i32LtU, op.brIf(0),
    op.end,
    // s = Σ lanes in int64; out[o] = f64(s)
    i64Const0, set(S),
    ...[0, 1, 2, 3].map((l) => code(get(S), get(ACC), i32x4ExtractLane(l), i64ExtendI32S, i64Add, set(S))),
    get(O), get(S), f64ConvertI64S, op.f64Store(0, 3),
    get(O), op.i32Const(8), op.i32Add, set(O),
    get(K), get(COLS), op.i32LtU, op.brIf(0),
    op.end,
    get(TT), op.i32Const(1), op.i32Add, op.localTee(TT), get(T), op.i32LtU, op.brIf(0),
    op.end,
    get(R), op.i32Const(1), op.i32Add, op.localTee(R), get(ROWS), op.i32LtU, op.brIf(0),
    op.end,
  );
}

// fq(ptr, n, inv, zp, qmin, qmax, scale) -> NaN seen: in-place q/dq of n float32 (n a multiple of 4) at ptr,
// x ← ((clamp(nearest(x·inv) + zp, qmin, qmax) − zp)·scale) in float32 lanes. This is activations.ts's fakeQuantInPlace
// exactly: fround(x·inv) is the float32 product; roundHalfEven of a float32 value is `nearest` (ties to even); adding and
// subtracting an integer zero point below 2^24 is exact; fround((q − zp)·scale) is the correctly rounded float32
// product. Returns 1 when an input was NaN (the caller reports it as the plain path does).
const f32x4Nearest = simd(106);
const f32x4Ne = simd(66);
const v128AnyTrue = simd(83);
function fqBody(): Code {
  const get = op.localGet;
  const set = op.localSet;
  const [PTR, N, INV, ZP, QMIN, QMAX, SCALE] = [0, 1, 2, 3, 4, 5, 6];
  const [END, V, NAN, VINV, VZP, VMIN, VMAX, VSC] = [7, 8, 9, 10, 11, 12, 13, 14];
  return code(
    get(PTR), get(N), op.i32Const(2), op.i32Shl, op.i32Add, set(END),
    op.v128Const(new Uint8Array(16)), set(NAN),
    get(INV), op.f32x4Splat, set(VINV),
    get(ZP), op.f32x4Splat, set(VZP),
    get(QMIN), op.f32x4Splat, set(VMIN),
    get(QMAX), op.f32x4Splat, set(VMAX),
    get(SCALE), op.f32x4Splat, set(VSC),
    get(PTR), get(END), op.i32LtU,
    op.if(),
    op.loop(),
    get(PTR), op.v128Load(0, 0), set(V),
    get(NAN), get(V), get(V), f32x4Ne, op.v128Or, set(NAN),
    get(PTR),
    get(V), get(VINV), op.f32x4Mul, f32x4Nearest, get(VZP), op.f32x4Add,
    get(VMIN), op.f32x4Max, get(VMAX), op.f32x4Min,
    get(VZP), op.f32x4Sub, get(VSC), op.f32x4Mul,
    op.v128Store(0, 0),
    get(PTR), op.i32Const(16), op.i32Add, op.localTee(PTR),
    get(END), op.i32LtU, op.brIf(0),
    op.end,
    op.end,
    get(NAN), v128AnyTrue,
  );
}

/** The kernel module's bytes: `qdot(x, w, out, T, rows, cols, blk)` and `fq(...)` over an imported memory env.mem. */
export function intDotModuleBytes(): Uint8Array {
  return encodeModule({
    memory: { module: "env", name: "mem", minPages: 1 },
    functions: [
      { name: "qdot", params: [I32, I32, I32, I32, I32, I32, I32], results: [], locals: [I32, I32, I32, I32, I32, I32, I32, V128, I64], body: qdotBody() },
      { name: "fq", params: [I32, I32, F32, F32, F32, F32, F32], results: [I32], locals: [I32, V128, V128, V128, V128, V128, V128, V128], body: fqBody() },
    ],
  });
}

/** Whether this runtime validates the kernel (WebAssembly SIMD). */
export function intDotSupported(): boolean {
  try {
    return WebAssembly.validate(intDotModuleBytes());
  } catch {
    return false;
  }
}

/** One instance of the kernel over its own growable memory, with a bump allocator. */
export interface IntDotInstance {
  memory: WebAssembly.Memory;
  /** Byte offset of a fresh region of `bytes` bytes (16-byte aligned); the memory grows as needed. */
  alloc(bytes: number): number;
  qdot(x: number, w: number, out: number, T: number, rows: number, cols: number, blk: number): void;
  /** In-place float32 q/dq of n values (n a multiple of 4) at byte offset ptr; true when one was NaN. */
  fq(ptr: number, n: number, inv: number, zp: number, qmin: number, qmax: number, scale: number): boolean;
}

export function createIntDotInstance(): IntDotInstance {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(intDotModuleBytes()), { env: { mem: memory } });
  const qdot = inst.exports.qdot as (...a: number[]) => void;
  const fq = inst.exports.fq as (...a: number[]) => number;
  let top = 16;
  return {
    memory,
    alloc(bytes: number): number {
      const at = (top + 15) & ~15;
      const end = at + bytes;
      if (end > 2 ** 32 - 65536) throw new RangeError(`the integer kernel's memory would exceed 4 GiB (${end} bytes)`);
      const have = memory.buffer.byteLength;
      if (end > have) memory.grow(Math.ceil((end - have) / 65536));
      top = end;
      return at;
    },
    qdot: (x, w, out, T, rows, cols, blk) => qdot(x, w, out, T, rows, cols, blk),
    fq: (ptr, n, inv, zp, qmin, qmax, scale) => fq(ptr, n, inv, zp, qmin, qmax, scale) !== 0,
  };
}

