// The current flow's integer arithmetic (src/quant/current/integer.ts) against oracles written here:
// - a BigInt accumulation of the integer codes (per channel and LPBQ), requantized with the documented float64
//   multiplier and round-half-to-even: the same output codes, bit for bit;
// - the fp32 fake-quant product of the same operands: never more than one output code away (the two compute the
//   same real number up to float rounding);
// - on stories260K, the integer graph against its fake-quant oracle: the same greedy tokens for the first steps and
//   greedy tokens (measured: all 123 for 16a8w and the stories260k recipe; docs/quantization.md).
import { describe, expect, it } from "vitest";
import type { QuantEncoding } from "../../../src/quant/affine.js";
import { integerConvRows, integerProbsTimesV, integerScores, type IntegerStats } from "../../../src/quant/current/integer.js";
import { quantizeConvWeights, type WeightSpec } from "../../../src/quant/current/weights.js";
import type { KvView } from "../../../src/engine/attention.js";
import { rng } from "../../helpers/rng.js";
import { calibrateCase, firstDifference, greedy, quantModels } from "../../helpers/current-quant.js";
import { currentQuantizedBackend } from "../../../src/quant/current/quantized-backend.js";

const fr = Math.fround;
const rne = (x: number) => {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
};
const u16 = (scale: number, zeroPoint: number): QuantEncoding => ({ scale: fr(scale), zeroPoint, offset: -zeroPoint, qmin: 0, qmax: 65535, bitwidth: 16, signed: false, symmetric: false });
const u8sym = (scale: number): QuantEncoding => ({ scale: fr(scale), zeroPoint: 128, offset: -128, qmin: 0, qmax: 255, bitwidth: 8, signed: false, symmetric: true });
/** Values on e's grid from random codes. */
const onGrid = (n: number, e: QuantEncoding, r: () => number) => Float32Array.from({ length: n }, () => fr((Math.floor(r() * (e.qmax + 1)) - e.zeroPoint) * e.scale));
const codeOf = (x: number, e: QuantEncoding) => Math.round(x / e.scale) + e.zeroPoint;
const outCode = (acc: bigint, m: number, e: QuantEncoding) => Math.min(e.qmax, Math.max(e.qmin, rne(Number(acc) * m) + e.zeroPoint));
const stats = (): IntegerStats => ({ int32Overflows: 0, maxAccumulator: 0 });

describe("integer conv", () => {
  const specs: WeightSpec[] = [
    { kind: "per_channel", bits: 4, qmax: 7 },
    { kind: "per_channel", bits: 8, qmax: 127 },
    { kind: "lpbq", blockSize: 8, qmax: 7 },
  ];
  for (const spec of specs)
    it(`${spec.kind} ${spec.qmax === 127 ? "int8" : "int4"}: the BigInt oracle's codes exactly; within one code of the fp32 fake-quant product`, () => {
      const r = rng(spec.qmax + (spec.kind === "lpbq" ? 1000 : 0));
      const rows = 12;
      const cols = 32;
      const T = 5;
      const w = Float32Array.from({ length: rows * cols }, () => fr((r() * 2 - 1) * (r() < 0.05 ? 4 : 1)));
      const cw = quantizeConvWeights(w, rows, cols, spec);
      const eIn = u16(6 / 65535, 30000);
      const eOut = u16(3 / 65535, 33000);
      const x = onGrid(T * cols, eIn, r);
      const y = new Float32Array(T * rows);
      const st = stats();
      integerConvRows(y, cw, x, T, eIn, eOut, st);
      for (let t = 0; t < T; t++)
        for (let o = 0; o < rows; o++) {
          let acc = 0n;
          for (let i = 0; i < cols; i++) {
            const m = cw.multipliers ? cw.multipliers[o * (cols / 8) + Math.floor(i / 8)] : 1;
            acc += BigInt(codeOf(x[t * cols + i], eIn) - eIn.zeroPoint) * BigInt(cw.codes[o * cols + i]) * BigInt(m);
          }
          const want = outCode(acc, (eIn.scale * cw.channelScales[o]) / eOut.scale, eOut);
          expect(codeOf(y[t * rows + o], eOut)).toBe(want);
          // fp32 fake-quant of the device weights' product.
          let f = 0;
          for (let i = 0; i < cols; i++) f += x[t * cols + i] * cw.device[o * cols + i];
          const fake = Math.min(65535, Math.max(0, rne(fr(fr(f) * fr(1 / eOut.scale))) + eOut.zeroPoint));
          expect(Math.abs(fake - want)).toBeLessThanOrEqual(1);
        }
      expect(st.maxAccumulator).toBeGreaterThan(0);
      expect(st.int32Overflows).toBe(0);
    });
});

