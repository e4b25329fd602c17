// Owns the wasm backend's graph calls: the reference's kv_forward and prefill_forward (src/engine/kv-graph.ts,
// prefill-graph.ts: same SPEC §3 I/O, checks, K/V staging and output order, the same runDecoder body, RoPE, taps)
// and the current flow's AR-N graphs (src/engine/ar-graph.ts: SPEC-2026 §3, with the §8.1 masked softmax and §8.2
// R3 options) with the weight products on the wasm matmul and attention on the wasm attention kernels
// (src/compute/kernels.ts: scores, then the reference's softmax in JavaScript, then ·V). Attention data is copied
// into a small shared memory of its own (keys, values, queries, mask, scores), used by the main thread only.
import type { MatMulFn, TapFn } from "../../engine/decoder.js";
import { runDecoder } from "../../engine/decoder.js";
import { attentionScale, attentionScaleOf, MASKED_SOFTMAX_OFFSET } from "../../engine/attention.js";
import { checkArGraphIo, r3Rotation, stageArKv, type ArGraph } from "../../engine/ar-graph.js";
import { allocArOutputs, type ArGraphInputs, type ArGraphOutputs } from "../../engine/ar-graph-io.js";
import { softmaxInPlace } from "../../engine/kernels.js";
import { checkKvGraphLengths, type KvGraph } from "../../engine/kv-graph.js";
import { stagePrefillKv, type PrefillGraph } from "../../engine/prefill-graph.js";
import { allocKvOutputs, allocPrefillOutputs, numel, type KvGraphInputs, type KvGraphOutputs, type PrefillGraphInputs, type PrefillGraphOutputs } from "../../engine/graph-io.js";
import { PAGE_BYTES } from "../../compute/encoder.js";
import { ATTN_PV, ATTN_SCORES } from "../../compute/kernels.js";

type Kernel = (...args: number[]) => void;

/** Float offsets of the attention scratch regions, each followed by 4 floats of slack (kernels read whole v128s). */
interface Regions {
  [name: string]: number;
}

/** Lays out named regions (sizes in floats), 16-byte aligned, each with 4 floats of slack; returns offsets and total. */
function layout(sizes: Record<string, number>): { at: Regions; floats: number } {
  const at: Regions = {};
  let off = 0;
  for (const [name, n] of Object.entries(sizes)) {
    at[name] = off;
    off += Math.ceil((n + 4) / 4) * 4;
  }
  return { at, floats: off };
}

/** A shared memory of at least `floats` floats with the attention kernels instantiated on it. */
function attentionMemory(module: WebAssembly.Module, floats: number) {
  const pages = Math.max(1, Math.ceil((floats * 4) / PAGE_BYTES));
  const mem = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const ex = new WebAssembly.Instance(module, { env: { mem } }).exports;
  return { A: new Float32Array(mem.buffer), scores: ex[ATTN_SCORES] as Kernel, pv: ex[ATTN_PV] as Kernel };
}

export type KvForwardFn = (inp: KvGraphInputs, out?: KvGraphOutputs, tap?: TapFn) => KvGraphOutputs;
export type PrefillForwardFn = (inp: PrefillGraphInputs, out?: PrefillGraphOutputs, tap?: TapFn) => PrefillGraphOutputs;

