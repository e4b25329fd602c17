// Owns the `eval` report (issue 18): a pure function of the run's description (EvalMeta) and its item records taken in
// item order (records.ts), so one run, a resumed run and merged shards give the same report, byte for byte. Three
// renderings: Markdown (stdout), JSON (`--json`) and a self-contained HTML page (`--html`) with histograms of KL and
// Δp and per-position curves.
//
// Definitions (every sum float64, in item order then position order):
// - perplexity: mean NLL over the scored tokens, ± its standard error (sample standard deviation / √n); PPL =
//   exp(mean) ± PPL·err (first-order propagation, as llama.cpp prints it). With whole documents scored ("kv"
//   windowing) also lm-eval's wikitext measures: word_perplexity = exp(Σ NLL / words), byte_perplexity =
//   exp(Σ NLL / bytes), bits_per_byte = Σ NLL / (bytes · ln 2), words = whitespace-separated pieces of each
//   document (lm-eval's `len(re.split(r"\s+", doc))`), bytes = its UTF-8 length;
// - comparison (a base file or a reference session): kl-stats.ts `summarize` over the scored tokens;
// - SQNR: 10·log10(Σ signal / Σ noise) over the rows that carry energies (upstream's sqnr_eval: the logits of the
//   whole prompt against the float model's);
// - worst tokens: the 10 largest KL (ties: the earlier token), each with the 8 pieces before it in its window;
// - histograms: KL on log10 bins (one per half decade from 1e-6; KL below 1e-6, zero included, in the first), Δp on
//   20 bins of 0.1 over [−1, 1];
// - per-position curves: mean NLL (and mean KL) by the position fed in the window.
import { lineChartSvg, barChartSvg } from "../parity/html-report.js";
import { meanWithError, summarize, type KlSummary, type MeanErr, type TokenComparison } from "./kl-stats.js";
import type { ItemRecord, TokenRecord } from "./records.js";

/** What was evaluated: JSON, stored in a sharded run's results files so `merge` renders the same report. */
export interface EvalMeta {
  /** The model and its configuration, in words. */
  model: string;
  flow: "seed" | "current";
  /** e.g. "fp32", "16a4w (recipe llama3_2-1b)". */
  config: string;
  windowing: string;
  /** Window length (kv) or chunk length (prefill), in tokens. */
  windowLength: number;
  dataset: { path: string; kind: string; sha256: string; documents: number; tokens: number; words: number; bytes: number };
  /** What the comparison is against, when there is one ("base file x", "fp32 reference", "device logits"). */
  comparedWith?: string;
  /** Which rows the SQNR is over. */
  sqnrRows?: string;
  /** Whether every token of every document is scored (word / byte perplexity make sense). */
  wholeDocuments: boolean;
  items: number;
}

export interface WorstToken {
  item: number;
  doc: number;
  pos: number;
  token: number;
  piece?: string;
  context?: string;
  kl: number;
  dp: number;
  nllBase: number;
  nllNew: number;
}

export interface EvalReport {
  meta: EvalMeta;
  scored: number;
  nll: MeanErr;
  ppl: { value: number; err: number };
  lmEval?: { wordPerplexity: number; bytePerplexity: number; bitsPerByte: number };
  comparison?: KlSummary;
  sqnrDb?: number;
  worst: WorstToken[];
  histograms?: { kl: { label: string; count: number }[]; dp: { label: string; count: number }[] };
  perPosition: { pos: number; count: number; nll: number; kl?: number }[];
}

const isCompared = (t: TokenRecord): boolean => t.kl !== undefined;

function comparisonOf(t: TokenRecord): TokenComparison {
  return { kl: t.kl!, reverseKl: t.reverseKl!, sameTop: t.sameTop!, dp: t.dp!, nllBase: t.nllBase!, nllNew: t.nllCmp ?? t.nll };
}

const KL_BIN_LO = -6;
const KL_BIN_HI = 2;
function klBin(kl: number): number {
  if (!(kl > 10 ** KL_BIN_LO)) return 0;
  const b = Math.floor((Math.log10(kl) - KL_BIN_LO) * 2) + 1;
  return Math.min(b, (KL_BIN_HI - KL_BIN_LO) * 2);
}
const klBinLabel = (b: number): string => (b === 0 ? "< 1e-6" : `1e${(KL_BIN_LO + (b - 1) / 2).toFixed(1)}…`);

function dpBin(dp: number): number {
  return Math.min(19, Math.max(0, Math.floor((dp + 1) * 10)));
}
const dpBinLabel = (b: number): string => `${(-1 + b / 10).toFixed(1)}…${(-1 + (b + 1) / 10).toFixed(1)}`;

