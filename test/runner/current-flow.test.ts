// The current flow's runner (SPEC-2026 §5) on the reference backend: chunked prompts give exactly kv mode's
// next-token logits for every AR and prompt length, prompt logits agree with Hugging Face float64, greedy
// continuations equal the seed flow's, and the §4.6 example's call sequence and positions come out as the spec says.
import { describe, expect, it } from "vitest";
import { createReferenceBackend } from "../../src/backends/reference.js";
import type { Backend } from "../../src/engine/backend.js";
import type { Model } from "../../src/engine/weights.js";
import { loadModel } from "../../src/loaders/index.js";
import { generate, generateCurrent } from "../../src/runner/generate.js";
import { createConversation, createCurrentSession } from "../../src/runner/current-session.js";
import { argmax } from "../../src/runner/sampler.js";
import { buildStats } from "../../src/runner/stats.js";
import { createSampler } from "../../src/runner/sampler.js";
import { bitsEqual, FIXTURES, hfCases, loadStories260K, loadTok512, maxAbsDiff } from "../helpers/fixtures.js";
import { join } from "node:path";
import { loadTokenizer } from "../../src/tokenizer/index.js";
import { assemblePrompt } from "../../src/runner/prompt.js";
import { FAMILIES } from "../../src/runner/model-family.js";
import { TINY_PARAMS, TINY_PTH, tinyReference } from "../helpers/tiny-llama3.js";

const stories = loadStories260K();
const tiny = loadModel({ checkpoint: TINY_PTH, params: TINY_PARAMS }).model; // Meta's factor 32, as the HF reference

function current(model: Model, o: { mode: "kv" | "hybrid"; CL: number; AR: number; maxSeqLen: number; prompt: number[]; stops?: number[] }, backend?: Backend) {
  const rows = new Map<number, Float32Array>();
  const sampled: Float32Array[] = [];
  return generateCurrent({
    backend: backend ?? createReferenceBackend({ model, contextLen: o.CL, arLens: [1, o.AR] }),
    config: model.config,
    mode: o.mode,
    contextLen: o.CL,
    prefillArLen: o.AR,
    maxSeqLen: o.maxSeqLen,
    promptTokens: o.prompt,
    stopTokens: o.stops ?? [],
    sampler: createSampler({ vocabSize: model.config.vocabSize, temperature: 0, seed: 0n }),
    onPromptLogits: (pos, row) => rows.set(pos, row.slice()),
    onSampleLogits: (row) => sampled.push(row.slice()),
  }).then((r) => ({ ...r, rows, sampled }));
}

/** Deterministic prompt ids in [1, V). */
const ids = (n: number, V: number, salt = 7) => Array.from({ length: n }, (_, i) => 1 + ((i * 131 + salt * 17) % (V - 1)));

