// The safe unpickler and the protocol-2 writer: the real torch.save data.pkl files (PyTorch 1.13 and 2.11),
// Python-made pickles of every protocol, forbidden globals, the writer round trip, and corrupt input.
//
// Expectations come from Python, run once while writing this file (none is run by the test):
// - test/fixtures/pickle/*.data.pkl: the `data.pkl` members of ../shared/models/stories260K.pt
//   (`stories260K/data.pkl`) and ../shared/models/tiny_llama3/consolidated.00.pth (`consolidated.00/data.pkl`),
//   copied unchanged with Python's zipfile.
// - STORIES260K_TENSORS / TINY_LLAMA3_TENSORS: `pickletools.dis` of those files, and Python's own
//   pickle.Unpickler over them with find_class returning stand-ins.
// - PY: base64 of `pickle.dumps(obj, protocol=P)` (CPython 3.11.7) for P = 0..5 over PY_DATA_SOURCE / PY_OBJ_SOURCE.
// - HAND: a hand-written pickle of the opcodes Python 3 no longer writes, checked with Python's
//   `pickle.Unpickler(..., encoding="latin1")` (STRING, BINSTRING, DUP, PERSID, ...).
import { describe, expect, it, vi } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES } from "../helpers/fixtures.js";
import { UserError } from "../../src/util/errors.js";
import {
  dictGet,
  globalName,
  isDict,
  isGlobalRef,
  isPickleObject,
  isSet,
  isTuple,
  unpickle,
  type PickleDict,
  type PickleGlobals,
  type PickleKey,
  type PickleObject,
  type PickleTuple,
  type PickleValue,
  type UnpickleOptions,
} from "../../src/loaders/pickle.js";
import { encodeLongLE, picklePlain, torchOrderedDict, torchTensor, type WritableValue } from "../../src/loaders/pickle-writer.js";
import { rng } from "../helpers/rng.js";

const PICKLES = join(FIXTURES, "pickle");
const STORIES = new Uint8Array(readFileSync(join(PICKLES, "stories260K.data.pkl")));
const TINY_LLAMA3 = new Uint8Array(readFileSync(join(PICKLES, "tiny_llama3.data.pkl")));
const PATH = "/m/x.pth (data.pkl)";

// ---------------------------------------------------------------------------------------------------------
// Helpers.

const T = (...items: PickleValue[]): PickleTuple => ({ kind: "tuple", items });
const D = (...entries: [PickleKey, PickleValue][]): PickleDict => ({ kind: "dict", map: new Map(entries) });
const b64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));
const latin1Bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
/** Bytes from latin-1 strings and byte arrays. */
const bytesOf = (...parts: (string | number[])[]) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === "string" ? [...latin1Bytes(p)] : p)));

function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error, got a value");
}

function expectUserError(f: () => unknown, ...parts: (string | RegExp)[]): string {
  const err = errorOf(f);
  expect(err).toBeInstanceOf(UserError);
  expect(err.message).not.toContain("\n");
  expect(err.message.startsWith(`${PATH}: `)).toBe(true);
  for (const p of parts) expect(err.message).toMatch(p);
  return err.message;
}

interface TensorInfo {
  storage: PickleValue;
  offset: PickleValue;
  size: PickleValue[];
  stride: PickleValue[];
  requiresGrad: PickleValue;
  hooks: PickleValue;
  nArgs: number;
}

/** The allow-list a torch state-dict reader uses; `calls` records every call. */
function torchGlobals(calls: string[] = []): PickleGlobals {
  return {
    "collections.OrderedDict": {
      call: (args) => {
        calls.push(args.length === 0 ? "collections.OrderedDict" : "collections.OrderedDict(with args)");
        return { kind: "dict", map: new Map() };
      },
    },
    "torch._utils._rebuild_tensor_v2": {
      call: (args) => {
        calls.push("torch._utils._rebuild_tensor_v2");
        const [storage, offset, size, stride, requiresGrad, hooks] = args;
        if (!isTuple(size) || !isTuple(stride)) throw new UserError(`${PATH}: bad tensor`);
        const value: TensorInfo = { storage, offset, size: size.items, stride: stride.items, requiresGrad, hooks, nArgs: args.length };
        return { kind: "object", type: "torch.Tensor", value };
      },
    },
    "torch.FloatStorage": {},
    "torch.BFloat16Storage": {},
    "torch.HalfStorage": {},
  };
}

function torchOpts(calls: string[] = [], pids: PickleValue[] = []): UnpickleOptions {
  return {
    path: PATH,
    globals: torchGlobals(calls),
    persistentLoad: (pid) => {
      pids.push(pid);
      return pid;
    },
  };
}

/** [name, storage type, key, location, storage numel, offset, sizes, strides, requires_grad, n args] per tensor. */
function summarize(stateDict: PickleValue) {
  if (!isDict(stateDict)) throw new Error("not a dict");
  return [...stateDict.map].map(([name, t]) => {
    if (!isPickleObject(t)) throw new Error(`${String(name)} is not a tensor`);
    const v = t.value as TensorInfo;
    if (!isTuple(v.storage)) throw new Error("storage is not a pid tuple");
    const [tag, type, key, location, numel] = v.storage.items;
    if (!isGlobalRef(type)) throw new Error("storage type is not a global");
    expect(tag).toBe("storage");
    expect(isDict(v.hooks) && v.hooks.map.size === 0).toBe(true);
    return [name, globalName(type), key, location, numel, v.offset, v.size, v.stride, v.requiresGrad, v.nArgs];
  });
}

/** Nesting depth of a list of lists, iteratively. */
function listDepth(v: PickleValue): number {
  let d = 0;
  let cur: PickleValue = v;
  while (Array.isArray(cur)) {
    d++;
    cur = cur.length > 0 ? cur[0] : null;
  }
  return d;
}


// ---------------------------------------------------------------------------------------------------------
// Expected facts about the real files (from pickletools / Python's Unpickler, see the header).

/** stories260K.pt (PyTorch 1.13): state dict "model", in order: [name, storage key, storage numel, sizes, strides]. */
const STORIES260K_TENSORS: [string, string, number, number[], number[]][] = [
  ["tok_embeddings.weight", "0", 32768, [512, 64], [64, 1]],
  ["layers.0.attention.wq.weight", "1", 4096, [64, 64], [64, 1]],
  ["layers.0.attention.wk.weight", "2", 2048, [32, 64], [64, 1]],
  ["layers.0.attention.wv.weight", "3", 2048, [32, 64], [64, 1]],
  ["layers.0.attention.wo.weight", "4", 4096, [64, 64], [64, 1]],
  ["layers.0.feed_forward.w1.weight", "5", 11008, [172, 64], [64, 1]],
  ["layers.0.feed_forward.w2.weight", "6", 11008, [64, 172], [172, 1]],
  ["layers.0.feed_forward.w3.weight", "7", 11008, [172, 64], [64, 1]],
  ["layers.0.attention_norm.weight", "8", 64, [64], [1]],
  ["layers.0.ffn_norm.weight", "9", 64, [64], [1]],
  ["layers.1.attention.wq.weight", "10", 4096, [64, 64], [64, 1]],
  ["layers.1.attention.wk.weight", "11", 2048, [32, 64], [64, 1]],
  ["layers.1.attention.wv.weight", "12", 2048, [32, 64], [64, 1]],
  ["layers.1.attention.wo.weight", "13", 4096, [64, 64], [64, 1]],
  ["layers.1.feed_forward.w1.weight", "14", 11008, [172, 64], [64, 1]],
  ["layers.1.feed_forward.w2.weight", "15", 11008, [64, 172], [172, 1]],
  ["layers.1.feed_forward.w3.weight", "16", 11008, [172, 64], [64, 1]],
  ["layers.1.attention_norm.weight", "17", 64, [64], [1]],
  ["layers.1.ffn_norm.weight", "18", 64, [64], [1]],
  ["layers.2.attention.wq.weight", "19", 4096, [64, 64], [64, 1]],
  ["layers.2.attention.wk.weight", "20", 2048, [32, 64], [64, 1]],
  ["layers.2.attention.wv.weight", "21", 2048, [32, 64], [64, 1]],
  ["layers.2.attention.wo.weight", "22", 4096, [64, 64], [64, 1]],
  ["layers.2.feed_forward.w1.weight", "23", 11008, [172, 64], [64, 1]],
  ["layers.2.feed_forward.w2.weight", "24", 11008, [64, 172], [172, 1]],
  ["layers.2.feed_forward.w3.weight", "25", 11008, [172, 64], [64, 1]],
  ["layers.2.attention_norm.weight", "26", 64, [64], [1]],
  ["layers.2.ffn_norm.weight", "27", 64, [64], [1]],
  ["layers.3.attention.wq.weight", "28", 4096, [64, 64], [64, 1]],
  ["layers.3.attention.wk.weight", "29", 2048, [32, 64], [64, 1]],
  ["layers.3.attention.wv.weight", "30", 2048, [32, 64], [64, 1]],
  ["layers.3.attention.wo.weight", "31", 4096, [64, 64], [64, 1]],
  ["layers.3.feed_forward.w1.weight", "32", 11008, [172, 64], [64, 1]],
  ["layers.3.feed_forward.w2.weight", "33", 11008, [64, 172], [172, 1]],
  ["layers.3.feed_forward.w3.weight", "34", 11008, [172, 64], [64, 1]],
  ["layers.3.attention_norm.weight", "35", 64, [64], [1]],
  ["layers.3.ffn_norm.weight", "36", 64, [64], [1]],
  ["layers.4.attention.wq.weight", "37", 4096, [64, 64], [64, 1]],
  ["layers.4.attention.wk.weight", "38", 2048, [32, 64], [64, 1]],
  ["layers.4.attention.wv.weight", "39", 2048, [32, 64], [64, 1]],
  ["layers.4.attention.wo.weight", "40", 4096, [64, 64], [64, 1]],
  ["layers.4.feed_forward.w1.weight", "41", 11008, [172, 64], [64, 1]],
  ["layers.4.feed_forward.w2.weight", "42", 11008, [64, 172], [172, 1]],
  ["layers.4.feed_forward.w3.weight", "43", 11008, [172, 64], [64, 1]],
  ["layers.4.attention_norm.weight", "44", 64, [64], [1]],
  ["layers.4.ffn_norm.weight", "45", 64, [64], [1]],
  ["norm.weight", "46", 64, [64], [1]],
  ["output.weight", "0", 32768, [512, 64], [64, 1]],
];