/** kv_forward on the wasm kernels; `g` supplies the shapes, spec and RoPE tables (createKvGraph). */
export function wasmKvForward(g: KvGraph, module: WebAssembly.Module, matMul: MatMulFn): KvForwardFn {
  const c = g.model.config;
  const { headDim: hd, nHeads, nKvHeads, nLayers } = c;
  const L = g.cacheLen;
  const cols = L + 1;
  const group = nHeads / nKvHeads;
  const qDim = nHeads * hd;
  const hdPad = Math.ceil(hd / 4) * 4;
  const sStride = Math.ceil(cols / 4) * 4 + 4;
  const { at, floats } = layout({ q: qDim, mask: cols, k: hd * L, kNew: hd, v: cols * hd, s: group * sStride, y: group * hdPad });
  const { A, scores, pv } = attentionMemory(module, floats);
  const scale = attentionScale(hd);
  const n = nLayers * nKvHeads;
  const newK = new Float32Array(n * hd);
  const newV = new Float32Array(n * hd);
  const logits = new Float32Array(c.vocabSize);
  let cur: KvGraphInputs | undefined;

  const attend = (layer: number, q: Float32Array, k: Float32Array, v: Float32Array, y: Float32Array) => {
    A.set(q, at.q);
    for (let kvh = 0; kvh < nKvHeads; kvh++) {
      const idx = layer * nKvHeads + kvh;
      // keys [hd, L] as given plus the new key as a one-column block; values [L, hd] then the new row: [L+1, hd].
      A.set(cur!.kCaches[idx], at.k);
      A.set(k.subarray(kvh * hd, (kvh + 1) * hd), at.kNew);
      A.set(cur!.vCaches[idx], at.v);
      A.set(v.subarray(kvh * hd, (kvh + 1) * hd), at.v + L * hd);
      newK.set(k.subarray(kvh * hd, (kvh + 1) * hd), idx * hd);
      newV.set(v.subarray(kvh * hd, (kvh + 1) * hd), idx * hd);
      const q0 = (at.q + kvh * group * hd) * 4; // GQA: query heads kvh·group … kvh·group + group-1
      if (L > 0) scores(q0, at.k * 4, at.s * 4, at.mask * 4, group, hd, L, hd * 4, L * 4, sStride * 4, 0, scale);
      scores(q0, at.kNew * 4, (at.s + L) * 4, (at.mask + L) * 4, group, hd, 1, hd * 4, 4, sStride * 4, 0, scale);
      for (let j = 0; j < group; j++) softmaxInPlace(A.subarray(at.s + j * sStride, at.s + j * sStride + cols), cols);
      pv(at.s * 4, at.v * 4, at.y * 4, group, cols, hd, sStride * 4, hd * 4, hdPad * 4);
      for (let j = 0; j < group; j++) {
        const yo = (kvh * group + j) * hd;
        const src = at.y + j * hdPad;
        for (let d = 0; d < hd; d++) y[yo + d] = A[src + d];
      }
    }
  };

  return (inp, out, tap) => {
    const o = out ?? allocKvOutputs(c);
    checkKvGraphLengths(g, inp, o);
    A.set(inp.attnMask, at.mask);
    // Inputs are read layer by layer as the decoder runs; outputs are written only at the end (they may alias).
    cur = inp;
    try {
      runDecoder(g.model, g.rope, inp.tokens, inp.inputPos, attend, logits, tap, matMul);
    } finally {
      cur = undefined;
    }
    o.logits.set(logits);
    for (let i = 0; i < n; i++) {
      o.kOut[i].set(newK.subarray(i * hd, (i + 1) * hd));
      o.vOut[i].set(newV.subarray(i * hd, (i + 1) * hd));
    }
    return o;
  };
}

/** prefill_forward on the wasm kernels; `g` supplies the shapes, spec and RoPE tables (createPrefillGraph). */
export function wasmPrefillForward(g: PrefillGraph, module: WebAssembly.Module, matMul: MatMulFn): PrefillForwardFn {
  const c = g.model.config;
  const { headDim: hd, nHeads, nKvHeads, nLayers } = c;
  const P = g.rows;
  const group = nHeads / nKvHeads;
  const qDim = nHeads * hd;
  const kvDim = nKvHeads * hd;
  const hdPad = Math.ceil(hd / 4) * 4;
  const sStride = Math.ceil(P / 4) * 4;
  const { at, floats } = layout({ q: P * qDim, mask: P * P, k: hd * P, v: P * kvDim, s: P * sStride, y: P * hdPad });
  const { A, scores, pv } = attentionMemory(module, floats);
  const scale = attentionScale(hd);
  const n = nLayers * nKvHeads;
  const newK = new Float32Array(n * hd * P);
  const newV = new Float32Array(n * P * hd);
  const logits = new Float32Array(P * c.vocabSize);
  const positions = Int32Array.from({ length: P }, (_, i) => i);

  const attend = (layer: number, q: Float32Array, k: Float32Array, v: Float32Array, y: Float32Array) => {
    A.set(q, at.q);
    A.set(v, at.v);
    for (let kvh = 0; kvh < nKvHeads; kvh++) {
      const idx = layer * nKvHeads + kvh;
      stagePrefillKv(newK, newV, k, v, idx, kvh, kvDim, hd, P);
      const kBase = idx * hd * P;
      A.set(newK.subarray(kBase, kBase + hd * P), at.k);
      for (let j = 0; j < group; j++) {
        const h = kvh * group + j;
        scores((at.q + h * hd) * 4, at.k * 4, at.s * 4, at.mask * 4, P, hd, P, qDim * 4, P * 4, sStride * 4, P * 4, scale);
        for (let t = 0; t < P; t++) softmaxInPlace(A.subarray(at.s + t * sStride, at.s + t * sStride + P), P);
        pv(at.s * 4, (at.v + kvh * hd) * 4, at.y * 4, P, P, hd, sStride * 4, kvDim * 4, hdPad * 4);
        for (let t = 0; t < P; t++) {
          const yo = t * qDim + h * hd;
          const src = at.y + t * hdPad;
          for (let d = 0; d < hd; d++) y[yo + d] = A[src + d];
        }
      }
    }
  };

  return (inp, out, tap) => {
    const o = out ?? allocPrefillOutputs(c, g.prefillSeqLen);
    if (inp.tokens.length !== P) throw new RangeError(`prefill_forward: tokens has ${inp.tokens.length} elements, expected ${P}`);
    if (inp.attnMask.length !== P * P) throw new RangeError(`prefill_forward: atten_mask has ${inp.attnMask.length} elements, expected ${P * P}`);
    if (o.logits.length !== numel(g.spec.outputs[0].shape) || o.kOut.length !== n || o.vOut.length !== n)
      throw new RangeError("prefill_forward: output tensors do not match the graph");
    A.set(inp.attnMask, at.mask);
    runDecoder(g.model, g.rope, inp.tokens, positions, attend, logits, tap, matMul);
    o.logits.set(logits);
    for (let i = 0; i < n; i++) {
      o.kOut[i].set(newK.subarray(i * hd * P, (i + 1) * hd * P));
      o.vOut[i].set(newV.subarray(i * P * hd, (i + 1) * P * hd));
    }
    return o;
  };
}

