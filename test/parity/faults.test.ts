// Fault injection: each backend of faults.ts carries one known device bug; the parity run must catch it at
// the right graph call and bisect it to the layer and tensor where it first shows. Plus the control: the
// reference against itself is exact in every mode and with both cache mechanisms.
import { describe, expect, it } from "vitest";
import { loadStories260K } from "../helpers/fixtures.js";
import { createReferenceBackend } from "../../src/backends/reference.js";
import type { EvalMode } from "../../src/kvcache/types.js";
import type { KvUpdater } from "../../src/runner/generate.js";
import { runParity, type ParityReport } from "../../src/parity/run-parity.js";
import { applyOverrides, defaultTolerance, type ParityTolerance } from "../../src/parity/tolerances.js";
import { createFaultBackend, f16round, quantize8, type FaultKind } from "./faults.js";

const model = loadStories260K();
const PROMPT = [1, 403, 407, 261, 378]; // n = 5: the first KV step after a prefill reads 5 cached tokens
const KV_SEQ_LEN = 24;
const PREFILL_SEQ_LEN = 12;

async function parity(
  fault: FaultKind | "none",
  mode: EvalMode,
  kvUpdater: KvUpdater,
  tolerance: ParityTolerance = defaultTolerance("fault"),
  steps = 5,
): Promise<ParityReport> {
  const init = { model, kvSeqLen: mode !== "prefill" ? KV_SEQ_LEN : undefined, prefillSeqLen: mode !== "kv" ? PREFILL_SEQ_LEN : undefined };
  const candidate = fault === "none" ? createReferenceBackend(init) : createFaultBackend(fault, init);
  return runParity({
    model,
    reference: createReferenceBackend(init),
    candidate,
    mode,
    kvUpdater,
    kvSeqLen: KV_SEQ_LEN,
    prefillSeqLen: PREFILL_SEQ_LEN,
    promptTokens: PROMPT,
    steps,
    tolerance,
  });
}

/** Every step before the first divergent one passed; that one failed; the bisection ran on it. */
function expectCaught(r: ParityReport, step: number, layer: number, tensor: string) {
  expect(r.passed).toBe(false);
  expect(r.firstDivergentStep).toBe(step);
  expect(r.steps.slice(0, step).every((s) => s.passed)).toBe(true);
  expect(r.steps[step].passed).toBe(false);
  expect(r.steps[step].failures.length).toBeGreaterThan(0);
  expect(r.bisect).toBeDefined();
  expect(r.bisect!.step).toBe(step);
  expect(r.bisect!.belowTolerance).toBe(true);
  expect({ layer: r.bisect!.layer, tensor: r.bisect!.tensor }).toEqual({ layer, tensor });
  // Everything computed before the named tap is exact: the fault enters there.
  const at = r.bisect!.perLayer.findIndex((t) => t.layer === layer && t.tensor === tensor);
  expect(at).toBeGreaterThanOrEqual(0);
  for (const t of r.bisect!.perLayer.slice(0, at)) expect(t.sqnrDb).toBe(Infinity);
}

