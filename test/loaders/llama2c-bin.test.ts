// The llama2.c legacy .bin loader and params.json: header, sizes, separate classifier, and bad files.
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MODEL_BIN, bitsEqual, loadStories260K } from "../helpers/fixtures.js";
import { loadModel } from "../../src/loaders/index.js";
import { configFromParams, ffnHiddenDim } from "../../src/engine/config.js";
import { parseParamsJson } from "../../src/loaders/params-json.js";
import { UserError } from "../../src/util/errors.js";
import { createKvGraph, kvForward } from "../../src/engine/kv-graph.js";
import { expectUserError } from "../helpers/errors.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-"));
const original = new Uint8Array(readFileSync(MODEL_BIN));

function write(name: string, bytes: Uint8Array | string): string {
  const p = join(tmp, name);
  writeFileSync(p, bytes);
  return p;
}

describe("llama2.c v0 .bin", () => {
  it("reads the stories260K header (SPEC §1 shape)", () => {
    const m = loadStories260K();
    expect(m.config).toMatchObject({ dim: 64, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, hiddenDim: 172, headDim: 8 });
    expect(m.weights.output).toBe(m.weights.tokEmbeddings); // positive vocab: shared classifier
    // First and last weights straight from the file: embedding[0] after the header, rms_final before the RoPE tables.
    const dv = new DataView(original.buffer, original.byteOffset);
    expect(m.weights.tokEmbeddings[0]).toBe(dv.getFloat32(28, true));
    const normOff = 28 + 4 * (260032 - 64);
    expect(m.weights.norm[63]).toBe(dv.getFloat32(normOff + 63 * 4, true));
  });

  it("a negative vocab size means a separate classifier at the end of the file", () => {
    const m = loadStories260K();
    // Same weights, vocab stored as -512 and the classifier (here the embedding table) appended.
    const bytes = new Uint8Array(original.length + 512 * 64 * 4);
    bytes.set(original);
    new DataView(bytes.buffer).setInt32(20, -512, true);
    bytes.set(new Uint8Array(m.weights.tokEmbeddings.buffer, m.weights.tokEmbeddings.byteOffset, 512 * 64 * 4), original.length);
    const sep = loadModel({ checkpoint: write("sep.bin", bytes) }).model;
    expect(sep.weights.output).not.toBe(sep.weights.tokEmbeddings);
    expect(bitsEqual(sep.weights.output, m.weights.tokEmbeddings)).toBe(true);
    const run = (model: typeof m) => {
      const g = createKvGraph(model, 4);
      const z = () => Array.from({ length: 20 }, () => new Float32Array(8 * 3));
      return kvForward(g, { tokens: Int32Array.of(1), attnMask: Float32Array.of(-255, -255, -255, 0), inputPos: Int32Array.of(0), kCaches: z(), vCaches: z() }).logits;
    };
    expect(bitsEqual(run(sep), run(m))).toBe(true);
  });

  it("a file whose size does not match its header is refused, naming the file", () => {
    expectUserError(() => loadModel({ checkpoint: write("short.bin", original.subarray(0, original.length - 4)) }), "short.bin", /1056536 bytes.*needs 1056540/);
    const long = new Uint8Array(original.length + 8);
    long.set(original);
    expectUserError(() => loadModel({ checkpoint: write("long.bin", long) }), "long.bin", /needs 1056540/);
  });

  it("garbage headers, other formats and unreadable paths are refused clearly", () => {
    expectUserError(() => loadModel({ checkpoint: write("tiny.bin", new Uint8Array(10)) }), "tiny.bin");
    const zeros = new Uint8Array(4096);
    expectUserError(() => loadModel({ checkpoint: write("zeros.bin", zeros) }), "zeros.bin", /not a recognised checkpoint/);
    const zip = new Uint8Array(100);
    zip.set([0x50, 0x4b, 3, 4]);
    expectUserError(() => loadModel({ checkpoint: write("model.pt", zip) }), "model.pt", /zip archive/);
    const v1 = new Uint8Array(256);
    new DataView(v1.buffer).setUint32(0, 0x616b3432, true);
    new DataView(v1.buffer).setInt32(4, 1, true);
    expectUserError(() => loadModel({ checkpoint: write("v1.bin", v1) }), "v1.bin", /version 1/);
    expectUserError(() => loadModel({ checkpoint: join(tmp, "missing.bin") }), "missing.bin", /no such file/);
    mkdirSync(join(tmp, "adir"), { recursive: true });
    expectUserError(() => loadModel({ checkpoint: join(tmp, "adir") }), "adir", /directory/);
  });

  it("params.json supplies eps/theta and must agree with the header", () => {
    const good = write("params.json", JSON.stringify({ dim: 64, n_layers: 5, n_heads: 8, n_kv_heads: 4, vocab_size: 512, multiple_of: 4, norm_eps: 1e-6, rope_theta: 5e5 }));
    const m = loadModel({ checkpoint: MODEL_BIN, params: good }).model;
    expect(m.config.normEps).toBe(1e-6);
    expect(m.config.ropeTheta).toBe(5e5);
    const bad = write("bad-params.json", JSON.stringify({ dim: 64, n_layers: 6, n_heads: 8, n_kv_heads: 4, multiple_of: 4 }));
    expectUserError(() => loadModel({ checkpoint: MODEL_BIN, params: bad }), "bad-params.json", /nLayers = 6/);
    expectUserError(() => loadModel({ checkpoint: MODEL_BIN, params: write("broken.json", "{dim: 64") }), "broken.json", /not valid JSON/);
  });
});

