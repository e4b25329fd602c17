// `--model_mode lookahead` on the command line (SPEC-2026 §6): the tokens of kv mode, the statistics in --json
// (stats.lookahead) and in the human report, and bad input — one line, exit code 2.
import { describe, expect, it } from "vitest";
import { cli, expectCliRefusal } from "../helpers/cli.js";

const BASE = ["--max_seq_len", "48", "--max_context_len", "96", "--prefill_ar_len", "8", "--json"];

describe("--model_mode lookahead", () => {
  it("gives kv mode's greedy tokens; --json reports the lookahead statistics", async () => {
    const kv = JSON.parse((await cli("--flow", "current", "--model_mode", "kv", ...BASE)).stdout);
    for (const semantics of ["qnn", "generic"]) {
      const r = await cli("--model_mode", "lookahead", "--ngram", "3", "--window", "2", "--gcap", "2", "--lookahead_semantics", semantics, ...BASE);
      expect(r.code, r.stderr).toBe(0);
      const o = JSON.parse(r.stdout);
      expect(o.generated_tokens.slice(0, kv.generated_tokens.length)).toEqual(kv.generated_tokens);
      const l = o.stats.lookahead;
      expect(l).toMatchObject({ ngram: 3, window: 2, gcap: 2, semantics, ar_len: 8 });
      expect(l.graph_calls).toBeLessThan(l.tokens);
      expect(l.tokens).toBe(o.generated_tokens.length - 1); // the first token comes from the prompt graph
      expect(Object.values(l.accepted_per_call as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(l.graph_calls);
      expect(l.acceptance_rate).toBeGreaterThan(0);
      expect(l.acceptance_rate).toBeLessThanOrEqual(1);
      expect(o.stats.mode).toBe("lookahead");
    }
  });

  it("the human report names the calls, the histogram and the acceptance rate", async () => {
    const r = await cli("--model_mode", "lookahead", "--ngram", "3", "--window", "2", "--gcap", "2", "--max_seq_len", "32", "--max_context_len", "64", "--prefill_ar_len", "8");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Lookahead \(N=3 W=2 G=2, qnn, AR 8\): \d+ graph calls for \d+ tokens/);
    expect(r.stderr).toMatch(/accepted per call 1:\d+ 2:\d+ 3:\d+ {4}acceptance rate 0\.\d{4}/);
  });

  it("(W+G)(N-1) not a power of two: runs with a note about the device's out-of-bounds parent map", async () => {
    const r = await cli("--model_mode", "lookahead", "--ngram", "4", "--window", "4", "--gcap", "4", ...BASE);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/note: lookahead \(W\+G\)\(N-1\) = 24 < AR 32/);
  });

  const refused = expectCliRefusal;

  it("bad input: N < 2, W < 1, G < 0, CL <= AR, flags without the mode, generic with a temperature", async () => {
    const L = ["--model_mode", "lookahead", ...BASE];
    await refused([...L, "--ngram", "1"], /--ngram 1: must be an integer >= 2/);
    await refused([...L, "--window", "0"], /--window 0: must be an integer >= 1/);
    await refused([...L, "--gcap", "-1"], /--gcap -1: must be an integer >= 0/);
    await refused(["--model_mode", "lookahead", "--max_seq_len", "32", "--max_context_len", "64", "--prefill_ar_len", "8"], /lookahead needs --max_context_len > next_pow2\(\(W\+G\)\(N-1\)\) = 64, got 64/);
    await refused(["--flow", "current", "--model_mode", "hybrid", "--ngram", "3"], /--ngram applies to --model_mode lookahead/);
    await refused([...L, "--lookahead_semantics", "generic", "--temperature", "0.8"], /--lookahead_semantics generic is greedy/);
    await refused([...L, "--lookahead_semantics", "static"], /--lookahead_semantics "static": expected one of qnn, generic/);
    await refused(["--model_mode", "lookahead", "--kv_seq_len", "64"], /--kv_seq_len \(seed flow\) and --model_mode lookahead \(current flow\) both given/);
  });
});
