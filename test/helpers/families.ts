// Test helper: teacher-forced logits of a family model through the calibration graph (AR = CL = T, no cache, the
// causal mask and, for sliding-window models, the window mask of SPEC-2026 §8.4).
import { arForward, createArGraph } from "../../src/engine/ar-graph.js";
import { allocArCaches, arCausalMask, arWindowMask } from "../../src/engine/ar-graph-io.js";
import { slidingWindowOf } from "../../src/engine/arch.js";
import type { Model } from "../../src/engine/weights.js";

/** Logits [T, V] of one call over `ids` (row t = after reading tokens 0..t). */
export function calibrationLogits(model: Model, ids: number[]): Float32Array {
  const T = ids.length;
  const g = createArGraph(model, { contextLen: T, arLen: T });
  const sw = slidingWindowOf(model.config.arch);
  return arForward(g, {
    tokens: Int32Array.from(ids),
    attnMask: arCausalMask(T, T, 0),
    ...(sw !== null ? { windowMask: arWindowMask(T, T, 0, sw) } : {}),
    ...allocArCaches(model.config, T, T),
  }).logits;
}
