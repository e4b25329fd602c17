// Owns the exact WebAssembly matmul of the fast reference path (exact-matmul.ts): a SIMD kernel whose every
// output is bit-identical to the oracle (src/engine/kernels.ts: fround(dotLanes4(W[r, :], x_t))).
//
// Why it is exact: dotLanes4 keeps four float64 lanes, lane k summing w[j]·x[j] for j ≡ k (mod 4) in ascending
// j, and returns (l0 + l1) + (l2 + l3). Here two f64x2 accumulators hold (l0, l1) and (l2, l3): each step
// promotes w[j..j+1] and w[j+2..j+3] from f32 to f64 (exact), multiplies by x[j..j+3] (already f64: the caller
// stores x promoted, which is exact too) and adds lane-wise — the same IEEE float64 roundings in the same
// order as the scalar code. A tail of n mod 4 columns goes to lanes 0, 1, 2 in scalar f64, as in dotLanes4;
// then (l0 + l1) + (l2 + l3) in f64 and one f32.demote (round to nearest even, = Math.fround). Only plain
// SIMD (no relaxed-SIMD, no FMA: WebAssembly never fuses a mul and an add), so the bits do not depend on the
// CPU. Only NaN payloads may differ from the JS oracle (WebAssembly may canonicalise them); NaN stays NaN.
//
// ABI: mm(w, x, y, t, m, n, r0, r1), all i32 byte addresses/counts in the imported memory env.mem:
//   w: W [m, n] fp32 row-major; x: X [t, n] float64 row-major; y: Y [t, m] fp32 row-major.
//   For r in [r0, r1) and every token row i < t: y[i*m + r] = fround(dotLanes4(W[r, :], x_i)).
// Rows outermost: one weight row (n·4 bytes) is read from memory once and reused from L1 for all t tokens,
// up to three tokens at a time (each promoted w pair shared by their dot products).
import { code, encodeModule, F64, I32, op, V128, type Code, type ValType } from "./encoder.js";

/** The memory the kernel imports: env.mem, shared (the worker pool's threads all use the same one; pool.ts binds env.mem). */
export const EXACT_KERNEL_MEMORY = { module: "env", name: "mem", minPages: 1, maxPages: 65536, shared: true } as const;

/** The kernel's export name. */
export const EXACT_MATMUL = "mm";

/** mm(w, x, y, t, m, n, r0, r1), byte addresses; see the file header. */
export type ExactMatMul = (w: number, x: number, y: number, t: number, m: number, n: number, r0: number, r1: number) => void;

// Locals (indices): parameters first, then scratch.
const W = 0, X = 1, Y = 2, T = 3, M = 4, N = 5, R0 = 6, R1 = 7; // prettier-ignore
const ROW = 8; // current row r
const TT = 9; // current token row i
const J = 10; // byte offset into the weight row (step 16)
const WROW = 11; // address of W[r, 0]
const XA = 12; // address of x_i (first token row of the block)
const NB4 = 13; // (n & ~3) * 4: byte length of the 4-aligned part of a weight row
const JX = 14; // byte offset into an x row (= 2·J)
const XROWB = 15; // n * 8: byte stride of an x row
/** Most token rows computed together (their dot products share each weight load). */
export const MAX_TOKEN_BLOCK = 4;
const XP = 16; // XP + k: address of x_{i+k}, k < MAX_TOKEN_BLOCK
const ACC = XP + MAX_TOKEN_BLOCK; // v128: ACC + 2k = (l0, l1), ACC + 2k + 1 = (l2, l3) of token row i+k
const WLO = ACC + 2 * MAX_TOKEN_BLOCK; // v128: promoted w[j], w[j+1]
const WHI = WLO + 1; // v128: promoted w[j+2], w[j+3]
const S0 = WHI + 1, S1 = S0 + 1, S2 = S0 + 2, S3 = S0 + 3; // prettier-ignore
const LOCALS: ValType[] = [
  ...Array<ValType>(XP + MAX_TOKEN_BLOCK - ROW).fill(I32),
  ...Array<ValType>(2 * MAX_TOKEN_BLOCK + 2).fill(V128),
  ...Array<ValType>(4).fill(F64),
];
const ZERO = op.v128Const(new Uint8Array(16));

