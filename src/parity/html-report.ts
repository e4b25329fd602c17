// Owns the self-contained HTML report of `parity` and `quant-report`: a summary, the thresholds (or, without
// any, what was measured), and inline SVG plots (logits SQNR and KL divergence per step, SQNR per layer
// tensor). No scripts, no external files: it opens anywhere, and a browser renders it the same way every time.
//
// Verdict: PASSED / FAILED is shown only when the report states the thresholds it was judged against; a
// report without thresholds says so ("no thresholds: informational report") and shows no green/red verdict.
//
// Plots: both axes are drawn with tick labels and a title, and every mark stays inside the plot area. The
// scale ends a few pixels inside the frame; values it cannot show are drawn in that band, AT THE EDGE of the
// plot area, with a triangle instead of a dot (never on a gridline, so they do not read as a value), and a
// note under the plot says what the triangles mean:
//   ▲ at the top: above the scale (+∞, e.g. the SQNR of an exact match, or a finite SQNR above the top tick;
//     the SQNR scales stop at PLOT_CAP_DB, rounded up to a whole tick, so 140 dB of float round-off and +∞
//     do not squash the range that matters);
//   ▼ at the bottom: below the scale (-∞; on the log KL plot also KL <= 0, e.g. identical distributions);
// NaN has no place on any scale: it is left out (the line is broken there) and the note counts it.
// The bar chart does the same along x (▶ at the right end, ◀ at the left end).

export interface HtmlStep {
  index: number;
  graph: string;
  position: number;
  /** Logits SQNR in dB (Infinity for an exact match). */
  sqnrDb: number;
  kl: number;
  top1: boolean;
  /** Judged against the thresholds; undefined when the step was not judged. */
  passed?: boolean;
}

export interface HtmlBisect {
  step: number;
  layer: number;
  tensor: string;
  perLayer: { layer: number; tensor: string; sqnrDb: number }[];
  /** Bar chart title (default: "SQNR per layer tensor at step N"). */
  title?: string;
  /** Summary row (default: ["first departing tensor", "layer L, tensor (step N)"]). */
  fact?: [string, string];
}

export interface HtmlReportInput {
  title: string;
  /** The verdict against `tolerance`; null for none. Shown only when `tolerance` states at least one threshold. */
  passed: boolean | null;
  /** Short facts shown in the summary table (backend, mode, cache mechanism, ...). */
  facts: [string, string][];
  /** The thresholds the verdict was judged against (undefined entries are left out). */
  tolerance: Record<string, number | boolean | string | undefined>;
  /** What was measured (name, value or description), listed with the tolerances. */
  measured?: [string, string][];
  /** Why the verdict failed (shown under it). */
  failures?: string[];
  steps: HtmlStep[];
  firstDivergentStep: number | null;
  /** Summary row label of firstDivergentStep (default "first divergent step"). */
  firstDivergentLabel?: string;
  bisect?: HtmlBisect;
  /** dB threshold drawn on the SQNR plots. */
  sqnrThresholdDb?: number;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const fmt = (x: number) => (x === Infinity ? "∞" : x === -Infinity ? "-∞" : Number.isNaN(x) ? "NaN" : Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(2) : x.toFixed(3));
const px = (x: number) => x.toFixed(1);

/**
 * The SQNR scales reach at most this (rounded up to a whole tick) when a value is above it, so +∞ (an exact
 * match) and huge SQNRs do not squash the interesting range; float32 round-off alone gives ~140 dB.
 */
export const PLOT_CAP_DB = 160;

/**
 * "Nice" ticks (steps of 1, 2, 2.5, 4 or 5 × 10^k; whole numbers when minStep >= 1; at least `minStep`)
 * covering [lo, hi]; the range is widened to whole ticks. (4 makes 0..160, the SQNR cap, come out exact.)
 */
export function niceTicks(lo: number, hi: number, target = 5, minStep = 0): { lo: number; hi: number; ticks: number[] } {
  if (!(hi > lo)) hi = lo + Math.max(1, minStep);
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const steps = [1, 2, 2.5, 4, 5, 10].map((m) => m * mag).filter((s) => s >= minStep && (minStep < 1 || Number.isInteger(s)));
  const step = steps.find((s) => s >= raw) ?? Math.max(minStep, 10 * mag);
  const a = Math.floor(lo / step + 1e-9) * step;
  const b = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let k = 0; a + k * step <= b + step * 1e-9; k++) ticks.push(Number((a + k * step).toPrecision(12)));
  return { lo: a, hi: b, ticks };
}

