// Weight codes are exact: every int4/int8/int16 per-channel and LPBQ block code and scale of stories260K and
// tiny_llama3 equals an independent float64 restatement of SPEC §7 (test/quant/reference.ts), and the
// scheme table routes every weight kind to the right spec.
import { describe, expect, it } from "vitest";
import type { Model } from "../../src/engine/weights.js";
import { loadModel } from "../../src/loaders/index.js";
import {
  dequantizeWeightBlockwise,
  dequantizeWeightPerChannel,
  quantizeWeightBlockwise,
  quantizeWeightPerChannel,
} from "../../src/quant/weights.js";
import { quantizeModelWeights, SCHEME_NAMES, SCHEMES, weightSpecFor, type QuantizedLinear, type SchemeName } from "../../src/quant/schemes.js";
import { loadStories260K } from "../helpers/fixtures.js";
import { TINY_PARAMS, TINY_PTH } from "../helpers/tiny-llama3.js";
import { refAffine, refBlock, refPerChannel, rhe } from "./reference.js";

const MODELS: [string, () => Model][] = [
  ["stories260K", loadStories260K],
  ["tiny_llama3", () => loadModel({ checkpoint: TINY_PTH, params: TINY_PARAMS }).model],
];

type Mat = { name: string; w: Float32Array; rows: number; cols: number };
function matrices(m: Model): Mat[] {
  const c = m.config;
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const dims: Record<string, [number, number]> = {
    wq: [q, c.dim], wk: [kv, c.dim], wv: [kv, c.dim], wo: [c.dim, q], w1: [c.hiddenDim, c.dim], w2: [c.dim, c.hiddenDim], w3: [c.hiddenDim, c.dim],
  };
  const out: Mat[] = [];
  m.weights.layers.forEach((l, i) => {
    for (const k of ["wq", "wk", "wv", "wo", "w1", "w2", "w3"] as const) out.push({ name: `layers.${i}.${k}`, w: l[k], rows: dims[k][0], cols: dims[k][1] });
  });
  out.push({ name: "output", w: m.weights.output, rows: c.vocabSize, cols: c.dim });
  return out;
}

