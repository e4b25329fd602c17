// Owns the current flow's KV manager (SPEC-2026 §4, `runner/kv_manager.cpp` at executorch cff6f4dd): per-layer
// k_in/v_in/k_out/v_out buffers shared by the prompt (AR_pp) and decode (AR_tg) graphs, update_cache (with the
// lookahead `selected` rows), rearrange_cache (the in-place stride change between graphs, exact memmove order),
// and the [a, CL] Smart Mask attention masks (init from a parent map, update after a step).
//
// Decisions:
// - Storage stride S(a) = CL − a, or CL when a == CL (the cache-less "BERT" prompt graph, whose graph views have
//   0 slots); update_cache and rearrange's source side use S, rearrange's destination uses CL − a_dst, as the runner.
// - One mask buffer per AR value in use (AR_pp and AR_tg; one when they are equal), like the runner's prompt
//   processor and token generator each owning theirs. Mask values come from the encoding (attend / blocked).
// - kv mode is simply AR_pp = AR_tg = 1.
// - `selected` with more than n_update true rows reproduces the runner's V quirk (§4.2): the V copy counter is not
//   reset per head, so heads ≥ 1 copy every selected row; fewer than n_update true rows is refused (the runner
//   would pad K with row 0).
import { FP32_ENCODING, type CacheArray, type CacheEncoding, type MaskArray } from "./types.js";

export interface CurrentKvDims {
  nLayers: number;
  /** KV heads per layer (H). */
  nKvHeads: number;
  headDim: number;
  /** CL: the compiled context (mask width, cache size). */
  contextLen: number;
  /** AR_pp: rows of the prompt graph (1 in kv mode). */
  arPrefill: number;
  /** AR_tg: rows of the decode graph (1 in kv/hybrid, next_pow2((W+G)(N−1)) in lookahead). */
  arDecode: number;
  /**
   * The model's sliding window (Gemma3, `get_sliding_window`; HybridCache, SPEC-2026 §4.4-§4.5, §8.4): the manager then
   * keeps a second mask per AR, the window mask, which every mask call updates with the window rules while the
   * causal mask gets none.
   */
  slidingWindow?: number;
}

/** One layer's graph tensors at the current AR `a` (views into the manager's buffers, no copies). */
export interface CurrentKvLayerIO<T extends CacheArray> {
  /** K in [H, hd, C]: row r = h·hd + d, slot s at r·C + s. */
  kIn: T;
  /** V in [H, C, hd]: (h·C + s)·hd + d. */
  vIn: T;
  /** K out [H, hd, a]: r·a + i. */
  kOut: T;
  /** V out [H, a, hd]: (h·a + i)·hd + d. */
  vOut: T;
}

export interface CurrentKvGraphIO<T extends CacheArray, M extends MaskArray> {
  ar: number;
  /** C = CL − a: cache slots the graph reads. */
  cacheLen: number;
  /** The [a, CL] attention mask of this AR. */
  mask: M;
  /** The [a, CL] window mask of this AR (models with a sliding window only). */
  windowMask?: M;
  layers: CurrentKvLayerIO<T>[];
}

/** Sliding-window variant of the mask calls (§4.4 step 3, §4.5); offsets default to the row index. */
export interface SlidingWindow {
  size: number;
  offsets?: readonly number[];
}

/** The full per-layer buffers (§4.1), for tests and the runner's bookkeeping. */
export interface CurrentKvLayerBuffers<T extends CacheArray> {
  kIn: T;
  vIn: T;
  kOut: T;
  vOut: T;
}

