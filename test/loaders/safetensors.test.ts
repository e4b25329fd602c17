// safetensors: `readSafetensors` on hand-built files (8-byte little-endian header length, JSON header, data):
// dtype conversion, the header's checks, each a one-line UserError naming the file; and `loadModel` on Hugging Face
// directories: model.safetensors, a sharded model.safetensors.index.json (tiny_llama3 split into two shards, loading
// bit for bit like the single file), and the refusals around shards and tensor names.
import { describe, expect, it } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readSafetensors } from "../../src/loaders/safetensors.js";
import { bufferSource } from "../../src/loaders/byte-source.js";
import { loadModel } from "../../src/loaders/index.js";
import { readHfConfig } from "../../src/loaders/hf-config.js";
import type { Model } from "../../src/engine/weights.js";
import { UserError } from "../../src/util/errors.js";
import { FIXTURES, bitsEqual } from "../helpers/fixtures.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-st-"));
const HF_DIR = join(FIXTURES, "tiny_llama3", "hf");
const HF_FILE = join(HF_DIR, "model.safetensors");
const HF_CONFIG = join(HF_DIR, "config.json");

// ---- building files ----

/** 8-byte little-endian length, the header text (an object is JSON-encoded), then the data section. */
function stFile(header: unknown, data: Uint8Array = new Uint8Array(0), declaredLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

interface StTensor {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/** A file holding `tensors` back to back, in the given order. */
function packTensors(tensors: StTensor[], metadata: Record<string, string> = { format: "pt" }): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.length] };
    off += t.data.length;
  }
  const data = new Uint8Array(off);
  off = 0;
  for (const t of tensors) {
    data.set(t.data, off);
    off += t.data.length;
  }
  return stFile(header, data);
}

/** The tensors of a safetensors file, in data order, with their bytes. */
function unpackTensors(bytes: Uint8Array): StTensor[] {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  return Object.entries(header)
    .filter(([k]) => k !== "__metadata__")
    .sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0])
    .map(([name, e]) => ({ name, dtype: e.dtype, shape: e.shape, data: bytes.slice(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]) }));
}

const read = (bytes: Uint8Array, path = "/models/x.safetensors") => readSafetensors(bufferSource(bytes, path, "checkpoint"));
const f32Bytes = (v: number[]) => new Uint8Array(new Float32Array(v).buffer);
/** bfloat16: the top 16 bits of each float32 (truncation). */
function bf16Bytes(v: number[]): Uint8Array {
  const u = new Uint32Array(new Float32Array(v).buffer);
  const out = new Uint8Array(2 * v.length);
  u.forEach((x, i) => {
    out[2 * i] = (x >>> 16) & 0xff;
    out[2 * i + 1] = x >>> 24;
  });
  return out;
}
const u16Bytes = (v: number[]) => new Uint8Array(new Uint16Array(v).buffer);
const bf16Value = (x: number) => new Float32Array(new Uint32Array([new Uint32Array(new Float32Array([x]).buffer)[0] & 0xffff0000]).buffer)[0];

function writeTmp(name: string, bytes: Uint8Array | string): string {
  const p = join(tmp, name);
  writeFileSync(p, bytes);
  return p;
}

function expectUserError(f: () => unknown, path: string, ...parts: (string | RegExp)[]): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, "expected a UserError").toBeInstanceOf(UserError);
  const msg = (err as Error).message;
  expect(msg).not.toMatch(/[\r\n]/);
  expect(msg).toContain(path);
  for (const p of parts) expect(msg).toMatch(p);
}

// ---- readSafetensors ----

