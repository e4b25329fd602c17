// Logits at every prompt position against the float64 Hugging Face transformers reference
// (test/fixtures/stories260K_hf_logits.json), through both graphs, and HF's own greedy continuation.
import { describe, expect, it } from "vitest";
import { greedyRun } from "../helpers/run.js";
import { hfCases, loadStories260K } from "../helpers/fixtures.js";
import { createPrefillGraph, prefillForward } from "../../src/engine/prefill-graph.js";
import { causalMask } from "../../src/engine/graph-io.js";
import { argmax } from "../../src/runner/sampler.js";

const model = loadStories260K();
const V = model.config.vocabSize;
const TOL = 1e-4;

function maxErr(ours: Float32Array, ref: Float64Array, row: number): number {
  let m = 0;
  for (let j = 0; j < V; j++) m = Math.max(m, Math.abs(ours[j] - ref[row * V + j]));
  return m;
}

describe.each(hfCases())("HF float64 logits, $id", (c) => {
  const T = c.shape[0];

  it("prefill graph rows match within 1e-4 at every prompt position", () => {
    const P = 15;
    const g = createPrefillGraph(model, P + 1);
    const tokens = new Int32Array(P);
    c.prompt_tokens.forEach((t, i) => (tokens[i] = t));
    const out = prefillForward(g, { tokens, attnMask: causalMask(P) });
    let worst = 0;
    for (let i = 0; i < T; i++) worst = Math.max(worst, maxErr(out.logits.subarray(i * V, (i + 1) * V), c.logits, i));
    expect(worst).toBeLessThan(TOL);
    expect(worst).toBeGreaterThan(0); // fp32 against float64: an exact match would mean we compared the wrong thing
  });

  it("KV graph rows (kv mode, both mechanisms) match within 1e-4", async () => {
    for (const kvUpdater of ["smart_mask", "shift_pointer"] as const) {
      const r = await greedyRun(model, { mode: "kv", kvUpdater, kvSeqLen: 32, prefillSeqLen: 2, prompt: c.prompt_tokens });
      for (let i = 0; i < T; i++) expect(maxErr(r.rows.get(i)!, c.logits, i)).toBeLessThan(TOL);
    }
  });

  it("greedy hybrid continuation equals HF's float64 greedy tokens", async () => {
    const want = c.greedy_hf_f64.slice(c.prompt_tokens.length);
    const r = await greedyRun(model, {
      mode: "hybrid",
      kvSeqLen: c.greedy_hf_f64.length + 1,
      prefillSeqLen: 16,
      prompt: c.prompt_tokens,
      stops: [],
    });
    expect(r.generated.slice(0, want.length)).toEqual(want);
    // The first generated token is the argmax of HF's last prompt row.
    expect(r.generated[0]).toBe(argmax(Float32Array.from(c.logits.subarray((T - 1) * V, T * V))));
  });
});
