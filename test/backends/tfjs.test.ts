// The tfjs backend (WebAssembly engine here) against the reference: the same greedy tokens and logits
// within a tight SQNR in every mode and with both cache mechanisms, and its taps next to the reference's.
import { describe, expect, it } from "vitest";
import { createTfjsBackend } from "../../src/backends/tfjs.js";
import { createReferenceBackend } from "../../src/backends/reference.js";
import { generate } from "../../src/runner/generate.js";
import { createSampler } from "../../src/runner/sampler.js";
import type { Backend } from "../../src/engine/backend.js";
import type { Model } from "../../src/engine/weights.js";
import { loadModel } from "../../src/loaders/index.js";
import { loadStories260K } from "../helpers/fixtures.js";
import { TINY_PARAMS, TINY_PTH } from "../helpers/tiny-llama3.js";
import { allocPrefillOutputs, causalMask } from "../../src/engine/graph-io.js";
import { sqnrDb } from "../helpers/sqnr.js";


async function rows(model: Model, backend: Backend, mode: "prefill" | "kv" | "hybrid", kvUpdater: "smart_mask" | "shift_pointer", prompt: number[]) {
  const out: Float32Array[] = [];
  const r = await generate({
    backend,
    config: model.config,
    mode,
    kvUpdater,
    kvSeqLen: 24,
    prefillSeqLen: mode === "prefill" ? 24 : 8,
    promptTokens: prompt,
    stopTokens: [],
    sampler: createSampler({ vocabSize: model.config.vocabSize, temperature: 0, seed: 0n }),
    onSampleLogits: (row) => out.push(row.slice()),
  });
  return { tokens: r.generatedTokens, rows: out };
}

const models: [string, () => Model, number[]][] = [
  ["stories260K", loadStories260K, [1, 403, 407, 261, 378]],
  ["tiny_llama3", () => loadModel({ checkpoint: TINY_PTH, params: TINY_PARAMS }).model, [604, 185, 142, 535, 584]],
];

describe.each(models)("tfjs (wasm) vs reference on %s", (_name, load, prompt) => {
  const model = load();
  it.each([
    ["hybrid", "smart_mask"],
    ["hybrid", "shift_pointer"],
    ["kv", "smart_mask"],
    ["kv", "shift_pointer"],
    ["prefill", "smart_mask"],
  ] as const)("%s / %s: same tokens, logits SQNR >= 60 dB at every step", async (mode, kvUpdater) => {
    const init = { model, kvSeqLen: 24, prefillSeqLen: mode === "prefill" ? 24 : 8 };
    const tfb = await createTfjsBackend({ ...init, engine: "wasm" });
    try {
      const a = await rows(model, tfb, mode, kvUpdater, prompt);
      const r = await rows(model, createReferenceBackend(init), mode, kvUpdater, prompt);
      expect(a.tokens).toEqual(r.tokens);
      r.rows.forEach((row, i) => expect(sqnrDb(a.rows[i], row), `step ${i}`).toBeGreaterThan(60));
    } finally {
      tfb.dispose();
    }
  });

  it("taps of a prefill call match the reference's (SQNR >= 60 dB each)", async () => {
    const init = { model, prefillSeqLen: 9 };
    const tfb = await createTfjsBackend({ ...init, engine: "wasm" });
    const ref = createReferenceBackend(init);
    const tokens = Int32Array.from({ length: 8 }, (_, i) => prompt[i % prompt.length]);
    const got = new Map<string, Float32Array>();
    const want = new Map<string, Float32Array>();
    await tfb.executePrefill({ tokens, attnMask: causalMask(8) }, allocPrefillOutputs(model.config, 9), { tap: (l, n, d) => void got.set(`${l}:${n}`, d.slice()) });
    await ref.executePrefill({ tokens, attnMask: causalMask(8) }, allocPrefillOutputs(model.config, 9), { tap: (l, n, d) => void want.set(`${l}:${n}`, d.slice()) });
    expect([...got.keys()]).toEqual([...want.keys()]);
    for (const [k, v] of want) expect(sqnrDb(got.get(k)!, v), k).toBeGreaterThan(60);
    tfb.dispose();
  });
});