const tickText = (t: number) => (Number.isInteger(t) ? String(t) : String(Number(t.toPrecision(6))));

/** Where a value lands on a scale: a dot, a triangle at an edge, or nothing (NaN). */
type Mark = { kind: "dot" | "top" | "bottom"; v: number } | { kind: "none" };

const triangle = (x: number, y: number, dir: "up" | "down" | "left" | "right", color: string, tip: string) => {
  const s = 4.5;
  const p =
    dir === "up" ? [[x, y - s], [x - s, y + s], [x + s, y + s]]
    : dir === "down" ? [[x, y + s], [x - s, y - s], [x + s, y - s]]
    : dir === "right" ? [[x + s, y], [x - s, y - s], [x - s, y + s]]
    : [[x - s, y], [x + s, y - s], [x + s, y + s]];
  return `<polygon class="offscale" points="${p.map(([a, b]) => `${px(a)},${px(b)}`).join(" ")}" fill="#ffffff" stroke="${color}" stroke-width="2"><title>${esc(tip)}</title></polygon>`;
};

interface Series {
  values: number[];
  color: string;
  label: string;
}

export interface LineChartOptions {
  /** y on a log10 scale (values <= 0 go to the bottom edge). */
  log?: boolean;
  /** Dashed horizontal threshold line. */
  threshold?: number;
  /** Finite values above this are drawn at the top edge (linear scale only). */
  cap?: number;
  /** y axis title. */
  yLabel?: string;
  /** x value of each point (default 0, 1, ...), shown on the x axis. */
  xs?: number[];
  /** x axis title (default "step"). */
  xLabel?: string;
}

/**
 * A line chart of per-step values as SVG: labelled axes with tick labels, every mark inside the plot area
 * (off-scale and non-finite values as in the file header), an optional dashed threshold.
 */
