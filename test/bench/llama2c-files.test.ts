// The llama2.c anchor's files (bench/llama2c-files.ts): a model written as a llama2.c v0 .bin loads back bit for
// bit through the project's loader (tied and separate classifier), the synthetic tokenizer.bin has exactly the
// vocabulary size run.c reads and encodes an ASCII prompt without byte fallback, and run.c's speed line parses.
import { describe, expect, it } from "vitest";
import { mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { llama2cTokenizerBytes, parseRunCTokPerS, writeLlama2cBin } from "../../bench/llama2c-files.js";
import { randomModel } from "../../bench/random-model.js";
import { loadModel } from "../../src/loaders/index.js";
import { loadLlama2cTokenizer } from "../../src/tokenizer/llama2c-bin.js";
import type { ModelConfig } from "../../src/engine/config.js";
import { bitsEqual } from "../helpers/fixtures.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-l2c-"));
const SMALL: ModelConfig = {
  dim: 48, nLayers: 2, nHeads: 6, nKvHeads: 2, vocabSize: 400, hiddenDim: 96, headDim: 8,
  normEps: 1e-5, ropeTheta: 10000, ropeScaling: null, maxSeqLen: 64,
};

describe("llama2.c .bin writer", () => {
  it("round-trips a random model through loadModel, tied and with a separate classifier", () => {
    const m = randomModel(SMALL, 7);
    const p = join(tmp, "tied.bin");
    const n = writeLlama2cBin(p, m, 64);
    expect(statSync(p).size).toBe(n);
    const back = loadModel({ checkpoint: p }).model;
    expect(back.config).toMatchObject({ dim: 48, nLayers: 2, nHeads: 6, nKvHeads: 2, vocabSize: 400, hiddenDim: 96, maxSeqLen: 64 });
    expect(back.weights.output).toBe(back.weights.tokEmbeddings);
    for (const k of ["wq", "wk", "wv", "wo", "w1", "w2", "w3", "attnNorm", "ffnNorm"] as const)
      for (let l = 0; l < 2; l++) expect(bitsEqual(back.weights.layers[l][k], m.weights.layers[l][k])).toBe(true);
    expect(bitsEqual(back.weights.norm, m.weights.norm)).toBe(true);

    const sep = { ...m, weights: { ...m.weights, output: randomModel(SMALL, 8).weights.tokEmbeddings } };
    const p2 = join(tmp, "sep.bin");
    writeLlama2cBin(p2, sep, 64);
    const back2 = loadModel({ checkpoint: p2 }).model;
    expect(back2.weights.output).not.toBe(back2.weights.tokEmbeddings);
    expect(bitsEqual(back2.weights.output, sep.weights.output)).toBe(true);
    expect(bitsEqual(back2.weights.tokEmbeddings, m.weights.tokEmbeddings)).toBe(true);
  });
});

describe("synthetic llama2.c tokenizer.bin", () => {
  it("holds exactly vocab_size distinct pieces, with run.c's special and byte ids, and encodes ASCII by pieces", () => {
    const p = join(tmp, "tok.bin");
    writeFileSync(p, llama2cTokenizerBytes(32000));
    const tok = loadLlama2cTokenizer(p, 32000);
    expect(tok.vocabSize).toBe(32000);
    expect(tok.variant).toBe("llama2c");
    const ids = tok.encode("Once upon a time", { bos: true });
    expect(ids[0]).toBe(1);
    // " " dummy prefix then one piece per character: no byte fallback (ids 3..258)
    expect(ids.length).toBe(2 + "Once upon a time".length);
    expect(ids.slice(1).every((i) => i >= 259 && i < 259 + 95)).toBe(true);
    const seen = new Set<string>();
    for (let i = 0; i < 32000; i++) seen.add(Buffer.from(tok.pieceBytes(i)).toString("latin1"));
    expect(seen.size).toBe(32000);
    expect(() => llama2cTokenizerBytes(100)).toThrow(/vocab_size 100/);
  });
});

describe("run.c output", () => {
  it("parses the achieved tok/s line and refuses output without one", () => {
    expect(parseRunCTokPerS("Once upon a time...\nachieved tok/s: 21.345679\n")).toBeCloseTo(21.345679, 6);
    expect(parseRunCTokPerS("achieved tok/s: 1.5e+02")).toBe(150);
    expect(parseRunCTokPerS("Once upon a time")).toBeUndefined();
    expect(parseRunCTokPerS("achieved tok/s: inf")).toBeUndefined();
  });
});
