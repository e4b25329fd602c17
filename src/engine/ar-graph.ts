// Owns the AR-N graph of the current flow (SPEC-2026 §3): AR fed tokens at their positions, a [AR, CL] additive mask,
// per-layer caches K [H, hd, C] / V [H, C, hd] (C = CL - AR) in; logits for every row and the AR new K/V rows out.
// The decode graph is AR = 1, the prompt graph AR = AR_pp, the calibration graph AR = CL with C = 0.
// Options of the current flow's attention (SPEC-2026 §8): the masked softmax (§8.1, attendHeadMaskedSoftmax) and R3
// (§8.2: q and k times the Hadamard Hd after RoPE, src/engine/hadamard.ts; the K outputs and caches hold k·Hd).
import type { Model } from "./weights.js";
import {
  allocArOutputs,
  arGraphSpec,
  arTensorSizes,
  checkArShape,
  type ArGraphInputs,
  type ArGraphName,
  type ArGraphOutputs,
  type ArGraphSpec,
} from "./ar-graph-io.js";
import { buildModelRope, type ModelRope } from "./rope.js";
import { runDecoder, type EmbedFn, type MatMulFn, type TapFn } from "./decoder.js";
import { attendHead, attendHeadMaskedSoftmax, attentionScaleOf, type AttendRowFn, type KvView } from "./attention.js";
import { archOf, slidingWindowOf } from "./arch.js";
import { hadamardHeads, hadamardMatrix } from "./hadamard.js";
import { matMulRows } from "./kernels.js";

export interface ArGraph {
  model: Model;
  /** CL: mask width, RoPE table length. */
  contextLen: number;
  /** AR: rows fed per call. */
  arLen: number;
  /** C = CL - AR cache slots. */
  cacheLen: number;
  spec: ArGraphSpec;
  /** Per-layer RoPE tables with CL rows (one shared table for Llama; none for a layer without RoPE). */
  rope: ModelRope;
  /** Per layer: reads the window mask (sliding-window layer) instead of the causal one. */
  windowLayers: boolean[];
  /** Computes every weight product (default: the oracle matMulRows; same bits whichever is used). */
  matMul: MatMulFn;
  /** §8.1: masked scores replaced by (row min - 20) instead of the mask being added. */
  maskedSoftmax: boolean;
  /** §8.2: the fp32 Hd [hd, hd] that q and k are multiplied by after RoPE, or null without R3. */
  r3: Float32Array | null;
}

export interface ArGraphOptions {
  contextLen: number;
  arLen: number;
  matMul?: MatMulFn;
  /** Method name in the tensor list (default from CL and AR, see defaultArGraphName). */
  name?: ArGraphName;
  /** SPEC-2026 §8.1 masked softmax (static_llama `enable_masked_softmax`); default false: softmax(scores + mask). */
  maskedSoftmax?: boolean;
  /** SPEC-2026 §8.2 R3 rotation of q and k (static_llama `r3`); default false. Needs head_dim a power of two. */
  r3?: boolean;
}

/**
 * Builds the AR-N graph for a model (static shapes fixed here, as at export); RoPE tables have CL rows. With `r3`
 * a head_dim that is not a power of two is a RangeError.
 */
export function createArGraph(model: Model, opts: ArGraphOptions): ArGraph {
  const { contextLen: CL, arLen: AR } = opts;
  checkArShape(CL, AR);
  const c = model.config;
  return {
    model,
    contextLen: CL,
    arLen: AR,
    cacheLen: CL - AR,
    spec: arGraphSpec(c, CL, AR, opts.name),
    rope: buildModelRope(c, CL),
    windowLayers: archOf(c).layers.map((l) => l.window !== null),
    matMul: opts.matMul ?? matMulRows,
    maskedSoftmax: opts.maskedSoftmax ?? false,
    r3: opts.r3 ? hadamardMatrix(c.headDim) : null,
  };
}

