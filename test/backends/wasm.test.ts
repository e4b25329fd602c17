// The wasm backend against the reference (issue 8 done-when): the parity harness over 64 generated tokens on
// stories260K and tiny_llama3 in kv and hybrid modes, on 1 and 2 threads — every call within the fp32
// tolerance (logits SQNR >= 60 dB, KL, top-1, K/V) and identical free-running greedy tokens; outputs bit-identical
// between thread counts, between shardings of the weights, and between the prefill and KV graphs; taps; the
// registry entry; user mistakes.
import { afterAll, describe, expect, it } from "vitest";
import { createReferenceBackend } from "../../src/backends/reference.js";
import { createBackend } from "../../src/backends/registry.js";
import type { Backend, BackendInit } from "../../src/engine/backend.js";
import { createWasmBackend, type WasmBackendOptions } from "../../src/backends/wasm.js";
import type { Model } from "../../src/engine/weights.js";
import type { EvalMode } from "../../src/kvcache/types.js";
import { loadModel } from "../../src/loaders/index.js";
import { runParity } from "../../src/parity/run-parity.js";
import { defaultTolerance } from "../../src/parity/tolerances.js";
import { generate, type KvUpdater } from "../../src/runner/generate.js";
import { createSampler } from "../../src/runner/sampler.js";
import { UserError } from "../../src/util/errors.js";
import { llama2cCases, loadStories260K } from "../helpers/fixtures.js";
import { sqnrDb } from "../helpers/sqnr.js";
import { TINY_PARAMS, TINY_PTH, tinyReference } from "../helpers/tiny-llama3.js";

const STEPS = 64;
const KV_SEQ_LEN = 80;
const PREFILL_SEQ_LEN = 16;

/** `shardKiB`: a shard limit that forces several shards (the LM head and its activation area still fit). */
const models: { id: string; load: () => Model; prompt: () => number[]; shardKiB: number }[] = [
  {
    id: "stories260K",
    load: loadStories260K,
    prompt: () => llama2cCases().find((x) => x.id === "once_upon_n64")!.prompt_tokens,
    shardKiB: 192,
  },
  { id: "tiny_llama3", load: () => loadModel({ checkpoint: TINY_PTH, params: TINY_PARAMS }).model, prompt: () => tinyReference().greedyPrompt, shardKiB: 512 },
];

const toDispose: Backend[] = [];
afterAll(() => toDispose.forEach((b) => b.dispose()));

/**
 * A wasm backend. minParallelWork 8192 splits these tiny models' larger products over the threads (LM head,
 * FFN, every prefill product; on tiny_llama3 also Wq/Wo) and runs the others on the main thread, so both
 * paths are checked without paying a thread handoff for every 4096-MAC product.
 */
async function wasm(init: BackendInit, o: WasmBackendOptions = {}) {
  const b = await createWasmBackend(init, { minParallelWork: 8192, ...o });
  toDispose.push(b);
  return b;
}

const initFor = (model: Model, mode: EvalMode): BackendInit => ({
  model,
  kvSeqLen: mode !== "prefill" ? KV_SEQ_LEN : undefined,
  prefillSeqLen: mode !== "kv" ? PREFILL_SEQ_LEN : undefined,
});

/** Greedy generation, every logits row in the order reported (prompt rows, then sampled rows). */
async function greedy(backend: Backend, model: Model, mode: EvalMode, kvUpdater: KvUpdater, prompt: number[]) {
  const rows: Float32Array[] = [];
  const r = await generate({
    backend,
    config: model.config,
    mode,
    kvSeqLen: KV_SEQ_LEN,
    prefillSeqLen: PREFILL_SEQ_LEN,
    kvUpdater,
    promptTokens: prompt,
    stopTokens: [],
    sampler: createSampler({ vocabSize: model.config.vocabSize, temperature: 0, seed: 0n }),
    onPromptLogits: (_pos, row) => rows.push(row.slice()),
    onSampleLogits: (row) => rows.push(row.slice()),
  });
  return { generated: r.generatedTokens, rows };
}

