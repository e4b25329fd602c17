// The quantized device runner (SPEC §6–7): kv and hybrid modes on device bytes, identical tokens and cache
// bytes whichever cache manager moves them, and the kv mode agreeing with the test helper's greedy loop.
import { describe, expect, it } from "vitest";
import { calibrate } from "../../src/quant/calibrate.js";
import { createQuantizedBackend } from "../../src/quant/quantized-backend.js";
import type { CacheCodes } from "../../src/quant/qgraph.js";
import { generate, type GenerateResultWithCache } from "../../src/runner/generate.js";
import { createSampler } from "../../src/runner/sampler.js";
import { UserError } from "../../src/util/errors.js";
import { loadStories260K } from "../helpers/fixtures.js";
import { quantGreedyKv } from "./qrun.js";

const model = loadStories260K();
const c = model.config;
const PROMPT = [1, 403, 407, 261, 378];
const kvSeqLen = 40;
const prefillSeqLen = 16;

function snapshot(r: GenerateResultWithCache<CacheCodes, Uint16Array>): number[] {
  const out: number[] = [];
  for (let l = 0; l < c.nLayers; l++)
    for (let h = 0; h < c.nKvHeads; h++)
      for (let p = 0; p < r.finalPos; p++) out.push(...r.cache.readK(l, h, p), ...r.cache.readV(l, h, p));
  return out;
}

const run = (qenc: ReturnType<typeof calibrate>, mode: "kv" | "hybrid", kvUpdater: "smart_mask" | "shift_pointer") =>
  generate({
    backend: createQuantizedBackend({ model, qenc, kvSeqLen, prefillSeqLen: mode === "hybrid" ? prefillSeqLen : undefined }),
    config: c,
    mode,
    kvUpdater,
    kvSeqLen,
    prefillSeqLen,
    promptTokens: PROMPT,
    stopTokens: [2],
    sampler: createSampler({ vocabSize: c.vocabSize, temperature: 0, seed: 1n }),
  });

describe("generate on the quantized backend", () => {
  for (const scheme of ["16a4w", "16a8w"] as const) {
    const qenc = calibrate(model, scheme, { kvSeqLen, prefillSeqLen, promptTokens: PROMPT });
    for (const mode of ["kv", "hybrid"] as const) {
      it(`${scheme} ${mode}: Smart Mask and Shift Pointer give identical tokens and cache bytes`, async () => {
        const a = await run(qenc, mode, "smart_mask");
        const b = await run(qenc, mode, "shift_pointer");
        expect(a.generatedTokens.length).toBeGreaterThan(10);
        expect(b.generatedTokens).toEqual(a.generatedTokens);
        expect(b.finalPos).toBe(a.finalPos);
        expect(a.cache.kvInputs().kCaches[0]).toBeInstanceOf(scheme === "16a4w" ? Uint8Array : Uint16Array);
        expect(snapshot(b)).toEqual(snapshot(a));
      });
    }

    it(`${scheme} kv: the same tokens and bytes as the test helper's greedy loop`, async () => {
      const a = await run(qenc, "kv", "smart_mask");
      const h = quantGreedyKv(model, qenc, { kind: "smart_mask", kvSeqLen, prompt: PROMPT, fillZeroPoint: true });
      expect(a.generatedTokens).toEqual(h.generated);
      expect(snapshot(a)).toEqual(h.snapshot);
    });
  }

  it("hybrid: the prefill hand-over puts the prefill graph's K/V bytes into the caches as they are", async () => {
    const qenc = calibrate(model, "16a4w", { kvSeqLen, prefillSeqLen, promptTokens: PROMPT });
    const kv = await run(qenc, "kv", "smart_mask");
    const hy = await run(qenc, "hybrid", "smart_mask");
    expect(hy.finalPos).toBe(kv.finalPos);
    // Prompt positions come from different graphs (prefill vs KV) but the same encodings: mostly equal codes.
    let same = 0;
    let total = 0;
    for (let p = 0; p < PROMPT.length; p++) {
      const a = hy.cache.readK(0, 0, p);
      const b = kv.cache.readK(0, 0, p);
      for (let d = 0; d < a.length; d++, total++) if (Math.abs(a[d] - b[d]) <= 1) same++;
    }
    expect(same / total).toBeGreaterThan(0.9);
  });

  it("refuses prefill mode", async () => {
    const qenc = calibrate(model, "16a4w", { kvSeqLen, promptTokens: PROMPT });
    await expect(
      generate({
        backend: createQuantizedBackend({ model, qenc, kvSeqLen }),
        config: c,
        mode: "prefill",
        kvUpdater: "smart_mask",
        kvSeqLen,
        prefillSeqLen,
        promptTokens: PROMPT,
        stopTokens: [2],
        sampler: createSampler({ vocabSize: c.vocabSize, temperature: 0, seed: 1n }),
      }),
    ).rejects.toThrow(UserError);
  });
});