export interface CurrentKvManager<T extends CacheArray, M extends MaskArray> {
  readonly dims: CurrentKvDims;
  /** CL − min(AR_tg, AR_pp), or CL when AR_pp == CL. */
  readonly maxCacheLen: number;
  /** max(AR_tg, AR_pp). */
  readonly maxArLen: number;
  /** cur_ar_len_: AR_pp initially. */
  curAr(): number;
  /** Row stride of K in / slot count of V in used by update_cache and rearrange at AR a. */
  storageStride(a: number): number;
  sizes(): Record<string, number>;
  /** Graph views for the current AR. */
  graphIO(): CurrentKvGraphIO<T, M>;
  /** The [a, CL] mask buffer of AR a (AR_pp or AR_tg). */
  mask(a: number): M;
  /** The [a, CL] window mask buffer of AR a; only with dims.slidingWindow. */
  windowMask(a: number): M;
  buffers(layer: number): CurrentKvLayerBuffers<T>;
  updateCache(a: number, nPast: number, nUpdate: number, selected?: readonly boolean[]): void;
  rearrangeCache(aDst: number): void;
  initAttentionMask(map: readonly number[], a: number, nPast: number, window?: SlidingWindow): void;
  updateAttentionMask(a: number, nPast: number, nUpdate: number, window?: SlidingWindow): void;
  /** K column of a slot at the current stride: hd values (copy). */
  readK(layer: number, head: number, slot: number): T;
  /** V row of a slot at the current stride: hd values (copy). */
  readV(layer: number, head: number, slot: number): T;
}

/** uint16 caches with the uint16 mask (16-bit KV builds). */
export const QUANT16_ENCODING: CacheEncoding<Uint16Array, Uint16Array> = {
  cache: Uint16Array,
  mask: Uint16Array,
  attend: 65535,
  blocked: 0,
};

/** The prompt/decode parent map iota(−1) = [−1, 0, 1, …, a−2] (causal rows, §4.4). */
export function iotaMap(a: number): number[] {
  return Array.from({ length: a }, (_, i) => i - 1);
}

const isCount = (x: number) => Number.isInteger(x) && x >= 0;
function fail(msg: string): never {
  throw new RangeError(`current kv manager: ${msg}`);
}

function checkDims(d: CurrentKvDims): void {
  for (const k of ["nLayers", "nKvHeads", "headDim", "contextLen", "arPrefill", "arDecode"] as const)
    if (!Number.isInteger(d[k]) || d[k] <= 0) fail(`${k} must be a positive integer, got ${d[k]}`);
  if (d.arPrefill > d.contextLen) fail(`AR_pp ${d.arPrefill} exceeds CL ${d.contextLen}`);
  if (d.arDecode >= d.contextLen) fail(`AR_tg ${d.arDecode} must be < CL ${d.contextLen}`);
  if (d.slidingWindow !== undefined && (!Number.isInteger(d.slidingWindow) || d.slidingWindow <= 0)) fail(`slidingWindow must be a positive integer, got ${d.slidingWindow}`);
}