/** Checks a call's array lengths and positions against the graph's static shapes (RangeError naming the tensor). */
export function checkArGraphIo(g: ArGraph, inp: ArGraphInputs, out: ArGraphOutputs): void {
  const c = g.model.config;
  const s = arTensorSizes(c, g.contextLen, g.arLen);
  const who = g.spec.name;
  const expect = (what: string, got: number, want: number) => {
    if (got !== want) throw new RangeError(`${who}: ${what} has ${got} elements, expected ${want}`);
  };
  expect("tokens", inp.tokens.length, s.tokens);
  expect("atten_mask", inp.attnMask.length, s.mask);
  const windowed = slidingWindowOf(c.arch) !== null;
  if (windowed && !inp.windowMask) throw new RangeError(`${who}: window_atten_mask is required (the model has sliding-window layers)`);
  if (!windowed && inp.windowMask) throw new RangeError(`${who}: window_atten_mask given, but the model has no sliding-window layers`);
  if (inp.windowMask) expect("window_atten_mask", inp.windowMask.length, s.mask);
  if (inp.inputPos !== undefined) expect("input_pos", inp.inputPos.length, s.positions);
  else if (g.arLen !== g.contextLen) throw new RangeError(`${who}: input_pos is required when AR (${g.arLen}) < CL (${g.contextLen})`);
  expect("k caches (count)", inp.kCaches.length, c.nLayers);
  expect("v caches (count)", inp.vCaches.length, c.nLayers);
  inp.kCaches.forEach((a, l) => expect(`k cache of layer ${l}`, a.length, s.kCache));
  inp.vCaches.forEach((a, l) => expect(`v cache of layer ${l}`, a.length, s.vCache));
  expect("logits", out.logits.length, s.logits);
  expect("k out (count)", out.kOut.length, c.nLayers);
  expect("v out (count)", out.vOut.length, c.nLayers);
  out.kOut.forEach((a, l) => expect(`k out of layer ${l}`, a.length, s.kOut));
  out.vOut.forEach((a, l) => expect(`v out of layer ${l}`, a.length, s.vOut));
  if (inp.inputPos)
    inp.inputPos.forEach((p, i) => {
      if (!(p >= 0 && p < g.contextLen)) throw new RangeError(`${who}: input_pos ${p} at row ${i} is outside [0, ${g.contextLen})`);
    });
}

/**
 * kh = cat(K_cache, k^T) of one KV head as [hd, CL] (d*CL + c) and vh = cat(V_cache, v) as [CL, hd] (c*hd + d): cache
 * slots first, then the AR fed rows from the projections k, v [AR, kvDim] (RoPE'd, half-split order).
 */
export function concatHeadKv(
  kh: Float32Array, vh: Float32Array, kCache: Float32Array, vCache: Float32Array, k: Float32Array, v: Float32Array,
  kvh: number, hd: number, kvDim: number, C: number, AR: number,
): void {
  const CL = C + AR;
  for (let d = 0; d < hd; d++) {
    const r = kvh * hd + d;
    kh.set(kCache.subarray(r * C, (r + 1) * C), d * CL);
    for (let i = 0; i < AR; i++) kh[d * CL + C + i] = k[i * kvDim + r];
  }
  vh.set(vCache.subarray(kvh * C * hd, (kvh + 1) * C * hd), 0);
  for (let i = 0; i < AR; i++) vh.set(v.subarray(i * kvDim + kvh * hd, i * kvDim + (kvh + 1) * hd), (C + i) * hd);
}

/** Copies KV head `kvh`'s AR new rows into a layer's staged outputs: K [H, hd, AR] (r*AR + i), V [H, AR, hd]. */
export function stageArKv(
  newK: Float32Array, newV: Float32Array, k: Float32Array, v: Float32Array, kvh: number, hd: number, kvDim: number, AR: number,
): void {
  for (let i = 0; i < AR; i++)
    for (let d = 0; d < hd; d++) {
      const r = kvh * hd + d;
      newK[r * AR + i] = k[i * kvDim + r];
      newV[(kvh * AR + i) * hd + d] = v[i * kvDim + r];
    }
}

/**
 * §8.2 for one call's rows: (q, k) [AR, heads·hd] → (q·Hd, k·Hd) per head, into scratch reused across layers; without
 * R3 (H null) q and k pass through unchanged.
 */
export function r3Rotation(H: Float32Array | null, AR: number, qDim: number, kvDim: number, hd: number): (q: Float32Array, k: Float32Array) => [Float32Array, Float32Array] {
  if (!H) return (q, k) => [q, k];
  const qr = new Float32Array(AR * qDim);
  const kr = new Float32Array(AR * kvDim);
  return (q, k) => {
    hadamardHeads(qr, q, H, hd);
    hadamardHeads(kr, k, H, hd);
    return [qr, kr];
  };
}

/** Hooks into one AR-N call; each is optional and none changes a bit when absent. */
export interface ArHooks {
  /** The decoder's taps (may transform a tensor in place). */
  tap?: TapFn;
  /** Every weight product (default: the graph's own matMul). */
  matMul?: MatMulFn;
  /** q·Hd of a layer after R3 (in place; called only with R3). */
  qR3?: (layer: number, q: Float32Array) => void;
  /** The fed rows' new K (after R3) and V of a layer [AR, kvDim], in place, before they join the cache and the outputs. */
  newKv?: (layer: number, k: Float32Array, v: Float32Array) => void;
  /** Replaces the call's mask and caches after they are checked, before anything reads them. */
  inputs?: (inp: ArGraphInputs) => ArGraphInputs;
  /** One query row's attention of a layer (default: attendHead, or attendHeadMaskedSoftmax with the masked softmax). */
  attendRow?: (layer: number) => AttendRowFn;
  /** The weights the decoder reads (same config as the graph's model; e.g. dequantized RMSNorm weights). */
  model?: Model;
  /** The embedding gather (default: rows of the model's tokEmbeddings), e.g. from a table held as codes. */
  embed?: EmbedFn;
}

