// Owns the backend contract: something that executes the two static graphs of SPEC §3 over typed arrays. It is
// generic over the graph I/O element types — caches C, mask M, logits G — so the same runner session drives
// the fp32 graphs (Float32Array everywhere: the reference engine, wasm, ONNX Runtime, tfjs, replay, qnn's float
// view) and graphs on the device's codes (uint8/uint16 caches, a uint16 mask, uint16 logits: the quantized
// simulation, qnn's byte view). A backend on codes says how its codes read (`io`); fp32 backends leave it out.
// This file sits in the engine layer so the runner, parity and quantization import it without importing any
// backend (docs/architecture.md).
import type { Model } from "./weights.js";
import type { TapFn } from "./decoder.js";
import type { GraphSpec } from "./graph-io.js";
import type { ArGraphInputs, ArGraphOutputs, ArGraphSpec } from "./ar-graph-io.js";
import type { CacheArray, CacheEncoding, EvalMode, KvCacheManager, MaskArray, TypedCtor } from "../kvcache/types.js";

export type LogitsArray = Float32Array | Uint8Array | Uint16Array;

export interface BackendInit {
  model: Model;
  /** kv_seq_len of the KV graph, when the run uses it. */
  kvSeqLen?: number;
  /** prefill_seq_len of the prefill graph, when the run uses it. */
  prefillSeqLen?: number;
  /** Current flow (SPEC-2026 §3): CL, the compiled context, when the run uses the AR-N graphs. */
  contextLen?: number;
  /** Current flow: AR lengths of the AR-N graphs the run calls (1 = decode; AR_pp = prompt). */
  arLens?: readonly number[];
  /** Current flow: the attention variants the AR-N graphs were exported with (SPEC-2026 §8). */
  attention?: { maskedSoftmax?: boolean; r3?: boolean };
}

export interface ExecuteOptions {
  /**
   * Receives the call's intermediate tensors (see LAYER_TAPS in src/engine/decoder.ts) for parity bisection.
   * Backends that cannot report them say so with `supportsTaps: false` and ignore it.
   */
  tap?: TapFn;
}

/** kv_forward's inputs (SPEC §3): token [1,1], mask [1, L+1], input_pos [1,1], NL*H K [hd, L] and V [L, hd]. */
export interface KvCallInputs<C extends CacheArray, M extends MaskArray> {
  tokens: Int32Array;
  attnMask: M;
  inputPos: Int32Array;
  kCaches: C[];
  vCaches: C[];
}

/** kv_forward's outputs: logits [1,1,V] and the new K [hd,1] / V [1,hd] of every (layer, KV head). */
export interface KvCallOutputs<C extends CacheArray, G extends LogitsArray> {
  logits: G;
  kOut: C[];
  vOut: C[];
}

/** prefill_forward's inputs: tokens [1, P] right-padded with 0, causal mask [P, P]. */
export interface PrefillCallInputs<M extends MaskArray> {
  tokens: Int32Array;
  attnMask: M;
}

/** prefill_forward's outputs: logits [1, P, V], K [hd, P] and V [P, hd] per (layer, KV head). */
export interface PrefillCallOutputs<C extends CacheArray, G extends LogitsArray> {
  logits: G;
  kOut: C[];
  vOut: C[];
}

/** How a backend's graph I/O reads: the cache/mask element types and mask values, the logits type and decoding. */
export interface GraphEncoding<C extends CacheArray, M extends MaskArray, G extends LogitsArray> extends CacheEncoding<C, M> {
  logits: TypedCtor<G>;
  /** A logits row as the sampler reads it (fp32: the row itself; codes: dequantized into a new array). */
  logitsToFloat(row: G): Float32Array;
  /** Sets fresh cache buffers to their starting bytes (e.g. the K/V zero point); default: left as allocated. */
  initCache?(cache: KvCacheManager<C, M>): void;
}

export const FP32_GRAPH_ENCODING: GraphEncoding<Float32Array, Float32Array, Float32Array> = {
  cache: Float32Array,
  mask: Float32Array,
  attend: 0,
  blocked: -255,
  logits: Float32Array,
  logitsToFloat: (row) => row,
};

export interface GraphBackend<C extends CacheArray, M extends MaskArray, G extends LogitsArray> {
  readonly name: string;
  /** Whether `tap` receives intermediate tensors. */
  readonly supportsTaps: boolean;
  /** The graphs this backend instance was built for, with their tensor lists in device order (fp32 graphs). */
  readonly graphs: { kv?: GraphSpec; prefill?: GraphSpec; /** Current flow: the AR-N graphs, one per AR length. */ ar?: readonly ArGraphSpec[] };
  /** The runner modes this backend can serve (default: all). */
  readonly supportedModes?: readonly EvalMode[];
  /** The element types of the graph I/O; absent for fp32 graphs (FP32_GRAPH_ENCODING). */
  readonly io?: GraphEncoding<C, M, G>;
  /** Runs kv_forward; writes into `outputs` (the device's set_output buffers). */
  executeKv(inputs: KvCallInputs<C, M>, outputs: KvCallOutputs<C, G>, opts?: ExecuteOptions): Promise<void>;
  /** Runs prefill_forward; writes into `outputs`. */
  executePrefill(inputs: PrefillCallInputs<M>, outputs: PrefillCallOutputs<C, G>, opts?: ExecuteOptions): Promise<void>;
  /**
   * Current flow: the logits encoding of the AR-N graph of `arLen` rows when its logits tensor is fixed point and
   * the backend hands out the dequantized fp32 values `scale·(code + offset)` (QNN's offset = −zero point);
   * undefined for float logits. The current runner samples the raw codes (SPEC-2026 §9).
   */
  logitsEncoding?(arLen: number): { scale: number; offset: number } | undefined;
  /** Current flow: runs the AR-N graph of `arLen` rows (SPEC-2026 §3); backends that have not got it leave it out. */
  executeAr?(arLen: number, inputs: ArGraphInputs, outputs: ArGraphOutputs, opts?: ExecuteOptions): Promise<void>;
  dispose(): void;
}

/** A backend that can also run a graph call synchronously (the engine's and the quantized simulation's). */
export interface SyncGraphBackend<C extends CacheArray, M extends MaskArray, G extends LogitsArray> extends GraphBackend<C, M, G> {
  executeKvSync(inputs: KvCallInputs<C, M>, outputs: KvCallOutputs<C, G>, opts?: ExecuteOptions): void;
  executePrefillSync(inputs: PrefillCallInputs<M>, outputs: PrefillCallOutputs<C, G>, opts?: ExecuteOptions): void;
}

/** The fp32 graphs' backend (every backend of the `parity` command). */
export type Backend = GraphBackend<Float32Array, Float32Array, Float32Array>;

/** The I/O encoding a backend declares, fp32 when it declares none. */
export function graphEncodingOf<C extends CacheArray, M extends MaskArray, G extends LogitsArray>(b: GraphBackend<C, M, G>): GraphEncoding<C, M, G> {
  return b.io ?? (FP32_GRAPH_ENCODING as unknown as GraphEncoding<C, M, G>);
}
