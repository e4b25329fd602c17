// The wasm backend's AR-N graphs of the current flow (SPEC-2026 §3, §8) against the reference arForward: on
// stories260K and tiny_llama3, CL 32 and AR 1, 4, 32 (C = 0), seeded random caches behind a causal mask with some
// past (and a "soft" mask whose blocked entries are small non-zero values, which tells the additive mask from the
// §8.1 substitution), masked softmax and R3 on and off — logits and K/V within 60 dB, top-1 equal on every row,
// the same bits on 1 and 2 threads; the §8.1 fill value where it decides the output; taps within 50 dB; outputs
// aliasing inputs; greedy chunked generation (generateCurrent) giving the reference's tokens in kv and hybrid
// modes; the AR lengths it was built for.
import { afterAll, describe, expect, it } from "vitest";
import { createReferenceBackend } from "../../src/backends/reference.js";
import { createWasmBackend, type WasmBackend, type WasmBackendOptions } from "../../src/backends/wasm.js";
import { arForward, createArGraph } from "../../src/engine/ar-graph.js";
import { allocArOutputs, type ArGraphInputs, type ArGraphOutputs } from "../../src/engine/ar-graph-io.js";
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

/** A wasm backend (minParallelWork as in wasm.test.ts: the larger products split over the threads). */
async function wasm(init: BackendInit, o: WasmBackendOptions = {}): Promise<WasmBackend> {
  const b = await createWasmBackend(init, { minParallelWork: 8192, ...o });
  toDispose.push(b);
  return b;
}


/** Lowest figures seen per model, printed at the end (the report quotes them). */
const lowest = new Map<string, { logits: number; kv: number; taps: number; fill: number }>();
afterAll(() => {
  for (const [id, m] of lowest)
    console.log(
      `[sqnr] wasm AR-N ${id}: logits min ${m.logits.toFixed(1)} dB, K/V min ${m.kv.toFixed(1)} dB, taps min ${m.taps.toFixed(1)} dB, §8.1 fill attn min ${m.fill.toFixed(1)} dB`,
    );
});

