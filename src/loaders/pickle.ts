// Owns the safe Python unpickler: the pickle virtual machine of protocols 0–5 (as documented by CPython's
// pickletools opcode table), run without evaluating anything. Every GLOBAL / STACK_GLOBAL is looked up in a
// caller-supplied allow-list and refused on the spot when missing; REDUCE / NEWOBJ / BUILD only run what that
// list provides; persistent ids go to a caller callback. Corrupt input ends in one-line UserErrors naming the
// file and byte offset: every length is checked against the bytes left before anything is allocated, the
// machine is a flat loop (no recursion on the input's structure), and memo indices and MARK nesting are capped.
// Structure: one `Machine` record per run (stack, metastack, memo, read position); a constant table OPCODES maps
// each opcode byte to its name (for messages) and a small handler over that record; the loop reads a byte, looks
// it up (unknown -> error), runs the handler, and ends at STOP.
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

/** Python 2 module names read under their Python 3 names for protocols < 3 (subset of fix_imports). */
const PY2_MODULES: Record<string, string> = { __builtin__: "builtins", copy_reg: "copyreg" };

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------------------------------------------------
// Consumer helpers.

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
// The machine's state, and the helpers its opcode handlers share.

/** Everything one run keeps: made by `unpickle`, passed to every handler, dropped when the run ends. */
interface Machine {
  readonly bytes: Uint8Array;
  readonly dv: DataView;
  readonly opts: UnpickleOptions;
  readonly maxMemo: number;
  readonly maxDepth: number;
  pos: number; // next byte to read
  at: number; // offset of the opcode being run, for messages
  op: number; // the opcode being run
  proto: number;
  stack: PickleValue[];
  readonly metastack: PickleValue[][];
  readonly memo: Map<number, PickleValue>;
  readonly refs: WeakSet<PickleGlobalRef>; // global references this run created
  readonly producer: WeakMap<object, string>; // value -> qualified name of the global that made it
  stopped: boolean; // set by STOP once the result is checked
}

/** Runs one opcode: reads its arguments at `m.pos`, then changes the stack, memo or protocol. */
type Handler = (m: Machine) => void;
/** Reads or makes a value, for a handler that pushes it. */
type Reader<T = PickleValue> = (m: Machine) => T;
/** Reads a length argument; `what` names the payload it measures, for messages. */
type Length = (m: Machine, what: string) => number;
/** Puts values into the container `target`, refusing the wrong kind of container. */
type Adder = (m: Machine, target: PickleValue, items: PickleValue[]) => void;

function fail(m: Machine, problem: string): never {
  throw new UserError(`${m.opts.path}: ${problem} at offset ${m.at}`);
}
function hexByte(b: number): string {
  return `0x${b.toString(16).padStart(2, "0")}`;
}
function opName(m: Machine): string {
  return OPCODES[m.op]?.[0] ?? hexByte(m.op);
}

// --- reading arguments -----------------------------------------------------------------------------------
function left(m: Machine): number {
  return m.bytes.length - m.pos;
}
function need(m: Machine, count: number, what: string): void {
  if (count > left(m)) fail(m, `truncated pickle: ${opName(m)} needs ${count} ${what} but only ${left(m)} are left`);
}
function claimsTooMuch(m: Machine, count: number | bigint, what: string): never {
  return fail(m, `truncated pickle: ${opName(m)} claims ${count} bytes of ${what} but only ${left(m)} are left`);
}
/** Steps over a fixed-size argument and returns its offset. */
function fixed(m: Machine, size: number): number {
  need(m, size, size === 1 ? "byte" : "bytes");
  m.pos += size;
  return m.pos - size;
}
const u8 = (m: Machine): number => m.bytes[fixed(m, 1)];
const u16 = (m: Machine): number => m.dv.getUint16(fixed(m, 2), true);
const i32 = (m: Machine): number => m.dv.getInt32(fixed(m, 4), true);
const u32 = (m: Machine): number => m.dv.getUint32(fixed(m, 4), true);
const u64 = (m: Machine): bigint => m.dv.getBigUint64(fixed(m, 8), true);
const f64 = (m: Machine): number => m.dv.getFloat64(fixed(m, 8), false);
/** An 8-byte length, checked against the bytes left after it (reported exactly, even beyond 2^53). */
function len64(m: Machine, what: string): number {
  const v = u64(m);
  if (v > BigInt(left(m))) claimsTooMuch(m, v, what);
  return Number(v);
}
function take(m: Machine, count: number, what: string): Uint8Array {
  if (count < 0) fail(m, `${opName(m)} has a negative ${what} length ${count}`);
  if (count > left(m)) claimsTooMuch(m, count, what);
  m.pos += count;
  return m.bytes.subarray(m.pos - count, m.pos);
}
function line(m: Machine): Uint8Array {
  const end = m.bytes.indexOf(0x0a, m.pos);
  if (end < 0) fail(m, `truncated pickle: ${opName(m)} argument has no terminating newline`);
  const out = m.bytes.subarray(m.pos, end);
  m.pos = end + 1;
  return out;
}
function utf8(m: Machine, b: Uint8Array, what: string): string {
  try {
    return UTF8.decode(b);
  } catch {
    return fail(m, `${opName(m)} ${what} is not valid UTF-8`);
  }
}

