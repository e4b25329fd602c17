// The current flow's KV manager against SPEC-2026 §4: the §4.6 worked example buffer by buffer (hybrid prefill
// chunks, backward rearrange 12→15, decode steps, turn 2 with the forward rearrange 15→12), kv mode, rearrange
// round trips, uint8/uint16 encodings, lookahead `selected`, and bad calls. Expected values are written by hand
// from the spec's layout formulas (K in r·C + s, V in (h·C + s)·hd + d), never read back through the manager.
import { describe, expect, it } from "vitest";
import {
  QUANT16_ENCODING,
  createCurrentKvManager,
  iotaMap,
  type CurrentKvDims,
  type CurrentKvManager,
} from "../../src/kvcache/current-kv-manager.js";
import { FP32_ENCODING, QUANT_ENCODING, type CacheArray, type CacheEncoding, type MaskArray } from "../../src/kvcache/types.js";

type Mgr = CurrentKvManager<CacheArray, MaskArray>;
const NL = 2, H = 2, hd = 3, CL = 16;
const R = H * hd;
const hybrid: CurrentKvDims = { nLayers: NL, nKvHeads: H, headDim: hd, contextLen: CL, arPrefill: 4, arDecode: 1 };

/** Distinguishable K/V of token `tok` (layer, head, dim); small enough for uint8 when `small`. */
const kVal = (tok: number, l: number, h: number, d: number, small = false) =>
  small ? 1 + ((tok * 11 + l * 5 + h * 3 + d) % 120) : 1000 * (tok + 1) + 100 * l + 10 * h + d;
const vVal = (tok: number, l: number, h: number, d: number, small = false) =>
  small ? 128 + kVal(tok, l, h, d, true) : -kVal(tok, l, h, d);

/** Writes the graph outputs of the fed rows (token ids) into K out [H, hd, a] and V out [H, a, hd] as a graph would. */
function graphWrites(m: Mgr, toks: number[], small = false) {
  const io = m.graphIO();
  const a = io.ar;
  expect(toks.length).toBe(a);
  io.layers.forEach(({ kOut, vOut }, l) => {
    for (let h = 0; h < H; h++)
      for (let d = 0; d < hd; d++)
        toks.forEach((t, i) => {
          kOut[(h * hd + d) * a + i] = kVal(t, l, h, d, small);
          vOut[(h * a + i) * hd + d] = vVal(t, l, h, d, small);
        });
  });
}

const kAt = (m: Mgr, l: number, h: number, d: number, s: number, C: number) => m.buffers(l).kIn[(h * hd + d) * C + s];
const vAt = (m: Mgr, l: number, h: number, d: number, s: number, C: number) => m.buffers(l).vIn[(h * C + s) * hd + d];

/** Slot s at stride C holds token `tok` in every (layer, head, dim), or is untouched (0) when tok is null. */
function expectSlot(m: Mgr, C: number, s: number, tok: number | null, small = false) {
  for (let l = 0; l < NL; l++)
    for (let h = 0; h < H; h++)
      for (let d = 0; d < hd; d++) {
        expect(kAt(m, l, h, d, s, C), `K l${l} h${h} d${d} slot ${s}`).toBe(tok === null ? 0 : kVal(tok, l, h, d, small));
        expect(vAt(m, l, h, d, s, C), `V l${l} h${h} d${d} slot ${s}`).toBe(tok === null ? 0 : vVal(tok, l, h, d, small));
      }
}
const expectSlots = (m: Mgr, C: number, toks: (number | null)[]) => toks.forEach((t, s) => expectSlot(m, C, s, t));

/** Mask rows as the spec prints them: `1` attend, `.` masked (any other value fails). */
function rows(m: Mgr, a: number, enc: CacheEncoding<CacheArray, MaskArray> = FP32_ENCODING as never): string[] {
  const mask = m.mask(a);
  expect(mask.length).toBe(a * CL);
  return Array.from({ length: a }, (_, i) =>
    Array.from(mask.subarray(i * CL, i * CL + CL), (x) => (x === enc.attend ? "1" : x === enc.blocked ? "." : "?")).join(""),
  );
}

