// The WebAssembly encoder: LEB128 against the spec's worked examples, modules that WebAssembly.validate accepts
// and that compute what plain JS computes (control flow, i32, f32/f64, SIMD loads/stores/lanes/shuffles),
// the shared-memory import, and bad arguments refused.
import { describe, expect, it } from "vitest";
import { code, encodeModule, F32, F64, I32, op, sleb128, uleb128, V128, VOID, type FunctionDef } from "../../src/compute/encoder.js";

const run = (fns: FunctionDef[], pages = 1) => {
  const bytes = encodeModule({ memory: { module: "env", name: "mem", minPages: 1, maxPages: 16, shared: true }, functions: fns });
  expect(WebAssembly.validate(bytes)).toBe(true);
  const mem = new WebAssembly.Memory({ initial: pages, maximum: 16, shared: true });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { mem } });
  return { ex: inst.exports as Record<string, (...a: number[]) => number>, f32: new Float32Array(mem.buffer), i32: new Int32Array(mem.buffer) };
};

describe("LEB128", () => {
  it("matches the worked examples of the DWARF / WebAssembly specs", () => {
    expect(uleb128(0)).toEqual([0]);
    expect(uleb128(127)).toEqual([0x7f]);
    expect(uleb128(128)).toEqual([0x80, 0x01]);
    expect(uleb128(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(uleb128(2 ** 32 - 1)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(sleb128(0)).toEqual([0]);
    expect(sleb128(-1)).toEqual([0x7f]);
    expect(sleb128(63)).toEqual([0x3f]);
    expect(sleb128(64)).toEqual([0xc0, 0x00]);
    expect(sleb128(-64)).toEqual([0x40]);
    expect(sleb128(-65)).toEqual([0xbf, 0x7f]);
    expect(sleb128(-123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(sleb128(-(2 ** 31))).toEqual([0x80, 0x80, 0x80, 0x80, 0x78]);
  });

  it("refuses negative or non-integer input", () => {
    expect(() => uleb128(-1)).toThrow(RangeError);
    expect(() => uleb128(1.5)).toThrow(RangeError);
    expect(() => sleb128(0.5)).toThrow(RangeError);
  });

  it("i32.const round-trips the whole i32 range (as signed)", () => {
    const vals = [0, 1, -1, 63, 64, -64, -65, 8191, 8192, 2 ** 31 - 1, -(2 ** 31), 2 ** 32 - 1, 123456789];
    const { ex } = run(vals.map((v, i) => ({ name: `c${i}`, params: [], results: [I32], body: op.i32Const(v) })));
    vals.forEach((v, i) => expect(ex[`c${i}`]()).toBe(v | 0));
  });
});

describe("modules", () => {
  it("an empty module and one without memory validate", () => {
    expect(WebAssembly.validate(encodeModule({ functions: [] }))).toBe(true);
    const bytes = encodeModule({ functions: [{ name: "id", params: [F64], results: [F64], body: op.localGet(0) }] });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes));
    expect((inst.exports.id as (x: number) => number)(2.5)).toBe(2.5);
  });

  it("shares one type between equal signatures and calls by function index", () => {
    const { ex } = run([
      { params: [I32, I32], results: [I32], body: code(op.localGet(0), op.localGet(1), op.i32Mul) },
      { name: "sq_plus", params: [I32, I32], results: [I32], body: code(op.localGet(0), op.localGet(0), op.call(0), op.localGet(1), op.i32Add) },
    ]);
    expect(ex.sq_plus(7, 3)).toBe(52);
    expect(ex["0"]).toBeUndefined();
  });

  it("loops, blocks, br_if and locals: sum of 0..n-1 and a nested early exit", () => {
    const sum: FunctionDef = {
      name: "sum",
      params: [I32],
      results: [I32],
      locals: [I32, I32],
      body: code(
        op.block(VOID), op.localGet(0), op.i32Eqz, op.brIf(0),
        op.loop(VOID),
        op.localGet(2), op.localGet(1), op.i32Add, op.localSet(2),
        op.localGet(1), op.i32Const(1), op.i32Add, op.localTee(1), op.localGet(0), op.i32LtU, op.brIf(0),
        op.end, op.end,
        op.localGet(2),
      ),
    };
    const sel: FunctionDef = {
      name: "clamp10",
      params: [I32],
      results: [I32],
      body: code(op.localGet(0), op.i32Const(10), op.i32GtS, op.if(I32), op.i32Const(10), op.else, op.localGet(0), op.end),
    };
    const { ex } = run([sum, sel]);
    for (const n of [0, 1, 2, 10, 1000]) expect(ex.sum(n)).toBe((n * (n - 1)) / 2 + 0);
    expect(ex.clamp10(3)).toBe(3);
    expect(ex.clamp10(11)).toBe(10);
  });

  it("scalar float ops round like Math.fround", () => {
    const { ex } = run([
      { name: "f32muladd", params: [F32, F32, F32], results: [F32], body: code(op.localGet(0), op.localGet(1), op.f32Mul, op.localGet(2), op.f32Add) },
      { name: "f64div", params: [F64, F64], results: [F64], body: code(op.localGet(0), op.localGet(1), op.f64Div) },
      { name: "demote", params: [F64], results: [F32], body: code(op.localGet(0), op.f32DemoteF64) },
      { name: "k", params: [], results: [F32], body: op.f32Const(0.1) },
    ]);
    const f = Math.fround;
    const [a, b, c] = [f(1.1), f(3.3), f(-0.7)];
    expect(ex.f32muladd(a, b, c)).toBe(f(f(a * b) + c));
    expect(ex.f64div(1, 3)).toBe(1 / 3);
    expect(ex.demote(1 / 3)).toBe(f(1 / 3));
    expect(ex.k()).toBe(f(0.1));
  });

  it("SIMD: v128 load/store, splat, lanes, f32x4 arithmetic, shuffles, f64x2 promote/demote", () => {
    const V = (addr: number) => code(op.i32Const(addr), op.v128Load());
    const fns: FunctionDef[] = [
      // mem[32..] = (mem[0..] * mem[16..]) + splat(2)
      { name: "fma4", params: [], results: [], body: code(op.i32Const(32), V(0), V(16), op.f32x4Mul, op.f32Const(2), op.f32x4Splat, op.f32x4Add, op.v128Store()) },
      // mem[48..] = shuffle32(mem[0..], mem[16..], 0,2,4,6) - shuffle32(..., 1,3,5,7)
      {
        name: "shuf",
        params: [],
        results: [],
        body: code(op.i32Const(48), V(0), V(16), op.i32x4Shuffle(0, 2, 4, 6), V(0), V(16), op.i32x4Shuffle(1, 3, 5, 7), op.f32x4Sub, op.v128Store()),
      },
      { name: "lane", params: [I32], results: [F32], body: code(op.localGet(0), op.v128Load(), op.f32x4ExtractLane(3)) },
      // replace lane 1 of a v128.const, store at 64 with an immediate offset
      { name: "repl", params: [F32], results: [], locals: [V128], body: code(op.i32Const(0), op.f32x4Const(1, 2, 3, 4), op.localGet(0), op.f32x4ReplaceLane(1), op.v128Store(64)) },
      { name: "splatload", params: [], results: [], body: code(op.i32Const(80), op.i32Const(4), op.v128Load32Splat(), op.v128Store()) },
      // (f64x2) promote the low lanes of mem[0..], multiply by themselves, demote back to f32 lanes 0/1 at 96
      {
        name: "f64",
        params: [],
        results: [],
        body: code(op.i32Const(96), V(0), op.f64x2PromoteLowF32x4, V(0), op.f64x2PromoteLowF32x4, op.f64x2Mul, op.f32x4DemoteF64x2Zero, op.v128Store()),
      },
      { name: "f64lane", params: [], results: [F64], body: code(V(0), op.f64x2PromoteLowF32x4, op.f64x2ExtractLane(1)) },
    ];
    const { ex, f32 } = run(fns);
    const f = Math.fround;
    f32.set([1.5, -2.25, 3.1, 1e-3, 0.3, 7, -1.1, 2e5]);
    ex.fma4();
    for (let i = 0; i < 4; i++) expect(f32[8 + i]).toBe(f(f(f32[i] * f32[4 + i]) + 2));
    ex.shuf();
    const a = Array.from(f32.subarray(0, 8));
    expect(Array.from(f32.subarray(12, 16))).toEqual([f(a[0] - a[1]), f(a[2] - a[3]), f(a[4] - a[5]), f(a[6] - a[7])]);
    expect(ex.lane(16)).toBe(f(2e5));
    ex.repl(9.5);
    expect(Array.from(f32.subarray(16, 20))).toEqual([1, 9.5, 3, 4]);
    ex.splatload();
    expect(Array.from(f32.subarray(20, 24))).toEqual([f(-2.25), f(-2.25), f(-2.25), f(-2.25)]);
    ex.f64();
    expect(Array.from(f32.subarray(24, 28))).toEqual([f(1.5 * 1.5), f(-2.25 * -2.25), 0, 0]);
    expect(ex.f64lane()).toBe(-2.25);
  });

  it("imports a shared memory with max pages; a bigger memory than the import's max does not link", () => {
    const bytes = encodeModule({ memory: { module: "env", name: "mem", minPages: 2, maxPages: 4, shared: true }, functions: [] });
    const mod = new WebAssembly.Module(bytes);
    expect(() => new WebAssembly.Instance(mod, { env: { mem: new WebAssembly.Memory({ initial: 2, maximum: 4, shared: true }) } })).not.toThrow();
    expect(() => new WebAssembly.Instance(mod, { env: { mem: new WebAssembly.Memory({ initial: 2, maximum: 8, shared: true }) } })).toThrow();
    expect(() => new WebAssembly.Instance(mod, { env: { mem: new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true }) } })).toThrow();
  });

  it("refuses malformed definitions", () => {
    expect(() => encodeModule({ memory: { module: "env", name: "m", minPages: 1, shared: true }, functions: [] })).toThrow(/maxPages/);
    expect(() => encodeModule({ memory: { module: "env", name: "m", minPages: 4, maxPages: 2 }, functions: [] })).toThrow(RangeError);
    expect(() => encodeModule({ memory: { module: "env", name: "m", minPages: 1, maxPages: 65537 }, functions: [] })).toThrow(RangeError);
    const f: FunctionDef = { name: "a", params: [], results: [], body: [] };
    expect(() => encodeModule({ functions: [f, f] })).toThrow(/duplicate export/);
    expect(() => op.f32x4ExtractLane(4)).toThrow(RangeError);
    expect(() => op.i32x4Shuffle(0, 1, 2, 8)).toThrow(RangeError);
    expect(() => op.v128Const([1, 2, 3])).toThrow(RangeError);
    expect(() => op.i32Const(2 ** 32)).toThrow(RangeError);
    // A type error in a body is caught by the engine's validator, not hidden by the encoder.
    expect(WebAssembly.validate(encodeModule({ functions: [{ params: [], results: [I32], body: op.f32Const(1) }] }))).toBe(false);
  });
});
