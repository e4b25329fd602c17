// The qnn backend on the current flow's AR-N graphs (SPEC-2026 §3): binding a device graph reported with ExecuTorch's
// names in a shuffled order to arGraphSpec (src/qnn/tensor-map.ts, bindArGraph), every refusal with its one-line
// message (counts, the other flow's graphs, CL / AR against --max_context_len / --prefill_ar_len, names, dims,
// types, model shape), and executeAr over fake executable graphs that compute the reference arForward: fp32 tensors
// give the reference's bits, fixed-point tensors (uint16 logits and mask, uint8 / uint16 K/V) round-trip within
// one quantization step. Last, through the native addon and the stand-in QNN libraries, a current-flow .pte runs
// and a seed-flow .pte is refused.
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bindArGraph, bindGraph, type DeviceGraphInfo } from "../../src/qnn/tensor-map.js";
import { createQnnBackend, createQnnBackendFromGraphs, type ExecutableGraph } from "../../src/backends/qnn.js";
import { createReferenceBackend } from "../../src/backends/reference.js";
import { allocArCaches, allocArOutputs, arCausalMask, arGraphSpec, type ArGraphInputs, type ArGraphOutputs } from "../../src/engine/ar-graph-io.js";
import { rawLogitCodes } from "../../src/runner/current-session.js";
import { wrapQnnContext } from "../../src/qnn/context-header.js";
import { nativeAddonStatus } from "../../src/qnn/native.js";
import { UserError } from "../../src/util/errors.js";
import { expectUserError } from "../helpers/errors.js";
import { bitsEqual, loadStories260K } from "../helpers/fixtures.js";
import { buildPte } from "../helpers/pte-writer.js";
import { buildStandIn } from "../helpers/stand-in.js";
import { kvEncoding, logitsEncoding, MASK_SCALE_OFFSET, standInGraphs, writeStandInBinary, type ScaleOffset } from "../helpers/stand-in-binary.js";
import { arDeviceGraph, arExecutableGraph, type ArDeviceEncodings, type ArDeviceGraph } from "../helpers/qnn-ar-graph.js";

const model = loadStories260K();
const c = model.config;
const NL = c.nLayers;
const H = c.nKvHeads;
const hd = c.headDim;
const V = c.vocabSize;
const NLH = NL * H;
const CL = 32;
const AR = 8;

const clone = <T>(g: T): T => JSON.parse(JSON.stringify(g));
/** Fixed-point encodings for binding (values do not matter there). */
const ENC: ArDeviceEncodings = {
  logits: logitsEncoding(-10, 10),
  mask: MASK_SCALE_OFFSET,
  k: Array.from({ length: NL }, () => kvEncoding(3)),
  v: Array.from({ length: NL }, () => kvEncoding(2)),
  kvType: "UFIXED_POINT_8",
};
const SEED_ENC = {
  logits: ENC.logits,
  k: Array.from({ length: NLH }, () => kvEncoding(3)),
  v: Array.from({ length: NLH }, () => kvEncoding(2)),
  mask: MASK_SCALE_OFFSET,
};