const T = [0, 1, 2, 3, 4, 5]; // t0..t5
const Y = (k: number) => 10 + k; // y_k
const U = (k: number) => 20 + k; // u_k (turn 2 prompt)
const STALE = 99; // whatever the graph writes for a padding row
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** §4.6 prefill: init, chunk 0 [t0..t3] at n_past 0, chunk 1 [t4 t5 pad pad] with n_update 2. */
function prefillTurn1(m: Mgr, small = false) {
  m.initAttentionMask(iotaMap(4), 4, 0);
  graphWrites(m, [T[0], T[1], T[2], T[3]], small);
  m.updateCache(4, 0, 4);
  m.updateAttentionMask(4, 0, 4);
  graphWrites(m, [T[4], T[5], STALE, STALE], small);
  m.updateCache(4, 4, 2);
  m.updateAttentionMask(4, 4, 2);
}

/** One decode step (AR 1) feeding token `tok` at position p. */
function decodeStep(m: Mgr, tok: number, p: number) {
  graphWrites(m, [tok]);
  m.updateCache(1, p, 1);
  m.updateAttentionMask(1, p, 1);
}

describe("buffers and graph views (§4.1)", () => {
  it("hybrid CL=16, AR_pp=4, AR_tg=1: max_cache_len 15, max_ar_len 4, per-layer sizes H·hd·15 and H·hd·4", () => {
    const m = createCurrentKvManager(hybrid);
    expect(m.maxCacheLen).toBe(15);
    expect(m.maxArLen).toBe(4);
    expect(m.sizes()).toEqual({
      maxCacheLen: 15, maxArLen: 4, kInPerLayer: 90, vInPerLayer: 90, kOutPerLayer: 24, vOutPerLayer: 24, maskPrefill: 64, maskDecode: 16,
    });
    expect(m.curAr()).toBe(4);
    for (let l = 0; l < NL; l++) {
      const b = m.buffers(l);
      expect([b.kIn.length, b.vIn.length, b.kOut.length, b.vOut.length]).toEqual([90, 90, 24, 24]);
    }
  });

  it("graph views are zero-offset views into the buffers, sized for the current AR (C = 12, then 15)", () => {
    const m = createCurrentKvManager(hybrid);
    let io = m.graphIO();
    expect([io.ar, io.cacheLen, io.mask.length]).toEqual([4, 12, 64]);
    io.layers.forEach((v, l) => {
      const b = m.buffers(l);
      expect([v.kIn.length, v.vIn.length, v.kOut.length, v.vOut.length]).toEqual([72, 72, 24, 24]);
      const bufs = (x: typeof v) => [x.kIn.buffer, x.vIn.buffer, x.kOut.buffer, x.vOut.buffer];
      expect(bufs(v)).toEqual(bufs(b));
      expect([v.kIn.byteOffset, v.vIn.byteOffset, v.kOut.byteOffset, v.vOut.byteOffset]).toEqual([0, 0, 0, 0]);
    });
    io.layers[1].kIn[5] = 7; // a view, not a copy
    expect(m.buffers(1).kIn[5]).toBe(7);
    m.rearrangeCache(1);
    io = m.graphIO();
    expect([io.ar, io.cacheLen, io.mask.length]).toEqual([1, 15, 16]);
    expect([io.layers[0].kIn.length, io.layers[0].vIn.length, io.layers[0].kOut.length, io.layers[0].vOut.length]).toEqual([90, 90, 6, 6]);
  });

  it("AR_pp == CL (cache-less prompt graph): max_cache_len = CL, 0 graph slots, update stride CL, forward rearrange keeps 0..CL-2", () => {
    const m = createCurrentKvManager({ ...hybrid, contextLen: 8, arPrefill: 8 });
    expect([m.maxCacheLen, m.maxArLen, m.storageStride(8), m.storageStride(1)]).toEqual([8, 8, 8, 7]);
    expect(m.graphIO().cacheLen).toBe(0);
    expect(m.graphIO().layers[0].kIn.length).toBe(0);
    const io = m.graphIO();
    io.layers.forEach(({ kOut, vOut }, l) => {
      for (let h = 0; h < H; h++)
        for (let d = 0; d < hd; d++)
          for (let i = 0; i < 8; i++) {
            kOut[(h * hd + d) * 8 + i] = kVal(i, l, h, d);
            vOut[(h * 8 + i) * hd + d] = vVal(i, l, h, d);
          }
    });
    m.updateCache(8, 0, 5);
    for (let s = 0; s < 5; s++) expectSlot(m, 8, s, s);
    expectSlot(m, 8, 5, null);
    m.rearrangeCache(1); // src 8 > dst 7: forward
    expectSlots(m, 7, [0, 1, 2, 3, 4, null, null]);
  });
});

