// Owns `llama-golden merge FILE...` (issue 18): the report of a sharded run from its shards' results files
// (src/eval/results-store.ts checks that they are one run, every shard once, every item once) — an `eval` report or a
// `parity --prompts_file` sweep report, the same one a single process prints. Exit code 0 (an eval report, or a sweep
// that passed), 1 (a sweep with a failed prompt), 2 on bad input.
import { UserError } from "../util/errors.js";
import { readShardFiles } from "../eval/results-store.js";
import { buildEvalReport, evalReportHtml, evalReportJson, evalReportMarkdown, type EvalMeta } from "../eval/report.js";
import type { ItemRecord } from "../eval/records.js";
import { buildSweepReport, sweepHtml, sweepJson, sweepMarkdown, type SweepMeta, type SweepRecord } from "../parity/sweep.js";
import { checkOutputs, openAtomicFile } from "./atomic-file.js";
import { writtenNote } from "./progress.js";
import type { RunIO } from "./run.js";

export const MERGE_HELP = `llama-golden merge — the report of a sharded run

Usage: llama-golden merge FILE... [--json] [--html OUT]

  FILE...                 the --results files of every shard of one eval run or parity sweep (any order)
  --json                  stdout is one JSON object
  --html OUT              also write the self-contained HTML report
  -h, --help              this text

The report is the one a single process prints for the same run. Every shard must be present and complete (a shard
that was stopped is rerun with the same command: it resumes). Exit code 0: report written (a sweep: every prompt
passed); 1: a sweep with a failed prompt; 2: bad input. See docs/scale.md.
`;

export async function mergeCommand(argv: string[], io: RunIO): Promise<number> {
  const files: string[] = [];
  let json = false;
  let html: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") {
      io.stdout(MERGE_HELP);
      return 0;
    }
    if (a === "--json") json = true;
    else if (a === "--html" || a.startsWith("--html=")) {
      if (html !== undefined) throw new UserError("merge: --html given twice");
      html = a === "--html" ? argv[++i] : a.slice("--html=".length);
      if (html === undefined || html === "" || html.startsWith("--")) throw new UserError("merge: --html needs a file");
    } else if (a.startsWith("-")) throw new UserError(`merge: unknown flag ${JSON.stringify(a)} (the flags are --json, --html OUT)`);
    else files.push(a);
  }
  if (files.length === 0) throw new UserError("merge: give the --results files of every shard (see merge --help)");
  if (html !== undefined) checkOutputs([{ flag: "--html", path: html }], files);
  const { meta, records } = readShardFiles<{ item: number }>(files);
  const write = (text: string) => {
    if (html === undefined) return;
    const f = openAtomicFile(html, "--html", io.interrupts);
    try {
      f.write(new TextEncoder().encode(text));
      f.commit();
      if (!json) io.stderr(writtenNote("HTML report", html));
    } finally {
      f.abort();
    }
  };
  const bad = (e: unknown): never => {
    throw new UserError(`merge: the results files do not make a report (${e instanceof Error ? e.message : String(e)})`);
  };
  if ((meta as { kind?: string } | null)?.kind === "parity-sweep") {
    let r;
    try {
      r = buildSweepReport(meta as SweepMeta, records as SweepRecord[]);
    } catch (e) {
      return bad(e);
    }
    write(sweepHtml(r));
    io.stdout(json ? sweepJson(r) + "\n" : sweepMarkdown(r));
    return r.passed ? 0 : 1;
  }
  let r;
  try {
    r = buildEvalReport(meta as EvalMeta, records as ItemRecord[]);
  } catch (e) {
    return bad(e);
  }
  write(evalReportHtml(r));
  io.stdout(json ? evalReportJson(r) + "\n" : evalReportMarkdown(r));
  return 0;
}
