// `--threads N` on the command line: the reference engine's tokens and dumped logits are byte-identical for
// any thread count, and a bad count is a one-line user error (exit 2).
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli } from "../helpers/cli.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-threads-"));

describe("--threads", () => {
  it("1, 2 and 3 threads give the same tokens, text and logits bytes (hybrid and kv modes)", async () => {
    for (const mode of ["hybrid", "kv"]) {
      const runs = [];
      for (const threads of ["1", "2", "3"]) {
        const dl = join(tmp, `logits-${mode}-${threads}.f32`);
        const dp = join(tmp, `prompt-${mode}-${threads}.f32`);
        const r = await cli("--json", "--threads", threads, "--model_mode", mode, "--kv_seq_len", "40", "--prefill_seq_len", "8", "--dump_logits", dl, "--dump_prompt_logits", dp);
        expect(r.code).toBe(0);
        const o = JSON.parse(r.stdout);
        runs.push({ tokens: o.generated_tokens, text: o.text, logits: readFileSync(dl), prompt: readFileSync(dp) });
      }
      expect(runs[0].tokens.length).toBeGreaterThan(10);
      expect(runs[0].logits.length).toBe(runs[0].tokens.length * 512 * 4);
      for (const r of runs.slice(1)) {
        expect(r.tokens).toEqual(runs[0].tokens);
        expect(r.text).toBe(runs[0].text);
        expect(r.logits.equals(runs[0].logits)).toBe(true);
        expect(r.prompt.equals(runs[0].prompt)).toBe(true);
      }
    }
  });

  it.each([["0"], ["-1"], ["two"], ["1.5"], ["257"]])("--threads %s is a one-line user error", async (v) => {
    const r = await cli("--threads", v);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--threads/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stdout).toBe("");
  });
});
