// Owns how a parity report is shown: one JSON object (non-finite numbers as the strings "Infinity",
// "-Infinity", "NaN", since JSON has no such numbers) or Markdown for people (tolerances, a table of every
// graph call, the bisection, the free-running tokens).
import type { ParityReport, StepReport } from "./run-parity.js";
import { describeTolerance } from "./tolerances.js";
import { renderHtmlReport } from "./html-report.js";

const jsonReplacer = (_k: string, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v);

/** The report as one line of JSON (top-level `passed`, a per-step list). */
export function reportJson(r: ParityReport): string {
  return JSON.stringify(r, jsonReplacer);
}

function num(x: number, digits = 3): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (x === 0) return "0";
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e5 ? String(Number(x.toFixed(digits))) : x.toExponential(2);
}

function stepRow(s: StepReport): string {
  const cells = [
    String(s.index),
    s.graph,
    String(s.position),
    s.token !== undefined ? String(s.token) : "",
    num(s.logits.sqnrDb, 1),
    num(s.logits.maxAbs),
    num(s.logits.cosine, 6),
    num(s.kl),
    s.top1 ? "yes" : `no (${s.top1Reference} vs ${s.top1Candidate})`,
    `${num(s.k.sqnrDb, 1)} (l${s.k.layer} h${s.k.head})`,
    `${num(s.v.sqnrDb, 1)} (l${s.v.layer} h${s.v.head})`,
    s.passed ? "pass" : "**FAIL**",
  ];
  return `| ${cells.join(" | ")} |`;
}

export function reportMarkdown(r: ParityReport): string {
  const out: string[] = [];
  out.push(`# Parity: ${r.backend} vs ${r.referenceBackend}: ${r.passed ? "PASSED" : "FAILED"}`, "");
  if (r.flow === "current")
    out.push(
      `- flow: current (AR-N graphs), mode: ${r.mode}, max_context_len ${r.contextLen}, prefill_ar_len ${r.prefillArLen}, ` +
        `max_seq_len ${r.maxSeqLen}, kv_updater: ${r.kvUpdater}`,
    );
  else out.push(`- mode: ${r.mode}, kv_updater: ${r.kvUpdater}`);
  out.push(`- prompt tokens (${r.promptTokens.length}): ${r.promptTokens.join(" ")}`);
  out.push(`- graph calls compared (lock-step): ${r.steps.length}`);
  out.push(`- first divergent step: ${r.firstDivergentStep ?? "none"}`, "");

  out.push(`## Tolerances (${r.tolerance.source})`, "");
  for (const l of describeTolerance(r.tolerance)) out.push(`- ${l}`);
  out.push("");

  out.push("## Lock-step (candidate fed the reference's tokens and caches)", "");
  out.push("| step | graph | pos | token | logits SQNR dB | max abs | cosine | KL | top-1 | worst K SQNR dB | worst V SQNR dB | result |");
  out.push("|---:|---|---:|---:|---:|---:|---:|---:|---|---|---|---|");
  for (const s of r.steps) out.push(stepRow(s));
  out.push("");
  const prefillRows = r.steps.filter((s) => s.rows);
  for (const s of prefillRows) {
    const rows = s.rows!;
    out.push(
      `- step ${s.index} (prefill): ${rows.count} fed rows, worst row ${rows.worstRow} SQNR ${num(rows.worst.sqnrDb, 1)} dB, ` +
        `max KL ${num(rows.maxKl)}, top-1 mismatches ${rows.top1Mismatches}`,
    );
  }
  const failed = r.steps.filter((s) => !s.passed);
  if (failed.length > 0) {
    out.push("", "### Failures", "");
    for (const s of failed) for (const f of s.failures) out.push(`- step ${s.index}: ${f}`);
  }
  out.push("");

  out.push("## Bisection", "");
  if (r.bisect) {
    const b = r.bisect;
    const where = b.layer < 0 ? "before the layers" : `layer ${b.layer}`;
    out.push(
      b.belowTolerance
        ? `First tensor below ${r.tolerance.tapSqnrDb} dB at step ${b.step}: **${where}, ${b.tensor}** (SQNR ${num(b.sqnrDb, 1)} dB)`
        : `No tensor below ${r.tolerance.tapSqnrDb} dB at step ${b.step}; lowest: ${where}, ${b.tensor} (SQNR ${num(b.sqnrDb, 1)} dB)`,
      "",
    );
    out.push("| layer | tensor | SQNR dB | max abs | non-finite |", "|---:|---|---:|---:|---:|");
    for (const t of b.perLayer) out.push(`| ${t.layer} | ${t.tensor} | ${num(t.sqnrDb, 1)} | ${num(t.maxAbs)} | ${t.nonFinite} |`);
  } else {
    out.push(r.bisectNote ?? (r.passed ? "Not needed: every step passed." : "Not run."));
  }
  out.push("");

  out.push("## Free-running (each backend on its own caches and tokens)", "");
  if (r.freeRunning) {
    const f = r.freeRunning;
    out.push(`- reference: ${f.tokensReference.join(" ")}`);
    out.push(`- candidate: ${f.tokensCandidate.join(" ")}`);
    const m = f.firstTokenMismatch;
    out.push(
      m
        ? `- first sampled token that differs: #${m.index} (step ${m.step}, position ${m.position}): ${m.reference} vs ${m.candidate}`
        : "- every sampled token agrees",
    );
  } else {
    out.push("Not run.");
  }
  out.push("");
  return out.join("\n");
}

/** The report as a self-contained HTML page with plots (src/parity/html-report.ts). */
export function reportHtml(r: ParityReport): string {
  return renderHtmlReport({
    title: `llama-golden parity: ${r.backend} vs ${r.referenceBackend}`,
    passed: r.passed,
    facts: [
      ["backend", r.backend],
      ["reference", r.referenceBackend],
      ...(r.flow === "current"
        ? ([
            ["flow", "current (AR-N graphs)"],
            ["max_context_len / prefill_ar_len / max_seq_len", `${r.contextLen} / ${r.prefillArLen} / ${r.maxSeqLen}`],
          ] as [string, string][])
        : []),
      ["mode", r.mode],
      ["kv_updater", r.kvUpdater],
      ["prompt tokens", String(r.promptTokens.length)],
      ["graph calls", String(r.steps.length)],
      ["first token mismatch (free-running)", r.freeRunning?.firstTokenMismatch ? `token ${r.freeRunning.firstTokenMismatch.index}` : "none"],
    ],
    tolerance: { ...r.tolerance },
    // The first failing calls' reasons (the Markdown report lists them all).
    failures: r.steps.flatMap((s) => s.failures.map((f) => `step ${s.index}: ${f}`)).slice(0, 8),
    steps: r.steps.map((s: StepReport) => ({ index: s.index, graph: s.graph, position: s.position, sqnrDb: s.logits.sqnrDb, kl: s.kl, top1: s.top1, passed: s.passed })),
    firstDivergentStep: r.firstDivergentStep,
    bisect: r.bisect && { step: r.bisect.step, layer: r.bisect.layer, tensor: r.bisect.tensor, perLayer: r.bisect.perLayer.map((p) => ({ layer: p.layer, tensor: p.tensor, sqnrDb: p.sqnrDb })) },
    sqnrThresholdDb: r.tolerance.logitsSqnrDb,
  });
}
