// Owns what both cache managers derive from their dimensions: the lengths L, P and M, which graphs a mode
// uses, the mask buffer, and the (layer, head) iteration order of the graph's cache tensors.
import type { CacheDims, CacheEncoding, CacheArray, MaskArray } from "./types.js";

export interface CacheLengths {
  L: number;
  P: number;
  /** max(L, P): the length the runner sizes the buffers with (SPEC §4). */
  M: number;
  /** The KV graph runs (kv, hybrid). */
  usesKv: boolean;
  /** The prefill graph runs (prefill, hybrid). */
  usesPrefill: boolean;
}

/** Validates dims and derives L, P and M (SPEC §4: M = max(L, P)). */
export function deriveLengths(d: CacheDims): CacheLengths {
  for (const k of ["nLayers", "nKvHeads", "headDim"] as const)
    if (!Number.isInteger(d[k]) || d[k] <= 0) throw new RangeError(`cache dims: ${k} must be a positive integer`);
  const L = d.mode === "prefill" ? 0 : d.kvSeqLen - 1;
  const P = d.mode === "kv" ? 0 : d.prefillSeqLen - 1;
  if (d.mode !== "prefill" && !(Number.isInteger(L) && L >= 1)) throw new RangeError("cache dims: kv_seq_len must be >= 2");
  if (d.mode !== "kv" && !(Number.isInteger(P) && P >= 1)) throw new RangeError("cache dims: prefill_seq_len must be >= 2");
  if (d.mode === "hybrid" && L < P) throw new RangeError("cache dims: hybrid mode requires kv_seq_len >= prefill_seq_len");
  return { L, P, M: Math.max(L, P), usesKv: d.mode !== "prefill", usesPrefill: d.mode !== "kv" };
}

/** The KV graph's mask [L + 1], every column blocked (empty when the KV graph does not run). */
export function newMask<T extends CacheArray, M extends MaskArray>(enc: CacheEncoding<T, M>, len: CacheLengths): M {
  const n = len.usesKv ? len.L + 1 : 0;
  const mask = new enc.mask(new ArrayBuffer(n * enc.mask.BYTES_PER_ELEMENT), 0, n);
  mask.fill(enc.blocked);
  return mask;
}

/** f over every (layer, KV head), layer-major: the order of the graphs' cache tensors (SPEC §3). */
export function perHead<R>(d: CacheDims, f: (layer: number, head: number) => R): R[] {
  const out: R[] = [];
  for (let l = 0; l < d.nLayers; l++) for (let h = 0; h < d.nKvHeads; h++) out.push(f(l, h));
  return out;
}
