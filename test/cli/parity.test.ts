// `llama-golden parity` in-process: Markdown and --json reports, exit codes 0 / 1 / 2, bad flags, and
// the golden-vector round trip (--dump, then --backend replay) when the replay modules are present.
import { describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli } from "../helpers/cli.js";
import { ROOT } from "../helpers/fixtures.js";
import { parityCommand, parseParityArgs } from "../../src/cli/parity-command.js";
import { createFaultBackend } from "../parity/faults.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-parity-"));
const SMALL = ["--kv_seq_len", "24", "--prefill_seq_len", "12", "--steps", "3"];

async function captured(argv: string[], wrap?: Parameters<typeof parityCommand>[2]) {
  let stdout = "";
  let stderr = "";
  const code = await parityCommand(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) }, wrap);
  return { code, stdout, stderr };
}

describe("parity command", () => {
  it("--backend reference passes: Markdown on stdout, exit 0", async () => {
    const r = await cli("parity", "--backend", "reference", ...SMALL);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^# Parity: reference vs reference: PASSED/);
    expect(r.stdout).toContain("| step | graph |");
    expect(r.stdout).toContain("## Tolerances (default reference/fp32)");
  });

  it("--json: stdout is exactly one JSON object with passed and a per-step list", async () => {
    const r = await cli("parity", "--backend=reference", "--json", "--model_mode", "kv", "--kv_updater", "shift_pointer", ...SMALL, "--tol_sqnr_db", "90");
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    const o = JSON.parse(lines[0]);
    expect(o.passed).toBe(true);
    expect(o.mode).toBe("kv");
    expect(o.kvUpdater).toBe("shift_pointer");
    expect(o.tolerance.logitsSqnrDb).toBe(90);
    expect(Array.isArray(o.steps)).toBe(true);
    expect(o.steps.length).toBe(4 + 3); // 5 prompt tokens ("Once upon a time" + BOS): 4 forced, 3 generated
    expect(o.promptTokens[0]).toBe(1);
    expect(o.freeRunning.tokensReference).toHaveLength(3);
  });

  it("prefill mode and --tokenized_prompt", async () => {
    const ids = join(tmp, "ids.txt");
    writeFileSync(ids, "1 403 407 261 378");
    const r = await cli("parity", "--backend", "reference", "--json", "--model_mode", "prefill", "--tokenized_prompt", ids, ...SMALL);
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.promptTokens).toEqual([1, 403, 407, 261, 378]);
    expect(o.steps.map((s: { graph: string }) => s.graph)).toEqual(["prefill", "prefill", "prefill"]);
  });

  it("exit 1 when a tolerance fails (fault injected through the test hook)", async () => {
    const r = await captured(["--backend", "reference", "--json", ...SMALL], {
      wrapCandidate: (_b, init) => createFaultBackend("input_pos_off_by_one", init),
    });
    expect(r.code).toBe(1);
    const o = JSON.parse(r.stdout);
    expect(o.passed).toBe(false);
    expect(o.firstDivergentStep).toBe(1);
    expect(o.bisect).toMatchObject({ step: 1, layer: 0, tensor: "q" });
    const md = await captured(["--backend", "reference", ...SMALL], { wrapCandidate: (_b, init) => createFaultBackend("kv_8bit", init) });
    expect(md.code).toBe(1);
    expect(md.stdout).toMatch(/FAILED/);
  });

  it("--help", async () => {
    const r = await cli("parity", "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--backend NAME/);
    expect(r.stdout).toMatch(/--tol_sqnr_db/);
  });

  describe("bad input: exit 2, one line on stderr", () => {
    const cases: [string, string[], RegExp][] = [
      ["no backend", [], /--backend is required/],
      ["unknown backend", ["--backend", "tpu"], /unknown backend "tpu": expected one of reference, onnxruntime, tfjs, replay/],
      ["steps 0", ["--backend", "reference", "--steps", "0"], /--steps "0"/],
      ["steps text", ["--backend", "reference", "--steps", "many"], /--steps/],
      ["negative KL", ["--backend", "reference", "--tol_kl", "-1"], /--tol_kl/],
      ["bad SQNR", ["--backend", "reference", "--tol_sqnr_db", "loud"], /--tol_sqnr_db/],
      ["missing value", ["--backend"], /--backend needs a value/],
      ["temperature", ["--backend", "reference", "--temperature", "0.8"], /--temperature is not used by parity/],
      ["unknown flag", ["--backend", "reference", "--bogus"], /bogus/],
      ["bad mode", ["--backend", "reference", "--model_mode", "turbo"], /--model_mode/],
      ["replay without dir", ["--backend", "replay"], /--replay_dir/],
      ["replay_dir for reference", ["--backend", "reference", "--replay_dir", "/nonexistent"], /--replay_dir is for --backend replay/],
      ["providers for reference", ["--backend", "reference", "--providers", "cpu"], /--providers is for --backend onnxruntime/],
      ["prompt too long for hybrid", ["--backend", "reference", "--prefill_seq_len", "3"], /prefill_seq_len/],
      ["bad dtype", ["--backend", "reference", "--dtype", "int3"], /--dtype/],
    ];
    for (const [what, argv, msg] of cases)
      it(what, async () => {
        const r = await cli("parity", ...argv);
        expect(r.code).toBe(2);
        expect(r.stdout).toBe("");
        expect(r.stderr).toMatch(/^llama-golden: error: /);
        expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
        expect(r.stderr).toMatch(msg);
      });
  });

  it("parses its own flags apart from the run flags", () => {
    const p = parseParityArgs(["--backend", "onnxruntime", "--providers", "qnn, cpu", "--steps=5", "--prompt", "Hi", "--dump", "/tmp/x"]);
    expect(p).toMatchObject({ backend: "onnxruntime", providers: ["qnn", "cpu"], steps: 5, dump: "/tmp/x", dtype: "fp32" });
    expect(p.run.prompt).toBe("Hi");
    expect(p.run.modelMode).toBe("hybrid");
  });

  const replayAvailable = existsSync(join(ROOT, "src", "backends", "replay.ts")) && existsSync(join(ROOT, "src", "golden", "golden-vectors.ts"));
  const replaySkip = replayAvailable ? "" : " (skipped: needs src/backends/replay.ts and src/golden/golden-vectors.ts)";
  if (replaySkip) console.info(`replay test${replaySkip}`);
  it.runIf(replayAvailable)(`--dump records the candidate; --backend replay plays it back and passes${replaySkip}`, async () => {
    const dir = join(tmp, "golden");
    const rec = await cli("parity", "--backend", "reference", "--dump", dir, "--json", ...SMALL);
    expect(rec.stderr).toBe("");
    expect(rec.code).toBe(0);
    expect(existsSync(join(dir, "manifest.json"))).toBe(true);
    const rep = await cli("parity", "--backend", "replay", "--replay_dir", dir, "--json", ...SMALL);
    expect(rep.stderr).toBe("");
    expect(rep.code).toBe(0);
    expect(JSON.parse(rep.stdout)).toMatchObject({ passed: true, backend: expect.any(String) });
  });
});

describe("parity reports and backends from the command line", () => {
  it("--html writes a self-contained report with the plots", async () => {
    const file = join(tmp, "report.html");
    const r = await cli("parity", "--backend", "reference", ...SMALL, "--html", file);
    expect(r.code).toBe(0);
    const html = (await import("node:fs")).readFileSync(file, "utf8");
    expect(html).toContain('id="plot-sqnr"');
    expect(html).toContain('id="plot-kl"');
    expect(html).toContain("PASSED");
  });

  it.each(["onnxruntime", "tfjs"])("--backend %s passes against the reference (fp32 tolerances)", async (backend) => {
    const r = await cli("parity", "--backend", backend, ...SMALL, "--json");
    expect(r.code, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.passed).toBe(true);
    for (const s of o.steps) expect(Number(s.logits.sqnrDb)).toBeGreaterThan(60);
  });
});