describe("params.json and the FFN-width rule (SPEC §1)", () => {
  it("derives the known FFN widths", () => {
    expect(ffnHiddenDim(64, 4)).toBe(172); // stories260K
    expect(ffnHiddenDim(768, 32)).toBe(2048); // stories110M
    expect(ffnHiddenDim(2048, 256, 1.5)).toBe(8192); // Llama 3.2 1B
    expect(ffnHiddenDim(3072, 256, 1.0)).toBe(8192); // Llama 3.2 3B
    expect(ffnHiddenDim(96, 64, 1.3)).toBe(384); // tiny_llama3 test model
  });

  it("reads Llama 3.2 1B params: GQA, theta, scaled RoPE (factor 32 by default), defaults", () => {
    const p = parseParamsJson(
      JSON.stringify({ dim: 2048, ffn_dim_multiplier: 1.5, multiple_of: 256, n_heads: 32, n_kv_heads: 8, n_layers: 16, norm_eps: 1e-5, rope_theta: 500000.0, use_scaled_rope: true, vocab_size: 128256 }),
      "p.json",
    );
    const c = configFromParams(p, "p.json");
    expect(c).toMatchObject({ dim: 2048, nLayers: 16, nHeads: 32, nKvHeads: 8, headDim: 64, hiddenDim: 8192, vocabSize: 128256, ropeTheta: 500000 });
    expect(c.ropeScaling).toEqual({ factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 });
    const d = configFromParams(parseParamsJson('{"dim": 768, "n_layers": 12, "n_heads": 12, "multiple_of": 32, "vocab_size": 32000}', "q"), "q");
    expect(d).toMatchObject({ nKvHeads: 12, normEps: 1e-5, ropeTheta: 10000, hiddenDim: 2048, ropeScaling: null });
  });

  it("refuses malformed params", () => {
    expectUserError(() => parseParamsJson("[1,2]", "a.json"), "a.json", /object/);
    expectUserError(() => parseParamsJson('{"dim": "64", "n_layers": 1, "n_heads": 1}', "b.json"), /"dim" must be a number/);
    expectUserError(() => parseParamsJson('{"dim": 64, "n_heads": 1}', "c.json"), /missing "n_layers"/);
    expectUserError(() => configFromParams(parseParamsJson('{"dim": 64, "n_layers": 1, "n_heads": 3, "vocab_size": 10}', "d.json"), "d.json"), /not divisible/);
  });
});