describe("§4.6 worked example (hybrid, CL=16, AR_pp=4, AR_tg=1, prompt t0..t5)", () => {
  it("prefill: mask rows and cache slots after init, chunk 0 and chunk 1 (stride 12)", () => {
    const m = createCurrentKvManager(hybrid);
    m.initAttentionMask(iotaMap(4), 4, 0);
    expect(rows(m, 4)).toEqual(["............1...", "............11..", "............111.", "............1111"]);

    graphWrites(m, [T[0], T[1], T[2], T[3]]);
    m.updateCache(4, 0, 4);
    m.updateAttentionMask(4, 0, 4);
    expect(rows(m, 4)).toEqual(["1111........1...", "1111........11..", "1111........111.", "1111........1111"]);
    expectSlots(m, 12, [0, 1, 2, 3, null, null, null, null, null, null, null, null]);

    graphWrites(m, [T[4], T[5], STALE, STALE]); // rows 2, 3 are padding
    m.updateCache(4, 4, 2);
    m.updateAttentionMask(4, 4, 2);
    expect(rows(m, 4)).toEqual(["111111......1...", "111111......11..", "111111......111.", "111111......1111"]);
    expectSlots(m, 12, [0, 1, 2, 3, 4, 5, null, null, null, null, null, null]);
    // Nothing beyond H·hd·12 was written (the buffers hold 15 slots per row).
    for (let l = 0; l < NL; l++) for (let e = 72; e < 90; e++) expect([m.buffers(l).kIn[e], m.buffers(l).vIn[e]]).toEqual([0, 0]);
  });

  it("decode: backward rearrange 12→15 keeps every slot, leaves stale bytes in slots 12..14; 9 steps at pos 6..14", () => {
    const m = createCurrentKvManager(hybrid);
    prefillTurn1(m);
    /** Element e of a layer's K in before the rearrange (stride 12): row e/12, slot e%12; t0..t5 in slots 0..5. */
    const oldK = (l: number, e: number) => {
      if (e >= 72 || e % 12 >= 6) return 0;
      const row = Math.floor(e / 12);
      return kVal(e % 12, l, Math.floor(row / hd), row % hd);
    };
    /** Element e of a layer's V in before (stride 12): head e/36, slot (e%36)/3, dim e%3. */
    const oldV = (l: number, e: number) => {
      const s = Math.floor((e % 36) / hd);
      return e >= 72 || s >= 6 ? 0 : vVal(s, l, Math.floor(e / 36), e % hd);
    };

    m.rearrangeCache(1);
    expect(m.curAr()).toBe(1);
    expectSlots(m, 15, [0, 1, 2, 3, 4, 5, null, null, null, null, null, null]);
    for (let l = 0; l < NL; l++) {
      // K row r's slots 12..14 = elements r·15+12.. that no memmove wrote: their stride-12 contents.
      for (let r = 0; r < R; r++) for (let k = 0; k < 3; k++) expect(m.buffers(l).kIn[r * 15 + 12 + k]).toBe(oldK(l, r * 15 + 12 + k));
      for (let h = 0; h < H; h++) for (let e = 36; e < 45; e++) expect(m.buffers(l).vIn[h * 45 + e]).toBe(oldV(l, h * 45 + e));
    }
    // Spelled out: K row 0 (h0, d0) slots 12..14 hold t0..t2 of row 1 (h0, d1); V head 0 slots 12..14 hold head 1's t0..t2.
    expect([12, 13, 14].map((s) => kAt(m, 0, 0, 0, s, 15))).toEqual([kVal(0, 0, 0, 1), kVal(1, 0, 0, 1), kVal(2, 0, 0, 1)]);
    expect(vAt(m, 1, 0, 2, 13, 15)).toBe(vVal(1, 1, 1, 2));

    m.initAttentionMask(iotaMap(1), 1, 6);
    expect(rows(m, 1)).toEqual(["111111.........1"]);
    decodeStep(m, Y(0), 6);
    expect(rows(m, 1)).toEqual(["1111111........1"]);
    expectSlot(m, 15, 6, Y(0));
    for (let p = 7; p < 15; p++) decodeStep(m, Y(p - 6), p); // positions 7..14: 9 steps in all
    expect(rows(m, 1)).toEqual(["1111111111111111"]);
    expectSlots(m, 15, [0, 1, 2, 3, 4, 5, ...range(9).map(Y)]);
    expect(() => m.updateCache(1, 15, 1)).toThrow(RangeError); // slot 15 = CL-1 does not exist
    expect(rows(m, 4)).toEqual(["111111......1...", "111111......11..", "111111......111.", "111111......1111"]); // own buffer
  });

  it("turn 2: y3 is EOS at pos 8 → cur_pos 9; forward rearrange 15→12 keeps slots 0..11; u0..u2 at 9..11; decode 12..14", () => {
    const m = createCurrentKvManager(hybrid);
    prefillTurn1(m);
    m.rearrangeCache(1);
    m.initAttentionMask(iotaMap(1), 1, 6);
    for (let p = 6; p < 9; p++) decodeStep(m, Y(p - 6), p); // y0, y1, y2 fed; y3 never fed
    const before = range(NL).map((l) => ({ k: Array.from(m.buffers(l).kIn), v: Array.from(m.buffers(l).vIn) }));

    m.rearrangeCache(4);
    expect(m.curAr()).toBe(4);
    expectSlots(m, 12, [0, 1, 2, 3, 4, 5, Y(0), Y(1), Y(2), null, null, null]);
    for (let l = 0; l < NL; l++) {
      for (let r = 0; r < R; r++) for (let s = 0; s < 12; s++) expect(m.buffers(l).kIn[r * 12 + s]).toBe(before[l].k[r * 15 + s]);
      for (let h = 0; h < H; h++)
        for (let e = 0; e < 36; e++) expect(m.buffers(l).vIn[h * 36 + e]).toBe(before[l].v[h * 45 + e]);
      // Elements past H·hd·12 are not touched by the forward moves (dropped slots left in place).
      for (let e = 72; e < 90; e++) expect([m.buffers(l).kIn[e], m.buffers(l).vIn[e]]).toEqual([before[l].k[e], before[l].v[e]]);
    }

    m.initAttentionMask(iotaMap(4), 4, 9);
    expect(rows(m, 4)).toEqual(["111111111...1...", "111111111...11..", "111111111...111.", "111111111...1111"]);
    graphWrites(m, [U(0), U(1), U(2), T[3]]); // row 3 still holds t3
    m.updateCache(4, 9, 3);
    m.updateAttentionMask(4, 9, 3);
    expect(rows(m, 4)).toEqual(["1111111111111...", "11111111111111..", "111111111111111.", "1111111111111111"]);
    expectSlots(m, 12, [0, 1, 2, 3, 4, 5, Y(0), Y(1), Y(2), U(0), U(1), U(2)]);

    m.rearrangeCache(1);
    m.initAttentionMask(iotaMap(1), 1, 12);
    expect(rows(m, 1)).toEqual(["111111111111...1"]);
    for (let p = 12; p < 15; p++) decodeStep(m, 30 + p, p);
    expect(rows(m, 1)).toEqual(["1111111111111111"]);
    expectSlots(m, 15, [0, 1, 2, 3, 4, 5, Y(0), Y(1), Y(2), U(0), U(1), U(2), 42, 43, 44]);
  });

  it("kv mode (AR_pp = AR_tg = 1): 6 prompt calls at pos 0..5, never a rearrange", () => {
    const m = createCurrentKvManager({ ...hybrid, arPrefill: 1, arDecode: 1 });
    expect([m.maxCacheLen, m.maxArLen, m.curAr()]).toEqual([15, 1, 1]);
    expect(m.sizes().kInPerLayer).toBe(90);
    expect(m.sizes().kOutPerLayer).toBe(6);
    m.initAttentionMask(iotaMap(1), 1, 0);
    expect(rows(m, 1)).toEqual(["...............1"]);
    for (let p = 0; p < 6; p++) decodeStep(m, T[p], p);
    expect(rows(m, 1)).toEqual(["111111.........1"]);
    const snapshot = Array.from(m.buffers(0).kIn);
    m.rearrangeCache(1); // no-op
    expect(Array.from(m.buffers(0).kIn)).toEqual(snapshot);
    expectSlots(m, 15, [0, 1, 2, 3, 4, 5, null, null, null]);
    expect(() => m.rearrangeCache(4)).toThrow(/neither AR_pp 1 nor AR_tg 1/);
  });
});