// --- stack -------------------------------------------------------------------------------------------------
function push(m: Machine, v: PickleValue): void {
  m.stack.push(v);
}
function top(m: Machine): PickleValue {
  if (m.stack.length === 0) fail(m, `stack underflow in ${opName(m)}${m.metastack.length ? " (hit a MARK)" : ""}`);
  return m.stack[m.stack.length - 1];
}
function pop(m: Machine): PickleValue {
  top(m); // the underflow check
  return m.stack.pop() as PickleValue;
}
/** The top `count` values, deepest first. */
function popN(m: Machine, count: number): PickleValue[] {
  const items = new Array<PickleValue>(count);
  for (let i = count - 1; i >= 0; i--) items[i] = pop(m);
  return items;
}
const popping = (count: number): Reader<PickleValue[]> => (m) => popN(m, count);
/** The values above the innermost MARK, which it closes. */
function popMark(m: Machine): PickleValue[] {
  if (m.metastack.length === 0) fail(m, `${opName(m)} without a preceding MARK`);
  const items = m.stack;
  m.stack = m.metastack.pop() as PickleValue[];
  return items;
}

// --- memo ----------------------------------------------------------------------------------------------------
function memoIndex(m: Machine, i: number | bigint | null): number {
  if (i === null || typeof i === "bigint" || i < 0) return fail(m, `${opName(m)} has an invalid memo index`);
  if (i > m.maxMemo) fail(m, `memo index ${i} exceeds the limit ${m.maxMemo}`);
  return i;
}
/** GET / PUT argument: a decimal line. */
const decimalIndex = (m: Machine): number | bigint | null => parseDecimal(latin1(line(m)));

// --- containers ------------------------------------------------------------------------------------------------
const tuple = (items: PickleValue[]): PickleTuple => ({ kind: "tuple", items });
const emptyDict = (): PickleDict => ({ kind: "dict", map: new Map() });
function setItems(m: Machine, target: PickleValue, kv: PickleValue[]): void {
  if (!isDict(target)) fail(m, `${opName(m)} on a ${pickleTypeName(target)}, not a dict`);
  if (kv.length % 2 !== 0) fail(m, `${opName(m)} with an odd number (${kv.length}) of keys and values`);
  const map = (target as PickleDict).map;
  for (let i = 0; i < kv.length; i += 2) {
    const k = kv[i];
    if (!isPickleKey(k)) fail(m, `dict key of type ${pickleTypeName(k)} is not supported (only None, bool, int, float, str)`);
    map.set(k as PickleKey, kv[i + 1]);
  }
}
function appendItems(m: Machine, target: PickleValue, items: PickleValue[]): void {
  if (!Array.isArray(target)) fail(m, `${opName(m)} on a ${pickleTypeName(target)}, not a list`);
  for (const it of items) (target as PickleValue[]).push(it);
}
function addItems(m: Machine, target: PickleValue, items: PickleValue[]): void {
  if (!isSet(target) || target.frozen) fail(m, `ADDITEMS on a ${pickleTypeName(target)}, not a set`);
  for (const it of items) (target as PickleSet).items.push(it);
}

