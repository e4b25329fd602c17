// Recipes (--recipe): strict validation and per-tensor weight specs.
import { describe, expect, it } from "vitest";
import { parseRecipe, quantizeWeightsWithRecipe, schemeForTensor } from "../../src/quant/recipe.js";
import { quantizeModelWeights } from "../../src/quant/schemes.js";
import { UserError } from "../../src/util/errors.js";
import { loadStories260K } from "../helpers/fixtures.js";

const model = loadStories260K();
const NL = model.config.nLayers;

describe("recipe", () => {
  it("matches exact names and globs; later overrides win", () => {
    const r = parseRecipe(
      JSON.stringify({ default: "16a4w", overrides: [{ match: "layers.0.*", scheme: "16a8w" }, { match: "layers.0.attention.wv.weight", scheme: "16a16w" }] }),
      "r.json",
      NL,
    );
    expect(schemeForTensor(r, "layers.0.attention.wq.weight")).toBe("16a8w");
    expect(schemeForTensor(r, "layers.0.attention.wv.weight")).toBe("16a16w");
    expect(schemeForTensor(r, "layers.1.attention.wq.weight")).toBe("16a4w");
    expect(schemeForTensor(r, "output.weight")).toBe("16a4w");
  });

  it("quantizes overridden weights with their scheme, the rest as the default", () => {
    const r = parseRecipe(JSON.stringify({ default: "16a4w", overrides: [{ match: "layers.0.*", scheme: "16a8w" }, { match: "tok_embeddings.weight", scheme: "8a8w" }] }), "r.json", NL);
    const w = quantizeWeightsWithRecipe(model, r);
    const base = quantizeModelWeights(model, "16a4w");
    const l0 = w.layers[0].linears.wq;
    expect(l0.granularity === "per-channel" && l0.bits).toBe(8);
    const l1 = w.layers[1].linears.wq;
    expect(l1.granularity === "per-channel" && l1.bits).toBe(4);
    expect(w.layers[1]).toEqual(base.layers[1]);
    expect(w.tokEmbeddings.encoding.bitwidth).toBe(8);
    expect(w.norm).toEqual(base.norm);
  });

  it("rejects bad recipes with one line naming the file", () => {
    const bad = (body: string, re: RegExp) => {
      expect(() => parseRecipe(body, "bad.json", NL)).toThrow(UserError);
      expect(() => parseRecipe(body, "bad.json", NL)).toThrow(re);
    };
    bad("nope", /bad\.json: not valid JSON/);
    bad("[]", /bad\.json: not a recipe/);
    bad(JSON.stringify({ default: "4a4w" }), /bad\.json: default: unknown scheme "4a4w"/);
    bad(JSON.stringify({ default: "16a4w", extra: 1 }), /unknown key "extra"/);
    bad(JSON.stringify({ default: "16a4w", overrides: {} }), /overrides is not a list/);
    bad(JSON.stringify({ default: "16a4w", overrides: [{ match: "layers.5.*", scheme: "8a8w" }] }), /overrides\[0\]: match "layers\.5\.\*" names no tensor/);
    bad(JSON.stringify({ default: "16a4w", overrides: [{ match: "output.weight", scheme: "16a4w", x: 1 }] }), /overrides\[0\]: unknown key "x"/);
  });
});

describe("recipe activation overrides", () => {
  it("re-encode the matched activations at the override scheme's bits from the calibrated range", async () => {
    const { calibrate, tapKey } = await import("../../src/quant/calibrate.js");
    const { applyRecipe } = await import("../../src/quant/recipe.js");
    const { activationEncoding } = await import("../../src/quant/affine.js");
    const qenc = calibrate(model, "8a8w", { kvSeqLen: 16, promptTokens: [1, 403, 407, 261, 378] });
    const r = parseRecipe(JSON.stringify({ default: "8a8w", overrides: [{ match: "layers.1.attn_out", scheme: "16a16w" }] }), "r.json", NL);
    const out = applyRecipe(qenc, model, r);
    const key = tapKey(1, "attn_out");
    const [lo, hi] = qenc.activationRanges.get(key)!;
    expect(qenc.activations.get(key)!.bitwidth).toBe(8);
    expect(out.activations.get(key)).toEqual(activationEncoding(lo, hi, 16));
    // Everything else is untouched.
    for (const [k, e] of qenc.activations) if (k !== key && k !== tapKey(-1, "embedding")) expect(out.activations.get(k)).toEqual(e);
  });

  it("a match may name activations only; one naming nothing at all is refused", () => {
    expect(() => parseRecipe(JSON.stringify({ default: "16a4w", overrides: [{ match: "layers.*.ffn_act", scheme: "16a16w" }] }), "r.json", NL)).not.toThrow();
    expect(() => parseRecipe(JSON.stringify({ default: "16a4w", overrides: [{ match: "layers.9.ffn_act", scheme: "16a16w" }] }), "r.json", NL)).toThrow(/names no tensor/);
  });
});
