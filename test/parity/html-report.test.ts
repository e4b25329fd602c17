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

  it.skipIf(!CHROMIUM)("renders its plots in headless Chromium", () => {
    const dir = mkdtempSync(join(tmpdir(), "llama-golden-html-"));
    const file = join(dir, "report.html");
    const png = join(dir, "shot.png");
    writeFileSync(file, html);
    execFileSync(
      CHROMIUM!,
      ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", `--user-data-dir=${join(dir, "profile")}`, "--hide-scrollbars", "--window-size=900,1700", `--screenshot=${png}`, `file://${file}`],
      { stdio: "ignore", timeout: 60_000 },
    );
    const img = decodePng(new Uint8Array(readFileSync(png)));
    expect(img.width).toBe(900);
    // SQNR line (#1f77b4, also the passing bars), KL line (#2ca02c), failing bars / threshold (#d62728).
    expect(countColor(img, [0x1f, 0x77, 0xb4])).toBeGreaterThan(500);
    expect(countColor(img, [0x2c, 0xa0, 0x2c])).toBeGreaterThan(500);
    expect(countColor(img, [0xd6, 0x27, 0x28])).toBeGreaterThan(300);
  });
});