describe("integer attention matmuls", () => {
  it("q·k (uint16 q, uint8 symmetric K) and softmax·V (uint16 p, uint8 V): the BigInt oracle's codes exactly", () => {
    const r = rng(99);
    const hd = 16;
    const cols = 10;
    const e = { q: u16(8 / 65535, 32768), k: u8sym(2 / 127.5), v: u8sym(1 / 127.5), qk: u16(40 / 65535, 30000), softmax: u16(1 / 65535, 0), attn: u16(2 / 65535, 32768) };
    const q = onGrid(hd, e.q, r);
    const kData = onGrid(hd * cols, e.k, r);
    const vData = onGrid(cols * hd, e.v, r);
    const view: KvView = { kData, kOff: 0, kRowStride: cols, kColStride: 1, vData, vOff: 0, vRowStride: hd };
    const scores = new Float32Array(cols);
    integerScores(q, 0, hd, view, cols, scores, e, stats());
    for (let c = 0; c < cols; c++) {
      let acc = 0n;
      for (let d = 0; d < hd; d++) acc += BigInt(codeOf(q[d], e.q) - e.q.zeroPoint) * BigInt(codeOf(kData[d * cols + c], e.k) - 128);
      expect(codeOf(scores[c], e.qk)).toBe(outCode(acc, (e.q.scale * e.k.scale) / e.qk.scale, e.qk));
    }
    const p = onGrid(cols, e.softmax, r);
    const y = new Float32Array(hd);
    integerProbsTimesV(p, cols, hd, view, y, 0, e, stats());
    for (let d = 0; d < hd; d++) {
      let acc = 0n;
      for (let c = 0; c < cols; c++) acc += BigInt(codeOf(p[c], e.softmax)) * BigInt(codeOf(vData[c * hd + d], e.v) - 128);
      expect(codeOf(y[d], e.attn)).toBe(outCode(acc, (e.softmax.scale * e.v.scale) / e.attn.scale, e.attn));
    }
  });
});

describe("integer vs fake-quant graph, stories260K (calibrated on data/eval.txt, CL 128)", async () => {
  const m = (await quantModels())[0];
  it("16a8w and the stories260k recipe: all 123 greedy tokens the same (measured); no int32 overflow (largest |acc| 2.7e7)", async () => {
    for (const [scheme, same] of [["16a8w", 123], [undefined, 123]] as const) {
      const enc = calibrateCase(m, { CL: 128, scheme });
      const s = { mode: "kv" as const, CL: 128, AR: 16, maxSeqLen: 128 };
      const ib = currentQuantizedBackend(m.model, enc, { contextLen: 128, arLens: [1] });
      const fb = currentQuantizedBackend(m.model, enc, { contextLen: 128, arLens: [1], arithmetic: "fake" });
      const it = await greedy(ib, m, s);
      const ft = await greedy(fb, m, s);
      expect(firstDifference(it, ft), scheme ?? "recipe").toBeGreaterThanOrEqual(same);
      expect(ib.integerStats.int32Overflows).toBe(0);
      expect(ib.integerStats.maxAccumulator).toBeGreaterThan(1000);
    }
  });
});