/** tiny_llama3 consolidated.00.pth (PyTorch 2.11): the top-level dict, same columns. */
const TINY_LLAMA3_TENSORS: [string, string, number, number[], number[]][] = [
  ["tok_embeddings.weight", "0", 73728, [768, 96], [96, 1]],
  ["layers.0.attention.wq.weight", "1", 9216, [96, 96], [96, 1]],
  ["layers.0.attention.wk.weight", "2", 3072, [32, 96], [96, 1]],
  ["layers.0.attention.wv.weight", "3", 3072, [32, 96], [96, 1]],
  ["layers.0.attention.wo.weight", "4", 9216, [96, 96], [96, 1]],
  ["layers.0.feed_forward.w1.weight", "5", 36864, [384, 96], [96, 1]],
  ["layers.0.feed_forward.w3.weight", "6", 36864, [384, 96], [96, 1]],
  ["layers.0.feed_forward.w2.weight", "7", 36864, [96, 384], [384, 1]],
  ["layers.0.attention_norm.weight", "8", 96, [96], [1]],
  ["layers.0.ffn_norm.weight", "9", 96, [96], [1]],
  ["layers.1.attention.wq.weight", "10", 9216, [96, 96], [96, 1]],
  ["layers.1.attention.wk.weight", "11", 3072, [32, 96], [96, 1]],
  ["layers.1.attention.wv.weight", "12", 3072, [32, 96], [96, 1]],
  ["layers.1.attention.wo.weight", "13", 9216, [96, 96], [96, 1]],
  ["layers.1.feed_forward.w1.weight", "14", 36864, [384, 96], [96, 1]],
  ["layers.1.feed_forward.w3.weight", "15", 36864, [384, 96], [96, 1]],
  ["layers.1.feed_forward.w2.weight", "16", 36864, [96, 384], [384, 1]],
  ["layers.1.attention_norm.weight", "17", 96, [96], [1]],
  ["layers.1.ffn_norm.weight", "18", 96, [96], [1]],
  ["layers.2.attention.wq.weight", "19", 9216, [96, 96], [96, 1]],
  ["layers.2.attention.wk.weight", "20", 3072, [32, 96], [96, 1]],
  ["layers.2.attention.wv.weight", "21", 3072, [32, 96], [96, 1]],
  ["layers.2.attention.wo.weight", "22", 9216, [96, 96], [96, 1]],
  ["layers.2.feed_forward.w1.weight", "23", 36864, [384, 96], [96, 1]],
  ["layers.2.feed_forward.w3.weight", "24", 36864, [384, 96], [96, 1]],
  ["layers.2.feed_forward.w2.weight", "25", 36864, [96, 384], [384, 1]],
  ["layers.2.attention_norm.weight", "26", 96, [96], [1]],
  ["layers.2.ffn_norm.weight", "27", 96, [96], [1]],
  ["norm.weight", "28", 96, [96], [1]],
  ["output.weight", "29", 73728, [768, 96], [96, 1]],
];

/** Python source of the PY pickles (run once; `P` and `K` were classes of `__main__`). */
const PY_DATA_SOURCE = String.raw`
S = [1, 2]
data = {
  'ints': [0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31 - 1, 2**31, 2**53 - 1, 2**53, -2**53 - 1,
           2**63, -2**63 - 1, 2**64, 10**30, -10**30, 2**2100 + 7, -(2**2100)],
  'floats': [0.0, -0.0, 1.5, -2.25e-300, 1e308, float('inf'), float('-inf'), 0.1, float('nan')],
  'strs': ['', 'ascii', 'h\u00e9llo', '\u20acuro', '\U0001F600', 'back\\slash\nnew\rline', 'x' * 300, '\x00nul', '\\u0041'],
  'bytes': [b'', b'\x00\xffab', b'y' * 300],
  'bytearray': bytearray(b'ba'),
  'nested': [[1, [2, (3,)]], (), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), {}, {'k': {'n': None}}],
  'sets': [{1, 2, 3}, frozenset({'a'}), set(), frozenset()],
  'consts': [True, False, None],
  'shared': [S, S, (S,)],
  'keys': {1: 'one', -5: 'neg', 2**70: 'big', None: 'none', 1.5: 'float', False: 'f', '\u00fc': 'u'},
}`;
const PY_OBJ_SOURCE = String.raw`
class P:
    def __init__(self): self.a = 1; self.b = 'two'
class K:
    def __new__(cls, x, *, k): return object.__new__(cls)
    def __getnewargs_ex__(self): return ((1,), {'k': 2})
l = []; t = (l,); l.append(t)
obj = {'p': P(), 'rec': t, 'k': K(1, k=2) if protocol >= 4 else None}`;
void PY_DATA_SOURCE;
void PY_OBJ_SOURCE;

function pyData(): PickleDict {
  const S = [1, 2];
  const set = (...items: PickleValue[]): PickleValue => ({ kind: "set", items, frozen: false });
  const frozen = (...items: PickleValue[]): PickleValue => ({ kind: "set", items, frozen: true });
  return D(
    ["ints", [0, 1, -1, 255, 256, 65535, 65536, -(2 ** 31), 2 ** 31 - 1, 2 ** 31, 2 ** 53 - 1, 2n ** 53n, -(2n ** 53n) - 1n,
      2n ** 63n, -(2n ** 63n) - 1n, 2n ** 64n, 10n ** 30n, -(10n ** 30n), 2n ** 2100n + 7n, -(2n ** 2100n)]],
    ["floats", [0, -0, 1.5, -2.25e-300, 1e308, Infinity, -Infinity, 0.1, NaN]],
    ["strs", ["", "ascii", "h\u00e9llo", "\u20acuro", "\u{1F600}", "back\\slash\nnew\rline", "x".repeat(300), "\x00nul", "\\u0041"]],
    ["bytes", [new Uint8Array(0), Uint8Array.from([0, 255, 97, 98]), latin1Bytes("y".repeat(300))]],
    ["bytearray", latin1Bytes("ba")],
    ["nested", [[1, [2, T(3)]], T(), T(1), T(1, 2), T(1, 2, 3), T(1, 2, 3, 4), D(), D(["k", D(["n", null])])]],
    ["sets", [set(1, 2, 3), frozen("a"), set(), frozen()]],
    ["consts", [true, false, null]],
    ["shared", [S, S, T(S)]],
    ["keys", D([1, "one"], [-5, "neg"], [2n ** 70n, "big"], [null, "none"], [1.5, "float"], [false, "f"], ["\u00fc", "u"])],
  );
}

const obj = (type: string, value: Record<string, unknown>): PickleObject => ({ kind: "object", type, value });
const setState = (o: PickleValue, state: PickleValue): PickleValue => {
  ((o as PickleObject).value as { state: PickleValue }).state = state;
  return o;
};

/** What a reader of these Python pickles would allow: builtins' containers, and the two test classes. */
function pyGlobals(): PickleGlobals {
  const items = (l: PickleValue | undefined): PickleValue[] => (l === undefined ? [] : [...(l as PickleValue[])]);
  return {
    "_codecs.encode": { call: ([s, enc]) => (enc === "latin1" ? latin1Bytes(s as string) : null) },
    "builtins.bytes": { call: () => new Uint8Array(0) },
    "builtins.bytearray": { call: ([b]) => (b === undefined ? new Uint8Array(0) : (b as Uint8Array).slice()) },
    "builtins.set": { call: ([l]) => ({ kind: "set", items: items(l), frozen: false }) },
    "builtins.frozenset": { call: ([l]) => ({ kind: "set", items: items(l), frozen: true }) },
    "builtins.object": {},
    "copyreg._reconstructor": {
      call: ([cls]) => obj(isGlobalRef(cls) ? globalName(cls) : "?", { args: [], state: null }),
      build: setState,
    },
    "__main__.P": { call: (args) => obj("__main__.P", { args, state: null }), build: setState },
    "__main__.K": { call: (args, kwargs) => obj("__main__.K", { args, kwargs }) },
  };
}

/** Protocol-2+ opcodes Python 3 never writes (STRING family, DUP, PERSID, ...), checked with Python. */
const HAND = b64(
  "KFMnYVx4NDFcblwncVwxMDEnClQDAAAAYWJjVQLpeo0CAAAAAAAAAGhpjgEAAAAAAAAAB5YAAAAAAAAAAFBhYjEyCkkxMjM0NTY3ODkw" +
    "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAKTC01TApGaW5mCkYtMS4yNWUtMwpWeFx1MDBlOVxVMDAwMWY2MDBcXHUwMDQxCkr/////TTQSigCL" +
    "AgAAAACAToiJXXIAAQAAagABAAAycDcKZzcKKEkxCkkyCmwoVmsKSTMKZChLAUsCSwNLBHQoSwlLCTFLCTCPKEsBSwKQKEsFkUkwMApH" +
    "P/gAAAAAAABsLg==",
);

