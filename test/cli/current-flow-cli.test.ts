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

describe("--dump_logits_path (the current runner's dump, SPEC-2026 §11-8)", () => {
  it("kv mode: every call's logits in call order, fp32 — the prompt rows, then the decode rows", async () => {
    const { readFileSync } = await import("node:fs");
    const dir = mkdtempSync(join(tmpdir(), "llama-golden-dump-path-"));
    const [all, prompt, sampled] = ["all.bin", "prompt.bin", "sampled.bin"].map((f) => join(dir, f));
    const r = await cli("--flow", "current", "--model_mode", "kv", "--max_seq_len", "24", "--json", "--seed", "1",
      "--dump_logits_path", all, "--dump_prompt_logits", prompt, "--dump_logits", sampled);
    expect(r.code, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout);
    const V = 512;
    const f32 = (p: string) => new Float32Array(new Uint8Array(readFileSync(p)).buffer);
    const a = f32(all);
    const p = f32(prompt);
    const s = f32(sampled);
    const n = o.prompt_tokens.length;
    const k = o.generated_tokens.length;
    expect(a.length).toBe((n + k - 1) * V); // n prompt calls, k - 1 decode calls
    expect(a.subarray(0, n * V)).toEqual(p);
    expect(a.subarray(n * V)).toEqual(s.subarray(V));
  });

  it("a quantized graph's logits are dumped as uint16 codes", async () => {
    const { runnerLogitsBytes } = await import("../../src/cli/run.js");
    const logits = Float32Array.from([-1, 0, 0.5, 2].map((x) => Math.fround(x)));
    const backend = { logitsEncoding: () => ({ scale: 0.5, offset: -4 }) } as never;
    expect([...new Uint16Array(runnerLogitsBytes(logits, backend, 4).buffer)]).toEqual([2, 4, 5, 8]);
    const plain = runnerLogitsBytes(logits, {} as never, 4);
    expect(new Float32Array(plain.buffer)).toEqual(logits);
  });

  it("hybrid mode is refused, as the runner allows the dump only in eval_mode 0", async () => {
    const r = await cli("--flow", "current", "--model_mode", "hybrid", "--max_seq_len", "24", "--dump_logits_path", join(tmpdir(), "never-written.bin"));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--dump_logits_path needs --model_mode kv/);
    expect(existsSync(join(tmpdir(), "never-written.bin"))).toBe(false);
  });
});
