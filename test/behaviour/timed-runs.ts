// Test support: the behaviour lock's API-level part (issue 12). The device runner's clock readings (SPEC §6:
// inference start, prompt-eval end, first token, sampling time, inference end) are not in the command-line
// fixture (they are wall-clock), so here every run gets a counting clock: each reading returns the number of
// readings before it. The recorded stamps then pin exactly where, between which graph calls and samples, each
// timing is taken — any moved, added or dropped clock reading changes them.
import { createReferenceBackend } from "../../src/backends/reference.js";
import { generate } from "../../src/runner/generate.js";
import { createSampler } from "../../src/runner/sampler.js";
import { calibrate } from "../../src/quant/calibrate.js";
import { createQuantizedBackend } from "../../src/quant/quantized-backend.js";
import type { Model } from "../../src/engine/weights.js";
import type { CacheArray, EvalMode, MaskArray } from "../../src/kvcache/types.js";
import type { GraphBackend, LogitsArray } from "../../src/engine/backend.js";
import type { KvUpdater } from "../../src/runner/session.js";

export interface TimedRun {
  id: string;
  generatedTokens: number[];
  finalPos: number;
  stoppedOnToken: boolean;
  timings: Record<string, number>;
}

const counter = () => {
  let n = 0;
  return () => n++;
};

const MODES: EvalMode[] = ["prefill", "kv", "hybrid"];
const UPDATERS = ["smart_mask", "shift_pointer"] as const;

/**
 * Stop sets: none (the run fills the cache), the first greedy token (prefill mode stops on it; hybrid samples
 * it from the prefill graph and goes on — the runner's quirk) and the fourth (a KV step stops on it).
 */
export async function timedRuns(models: { name: string; model: Model; prompt: number[] }[]): Promise<TimedRun[]> {
  const out: TimedRun[] = [];
  for (const m of models) {
    const V = m.model.config.vocabSize;
    /** One generate() with the counting clock (or the wall clock for the probe). */
    const run = <C extends CacheArray, M extends MaskArray, G extends LogitsArray>(
      backend: GraphBackend<C, M, G>,
      mode: EvalMode,
      kvUpdater: KvUpdater,
      stops: number[],
      temperature: number,
      seed: bigint,
      now?: () => number,
    ) =>
      generate({ backend, config: m.model.config, mode, kvSeqLen: 40, prefillSeqLen: 24, kvUpdater, promptTokens: m.prompt, stopTokens: stops, sampler: createSampler({ vocabSize: V, temperature, seed }), now });
    const g = (await run(createReferenceBackend({ model: m.model, kvSeqLen: 40 }), "kv", "smart_mask", [], 0, 0n)).generatedTokens;
    const stopSets = [[], [g[0]], [g[3]]];
    for (const stops of stopSets)
      for (const mode of MODES)
        for (const kvUpdater of UPDATERS)
          for (const temperature of [0, 0.9]) {
            const r = await run(createReferenceBackend({ model: m.model, kvSeqLen: 40, prefillSeqLen: 24 }), mode, kvUpdater, stops, temperature, 11n, counter());
            out.push({ id: `fp32/${m.name}/${mode}/${kvUpdater}/t${temperature}/stops=${stops.join(",")}`, ...pick(r) });
          }
    for (const mode of ["kv", "hybrid"] as const) {
      const prefillSeqLen = mode === "hybrid" ? 24 : undefined;
      const qenc = calibrate(m.model, "16a4w", { kvSeqLen: 40, prefillSeqLen, promptTokens: m.prompt, eos: g[3] });
      for (const stops of stopSets)
        for (const kvUpdater of UPDATERS)
          for (const temperature of [0, 0.9]) {
            const r = await run(createQuantizedBackend({ model: m.model, qenc, kvSeqLen: 40, prefillSeqLen }), mode, kvUpdater, stops, temperature, 11n, counter());
            out.push({ id: `16a4w/${m.name}/${mode}/${kvUpdater}/t${temperature}/stops=${stops.join(",")}`, ...pick(r) });
          }
    }
  }
  return out;
}

function pick(r: { generatedTokens: number[]; finalPos: number; stoppedOnToken: boolean; timings: object }) {
  return { generatedTokens: r.generatedTokens, finalPos: r.finalPos, stoppedOnToken: r.stoppedOnToken, timings: { ...(r.timings as Record<string, number>) } };
}
