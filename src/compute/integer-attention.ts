// Owns the WebAssembly SIMD kernels of the quantized simulation's attention matmuls (issue 18, item 3): q·K and
// softmax·V on integer codes, the same exact sums as src/quant/current/integer.ts's integerScores /
// integerProbsTimesV. The left operand's centred codes (q − z: hd of them, or p − z: cols of them) come in as
// float64 (the caller converts them); the right operand (K or V) comes in as its fp32 values, and the kernel converts
// each to its centred code with quantizeAct's expression in float32 lanes:
//   code = clamp(nearest(fp32(x · inv)) + zp, qmin, qmax) − zp
// (fp32(x·inv) is the float32 product; roundHalfEven of a float32 value is `nearest`; adding an integer zero point is
// exact below 2^24, and a sum past 2^24 clamps to the same bound either way; the clamped code minus zp is exact), then
// widens it to float64 and accumulates code_left · code_right in float64 lanes.
// EXACTNESS BOUND: |centred code| ≤ 65535 < 2^16, so each product is an integer below 2^32 in magnitude and a sum of
// fewer than 2^21 products stays below 2^53: every partial sum is exact, so the result is the plain path's exact
// integer whatever the lane split or order (hd and the context length are far below 2^21). A NaN input is reported
// (return value 1) and the caller uses the plain path, which handles it as it always has.
//
// kscores(qc, k, ld, hd, cols4, inv, zp, qmin, qmax, out) -> nan: out[c] = Σ_d qc[d] · code(k[d·ld + c]) for c < cols4
//   (a multiple of 4; K stored [hd, ld] fp32 row-major, ld ≥ cols4), out float64.
// pv(pc, v, hd4, cols, inv, zp, qmin, qmax, out) -> nan: out[d] = Σ_c pc[c] · code(v[c·hd4 + d]) for d < hd4 (a multiple
//   of 4; V stored [cols, hd4] fp32 row-major), out float64.
// Single-threaded (one call per query row and head; the convs are what the pool splits).
import { code, encodeModule, F32, I32, op, V128, type Code } from "./encoder.js";
import { f32x4Ne, quantizeLanes, splatEncoding, v128AnyTrue } from "./simd-quantize.js";

const f64x2Load = (offset = 0): Code => op.v128Load(offset, 3);

/** Converts the f32x4 on the stack to centred codes (f32x4), or-ing its NaN lanes into local `nan`. */
function codes(v: number, nan: number, inv: number, zp: number, lo: number, hi: number): Code {
  const get = op.localGet;
  return code(
    op.localSet(v),
    get(nan), get(v), get(v), f32x4Ne, op.v128Or, op.localSet(nan),
    get(v), quantizeLanes({ inv, zp, lo, hi }), get(zp), op.f32x4Sub,
  );
}

/** out[o .. o+3] (f64) += splat · f64(code lanes 0..3) with the codes (f32x4) in local `cv`. */
function accumulate4(out: number, splat: number, cv: number): Code {
  const get = op.localGet;
  return code(
    get(out), get(out), f64x2Load(0), get(splat), get(cv), op.f64x2PromoteLowF32x4, op.f64x2Mul, op.f64x2Add, op.v128Store(0, 3),
    get(out), get(out), f64x2Load(16), get(splat), get(cv), get(cv), op.i32x4Shuffle(2, 3, 0, 1), op.f64x2PromoteLowF32x4, op.f64x2Mul, op.f64x2Add, op.v128Store(16, 3),
  );
}

/** Zeroes n float64 at `ptr` (n a multiple of 2), using local `i`. */
function zero(ptr: number, n: number, i: number): Code {
  const get = op.localGet;
  return code(
    op.i32Const(0), op.localSet(i),
    get(i), get(n), op.i32LtU,
    op.if(),
    op.loop(),
    get(ptr), get(i), op.i32Const(3), op.i32Shl, op.i32Add, op.v128Const(new Uint8Array(16)), op.v128Store(0, 3),
    get(i), op.i32Const(2), op.i32Add, op.localTee(i), get(n), op.i32LtU, op.brIf(0),
    op.end,
    op.end,
  );
}

function kscoresBody(): Code {
  const get = op.localGet;
  const set = op.localSet;
  const [QC, K, LD, HD, COLS, INV, ZP, QMIN, QMAX, OUT] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [D, C, ROW, O] = [10, 11, 12, 13]; // i32
  const [V, NAN, VINV, VZP, VLO, VHI, QD] = [14, 15, 16, 17, 18, 19, 20]; // v128
  return code(
    zero(OUT, COLS, C),
    op.v128Const(new Uint8Array(16)), set(NAN),
    splatEncoding({ inv: INV, zp: ZP, qmin: QMIN, qmax: QMAX }, { inv: VINV, zp: VZP, lo: VLO, hi: VHI }),
    get(HD), get(COLS), op.i32Mul,
    op.if(),
    op.i32Const(0), set(D),
    op.loop(),
    get(QC), get(D), op.i32Const(3), op.i32Shl, op.i32Add, op.f64Load(0, 3), op.f64x2Splat, set(QD),
    get(K), get(D), get(LD), op.i32Mul, op.i32Const(2), op.i32Shl, op.i32Add, set(ROW),
    get(OUT), set(O),
    op.i32Const(0), set(C),
    op.loop(),
    get(ROW), op.v128Load(0, 2), codes(V, NAN, VINV, VZP, VLO, VHI), set(V),
    accumulate4(O, QD, V),
    get(ROW), op.i32Const(16), op.i32Add, set(ROW),
    get(O), op.i32Const(32), op.i32Add, set(O),
    get(C), op.i32Const(4), op.i32Add, op.localTee(C), get(COLS), op.i32LtU, op.brIf(0),
    op.end,
    get(D), op.i32Const(1), op.i32Add, op.localTee(D), get(HD), op.i32LtU, op.brIf(0),
    op.end,
    op.end,
    get(NAN), v128AnyTrue,
  );
}

