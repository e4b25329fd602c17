// Owns the self-contained HTML parity report: a summary, the tolerances, and inline SVG plots (logits SQNR
// and KL divergence per step, per-layer SQNR bars at the first failing step). No scripts, no external files:
// it opens anywhere, and a browser renders it the same way every time.

export interface HtmlStep {
  index: number;
  graph: string;
  position: number;
  /** Logits SQNR in dB (Infinity for an exact match). */
  sqnrDb: number;
  kl: number;
  top1: boolean;
  passed: boolean;
}

export interface HtmlBisect {
  step: number;
  layer: number;
  tensor: string;
  perLayer: { layer: number; tensor: string; sqnrDb: number }[];
}

export interface HtmlReportInput {
  title: string;
  passed: boolean;
  /** Short facts shown in the summary table (backend, mode, cache mechanism, ...). */
  facts: [string, string][];
  tolerance: Record<string, number | boolean | string | undefined>;
  steps: HtmlStep[];
  firstDivergentStep: number | null;
  bisect?: HtmlBisect;
  /** dB threshold drawn on the SQNR plot. */
  sqnrThresholdDb?: number;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const fmt = (x: number) => (x === Infinity ? "∞" : x === -Infinity ? "-∞" : Number.isNaN(x) ? "NaN" : Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(2) : x.toFixed(3));

/** SQNR values are capped for plotting (an exact match is +∞ dB). */
const PLOT_CAP_DB = 160;

interface Series {
  values: number[];
  color: string;
  label: string;
}

/** A line chart of per-step values as SVG; y from 0 to the max (or `yMax`), optional dashed threshold. */
export function lineChartSvg(id: string, title: string, series: Series, opts: { yMax?: number; threshold?: number; log?: boolean } = {}): string {
  const w = 760;
  const h = 260;
  const pad = { l: 60, r: 20, t: 30, b: 40 };
  const vals = series.values.map((v) => (opts.log ? Math.log10(Math.max(v, 1e-12)) : Math.min(v, PLOT_CAP_DB)));
  const finite = vals.filter((v) => Number.isFinite(v));
  const yMin = opts.log ? Math.min(-12, ...finite) : 0;
  const yMax = opts.yMax ?? Math.max(1, ...finite, opts.threshold ?? 0) * 1.05;
  const n = Math.max(vals.length, 2);
  const X = (i: number) => pad.l + ((w - pad.l - pad.r) * i) / (n - 1);
  const Y = (v: number) => h - pad.b - ((h - pad.t - pad.b) * (v - yMin)) / (yMax - yMin || 1);
  const pts = vals.map((v, i) => `${X(i).toFixed(1)},${Y(Number.isFinite(v) ? v : yMin).toFixed(1)}`).join(" ");
  const ticks = Array.from({ length: 5 }, (_, k) => yMin + ((yMax - yMin) * k) / 4);
  return `<svg id="${id}" class="plot" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="${esc(title)}">
  <rect x="0" y="0" width="${w}" height="${h}" fill="#ffffff"/>
  <text x="${w / 2}" y="18" text-anchor="middle" font-size="14" font-family="sans-serif">${esc(title)}</text>
  ${ticks.map((t) => `<line x1="${pad.l}" x2="${w - pad.r}" y1="${Y(t)}" y2="${Y(t)}" stroke="#dddddd"/><text x="${pad.l - 6}" y="${Y(t) + 4}" text-anchor="end" font-size="11" font-family="sans-serif">${opts.log ? `1e${t.toFixed(0)}` : t.toFixed(0)}</text>`).join("\n  ")}
  <line x1="${pad.l}" x2="${pad.l}" y1="${pad.t}" y2="${h - pad.b}" stroke="#333333"/>
  <line x1="${pad.l}" x2="${w - pad.r}" y1="${h - pad.b}" y2="${h - pad.b}" stroke="#333333"/>
  <text x="${w / 2}" y="${h - 8}" text-anchor="middle" font-size="12" font-family="sans-serif">step</text>
  ${opts.threshold !== undefined ? `<line class="threshold" x1="${pad.l}" x2="${w - pad.r}" y1="${Y(opts.log ? Math.log10(opts.threshold) : opts.threshold)}" y2="${Y(opts.log ? Math.log10(opts.threshold) : opts.threshold)}" stroke="#d62728" stroke-dasharray="6 4"/>` : ""}
  <polyline class="series" fill="none" stroke="${series.color}" stroke-width="3" points="${pts}"/>
  ${vals.map((v, i) => `<circle cx="${X(i).toFixed(1)}" cy="${Y(Number.isFinite(v) ? v : yMin).toFixed(1)}" r="3.5" fill="${series.color}"><title>step ${i}: ${esc(fmt(series.values[i]))}</title></circle>`).join("")}
</svg>`;
}

/** Horizontal bars of SQNR per (layer, tensor) at the bisected step; bars under the threshold in red. */
export function barChartSvg(id: string, title: string, rows: { label: string; value: number }[], threshold?: number): string {
  const w = 760;
  const rowH = 16;
  const pad = { l: 170, r: 60, t: 30, b: 20 };
  const h = pad.t + pad.b + rowH * Math.max(rows.length, 1);
  const vals = rows.map((r) => Math.min(r.value, PLOT_CAP_DB));
  const max = Math.max(1, ...vals.filter(Number.isFinite), threshold ?? 0);
  const X = (v: number) => pad.l + ((w - pad.l - pad.r) * Math.max(0, v)) / max;
  return `<svg id="${id}" class="plot" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="${esc(title)}">
  <rect x="0" y="0" width="${w}" height="${h}" fill="#ffffff"/>
  <text x="${w / 2}" y="18" text-anchor="middle" font-size="14" font-family="sans-serif">${esc(title)}</text>
  ${rows
    .map((r, i) => {
      const y = pad.t + i * rowH;
      const bad = threshold !== undefined && r.value < threshold;
      return `<text x="${pad.l - 6}" y="${y + 12}" text-anchor="end" font-size="11" font-family="monospace">${esc(r.label)}</text><rect class="bar${bad ? " bad" : ""}" x="${pad.l}" y="${y + 2}" width="${(X(vals[i]) - pad.l).toFixed(1)}" height="${rowH - 4}" fill="${bad ? "#d62728" : "#1f77b4"}"/><text x="${(X(vals[i]) + 4).toFixed(1)}" y="${y + 12}" font-size="10" font-family="sans-serif">${esc(fmt(r.value))} dB</text>`;
    })
    .join("\n  ")}
  ${threshold !== undefined ? `<line x1="${X(threshold)}" x2="${X(threshold)}" y1="${pad.t}" y2="${h - pad.b}" stroke="#d62728" stroke-dasharray="6 4"/>` : ""}