describe("readSafetensors: values", () => {
  const f32 = [1.5, -2, 3.25e-3, 0, -0, 65504, 1e-40, -3.4028234663852886e38];
  // half: 0.5, -65504 (largest), 2^-24 (smallest subnormal), -0, 1, +inf
  const f16 = [0x3800, 0xfbff, 0x0001, 0x8000, 0x3c00, 0x7c00];
  const bf16 = [1.5, -2, 3.25, 1e-3, -1e30];
  const data = new Uint8Array(64 + 12 + 10);
  data.set(f32Bytes(f32), 0); // 32 bytes
  data.set(u16Bytes(f16), 40); // a gap before it is allowed
  data.set(bf16Bytes(bf16), 52);
  const header = {
    // Out of data order on purpose: offsets, not header order, place the data.
    half: { dtype: "F16", shape: [2, 3], data_offsets: [40, 52] },
    __metadata__: { format: "pt", note: "ignored" },
    float: { dtype: "F32", shape: [8], data_offsets: [0, 32] },
    brain: { dtype: "BF16", shape: [5], data_offsets: [52, 62] },
    scalar: { dtype: "F32", shape: [], data_offsets: [32, 36] },
    empty: { dtype: "F32", shape: [0, 4], data_offsets: [36, 36] },
  };
  data.set(f32Bytes([7.25]), 32);
  const set = read(stFile(header, data));

  it("lists every tensor (and not __metadata__) with its dtype, shape and stored size", () => {
    expect([...set.keys()].sort()).toEqual(["brain", "empty", "float", "half", "scalar"]);
    expect(set.has("__metadata__")).toBe(false);
    expect(set.get("half")).toMatchObject({ name: "half", dtype: "F16", shape: [2, 3], byteLength: 12 });
    expect(set.get("float")).toMatchObject({ dtype: "F32", shape: [8], byteLength: 32 });
    expect(set.get("brain")).toMatchObject({ dtype: "BF16", shape: [5], byteLength: 10 });
    expect(set.get("empty")!.byteLength).toBe(0);
    expect(new Set([...set.values()].map((t) => t.identity)).size).toBe(5);
  });

  it("F32 round-trips bit for bit (subnormals, -0, extremes)", () => {
    const got = set.get("float")!.load();
    expect(bitsEqual(got, new Float32Array(f32))).toBe(true);
    expect(Object.is(got[4], -0)).toBe(true);
    expect(Array.from(set.get("scalar")!.load())).toEqual([7.25]);
    expect(set.get("empty")!.load().length).toBe(0);
  });

  it("F16 converts exactly, subnormals and infinities included", () => {
    const got = Array.from(set.get("half")!.load());
    expect(got).toEqual([0.5, -65504, 2 ** -24, -0, 1, Infinity]);
    expect(Object.is(got[3], -0)).toBe(true);
  });

  it("BF16 is the top half of a float32", () => {
    expect(Array.from(set.get("brain")!.load())).toEqual(bf16.map(bf16Value));
    expect(set.get("brain")!.load()[0]).toBe(1.5);
  });

  it("F32 data at an offset that is not a multiple of 4 reads the same", () => {
    // A header of odd length puts the data section (and the tensor) at an unaligned file offset.
    for (const pad of ["", " ", "  ", "   "]) {
      const h = JSON.stringify({ float: { dtype: "F32", shape: [8], data_offsets: [0, 32] } }) + pad;
      const got = read(stFile(h, f32Bytes(f32))).get("float")!.load();
      expect(bitsEqual(got, new Float32Array(f32)), `padding ${pad.length}`).toBe(true);
    }
  });

  it("an empty header {} is a file with no tensors", () => {
    expect(read(stFile({})).size).toBe(0);
    expect(read(stFile({ __metadata__: {} })).size).toBe(0);
  });
});