/** PY[P]: base64 pickles of PY_DATA_SOURCE's `data` and PY_OBJ_SOURCE's `obj` at protocol P. */
const PY: Record<number, { data: string; obj: string }> = {
  0: {
    data:
      "KGRwMApWaW50cwpwMQoobHAyCkkwCmFJMQphSS0xCmFJMjU1CmFJMjU2CmFJNjU1MzUKYUk2NTUzNgphSS0yMTQ3NDgzNjQ4CmFJMjE0" +
      "NzQ4MzY0NwphTDIxNDc0ODM2NDhMCmFMOTAwNzE5OTI1NDc0MDk5MUwKYUw5MDA3MTk5MjU0NzQwOTkyTAphTC05MDA3MTk5MjU0NzQw" +
      "OTkzTAphTDkyMjMzNzIwMzY4NTQ3NzU4MDhMCmFMLTkyMjMzNzIwMzY4NTQ3NzU4MDlMCmFMMTg0NDY3NDQwNzM3MDk1NTE2MTZMCmFM" +
      "MTAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMEwKYUwtMTAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMEwKYUwxNDU1NDI4" +
      "NTY1MDA0ODYzMDkzNjE4OTAyMzg0NDkzMzA2NDk3Mjg4MDk0NDIwNTkyMTcwNTYzNDU5NDU1ODc2NTQ3NDkzNTY4NzYyMjUyNDEyNTky" +
      "MDk2MTEyMTg3NDQ0NTY5MTExODUzODE1OTk1NTg4NzU3NDYzNzU0NzUxMDM5MTQwNDg2NjkyOTc3NDU3MTg5MjE3NzM0Mjc4MjM0MzMx" +
      "NTg0MTkxMjA3NjU1MzY2MTAxOTgyMTM4NDAxNTc1OTg1NTQ4NTM4OTIyNTY0OTk3NTQwMjQ5MDE5NjY0MTE2ODMxODk5OTE1MDEwNDI0" +
      "NzYwODg0NTk2Nzk3Mjc5ODE5ODY5NDU0MTgwNDMyMDI3NDg2NjEyNDgyMTE3NDgzMzk4MjUwOTE5MDMzNTE3NDQ2NzYyNzkzMDQyOTM5" +
      "OTExNjU0NDMwNDM2OTE3MjY3NzA3MDAyMDY5NzI4Nzk1NTA5MDgxOTY2NDA0MjUzMzg5MjE1NzEyOTMzMTY1Njg1NTk4NzA4NDUxMjEx" +
      "MzMzMjgwNjcxMzIxNzA3MDEyMzk5Njc5OTU4MzUyMTI2ODIzODQxNjg4ODE0NzEzOTUwODE3MjA4MjkzNzYxNzQ5ODk0NTA4MjU5NzE5" +
      "NjY0OTQ2NTcwNjQ4OTkzNDAyNzYxNDA3Njk3OTQwODE3Nzc3OTYzNzExNDM1NDcyODc4MDc0ODM3NDAzODUzNzUzMzQ2NTk2Njg0MjQ4" +
      "ODIxMzMxNDA2NjEzOTQ0NDMwNTg3NDc2NTU0ODM2MDMxNDQxNDE4OTAwMDY1NjcyMTcyMjM1NTQyNzAxOTg2MzYxMDM3MzAzODUxMjUz" +
      "ODNMCmFMLTE0NTU0Mjg1NjUwMDQ4NjMwOTM2MTg5MDIzODQ0OTMzMDY0OTcyODgwOTQ0MjA1OTIxNzA1NjM0NTk0NTU4NzY1NDc0OTM1" +
      "Njg3NjIyNTI0MTI1OTIwOTYxMTIxODc0NDQ1NjkxMTE4NTM4MTU5OTU1ODg3NTc0NjM3NTQ3NTEwMzkxNDA0ODY2OTI5Nzc0NTcxODky" +
      "MTc3MzQyNzgyMzQzMzE1ODQxOTEyMDc2NTUzNjYxMDE5ODIxMzg0MDE1NzU5ODU1NDg1Mzg5MjI1NjQ5OTc1NDAyNDkwMTk2NjQxMTY4" +
      "MzE4OTk5MTUwMTA0MjQ3NjA4ODQ1OTY3OTcyNzk4MTk4Njk0NTQxODA0MzIwMjc0ODY2MTI0ODIxMTc0ODMzOTgyNTA5MTkwMzM1MTc0" +
      "NDY3NjI3OTMwNDI5Mzk5MTE2NTQ0MzA0MzY5MTcyNjc3MDcwMDIwNjk3Mjg3OTU1MDkwODE5NjY0MDQyNTMzODkyMTU3MTI5MzMxNjU2" +
      "ODU1OTg3MDg0NTEyMTEzMzMyODA2NzEzMjE3MDcwMTIzOTk2Nzk5NTgzNTIxMjY4MjM4NDE2ODg4MTQ3MTM5NTA4MTcyMDgyOTM3NjE3" +
      "NDk4OTQ1MDgyNTk3MTk2NjQ5NDY1NzA2NDg5OTM0MDI3NjE0MDc2OTc5NDA4MTc3Nzc5NjM3MTE0MzU0NzI4NzgwNzQ4Mzc0MDM4NTM3" +
      "NTMzNDY1OTY2ODQyNDg4MjEzMzE0MDY2MTM5NDQ0MzA1ODc0NzY1NTQ4MzYwMzE0NDE0MTg5MDAwNjU2NzIxNzIyMzU1NDI3MDE5ODYz" +
      "NjEwMzczMDM4NTEyNTM3NkwKYXNWZmxvYXRzCnAzCihscDQKRjAuMAphRi0wLjAKYUYxLjUKYUYtMi4yNWUtMzAwCmFGMWUrMzA4CmFG" +
      "aW5mCmFGLWluZgphRjAuMQphRm5hbgphc1ZzdHJzCnA1CihscDYKVgpwNwphVmFzY2lpCnA4CmFWaOlsbG8KcDkKYVZcdTIwYWN1cm8K" +
      "cDEwCmFWXFUwMDAxZjYwMApwMTEKYVZiYWNrXHUwMDVjc2xhc2hcdTAwMGFuZXdcdTAwMGRsaW5lCnAxMgphVnh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eApwMTMKYVZcdTAwMDBudWwKcDE0CmFWXHUw" +
      "MDVjdTAwNDEKcDE1CmFzVmJ5dGVzCnAxNgoobHAxNwpjX19idWlsdGluX18KYnl0ZXMKcDE4Cih0UnAxOQphY19jb2RlY3MKZW5jb2Rl" +
      "CnAyMAooVlx1MDAwMP9hYgpwMjEKVmxhdGluMQpwMjIKdHAyMwpScDI0CmFnMjAKKFZ5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXkKcDI1CmcyMgp0cDI2ClJwMjcKYXNWYnl0ZWFycmF5CnAyOApjX19i" +
      "dWlsdGluX18KYnl0ZWFycmF5CnAyOQooZzIwCihWYmEKcDMwCmcyMgp0cDMxClJwMzIKdHAzMwpScDM0CnNWbmVzdGVkCnAzNQoobHAz" +
      "NgoobHAzNwpJMQphKGxwMzgKSTIKYShJMwp0cDM5CmFhYSh0YShJMQp0cDQwCmEoSTEKSTIKdHA0MQphKEkxCkkyCkkzCnRwNDIKYShJ" +
      "MQpJMgpJMwpJNAp0cDQzCmEoZHA0NAphKGRwNDUKVmsKcDQ2CihkcDQ3ClZuCnA0OApOc3Nhc1ZzZXRzCnA0OQoobHA1MApjX19idWls" +
      "dGluX18Kc2V0CnA1MQooKGxwNTIKSTEKYUkyCmFJMwphdHA1MwpScDU0CmFjX19idWlsdGluX18KZnJvemVuc2V0CnA1NQooKGxwNTYK" +
      "VmEKcDU3CmF0cDU4ClJwNTkKYWc1MQooKGxwNjAKdHA2MQpScDYyCmFnNTUKKChscDYzCnRwNjQKUnA2NQphc1Zjb25zdHMKcDY2Cihs" +
      "cDY3CkkwMQphSTAwCmFOYXNWc2hhcmVkCnA2OAoobHA2OQoobHA3MApJMQphSTIKYWFnNzAKYShnNzAKdHA3MQphc1ZrZXlzCnA3Mgoo" +
      "ZHA3MwpJMQpWb25lCnA3NApzSS01ClZuZWcKcDc1CnNMMTE4MDU5MTYyMDcxNzQxMTMwMzQyNEwKVmJpZwpwNzYKc05Wbm9uZQpwNzcK" +
      "c0YxLjUKVmZsb2F0CnA3OApzSTAwClZmCnA3OQpzVvwKcDgwClZ1CnA4MQpzcy4=",
    obj:
      "KGRwMApWcApwMQpjY29weV9yZWcKX3JlY29uc3RydWN0b3IKcDIKKGNfX21haW5fXwpQCnAzCmNfX2J1aWx0aW5fXwpvYmplY3QKcDQK" +
      "TnRwNQpScDYKKGRwNwpWYQpwOApJMQpzVmIKcDkKVnR3bwpwMTAKc2JzVnJlYwpwMTEKKChscDEyCihnMTIKdHAxMwphMDBnMTMKc1Zr" +
      "CnAxNApOcy4=",
  },
  1: {
    data:
      "fXEAKFgEAAAAaW50c3EBXXECKEsASwFK/////0v/TQABTf//SgAAAQBKAAAAgEr///9/TDIxNDc0ODM2NDhMCkw5MDA3MTk5MjU0NzQw" +
      "OTkxTApMOTAwNzE5OTI1NDc0MDk5MkwKTC05MDA3MTk5MjU0NzQwOTkzTApMOTIyMzM3MjAzNjg1NDc3NTgwOEwKTC05MjIzMzcyMDM2" +
      "ODU0Nzc1ODA5TApMMTg0NDY3NDQwNzM3MDk1NTE2MTZMCkwxMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwTApMLTEwMDAwMDAw" +
      "MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDBMCkwxNDU1NDI4NTY1MDA0ODYzMDkzNjE4OTAyMzg0NDkzMzA2NDk3Mjg4MDk0NDIwNTkyMTcw" +
      "NTYzNDU5NDU1ODc2NTQ3NDkzNTY4NzYyMjUyNDEyNTkyMDk2MTEyMTg3NDQ0NTY5MTExODUzODE1OTk1NTg4NzU3NDYzNzU0NzUxMDM5" +
      "MTQwNDg2NjkyOTc3NDU3MTg5MjE3NzM0Mjc4MjM0MzMxNTg0MTkxMjA3NjU1MzY2MTAxOTgyMTM4NDAxNTc1OTg1NTQ4NTM4OTIyNTY0" +
      "OTk3NTQwMjQ5MDE5NjY0MTE2ODMxODk5OTE1MDEwNDI0NzYwODg0NTk2Nzk3Mjc5ODE5ODY5NDU0MTgwNDMyMDI3NDg2NjEyNDgyMTE3" +
      "NDgzMzk4MjUwOTE5MDMzNTE3NDQ2NzYyNzkzMDQyOTM5OTExNjU0NDMwNDM2OTE3MjY3NzA3MDAyMDY5NzI4Nzk1NTA5MDgxOTY2NDA0" +
      "MjUzMzg5MjE1NzEyOTMzMTY1Njg1NTk4NzA4NDUxMjExMzMzMjgwNjcxMzIxNzA3MDEyMzk5Njc5OTU4MzUyMTI2ODIzODQxNjg4ODE0" +
      "NzEzOTUwODE3MjA4MjkzNzYxNzQ5ODk0NTA4MjU5NzE5NjY0OTQ2NTcwNjQ4OTkzNDAyNzYxNDA3Njk3OTQwODE3Nzc3OTYzNzExNDM1" +
      "NDcyODc4MDc0ODM3NDAzODUzNzUzMzQ2NTk2Njg0MjQ4ODIxMzMxNDA2NjEzOTQ0NDMwNTg3NDc2NTU0ODM2MDMxNDQxNDE4OTAwMDY1" +
      "NjcyMTcyMjM1NTQyNzAxOTg2MzYxMDM3MzAzODUxMjUzODNMCkwtMTQ1NTQyODU2NTAwNDg2MzA5MzYxODkwMjM4NDQ5MzMwNjQ5NzI4" +
      "ODA5NDQyMDU5MjE3MDU2MzQ1OTQ1NTg3NjU0NzQ5MzU2ODc2MjI1MjQxMjU5MjA5NjExMjE4NzQ0NDU2OTExMTg1MzgxNTk5NTU4ODc1" +
      "NzQ2Mzc1NDc1MTAzOTE0MDQ4NjY5Mjk3NzQ1NzE4OTIxNzczNDI3ODIzNDMzMTU4NDE5MTIwNzY1NTM2NjEwMTk4MjEzODQwMTU3NTk4" +
      "NTU0ODUzODkyMjU2NDk5NzU0MDI0OTAxOTY2NDExNjgzMTg5OTkxNTAxMDQyNDc2MDg4NDU5Njc5NzI3OTgxOTg2OTQ1NDE4MDQzMjAy" +
      "NzQ4NjYxMjQ4MjExNzQ4MzM5ODI1MDkxOTAzMzUxNzQ0Njc2Mjc5MzA0MjkzOTkxMTY1NDQzMDQzNjkxNzI2NzcwNzAwMjA2OTcyODc5" +
      "NTUwOTA4MTk2NjQwNDI1MzM4OTIxNTcxMjkzMzE2NTY4NTU5ODcwODQ1MTIxMTMzMzI4MDY3MTMyMTcwNzAxMjM5OTY3OTk1ODM1MjEy" +
      "NjgyMzg0MTY4ODgxNDcxMzk1MDgxNzIwODI5Mzc2MTc0OTg5NDUwODI1OTcxOTY2NDk0NjU3MDY0ODk5MzQwMjc2MTQwNzY5Nzk0MDgx" +
      "Nzc3Nzk2MzcxMTQzNTQ3Mjg3ODA3NDgzNzQwMzg1Mzc1MzM0NjU5NjY4NDI0ODgyMTMzMTQwNjYxMzk0NDQzMDU4NzQ3NjU1NDgzNjAz" +
      "MTQ0MTQxODkwMDA2NTY3MjE3MjIzNTU0MjcwMTk4NjM2MTAzNzMwMzg1MTI1Mzc2TAplWAYAAABmbG9hdHNxA11xBChHAAAAAAAAAABH" +
      "gAAAAAAAAABHP/gAAAAAAABHgbgb47tYEcRHf+HM84XryKBHf/AAAAAAAABH//AAAAAAAABHP7mZmZmZmZpHf/gAAAAAAABlWAQAAABz" +
      "dHJzcQVdcQYoWAAAAABxB1gFAAAAYXNjaWlxCFgGAAAAaMOpbGxvcQlYBgAAAOKCrHVyb3EKWAQAAADwn5iAcQtYEwAAAGJhY2tcc2xh" +
      "c2gKbmV3DWxpbmVxDFgsAQAAeHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4cQ1YBAAAAABudWxxDlgGAAAAXHUwMDQxcQ9lWAUAAABieXRlc3EQXXERKGNfX2J1aWx0aW5fXwpieXRlcwpxEilScRNjX2Nv" +
      "ZGVjcwplbmNvZGUKcRQoWAUAAAAAw79hYnEVWAYAAABsYXRpbjFxFnRxF1JxGGgUKFgsAQAAeXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5cRloFnRxGlJxG2VYCQAAAGJ5dGVhcnJheXEcY19fYnVpbHRp" +
      "bl9fCmJ5dGVhcnJheQpxHShoFChYAgAAAGJhcR5oFnRxH1JxIHRxIVJxIlgGAAAAbmVzdGVkcSNdcSQoXXElKEsBXXEmKEsCKEsDdHEn" +
      "ZWUpKEsBdHEoKEsBSwJ0cSkoSwFLAksDdHEqKEsBSwJLA0sEdHErfXEsfXEtWAEAAABrcS59cS9YAQAAAG5xME5zc2VYBAAAAHNldHNx" +
      "MV1xMihjX19idWlsdGluX18Kc2V0CnEzKF1xNChLAUsCSwNldHE1UnE2Y19fYnVpbHRpbl9fCmZyb3plbnNldApxNyhdcThYAQAAAGFx" +
      "OWF0cTpScTtoMyhdcTx0cT1ScT5oNyhdcT90cUBScUFlWAYAAABjb25zdHNxQl1xQyhJMDEKSTAwCk5lWAYAAABzaGFyZWRxRF1xRShd" +
      "cUYoSwFLAmVoRihoRnRxR2VYBAAAAGtleXNxSH1xSShLAVgDAAAAb25lcUpK+////1gDAAAAbmVncUtMMTE4MDU5MTYyMDcxNzQxMTMw" +
      "MzQyNEwKWAMAAABiaWdxTE5YBAAAAG5vbmVxTUc/+AAAAAAAAFgFAAAAZmxvYXRxTkkwMApYAQAAAGZxT1gCAAAAw7xxUFgBAAAAdXFR" +
      "dXUu",
    obj:
      "fXEAKFgBAAAAcHEBY2NvcHlfcmVnCl9yZWNvbnN0cnVjdG9yCnECKGNfX21haW5fXwpQCnEDY19fYnVpbHRpbl9fCm9iamVjdApxBE50" +
      "cQVScQZ9cQcoWAEAAABhcQhLAVgBAAAAYnEJWAMAAAB0d29xCnViWAMAAAByZWNxCyhdcQwoaAx0cQ1hMWgNWAEAAABrcQ5OdS4=",
  },
  2: {
    data:
      "gAJ9cQAoWAQAAABpbnRzcQFdcQIoSwBLAUr/////S/9NAAFN//9KAAABAEoAAACASv///3+KBQAAAIAAigf///////8figcAAAAAAAAg" +
      "igf////////figkAAAAAAAAAgACKCf////////9//4oJAAAAAAAAAAABig0AAABA6u10RtCcLJ8Mig0AAADAFRKLuS9j02DziwcBAAAH" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEIsHAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPBlWAYAAABmbG9hdHNxA11x" +
      "BChHAAAAAAAAAABHgAAAAAAAAABHP/gAAAAAAABHgbgb47tYEcRHf+HM84XryKBHf/AAAAAAAABH//AAAAAAAABHP7mZmZmZmZpHf/gA" +
      "AAAAAABlWAQAAABzdHJzcQVdcQYoWAAAAABxB1gFAAAAYXNjaWlxCFgGAAAAaMOpbGxvcQlYBgAAAOKCrHVyb3EKWAQAAADwn5iAcQtY" +
      "EwAAAGJhY2tcc2xhc2gKbmV3DWxpbmVxDFgsAQAAeHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4cQ1YBAAAAABudWxxDlgGAAAAXHUwMDQxcQ9lWAUAAABieXRlc3EQXXERKGNfX2J1aWx0aW5fXwpieXRl" +
      "cwpxEilScRNjX2NvZGVjcwplbmNvZGUKcRRYBQAAAADDv2FicRVYBgAAAGxhdGluMXEWhnEXUnEYaBRYLAEAAHl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXEZaBaGcRpScRtlWAkAAABieXRlYXJyYXlx" +
      "HGNfX2J1aWx0aW5fXwpieXRlYXJyYXkKcR1oFFgCAAAAYmFxHmgWhnEfUnEghXEhUnEiWAYAAABuZXN0ZWRxI11xJChdcSUoSwFdcSYo" +
      "SwJLA4VxJ2VlKUsBhXEoSwFLAoZxKUsBSwJLA4dxKihLAUsCSwNLBHRxK31xLH1xLVgBAAAAa3EufXEvWAEAAABucTBOc3NlWAQAAABz" +
      "ZXRzcTFdcTIoY19fYnVpbHRpbl9fCnNldApxM11xNChLAUsCSwNlhXE1UnE2Y19fYnVpbHRpbl9fCmZyb3plbnNldApxN11xOFgBAAAA" +
      "YXE5YYVxOlJxO2gzXXE8hXE9UnE+aDddcT+FcUBScUFlWAYAAABjb25zdHNxQl1xQyiIiU5lWAYAAABzaGFyZWRxRF1xRShdcUYoSwFL" +
      "AmVoRmhGhXFHZVgEAAAAa2V5c3FIfXFJKEsBWAMAAABvbmVxSkr7////WAMAAABuZWdxS4oJAAAAAAAAAABAWAMAAABiaWdxTE5YBAAA" +
      "AG5vbmVxTUc/+AAAAAAAAFgFAAAAZmxvYXRxTolYAQAAAGZxT1gCAAAAw7xxUFgBAAAAdXFRdXUu",
    obj:
      "gAJ9cQAoWAEAAABwcQFjX19tYWluX18KUApxAimBcQN9cQQoWAEAAABhcQVLAVgBAAAAYnEGWAMAAAB0d29xB3ViWAMAAAByZWNxCF1x" +
      "CWgJhXEKYTBoClgBAAAAa3ELTnUu",
  },
  3: {
    data:
      "gAN9cQAoWAQAAABpbnRzcQFdcQIoSwBLAUr/////S/9NAAFN//9KAAABAEoAAACASv///3+KBQAAAIAAigf///////8figcAAAAAAAAg" +
      "igf////////figkAAAAAAAAAgACKCf////////9//4oJAAAAAAAAAAABig0AAABA6u10RtCcLJ8Mig0AAADAFRKLuS9j02DziwcBAAAH" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEIsHAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPBlWAYAAABmbG9hdHNxA11x" +
      "BChHAAAAAAAAAABHgAAAAAAAAABHP/gAAAAAAABHgbgb47tYEcRHf+HM84XryKBHf/AAAAAAAABH//AAAAAAAABHP7mZmZmZmZpHf/gA" +
      "AAAAAABlWAQAAABzdHJzcQVdcQYoWAAAAABxB1gFAAAAYXNjaWlxCFgGAAAAaMOpbGxvcQlYBgAAAOKCrHVyb3EKWAQAAADwn5iAcQtY" +
      "EwAAAGJhY2tcc2xhc2gKbmV3DWxpbmVxDFgsAQAAeHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4cQ1YBAAAAABudWxxDlgGAAAAXHUwMDQxcQ9lWAUAAABieXRlc3EQXXERKEMAcRJDBAD/YWJxE0IsAQAA" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5cRRlWAkAAABieXRl" +
      "YXJyYXlxFWNidWlsdGlucwpieXRlYXJyYXkKcRZDAmJhcReFcRhScRlYBgAAAG5lc3RlZHEaXXEbKF1xHChLAV1xHShLAksDhXEeZWUp" +
      "SwGFcR9LAUsChnEgSwFLAksDh3EhKEsBSwJLA0sEdHEifXEjfXEkWAEAAABrcSV9cSZYAQAAAG5xJ05zc2VYBAAAAHNldHNxKF1xKShj" +
      "YnVpbHRpbnMKc2V0CnEqXXErKEsBSwJLA2WFcSxScS1jYnVpbHRpbnMKZnJvemVuc2V0CnEuXXEvWAEAAABhcTBhhXExUnEyaCpdcTOF" +
      "cTRScTVoLl1xNoVxN1JxOGVYBgAAAGNvbnN0c3E5XXE6KIiJTmVYBgAAAHNoYXJlZHE7XXE8KF1xPShLAUsCZWg9aD2FcT5lWAQAAABr" +
      "ZXlzcT99cUAoSwFYAwAAAG9uZXFBSvv///9YAwAAAG5lZ3FCigkAAAAAAAAAAEBYAwAAAGJpZ3FDTlgEAAAAbm9uZXFERz/4AAAAAAAA" +
      "WAUAAABmbG9hdHFFiVgBAAAAZnFGWAIAAADDvHFHWAEAAAB1cUh1dS4=",
    obj:
      "gAN9cQAoWAEAAABwcQFjX19tYWluX18KUApxAimBcQN9cQQoWAEAAABhcQVLAVgBAAAAYnEGWAMAAAB0d29xB3ViWAMAAAByZWNxCF1x" +
      "CWgJhXEKYTBoClgBAAAAa3ELTnUu",
  },
  4: {
    data:
      "gASV8gYAAAAAAAB9lCiMBGludHOUXZQoSwBLAUr/////S/9NAAFN//9KAAABAEoAAACASv///3+KBQAAAIAAigf///////8figcAAAAA" +
      "AAAgigf////////figkAAAAAAAAAgACKCf////////9//4oJAAAAAAAAAAABig0AAABA6u10RtCcLJ8Mig0AAADAFRKLuS9j02DziwcB" +
      "AAAHAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEIsHAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPBljAZmbG9hdHOUXZQo" +
      "RwAAAAAAAAAAR4AAAAAAAAAARz/4AAAAAAAAR4G4G+O7WBHER3/hzPOF68igR3/wAAAAAAAAR//wAAAAAAAARz+5mZmZmZmaR3/4AAAA" +
      "AAAAZYwEc3Ryc5RdlCiMAJSMBWFzY2lplIwGaMOpbGxvlIwG4oKsdXJvlIwE8J+YgJSME2JhY2tcc2xhc2gKbmV3DWxpbmWUWCwBAAB4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHiUjAQAbnVslIwGXHUw" +
      "MDQxlGWMBWJ5dGVzlF2UKEMAlEMEAP9hYpRCLAEAAHl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eZRljAlieXRlYXJyYXmUjAhidWlsdGluc5SMCWJ5dGVhcnJheZSTlEMCYmGUhZRSlIwGbmVzdGVklF2U" +
      "KF2UKEsBXZQoSwJLA4WUZWUpSwGFlEsBSwKGlEsBSwJLA4eUKEsBSwJLA0sEdJR9lH2UjAFrlH2UjAFulE5zc2WMBHNldHOUXZQoj5Qo" +
      "SwFLAksDkCiMAWGUkZSPlCiRlGWMBmNvbnN0c5RdlCiIiU5ljAZzaGFyZWSUXZQoXZQoSwFLAmVoNWg1hZRljARrZXlzlH2UKEsBjANv" +
      "bmWUSvv///+MA25lZ5SKCQAAAAAAAAAAQIwDYmlnlE6MBG5vbmWURz/4AAAAAAAAjAVmbG9hdJSJjAFmlIwCw7yUjAF1lHV1Lg==",
    obj:
      "gASVWwAAAAAAAAB9lCiMAXCUjAhfX21haW5fX5SMAVCUk5QpgZR9lCiMAWGUSwGMAWKUjAN0d2+UdWKMA3JlY5RdlGgLhZRhMGgMjAFr" +
      "lGgCjAFLlJOUSwGFlH2UaA1LAnOSlHUu",
  },
  5: {
    data:
      "gAWV3AYAAAAAAAB9lCiMBGludHOUXZQoSwBLAUr/////S/9NAAFN//9KAAABAEoAAACASv///3+KBQAAAIAAigf///////8figcAAAAA" +
      "AAAgigf////////figkAAAAAAAAAgACKCf////////9//4oJAAAAAAAAAAABig0AAABA6u10RtCcLJ8Mig0AAADAFRKLuS9j02DziwcB" +
      "AAAHAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEIsHAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPBljAZmbG9hdHOUXZQo" +
      "RwAAAAAAAAAAR4AAAAAAAAAARz/4AAAAAAAAR4G4G+O7WBHER3/hzPOF68igR3/wAAAAAAAAR//wAAAAAAAARz+5mZmZmZmaR3/4AAAA" +
      "AAAAZYwEc3Ryc5RdlCiMAJSMBWFzY2lplIwGaMOpbGxvlIwG4oKsdXJvlIwE8J+YgJSME2JhY2tcc2xhc2gKbmV3DWxpbmWUWCwBAAB4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHiUjAQAbnVslIwGXHUw" +
      "MDQxlGWMBWJ5dGVzlF2UKEMAlEMEAP9hYpRCLAEAAHl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5" +
      "eXl5eXl5eXl5eXl5eXl5eXl5eZRljAlieXRlYXJyYXmUlgIAAAAAAAAAYmGUjAZuZXN0ZWSUXZQoXZQoSwFdlChLAksDhZRlZSlLAYWU" +
      "SwFLAoaUSwFLAksDh5QoSwFLAksDSwR0lH2UfZSMAWuUfZSMAW6UTnNzZYwEc2V0c5RdlCiPlChLAUsCSwOQKIwBYZSRlI+UKJGUZYwG" +
      "Y29uc3RzlF2UKIiJTmWMBnNoYXJlZJRdlChdlChLAUsCZWgwaDCFlGWMBGtleXOUfZQoSwGMA29uZZRK+////4wDbmVnlIoJAAAAAAAA" +
      "AABAjANiaWeUTowEbm9uZZRHP/gAAAAAAACMBWZsb2F0lImMAWaUjALDvJSMAXWUdXUu",
    obj:
      "gAWVWwAAAAAAAAB9lCiMAXCUjAhfX21haW5fX5SMAVCUk5QpgZR9lCiMAWGUSwGMAWKUjAN0d2+UdWKMA3JlY5RdlGgLhZRhMGgMjAFr" +
      "lGgCjAFLlJOUSwGFlH2UaA1LAnOSlHUu",
  },
};

