// Owns the safe Python unpickler: the pickle virtual machine of protocols 0–5 (as documented by CPython's
// pickletools opcode table), run without evaluating anything. Every GLOBAL / STACK_GLOBAL is looked up in a
// caller-supplied allow-list and refused on the spot when missing; REDUCE / NEWOBJ / BUILD only run what that
// list provides; persistent ids go to a caller callback. Corrupt input ends in one-line UserErrors naming the
// file and byte offset: every length is checked against the bytes left before anything is allocated, the
// machine is a flat loop (no recursion on the input's structure), and memo indices and MARK nesting are capped.
//
// Deliberate choices (the places this differs from Python's own `pickle.loads`):
// - Ints are JS numbers when safe integers, otherwise bigints; floats are numbers (so 5 and 5.0 look alike).
// - STRING / BINSTRING / SHORT_BINSTRING (Python 2 `str`) decode as Latin-1, byte for byte, as torch.load's
//   `encoding="latin1"` does; BINUNICODE* must be valid UTF-8 (lone surrogates, which Python lets through
//   with "surrogatepass", are refused).
// - bytes and bytearray both become Uint8Array (copies, never views of the input).
// - Dict keys must be None, bool, int, float or str; 1 and True are distinct keys here (equal in Python).
// - APPEND(S) only on lists, SETITEM(S) only on dicts, ADDITEMS only on sets: no method of any other object.
// - For protocols < 3 the module names `__builtin__` and `copy_reg` are read as `builtins` and `copyreg`
//   (the two module renames of Python's fix_imports that matter for data pickles).
// - Data after STOP is refused (torch.save writes none; trailing bytes mean a damaged or misread member).
// - Results may share sub-values, and a pickle can build cycles through the memo (as Python allows);
//   consumers walking a result must not assume it is a tree.
import { UserError } from "../util/errors.js";

/** Python values as the unpickler produces them. */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[] // list
  | PickleTuple // tuple
  | PickleDict // dict (also OrderedDict when the allow-list maps it to a dict)
  | PickleSet
  | PickleObject // anything an allowed global returned (opaque to this module)
  | PickleGlobalRef; // a resolved global that has not been called (e.g. a storage type passed as an argument)

/** The dict key types accepted (Python's hashable scalars). */
export type PickleKey = string | number | bigint | boolean | null;

export interface PickleTuple {
  kind: "tuple";
  items: PickleValue[];
}
export interface PickleDict {
  kind: "dict";
  map: Map<PickleKey, PickleValue>;
}
export interface PickleSet {
  kind: "set";
  items: PickleValue[];
  frozen: boolean;
}
export interface PickleObject {
  kind: "object";
  type: string;
  value: unknown;
}
export interface PickleGlobalRef {
  kind: "global";
  module: string;
  name: string;
}

export interface PickleGlobals {
  /** Allowed globals: "module.name" -> how to apply it. A name missing here is refused (UserError: forbidden global). */
  [qualifiedName: string]: {
    /** REDUCE (and NEWOBJ/NEWOBJ_EX with the class as callable): args -> value. Omit for globals that may only be passed around (e.g. storage types). */
    call?: (args: PickleValue[], kwargs?: PickleDict) => PickleValue;
    /** BUILD on a value this global produced: returns the new value (or the same one). Omit to refuse BUILD. */
    build?: (obj: PickleValue, state: PickleValue) => PickleValue;
  };
}

export interface UnpickleOptions {
  /** File name for messages, e.g. "/m/a.pth (data.pkl)". */
  path: string;
  globals: PickleGlobals;
  /** BINPERSID / PERSID; absent -> UserError when the pickle has a persistent id. */
  persistentLoad?: (pid: PickleValue) => PickleValue;
  /** Highest memo index accepted (PUT/GET/MEMOIZE); default DEFAULT_MAX_MEMO. */
  maxMemo?: number;
  /** Most MARKs open at once; default DEFAULT_MAX_DEPTH. */
  maxDepth?: number;
}

export const DEFAULT_MAX_MEMO = 1 << 24;
export const DEFAULT_MAX_DEPTH = 10_000;
/** Longest LONG4 payload accepted (bytes); Python has no limit, but no data pickle needs more. */
export const MAX_LONG_BYTES = 1 << 20;
/** Longest decimal integer literal (INT / LONG), Python's default `sys.get_int_max_str_digits()`. */
export const MAX_DECIMAL_DIGITS = 4300;
const HIGHEST_PROTOCOL = 5;

