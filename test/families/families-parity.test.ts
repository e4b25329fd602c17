// Parity of the families (issue 16) in the current flow: the wasm and onnxruntime backends against the reference, kv
// and hybrid modes, with each family's exported attention defaults (masked softmax, R3; SPEC-2026 §2.2), every AR-N
// call compared and the free-running greedy tokens equal. Gemma3's calls carry the window mask. Also the tfjs backend
// refuses a family with one clear line, and a backend that drops the window mask is caught and bisected.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createReferenceBackend } from "../../src/backends/reference.js";
import { createBackend } from "../../src/backends/registry.js";
import type { Backend, BackendInit } from "../../src/engine/backend.js";
import type { Model } from "../../src/engine/weights.js";
import { loadModel } from "../../src/loaders/index.js";
import { runParity } from "../../src/parity/run-parity.js";
import { defaultTolerance } from "../../src/parity/tolerances.js";
import { FAMILIES, inferFamily } from "../../src/runner/model-family.js";
import { UserError } from "../../src/util/errors.js";

const DIR = new URL("../fixtures/families/", import.meta.url).pathname;
const refs = JSON.parse(readFileSync(join(DIR, "refs.json"), "utf8"));
const NAMES = Object.keys(refs.families);
const load = (name: string): Model =>
  loadModel({ checkpoint: join(DIR, refs.families[name].same_weights_as ?? name, "model.safetensors"), params: join(DIR, name, "config.json") }).model;

const CL = 32;
const AR = 4;
function initOf(model: Model, mode: "kv" | "hybrid"): BackendInit {
  const fam = FAMILIES[inferFamily(model.config)];
  return { model, contextLen: CL, arLens: mode === "kv" ? [1] : [1, AR], attention: { maskedSoftmax: fam.maskedSoftmax, r3: fam.r3 } };
}

async function parity(model: Model, mode: "kv" | "hybrid", candidate: Backend, prompt: number[], steps = 20) {
  return runParity({
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
    tolerance: defaultTolerance(candidate.name.startsWith("onnx") ? "onnxruntime" : "wasm", "fp32"),
  });
}

describe.each(NAMES)("%s: parity of the wasm and onnxruntime backends", (name) => {
  const model = load(name);
  const prompt: number[] = refs.families[name].sequences[0].input_ids;
  for (const backend of ["wasm", "onnxruntime"] as const)
    for (const mode of ["kv", "hybrid"] as const)
      it(`${backend}, ${mode}`, async () => {
        const candidate = await createBackend(backend, initOf(model, mode), { threads: 1 });
        try {
          const r = await parity(model, mode, candidate, prompt);
          expect(r.passed).toBe(true);
          expect(r.freeRunning!.firstTokenMismatch).toBeNull();
          // The calls reach past position 16, Gemma3's window: its sliding layers then mask cache slots.
          expect(r.steps.at(-1)!.position).toBeGreaterThan(16);
        } finally {
          candidate.dispose();
        }
      });
});

describe("families on other backends", () => {
  it("tfjs refuses a family model in one line", async () => {
    const model = load("qwen3");
    let err: unknown;
    try {
      (await createBackend("tfjs", initOf(model, "kv"))).dispose();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe("this model (model_type qwen3) is not supported by the tfjs backend, which runs the Llama architecture only");
  });

  it("a backend that feeds the causal mask to the sliding layers is caught once the window matters", async () => {
    const model = load("gemma3");
    const ref = createReferenceBackend(initOf(model, "kv"));
    const noWindow: Backend = {
      ...ref,
      name: "fault:no_window",
      executeAr: (arLen, inp, out, o) => ref.executeAr!(arLen, { ...inp, windowMask: inp.attnMask }, out, o),
    };
    const prompt: number[] = refs.families.gemma3.sequences[0].input_ids;
    const r = await parity(model, "kv", noWindow, prompt, 20);
    expect(r.passed).toBe(false);
    // The window (16) first excludes a cache slot at position 16: the call there is the first to differ.
    expect(r.steps[r.firstDivergentStep!].position).toBe(16);
    expect(r.bisect).toMatchObject({ layer: 0, tensor: "attn" });
  });
});
