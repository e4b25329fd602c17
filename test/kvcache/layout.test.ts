// KV-cache managers against SPEC §4–5: buffer sizes, view offsets, mask updates and hand-over, checked on
// the managers alone with synthetic K/V values (no model).
import { describe, expect, it } from "vitest";
import { createShiftPointer } from "../../src/kvcache/shift-pointer.js";
import { createSmartMask } from "../../src/kvcache/smart-mask.js";
import { QUANT_ENCODING, type CacheDims } from "../../src/kvcache/types.js";

const shapes = [
  { H: 4, hd: 8, L: 63 },
  { H: 12, hd: 64, L: 127 },
  { H: 8, hd: 64, L: 511 },
  { H: 1, hd: 2, L: 3 },
];

const dims = (H: number, hd: number, L: number, mode: CacheDims["mode"], P = 2): CacheDims => ({
  nLayers: 3,
  nKvHeads: H,
  headDim: hd,
  kvSeqLen: L + 1,
  prefillSeqLen: P + 1,
  mode,
});

describe("buffer sizes equal SPEC §4–5's formulas", () => {
  it.each(shapes)("H=$H hd=$hd L=$L", ({ H, hd, L }) => {
    const sp = createShiftPointer(dims(H, hd, L, "kv")).sizes();
    expect(sp.kInPerHead).toBe((hd + 1) * L);
    expect(sp.vPerLayer).toBe((H + 1) * L * hd);
    expect(sp.kOutPerLayer).toBe(H * hd);
    expect(sp.mask).toBe(L + 1);
    const sm = createSmartMask(dims(H, hd, L, "kv")).sizes();
    expect(sm.kPerHead).toBe(hd * L);
    expect(sm.vPerHead).toBe(hd * L);
    expect(sm.kTotal).toBe(3 * H * hd * L);
    expect(sm.mask).toBe(L + 1);
  });

  it("sizes use M = max(L, P): L in hybrid, P in prefill-only mode", () => {
    const hy = createShiftPointer(dims(4, 8, 40, "hybrid", 31)).sizes();
    expect(hy.kInPerHead).toBe(9 * 40);
    expect(hy.kOutPerLayer).toBe(4 * 8 * 31); // the prefill graph's K lands here, H*hd*P
    const pf = createShiftPointer(dims(4, 8, 40, "prefill", 31)).sizes();
    expect(pf.vPerLayer).toBe(5 * 31 * 8);
    expect(pf.kInPerHead).toBe(0);
    expect(createSmartMask(dims(4, 8, 40, "prefill", 31)).sizes().kPerHead).toBe(8 * 31);
  });

  it("hybrid with kv_seq_len < prefill_seq_len is refused", () => {
    expect(() => createSmartMask(dims(4, 8, 10, "hybrid", 20))).toThrow(/kv_seq_len >= prefill_seq_len/);
  });
});

/** Fills the KV graph's output tensors with values that encode (position, layer*H+head, dim). */
function fakeStep(outs: { kOut: Float32Array[]; vOut: Float32Array[] }, pos: number) {
  outs.kOut.forEach((k, i) => k.forEach((_, d) => (k[d] = 1000 * (pos + 1) + 10 * i + d / 100)));
  outs.vOut.forEach((v, i) => v.forEach((_, d) => (v[d] = -(1000 * (pos + 1) + 10 * i + d / 100))));
}
const kVal = (pos: number, i: number, d: number) => Math.fround(1000 * (pos + 1) + 10 * i + d / 100);

describe("Shift Pointer moves its views, Smart Mask never does", () => {
  const H = 2, hd = 4, L = 6;

  it("Shift Pointer: K view +1 element and V view +hd per step; mask opens L-(p+1); invariant holds", () => {
    const sp = createShiftPointer(dims(H, hd, L, "kv"));
    sp.startKv();
    const k0 = sp.kvInputs().kCaches.map((a) => a.byteOffset);
    const v0 = sp.kvInputs().vCaches.map((a) => a.byteOffset);
    for (let p = 0; p < L; p++) {
      const inp = sp.kvInputs();
      inp.kCaches.forEach((a, i) => expect(a.byteOffset - k0[i]).toBe(4 * p));
      inp.vCaches.forEach((a, i) => expect(a.byteOffset - v0[i]).toBe(4 * p * hd));
      // Invariant at position p: mask open at L-p .. L; columns L-p .. L-1 hold tokens 0..p-1, oldest first.
      expect(Array.from(inp.attnMask).map((m, j) => (m === 0 ? j : -1)).filter((j) => j >= 0)).toEqual(
        Array.from({ length: p + 1 }, (_, j) => L - p + j),
      );
      for (let q = 0; q < p; q++)
        inp.kCaches.forEach((kc, i) => {
          for (let d = 0; d < hd; d++) expect(kc[d * L + (L - p + q)]).toBe(kVal(q, i, d));
          expect(inp.vCaches[i][(L - p + q) * hd]).toBe(-kVal(q, i, 0));
        });
      fakeStep(sp.kvOutputs(), p);
      sp.updateAfterKvStep(p);
    }
  });

  it("Shift Pointer's V output is written straight into place: right past the head's input window", () => {
    const sp = createShiftPointer(dims(H, hd, L, "kv"));
    const inp = sp.kvInputs();
    const out = sp.kvOutputs();
    for (let h = 0; h < H; h++) {
      const vin = inp.vCaches[h];
      expect(out.vOut[h].buffer).toBe(vin.buffer);
      expect(out.vOut[h].byteOffset).toBe(vin.byteOffset + 4 * L * hd);
    }
  });

  it("Smart Mask: fixed views; step p copies K column p and V row p and opens mask[p]", () => {
    const sm = createSmartMask(dims(H, hd, L, "kv"));
    sm.startKv();
    const first = sm.kvInputs();
    for (let p = 0; p < L; p++) {
      const inp = sm.kvInputs();
      inp.kCaches.forEach((a, i) => expect(a.byteOffset).toBe(first.kCaches[i].byteOffset));
      inp.vCaches.forEach((a, i) => expect(a.byteOffset).toBe(first.vCaches[i].byteOffset));
      fakeStep(sm.kvOutputs(), p);
      sm.updateAfterKvStep(p);
      const after = sm.kvInputs();
      after.kCaches.forEach((kc, i) => {
        for (let d = 0; d < hd; d++) expect(kc[d * L + p]).toBe(kVal(p, i, d));
        expect(after.vCaches[i][p * hd + 1]).toBe(-kVal(p, i, 1));
      });
      expect(after.attnMask[p]).toBe(0);
      expect(after.attnMask[p + 1 <= L - 1 ? p + 1 : L - 1]).toBe(p + 1 <= L - 1 ? -255 : 0);
    }
    expect(Array.from(sm.kvInputs().attnMask).every((m) => m === 0)).toBe(true);
    expect(() => sm.updateAfterKvStep(L)).toThrow(RangeError);
  });

  it("all caches of Smart Mask live in one shared buffer (the rpcmem allocation)", () => {
    const sm = createSmartMask(dims(H, hd, L, "kv"));
    const bufs = new Set([...sm.kvInputs().kCaches, ...sm.kvInputs().vCaches, ...sm.kvOutputs().kOut, ...sm.kvOutputs().vOut].map((a) => a.buffer));
    expect(bufs.size).toBe(1);
  });
});

