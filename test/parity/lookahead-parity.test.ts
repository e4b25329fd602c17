// Parity in lookahead mode (SPEC-2026 §6): every lookahead call is a graph call that parity compares and bisects like
// any other. Reference against reference passes every call and free-runs to greedy's tokens; a candidate that behaves
// like the upstream runner bug — only the first head's V cache updated in lookahead mode — is caught at the first call
// that reads a slot a lookahead step wrote, and bisected to layer 0's attention.
import { describe, expect, it } from "vitest";
import { createReferenceBackend } from "../../src/backends/reference.js";
import type { Backend, BackendInit } from "../../src/engine/backend.js";
import type { Model } from "../../src/engine/weights.js";
import { loadModel } from "../../src/loaders/index.js";
import { runParity, type CurrentParityOptions } from "../../src/parity/run-parity.js";
import { defaultTolerance } from "../../src/parity/tolerances.js";
import { generateCurrent } from "../../src/runner/generate.js";
import { lookaheadArLen, type LookaheadParams } from "../../src/runner/lookahead.js";
import { createSampler } from "../../src/runner/sampler.js";
import { TINY_PARAMS, TINY_PTH } from "../helpers/tiny-llama3.js";

const model: Model = loadModel({ checkpoint: TINY_PTH, params: TINY_PARAMS }).model;
const CL = 64;
const AR = 4; // the prompt graph's AR differs from the lookahead graph's (8), so a backend can tell the calls apart
const LA: LookaheadParams & { seed: number } = { ngram: 3, window: 2, gcap: 2, semantics: "qnn", seed: 1 };
const ARL = lookaheadArLen(LA);
const init: BackendInit = { model, contextLen: CL, arLens: [ARL, AR] };
const prompt = [1, 17, 230, 45, 99, 301, 7];

const opts = (candidate: Backend, steps = 12): CurrentParityOptions => ({
  flow: "current",
  model,
  reference: createReferenceBackend(init),
  candidate,
  mode: "lookahead",
  contextLen: CL,
  prefillArLen: AR,
  maxSeqLen: 40,
  promptTokens: prompt,
  steps,
  tolerance: defaultTolerance("reference", "fp32"),
  lookahead: LA,
});

/** The upstream bug: in lookahead calls only KV head 0's V cache is updated; the other heads keep what they held at the first one. */
function onlyFirstHeadV(): Backend {
  const ref = createReferenceBackend(init);
  const { nKvHeads: H, headDim: hd } = model.config;
  let shadow: Float32Array[] | undefined;
  return {
    ...ref,
    name: "fault:lookahead_v_head0",
    executeAr: (arLen, inp, out, o) => {
      if (arLen !== ARL) return ref.executeAr!(arLen, inp, out, o);
      if (!shadow) shadow = inp.vCaches.map((v) => v.slice());
      const C = inp.vCaches[0].length / (H * hd);
      shadow.forEach((v, l) => v.set(inp.vCaches[l].subarray(0, C * hd), 0)); // head 0: [0, C·hd)
      return ref.executeAr!(arLen, { ...inp, vCaches: shadow.map((v) => v.slice()) }, out, o);
    },
  };
}

describe("parity, lookahead mode", () => {
  it("reference vs reference: every lookahead call compared and passing; free-running tokens are greedy's", async () => {
    expect(model.config.nKvHeads).toBeGreaterThan(1);
    const r = await runParity(opts(createReferenceBackend(init)));
    expect(r.passed).toBe(true);
    expect(r.mode).toBe("lookahead");
    // Two prompt chunks (7 tokens, AR 4), then lookahead calls of AR 8 (each compared over all its rows).
    expect(r.steps.slice(0, 2).map((s) => s.graph)).toEqual(["prefill", "prefill"]);
    expect(r.steps.length).toBeGreaterThan(3);
    expect(r.steps.slice(2).every((s) => s.graph === "kv" && s.rows?.count === ARL)).toBe(true);
    const greedy = await generateCurrent({
      backend: createReferenceBackend({ model, contextLen: CL, arLens: [1, AR] }),
      config: model.config,
      mode: "hybrid",
      contextLen: CL,
      prefillArLen: AR,
      maxSeqLen: 40,
      promptTokens: prompt,
      sampler: createSampler({ vocabSize: model.config.vocabSize, temperature: 0, seed: 0n }),
    });
    const n = r.freeRunning!.tokensReference.length;
    expect(r.freeRunning!.tokensReference).toEqual(greedy.generatedTokens.slice(0, n));
    expect(r.freeRunning!.tokensCandidate).toEqual(r.freeRunning!.tokensReference);
  });

  it("a runner that updates only the first head's V cache in lookahead mode is caught at the first call that reads it, layer 0 attention", async () => {
    const r = await runParity(opts(onlyFirstHeadV()));
    expect(r.passed).toBe(false);
    // Steps 0-1: the prompt chunks; step 2: the first lookahead call reads only the prompt's cache (all heads right);
    // step 3 reads the slot step 2 wrote, whose V is stale for heads >= 1.
    expect(r.steps.slice(0, 3).map((s) => s.passed)).toEqual([true, true, true]);
    expect(r.firstDivergentStep).toBe(3);
    expect(r.bisect).toMatchObject({ step: 3, layer: 0, tensor: "attn" });
  });
});
