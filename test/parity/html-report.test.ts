// The HTML parity report: self-contained, and its plots really render in headless Chromium (Debian's
// `chromium`, installed by .ci/run): a screenshot must show the SQNR line, the KL line and the red
// failing bars in their colours.
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderHtmlReport, type HtmlReportInput } from "../../src/parity/html-report.js";
import { countColor, decodePng } from "../helpers/png.js";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
/** Why the rendering test skips: in its title, and once in the test output. */
const CHROMIUM_SKIP = CHROMIUM ? "" : " (skipped: needs headless Chromium at /usr/bin/chromium or /usr/bin/chromium-browser)";
if (CHROMIUM_SKIP) console.info(`HTML rendering tests in Chromium${CHROMIUM_SKIP}`);

/** A 900-px-wide headless-Chromium screenshot of an HTML page, decoded. */
function screenshot(html: string) {
  const dir = mkdtempSync(join(tmpdir(), "llama-golden-html-"));
  const file = join(dir, "report.html");
  const png = join(dir, "shot.png");
  writeFileSync(file, html);
  execFileSync(
    CHROMIUM!,
    ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", `--user-data-dir=${join(dir, "profile")}`, "--hide-scrollbars", "--window-size=900,1700", `--screenshot=${png}`, `file://${file}`],
    { stdio: "ignore", timeout: 60_000 },
  );
  return decodePng(new Uint8Array(readFileSync(png)));
}

const input: HtmlReportInput = {
  title: "parity: onnxruntime vs reference <stories260K>",
  passed: false,
  facts: [["backend", "onnxruntime"], ["mode", "hybrid"], ["kv_updater", "smart_mask"]],
  tolerance: { minSqnrDb: 60, maxKl: 1e-6, requireTop1: true },
  steps: Array.from({ length: 12 }, (_, i) => ({ index: i, graph: i === 0 ? "prefill" : "kv", position: 4 + i, sqnrDb: i < 7 ? 120 - i : 35, kl: i < 7 ? 1e-9 : 1e-3, top1: i < 9, passed: i < 7 })),
  firstDivergentStep: 7,
  bisect: { step: 7, layer: 0, tensor: "attn", perLayer: [{ layer: -1, tensor: "embedding", sqnrDb: Infinity }, { layer: 0, tensor: "q", sqnrDb: 140 }, { layer: 0, tensor: "attn", sqnrDb: 31 }, { layer: 0, tensor: "resid_ffn", sqnrDb: 33 }] },
  sqnrThresholdDb: 60,
};

describe("HTML report", () => {
  const html = renderHtmlReport(input);

  it("is self-contained and escapes text", () => {
    expect(html).not.toMatch(/<script|src=|href=/);
    expect(html).toContain("&lt;stories260K&gt;");
    expect(html).toContain('id="plot-sqnr"');
    expect(html).toContain('id="plot-kl"');
    expect(html).toContain('id="plot-layers"');
    expect(html).toContain("layer 0, attn (step 7)");
    expect((html.match(/<circle /g) ?? []).length).toBe(24);
  });

  it.skipIf(!CHROMIUM)(`renders its plots in headless Chromium${CHROMIUM_SKIP}`, () => {
    const img = screenshot(html);
    expect(img.width).toBe(900);
    // SQNR line (#1f77b4, also the passing bars), KL line (#2ca02c), failing bars / threshold (#d62728).
    expect(countColor(img, [0x1f, 0x77, 0xb4])).toBeGreaterThan(500);
    expect(countColor(img, [0x2c, 0xa0, 0x2c])).toBeGreaterThan(500);
    expect(countColor(img, [0xd6, 0x27, 0x28])).toBeGreaterThan(300);
  });
});

