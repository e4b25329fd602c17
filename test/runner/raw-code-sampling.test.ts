// SPEC-2026 §9: the current runner samples a quantized graph's logits as raw integer codes ((float)code, no
// dequantisation). A backend whose logits are uint16 codes (here: the reference's logits put on a uint16 grid,
// handed out dequantized with their encoding, as the qnn backend's fp32 view does) is sampled on the codes by
// default, on the dequantized values with sampleRawCodes false; float logits are never touched.
import { describe, expect, it } from "vitest";
import { createReferenceBackend } from "../../src/backends/reference.js";
import type { Backend, BackendInit } from "../../src/engine/backend.js";
import { generateCurrent } from "../../src/runner/generate.js";
import { rawLogitCodes } from "../../src/runner/current-session.js";
import { createSampler } from "../../src/runner/sampler.js";
import { loadStories260K } from "../helpers/fixtures.js";

const model = loadStories260K();
const V = model.config.vocabSize;
const SCALE = 2 ** -9;
const ZP = 32768;
const CL = 64;
const init: BackendInit = { model, contextLen: CL, arLens: [1, 8] };

/** The reference with its logits put on the uint16 grid of (SCALE, ZP); records every code row it produced. */
function quantizedLogitsBackend(codes: Uint16Array[]): Backend {
  const ref = createReferenceBackend(init);
  return {
    ...ref,
    name: "uint16-logits",
    logitsEncoding: () => ({ scale: SCALE, offset: -ZP }),
    async executeAr(arLen, inp, out, o) {
      await ref.executeAr!(arLen, inp, out, o);
      const q = new Uint16Array(out.logits.length);
      for (let i = 0; i < q.length; i++) {
        q[i] = Math.min(65535, Math.max(0, Math.round(out.logits[i] / SCALE) + ZP));
        out.logits[i] = Math.fround(SCALE * (q[i] - ZP));
      }
      codes.push(q);
    },
  };
}

const prompt = [1, 403, 407, 261, 378, 432, 383, 286, 261];

async function run(backend: Backend, temperature: number, sampleRawCodes?: boolean, onRow?: (row: Float32Array) => void) {
  return generateCurrent({
    backend,
    config: model.config,
    mode: "hybrid",
    contextLen: CL,
    prefillArLen: 8,
    maxSeqLen: 40,
    promptTokens: prompt,
    sampler: createSampler({ vocabSize: V, temperature, seed: 42n }),
    sampleRawCodes,
    onSampleLogits: onRow,
  });
}

describe("raw-code sampling (SPEC-2026 §9)", () => {
  it("rawLogitCodes inverts scale·(code + offset) exactly over the whole uint16 range", () => {
    const codes = Float32Array.from({ length: 65536 }, (_, i) => i);
    const deq = codes.map((q) => Math.fround(SCALE * (q - ZP)));
    expect(rawLogitCodes(deq, { scale: SCALE, offset: -ZP })).toEqual(codes);
  });

  it("the sampler reads the codes the graph produced; sampled with T = 0.8 they give the greedy tokens", async () => {
    const codes: Uint16Array[] = [];
    const rows: Float32Array[] = [];
    const raw = await run(quantizedLogitsBackend(codes), 0.8, undefined, (r) => rows.push(r.slice()));
    // Every sampled row is exactly the codes of the call's sampled logits row (prompt: row (n-1) mod 8; decode: row 0).
    const sampledCodes = [codes[1].subarray(((prompt.length - 1) % 8) * V, ((prompt.length - 1) % 8 + 1) * V), ...codes.slice(2).map((c) => c.subarray(0, V))];
    expect(rows.length).toBe(sampledCodes.length);
    rows.forEach((r, i) => expect(r).toEqual(Float32Array.from(sampledCodes[i])));
    // Effective temperature T·s in logit units: the draw lands on the maximum (SPEC-2026 §9's consequence).
    const greedy = await run(quantizedLogitsBackend([]), 0);
    expect(raw.generatedTokens).toEqual(greedy.generatedTokens);
  });

  it("sampleRawCodes false samples the dequantized values, as the seed runner did", async () => {
    const rows: Float32Array[] = [];
    const deq = await run(quantizedLogitsBackend([]), 0.8, false, (r) => rows.push(r.slice()));
    expect(rows.every((r) => r.every((x) => Math.abs(x) < 100))).toBe(true);
    const raw = await run(quantizedLogitsBackend([]), 0.8);
    expect(deq.generatedTokens).not.toEqual(raw.generatedTokens);
  });

  it("float logits (no encoding) are sampled as they are, whatever the flag", async () => {
    const a = await run(createReferenceBackend(init), 0.8);
    const b = await run(createReferenceBackend(init), 0.8, false);
    expect(a.generatedTokens).toEqual(b.generatedTokens);
  });
});
