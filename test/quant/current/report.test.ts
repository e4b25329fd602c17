// quant-report's current-flow comparison (src/quant/current/report.ts) against separately computed figures:
// - its greedy tokens are the run command's (the quantized backend on generateCurrent, raw-code sampling);
// - its perplexities equal a plain oracle written here: each window fed once through the AR = CL graph (fp32:
//   the engine's arForward; quantized: the quantized graph at AR = CL), rows scored with a float64 log-softmax —
//   a different graph length and column order than the report's AR = 1 decode calls (measured: equal to 1e-15 on
//   stories260K; bounds 1e-9 fp32, 1e-6 quantized, where a changed float sum could move one code);
// - its per-conv energies cover every conv, and the suggested recipe promotes exactly the convs below the threshold
//   that are not 16a8w already.
import { describe, expect, it } from "vitest";
import { arForward, createArGraph } from "../../../src/engine/ar-graph.js";
import { collateCalibrationBatch } from "../../../src/quant/calibration-data.js";
import { currentQuantReport } from "../../../src/quant/current/report.js";
import { quantArForward, quantArGraph } from "../../../src/quant/current/forward.js";
import type { CurrentEncodings } from "../../../src/quant/current/encodings.js";
import type { Model } from "../../../src/engine/weights.js";
import { parseRecipeText, resolveRecipe } from "../../../src/quant/current/recipe.js";
import { calibrateCase, greedy, quantBackend, quantModels, EVAL_TEXT } from "../../helpers/current-quant.js";

const models = await quantModels();
const stories = models[0];
const CL = 64;

/** Plain perplexity oracle: windows of CL - 1 tokens overlapping by one, each one AR = CL forward. */
function oraclePerplexity(model: Model, tokens: number[], forward: (t: Int32Array, mask: Float32Array, pos: Int32Array) => Float32Array): number {
  const V = model.config.vocabSize;
  const L = CL - 1;
  let nll = 0;
  let n = 0;
  for (let start = 0; start + 1 < tokens.length; start += L - 1) {
    const w = tokens.slice(start, start + L);
    if (w.length < 2) break;
    const b = collateCalibrationBatch(w, CL);
    const logits = forward(b.tokens, b.mask, b.inputPos);
    for (let i = 0; i + 1 < w.length; i++) {
      const row = Array.from(logits.subarray(i * V, (i + 1) * V));
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
      nll += lse - row[w[i + 1]];
      n++;
    }
  }
  return Math.exp(nll / n);
}

describe("quant-report, current flow", () => {
  const enc: CurrentEncodings = calibrateCase(stories, { CL, texts: [EVAL_TEXT().slice(0, 600)] });
  const evalTokens = stories.encode(EVAL_TEXT().slice(0, 400), true);

  it("greedy tokens = the run command's; perplexities = the AR = CL oracle; every conv measured; the suggestion promotes the sensitive convs not 16a8w yet", async () => {
    const r = await currentQuantReport(stories.model, enc, { promptTokens: stories.prompt, evalTokens, steps: 20, stopTokens: [2], calibration: { source: "calibration data", tokens: 1 }, sensitivityThresholdDb: 15 });
    expect(r.flow).toBe("current");
    expect(r.recipe).toBe("stories260k");
    const run = await greedy(quantBackend(stories, enc, { mode: "kv", CL, AR: 8, maxSeqLen: CL }), stories, { mode: "kv", CL, AR: 8, maxSeqLen: CL });
    expect(r.generatedTokens).toEqual(run.slice(0, 20));
    expect(r.steps.filter((s) => s.generated)).toHaveLength(20);
    expect(r.steps.map((s) => s.position)).toEqual(r.steps.map((_, i) => i));

    const g = createArGraph(stories.model, { contextLen: CL, arLen: CL });
    const caches = () => {
      const c = stories.model.config;
      return { kCaches: Array.from({ length: c.nLayers }, () => new Float32Array(0)), vCaches: Array.from({ length: c.nLayers }, () => new Float32Array(0)) };
    };
    const fp32 = oraclePerplexity(stories.model, evalTokens, (tokens, attnMask, inputPos) => arForward(g, { tokens, attnMask, inputPos, ...caches() }).logits);
    const qg = quantArGraph(g, enc);
    const quant = oraclePerplexity(stories.model, evalTokens, (tokens, attnMask, inputPos) => quantArForward(qg, { tokens, attnMask, inputPos, ...caches() }).logits);
    expect(r.perplexity.fp32.tokens).toBe(evalTokens.length - 1);
    expect(Math.abs(r.perplexity.fp32.ppl / fp32 - 1)).toBeLessThan(1e-9);
    expect(Math.abs(r.perplexity.quantized.ppl / quant - 1)).toBeLessThan(1e-6);
    expect(r.perplexity.quantized.ppl).toBeGreaterThan(r.perplexity.fp32.ppl);

    const convs = enc.convs.map((c) => c.conv.path);
    expect(r.sensitivity!.convs.map((c) => c.name).sort()).toEqual([...convs].sort());
    expect(r.perLayer).toHaveLength(convs.length);
    const promoted = r.sensitivity!.convs.filter((c) => c.sqnrDb < 15 && enc.convs.find((q) => q.conv.path === c.name)!.conv.scheme !== "16a8w").map((c) => c.name);
    expect(promoted.length).toBeGreaterThan(0);
    const doc = r.suggestedRecipe!.recipe;
    expect(doc.base).toBe("stories260k");
    const suggested = resolveRecipe(parseRecipeText(JSON.stringify(doc), "suggested.json"), stories.model);
    const before = new Map(enc.recipe.convs.map((c) => [c.path, c.scheme]));
    for (const c of suggested.convs) expect(c.scheme, c.path).toBe(promoted.includes(c.path) ? "16a8w" : before.get(c.path));
  });
});