// ---------------------------------------------------------------------------------------------------------

describe("real torch.save data.pkl", () => {
  it("stories260K.pt (PyTorch 1.13): protocol 2, {model, model_args, config}, fp32 storages, tied output", () => {
    const calls: string[] = [];
    const pids: PickleValue[] = [];
    expect([...STORIES.subarray(0, 2)]).toEqual([0x80, 2]); // PROTO 2
    const v = unpickle(STORIES, torchOpts(calls, pids));
    if (!isDict(v)) throw new Error("top level is not a dict");
    expect([...v.map.keys()]).toEqual(["model", "model_args", "config"]);

    const model = dictGet(v, "model") as PickleValue;
    expect(isDict(model)).toBe(true);
    expect(summarize(model)).toEqual(
      STORIES260K_TENSORS.map(([name, key, numel, size, stride]) => [name, "torch.FloatStorage", key, "cpu", numel, 0, size, stride, false, 6]),
    );
    // output.weight is the very same tensor object as tok_embeddings.weight (a BINGET of memo 15): storage "0".
    const m = model as PickleDict;
    expect(dictGet(m, "output.weight")).toBe(dictGet(m, "tok_embeddings.weight"));
    // 47 storages, each loaded once; 95 REDUCEs = 47 tensors + 47 empty hook OrderedDicts + the state dict.
    expect(pids.length).toBe(47);
    expect(new Set(pids.map((p) => (p as PickleTuple).items[2]))).toEqual(new Set(Array.from({ length: 47 }, (_, i) => String(i))));
    expect(calls.filter((c) => c === "torch._utils._rebuild_tensor_v2").length).toBe(47);
    expect(calls.filter((c) => c === "collections.OrderedDict").length).toBe(48);
    expect(calls.length).toBe(95);

    const args = dictGet(v, "model_args") as PickleDict;
    expect([...args.map]).toEqual([
      ["dim", 64], ["n_layers", 5], ["n_heads", 8], ["n_kv_heads", 4], ["vocab_size", 512], ["multiple_of", 4],
      ["max_seq_len", 512], ["dropout", 0.05],
    ]);
    const config = dictGet(v, "config") as PickleDict;
    expect([...config.map]).toEqual([
      ["out_dir", "outmini"], ["batch_size", 128], ["max_seq_len", 512], ["gradient_accumulation_steps", 1],
      ["vocab_source", "custom"], ["vocab_size", 512], ["dim", 64], ["n_layers", 5], ["n_heads", 8], ["n_kv_heads", 4],
      ["multiple_of", 4], ["learning_rate", 0.001], ["dropout", 0.05], ["weight_decay", 0.01], ["max_iters", 100000],
      ["beta2", 0.99], ["warmup_iters", 1000], ["eval_interval", 2000], ["eval_iters", 100], ["compile", true],
    ]);
  });

  it("tiny_llama3 consolidated.00.pth (PyTorch 2.11): protocol 2, the state dict itself, bf16, untied output", () => {
    const calls: string[] = [];
    const pids: PickleValue[] = [];
    expect([...TINY_LLAMA3.subarray(0, 2)]).toEqual([0x80, 2]);
    const v = unpickle(TINY_LLAMA3, torchOpts(calls, pids));
    // A plain dict (EMPTY_DICT), not an OrderedDict, holding the tensors directly.
    expect(summarize(v)).toEqual(
      TINY_LLAMA3_TENSORS.map(([name, key, numel, size, stride]) => [name, "torch.BFloat16Storage", key, "cpu", numel, 0, size, stride, false, 6]),
    );
    expect(pids.length).toBe(30); // every tensor has its own storage, output.weight included ("29")
    expect(calls.filter((c) => c === "collections.OrderedDict").length).toBe(30); // the empty backward hooks only
    expect(calls.length).toBe(60);
  });

  it("refuses the real file when an allow-list entry is missing, naming the global", () => {
    const globals = torchGlobals();
    delete globals["torch.BFloat16Storage"];
    const msg = expectUserError(
      () => unpickle(TINY_LLAMA3, { ...torchOpts(), globals }),
      'pickle refers to global "torch.BFloat16Storage", which is not allowed (only: collections.OrderedDict, ' +
        "torch.FloatStorage, torch.HalfStorage, torch._utils._rebuild_tensor_v2) at offset 85",
    );
    expect(msg).toMatch(/^\/m\/x\.pth \(data\.pkl\): pickle refers to global/);
  });

  it("needs a persistent loader for the storages", () => {
    expectUserError(
      () => unpickle(STORIES, { path: PATH, globals: torchGlobals() }),
      "persistent id (BINPERSID) but no persistent loader was given at offset 175",
    );
  });
});

