// The current flow's calibration (SPEC-2026 §10.3) and its quantized graphs: the hooked AR-N forward equals the
// engine's bit for bit; calibration is deterministic, observes the padding rows (which are fully masked), gives one
// uint8 zp-128 K and V encoding per layer and one mask / logits encoding shared by every graph; SeqMSE runs on batch
// 0; the quantized backend's K/V and logits are exact code values, its byte view agrees with its value view, and
// chunked prefill (hybrid) equals kv mode bit for bit, as the shared encodings require.
import { describe, expect, it } from "vitest";
import { arForward, createArGraph } from "../../../src/engine/ar-graph.js";
import { allocArCaches, allocArOutputs, arCausalMask } from "../../../src/engine/ar-graph-io.js";
import type { TapFn } from "../../../src/engine/decoder.js";
import { collateCalibrationBatch } from "../../../src/quant/calibration-data.js";
import { stagedAttendRow } from "../../../src/quant/current/attention.js";
import { matMulRows } from "../../../src/engine/kernels.js";
import { graphIoEncodings, kCacheName, tapEncodingName, vCacheName, type CurrentEncodings } from "../../../src/quant/current/encodings.js";
import { serializeCurrentEncodings } from "../../../src/quant/current/encodings-file.js";
import { observerScales } from "../../../src/quant/current/weights.js";
import { quantizeAct, dequantizeAct } from "../../../src/quant/current/activations.js";
import { generateCurrent } from "../../../src/runner/generate.js";
import { createSampler } from "../../../src/runner/sampler.js";
import { attentionVariants, randomInputs, sameBits } from "../../helpers/ar-backend-cases.js";
import { calibrateCase, fp32Backend, greedy, quantBackend, quantModels, type QuantModelCase } from "../../helpers/current-quant.js";

const models = await quantModels();
const bits = (e: CurrentEncodings) => serializeCurrentEncodings(e) + e.convs.map((c) => Buffer.from(c.weights.device.buffer).toString("base64")).join("");

describe("the hooked AR-N forward", () => {
  for (const m of models)
    for (const att of attentionVariants(m.model.config.headDim))
      it(`${m.id}, masked softmax ${att.maskedSoftmax}, R3 ${att.r3}: with identity hooks (the staged attention row included) it is arForward bit for bit (AR 1, 5, 32)`, () => {
        const points = new Set<string>();
        for (const AR of [1, 5, 32]) {
          const g = createArGraph(m.model, { contextLen: 32, arLen: AR, ...att });
          const inp = randomInputs(m.model.config, AR, "causal", 100 + AR);
          const row = stagedAttendRow(att.maskedSoftmax, (p) => void points.add(p));
          const hooked = arForward(g, inp, undefined, {
            tap: () => {},
            matMul: matMulRows,
            qR3: () => {},
            newKv: () => {},
            inputs: (x) => ({ ...x }),
            attendRow: () => row,
            model: { ...m.model },
          });
          expect(sameBits(hooked, arForward(g, inp))).toBe(true);
        }
        expect([...points].sort()).toEqual(att.maskedSoftmax ? ["min", "min_minus", "qk", "scaled", "select", "softmax"] : ["mask_add", "qk", "scaled", "softmax"]);
      });
});

