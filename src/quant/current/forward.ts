// Owns the current flow's AR-N graph with hooks (SPEC-2026 §3), and the quantized simulation built on it: the
// engine's decoder (src/engine/decoder.ts runDecoder) and attention (src/engine/attention.ts, ar-graph.ts helpers),
// with the attention step written out here so that the K/V rows can be quantized after R3, where the cache takes
// them (the engine's arForward applies R3 inside its attention). Without hooks arForwardHooked computes arForward's
// bits exactly (tested).
//
// The quantized graph (quantArForward) uses the calibrated encodings (src/quant/current/encodings.ts):
// - every conv reads its input encoding (re-quantizing where its scheme's differs from its producer's), multiplies
//   by its device weights (q·s_c, or q·m_cb·S_c for LPBQ), and its output is fake-quantized with its encoding; the
//   LM head's output encoding is the logits';
// - every other tap is fake-quantized in place (embedding — the table's encoding —, RMSNorm outputs, RoPE outputs,
//   attention output, residual adds, silu·mul); RMSNorm weights are their dequantized codes;
// - with R3, q·Hd and k·Hd are fake-quantized (q_r3, k_r3); the new K rows (k·Hd with R3) and V rows are
//   fake-quantized with the layer's K / V encoding before they join the cache (the concatenation shares that
//   encoding), and the K/V outputs are those values; the caches fed in are read through the same encodings, the
//   mask through its own.
// Attention scores, the softmax and the products inside attention run in fp32 (not modelled, see encodings.ts).
import type { Model } from "../../engine/weights.js";
import { runDecoder, type MatMulFn, type TapFn } from "../../engine/decoder.js";
import { attendHead, attendHeadMaskedSoftmax, attentionScale, type KvView } from "../../engine/attention.js";
import { checkArGraphIo, concatHeadKv, stageArKv, type ArGraph } from "../../engine/ar-graph.js";
import { allocArOutputs, type ArGraphInputs, type ArGraphOutputs } from "../../engine/ar-graph-io.js";
import { hadamardHeads } from "../../engine/hadamard.js";
import { matMulRows } from "../../engine/kernels.js";
import { fakeQuant, fakeQuantInPlace } from "./activations.js";
import { convWeight } from "./recipe.js";
import { encodingOf, kCacheName, kR3Name, MASK_NAME, qR3Name, tapEncodingName, vCacheName, type CurrentEncodings } from "./encodings.js";

export interface ArHooks {
  /** The decoder's taps (may transform a tensor in place). */
  tap?: TapFn;
  /** Every weight product (default: the graph's own matMul). */
  matMul?: MatMulFn;
  /** q·Hd of a layer after R3 (in place). */
  qR3?: (layer: number, q: Float32Array) => void;
  /** The fed rows' new K (after R3) and V of a layer [AR, kvDim], in place, before they join the cache and the outputs. */
  newKv?: (layer: number, k: Float32Array, v: Float32Array) => void;
  /** Replaces the call's mask and caches before anything reads them (e.g. their fake-quantized copies). */
  inputs?: (inp: ArGraphInputs) => ArGraphInputs;
}

/**
 * One AR-N call as arForward computes it (same operations in the same order), with hooks. Writes into `out` when
 * given; every input is read before any output is written.
 */
export function arForwardHooked(g: ArGraph, inpIn: ArGraphInputs, out: ArGraphOutputs | undefined, h: ArHooks = {}, model: Model = g.model): ArGraphOutputs {
  const c = g.model.config;
  const CL = g.contextLen;
  const AR = g.arLen;
  const C = g.cacheLen;
  const o = out ?? allocArOutputs(c, CL, AR);
  checkArGraphIo(g, inpIn, o);
  const inp = h.inputs ? h.inputs(inpIn) : inpIn;
  const { headDim: hd, nHeads, nKvHeads, nLayers } = c;
  const qDim = nHeads * hd;
  const kvDim = nKvHeads * hd;
  const group = nHeads / nKvHeads;
  const scale = attentionScale(hd);
  const scores = new Float32Array(CL);
  const kh = new Float32Array(hd * CL);
  const vh = new Float32Array(CL * hd);
  const view: KvView = { kData: kh, kOff: 0, kRowStride: CL, kColStride: 1, vData: vh, vOff: 0, vRowStride: hd };
  const layerOut = kvDim * AR;
  const newK = new Float32Array(nLayers * layerOut);
  const newV = new Float32Array(nLayers * layerOut);
  const qr = g.r3 ? new Float32Array(AR * qDim) : null;
  const kr = new Float32Array(AR * kvDim);
  const vq = new Float32Array(AR * kvDim);
  const attendRow = g.maskedSoftmax ? attendHeadMaskedSoftmax : attendHead;
  let positions = inp.inputPos;
  if (!positions) {
    positions = new Int32Array(AR);
    for (let i = 0; i < AR; i++) positions[i] = i;
  }

  const attend = (layer: number, qIn: Float32Array, kIn: Float32Array, vIn: Float32Array, y: Float32Array) => {
    let q = qIn;
    if (g.r3) {
      hadamardHeads(qr!, qIn, g.r3, hd);
      hadamardHeads(kr, kIn, g.r3, hd);
      q = qr!;
      h.qR3?.(layer, q);
    } else kr.set(kIn);
    vq.set(vIn);
    h.newKv?.(layer, kr, vq);
    const lk = newK.subarray(layer * layerOut, (layer + 1) * layerOut);
    const lv = newV.subarray(layer * layerOut, (layer + 1) * layerOut);
    for (let kvh = 0; kvh < nKvHeads; kvh++) {
      stageArKv(lk, lv, kr, vq, kvh, hd, kvDim, AR);
      concatHeadKv(kh, vh, inp.kCaches[layer], inp.vCaches[layer], kr, vq, kvh, hd, kvDim, C, AR);
      for (let j = 0; j < group; j++) {
        const head = kvh * group + j;
        for (let i = 0; i < AR; i++) {
          const off = i * qDim + head * hd;
          attendRow(q, off, hd, view, CL, inp.attnMask, i * CL, scale, scores, y, off);
        }
      }
    }
  };

  const logits = new Float32Array(AR * c.vocabSize);
  runDecoder(model, g.rope, inp.tokens, positions, attend, logits, h.tap, h.matMul ?? g.matMul);
  o.logits.set(logits);
  for (let l = 0; l < nLayers; l++) {
    o.kOut[l].set(newK.subarray(l * layerOut, (l + 1) * layerOut));
    o.vOut[l].set(newV.subarray(l * layerOut, (l + 1) * layerOut));
  }
  return o;
}

