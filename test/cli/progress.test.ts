// The load progress bar: silent for loads under a second, throttled, and cleared at the end. The ETA bars
// (issue 13 item 6): pure formatting, silent under 2 s and off a terminal, phases, the parity run's counts,
// and the commands' use of them never touching stdout.
import { describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createEtaProgress, createProgress, etaMs, formatEta, NO_PROGRESS, progressLine, ttyProgress, withProgress, writtenNote } from "../../src/cli/progress.js";
import { main } from "../../src/cli/cli.js";
import { runParity, type SeedParityOptions } from "../../src/parity/run-parity.js";
import { reportJson as parityJson } from "../../src/parity/report.js";
import { createReferenceBackend } from "../../src/backends/reference.js";
import { defaultTolerance } from "../../src/parity/tolerances.js";
import type { EvalMode } from "../../src/kvcache/types.js";
import { loadStories260K, MODEL_BIN, TOKENIZER_BIN } from "../helpers/fixtures.js";

describe("progress bar", () => {
  it("draws nothing for a load that ends within a second", () => {
    let t = 0;
    let out = "";
    const p = createProgress((s) => (out += s), "loading", () => t);
    t = 500;
    p.update(50, 100);
    t = 999;
    p.update(100, 100);
    p.end();
    expect(out).toBe("");
  });

  it("after a second draws a bar with percentage and GB, at most every 100 ms, then clears the line", () => {
    let t = 0;
    const writes: string[] = [];
    const p = createProgress((s) => writes.push(s), "loading", () => t);
    t = 1200;
    p.update(1.25e9, 2.5e9);
    t = 1250;
    p.update(1.5e9, 2.5e9); // throttled
    t = 1400;
    p.update(2.5e9, 2.5e9);
    p.end();
    expect(writes).toHaveLength(3);
    expect(writes[0]).toBe(`\rloading [${"#".repeat(15)}${".".repeat(15)}]  50% 1.25/2.50 GB 1.2 s`);
    expect(writes[1]).toMatch(/100% 2\.50\/2\.50 GB 1\.4 s$/);
    expect(writes[2]).toBe("\r\x1b[2K");
  });
});

describe("ETA formatting", () => {
  it("formatEta: m:ss or h:mm:ss, rounded up; --:-- when unknown", () => {
    expect(formatEta(undefined)).toBe("ETA --:--");
    expect(formatEta(NaN)).toBe("ETA --:--");
    expect(formatEta(-1)).toBe("ETA --:--");
    expect(formatEta(Infinity)).toBe("ETA --:--");
    expect(formatEta(0)).toBe("ETA 0:00");
    expect(formatEta(6001)).toBe("ETA 0:07");
    expect(formatEta(7000)).toBe("ETA 0:07");
    expect(formatEta(754_000)).toBe("ETA 12:34");
    expect(formatEta(3_723_000)).toBe("ETA 1:02:03");
  });

  it("etaMs: the pace so far times what is left; none before any work; 0 when done", () => {
    expect(etaMs(4000, 1, 4)).toBe(12000);
    expect(etaMs(3000, 3, 4)).toBe(1000);
    expect(etaMs(3000, 0, 4)).toBeUndefined();
    expect(etaMs(3000, 4, 4)).toBe(0);
    expect(etaMs(3000, 5, 4)).toBe(0);
    expect(etaMs(3000, 1, 0)).toBeUndefined();
  });

  it("progressLine: label, bar, percent, count or GB, elapsed, ETA", () => {
    expect(progressLine("parity: lock-step", 3, 12, 2400)).toBe(`parity: lock-step [${"#".repeat(6)}${".".repeat(18)}]  25% 3/12 2.4 s ETA 0:08`);
    expect(progressLine("loading", 1.5e9, 3e9, 2000, "bytes", 10)).toBe("loading [#####.....]  50% 1.50/3.00 GB 2.0 s ETA 0:02");
    expect(progressLine("x", 0, 5, 100, "count", 4)).toBe("x [....]   0% 0/5 0.1 s ETA --:--");
  });
});