describe("readSafetensors: refusals are one-line UserErrors naming the file", () => {
  const P = "/models/bad.safetensors";
  const one = (entry: unknown, data = new Uint8Array(16)) => stFile({ x: entry }, data);
  const bad = (bytes: Uint8Array, ...parts: (string | RegExp)[]) => expectUserError(() => read(bytes, P), P, ...parts);

  it("unsupported dtypes", () => {
    for (const dtype of ["I64", "F64", "I8", "U8", "BOOL", "F8_E4M3", "bf16", ""])
      bad(one({ dtype, shape: [2], data_offsets: [0, 16] }), `tensor "x" has dtype ${JSON.stringify(dtype)}; supported: F32, F16, BF16`);
    bad(one({ shape: [2], data_offsets: [0, 8] }), /has dtype undefined/);
    bad(one({ dtype: 4, shape: [2], data_offsets: [0, 8] }), /has dtype 4/);
  });

  it("a shape that is not an array of non-negative integers", () => {
    for (const shape of ["2", { 0: 2 }, null, [-1], [2, -2], [1.5], [2, "2"], [2 ** 53], [true]])
      bad(one({ dtype: "F32", shape, data_offsets: [0, 8] }), `tensor "x" has an invalid shape ${JSON.stringify(shape)}`);
    bad(one({ dtype: "F32", data_offsets: [0, 8] }), /invalid shape undefined/);
  });

  it("data_offsets of the wrong length, reversed, negative or not integers", () => {
    for (const offs of [[0], [0, 8, 16], [], [8, 0], [-8, 0], [0, 8.5], ["0", "8"], null, { begin: 0, end: 8 }])
      bad(one({ dtype: "F32", shape: [2], data_offsets: offs }), `tensor "x" has invalid data_offsets ${JSON.stringify(offs)}`);
  });

  it("data_offsets that disagree with dtype × shape", () => {
    bad(one({ dtype: "F32", shape: [2], data_offsets: [0, 4] }), 'tensor "x": data_offsets span 4 bytes, but F32[2] needs 8');
    bad(one({ dtype: "BF16", shape: [2, 2], data_offsets: [0, 16] }), "span 16 bytes, but BF16[2,2] needs 8");
    bad(one({ dtype: "F16", shape: [], data_offsets: [0, 0] }), "span 0 bytes, but F16[] needs 2");
    // A huge shape cannot sneak past as a huge (imprecise) byte count.
    bad(one({ dtype: "F32", shape: [2 ** 26, 2 ** 26, 2 ** 26], data_offsets: [0, 16] }), /span 16 bytes, but F32\[67108864,67108864,67108864\] needs/);
  });

  it("data past the end of the file (truncated)", () => {
    bad(one({ dtype: "F32", shape: [8], data_offsets: [0, 32] }), 'tensor "x" data ends at 32, past the end of the file\'s 16-byte data section (truncated?)');
    const full = stFile({ a: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, new Uint8Array(16));
    bad(full.subarray(0, full.length - 1), /data ends at 16, past the end of the file's 15-byte data section/);
  });

  it("overlapping tensors", () => {
    const h = {
      a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
    };
    bad(stFile(h, new Uint8Array(16)), 'tensors "a" and "b" overlap');
    // Two names for the same bytes overlap too.
    const same = { a: { dtype: "F16", shape: [4], data_offsets: [0, 8] }, b: { dtype: "F16", shape: [4], data_offsets: [0, 8] } };
    bad(stFile(same, new Uint8Array(8)), /tensors "[ab]" and "[ab]" overlap/);
    // Touching is fine.
    const touching = { a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [2], data_offsets: [8, 16] } };
    expect(read(stFile(touching, new Uint8Array(16))).size).toBe(2);
  });

  it("a header length larger than the file", () => {
    const h = { a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } };
    const text = JSON.stringify(h);
    bad(stFile(h, new Uint8Array(4), BigInt(text.length + 5)), `safetensors header length ${text.length + 5} does not fit the ${8 + text.length + 4}-byte file`);
    bad(stFile(h, new Uint8Array(4), 0xffff_ffff_ffff_ffffn), /safetensors header length \d+ does not fit/);
    bad(stFile(h, new Uint8Array(4), 200n * 1024n * 1024n), /header length 209715200 does not fit/);
  });

  it("a header that is not JSON, not UTF-8, or not an object", () => {
    bad(stFile("{not json"), /safetensors header is not valid JSON \(/);
    bad(stFile('{"a":\n  x\n}'), /safetensors header is not valid JSON \(/); // V8 quotes the text, line breaks and all
    bad(stFile(""), /not valid JSON/);
    const latin1 = stFile('{"\u00ff": 1}');
    latin1.set([0x22, 0xff, 0x22], 9); // a lone 0xFF byte where a UTF-8 sequence should be
    bad(latin1, /not valid JSON/);
    for (const h of ["[1,2]", "5", "null", '"x"', "true"]) bad(stFile(h), "safetensors header is not a JSON object");
  });

  it("a tensor entry that is not an object", () => {
    for (const e of [null, 5, "F32", [1, 2]]) bad(stFile({ x: e }), /tensor "x" has dtype undefined/);
  });

  it("a file shorter than 8 bytes", () => {
    for (const len of [0, 1, 7]) bad(new Uint8Array(len), "too short for a safetensors header");
  });

  it("names with line breaks or quotes come out escaped, keeping the message on one line", () => {
    bad(stFile({ 'a\nb"c': { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)), 'tensor "a\\nb\\"c" has dtype "I64"');
  });
});

// ---- loadModel on Hugging Face files and directories ----

const fixtureTensors = unpackTensors(new Uint8Array(readFileSync(HF_FILE)));

function modelDir(name: string, files: Record<string, Uint8Array | string>, config = true): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  if (config) copyFileSync(HF_CONFIG, join(dir, "config.json"));
  for (const [f, b] of Object.entries(files)) writeFileSync(join(dir, f), b);
  return dir;
}

function expectSameModel(a: Model, b: Model): void {
  expect(a.config).toEqual(b.config);
  expect(bitsEqual(a.weights.tokEmbeddings, b.weights.tokEmbeddings)).toBe(true);
  expect(bitsEqual(a.weights.norm, b.weights.norm)).toBe(true);
  expect(bitsEqual(a.weights.output, b.weights.output)).toBe(true);
  expect(a.weights.layers.length).toBe(b.weights.layers.length);
  a.weights.layers.forEach((l, i) => {
    for (const k of ["attnNorm", "wq", "wk", "wv", "wo", "ffnNorm", "w1", "w2", "w3"] as const)
      expect(bitsEqual(l[k], b.weights.layers[i][k]), `layer ${i} ${k}`).toBe(true);
  });
}

describe("loadModel: Hugging Face safetensors", () => {
  const single = loadModel({ checkpoint: HF_FILE });

  it("a model.safetensors file takes config.json from beside it", () => {
    expect(single.format).toBe("safetensors");
    expect(single.model.config).toEqual(readHfConfig(HF_CONFIG).config);
    expect(single.model.config).toMatchObject({ dim: 96, nLayers: 3, nHeads: 6, nKvHeads: 2, vocabSize: 768, hiddenDim: 384 });
    // No lm_head.weight in the file: the head is tied to the embedding, one shared array.
    expect(fixtureTensors.some((t) => t.name === "lm_head.weight")).toBe(false);
    expect(single.model.weights.output).toBe(single.model.weights.tokEmbeddings);
  });

  it("--checkpoint DIR with model.safetensors loads the same model", () => {
    const dir = modelDir("single", { "model.safetensors": readFileSync(HF_FILE) });
    const m = loadModel({ checkpoint: dir });
    expect(m.format).toBe("safetensors");
    expect(m.path).toBe(dir);
    expectSameModel(m.model, single.model);
  });

  it("--checkpoint DIR with a sharded model.safetensors.index.json loads bit for bit like the single file", () => {
    // Shard 1: the embedding and layer 0; shard 2: the rest. Each shard's header is rewritten with its own offsets.
    const first = fixtureTensors.filter((t) => t.name === "model.embed_tokens.weight" || t.name.startsWith("model.layers.0."));
    const rest = fixtureTensors.filter((t) => !first.includes(t));
    expect(first.length).toBe(10);
    expect(rest.length).toBe(19);
    const shard1 = "model-00001-of-00002.safetensors";
    const shard2 = "model-00002-of-00002.safetensors";
    const weightMap = Object.fromEntries([...first.map((t) => [t.name, shard1]), ...rest.map((t) => [t.name, shard2])]);
    const totalSize = fixtureTensors.reduce((s, t) => s + t.data.length, 0);
    const index = JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2);
    // Shard 2 lists its tensors in reverse data order: the header's order does not matter.
    const dir = modelDir("sharded", { [shard1]: packTensors(first), [shard2]: packTensors([...rest].reverse()), "model.safetensors.index.json": index });
    const m = loadModel({ checkpoint: dir });
    expect(m.format).toBe("safetensors");
    expectSameModel(m.model, single.model);
  });

  it("a shard index naming a file outside the directory is refused", () => {
    for (const outside of ["../model.safetensors", HF_FILE, "sub/model.safetensors", "..\\model.safetensors", ".hidden.safetensors"]) {
      const map = Object.fromEntries(fixtureTensors.map((t) => [t.name, outside]));
      const dir = modelDir("outside", { "model.safetensors.index.json": JSON.stringify({ weight_map: map }) });
      expectUserError(() => loadModel({ checkpoint: dir }), join(dir, "model.safetensors.index.json"), "weight_map names files outside the model directory");
    }
  });

  it("a shard index that is not JSON, or has no weight_map, is refused", () => {
    const dir1 = modelDir("index-not-json", { "model.safetensors.index.json": '{\n  "weight_map": {\n' });
    expectUserError(() => loadModel({ checkpoint: dir1 }), join(dir1, "model.safetensors.index.json"));
    const dir2 = modelDir("index-no-map", { "model.safetensors.index.json": '{"metadata": {}}' });
    expectUserError(() => loadModel({ checkpoint: dir2 }), join(dir2, "model.safetensors.index.json"), /weight_map/);
    const dir3 = modelDir("index-missing-shard", { "model.safetensors.index.json": JSON.stringify({ weight_map: { "model.norm.weight": "nope.safetensors" } }) });
    expectUserError(() => loadModel({ checkpoint: dir3 }), join(dir3, "nope.safetensors"), /no such file/);
  });

  it("a tensor appearing in two shards is refused", () => {
    const norm = fixtureTensors.find((t) => t.name === "model.norm.weight")!;
    const a = "model-00001-of-00002.safetensors";
    const b = "model-00002-of-00002.safetensors";
    const map = { ...Object.fromEntries(fixtureTensors.map((t) => [t.name, a])), "model.norm.weight": b };
    const dir = modelDir("dup", { [a]: packTensors(fixtureTensors), [b]: packTensors([norm]), "model.safetensors.index.json": JSON.stringify({ weight_map: map }) });
    expectUserError(() => loadModel({ checkpoint: dir }), join(dir, b), 'tensor "model.norm.weight" also appears in another shard');
  });

  it("a missing tensor is named", () => {
    const file = join(modelDir("missing", { "model.safetensors": packTensors(fixtureTensors.filter((t) => t.name !== "model.layers.1.mlp.up_proj.weight")) }), "model.safetensors");
    expectUserError(() => loadModel({ checkpoint: file }), file, 'missing tensor "model.layers.1.mlp.up_proj.weight"');
    const noNorm = join(modelDir("missing-norm", { "model.safetensors": packTensors(fixtureTensors.filter((t) => t.name !== "model.norm.weight")) }), "model.safetensors");
    expectUserError(() => loadModel({ checkpoint: noNorm }), noNorm, 'missing tensor "model.norm.weight"');
  });

  it("an unexpected extra tensor (an attention bias) is named", () => {
    const bias: StTensor = { name: "model.layers.0.self_attn.q_proj.bias", dtype: "BF16", shape: [96], data: bf16Bytes(new Array(96).fill(0.5)) };
    const dir = modelDir("bias", { "model.safetensors": packTensors([...fixtureTensors, bias]) });
    expectUserError(() => loadModel({ checkpoint: dir }), dir, 'unexpected tensor "model.layers.0.self_attn.q_proj.bias" [96]', /biases or extra layers are not supported/);
    // A fourth layer the config does not have.
    const extra = fixtureTensors.filter((t) => t.name.startsWith("model.layers.2.")).map((t) => ({ ...t, name: t.name.replace("layers.2.", "layers.3.") }));
    const dir4 = modelDir("extra-layer", { "model.safetensors": packTensors([...fixtureTensors, ...extra]) });
    expectUserError(() => loadModel({ checkpoint: dir4 }), dir4, /config\.json: n_layers = 3, but the tensors in .* say 4/);
  });

  it("a tensor of the wrong shape is named with both shapes", () => {
    const swapped = fixtureTensors.map((t) => (t.name === "model.layers.0.mlp.down_proj.weight" ? { ...t, shape: [384, 96] } : t));
    const dir = modelDir("shape", { "model.safetensors": packTensors(swapped) });
    expectUserError(() => loadModel({ checkpoint: dir }), dir, 'tensor "model.layers.0.mlp.down_proj.weight" has shape [384,96], but the parameters say [96,384]');
  });

  it("a NaN or infinite weight is refused (safetensors has no checksum), naming the tensor", () => {
    const withNan = fixtureTensors.map((t) => {
      if (t.name !== "model.layers.2.self_attn.v_proj.weight") return t;
      const data = t.data.slice();
      data.set([0xc0, 0x7f], 2 * 37); // bf16 NaN at element 37
      return { ...t, data };
    });
    const dir = modelDir("nan", { "model.safetensors": packTensors(withNan) });
    expectUserError(() => loadModel({ checkpoint: dir }), dir, 'tensor "model.layers.2.self_attn.v_proj.weight" holds a non-finite value (NaN) at element 37');
  });

  it("without config.json the checkpoint asks for --params", () => {
    const dir = modelDir("noconfig", { "model.safetensors": readFileSync(HF_FILE) }, false);
    expectUserError(() => loadModel({ checkpoint: dir }), dir, /pass --params/);
    // ... and --params config.json supplies it.
    expectSameModel(loadModel({ checkpoint: dir, params: HF_CONFIG }).model, single.model);
  });

  it("a directory without weights is refused", () => {
    const dir = modelDir("empty", {});
    expectUserError(() => loadModel({ checkpoint: dir }), dir, "a directory without model.safetensors or model.safetensors.index.json");
  });

  it("a header length past the end of the file is not mistaken for safetensors", () => {
    const b = new Uint8Array(readFileSync(HF_FILE));
    const p = writeTmp("trunc.safetensors", b.subarray(0, 2000));
    expectUserError(() => loadModel({ checkpoint: p }), p, /not a recognised checkpoint format/);
  });
});