/** The pieces of a quantized AR-N call that do not change between calls. */
export interface QuantArGraph {
  graph: ArGraph;
  enc: CurrentEncodings;
  hooks: ArHooks;
  /** The model with its RMSNorm weights replaced by their dequantized codes (conv weights are swapped in matMul). */
  model: Model;
}

/** Builds the quantized graph's hooks for one AR-N graph of `model` (the model `enc` was calibrated on). */
export function quantArGraph(graph: ArGraph, enc: CurrentEncodings): QuantArGraph {
  const model = graph.model;
  const c = model.config;
  const byWeight = new Map<Float32Array, (typeof enc.convs)[number]>();
  for (const q of enc.convs) byWeight.set(convWeight(model, q.conv), q);
  const matMul: MatMulFn = (y, w, x, t, m, n) => {
    const q = byWeight.get(w);
    if (!q) throw new Error("quantized graph: a weight product of an unknown weight");
    let xin = x;
    if (q.requantInput) {
      xin = x.slice(0, t * n);
      fakeQuantInPlace(xin, q.input);
    }
    matMulRows(y, q.weights.device, xin, t, m, n);
    fakeQuantInPlace(y, q.output, 0, t * m);
  };
  const tapEnc = (layer: number, name: Parameters<TapFn>[1]) => {
    const n = tapEncodingName(layer, name);
    return n === undefined ? undefined : encodingOf(enc, n);
  };
  const tap: TapFn = (layer, name, data) => {
    const e = tapEnc(layer, name);
    if (e) fakeQuantInPlace(data, e);
  };
  const kEnc = Array.from({ length: c.nLayers }, (_, l) => encodingOf(enc, kCacheName(l)));
  const vEnc = Array.from({ length: c.nLayers }, (_, l) => encodingOf(enc, vCacheName(l)));
  const maskEnc = encodingOf(enc, MASK_NAME);
  const kR3 = enc.attention.r3 ? Array.from({ length: c.nLayers }, (_, l) => encodingOf(enc, kR3Name(l))) : null;
  const hooks: ArHooks = {
    tap,
    matMul,
    qR3: (l, q) => fakeQuantInPlace(q, encodingOf(enc, qR3Name(l))),
    newKv: (l, k, v) => {
      if (kR3) fakeQuantInPlace(k, kR3[l]);
      fakeQuantInPlace(k, kEnc[l]);
      fakeQuantInPlace(v, vEnc[l]);
    },
    inputs: (inp) => ({
      ...inp,
      attnMask: fakeQuant(inp.attnMask, maskEnc),
      kCaches: inp.kCaches.map((k, l) => fakeQuant(k, kEnc[l])),
      vCaches: inp.vCaches.map((v, l) => fakeQuant(v, vEnc[l])),
    }),
  };
  const w = model.weights;
  const norm = (which: string, layer: number) => enc.norms.find((n) => n.which === which && n.layer === layer)!.device;
  const qModel: Model = {
    config: c,
    weights: {
      ...w,
      layers: w.layers.map((lw, l) => ({ ...lw, attnNorm: norm("attnNorm", l), ffnNorm: norm("ffnNorm", l) })),
      norm: norm("norm", -1),
    },
  };
  return { graph, enc, hooks, model: qModel };
}

/** One call of the quantized AR-N graph on fp32 I/O (K/V and logits are the values of their codes). */
export function quantArForward(q: QuantArGraph, inp: ArGraphInputs, out?: ArGraphOutputs): ArGraphOutputs {
  return arForwardHooked(q.graph, inp, out, q.hooks, q.model);
}