describe("current flow", () => {
  it("chunked prefill = kv mode: the next-token logits are bit-identical for every AR and prompt length", async () => {
    for (let n = 1; n <= 70; n++) {
      const prompt = ids(n, stories.config.vocabSize);
      const kv = await current(stories, { mode: "kv", CL: 104, AR: 1, maxSeqLen: n + 2, prompt });
      for (const AR of [1, 2, 4, 8, 16, 32]) {
        const hy = await current(stories, { mode: "hybrid", CL: 104, AR, maxSeqLen: n + 2, prompt });
        expect(bitsEqual(hy.sampled[0], kv.sampled[0]), `n=${n} AR=${AR}`).toBe(true);
        expect(hy.generatedTokens).toEqual(kv.generatedTokens);
        for (let p = 0; p < n; p++) expect(bitsEqual(hy.rows.get(p)!, kv.rows.get(p)!), `n=${n} AR=${AR} pos ${p}`).toBe(true);
      }
    }
  });

  it("prompt logits at every position agree with Hugging Face float64 (stories260K, tiny Llama 3.2)", async () => {
    for (const c of hfCases()) {
      const r = await current(stories, { mode: "hybrid", CL: 64, AR: 4, maxSeqLen: c.prompt_tokens.length + 2, prompt: c.prompt_tokens });
      const [T, V] = c.shape;
      for (let t = 0; t < T; t++) expect(maxAbsDiff(r.rows.get(t)!, c.logits.subarray(t * V, (t + 1) * V))).toBeLessThan(1e-4);
    }
    for (const c of tinyReference().cases) {
      const r = await current(tiny, { mode: "hybrid", CL: 64, AR: 8, maxSeqLen: c.tokens.length + 2, prompt: c.tokens });
      const [T, V] = c.shape;
      for (let t = 0; t < T; t++) expect(maxAbsDiff(r.rows.get(t)!, c.logits.subarray(t * V, (t + 1) * V))).toBeLessThan(2e-4);
    }
  });

  it("greedy continuations equal the seed flow's kv mode at the same context (stories260K, tiny Llama 3.2)", async () => {
    for (const [model, prompt] of [
      [stories, [1, 403, 407, 261, 378]],
      [tiny, tinyReference().greedyPrompt],
    ] as const) {
      const seed = await generate({
        backend: createReferenceBackend({ model, kvSeqLen: 48 }),
        config: model.config,
        mode: "kv",
        kvSeqLen: 48,
        prefillSeqLen: 48,
        kvUpdater: "smart_mask",
        promptTokens: [...prompt],
        stopTokens: [],
        sampler: createSampler({ vocabSize: model.config.vocabSize, temperature: 0, seed: 0n }),
      });
      for (const mode of ["kv", "hybrid"] as const) {
        const r = await current(model, { mode, CL: 48, AR: 4, maxSeqLen: 48, prompt: [...prompt] });
        expect(r.generatedTokens).toEqual(seed.generatedTokens);
        expect(r.finalPos).toBe(seed.finalPos);
      }
    }
  });

  it("SPEC-2026 §4.6: CL 16, AR 4, n 6 — two prompt chunks, nine decode steps at positions 6..14, y0 plus nine tokens", async () => {
    const inner = createReferenceBackend({ model: stories, contextLen: 16, arLens: [1, 4] });
    const calls: string[] = [];
    const backend: Backend = {
      ...inner,
      async executeAr(arLen, inputs, outputs, opts) {
        calls.push(`${arLen}:${Array.from(inputs.inputPos!).join(",")}:${Array.from(inputs.tokens).join(",")}`);
        return inner.executeAr!(arLen, inputs, outputs, opts);
      },
    };
    const prompt = [1, 403, 407, 261, 378, 429];
    const r = await current(stories, { mode: "hybrid", CL: 16, AR: 4, maxSeqLen: 16, prompt }, backend);
    expect(calls.slice(0, 2)).toEqual(["4:0,1,2,3:1,403,407,261", "4:4,5,6,7:378,429,407,261"]); // stale rows 2, 3
    expect(calls.slice(2).map((c) => c.split(":")[1])).toEqual(["6", "7", "8", "9", "10", "11", "12", "13", "14"]);
    expect(r.generatedTokens).toHaveLength(10);
    expect(calls[2].split(":")[2]).toBe(String(r.generatedTokens[0]));
    expect(r.finalPos).toBe(15);
    expect(r.stoppedOnToken).toBe(false);
  });

  it("a stop token ends decoding; the prompt's own sample is never checked (quirk)", async () => {
    const prompt = [1, 403, 407];
    const free = await current(stories, { mode: "hybrid", CL: 32, AR: 4, maxSeqLen: 32, prompt });
    const y0 = free.generatedTokens[0];
    const stopAtY0 = await current(stories, { mode: "hybrid", CL: 32, AR: 4, maxSeqLen: 32, prompt, stops: [y0] });
    expect(stopAtY0.generatedTokens.length).toBeGreaterThan(1); // y0 itself does not stop it
    const third = free.generatedTokens[3];
    const stopAtThird = await current(stories, { mode: "hybrid", CL: 32, AR: 4, maxSeqLen: 32, prompt, stops: [third] });
    expect(stopAtThird.stoppedOnToken).toBe(true);
    expect(stopAtThird.generatedTokens[stopAtThird.generatedTokens.length - 1]).toBe(third);
  });

  it("the clock: prompt_eval_end and first_token are stamped right after the last chunk's sample", async () => {
    let c = 0;
    const r = await generateCurrent({
      backend: createReferenceBackend({ model: stories, contextLen: 16, arLens: [1, 4] }),
      config: stories.config,
      mode: "hybrid",
      contextLen: 16,
      prefillArLen: 4,
      maxSeqLen: 16,
      promptTokens: [1, 403, 407, 261, 378, 429],
      stopTokens: [],
      sampler: createSampler({ vocabSize: stories.config.vocabSize, temperature: 0, seed: 0n }),
      now: () => c++,
    });
    // readings: 0 start; 1,2 sampling y0; 3 prompt end; then 2 per decode step (9 steps); last the end.
    expect(r.timings).toEqual({ inferenceStartMs: 0, promptEvalEndMs: 3, firstTokenMs: 3, inferenceEndMs: 22, samplingMs: 10 });
  });

  it("a two-turn conversation equals one prompt holding both turns' ids (the stop token is never fed)", async () => {
    for (const [mode, AR] of [["hybrid", 4], ["hybrid", 8], ["kv", 1]] as const) {
      const CL = 64;
      const p1 = [1, 403, 407, 261, 378];
      const probe = await current(stories, { mode, CL, AR, maxSeqLen: CL, prompt: p1 });
      const stop = probe.generatedTokens[3];
      const conversation = createConversation({ config: stories.config, mode, contextLen: CL, prefillArLen: AR });
      const backend = createReferenceBackend({ model: stories, contextLen: CL, arLens: [1, AR] });
      const opts = (prompt: number[], stops: number[]) => ({
        backend,
        config: stories.config,
        mode,
        contextLen: CL,
        prefillArLen: AR,
        maxSeqLen: CL,
        promptTokens: prompt,
        stopTokens: stops,
        sampler: createSampler({ vocabSize: stories.config.vocabSize, temperature: 0, seed: 0n }),
      });
      const t1 = await generateCurrent(opts(p1, [stop]), conversation);
      expect(t1.stoppedOnToken).toBe(true);
      expect(conversation.pos).toBe(p1.length + t1.generatedTokens.length - 1);
      const p2 = [297, 318, 290]; // no BOS on a later turn
      const sampled2: Float32Array[] = [];
      const t2 = await generateCurrent({ ...opts(p2, []), onSampleLogits: (r) => sampled2.push(r.slice()) }, conversation);
      const single = await current(stories, { mode, CL, AR, maxSeqLen: CL, prompt: [...p1, ...t1.generatedTokens.slice(0, -1), ...p2] });
      expect(t2.generatedTokens).toEqual(single.generatedTokens);
      expect(t2.finalPos).toBe(single.finalPos);
      expect(t2.startPos).toBe(p1.length + t1.generatedTokens.length - 1);
      // The turn's statistics count its own tokens: the same generated count as the single prompt's.
      expect(buildStats(t2, 0, 0).generated_tokens).toBe(buildStats(single, 0, 0).generated_tokens);
      expect(buildStats(t2, 0, 0).prompt_tokens).toBe(p2.length);
      expect(bitsEqual(sampled2[0], single.sampled[0])).toBe(true);
    }
  });

  it("after hybrid's switch to decode (rearrange_cache) the cache holds kv mode's K and V, slot for slot, bit for bit", async () => {
    for (const [label, model] of [["stories260K", stories], ["tiny Llama 3.2", tiny]] as const) {
      const CL = 48;
      const { nLayers, nKvHeads } = model.config;
      for (const n of [1, 5, 9, 16, 23]) {
        const prompt = ids(n, model.config.vocabSize, 3);
        const after = async (mode: "kv" | "hybrid", AR: number) => {
          const o = { config: model.config, mode, contextLen: CL, prefillArLen: AR };
          const conversation = createConversation(o);
          const s = createCurrentSession(
            { ...o, backend: createReferenceBackend({ model, contextLen: CL, arLens: [1, AR] }), maxSeqLen: CL, promptTokens: prompt },
            conversation,
          );
          while (s.phase === "prompt") s.advance(argmax((await s.call()).row));
          expect(s.phase).toBe("decode");
          expect(conversation.kv.curAr()).toBe(1); // the decode stride
          return conversation.kv;
        };
        const kv = await after("kv", 1);
        for (const AR of [2, 4, 8, 16]) {
          const hy = await after("hybrid", AR);
          for (let l = 0; l < nLayers; l++)
            for (let h = 0; h < nKvHeads; h++)
              for (let slot = 0; slot < n; slot++) {
                const where = `${label} n=${n} AR=${AR} layer ${l} head ${h} slot ${slot}`;
                expect(bitsEqual(hy.readK(l, h, slot), kv.readK(l, h, slot)), where).toBe(true);
                expect(bitsEqual(hy.readV(l, h, slot), kv.readV(l, h, slot)), where).toBe(true);
              }
        }
      }
    }
  });

  it("later turns have no BOS and get the chat template again (Llama 3), or the prompt verbatim (stories)", async () => {
    const tok = await loadTokenizer(join(FIXTURES, "tiktoken_small.model"));
    const base = { tokenizer: tok, prompt: "hi", systemPrompt: "Be brief.", foldVocab: false, vocabSize: 1 << 20 };
    const first = assemblePrompt({ ...base, family: FAMILIES.llama3_2 });
    const later = assemblePrompt({ ...base, family: FAMILIES.llama3_2, bos: false });
    expect(first.ids[0]).toBe(tok.bosId);
    expect(later.ids).toEqual(first.ids.slice(1));
    expect(later.text).toBe(first.text.replace("<|begin_of_text|>", ""));
    expect(later.text).toContain("<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"); // repeated every turn
    const s1 = assemblePrompt({ ...base, tokenizer: loadTok512(), family: FAMILIES.stories260k, systemPrompt: undefined, vocabSize: 512 });
    const s2 = assemblePrompt({ ...base, tokenizer: loadTok512(), family: FAMILIES.stories260k, systemPrompt: undefined, vocabSize: 512, bos: false });
    expect(s1.ids[0]).toBe(1);
    expect(s2.ids).toEqual(s1.ids.slice(1));
  });
});