describe("Python-made pickles, protocols 0-5", () => {
  for (let p = 0; p <= 5; p++) {
    it(`protocol ${p}: ints, floats, strings, bytes, containers, sets, shared references`, () => {
      const bytes = b64(PY[p].data);
      if (p >= 2) expect([...bytes.subarray(0, 2)]).toEqual([0x80, p]);
      const v = unpickle(bytes, { path: PATH, globals: pyGlobals() });
      expect(v).toEqual(pyData());
      const d = v as PickleDict;
      expect([...d.map.keys()]).toEqual([...pyData().map.keys()]);
      expect([...(dictGet(d, "keys") as PickleDict).map.keys()]).toEqual([1, -5, 2n ** 70n, null, 1.5, false, "\u00fc"]);
      const floats = dictGet(d, "floats") as number[];
      expect(Object.is(floats[1], -0)).toBe(true);
      const shared = dictGet(d, "shared") as PickleValue[];
      expect(shared[0]).toBe(shared[1]); // one list, reached twice through the memo
      expect((shared[2] as PickleTuple).items[0]).toBe(shared[0]);
      expect(typeof (dictGet(d, "ints") as PickleValue[])[11]).toBe("bigint"); // 2**53 is not a safe integer
    });

    it(`protocol ${p}: objects (REDUCE/NEWOBJ/NEWOBJ_EX + BUILD) and a recursive tuple (POP / POP_MARK)`, () => {
      const v = unpickle(b64(PY[p].obj), { path: PATH, globals: pyGlobals() }) as PickleDict;
      expect(dictGet(v, "p")).toEqual(obj("__main__.P", { args: [], state: D(["a", 1], ["b", "two"]) }));
      const rec = dictGet(v, "rec") as PickleTuple;
      expect(isTuple(rec)).toBe(true);
      const l = rec.items[0] as PickleValue[];
      expect(l.length).toBe(1);
      expect(l[0]).toBe(rec); // the cycle t -> l -> t
      expect(dictGet(v, "k")).toEqual(p >= 4 ? obj("__main__.K", { args: [1], kwargs: D(["k", 2]) }) : null);
    });
  }

  it("the opcodes Python 3 no longer writes: STRING family, DUP, GET/PUT, LONG_BINGET, PERSID, ...", () => {
    const pids: PickleValue[] = [];
    const v = unpickle(HAND, {
      path: PATH,
      globals: {},
      persistentLoad: (pid) => (pids.push(pid), T("PID", pid)),
    }) as PickleValue[];
    expect(v.slice(0, 19)).toEqual([
      "aA\n'qA", // STRING with \x, \n, \' and octal escapes
      "abc", // BINSTRING
      "\u00e9z", // SHORT_BINSTRING, Latin-1
      "hi", // BINUNICODE8
      Uint8Array.from([7]), // BINBYTES8
      new Uint8Array(0), // BYTEARRAY8
      T("PID", "ab12"), // PERSID
      123456789012345678901234567890n, // INT beyond 64 bits
      -5, // LONG with its L
      Infinity, // FLOAT inf
      -0.00125,
      "x\u00e9\u{1F600}\\\\u0041", // UNICODE raw-unicode-escape; an even backslash run is literal
      -1, // BININT
      0x1234, // BININT2
      0, // LONG1 of no bytes
      -32768, // LONG4, two's complement
      null,
      true,
      false,
    ]);
    const [a, b, c, d] = v.slice(19, 23);
    expect(a).toEqual([]);
    expect(b).toBe(a); // LONG_BINPUT 256 / LONG_BINGET 256
    expect(c).toBe(a); // DUP
    expect(d).toBe(a); // PUT 7 / GET 7 of the DUP
    expect(v.slice(23)).toEqual([
      [1, 2], // MARK ... LIST
      D(["k", 3]), // MARK ... DICT
      T(1, 2, 3, 4), // MARK ... TUPLE; then MARK K K POP_MARK and K POP leave nothing
      { kind: "set", items: [1, 2], frozen: false }, // EMPTY_SET ADDITEMS
      { kind: "set", items: [5], frozen: true }, // FROZENSET
      false, // INT 00
      1.5, // BINFLOAT
    ]);
    expect(pids).toEqual(["ab12"]);
  });
});