describe("calibration", () => {
  const m = models[1];
  const CL = 48;
  const texts = ["Lily and Tom went to the park.", "what is 1+1? it is two, and two and two make four, said the teacher to the class"];

  it("is deterministic: the same encodings and device weights, bit for bit", () => {
    expect(bits(calibrateCase(m, { CL, texts }))).toBe(bits(calibrateCase(m, { CL, texts })));
  });

  it("padding rows are fully masked and still observed: every range is over all CL rows of every sequence", () => {
    const seq = m.encode(texts[0], true);
    expect(seq.length).toBeLessThan(CL);
    const b = collateCalibrationBatch(seq, CL);
    for (let i = seq.length; i < CL; i++) expect(b.mask.subarray(i * CL, (i + 1) * CL).every((v) => v === -255)).toBe(true);
    const enc = calibrateCase(m, { CL, texts: [texts[0]] });
    // The same forward by hand: per tap, one range over all rows and one over the real rows only.
    const all = new Map<string, { min: number; max: number }>();
    const real = new Map<string, { min: number; max: number }>();
    const widen = (map: typeof all, k: string, v: number) => {
      const r = map.get(k) ?? { min: Infinity, max: -Infinity };
      map.set(k, { min: Math.min(r.min, v), max: Math.max(r.max, v) });
    };
    const tap: TapFn = (layer, name, data) => {
      const key = tapEncodingName(layer, name);
      if (key === undefined) return;
      const width = data.length / CL;
      data.forEach((v, i) => {
        widen(all, key, v);
        if (i < seq.length * width) widen(real, key, v);
      });
    };
    const g = createArGraph(m.model, { contextLen: CL, arLen: CL });
    const out = arForward(g, { tokens: b.tokens, attnMask: b.mask, inputPos: b.inputPos, ...allocArCaches(m.model.config, CL, CL) }, undefined, tap);
    expect(all.size).toBe(2 + 8 * m.model.config.nLayers);
    // tok_embeddings is the embedding table's range (its observer; the output shares it), every other one observed.
    for (const [k, r] of all) if (k !== "tok_embeddings") expect(enc.observed.get(k), k).toEqual(r);
    const table = m.model.weights.tokEmbeddings;
    expect(enc.observed.get("tok_embeddings")).toEqual({ min: table.reduce((a, v) => Math.min(a, v)), max: table.reduce((a, v) => Math.max(a, v)) });
    // The padding rows (token 0, uniform attention) widen some ranges.
    expect([...all].filter(([k, r]) => r.min !== real.get(k)!.min || r.max !== real.get(k)!.max).length).toBeGreaterThan(0);
    let kmin = Infinity;
    let kmax = -Infinity;
    for (const v of out.kOut[0]) [kmin, kmax] = [Math.min(kmin, v), Math.max(kmax, v)];
    expect(enc.observed.get(kCacheName(0))).toEqual({ min: kmin, max: kmax });
  });

  it("8-bit KV: one uint8 symmetric encoding (zp 128) for K and one for V per layer; mask 255/65535 zp 65535; one logits encoding for every graph", () => {
    const enc = calibrateCase(m, { CL, texts });
    for (let l = 0; l < m.model.config.nLayers; l++)
      for (const name of [kCacheName(l), vCacheName(l)]) {
        const e = enc.activations.get(name)!;
        expect([e.bitwidth, e.zeroPoint, e.qmin, e.qmax, e.symmetric]).toEqual([8, 128, 0, 255, true]);
        const r = enc.observed.get(name)!;
        expect(e.scale).toBe(Math.fround(Math.max(-r.min, r.max) / 127.5));
      }
    const mask = enc.activations.get("atten_mask")!;
    expect([mask.scale, mask.zeroPoint, mask.bitwidth]).toEqual([Math.fround(255 / 65535), 65535, 16]);
    const io = graphIoEncodings(enc);
    const NL = m.model.config.nLayers;
    for (let l = 0; l < NL; l++) {
      expect(io[`args_${l}`]).toBe(io[`k_out_l${l}`]);
      expect(io[`args_${NL + l}`]).toBe(io[`v_out_l${l}`]);
    }
    expect(io.logits).toBe(enc.activations.get("output.conv"));
    expect(io.logits.bitwidth).toBe(16);
  });

  it("8-bit KV: k_rope shares the K encoding; with R3 (and masked softmax) q_r3 / k_r3 are 16-bit and K is observed after R3", async () => {
    const enc = calibrateCase(m, { CL, texts });
    for (let l = 0; l < m.model.config.nLayers; l++) expect(enc.activations.get(`layers.${l}.attention.k_rope`)).toBe(enc.activations.get(kCacheName(l)));
    const att = { r3: true, maskedSoftmax: true };
    const r3 = calibrateCase(m, { CL, texts, ...att });
    const seq = m.encode(texts[0], true);
    const b = collateCalibrationBatch(seq, CL);
    const out = arForward(createArGraph(m.model, { contextLen: CL, arLen: CL, ...att }), { tokens: b.tokens, attnMask: b.mask, inputPos: b.inputPos, ...allocArCaches(m.model.config, CL, CL) });
    const one = calibrateCase(m, { CL, texts: [texts[0]], ...att });
    expect(one.observed.get(kCacheName(0))).toEqual({ min: out.kOut[0].reduce((x, v) => Math.min(x, v)), max: out.kOut[0].reduce((x, v) => Math.max(x, v)) });
    for (const n of ["k_rope", "q_r3", "k_r3"]) expect(r3.activations.get(`layers.1.attention.${n}`)!.bitwidth, n).toBe(16);
    expect(r3.observed.get("layers.1.attention.k_r3")).toBe(r3.observed.get(kCacheName(1)));
    // The quantized graphs with both variants run and stay on fp32's greedy path (measured: all 23 tokens).
    const s = { mode: "hybrid" as const, CL, AR: 8, maxSeqLen: 32 };
    const ref = await greedy(fp32Backend(m, s, att), m, s);
    expect(await greedy(quantBackend(m, r3, s), m, s)).toEqual(ref);
  });

  it("stories110m's 8a4w wv: its input re-quantized to uint8 symmetric (wv_conv.input), its output uint8 symmetric", () => {
    const st = models[0];
    const enc = calibrateCase(st, { CL: 32, recipe: "stories110m", texts });
    const wv = enc.convs.find((c) => c.conv.path === "layers.2.attention.wv_conv")!;
    expect([wv.requantInput, wv.inputName]).toEqual([true, "layers.2.attention.wv_conv.input"]);
    for (const e of [wv.input, wv.output]) expect([e.bitwidth, e.zeroPoint, e.symmetric]).toEqual([8, 128, true]);
    expect(enc.observed.get("layers.2.attention.wv_conv.input")).toEqual(enc.observed.get("layers.2.attention_norm"));
    const wq = enc.convs.find((c) => c.conv.path === "layers.2.attention.wq_conv")!;
    expect([wq.requantInput, wq.inputName, wq.input]).toEqual([false, "layers.2.attention_norm", enc.activations.get("layers.2.attention_norm")]);
  });

  it("16-bit KV (qwen3-0_6b's recipe, no annotate_kv_8bit): uint16 affine K/V, uint16 caches at the boundary", async () => {
    const enc = calibrateCase(m, { CL: 32, recipe: "qwen3-0_6b", texts });
    const k = enc.activations.get(kCacheName(0))!;
    expect([k.bitwidth, k.symmetric, k.qmax]).toEqual([16, false, 65535]);
    expect(enc.activations.get("layers.0.attention.k_rope")).toEqual(k); // the same values observed, another observer
    const s = { mode: "hybrid" as const, CL: 32, AR: 8, maxSeqLen: 32 };
    const b = quantBackend(m, enc, s);
    expect(b.kvCodes).toBe(Uint16Array);
    expect(await greedy(b, m, s)).toEqual(await greedy(fp32Backend(m, s), m, s)); // measured: all 23 tokens
  });

  it("SeqMSE on batch 0: one step per conv in (0, 1], never worse than step 1, applied to the observer scales", () => {
    const enc = calibrateCase(m, { CL: 32, texts, seqMse: 6 });
    for (const c of enc.convs) {
      const s = c.seqMse!;
      expect(s.step, c.conv.path).toBeGreaterThan(0);
      expect(s.step).toBeLessThanOrEqual(1);
      expect(s.loss).toBeLessThanOrEqual(s.loss1);
      expect(c.weights.step).toBe(s.step);
    }
    const w2 = enc.convs.find((c) => c.conv.path === "layers.0.feed_forward.w2_conv")!;
    const obs = observerScales(m.model.weights.layers[0].w2, w2.conv.rows, w2.conv.cols, w2.conv.cols, 127);
    expect(Array.from(w2.weights.groupScales)).toEqual(Array.from(obs, (x) => Math.fround(x * w2.seqMse!.step)));
    expect(enc.convs.some((c) => c.seqMse!.step < 1)).toBe(true);
  });
});