function pvBody(): Code {
  const get = op.localGet;
  const set = op.localSet;
  const [PC, VP, HD, COLS, INV, ZP, QMIN, QMAX, OUT] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [C, D, ROW, O] = [9, 10, 11, 12]; // i32
  const [V, NAN, VINV, VZP, VLO, VHI, PS] = [13, 14, 15, 16, 17, 18, 19]; // v128
  return code(
    zero(OUT, HD, D),
    op.v128Const(new Uint8Array(16)), set(NAN),
    splatEncoding({ inv: INV, zp: ZP, qmin: QMIN, qmax: QMAX }, { inv: VINV, zp: VZP, lo: VLO, hi: VHI }),
    get(HD), get(COLS), op.i32Mul,
    op.if(),
    get(VP), set(ROW),
    op.i32Const(0), set(C),
    op.loop(),
    get(PC), get(C), op.i32Const(3), op.i32Shl, op.i32Add, op.f64Load(0, 3), op.f64x2Splat, set(PS),
    get(OUT), set(O),
    op.i32Const(0), set(D),
    op.loop(),
    get(ROW), op.v128Load(0, 2), codes(V, NAN, VINV, VZP, VLO, VHI), set(V),
    accumulate4(O, PS, V),
    get(ROW), op.i32Const(16), op.i32Add, set(ROW),
    get(O), op.i32Const(32), op.i32Add, set(O),
    get(D), op.i32Const(4), op.i32Add, op.localTee(D), get(HD), op.i32LtU, op.brIf(0),
    op.end,
    get(C), op.i32Const(1), op.i32Add, op.localTee(C), get(COLS), op.i32LtU, op.brIf(0),
    op.end,
    op.end,
    get(NAN), v128AnyTrue,
  );
}

export function integerAttentionBytes(): Uint8Array {
  return encodeModule({
    memory: { module: "env", name: "mem", minPages: 1 },
    functions: [
      { name: "kscores", params: [I32, I32, I32, I32, I32, F32, F32, F32, F32, I32], results: [I32], locals: [I32, I32, I32, I32, V128, V128, V128, V128, V128, V128, V128], body: kscoresBody() },
      { name: "pv", params: [I32, I32, I32, I32, F32, F32, F32, F32, I32], results: [I32], locals: [I32, I32, I32, I32, V128, V128, V128, V128, V128, V128, V128], body: pvBody() },
    ],
  });
}

let supported: boolean | undefined;
export function integerAttentionSupported(): boolean {
  if (supported === undefined) {
    try {
      supported = WebAssembly.validate(integerAttentionBytes());
    } catch {
      supported = false;
    }
  }
  return supported;
}

let moduleCache: WebAssembly.Module | undefined;

/** One instance over its own growable memory; regions are re-laid out by `reserve`. */
export interface IntegerAttentionKernel {
  memory: WebAssembly.Memory;
  /** Ensures the memory holds `bytes` bytes (views over memory.buffer must be re-made afterwards). */
  reserve(bytes: number): void;
  kscores(qc: number, k: number, ld: number, hd: number, cols4: number, inv: number, zp: number, qmin: number, qmax: number, out: number): boolean;
  pv(pc: number, v: number, hd4: number, cols: number, inv: number, zp: number, qmin: number, qmax: number, out: number): boolean;
}

export function createIntegerAttentionKernel(): IntegerAttentionKernel {
  const memory = new WebAssembly.Memory({ initial: 1 });
  moduleCache ??= new WebAssembly.Module(integerAttentionBytes());
  const e = new WebAssembly.Instance(moduleCache, { env: { mem: memory } }).exports;
  const ks = e.kscores as (...a: number[]) => number;
  const pv = e.pv as (...a: number[]) => number;
  return {
    memory,
    reserve(bytes) {
      const have = memory.buffer.byteLength;
      if (bytes > have) memory.grow(Math.ceil((bytes - have) / 65536));
    },
    kscores: (qc, k, ld, hd, cols4, inv, zp, qmin, qmax, out) => ks(qc, k, ld, hd, cols4, inv, zp, qmin, qmax, out) !== 0,
    pv: (pc, v, hd4, cols, inv, zp, qmin, qmax, out) => pv(pc, v, hd4, cols, inv, zp, qmin, qmax, out) !== 0,
  };
}