describe("forbidden globals", () => {
  const FORBIDDEN = ["os.system", "builtins.eval", "subprocess.Popen", "posix.system"];
  /** SHORT_BINUNICODE of `s`. */
  const sbu = (s: string) => [0x8c, Buffer.from(s).length, ...Buffer.from(s)];

  function spies() {
    const persistentLoad = vi.fn((pid: PickleValue) => pid);
    const calls: string[] = [];
    const globals = torchGlobals(calls);
    return { persistentLoad, calls, opts: { path: PATH, globals, persistentLoad } };
  }

  for (const q of FORBIDDEN) {
    it(`GLOBAL ${q}: refused at the opcode, nothing called`, () => {
      const s = spies();
      // _rebuild_tensor_v2(<q>("echo pwned"), persid(...)): the allowed call and the persid would come later.
      const bytes = picklePlain({
        $reduce: [{ $global: "torch._utils._rebuild_tensor_v2" }, [{ $reduce: [{ $global: q }, ["echo pwned"]] }, { $persid: "x" }]],
      });
      const at = 2 + 1 + "torch._utils\n_rebuild_tensor_v2\n".length;
      expectUserError(
        () => unpickle(bytes, s.opts),
        `${PATH}: pickle refers to global "${q}", which is not allowed (only: collections.OrderedDict, torch.BFloat16Storage, ` +
          `torch.FloatStorage, torch.HalfStorage, torch._utils._rebuild_tensor_v2) at offset ${at}`,
      );
      expect(s.persistentLoad).not.toHaveBeenCalled();
      expect(s.calls).toEqual([]);
    });

    it(`STACK_GLOBAL ${q}: refused at the opcode, nothing called`, () => {
      const s = spies();
      const dot = q.lastIndexOf(".");
      const head = [0x80, 4, ...sbu(q.slice(0, dot)), ...sbu(q.slice(dot + 1))];
      const bytes = Uint8Array.from([...head, 0x93, ...sbu("echo pwned"), 0x85, 0x52, 0x2e]);
      expectUserError(() => unpickle(bytes, s.opts), `pickle refers to global "${q}", which is not allowed`, `at offset ${head.length}`);
      expect(s.persistentLoad).not.toHaveBeenCalled();
      expect(s.calls).toEqual([]);
    });
  }

  it("Python 2 module names are refused under their Python 3 names (__builtin__.eval -> builtins.eval)", () => {
    const bytes = bytesOf([0x80, 2], "c__builtin__\neval\nX", [4, 0, 0, 0], "1+1", [0x85, 0x52, 0x2e]);
    expectUserError(() => unpickle(bytes, spies().opts), 'global "builtins.eval", which is not allowed');
  });

  it("names that exist on Object.prototype are not allowed by accident", () => {
    for (const [mod, name] of [["", "constructor"], ["__proto__", "x"], ["", "__proto__"], ["Object", "constructor"]]) {
      const bytes = Uint8Array.from([0x80, 4, ...sbu(mod), ...sbu(name), 0x93, 0x2e]);
      expectUserError(() => unpickle(bytes, { path: PATH, globals: {} }), "which is not allowed (only: none)");
    }
  });

  it("REDUCE on a value that is not an allowed callable global is refused", () => {
    const s = spies();
    // A string in callable position.
    expectUserError(() => unpickle(bytesOf([0x80, 2], "X", [3, 0, 0, 0], "abc)R."), s.opts), "REDUCE expects a global to call, got str at offset 11");
    // An allowed global that may only be passed around (a storage type).
    expectUserError(
      () => unpickle(picklePlain({ $reduce: [{ $global: "torch.FloatStorage" }, []] }), s.opts),
      'REDUCE calls global "torch.FloatStorage", which is allowed only as a value, not as a callable',
    );
    // A dict and a tuple in callable position.
    expectUserError(() => unpickle(bytesOf([0x80, 2], "})R."), s.opts), "REDUCE expects a global to call, got dict");
    expectUserError(() => unpickle(bytesOf([0x80, 2], "))R."), s.opts), "REDUCE expects a global to call, got tuple");
    // NEWOBJ with a non-global class.
    expectUserError(() => unpickle(bytesOf([0x80, 2], "N)\x81."), s.opts), "NEWOBJ expects a global to call, got None");
    // Arguments that are not a tuple.
    expectUserError(
      () => unpickle(bytesOf([0x80, 2], "ccollections\nOrderedDict\n]R."), s.opts),
      "REDUCE arguments must be a tuple, got list",
    );
    expect(s.calls).toEqual([]);
    expect(s.persistentLoad).not.toHaveBeenCalled();
  });

  it("a look-alike global returned by an allowed callable is not callable", () => {
    const rebuild = vi.fn(() => null);
    const globals: PickleGlobals = {
      "evil.maker": { call: () => ({ kind: "global", module: "torch._utils", name: "_rebuild_tensor_v2" }) },
      "torch._utils._rebuild_tensor_v2": { call: rebuild },
    };
    const bytes = picklePlain({ $reduce: [{ $reduce: [{ $global: "evil.maker" }, []] }, []] });
    expectUserError(() => unpickle(bytes, { path: PATH, globals }), "REDUCE expects a global to call, got global torch._utils._rebuild_tensor_v2");
    expect(rebuild).not.toHaveBeenCalled();
  });

  it("BUILD only on values of globals that allow it", () => {
    const globals = torchGlobals();
    // OrderedDict() then BUILD: the allow-list has no build for it.
    expectUserError(
      () => unpickle(bytesOf([0x80, 2], "ccollections\nOrderedDict\n)R}b."), { path: PATH, globals }),
      'BUILD on a dict made by "collections.OrderedDict", which does not allow BUILD at offset 30',
    );
    expectUserError(() => unpickle(bytesOf([0x80, 2], "]}b."), { path: PATH, globals }), "BUILD on a list, which does not allow BUILD");
    // With a build, it runs and its result replaces the value.
    const withBuild: PickleGlobals = {
      "collections.OrderedDict": { call: () => D(), build: (o, state) => (((o as PickleDict).map.set("_metadata", state), o)) },
    };
    const v = unpickle(bytesOf([0x80, 2], "ccollections\nOrderedDict\n)RK\x07b."), { path: PATH, globals: withBuild });
    expect(v).toEqual(D(["_metadata", 7]));
  });
});

