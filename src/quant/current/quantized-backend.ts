// Owns the current flow's quantized simulation as a backend (`run --flow current --ptq`, SPEC-2026 §10): the
// quantized AR-N graphs of src/quant/current/forward.ts behind the backend contract, one per AR length, all on the
// one set of calibrated encodings (§10.3 step 4: CALIBRATE → decode → prefill, input caches = output caches).
//
// Graph I/O. The current runner session (src/runner/current-session.ts) drives fp32 I/O, as it drives the qnn
// backend's float view: `executeAr` takes and returns the VALUES of the device's codes — K/V outputs are
// fp32((q - zp)·s) of their uint8 (zp 128) or uint16 codes, so the session's caches hold exactly the device's bytes
// in value form (a never-written slot, 0.0, is the zero-point code: byte 128 for 8-bit K/V), the mask goes through
// its encoding (0 -> 65535, -255 -> 0), and the logits are the values of their uint16 codes, whose encoding
// `logitsEncoding` reports so the session samples the raw codes (SPEC-2026 §9). `executeArCodes` runs the same
// graph on the device's element types directly (uint8/uint16 caches and mask, uint16 logits): the byte view, for a
// code-typed session or report. Conversions are exact both ways (a value read back gives its code again).
import type { Backend, BackendInit } from "../../engine/backend.js";
import type { Model } from "../../engine/weights.js";
import { createArGraph } from "../../engine/ar-graph.js";
import type { ArGraphInputs, ArGraphOutputs } from "../../engine/ar-graph-io.js";
import { dequantizeInto, quantizeInto } from "./activations.js";
import { encodingOf, kCacheName, LOGITS_NAME, MASK_NAME, vCacheName, type CurrentEncodings } from "./encodings.js";
import { createFastConvRows, createFastFakeQuant, fastConvSupported, type ConvRowsFn } from "./integer-fast.js";
import { createIntDotInstance, intDotSupported } from "../../compute/int-dot.js";
import { createIntegerKernel, type IntegerKernel } from "../../compute/integer-kernel.js";
import { quantArForward, quantArGraph, type ConvObserver, type QuantArGraph } from "./forward.js";
import type { CurrentArithmetic, IntegerStats } from "./integer.js";
import type { EmbedFn } from "../../engine/decoder.js";
import { loadQuantizedModel, type LoadedQuantizedModel } from "./quantized-model-file.js";

export type CodeArray = Uint8Array | Uint16Array;

/** AR-N inputs on device codes: mask and caches in their encodings' element types. */
export interface ArCodeInputs {
  tokens: Int32Array;
  attnMask: CodeArray;
  /** window_atten_mask codes (sliding-window models), same encoding as atten_mask. */
  windowMask?: CodeArray;
  inputPos?: Int32Array;
  kCaches: CodeArray[];
  vCaches: CodeArray[];
}

export interface ArCodeOutputs {
  logits: CodeArray;
  kOut: CodeArray[];
  vOut: CodeArray[];
}

export interface CurrentQuantizedBackend extends Backend {
  readonly encodings: CurrentEncodings;
  readonly arithmetic: CurrentArithmetic;
  /** Accumulator statistics of every call so far (integer arithmetic). */
  readonly integerStats: IntegerStats;
  /** The K/V element type of the device graph (uint8 for 8-bit K/V, else uint16). */
  readonly kvCodes: typeof Uint8Array | typeof Uint16Array;
  executeArSync(arLen: number, inputs: ArGraphInputs, outputs: ArGraphOutputs): void;
  /** The same call on device codes (mask, caches, logits as codes). */
  executeArCodes(arLen: number, inputs: ArCodeInputs, outputs: ArCodeOutputs): void;
}