/** acc += promote(w pair) * x pair, the x pair at address local `xPtr` + JX + xOff. */
const macc = (acc: number, wv: number, xPtr: number, xOff: number): Code =>
  code(op.localGet(acc), op.localGet(wv), op.localGet(xPtr), op.localGet(JX), op.i32Add, op.v128Load(xOff, 3), op.f64x2Mul, op.f64x2Add, op.localSet(acc));

/**
 * Finishes one dot product: lanes out of (acc01, acc23), the n mod 4 tail added in scalar f64 to lanes 0..2
 * (w at WROW + NB4, x at xPtr + 2·NB4), then y[tokenRow·m + r] = demote((l0 + l1) + (l2 + l3)).
 */
function finish(acc01: number, acc23: number, xPtr: number, tokenOffset: number): Code {
  const tail = (lane: number, s: number): Code =>
    code(
      op.localGet(N), op.i32Const(3), op.i32And, op.i32Const(lane), op.i32GtU,
      op.if(),
      op.localGet(s),
      op.localGet(WROW), op.localGet(NB4), op.i32Add, op.f32Load(lane * 4), op.f64PromoteF32,
      op.localGet(xPtr), op.localGet(NB4), op.i32Const(1), op.i32Shl, op.i32Add, op.f64Load(lane * 8),
      op.f64Mul, op.f64Add, op.localSet(s),
      op.end,
    );
  return code(
    op.localGet(acc01), op.f64x2ExtractLane(0), op.localSet(S0),
    op.localGet(acc01), op.f64x2ExtractLane(1), op.localSet(S1),
    op.localGet(acc23), op.f64x2ExtractLane(0), op.localSet(S2),
    op.localGet(acc23), op.f64x2ExtractLane(1), op.localSet(S3),
    tail(0, S0), tail(1, S1), tail(2, S2),
    // address y + ((i + tokenOffset)·m + r)·4
    op.localGet(Y), op.localGet(TT), op.i32Const(tokenOffset), op.i32Add, op.localGet(M), op.i32Mul, op.localGet(ROW), op.i32Add,
    op.i32Const(2), op.i32Shl, op.i32Add,
    op.localGet(S0), op.localGet(S1), op.f64Add, op.localGet(S2), op.localGet(S3), op.f64Add, op.f64Add,
    op.f32DemoteF64, op.f32Store(),
  );
}

/** Loads w[j..j+1] and w[j+2..j+3] of the current row, promoted to f64x2, into WLO / WHI. */
const loadW = code(
  op.localGet(WROW), op.localGet(J), op.i32Add, op.v128Load64Splat(0, 2), op.f64x2PromoteLowF32x4, op.localSet(WLO),
  op.localGet(WROW), op.localGet(J), op.i32Add, op.v128Load64Splat(8, 2), op.f64x2PromoteLowF32x4, op.localSet(WHI),
);

/** A loop over J = 0, 16, … < NB4 (JX = 2·J) around `body`. */
const columnLoop = (body: Code): Code =>
  code(
    op.i32Const(0), op.localSet(J), op.i32Const(0), op.localSet(JX),
    op.block(), op.loop(),
    op.localGet(J), op.localGet(NB4), op.i32GeU, op.brIf(1),
    body,
    op.localGet(J), op.i32Const(16), op.i32Add, op.localSet(J),
    op.localGet(JX), op.i32Const(32), op.i32Add, op.localSet(JX),
    op.br(0),
    op.end, op.end,
  );