export function lineChartSvg(id: string, title: string, series: Series, opts: LineChartOptions = {}): string {
  const w = 760;
  const pad = { l: 72, r: 24, t: 30, b: 46 };
  const inset = 14; // the scale ends this far inside the frame; off-scale triangles sit in that band
  const cap = opts.log ? Infinity : (opts.cap ?? Infinity);
  // First pass: what goes on the scale at all (values above the cap only make the scale reach the cap).
  const classify = (v: number, top: number): Mark => {
    if (Number.isNaN(v)) return { kind: "none" };
    if (opts.log) {
      if (v === Infinity) return { kind: "top", v };
      if (!(v > 0)) return { kind: "bottom", v };
      return { kind: "dot", v: Math.log10(v) };
    }
    if (v === -Infinity) return { kind: "bottom", v };
    if (v > top) return { kind: "top", v };
    return { kind: "dot", v };
  };
  const dots = series.values.map((v) => classify(v, cap)).flatMap((m) => (m.kind === "dot" ? [m.v] : []));
  const thr = opts.threshold !== undefined && Number.isFinite(opts.threshold) && (!opts.log || opts.threshold > 0) ? (opts.log ? Math.log10(opts.threshold) : opts.threshold) : undefined;
  const hasTop = series.values.some((v) => classify(v, cap).kind === "top");
  let lo: number;
  let hi: number;
  if (opts.log) {
    lo = dots.length ? Math.floor(Math.min(...dots)) : -12;
    hi = dots.length ? Math.ceil(Math.max(...dots)) : 0;
  } else {
    lo = Math.min(0, ...dots);
    hi = hasTop && Number.isFinite(cap) ? cap : Math.max(1, ...dots);
  }
  if (thr !== undefined) {
    lo = Math.min(lo, thr);
    hi = Math.max(hi, thr);
  }
  const yScale = opts.log ? niceTicks(Math.floor(lo), Math.ceil(hi), 6, Math.max(1, Math.ceil((Math.ceil(hi) - Math.floor(lo)) / 8))) : niceTicks(lo, hi, 5);
  // Second pass against the scale's real top (>= cap): what the axis shows is drawn as a dot.
  const marks = series.values.map((v) => classify(v, opts.log ? Infinity : yScale.hi));
  const xs = opts.xs ?? series.values.map((_, i) => i);
  const x0 = xs.length ? Math.min(...xs) : 0;
  const x1 = xs.length ? Math.max(...xs) : 1;
  const xScale = niceTicks(x0, x1 > x0 ? x1 : x0 + 1, 10, 1);
  // x spans the data (not the widened tick range), so the first and last steps sit at the ends.
  const xLo = x0;
  const xHi = x1 > x0 ? x1 : x0 + 1;
  const notes: string[] = [];
  const nTop = marks.filter((m) => m.kind === "top").length;
  const nBottom = marks.filter((m) => m.kind === "bottom").length;
  const nNaN = marks.filter((m) => m.kind === "none").length;
  if (nTop) notes.push(`▲ at the top: ${nTop} above the scale (${opts.log ? "+∞" : `> ${tickText(yScale.hi)} or +∞`})`);
  if (nBottom) notes.push(`▼ at the bottom: ${nBottom} below the scale (${opts.log ? "≤ 0, e.g. identical distributions" : "-∞"})`);
  if (nNaN) notes.push(`${nNaN} NaN, not drawn`);
  const h = 280 + (notes.length ? 16 : 0);
  const area = { l: pad.l, r: w - pad.r, t: pad.t, b: h - pad.b - (notes.length ? 16 : 0) };
  const X = (x: number) => area.l + inset + ((area.r - area.l - 2 * inset) * (x - xLo)) / (xHi - xLo);
  const Y = (v: number) => area.b - inset - ((area.b - area.t - 2 * inset) * (v - yScale.lo)) / (yScale.hi - yScale.lo);
  const yOf = (m: Mark) => (m.kind === "dot" ? Y(m.v) : m.kind === "top" ? area.t + 6 : m.kind === "bottom" ? area.b - 6 : NaN);
  // The line, broken at NaN.
  const segments: string[][] = [[]];
  marks.forEach((m, i) => {
    if (m.kind === "none") segments.push([]);
    else segments.at(-1)!.push(`${px(X(xs[i]))},${px(yOf(m))}`);
  });
  const tip = (i: number) => `step ${xs[i]}: ${fmt(series.values[i])}`;
  const pointsSvg = marks
    .map((m, i) =>
      m.kind === "dot"
        ? `<circle cx="${px(X(xs[i]))}" cy="${px(yOf(m))}" r="3.5" fill="${series.color}"><title>${esc(tip(i))}</title></circle>`
        : m.kind === "top" || m.kind === "bottom"
          ? triangle(X(xs[i]), yOf(m), m.kind === "top" ? "up" : "down", series.color, tip(i))
          : "",
    )
    .join("");
  const xTicks = xScale.ticks.filter((t) => t >= xLo && t <= xHi);
  const yLabel = opts.yLabel ?? series.label;
  const yMid = (area.t + area.b) / 2;
  return `<svg id="${id}" class="plot" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="${esc(title)}">
  <rect x="0" y="0" width="${w}" height="${h}" fill="#ffffff"/>
  <text x="${w / 2}" y="18" text-anchor="middle" font-size="14" font-family="sans-serif">${esc(title)}</text>
  ${yScale.ticks.map((t) => `<line x1="${area.l}" x2="${area.r}" y1="${px(Y(t))}" y2="${px(Y(t))}" stroke="#dddddd"/><text class="ytick" x="${area.l - 6}" y="${px(Y(t) + 4)}" text-anchor="end" font-size="11" font-family="sans-serif">${opts.log ? `1e${t}` : tickText(t)}</text>`).join("\n  ")}
  ${xTicks.map((t) => `<line x1="${px(X(t))}" x2="${px(X(t))}" y1="${area.b}" y2="${area.b + 5}" stroke="#333333"/><text class="xtick" x="${px(X(t))}" y="${area.b + 18}" text-anchor="middle" font-size="11" font-family="sans-serif">${tickText(t)}</text>`).join("\n  ")}
  <line class="axis" x1="${area.l}" x2="${area.l}" y1="${area.t}" y2="${area.b}" stroke="#333333"/>
  <line class="axis" x1="${area.l}" x2="${area.r}" y1="${area.b}" y2="${area.b}" stroke="#333333"/>
  <text class="xlabel" x="${(area.l + area.r) / 2}" y="${area.b + 38}" text-anchor="middle" font-size="12" font-family="sans-serif">${esc(opts.xLabel ?? "step")}</text>
  <text class="ylabel" x="16" y="${yMid}" transform="rotate(-90 16 ${yMid})" text-anchor="middle" font-size="12" font-family="sans-serif">${esc(yLabel)}</text>
  ${thr !== undefined ? `<line class="threshold" x1="${area.l}" x2="${area.r}" y1="${px(Y(thr))}" y2="${px(Y(thr))}" stroke="#d62728" stroke-dasharray="6 4"/>` : ""}
  ${segments.filter((s) => s.length > 0).map((s) => `<polyline class="series" fill="none" stroke="${series.color}" stroke-width="3" points="${s.join(" ")}"/>`).join("\n  ")}
  ${pointsSvg}
  ${notes.length ? `<text class="note" x="${area.l}" y="${h - 6}" font-size="11" font-family="sans-serif" fill="#555555">${esc(notes.join("; "))}</text>` : ""}
</svg>`;
}

