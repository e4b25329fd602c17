// Owns the Shift Pointer KV-cache mechanism of the device runner (SPEC §4): raw per-head K buffers and
// per-layer V buffers whose graph views slide forward by one slot per generated token, so a new V row is
// written by the graph straight into place and a new K column costs hd writes.
//
// Buffers (M = max(L, P)):
//   K input, per (layer, head): (hd + 1) * M elements; the graph sees [hd, L] with row stride L starting
//     at the current shift s (in elements). Token at absolute position p lives at (d+1)*L + p for dim d.
//   V, per layer: (H + 1) * M * hd; head h's input view [L, hd] starts at h*L*hd + s*hd; the graph's V
//     output for head h goes to (h+1)*L*hd + s*hd, right past that head's window. Token p lives at
//     (h+1)*L*hd + p*hd.
//   K output, per layer: H*hd (kv mode) or H*hd*P (prefill/hybrid: the prefill graph's K, head h at h*hd*P;
//     the KV graph's new K for head h at h*hd).
// Column 0 of a view is never valid while running, so writes that spill into the next head's window are
// harmless (the device relies on this too).
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

export function createShiftPointer<T extends CacheArray = Float32Array, M extends MaskArray = Float32Array>(
  dims: CacheDims,
  enc: CacheEncoding<T, M> = FP32_ENCODING as unknown as CacheEncoding<T, M>,
): KvCacheManager<T, M> {
  const lengths = deriveLengths(dims);
  const { L, P, M: Msz, usesKv, usesPrefill } = lengths;
  const { nLayers: NL, nKvHeads: H, headDim: hd } = dims;
  const E = enc.cache.BYTES_PER_ELEMENT;
  const alloc = (n: number): T => new enc.cache(new ArrayBuffer(n * E), 0, n);
  const view = (base: T, off: number, n: number): T => new enc.cache(base.buffer as ArrayBuffer, base.byteOffset + off * E, n);

  const kInSize = (hd + 1) * Msz;
  const vSize = (H + 1) * Msz * hd;
  const kOutSize = H * hd * (usesPrefill ? P : 1);
  const kIn: T[][] = usesKv ? Array.from({ length: NL }, () => Array.from({ length: H }, () => alloc(kInSize))) : [];
  const vBuf: T[] = Array.from({ length: NL }, () => alloc(vSize));
  const kOutBuf: T[] = Array.from({ length: NL }, () => alloc(kOutSize));
  const mask = newMask(enc, lengths);

  /** Slots the views have slid so far: the K view start (elements) and V view start (rows). */
  let shift = 0;

  const perHead = <R>(f: (l: number, h: number) => R): R[] => perHeadOf(dims, f);
  const requireKv = () => {
    if (!usesKv) throw new Error("shift pointer: the KV graph is not part of prefill mode");
  };

  return {
    kind: "shift_pointer",
    dims,
    cacheLen: L,
    prefillLen: P,
    sizedLen: Msz,
    sizes: () => ({
      kInPerHead: usesKv ? kInSize : 0,
      kInTotal: usesKv ? NL * H * kInSize : 0,
      vPerLayer: vSize,
      vTotal: NL * vSize,
      kOutPerLayer: kOutSize,
      mask: mask.length,
    }),
    kvInputs(): KvStepIO<T, M> {
      requireKv();
      return {
        attnMask: mask,
        kCaches: perHead((l, h) => view(kIn[l][h], shift, hd * L)),
        vCaches: perHead((l, h) => view(vBuf[l], h * L * hd + shift * hd, L * hd)),
      };
    },
    kvOutputs(): CacheOutputs<T> {
      requireKv();
      return {
        kOut: perHead((l, h) => view(kOutBuf[l], h * hd, hd)),
        vOut: perHead((l, h) => view(vBuf[l], (h + 1) * L * hd + shift * hd, hd)),
      };
    },
    prefillOutputs(): CacheOutputs<T> {
      if (!usesPrefill) throw new Error("shift pointer: no prefill graph in kv mode");
      return {
        kOut: perHead((l, h) => view(kOutBuf[l], h * hd * P, hd * P)),
        // prefill_v_stride = max(P, L) * hd: in hybrid this is L*hd, so prefill rows land where the KV
        // graph's V views expect them after the hand-over.
        vOut: perHead((l, h) => view(vBuf[l], (h + 1) * Msz * hd, P * hd)),
      };
    },
    startKv() {
      requireKv();
      mask[L] = enc.attend;
    },
    updateAfterKvStep(p: number) {
      requireKv();
      if (p !== shift) throw new Error(`shift pointer: step for position ${p}, but the views are at ${shift}`);
      if (p + 1 > L) throw new RangeError(`shift pointer: position ${p} does not fit ${L} cache slots`);
      mask[L - (p + 1)] = enc.attend;
      // V: the graph already wrote the new row in place; sliding the views by one row is the whole update.
      // K: write the new column just past the end of each row of the current view, then slide by 1.
      for (let l = 0; l < NL; l++)
        for (let h = 0; h < H; h++) {
          const kin = kIn[l][h];
          const kout = kOutBuf[l];
          for (let j = 0; j < hd; j++) kin[shift + (j + 1) * L] = kout[h * hd + j];
        }
      shift += 1;
    },
    handOverFromPrefill(n: number) {
      requireKv();
      if (!usesPrefill) throw new Error("shift pointer: hand-over needs hybrid mode");
      if (shift !== 0) throw new Error("shift pointer: hand-over must come first");
      if (!(n >= 1 && n <= P)) throw new RangeError(`shift pointer: prefill of ${n} tokens does not fit P = ${P}`);
      for (let i = 0; i <= n; i++) mask[L - i] = enc.attend; // opens L-n .. L (the current token included)
      for (let l = 0; l < NL; l++)
        for (let h = 0; h < H; h++) {
          const kin = kIn[l][h];
          const kout = kOutBuf[l];
          const src = h * hd * P;
          for (let j = 0; j < hd; j++)
            for (let k = 0; k < n; k++) kin[(j + 1) * L + k] = kout[src + j * P + k];
        }
      shift = n; // V views advance by n*hd (the prefill wrote V rows in place); K views by n.
    },
    readK(l, h, p) {
      const out = alloc(hd);
      if (usesKv) {
        for (let d = 0; d < hd; d++) out[d] = kIn[l][h][(d + 1) * L + p];
      } else {
        for (let d = 0; d < hd; d++) out[d] = kOutBuf[l][h * hd * P + d * P + p];
      }
      return out;
    },
    readV(l, h, p) {
      const base = (h + 1) * (usesKv ? L : Msz) * hd + p * hd;
      return vBuf[l].slice(base, base + hd) as T;
    },
  };
}
