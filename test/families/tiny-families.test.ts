// The project's own tiny family models (test/fixtures/families-tiny: written by test/helpers/hf-family-generator.ts in
// the real Hugging Face layout, BF16 for three of them) against the float64 oracle of test/helpers/hf-oracle.ts — a
// separate forward pass written from the Hugging Face modeling code, itself validated against the independent
// references (test/oracle). expected.json holds the oracle's logits for a 12-token input; the window of the tiny Gemma3
// is 8, so its sliding layers drop keys here. Also Phi-3's LongRoPE: ignored by default (the Qualcomm flow), applied
// with the option, and then equal to the oracle's transformers-style LongRoPE.
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadModel } from "../../src/loaders/index.js";
import { calibrationLogits } from "../helpers/families.js";
import { createReferenceBackend } from "../../src/backends/reference.js";
import { generateCurrent } from "../../src/runner/generate.js";
import { createSampler } from "../../src/runner/sampler.js";
import { f64FromBase64, loadHfModel, oracleForward } from "../helpers/hf-oracle.js";

const DIR = new URL("../fixtures/families-tiny/", import.meta.url).pathname;
const NAMES = readdirSync(DIR, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe.each(NAMES)("tiny %s (the project's generator) against the float64 oracle", (name) => {
  const exp = JSON.parse(readFileSync(join(DIR, name, "expected.json"), "utf8"));
  const model = loadModel({ checkpoint: join(DIR, name) }).model;

  it("teacher-forced logits within 1e-4 of the oracle at every position, argmax equal", () => {
    const got = calibrationLogits(model, exp.input_ids);
    expect(maxAbs(got, f64FromBase64(exp.logits.b64))).toBeLessThan(1e-4);
    const V = model.config.vocabSize;
    const am = exp.input_ids.map((_: number, t: number) => {
      const row = got.subarray(t * V, (t + 1) * V);
      return row.indexOf(Math.max(...row));
    });
    expect(am).toEqual(exp.argmax);
  });

  for (const mode of ["kv", "hybrid"] as const)
    it(`greedy continuation equal to the oracle's (${mode} mode)`, async () => {
      const r = await generateCurrent({
        backend: createReferenceBackend({ model, contextLen: 32, arLens: mode === "kv" ? [1] : [1, 4] }),
        config: model.config,
        mode,
        contextLen: 32,
        prefillArLen: 4,
        maxSeqLen: exp.input_ids.length + exp.greedy.tokens.length,
        promptTokens: exp.input_ids,
        sampler: createSampler({ vocabSize: model.config.vocabSize, temperature: 0, seed: 0n }),
      });
      expect(r.generatedTokens.slice(0, exp.greedy.tokens.length)).toEqual(exp.greedy.tokens);
    });
});

describe("Phi-3 LongRoPE", () => {
  const tmp = mkdtempSync(join(tmpdir(), "llama-golden-longrope-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const src = join(DIR, "phi4mini");
  const base = JSON.parse(readFileSync(join(src, "config.json"), "utf8"));
  copyFileSync(join(src, "model.safetensors"), join(tmp, "model.safetensors"));
  const ids: number[] = JSON.parse(readFileSync(join(src, "expected.json"), "utf8")).input_ids;
  const plain = calibrationLogits(loadModel({ checkpoint: src }).model, ids);

  // rotary dims 12 -> 6 factors each; original context 16 with 64 positions: attention factor sqrt(1 + ln 4 / ln 16).
  const withLongRope = (original: number) => {
    const cfg = {
      ...base,
      max_position_embeddings: 64,
      original_max_position_embeddings: original,
      rope_scaling: { type: "longrope", short_factor: [1, 1.1, 1.3, 1.7, 2.2, 3.0], long_factor: [1.5, 2, 3, 5, 8, 13] },
    };
    writeFileSync(join(tmp, "config.json"), JSON.stringify(cfg));
    return tmp;
  };

  for (const original of [16, 8])
    it(`original context ${original} (${ids.length > original ? "long" : "short"} factors): ignored by default, applied as transformers with the option`, () => {
      const dir = withLongRope(original);
      const ignored = calibrationLogits(loadModel({ checkpoint: dir }).model, ids);
      expect(Array.from(ignored)).toEqual(Array.from(plain)); // the Qualcomm flow: no factors at all
      const applied = calibrationLogits(loadModel({ checkpoint: dir, applyLongRope: true }).model, ids);
      const oracle = oracleForward(loadHfModel(dir), ids);
      expect(maxAbs(applied, oracle)).toBeLessThan(1e-4);
      expect(maxAbs(applied, plain)).toBeGreaterThan(1e-3); // the factors do change the model
    });
});