/**
 * Horizontal bars of SQNR per (layer, tensor); bars under the threshold in red. x: a labelled dB axis with
 * tick labels (0 included; negative SQNR grows left of it); y: the layer tensors. Off-scale as in the header.
 */
export function barChartSvg(id: string, title: string, rows: { label: string; value: number }[], threshold?: number, cap = PLOT_CAP_DB): string {
  const w = 760;
  const rowH = 16;
  const pad = { l: 190, r: 84, t: 30, b: 46 };
  const finite = rows.map((r) => r.value).filter((v) => Number.isFinite(v) && v <= cap);
  const hasTop = rows.some((r) => r.value > cap);
  const thr = threshold !== undefined && Number.isFinite(threshold) ? threshold : undefined;
  const scale = niceTicks(Math.min(0, ...finite, thr ?? 0), Math.max(hasTop ? cap : 1, ...finite, thr ?? 0), 8);
  // Off the scale: above its real top (>= cap; what the axis shows is drawn as it is).
  const top = scale.hi;
  const nTop = rows.filter((r) => r.value > top).length;
  const nBottom = rows.filter((r) => r.value === -Infinity).length;
  const nNaN = rows.filter((r) => Number.isNaN(r.value)).length;
  const notes: string[] = [];
  if (nTop) notes.push(`▶ at the right end: ${nTop} above the scale (> ${tickText(top)} dB or +∞)`);
  if (nBottom) notes.push(`◀ at the left end: ${nBottom} at -∞`);
  if (nNaN) notes.push(`${nNaN} NaN, no bar`);
  const area = { l: pad.l, r: w - pad.r, t: pad.t, b: pad.t + rowH * Math.max(rows.length, 1) };
  const h = area.b + pad.b + (notes.length ? 16 : 0);
  const inset = 14; // as in lineChartSvg: off-scale bars end in this band, at the frame
  const X = (v: number) => area.l + inset + ((area.r - area.l - 2 * inset) * (v - scale.lo)) / (scale.hi - scale.lo);
  const zero = X(0);
  const yMid = (area.t + area.b) / 2;
  return `<svg id="${id}" class="plot" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="${esc(title)}">
  <rect x="0" y="0" width="${w}" height="${h}" fill="#ffffff"/>
  <text x="${w / 2}" y="18" text-anchor="middle" font-size="14" font-family="sans-serif">${esc(title)}</text>
  ${scale.ticks.map((t) => `<line x1="${px(X(t))}" x2="${px(X(t))}" y1="${area.t}" y2="${area.b + 5}" stroke="#dddddd"/><text class="xtick" x="${px(X(t))}" y="${area.b + 18}" text-anchor="middle" font-size="11" font-family="sans-serif">${tickText(t)}</text>`).join("\n  ")}
  ${rows
    .map((r, i) => {
      const y = area.t + i * rowH;
      const bad = thr !== undefined && !(r.value >= thr);
      const color = bad ? "#d62728" : "#1f77b4";
      const label = `<text x="${area.l - 6}" y="${y + 12}" text-anchor="end" font-size="11" font-family="monospace">${esc(r.label)}</text>`;
      const tip = `${r.label}: ${fmt(r.value)} dB`;
      if (Number.isNaN(r.value)) return `${label}<text x="${px(zero + 4)}" y="${y + 12}" font-size="10" font-family="sans-serif">NaN</text>`;
      const end = r.value > top ? area.r : r.value === -Infinity ? area.l : X(r.value);
      const x = Math.min(zero, end);
      const width = Number(px(Math.max(zero, end))) - Number(px(x)); // from the rounded ends: never past the frame
      const marker = r.value > top ? triangle(area.r - 5, y + rowH / 2, "right", "#333333", tip) : r.value === -Infinity ? triangle(area.l + 5, y + rowH / 2, "left", "#333333", tip) : "";
      return `${label}<rect class="bar${bad ? " bad" : ""}" x="${px(x)}" y="${y + 2}" width="${px(width)}" height="${rowH - 4}" fill="${color}"><title>${esc(tip)}</title></rect>${marker}<text x="${px(Math.max(zero, end) + 4)}" y="${y + 12}" font-size="10" font-family="sans-serif">${esc(fmt(r.value))} dB</text>`;
    })
    .join("\n  ")}
  <line class="axis" x1="${area.l}" x2="${area.l}" y1="${area.t}" y2="${area.b}" stroke="#333333"/>
  <line class="axis" x1="${area.l}" x2="${area.r}" y1="${area.b}" y2="${area.b}" stroke="#333333"/>
  <line x1="${px(zero)}" x2="${px(zero)}" y1="${area.t}" y2="${area.b}" stroke="#333333"/>
  <text class="xlabel" x="${(area.l + area.r) / 2}" y="${area.b + 38}" text-anchor="middle" font-size="12" font-family="sans-serif">SQNR (dB)</text>
  <text class="ylabel" x="16" y="${yMid}" transform="rotate(-90 16 ${yMid})" text-anchor="middle" font-size="12" font-family="sans-serif">layer tensor</text>
  ${thr !== undefined ? `<line class="threshold" x1="${px(X(thr))}" x2="${px(X(thr))}" y1="${area.t}" y2="${area.b}" stroke="#d62728" stroke-dasharray="6 4"/>` : ""}
  ${notes.length ? `<text class="note" x="${area.l}" y="${h - 6}" font-size="11" font-family="sans-serif" fill="#555555">${esc(notes.join("; "))}</text>` : ""}
</svg>`;
}