describe("rearrange_cache round trips", () => {
  /** Deterministic LCG in [0, mod). */
  const lcg = (seed: number) => () => (seed = (seed * 1103515245 + 12345) % 2147483648);

  const cases = [
    { name: "CL 16, 4→1→4 (12→15→12)", d: hybrid },
    { name: "CL 32, 8→1→8, H 3 hd 4", d: { nLayers: 1, nKvHeads: 3, headDim: 4, contextLen: 32, arPrefill: 8, arDecode: 1 } },
    { name: "lookahead CL 32, 4→8→4 (28→24→28)", d: { ...hybrid, contextLen: 32, arPrefill: 4, arDecode: 8 } },
    { name: "CL 9, H 1 hd 1, 3→2→3", d: { nLayers: 1, nKvHeads: 1, headDim: 1, contextLen: 9, arPrefill: 3, arDecode: 2 } },
  ];
  const encs = [
    ["fp32", FP32_ENCODING, 1 << 20],
    ["uint8", QUANT_ENCODING, 256],
    ["uint16", QUANT16_ENCODING, 65536],
  ] as const;

  for (const { name, d } of cases)
    for (const [ename, enc, mod] of encs)
      it(`${name}, ${ename}: identity on the slots both strides keep`, () => {
        const m = createCurrentKvManager(d, enc as CacheEncoding<CacheArray, MaskArray>);
        const rnd = lcg(d.contextLen * 31 + mod);
        const r = d.nKvHeads * d.headDim;
        for (let l = 0; l < d.nLayers; l++) for (const b of [m.buffers(l).kIn, m.buffers(l).vIn]) b.forEach((_, i) => (b[i] = rnd() % mod));
        const s0 = d.contextLen - d.arPrefill;
        const kept = Math.min(s0, d.contextLen - d.arDecode);
        const before = range(d.nLayers).map((l) => ({ k: Array.from(m.buffers(l).kIn), v: Array.from(m.buffers(l).vIn) }));
        m.rearrangeCache(d.arDecode);
        // At the decode stride every kept slot is where the formulas put it.
        const s1 = d.contextLen - d.arDecode;
        for (let l = 0; l < d.nLayers; l++)
          for (let row = 0; row < r; row++)
            for (let s = 0; s < kept; s++) expect(m.buffers(l).kIn[row * s1 + s]).toBe(before[l].k[row * s0 + s]);
        m.rearrangeCache(d.arPrefill);
        for (let l = 0; l < d.nLayers; l++)
          for (let row = 0; row < r; row++)
            for (let s = 0; s < kept; s++) {
              expect(m.buffers(l).kIn[row * s0 + s]).toBe(before[l].k[row * s0 + s]);
              const h = Math.floor(row / d.headDim), dd = row % d.headDim;
              expect(m.buffers(l).vIn[(h * s0 + s) * d.headDim + dd]).toBe(before[l].v[(h * s0 + s) * d.headDim + dd]);
            }
      });

  it("12→15→12 is the identity on the whole stride-12 region", () => {
    const m = createCurrentKvManager(hybrid);
    m.buffers(0).kIn.forEach((_, i, b) => (b[i] = i + 1));
    m.buffers(0).vIn.forEach((_, i, b) => (b[i] = -(i + 1)));
    m.rearrangeCache(1);
    m.rearrangeCache(4);
    expect(Array.from(m.buffers(0).kIn.subarray(0, 72))).toEqual(range(72).map((i) => i + 1));
    expect(Array.from(m.buffers(0).vIn.subarray(0, 72))).toEqual(range(72).map((i) => -(i + 1)));
  });
});

