// Owns the parity tolerances: how close a candidate backend's graph outputs must be to the reference
// engine's, by backend and I/O dtype, and the command-line overrides (--tol_sqnr_db, --tol_kl, --tol_max_abs).
import { UserError } from "../util/errors.js";

/** The dtype a candidate computes in (the --dtype tolerance set; see BY_DTYPE for where each number comes from). */
export type ParityDType = "fp32" | "fp16" | "16a16w" | "16a8w" | "16a4w" | "8a8w";
export const PARITY_DTYPES: readonly ParityDType[] = ["fp32", "fp16", "16a16w", "16a8w", "16a4w", "8a8w"];

export interface ParityTolerance {
  /** Where the numbers come from: "default <backend>/<dtype>", plus "+ overrides" when the CLI changed some. */
  source: string;
  /** Logits rows: SQNR >= this (dB). */
  logitsSqnrDb: number;
  /** Logits rows: KL(P_ref ‖ P_cand) <= this (nats). */
  maxKl: number;
  /** Logits rows: the argmax must agree. */
  requireTop1: boolean;
  /** New K / V outputs of every layer and head: SQNR >= this (dB). */
  kvSqnrDb: number;
  /** Intermediate tensors (bisection): the first tap with SQNR below this is named. */
  tapSqnrDb: number;
  /** Optional max |a - r| bound on logits and K/V outputs; undefined = not checked. */
  maxAbs?: number;
}

const FP32: Omit<ParityTolerance, "source"> = { logitsSqnrDb: 60, maxKl: 1e-6, requireTop1: true, kvSqnrDb: 60, tapSqnrDb: 60 };

/**
 * Where the numbers come from. A candidate is judged against the fp32 reference, so its limits are the noise its
 * own arithmetic adds, bounded from the number format, not tuned on any run:
 * - fp32: the reference is exact and a correct fp32 backend differs only in summation order: 60 dB is ~14 bits
 *   below fp32's 24-bit mantissa (≈144 dB), room for reordered sums of a few thousand terms; KL 1e-6 and an
 *   agreeing argmax follow (measured: ONNX Runtime ≥ 108 dB, tfjs ~129 dB, wasm ≥ 125 dB; README).
 * - fp16: an 11-bit mantissa rounds each op at ≈ 6.02·11 ≈ 66 dB; over a decoder's sequential ops the errors add
 *   in power, so 30 dB leaves ~36 dB (a factor ~4000 in noise power) for accumulation.
 * - quantized schemes (16a16w, 16a8w, 16a4w, 8a8w): loose screening limits, not derived from a model or a
 *   device. A b-bit uniform quantizer reaches at most ≈ 6.02·b + 1.76 dB at full scale (4-bit weights ≈ 26 dB
 *   per product, 8-bit ≈ 50 dB, before the 10–20 dB that real tensors sit below full scale and before the
 *   noise of every later layer adds up), so a correct quantized graph can land anywhere below those caps. The
 *   limits (25 / 20 / 12 / 10 dB) only fail gross faults — a wrong layout, a missing requantization, a wrong
 *   encoding — which put a call near 0 dB; top-1 is not required, since quantization noise may move the argmax.
 * For a given model and export, measure what the scheme costs with `llama-golden quant-report --ptq SCHEME`
 * (per-layer and logits SQNR of the simulation) and pass tighter limits with --tol_sqnr_db / --tol_kl
 * (docs/qnn.md, "Reading a parity report of a device run").
 */
const BY_DTYPE: Record<ParityDType, Omit<ParityTolerance, "source">> = {
  fp32: FP32,
  fp16: { logitsSqnrDb: 30, maxKl: 1e-3, requireTop1: true, kvSqnrDb: 30, tapSqnrDb: 30 },
  "16a16w": { logitsSqnrDb: 25, maxKl: 5e-3, requireTop1: false, kvSqnrDb: 25, tapSqnrDb: 25 },
  "16a8w": { logitsSqnrDb: 20, maxKl: 1e-2, requireTop1: false, kvSqnrDb: 20, tapSqnrDb: 20 },
  "16a4w": { logitsSqnrDb: 12, maxKl: 5e-2, requireTop1: false, kvSqnrDb: 12, tapSqnrDb: 12 },
  "8a8w": { logitsSqnrDb: 10, maxKl: 1e-1, requireTop1: false, kvSqnrDb: 10, tapSqnrDb: 10 },
};

/**
 * Default tolerance for a candidate backend and dtype. Every backend currently computes fp32 graphs, so the
 * backend name only labels the source; the reference against itself is held to the same (it must be exact).
 */
export function defaultTolerance(backend: string, dtype: ParityDType = "fp32"): ParityTolerance {
  const t = BY_DTYPE[dtype];
  if (!t) throw new UserError(`unknown parity dtype ${JSON.stringify(dtype)}: expected one of ${PARITY_DTYPES.join(", ")}`);
  return { source: `default ${backend}/${dtype}`, ...t };
}

export interface ToleranceOverrides {
  /** Replaces every SQNR limit (logits, K/V, taps). */
  sqnrDb?: number;
  maxKl?: number;
  maxAbs?: number;
}

export function applyOverrides(t: ParityTolerance, o: ToleranceOverrides): ParityTolerance {
  const out = { ...t };
  let changed = false;
  if (o.sqnrDb !== undefined) {
    out.logitsSqnrDb = out.kvSqnrDb = out.tapSqnrDb = o.sqnrDb;
    changed = true;
  }
  if (o.maxKl !== undefined) {
    out.maxKl = o.maxKl;
    changed = true;
  }
  if (o.maxAbs !== undefined) {
    out.maxAbs = o.maxAbs;
    changed = true;
  }
  if (changed) out.source += " + overrides";
  return out;
}

/** A tolerance flag value: a finite number (>= 0 unless `allowNegative`), or undefined when absent. */
export function parseToleranceFlag(flag: string, v: string | undefined, allowNegative = false): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x) || (!allowNegative && x < 0))
    throw new UserError(`--${flag} ${JSON.stringify(v)}: expected a ${allowNegative ? "" : "non-negative "}number`);
  return x;
}

/** One line per limit, for the reports. */
export function describeTolerance(t: ParityTolerance): string[] {
  const lines = [
    `logits SQNR >= ${t.logitsSqnrDb} dB`,
    `KL(ref || cand) <= ${t.maxKl}`,
    `top-1 ${t.requireTop1 ? "must agree" : "not required"}`,
    `K/V SQNR >= ${t.kvSqnrDb} dB`,
    `bisect: first tap with SQNR < ${t.tapSqnrDb} dB`,
  ];
  if (t.maxAbs !== undefined) lines.push(`max |diff| <= ${t.maxAbs} (logits, K/V)`);
  return lines;
}