// Opcode bytes, from pickletools' opcode table.
const OP_NAMES: Record<number, string> = {
  0x28: "MARK", 0x2e: "STOP", 0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x46: "FLOAT", 0x49: "INT",
  0x4a: "BININT", 0x4b: "BININT1", 0x4c: "LONG", 0x4d: "BININT2", 0x4e: "NONE", 0x50: "PERSID",
  0x51: "BINPERSID", 0x52: "REDUCE", 0x53: "STRING", 0x54: "BINSTRING", 0x55: "SHORT_BINSTRING",
  0x56: "UNICODE", 0x58: "BINUNICODE", 0x61: "APPEND", 0x62: "BUILD", 0x63: "GLOBAL", 0x64: "DICT",
  0x7d: "EMPTY_DICT", 0x65: "APPENDS", 0x67: "GET", 0x68: "BINGET", 0x69: "INST", 0x6a: "LONG_BINGET",
  0x6c: "LIST", 0x5d: "EMPTY_LIST", 0x6f: "OBJ", 0x70: "PUT", 0x71: "BINPUT", 0x72: "LONG_BINPUT",
  0x73: "SETITEM", 0x74: "TUPLE", 0x29: "EMPTY_TUPLE", 0x75: "SETITEMS", 0x47: "BINFLOAT",
  0x80: "PROTO", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x85: "TUPLE1", 0x86: "TUPLE2",
  0x87: "TUPLE3", 0x88: "NEWTRUE", 0x89: "NEWFALSE", 0x8a: "LONG1", 0x8b: "LONG4",
  0x42: "BINBYTES", 0x43: "SHORT_BINBYTES",
  0x8c: "SHORT_BINUNICODE", 0x8d: "BINUNICODE8", 0x8e: "BINBYTES8", 0x8f: "EMPTY_SET", 0x90: "ADDITEMS",
  0x91: "FROZENSET", 0x92: "NEWOBJ_EX", 0x93: "STACK_GLOBAL", 0x94: "MEMOIZE", 0x95: "FRAME",
  0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
};

/** Opcodes that are valid pickle but refused here, with the reason. */
const REFUSED: Record<number, string> = {
  0x69: "INST (instantiating a class by name) is not supported",
  0x6f: "OBJ (instantiating a class from the stack) is not supported",
  0x82: "EXT1 (copyreg extension registry) is not supported",
  0x83: "EXT2 (copyreg extension registry) is not supported",
  0x84: "EXT4 (copyreg extension registry) is not supported",
  0x97: "NEXT_BUFFER (out-of-band buffer) is not supported",
  0x98: "READONLY_BUFFER (out-of-band buffer) is not supported",
};

/** Python 2 module names read under their Python 3 names for protocols < 3 (subset of fix_imports). */
const PY2_MODULES: Record<string, string> = { __builtin__: "builtins", copy_reg: "copyreg" };

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------------------------------------------------
// Consumer helpers.

export function isList(v: PickleValue | undefined): v is PickleValue[] {
  return Array.isArray(v);
}
export function isTuple(v: PickleValue | undefined): v is PickleTuple {
  return isKind(v, "tuple") && Array.isArray((v as PickleTuple).items);
}
export function isDict(v: PickleValue | undefined): v is PickleDict {
  return isKind(v, "dict") && (v as PickleDict).map instanceof Map;
}
export function isSet(v: PickleValue | undefined): v is PickleSet {
  return isKind(v, "set") && Array.isArray((v as PickleSet).items);
}
export function isPickleObject(v: PickleValue | undefined): v is PickleObject {
  return isKind(v, "object");
}
export function isGlobalRef(v: PickleValue | undefined): v is PickleGlobalRef {
  return isKind(v, "global");
}
export function isPickleKey(v: PickleValue | undefined): v is PickleKey {
  const t = typeof v;
  return v === null || t === "string" || t === "number" || t === "bigint" || t === "boolean";
}
/** `d[key]`, or undefined when absent. */
export function dictGet(d: PickleDict, key: PickleKey): PickleValue | undefined {
  return d.map.get(key);
}
/** "module.name" of a global reference. */
export function globalName(g: PickleGlobalRef): string {
  return `${g.module}.${g.name}`;
}

