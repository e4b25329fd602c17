// Owns the seed's fp32 node graph as a backend: the KV graph of node-graph.ts run in fp32 with torch's CPU
// kernels (the values the seed's calibration observes), behind the synchronous backend contract. The quantization
// report runs it in lock-step with the converted graph, so each conv's fp32 output can be compared with its
// quantized output node for node (`onValues` receives every node's value of each call).
import type { BackendInit, SyncGraphBackend } from "../../engine/backend.js";
import type { Model } from "../../engine/weights.js";
import { buildSeedGraph, kvFeeds, LOGITS_NODE, newKName, newVName, runSeedGraph, type SeedGraph, type SeedValues } from "./node-graph.js";

export type SeedFp32Backend = SyncGraphBackend<Float32Array, Float32Array, Float32Array> & { readonly graph: SeedGraph };

export interface SeedFp32BackendInit extends BackendInit {
  model: Model;
  kvSeqLen: number;
  /** Every node's value of each KV call. */
  onValues?: (values: SeedValues) => void;
}

export function createSeedFp32Backend(init: SeedFp32BackendInit): SeedFp32Backend {
  const g = buildSeedGraph(init.model, { mode: "kv", seqLen: init.kvSeqLen });
  const c = g.config;
  const executeKvSync: SeedFp32Backend["executeKvSync"] = (inputs, outputs) => {
    const values = runSeedGraph(g, kvFeeds(g, inputs));
    outputs.logits.set(values.get(LOGITS_NODE)!.data);
    for (let l = 0; l < c.nLayers; l++)
      for (let h = 0; h < c.nKvHeads; h++) {
        outputs.kOut[l * c.nKvHeads + h].set(values.get(newKName(l, h))!.data);
        outputs.vOut[l * c.nKvHeads + h].set(values.get(newVName(l, h))!.data);
      }
    init.onValues?.(values);
  };
  return {
    name: "seed-fp32",
    supportedModes: ["kv"],
    supportsTaps: false,
    graphs: {},
    graph: g,
    executeKvSync,
    executePrefillSync() {
      throw new Error("seed fp32 backend: the KV graph only");
    },
    async executeKv(inputs, outputs) {
      executeKvSync(inputs, outputs);
    },
    async executePrefill() {
      throw new Error("seed fp32 backend: the KV graph only");
    },
    dispose() {},
  };
}
