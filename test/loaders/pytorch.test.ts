// PyTorch checkpoints through the whole loader: the llama2.c training checkpoint stories260K.pt (written by
// real PyTorch 1.13, embedding and LM head sharing one storage) against stories260K.bin, hand-built
// archives for views, shared storages, dtypes and the allow-list, and clear errors for bad files.
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel } from "../../src/loaders/index.js";
import { readTorchCheckpoint } from "../../src/loaders/pytorch.js";
import { bufferSource } from "../../src/loaders/byte-source.js";
import { zipToBytes } from "../../src/loaders/zip-writer.js";
import { picklePlain, torchOrderedDict, torchTensor, type WritableValue } from "../../src/loaders/pickle-writer.js";
import { UserError } from "../../src/util/errors.js";
import { createKvGraph, kvForward } from "../../src/engine/kv-graph.js";
import type { Model } from "../../src/engine/weights.js";
import { FIXTURES, bitsEqual, loadStories260K } from "../helpers/fixtures.js";
import { expectUserError } from "../helpers/errors.js";

const PT = join(FIXTURES, "stories260K.pt");
const tmp = mkdtempSync(join(tmpdir(), "llama-golden-pt-"));

function logitsAt(model: Model, token: number): Float32Array {
  const g = createKvGraph(model, 4);
  const n = model.config.nLayers * model.config.nKvHeads;
  const z = () => Array.from({ length: n }, () => new Float32Array(model.config.headDim * 3));
  return kvForward(g, { tokens: Int32Array.of(token), attnMask: Float32Array.of(-255, -255, -255, 0), inputPos: Int32Array.of(0), kCaches: z(), vCaches: z() }).logits;
}

describe("stories260K.pt (llama2.c training checkpoint, PyTorch 1.13)", () => {
  const pt = loadModel({ checkpoint: PT });
  const bin = loadStories260K();

  it("derives the config from model_args (FFN 172 from multiple_of 4) and loads every weight bit-identical to the .bin", () => {
    expect(pt.format).toBe("pytorch");
    expect(pt.model.config).toMatchObject({ dim: 64, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, hiddenDim: 172 });
    expect(bitsEqual(pt.model.weights.tokEmbeddings, bin.weights.tokEmbeddings)).toBe(true);
    pt.model.weights.layers.forEach((l, i) => {
      for (const k of ["attnNorm", "wq", "wk", "wv", "wo", "ffnNorm", "w1", "w2", "w3"] as const)
        expect(bitsEqual(l[k], bin.weights.layers[i][k]), `layer ${i} ${k}`).toBe(true);
    });
    expect(bitsEqual(pt.model.weights.norm, bin.weights.norm)).toBe(true);
  });

  it("the LM head shares the embedding's storage, and the loader shares one array", () => {
    const ck = readTorchCheckpoint(bufferSource(new Uint8Array(readFileSync(PT)), PT, "checkpoint"));
    expect(ck.prefix).toBe("stories260K/");
    expect(ck.tensors.get("output.weight")!.identity).toBe(ck.tensors.get("tok_embeddings.weight")!.identity);
    expect(pt.model.weights.output).toBe(pt.model.weights.tokEmbeddings);
  });

  it("gives logits identical to stories260K.bin", () => {
    for (const tok of [1, 403, 511]) expect(bitsEqual(logitsAt(pt.model, tok), logitsAt(bin, tok))).toBe(true);
  });
});

// ---- hand-built torch.save archives ----

function archive(top: WritableValue, storages: Record<string, Uint8Array>, prefix = "ck/"): Uint8Array {
  return zipToBytes([
    { name: `${prefix}data.pkl`, data: picklePlain(top) },
    ...Object.entries(storages).map(([k, data]) => ({ name: `${prefix}data/${k}`, data })),
    { name: `${prefix}version`, data: new TextEncoder().encode("3\n") },
  ]);
}
const read = (bytes: Uint8Array, name = "mem.pt") => readTorchCheckpoint(bufferSource(bytes, name, "checkpoint"));

function bf16(values: number[]): Uint8Array {
  const f = new Float32Array(values);
  const u = new Uint32Array(f.buffer);
  const out = new Uint8Array(values.length * 2);
  u.forEach((x, i) => {
    out[2 * i] = (x >>> 16) & 0xff;
    out[2 * i + 1] = x >>> 24;
  });
  return out;
}