export type ArForwardFn = (inp: ArGraphInputs, out?: ArGraphOutputs, tap?: TapFn) => ArGraphOutputs;

/**
 * §8.1 on raw scores (computed with a zero mask, so s = fround(dot / scale) exactly): per row, the minimum over all
 * `cols` columns, then fround(min - 20) wherever the mask is non-zero (attendHeadMaskedSoftmax's substitution).
 */
function substituteMasked(A: Float32Array, s0: number, sStride: number, rows: number, cols: number, mask: Float32Array, m0: number): void {
  for (let i = 0; i < rows; i++) {
    const s = s0 + i * sStride;
    let min = Infinity;
    for (let c = 0; c < cols; c++) if (A[s + c] < min) min = A[s + c];
    const fill = Math.fround(min - MASKED_SOFTMAX_OFFSET);
    for (let c = 0; c < cols; c++) if (mask[m0 + i * cols + c] !== 0) A[s + c] = fill;
  }
}

/** The reference's softmax on `rows` score rows of `cols` columns in place. */
function softmaxRows(A: Float32Array, s0: number, sStride: number, rows: number, cols: number): void {
  for (let i = 0; i < rows; i++) softmaxInPlace(A.subarray(s0 + i * sStride, s0 + i * sStride + cols), cols);
}

/** Copies `rows` rows of `width` floats, `srcStride` apart in `src`, into y at yOff, yStride apart. */
function copyRows(y: Float32Array, yOff: number, yStride: number, src: Float32Array, srcOff: number, srcStride: number, rows: number, width: number): void {
  for (let i = 0; i < rows; i++) y.set(src.subarray(srcOff + i * srcStride, srcOff + i * srcStride + width), yOff + i * yStride);
}

/**
 * The AR-N graph (arForward) on the wasm kernels; `g` supplies the shapes, spec, RoPE tables and attention options
 * (createArGraph; its matMul is not used, `matMul` computes every weight product). Per layer and KV head the keys
 * are two column blocks, the cache's [hd, C] then the fed rows' [hd, AR], the values one [CL, hd] block (cache
 * rows, then the fed rows), scored for every query head of the group over its AR rows with the [AR, CL] mask rows.
 */