export function createCurrentKvManager<T extends CacheArray = Float32Array, M extends MaskArray = Float32Array>(
  dims: CurrentKvDims,
  enc: CacheEncoding<T, M> = FP32_ENCODING as unknown as CacheEncoding<T, M>,
): CurrentKvManager<T, M> {
  checkDims(dims);
  const { nLayers: NL, nKvHeads: H, headDim: hd, contextLen: CL, arPrefill, arDecode } = dims;
  const maxCacheLen = arPrefill === CL ? CL : CL - Math.min(arDecode, arPrefill);
  const maxArLen = Math.max(arDecode, arPrefill);
  const R = H * hd; // K rows per layer
  const newCache = (n: number): T => new enc.cache(new ArrayBuffer(n * enc.cache.BYTES_PER_ELEMENT), 0, n);
  const layers: CurrentKvLayerBuffers<T>[] = Array.from({ length: NL }, () => ({
    kIn: newCache(R * maxCacheLen),
    vIn: newCache(R * maxCacheLen),
    kOut: newCache(R * maxArLen),
    vOut: newCache(R * maxArLen),
  }));
  const masks = new Map<number, M>();
  const windowMasks = new Map<number, M>();
  const sw = dims.slidingWindow;
  let cur = arPrefill;

  const stride = (a: number) => (a === CL ? CL : CL - a);
  const checkAr = (what: string, a: number) => {
    if (a !== arPrefill && a !== arDecode)
      fail(`${what}: AR ${a} is neither AR_pp ${arPrefill} nor AR_tg ${arDecode}`);
  };
  const maskIn = (store: Map<number, M>, a: number): M => {
    checkAr("mask", a);
    let m = store.get(a);
    if (!m) {
      m = new enc.mask(new ArrayBuffer(a * CL * enc.mask.BYTES_PER_ELEMENT), 0, a * CL);
      m.fill(enc.blocked);
      store.set(a, m);
    }
    return m;
  };
  const maskOf = (a: number): M => maskIn(masks, a);
  const windowMaskOf = (a: number): M => {
    if (sw === undefined) fail("no window mask: the manager was made without a sliding window");
    return maskIn(windowMasks, a);
  };
  /** With a model window: the causal mask gets no window, the window mask the model's (offsets from the call). */
  const targets = (a: number, window: SlidingWindow | undefined): [M, SlidingWindow | undefined][] =>
    sw === undefined ? [[maskOf(a), window]] : [[maskOf(a), undefined], [windowMaskOf(a), { size: sw, offsets: window?.offsets }]];
  const checkWindow = (w: SlidingWindow | undefined, a: number) => {
    if (!w) return;
    if (!Number.isInteger(w.size) || w.size <= 0) fail(`sliding window ${w.size} must be a positive integer`);
    if (w.offsets && w.offsets.length < a) fail(`${w.offsets.length} window offsets for AR ${a}`);
  };
  const offsetOf = (w: SlidingWindow, i: number) => (w.offsets ? w.offsets[i] : i);

  function updateCache(a: number, nPast: number, nUpdate: number, selected?: readonly boolean[]): void {
    if (a !== cur)
      fail(`update_cache with AR ${a} but the cache is laid out for AR ${cur}; rearrange it first`);
    if (!isCount(nPast) || !isCount(nUpdate)) fail(`n_past ${nPast} / n_update ${nUpdate} must be integers >= 0`);
    if (nUpdate > a) fail(`n_update ${nUpdate} exceeds the ${a} output rows`);
    const C = stride(a);
    const sel = selected && selected.length > 0 ? selected : undefined;
    let idx: number[] = [];
    let nSelected = nUpdate;
    if (sel) {
      if (sel.length !== a) fail(`selected has ${sel.length} entries, AR is ${a}`);
      const all = sel.flatMap((s, i) => (s ? [i] : []));
      if (all.length < nUpdate) fail(`${all.length} selected rows for n_update ${nUpdate}`);
      idx = all.slice(0, nUpdate);
      nSelected = all.length;
    }
    // V copies every selected row for heads >= 1 (and for head 0 when n_update is 0): the runner's V quirk, §4.2.
    const written = sel && (H > 1 || nUpdate === 0) ? nSelected : nUpdate;
    if (nPast + written > C)
      fail(`slots ${nPast}..${nPast + written - 1} exceed the ${C} cache slots at AR ${a}`);
    for (const { kIn, vIn, kOut, vOut } of layers) {
      if (!sel) {
        for (let r = 0; r < R; r++) kIn.set(kOut.subarray(r * a, r * a + nUpdate), r * C + nPast);
        for (let h = 0; h < H; h++) vIn.set(vOut.subarray(h * a * hd, (h * a + nUpdate) * hd), (h * C + nPast) * hd);
        continue;
      }
      for (let r = 0; r < R; r++) for (let j = 0; j < idx.length; j++) kIn[r * C + nPast + j] = kOut[r * a + idx[j]];
      // update_value: one counter across heads, the copy loop breaks only when it reaches exactly 0.
      let updateTimes = nUpdate;
      for (let h = 0; h < H; h++) {
        let w = (h * C + nPast) * hd;
        for (let i = 0; i < a; i++) {
          if (!sel[i]) continue;
          vIn.set(vOut.subarray((h * a + i) * hd, (h * a + i + 1) * hd), w);
          w += hd;
          if (--updateTimes === 0) break;
        }
      }
    }
  }

  function rearrangeCache(aDst: number): void {
    checkAr("rearrange_cache", aDst);
    if (aDst === cur) return;
    const src = stride(cur);
    const dst = CL - aDst;
    const memmove = (buf: T, to: number, from: number, n: number) => buf.copyWithin(to, from, from + n);
    for (const { kIn, vIn } of layers) {
      if (src > dst) {
        for (let r = 0; r < R; r++) memmove(kIn, r * dst, r * src, dst);
        for (let h = 0; h < H; h++) memmove(vIn, h * dst * hd, h * src * hd, dst * hd);
      } else {
        for (let r = R - 1; r >= 0; r--) memmove(kIn, r * dst, r * src, src);
        for (let h = H - 1; h >= 0; h--) memmove(vIn, h * dst * hd, h * src * hd, src * hd);
      }
    }
    cur = aDst;
  }

  function initAttentionMask(map: readonly number[], a: number, nPast: number, window?: SlidingWindow): void {
    if (map.length !== a) fail(`attention map has ${map.length} entries, AR is ${a}`);
    if (!isCount(nPast) || nPast > stride(a)) fail(`n_past ${nPast} exceeds the ${stride(a)} cache columns of AR ${a}`);
    checkWindow(window, a);
    for (let i = 0; i < a; i++) {
      const p = map[i];
      if (!Number.isInteger(p) || p >= a) fail(`attention map entry ${i} = ${p} is not a row of AR ${a}`);
    }
    for (const [mask, w] of targets(a, window)) {
      mask.fill(enc.blocked);
      for (let i = 0; i < a; i++) {
        const p = map[i];
        if (p < 0) mask.fill(enc.attend, i * CL, i * CL + nPast);
        else mask.copyWithin(i * CL, p * CL, p * CL + CL);
        mask[i * CL + CL - a + i] = enc.attend;
        if (w) {
          const avail = w.size - (offsetOf(w, i) + 1) - nPast;
          if (avail < 0) mask.fill(enc.blocked, i * CL, i * CL + Math.min(-avail, CL));
        }
      }
    }
  }

  function updateAttentionMask(a: number, nPast: number, nUpdate: number, window?: SlidingWindow): void {
    if (!isCount(nPast) || !isCount(nUpdate) || nPast + nUpdate > stride(a))
      fail(`mask columns ${nPast}..${nPast + nUpdate - 1} exceed the ${stride(a)} cache columns of AR ${a}`);
    checkWindow(window, a);
    for (const [mask, w] of targets(a, window)) {
      for (let i = 0; i < a; i++) {
        mask.fill(enc.attend, i * CL + nPast, i * CL + nPast + nUpdate);
        if (w) {
          const avail = w.size - (offsetOf(w, i) + 1);
          if (nPast + nUpdate > avail) mask.fill(enc.blocked, i * CL, i * CL + Math.min(nPast + nUpdate - avail, CL));
        }
      }
    }
  }

  const checkSlot = (layer: number, head: number, slot: number) => {
    const C = stride(cur);
    if (!(isCount(layer) && layer < NL && isCount(head) && head < H && isCount(slot) && slot < C))
      fail(`(layer ${layer}, head ${head}, slot ${slot}) outside ${NL}x${H}x${C}`);
    return C;
  };

  return {
    dims,
    maxCacheLen,
    maxArLen,
    curAr: () => cur,
    storageStride: stride,
    sizes: () => ({
      maxCacheLen,
      maxArLen,
      kInPerLayer: R * maxCacheLen,
      vInPerLayer: R * maxCacheLen,
      kOutPerLayer: R * maxArLen,
      vOutPerLayer: R * maxArLen,
      maskPrefill: arPrefill * CL,
      maskDecode: arDecode * CL,
    }),
    graphIO(): CurrentKvGraphIO<T, M> {
      const a = cur;
      const C = CL - a;
      return {
        ar: a,
        cacheLen: C,
        mask: maskOf(a),
        ...(sw === undefined ? {} : { windowMask: windowMaskOf(a) }),
        layers: layers.map(({ kIn, vIn, kOut, vOut }) => ({
          kIn: kIn.subarray(0, R * C) as T,
          vIn: vIn.subarray(0, R * C) as T,
          kOut: kOut.subarray(0, R * a) as T,
          vOut: vOut.subarray(0, R * a) as T,
        })),
      };
    },
    mask: maskOf,
    windowMask: windowMaskOf,
    buffers(layer: number) {
      if (!(isCount(layer) && layer < NL)) fail(`layer ${layer} outside 0..${NL - 1}`);
      return layers[layer];
    },
    updateCache,
    rearrangeCache,
    initAttentionMask,
    updateAttentionMask,
    readK(layer, head, slot) {
      const C = checkSlot(layer, head, slot);
      const out = newCache(hd);
      for (let d = 0; d < hd; d++) out[d] = layers[layer].kIn[(head * hd + d) * C + slot];
      return out;
    },
    readV(layer, head, slot) {
      const C = checkSlot(layer, head, slot);
      return layers[layer].vIn.slice((head * C + slot) * hd, (head * C + slot + 1) * hd) as T;
    },
  };
}
