// The K cache holds RoPE in the device graph's half-split order (SPEC §2): computed here independently,
// in float64 straight from the checkpoint weights, for layer 0.
import { describe, expect, it } from "vitest";
import { greedyRun } from "../helpers/run.js";
import { loadStories260K, maxAbsDiff } from "../helpers/fixtures.js";
import { applyLlama3Scaling, ropeInvFreq } from "../../src/engine/rope.js";

const model = loadStories260K();
const { dim, headDim: hd, nKvHeads, normEps } = model.config;

/** Layer-0 K of `token` at `pos` for KV head h, float64: [interleaved-rotated, half-split-rotated]. */
function layer0K(token: number, pos: number, h: number): { interleaved: number[]; halfSplit: number[] } {
  const w = model.weights;
  const x = Array.from(w.tokEmbeddings.subarray(token * dim, (token + 1) * dim));
  const ms = x.reduce((s, v) => s + v * v, 0) / dim;
  const a = x.map((v, i) => (v / Math.sqrt(ms + normEps)) * w.layers[0].attnNorm[i]);
  const k = Array.from({ length: hd }, (_, r) => {
    let s = 0;
    for (let j = 0; j < dim; j++) s += w.layers[0].wk[(h * hd + r) * dim + j] * a[j];
    return s;
  });
  const interleaved: number[] = [];
  const even: number[] = [];
  const odd: number[] = [];
  for (let i = 0; i < hd / 2; i++) {
    const ang = pos * Math.pow(10000, (-2 * i) / hd);
    const re = k[2 * i] * Math.cos(ang) - k[2 * i + 1] * Math.sin(ang);
    const im = k[2 * i] * Math.sin(ang) + k[2 * i + 1] * Math.cos(ang);
    interleaved.push(re, im);
    even.push(re);
    odd.push(im);
  }
  return { interleaved, halfSplit: [...even, ...odd] };
}

describe("K cache layout", () => {
  it.each(["smart_mask", "shift_pointer"] as const)("%s stores half-split RoPE'd K", async (kvUpdater) => {
    const prompt = [1, 403, 407, 261, 378];
    let checked = 0;
    await greedyRun(model, { mode: "kv", kvUpdater, kvSeqLen: 8, prefillSeqLen: 2, prompt }, {
      onKvStep: (cache, next) => {
        const p = next - 1; // the position just written
        if (p < 1 || p >= prompt.length) return;
        for (let h = 0; h < nKvHeads; h++) {
          const want = layer0K(prompt[p], p, h);
          const got = cache.readK(0, h, p);
          expect(maxAbsDiff(got, want.halfSplit)).toBeLessThan(1e-5);
          expect(maxAbsDiff(got, want.interleaved)).toBeGreaterThan(1e-3); // the other layout does not match
          checked++;
        }
      },
    });
    expect(checked).toBe(4 * nKvHeads);
  });
});

describe("RoPE frequencies", () => {
  it("inv_freq[k] = theta^(-2k/hd) to fp32 precision", () => {
    const inv = ropeInvFreq(64, 500000, null);
    inv.forEach((f, k) => expect(Math.abs(f - Math.pow(500000, (-2 * k) / 64)) / f).toBeLessThan(2e-7));
  });

  it("Llama-3 scaling (factor 32, low 1, high 4, context 8192): high frequencies kept, low divided, middle blended", () => {
    const s = { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 };
    const base = ropeInvFreq(64, 500000, null);
    const scaled = Float32Array.from(base);
    applyLlama3Scaling(scaled, s);
    base.forEach((f, k) => {
      const wl = (2 * Math.PI) / f;
      let want: number;
      if (wl < 8192 / 4) want = f;
      else if (wl > 8192) want = f / 32;
      else {
        const sm = (8192 / wl - 1) / 3;
        want = (1 - sm) * (f / 32) + sm * f;
      }
      expect(Math.abs(scaled[k] - want) / want).toBeLessThan(2e-7);
    });
    // All three regimes occur for Llama 3.2's shape.
    expect(scaled[0]).toBe(base[0]);
    expect(scaled[31]).toBeCloseTo(base[31] / 32, 12);
    expect(Array.from(base).some((f) => {
      const wl = (2 * Math.PI) / f;
      return wl >= 2048 && wl <= 8192;
    })).toBe(true);
  });
});