/** The report of a run (file header). Records must be every item of the run, each once. */
export function buildEvalReport(meta: EvalMeta, records: readonly ItemRecord[]): EvalReport {
  const sorted = [...records].sort((a, b) => a.item - b.item);
  sorted.forEach((r, i) => {
    if (r.item !== i) throw new RangeError(`eval report: item ${i} is missing (got item ${r.item})`);
  });
  if (sorted.length !== meta.items) throw new RangeError(`eval report: ${sorted.length} items, the run has ${meta.items}`);
  const tokens = sorted.flatMap((r) => r.tokens);
  if (tokens.length === 0) throw new RangeError("eval report: no scored tokens");
  const nll = meanWithError(tokens.map((t) => t.nll));
  const total = tokens.reduce((s, t) => s + t.nll, 0);
  const compared = tokens.filter(isCompared);
  const comparison = compared.length > 0 ? summarize(compared.map(comparisonOf)) : undefined;
  let signal = 0;
  let noise = 0;
  let energies = 0;
  for (const t of tokens)
    if (t.signal !== undefined && t.noise !== undefined) {
      signal += t.signal;
      noise += t.noise;
      energies++;
    }
  const d = meta.dataset;
  const lmEval = meta.wholeDocuments && d.words > 0 && d.bytes > 0
    ? { wordPerplexity: Math.exp(total / d.words), bytePerplexity: Math.exp(total / d.bytes), bitsPerByte: total / (d.bytes * Math.LN2) }
    : undefined;

  // Worst tokens by KL with the pieces before them in their window.
  const worst: WorstToken[] = [];
  if (compared.length > 0) {
    const all: { r: ItemRecord; i: number }[] = [];
    for (const r of sorted) r.tokens.forEach((t, i) => isCompared(t) && all.push({ r, i }));
    all.sort((a, b) => b.r.tokens[b.i].kl! - a.r.tokens[a.i].kl! || a.r.item - b.r.item || a.i - b.i);
    for (const { r, i } of all.slice(0, 10)) {
      const t = r.tokens[i];
      const ctx = r.tokens.slice(Math.max(0, i - 8), i).map((u) => u.piece ?? "").join("");
      worst.push({ item: r.item, doc: r.doc, pos: t.pos, token: t.target, piece: t.piece, context: t.piece !== undefined ? ctx : undefined, kl: t.kl!, dp: t.dp!, nllBase: t.nllBase!, nllNew: t.nllCmp ?? t.nll });
    }
  }
  const histograms = compared.length > 0
    ? {
        kl: Array.from({ length: (KL_BIN_HI - KL_BIN_LO) * 2 + 1 }, (_, b) => ({ label: klBinLabel(b), count: 0 })),
        dp: Array.from({ length: 20 }, (_, b) => ({ label: dpBinLabel(b), count: 0 })),
      }
    : undefined;
  if (histograms) for (const t of compared) {
    histograms.kl[klBin(t.kl!)].count++;
    histograms.dp[dpBin(t.dp!)].count++;
  }
  const byPos = new Map<number, { count: number; nll: number; kl: number; klCount: number }>();
  for (const t of tokens) {
    const e = byPos.get(t.pos) ?? { count: 0, nll: 0, kl: 0, klCount: 0 };
    e.count++;
    e.nll += t.nll;
    if (t.kl !== undefined) {
      e.kl += t.kl;
      e.klCount++;
    }
    byPos.set(t.pos, e);
  }
  const perPosition = [...byPos.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([pos, e]) => ({ pos, count: e.count, nll: e.nll / e.count, ...(e.klCount > 0 ? { kl: e.kl / e.klCount } : {}) }));
  const ppl = Math.exp(nll.mean);
  return {
    meta,
    scored: tokens.length,
    nll,
    ppl: { value: ppl, err: ppl * nll.err },
    ...(lmEval ? { lmEval } : {}),
    ...(comparison ? { comparison } : {}),
    ...(energies > 0 ? { sqnrDb: 10 * Math.log10(signal / noise) } : {}),
    worst,
    ...(histograms ? { histograms } : {}),
    perPosition,
  };
}

const f = (x: number, digits = 4): string => (Number.isFinite(x) ? (Math.abs(x) >= 1e5 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(3) : x.toFixed(digits)) : String(x));
const pm = (m: MeanErr, scale = 1, digits = 4): string => `${f(m.mean * scale, digits)} ± ${f(m.err * scale, digits)}`;
const mdCell = (s: string): string => s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t");

