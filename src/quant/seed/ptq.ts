// Owns the seed's `--ptq` flow end to end for one model (SPEC §7.5, llama.py 579-602): build the graph(s),
// annotate for the scheme, prepare observers, calibrate in fp32, and read the encodings. In hybrid mode the KV
// graph goes first; its output encodings are then forced onto the prefill graph's outputs
// (annotate_prefill_kv_output) before the prefill graph is calibrated.
import type { Model } from "../../engine/weights.js";
import { calibrateKv, calibratePrefill, type CalibrationRun, type KvUpdater } from "./calibrate.js";
import { outputQuantAttrs, seedEncodings, type SeedEncodings } from "./encodings.js";
import { buildSeedGraph, type SeedGraph, type SeedGraphMode } from "./node-graph.js";
import { observeCall, seedObserverGroups, type SeedObservers } from "./observers.js";
import type { OutputQuantAttrs, SeedScheme } from "./qspecs.js";

export interface SeedPtqOptions {
  scheme: SeedScheme;
  mode: "kv" | "prefill" | "hybrid";
  kvSeqLen?: number;
  prefillSeqLen?: number;
  /** Calibration prompt ids, BOS first. */
  promptTokens: readonly number[];
  eosId: number;
  updater?: KvUpdater;
  /** annotate_linear_16a8w_in_affine_layer (`--llama_model stories110m`); default true. */
  storiesLmHead?: boolean;
}

export interface SeedGraphPtq {
  graph: SeedGraph;
  observers: SeedObservers;
  calibration: CalibrationRun;
  encodings: SeedEncodings;
}

export interface SeedPtqResult {
  kv?: SeedGraphPtq;
  prefill?: SeedGraphPtq;
}

/** Annotates, prepares and calibrates one graph. */
export function quantizeSeedGraph(
  model: Model,
  mode: SeedGraphMode,
  seqLen: number,
  opts: SeedPtqOptions,
  prefillKvOutputs?: OutputQuantAttrs[],
): SeedGraphPtq {
  const graph = buildSeedGraph(model, { mode, seqLen });
  const observers = seedObserverGroups(graph, { scheme: opts.scheme, storiesLmHead: opts.storiesLmHead, prefillKvOutputs });
  const record = (v: Parameters<typeof observeCall>[1]) => observeCall(observers, v);
  const calOpts = { promptTokens: opts.promptTokens, eosId: opts.eosId, updater: opts.updater };
  const calibration = mode === "kv" ? calibrateKv(graph, record, calOpts) : calibratePrefill(graph, record, calOpts);
  return { graph, observers, calibration, encodings: seedEncodings(observers, opts.scheme) };
}

const need = (v: number | undefined, what: string): number => {
  if (v === undefined) throw new RangeError(`seed ptq: ${what} is required`);
  return v;
};

/** llama.py's quantize loop for `--model_mode kv | prefill | hybrid`. */
export function seedPtq(model: Model, opts: SeedPtqOptions): SeedPtqResult {
  if (opts.mode === "kv") return { kv: quantizeSeedGraph(model, "kv", need(opts.kvSeqLen, "kvSeqLen"), opts) };
  if (opts.mode === "prefill") return { prefill: quantizeSeedGraph(model, "prefill", need(opts.prefillSeqLen, "prefillSeqLen"), opts) };
  const kv = quantizeSeedGraph(model, "kv", need(opts.kvSeqLen, "kvSeqLen"), opts);
  const prefill = quantizeSeedGraph(model, "prefill", need(opts.prefillSeqLen, "prefillSeqLen"), opts, outputQuantAttrs(kv.observers));
  return { kv, prefill };
}