describe("bindArGraph", () => {
  it("orders shuffled ExecuTorch-named inputs by their input_<k>_ id (decode AR = 1, prompt AR = 8)", () => {
    for (const ar of [1, AR]) {
      const g = arDeviceGraph(model, CL, ar, { enc: ENC, shuffle: 7 });
      const ids = g.inputs.map((t) => Number(/^input_(\d+)_/.exec(t.name)![1]));
      expect(ids).not.toEqual(ids.slice().sort((a, b) => a - b)); // really shuffled
      const b = bindArGraph(g, c, CL, ar, "--pte m.pte");
      const spec = arGraphSpec(c, CL, ar, ar === 1 ? "kv_forward" : "prefill_forward");
      expect(b.graph).toBe(ar === 1 ? "kv_forward" : "prefill_forward");
      expect([b.contextLen, b.arLen]).toEqual([CL, ar]);
      expect(b.inputs.map((x) => x.spec.name)).toEqual(spec.inputs.map((s) => s.name));
      expect(b.inputs.map((x) => x.device.name)).toEqual([
        "input_0_tokens_0",
        "input_1_atten_mask_0",
        "input_2_input_pos_0",
        ...Array.from({ length: 2 * NL }, (_, i) => `input_${3 + i}_args_${i}_0`),
      ]);
      b.inputs.forEach((x) => expect(g.inputs[x.deviceIndex]).toBe(x.device));
      expect(b.outputs.map((x) => x.deviceIndex)).toEqual(spec.outputs.map((_, i) => i));
      expect(b.outputs.map((x) => x.spec.name)).toEqual(["logits", ...Array.from({ length: NL }, (_, l) => `k_out_l${l}`), ...Array.from({ length: NL }, (_, l) => `v_out_l${l}`)]);
      expect(b.inputs[1].bytes).toBe(ar * CL * 2);
      expect(b.inputs[3].bytes).toBe(H * hd * (CL - ar));
      expect(b.outputs[0].bytes).toBe(ar * V * 2);
      expect(b.outputs[1].bytes).toBe(H * hd * ar);
    }
  });

  it("AR == CL (a cache-less prompt graph): no input_pos, 2 + 2·NL inputs; fp32 with our own names and squeezed leading 1s", () => {
    const g = arDeviceGraph(model, 8, 8, { enc: ENC });
    expect(g.inputs.length).toBe(2 + 2 * NL);
    const b = bindArGraph(g, c, 8, 8, "w");
    expect(b.inputs.map((x) => x.spec.name)).toEqual(["tokens", "atten_mask", ...Array.from({ length: 2 * NL }, (_, i) => `args_${i}`)]);
    expect(b.inputs[2].bytes).toBe(0);

    const spec = arGraphSpec(c, CL, AR);
    const mk = (s: { name: string; shape: number[]; dtype: string }) => ({ name: s.name, dataType: s.dtype === "int32" ? "INT_32" : "FLOAT_32", dims: s.shape, encoding: { kind: "none" as const } });
    const own: DeviceGraphInfo = { name: "prefill_forward", inputs: spec.inputs.map(mk), outputs: spec.outputs.map(mk) };
    own.inputs[0].dims = [AR];
    own.inputs[1].dims = [1, AR, CL];
    own.outputs[0].dims = [1, 1, AR, V];
    expect(bindArGraph(own, c, CL, AR, "w").inputs.map((x) => x.deviceIndex)).toEqual(spec.inputs.map((_, i) => i));
  });

  it("refuses wrong counts, with the model's layers in the message", () => {
    const g = arDeviceGraph(model, CL, 1, { enc: ENC });
    g.outputs.pop();
    expectUserError(
      () => bindArGraph(g, c, CL, 1, "--pte m.pte"),
      /^kv_forward in --pte m\.pte: 13 inputs and 10 outputs, SPEC-2026 §3 expects 13 and 11 for this model \(one K and one V tensor per layer, NL = 5\)$/,
    );
    const fewer = arDeviceGraph(model, CL, AR, { enc: ENC });
    fewer.inputs = fewer.inputs.filter((t) => !/args_(4|9)_/.test(t.name));
    fewer.outputs = fewer.outputs.filter((_, i) => i !== NL && i !== 2 * NL);
    expectUserError(
      () => bindArGraph(fewer, c, CL, AR, "w"),
      /^prefill_forward in w: 11 inputs and 9 outputs, SPEC-2026 §3 expects 13 and 11 .*: the binary has 4 per-layer K\/V outputs, the model 5 layers; is --checkpoint the model the \.pte was exported from\?$/,
    );
  });

  it("refuses a seed-flow graph (per-head KV) with --flow current, and a current-flow graph with the seed flow's lengths", () => {
    const seed = standInGraphs(model, { kvSeqLen: CL, prefillSeqLen: AR + 1 }, SEED_ENC);
    expectUserError(
      () => bindArGraph(seed.kv!, c, CL, 1, "--pte seed.pte"),
      /^kv_forward in --pte seed\.pte: 43 inputs and 41 outputs, SPEC-2026 §3 expects 13 and 11 for this model \(one K and one V tensor per layer, NL = 5\); it looks like a seed-flow \(per-head KV\) graph \(20 K\/V caches = 5 layers x 4 KV heads\): run it with --flow seed \(--kv_seq_len, --prefill_seq_len\), or export the \.pte with the current flow$/,
    );
    expectUserError(
      () => bindArGraph(seed.prefill!, c, CL, AR, "--pte seed.pte"),
      /^prefill_forward in --pte seed\.pte: 2 inputs and 41 outputs, SPEC-2026 §3 expects 13 and 11 .*; it looks like a seed-flow \(per-head KV\) graph \(a prefill graph without cache inputs, 20 K\/V outputs = 5 layers x 4 KV heads\): run it with --flow seed/,
    );

    const kv = arDeviceGraph(model, CL, 1, { enc: ENC });
    expectUserError(
      () => bindGraph("kv", kv, c, CL, "--pte cur.pte"),
      /^kv_forward in --pte cur\.pte: 13 inputs and 11 outputs, SPEC §3 expects 43 and 41 for this model \(NL\*H = 20\); it looks like a current-flow \(per-layer KV, AR-N\) graph \(one K and one V tensor per layer, 5 layers, mask \[1, 1, AR, CL\]\): run it with --flow current \(--max_context_len, --prefill_ar_len\)$/,
    );
    expectUserError(() => bindGraph("prefill", arDeviceGraph(model, CL, AR, { enc: ENC }), c, AR + 1, "w"), /^prefill_forward in w: 13 inputs and 11 outputs, SPEC §3 expects 2 and 41 .*; it looks like a current-flow \(per-layer KV, AR-N\) graph/);

    // A single-KV-head model: the seed's and the current flow's decode graphs have the same counts; the rank-4 mask tells.
    const one = { ...c, nHeads: 8, nKvHeads: 1 };
    const oneModel = { ...model, config: one };
    expectUserError(() => bindGraph("kv", arDeviceGraph(oneModel, CL, 1, { enc: ENC }), one, 16, "w"), /^--kv_seq_len 16 does not match kv_forward in w: its atten_mask is \[1, 1, 1, 32\]; it looks like a current-flow/);
    // ...and a per-head cache where the per-layer one is expected.
    const perHead = arDeviceGraph(model, CL, 1, { enc: ENC });
    perHead.inputs.find((t) => t.name === "input_3_args_0_0")!.dims = [1, hd, CL - 1];
    expectUserError(
      () => bindArGraph(perHead, c, CL, 1, "w"),
      /^kv_forward in w: input 3 \(args_0, device "input_3_args_0_0"\): dims \[1, 8, 31\], expected \[1, 4, 8, 31\]; it looks like a seed-flow \(per-head KV\) graph: run it with --flow seed/,
    );
  });

  it("reads CL and AR from the mask and checks them against --max_context_len / --prefill_ar_len", () => {
    expectUserError(
      () => bindArGraph(arDeviceGraph(model, CL, 1, { enc: ENC }), c, 64, 1, "--pte m.pte"),
      /^--max_context_len 64 does not match kv_forward in --pte m\.pte: its atten_mask is \[1, 1, 1, 32\], so it was compiled with max_context_len 32 \(pass --max_context_len 32\)$/,
    );
    expectUserError(
      () => bindArGraph(arDeviceGraph(model, CL, AR, { enc: ENC }), c, CL, 4, "--pte m.pte"),
      /^--prefill_ar_len 4 does not match prefill_forward in --pte m\.pte: its atten_mask is \[1, 1, 8, 32\], so it was compiled with prefill_ar_len 8 \(pass --prefill_ar_len 8\)$/,
    );
    expectUserError(
      () => bindArGraph(arDeviceGraph(model, CL, 4, { enc: ENC, name: "kv_forward" }), c, CL, 1, "w"),
      /^kv_forward in w: its atten_mask is \[1, 1, 4, 32\], so it was compiled with AR = 4 rows per call, but the decode graph of --model_mode kv \/ hybrid runs AR = 1 \(a lookahead export\? run it with --model_mode lookahead and the --ngram \/ --window \/ --gcap it was exported for\)$/,
    );
    // A prompt graph compiled at AR_pp == CL (no input_pos) asked for at AR_pp < CL: the AR mismatch, not the count.
    expectUserError(() => bindArGraph(arDeviceGraph(model, 16, 16, { enc: ENC }), c, 16, 8, "w"), /^--prefill_ar_len 8 does not match prefill_forward in w: its atten_mask is \[1, 1, 16, 16\], so it was compiled with prefill_ar_len 16/);
    // The mask says AR < CL but input_pos is missing.
    const noPos = arDeviceGraph(model, CL, AR, { enc: ENC });
    noPos.inputs = noPos.inputs.filter((t) => !t.name.includes("input_pos"));
    expectUserError(() => bindArGraph(noPos, c, CL, AR, "w"), /^prefill_forward in w: 12 inputs and 11 outputs, SPEC-2026 §3 expects 13 and 11 .*: input_pos is absent exactly when AR == CL$/);
  });

  it("refuses swapped names, caches out of order, wrong dims, types, encodings and model shapes", () => {
    const base = arDeviceGraph(model, CL, AR, { enc: ENC });
    let g = clone(base);
    const tok = g.inputs.find((x) => x.name === "input_0_tokens_0")!;
    const pos = g.inputs.find((x) => x.name === "input_2_input_pos_0")!;
    [tok.name, pos.name] = ["input_0_input_pos_0", "input_2_tokens_0"];
    expectUserError(() => bindArGraph(g, c, CL, AR, "w"), /^prefill_forward in w: device input 0 "input_0_input_pos_0" looks like input_pos but SPEC-2026 §3 has tokens \(tokens\) there/);

    g = clone(base);
    const a0 = g.inputs.find((x) => x.name === "input_3_args_0_0")!;
    const a1 = g.inputs.find((x) => x.name === "input_4_args_1_0")!;
    [a0.name, a1.name] = ["input_3_args_1_0", "input_4_args_0_0"];
    expectUserError(() => bindArGraph(g, c, CL, AR, "w"), /device input 3 "input_3_args_1_0" is args_1 but SPEC-2026 §3 has args_0 \(k_cache of layer 0\) there \(cache tensors out of order: K of layers 0\.\.4, then V\)/);

    g = clone(base);
    g.outputs[1].name = "k_out_l1";
    expectUserError(() => bindArGraph(g, c, CL, AR, "w"), /device output 1 "k_out_l1" is layer 1 but SPEC-2026 §3 has k_out_l0 there/);
    g = clone(base);
    g.outputs[1].name = "v_out_l0";
    expectUserError(() => bindArGraph(g, c, CL, AR, "w"), /device output 1 "v_out_l0" looks like v_out but SPEC-2026 §3 has k_out_l0 \(k_out\) there/);

    g = clone(base);
    g.inputs.find((x) => x.name === `input_${3 + NL}_args_${NL}_0`)!.dims = [1, H, CL - AR, hd + 1];
    expectUserError(() => bindArGraph(g, c, CL, AR, "w"), /^prefill_forward in w: input 8 \(args_5, device "input_8_args_5_0"\): dims \[1, 4, 24, 9\], expected \[1, 4, 24, 8\]$/);
    g = clone(base);
    g.inputs.find((x) => x.name === "input_0_tokens_0")!.dims = [1, AR + 1];
    expectUserError(() => bindArGraph(g, c, CL, AR, "w"), /input 0 \(tokens, device "input_0_tokens_0"\): dims \[1, 9\], expected \[1, 8\]$/);

    g = clone(base);
    g.inputs.find((x) => x.name === "input_2_input_pos_0")!.dataType = "FLOAT_32";
    expectUserError(() => bindArGraph(g, c, CL, AR, "w"), /input 2 \(input_pos, device "input_2_input_pos_0"\): data type FLOAT_32, expected one of INT_32, UINT_32, INT_64 for int32/);
    g = clone(base);
    g.outputs[0].dataType = "BOOL_8";
    expectUserError(() => bindArGraph(g, c, CL, AR, "w"), /output 0 \(logits, device "output_aten_view_copy_default_0"\): data type BOOL_8/);
    g = clone(base);
    g.inputs.find((x) => x.name === "input_1_atten_mask_0")!.encoding = { kind: "none" };
    expectUserError(() => bindArGraph(g, c, CL, AR, "w"), /input 1 \(atten_mask.*UFIXED_POINT_16\): a fixed-point tensor without a quantization encoding/);

    expectUserError(() => bindArGraph(base, { ...c, vocabSize: 1000 }, CL, AR, "w"), /^prefill_forward in w: logits have 512 columns, the model's vocabulary is 1000; is --checkpoint/);
    expectUserError(() => bindArGraph(base, { ...c, headDim: 16 }, CL, AR, "w"), /new K output is \[1, 4, 8, 8\] \(head_dim 8\), the model's head_dim is 16/);
    expectUserError(() => bindArGraph(base, { ...c, nKvHeads: 2 }, CL, AR, "w"), /new K output is \[1, 4, 8, 8\] \(4 KV heads\), the model has 2 KV heads/);
  });
});

// ---- executeAr over fake executable graphs ----

/** A deterministic pseudo-random stream in [0, 1). */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** A call of `ar` rows after `nPast` cached tokens: random caches in [-amp, amp], causal mask, tokens, positions. */
function callInputs(ar: number, nPast: number, seed: number, amp = 2): ArGraphInputs {
  const r = rng(seed);
  const { kCaches, vCaches } = allocArCaches(c, CL, ar);
  for (const a of [...kCaches, ...vCaches]) for (let i = 0; i < a.length; i++) a[i] = Math.fround((2 * r() - 1) * amp);
  return {
    tokens: Int32Array.from({ length: ar }, () => 1 + Math.floor(r() * (V - 1))),
    attnMask: arCausalMask(CL, ar, nPast),
    inputPos: Int32Array.from({ length: ar }, (_, i) => nPast + i),
    kCaches,
    vCaches,
  };
}

const allOf = (o: ArGraphOutputs) => [o.logits, ...o.kOut, ...o.vOut];

describe("executeAr over fake graphs", () => {
  const init = { model, contextLen: CL, arLens: [1, AR] };
  const reference = createReferenceBackend(init);
  const refOut = async (ar: number, inp: ArGraphInputs) => {
    const o = allocArOutputs(c, CL, ar);
    await reference.executeAr!(ar, inp, o);
    return o;
  };

  it("fp32 tensors: the reference's outputs, bit for bit; graphs.ar and bindings.ar describe both graphs", async () => {
    const kv = arExecutableGraph(arDeviceGraph(model, CL, 1, { shuffle: 3 }), model, CL, 1);
    const prefill = arExecutableGraph(arDeviceGraph(model, CL, AR, { shuffle: 5 }), model, CL, AR);
    const b = createQnnBackendFromGraphs(init, { kv, prefill }, { where: "test" });
    expect(b.supportsTaps).toBe(false);
    expect(b.graphs.ar).toEqual([arGraphSpec(c, CL, 1, "kv_forward"), arGraphSpec(c, CL, AR, "prefill_forward")]);
    expect(b.graphs.kv).toBeUndefined();
    expect(b.bindings.ar!.map((x) => [x.graph, x.arLen])).toEqual([["kv_forward", 1], ["prefill_forward", AR]]);
    expect(b.logitsEncoding!(AR)).toBeUndefined();
    for (const [ar, nPast, seed] of [[AR, 0, 1], [AR, 9, 2], [1, 17, 3], [1, 0, 4]]) {
      const inp = callInputs(ar, nPast, seed);
      const out = allocArOutputs(c, CL, ar);
      await b.executeAr!(ar, inp, out);
      const want = allOf(await refOut(ar, inp));
      allOf(out).forEach((a, i) => expect(bitsEqual(a, want[i])).toBe(true));
    }
    expect(kv.calls.length).toBe(2);
    expect(prefill.calls.length).toBe(2);
    b.dispose();
    await expect(b.executeAr!(1, callInputs(1, 0, 5), allocArOutputs(c, CL, 1))).rejects.toThrow(/after dispose/);
  });

  it("AR == CL: the cache-less prompt graph runs without input_pos", async () => {
    const cl = 8;
    const g = arExecutableGraph(arDeviceGraph(model, cl, cl), model, cl, cl);
    const b = createQnnBackendFromGraphs({ model, contextLen: cl, arLens: [cl] }, { prefill: g }, { where: "test" });
    const ref = createReferenceBackend({ model, contextLen: cl, arLens: [cl] });
    const { kCaches, vCaches } = allocArCaches(c, cl, cl);
    const inp: ArGraphInputs = { tokens: Int32Array.from({ length: cl }, (_, i) => 10 + 7 * i), attnMask: arCausalMask(cl, cl, 0), kCaches, vCaches };
    const out = allocArOutputs(c, cl, cl);
    const want = allocArOutputs(c, cl, cl);
    await b.executeAr!(cl, inp, out);
    await ref.executeAr!(cl, inp, want);
    expect(bitsEqual(out.logits, want.logits)).toBe(true);
    expect(b.graphs.ar![0].name).toBe("prefill_forward");
  });

  for (const kvType of ["UFIXED_POINT_8", "UFIXED_POINT_16"] as const) {
    it(`fixed point (uint16 logits and mask, ${kvType} K/V): codes as the runner's, outputs within one step of the reference`, async () => {
      // Encodings from the reference's ranges (with room), caches snapped onto their grids so that only the
      // outputs' quantization separates the device from the reference.
      const calls = [[AR, 3, 11], [1, 20, 12]] as const;
      const inps = calls.map(([ar, nPast, seed]) => callInputs(ar, nPast, seed, 1.5));
      const amaxK = new Array(NL).fill(1.5);
      const amaxV = new Array(NL).fill(1.5);
      let lo = 0;
      let hi = 0;
      for (let j = 0; j < calls.length; j++) {
        const o = await refOut(calls[j][0], inps[j]);
        o.kOut.forEach((a, l) => (amaxK[l] = Math.max(amaxK[l], ...Array.from(a, Math.abs))));
        o.vOut.forEach((a, l) => (amaxV[l] = Math.max(amaxV[l], ...Array.from(a, Math.abs))));
        lo = Math.min(lo, ...o.logits);
        hi = Math.max(hi, ...o.logits);
      }
      const wide = kvType === "UFIXED_POINT_16";
      const kvEnc = (amax: number): ScaleOffset =>
        wide ? { scale: Math.fround((1.25 * amax) / 32767.5), offset: -32768 } : { scale: Math.fround((1.25 * amax) / 127.5), offset: -128 };
      const enc: ArDeviceEncodings = { logits: logitsEncoding(1.25 * lo, 1.25 * hi), mask: MASK_SCALE_OFFSET, k: amaxK.map(kvEnc), v: amaxV.map(kvEnc), kvType };
      const snap = (a: Float32Array, e: ScaleOffset) => {
        const codes = new Uint16Array(a.length);
        for (let i = 0; i < a.length; i++) {
          codes[i] = Math.round(a[i] / e.scale) - e.offset;
          a[i] = Math.fround(e.scale * (codes[i] + e.offset));
        }
        return codes;
      };
      const cacheCodes = inps.map((inp) => [...inp.kCaches.map((a, l) => snap(a, enc.k[l])), ...inp.vCaches.map((a, l) => snap(a, enc.v[l]))]);

      const infos = { kv: arDeviceGraph(model, CL, 1, { enc, shuffle: 9 }), prefill: arDeviceGraph(model, CL, AR, { enc, shuffle: 4 }) };
      const kv = arExecutableGraph(infos.kv, model, CL, 1);
      const prefill = arExecutableGraph(infos.prefill, model, CL, AR);
      const b = createQnnBackendFromGraphs(init, { kv, prefill }, { where: "test" });
      expect(b.logitsEncoding!(1)).toEqual(enc.logits);
      expect(b.logitsEncoding!(AR)).toEqual(enc.logits);

      for (let j = 0; j < calls.length; j++) {
        const [ar, nPast] = calls[j];
        const inp = inps[j];
        const out = allocArOutputs(c, CL, ar);
        await b.executeAr!(ar, inp, out);
        const g = ar === 1 ? kv : prefill;
        const info: ArDeviceGraph = ar === 1 ? infos.kv : infos.prefill;
        const seen = g.calls[g.calls.length - 1];
        const input = (k: string) => {
          const i = info.inputs.findIndex((t) => t.name.startsWith(`input_${k}_`));
          return seen.inputs[i];
        };
        // The mask as the runner fills it (SPEC-2026 §3/§4): 65535 attend, 0 blocked.
        const m = input("1");
        const mask16 = new Uint16Array(m.buffer, m.byteOffset, ar * CL);
        expect(Array.from(mask16)).toEqual(Array.from(inp.attnMask, (x) => (x === 0 ? 65535 : 0)));
        expect(Array.from(new Int32Array(input("0").buffer, 0, ar))).toEqual(Array.from(inp.tokens));
        expect(Array.from(new Int32Array(input("2").buffer, 0, ar))).toEqual(Array.from(inp.inputPos!));
        // The snapped caches arrive as exactly their codes.
        for (let i = 0; i < 2 * NL; i++) {
          const bytes = input(String(3 + i));
          const codes = wide ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2) : bytes;
          expect(Array.from(codes)).toEqual(Array.from(cacheCodes[j][i]));
        }
        // Every output within one step of the reference on the same inputs (half a step of rounding, plus the
        // mask's dequantized -255.0000x); and a real grid, not a pass-through.
        const want = await refOut(ar, inp);
        const scales = [enc.logits.scale, ...enc.k.map((e) => e.scale), ...enc.v.map((e) => e.scale)];
        let worst = 0;
        allOf(out).forEach((a, t) => {
          const w = allOf(want)[t];
          for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - w[i]) / scales[t]);
        });
        expect(worst).toBeLessThanOrEqual(0.5 + 1e-3);
        expect(worst).toBeGreaterThan(0.25);
        // The runner session's raw codes (logitsEncoding + rawLogitCodes) are the device's own logits codes.
        const lb = seen.outputs[0];
        expect(Array.from(rawLogitCodes(out.logits, enc.logits))).toEqual(Array.from(new Uint16Array(lb.buffer, lb.byteOffset, ar * V)));
      }
    });
  }

  it("executeArBytes hands SPEC-2026 §3-ordered bytes to their device positions", () => {
    const info = arDeviceGraph(model, CL, 1, { enc: ENC, shuffle: 2 });
    const seen: Uint8Array[][] = [];
    const g: ExecutableGraph = { ...info, execute: (ins) => void seen.push(ins) };
    const b = createQnnBackendFromGraphs({ model, contextLen: CL, arLens: [1] }, { kv: g }, { where: "test" });
    const bind = b.bindings.ar![0];
    const ins = bind.inputs.map((x) => new Uint8Array(x.bytes));
    const outs = bind.outputs.map((x) => new Uint8Array(x.bytes));
    b.executeArBytes(1, ins, outs);
    bind.inputs.forEach((x, i) => expect(seen[0][x.deviceIndex]).toBe(ins[i]));
    expect(() => b.executeArBytes(1, ins.slice(1), outs)).toThrow(/kv_forward: 12 inputs, the graph has 13/);
  });

  it("errors: missing graphs, both flows, unknown AR, missing input_pos, wrong cache counts, positions outside CL", async () => {
    const kvInfo = arDeviceGraph(model, CL, 1);
    const kv = arExecutableGraph(kvInfo, model, CL, 1);
    expect(() => createQnnBackendFromGraphs(init, { kv }, { where: "test" })).toThrow(/the AR-N graph of 8 rows needs a prefill_forward graph/);
    expect(() => createQnnBackendFromGraphs({ ...init, kvSeqLen: 16 }, { kv }, { where: "test" })).toThrow(/both given/);
    expect(() => createQnnBackendFromGraphs({ model, contextLen: CL, arLens: [1, 4, 8] }, { kv }, { where: "test" })).toThrow(/one AR length, asked for 4, 8/);
    expectUserError(() => createQnnBackendFromGraphs({ model, contextLen: 64, arLens: [1] }, { kv }, { where: "--pte m.pte" }), /^--max_context_len 64 does not match kv_forward in --pte m\.pte/);
    const b = createQnnBackendFromGraphs({ model, contextLen: CL }, { kv }, { where: "test" });
    const out = allocArOutputs(c, CL, 1);
    await expect(b.executeAr!(AR, callInputs(AR, 0, 1), allocArOutputs(c, CL, AR))).rejects.toThrow(/no AR-N graph of 8 rows \(built for AR 1\)/);
    await expect(b.executeAr!(1, { ...callInputs(1, 0, 1), inputPos: undefined }, out)).rejects.toThrow(/input_pos is required when AR \(1\) < CL \(32\)/);
    const inp = callInputs(1, 0, 1);
    await expect(b.executeAr!(1, { ...inp, kCaches: inp.kCaches.slice(1) }, out)).rejects.toThrow(/kv_forward: 4 K caches, the graph has one per layer \(5\)/);
    await expect(b.executeAr!(1, { ...inp, inputPos: Int32Array.of(CL) }, out)).rejects.toThrow(/input_pos 32 at row 0 is outside \[0, 32\)/);
    await expect(b.executeKv({ tokens: Int32Array.of(1), attnMask: new Float32Array(1), inputPos: Int32Array.of(0), kCaches: [], vCaches: [] }, { logits: new Float32Array(1), kOut: [], vOut: [] })).rejects.toThrow(/built without a kv_forward graph/);
    expect(kv.calls.length).toBe(0);
  });
});