/**
 * One AR-N call, a pure function of `inp`. Per layer and KV head the graph's kh/vh are built (cache slots, then the
 * fed rows) and every query head of the group (consecutive heads, GQA) runs attendHead over all CL columns with its
 * mask row added (or, with the masked softmax, its masked scores substituted); padded rows are computed like any
 * other. Sliding-window layers (Gemma3) read `windowMask` instead of `attnMask`. With R3, q and k (after RoPE) are multiplied by Hd first, so the new K outputs are k·Hd (the caches fed
 * back hold k·Hd too); the tapped `q` and `k` are still those before R3 (the decoder taps before attention). Every
 * input is read before any output is written (the new K/V are staged), so outputs may alias inputs. Writes into
 * `out` when given, else into fresh arrays. `hooks` (a TapFn alone means { tap }) let calibration observe and the
 * quantized simulation change tensors between the ops (src/quant/current/forward.ts); without hooks nothing differs.
 */
export function arForward(g: ArGraph, inpIn: ArGraphInputs, out?: ArGraphOutputs, hooks?: ArHooks | TapFn): ArGraphOutputs {
  const h: ArHooks = typeof hooks === "function" ? { tap: hooks } : (hooks ?? {});
  const c = g.model.config;
  const CL = g.contextLen;
  const AR = g.arLen;
  const C = g.cacheLen;
  const o = out ?? allocArOutputs(c, CL, AR);
  checkArGraphIo(g, inpIn, o);
  const inp = h.inputs ? h.inputs(inpIn) : inpIn;
  if (h.model && h.model.config !== c) throw new Error("arForward: the hooks' model has another config than the graph's");
  const { headDim: hd, nHeads, nKvHeads, nLayers } = c;
  const qDim = nHeads * hd;
  const kvDim = nKvHeads * hd;
  const group = nHeads / nKvHeads;
  const scale = attentionScaleOf(c);
  const scores = new Float32Array(CL);
  const kh = new Float32Array(hd * CL);
  const vh = new Float32Array(CL * hd);
  const view: KvView = { kData: kh, kOff: 0, kRowStride: CL, kColStride: 1, vData: vh, vOff: 0, vRowStride: hd };
  const layerOut = kvDim * AR;
  const newK = new Float32Array(nLayers * layerOut);
  const newV = new Float32Array(nLayers * layerOut);
  const rotate = r3Rotation(g.r3, AR, qDim, kvDim, hd);
  const attendRow = g.maskedSoftmax ? attendHeadMaskedSoftmax : attendHead;
  const kNew = h.newKv ? new Float32Array(AR * kvDim) : null;
  const vNew = h.newKv ? new Float32Array(AR * kvDim) : null;
  let positions = inp.inputPos;
  if (!positions) {
    positions = new Int32Array(AR);
    for (let i = 0; i < AR; i++) positions[i] = i;
  }

  const attend = (layer: number, qIn: Float32Array, kIn: Float32Array, vIn: Float32Array, y: Float32Array) => {
    const [q, kRot] = rotate(qIn, kIn);
    if (g.r3) h.qR3?.(layer, q);
    let k = kRot;
    let v = vIn;
    if (h.newKv) {
      kNew!.set(k);
      vNew!.set(v);
      h.newKv(layer, kNew!, vNew!);
      k = kNew!;
      v = vNew!;
    }
    const row = h.attendRow ? h.attendRow(layer) : attendRow;
    const mask = g.windowLayers[layer] ? inp.windowMask! : inp.attnMask;
    const lk = newK.subarray(layer * layerOut, (layer + 1) * layerOut);
    const lv = newV.subarray(layer * layerOut, (layer + 1) * layerOut);
    for (let kvh = 0; kvh < nKvHeads; kvh++) {
      stageArKv(lk, lv, k, v, kvh, hd, kvDim, AR);
      concatHeadKv(kh, vh, inp.kCaches[layer], inp.vCaches[layer], k, v, kvh, hd, kvDim, C, AR);
      for (let j = 0; j < group; j++) {
        const head = kvh * group + j; // GQA: query head h uses KV head floor(h / group)
        for (let i = 0; i < AR; i++) {
          const off = i * qDim + head * hd;
          row(q, off, hd, view, CL, mask, i * CL, scale, scores, y, off);
        }
      }
    }
  };

  // Inputs are only read while the layers run; outputs land at the end.
  const logits = new Float32Array(AR * c.vocabSize);
  runDecoder(h.model ?? g.model, g.rope, inp.tokens, positions, attend, logits, h.tap, h.matMul ?? g.matMul, h.embed);
  o.logits.set(logits);
  for (let l = 0; l < nLayers; l++) {
    o.kOut[l].set(newK.subarray(l * layerOut, (l + 1) * layerOut));
    o.vOut[l].set(newV.subarray(l * layerOut, (l + 1) * layerOut));
  }
  return o;
}