describe("torch.save structures", () => {
  const s0 = new Float32Array(12).map((_, i) => i);
  const storages = {
    "0": new Uint8Array(s0.buffer),
    "1": bf16([1.5, -2, 3.25, 1e-3]),
    // fp16: 0.5, -65504 (largest), 2^-24 (smallest subnormal), -0
    "2": Uint8Array.of(0x00, 0x38, 0xff, 0xfb, 0x01, 0x00, 0x00, 0x80),
  };
  const t = (key: string, type: string, numel: number, sizes: number[], strides?: number[], offset?: number) =>
    torchTensor({ storageType: `torch.${type}`, key, storageNumel: numel, sizes, strides, offset });
  const top = torchOrderedDict(
    new Map<string, WritableValue>([
      ["transposed", t("0", "FloatStorage", 12, [2, 3], [1, 2], 2)],
      ["strided", t("0", "FloatStorage", 12, [3], [4])],
      ["whole", t("0", "FloatStorage", 12, [3, 4])],
      ["bf16", t("1", "BFloat16Storage", 4, [4])],
      ["fp16", t("2", "HalfStorage", 4, [2, 2])],
      ["offset_view", t("0", "FloatStorage", 12, [2, 2], undefined, 8)],
    ]),
  );
  const ck = read(archive(top, storages));
  const get = (n: string) => Array.from(ck.tensors.get(n)!.load());

  it("rebuilds non-contiguous views, offsets and several tensors sharing one storage", () => {
    expect(get("transposed")).toEqual([2, 4, 6, 3, 5, 7]);
    expect(get("strided")).toEqual([0, 4, 8]);
    expect(get("whole")).toEqual(Array.from(s0));
    expect(get("offset_view")).toEqual([8, 9, 10, 11]);
    expect(ck.tensors.get("transposed")!.shape).toEqual([2, 3]);
    expect(ck.tensors.get("whole")!.identity).not.toBe(ck.tensors.get("strided")!.identity);
  });

  it("converts bfloat16 and float16 to fp32 exactly", () => {
    expect(get("bf16")).toEqual([1.5, -2, 3.25, new Float32Array(new Uint32Array([new Uint32Array(new Float32Array([1e-3]).buffer)[0] & 0xffff0000]).buffer)[0]]);
    expect(get("fp16")).toEqual([0.5, -65504, 2 ** -24, -0]);
  });

  it("refuses an unsupported dtype, a view past its storage, and a storage shorter than declared", () => {
    const dbl = torchOrderedDict(new Map([["x", t("0", "DoubleStorage", 6, [6])]]));
    expect(() => read(archive(dbl, { "0": new Uint8Array(48) }))).toThrow(/dtype DoubleStorage is not supported/);
    const past = torchOrderedDict(new Map([["x", t("0", "FloatStorage", 12, [4, 4])]]));
    expect(() => read(archive(past, { "0": storages["0"] }))).toThrow(/reaches element 16 of a 12-element storage/);
    const short = torchOrderedDict(new Map([["x", t("0", "FloatStorage", 12, [12])]]));
    expect(() => read(archive(short, { "0": storages["0"].subarray(0, 40) }))).toThrow(/storage "0" has 40 bytes, but the pickle says 12 F32 elements/);
    const missing = torchOrderedDict(new Map([["x", t("7", "FloatStorage", 12, [12])]]));
    expect(() => read(archive(missing, { "0": storages["0"] }))).toThrow(/storage "7" is missing/);
  });

  it("finds data.pkl under any archive folder prefix, and reads llama2.c's {model, model_args} layout", () => {
    const wrapped = new Map<string, WritableValue>([
      ["model", top],
      ["model_args", new Map<string, WritableValue>([["dim", 64], ["n_layers", 5]])],
    ]);
    const c = read(archive(wrapped, storages, "some/deep/folder/"));
    expect(c.prefix).toBe("some/deep/folder/");
    expect(c.tensors.size).toBe(6);
    expect(c.modelArgs!.get("dim")).toBe(64);
  });
});

describe("bad PyTorch files", () => {
  it("a Meta state dict without params.json asks for --params", () => {
    expectUserError(() => loadModel({ checkpoint: join(FIXTURES, "tiny_llama3", "consolidated.00.pth") }), /pass --params/);
  });

  it("params.json that disagrees with the tensor shapes is refused", () => {
    const p = join(tmp, "params-wrong.json");
    writeFileSync(p, JSON.stringify({ dim: 96, n_layers: 3, n_heads: 6, n_kv_heads: 3, vocab_size: 768, multiple_of: 64, ffn_dim_multiplier: 1.3 }));
    expectUserError(() => loadModel({ checkpoint: join(FIXTURES, "tiny_llama3", "consolidated.00.pth"), params: p }), /n_kv_heads \* head_dim = 48, but the tensors .* say 32/);
  });

  it("a truncated archive is a clean error", () => {
    const b = readFileSync(PT);
    const p = join(tmp, "trunc.pt");
    writeFileSync(p, b.subarray(0, b.length - 1000));
    expectUserError(() => loadModel({ checkpoint: p }), /trunc\.pt/);
  });

  it("a flipped byte inside a storage fails the CRC check instead of loading silently", () => {
    const copy = new Uint8Array(readFileSync(PT));
    copy[copy.length >> 1] ^= 0x40; // the middle of the file is tensor data
    const p = join(tmp, "flip.pt");
    writeFileSync(p, copy);
    expectUserError(() => loadModel({ checkpoint: p }), /flip\.pt.*fails its CRC-32 check/);
  });

  it("a zip without data.pkl is not a checkpoint", () => {
    const p = join(tmp, "nodata.pt");
    writeFileSync(p, zipToBytes([{ name: "x/version", data: new TextEncoder().encode("3\n") }]));
    expectUserError(() => loadModel({ checkpoint: p }), /no data\.pkl/);
  });

  it("a pickle naming a global outside the allow-list is refused before anything runs", () => {
    const pkl = picklePlain({ $reduce: [{ $global: "os.system" }, ["echo pwned"]] });
    const p = join(tmp, "evil.pt");
    writeFileSync(p, zipToBytes([{ name: "evil/data.pkl", data: pkl }, { name: "evil/version", data: new TextEncoder().encode("3\n") }]));
    expectUserError(() => loadModel({ checkpoint: p }), /global "os\.system", which is not allowed/);
  });

});
