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

  it("--masked_softmax and --r3: reported in the stats; the greedy text stays that of the plain graph here", async () => {
    const base = ["--flow", "current", "--max_seq_len", "40", "--prefill_ar_len", "8", "--json", "--seed", "1"];
    const plain = JSON.parse((await cli(...base)).stdout);
    expect(plain.stats).toMatchObject({ masked_softmax: false, r3: false });
    for (const extra of [["--masked_softmax", "on"], ["--r3", "on"], ["--masked_softmax", "on", "--r3", "on"]]) {
      const r = await cli(...base, ...extra);
      expect(r.code, r.stderr).toBe(0);
      const o = JSON.parse(r.stdout);
      expect(o.stats.masked_softmax).toBe(extra.includes("--masked_softmax"));
      expect(o.stats.r3).toBe(extra.includes("--r3"));
      // Both variants change the logits only by ~1e-6 on stories260K (test/engine/ar-attention-variants.test.ts).
      expect(o.generated_tokens).toEqual(plain.generated_tokens);
    }
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