describe("encodings", () => {
  it("uint8 caches + uint16 mask (65535/0): same moves as fp32 and the spec's mask rows", () => {
    const f = createCurrentKvManager(hybrid);
    const q = createCurrentKvManager(hybrid, QUANT_ENCODING);
    for (const m of [f, q] as Mgr[]) {
      prefillTurn1(m, true);
      m.rearrangeCache(1);
      m.initAttentionMask(iotaMap(1), 1, 6);
      graphWrites(m, [Y(0)], true);
      m.updateCache(1, 6, 1);
      m.updateAttentionMask(1, 6, 1);
    }
    for (let l = 0; l < NL; l++) {
      expect(q.buffers(l).kIn).toBeInstanceOf(Uint8Array);
      expect(Array.from(q.buffers(l).kIn)).toEqual(Array.from(f.buffers(l).kIn));
      expect(Array.from(q.buffers(l).vIn)).toEqual(Array.from(f.buffers(l).vIn));
    }
    for (let s = 0; s < 6; s++) expectSlot(q as Mgr, 15, s, s, true);
    expectSlot(q as Mgr, 15, 6, Y(0), true);
    expect(q.mask(1)).toBeInstanceOf(Uint16Array);
    expect(Array.from(q.mask(1))).toEqual([...Array(7).fill(65535), ...Array(8).fill(0), 65535]);
    expect(Array.from(f.mask(1))).toEqual([...Array(7).fill(0), ...Array(8).fill(-255), 0]);
    const expected = ["111111......1...", "111111......11..", "111111......111.", "111111......1111"];
    expect(rows(q as Mgr, 4, QUANT_ENCODING as never)).toEqual(expected);
  });

  it("uint16 caches keep 16-bit values through update and rearrange", () => {
    const m = createCurrentKvManager(hybrid, QUANT16_ENCODING);
    const io = m.graphIO();
    io.layers[0].kOut.fill(60000);
    io.layers[0].vOut.fill(40000);
    m.updateCache(4, 0, 4);
    m.rearrangeCache(1);
    expect(Array.from(m.readK(0, 1, 3))).toEqual([60000, 60000, 60000]);
    expect(Array.from(m.readV(0, 1, 3))).toEqual([40000, 40000, 40000]);
    expect(Array.from(m.readK(0, 1, 4))).toEqual([0, 0, 0]);
  });
});

