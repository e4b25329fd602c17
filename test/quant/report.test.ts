// The quantization report (src/quant/report.ts) and perplexity (src/quant/perplexity.ts) on stories260K:
// structure, determinism, fp32 perplexity against an independent float64 computation from the prefill
// graph's logits, and the quantized perplexity not better than fp32.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createPrefillGraph, prefillForward } from "../../src/engine/prefill-graph.js";
import { causalMask } from "../../src/engine/graph-io.js";
import { LAYER_TAPS } from "../../src/engine/decoder.js";
import { loadTokenizer } from "../../src/tokenizer/index.js";
import { fp32Perplexity } from "../../src/quant/perplexity.js";
import { quantReport, quantVerdict, reportHtml, reportJson, reportMarkdown, type QuantReport } from "../../src/quant/report.js";
import { loadStories260K, ROOT, TOKENIZER_BIN } from "../helpers/fixtures.js";

const model = loadStories260K();
const c = model.config;
const PROMPT = [1, 403, 407, 261, 378];
const KV = 32;
const tok = await loadTokenizer(TOKENIZER_BIN, { expectedVocabSize: c.vocabSize });
const EVAL = [1, ...tok.encode(readFileSync(join(ROOT, "data", "eval.txt"), "utf8").slice(0, 300))];
const opts = { promptTokens: PROMPT, kvSeqLen: KV, evalTokens: EVAL, steps: 16 };

/** Independent teacher-forced NLL sum over windows [start, start + kv_seq_len - 1) (overlapping by one token), from the
 * prefill graph's logits with a float64 log-softmax written here. */
function referenceNll(tokens: number[], kvSeqLen: number): { sum: number; n: number } {
  const pg = createPrefillGraph(model, kvSeqLen);
  const P = pg.rows; // = kv_seq_len - 1 = the KV graph's window
  const L = P;
  let sum = 0;
  let n = 0;
  for (let start = 0; start < tokens.length - 1; start += L - 1) {
    const win = tokens.slice(start, start + L);
    const ids = new Int32Array(P);
    win.forEach((t, i) => (ids[i] = t));
    const { logits } = prefillForward(pg, { tokens: ids, attnMask: causalMask(P) });
    for (let i = 0; i + 1 < win.length; i++) {
      const row = Array.from(logits.subarray(i * c.vocabSize, (i + 1) * c.vocabSize), Number);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
      sum += lse - row[win[i + 1]];
      n++;
    }
  }
  return { sum, n };
}

describe("perplexity", () => {
  it("fp32: matches a float64 log-softmax over the prefill graph's logits, window by window", () => {
    expect(EVAL.length).toBeGreaterThan(KV); // several windows
    const p = fp32Perplexity(model, KV, EVAL);
    const ref = referenceNll(EVAL, KV);
    expect(p.tokens).toBe(EVAL.length - 1);
    expect(ref.n).toBe(p.tokens);
    expect(p.nllMean).toBeCloseTo(ref.sum / ref.n, 4);
    expect(p.ppl).toBeCloseTo(Math.exp(ref.sum / ref.n), 3);
  });

  it("rejects fewer than two tokens", () => {
    expect(() => fp32Perplexity(model, KV, [1])).toThrow(RangeError);
  });
});