// ---- through the native addon and the stand-in QNN libraries ----

const libs = buildStandIn();
const addon = nativeAddonStatus();
const nativeReady = libs !== undefined && addon.available;
const SKIP = libs === undefined ? " (skipped: needs a C compiler to build the stand-in QNN libraries)" : !addon.available ? ` (skipped: ${addon.reason})` : "";
if (SKIP) console.info(`qnn AR-N graphs through the addon${SKIP}`);

describe.skipIf(!nativeReady)(`current-flow .pte through the addon (stand-in libraries)${SKIP}`, () => {
  const tmp = mkdtempSync(join(tmpdir(), "llama-golden-qnn-ar-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const cl = 16;
  const ar = 4;
  const writePte = (file: string, binary: Uint8Array) => {
    const data = wrapQnnContext(binary);
    const path = join(tmp, file);
    writeFileSync(path, buildPte({ plans: ["prefill_forward", "kv_forward"].map((name) => ({ name, delegates: [{ id: "QnnBackend", data, storage: "segment" as const }] })) }));
    return path;
  };

  it("kv_forward and prefill_forward of a recorded current-flow binary answer executeAr as the in-memory fakes do", async () => {
    const enc: ArDeviceEncodings = { ...ENC, logits: logitsEncoding(-30, 30), k: Array.from({ length: NL }, () => kvEncoding(8)), v: Array.from({ length: NL }, () => kvEncoding(8)) };
    const infos = [arDeviceGraph(model, cl, 1, { enc, shuffle: 6 }), arDeviceGraph(model, cl, ar, { enc, shuffle: 8 })];
    const init = { model, contextLen: cl, arLens: [1, ar] };
    const fakes = infos.map((info, i) => arExecutableGraph(info, model, cl, i === 0 ? 1 : ar));
    const mem = createQnnBackendFromGraphs(init, { kv: fakes[0], prefill: fakes[1] }, { where: "memory" });
    const r = rng(5);
    const inputsOf = (rows: number, nPast: number): ArGraphInputs => {
      const { kCaches, vCaches } = allocArCaches(c, cl, rows);
      for (const a of [...kCaches, ...vCaches]) for (let i = 0; i < a.length; i++) a[i] = Math.fround(2 * r() - 1);
      return { tokens: Int32Array.from({ length: rows }, (_, i) => 20 + i), attnMask: arCausalMask(cl, rows, nPast), inputPos: Int32Array.from({ length: rows }, (_, i) => nPast + i), kCaches, vCaches };
    };
    const cases = [{ rows: ar, inp: inputsOf(ar, 2) }, { rows: 1, inp: inputsOf(1, 7) }];
    const memOut: ArGraphOutputs[] = [];
    for (const { rows, inp } of cases) {
      const o = allocArOutputs(c, cl, rows);
      await mem.executeAr!(rows, inp, o);
      memOut.push(o);
    }
    // TABLE graphs keyed on every input, one entry per recorded call.
    const graphs = infos.map((info, i) => ({
      ...info,
      kind: "TABLE" as const,
      keyInputs: info.inputs.map((_, k) => k),
      entries: fakes[i].calls.map((call) => ({ key: Buffer.concat(call.inputs), out: Buffer.concat(call.outputs) })),
    }));
    const pte = writePte("current.pte", writeStandInBinary({ graphs }));
    const b = await createQnnBackend({ ...init, pte, ...libs! });
    try {
      expect(b.graphs.ar!.map((s) => [s.name, s.arLen])).toEqual([["kv_forward", 1], ["prefill_forward", ar]]);
      for (let j = 0; j < cases.length; j++) {
        const o = allocArOutputs(c, cl, cases[j].rows);
        await b.executeAr!(cases[j].rows, cases[j].inp, o);
        allOf(o).forEach((a, t) => expect(bitsEqual(a, allOf(memOut[j])[t])).toBe(true));
      }
    } finally {
      b.dispose();
    }
    // kv mode needs only kv_forward.
    const kvOnly = await createQnnBackend({ model, contextLen: cl, arLens: [1], pte, ...libs! });
    expect(kvOnly.graphs.ar!.map((s) => s.name)).toEqual(["kv_forward"]);
    kvOnly.dispose();
  });

  it("a seed-flow .pte with the current flow's lengths is refused as a seed-flow (per-head KV) graph", async () => {
    const seed = standInGraphs(model, { kvSeqLen: cl, prefillSeqLen: ar + 1 }, SEED_ENC);
    const pte = writePte("seed.pte", writeStandInBinary({ graphs: [seed.kv!, seed.prefill!] }));
    const err = await createQnnBackend({ model, contextLen: cl, arLens: [1, ar], pte, ...libs! }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/^kv_forward in --pte .*seed\.pte: 43 inputs and 41 outputs, SPEC-2026 §3 expects 13 and 11 .*it looks like a seed-flow \(per-head KV\) graph/);
  });
});