describe("update_cache with `selected` (lookahead, §4.2 / §6.5)", () => {
  const la: CurrentKvDims = { ...hybrid, nLayers: 1, contextLen: 32, arPrefill: 4, arDecode: 8 };
  const setup = () => {
    const m = createCurrentKvManager(la);
    m.rearrangeCache(8); // 28 > 24: forward
    graphWrites(m, range(8).map((i) => 100 + i));
    return m;
  };
  const sel = (...on: number[]) => range(8).map((i) => on.includes(i));
  const k = (m: Mgr, h: number, s: number) => range(hd).map((d) => kAt(m, 0, h, d, s, 24));
  const v = (m: Mgr, h: number, s: number) => range(hd).map((d) => vAt(m, 0, h, d, s, 24));
  const kOf = (tok: number | null, h: number) => range(hd).map((d) => (tok === null ? 0 : kVal(tok, 0, h, d)));
  const vOf = (tok: number | null, h: number) => range(hd).map((d) => (tok === null ? 0 : vVal(tok, 0, h, d)));

  it("§6.5 step 2: slots 6, 7, 8 ← rows 0, 4, 5 (ascending), slot 9 untouched", () => {
    const m = setup();
    m.updateCache(8, 6, 3, sel(0, 4, 5));
    for (let h = 0; h < H; h++) {
      [100, 104, 105, null].forEach((tok, j) => {
        expect(k(m, h, 6 + j)).toEqual(kOf(tok, h));
        expect(v(m, h, 6 + j)).toEqual(vOf(tok, h));
      });
      expect(k(m, h, 5)).toEqual(kOf(null, h));
    }
  });

  it("more selected rows than n_update: K and V head 0 take the first n_update, V heads ≥ 1 copy every selected row", () => {
    const m = setup();
    m.updateCache(8, 6, 2, sel(0, 1, 3, 7));
    expect([6, 7, 8, 9].map((s) => k(m, 0, s))).toEqual([kOf(100, 0), kOf(101, 0), kOf(null, 0), kOf(null, 0)]);
    expect([6, 7, 8, 9].map((s) => k(m, 1, s))).toEqual([kOf(100, 1), kOf(101, 1), kOf(null, 1), kOf(null, 1)]);
    expect([6, 7, 8, 9].map((s) => v(m, 0, s))).toEqual([vOf(100, 0), vOf(101, 0), vOf(null, 0), vOf(null, 0)]);
    expect([6, 7, 8, 9].map((s) => v(m, 1, s))).toEqual([vOf(100, 1), vOf(101, 1), vOf(103, 1), vOf(107, 1)]);
  });

  it("an empty `selected` is the plain copy; fewer selected rows than n_update or a wrong length is refused", () => {
    const m = setup();
    m.updateCache(8, 0, 2, []);
    expect(k(m, 1, 1)).toEqual(kOf(101, 1));
    expect(() => m.updateCache(8, 2, 3, sel(0, 4))).toThrow(/2 selected rows for n_update 3/);
    expect(() => m.updateCache(8, 2, 1, [true])).toThrow(/selected has 1 entries, AR is 8/);
    expect(() => m.updateCache(8, 22, 2, sel(0, 1, 2))).toThrow(RangeError); // head 1 would write slots 22..24
  });
});

