// The eval report against plain computations on small hand-made records: perplexity ± error, lm-eval's word / byte
// measures, pooled SQNR, worst tokens with context, histograms, per-position means, and order independence.
import { describe, expect, it } from "vitest";
import { buildEvalReport, evalReportHtml, evalReportJson, evalReportMarkdown, type EvalMeta } from "../../src/eval/report.js";
import type { ItemRecord } from "../../src/eval/records.js";

const meta = (items: number): EvalMeta => ({
  model: "m",
  flow: "current",
  config: "fp32",
  windowing: "kv",
  windowLength: 4,
  dataset: { path: "d.txt", kind: "text", sha256: "x", documents: 1, tokens: 5, words: 3, bytes: 10 },
  wholeDocuments: true,
  items,
});

const tok = (pos: number, nll: number, extra: Partial<ItemRecord["tokens"][number]> = {}) => ({ pos, target: 5, nll, top: 5, ...extra });

describe("eval report", () => {
  const recs: ItemRecord[] = [
    { item: 0, doc: 0, start: 0, fed: 3, tokens: [tok(0, 1, { piece: "a", kl: 0.5, reverseKl: 0.4, sameTop: true, dp: -0.2, nllBase: 0.9, signal: 4, noise: 1 }), tok(1, 2, { piece: "b", kl: 2e-7, reverseKl: 0, sameTop: false, dp: 0.05, nllBase: 2, signal: 6, noise: 0.5 }), tok(2, 3, { piece: "c", kl: 0.5, reverseKl: 0.1, sameTop: true, dp: 0.95, nllBase: 2.5 })] },
    { item: 1, doc: 0, start: 2, fed: 3, tokens: [tok(2, 4, { piece: "d", kl: 3, reverseKl: 1, sameTop: true, dp: 0, nllBase: 1 })] },
  ];

  it("computes the figures as the plain definitions say", () => {
    const r = buildEvalReport(meta(2), recs);
    const nlls = [1, 2, 3, 4];
    const mean = 2.5;
    const sd = Math.sqrt(nlls.reduce((s, x) => s + (x - mean) ** 2, 0) / 3);
    expect(r.scored).toBe(4);
    expect(r.nll.mean).toBe(mean);
    expect(r.nll.err).toBeCloseTo(sd / 2, 15);
    expect(r.ppl.value).toBe(Math.exp(2.5));
    expect(r.ppl.err).toBeCloseTo(Math.exp(2.5) * (sd / 2), 12);
    expect(r.lmEval!.wordPerplexity).toBeCloseTo(Math.exp(10 / 3), 12);
    expect(r.lmEval!.bytePerplexity).toBeCloseTo(Math.exp(1), 12);
    expect(r.lmEval!.bitsPerByte).toBeCloseTo(1 / Math.LN2, 12);
    expect(r.sqnrDb).toBeCloseTo(10 * Math.log10(10 / 1.5), 12);
    // Worst by KL, ties in item/position order, with the pieces before each in its window.
    expect(r.worst.map((w) => [w.item, w.pos, w.kl, w.context])).toEqual([[1, 2, 3, ""], [0, 0, 0.5, ""], [0, 2, 0.5, "ab"], [0, 1, 2e-7, "a"]]);
    // Histograms: KL bins per half decade from 1e-6; Δp bins of 0.1.
    expect(r.histograms!.kl.filter((b) => b.count > 0).map((b) => [b.label, b.count])).toEqual([["< 1e-6", 1], ["1e-0.5…", 2], ["1e0.0…", 1]]);
    expect(r.histograms!.kl.reduce((s, b) => s + b.count, 0)).toBe(4);
    expect(r.histograms!.kl[0].count).toBe(1); // 2e-7 < 1e-6
    expect(r.histograms!.dp.map((b) => b.count)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    // Per position: means of the tokens fed at each position.
    expect(r.perPosition).toEqual([
      { pos: 0, count: 1, nll: 1, kl: 0.5 },
      { pos: 1, count: 1, nll: 2, kl: 2e-7 },
      { pos: 2, count: 2, nll: 3.5, kl: 1.75 },
    ]);
    expect(r.comparison!.tokens).toBe(4);
    expect(r.comparison!.sameTop.mean).toBe(0.75);
  });

  it("does not depend on the order the records come in, and renders three formats", () => {
    const a = buildEvalReport(meta(2), recs);
    const b = buildEvalReport(meta(2), [recs[1], recs[0]]);
    expect(evalReportJson(b)).toBe(evalReportJson(a));
    expect(evalReportMarkdown(a)).toContain("| mean KL(base‖new) |");
    expect(evalReportHtml(a)).toMatch(/^<!doctype html>/);
    expect(JSON.parse(evalReportJson(a)).ppl.value).toBe(Math.exp(2.5));
  });

  it("refuses an incomplete set of items", () => {
    expect(() => buildEvalReport(meta(3), recs)).toThrow(/items/);
    expect(() => buildEvalReport(meta(2), [recs[0]])).toThrow(/item 1 is missing|1 items/);
  });
});
