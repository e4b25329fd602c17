// Calibration (SPEC §7): a deterministic greedy fp32 run over the KV graph, and in hybrid the prefill graph's
// outputs forced onto the KV graph's encodings; plus the quantized prefill graph's bytes against the KV graph's.
import { describe, expect, it } from "vitest";
import { calibrate, tapKey, type QuantEncodings } from "../../src/quant/calibrate.js";
import { quantCausalMask, quantKvForward, quantPrefillForward } from "../../src/quant/qgraph.js";
import { LAYER_TAPS } from "../../src/engine/decoder.js";
import { llama2cCases, loadStories260K } from "../helpers/fixtures.js";

const model = loadStories260K();
const c = model.config;
const PROMPT = [1, 403, 407, 261, 378];
const fixture = llama2cCases().find((x) => x.id === "once_upon_n64")!;
const opts = { kvSeqLen: 40, prefillSeqLen: 16, promptTokens: PROMPT };

/** Everything but the Maps' identity, in a deep-comparable form. */
const plain = (q: QuantEncodings) => ({ ...q, activations: [...q.activations], prefill: q.prefill && { ...q.prefill, activations: [...q.prefill.activations] } });

describe("calibrate (16a4w, hybrid, stories260K)", () => {
  const a = calibrate(model, "16a4w", opts);

  it("is deterministic: the same input gives identical encodings and weight codes", () => {
    const b = calibrate(model, "16a4w", opts);
    expect(b).not.toBe(a);
    expect(plain(b)).toEqual(plain(a));
  });

  it("calibrates on the fp32 greedy run: prompt, then run.c's greedy tokens until the cache is full", () => {
    // kv_seq_len 40 -> L = 39 positions fed: 5 prompt tokens + 34 generated (no EOS before that).
    expect(a.calibrationTokens).toEqual([...PROMPT, ...fixture.generated_tokens.slice(0, 34)]);
  });

  it("has an encoding for every activation tap, 16-bit affine; K/V 8-bit symmetric zp 128 per (layer, KV head)", () => {
    const keys = [tapKey(-1, "embedding"), tapKey(c.nLayers, "final_norm")];
    for (let l = 0; l < c.nLayers; l++) for (const t of LAYER_TAPS) if (t !== "k" && t !== "v") keys.push(tapKey(l, t));
    expect([...a.activations.keys()].sort()).toEqual(keys.sort());
    for (const [k, e] of a.activations) {
      expect(e.bitwidth, k).toBe(16);
      expect(e.symmetric, k).toBe(false);
    }
    expect(a.activations.get(tapKey(-1, "embedding"))).toEqual(a.weights.tokEmbeddings.encoding);
    expect(a.kv.k).toHaveLength(c.nLayers * c.nKvHeads);
    expect(a.kv.v).toHaveLength(c.nLayers * c.nKvHeads);
    for (const e of [...a.kv.k, ...a.kv.v]) expect([e.bitwidth, e.zeroPoint, e.qmax, e.symmetric]).toEqual([8, 128, 255, true]);
    expect([a.logits.bitwidth, a.logits.qmax]).toEqual([16, 65535]);
  });

  it("forces the prefill graph's outputs (logits, K, V) onto the KV graph's encodings", () => {
    const p = a.prefill!;
    expect(p.kv.k).toEqual(a.kv.k);
    expect(p.kv.v).toEqual(a.kv.v);
    expect(p.logits).toEqual(a.logits);
    // The forcing is not vacuous: calibrated on its own (the padded prompt only), the prefill graph's outputs
    // would have got other encodings.
    expect(p.observedOutputs.logits).not.toEqual(a.logits);
    expect(p.observedOutputs.kv.k.filter((e, i) => e.scale !== a.kv.k[i].scale).length).toBeGreaterThan(0);
    // Its activations keep their own encodings, same keys as the KV graph's.
    expect([...p.activations.keys()]).toEqual([...a.activations.keys()]);
    expect([...p.activations].some(([k, e]) => e.scale !== a.activations.get(k)!.scale)).toBe(true);
  });

  it("the quantized prefill graph's K/V bytes of the prompt are close to the quantized KV graph's", () => {
    const P = opts.prefillSeqLen - 1;
    const n = PROMPT.length;
    const NH = c.nLayers * c.nKvHeads;
    const hd = c.headDim;
    const tokens = new Int32Array(P);
    PROMPT.forEach((t, i) => (tokens[i] = t));
    const pout = {
      logits: new Uint16Array(P * c.vocabSize),
      kOut: Array.from({ length: NH }, () => new Uint8Array(hd * P)),
      vOut: Array.from({ length: NH }, () => new Uint8Array(P * hd)),
    };
    quantPrefillForward(model, a, opts.prefillSeqLen, { tokens, attnMask: quantCausalMask(P) }, pout);

    // The quantized KV graph, teacher-forced over the prompt with plain caches (slot p = position p).
    const L = opts.kvSeqLen - 1;
    const kC = Array.from({ length: NH }, () => new Uint8Array(hd * L));
    const vC = Array.from({ length: NH }, () => new Uint8Array(L * hd));
    const mask = new Uint16Array(L + 1);
    mask[L] = 65535;
    const out = { logits: new Uint16Array(c.vocabSize), kOut: Array.from({ length: NH }, () => new Uint8Array(hd)), vOut: Array.from({ length: NH }, () => new Uint8Array(hd)) };
    let maxDiff = 0;
    let differing = 0;
    for (let pos = 0; pos < n; pos++) {
      quantKvForward(model, a, opts.kvSeqLen, { tokens: Int32Array.of(PROMPT[pos]), attnMask: mask, inputPos: Int32Array.of(pos), kCaches: kC, vCaches: vC }, out);
      for (let i = 0; i < NH; i++)
        for (let d = 0; d < hd; d++) {
          kC[i][d * L + pos] = out.kOut[i][d];
          vC[i][pos * hd + d] = out.vOut[i][d];
          for (const diff of [out.kOut[i][d] - pout.kOut[i][d * P + pos], out.vOut[i][d] - pout.vOut[i][pos * hd + d]]) {
            maxDiff = Math.max(maxDiff, Math.abs(diff));
            if (diff !== 0) differing++;
          }
        }
      mask[pos] = 65535;
    }
    // Same encodings at the boundary, different internal activation encodings and empty-slot contents (the
    // KV graph reads zero-byte slots behind the mask; see qgraph.test.ts), so the bytes are close, not equal.
    console.log(`prefill vs KV graph K/V bytes over the prompt: ${differing}/${n * NH * hd * 2} differ, max |diff| ${maxDiff} codes`);
    expect(maxDiff).toBeLessThanOrEqual(MEASURED_PREFILL_KV_MAX_DIFF);
    // Row n-1 of the prefill logits picks the same next token as the KV graph at position n-1.
    const row = pout.logits.subarray((n - 1) * c.vocabSize, n * c.vocabSize);
    let best = 0;
    for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
    let bestKv = 0;
    for (let i = 1; i < out.logits.length; i++) if (out.logits[i] > out.logits[bestKv]) bestKv = i;
    expect(best).toBe(bestKv);
    expect(best).toBe(fixture.generated_tokens[0]);
  });
});

// Measured: 314 of 1600 bytes differ, max 13 codes (the largest at layers >= 2 from position 3 on, where the
// KV graph's zero-byte empty slots leak through the mask; the prefill graph has no empty slots).
const MEASURED_PREFILL_KV_MAX_DIFF = 13;