describe("sliding-window mask variant (§4.4 step 3, §4.5)", () => {
  it("window 5 at n_past 6, then after 2 more tokens: each row keeps the last 5 positions", () => {
    const m = createCurrentKvManager(hybrid);
    m.initAttentionMask(iotaMap(4), 4, 6, { size: 5 });
    expect(rows(m, 4)).toEqual(["..1111......1...", "...111......11..", "....11......111.", ".....1......1111"]);
    m.updateAttentionMask(4, 6, 2, { size: 5 });
    expect(rows(m, 4)).toEqual(["....1111....1...", ".....111....11..", "......11....111.", ".......1....1111"]);
  });
});

describe("bad calls throw RangeError", () => {
  it("dims", () => {
    expect(() => createCurrentKvManager({ ...hybrid, nLayers: 0 })).toThrow(/nLayers must be a positive integer/);
    expect(() => createCurrentKvManager({ ...hybrid, arPrefill: 17 })).toThrow(/AR_pp 17 exceeds CL 16/);
    expect(() => createCurrentKvManager({ ...hybrid, arDecode: 16 })).toThrow(/AR_tg 16 must be < CL 16/);
  });

  it("cache and mask calls", () => {
    const m = createCurrentKvManager(hybrid);
    expect(() => m.updateCache(1, 0, 1)).toThrow(/laid out for AR 4; rearrange it first/);
    expect(() => m.updateCache(4, 10, 3)).toThrow(/slots 10..12 exceed the 12 cache slots at AR 4/);
    expect(() => m.updateCache(4, 0, 5)).toThrow(/n_update 5 exceeds the 4 output rows/);
    expect(() => m.updateCache(4, -1, 1)).toThrow(RangeError);
    expect(() => m.rearrangeCache(3)).toThrow(/AR 3 is neither AR_pp 4 nor AR_tg 1/);
    expect(() => m.initAttentionMask([-1, 0], 4, 0)).toThrow(/attention map has 2 entries, AR is 4/);
    expect(() => m.initAttentionMask([-1, 0, 4, 1], 4, 0)).toThrow(/entry 2 = 4 is not a row of AR 4/);
    expect(() => m.initAttentionMask(iotaMap(4), 4, 13)).toThrow(/n_past 13 exceeds the 12 cache columns/);
    expect(() => m.updateAttentionMask(4, 11, 2)).toThrow(/columns 11..12 exceed the 12 cache columns of AR 4/);
    expect(() => m.mask(2)).toThrow(RangeError);
    expect(() => m.readK(0, 0, 12)).toThrow(/slot 12/);
    expect(() => m.readV(2, 0, 0)).toThrow(RangeError);
    expect(() => m.buffers(2)).toThrow(RangeError);
    for (const bad of [() => m.updateCache(1, 0, 1), () => m.rearrangeCache(3), () => m.initAttentionMask([], 4, 0)])
      expect(bad).toThrow(RangeError);
  });

  it("iotaMap(a) = [-1, 0, …, a-2] and a parent map other than iota copies the parent row", () => {
    expect(iotaMap(1)).toEqual([-1]);
    expect(iotaMap(4)).toEqual([-1, 0, 1, 2]);
    const m = createCurrentKvManager({ ...hybrid, arDecode: 4, arPrefill: 4 });
    m.initAttentionMask([-1, 0, 0, 2], 4, 2); // §6.5-style tree: rows 1, 2 branch from 0, row 3 from 2
    expect(rows(m, 4)).toEqual(["11..........1...", "11..........11..", "11..........1.1.", "11..........1.11"]);
  });
});