describe.each(models)("$id: wasm vs reference through the parity harness", ({ load, prompt: getPrompt, shardKiB }) => {
  const model = load();
  const prompt = getPrompt();
  const cases = (["kv", "hybrid"] as const).flatMap((mode) => [1, 2].map((threads) => ({ mode, threads })));

  it.each(cases)("$mode, $threads thread(s): 64 steps within fp32 tolerance, same greedy tokens", async ({ mode, threads }) => {
    const init = initFor(model, mode);
    const report = await runParity({
      model,
      reference: createReferenceBackend(init),
      candidate: await wasm(init, { threads }),
      mode,
      kvUpdater: "smart_mask",
      kvSeqLen: KV_SEQ_LEN,
      prefillSeqLen: PREFILL_SEQ_LEN,
      promptTokens: prompt,
      steps: STEPS,
      tolerance: defaultTolerance("wasm"),
    });
    expect(report.tolerance.logitsSqnrDb).toBe(60);
    const db = report.steps.map((s) => s.logits.sqnrDb);
    console.log(`[sqnr] ${model.config.dim}d wasm ${mode} t${threads}: ${db.length} calls, logits min ${Math.min(...db).toFixed(1)} dB, K/V min ${Math.min(...report.steps.map((s) => Math.min(s.k.sqnrDb, s.v.sqnrDb))).toFixed(1)} dB`);
    expect(report.steps.filter((s) => s.graph === "kv").length).toBeGreaterThanOrEqual(STEPS - 1);
    for (const s of report.steps) {
      expect(s.logits.sqnrDb, `step ${s.index}`).toBeGreaterThanOrEqual(60);
      expect(s.logits.sqnrDb, `step ${s.index}: bit-identical would mean the reference ran`).toBeLessThan(Infinity);
      expect(s.failures, `step ${s.index}`).toEqual([]);
    }
    expect(report.passed).toBe(true);
    expect(report.firstDivergentStep).toBeNull();
    expect(report.freeRunning!.tokensCandidate).toEqual(report.freeRunning!.tokensReference);
    expect(report.freeRunning!.tokensReference).toHaveLength(STEPS);
    expect(report.freeRunning!.firstTokenMismatch).toBeNull();
  });

  it("greedy rows: SQNR >= 60 dB against the reference; bit-identical on 1 and 2 threads, across kv/hybrid and cache updaters", async () => {
    const ref = await greedy(createReferenceBackend(initFor(model, "hybrid")), model, "hybrid", "smart_mask", prompt);
    const runs = [];
    for (const threads of [1, 2]) runs.push(await greedy(await wasm(initFor(model, "hybrid"), { threads }), model, "hybrid", "smart_mask", prompt));
    runs.push(await greedy(await wasm(initFor(model, "kv"), { threads: 2 }), model, "kv", "shift_pointer", prompt));
    runs.push(await greedy(await wasm(initFor(model, "hybrid"), { threads: 2 }), model, "hybrid", "shift_pointer", prompt));
    expect(ref.generated.length).toBeGreaterThanOrEqual(STEPS);
    for (const r of runs) {
      expect(r.generated).toEqual(ref.generated);
      expect(r.rows.length).toBe(ref.rows.length);
      expect(r.rows).toEqual(runs[0].rows);
    }
    runs[0].rows.forEach((row, i) => expect(sqnrDb(row, ref.rows[i]), `row ${i}`).toBeGreaterThanOrEqual(60));
  });

  it("weights split over several small memory shards give the same bits as one shard", async () => {
    const init = initFor(model, "hybrid");
    const one = await wasm(init, { threads: 2 });
    const many = await wasm(init, { threads: 2, shardBytes: shardKiB * 1024 });
    expect(one.shards).toHaveLength(1);
    expect(many.shards.length).toBeGreaterThan(2);
    for (const s of many.shards) expect(s.bytes).toBeLessThanOrEqual(shardKiB * 1024);
    // every matrix placed once; the tied LM head is the embedding, placed once as "output"
    const names = many.shards.flatMap((s) => s.matrices.map((m) => m.name));
    expect(names).toEqual(one.shards[0].matrices.map((m) => m.name));
    expect(names).toHaveLength(model.config.nLayers * 7 + 1);
    const a = await greedy(one, model, "hybrid", "smart_mask", prompt);
    const b = await greedy(many, model, "hybrid", "smart_mask", prompt);
    expect(b.rows).toEqual(a.rows);
  });

  it("reports every tap of a prefill call, each within 60 dB of the reference's", async () => {
    const init = initFor(model, "hybrid");
    const P = PREFILL_SEQ_LEN - 1;
    const tokens = Int32Array.from({ length: P }, (_, i) => prompt[i % prompt.length]);
    const { causalMask, allocPrefillOutputs } = await import("../../src/engine/graph-io.js");
    const taps = async (b: Backend) => {
      const m = new Map<string, Float32Array>();
      await b.executePrefill({ tokens, attnMask: causalMask(P) }, allocPrefillOutputs(model.config, PREFILL_SEQ_LEN), {
        tap: (layer, name, data) => m.set(`${layer}.${name}`, data.slice()),
      });
      return m;
    };
    const w = await wasm(init, { threads: 2 });
    expect(w.supportsTaps).toBe(true);
    const got = await taps(w);
    const want = await taps(createReferenceBackend(init));
    expect([...got.keys()]).toEqual([...want.keys()]);
    expect(got.size).toBe(model.config.nLayers * 13 + 2);
    for (const [k, r] of want) expect(sqnrDb(got.get(k)!, r), k).toBeGreaterThanOrEqual(60);
  });
});

describe("wasm backend: registry and mistakes", () => {
  const model = loadStories260K();

  it("is created by name with a thread count", async () => {
    const b = await createBackend("wasm", { model, kvSeqLen: 8 }, { threads: 2 });
    toDispose.push(b);
    expect(b.name).toBe("wasm");
    expect((b as { threads?: number }).threads).toBe(2);
  });

  it("refuses a bad thread count and a model too large for a shard with a UserError", async () => {
    for (const threads of [0, -1, 1.5, 1000])
      await expect(createWasmBackend({ model, kvSeqLen: 8 }, { threads })).rejects.toThrow(UserError);
    await expect(createWasmBackend({ model, kvSeqLen: 8 }, { shardBytes: 64 * 1024 })).rejects.toThrow(/weight output .* more than one wasm memory shard/);
  });

  it("throws when a graph it was not built for is run, or after dispose()", async () => {
    const b = await wasm({ model, kvSeqLen: 8, prefillSeqLen: 4 }, { threads: 2 });
    const { allocPrefillOutputs, causalMask } = await import("../../src/engine/graph-io.js");
    const kvOnly = await wasm({ model, kvSeqLen: 8 });
    await expect(kvOnly.executePrefill({ tokens: new Int32Array(3), attnMask: causalMask(3) }, allocPrefillOutputs(model.config, 4))).rejects.toThrow(/without a prefill graph/);
    const inp = { tokens: Int32Array.of(1, 2, 3), attnMask: causalMask(3) };
    await b.executePrefill(inp, allocPrefillOutputs(model.config, 4));
    b.dispose();
    b.dispose();
    await expect(b.executePrefill(inp, allocPrefillOutputs(model.config, 4))).rejects.toThrow(/after dispose/);
  });
});