export interface CurrentQuantizedOptions {
  /** CL of the graphs (default: the calibration's). */
  contextLen?: number;
  /** AR lengths to build (1 = decode, AR_pp = prompt). */
  arLens: readonly number[];
  /** Sees every conv of every call (quant-report's per-conv comparison). */
  onConv?: ConvObserver;
  /** Integer codes and accumulators (default) or the fp32 fake-quant oracle (src/quant/current/integer.ts). */
  arithmetic?: CurrentArithmetic;
  /** The integer arithmetic's implementation: "fast" (default, integer-fast.ts) or "plain" (integer.ts, the oracle). */
  integerPath?: "fast" | "plain";
  /**
   * The fast path's conv kernel (src/compute/integer-kernel.ts), e.g. one split over threads by createIntegerKernel(n);
   * default: a new one on the calling thread. The backend's dispose() disposes it only when `ownKernel` is set.
   */
  integerKernel?: IntegerKernel;
  ownKernel?: boolean;
  /** The fast conv already holding the weight codes (a quantized model file's, loadQuantizedModel); default: a new one. */
  convRows?: ConvRowsFn;
  /** The embedding gather (a quantized model file's table of codes); default: the model's fp32 table. */
  embed?: EmbedFn;
}

/** The quantized current-flow graphs of `model` under `encodings` (calibrateCurrent of the same model). */
export function currentQuantizedBackend(model: Model, encodings: CurrentEncodings, opts: CurrentQuantizedOptions): CurrentQuantizedBackend {
  const CL = opts.contextLen ?? encodings.contextLen;
  const graphs = new Map<number, QuantArGraph>();
  const integerStats: IntegerStats = { int32Overflows: 0, maxAccumulator: 0 };
  const arithmetic = opts.arithmetic ?? "integer";
  // One integer conv (and its copy of the weight codes) for every graph of the backend.
  const integerPath = opts.integerPath ?? "fast";
  const fast = integerPath === "fast";
  const convRows = arithmetic === "integer" && fast ? (opts.convRows ?? (opts.integerKernel || fastConvSupported() ? createFastConvRows(opts.integerKernel) : undefined)) : undefined;
  const fqKernel = fast && intDotSupported() ? createIntDotInstance() : undefined;
  const fakeQuant = fqKernel ? createFastFakeQuant(fqKernel) : undefined;
  for (const ar of new Set(opts.arLens))
    graphs.set(ar, quantArGraph(createArGraph(model, { contextLen: CL, arLen: ar, ...encodings.attention }), encodings, { onConv: opts.onConv, arithmetic, stats: integerStats, convRows, fakeQuant, integerPath, embed: opts.embed }));
  const graph = (ar: number): QuantArGraph => {
    const g = graphs.get(ar);
    if (!g) throw new Error(`quantized backend: built without an AR-N graph of ${ar} rows (built for AR ${[...graphs.keys()].join(", ")})`);
    return g;
  };
  const NL = model.config.nLayers;
  const kEnc = Array.from({ length: NL }, (_, l) => encodingOf(encodings, kCacheName(l)));
  const vEnc = Array.from({ length: NL }, (_, l) => encodingOf(encodings, vCacheName(l)));
  const maskEnc = encodingOf(encodings, MASK_NAME);
  const logitsEnc = encodingOf(encodings, LOGITS_NAME);
  const executeArSync = (ar: number, inputs: ArGraphInputs, outputs: ArGraphOutputs) => {
    quantArForward(graph(ar), inputs, outputs);
  };
  const values = (codes: CodeArray, e: Parameters<typeof dequantizeInto>[1]) => {
    const x = new Float32Array(codes.length);
    dequantizeInto(codes, e, x);
    return x;
  };
  const unsupported = () => Promise.reject(new Error("the current flow's quantized backend runs the AR-N graphs only (executeAr)"));
  return {
    name: `quantized-current(${encodings.recipe.recipe.name}, ${arithmetic})`,
    arithmetic,
    integerStats,
    supportsTaps: false,
    supportedModes: ["kv", "hybrid"],
    graphs: { ar: [...graphs.values()].map((g) => g.graph.spec) },
    encodings,
    kvCodes: encodings.recipe.kv.bits === 8 ? Uint8Array : Uint16Array,
    logitsEncoding: () => ({ scale: logitsEnc.scale, offset: logitsEnc.offset }),
    executeArSync,
    async executeAr(ar, inputs, outputs) {
      executeArSync(ar, inputs, outputs);
    },
    executeArCodes(ar, inputs, outputs) {
      const inp: ArGraphInputs = {
        tokens: inputs.tokens,
        attnMask: values(inputs.attnMask, maskEnc),
        ...(inputs.windowMask ? { windowMask: values(inputs.windowMask, maskEnc) } : {}),
        ...(inputs.inputPos ? { inputPos: inputs.inputPos } : {}),
        kCaches: inputs.kCaches.map((k, l) => values(k, kEnc[l])),
        vCaches: inputs.vCaches.map((v, l) => values(v, vEnc[l])),
      };
      const out = quantArForward(graph(ar), inp);
      quantizeInto(out.logits, logitsEnc, outputs.logits);
      out.kOut.forEach((k, l) => quantizeInto(k, kEnc[l], outputs.kOut[l]));
      out.vOut.forEach((v, l) => quantizeInto(v, vEnc[l], outputs.vOut[l]));
    },
    executeKv: unsupported,
    executePrefill: unsupported,
    dispose() {
      if (opts.ownKernel) opts.integerKernel?.dispose();
    },
  };
}

