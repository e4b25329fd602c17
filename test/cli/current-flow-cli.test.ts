// `--flow current` on the command line: the statistics name the flow and its lengths, `--json` lists the turns,
// and a turn that no longer fits the runner's seq_len ends the run with one error line after the turns before it
// (as the device runner aborts), leaving no output file behind.
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";

describe("--flow current", () => {
  it("kv and hybrid give the seed kv mode's greedy tokens; the stats and turns describe the run", async () => {
    const seed = JSON.parse((await cli("--model_mode", "kv", "--kv_seq_len", "48", "--json", "--seed", "1")).stdout);
    for (const mode of ["kv", "hybrid"]) {
      const r = await cli("--flow", "current", "--model_mode", mode, "--max_seq_len", "48", "--prefill_ar_len", "8", "--json", "--seed", "1");
      expect(r.code, r.stderr).toBe(0);
      const o = JSON.parse(r.stdout);
      expect(o.generated_tokens).toEqual(seed.generated_tokens);
      expect(o.stats).toMatchObject({ flow: "current", mode, max_context_len: 48, max_seq_len: 48, prefill_ar_len: 8, stop_reason: "seq_len" });
      expect(o.turns).toEqual([{ prompt_tokens: o.prompt_tokens, generated_tokens: o.generated_tokens, text: o.text }]);
    }
  });

  it("--max_seq_len alone implies the current flow; --max_context_len defaults to it", async () => {
    const o = JSON.parse((await cli("--max_seq_len", "40", "--prefill_ar_len", "4", "--json", "--seed", "1")).stdout);
    expect(o.stats).toMatchObject({ flow: "current", max_context_len: 40 });
  });

  it("a second turn that does not fit: exit 2, the error last, nothing written", async () => {
    const dump = join(mkdtempSync(join(tmpdir(), "llama-golden-turns-")), "l.f32");
    const r = await cli("--flow", "current", "--max_seq_len", "24", "--prefill_ar_len", "4", "--prompt", "Lily", "--prompt", "Tom", "--dump_logits", dump);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines[lines.length - 1]).toMatch(/the prompt has 2 tokens after 23 tokens of conversation but --max_seq_len 24 takes at most 0/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(dump)).toBe(false);
  });
});