export function wasmArForward(g: ArGraph, module: WebAssembly.Module, matMul: MatMulFn): ArForwardFn {
  const c = g.model.config;
  const { headDim: hd, nHeads, nKvHeads, nLayers } = c;
  const CL = g.contextLen;
  const AR = g.arLen;
  const C = g.cacheLen;
  const group = nHeads / nKvHeads;
  const qDim = nHeads * hd;
  const kvDim = nKvHeads * hd;
  const hdPad = Math.ceil(hd / 4) * 4;
  // Each row's kernel writes reach column C + 4·ceil(AR/4) - 1 <= CL + 2: a row never spills into the next.
  const sStride = Math.ceil(CL / 4) * 4 + 4;
  const windowed = g.windowLayers.some((w) => w);
  const { at, floats } = layout({ q: AR * qDim, mask: AR * CL, wmask: windowed ? AR * CL : 0, zero: CL, k: hd * C, kNew: hd * AR, v: CL * hd, s: AR * sStride, y: AR * hdPad });
  const { A, scores, pv } = attentionMemory(module, floats);
  const scale = attentionScaleOf(c);
  const layerOut = kvDim * AR;
  const newK = new Float32Array(nLayers * layerOut);
  const newV = new Float32Array(nLayers * layerOut);
  const logits = new Float32Array(AR * c.vocabSize);
  const rotate = r3Rotation(g.r3, AR, qDim, kvDim, hd);
  const arange = Int32Array.from({ length: AR }, (_, i) => i);
  // Masked softmax: raw scores (+ a zero mask row, maskStride 0), substituted in JavaScript; else + the mask rows.
  // Sliding-window layers (Gemma3) read the window mask's region instead of the causal mask's.
  const maskRegion = (layer: number) => (g.windowLayers[layer] ? at.wmask : at.mask);
  const maskStride = g.maskedSoftmax ? 0 : CL * 4;
  let cur: ArGraphInputs | undefined;

  /** KV head kvh of `layer` into the scratch: cache keys [hd, C], fed keys [hd, AR] (staged), values [CL, hd]. */
  const loadHead = (layer: number, kvh: number, lk: Float32Array, lv: Float32Array) => {
    A.set(cur!.kCaches[layer].subarray(kvh * hd * C, (kvh + 1) * hd * C), at.k);
    A.set(lk.subarray(kvh * hd * AR, (kvh + 1) * hd * AR), at.kNew);
    A.set(cur!.vCaches[layer].subarray(kvh * C * hd, (kvh + 1) * C * hd), at.v);
    A.set(lv.subarray(kvh * AR * hd, (kvh + 1) * AR * hd), at.v + C * hd);
  };

  /** Query head h's AR rows against the loaded KV head: scores, softmax, ·V, written into y [AR, qDim]. */
  const attendHeadRows = (h: number, y: Float32Array, region: number) => {
    const q0 = (at.q + h * hd) * 4;
    const mask0 = (g.maskedSoftmax ? at.zero : region) * 4;
    if (C > 0) scores(q0, at.k * 4, at.s * 4, mask0, AR, hd, C, qDim * 4, C * 4, sStride * 4, maskStride, scale);
    scores(q0, at.kNew * 4, (at.s + C) * 4, mask0 + (C * 4), AR, hd, AR, qDim * 4, AR * 4, sStride * 4, maskStride, scale);
    if (g.maskedSoftmax) substituteMasked(A, at.s, sStride, AR, CL, A, region);
    softmaxRows(A, at.s, sStride, AR, CL);
    pv(at.s * 4, at.v * 4, at.y * 4, AR, CL, hd, sStride * 4, hd * 4, hdPad * 4);
    copyRows(y, h * hd, qDim, A, at.y, hdPad, AR, hd);
  };

  const attend = (layer: number, qIn: Float32Array, kIn: Float32Array, v: Float32Array, y: Float32Array) => {
    const [q, k] = rotate(qIn, kIn);
    A.set(q, at.q);
    const lk = newK.subarray(layer * layerOut, (layer + 1) * layerOut);
    const lv = newV.subarray(layer * layerOut, (layer + 1) * layerOut);
    for (let kvh = 0; kvh < nKvHeads; kvh++) {
      stageArKv(lk, lv, k, v, kvh, hd, kvDim, AR);
      loadHead(layer, kvh, lk, lv);
      for (let j = 0; j < group; j++) attendHeadRows(kvh * group + j, y, maskRegion(layer)); // GQA: heads kvh·group … kvh·group + group-1
    }
  };

  return (inp, out, tap) => {
    const o = out ?? allocArOutputs(c, CL, AR);
    checkArGraphIo(g, inp, o);
    A.set(inp.attnMask, at.mask);
    if (inp.windowMask) A.set(inp.windowMask, at.wmask);
    A.fill(0, at.zero, at.zero + CL);
    // Inputs are read layer by layer as the decoder runs; outputs are written only at the end (they may alias).
    cur = inp;
    try {
      runDecoder(g.model, g.rope, inp.tokens, inp.inputPos ?? arange, attend, logits, tap, matMul);
    } finally {
      cur = undefined;
    }
    o.logits.set(logits);
    for (let l = 0; l < nLayers; l++) {
      o.kOut[l].set(newK.subarray(l * layerOut, (l + 1) * layerOut));
      o.vOut[l].set(newV.subarray(l * layerOut, (l + 1) * layerOut));
    }
    return o;
  };
}