export function renderHtmlReport(r: HtmlReportInput): string {
  const tol = Object.entries(r.tolerance).filter(([, v]) => v !== undefined);
  // A verdict needs stated thresholds.
  const verdict = tol.length > 0 && r.passed !== null ? r.passed : null;
  const status = verdict === null ? "No thresholds: informational report (no pass/fail verdict)" : verdict ? "PASSED" : "FAILED";
  const statusColor = verdict === null ? "#555555" : verdict ? "#2a7d2a" : "#c0392b";
  const judged = verdict !== null;
  const stepRows = r.steps
    .map((s) => {
      const cls = judged && s.passed === false ? "fail" : "ok";
      const result = judged ? `<td>${s.passed === undefined ? "" : s.passed ? "pass" : "FAIL"}</td>` : "";
      return `<tr class="${cls}"><td>${s.index}</td><td>${esc(s.graph)}</td><td>${s.position}</td><td>${fmt(s.sqnrDb)}</td><td>${fmt(s.kl)}</td><td>${s.top1 ? "yes" : "no"}</td>${result}</tr>`;
    })
    .join("\n");
  const xs = r.steps.map((s) => s.index);
  const b = r.bisect;
  const bisectFact = b ? (b.fact ?? ["first departing tensor", `layer ${b.layer}, ${b.tensor} (step ${b.step})`]) : undefined;
  const tolerances = tol.length
    ? `<table id="tolerances">${tol.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(String(v))}</td></tr>`).join("")}</table>`
    : `<p id="tolerances">No thresholds were stated, so nothing is judged: this is an informational report${r.measured?.length ? "; what was measured:" : "."}</p>`;
  const measured = r.measured?.length ? `${tol.length ? "<h3>Measured</h3>" : ""}<table id="measured">${r.measured.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("")}</table>` : "";
  const failures = judged && r.failures?.length ? `<ul id="failures">${r.failures.map((f) => `<li>${esc(f)}</li>`).join("")}</ul>` : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>
body { font-family: sans-serif; margin: 24px; color: #222; }
.status { font-size: 20px; font-weight: bold; color: ${statusColor}; }
table { border-collapse: collapse; margin: 12px 0; }
td, th { border: 1px solid #ccc; padding: 3px 8px; font-size: 13px; text-align: right; }
th { background: #f3f3f3; } tr.fail td { background: #fdecea; }
#measured td { text-align: left; }
.plot { display: block; margin: 16px 0; border: 1px solid #ddd; }
</style></head>
<body>
<h1>${esc(r.title)}</h1>
<p class="status" id="status">${status}</p>
${failures}
<table id="facts">${r.facts.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("")}
<tr><th>${esc(r.firstDivergentLabel ?? "first divergent step")}</th><td>${r.firstDivergentStep ?? "none"}</td></tr>
${bisectFact ? `<tr><th>${esc(bisectFact[0])}</th><td>${esc(bisectFact[1])}</td></tr>` : ""}
</table>
<h2>Tolerances</h2>
${tolerances}
${measured}
<h2>Plots</h2>
${lineChartSvg("plot-sqnr", "logits SQNR per step (dB)", { values: r.steps.map((s) => s.sqnrDb), color: "#1f77b4", label: "SQNR" }, { threshold: r.sqnrThresholdDb, cap: PLOT_CAP_DB, yLabel: "logits SQNR (dB)", xs, xLabel: "step (graph call)" })}
${lineChartSvg("plot-kl", "KL divergence of the next-token distribution per step (log scale)", { values: r.steps.map((s) => s.kl), color: "#2ca02c", label: "KL" }, { log: true, yLabel: "KL (nats)", xs, xLabel: "step (graph call)" })}
${b ? barChartSvg("plot-layers", b.title ?? `SQNR per layer tensor at step ${b.step}`, b.perLayer.map((p) => ({ label: `L${p.layer} ${p.tensor}`, value: p.sqnrDb })), r.sqnrThresholdDb) : "<p>No failing step: no per-layer breakdown.</p>"}
<h2>Steps</h2>
<table id="steps"><tr><th>step</th><th>graph</th><th>pos</th><th>SQNR dB</th><th>KL</th><th>top-1</th>${judged ? "<th>result</th>" : ""}</tr>
${stepRows}
</table>
</body></html>
`;
}
