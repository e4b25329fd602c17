// Parity in the current flow (SPEC-2026 §3–5): every AR-N call (prompt chunks, then AR = 1 decode calls) is a
// step; two reference backends agree at every step, the free-running tokens equal a plain greedy generateCurrent
// run, and two planted device bugs of the merged per-layer I/O are caught at the first call where they matter and
// bisected to the right layer and tensor. Golden vectors of the current flow use the AR-N tensor names and replay.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createReferenceBackend } from "../../src/backends/reference.js";
import { createRecordingBackend } from "../../src/backends/recording.js";
import { createReplayBackend } from "../../src/backends/replay.js";
import type { Backend, BackendInit } from "../../src/engine/backend.js";
import type { ArGraphInputs } from "../../src/engine/ar-graph-io.js";
import type { Model } from "../../src/engine/weights.js";
import { loadModel } from "../../src/loaders/index.js";
import { runParity, type CurrentParityOptions } from "../../src/parity/run-parity.js";
import { defaultTolerance } from "../../src/parity/tolerances.js";
import { generateCurrent } from "../../src/runner/generate.js";
import { createSampler } from "../../src/runner/sampler.js";
import { UserError } from "../../src/util/errors.js";
import { loadStories260K } from "../helpers/fixtures.js";
import { TINY_PARAMS, TINY_PTH } from "../helpers/tiny-llama3.js";

const stories = loadStories260K();
const tiny = loadModel({ checkpoint: TINY_PTH, params: TINY_PARAMS }).model;
const MODELS: [string, Model][] = [["stories260K", stories], ["tiny_llama3", tiny]];
const ids = (n: number, V: number) => Array.from({ length: n }, (_, i) => 1 + ((i * 97 + 13) % (V - 1)));

const CL = 48;
const AR = 4;
const initOf = (model: Model, mode: "kv" | "hybrid"): BackendInit => ({ model, contextLen: CL, arLens: mode === "kv" ? [1] : [1, AR] });

function opts(model: Model, mode: "kv" | "hybrid", candidate: Backend, prompt: number[], steps = 6): CurrentParityOptions {
  return {
    flow: "current",
    model,
    reference: createReferenceBackend(initOf(model, mode)),
    candidate,
    mode,
    contextLen: CL,
    prefillArLen: AR,
    maxSeqLen: CL,
    promptTokens: prompt,
    steps,
    tolerance: defaultTolerance("reference", "fp32"),
  };
}

async function greedyTokens(model: Model, mode: "kv" | "hybrid", prompt: number[], steps: number): Promise<number[]> {
  const r = await generateCurrent({
    backend: createReferenceBackend(initOf(model, mode)),
    config: model.config,
    mode,
    contextLen: CL,
    prefillArLen: AR,
    maxSeqLen: prompt.length + steps,
    promptTokens: prompt,
    sampler: createSampler({ vocabSize: model.config.vocabSize, temperature: 0, seed: 0n }),
  });
  return r.generatedTokens;
}

/** A candidate that runs the reference on inputs a buggy runtime would hand it. */
function faulty(model: Model, mode: "kv" | "hybrid", name: string, corrupt: (inp: ArGraphInputs, arLen: number) => ArGraphInputs): Backend {
  const ref = createReferenceBackend(initOf(model, mode));
  return { ...ref, name, executeAr: (arLen, inp, out, o) => ref.executeAr!(arLen, corrupt(inp, arLen), out, o) };
}

