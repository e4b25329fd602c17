// Owns a small WebAssembly binary encoder: LEB128, the module sections the project's kernels need (type,
// import of one memory, function, export, code) and the instructions they use, including the 0xFD-prefixed
// fixed-width SIMD ones. Instructions are plain byte arrays (`Code`), concatenated with `code(...)`, so a
// kernel generator is ordinary TypeScript that returns bytes; `encodeModule` wraps functions into a module.
//
//   const body = code(op.localGet(0), op.localGet(1), op.i32Add);
//   const bytes = encodeModule({ functions: [{ name: "add", params: [I32, I32], results: [I32], body }] });
//
// Spec: the WebAssembly core binary format (sections, limits, memarg, block types) and the SIMD proposal's
// BinarySIMD.md opcode table; shared memories (limits flag 0x03) from the threads proposal.

/** Value types (binary encoding). */
export const I32 = 0x7f;
export const I64 = 0x7e;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof I64 | typeof F32 | typeof F64 | typeof V128;

/** Instruction bytes. */
export type Code = number[];

/** Unsigned LEB128 of a non-negative integer below 2^53. */
export function uleb128(n: number): Code {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`uleb128: ${n} is not a non-negative safe integer`);
  const out: Code = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of an integer in [-2^53, 2^53). */
export function sleb128(n: number): Code {
  if (!Number.isSafeInteger(n)) throw new RangeError(`sleb128: ${n} is not a safe integer`);
  const out: Code = [];
  for (;;) {
    const b = ((n % 128) + 128) % 128; // low 7 bits, two's complement
    n = Math.floor(n / 128); // arithmetic shift right by 7
    const signBit = b & 0x40;
    if ((n === 0 && !signBit) || (n === -1 && signBit)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** Flattens instruction parts (byte arrays or single bytes) into one instruction sequence. */
export function code(...parts: (Code | number)[]): Code {
  const out: Code = [];
  for (const p of parts) {
    if (typeof p === "number") out.push(p);
    else for (const b of p) out.push(b);
  }
  return out;
}

const utf8 = (s: string): Code => {
  const b = new TextEncoder().encode(s);
  return [...uleb128(b.length), ...b];
};
const vec = (items: Code[]): Code => code(uleb128(items.length), ...items);
const memarg = (alignLog2: number, offset: number): Code => code(uleb128(alignLog2), uleb128(offset));
const simd = (opcode: number, imm: Code = []): Code => code(0xfd, uleb128(opcode), imm);
const laneIdx = (lane: number, lanes: number): number => {
  if (!Number.isInteger(lane) || lane < 0 || lane >= lanes) throw new RangeError(`lane ${lane} outside [0, ${lanes})`);
  return lane;
};

/** Empty block type (a block/loop/if that takes and leaves nothing). */
export const VOID = 0x40;

/**
 * The instructions, by WebAssembly text-format name in camelCase. Those with immediates are functions; loads
 * and stores take (offset = 0, alignLog2 = natural) — alignment is only a hint.
 */
export const op = {
  // control
  unreachable: [0x00] as Code,
  nop: [0x01] as Code,
  block: (bt: number = VOID): Code => [0x02, bt],
  loop: (bt: number = VOID): Code => [0x03, bt],
  if: (bt: number = VOID): Code => [0x04, bt],
  else: [0x05] as Code,
  end: [0x0b] as Code,
  br: (depth: number): Code => code(0x0c, uleb128(depth)),
  brIf: (depth: number): Code => code(0x0d, uleb128(depth)),
  return: [0x0f] as Code,
  call: (funcIndex: number): Code => code(0x10, uleb128(funcIndex)),
  drop: [0x1a] as Code,
  select: [0x1b] as Code,
  // variables
  localGet: (i: number): Code => code(0x20, uleb128(i)),
  localSet: (i: number): Code => code(0x21, uleb128(i)),
  localTee: (i: number): Code => code(0x22, uleb128(i)),
  // memory
  i32Load: (offset = 0, alignLog2 = 2): Code => code(0x28, memarg(alignLog2, offset)),
  f32Load: (offset = 0, alignLog2 = 2): Code => code(0x2a, memarg(alignLog2, offset)),
  f64Load: (offset = 0, alignLog2 = 3): Code => code(0x2b, memarg(alignLog2, offset)),
  i32Store: (offset = 0, alignLog2 = 2): Code => code(0x36, memarg(alignLog2, offset)),
  f32Store: (offset = 0, alignLog2 = 2): Code => code(0x38, memarg(alignLog2, offset)),
  f64Store: (offset = 0, alignLog2 = 3): Code => code(0x39, memarg(alignLog2, offset)),
  // constants (f32/f64 as IEEE little-endian bytes)
  i32Const: (n: number): Code => {
    if (!Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 32) throw new RangeError(`i32.const ${n} out of range`);
    return code(0x41, sleb128(n | 0));
  },
  f32Const: (x: number): Code => code(0x43, [...new Uint8Array(Float32Array.of(x).buffer)]),
  f64Const: (x: number): Code => code(0x44, [...new Uint8Array(Float64Array.of(x).buffer)]),
  // i32 arithmetic and comparisons
  i32Eqz: [0x45] as Code,
  i32Eq: [0x46] as Code,
  i32Ne: [0x47] as Code,
  i32LtS: [0x48] as Code,
  i32LtU: [0x49] as Code,
  i32GtS: [0x4a] as Code,
  i32GtU: [0x4b] as Code,
  i32LeS: [0x4c] as Code,
  i32LeU: [0x4d] as Code,
  i32GeS: [0x4e] as Code,
  i32GeU: [0x4f] as Code,
  i32Add: [0x6a] as Code,
  i32Sub: [0x6b] as Code,
  i32Mul: [0x6c] as Code,
  i32DivU: [0x6e] as Code,
  i32And: [0x71] as Code,
  i32Or: [0x72] as Code,
  i32Shl: [0x74] as Code,
  i32ShrU: [0x76] as Code,
  // scalar float arithmetic
  f32Add: [0x92] as Code,
  f32Sub: [0x93] as Code,
  f32Mul: [0x94] as Code,
  f32Div: [0x95] as Code,
  f32Sqrt: [0x91] as Code,
  f64Add: [0xa0] as Code,
  f64Sub: [0xa1] as Code,
  f64Mul: [0xa2] as Code,
  f64Div: [0xa3] as Code,
  f64Sqrt: [0x9f] as Code,
  f32DemoteF64: [0xb6] as Code,
  f64PromoteF32: [0xbb] as Code,
  // SIMD (0xFD prefix)
  v128Load: (offset = 0, alignLog2 = 4): Code => simd(0x00, memarg(alignLog2, offset)),
  v128Load32Splat: (offset = 0, alignLog2 = 2): Code => simd(0x09, memarg(alignLog2, offset)),
  v128Load64Splat: (offset = 0, alignLog2 = 3): Code => simd(0x0a, memarg(alignLog2, offset)),
  v128Store: (offset = 0, alignLog2 = 4): Code => simd(0x0b, memarg(alignLog2, offset)),
  /** 16 raw bytes. */
  v128Const: (bytes: ArrayLike<number>): Code => {
    if (bytes.length !== 16) throw new RangeError(`v128.const needs 16 bytes, got ${bytes.length}`);
    return simd(0x0c, Array.from(bytes, (b) => b & 0xff));
  },
  /** v128.const with four f32 lanes. */
  f32x4Const: (a: number, b: number, c: number, d: number): Code => op.v128Const(new Uint8Array(Float32Array.of(a, b, c, d).buffer)),
  /** i8x16.shuffle: result byte i = (a‖b)[lanes[i]], lanes in [0, 32). */
  i8x16Shuffle: (lanes: ArrayLike<number>): Code => {
    if (lanes.length !== 16) throw new RangeError(`i8x16.shuffle needs 16 lane indices, got ${lanes.length}`);
    return simd(0x0d, Array.from(lanes, (l) => laneIdx(l, 32)));
  },
  /** A shuffle in 32-bit lanes: result lane i = (a‖b)[lanes[i]], lanes in [0, 8). */
  i32x4Shuffle: (l0: number, l1: number, l2: number, l3: number): Code =>
    op.i8x16Shuffle([l0, l1, l2, l3].flatMap((l) => [0, 1, 2, 3].map((k) => laneIdx(l, 8) * 4 + k))),
  i32x4Splat: simd(0x11),
  f32x4Splat: simd(0x13),
  f64x2Splat: simd(0x14),
  f32x4ExtractLane: (lane: number): Code => simd(0x1f, [laneIdx(lane, 4)]),
  f32x4ReplaceLane: (lane: number): Code => simd(0x20, [laneIdx(lane, 4)]),
  f64x2ExtractLane: (lane: number): Code => simd(0x21, [laneIdx(lane, 2)]),
  f64x2ReplaceLane: (lane: number): Code => simd(0x22, [laneIdx(lane, 2)]),
  v128And: simd(0x4e),
  v128Or: simd(0x50),
  v128Xor: simd(0x51),
  f32x4DemoteF64x2Zero: simd(0x5e),
  f64x2PromoteLowF32x4: simd(0x5f),
  f32x4Abs: simd(0xe0),
  f32x4Neg: simd(0xe1),
  f32x4Sqrt: simd(0xe3),
  f32x4Add: simd(0xe4),
  f32x4Sub: simd(0xe5),
  f32x4Mul: simd(0xe6),
  f32x4Div: simd(0xe7),
  f32x4Min: simd(0xe8),
  f32x4Max: simd(0xe9),
  f64x2Add: simd(0xf0),
  f64x2Sub: simd(0xf1),
  f64x2Mul: simd(0xf2),
  f64x2Div: simd(0xf3),
};

export interface FunctionDef {
  /** Export name; unexported when absent. */
  name?: string;
  params: ValType[];
  results: ValType[];
  /** Declared locals after the parameters (local indices continue from params.length). */
  locals?: ValType[];
  /** The body's instructions, without the final `end` (added here). */
  body: Code;
}

/** A memory imported as (module, name); `shared` needs `maxPages` (a page is 64 KiB). */
export interface MemoryImportDef {
  module: string;
  name: string;
  minPages: number;
  maxPages?: number;
  shared?: boolean;
}

export interface ModuleDef {
  memory?: MemoryImportDef;
  functions: FunctionDef[];
}

/** wasm32 memories hold at most 65536 pages of 64 KiB (4 GiB). */
export const MAX_PAGES = 65536;
export const PAGE_BYTES = 65536;

function limits(m: MemoryImportDef): Code {
  const pages = (p: number, what: string) => {
    if (!Number.isInteger(p) || p < 0 || p > MAX_PAGES) throw new RangeError(`memory ${what} ${p} outside [0, ${MAX_PAGES}]`);
    return uleb128(p);
  };
  if (m.shared && m.maxPages === undefined) throw new RangeError("a shared memory needs maxPages");
  if (m.maxPages === undefined) return code(0x00, pages(m.minPages, "minPages"));
  if (m.maxPages < m.minPages) throw new RangeError(`memory maxPages ${m.maxPages} < minPages ${m.minPages}`);
  return code(m.shared ? 0x03 : 0x01, pages(m.minPages, "minPages"), pages(m.maxPages, "maxPages"));
}

const section = (id: number, content: Code): Code => code(id, uleb128(content.length), content);

/** Run-length groups of equal consecutive local types, as the code section declares them. */
function localRuns(locals: ValType[]): Code[] {
  const runs: Code[] = [];
  for (let i = 0; i < locals.length; ) {
    let j = i;
    while (j < locals.length && locals[j] === locals[i]) j++;
    runs.push(code(uleb128(j - i), locals[i]));
    i = j;
  }
  return runs;
}

/**
 * Encodes a module: identical signatures share one type, the memory (when given) is the only import, and
 * functions keep their order (function index i = functions[i], used by `op.call`).
 */
export function encodeModule(def: ModuleDef): Uint8Array {
  const types: string[] = [];
  const typeBytes: Code[] = [];
  const typeIndex = (f: FunctionDef): number => {
    const key = `${f.params.join(",")}->${f.results.join(",")}`;
    let i = types.indexOf(key);
    if (i < 0) {
      i = types.length;
      types.push(key);
      typeBytes.push(code(0x60, vec(f.params.map((p) => [p])), vec(f.results.map((r) => [r]))));
    }
    return i;
  };
  const funcTypes = def.functions.map(typeIndex);
  const names = new Set<string>();
  const exports: Code[] = [];
  def.functions.forEach((f, i) => {
    if (f.name === undefined) return;
    if (names.has(f.name)) throw new Error(`duplicate export ${JSON.stringify(f.name)}`);
    names.add(f.name);
    exports.push(code(utf8(f.name), 0x00, uleb128(i)));
  });
  const bodies = def.functions.map((f) => {
    const b = code(vec(localRuns(f.locals ?? [])), f.body, op.end);
    return code(uleb128(b.length), b);
  });

  const out = code(
    [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    section(1, vec(typeBytes)),
    def.memory ? section(2, vec([code(utf8(def.memory.module), utf8(def.memory.name), 0x02, limits(def.memory))])) : [],
    section(3, vec(funcTypes.map((t) => uleb128(t)))),
    exports.length ? section(7, vec(exports)) : [],
    section(10, vec(bodies)),
  );
  return Uint8Array.from(out);
}
