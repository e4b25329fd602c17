// Owns the reference backend: the golden fp32 graphs of src/engine behind the Backend interface.
import { createKvGraph, kvForward } from "../engine/kv-graph.js";
import { createPrefillGraph, prefillForward } from "../engine/prefill-graph.js";
import type { Backend, BackendInit } from "./types.js";

export function createReferenceBackend(init: BackendInit): Backend {
  const kv = init.kvSeqLen !== undefined ? createKvGraph(init.model, init.kvSeqLen) : undefined;
  const prefill = init.prefillSeqLen !== undefined ? createPrefillGraph(init.model, init.prefillSeqLen) : undefined;
  return {
    name: "reference",
    supportsTaps: true,
    graphs: { kv: kv?.spec, prefill: prefill?.spec },
    async executeKv(inputs, outputs, opts) {
      if (!kv) throw new Error("reference backend: built without a KV graph (kvSeqLen)");
      kvForward(kv, inputs, outputs, opts?.tap);
    },
    async executePrefill(inputs, outputs, opts) {
      if (!prefill) throw new Error("reference backend: built without a prefill graph (prefillSeqLen)");
      prefillForward(prefill, inputs, outputs, opts?.tap);
    },
    dispose() {},
  };
}