/** Compares every element; reports the first mismatch by name and index. */
function sameAll(name: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  expect(got.length, `${name} length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) if (!Object.is(got[i] + 0, want[i] + 0)) expect(`${name}[${i}] = ${got[i]}`).toBe(`${name}[${i}] = ${want[i]}`);
}

describe.each(MODELS)("%s weight codes equal SPEC §7 computed independently", (_label, load) => {
  const model = load();
  const mats = matrices(model);

  it.each([4, 8, 16] as const)("int%i per output channel: every code and scale", (bits) => {
    const qmax = 2 ** (bits - 1) - 1;
    for (const { name, w, rows, cols } of mats) {
      const got = quantizeWeightPerChannel(w, rows, cols, { bits });
      const want = refPerChannel(w, rows, cols, qmax);
      sameAll(`${name} scales`, got.scales, want.scales);
      sameAll(`${name} codes`, got.codes, want.codes);
      expect(got.codes).toBeInstanceOf(bits === 16 ? Int16Array : Int8Array);
      sameAll(`${name} dequant`, dequantizeWeightPerChannel(got), want.codes.map((q, i) => Math.fround(q * want.scales[Math.floor(i / cols)])));
    }
  });

  it.each([64, 32])("LPBQ int4 blocks of %i: every code, channel scale and multiplier", (B) => {
    let blocked = 0;
    for (const { name, w, rows, cols } of mats) {
      if (cols % B !== 0) {
        expect(() => quantizeWeightBlockwise(w, rows, cols, { blockSize: B })).toThrow(/does not divide/);
        continue;
      }
      blocked++;
      const got = quantizeWeightBlockwise(w, rows, cols, { blockSize: B });
      const want = refBlock(w, rows, cols, B);
      sameAll(`${name} S`, got.channelScales, want.S);
      sameAll(`${name} m`, got.multipliers, want.m);
      sameAll(`${name} f`, got.blockScales, want.f);
      sameAll(`${name} codes`, got.codes, want.codes);
      const raw = quantizeWeightBlockwise(w, rows, cols, { blockSize: B, codeScale: "block" });
      sameAll(`${name} raw codes`, raw.codes, refBlock(w, rows, cols, B, true).codes);
      const deq = dequantizeWeightBlockwise(got);
      const nb = cols / B;
      sameAll(`${name} dequant`, deq, want.codes.map((q, i) => {
        const r = Math.floor(i / cols);
        return Math.fround(q * want.m[r * nb + Math.floor((i % cols) / B)] * want.S[r]);
      }));
    }
    expect(blocked).toBeGreaterThan(0);
  });

  it.each(SCHEME_NAMES)("quantizeModelWeights(%s) uses the scheme's spec for every weight", (scheme) => {
    const q = quantizeModelWeights(model, scheme as SchemeName);
    const byName = new Map<string, QuantizedLinear>();
    q.layers.forEach((l, i) => Object.entries(l.linears).forEach(([k, v]) => byName.set(`layers.${i}.${k}`, v)));
    byName.set("output", q.output);
    // the test's own reading of SPEC §7
    const bitsOf = (name: string): number => {
      if (name === "output") return scheme === "16a16w" ? 16 : 8; // stories' LM head is int8 unless 16a16w
      return { "8a8w": 8, "16a4w": 4, "16a8w": 8, "16a16w": 16, "16a4w_block": 4 }[scheme];
    };
    for (const { name, w, rows, cols } of mats) {
      const got = byName.get(name)!;
      const bits = bitsOf(name);
      if (scheme === "16a4w_block" && name !== "output" && cols % 64 === 0) {
        expect(got.granularity, name).toBe("per-block");
        const want = refBlock(w, rows, cols, 64);
        if (got.granularity === "per-block") sameAll(`${name} codes`, got.codes, want.codes);
      } else {
        expect(got.granularity, name).toBe("per-channel");
        const want = refPerChannel(w, rows, cols, 2 ** (bits - 1) - 1);
        if (got.granularity === "per-channel") {
          expect(got.bits, name).toBe(bits);
          sameAll(`${name} scales`, got.scales, want.scales);
          sameAll(`${name} codes`, got.codes, want.codes);
        }
      }
    }
    // embedding table and RMSNorm weights: per-tensor unsigned affine at the activation bitwidth
    const actBits = scheme === "8a8w" ? 8 : 16;
    const tables: [string, Float32Array, (typeof q)["norm"]][] = [
      ["tokEmbeddings", model.weights.tokEmbeddings, q.tokEmbeddings],
      ["norm", model.weights.norm, q.norm],
      ...model.weights.layers.flatMap((l, i) => [
        [`layers.${i}.attnNorm`, l.attnNorm, q.layers[i].attnNorm] as [string, Float32Array, (typeof q)["norm"]],
        [`layers.${i}.ffnNorm`, l.ffnNorm, q.layers[i].ffnNorm] as [string, Float32Array, (typeof q)["norm"]],
      ]),
    ];
    for (const [name, w, t] of tables) {
      let lo = Infinity, hi = -Infinity;
      for (const v of w) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      const { s, zp, qmax } = refAffine(lo, hi, actBits);
      expect([name, t.encoding.scale, t.encoding.zeroPoint, t.encoding.bitwidth]).toEqual([name, s, zp, actBits]);
      sameAll(`${name} codes`, t.codes, Array.from(w, (v) => Math.min(qmax, Math.max(0, rhe(v / s) + zp))));
    }
  });
});

describe("tiny_llama3 with 32-wide blocks blocks every linear", () => {
  it("16a4w_block at block 32", () => {
    const m = MODELS[1][1]();
    const q = quantizeModelWeights(m, "16a4w_block", { blockSize: 32, stories: false });
    for (const l of q.layers) for (const v of Object.values(l.linears)) expect(v.granularity).toBe("per-block");
    expect(q.output.granularity).toBe("per-block"); // not stories: the LM head is a plain linear
    if (q.output.granularity === "per-block") sameAll("output codes", q.output.codes, refBlock(m.weights.output, 768, 96, 32).codes);
  });
});

describe("LPBQ worked by hand", () => {
  it("one row, four blocks of two", () => {
    // f = [7/7, 3.5/7, 0.1/7, eps]; S = 1/16; m = [16, 8, round(0.229) -> clamp 1, round(0.0039) -> clamp 1]
    const w = Float32Array.from([7, -7, 3.5, 1, 0.1, 0, 0, 0]);
    const q = quantizeWeightBlockwise(w, 1, 8, { blockSize: 2 });
    expect(Array.from(q.blockScales)).toEqual([1, 0.5, Math.fround(0.1 / 7), 2 ** -12]);
    expect(Array.from(q.channelScales)).toEqual([1 / 16]);
    expect(Array.from(q.multipliers)).toEqual([16, 8, 1, 1]);
    // block 2: 0.1 / (1/16) = 1.6 -> 2 (the raw block scale would give 7)
    expect(Array.from(q.codes)).toEqual([7, -7, 7, 2, 2, 0, 0, 0]);
    expect(Array.from(quantizeWeightBlockwise(w, 1, 8, { blockSize: 2, codeScale: "block" }).codes)).toEqual([7, -7, 7, 2, 7, 0, 0, 0]);
    expect(Array.from(dequantizeWeightBlockwise(q))).toEqual([7, -7, 3.5, 1, 0.125, 0, 0, 0]);
  });

  it("a multiplier rounded down clips the block's extreme codes at 7", () => {
    // f = [1, fround(0.53/7)]: f1/S = 1.2114... -> m = 1, scale 1/16, 0.53 * 16 = 8.48 -> clamp 7
    const q = quantizeWeightBlockwise(Float32Array.from([7, 0, 0.53, -0.53]), 1, 4, { blockSize: 2 });
    expect(Array.from(q.multipliers)).toEqual([16, 1]);
    expect(Array.from(q.codes)).toEqual([7, 0, 7, -7]);
  });

  it("all-zero rows get the eps scale and zero codes", () => {
    const z = new Float32Array(8);
    const pc = quantizeWeightPerChannel(z, 2, 4, { bits: 4 });
    expect(Array.from(pc.scales)).toEqual([2 ** -12, 2 ** -12]);
    expect(Array.from(pc.codes)).toEqual(new Array(8).fill(0));
    const b = quantizeWeightBlockwise(z, 1, 8, { blockSize: 4 });
    expect(Array.from(b.channelScales)).toEqual([2 ** -16]);
    expect(Array.from(b.multipliers)).toEqual([16, 16]);
  });

  it("rejects bad input", () => {
    expect(() => quantizeWeightPerChannel(new Float32Array(5), 2, 3, { bits: 8 })).toThrow(/\[2, 3\]/);
    expect(() => quantizeWeightPerChannel(new Float32Array(4), 2, 2, { bits: 4, qmax: 8 })).toThrow(/qmax/);
    expect(() => quantizeWeightPerChannel(Float32Array.from([1, NaN]), 1, 2, { bits: 8 })).toThrow(/NaN/);
    expect(() => quantizeWeightBlockwise(new Float32Array(6), 1, 6, { blockSize: 4 })).toThrow(/does not divide/);
  });
});

describe("scheme table", () => {
  it("weightSpecFor follows SPEC §7", () => {
    expect(weightSpecFor("16a4w", "wq")).toEqual({ granularity: "per-channel", bits: 4, qmax: 7 });
    expect(weightSpecFor("16a4w", "wv")).toEqual({ granularity: "per-channel", bits: 4, qmax: 7 });
    expect(SCHEMES["16a4w"].vProjectionActivationBits).toBe(8);
    expect(weightSpecFor("16a4w", "output")).toEqual({ granularity: "per-channel", bits: 8, qmax: 127 });
    expect(weightSpecFor("16a4w", "output", { stories: false })).toEqual({ granularity: "per-channel", bits: 4, qmax: 7 });
    expect(weightSpecFor("16a4w", "tokEmbeddings")).toEqual({ granularity: "per-tensor-affine", bits: 16 });
    expect(weightSpecFor("8a8w", "attnNorm")).toEqual({ granularity: "per-tensor-affine", bits: 8 });
    expect(weightSpecFor("8a8w", "w2")).toEqual({ granularity: "per-channel", bits: 8, qmax: 127 });
    expect(weightSpecFor("16a16w", "w1")).toEqual({ granularity: "per-channel", bits: 16, qmax: 32767 });
    expect(weightSpecFor("16a4w_block", "w3")).toEqual({ granularity: "per-block", bits: 4, qmax: 7, blockSize: 64 });
    expect(weightSpecFor("16a4w_block", "w3", { blockSize: 32 })).toEqual({ granularity: "per-block", bits: 4, qmax: 7, blockSize: 32 });
    expect(SCHEMES["16a4w"].kv).toEqual({ bits: 8, symmetric: true });
    expect(() => weightSpecFor("4a4w" as SchemeName, "wq")).toThrow(/unknown quantization scheme/);
  });
});
