// Test helper: one greedy run of the device flow on the reference backend, collecting what tests compare.
import type { Model } from "../../src/engine/weights.js";
import { createReferenceBackend } from "../../src/backends/reference.js";
import { generate, type GenerateOptions, type KvUpdater } from "../../src/runner/generate.js";
import { createSampler } from "../../src/runner/sampler.js";
import type { EvalMode } from "../../src/kvcache/types.js";

export interface RunOut {
  generated: number[];
  finalPos: number;
  /** Logits row by absolute position: prompt rows 0..n-1, then the row of every later sampled position. */
  rows: Map<number, Float32Array>;
}

export async function greedyRun(
  model: Model,
  o: { mode: EvalMode; kvUpdater?: KvUpdater; kvSeqLen: number; prefillSeqLen: number; prompt: number[]; stops?: number[] },
  extra: Partial<GenerateOptions> = {},
): Promise<RunOut> {
  const backend = createReferenceBackend({
    model,
    kvSeqLen: o.mode !== "prefill" ? o.kvSeqLen : undefined,
    prefillSeqLen: o.mode !== "kv" ? o.prefillSeqLen : undefined,
  });
  const rows = new Map<number, Float32Array>();
  const n = o.prompt.length;
  let sampled = 0;
  const r = await generate({
    backend,
    config: model.config,
    mode: o.mode,
    kvSeqLen: o.kvSeqLen,
    prefillSeqLen: o.prefillSeqLen,
    kvUpdater: o.kvUpdater ?? "smart_mask",
    promptTokens: o.prompt,
    stopTokens: o.stops ?? [2],
    sampler: createSampler({ vocabSize: model.config.vocabSize, temperature: 0, seed: 0n }),
    onPromptLogits: (pos, row) => rows.set(pos, row.slice()),
    onSampleLogits: (row) => {
      rows.set(n - 1 + sampled, row.slice());
      sampled += 1;
    },
    ...extra,
  });
  return { generated: r.generatedTokens, finalPos: r.finalPos, rows };
}
