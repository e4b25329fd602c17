// Owns the KV graph `kv_forward` (SPEC §3): one token, its position, a mask over L cache slots plus the
// token itself (last column), per-head caches K [hd, L] and V [L, hd] in; logits and the new K/V out.
import type { Model } from "./weights.js";
import { allocKvOutputs, kvGraphSpec, numel, type GraphSpec, type KvGraphInputs, type KvGraphOutputs } from "./graph-io.js";
import { buildRopeTables, type RopeTables } from "./rope.js";
import { runDecoder, type TapFn } from "./decoder.js";
import { attendHead, attentionScale } from "./attention.js";

export interface KvGraph {
  model: Model;
  kvSeqLen: number;
  /** L = kv_seq_len - 1 cache slots. */
  cacheLen: number;
  spec: GraphSpec;
  rope: RopeTables;
}

/** Builds the KV graph for a model and kv_seq_len (the static shapes are fixed here, as at export). */
export function createKvGraph(model: Model, kvSeqLen: number): KvGraph {
  if (!Number.isInteger(kvSeqLen) || kvSeqLen < 2) throw new RangeError(`kv_seq_len must be an integer >= 2, got ${kvSeqLen}`);
  const c = model.config;
  return {
    model,
    kvSeqLen,
    cacheLen: kvSeqLen - 1,
    spec: kvGraphSpec(c, kvSeqLen),
    rope: buildRopeTables(c.headDim, kvSeqLen, c.ropeTheta, c.ropeScaling),
  };
}

function checkLengths(g: KvGraph, inp: KvGraphInputs, out: KvGraphOutputs): void {
  const s = g.spec;
  const n = g.model.config.nLayers * g.model.config.nKvHeads;
  const expect = (what: string, got: number, want: number) => {
    if (got !== want) throw new RangeError(`kv_forward: ${what} has ${got} elements, expected ${want}`);
  };
  expect("tokens", inp.tokens.length, 1);
  expect("atten_mask", inp.attnMask.length, numel(s.inputs[1].shape));
  expect("input_pos", inp.inputPos.length, 1);
  expect("k caches (count)", inp.kCaches.length, n);
  expect("v caches (count)", inp.vCaches.length, n);
  const hdL = numel(s.inputs[3].shape);
  inp.kCaches.forEach((a, i) => expect(`k cache ${i}`, a.length, hdL));
  inp.vCaches.forEach((a, i) => expect(`v cache ${i}`, a.length, hdL));
  expect("logits", out.logits.length, g.model.config.vocabSize);
  expect("k out (count)", out.kOut.length, n);
  expect("v out (count)", out.vOut.length, n);
}

/**
 * One KV-graph call. A pure function of `inp`: every input is read before any output is written (the
 * new K/V are staged internally), so outputs may alias input buffers, as Shift Pointer's V output does.
 * Writes into `out` when given (the device's set_output), else into fresh arrays.
 */
export function kvForward(g: KvGraph, inp: KvGraphInputs, out?: KvGraphOutputs, tap?: TapFn): KvGraphOutputs {
  const c = g.model.config;
  const o = out ?? allocKvOutputs(c);
  checkLengths(g, inp, o);
  const { headDim: hd, nHeads, nKvHeads } = c;
  const L = g.cacheLen;
  const cols = L + 1;
  const group = nHeads / nKvHeads;
  const scale = attentionScale(hd);
  const kh = new Float32Array(hd * cols);
  const vh = new Float32Array(cols * hd);
  const scores = new Float32Array(cols);
  const newK = new Float32Array(c.nLayers * nKvHeads * hd);
  const newV = new Float32Array(c.nLayers * nKvHeads * hd);

  const attend = (layer: number, q: Float32Array, k: Float32Array, v: Float32Array, y: Float32Array) => {
    for (let kvh = 0; kvh < nKvHeads; kvh++) {
      const idx = layer * nKvHeads + kvh;
      const kc = inp.kCaches[idx];
      const vc = inp.vCaches[idx];
      // kh = cat([k_cache, k_new], dim=-1): [hd, L+1]; vh = cat([v_cache, v_new], dim=rows): [L+1, hd].
      for (let d = 0; d < hd; d++) {
        kh.set(kc.subarray(d * L, (d + 1) * L), d * cols);
        kh[d * cols + L] = k[kvh * hd + d];
      }
      vh.set(vc, 0);
      vh.set(v.subarray(kvh * hd, (kvh + 1) * hd), L * hd);
      newK.set(k.subarray(kvh * hd, (kvh + 1) * hd), idx * hd);
      newV.set(v.subarray(kvh * hd, (kvh + 1) * hd), idx * hd);
      const view = { kData: kh, kOff: 0, kRowStride: cols, kColStride: 1, vData: vh, vOff: 0, vRowStride: hd };
      for (let j = 0; j < group; j++) {
        const h = kvh * group + j; // GQA: query head h uses KV head floor(h / group)
        attendHead(q, h * hd, hd, view, cols, inp.attnMask, 0, scale, scores, y, h * hd);
      }
    }
  };

  // Inputs are copied into scratch (kh/vh) per layer as the layer runs, and outputs land only at the end.
  const logits = new Float32Array(c.vocabSize);
  runDecoder(g.model, g.rope, inp.tokens, inp.inputPos, attend, logits, tap);
  o.logits.set(logits);
  for (let i = 0; i < nKvHeads * c.nLayers; i++) {
    o.kOut[i].set(newK.subarray(i * hd, (i + 1) * hd));
    o.vOut[i].set(newV.subarray(i * hd, (i + 1) * hd));
  }
  return o;
}
