// Owns the backend interface: an engine that executes the two static graphs of SPEC §3 over typed
// arrays. The runner and the KV-cache managers drive any backend unchanged; the reference engine is one.
import type { Model } from "./weights.js";
import type { TapFn } from "./decoder.js";
import type {
  GraphSpec,
  KvGraphInputs,
  KvGraphOutputs,
  PrefillGraphInputs,
  PrefillGraphOutputs,
} from "./graph-io.js";

export interface BackendInit {
  model: Model;
  /** kv_seq_len of the KV graph, when the run uses it. */
  kvSeqLen?: number;
  /** prefill_seq_len of the prefill graph, when the run uses it. */
  prefillSeqLen?: number;
}

export interface ExecuteOptions {
  /**
   * Receives the call's intermediate tensors (see LAYER_TAPS in src/engine/decoder.ts) for parity bisection.
   * Backends that cannot report them say so with `supportsTaps: false` and ignore it.
   */
  tap?: TapFn;
}

export interface Backend {
  readonly name: string;
  /** Whether `tap` receives intermediate tensors. */
  readonly supportsTaps: boolean;
  /** The graphs this backend instance was built for, with their tensor lists in device order. */
  readonly graphs: { kv?: GraphSpec; prefill?: GraphSpec };
  /** Runs kv_forward; writes into `outputs` (the device's set_output buffers). */
  executeKv(inputs: KvGraphInputs, outputs: KvGraphOutputs, opts?: ExecuteOptions): Promise<void>;
  /** Runs prefill_forward; writes into `outputs`. */
  executePrefill(inputs: PrefillGraphInputs, outputs: PrefillGraphOutputs, opts?: ExecuteOptions): Promise<void>;
  dispose(): void;
}

export type BackendFactory = (init: BackendInit) => Backend;
