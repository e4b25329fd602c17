// Owns the prefill graph `prefill_forward` (SPEC §3): P = prefill_seq_len - 1 right-padded tokens at fixed
// positions 0..P-1 with a [P, P] mask; logits for every row and K [hd, P] / V [P, hd] for every position.
import type { Model } from "./weights.js";
import {
  allocPrefillOutputs,
  numel,
  prefillGraphSpec,
  type GraphSpec,
  type PrefillGraphInputs,
  type PrefillGraphOutputs,
} from "./graph-io.js";
import { requirePlainLlama } from "./arch.js";
import { buildRopeTables, type RopeTables } from "./rope.js";
import { runDecoder, type MatMulFn, type TapFn } from "./decoder.js";
import { matMulRows } from "./kernels.js";
import { attendHead, attentionScale } from "./attention.js";

/**
 * Copies KV head `kvh`'s new K and V of the P rows into the graph's staged outputs for tensor `idx`:
 * K as [hd, P] (transposed), V as [P, hd], straight from the per-row projections k, v [P, kvDim].
 */
export function stagePrefillKv(
  newK: Float32Array, newV: Float32Array, k: Float32Array, v: Float32Array,
  idx: number, kvh: number, kvDim: number, hd: number, P: number,
): void {
  const kBase = idx * hd * P;
  const vBase = idx * P * hd;
  for (let t = 0; t < P; t++)
    for (let d = 0; d < hd; d++) {
      newK[kBase + d * P + t] = k[t * kvDim + kvh * hd + d];
      newV[vBase + t * hd + d] = v[t * kvDim + kvh * hd + d];
    }
}

export interface PrefillGraph {
  model: Model;
  prefillSeqLen: number;
  /** P = prefill_seq_len - 1 rows. */
  rows: number;
  spec: GraphSpec;
  rope: RopeTables;
  /** Computes every weight product (default: the oracle matMulRows; same bits whichever is used). */
  matMul: MatMulFn;
}

export function createPrefillGraph(model: Model, prefillSeqLen: number, opts?: { matMul?: MatMulFn }): PrefillGraph {
  if (!Number.isInteger(prefillSeqLen) || prefillSeqLen < 2)
    throw new RangeError(`prefill_seq_len must be an integer >= 2, got ${prefillSeqLen}`);
  const c = model.config;
  requirePlainLlama(c, "the seed flow's prefill_forward graph (f965746a; use --flow current)");
  const P = prefillSeqLen - 1;
  return {
    model,
    prefillSeqLen,
    rows: P,
    spec: prefillGraphSpec(c, prefillSeqLen),
    rope: buildRopeTables(c.headDim, P, c.ropeTheta, c.ropeScaling),
    matMul: opts?.matMul ?? matMulRows,
  };
}

/**
 * One prefill-graph call, a pure function of `inp`. Row i attends columns 0..P-1 with mask row i added;
 * padded rows are computed like any other (the device computes them too).
 */
export function prefillForward(g: PrefillGraph, inp: PrefillGraphInputs, out?: PrefillGraphOutputs, tap?: TapFn): PrefillGraphOutputs {
  const c = g.model.config;
  const P = g.rows;
  const o = out ?? allocPrefillOutputs(c, g.prefillSeqLen);
  const n = c.nLayers * c.nKvHeads;
  const { headDim: hd, nHeads, nKvHeads } = c;
  if (inp.tokens.length !== P) throw new RangeError(`prefill_forward: tokens has ${inp.tokens.length} elements, expected ${P}`);
  if (inp.attnMask.length !== P * P) throw new RangeError(`prefill_forward: atten_mask has ${inp.attnMask.length} elements, expected ${P * P}`);
  if (o.logits.length !== numel(g.spec.outputs[0].shape) || o.kOut.length !== n || o.vOut.length !== n)
    throw new RangeError("prefill_forward: output tensors do not match the graph");

  const kvDim = nKvHeads * hd;
  const group = nHeads / nKvHeads;
  const scale = attentionScale(hd);
  const scores = new Float32Array(P);
  const newK = new Float32Array(c.nLayers * nKvHeads * hd * P);
  const newV = new Float32Array(c.nLayers * nKvHeads * P * hd);
  const positions = new Int32Array(P);
  for (let i = 0; i < P; i++) positions[i] = i;

  const attend = (layer: number, q: Float32Array, k: Float32Array, v: Float32Array, y: Float32Array) => {
    const qDim = nHeads * hd;
    for (let kvh = 0; kvh < nKvHeads; kvh++) {
      const idx = layer * nKvHeads + kvh;
      stagePrefillKv(newK, newV, k, v, idx, kvh, kvDim, hd, P);
      const view = { kData: k, kOff: kvh * hd, kRowStride: 1, kColStride: kvDim, vData: v, vOff: kvh * hd, vRowStride: kvDim };
      for (let j = 0; j < group; j++) {
        const h = kvh * group + j;
        for (let t = 0; t < P; t++) attendHead(q, t * qDim + h * hd, hd, view, P, inp.attnMask, t * P, scale, scores, y, t * qDim + h * hd);
      }
    }
  };

  const logits = new Float32Array(P * c.vocabSize);
  runDecoder(g.model, g.rope, inp.tokens, positions, attend, logits, tap, g.matMul);
  o.logits.set(logits);
  for (let i = 0; i < n; i++) {
    o.kOut[i].set(newK.subarray(i * hd * P, (i + 1) * hd * P));
    o.vOut[i].set(newV.subarray(i * P * hd, (i + 1) * P * hd));
  }
  return o;
}