// --- globals (the allow-list is `opts.globals`, consulted only here) ----------------------------------------------
function allowedList(globals: PickleGlobals): string {
  return Object.keys(globals).sort().join(", ") || "none";
}
function resolveGlobal(m: Machine, module: string, name: string): PickleGlobalRef {
  const mod = m.proto < 3 && Object.hasOwn(PY2_MODULES, module) ? PY2_MODULES[module] : module;
  const q = `${mod}.${name}`;
  if (!Object.hasOwn(m.opts.globals, q)) {
    fail(m, `pickle refers to global ${quote(q)}, which is not allowed (only: ${allowedList(m.opts.globals)})`);
  }
  const ref: PickleGlobalRef = { kind: "global", module: mod, name };
  m.refs.add(ref);
  return ref;
}
/** The allow-list entry behind a value in callable position, with a `call`. */
function callableOf(m: Machine, callee: PickleValue): { q: string; call: NonNullable<PickleGlobals[string]["call"]> } {
  if (!isGlobalRef(callee) || !m.refs.has(callee)) {
    return fail(m, `${opName(m)} expects a global to call, got ${pickleTypeName(callee)}`);
  }
  const q = globalName(callee);
  const call = m.opts.globals[q].call;
  if (!call) return fail(m, `${opName(m)} calls global ${quote(q)}, which is allowed only as a value, not as a callable`);
  return { q, call };
}
/** The allow-list entry's `build` for the value on top of the stack, if the global that made it has one. */
function builderOf(m: Machine, obj: PickleValue): { q: string; build: NonNullable<PickleGlobals[string]["build"]> } {
  const q = typeof obj === "object" && obj !== null ? m.producer.get(obj) : undefined;
  const build = q !== undefined && Object.hasOwn(m.opts.globals, q) ? m.opts.globals[q].build : undefined;
  if (q === undefined || !build) {
    return fail(m, `BUILD on a ${pickleTypeName(obj)}${q ? ` made by ${quote(q)}` : ""}, which does not allow BUILD`);
  }
  return { q, build };
}
/**
 * Runs a caller callback; its non-UserError failures become UserErrors here (the input caused them). An
 * object result of a global (`madeBy`) remembers that global, for BUILD.
 */
function invoke(m: Machine, what: string, q: string, madeBy: string | null, f: () => PickleValue): PickleValue {
  let v: PickleValue | undefined;
  try {
    v = f();
  } catch (e) {
    if (e instanceof UserError) throw e;
    const err = new UserError(`${m.opts.path}: ${what} ${quote(q)} failed: ${oneLine(e)} at offset ${m.at}`);
    err.cause = e;
    throw err;
  }
  if (v === undefined) fail(m, `${what} ${quote(q)} returned nothing`);
  if (madeBy !== null && typeof v === "object" && v !== null) m.producer.set(v, madeBy);
  return v as PickleValue;
}
function callGlobal(m: Machine, callee: PickleValue, args: PickleValue, kwargs?: PickleValue): PickleValue {
  const { q, call } = callableOf(m, callee);
  if (!isTuple(args)) fail(m, `${opName(m)} arguments must be a tuple, got ${pickleTypeName(args)}`);
  if (kwargs !== undefined && !isDict(kwargs)) fail(m, `${opName(m)} keyword arguments must be a dict, got ${pickleTypeName(kwargs)}`);
  const a = (args as PickleTuple).items;
  const kw = kwargs as PickleDict | undefined;
  return invoke(m, "global", q, q, () => (kw === undefined ? call(a) : call(a, kw)));
}
function persistent(m: Machine, pid: PickleValue): PickleValue {
  const load = m.opts.persistentLoad;
  if (!load) return fail(m, `pickle has a persistent id (${opName(m)}) but no persistent loader was given`);
  const what = typeof pid === "string" ? pid : pickleTypeName(pid);
  return invoke(m, "persistent load of", what, null, () => load(pid));
}

// ---------------------------------------------------------------------------------------------------------
// The opcode handlers, and the factories for the families of alike ones.