describe("fault injection", () => {
  it("a. fp16 attention with a -inf mask: first call (the prefill), layer 0 attn", async () => {
    // fp16 rounding costs ~60-75 dB, right at the 60 dB fp32 default; an fp32 backend of this graph agrees to
    // far better than 70 dB, so the test asks for that and the fault shows in the very first call.
    const tight = applyOverrides(defaultTolerance("fault"), { sqnrDb: 70 });
    const r = await parity("fp16_mask_inf", "hybrid", "smart_mask", tight);
    expectCaught(r, 0, 0, "attn");
    expect(r.steps[0].graph).toBe("prefill");
    // With the default tolerance it is still caught (one call later), in the same place.
    const d = await parity("fp16_mask_inf", "hybrid", "smart_mask");
    expect(d.passed).toBe(false);
    expect(d.firstDivergentStep).toBe(1);
    expect([d.bisect!.layer, d.bisect!.tensor]).toEqual([0, "attn"]);
  });

  it("b. input_pos off by one: first KV step, layer 0 q (RoPE at the wrong position)", async () => {
    const r = await parity("input_pos_off_by_one", "hybrid", "smart_mask");
    expectCaught(r, 1, 0, "q");
    expect(r.steps[1].graph).toBe("kv");
    expect(r.steps[0].graph).toBe("prefill");
  });

  it("c. K cache read as [L, hd] instead of [hd, L]: first KV step with >= 2 cached tokens, layer 0 attn", async () => {
    const r = await parity("k_not_transposed", "hybrid", "shift_pointer");
    expectCaught(r, 1, 0, "attn");
    expect(r.steps[1].graph).toBe("kv");
    expect(r.steps[1].position).toBe(PROMPT.length); // 5 cached tokens
  });

  it("d. Smart Mask hand-over without the K re-stride: first KV step after the hand-over, layer 0 attn", async () => {
    const r = await parity("skip_restride", "hybrid", "smart_mask");
    expectCaught(r, 1, 0, "attn");
    expect(r.steps[1].position).toBe(PROMPT.length);
    // Without a prefill there is nothing to re-stride: kv mode is exact.
    const kv = await parity("skip_restride", "kv", "smart_mask");
    expect(kv.passed).toBe(true);
  });

  it("e. K/V caches in 8 bits: the first step that reads a cache, layer 0 attn", async () => {
    // kv mode: step 0 (position 0) sees empty caches, step 1 the first cached token.
    const r = await parity("kv_8bit", "kv", "shift_pointer");
    expectCaught(r, 1, 0, "attn");
    expect(r.steps[1].position).toBe(1);
    // hybrid: the prefill reads no cache; the first KV step does.
    const h = await parity("kv_8bit", "hybrid", "smart_mask");
    expectCaught(h, 1, 0, "attn");
  });

  describe("control: the reference against itself", () => {
    for (const mode of ["hybrid", "kv", "prefill"] as const)
      for (const kvUpdater of ["smart_mask", "shift_pointer"] as const)
        it(`${mode} / ${kvUpdater}: passes with zero difference`, async () => {
          const r = await parity("none", mode, kvUpdater);
          expect(r.passed).toBe(true);
          expect(r.firstDivergentStep).toBeNull();
          expect(r.bisect).toBeUndefined();
          expect(r.steps.length).toBeGreaterThan(0);
          for (const s of r.steps) {
            expect(s.passed).toBe(true);
            expect(s.failures).toEqual([]);
            for (const d of [s.logits, s.k, s.v]) {
              expect(d.maxAbs).toBe(0);
              expect(d.sqnrDb).toBe(Infinity);
              expect(d.nonFinite).toBe(0);
            }
            expect(s.kl).toBe(0);
            expect(s.top1).toBe(true);
            if (s.rows) expect(s.rows.worst.maxAbs).toBe(0);
          }
          expect(r.freeRunning!.firstTokenMismatch).toBeNull();
          expect(r.freeRunning!.tokensCandidate).toEqual(r.freeRunning!.tokensReference);
        });
  });
});

describe("fault helpers", () => {
  it("f16round rounds to half precision", () => {
    expect(f16round(1)).toBe(1);
    expect(f16round(1 + 2 ** -11)).toBe(1); // tie to even
    expect(f16round(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
    expect(f16round(65504)).toBe(65504);
    expect(f16round(70000)).toBe(Infinity);
    expect(f16round(-Infinity)).toBe(-Infinity);
    expect(f16round(2 ** -24)).toBe(2 ** -24); // smallest subnormal
    expect(f16round(0.1)).toBeCloseTo(0.0999755859375, 12);
  });

  it("quantize8 keeps the extremes and zeros", () => {
    const q = quantize8(Float32Array.of(0, 1, -0.5, 0.25));
    expect(q[0]).toBe(0);
    expect(q[1]).toBeCloseTo(1, 6);
    expect(Math.abs(q[2] + 0.5)).toBeLessThan(1 / 127);
    expect(Array.from(quantize8(new Float32Array(3)))).toEqual([0, 0, 0]);
  });
});
