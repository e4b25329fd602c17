// The current flow's quantized attention (src/quant/current/attention.ts) against a plain oracle written here from
// static_llama.py's forward_attention_conv and the QNN annotations (SPEC-2026 §8.1, §10.1): q·k, ÷√hd, mask add or
// the masked softmax's min / min - 20 / select, softmax — each output fake-quantized with its own encoding, the
// ÷√hd with the derived one — then ·V. And the calibration's q·k encoding against the observed range of every score,
// computed here from the fp32 graph's q tap and K outputs.
import { describe, expect, it } from "vitest";
import { attentionScale, type KvView } from "../../../src/engine/attention.js";
import { arForward, createArGraph } from "../../../src/engine/ar-graph.js";
import { calibrationSequences, collateCalibrationBatch } from "../../../src/quant/calibration-data.js";
import { attentionPointName, stagedAttendRow, type AttentionPoint } from "../../../src/quant/current/attention.js";
import { fakeQuantInPlace, actEncoding, emptyRange, observe } from "../../../src/quant/current/activations.js";
import type { QuantEncoding } from "../../../src/quant/affine.js";
import { calibrateCase, quantModels, EVAL_TEXT } from "../../helpers/current-quant.js";
import { rng } from "../../helpers/rng.js";

const fr = Math.fround;
const rne = (x: number) => {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
};
/** uint16 affine fake quantization, plainly: q = clamp(rne(fp32(x · fp32(1/s))) + zp), fp32((q - zp)·s). */
const fq = (x: number, e: { scale: number; zeroPoint: number }) => {
  const q = Math.min(65535, Math.max(0, rne(fr(x * fr(1 / e.scale))) + e.zeroPoint));
  return fr((q - e.zeroPoint) * e.scale);
};
const enc = (scale: number, zeroPoint: number): QuantEncoding => ({ scale: fr(scale), zeroPoint, offset: -zeroPoint, qmin: 0, qmax: 65535, bitwidth: 16, signed: false, symmetric: false });

function oracleRow(q: number[], K: number[][], V: number[][], mask: number[], E: Record<string, { scale: number; zeroPoint: number }>, masked: boolean, hd: number): number[] {
  const cols = K.length;
  const scale = fr(Math.sqrt(hd));
  let s = K.map((k) => fq(fr(q.reduce((a, qd, d) => a + qd * k[d], 0)), E.qk));
  s = s.map((x) => fq(fr(x / scale), E.scaled));
  if (masked) {
    const m = fq(Math.min(...s), E.min);
    const fill = fq(fr(m - 20), E.min_minus);
    s = s.map((x, c) => fq(mask[c] !== 0 ? fill : x, E.select));
  } else s = s.map((x, c) => fq(fr(x + mask[c]), E.mask_add));
  const mx = Math.max(...s);
  const e = s.map((x) => fr(Math.exp(x - mx)));
  const sum = e.reduce((a, x) => a + x, 0);
  const p = e.map((x) => fq(fr(x / sum), E.softmax));
  return Array.from({ length: hd }, (_, d) => fr(p.reduce((a, pc, c) => a + pc * V[c][d], 0)));
}

describe("quantized attention row", () => {
  for (const masked of [false, true])
    it(`masked softmax ${masked}: bit-identical to the plain oracle on 50 random rows`, () => {
      const rnd = rng(masked ? 7 : 3);
      const hd = 8;
      const cols = 12;
      for (let trial = 0; trial < 50; trial++) {
        const q = Array.from({ length: hd }, () => fr(rnd() * 4 - 2));
        const K = Array.from({ length: cols }, () => Array.from({ length: hd }, () => fr(rnd() * 4 - 2)));
        const V = Array.from({ length: cols }, () => Array.from({ length: hd }, () => fr(rnd() * 2 - 1)));
        const mask = Array.from({ length: cols }, (_, c) => (c > 8 || rnd() < 0.2 ? -255 : 0));
        const qk = enc(16 / 65535, 32768);
        const E: Record<AttentionPoint, QuantEncoding> = {
          qk,
          scaled: enc(qk.scale / attentionScale(hd), 32768),
          mask_add: enc(270 / 65535, 62000),
          min: enc(8 / 65535, 65000),
          min_minus: enc(30 / 65535, 65535),
          select: enc(30 / 65535, 65000),
          softmax: enc(rnd() / 65535, 0),
        };
        const kData = new Float32Array(hd * cols);
        const vData = new Float32Array(cols * hd);
        K.forEach((k, c) => k.forEach((x, d) => (kData[d * cols + c] = x)));
        V.forEach((v, c) => v.forEach((x, d) => (vData[c * hd + d] = x)));
        const view: KvView = { kData, kOff: 0, kRowStride: cols, kColStride: 1, vData, vOff: 0, vRowStride: hd };
        const row = stagedAttendRow(masked, (p, x, start, end) => fakeQuantInPlace(x, E[p], start, end));
        const y = new Float32Array(hd);
        row(Float32Array.from(q), 0, hd, view, cols, Float32Array.from(mask), 0, attentionScale(hd), new Float32Array(cols), y, 0);
        expect(Array.from(y)).toEqual(oracleRow(q, K, V, mask, E, masked, hd));
      }
    });
});

