// Test helper: a plain Smart-Mask style update of the AR-N graph's per-layer caches (SPEC-2026 §4.2), written out
// independently of src/kvcache/current-kv-manager.ts so the graph tests do not depend on the manager.
import type { ArGraph } from "../../src/engine/ar-graph.js";
import type { ArGraphOutputs } from "../../src/engine/ar-graph-io.js";

/** Fed row j (< n) of `out` goes to cache slot nPast + j of every layer and head. */
export function updateCaches(g: ArGraph, kC: Float32Array[], vC: Float32Array[], out: ArGraphOutputs, nPast: number, n: number): void {
  const { nKvHeads: H, headDim: hd } = g.model.config;
  const C = g.cacheLen;
  const AR = g.arLen;
  for (let l = 0; l < kC.length; l++)
    for (let j = 0; j < n; j++) {
      for (let r = 0; r < H * hd; r++) kC[l][r * C + nPast + j] = out.kOut[l][r * AR + j];
      for (let h = 0; h < H; h++)
        for (let d = 0; d < hd; d++) vC[l][(h * C + nPast + j) * hd + d] = out.vOut[l][(h * AR + j) * hd + d];
    }
}