describe("parity, current flow", () => {
  for (const [label, model] of MODELS)
    for (const mode of ["kv", "hybrid"] as const)
      it(`${label} ${mode}: reference vs reference passes every AR-N call; free-running tokens are greedy generateCurrent's`, async () => {
        const prompt = ids(7, model.config.vocabSize);
        const steps = 5;
        const r = await runParity(opts(model, mode, createReferenceBackend(initOf(model, mode)), prompt, steps));
        expect(r.passed).toBe(true);
        expect(r.flow).toBe("current");
        expect(r.kvUpdater).toBe("smart_mask");
        // kv: one call per prompt token then steps-1 decode calls; hybrid: ceil(7/4) = 2 chunks then steps-1.
        const promptCalls = mode === "kv" ? 7 : 2;
        expect(r.steps.length).toBe(promptCalls + steps - 1);
        if (mode === "hybrid") {
          expect(r.steps.slice(0, 2).map((s) => [s.graph, s.position, s.rows?.count])).toEqual([["prefill", 3, 4], ["prefill", 6, 3]]);
          expect(r.steps[2].graph).toBe("kv");
        }
        for (const s of r.steps) expect(s.logits.sqnrDb).toBe(Infinity);
        const want = await greedyTokens(model, mode, prompt, steps);
        expect(r.freeRunning!.tokensReference).toEqual(want);
        expect(r.freeRunning!.tokensCandidate).toEqual(want);
        expect(r.freeRunning!.firstTokenMismatch).toBeNull();
      });

  it("a V cache read as [C, H, hd] instead of [H, C, hd] is caught at the first call that reads the cache, layer 0 attention", async () => {
    const model = tiny;
    expect(model.config.nKvHeads).toBeGreaterThan(1);
    const { nKvHeads: H, headDim: hd } = model.config;
    const wrongV = (inp: ArGraphInputs): ArGraphInputs => ({
      ...inp,
      vCaches: inp.vCaches.map((v) => {
        const C = v.length / (H * hd);
        const out = new Float32Array(v.length);
        for (let h = 0; h < H; h++) for (let s = 0; s < C; s++) for (let d = 0; d < hd; d++) out[(h * C + s) * hd + d] = v[(s * H + h) * hd + d];
        return out;
      }),
    });
    const prompt = ids(7, model.config.vocabSize);
    const r = await runParity(opts(model, "hybrid", faulty(model, "hybrid", "fault:v_layout", wrongV), prompt));
    expect(r.passed).toBe(false);
    // Chunk 0 reads an empty cache (all slots masked): it passes; chunk 1 reads slots 0..3.
    expect(r.steps[0].passed).toBe(true);
    expect(r.firstDivergentStep).toBe(1);
    expect(r.bisect).toMatchObject({ step: 1, layer: 0, tensor: "attn", belowTolerance: true });
  });

  it("positions off by one are caught at the first call and bisected to layer 0's q", async () => {
    const model = stories;
    const shifted = (inp: ArGraphInputs): ArGraphInputs => ({ ...inp, inputPos: inp.inputPos!.map((p) => Math.min(p + 1, CL - 1)) });
    const r = await runParity(opts(model, "kv", faulty(model, "kv", "fault:pos", shifted), ids(5, model.config.vocabSize)));
    expect(r.firstDivergentStep).toBe(0);
    expect(r.bisect).toMatchObject({ step: 0, layer: 0, tensor: "q" });
  });

  it("a prompt over CL - AR is the user's error, naming both numbers", async () => {
    const model = stories;
    const o = opts(model, "hybrid", createReferenceBackend(initOf(model, "hybrid")), ids(CL - AR + 1, model.config.vocabSize));
    await expect(runParity(o)).rejects.toThrow(UserError);
  });

  describe("golden vectors", () => {
    const dirs: string[] = [];
    afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

    it("record the AR-N calls under their method names and replay them", async () => {
      const model = tiny;
      const dir = mkdtempSync(join(tmpdir(), "lg-cur-gv-"));
      dirs.push(dir);
      const rec = join(dir, "rec");
      const init = initOf(model, "hybrid");
      const prompt = ids(6, model.config.vocabSize);
      const recording = createRecordingBackend(createReferenceBackend(init), rec, init);
      const r = await runParity({ ...opts(model, "hybrid", recording, prompt, 4), freeRunning: false });
      recording.complete();
      expect(r.passed).toBe(true);
      const m = JSON.parse(readFileSync(join(rec, "manifest.json"), "utf8"));
      expect(m.flow).toBe("current");
      expect(Object.keys(m.graphs).sort()).toEqual(["kv_forward", "prefill_forward"]);
      const NL = model.config.nLayers;
      expect(m.graphs.prefill_forward.inputs.map((t: { name: string }) => t.name)).toEqual([
        "tokens", "atten_mask", "input_pos", ...Array.from({ length: 2 * NL }, (_, i) => `args_${i}`),
      ]);
      expect(m.graphs.prefill_forward.inputs[1].shape).toEqual([1, 1, AR, CL]);
      expect(m.calls.map((c: { graph: string }) => c.graph)).toEqual(["prefill_forward", "prefill_forward", "kv_forward", "kv_forward", "kv_forward"]);
      const list = readFileSync(join(rec, "input_list_prefill_forward.txt"), "utf8").trim().split("\n");
      expect(list).toHaveLength(2);
      expect(list[0].startsWith("tokens:=call_0000_prefill_forward/in/tokens.raw atten_mask:=")).toBe(true);

      // Replay: the same run passes against the recording; a seed-flow run is refused by name.
      const replay = createReplayBackend(rec, init);
      const again = await runParity({ ...opts(model, "hybrid", replay, prompt, 4), freeRunning: false });
      expect(again.passed).toBe(true);
      expect(again.steps.every((s) => s.logits.sqnrDb === Infinity)).toBe(true);
      expect(() => createReplayBackend(rec, { model, kvSeqLen: 32 })).toThrow(/current flow/);
      // A different prompt diverges at its first call and says which input.
      const other = createReplayBackend(rec, init);
      await expect(runParity({ ...opts(model, "hybrid", other, ids(6, 50), 4), freeRunning: false })).rejects.toThrow(/diverged from the recording: input tokens/);
    });
  });
});
