// Owns the KV graph `kv_forward` (SPEC §3): one token, its position, a mask over L cache slots plus the
// token itself (last column), per-head caches K [hd, L] and V [L, hd] in; logits and the new K/V out.
import type { Model } from "./weights.js";
import { allocKvOutputs, kvGraphSpec, numel, type GraphSpec, type KvGraphInputs, type KvGraphOutputs } from "./graph-io.js";
import { requirePlainLlama } from "./arch.js";
import { buildRopeTables, type RopeTables } from "./rope.js";
import { runDecoder, type MatMulFn, type TapFn } from "./decoder.js";
import { attentionScale } from "./attention.js";
import { matMulRows, softmaxInPlace } from "./kernels.js";

export interface KvGraph {
  model: Model;
  kvSeqLen: number;
  /** L = kv_seq_len - 1 cache slots. */
  cacheLen: number;
  spec: GraphSpec;
  rope: RopeTables;
  /** Computes every weight product (default: the oracle matMulRows; same bits whichever is used). */
  matMul: MatMulFn;
}

/** Builds the KV graph for a model and kv_seq_len (the static shapes are fixed here, as at export). */
export function createKvGraph(model: Model, kvSeqLen: number, opts?: { matMul?: MatMulFn }): KvGraph {
  if (!Number.isInteger(kvSeqLen) || kvSeqLen < 2) throw new RangeError(`kv_seq_len must be an integer >= 2, got ${kvSeqLen}`);
  const c = model.config;
  requirePlainLlama(c, "the seed flow's kv_forward graph (f965746a; use --flow current)");
  return {
    model,
    kvSeqLen,
    cacheLen: kvSeqLen - 1,
    spec: kvGraphSpec(c, kvSeqLen),
    rope: buildRopeTables(c.headDim, kvSeqLen, c.ropeTheta, c.ropeScaling),
    matMul: opts?.matMul ?? matMulRows,
  };
}

const fround = Math.fround;

/**
 * attendHead (src/engine/attention.ts) for one query head over the graph's cat([k_cache, k_new], -1) and
 * cat([v_cache, v_new], rows) without building them: key column c < L is kc[d*L + c] and column L is
 * kNew[newOff + d]; value row c < L is vc[c*hd + d] and row L is vNew[newOff + d]. The arithmetic of every
 * element is attendHead's: each score sums d = 0 … hd-1 in ascending order, then /scale, +mask, softmax over
 * the L+1 columns; each output sums c = 0 … L in ascending order. Only the loop order changes (scores four
 * columns per pass with their sums in float64 registers; outputs row by row into float64 scratch `acc`),
 * and nothing is rounded in between. Bit-identical to the concatenating version (the prefill-vs-KV tests
 * compare them).
 */
function attendCacheAndNew(
  q: Float32Array,
  qOff: number,
  hd: number,
  kc: Float32Array,
  vc: Float32Array,
  kNew: Float32Array,
  vNew: Float32Array,
  newOff: number,
  L: number,
  mask: Float32Array,
  scale: number,
  dots: Float64Array,
  scores: Float32Array,
  acc: Float64Array,
  y: Float32Array,
  yOff: number,
): void {
  // Scores of columns c < L, four columns at a time in registers (each still summed over d ascending).
  let col = 0;
  for (; col + 3 < L; col += 4) {
    let d0 = 0, d1 = 0, d2 = 0, d3 = 0; // prettier-ignore
    for (let d = 0, row = col; d < hd; d++, row += L) {
      const qd = q[qOff + d];
      d0 += qd * kc[row];
      d1 += qd * kc[row + 1];
      d2 += qd * kc[row + 2];
      d3 += qd * kc[row + 3];
    }
    dots[col] = d0;
    dots[col + 1] = d1;
    dots[col + 2] = d2;
    dots[col + 3] = d3;
  }
  for (; col < L; col++) {
    let d0 = 0;
    for (let d = 0, row = col; d < hd; d++, row += L) d0 += q[qOff + d] * kc[row];
    dots[col] = d0;
  }
  let dn = 0;
  for (let e = 0; e < hd; e++) dn += q[qOff + e] * kNew[newOff + e];
  for (let c = 0; c < L; c++) scores[c] = fround(fround(fround(dots[c]) / scale) + mask[c]);
  scores[L] = fround(fround(fround(dn) / scale) + mask[L]);
  softmaxInPlace(scores, L + 1);
  // Outputs: each acc[d] sums c = 0 … L-1 ascending (row L is added last, below).
  acc.fill(0);
  for (let cc = 0; cc < L; cc++) {
    const p = scores[cc];
    const row = cc * hd;
    for (let d = 0; d < hd; d++) acc[d] += p * vc[row + d];
  }
  const pn = scores[L];
  for (let e = 0; e < hd; e++) y[yOff + e] = fround(acc[e] + pn * vNew[newOff + e]);
}

/** Checks a call's array lengths against the graph's static shapes (RangeError naming the tensor). */
export function checkKvGraphLengths(g: KvGraph, inp: KvGraphInputs, out: KvGraphOutputs): void {
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
  checkKvGraphLengths(g, inp, o);
  const { headDim: hd, nHeads, nKvHeads } = c;
  const L = g.cacheLen;
  const cols = L + 1;
  const group = nHeads / nKvHeads;
  const scale = attentionScale(hd);
  const scores = new Float32Array(cols);
  const dots = new Float64Array(L);
  const acc = new Float64Array(hd);
  const newK = new Float32Array(c.nLayers * nKvHeads * hd);
  const newV = new Float32Array(c.nLayers * nKvHeads * hd);

  const attend = (layer: number, q: Float32Array, k: Float32Array, v: Float32Array, y: Float32Array) => {
    for (let kvh = 0; kvh < nKvHeads; kvh++) {
      const idx = layer * nKvHeads + kvh;
      newK.set(k.subarray(kvh * hd, (kvh + 1) * hd), idx * hd);
      newV.set(v.subarray(kvh * hd, (kvh + 1) * hd), idx * hd);
      for (let j = 0; j < group; j++) {
        const h = kvh * group + j; // GQA: query head h uses KV head floor(h / group)
        attendCacheAndNew(q, h * hd, hd, inp.kCaches[idx], inp.vCaches[idx], k, v, kvh * hd, L, inp.attnMask, scale, dots, scores, acc, y, h * hd);
      }
    }
  };

  // Inputs are only read while the layers run; outputs land at the end.
  const logits = new Float32Array(c.vocabSize);
  runDecoder(g.model, g.rope, inp.tokens, inp.inputPos, attend, logits, tap, g.matMul);
  o.logits.set(logits);
  for (let i = 0; i < nKvHeads * c.nLayers; i++) {
    o.kOut[i].set(newK.subarray(i * hd, (i + 1) * hd));
    o.vOut[i].set(newV.subarray(i * hd, (i + 1) * hd));
  }
  return o;
}