/** Python-ish type name of a value, for messages ("int", "str", "tuple", "torch.FloatStorage" ...). */
export function pickleTypeName(v: PickleValue | undefined): string {
  if (v === undefined) return "nothing";
  if (v === null) return "None";
  switch (typeof v) {
    case "boolean":
      return "bool";
    case "number":
      return Number.isInteger(v) ? "int" : "float";
    case "bigint":
      return "int";
    case "string":
      return "str";
  }
  if (v instanceof Uint8Array) return "bytes";
  if (Array.isArray(v)) return "list";
  if (isTuple(v)) return "tuple";
  if (isDict(v)) return "dict";
  if (isSet(v)) return v.frozen ? "frozenset" : "set";
  if (isPickleObject(v)) return v.type;
  if (isGlobalRef(v)) return `global ${globalName(v)}`;
  return "unknown value";
}

function isKind(v: PickleValue | undefined, kind: string): boolean {
  return typeof v === "object" && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v) && v.kind === kind;
}

// ---------------------------------------------------------------------------------------------------------
// Small pure decoders.

/** Integer result: a JS number when it is a safe integer, else a bigint. */
export function normalizeInt(b: bigint): number | bigint {
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

/** Little-endian two's complement (LONG1 / LONG4 payload); empty means 0. */
export function decodeLongLE(bytes: Uint8Array): number | bigint {
  const n = bytes.length;
  if (n === 0) return 0;
  if (n <= 6) {
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + bytes[i];
    if (bytes[n - 1] & 0x80) v -= 2 ** (8 * n);
    return v;
  }
  const hex = new Array<string>(n);
  for (let i = 0; i < n; i++) hex[n - 1 - i] = bytes[i].toString(16).padStart(2, "0");
  let b = BigInt("0x" + hex.join(""));
  if (bytes[n - 1] & 0x80) b -= 1n << BigInt(8 * n);
  return normalizeInt(b);
}

/** Bytes to a string, one code point per byte. */
export function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192) as unknown as number[]);
  }
  return s;
}

/** A decimal integer literal (INT / LONG / GET / PUT argument) or null when malformed. */
function parseDecimal(text: string): number | bigint | null {
  const t = text.trim();
  if (!/^[+-]?\d+$/.test(t) || t.length > MAX_DECIMAL_DIGITS + 1) return null;
  return normalizeInt(BigInt(t));
}

/** A FLOAT argument as Python's float() reads what repr() wrote, or null when malformed. */
function parseFloatLiteral(text: string): number | null {
  const t = text.trim().toLowerCase();
  const m = /^([+-]?)(inf|infinity|nan)$/.exec(t);
  if (m) return m[2] === "nan" ? NaN : m[1] === "-" ? -Infinity : Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t) || t.length > 1000) return null;
  return Number(t);
}

/** Python's `codecs.escape_decode` of a STRING body (between the quotes), or an error text. */
function escapeDecode(body: Uint8Array): Uint8Array | string {
  const out: number[] = [];
  const simple: Record<number, number> = {
    0x5c: 0x5c, 0x27: 0x27, 0x22: 0x22, 0x61: 7, 0x62: 8, 0x66: 12, 0x6e: 10, 0x72: 13, 0x74: 9, 0x76: 11,
  };
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== 0x5c) {
      out.push(c);
      continue;
    }
    if (++i >= body.length) return "STRING ends with a lone backslash";
    const e = body[i];
    if (e === 0x0a) continue; // backslash-newline: line continuation
    if (simple[e] !== undefined) {
      out.push(simple[e]);
    } else if (e >= 0x30 && e <= 0x37) {
      let v = e - 0x30;
      for (let k = 0; k < 2 && i + 1 < body.length && body[i + 1] >= 0x30 && body[i + 1] <= 0x37; k++) {
        v = v * 8 + (body[++i] - 0x30);
      }
      out.push(v & 0xff);
    } else if (e === 0x78) {
      const h = latin1(body.subarray(i + 1, i + 3));
      if (!/^[0-9a-fA-F]{2}$/.test(h)) return "STRING has an invalid \\x escape";
      out.push(parseInt(h, 16));
      i += 2;
    } else {
      out.push(0x5c, e); // unknown escapes stay as written
    }
  }
  return Uint8Array.from(out);
}