describe("hybrid hand-over", () => {
  const H = 2, hd = 3, L = 7, P = 5, n = 3;
  /** Writes a prefill output whose K[d, t] and V[t, d] encode (t, head index, d). */
  function fakePrefill(outs: { kOut: Float32Array[]; vOut: Float32Array[] }) {
    outs.kOut.forEach((k, i) => {
      for (let d = 0; d < hd; d++) for (let t = 0; t < P; t++) k[d * P + t] = kVal(t, i, d);
    });
    outs.vOut.forEach((v, i) => {
      for (let t = 0; t < P; t++) for (let d = 0; d < hd; d++) v[t * hd + d] = -kVal(t, i, d);
    });
  }

  for (const make of [createShiftPointer, createSmartMask]) {
    it(`${make === createShiftPointer ? "Shift Pointer" : "Smart Mask"} moves the prefill K/V of positions 0..n-1 into the KV caches`, () => {
      const m = make(dims(H, hd, L, "hybrid", P));
      fakePrefill(m.prefillOutputs());
      m.handOverFromPrefill(n);
      m.startKv();
      const inp = m.kvInputs();
      const open = Array.from(inp.attnMask).map((v, j) => (v === 0 ? j : -1)).filter((j) => j >= 0);
      // Tokens 0..n-1 sit in columns L-n..L-1 (Shift Pointer) or 0..n-1 (Smart Mask); column L is the current token.
      const col = (t: number) => (m.kind === "shift_pointer" ? L - n + t : t);
      expect(open).toEqual([...Array.from({ length: n }, (_, t) => col(t)), L]);
      if (m.kind === "shift_pointer") {
        expect(inp.kCaches[0].byteOffset - m.prefillOutputs().kOut[0].byteOffset).not.toBe(0);
      }
      for (let i = 0; i < 3 * H; i++)
        for (let t = 0; t < n; t++) {
          for (let d = 0; d < hd; d++) {
            expect(inp.kCaches[i][d * L + col(t)]).toBe(kVal(t, i, d));
            expect(inp.vCaches[i][col(t) * hd + d]).toBe(-kVal(t, i, d));
          }
          expect(Array.from(m.readK(Math.floor(i / H), i % H, t))).toEqual(Array.from({ length: hd }, (_, d) => kVal(t, i, d)));
        }
      // The first KV step after the hand-over feeds position n; its K/V land where position n belongs.
      fakeStep(m.kvOutputs(), n);
      m.updateAfterKvStep(n);
      const after = m.kvInputs();
      const colAfter = (t: number) => (m.kind === "shift_pointer" ? L - (n + 1) + t : t);
      for (let i = 0; i < 3 * H; i++) {
        for (let d = 0; d < hd; d++) expect(after.kCaches[i][d * L + colAfter(n)]).toBe(kVal(n, i, d));
        expect(after.kCaches[i][colAfter(0)]).toBe(kVal(0, i, 0));
      }
    });
  }

  it("prefill-only mode has no KV graph", () => {
    const m = createSmartMask(dims(H, hd, L, "prefill", P));
    expect(() => m.kvInputs()).toThrow(/prefill mode/);
  });
});

describe("generic element type", () => {
  it("the same managers drive uint8 caches with the uint16 quantized mask (65535 attend, 0 blocked)", () => {
    const sp = createShiftPointer(dims(2, 4, 6, "kv"), QUANT_ENCODING);
    sp.startKv();
    const inp = sp.kvInputs();
    expect(inp.kCaches[0]).toBeInstanceOf(Uint8Array);
    expect(inp.attnMask).toBeInstanceOf(Uint16Array);
    expect(Array.from(inp.attnMask)).toEqual([0, 0, 0, 0, 0, 0, 65535]);
    sp.kvOutputs().kOut[0].fill(7);
    sp.updateAfterKvStep(0);
    expect(sp.kvInputs().attnMask[5]).toBe(65535);
    expect(sp.kvInputs().kCaches[0][5]).toBe(7);
  });
});