/** tb token rows (TT … TT+tb-1, x rows from XA) against the current weight row: tb dot products at once. */
function tokenBlock(tb: number): Code {
  const zero = (l: number) => code(ZERO, op.localSet(l));
  const parts: Code[] = [];
  for (let k = 0; k < tb; k++) {
    parts.push(zero(ACC + 2 * k), zero(ACC + 2 * k + 1));
    parts.push(op.localGet(XA), op.localGet(XROWB), op.i32Const(k), op.i32Mul, op.i32Add, op.localSet(XP + k));
  }
  const body: Code[] = [loadW];
  for (let k = 0; k < tb; k++) body.push(macc(ACC + 2 * k, WLO, XP + k, 0), macc(ACC + 2 * k + 1, WHI, XP + k, 16));
  parts.push(columnLoop(code(...body)));
  for (let k = 0; k < tb; k++) parts.push(finish(ACC + 2 * k, ACC + 2 * k + 1, XP + k, k));
  return code(...parts);
}

/** While TT + tb <= t: a tb-token block, then TT += tb and XA += tb rows. */
const tokenLoop = (tb: number): Code =>
  code(
    op.block(), op.loop(),
    op.localGet(TT), op.i32Const(tb), op.i32Add, op.localGet(T), op.i32GtU, op.brIf(1),
    tokenBlock(tb),
    op.localGet(TT), op.i32Const(tb), op.i32Add, op.localSet(TT),
    op.localGet(XA), op.localGet(XROWB), op.i32Const(tb), op.i32Mul, op.i32Add, op.localSet(XA),
    op.br(0),
    op.end, op.end,
  );

function mmBody(tokenBlocks: readonly number[]): Code {
  return code(
    op.localGet(N), op.i32Const(-4), op.i32And, op.i32Const(2), op.i32Shl, op.localSet(NB4),
    op.localGet(N), op.i32Const(3), op.i32Shl, op.localSet(XROWB),
    op.localGet(R0), op.localSet(ROW),
    op.block(), op.loop(), // rows
    op.localGet(ROW), op.localGet(R1), op.i32GeU, op.brIf(1),
    op.localGet(W), op.localGet(ROW), op.localGet(N), op.i32Mul, op.i32Const(2), op.i32Shl, op.i32Add, op.localSet(WROW),
    op.i32Const(0), op.localSet(TT),
    op.localGet(X), op.localSet(XA),
    ...tokenBlocks.map(tokenLoop),
    op.localGet(ROW), op.i32Const(1), op.i32Add, op.localSet(ROW),
    op.br(0),
    op.end, op.end,
  );
}

/** Token blocks, largest first, ending with 1 (every t is covered). 3 measured best: 4 spills registers. */
export const DEFAULT_TOKEN_BLOCKS: readonly number[] = [3, 2, 1];

/** The kernel module's bytes: one export `mm`, importing EXACT_KERNEL_MEMORY. */
export function buildExactMatMulModule(tokenBlocks: readonly number[] = DEFAULT_TOKEN_BLOCKS): Uint8Array {
  if (tokenBlocks.length === 0 || tokenBlocks[tokenBlocks.length - 1] !== 1 || tokenBlocks.some((b, i) => !Number.isInteger(b) || b < 1 || b > MAX_TOKEN_BLOCK || (i > 0 && b >= tokenBlocks[i - 1])))
    throw new RangeError(`token blocks must decrease from at most ${MAX_TOKEN_BLOCK} to 1, got [${tokenBlocks.join(", ")}]`);
  return encodeModule({
    memory: { ...EXACT_KERNEL_MEMORY },
    functions: [{ name: EXACT_MATMUL, params: [I32, I32, I32, I32, I32, I32, I32, I32], results: [], locals: LOCALS, body: mmBody(tokenBlocks) }],
  });
}

/** Instantiates a compiled kernel module over a shared memory; returns its `mm`. */
export function instantiateExactMatMul(module: WebAssembly.Module, memory: WebAssembly.Memory): ExactMatMul {
  const inst = new WebAssembly.Instance(module, { [EXACT_KERNEL_MEMORY.module]: { [EXACT_KERNEL_MEMORY.name]: memory } });
  return inst.exports[EXACT_MATMUL] as ExactMatMul;
}
