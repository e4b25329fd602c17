// Owns the Smart Mask KV-cache mechanism (SPEC §5): fixed per-head K [hd, M] and V [M, hd] blocks in one
// shared buffer (the device's rpcmem allocation, read and written in place by the NPU); no view ever
// moves: a step copies the new K column and V row into slot p and opens mask[p].
//
// Quirk (SPEC §5): the seed runner increments the position first and so uses slot/mask index p+1, leaving
// slot 0 (or slot n after a prefill) unused; numerically nothing changes (attention ignores slot order and
// unused slots stay masked). The golden model uses slot p, as the later upstream runner does.
import { deriveLengths, newMask, perHead as perHeadOf } from "./shared.js";
import {
  FP32_ENCODING,
  type CacheArray,
  type CacheDims,
  type CacheEncoding,
  type CacheOutputs,
  type KvCacheManager,
  type KvStepIO,
  type MaskArray,
} from "./types.js";

export function createSmartMask<T extends CacheArray = Float32Array, M extends MaskArray = Float32Array>(
  dims: CacheDims,
  enc: CacheEncoding<T, M> = FP32_ENCODING as unknown as CacheEncoding<T, M>,
): KvCacheManager<T, M> {
  const lengths = deriveLengths(dims);
  const { L, P, M: Msz, usesKv, usesPrefill } = lengths;
  const { nLayers: NL, nKvHeads: H, headDim: hd, mode } = dims;
  const E = enc.cache.BYTES_PER_ELEMENT;
  const block = hd * Msz;
  // One shared buffer: cache_in as (layer, head) -> K block, V block; then cache_out (layer, head) -> K, V.
  const cacheInElems = NL * H * 2 * block;
  const cacheOutElems = usesKv ? NL * H * 2 * hd : 0;
  const shared = new ArrayBuffer((cacheInElems + cacheOutElems) * E);
  const view = (off: number, n: number): T => new enc.cache(shared, off * E, n);
  const kBlock = (l: number, h: number) => view((l * H + h) * 2 * block, block);
  const vBlock = (l: number, h: number) => view((l * H + h) * 2 * block + block, block);
  const kOutAt = (l: number, h: number) => view(cacheInElems + (l * H + h) * 2 * hd, hd);
  const vOutAt = (l: number, h: number) => view(cacheInElems + (l * H + h) * 2 * hd + hd, hd);
  const kBlocks: T[][] = Array.from({ length: NL }, (_, l) => Array.from({ length: H }, (_, h) => kBlock(l, h)));
  const vBlocks: T[][] = Array.from({ length: NL }, (_, l) => Array.from({ length: H }, (_, h) => vBlock(l, h)));
  const mask = newMask(enc, lengths);
  let handedOver = false;
  /** Row stride of the K blocks: P as the prefill graph writes them (until a hybrid hand-over re-strides), else L. */
  const kStride = () => (mode === "kv" || handedOver ? L : P);

  const perHead = <R>(f: (l: number, h: number) => R): R[] => perHeadOf(dims, f);
  const requireKv = () => {
    if (!usesKv) throw new Error("smart mask: the KV graph is not part of prefill mode");
  };

  return {
    kind: "smart_mask",
    dims,
    cacheLen: L,
    prefillLen: P,
    sizedLen: Msz,
    sizes: () => ({
      kPerHead: block,
      vPerHead: block,
      kTotal: NL * H * block,
      vTotal: NL * H * block,
      cacheOut: cacheOutElems,
      sharedBytes: shared.byteLength,
      mask: mask.length,
    }),
    kvInputs(): KvStepIO<T, M> {
      requireKv();
      return {
        attnMask: mask,
        kCaches: perHead((l, h) => kBlocks[l][h].subarray(0, hd * L) as T),
        vCaches: perHead((l, h) => vBlocks[l][h].subarray(0, L * hd) as T),
      };
    },
    kvOutputs(): CacheOutputs<T> {
      requireKv();
      return { kOut: perHead(kOutAt), vOut: perHead(vOutAt) };
    },
    prefillOutputs(): CacheOutputs<T> {
      if (!usesPrefill) throw new Error("smart mask: no prefill graph in kv mode");
      // The prefill graph writes K [hd, P] (stride P) and V [P, hd] straight into the cache blocks.
      return {
        kOut: perHead((l, h) => kBlocks[l][h].subarray(0, hd * P) as T),
        vOut: perHead((l, h) => vBlocks[l][h].subarray(0, P * hd) as T),
      };
    },
    startKv() {
      requireKv();
      mask[L] = enc.attend;
    },
    updateAfterKvStep(p: number) {
      requireKv();
      if (!(p >= 0 && p < L)) throw new RangeError(`smart mask: position ${p} does not fit ${L} cache slots`);
      mask[p] = enc.attend;
      for (let l = 0; l < NL; l++)
        for (let h = 0; h < H; h++) {
          const kb = kBlocks[l][h];
          const vb = vBlocks[l][h];
          const ko = kOutAt(l, h);
          vb.set(vOutAt(l, h), p * hd);
          for (let j = 0; j < hd; j++) kb[j * L + p] = ko[j];
        }
    },
    handOverFromPrefill(n: number) {
      requireKv();
      if (!usesPrefill) throw new Error("smart mask: hand-over needs hybrid mode");
      if (!(n >= 1 && n <= P)) throw new RangeError(`smart mask: prefill of ${n} tokens does not fit P = ${P}`);
      for (let i = 0; i < n; i++) mask[i] = enc.attend;
      mask[L] = enc.attend;
      // Re-stride K from P to L columns in place, rows from last to first so nothing is overwritten
      // before it is moved (row d moves from d*P to d*L >= d*P). V rows need no change.
      for (let l = 0; l < NL; l++)
        for (let h = 0; h < H; h++) {
          const kb = kBlocks[l][h];
          for (let d = hd - 1; d >= 0; d--) kb.copyWithin(d * L, d * P, d * P + P);
        }
      handedOver = true;
    },
    readK(l, h, p) {
      const out = new enc.cache(new ArrayBuffer(hd * E), 0, hd);
      const stride = kStride();
      for (let d = 0; d < hd; d++) out[d] = kBlocks[l][h][d * stride + p];
      return out;
    },
    readV(l, h, p) {
      return vBlocks[l][h].slice(p * hd, p * hd + hd) as T;
    },
  };
}
