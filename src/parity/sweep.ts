// Owns the parity sweep (`parity --prompts_file FILE`, issue 18): one parity run per prompt (an item), each condensed
// into a SweepRecord — plain JSON, so a sharded sweep writes it as a line of its append-only results file and `merge`
// reads it back — and the sweep's report, a pure function of the records in item order (one process, a resumed run and
// merged shards give the same report). Non-finite SQNRs are stored as null (+∞: exact) so every record is valid JSON.
import type { ParityReport } from "./run-parity.js";
import type { ParityTolerance } from "./tolerances.js";

export interface SweepRecord {
  item: number;
  prompt: string;
  promptTokens: number;
  passed: boolean;
  steps: number;
  /** Lowest logits SQNR over the steps in dB; null when every step matched exactly (+∞). */
  minLogitsSqnrDb: number | null;
  maxKl: number;
  /** Steps whose top-1 token agreed. */
  top1Agree: number;
  firstDivergentStep: number | null;
  /** The first failing step's first failure, in words. */
  firstFailure?: string;
  /** Where the bisection put the first departure. */
  bisect?: { step: number; layer: number; tensor: string; sqnrDb: number | null };
  /** Free-running: the first generated token that differed. */
  firstTokenMismatch?: { index: number; reference: number; candidate: number };
}

export interface SweepMeta {
  kind: "parity-sweep";
  backend: string;
  flow: "seed" | "current";
  mode: string;
  promptsFile: string;
  tolerance: ParityTolerance;
  items: number;
}

const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** A parity run condensed to its sweep record. */
export function sweepRecordOf(item: number, prompt: string, r: ParityReport): SweepRecord {
  let minSqnr = Infinity;
  let maxKl = 0;
  let top1 = 0;
  for (const s of r.steps) {
    if (s.logits.sqnrDb < minSqnr || Number.isNaN(s.logits.sqnrDb)) minSqnr = s.logits.sqnrDb;
    if (s.kl > maxKl || Number.isNaN(s.kl)) maxKl = s.kl;
    if (s.top1) top1++;
  }
  const fail = r.steps.find((s) => !s.passed);
  const rec: SweepRecord = {
    item,
    prompt,
    promptTokens: r.promptTokens.length,
    passed: r.passed,
    steps: r.steps.length,
    minLogitsSqnrDb: Number.isNaN(minSqnr) ? null : minSqnr === Infinity ? null : minSqnr,
    maxKl: Number.isFinite(maxKl) ? maxKl : Number.MAX_VALUE,
    top1Agree: top1,
    firstDivergentStep: r.firstDivergentStep,
  };
  if (fail && fail.failures.length > 0) rec.firstFailure = `step ${fail.index}: ${fail.failures[0]}`;
  if (r.bisect) rec.bisect = { step: r.bisect.step, layer: r.bisect.layer, tensor: r.bisect.tensor, sqnrDb: finiteOrNull(r.bisect.sqnrDb) };
  const m = r.freeRunning?.firstTokenMismatch;
  if (m) rec.firstTokenMismatch = { index: m.index, reference: m.reference, candidate: m.candidate };
  return rec;
}

export interface SweepReport {
  meta: SweepMeta;
  passed: boolean;
  prompts: number;
  failed: number;
  /** Lowest logits SQNR over every prompt (null: all exact). */
  minLogitsSqnrDb: number | null;
  maxKl: number;
  records: SweepRecord[];
}

/** The sweep's report; `records` must hold every item once. */
export function buildSweepReport(meta: SweepMeta, records: readonly SweepRecord[]): SweepReport {
  const sorted = [...records].sort((a, b) => a.item - b.item);
  sorted.forEach((r, i) => {
    if (r.item !== i) throw new RangeError(`parity sweep: item ${i} is missing (got item ${r.item})`);
  });
  if (sorted.length !== meta.items) throw new RangeError(`parity sweep: ${sorted.length} items, the sweep has ${meta.items}`);
  const sq = sorted.map((r) => r.minLogitsSqnrDb).filter((x): x is number => x !== null);
  return {
    meta,
    passed: sorted.every((r) => r.passed),
    prompts: sorted.length,
    failed: sorted.filter((r) => !r.passed).length,
    minLogitsSqnrDb: sq.length > 0 ? Math.min(...sq) : null,
    maxKl: Math.max(0, ...sorted.map((r) => r.maxKl)),
    records: sorted,
  };
}

const cell = (s: string): string => s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\n/g, "\\n").replace(/\r/g, "\\r");
const db = (x: number | null): string => (x === null ? "∞ (exact)" : x.toFixed(2));
const clip = (s: string, n = 40): string => (s.length > n ? s.slice(0, n - 1) + "…" : s);

export function sweepMarkdown(r: SweepReport): string {
  const m = r.meta;
  const lines = [
    `# Parity sweep: ${m.backend} vs reference — ${r.passed ? "PASSED" : "FAILED"}`,
    "",
    `${r.prompts} prompts from ${cell(m.promptsFile)} (${m.flow} flow, ${m.mode} mode); ${r.failed} failed. Lowest logits SQNR ${db(r.minLogitsSqnrDb)} dB, largest KL ${r.maxKl.toExponential(3)}.`,
    "",
    "| # | prompt | tokens | steps | result | min logits SQNR (dB) | max KL | top-1 agree | first failure |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const x of r.records)
    lines.push(
      `| ${x.item} | ${cell(JSON.stringify(clip(x.prompt)))} | ${x.promptTokens} | ${x.steps} | ${x.passed ? "pass" : "FAIL"} | ${db(x.minLogitsSqnrDb)} | ${x.maxKl.toExponential(3)} | ${x.top1Agree}/${x.steps} | ${cell(x.firstFailure ?? "")}${x.bisect ? cell(` (bisected: layer ${x.bisect.layer} ${x.bisect.tensor})`) : ""} |`,
    );
  return lines.join("\n") + "\n";
}

export function sweepJson(r: SweepReport): string {
  return JSON.stringify(r);
}

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export function sweepHtml(r: SweepReport): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Parity sweep</title>
<style>body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}pre{white-space:pre-wrap;background:#f6f6f6;padding:1em}</style>
</head><body>
<pre id="summary">${esc(sweepMarkdown(r))}</pre>
</body></html>
`;
}
