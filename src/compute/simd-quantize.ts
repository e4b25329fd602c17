// Owns activations.ts's quantizeAct in float32 WebAssembly SIMD lanes, as a code fragment the hand-written kernels
// share (int-dot.ts fq, integer-kernel.ts qx, integer-attention.ts kscores / pv):
//   q = clamp(nearest(x · inv) + zp, qmin, qmax)
// with inv = fp32(1 / scale). This is quantizeAct exactly: f32x4.mul gives the correctly rounded float32 product
// fround(x·inv); roundHalfEven of a float32 value is `nearest`; adding an integer zero point is exact below 2^24 (a sum
// past it clamps to the same bound either way); the bounds are integers. NaN lanes stay NaN (callers detect them).
import { code, op, uleb128, type Code } from "./encoder.js";

const simd = (opcode: number): Code => code(0xfd, uleb128(opcode));
export const f32x4Nearest = simd(0x6a);
export const f32x4Ne = simd(0x42);
export const v128AnyTrue = simd(0x53);

/** The encoding's four operands splatted into v128 locals (from the f32 locals inv, zp, qmin, qmax). */
export function splatEncoding(from: { inv: number; zp: number; qmin: number; qmax: number }, to: { inv: number; zp: number; lo: number; hi: number }): Code {
  const get = op.localGet;
  const set = op.localSet;
  return code(
    get(from.inv), op.f32x4Splat, set(to.inv),
    get(from.zp), op.f32x4Splat, set(to.zp),
    get(from.qmin), op.f32x4Splat, set(to.lo),
    get(from.qmax), op.f32x4Splat, set(to.hi),
  );
}

/** Replaces the f32x4 values on the stack by their codes q (f32x4), the encoding in v128 locals (splatEncoding). */
export function quantizeLanes(v: { inv: number; zp: number; lo: number; hi: number }): Code {
  const get = op.localGet;
  return code(get(v.inv), op.f32x4Mul, f32x4Nearest, get(v.zp), op.f32x4Add, get(v.lo), op.f32x4Max, get(v.hi), op.f32x4Min);
}
