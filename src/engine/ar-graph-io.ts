// Owns the I/O contract of the AR-N graph of the current flow (SPEC-2026 §3): the typed arrays a call takes and
// returns (batch 1, per-layer caches with the KV heads merged), the tensor list in device order, and the runner's
// causal mask rows (§4.4, map = iota(-1)).
import type { ModelConfig } from "./config.js";
import { slidingWindowOf } from "./arch.js";
import { MASK_ATTEND, MASK_BLOCKED, numel, type TensorSpec } from "./graph-io.js";

/** Inputs of one AR-N call. CL = context length, AR = fed rows, C = CL - AR cache slots, H = KV heads. */
export interface ArGraphInputs {
  /** [1, AR] int32: the fed tokens. */
  tokens: Int32Array;
  /** [1, 1, AR, CL]: row i, column c at i*CL + c; columns [0, C) are cache slots, column C + i is fed row i. */
  attnMask: Float32Array;
  /**
   * [1, 1, AR, CL] `window_atten_mask` (SPEC-2026 §3, §8.4): the sliding-window layers' mask, same layout; required
   * exactly when the model has sliding-window layers (Gemma3), which read it instead of attnMask.
   */
  windowMask?: Float32Array;
  /** [1, AR] int32: absolute position of every fed row (each < CL). May be omitted only when AR == CL (arange(CL)). */
  inputPos?: Int32Array;
  /** NL tensors [1, H, hd, C] (K transposed): row r = h*hd + d, slot s at r*C + s. */
  kCaches: Float32Array[];
  /** NL tensors [1, H, C, hd]: head h, slot s, dim d at (h*C + s)*hd + d. */
  vCaches: Float32Array[];
}

/** Outputs of one AR-N call (`output_new_cache_only`: only the AR new rows). */
export interface ArGraphOutputs {
  /** [1, AR, V]. */
  logits: Float32Array;
  /** NL tensors [1, H, hd, AR]: row r = h*hd + d, fed row i at r*AR + i (RoPE'd, half-split order). */
  kOut: Float32Array[];
  /** NL tensors [1, H, AR, hd]: (h*AR + i)*hd + d. */
  vOut: Float32Array[];
}

/** Method names: decode graph, prompt graph, and the calibration graph (Mode.CALIBRATE, never in the .pte). */
export type ArGraphName = "kv_forward" | "prefill_forward" | "calibrate";