/** Python's "raw-unicode-escape" decoding (UNICODE argument), or an error text. */
function rawUnicodeEscapeDecode(bytes: Uint8Array): string | { error: string } {
  let s = "";
  let i = 0;
  while (i < bytes.length) {
    const c = bytes[i];
    if (c !== 0x5c) {
      s += String.fromCharCode(c);
      i++;
      continue;
    }
    // A run of backslashes is literal; \u / \U escapes only after an odd-length run.
    let run = 0;
    while (i < bytes.length && bytes[i] === 0x5c) {
      run++;
      i++;
    }
    const next = bytes[i];
    if (run % 2 === 0 || (next !== 0x75 && next !== 0x55)) {
      s += "\\".repeat(run);
      continue;
    }
    s += "\\".repeat(run - 1);
    const digits = next === 0x75 ? 4 : 8;
    const hex = latin1(bytes.subarray(i + 1, i + 1 + digits));
    if (hex.length !== digits || !/^[0-9a-fA-F]+$/.test(hex)) return { error: "truncated \\uXXXX escape in UNICODE" };
    const cp = parseInt(hex, 16);
    if (cp > 0x10ffff) return { error: "\\Uxxxxxxxx out of range in UNICODE" };
    s += String.fromCodePoint(cp);
    i += 1 + digits;
  }
  return s;
}

/** One line of text for a message: quoted, escaped, shortened. */
function quote(s: string): string {
  const q = JSON.stringify(s);
  return q.length > 120 ? q.slice(0, 117) + '..."' : q;
}

function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const line = msg.replace(/\s+/g, " ").trim();
  return line.length > 300 ? line.slice(0, 297) + "..." : line;
}

// ---------------------------------------------------------------------------------------------------------
// The machine.