/** Pushes what `read` returns. */
const pushing = (read: Reader): Handler => (m) => push(m, read(m));
/** Pushes `decode` of a payload whose length argument comes first. */
const sized = (length: Length, what: string, decode: (payload: Uint8Array, m: Machine) => PickleValue): Handler =>
  pushing((m) => decode(take(m, length(m, what), what), m));
/** Adds values taken off the stack (`collect`) to the container below them, through `add`. */
const addTo = (add: Adder, collect: Reader<PickleValue[]>): Handler => (m) => {
  const items = collect(m);
  add(m, top(m), items);
};
const tupleOf = (collect: Reader<PickleValue[]>): Reader => (m) => tuple(collect(m));
/** Pushes the memo entry at the index `index` reads. */
const memoGet = (index: Reader<number | bigint | null>): Handler => (m) => {
  const i = memoIndex(m, index(m));
  const v = m.memo.get(i);
  if (v === undefined) fail(m, `${opName(m)} of memo index ${i}, which was never stored`);
  push(m, v as PickleValue);
};
/** Stores the top of the stack at the index `index` reads. */
const memoPut = (index: Reader<number | bigint | null>): Handler => (m) => {
  m.memo.set(memoIndex(m, index(m)), top(m));
};
/** Opcodes that are valid pickle but refused here, with the reason. */
const refused = (why: string): Handler => (m) => fail(m, `pickle opcode ${opName(m)} (${why}) is not supported`);

const copy = (payload: Uint8Array): Uint8Array => payload.slice();
const utf8String = (payload: Uint8Array, m: Machine): string => utf8(m, payload, "string");

function proto(m: Machine): void {
  const v = u8(m);
  if (v > HIGHEST_PROTOCOL) fail(m, `unsupported pickle protocol ${v}`);
  m.proto = v;
}
function frame(m: Machine): void {
  const len = u64(m);
  if (len > BigInt(left(m))) fail(m, `FRAME of ${len} bytes but only ${left(m)} are left`);
}
function stop(m: Machine): void {
  if (m.metastack.length > 0) fail(m, `STOP with ${m.metastack.length} MARK(s) still open`);
  if (m.stack.length !== 1) fail(m, `STOP with ${m.stack.length} values on the stack (expected 1)`);
  if (left(m) !== 0) fail(m, `${left(m)} bytes of unexpected data after STOP`);
  m.stopped = true;
}
function mark(m: Machine): void {
  if (m.metastack.length >= m.maxDepth) fail(m, `more than ${m.maxDepth} MARKs open at once`);
  m.metastack.push(m.stack);
  m.stack = [];
}
/** POP; like Python, a POP with nothing above the MARK discards the MARK. */
function popTop(m: Machine): void {
  if (m.stack.length > 0) m.stack.pop();
  else popMark(m);
}
/** INT: a decimal line; protocol 0 writes True / False as "01" / "00". */
function intLine(m: Machine): PickleValue {
  const text = latin1(line(m));
  if (text === "00") return false;
  if (text === "01") return true;
  return parseDecimal(text) ?? fail(m, `INT argument ${quote(text)} is not a decimal integer`);
}
function longLine(m: Machine): PickleValue {
  const text = latin1(line(m));
  const digits = text.endsWith("L") ? text.slice(0, -1) : text;
  return parseDecimal(digits) ?? fail(m, `LONG argument ${quote(text)} is not a decimal integer`);
}
function long4Length(m: Machine): number {
  const len = i32(m);
  if (len > MAX_LONG_BYTES) fail(m, `LONG4 of ${len} bytes exceeds the limit of ${MAX_LONG_BYTES}`);
  return len;
}
function floatLine(m: Machine): PickleValue {
  const text = latin1(line(m));
  return parseFloatLiteral(text) ?? fail(m, `FLOAT argument ${quote(text)} is not a number`);
}
/** STRING: a quoted, backslash-escaped Python 2 str. */
function stringLine(m: Machine): PickleValue {
  const raw = line(m);
  const q = raw[0];
  if (raw.length < 2 || (q !== 0x22 && q !== 0x27) || raw[raw.length - 1] !== q) fail(m, "the STRING argument must be quoted");
  const dec = escapeDecode(raw.subarray(1, raw.length - 1));
  return typeof dec === "string" ? fail(m, dec) : latin1(dec);
}
function unicodeLine(m: Machine): PickleValue {
  const s = rawUnicodeEscapeDecode(line(m));
  return typeof s === "string" ? s : fail(m, s.error);
}
function dictFromMark(m: Machine): PickleValue {
  const kv = popMark(m);
  const d = emptyDict();
  setItems(m, d, kv);
  return d;
}
function globalFromLines(m: Machine): PickleValue {
  const module = utf8(m, line(m), "module name");
  const name = utf8(m, line(m), "global name");
  return resolveGlobal(m, module, name);
}
function globalFromStack(m: Machine): PickleValue {
  const [module, name] = popN(m, 2);
  if (typeof module !== "string" || typeof name !== "string") {
    return fail(m, `STACK_GLOBAL needs two strings, got ${pickleTypeName(module)} and ${pickleTypeName(name)}`);
  }
  return resolveGlobal(m, module, name);
}
/** REDUCE (callable, args) and NEWOBJ (class, args). */
function reduce(m: Machine): PickleValue {
  const [callee, args] = popN(m, 2);
  return callGlobal(m, callee, args);
}
function newObjEx(m: Machine): PickleValue {
  const [cls, args, kwargs] = popN(m, 3);
  return callGlobal(m, cls, args, kwargs);
}
function build(m: Machine): void {
  const state = pop(m);
  const obj = top(m);
  const { q, build } = builderOf(m, obj);
  m.stack[m.stack.length - 1] = invoke(m, "BUILD of", q, q, () => build(obj, state));
}
function persIdLine(m: Machine): PickleValue {
  const raw = line(m);
  if (raw.some((b) => b > 0x7f)) fail(m, "PERSID argument is not ASCII");
  return persistent(m, latin1(raw));
}