export function evalReportMarkdown(r: EvalReport): string {
  const m = r.meta;
  const lines: string[] = [];
  lines.push(`# llama-golden eval`, "");
  lines.push(`| | |`, `|---|---|`);
  lines.push(`| model | ${mdCell(m.model)} |`);
  lines.push(`| flow / configuration | ${m.flow} / ${mdCell(m.config)} |`);
  lines.push(`| dataset | ${mdCell(m.dataset.path)} (${m.dataset.kind}, ${m.dataset.documents} documents, ${m.dataset.tokens} tokens) |`);
  lines.push(`| windowing | ${m.windowing}, ${m.windowLength} tokens per window; ${m.items} windows |`);
  if (m.comparedWith) lines.push(`| compared with | ${mdCell(m.comparedWith)} |`);
  lines.push("", "## Perplexity", "");
  lines.push(`- scored tokens: ${r.scored}`);
  lines.push(`- mean NLL: ${pm(r.nll)} nats`);
  lines.push(`- PPL: ${f(r.ppl.value)} ± ${f(r.ppl.err)}`);
  if (r.lmEval) lines.push(`- word perplexity ${f(r.lmEval.wordPerplexity)}, byte perplexity ${f(r.lmEval.bytePerplexity)}, bits per byte ${f(r.lmEval.bitsPerByte)}`);
  if (r.sqnrDb !== undefined) lines.push("", "## SQNR", "", `- ${f(r.sqnrDb, 2)} dB (${m.sqnrRows ?? "scored rows"})`);
  const c = r.comparison;
  if (c) {
    lines.push("", "## Against the base", "");
    lines.push(`| statistic | value |`, `|---|---|`);
    lines.push(`| tokens | ${c.tokens} |`);
    lines.push(`| PPL base / new | ${f(c.pplBase)} / ${f(c.pplNew)} |`);
    lines.push(`| ln(PPL new / PPL base) | ${pm(c.lnPplRatio)} |`);
    lines.push(`| log-prob correlation | ${f(c.logProbCorrelation * 100, 3)} % |`);
    lines.push(`| mean KL(base‖new) | ${pm(c.kl)} |`);
    lines.push(`| mean KL(new‖base) | ${pm(c.reverseKl)} |`);
    for (const [k, v] of Object.entries(c.klPercentiles)) lines.push(`| KL ${k === "max" || k === "min" || k === "median" ? k : k + " %"} | ${f(v)} |`);
    lines.push(`| same top token | ${pm(c.sameTop, 100, 3)} % |`);
    lines.push(`| mean Δp | ${pm(c.dp, 100, 3)} % |`);
    lines.push(`| RMS Δp | ${pm(c.dpRms, 100, 3)} % |`);
    for (const [k, v] of Object.entries(c.dpPercentiles)) lines.push(`| Δp ${k === "max" || k === "min" || k === "median" ? k : k + " %"} | ${f(v * 100, 3)} % |`);
    if (r.worst.length > 0) {
      lines.push("", "### Worst tokens (by KL)", "", `| window | position | token | context | KL | Δp | NLL base → new |`, `|---|---|---|---|---|---|---|`);
      for (const w of r.worst)
        lines.push(`| ${w.item} | ${w.pos} | ${w.token}${w.piece !== undefined ? ` ${mdCell(JSON.stringify(w.piece))}` : ""} | ${w.context !== undefined ? mdCell(JSON.stringify(w.context)) : ""} | ${f(w.kl)} | ${f(w.dp * 100, 2)} % | ${f(w.nllBase)} → ${f(w.nllNew)} |`);
    }
  }
  return lines.join("\n") + "\n";
}

/** JSON: the report as it is (non-finite numbers as strings, so the file is valid JSON). */
export function evalReportJson(r: EvalReport): string {
  return JSON.stringify(r, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v));
}

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export function evalReportHtml(r: EvalReport): string {
  const md = evalReportMarkdown(r);
  const xs = r.perPosition.map((p) => p.pos);
  const plots: string[] = [];
  plots.push(lineChartSvg("nll-by-position", "Mean NLL by position in the window", { values: r.perPosition.map((p) => p.nll), color: "#1f77b4", label: "NLL" }, { xs, xLabel: "position", yLabel: "nats" }));
  if (r.comparison) {
    plots.push(lineChartSvg("kl-by-position", "Mean KL(base‖new) by position", { values: r.perPosition.map((p) => p.kl ?? NaN), color: "#d62728", label: "KL" }, { xs, xLabel: "position", yLabel: "KL (nats)", log: true }));
  }
  if (r.histograms) {
    plots.push(barChartSvg("kl-histogram", "KL(base‖new) histogram (tokens per bin)", r.histograms.kl.map((b) => ({ label: b.label, value: b.count })), undefined, Infinity));
    plots.push(barChartSvg("dp-histogram", "Δp histogram (tokens per bin)", r.histograms.dp.map((b) => ({ label: b.label, value: b.count })), undefined, Infinity));
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>llama-golden eval</title>
<style>body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}pre{white-space:pre-wrap;background:#f6f6f6;padding:1em}svg{display:block;margin:1em 0}</style>
</head><body>
<h1>llama-golden eval</h1>
<pre id="summary">${esc(md)}</pre>
${plots.join("\n")}
</body></html>
`;
}