/**
 * Runs the pickle in `bytes` and returns its value. Throws UserError (one line: path, problem, byte offset)
 * on anything malformed or not allowed; never evaluates a global that is not in `opts.globals`.
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): PickleValue {
  const path = opts.path;
  const globals = opts.globals;
  const maxMemo = opts.maxMemo ?? DEFAULT_MAX_MEMO;
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
  const n = bytes.length;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  let pos = 0; // next byte to read
  let at = 0; // offset of the opcode being run, for messages
  let op = 0;
  let proto = 0;
  let stack: PickleValue[] = [];
  const metastack: PickleValue[][] = [];
  const memo = new Map<number, PickleValue>();
  const refs = new WeakSet<PickleGlobalRef>(); // global references this run created
  const producer = new WeakMap<object, string>(); // value -> qualified name of the global that made it

  const fail = (problem: string): never => {
    throw new UserError(`${path}: ${problem} at offset ${at}`);
  };
  const opName = () => OP_NAMES[op] ?? `0x${op.toString(16).padStart(2, "0")}`;

  // --- reading arguments -------------------------------------------------------------------------------
  const need = (count: number, what: string) => {
    if (count > n - pos) fail(`truncated pickle: ${opName()} needs ${count} ${what} but only ${n - pos} are left`);
  };
  const u8 = () => (need(1, "byte"), bytes[pos++]);
  const u16 = () => (need(2, "bytes"), (pos += 2), dv.getUint16(pos - 2, true));
  const i32 = () => (need(4, "bytes"), (pos += 4), dv.getInt32(pos - 4, true));
  const u32 = () => (need(4, "bytes"), (pos += 4), dv.getUint32(pos - 4, true));
  /** An 8-byte length, checked against the bytes left after it (reported exactly, even beyond 2^53). */
  const len64 = (what: string): number => {
    need(8, "bytes");
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(n - pos)) fail(`truncated pickle: ${opName()} claims ${v} bytes of ${what} but only ${n - pos} are left`);
    return Number(v);
  };
  const take = (count: number, what: string): Uint8Array => {
    if (count < 0) fail(`${opName()} has a negative ${what} length ${count}`);
    if (count > n - pos) fail(`truncated pickle: ${opName()} claims ${count} bytes of ${what} but only ${n - pos} are left`);
    pos += count;
    return bytes.subarray(pos - count, pos);
  };
  const line = (): Uint8Array => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail(`truncated pickle: ${opName()} argument has no terminating newline`);
    const out = bytes.subarray(pos, end);
    pos = end + 1;
    return out;
  };
  const utf8 = (b: Uint8Array, what: string): string => {
    try {
      return UTF8.decode(b);
    } catch {
      return fail(`${opName()} ${what} is not valid UTF-8`);
    }
  };

  // --- stack -------------------------------------------------------------------------------------------
  const push = (v: PickleValue) => {
    stack.push(v);
  };
  const pop = (): PickleValue => {
    if (stack.length === 0) fail(`stack underflow in ${opName()}${metastack.length ? " (hit a MARK)" : ""}`);
    return stack.pop() as PickleValue;
  };
  const top = (): PickleValue => {
    if (stack.length === 0) fail(`stack underflow in ${opName()}${metastack.length ? " (hit a MARK)" : ""}`);
    return stack[stack.length - 1];
  };
  const popMark = (): PickleValue[] => {
    if (metastack.length === 0) fail(`${opName()} without a preceding MARK`);
    const items = stack;
    stack = metastack.pop() as PickleValue[];
    return items;
  };

  // --- memo ----------------------------------------------------------------------------------------------
  const memoIndex = (i: number | bigint | null): number => {
    if (i === null || typeof i === "bigint" || i < 0) return fail(`${opName()} has an invalid memo index`);
    if (i > maxMemo) fail(`memo index ${i} exceeds the limit ${maxMemo}`);
    return i;
  };
  const memoGet = (i: number) => {
    const v = memo.get(memoIndex(i));
    if (v === undefined) fail(`${opName()} of memo index ${i}, which was never stored`);
    push(v as PickleValue);
  };
  const memoPut = (i: number) => {
    memo.set(memoIndex(i), top());
  };

  // --- containers ------------------------------------------------------------------------------------------
  const tuple = (items: PickleValue[]): PickleTuple => ({ kind: "tuple", items });
  const setItems = (target: PickleValue, kv: PickleValue[]) => {
    if (!isDict(target)) fail(`${opName()} on a ${pickleTypeName(target)}, not a dict`);
    if (kv.length % 2 !== 0) fail(`${opName()} with an odd number (${kv.length}) of keys and values`);
    const map = (target as PickleDict).map;
    for (let i = 0; i < kv.length; i += 2) {
      const k = kv[i];
      if (!isPickleKey(k)) fail(`dict key of type ${pickleTypeName(k)} is not supported (only None, bool, int, float, str)`);
      map.set(k as PickleKey, kv[i + 1]);
    }
  };
  const appendItems = (target: PickleValue, items: PickleValue[]) => {
    if (!Array.isArray(target)) fail(`${opName()} on a ${pickleTypeName(target)}, not a list`);
    const list = target as PickleValue[];
    for (const it of items) list.push(it);
  };

  // --- globals -------------------------------------------------------------------------------------------
  const allowedList = () => Object.keys(globals).sort().join(", ") || "none";
  const resolveGlobal = (module: string, name: string): PickleGlobalRef => {
    const mod = proto < 3 && Object.hasOwn(PY2_MODULES, module) ? PY2_MODULES[module] : module;
    const q = `${mod}.${name}`;
    if (!Object.hasOwn(globals, q)) {
      fail(`pickle refers to global ${quote(q)}, which is not allowed (only: ${allowedList()})`);
    }
    const ref: PickleGlobalRef = { kind: "global", module: mod, name };
    refs.add(ref);
    return ref;
  };
  /** The allow-list entry behind a value in callable position, with a `call`. */
  const callableOf = (callee: PickleValue): { q: string; call: NonNullable<PickleGlobals[string]["call"]> } => {
    if (!isGlobalRef(callee) || !refs.has(callee)) {
      return fail(`${opName()} expects a global to call, got ${pickleTypeName(callee)}`);
    }
    const q = globalName(callee);
    const call = globals[q].call;
    if (!call) return fail(`${opName()} calls global ${quote(q)}, which is allowed only as a value, not as a callable`);
    return { q, call };
  };
  /**
   * Runs a caller callback; its non-UserError failures become UserErrors here (the input caused them). An
   * object result of a global (`madeBy`) remembers that global, for BUILD.
   */
  const invoke = (what: string, q: string, madeBy: string | null, f: () => PickleValue): PickleValue => {
    let v: PickleValue | undefined;
    try {
      v = f();
    } catch (e) {
      if (e instanceof UserError) throw e;
      const err = new UserError(`${path}: ${what} ${quote(q)} failed: ${oneLine(e)} at offset ${at}`);
      err.cause = e;
      throw err;
    }
    if (v === undefined) fail(`${what} ${quote(q)} returned nothing`);
    if (madeBy !== null && typeof v === "object" && v !== null) producer.set(v, madeBy);
    return v as PickleValue;
  };
  const callGlobal = (callee: PickleValue, args: PickleValue, kwargs?: PickleValue) => {
    const { q, call } = callableOf(callee);
    if (!isTuple(args)) fail(`${opName()} arguments must be a tuple, got ${pickleTypeName(args)}`);
    if (kwargs !== undefined && !isDict(kwargs)) fail(`${opName()} keyword arguments must be a dict, got ${pickleTypeName(kwargs)}`);
    const a = (args as PickleTuple).items;
    const kw = kwargs as PickleDict | undefined;
    push(invoke("global", q, q, () => (kw === undefined ? call(a) : call(a, kw))));
  };
  const persistent = (pid: PickleValue) => {
    const load = opts.persistentLoad;
    if (!load) fail(`pickle has a persistent id (${opName()}) but no persistent loader was given`);
    const what = typeof pid === "string" ? pid : pickleTypeName(pid);
    push(invoke("persistent load of", what, null, () => (load as NonNullable<typeof load>)(pid)));
  };

  // --- the loop ------------------------------------------------------------------------------------------
  for (;;) {
    if (pos >= n) {
      at = pos;
      fail(n === 0 ? "empty pickle" : "truncated pickle: ended without STOP");
    }
    at = pos;
    op = bytes[pos++];
    switch (op) {
      // protocol control
      case 0x80: {
        const v = u8();
        if (v > HIGHEST_PROTOCOL) fail(`unsupported pickle protocol ${v}`);
        proto = v;
        break;
      }
      case 0x95: {
        need(8, "bytes");
        const len = dv.getBigUint64(pos, true);
        pos += 8;
        if (len > BigInt(n - pos)) fail(`FRAME of ${len} bytes but only ${n - pos} are left`);
        break;
      }
      case 0x2e: {
        if (metastack.length > 0) fail(`STOP with ${metastack.length} MARK(s) still open`);
        if (stack.length !== 1) fail(`STOP with ${stack.length} values on the stack (expected 1)`);
        if (pos !== n) fail(`${n - pos} bytes of unexpected data after STOP`);
        return stack[0];
      }

      // stack manipulation
      case 0x28:
        if (metastack.length >= maxDepth) fail(`more than ${maxDepth} MARKs open at once`);
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP; like Python, a POP with nothing above the MARK discards the MARK
        if (stack.length > 0) stack.pop();
        else popMark();
        break;
      case 0x31:
        popMark();
        break;
      case 0x32:
        push(top());
        break;

      // constants and numbers
      case 0x4e:
        push(null);
        break;
      case 0x88:
        push(true);
        break;
      case 0x89:
        push(false);
        break;
      case 0x49: {
        const text = latin1(line());
        if (text === "00") push(false);
        else if (text === "01") push(true);
        else push(parseDecimal(text) ?? fail(`INT argument ${quote(text)} is not a decimal integer`));
        break;
      }
      case 0x4a:
        push(i32());
        break;
      case 0x4b:
        push(u8());
        break;
      case 0x4d:
        push(u16());
        break;
      case 0x4c: {
        const text = latin1(line());
        const digits = text.endsWith("L") ? text.slice(0, -1) : text;
        push(parseDecimal(digits) ?? fail(`LONG argument ${quote(text)} is not a decimal integer`));
        break;
      }
      case 0x8a:
        push(decodeLongLE(take(u8(), "integer")));
        break;
      case 0x8b: {
        const len = i32();
        if (len > MAX_LONG_BYTES) fail(`LONG4 of ${len} bytes exceeds the limit of ${MAX_LONG_BYTES}`);
        push(decodeLongLE(take(len, "integer")));
        break;
      }
      case 0x46: {
        const text = latin1(line());
        const v = parseFloatLiteral(text);
        if (v === null) fail(`FLOAT argument ${quote(text)} is not a number`);
        push(v as number);
        break;
      }
      case 0x47: {
        need(8, "bytes");
        push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      }

      // strings and bytes
      case 0x53: {
        const raw = line();
        const q = raw[0];
        if (raw.length < 2 || (q !== 0x22 && q !== 0x27) || raw[raw.length - 1] !== q) {
          fail("the STRING argument must be quoted");
        }
        const dec = escapeDecode(raw.subarray(1, raw.length - 1));
        if (typeof dec === "string") fail(dec);
        push(latin1(dec as Uint8Array));
        break;
      }
      case 0x54:
        push(latin1(take(i32(), "string")));
        break;
      case 0x55:
        push(latin1(take(u8(), "string")));
        break;
      case 0x56: {
        const s = rawUnicodeEscapeDecode(line());
        if (typeof s !== "string") fail(s.error);
        push(s as string);
        break;
      }
      case 0x58:
        push(utf8(take(u32(), "string"), "string"));
        break;
      case 0x8c:
        push(utf8(take(u8(), "string"), "string"));
        break;
      case 0x8d:
        push(utf8(take(len64("string"), "string"), "string"));
        break;
      case 0x42:
        push(take(u32(), "bytes").slice());
        break;
      case 0x43:
        push(take(u8(), "bytes").slice());
        break;
      case 0x8e:
      case 0x96:
        push(take(len64("bytes"), "bytes").slice());
        break;

      // lists
      case 0x5d:
        push([]);
        break;
      case 0x6c:
        push(popMark());
        break;
      case 0x61: {
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        const items = popMark();
        appendItems(top(), items);
        break;
      }

      // tuples
      case 0x29:
        push(tuple([]));
        break;
      case 0x74:
        push(tuple(popMark()));
        break;
      case 0x85: {
        const a = pop();
        push(tuple([a]));
        break;
      }
      case 0x86: {
        const b = pop();
        const a = pop();
        push(tuple([a, b]));
        break;
      }
      case 0x87: {
        const c = pop();
        const b = pop();
        const a = pop();
        push(tuple([a, b, c]));
        break;
      }

      // dicts
      case 0x7d:
        push({ kind: "dict", map: new Map() });
        break;
      case 0x64: {
        const kv = popMark();
        const d: PickleDict = { kind: "dict", map: new Map() };
        setItems(d, kv);
        push(d);
        break;
      }
      case 0x73: {
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        const kv = popMark();
        setItems(top(), kv);
        break;
      }

      // sets
      case 0x8f:
        push({ kind: "set", items: [], frozen: false });
        break;
      case 0x90: {
        const items = popMark();
        const s = top();
        if (!isSet(s) || s.frozen) fail(`ADDITEMS on a ${pickleTypeName(s)}, not a set`);
        for (const it of items) (s as PickleSet).items.push(it);
        break;
      }
      case 0x91:
        push({ kind: "set", items: popMark(), frozen: true });
        break;

      // memo
      case 0x67:
        memoGet(memoIndex(parseDecimal(latin1(line()))));
        break;
      case 0x68:
        memoGet(u8());
        break;
      case 0x6a:
        memoGet(u32());
        break;
      case 0x70:
        memoPut(memoIndex(parseDecimal(latin1(line()))));
        break;
      case 0x71:
        memoPut(u8());
        break;
      case 0x72:
        memoPut(u32());
        break;
      case 0x94:
        memoPut(memo.size);
        break;

      // globals and calls
      case 0x63: {
        const module = utf8(line(), "module name");
        const name = utf8(line(), "global name");
        push(resolveGlobal(module, name));
        break;
      }
      case 0x93: {
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") {
          fail(`STACK_GLOBAL needs two strings, got ${pickleTypeName(module)} and ${pickleTypeName(name)}`);
        }
        push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x52: {
        const args = pop();
        const callee = pop();
        callGlobal(callee, args);
        break;
      }
      case 0x81: {
        const args = pop();
        const cls = pop();
        callGlobal(cls, args);
        break;
      }
      case 0x92: {
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        callGlobal(cls, args, kwargs);
        break;
      }
      case 0x62: {
        const state = pop();
        const obj = top();
        const q = typeof obj === "object" && obj !== null ? producer.get(obj) : undefined;
        const build = q !== undefined && Object.hasOwn(globals, q) ? globals[q].build : undefined;
        if (q === undefined || !build) {
          fail(`BUILD on a ${pickleTypeName(obj)}${q ? ` made by ${quote(q)}` : ""}, which does not allow BUILD`);
        }
        stack[stack.length - 1] = invoke("BUILD of", q as string, q as string, () => (build as NonNullable<typeof build>)(obj, state));
        break;
      }
      case 0x50: {
        const raw = line();
        if (raw.some((b) => b > 0x7f)) fail("PERSID argument is not ASCII");
        persistent(latin1(raw));
        break;
      }
      case 0x51:
        persistent(pop());
        break;

      default:
        if (REFUSED[op]) fail(`pickle opcode ${REFUSED[op]}`);
        fail(`unknown pickle opcode 0x${op.toString(16).padStart(2, "0")}`);
    }
  }
}