describe("the quantized backend", () => {
  const CL = 64;
  const AR = 8;
  const run = async (mc: QuantModelCase, enc: CurrentEncodings, mode: "kv" | "hybrid") => {
    const rows: Float32Array[] = [];
    const r = await generateCurrent({
      backend: quantBackend(mc, enc, { mode, CL, AR, maxSeqLen: CL }),
      config: mc.model.config,
      mode,
      contextLen: CL,
      prefillArLen: AR,
      maxSeqLen: CL,
      promptTokens: [...mc.prompt, ...mc.prompt.slice(1), ...mc.prompt.slice(1)],
      sampler: createSampler({ vocabSize: mc.model.config.vocabSize, temperature: 0, seed: 1n }),
      onPromptLogits: (_p, row) => rows.push(row.slice()),
    });
    return { tokens: r.generatedTokens, rows };
  };

  for (const mc of models)
    it(`${mc.id}: hybrid (chunked prefill, AR 8) equals kv mode bit for bit — prompt logits and every generated token`, async () => {
      const enc = calibrateCase(mc, { CL, scheme: "16a8w" });
      const kv = await run(mc, enc, "kv");
      const hy = await run(mc, enc, "hybrid");
      expect(hy.tokens).toEqual(kv.tokens);
      expect(hy.rows.length).toBe(kv.rows.length);
      hy.rows.forEach((r, i) => expect(Buffer.compare(Buffer.from(r.buffer), Buffer.from(kv.rows[i].buffer)), `prompt row ${i}`).toBe(0));
    });

  it("K/V outputs and logits are values of their codes; the byte view (executeArCodes) is the value view's codes", () => {
    const mc = models[0];
    const enc = calibrateCase(mc, { CL, texts: ["Once upon a time there was a dog."] });
    const b = quantBackend(mc, enc, { mode: "hybrid", CL, AR, maxSeqLen: CL });
    const c = mc.model.config;
    const caches = allocArCaches(c, CL, AR);
    // Caches holding code values of random bytes (what a session's cache holds after earlier calls).
    caches.kCaches.forEach((k, l) => k.forEach((_, i) => (k[i] = dequantizeAct((i * 37 + l) % 256, enc.activations.get(kCacheName(l))!))));
    caches.vCaches.forEach((v, l) => v.forEach((_, i) => (v[i] = dequantizeAct((i * 91 + 3 * l) % 256, enc.activations.get(vCacheName(l))!))));
    const mask = arCausalMask(CL, AR, 20);
    const inp = { tokens: Int32Array.from(mc.prompt.concat([300, 301, 302]).slice(0, AR)), attnMask: mask, inputPos: Int32Array.from({ length: AR }, (_, i) => 20 + i), ...caches };
    const out = allocArOutputs(c, CL, AR);
    b.executeArSync(AR, inp, out);
    const roundTrip = (xs: Float32Array, name: string) => xs.every((x) => dequantizeAct(quantizeAct(x, enc.activations.get(name)!), enc.activations.get(name)!) === x);
    out.kOut.forEach((k, l) => expect(roundTrip(k, kCacheName(l))).toBe(true));
    out.vOut.forEach((v, l) => expect(roundTrip(v, vCacheName(l))).toBe(true));
    expect(roundTrip(out.logits, "output.conv")).toBe(true);
    const q = (xs: Float32Array, name: string, C: typeof Uint8Array | typeof Uint16Array): Uint8Array | Uint16Array => {
      const codes = new C(xs.length);
      xs.forEach((x, i) => (codes[i] = quantizeAct(x, enc.activations.get(name)!)));
      return codes;
    };
    const codes = {
      tokens: inp.tokens,
      attnMask: q(mask, "atten_mask", Uint16Array),
      inputPos: inp.inputPos,
      kCaches: caches.kCaches.map((k, l) => q(k, kCacheName(l), Uint8Array)),
      vCaches: caches.vCaches.map((v, l) => q(v, vCacheName(l), Uint8Array)),
    };
    expect(Array.from(codes.attnMask.subarray(0, 22))).toEqual([...Array(20).fill(65535), 0, 0]);
    const outCodes = { logits: new Uint16Array(out.logits.length), kOut: out.kOut.map((k) => new Uint8Array(k.length)), vOut: out.vOut.map((v) => new Uint8Array(v.length)) };
    b.executeArCodes(AR, codes, outCodes);
    expect(Array.from(outCodes.logits)).toEqual(Array.from(q(out.logits, "output.conv", Uint16Array)));
    outCodes.kOut.forEach((k, l) => expect(Array.from(k)).toEqual(Array.from(q(out.kOut[l], kCacheName(l), Uint8Array))));
    outCodes.vOut.forEach((v, l) => expect(Array.from(v)).toEqual(Array.from(q(out.vOut[l], vCacheName(l), Uint8Array))));
    expect(b.kvCodes).toBe(Uint8Array);
    expect(b.logitsEncoding!(AR)).toEqual({ scale: io(enc).scale, offset: -io(enc).zeroPoint });
  });
});

const io = (enc: CurrentEncodings) => graphIoEncodings(enc).logits;
