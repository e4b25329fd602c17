// A graph call is a pure function of its typed-array inputs: inputs are never written, repeated calls give
// the same bits, and outputs that alias input buffers (as Shift Pointer's V output does) change nothing.
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { bitsEqual, loadStories260K } from "../helpers/fixtures.js";
import { createKvGraph, kvForward } from "../../src/engine/kv-graph.js";
import { createPrefillGraph, prefillForward } from "../../src/engine/prefill-graph.js";
import { allocKvOutputs, causalMask } from "../../src/engine/graph-io.js";
import { LAYER_TAPS } from "../../src/engine/decoder.js";

const model = loadStories260K();
const hash = (arrays: ArrayBufferView[]) => {
  const h = createHash("sha256");
  for (const a of arrays) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest("hex");
};

/** KV-graph inputs with pseudo-random cache contents and a half-open mask. */
function kvInputs(L: number) {
  let s = 12345;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 2;
  const n = model.config.nLayers * model.config.nKvHeads;
  const hd = model.config.headDim;
  const mask = new Float32Array(L + 1).fill(-255);
  for (let c = L - 5; c <= L; c++) mask[c] = 0;
  return {
    tokens: Int32Array.of(407),
    attnMask: mask,
    inputPos: Int32Array.of(5),
    kCaches: Array.from({ length: n }, () => Float32Array.from({ length: hd * L }, rnd)),
    vCaches: Array.from({ length: n }, () => Float32Array.from({ length: hd * L }, rnd)),
  };
}

describe("graph purity", () => {
  it("kv_forward: inputs untouched, same bits twice", () => {
    const g = createKvGraph(model, 16);
    const inp = kvInputs(15);
    const all = [inp.tokens, inp.attnMask, inp.inputPos, ...inp.kCaches, ...inp.vCaches];
    const before = hash(all);
    const a = kvForward(g, inp);
    const b = kvForward(g, inp);
    expect(hash(all)).toBe(before);
    expect(bitsEqual(a.logits, b.logits)).toBe(true);
    a.kOut.forEach((k, i) => expect(bitsEqual(k, b.kOut[i])).toBe(true));
  });

  it("kv_forward: outputs written into input buffers (aliasing) give the same results", () => {
    const g = createKvGraph(model, 16);
    const inp = kvInputs(15);
    const clean = kvForward(g, inp);
    // Point every V output at the first row of an input V cache of another head, like Shift Pointer's layout.
    const out = allocKvOutputs(model.config);
    out.vOut = inp.vCaches.map((_, i) => inp.vCaches[(i + 1) % inp.vCaches.length].subarray(0, model.config.headDim));
    kvForward(g, inp, out);
    expect(bitsEqual(out.logits, clean.logits)).toBe(true);
    out.vOut.forEach((v, i) => expect(bitsEqual(v, clean.vOut[i])).toBe(true));
  });

  it("prefill_forward: inputs untouched, same bits twice", () => {
    const g = createPrefillGraph(model, 9);
    const tokens = Int32Array.of(1, 403, 407, 261, 378, 0, 0, 0);
    const attnMask = causalMask(8);
    const before = hash([tokens, attnMask]);
    const a = prefillForward(g, { tokens, attnMask });
    const b = prefillForward(g, { tokens, attnMask });
    expect(hash([tokens, attnMask])).toBe(before);
    expect(bitsEqual(a.logits, b.logits)).toBe(true);
  });

  it("padding does not leak into earlier rows (causal mask), and position is what RoPE sees", () => {
    const g = createPrefillGraph(model, 9);
    const m = causalMask(8);
    const a = prefillForward(g, { tokens: Int32Array.of(1, 403, 407, 0, 0, 0, 0, 0), attnMask: m });
    const b = prefillForward(g, { tokens: Int32Array.of(1, 403, 407, 99, 98, 97, 96, 95), attnMask: m });
    expect(bitsEqual(a.logits.subarray(0, 3 * 512), b.logits.subarray(0, 3 * 512))).toBe(true);
    expect(bitsEqual(a.logits.subarray(3 * 512, 4 * 512), b.logits.subarray(3 * 512, 4 * 512))).toBe(false);
  });

  it("refuses inputs of the wrong shape", () => {
    const g = createKvGraph(model, 16);
    const inp = kvInputs(14);
    expect(() => kvForward(g, inp)).toThrow(/atten_mask has 15 elements, expected 16/);
    const ok = kvInputs(15);
    expect(() => kvForward(g, { ...ok, tokens: Int32Array.of(512) })).toThrow(/outside the vocabulary/);
    expect(() => kvForward(g, { ...ok, inputPos: Int32Array.of(16) })).toThrow(/position 16/);
  });
});

describe("intermediate taps", () => {
  it("report every layer's tensors in compute order without changing any output", () => {
    const g = createKvGraph(model, 16);
    const inp = kvInputs(15);
    const plain = kvForward(g, inp);
    const seen: string[] = [];
    const copies = new Map<string, Float32Array>();
    const tapped = kvForward(g, inp, undefined, (layer, name, data) => {
      seen.push(`${layer}:${name}`);
      copies.set(`${layer}:${name}`, data.slice());
    });
    expect(bitsEqual(tapped.logits, plain.logits)).toBe(true);
    const NL = model.config.nLayers;
    expect(seen.length).toBe(2 + 13 * NL);
    expect(seen[0]).toBe("-1:embedding");
    expect(seen.at(-1)).toBe(`${NL}:final_norm`);
    expect(seen.slice(1, 14)).toEqual(LAYER_TAPS.map((n) => `0:${n}`));
    // The new K/V outputs are the last layer's `k`/`v` taps; the embedding tap is the token's table row.
    const hd = model.config.headDim;
    expect(Array.from(copies.get(`${NL - 1}:k`)!.subarray(0, hd))).toEqual(Array.from(tapped.kOut[(NL - 1) * model.config.nKvHeads]));
    expect(Array.from(copies.get("-1:embedding")!)).toEqual(Array.from(model.weights.tokEmbeddings.subarray(407 * 64, 408 * 64)));
  });
});
