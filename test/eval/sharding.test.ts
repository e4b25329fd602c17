// Sharded eval runs end to end (issue 18): three shards as separate processes of the built command line, one of them
// killed (SIGKILL) mid-way and rerun (it resumes from its results file), merged with `llama-golden merge` into a report
// identical, byte for byte, to the single-process run's. The third shard takes its index from Slurm's environment.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/fixtures.js";
import { cli } from "../helpers/cli.js";

const MAIN = join(ROOT, "dist", "src", "cli", "main.js");
const tmp = mkdtempSync(join(tmpdir(), "llama-golden-shards-"));

/** 40 short stories-like documents: ~240 windows of 15 tokens. */
const DATA = join(tmp, "docs.jsonl");
const words = ["Lily", "saw", "a", "big", "red", "ball", "in", "the", "park", "and", "she", "was", "happy", "Tom", "ran", "to", "his", "mom"];
writeFileSync(
  DATA,
  Array.from({ length: 40 }, (_, d) => JSON.stringify({ text: Array.from({ length: 60 }, (_, i) => words[(d * 7 + i * (d % 5 + 1)) % words.length]).join(" ") + "." })).join("\n") + "\n",
);
const FLAGS = ["eval", "--flow", "current", "--max_context_len", "16", "--max_seq_len", "16", "--dataset", DATA];

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LLAMA_GOLDEN_NO_REEXEC: "1", ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((r) => child.on("exit", (code, signal) => r({ code, signal, stdout, stderr })));
  return { child, done };
}

const lines = (p: string) => (existsSync(p) ? readFileSync(p, "utf8").split("\n").filter((l) => l !== "").length : 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!existsSync(MAIN))("sharded eval (skipped: needs the built CLI in dist/)", () => {
  it("3 shards, one killed and resumed, merge to the single run's report", async () => {
    const single = await cli(...FLAGS, "--json");
    expect(single.code, single.stderr).toBe(0);
    const items = JSON.parse(single.stdout).meta.items;
    expect(items).toBeGreaterThan(100);

    const out = (k: number) => join(tmp, `shard-${k}.jsonl`);
    const s0 = run([...FLAGS, "--shard", "0/3", "--results", out(0)]);
    // Shard 2 from Slurm's array variables.
    const s2 = run([...FLAGS, "--results", out(2)], { SLURM_ARRAY_TASK_ID: "2", SLURM_ARRAY_TASK_COUNT: "3", SLURM_ARRAY_TASK_MIN: "0" });
    const s1 = run([...FLAGS, "--shard", "1/3", "--results", out(1)]);
    // Kill shard 1 once it has written a few items (the header is line 1).
    const t0 = Date.now();
    while (lines(out(1)) < 6 && Date.now() - t0 < 60_000) await sleep(5);
    s1.child.kill("SIGKILL");
    const killed = await s1.done;
    expect(killed.signal).toBe("SIGKILL");
    const before = lines(out(1)) - 1;
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(Math.ceil(items / 3));
    const [r0, r2] = await Promise.all([s0.done, s2.done]);
    expect(r0.code, r0.stderr).toBe(0);
    expect(r2.code, r2.stderr).toBe(0);

    // Resume: the rerun scores only what is missing.
    const again = await run([...FLAGS, "--shard", "1/3", "--results", out(1)]).done;
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/resuming .*shard-1\.jsonl: \d+ of \d+ items already scored/);
    expect(lines(out(1)) - 1).toBe(Math.floor((items - 1 - 1) / 3) + 1);

    const merged = await cli("merge", out(0), out(1), out(2), "--json");
    expect(merged.code, merged.stderr).toBe(0);
    expect(merged.stdout).toBe(single.stdout);
    const md = await cli("merge", out(2), out(0), out(1));
    expect(md.stdout).toBe((await cli(...FLAGS)).stdout);

    // A missing shard is refused in one line.
    const missing = await cli("merge", out(0), out(2));
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
  }, 180_000);
});
