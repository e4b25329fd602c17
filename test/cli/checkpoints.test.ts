// The CLI on every checkpoint format: PyTorch (llama2.c and Meta layouts), Hugging Face directories, the
// RoPE-scaling option and a run with no tokenizer at all (--tokenized_prompt), checked against HF float64.
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli } from "../helpers/cli.js";
import { FIXTURES, TOKENIZER_BIN, llama2cCases } from "../helpers/fixtures.js";
import { TINY_HF_DIR, TINY_PARAMS, TINY_PTH, tinyReference } from "../helpers/tiny-llama3.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-ck-"));

describe("checkpoint formats from the command line", () => {
  it("stories260K.pt (llama2.c training checkpoint) tells run.c's story", async () => {
    const once = llama2cCases().find((c) => c.id === "once_upon_n64")!;
    const r = await cli("--checkpoint", join(FIXTURES, "stories260K.pt"), "--tokenizer_bin", TOKENIZER_BIN, "--json", "--kv_seq_len", "65", "--prefill_seq_len", "16");
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.generated_tokens).toEqual(once.generated_tokens);
    expect(o.stats.checkpoint_format).toBe("pytorch");
    expect(o.stats.llama_model).toBe("stories260k");
  });

  const ref = tinyReference();
  const ids = join(tmp, "ids.json");
  writeFileSync(ids, JSON.stringify(ref.greedyPrompt));
  const want = ref.greedy.slice(ref.greedyPrompt.length);

  it.each([
    ["Meta .pth + params.json", ["--checkpoint", TINY_PTH, "--params", TINY_PARAMS]],
    ["HF directory", ["--checkpoint", TINY_HF_DIR]],
    ["HF safetensors file + config.json", ["--checkpoint", join(TINY_HF_DIR, "model.safetensors"), "--params", join(TINY_HF_DIR, "config.json")]],
  ])("tiny Llama 3.2 from %s with no tokenizer: ids only, empty text, HF's greedy tokens", async (_n, args) => {
    const r = await cli(...args, "--tokenized_prompt", ids, "--json", "--kv_seq_len", String(ref.greedy.length + 1), "--prefill_seq_len", "8");
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.prompt_tokens).toEqual(ref.greedyPrompt);
    expect(o.generated_tokens.slice(0, want.length)).toEqual(want);
    expect(o.text).toBe("");
    expect(o.stats.llama_model).toBe("llama3_2"); // inferred from the checkpoint (scaled RoPE, theta 5e5)
  });

  it("--rope_scale_factor 0 reproduces HF's unscaled-RoPE logits; the default reproduces the scaled ones", async () => {
    const c = ref.cases[1];
    const f = join(tmp, "case1.json");
    writeFileSync(f, JSON.stringify(c.tokens));
    const rows = async (...extra: string[]) => {
      const dump = join(tmp, `prompt-${extra.join("_") || "default"}.f32`);
      const r = await cli("--checkpoint", TINY_PTH, "--params", TINY_PARAMS, "--tokenized_prompt", f, "--json", "--model_mode", "kv", "--kv_seq_len", "33", "--dump_prompt_logits", dump, ...extra);
      expect(r.code).toBe(0);
      return new Float32Array(new Uint8Array(readFileSync(dump)).buffer);
    };
    const err = (a: Float32Array, b: Float64Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    const scaled = await rows();
    const none = await rows("--rope_scale_factor", "0");
    const eight = await rows("--rope_scale_factor", "8");
    expect(err(scaled, c.logits)).toBeLessThan(2e-4);
    expect(err(none, c.unscaled)).toBeLessThan(2e-4);
    expect(err(eight, c.logits)).toBeGreaterThan(1e-3); // factor 8 (later upstream exports) is a different model
  });

  it("a text prompt for llama3_2 without a tiktoken tokenizer is a clear error", async () => {
    const r = await cli("--checkpoint", TINY_PTH, "--params", TINY_PARAMS, "--prompt", "hi");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^llama-golden: error: no tokenizer: give --tokenizer_bin \/ --tokenizer_model, or the prompt as ids with --tokenized_prompt\n$/);
  });

  it("bad --rope_scale_factor and a Meta checkpoint without params are one-line errors", async () => {
    const a = await cli("--rope_scale_factor=-8");
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--rope_scale_factor "-8": expected a number >= 0/);
    const b = await cli("--checkpoint", TINY_PTH, "--tokenized_prompt", ids);
    expect(b.code).toBe(2);
    expect(b.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(b.stderr).toMatch(/pass --params/);
  });
});