describe.each(models)("$id: wasm AR-N graphs vs arForward", ({ id, load, prompt: getPrompt }) => {
  const model = load();
  const c = model.config;
  const V = c.vocabSize;
  const low = { logits: Infinity, kv: Infinity, taps: Infinity, fill: Infinity };
  lowest.set(id, low);

  it.each(attentionVariants(c.headDim))(
    "masked softmax $maskedSoftmax, R3 $r3: CL 32, AR 1/4/32 within 60 dB, top-1 equal, same bits on 1 and 2 threads",
    async (attention) => {
      const init: BackendInit = { model, contextLen: CL, arLens: AR_LENS, attention };
      const [w1, w2] = [await wasm(init, { threads: 1 }), await wasm(init, { threads: 2 })];
      expect(w1.graphs.ar).toEqual(createReferenceBackend(init).graphs.ar);
      for (const AR of AR_LENS)
        for (const kind of ["causal", "soft"] as const) {
          const what = `AR ${AR}, ${kind} mask`;
          const inp = randomInputs(c, AR, kind, 1000 * AR + (kind === "soft" ? 1 : 0));
          const g = createArGraph(model, { contextLen: CL, arLen: AR, ...attention });
          const ref = arForward(g, inp);
          const a = allocArOutputs(c, CL, AR);
          const b = allocArOutputs(c, CL, AR);
          await w1.executeAr!(AR, inp, a);
          await w2.executeAr!(AR, inp, b);
          expect(sameBits(a, b), `${what}: 1 vs 2 threads`).toBe(true);
          expectNearReference(a, ref, c, AR, what, low);
        }
    },
  );

  it("the options change the results the test compares (the checks above can fail)", async () => {
    const AR = 4;
    const inp = randomInputs(c, AR, "soft", 7);
    const run = (o: { maskedSoftmax?: boolean; r3?: boolean }) => arForward(createArGraph(model, { contextLen: CL, arLen: AR, ...o }), inp);
    const plain = run({});
    const w = await wasm({ model, contextLen: CL, arLens: [AR], attention: { maskedSoftmax: true, r3: true } });
    const got = allocArOutputs(c, CL, AR);
    await w.executeAr!(AR, inp, got);
    // Against the reference without the options, the masked softmax's logits and R3's K outputs are far off.
    expect(sqnrDb(got.logits, plain.logits)).toBeLessThan(30);
    expect(sqnrDb(concat(got.kOut), concat(plain.kOut))).toBeLessThan(10);
    expect(sqnrDb(got.logits, run({ maskedSoftmax: true, r3: true }).logits)).toBeGreaterThanOrEqual(60);
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
    const w = await wasm({ model, contextLen: CL, arLens: [AR], attention: { maskedSoftmax: true } });
    const got = await attnTaps((tap) => w.executeAr!(AR, inp, allocArOutputs(c, CL, AR), { tap }));
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

  it("reports the reference's taps (each within 50 dB) on an AR 4 call with both options", async () => {
    const attention = { maskedSoftmax: true, r3: isPowerOfTwo(c.headDim) };
    const AR = 4;
    const inp = randomInputs(c, AR, "causal", 11);
    const collect = async (run: (tap: TapFn) => Promise<void> | void) => {
      const m = new Map<string, Float32Array>();
      await run((layer, name, data) => m.set(`${layer}.${name}`, data.slice()));
      return m;
    };
    const w = await wasm({ model, contextLen: CL, arLens: [AR], attention }, { threads: 2 });
    expect(w.supportsTaps).toBe(true);
    const got = await collect((tap) => w.executeAr!(AR, inp, allocArOutputs(c, CL, AR), { tap }));
    const want = await collect((tap) => void arForward(createArGraph(model, { contextLen: CL, arLen: AR, ...attention }), inp, undefined, tap));
    expect([...got.keys()]).toEqual([...want.keys()]);
    expect(got.size).toBe(c.nLayers * 13 + 2);
    for (const [k, r] of want) {
      const s = sqnrDb(got.get(k)!, r);
      expect(s, k).toBeGreaterThanOrEqual(50);
      low.taps = Math.min(low.taps, s);
    }
  });

  it("outputs may alias the inputs (AR 16 = C: new K/V written over the caches they were computed from)", async () => {
    const AR = 16;
    const w = await wasm({ model, contextLen: CL, arLens: [AR], attention: { maskedSoftmax: true } });
    const inp = randomInputs(c, AR, "causal", 21);
    const separate = allocArOutputs(c, CL, AR);
    await w.executeAr!(AR, inp, separate);
    const aliased: ArGraphOutputs = { logits: new Float32Array(AR * V), kOut: inp.kCaches, vOut: inp.vCaches };
    await w.executeAr!(AR, inp, aliased);
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
        const got = await gen(await wasm(init, { threads: 2 }));
        expect(ref.generatedTokens.length).toBe(CL - prompt.length);
        expect(got.generatedTokens, mode).toEqual(ref.generatedTokens);
      }
    },
  );
});

describe("wasm AR-N graphs: what it was built for", () => {
  const model = loadStories260K();

  it("runs only the AR lengths it was built for (default [1] with contextLen; none without)", async () => {
    const b = await wasm({ model, contextLen: CL, arLens: [1, 4] });
    expect(b.graphs.ar?.map((s) => [s.name, s.arLen])).toEqual([["kv_forward", 1], ["prefill_forward", 4]]);
    await expect(b.executeAr!(8, randomInputs(model.config, 8, "causal", 1), allocArOutputs(model.config, CL, 8))).rejects.toThrow(
      /without an AR-N graph of 8 rows \(built: 1, 4\)/,
    );
    const dflt = await wasm({ model, contextLen: CL });
    expect(dflt.graphs.ar?.map((s) => s.arLen)).toEqual([1]);
    const none = await wasm({ model, kvSeqLen: 8 });
    expect(none.graphs.ar).toBeUndefined();
    await expect(none.executeAr!(1, randomInputs(model.config, 1, "causal", 1), allocArOutputs(model.config, CL, 1))).rejects.toThrow(/without an AR-N graph/);
    await expect(createWasmBackend({ model, contextLen: CL, arLens: [CL + 1] })).rejects.toThrow(/ar_len must be an integer in \[1, 32\]/);
  });

  it("sizes the matmul's token rows for the largest AR length", async () => {
    // The X area holds tokenCap rows of the widest input: ceil(n/4) groups of 16 bytes each, 64-byte aligned.
    const groups = Math.ceil(Math.max(model.config.dim, model.config.hiddenDim) / 4);
    const xBytes = (rows: number) => Math.ceil((groups * rows * 16) / 64) * 64;
    const xOf = async (init: BackendInit) => (await wasm(init)).shards[0].xBytes;
    expect(await xOf({ model, contextLen: CL, arLens: [1] })).toBe(xBytes(1));
    expect(await xOf({ model, contextLen: CL, arLens: [1, 4] })).toBe(xBytes(4));
    expect(await xOf({ model, contextLen: CL, arLens: [1, 32] })).toBe(xBytes(32));
    expect(await xOf({ model, contextLen: 64, arLens: [64] })).toBe(xBytes(32)); // capped: longer calls are cut into chunks
    expect(xBytes(4)).toBeGreaterThan(xBytes(1));
  });

  it("checks a call's tensors like arForward", async () => {
    const b = await wasm({ model, contextLen: CL, arLens: [4] });
    const inp = randomInputs(model.config, 4, "causal", 3);
    await expect(b.executeAr!(4, { ...inp, inputPos: undefined }, allocArOutputs(model.config, CL, 4))).rejects.toThrow(/input_pos is required/);
    await expect(b.executeAr!(4, { ...inp, attnMask: new Float32Array(3) }, allocArOutputs(model.config, CL, 4))).rejects.toThrow(/atten_mask has 3 elements/);
  });
});
