// Greedy generation on stories260K against llama2.c run.c (test/fixtures/stories260K_llama2c_greedy.json),
// in all three modes and with both KV mechanisms.
import { describe, expect, it } from "vitest";
import { greedyRun } from "../helpers/run.js";
import { llama2cCases, loadStories260K, maxAbsDiff } from "../helpers/fixtures.js";
import type { EvalMode } from "../../src/kvcache/types.js";
import type { KvUpdater } from "../../src/runner/generate.js";

const model = loadStories260K();
const cases = llama2cCases();
const NEAR_TIE = 1e-3;

// run.c with -n steps feeds positions 0..steps-1 and samples after each one from position n-1 on, i.e.
// steps - n + 1 tokens. The device runner stops when pos reaches seq_len - 1; kv_seq_len = steps + 1 (and
// prefill_seq_len = steps + 1 in prefill mode) gives the same count.
const modes: { mode: EvalMode; kvUpdater: KvUpdater }[] = [
  { mode: "hybrid", kvUpdater: "smart_mask" },
  { mode: "hybrid", kvUpdater: "shift_pointer" },
  { mode: "kv", kvUpdater: "smart_mask" },
  { mode: "kv", kvUpdater: "shift_pointer" },
  { mode: "prefill", kvUpdater: "smart_mask" },
  { mode: "prefill", kvUpdater: "shift_pointer" },
];

describe.each(cases)("llama2.c greedy case $id", (c) => {
  const n = c.prompt_tokens.length;
  const [margin, marginPos] = c.min_top2_margin_at_sampled_positions;
  // Tokens sampled at positions >= marginPos may legitimately differ only when llama2.c's margin there is a near-tie.
  const comparable = margin < NEAR_TIE ? marginPos - (n - 1) : c.generated_tokens.length;

  it.each(modes)("$mode / $kvUpdater reproduces run.c's tokens", async ({ mode, kvUpdater }) => {
    const kvSeqLen = c.steps + 1;
    const prefillSeqLen = mode === "prefill" ? c.steps + 1 : 16;
    const r = await greedyRun(model, { mode, kvUpdater, kvSeqLen, prefillSeqLen, prompt: c.prompt_tokens });
    expect(r.generated.length).toBe(c.generated_tokens.length);
    expect(r.generated.slice(0, comparable)).toEqual(c.generated_tokens.slice(0, comparable));
    // run.c's first 8 logits at the first positions (fp32, gcc -O3): agreement to a few fp32 ulps of ~10.
    for (const [pos, want] of Object.entries(c.logits_first8)) {
      const row = r.rows.get(Number(pos));
      expect(row, `logits row ${pos}`).toBeDefined();
      expect(maxAbsDiff(row!.subarray(0, 8), want)).toBeLessThan(2e-5);
    }
  });
});