export interface ArGraphSpec {
  name: ArGraphName;
  contextLen: number;
  arLen: number;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** Default method name: AR = 1 decodes, AR = CL calibrates, anything else is the prompt graph (lookahead passes its own). */
export const defaultArGraphName = (contextLen: number, arLen: number): ArGraphName =>
  arLen === contextLen ? "calibrate" : arLen === 1 ? "kv_forward" : "prefill_forward";

/** Checks CL and AR as the exporter's shapes require: integers with 1 <= AR <= CL. */
export function checkArShape(contextLen: number, arLen: number): void {
  if (!Number.isInteger(contextLen) || contextLen < 1) throw new RangeError(`max_context_len must be an integer >= 1, got ${contextLen}`);
  if (!Number.isInteger(arLen) || arLen < 1 || arLen > contextLen)
    throw new RangeError(`ar_len must be an integer in [1, ${contextLen}] (max_context_len), got ${arLen}`);
}

/**
 * The AR-N graph's tensors in device order (SPEC-2026 §3): tokens, atten_mask, window_atten_mask (models with
 * sliding-window layers only), input_pos (absent when AR == CL, as
 * the §3 table says), the NL K caches `args_0..args_{NL-1}`, the NL V caches `args_NL..args_{2NL-1}`; outputs logits,
 * then the NL new K, then the NL new V. Cache names follow the wrapper's `args_<i>` (exact fx names UNVERIFIED in §3).
 */
export function arGraphSpec(c: ModelConfig, contextLen: number, arLen: number, name?: ArGraphName): ArGraphSpec {
  checkArShape(contextLen, arLen);
  const { nLayers: NL, nKvHeads: H, headDim: hd, vocabSize: V } = c;
  const C = contextLen - arLen;
  const f32 = (n: string, shape: number[]): TensorSpec => ({ name: n, shape, dtype: "float32" });
  const layers = (f: (l: number) => TensorSpec): TensorSpec[] => Array.from({ length: NL }, (_, l) => f(l));
  return {
    name: name ?? defaultArGraphName(contextLen, arLen),
    contextLen,
    arLen,
    inputs: [
      { name: "tokens", shape: [1, arLen], dtype: "int32" },
      f32("atten_mask", [1, 1, arLen, contextLen]),
      ...(slidingWindowOf(c.arch) === null ? [] : [f32("window_atten_mask", [1, 1, arLen, contextLen])]),
      ...(arLen === contextLen ? [] : [{ name: "input_pos", shape: [1, arLen], dtype: "int32" as const }]),
      ...layers((l) => f32(`args_${l}`, [1, H, hd, C])),
      ...layers((l) => f32(`args_${NL + l}`, [1, H, C, hd])),
    ],
    outputs: [
      f32("logits", [1, arLen, V]),
      ...layers((l) => f32(`k_out_l${l}`, [1, H, hd, arLen])),
      ...layers((l) => f32(`v_out_l${l}`, [1, H, arLen, hd])),
    ],
  };
}

/** Element counts of one call's tensors: [tokens, mask, positions, one K cache, one V cache, logits, one K out, one V out]. */
export function arTensorSizes(c: ModelConfig, contextLen: number, arLen: number) {
  const { nKvHeads: H, headDim: hd, vocabSize: V } = c;
  const C = contextLen - arLen;
  return {
    tokens: arLen,
    mask: numel([arLen, contextLen]),
    positions: arLen,
    kCache: H * hd * C,
    vCache: H * C * hd,
    logits: arLen * V,
    kOut: H * hd * arLen,
    vOut: H * arLen * hd,
  };
}

/** Allocates zeroed AR-N outputs. */
export function allocArOutputs(c: ModelConfig, contextLen: number, arLen: number): ArGraphOutputs {
  const s = arTensorSizes(c, contextLen, arLen);
  return {
    logits: new Float32Array(s.logits),
    kOut: Array.from({ length: c.nLayers }, () => new Float32Array(s.kOut)),
    vOut: Array.from({ length: c.nLayers }, () => new Float32Array(s.vOut)),
  };
}

/** Allocates zeroed per-layer caches of C = CL - AR slots (what the calibration graph takes with C = 0). */
export function allocArCaches(c: ModelConfig, contextLen: number, arLen: number): { kCaches: Float32Array[]; vCaches: Float32Array[] } {
  const s = arTensorSizes(c, contextLen, arLen);
  return {
    kCaches: Array.from({ length: c.nLayers }, () => new Float32Array(s.kCache)),
    vCaches: Array.from({ length: c.nLayers }, () => new Float32Array(s.vCache)),
  };
}

/**
 * The runner's initial mask (SPEC-2026 §4.4, map = iota(-1), no sliding window) as float 0 / -255: row j attends
 * cache columns [0, nPast) and fed columns CL-AR .. CL-AR+j. Requires nPast <= CL - AR.
 */
export function arCausalMask(contextLen: number, arLen: number, nPast: number): Float32Array {
  checkArShape(contextLen, arLen);
  const C = contextLen - arLen;
  if (!Number.isInteger(nPast) || nPast < 0 || nPast > C) throw new RangeError(`n_past must be an integer in [0, ${C}], got ${nPast}`);
  const m = new Float32Array(arLen * contextLen).fill(MASK_BLOCKED);
  for (let j = 0; j < arLen; j++) {
    const row = j * contextLen;
    m.fill(MASK_ATTEND, row, row + nPast);
    m.fill(MASK_ATTEND, row + C, row + C + j + 1);
  }
  return m;
}

/**
 * The sliding-window twin of arCausalMask for the fed block (SPEC-2026 §4.4 step 3 with offsets = row index): row j
 * (position nPast + j) additionally blocks the cache columns [0, nPast + j + 1 - sw). As the runner, the window is
 * never applied inside the fed block (it assumes AR <= sw, §4.5).
 */
export function arWindowMask(contextLen: number, arLen: number, nPast: number, sw: number): Float32Array {
  const m = arCausalMask(contextLen, arLen, nPast);
  for (let j = 0; j < arLen; j++) {
    const avail = sw - (j + 1) - nPast;
    if (avail < 0) m.fill(MASK_BLOCKED, j * contextLen, j * contextLen + Math.min(-avail, contextLen));
  }
  return m;
}