// Issue 13 item 6: a verdict only against stated thresholds, never an empty Tolerances section, labelled axes
// with tick labels, and every mark inside the plot area (off-scale and non-finite values as in the header of
// src/parity/html-report.ts).
describe("HTML report: verdict, tolerances and axes", () => {
  /** The plot frame of an SVG plot (its y axis line and x axis line) and the positions of its marks. */
  function geometry(svg: string) {
    const axes = [...svg.matchAll(/<line class="axis" x1="([\d.]+)" x2="([\d.]+)" y1="([\d.]+)" y2="([\d.]+)"/g)].map((m) => m.slice(1).map(Number));
    const yAxis = axes.find(([x1, x2]) => x1 === x2)!;
    const xAxis = axes.find(([, , y1, y2]) => y1 === y2)!;
    const frame = { l: yAxis[0], t: Math.min(yAxis[2], yAxis[3]), r: Math.max(xAxis[0], xAxis[1]), b: xAxis[2] };
    const circles = [...svg.matchAll(/<circle cx="([-\d.]+)" cy="([-\d.]+)" r="([\d.]+)"/g)].map((m) => ({ x: +m[1], y: +m[2], r: +m[3] }));
    const polygons = [...svg.matchAll(/<polygon class="offscale" points="([^"]+)"/g)].map((m) => m[1].split(" ").map((p) => p.split(",").map(Number)));
    const lines = [...svg.matchAll(/<polyline class="series"[^>]* points="([^"]+)"/g)].flatMap((m) => m[1].split(" ").map((p) => p.split(",").map(Number)));
    const bars = [...svg.matchAll(/<rect class="bar[^"]*" x="([-\d.]+)" y="([-\d.]+)" width="([-\d.]+)" height="([-\d.]+)"/g)].map((m) => m.slice(1).map(Number));
    return { frame, circles, polygons, lines, bars };
  }
  const svgOf = (html: string, id: string) => html.match(new RegExp(`<svg id="${id}"[\\s\\S]*?</svg>`))![0];

  const edge: HtmlReportInput = {
    ...input,
    steps: [Infinity, 150, 200, 90, -5, NaN, 40, -Infinity, 30, 25, 70, 65].map((v, i) => ({
      index: i,
      graph: "kv",
      position: i,
      sqnrDb: v,
      kl: [0, 1e-9, -1e-12, 1e-3, Infinity, NaN, 2.5, 1e-6, 0.3, 1e-2, 1e-7, 1e-5][i],
      top1: true,
      passed: v >= 60,
    })),
    bisect: { step: 4, layer: 0, tensor: "k", perLayer: [{ layer: -1, tensor: "embedding", sqnrDb: Infinity }, { layer: 0, tensor: "q", sqnrDb: 240 }, { layer: 0, tensor: "k", sqnrDb: -12 }, { layer: 0, tensor: "v", sqnrDb: -Infinity }, { layer: 0, tensor: "attn", sqnrDb: NaN }, { layer: 0, tensor: "ffn", sqnrDb: 75 }] },
  };

  it("shows PASSED / FAILED only against stated thresholds", () => {
    expect(renderHtmlReport(input)).toMatch(/<p class="status" id="status">FAILED<\/p>/);
    expect(renderHtmlReport({ ...input, passed: true })).toMatch(/id="status">PASSED</);
    for (const passed of [true, false, null]) {
      const html = renderHtmlReport({ ...input, passed, tolerance: { unused: undefined } });
      expect(html).not.toMatch(/PASSED|FAILED/);
      expect(html).toContain("No thresholds: informational report");
      expect(html).not.toContain("#2a7d2a"); // no green
      expect(html).not.toMatch(/<tr class="fail">|<th>result<\/th>/); // nor red rows or a verdict column
    }
  });

  it("never leaves the Tolerances section empty: the thresholds, or that there are none and what was measured", () => {
    const tolerances = (html: string) => html.slice(html.indexOf("<h2>Tolerances</h2>"), html.indexOf("<h2>Plots</h2>"));
    expect(tolerances(renderHtmlReport(input))).toMatch(/<th>minSqnrDb<\/th><td>60<\/td>/);
    const info = tolerances(renderHtmlReport({ ...input, passed: null, tolerance: {}, measured: [["top-1 agreement", "10/14 generated steps"]] }));
    expect(info).toContain("No thresholds were stated");
    expect(info).toContain("<th>top-1 agreement</th><td>10/14 generated steps</td>");
    expect(tolerances(renderHtmlReport({ ...input, passed: null, tolerance: {} }))).toContain("No thresholds were stated");
  });

  it("lists the reasons of a FAILED verdict", () => {
    expect(renderHtmlReport({ ...input, failures: ["step 7: logits: SQNR 35 < 60"] })).toContain('<ul id="failures"><li>step 7: logits: SQNR 35 &lt; 60</li></ul>');
  });

  it("labels both axes of every plot, with tick labels", () => {
    const html = renderHtmlReport(input);
    for (const id of ["plot-sqnr", "plot-kl"]) {
      const svg = svgOf(html, id);
      const xt = [...svg.matchAll(/class="xtick"[^>]*>([^<]+)</g)].map((m) => m[1]);
      expect(xt).toEqual(["0", "2", "4", "6", "8", "10"]);
      expect([...svg.matchAll(/class="ytick"/g)].length).toBeGreaterThanOrEqual(3);
      expect(svg).toMatch(/class="xlabel"[^>]*>step \(graph call\)</);
      expect(svg).toMatch(/class="ylabel"[^>]*>(logits SQNR \(dB\)|KL \(nats\))</);
    }
    expect(svgOf(html, "plot-kl")).toMatch(/class="ytick"[^>]*>1e-9</);
    const bars = svgOf(html, "plot-layers");
    expect([...bars.matchAll(/class="xtick"/g)].length).toBeGreaterThanOrEqual(3);
    expect(bars).toMatch(/class="xlabel"[^>]*>SQNR \(dB\)</);
    expect(bars).toMatch(/class="ylabel"[^>]*>layer tensor</);
  });

  it("keeps every mark inside the plot area: ±∞ and values off the scale as triangles at its edge, NaN left out", () => {
    const html = renderHtmlReport(edge);
    for (const id of ["plot-sqnr", "plot-kl"]) {
      const g = geometry(svgOf(html, id));
      const inside = ([x, y]: number[]) => x >= g.frame.l && x <= g.frame.r && y >= g.frame.t && y <= g.frame.b;
      for (const c of g.circles) expect(inside([c.x, c.y - c.r]) && inside([c.x, c.y + c.r]) && inside([c.x - c.r, c.y]) && inside([c.x + c.r, c.y]), `${id} circle ${JSON.stringify(c)}`).toBe(true);
      for (const poly of g.polygons) for (const p of poly) expect(inside(p), `${id} triangle ${p}`).toBe(true);
      for (const p of g.lines) expect(inside(p), `${id} line ${p}`).toBe(true);
      expect(g.circles.length + g.polygons.length).toBe(11); // 12 steps, one NaN left out
    }
    const sqnr = svgOf(html, "plot-sqnr");
    expect(sqnr).toContain("▲ at the top: 2 above the scale (&gt; 160 or +∞)"); // +∞ and 200 dB
    expect(sqnr).toContain("▼ at the bottom: 1 below the scale (-∞)");
    expect(sqnr).toContain("1 NaN, not drawn");
    expect([...sqnr.matchAll(/<polyline class="series"/g)]).toHaveLength(2); // broken at the NaN
    expect(svgOf(html, "plot-kl")).toContain("▼ at the bottom: 2 below the scale (≤ 0");
    const b = geometry(svgOf(html, "plot-layers"));
    for (const [x, , w] of b.bars) {
      expect(x).toBeGreaterThanOrEqual(b.frame.l);
      expect(x + w).toBeLessThanOrEqual(b.frame.r);
    }
    expect(b.bars).toHaveLength(5); // NaN: no bar
    expect(b.polygons).toHaveLength(3); // ▶ ∞, ▶ 240 dB, ◀ -∞
  });

  it.skipIf(!CHROMIUM)(`renders an informational report in Chromium without a green or red verdict, and the off-scale plots${CHROMIUM_SKIP}`, () => {
    const shot = screenshot;
    const GREEN: [number, number, number] = [0x2a, 0x7d, 0x2a];
    const RED: [number, number, number] = [0xc0, 0x39, 0x2b];
    expect(countColor(shot(renderHtmlReport({ ...input, passed: true })), GREEN, 4)).toBeGreaterThan(50);
    const info = shot(renderHtmlReport({ ...edge, passed: null, tolerance: {}, sqnrThresholdDb: undefined }));
    expect(countColor(info, GREEN, 4)).toBe(0);
    expect(countColor(info, RED, 4)).toBe(0);
    expect(countColor(info, [0x1f, 0x77, 0xb4])).toBeGreaterThan(500);
    expect(countColor(info, [0x2c, 0xa0, 0x2c])).toBeGreaterThan(500);
  });
});