describe("ETA progress bar", () => {
  it("draws nothing for work that ends within 2 s", () => {
    let t = 0;
    let out = "";
    const p = createEtaProgress((s) => (out += s), "parity", { now: () => t });
    p.update(0, 10, "lock-step");
    t = 1000;
    p.update(5, 10, "lock-step");
    t = 1999;
    p.update(0, 10, "free-running");
    p.update(10, 10);
    p.end();
    expect(out).toBe("");
  });

  it("after 2 s draws phase, count and ETA, at most every 100 ms (a phase change at once), then clears the line", () => {
    let t = 0;
    const writes: string[] = [];
    const p = createEtaProgress((s) => writes.push(s), "quant-report", { now: () => t });
    p.update(0, 10, "calibrating");
    t = 2500;
    p.update(5, 10, "calibrating"); // 2.5 s for 5: 2.5 s left
    t = 2550;
    p.update(6, 10, "calibrating"); // throttled
    t = 2560;
    p.update(0, 40, "comparing"); // new phase: drawn, its ETA clock restarts
    t = 3560;
    p.update(10, 40, "comparing"); // 1 s for 10: 3 s left
    p.end();
    expect(writes).toEqual([
      `\rquant-report: calibrating [${"#".repeat(12)}${".".repeat(12)}]  50% 5/10 2.5 s ETA 0:03\x1b[K`,
      `\rquant-report: comparing [${".".repeat(24)}]   0% 0/40 0.0 s ETA --:--\x1b[K`,
      `\rquant-report: comparing [${"#".repeat(6)}${".".repeat(18)}]  25% 10/40 1.0 s ETA 0:03\x1b[K`,
      "\r\x1b[2K",
    ]);
  });

  it("ttyProgress: a bar only when stderr is a terminal and enabled (not --json)", () => {
    let t = 0;
    const now = () => t;
    let out = "";
    const stderr = (s: string) => (out += s);
    expect(ttyProgress({ stderr }, true, "x", "count", now)).toBe(NO_PROGRESS);
    expect(ttyProgress({ stderr, stderrIsTTY: false }, true, "x", "count", now)).toBe(NO_PROGRESS);
    expect(ttyProgress({ stderr, stderrIsTTY: true }, false, "x", "count", now)).toBe(NO_PROGRESS);
    t = 10_000;
    NO_PROGRESS.update(1, 2);
    NO_PROGRESS.end();
    expect(out).toBe("");
    t = 0;
    const p = ttyProgress({ stderr, stderrIsTTY: true }, true, "x", "count", now);
    t = 2000;
    p.update(1, 2);
    p.end();
    expect(out).toBe("\rx [############............]  50% 1/2 2.0 s ETA 0:02\x1b[K\r\x1b[2K");
  });

  it("withProgress ends the bar after f, on a throw and on a rejected promise", async () => {
    let ends = 0;
    const p = { update() {}, end: () => void ends++ };
    expect(withProgress(p, () => 42)).toBe(42);
    expect(() =>
      withProgress(p, () => {
        throw new Error("x");
      }),
    ).toThrow("x");
    await expect(withProgress(p, async () => 7)).resolves.toBe(7);
    await expect(withProgress(p, () => Promise.reject(new Error("y")))).rejects.toThrow("y");
    expect(ends).toBe(4);
  });

  it("writtenNote: one line with the absolute path", () => {
    expect(writtenNote("HTML report", "out/r.html")).toBe(`HTML report written to ${resolve("out/r.html")}\n`);
  });
});

describe("progress of the parity run", () => {
  const model = loadStories260K();
  const PROMPT = [1, 403, 407, 261, 378];
  const opts = (mode: EvalMode): SeedParityOptions => {
    const init = { model, kvSeqLen: mode !== "prefill" ? 24 : undefined, prefillSeqLen: mode !== "kv" ? 12 : undefined };
    return { model, reference: createReferenceBackend(init), candidate: createReferenceBackend(init), mode, kvUpdater: "smart_mask", kvSeqLen: 24, prefillSeqLen: 12, promptTokens: PROMPT, steps: 4, tolerance: defaultTolerance("reference") };
  };

  it.each(["kv", "hybrid", "prefill"] as const)("%s: every call counted, totals exact, the report unchanged", async (mode) => {
    const seen: [number, number, string][] = [];
    const r = await runParity({ ...opts(mode), onProgress: (d, t, p) => seen.push([d, t, p]) });
    const lock = seen.filter((s) => s[2] === "lock-step");
    const free = seen.filter((s) => s[2] === "free-running");
    expect(lock.map((s) => s[0])).toEqual(Array.from({ length: r.steps.length + 1 }, (_, i) => i));
    expect(new Set(lock.map((s) => s[1]))).toEqual(new Set([r.steps.length]));
    expect(free.at(-1)).toEqual([2 * r.steps.length, 2 * r.steps.length, "free-running"]);
    expect(parityJson(r)).toBe(parityJson(await runParity(opts(mode))));
  });
});

describe("commands on a terminal", () => {
  const tmp = mkdtempSync(join(tmpdir(), "llama-golden-progress-"));
  /** stderr without progress drawing (a slow machine may draw; it must be cleared and stay off stdout). */
  const withoutBars = (s: string) => s.replace(/\r[^\r\n]*\x1b\[K/g, "").replace(/\r\x1b\[2K/g, "");
  async function run(tty: boolean, ...argv: string[]) {
    let stdout = "";
    let stderr = "";
    const code = await main(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), stderrIsTTY: tty });
    return { code, stdout, stderr };
  }
  const MODEL = ["--checkpoint", MODEL_BIN, "--tokenizer_bin", TOKENIZER_BIN, "--kv_seq_len", "24", "--prefill_seq_len", "12"];

  it("parity --html: stdout as off a terminal; stderr says where the report went", async () => {
    const html = join(tmp, "p.html");
    const a = await run(true, "parity", "--backend", "reference", ...MODEL, "--steps", "3", "--html", html);
    const b = await run(false, "parity", "--backend", "reference", ...MODEL, "--steps", "3");
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(withoutBars(a.stderr)).toBe(`HTML report written to ${html}\n`);
    expect(b.stderr).toBe("");
  });

  it("quant-report --html: stdout as off a terminal; stderr says where the report went; --json keeps stderr quiet", async () => {
    const html = join(tmp, "q.html");
    const q = ["quant-report", "--ptq", "8a8w", "--checkpoint", MODEL_BIN, "--tokenizer_bin", TOKENIZER_BIN, "--kv_seq_len", "24", "--steps", "3"];
    const a = await run(true, ...q, "--html", html);
    const b = await run(false, ...q);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(withoutBars(a.stderr)).toBe(`HTML report written to ${html}\n`);
    const j = await run(true, ...q, "--json", "--html", html);
    expect(j.code).toBe(0);
    expect(j.stderr).toBe("");
  });
});
