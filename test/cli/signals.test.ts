// Interrupted runs (issue 13, rows 7-8): SIGINT / SIGTERM during a run that writes outputs leave nothing behind
// (no temporary file, no partial golden-vector recording) and exit 130 / 143, and killing the command outright
// does not leave its re-executed child running. Runs the built command line (dist/, made by `npm install`).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/fixtures.js";

const MAIN = join(ROOT, "dist", "src", "cli", "main.js");
const LONG = ["--model_mode", "kv", "--kv_seq_len", "4000"];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error("timed out waiting for the run to start writing");
    await sleep(25);
  }
}

/** Starts the CLI, waits until `started()` holds, sends `signal`, and returns the exit code and signal. */
async function interrupt(args: string[], started: () => boolean, signal: NodeJS.Signals) {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on("exit", (code, sig) => r({ code, signal: sig })));
  await until(started);
  child.kill(signal);
  return { ...(await exited), stderr };
}

/** Processes whose command line mentions `marker` (the re-executed child included). */
function running(marker: string): string[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker);
      } catch {
        return false;
      }
    });
}

describe.skipIf(!existsSync(MAIN) || process.platform !== "linux")("interrupted runs (skipped: needs the built CLI in dist/ on Linux)", () => {
  for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
    it(`${signal} during --dump_logits: exit ${code}, no temporary file, no output`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "llama-golden-sig-"));
      const out = join(dir, "logits.f32");
      const r = await interrupt([...LONG, "--dump_logits", out], () => readdirSync(dir).length > 0, signal);
      expect(r.code, r.stderr).toBe(code);
      expect(readdirSync(dir)).toEqual([]);
    });
  }

  it("SIGTERM during parity --dump: the partial recording is removed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llama-golden-sig-"));
    const rec = join(dir, "vectors");
    const r = await interrupt(["parity", "--backend", "reference", ...LONG, "--steps", "3000", "--dump", rec], () => existsSync(join(rec, "manifest.json")), "SIGTERM");
    expect(r.code, r.stderr).toBe(143);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("SIGKILL of the command: its re-executed child does not keep running or writing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llama-golden-sig-"));
    const out = join(dir, "orphan.f32");
    const r = await interrupt([...LONG, "--dump_logits", out], () => readdirSync(dir).length > 0, "SIGKILL");
    expect(r.signal).toBe("SIGKILL");
    await until(() => running(out).length === 0, 5_000);
    expect(readdirSync(dir)).toEqual([]);
  });
});
