// Sensitivity analysis (src/quant/sensitivity.ts) against plain oracles: closed-form statistics of constructed
// arrays, SQNR of a signal with a known noise energy, the per-layer grouping, and the suggested recipe's patterns
// matching exactly the intended module paths.
import { describe, expect, it } from "vitest";
import { outlierStats, sensitivityReport, suggestRecipe, sensitivityMarkdown, worstChannel } from "../../src/quant/sensitivity.js";

describe("outlier statistics", () => {
  it("uniform grid: excess kurtosis -1.2 (1 - 6/5 as n grows), nearest-rank p99.9, nothing beyond 6 sigma", () => {
    const n = 100000;
    const x = Float64Array.from({ length: n }, (_, i) => (i + 0.5) / n); // uniform on (0, 1)
    const s = outlierStats(x);
    expect(s.excessKurtosis).toBeCloseTo(-1.2, 4);
    expect(s.p999).toBe(x[Math.ceil(0.999 * n) - 1]);
    expect(s.maxAbs).toBe(x[n - 1]);
    expect(s.beyond6Sigma).toBe(0);
  });

  it("one spike among zeros-and-ones: kurtosis from the moments written out, max/p99.9 the spike's ratio", () => {
    const x = [...Array(999).fill(1), 100];
    const n = x.length;
    const mean = x.reduce((a, b) => a + b) / n;
    const m2 = x.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    const m4 = x.reduce((a, b) => a + (b - mean) ** 4, 0) / n;
    const s = outlierStats(x);
    expect(s.excessKurtosis).toBeCloseTo(m4 / m2 ** 2 - 3, 9);
    expect(s.p999).toBe(1); // the 999th smallest |x|
    expect(s.maxOverP999).toBe(100);
    expect(s.beyond6Sigma).toBe(1 / 1000);
  });

  it("the worst channel is the one with the heaviest tails", () => {
    const rows = 3;
    const w = new Float64Array(rows * 200);
    for (let r = 0; r < rows; r++) for (let i = 0; i < 200; i++) w[r * 200 + i] = Math.sin(i * (r + 1));
    w[1 * 200 + 7] = 40;
    expect(worstChannel(w, rows).channel).toBe(1);
  });
});

describe("sensitivity and the suggested recipe", () => {
  const ms = [
    { name: "layers.0.attention.wq_conv", layer: 0, sig: 100, noise: 0.1 }, // 30 dB
    { name: "layers.0.feed_forward.w2_conv", layer: 0, sig: 100, noise: 10 }, // 10 dB
    { name: "layers.1.feed_forward.w2_conv", layer: 1, sig: 100, noise: 1 }, // 20 dB: not below
    { name: "output.conv", layer: null, sig: 50, noise: 5 }, // 10 dB
  ];
  const r = sensitivityReport(ms, 20);

  it("SQNR = 10 log10(sig / noise), worst first, grouped by layer with the head last", () => {
    expect(r.convs.map((c) => [c.name, c.sqnrDb])).toEqual([
      ["layers.0.feed_forward.w2_conv", 10],
      ["output.conv", 10],
      ["layers.1.feed_forward.w2_conv", 20],
      ["layers.0.attention.wq_conv", 30],
    ]);
    expect(r.layers).toEqual([
      { layer: 0, minSqnrDb: 10, meanSqnrDb: 20, convs: 2, below: 1 },
      { layer: 1, minSqnrDb: 20, meanSqnrDb: 20, convs: 1, below: 0 },
      { layer: null, minSqnrDb: 10, meanSqnrDb: 10, convs: 1, below: 1 },
    ]);
    expect(sensitivityMarkdown(r)).toContain("| layers.0.feed_forward.w2_conv ⚠ | 10.0 |");
  });

  it("promotes exactly the convs below the threshold to 16a8w, each pattern matching only its module path", () => {
    const base = { default: { scheme: "16a4w_block", block_size: 32 }, kv_bits: 8 as const, overrides: [{ pattern: "x", scheme: "16a8w" }], base: "llama3_2-1b" };
    const { recipe, why } = suggestRecipe(r, base, (n) => n === "output.conv");
    expect(recipe.overrides.slice(0, 1)).toEqual(base.overrides);
    const added = recipe.overrides.slice(1);
    expect(added.map((o) => o.scheme)).toEqual(["16a8w"]);
    const all = [...ms.map((m) => m.name), "layers.10.feed_forward.w2_conv", "layers.0.feed_forward.w2_convX", "layers_0_feed_forward_w2_conv"];
    expect(all.filter((n) => new RegExp(added[0].pattern).test(n))).toEqual(["layers.0.feed_forward.w2_conv"]);
    expect(why[0].reason).toMatch(/^output SQNR 10\.0 dB < 20 dB/);
    expect([recipe.default, recipe.kv_bits, recipe.base]).toEqual([base.default, 8, "llama3_2-1b"]);
  });
});
