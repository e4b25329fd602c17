// The tiny random-weight family models of test/fixtures/families-tiny/: regenerated only with
// REGENERATE_FAMILIES=1; otherwise checks that the committed files still load in the oracle, reproduce their
// expected.json bit for bit, and are exactly what the generator produces from their seeds.
import { describe, expect, it } from "vitest";
import { readFileSync, statSync } from "node:fs";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { f64ToBase64, loadHfModel, oracleForward, oracleGreedy, oracleLayers, rowArgmax } from "../helpers/hf-oracle.js";
import { generateFamilyModel, TINY_FAMILIES, TINY_GREEDY_NEW, TINY_INPUT_IDS, TINY_SEEDS, TINY_SHAPES } from "../helpers/hf-family-generator.js";

const TINY = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "families-tiny");
const REGEN = process.env.REGENERATE_FAMILIES === "1";
const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

describe("tiny family fixtures (test/fixtures/families-tiny)", () => {
  it.skipIf(!REGEN)(`regenerates the fixtures${REGEN ? "" : " (skipped: set REGENERATE_FAMILIES=1)"}`, () => {
    for (const f of TINY_FAMILIES) generateFamilyModel(f, TINY_SEEDS[f], { outDir: join(TINY, f) });
  });

  for (const f of TINY_FAMILIES) {
    it(`${f}: the committed files load in the oracle and reproduce expected.json exactly`, () => {
      const dir = join(TINY, f);
      const exp = JSON.parse(readFileSync(join(dir, "expected.json"), "utf8"));
      for (const name of ["config.json", "model.safetensors"]) expect(sha256(readFileSync(join(dir, name))), name).toBe(exp.files_sha256[name]);
      const m = loadHfModel(dir);
      expect(m.arch).toEqual(exp.arch);
      expect(oracleLayers(m)).toEqual(exp.layers);
      expect(exp.input_ids).toEqual(TINY_INPUT_IDS);
      const logits = oracleForward(m, exp.input_ids);
      expect(exp.logits.shape).toEqual([TINY_INPUT_IDS.length, m.arch.V]);
      expect(f64ToBase64(logits)).toBe(exp.logits.b64); // bit for bit
      expect(rowArgmax(logits, m.arch.V)).toEqual(exp.argmax);
      expect(oracleGreedy(m, exp.input_ids, TINY_GREEDY_NEW)).toEqual(exp.greedy.tokens);
      // Not degenerate: the continuation is not one repeated token, and its decisions are not near-ties.
      expect(new Set(exp.greedy.tokens).size).toBeGreaterThanOrEqual(4);
      expect(exp.greedy.min_margin).toBeGreaterThan(0.03);
      expect(statSync(join(dir, "model.safetensors")).size).toBeLessThan(170_000);
    });

    it(`${f}: the generator reproduces the committed bytes from seed ${TINY_SEEDS[f]}`, () => {
      const g = generateFamilyModel(f, TINY_SEEDS[f]);
      const dir = join(TINY, f);
      expect(g.configJson).toBe(readFileSync(join(dir, "config.json"), "utf8"));
      expect(Buffer.from(g.safetensors).equals(readFileSync(join(dir, "model.safetensors")))).toBe(true);
      expect(g.expectedJson).toBe(readFileSync(join(dir, "expected.json"), "utf8"));
    });
  }

  it("the shapes exercise what they are meant to", () => {
    const load = (f: keyof typeof TINY_SHAPES) => loadHfModel(join(TINY, f));
    const q3 = load("qwen3");
    expect(q3.arch.hd).not.toBe(q3.arch.H / q3.arch.nH);
    expect(q3.arch.tie).toBe(false);
    expect(q3.arch.qk_norm).toBe(true);
    const q2 = load("qwen2_5");
    expect([q2.arch.qkv_bias, q2.arch.o_bias]).toEqual([true, false]);
    expect(q2.arch.nH / q2.arch.nKV).toBe(4);
    expect(oracleLayers(load("smollm3")).map((l) => l.useRope)).toEqual([true, false]);
    const phi = load("phi4mini");
    expect([phi.arch.fused, phi.arch.hd, phi.arch.rotary_dim]).toEqual([true, 16, 12]);
    const g = load("gemma3");
    expect(g.arch.scaling).toBe(Math.pow(24, -0.5));
    expect(g.arch.hd).toBe(16);
    expect(oracleLayers(g)).toEqual([
      { useRope: true, theta: 10000, window: 8, kind: "sliding_attention" },
      { useRope: true, theta: 10000, window: 8, kind: "sliding_attention" },
      { useRope: true, theta: 10000, window: 8, kind: "sliding_attention" },
      { useRope: true, theta: 1000000, window: null, kind: "full_attention" },
    ]);
    for (const f of TINY_FAMILIES) {
      const buf = readFileSync(join(TINY, f, "model.safetensors"));
      const n = Number(buf.readBigUInt64LE(0));
      const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
      const dtypes = new Set(Object.entries(header).filter(([k]) => k !== "__metadata__").map(([, v]) => (v as { dtype: string }).dtype));
      expect([...dtypes], f).toEqual([TINY_SHAPES[f].dtype]);
    }
  });
});