describe("calibration of the attention points", async () => {
  const m = (await quantModels())[0];
  const CL = 32;
  const text = EVAL_TEXT().slice(0, 90);
  it("q·k's encoding is the MinMax encoding of every score of every head and row; ÷√hd's is derived; the softmax's is [0, max p]", () => {
    const e = calibrateCase(m, { CL, texts: [text] });
    const c = m.model.config;
    const hd = c.headDim;
    const group = c.nHeads / c.nKvHeads;
    const g = createArGraph(m.model, { contextLen: CL, arLen: CL });
    const ranges = Array.from({ length: c.nLayers }, () => emptyRange());
    const sequences = calibrationSequences([text], m.encode, CL);
    expect(sequences.length).toBe(2);
    for (const seq of sequences) {
      const b = collateCalibrationBatch(seq, CL);
      const qs: Float32Array[] = [];
      const none = Array.from({ length: c.nLayers }, () => new Float32Array(0));
      const out = arForward(g, { tokens: b.tokens, attnMask: b.mask, inputPos: b.inputPos, kCaches: none, vCaches: none }, undefined, (l, name, data) => {
        if (name === "q") qs[l] = data.slice();
      });
      for (let l = 0; l < c.nLayers; l++) {
        const k = out.kOut[l]; // [H_kv, hd, AR]: (kvh·hd + d)·CL + j
        for (let i = 0; i < CL; i++)
          for (let h = 0; h < c.nHeads; h++)
            for (let j = 0; j < CL; j++) {
              let dot = 0;
              for (let d = 0; d < hd; d++) dot += qs[l][i * c.nHeads * hd + h * hd + d] * k[(Math.floor(h / group) * hd + d) * CL + j];
              observe(ranges[l], [fr(dot)]);
            }
      }
    }
    for (let l = 0; l < c.nLayers; l++) {
      const r = ranges[l];
      const qk = e.activations.get(attentionPointName(l, "qk"))!;
      expect(qk).toEqual(actEncoding(e.recipe.defaultAct, r));
      expect(e.activations.get(attentionPointName(l, "scaled"))).toEqual({ ...qk, scale: fr(qk.scale / attentionScale(hd)) });
      const sm = e.activations.get(attentionPointName(l, "softmax"))!;
      expect(sm.zeroPoint).toBe(0);
      expect(sm.scale).toBeLessThanOrEqual(fr(1 / 65535));
      expect(e.activations.has(attentionPointName(l, "min"))).toBe(false);
    }
  });

  it("with the masked softmax: min, min - 20 and select have their encodings (no mask add); min_minus is min's range less 20", () => {
    const e = calibrateCase(m, { CL, texts: [text], maskedSoftmax: true });
    for (let l = 0; l < m.model.config.nLayers; l++) {
      for (const p of ["qk", "scaled", "min", "min_minus", "select", "softmax"] as const) expect(e.activations.has(attentionPointName(l, p)), p).toBe(true);
      expect(e.activations.has(attentionPointName(l, "mask_add"))).toBe(false);
      const min = e.observed.get(attentionPointName(l, "min"))!;
      const minus = e.observed.get(attentionPointName(l, "min_minus"))!;
      expect(minus.max).toBe(fr(min.max - 20));
      expect(minus.min).toBe(fr(min.min - 20));
    }
  });
});
