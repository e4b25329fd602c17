// parity --prompts_file: one lock-step parity run per prompt, a row each; a fault injected into the candidate for the
// second prompt only fails that row (exit 1) and is bisected; the records round-trip through JSON; bad sweeps refused.
import { describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli } from "../helpers/cli.js";
import { parityCommand } from "../../src/cli/parity-command.js";
import { buildSweepReport, sweepJson, type SweepRecord } from "../../src/parity/sweep.js";
import { createFaultBackend } from "./faults.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-sweep-"));
const PROMPTS = join(tmp, "prompts.json");
writeFileSync(PROMPTS, JSON.stringify(["Once upon a time", "Lily saw a dog", "The sun was hot"]));
const SMALL = ["--kv_seq_len", "24", "--prefill_seq_len", "12", "--steps", "3", "--prompts_file", PROMPTS];

async function captured(argv: string[], wrap?: Parameters<typeof parityCommand>[2]) {
  let stdout = "";
  let stderr = "";
  const code = await parityCommand(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) }, wrap);
  return { code, stdout, stderr };
}

describe("parity sweep", () => {
  it("every prompt passes against the reference itself: one row per prompt, exit 0", async () => {
    const r = await cli("parity", "--backend", "reference", "--json", ...SMALL);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.passed).toBe(true);
    expect(o.records.map((x: SweepRecord) => [x.item, x.prompt, x.passed, x.minLogitsSqnrDb, x.maxKl])).toEqual([
      [0, "Once upon a time", true, null, 0],
      [1, "Lily saw a dog", true, null, 0],
      [2, "The sun was hot", true, null, 0],
    ]);
    const md = await cli("parity", "--backend", "reference", ...SMALL);
    expect(md.stdout).toMatch(/^# Parity sweep: reference vs reference — PASSED/);
    expect(md.stdout.split("\n").filter((l) => /^\| \d+ \|/.test(l))).toHaveLength(3);
  });

  it("a faulty candidate fails every row, each bisected; exit 1; the report survives a JSON round trip", async () => {
    const r = await captured(["--backend", "reference", "--json", ...SMALL], {
      wrapCandidate: (_b, init) => createFaultBackend("input_pos_off_by_one", init),
    });
    expect(r.code).toBe(1);
    const o = JSON.parse(r.stdout);
    expect(o.passed).toBe(false);
    expect(o.failed).toBe(3);
    for (const x of o.records as SweepRecord[]) {
      expect(x.passed).toBe(false);
      expect(x.firstDivergentStep).toBe(1);
      expect(x.bisect).toMatchObject({ step: 1, layer: 0, tensor: "q" });
      expect(x.firstFailure).toMatch(/^step 1: /);
    }
    const again = buildSweepReport(o.meta, JSON.parse(JSON.stringify(o.records)));
    expect(sweepJson(again)).toBe(r.stdout.trimEnd());
  });

  it("two shards with --results merge into the single sweep's report; a rerun of a finished shard scores nothing", async () => {
    const single = await cli("parity", "--backend", "reference", "--json", ...SMALL);
    const a = join(tmp, "s0.jsonl");
    const b = join(tmp, "s1.jsonl");
    const r0 = await cli("parity", "--backend", "reference", ...SMALL, "--shard", "0/2", "--results", a);
    expect(r0.code, r0.stderr).toBe(0);
    expect(r0.stdout).toMatch(/^shard 0\/2: 2 prompts run into .*s0\.jsonl \(0 failed\)/);
    const r1 = await cli("parity", "--backend", "reference", ...SMALL, "--results", b, "--shard=1/2");
    expect(r1.code, r1.stderr).toBe(0);
    const again = await cli("parity", "--backend", "reference", ...SMALL, "--shard", "1/2", "--results", b);
    expect(again.stderr).toMatch(/resuming .*s1\.jsonl: 1 of 1 prompts already run/);
    const m = await cli("merge", b, a, "--json");
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout).toBe(single.stdout);
  });

  it("refuses --dump, a prompt flag, an empty file, and --shard without a sweep", async () => {
    const empty = join(tmp, "empty.json");
    writeFileSync(empty, "[]");
    for (const [argv, re] of [
      [["--prompts_file", empty], /the array is empty/],
      [[...SMALL, "--dump", join(tmp, "d")], /--dump records one run/],
      [[...SMALL, "--prompt", "hi"], /drop --prompt/],
      [["--shard", "0/2"], /--shard and --results split a sweep/],
    ] as [string[], RegExp][]) {
      const r = await cli("parity", "--backend", "reference", ...argv);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
  });
});
