// The tfjs backend's AR-N graphs of the current flow (SPEC-2026 §3, §8; the WebAssembly engine here) against the
// reference arForward: on stories260K and tiny_llama3, CL 32 and AR 1, 4, 32 (C = 0: the calibration graph, no
// input_pos), seeded random caches behind arCausalMask with some past (and a "soft" mask whose blocked entries are
// small non-zero values, which tells the additive mask from the §8.1 substitution), masked softmax and R3 on and
// off — the reference's graph specs, logits and K/V within 60 dB, top-1 equal on every row; the options and the
// caches change what is compared; the §8.1 fill value where it decides the output; taps within 60 dB (q and k
// before R3); outputs aliasing inputs; no tensor left behind; greedy chunked generation (generateCurrent) giving
// the reference's tokens in kv and hybrid modes; the AR lengths it was built for and the checks of a call's tensors.
import { afterAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import { createReferenceBackend } from "../../src/backends/reference.js";
import { createTfjsBackend } from "../../src/backends/tfjs.js";
import { arForward, createArGraph } from "../../src/engine/ar-graph.js";
import { allocArOutputs, arCausalMask, type ArGraphInputs, type ArGraphOutputs } from "../../src/engine/ar-graph-io.js";
import type { Backend, BackendInit } from "../../src/engine/backend.js";
import type { TapFn } from "../../src/engine/decoder.js";
import { isPowerOfTwo } from "../../src/engine/hadamard.js";
import { generateCurrent } from "../../src/runner/generate.js";
import { loadStories260K } from "../helpers/fixtures.js";
import { sqnrDb } from "../helpers/sqnr.js";
import { AR_MODELS, argmax, attentionVariants, CL, concat, randomInputs, sameBits, expectNearReference, fillValueInputs, greedyCurrent } from "../helpers/ar-backend-cases.js";

const AR_LENS = [1, 4, 32] as const;

const models = AR_MODELS;

const toDispose: Backend[] = [];
afterAll(() => toDispose.forEach((b) => b.dispose()));

async function tfjs(init: BackendInit): Promise<Backend> {
  const b = await createTfjsBackend({ ...init, engine: "wasm" });
  toDispose.push(b);
  return b;
}


/** Lowest figures seen per model, printed at the end (the report quotes them). */
const lowest = new Map<string, { logits: number; kv: number; taps: number; fill: number }>();
afterAll(() => {
  for (const [id, m] of lowest)
    console.log(
      `[sqnr] tfjs-wasm AR-N ${id}: logits min ${m.logits.toFixed(1)} dB, K/V min ${m.kv.toFixed(1)} dB, taps min ${m.taps.toFixed(1)} dB, §8.1 fill attn min ${m.fill.toFixed(1)} dB`,
    );
});

describe.each(models)("$id: tfjs (wasm) AR-N graphs vs arForward", ({ id, load, prompt: getPrompt }) => {
  const model = load();
  const c = model.config;
  const V = c.vocabSize;
  const low = { logits: Infinity, kv: Infinity, taps: Infinity, fill: Infinity };
  lowest.set(id, low);

  it("has a power-of-two head_dim, so every R3 case below runs", () => {
    expect(isPowerOfTwo(c.headDim)).toBe(true);
    expect(attentionVariants(c.headDim)).toHaveLength(4);
  });

  it.each(attentionVariants(c.headDim))(
    "masked softmax $maskedSoftmax, R3 $r3: the reference's specs; CL 32, AR 1/4/32 within 60 dB, top-1 equal",
    async (attention) => {
      const init: BackendInit = { model, contextLen: CL, arLens: AR_LENS, attention };
      const b = await tfjs(init);
      expect(b.graphs.ar).toEqual(createReferenceBackend(init).graphs.ar);
      expect(b.graphs.ar!.map((s) => [s.name, s.arLen])).toEqual([["kv_forward", 1], ["prefill_forward", 4], ["calibrate", 32]]);
      for (const AR of AR_LENS)
        for (const kind of ["causal", "soft"] as const) {
          const what = `AR ${AR}, ${kind} mask`;
          const inp = randomInputs(c, AR, kind, 1000 * AR + (kind === "soft" ? 1 : 0));
          const ref = arForward(createArGraph(model, { contextLen: CL, arLen: AR, ...attention }), inp);
          const got = allocArOutputs(c, CL, AR);
          await b.executeAr!(AR, inp, got);
          expectNearReference(got, ref, c, AR, what, low);
        }
    },
  );

  it("the options and the caches change the results the test compares (the checks above can fail)", async () => {
    const AR = 4;
    const inp = randomInputs(c, AR, "soft", 7);
    const run = (o: { maskedSoftmax?: boolean; r3?: boolean }, x: ArGraphInputs = inp) =>
      arForward(createArGraph(model, { contextLen: CL, arLen: AR, ...o }), x);
    const plain = run({});
    const b = await tfjs({ model, contextLen: CL, arLens: [AR], attention: { maskedSoftmax: true, r3: true } });
    const got = allocArOutputs(c, CL, AR);
    await b.executeAr!(AR, inp, got);
    // Against the reference without the options, the masked softmax's logits and R3's K outputs are far off.
    expect(sqnrDb(got.logits, plain.logits)).toBeLessThan(30);
    expect(sqnrDb(concat(got.kOut), concat(plain.kOut))).toBeLessThan(10);
    expect(sqnrDb(got.logits, run({ maskedSoftmax: true, r3: true }).logits)).toBeGreaterThanOrEqual(60);
    // The attended cache slots are read: other cache contents give other logits (the reference agrees).
    const other = { ...inp, kCaches: inp.kCaches.map((k) => k.map((x) => -x)), vCaches: inp.vCaches.map((v) => v.map((x) => x * 0.5)) };
    const got2 = allocArOutputs(c, CL, AR);
    await b.executeAr!(AR, other, got2);
    expect(sqnrDb(got2.logits, got.logits)).toBeLessThan(30);
    expect(sqnrDb(got2.logits, run({ maskedSoftmax: true, r3: true }, other).logits)).toBeGreaterThanOrEqual(60);
  });

  it("§8.1 fill value: when the one attended slot holds V = 0, attention is the masked columns' e^(min-20-max) weight alone", async () => {
    // Every row attends cache slot 0 only; slot 0's values are 0 and every other slot's ±1000 in every layer, so
    // each layer's `attn` is made of the masked columns' weights alone (0 with the additive mask) and any other
    // fill value, or a row minimum over the wrong columns, moves it by a factor e^Δ.
    const AR = 4;
    const inp = fillValueInputs(c, AR);
    const attnTaps = async (run: (tap: TapFn) => Promise<unknown> | unknown) => {
      const m: Float32Array[] = [];
      await run((_layer, name, data) => void (name === "attn" && m.push(data.slice())));
      return m;
    };
    const b = await tfjs({ model, contextLen: CL, arLens: [AR], attention: { maskedSoftmax: true } });
    const got = await attnTaps((tap) => b.executeAr!(AR, inp, allocArOutputs(c, CL, AR), { tap }));
    const want = await attnTaps((tap) => arForward(createArGraph(model, { contextLen: CL, arLen: AR, maskedSoftmax: true }), inp, undefined, tap));
    const additive = await attnTaps((tap) => arForward(createArGraph(model, { contextLen: CL, arLen: AR }), inp, undefined, tap));
    expect(got).toHaveLength(c.nLayers);
    additive.forEach((a) => expect(a.every((x) => x === 0)).toBe(true));
    got.forEach((a, l) => {
      expect(a.some((x) => x !== 0), `layer ${l}`).toBe(true);
      const s = sqnrDb(a, want[l]);
      expect(s, `layer ${l}`).toBeGreaterThanOrEqual(50);
      low.fill = Math.min(low.fill, s);
    });
  });

  it("reports the reference's taps (each within 60 dB; q and k before R3) on AR 4 and AR 32 calls with both options", async () => {
    const attention = { maskedSoftmax: true, r3: isPowerOfTwo(c.headDim) };
    const b = await tfjs({ model, contextLen: CL, arLens: [4, CL], attention });
    expect(b.supportsTaps).toBe(true);
    const collect = async (run: (tap: TapFn) => Promise<void> | void) => {
      const m = new Map<string, Float32Array>();
      await run((layer, name, data) => m.set(`${layer}.${name}`, data.slice()));
      return m;
    };
    for (const AR of [4, CL]) {
      const inp = randomInputs(c, AR, "causal", 11 + AR);
      const got = await collect((tap) => b.executeAr!(AR, inp, allocArOutputs(c, CL, AR), { tap }));
      const want = await collect((tap) => void arForward(createArGraph(model, { contextLen: CL, arLen: AR, ...attention }), inp, undefined, tap));
      expect([...got.keys()], `AR ${AR} tap order`).toEqual([...want.keys()]);
      expect(got.size).toBe(c.nLayers * 13 + 2);
      for (const [k, r] of want) {
        expect(got.get(k)!.length, `AR ${AR} ${k} length`).toBe(r.length);
        const s = sqnrDb(got.get(k)!, r);
        expect(s, `AR ${AR} tap ${k}`).toBeGreaterThanOrEqual(60);
        low.taps = Math.min(low.taps, s);
      }
    }
  });

  it("outputs may alias the inputs (AR 16 = C: new K/V written over the caches they were computed from); no tensor is left behind", async () => {
    const AR = 16;
    const b = await tfjs({ model, contextLen: CL, arLens: [AR], attention: { maskedSoftmax: true, r3: true } });
    const inp = randomInputs(c, AR, "causal", 21);
    const separate = allocArOutputs(c, CL, AR);
    const before = tf.memory().numTensors;
    await b.executeAr!(AR, inp, separate, { tap: () => {} });
    expect(tf.memory().numTensors).toBe(before);
    const aliased: ArGraphOutputs = { logits: new Float32Array(AR * V), kOut: inp.kCaches, vOut: inp.vCaches };
    await b.executeAr!(AR, inp, aliased);
    expect(tf.memory().numTensors).toBe(before);
    expect(sameBits(aliased, separate)).toBe(true);
  });

  it.each([{ maskedSoftmax: false, r3: false }, { maskedSoftmax: true, r3: isPowerOfTwo(c.headDim) }])(
    "greedy chunked generation (masked softmax $maskedSoftmax, R3 $r3) gives the reference's tokens in kv and hybrid modes",
    async (attention) => {
      const prompt = getPrompt();
      const AR = 4;
      for (const mode of ["kv", "hybrid"] as const) {
        const init: BackendInit = { model, contextLen: CL, arLens: [1, AR], attention };
        const gen = (backend: Backend) => greedyCurrent(backend, c, mode, AR, prompt);
        const ref = await gen(createReferenceBackend(init));
        const tb = await tfjs(init);
        let calls = 0;
        const counted: Backend = {
          ...tb,
          async executeAr(arLen, inputs, outputs, opts) {
            calls += 1;
            return tb.executeAr!(arLen, inputs, outputs, opts);
          },
        };
        const got = await gen(counted);
        expect(calls, `${mode}: tfjs ran the calls`).toBeGreaterThan(CL - prompt.length - 1);
        expect(ref.generatedTokens.length).toBe(CL - prompt.length);
        expect(got.generatedTokens, mode).toEqual(ref.generatedTokens);
        expect(got.finalPos).toBe(ref.finalPos);
      }
    },
  );
});

describe("tfjs (wasm) AR-N graphs: what it was built for", () => {
  const model = loadStories260K();
  const c = model.config;

  it("runs only the AR lengths it was built for (default [1] with contextLen; none without)", async () => {
    const b = await tfjs({ model, contextLen: CL, arLens: [1, 4] });
    expect(b.graphs.ar?.map((s) => [s.name, s.arLen])).toEqual([["kv_forward", 1], ["prefill_forward", 4]]);
    await expect(b.executeAr!(8, randomInputs(c, 8, "causal", 1), allocArOutputs(c, CL, 8))).rejects.toThrow(
      /tfjs backend: built without an AR-N graph of 8 rows \(built: 1, 4\)/,
    );
    const dflt = await tfjs({ model, contextLen: CL });
    expect(dflt.graphs.ar?.map((s) => s.arLen)).toEqual([1]);
    const none = await tfjs({ model, kvSeqLen: 8 });
    expect(none.graphs.ar).toBeUndefined();
    await expect(none.executeAr!(1, randomInputs(c, 1, "causal", 1), allocArOutputs(c, CL, 1))).rejects.toThrow(/without an AR-N graph/);
    await expect(createTfjsBackend({ model, contextLen: CL, arLens: [CL + 1], engine: "wasm" })).rejects.toThrow(/ar_len must be an integer in \[1, 32\]/);
  });

  it("checks a call's tensors like arForward", async () => {
    const b = await tfjs({ model, contextLen: CL, arLens: [4] });
    const inp = randomInputs(c, 4, "causal", 3);
    await expect(b.executeAr!(4, { ...inp, inputPos: undefined }, allocArOutputs(c, CL, 4))).rejects.toThrow(/input_pos is required/);
    await expect(b.executeAr!(4, { ...inp, attnMask: new Float32Array(3) }, allocArOutputs(c, CL, 4))).rejects.toThrow(/atten_mask has 3 elements/);
    await expect(b.executeAr!(4, { ...inp, inputPos: Int32Array.of(30, 31, 32, 33) }, allocArOutputs(c, CL, 4))).rejects.toThrow(/input_pos 32 at row 2/);
  });

  it("the seed graphs still run next to the AR-N graphs, and dispose() releases every tensor", async () => {
    const base = tf.memory().numTensors;
    const b = await createTfjsBackend({ model, kvSeqLen: 8, contextLen: CL, arLens: [1, 4], attention: { r3: true }, engine: "wasm" });
    expect(b.graphs.kv).toBeDefined();
    expect(tf.memory().numTensors).toBeGreaterThan(base);
    b.dispose();
    expect(tf.memory().numTensors).toBe(base);
  });
});
