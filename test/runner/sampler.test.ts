// The sampler against SPEC §6: xorshift64* values (computed independently with Python integers), argmax
// ties, top-p cut and draw on hand-worked distributions, and RNG use per mode.
import { describe, expect, it } from "vitest";
import { createRng, randomF32, randomU32 } from "../../src/runner/rng.js";
import { argmax, createSampler, sampleTopP, samplerSoftmax } from "../../src/runner/sampler.js";
import { greedyRun } from "../helpers/run.js";
import { loadStories260K } from "../helpers/fixtures.js";

describe("xorshift64*", () => {
  it("matches an independent big-integer implementation", () => {
    // Python: s ^= s>>12; s ^= (s<<25) & M; s ^= s>>27; ((s*0x2545F4914F6CDD1D) & M) >> 32
    const r = createRng(42n);
    expect([1, 2, 3, 4, 5].map(() => randomU32(r))).toEqual([1456360119, 3359763283, 3393612768, 4054632243, 3283045847]);
    const r2 = createRng(0xdeadbeefcafebaben);
    expect([1, 2, 3].map(() => randomU32(r2))).toEqual([2099861439, 637314667, 1873939892]);
    const r3 = createRng(42n);
    expect([1, 2, 3].map(() => randomF32(r3))).toEqual([0.3390852212905884, 0.7822558283805847, 0.790136992931366]);
  });
});

describe("sampling", () => {
  it("argmax: first index wins ties", () => {
    expect(argmax(Float32Array.of(1, 5, 5, 2))).toBe(1);
    expect(argmax(Float32Array.of(-3, -3))).toBe(0);
  });

  it("top-p 0.9 keeps the prefix whose cumulative sum first exceeds 0.9 and draws coin * cumsum from it", () => {
    const p = Float32Array.of(0.05, 0.3, 0.5, 0.15); // sorted: 0.5 (id 2), 0.3 (1), 0.15 (3), 0.05 (0); cum 0.95 at id 3
    expect(sampleTopP(p, 4, 0.9, 0.0)).toBe(2);
    expect(sampleTopP(p, 4, 0.9, 0.5)).toBe(2); // r = 0.475 < 0.5
    expect(sampleTopP(p, 4, 0.9, 0.6)).toBe(1); // r = 0.57
    expect(sampleTopP(p, 4, 0.9, 0.9)).toBe(3); // r = 0.855 >= 0.8
    expect(sampleTopP(p, 4, 0.9, 0.9999)).toBe(3); // id 0 is cut off, never drawn
  });

  it("top-p drops candidates below (1-0.9)/(V-1) and breaks probability ties by ascending id", () => {
    const p = Float32Array.of(0.0001, 0.45, 0.45, 0.0999);
    // cutoff = 0.1/3 drops id 0; ties 0.45/0.45 sort as ids 1, 2; cum 0.9 is not > 0.9, so 0.0999 is added.
    expect(sampleTopP(p, 4, 0.9, 0.3)).toBe(1);
    expect(sampleTopP(p, 4, 0.9, 0.6)).toBe(2);
    expect(sampleTopP(p, 4, 0.9, 0.95)).toBe(3);
  });

  it("softmax in fp32 sums to 1 and temperature multiplies by fp32(1/T)", () => {
    const x = Float32Array.of(1, 2, 3, 4);
    samplerSoftmax(x, 4);
    expect(x.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(x[3] / x[2]).toBeCloseTo(Math.E, 5);
    // T = 0.8 with a seed: reproducible, and different seeds give different draws on a flat distribution.
    const flat = new Float32Array(512);
    const a = createSampler({ vocabSize: 512, temperature: 0.8, seed: 7n });
    const b = createSampler({ vocabSize: 512, temperature: 0.8, seed: 7n });
    const c = createSampler({ vocabSize: 512, temperature: 0.8, seed: 8n });
    const da = Array.from({ length: 8 }, () => a.sample(flat));
    expect(Array.from({ length: 8 }, () => b.sample(flat))).toEqual(da);
    expect(Array.from({ length: 8 }, () => c.sample(flat))).not.toEqual(da);
    expect(flat.every((v) => v === 0)).toBe(true); // the logits row is not modified
  });

  it("greedy sampling consumes no random numbers", () => {
    const s = createSampler({ vocabSize: 4, temperature: 0, seed: 9n });
    s.sample(Float32Array.of(0, 1, 0, 0));
    expect(s.rng.state).toBe(9n);
  });
});

describe("random draws per mode (device quirk: kv mode samples at prompt positions too)", async () => {
  const model = loadStories260K();
  const prompt = [1, 403, 407, 261, 378];
  const draws = async (mode: "kv" | "hybrid" | "prefill") => {
    const sampler = createSampler({ vocabSize: 512, temperature: 0.8, seed: 1234n });
    const r = await greedyRun(model, { mode, kvSeqLen: 20, prefillSeqLen: mode === "prefill" ? 20 : 8, prompt, stops: [] }, { sampler });
    let n = 0;
    const ref = createRng(1234n);
    while (ref.state !== sampler.rng.state && n < 1000) {
      randomU32(ref);
      n++;
    }
    return { n, generated: r.generated.length, finalPos: r.finalPos };
  };

  it("kv mode draws once per step, prompt positions included", async () => {
    const d = await draws("kv");
    expect(d.generated).toBe(20 - prompt.length);
    expect(d.n).toBe(d.finalPos); // one draw per position fed: 0 .. 18
  });

  it("hybrid and prefill modes draw once per generated token", async () => {
    for (const mode of ["hybrid", "prefill"] as const) {
      const d = await draws(mode);
      expect(d.n).toBe(d.generated);
    }
  });

  it("a seeded temperature-0.8 run is repeatable and identical across modes and mechanisms", async () => {
    const run = async (mode: "kv" | "hybrid", kvUpdater: "smart_mask" | "shift_pointer") =>
      (await greedyRun(model, { mode, kvUpdater, kvSeqLen: 40, prefillSeqLen: 8, prompt, stops: [] }, {
        // kv mode burns n-1 draws on the prompt; start hybrid's generator n-1 draws later to line them up.
        sampler: (() => {
          const s = createSampler({ vocabSize: 512, temperature: 0.8, seed: 99n });
          if (mode === "hybrid") for (let i = 0; i < prompt.length - 1; i++) randomU32(s.rng);
          return s;
        })(),
      })).generated;
    const a = await run("kv", "smart_mask");
    expect(await run("kv", "smart_mask")).toEqual(a);
    expect(await run("kv", "shift_pointer")).toEqual(a);
    expect(await run("hybrid", "smart_mask")).toEqual(a);
    expect(await run("hybrid", "shift_pointer")).toEqual(a);
  });
});