// ---------------------------------------------------------------------------------------------------------
// The opcode table: every opcode of pickletools' table, by byte, with its name (for messages) and handler.

type Opcode = readonly [name: string, run: Handler];

const OPCODES: Readonly<Partial<Record<number, Opcode>>> = {
  // protocol control
  0x80: ["PROTO", proto],
  0x95: ["FRAME", frame],
  0x2e: ["STOP", stop],
  // stack manipulation
  0x28: ["MARK", mark],
  0x30: ["POP", popTop],
  0x31: ["POP_MARK", popMark],
  0x32: ["DUP", pushing(top)],
  // constants and numbers
  0x4e: ["NONE", pushing(() => null)],
  0x88: ["NEWTRUE", pushing(() => true)],
  0x89: ["NEWFALSE", pushing(() => false)],
  0x49: ["INT", pushing(intLine)],
  0x4a: ["BININT", pushing(i32)],
  0x4b: ["BININT1", pushing(u8)],
  0x4d: ["BININT2", pushing(u16)],
  0x4c: ["LONG", pushing(longLine)],
  0x8a: ["LONG1", sized(u8, "integer", decodeLongLE)],
  0x8b: ["LONG4", sized(long4Length, "integer", decodeLongLE)],
  0x46: ["FLOAT", pushing(floatLine)],
  0x47: ["BINFLOAT", pushing(f64)],
  // strings and bytes
  0x53: ["STRING", pushing(stringLine)],
  0x54: ["BINSTRING", sized(i32, "string", latin1)],
  0x55: ["SHORT_BINSTRING", sized(u8, "string", latin1)],
  0x56: ["UNICODE", pushing(unicodeLine)],
  0x58: ["BINUNICODE", sized(u32, "string", utf8String)],
  0x8c: ["SHORT_BINUNICODE", sized(u8, "string", utf8String)],
  0x8d: ["BINUNICODE8", sized(len64, "string", utf8String)],
  0x42: ["BINBYTES", sized(u32, "bytes", copy)],
  0x43: ["SHORT_BINBYTES", sized(u8, "bytes", copy)],
  0x8e: ["BINBYTES8", sized(len64, "bytes", copy)],
  0x96: ["BYTEARRAY8", sized(len64, "bytes", copy)],
  // lists
  0x5d: ["EMPTY_LIST", pushing(() => [])],
  0x6c: ["LIST", pushing(popMark)],
  0x61: ["APPEND", addTo(appendItems, popping(1))],
  0x65: ["APPENDS", addTo(appendItems, popMark)],
  // tuples
  0x29: ["EMPTY_TUPLE", pushing(() => tuple([]))],
  0x74: ["TUPLE", pushing(tupleOf(popMark))],
  0x85: ["TUPLE1", pushing(tupleOf(popping(1)))],
  0x86: ["TUPLE2", pushing(tupleOf(popping(2)))],
  0x87: ["TUPLE3", pushing(tupleOf(popping(3)))],
  // dicts
  0x7d: ["EMPTY_DICT", pushing(emptyDict)],
  0x64: ["DICT", pushing(dictFromMark)],
  0x73: ["SETITEM", addTo(setItems, popping(2))],
  0x75: ["SETITEMS", addTo(setItems, popMark)],
  // sets
  0x8f: ["EMPTY_SET", pushing(() => ({ kind: "set", items: [], frozen: false }))],
  0x90: ["ADDITEMS", addTo(addItems, popMark)],
  0x91: ["FROZENSET", pushing((m) => ({ kind: "set", items: popMark(m), frozen: true }))],
  // memo
  0x67: ["GET", memoGet(decimalIndex)],
  0x68: ["BINGET", memoGet(u8)],
  0x6a: ["LONG_BINGET", memoGet(u32)],
  0x70: ["PUT", memoPut(decimalIndex)],
  0x71: ["BINPUT", memoPut(u8)],
  0x72: ["LONG_BINPUT", memoPut(u32)],
  0x94: ["MEMOIZE", memoPut((m) => m.memo.size)],
  // globals, calls and persistent ids
  0x63: ["GLOBAL", pushing(globalFromLines)],
  0x93: ["STACK_GLOBAL", pushing(globalFromStack)],
  0x52: ["REDUCE", pushing(reduce)],
  0x81: ["NEWOBJ", pushing(reduce)],
  0x92: ["NEWOBJ_EX", pushing(newObjEx)],
  0x62: ["BUILD", build],
  0x50: ["PERSID", pushing(persIdLine)],
  0x51: ["BINPERSID", pushing((m) => persistent(m, pop(m)))],
  // valid pickle, refused here
  0x69: ["INST", refused("instantiating a class by name")],
  0x6f: ["OBJ", refused("instantiating a class from the stack")],
  0x82: ["EXT1", refused("copyreg extension registry")],
  0x83: ["EXT2", refused("copyreg extension registry")],
  0x84: ["EXT4", refused("copyreg extension registry")],
  0x97: ["NEXT_BUFFER", refused("out-of-band buffer")],
  0x98: ["READONLY_BUFFER", refused("out-of-band buffer")],
};

// ---------------------------------------------------------------------------------------------------------
// The loop.

/**
 * Runs the pickle in `bytes` and returns its value. Throws UserError (one line: path, problem, byte offset)
 * on anything malformed or not allowed; never evaluates a global that is not in `opts.globals`.
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): PickleValue {
  const m: Machine = {
    bytes,
    dv: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    opts,
    maxMemo: opts.maxMemo ?? DEFAULT_MAX_MEMO,
    maxDepth: opts.maxDepth ?? DEFAULT_MAX_DEPTH,
    pos: 0,
    at: 0,
    op: 0,
    proto: 0,
    stack: [],
    metastack: [],
    memo: new Map(),
    refs: new WeakSet(),
    producer: new WeakMap(),
    stopped: false,
  };
  do {
    m.at = m.pos;
    if (m.pos >= bytes.length) fail(m, bytes.length === 0 ? "empty pickle" : "truncated pickle: ended without STOP");
    m.op = bytes[m.pos++];
    const opcode = OPCODES[m.op] ?? fail(m, `unknown pickle opcode ${hexByte(m.op)}`);
    opcode[1](m);
  } while (!m.stopped);
  return m.stack[0];
}
