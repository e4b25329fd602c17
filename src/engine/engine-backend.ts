// Owns the engine's own backend: the golden fp32 graphs of this folder behind the backend contract
// (src/engine/backend.ts), callable synchronously too, with an optional matmul hook (the fast exact pool plugs
// in here from src/backends/reference.ts; any hook gives the same bits as the oracle). Calibration and
// perplexity drive it through the runner session without importing the backends folder.
import type { MatMulFn } from "./decoder.js";
import { createKvGraph, kvForward } from "./kv-graph.js";
import { createPrefillGraph, prefillForward } from "./prefill-graph.js";
import type { BackendInit, ExecuteOptions, SyncGraphBackend } from "./backend.js";
import { arForward, createArGraph, type ArGraph } from "./ar-graph.js";
import type { ArGraphInputs, ArGraphOutputs } from "./ar-graph-io.js";

export type EngineBackend = SyncGraphBackend<Float32Array, Float32Array, Float32Array> & {
  executeArSync(arLen: number, inputs: ArGraphInputs, outputs: ArGraphOutputs, opts?: ExecuteOptions): void;
};

/** The reference graphs for `init` (a graph is built only for the lengths given). `dispose` is called on dispose(). */
export function createEngineBackend(init: BackendInit, opts: { matMul?: MatMulFn; dispose?: () => void } = {}): EngineBackend {
  const matMul = opts.matMul;
  const kv = init.kvSeqLen !== undefined ? createKvGraph(init.model, init.kvSeqLen, { matMul }) : undefined;
  const prefill = init.prefillSeqLen !== undefined ? createPrefillGraph(init.model, init.prefillSeqLen, { matMul }) : undefined;
  const arGraphs = new Map<number, ArGraph>();
  if (init.contextLen !== undefined)
    for (const arLen of new Set(init.arLens ?? [1])) arGraphs.set(arLen, createArGraph(init.model, { contextLen: init.contextLen, arLen, matMul, ...init.attention }));
  const executeArSync = (arLen: number, inputs: ArGraphInputs, outputs: ArGraphOutputs, o?: ExecuteOptions) => {
    const g = arGraphs.get(arLen);
    if (!g) throw new Error(`reference backend: built without an AR-N graph of ${arLen} rows`);
    arForward(g, inputs, outputs, o?.tap);
  };
  const executeKvSync: EngineBackend["executeKvSync"] = (inputs, outputs, o) => {
    if (!kv) throw new Error("reference backend: built without a KV graph (kvSeqLen)");
    kvForward(kv, inputs, outputs, o?.tap);
  };
  const executePrefillSync: EngineBackend["executePrefillSync"] = (inputs, outputs, o) => {
    if (!prefill) throw new Error("reference backend: built without a prefill graph (prefillSeqLen)");
    prefillForward(prefill, inputs, outputs, o?.tap);
  };
  return {
    name: "reference",
    supportsTaps: true,
    graphs: { kv: kv?.spec, prefill: prefill?.spec, ...(arGraphs.size ? { ar: [...arGraphs.values()].map((g) => g.spec) } : {}) },
    executeKvSync,
    executePrefillSync,
    async executeKv(inputs, outputs, o) {
      executeKvSync(inputs, outputs, o);
    },
    async executePrefill(inputs, outputs, o) {
      executePrefillSync(inputs, outputs, o);
    },
    executeArSync,
    async executeAr(arLen, inputs, outputs, o) {
      executeArSync(arLen, inputs, outputs, o);
    },
    dispose: opts.dispose ?? (() => {}),
  };
}
