// Owns the quantized simulation's q/dq in float32 WebAssembly SIMD lanes (issue 18): `fq`, activations.ts's
// fakeQuantInPlace for the graph's large q/dq points (K/V cache inputs, conv outputs), bit-identical (see fqBody).
// The integer convs and attention matmuls are src/compute/integer-kernel.ts and integer-attention.ts.
import { code, encodeModule, F32, I32, op, V128, type Code } from "./encoder.js";
import { createBumpAllocator } from "./bump-allocator.js";
import { f32x4Ne, quantizeLanes, splatEncoding, v128AnyTrue } from "./simd-quantize.js";

// fq(ptr, n, inv, zp, qmin, qmax, scale) -> NaN seen: in-place q/dq of n float32 (n a multiple of 4) at ptr,
// x ← ((clamp(nearest(x·inv) + zp, qmin, qmax) − zp)·scale) in float32 lanes. This is activations.ts's fakeQuantInPlace
// exactly: fround(x·inv) is the float32 product; roundHalfEven of a float32 value is `nearest` (ties to even); adding and
// subtracting an integer zero point below 2^24 is exact; fround((q − zp)·scale) is the correctly rounded float32
// product. Returns 1 when an input was NaN (the caller reports it as the plain path does).
function fqBody(): Code {
  const get = op.localGet;
  const set = op.localSet;
  const [PTR, N, INV, ZP, QMIN, QMAX, SCALE] = [0, 1, 2, 3, 4, 5, 6];
  const [END, V, NAN, VINV, VZP, VMIN, VMAX, VSC] = [7, 8, 9, 10, 11, 12, 13, 14];
  const enc = { inv: VINV, zp: VZP, lo: VMIN, hi: VMAX };
  return code(
    get(PTR), get(N), op.i32Const(2), op.i32Shl, op.i32Add, set(END),
    op.v128Const(new Uint8Array(16)), set(NAN),
    splatEncoding({ inv: INV, zp: ZP, qmin: QMIN, qmax: QMAX }, enc),
    get(SCALE), op.f32x4Splat, set(VSC),
    get(PTR), get(END), op.i32LtU,
    op.if(),
    op.loop(),
    get(PTR), op.v128Load(0, 0), set(V),
    get(NAN), get(V), get(V), f32x4Ne, op.v128Or, set(NAN),
    get(PTR),
    get(V), quantizeLanes(enc),
    get(VZP), op.f32x4Sub, get(VSC), op.f32x4Mul,
    op.v128Store(0, 0),
    get(PTR), op.i32Const(16), op.i32Add, op.localTee(PTR),
    get(END), op.i32LtU, op.brIf(0),
    op.end,
    op.end,
    get(NAN), v128AnyTrue,
  );
}

/** The module's bytes: `fq(...)` over an imported memory env.mem. */
export function intDotModuleBytes(): Uint8Array {
  return encodeModule({
    memory: { module: "env", name: "mem", minPages: 1 },
    functions: [
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

/** One instance of the module over its own growable memory, with a bump allocator. */
export interface IntDotInstance {
  memory: WebAssembly.Memory;
  /** Byte offset of a fresh region of `bytes` bytes (16-byte aligned); the memory grows as needed. */
  alloc(bytes: number): number;
  /** In-place float32 q/dq of n values (n a multiple of 4) at byte offset ptr; true when one was NaN. */
  fq(ptr: number, n: number, inv: number, zp: number, qmin: number, qmax: number, scale: number): boolean;
}

export function createIntDotInstance(): IntDotInstance {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(intDotModuleBytes()), { env: { mem: memory } });
  const fq = inst.exports.fq as (...a: number[]) => number;
  return {
    memory,
    alloc: createBumpAllocator(memory),
    fq: (ptr, n, inv, zp, qmin, qmax, scale) => fq(ptr, n, inv, zp, qmin, qmax, scale) !== 0,
  };
}