describe("pickle-writer", () => {
  it("round-trips plain values", () => {
    const value: WritableValue = {
      none: null,
      t: true,
      f: false,
      ints: [0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53 - 1, 2n ** 64n, -(2n ** 2100n)],
      floats: [0.5, -1e-300, Infinity, NaN, -0, { $float: 3 }],
      strs: ["", "h\u00e9llo \u{1F600}", "x".repeat(70000)],
      bytes: [new Uint8Array(0), Uint8Array.from([0, 128, 255]), new Uint8Array(300).fill(9)],
      list: Array.from({ length: 2500 }, (_, i) => i), // several APPENDS batches
      tuples: [{ $tuple: [] }, { $tuple: [1] }, { $tuple: [1, 2] }, { $tuple: [1, 2, 3] }, { $tuple: [1, 2, 3, 4] }],
      map: new Map<PickleKey, WritableValue>([[1, "a"], [null, "b"], [2n ** 70n, "c"], [false, "d"]]),
    };
    const v = unpickle(picklePlain(value), { path: PATH, globals: pyGlobals() });
    expect(v).toEqual(
      D(
        ["none", null],
        ["t", true],
        ["f", false],
        ["ints", [0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53 - 1, 2n ** 64n, -(2n ** 2100n)]],
        ["floats", [0.5, -1e-300, Infinity, NaN, -0, 3]],
        ["strs", ["", "h\u00e9llo \u{1F600}", "x".repeat(70000)]],
        ["bytes", [new Uint8Array(0), Uint8Array.from([0, 128, 255]), new Uint8Array(300).fill(9)]],
        ["list", Array.from({ length: 2500 }, (_, i) => i)],
        ["tuples", [T(), T(1), T(1, 2), T(1, 2, 3), T(1, 2, 3, 4)]],
        ["map", D([1, "a"], [null, "b"], [2n ** 70n, "c"], [false, "d"])],
      ),
    );
  });

  it("writes Python's encodings: PROTO 2, BINFLOAT big-endian, minimal LONG1 bytes", () => {
    expect([...picklePlain({ $float: 1 })]).toEqual([0x80, 2, 0x47, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x2e]);
    expect([...picklePlain(-1)]).toEqual([0x80, 2, 0x4a, 0xff, 0xff, 0xff, 0xff, 0x2e]);
    expect([...picklePlain(2 ** 31)]).toEqual([0x80, 2, 0x8a, 5, 0, 0, 0, 0x80, 0, 0x2e]);
    // pickletools' LONG1 examples: 255 -> ff 00, -1 -> ff, 128 -> 80 00, -128 -> 80, -129 -> 7f ff, 0 -> (none)
    expect([...encodeLongLE(255n)]).toEqual([0xff, 0]);
    expect([...encodeLongLE(-1n)]).toEqual([0xff]);
    expect([...encodeLongLE(128n)]).toEqual([0x80, 0]);
    expect([...encodeLongLE(-128n)]).toEqual([0x80]);
    expect([...encodeLongLE(-129n)]).toEqual([0x7f, 0xff]);
    expect([...encodeLongLE(0n)]).toEqual([]);
    expect([...picklePlain(Uint8Array.from([0xe9]))]).toEqual([
      ...bytesOf([0x80, 2], "c_codecs\nencode\nX", [2, 0, 0, 0, 0xc3, 0xa9], "X", [6, 0, 0, 0], "latin1", [0x86, 0x52, 0x2e]),
    ]);
  });

  it("torch-style output has the structure of the real stories260K data.pkl", () => {
    const real = unpickle(STORIES, torchOpts()) as PickleDict;
    const tensors = new Map<string, WritableValue>(
      STORIES260K_TENSORS.map(([name, key, numel, sizes]) => [name, torchTensor({ storageType: "torch.FloatStorage", key, storageNumel: numel, sizes })]),
    );
    const plainDict = (d: PickleDict) => new Map([...d.map] as [PickleKey, WritableValue][]);
    const written = picklePlain(
      new Map<string, WritableValue>([
        ["model", torchOrderedDict(tensors)],
        ["model_args", plainDict(dictGet(real, "model_args") as PickleDict)],
        ["config", plainDict(dictGet(real, "config") as PickleDict)],
      ]),
    );
    const calls: string[] = [];
    const back = unpickle(written, torchOpts(calls)) as PickleDict;
    expect([...back.map.keys()]).toEqual([...real.map.keys()]);
    expect(summarize(dictGet(back, "model") as PickleValue)).toEqual(summarize(dictGet(real, "model") as PickleValue));
    expect(dictGet(back, "model_args")).toEqual(dictGet(real, "model_args"));
    expect(dictGet(back, "config")).toEqual(dictGet(real, "config"));
    // Same opcode vocabulary as torch (no memo): GLOBAL, REDUCE, BINPERSID, SETITEMS, TUPLE*, NEWFALSE ...
    expect(calls.filter((c) => c === "torch._utils._rebuild_tensor_v2").length).toBe(48);
    expect(calls.every((c) => c !== "collections.OrderedDict(with args)")).toBe(true);
  });
});