describe("quantReport (16a4w, stories260K)", () => {
  const r = quantReport(model, "16a4w", opts);

  it("has the documented structure", () => {
    expect(r.scheme).toBe("16a4w");
    expect(r.calibration).toEqual({ source: "prompt_greedy", tokens: KV - 1 });
    const gen = r.steps.filter((s) => s.generated);
    expect(gen).toHaveLength(16);
    expect(r.steps).toHaveLength(PROMPT.length - 1 + 16);
    r.steps.forEach((s, i) => {
      expect(s.index).toBe(i);
      expect(s.position).toBe(i);
      expect(Number.isFinite(s.logitsSqnrDb)).toBe(true);
      expect(s.kl).toBeGreaterThanOrEqual(0);
    });
    expect(r.generatedTokens).toHaveLength(16);
    expect(r.top1Agreement).toBe(gen.filter((s) => s.top1Agree).length / 16);
    expect(r.top1Agreement).toBeGreaterThan(0.5);
    // embedding, every layer tap, final_norm
    expect(r.perLayer).toHaveLength(2 + c.nLayers * LAYER_TAPS.length);
    expect(r.perLayer[0]).toMatchObject({ layer: -1, tensor: "embedding" });
    expect(r.perLayer.at(-1)).toMatchObject({ layer: c.nLayers, tensor: "final_norm" });
    for (const l of r.perLayer) expect(l.sqnrDb).toBeGreaterThan(20);
    expect(r.perplexity.fp32.tokens).toBe(EVAL.length - 1);
    expect(r.perplexity.quantized.tokens).toBe(EVAL.length - 1);
  });

  it("quantized perplexity is not below fp32", () => {
    expect(r.perplexity.quantized.ppl).toBeGreaterThanOrEqual(r.perplexity.fp32.ppl);
    expect(r.perplexity.fp32.ppl).toBeCloseTo(fp32Perplexity(model, KV, EVAL).ppl, 12);
  });

  it("is deterministic", () => {
    expect(reportJson(quantReport(model, "16a4w", opts))).toBe(reportJson(r));
  });

  it("renders Markdown, JSON and HTML", () => {
    const md = reportMarkdown(r);
    expect(md).toMatch(/^# Quantization report: 16a4w/);
    expect(md).toContain("| step | pos | token | generated |");
    const o = JSON.parse(reportJson(r));
    expect(o.scheme).toBe("16a4w");
    expect(o.steps).toHaveLength(r.steps.length);
    const html = reportHtml(r);
    expect(html).toContain("<svg");
    expect(html).toContain('id="plot-layers"');
  });

  it("calibrates on given tokens instead of the greedy run", () => {
    const q = quantReport(model, "8a8w", { ...opts, calibTokens: EVAL, steps: 4 });
    expect(q.calibration).toEqual({ source: "calib_text", tokens: KV - 1 });
    expect(q.steps.filter((s) => s.generated)).toHaveLength(4);
  });
});

// Issue 13 item 6: the HTML report judges only against stated thresholds, and the progress callback.
describe("quant-report HTML: verdict only against stated thresholds", () => {
  const r = quantReport(model, "16a4w", opts);
  /** The case: 71% top-1 agreement and doubled perplexity. */
  const poor: QuantReport = {
    ...r,
    top1Agreement: 0.71,
    perplexity: { fp32: { ...r.perplexity.fp32, ppl: 5 }, quantized: { ...r.perplexity.quantized, ppl: 10 } },
  };

  it("without thresholds: informational, no PASSED / FAILED, and the Tolerances section lists what was measured", () => {
    const html = reportHtml(poor);
    expect(html).not.toMatch(/PASSED|FAILED/);
    expect(html).toContain("No thresholds: informational report");
    const tol = html.slice(html.indexOf("<h2>Tolerances</h2>"), html.indexOf("<h2>Plots</h2>"));
    expect(tol).toContain("No thresholds were stated");
    expect(tol).toMatch(/<th>top-1 agreement with fp32<\/th><td>\d+\/16 generated steps \(0\.7100\)<\/td>/);
    expect(tol).toContain("fp32 5.0000, quantized 10.0000: ratio 2.0000");
    expect(quantVerdict(poor, {})).toEqual({ passed: null, failures: [] });
  });

  it("with thresholds: states them and judges against them", () => {
    const t = { minTop1Agreement: 0.9, maxPerplexityRatio: 1.25 };
    const v = quantVerdict(poor, t);
    expect(v.passed).toBe(false);
    expect(v.failures).toEqual(["top-1 agreement 0.7100 < 0.9", "perplexity ratio 2.0000 > 1.25"]);
    const html = reportHtml(poor, t);
    expect(html).toMatch(/id="status">FAILED</);
    expect(html).toContain("<th>min top-1 agreement</th><td>0.9</td>");
    expect(html).toContain("<th>max perplexity ratio (quantized / fp32)</th><td>1.25</td>");
    expect(html).toContain("<li>perplexity ratio 2.0000 &gt; 1.25</li>");
    expect(reportHtml(poor, { minTop1Agreement: 0.5, maxPerplexityRatio: 3 })).toMatch(/id="status">PASSED</);
  });

  it("a per-step SQNR threshold judges the generated steps only", () => {
    const min = Math.min(...r.steps.filter((s) => s.generated).map((s) => s.logitsSqnrDb));
    expect(quantVerdict(r, { minLogitsSqnrDb: min }).passed).toBe(true);
    const v = quantVerdict(r, { minLogitsSqnrDb: min + 1 });
    expect(v.passed).toBe(false);
    expect(v.failures[0]).toMatch(/^logits SQNR below [\d.]+ dB at \d+ generated step\(s\), first step \d+/);
    const html = reportHtml(r, { minLogitsSqnrDb: min + 1 });
    expect(html).toContain('class="threshold"');
    expect((html.match(/<tr class="fail">/g) ?? []).length).toBe(r.steps.filter((s) => s.generated && s.logitsSqnrDb < min + 1).length);
  });

  it("the SQNR plot keeps every point above its x axis (negative SQNR included)", () => {
    const svg = reportHtml(r).match(/<svg id="plot-sqnr"[\s\S]*?<\/svg>/)![0];
    const axisY = Number(svg.match(/<line class="axis" x1="[\d.]+" x2="[\d.]+" y1="([\d.]+)" y2="\1"/)![1]);
    const ys = [...svg.matchAll(/<circle cx="[\d.]+" cy="([-\d.]+)" r="([\d.]+)"/g)].map((m) => Number(m[1]) + Number(m[2]));
    expect(ys).toHaveLength(r.steps.length);
    for (const y of ys) expect(y).toBeLessThanOrEqual(axisY);
  });
});

describe("quantReport onProgress", () => {
  it("reports every phase to its total and leaves the report unchanged", () => {
    const seen: [number, number, string][] = [];
    const o2 = { ...opts, steps: 6 };
    const r = quantReport(model, "8a8w", { ...o2, onProgress: (d, t, p) => seen.push([d, t, p]) });
    const phases = [...new Set(seen.map((s) => s[2]))];
    expect(phases).toEqual(["calibrating", "comparing", "perplexity fp32", "perplexity quantized"]);
    for (const p of phases) {
      const s = seen.filter((x) => x[2] === p);
      expect(s[0][0], p).toBe(0);
      expect(s.at(-1)![0], p).toBe(s.at(-1)![1]); // reaches its total
      s.forEach((x, i) => i > 0 && expect(x[0]).toBe(s[i - 1][0] + 1));
    }
    expect(seen.filter((x) => x[2] === "comparing").at(-1)![1]).toBe(r.steps.length);
    expect(seen.filter((x) => x[2] === "perplexity fp32").at(-1)![1]).toBe(EVAL.length - 1);
    expect(reportJson(r)).toBe(reportJson(quantReport(model, "8a8w", o2)));
  });
});
