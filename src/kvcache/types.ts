// Owns the KV-cache manager interface shared by Shift Pointer and Smart Mask (SPEC §4–5): where the graphs
// read and write their cache tensors at each step, and how the state moves after a step or a prefill.
// The managers only move elements; they are generic over the element type, so the same code drives the fp32
// caches and the device's uint8 / uint16 caches with the uint16 mask (the quantized simulation, the qnn backend).

export type CacheArray = Float32Array | Uint8Array | Uint16Array;
/** Mask element types: fp32 (0 / -255), uint16 (16-bit encodings) and uint8 (8a8w: s = 1, zp 255). */
export type MaskArray = Float32Array | Uint16Array | Uint8Array;

export interface TypedCtor<T> {
  new (buffer: ArrayBuffer, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
}

/** Element types and mask values of the graph I/O (SPEC §3). */
export interface CacheEncoding<T extends CacheArray, M extends MaskArray> {
  cache: TypedCtor<T>;
  mask: TypedCtor<M>;
  /** Mask value that lets a column through (fp32 0; quantized 65535). */
  attend: number;
  /** Mask value of a blocked column (fp32 -255; quantized 0). */
  blocked: number;
}

export const FP32_ENCODING: CacheEncoding<Float32Array, Float32Array> = {
  cache: Float32Array,
  mask: Float32Array,
  attend: 0,
  blocked: -255,
};

/** uint8 caches with the uint16 mask of the quantized device graphs (65535 attend, 0 masked). */
export const QUANT_ENCODING: CacheEncoding<Uint8Array, Uint16Array> = {
  cache: Uint8Array,
  mask: Uint16Array,
  attend: 65535,
  blocked: 0,
};

export type EvalMode = "prefill" | "kv" | "hybrid";

export interface CacheDims {
  nLayers: number;
  /** KV heads per layer (H). */
  nKvHeads: number;
  headDim: number;
  /** kv_seq_len (the KV graph's mask length); L = kvSeqLen - 1. Ignored in prefill mode. */
  kvSeqLen: number;
  /** prefill_seq_len; P = prefillSeqLen - 1. Ignored in kv mode. */
  prefillSeqLen: number;
  mode: EvalMode;
}

export interface KvStepIO<T extends CacheArray, M extends MaskArray> {
  attnMask: M;
  kCaches: T[];
  vCaches: T[];
}

export interface CacheOutputs<T extends CacheArray> {
  kOut: T[];
  vOut: T[];
}

export interface KvCacheManager<T extends CacheArray, M extends MaskArray> {
  readonly kind: "shift_pointer" | "smart_mask";
  readonly dims: CacheDims;
  /** L (0 in prefill mode). */
  readonly cacheLen: number;
  /** P (0 in kv mode). */
  readonly prefillLen: number;
  /** M = max(L, P): the length the runner sizes the buffers with. */
  readonly sizedLen: number;
  /** Element counts of every buffer, to check against SPEC §4–5. */
  sizes(): Record<string, number>;
  /** The KV graph's mask and cache inputs at the current state (views; Shift Pointer's move). */
  kvInputs(): KvStepIO<T, M>;
  /** Where the KV graph writes its new K/V (views into the manager's buffers). */
  kvOutputs(): CacheOutputs<T>;
  /** Where the prefill graph writes its K [hd, P] and V [P, hd]. */
  prefillOutputs(): CacheOutputs<T>;
  /** KV mode start (fill_kv_tok_mask): opens the current-token column L. */
  startKv(): void;
  /** After the KV step that fed position p (the runner's update_kv_io with pos = p + 1). */
  updateAfterKvStep(p: number): void;
  /** Hybrid hand-over after a prefill of n tokens (update_prefill_to_kv_io), including opening column L. */
  handOverFromPrefill(n: number): void;
  /** K of absolute position p for (layer, head) as hd values in the graph's (half-split) order: for tests. */
  readK(layer: number, head: number, p: number): T;
  /** V of absolute position p for (layer, head): hd values. */
  readV(layer: number, head: number, p: number): T;
}