describe("corrupt and hostile input", () => {
  const opts = () => torchOpts();

  function mustReturnOrUserError(bytes: Uint8Array) {
    try {
      unpickle(bytes, opts());
    } catch (e) {
      if (!(e instanceof UserError)) throw new Error(`not a UserError: ${String(e)}`);
      if (e.message.includes("\n") || !e.message.startsWith(`${PATH}: `)) throw new Error(`bad message: ${e.message}`);
    }
  }

  it("truncation at every byte of a real pickle is a clean UserError", () => {
    for (const file of [TINY_LLAMA3, STORIES]) {
      for (let len = 0; len < file.length; len++) {
        const err = errorOf(() => unpickle(file.subarray(0, len), opts()));
        if (!(err instanceof UserError) || !/(truncated|empty pickle)/.test(err.message) || err.message.includes("\n")) {
          throw new Error(`prefix ${len}: ${err.message}`);
        }
      }
    }
  });

  it("seeded random byte flips of the real pickles: a value or a one-line UserError, never anything else", () => {
    const rand = rng(20240611);
    for (const file of [STORIES, TINY_LLAMA3]) {
      for (let iter = 0; iter < 300; iter++) {
        const bytes = file.slice();
        const flips = 1 + Math.floor(rand() * 4);
        for (let k = 0; k < flips; k++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
        mustReturnOrUserError(bytes);
      }
    }
    // And short random byte strings after a PROTO header.
    for (let iter = 0; iter < 300; iter++) {
      const bytes = Uint8Array.from({ length: 2 + Math.floor(rand() * 40) }, () => Math.floor(rand() * 256));
      bytes[0] = 0x80;
      bytes[1] = 2;
      mustReturnOrUserError(bytes);
    }
  });

  it("huge claimed lengths are refused before allocating", () => {
    const u64 = (v: bigint) => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, v, true);
      return [...b];
    };
    expectUserError(() => unpickle(Uint8Array.from([0x80, 2, 0x8b, 0, 0, 0, 0x80, 0x2e]), opts()), "LONG4 has a negative integer length -2147483648 at offset 2");
    expectUserError(() => unpickle(Uint8Array.from([0x80, 2, 0x8b, 0xff, 0xff, 0xff, 0x7f, 0x2e]), opts()), "LONG4 of 2147483647 bytes exceeds the limit of 1048576 at offset 2");
    expectUserError(
      () => unpickle(Uint8Array.from([0x80, 4, 0x8d, ...u64(2n ** 60n), 0x2e]), opts()),
      "truncated pickle: BINUNICODE8 claims 1152921504606846976 bytes of string but only 1 are left at offset 2",
    );
    expectUserError(() => unpickle(Uint8Array.from([0x80, 4, 0x8e, ...u64(2n ** 64n - 1n), 0x2e]), opts()), "BINBYTES8 claims");
    expectUserError(() => unpickle(Uint8Array.from([0x80, 3, 0x58, 0xff, 0xff, 0xff, 0xff, 0x2e]), opts()), "BINUNICODE claims 4294967295 bytes");
    expectUserError(() => unpickle(Uint8Array.from([0x80, 1, 0x54, 0xff, 0xff, 0xff, 0xff, 0x2e]), opts()), "BINSTRING has a negative string length -1");
    expectUserError(() => unpickle(Uint8Array.from([0x80, 4, 0x95, ...u64(1000n), 0x4e, 0x2e]), opts()), "FRAME of 1000 bytes but only 2 are left");
    expectUserError(() => unpickle(bytesOf("I", "9".repeat(5000), "\n."), opts()), "INT argument");
  });

  it("deep nesting runs without recursion: 100k nested lists, 100k TUPLE1s; MARK depth is capped", () => {
    const N = 100_000;
    const lists = new Uint8Array(2 + N + (N - 1) + 1);
    lists.set([0x80, 2]);
    lists.fill(0x5d, 2, 2 + N); // EMPTY_LIST
    lists.fill(0x61, 2 + N, 2 + N + N - 1); // APPEND
    lists[lists.length - 1] = 0x2e;
    expect(listDepth(unpickle(lists, opts()))).toBe(N);

    const tuples = bytesOf([0x80, 2, 0x4e], "\x85".repeat(N), ".");
    let t = unpickle(tuples, opts());
    let depth = 0;
    while (isTuple(t)) {
      depth++;
      t = t.items[0];
    }
    expect(depth).toBe(N);

    expectUserError(() => unpickle(bytesOf("(".repeat(N), "."), opts()), "more than 10000 MARKs open at once at offset 10000");
    expectUserError(() => unpickle(bytesOf("((((N"), { ...opts(), maxDepth: 3 }), "more than 3 MARKs open at once at offset 3");
  });

  it("memo misuse", () => {
    expectUserError(() => unpickle(bytesOf([0x80, 2, 0x4e, 0x72, 0xff, 0xff, 0xff, 0xff, 0x2e]), opts()), "memo index 4294967295 exceeds the limit 16777216 at offset 3");
    expectUserError(() => unpickle(bytesOf([0x80, 2, 0x68, 5, 0x2e]), opts()), "BINGET of memo index 5, which was never stored at offset 2");
    expectUserError(() => unpickle(bytesOf("(p0\n."), opts()), "stack underflow in PUT (hit a MARK) at offset 1");
    expectUserError(() => unpickle(bytesOf("g-1\n."), opts()), "GET has an invalid memo index");
    expectUserError(() => unpickle(STORIES, { ...opts(), maxMemo: 10 }), "memo index 11 exceeds the limit 10");
  });

  it("stack and MARK misuse, STOP rules", () => {
    expectUserError(() => unpickle(new Uint8Array(0), opts()), "empty pickle at offset 0");
    expectUserError(() => unpickle(bytesOf([0x80, 2], "N"), opts()), "truncated pickle: ended without STOP at offset 3");
    expectUserError(() => unpickle(bytesOf([0x80, 2], "NN."), opts()), "STOP with 2 values on the stack (expected 1) at offset 4");
    expectUserError(() => unpickle(bytesOf([0x80, 2], "."), opts()), "STOP with 0 values on the stack");
    expectUserError(() => unpickle(bytesOf([0x80, 2], "(N."), opts()), "STOP with 1 MARK(s) still open");
    expectUserError(() => unpickle(bytesOf([0x80, 2], "N.N"), opts()), "1 bytes of unexpected data after STOP at offset 3");
    expectUserError(() => unpickle(bytesOf([0x80, 2], "a."), opts()), "stack underflow in APPEND at offset 2");
    expectUserError(() => unpickle(bytesOf([0x80, 2], "N(a."), opts()), "stack underflow in APPEND (hit a MARK)");
    expectUserError(() => unpickle(bytesOf([0x80, 2], "Nt."), opts()), "TUPLE without a preceding MARK at offset 3");
    expectUserError(() => unpickle(bytesOf([0x80, 2], "\x86."), opts()), "stack underflow in TUPLE2");
  });

  it("type misuse: unhashable keys, containers of the wrong kind, malformed text arguments", () => {
    expectUserError(() => unpickle(bytesOf([0x80, 2], "}]K\x01s."), opts()), "dict key of type list is not supported (only None, bool, int, float, str) at offset 6");
    expectUserError(() => unpickle(bytesOf([0x80, 2], "})K\x01s."), opts()), "dict key of type tuple is not supported");
    expectUserError(() => unpickle(bytesOf([0x80, 2], "(K\x01d."), opts()), "DICT with an odd number (1) of keys and values");
    expectUserError(() => unpickle(bytesOf([0x80, 2], "}K\x01a."), opts()), "APPEND on a dict, not a list");
    expectUserError(() => unpickle(bytesOf([0x80, 2], "]K\x01K\x02s."), opts()), "SETITEM on a list, not a dict");
    expectUserError(() => unpickle(bytesOf([0x80, 4], "(\x91(K\x01\x90."), opts()), "ADDITEMS on a frozenset, not a set");
    expectUserError(() => unpickle(bytesOf("Sabc\n."), opts()), "the STRING argument must be quoted");
    expectUserError(() => unpickle(bytesOf("S'\\x4'\n."), opts()), "STRING has an invalid \\x escape");
    expectUserError(() => unpickle(bytesOf("V\\u12\n."), opts()), "truncated \\uXXXX escape in UNICODE");
    expectUserError(() => unpickle(bytesOf("I12x\n."), opts()), 'INT argument "12x" is not a decimal integer');
    expectUserError(() => unpickle(bytesOf("F1.2.3\n."), opts()), 'FLOAT argument "1.2.3" is not a number');
    expectUserError(() => unpickle(bytesOf([0x80, 3, 0x58, 2, 0, 0, 0, 0xc3, 0x28, 0x2e]), opts()), "BINUNICODE string is not valid UTF-8 at offset 2");
    expectUserError(() => unpickle(bytesOf("P\xe9\n."), opts()), "PERSID argument is not ASCII");
    expectUserError(() => unpickle(bytesOf([0x80, 4], "K\x01K\x02\x93."), opts()), "STACK_GLOBAL needs two strings, got int and int");
  });

  it("refused and unknown opcodes", () => {
    expectUserError(() => unpickle(bytesOf([0x80, 2, 0xff]), opts()), `${PATH}: unknown pickle opcode 0xff at offset 2`);
    expectUserError(() => unpickle(bytesOf([0x80, 6, 0x4e, 0x2e]), opts()), "unsupported pickle protocol 6 at offset 0");
    expectUserError(() => unpickle(bytesOf("(ios\nsystem\n."), opts()), "INST (instantiating a class by name) is not supported at offset 1");
    expectUserError(() => unpickle(bytesOf([0x80, 2], "(No."), opts()), "OBJ (instantiating a class from the stack) is not supported");
    for (const [op, name] of [[0x82, "EXT1"], [0x83, "EXT2"], [0x84, "EXT4"]] as const) {
      expectUserError(() => unpickle(bytesOf([0x80, 2, op, 1, 0, 0, 0, 0x2e]), opts()), `${name} (copyreg extension registry) is not supported`);
    }
    expectUserError(() => unpickle(bytesOf([0x80, 5, 0x97, 0x2e]), opts()), "NEXT_BUFFER (out-of-band buffer) is not supported");
    expectUserError(() => unpickle(bytesOf([0x80, 5, 0x4e, 0x98, 0x2e]), opts()), "READONLY_BUFFER (out-of-band buffer) is not supported");
  });

  it("a callback's own failure on bad arguments becomes a UserError naming the global", () => {
    const globals: PickleGlobals = {
      "torch._utils._rebuild_tensor_v2": {
        call: (args) => {
          const size = args[2] as PickleTuple;
          return size.items.length; // throws TypeError when size is not a tuple
        },
      },
    };
    const bytes = picklePlain({ $reduce: [{ $global: "torch._utils._rebuild_tensor_v2" }, [null, 0, null]] });
    const err = errorOf(() => unpickle(bytes, { path: PATH, globals }));
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/^\/m\/x\.pth \(data\.pkl\): global "torch\._utils\._rebuild_tensor_v2" failed: .+ at offset \d+$/);
    expect(err.cause).toBeInstanceOf(TypeError);
    // A callback's own UserError passes through unchanged.
    const own = new UserError("mine");
    const g2: PickleGlobals = { "a.b": { call: () => { throw own; } } };
    expect(errorOf(() => unpickle(picklePlain({ $reduce: [{ $global: "a.b" }, []] }), { path: PATH, globals: g2 }))).toBe(own);
  });
});