</svg>`;
}

export function renderHtmlReport(r: HtmlReportInput): string {
  const status = r.passed ? "PASSED" : "FAILED";
  const tol = Object.entries(r.tolerance).filter(([, v]) => v !== undefined);
  const stepRows = r.steps
    .map((s) => `<tr class="${s.passed ? "ok" : "fail"}"><td>${s.index}</td><td>${esc(s.graph)}</td><td>${s.position}</td><td>${fmt(s.sqnrDb)}</td><td>${fmt(s.kl)}</td><td>${s.top1 ? "yes" : "no"}</td><td>${s.passed ? "pass" : "FAIL"}</td></tr>`)
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>
body { font-family: sans-serif; margin: 24px; color: #222; }
.status { font-size: 20px; font-weight: bold; color: ${r.passed ? "#2a7d2a" : "#c0392b"}; }
table { border-collapse: collapse; margin: 12px 0; }
td, th { border: 1px solid #ccc; padding: 3px 8px; font-size: 13px; text-align: right; }
th { background: #f3f3f3; } tr.fail td { background: #fdecea; }
.plot { display: block; margin: 16px 0; border: 1px solid #ddd; }
</style></head>
<body>
<h1>${esc(r.title)}</h1>
<p class="status" id="status">${status}</p>
<table id="facts">${r.facts.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("")}
<tr><th>first divergent step</th><td>${r.firstDivergentStep ?? "none"}</td></tr>
${r.bisect ? `<tr><th>first departing tensor</th><td>layer ${r.bisect.layer}, ${esc(r.bisect.tensor)} (step ${r.bisect.step})</td></tr>` : ""}
</table>
<h2>Tolerances</h2>
<table id="tolerances">${tol.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(String(v))}</td></tr>`).join("")}</table>
<h2>Plots</h2>
${lineChartSvg("plot-sqnr", "logits SQNR per step (dB, capped at 160)", { values: r.steps.map((s) => s.sqnrDb), color: "#1f77b4", label: "SQNR" }, { threshold: r.sqnrThresholdDb })}
${lineChartSvg("plot-kl", "KL divergence of the next-token distribution per step (log scale)", { values: r.steps.map((s) => s.kl), color: "#2ca02c", label: "KL" }, { log: true })}
${r.bisect ? barChartSvg("plot-layers", `SQNR per layer tensor at step ${r.bisect.step}`, r.bisect.perLayer.map((p) => ({ label: `L${p.layer} ${p.tensor}`, value: p.sqnrDb })), r.sqnrThresholdDb) : "<p>No failing step: no per-layer breakdown.</p>"}
<h2>Steps</h2>
<table id="steps"><tr><th>step</th><th>graph</th><th>pos</th><th>SQNR dB</th><th>KL</th><th>top-1</th><th></th></tr>
${stepRows}
</table>
</body></html>
`;
}