/**
 * currentQuantizedBackend with the fast path's conv kernel split over `threads` threads (the worker pool of
 * src/compute/pool.ts; bit-identical outputs for every thread count); dispose() ends the workers.
 */
export async function createCurrentQuantizedBackend(model: Model, encodings: CurrentEncodings, opts: CurrentQuantizedOptions & { threads?: number }): Promise<CurrentQuantizedBackend> {
  const threads = opts.threads ?? 1;
  if (threads <= 1 || (opts.integerPath ?? "fast") !== "fast" || (opts.arithmetic ?? "integer") !== "integer" || !fastConvSupported()) return currentQuantizedBackend(model, encodings, opts);
  const integerKernel = await createIntegerKernel(threads);
  return currentQuantizedBackend(model, encodings, { ...opts, integerKernel, ownKernel: true });
}

/**
 * The quantized backend of a quantized model file (run --quantized_model): the integer kernel is made first (split over
 * `threads`) so the file's conv codes go straight into its memory; the model (placeholder conv weights, for the
 * session's config) and the encodings come with it. dispose() ends the kernel's workers.
 */
export async function openQuantizedModelBackend(
  path: string,
  opts: Omit<CurrentQuantizedOptions, "integerKernel" | "ownKernel" | "convRows" | "embed"> & { threads?: number },
): Promise<{ backend: CurrentQuantizedBackend; loaded: LoadedQuantizedModel }> {
  const threads = opts.threads ?? 1;
  const kernelPath = (opts.integerPath ?? "fast") === "fast" && fastConvSupported();
  const integerKernel = kernelPath ? await createIntegerKernel(threads) : undefined;
  try {
    const convRows = integerKernel ? createFastConvRows(integerKernel) : undefined;
    const loaded = loadQuantizedModel(path, { convRows });
    const backend = currentQuantizedBackend(loaded.model, loaded.encodings, { ...opts, integerKernel, ownKernel: true, convRows: loaded.convRows, embed: loaded.embed });
    return { backend, loaded };
  } catch (e) {
    integerKernel?.dispose();
    throw e;
  }
}

/** BackendInit-shaped entry point (the AR lengths of a run). */
export function currentQuantizedBackendFor(init: BackendInit, encodings: CurrentEncodings): CurrentQuantizedBackend {
  return currentQuantizedBackend(init.model, encodings, { contextLen: init.contextLen, arLens: init.arLens ?? [1] });
}
