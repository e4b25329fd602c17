// Owns the quantized (`--ptq`) simulation of the two device graphs with the device's bytes at the graph
// boundary (SPEC §3, §7): uint16 mask and logits, uint8 (or uint16 for 16-bit K/V schemes) caches and new K/V.
//
// Inside a call: the boundary codes are dequantized, then an fp32 forward runs in which
// - every weight is replaced by its dequantized codes under the scheme (per-channel / LPBQ linears, the
//   per-tensor-affine embedding table and RMSNorm weights), and
// - these tensors are fake-quantized (quantize -> dequantize) with their calibrated encoding right where they
//   are produced, so everything downstream sees the grid values the device graph would hold:
//     embedding (the table's encoding: exact no-op on the dequantized table), attn_norm, q (after RoPE),
//     k and v per KV head (the symmetric K/V spec; the same codes become the K/V outputs and are what the
//     caches hold), attn (attention output, heads concatenated), attn_out (Wo), resid_attn, ffn_norm,
//     ffn_gate (W1), ffn_up (W3), ffn_act (silu(gate)*up), ffn_out (W2), resid_ffn, final_norm;
//   and the logits are quantized to the shared logits encoding (the output codes).
// Not fake-quantized (computed in fp32 between the quantized points above): the pre-RoPE q/k projections and
// RoPE's internal products, the attention scores / scale / mask add / softmax probabilities, RMSNorm's
// internal statistics, and silu(gate) before the multiply. Accumulations are fp32-exact as in the reference
// graphs (the device accumulates integer products in int32 and requantizes, which this does not model).
import type { Model, ModelWeights } from "../engine/weights.js";
import { buildRopeTables, type RopeTables } from "../engine/rope.js";
import { attendHead, attentionScale } from "../engine/attention.js";
import { runDecoder, type AttentionFn, type TapName } from "../engine/decoder.js";
import { dequantize, quantize, type QuantEncoding } from "./affine.js";
import { dequantizeWeightBlockwise, dequantizeWeightPerChannel } from "./weights.js";
import type { QuantizedLinear, QuantizedTable } from "./schemes.js";
import { tapKey, type KvEncodings, type QuantEncodings } from "./calibrate.js";

export type CacheCodes = Uint8Array | Uint16Array;

export interface QuantKvInputs {
  /** [1, 1] int32. */
  tokens: Int32Array;
  /** [kv_seq_len] uint16: 65535 attend, 0 blocked. */
  attnMask: Uint16Array;
  /** [1, 1] int32. */
  inputPos: Int32Array;
  /** NL*H K caches [hd, L] (codes of qenc.kv.k[i]). */
  kCaches: CacheCodes[];
  /** NL*H V caches [L, hd] (codes of qenc.kv.v[i]). */
  vCaches: CacheCodes[];
}

export interface QuantKvOutputs {
  /** [vocab] codes of qenc.logits. */
  logits: Uint16Array;
  /** NL*H new K [hd]. */
  kOut: CacheCodes[];
  /** NL*H new V [hd]. */
  vOut: CacheCodes[];
}

export interface QuantPrefillInputs {
  /** [P] int32, right-padded with 0. */
  tokens: Int32Array;
  /** [P, P] uint16 causal mask. */
  attnMask: Uint16Array;
}

export interface QuantPrefillOutputs {
  /** [P, vocab]. */
  logits: Uint16Array;
  /** NL*H K [hd, P]. */
  kOut: CacheCodes[];
  /** NL*H V [P, hd]. */
  vOut: CacheCodes[];
}

/** The quantized mask input (SPEC §3): uint16, scale 255/65535, zero point 65535 (65535 -> 0, 0 -> -255). */
export const QUANT_MASK_ENCODING: QuantEncoding = {
  scale: Math.fround(255 / 65535),
  zeroPoint: 65535,
  offset: -65535,
  qmin: 0,
  qmax: 65535,
  bitwidth: 16,
  signed: false,
  symmetric: false,
};

function dequantLinear(q: QuantizedLinear): Float32Array {
  return q.granularity === "per-block" ? dequantizeWeightBlockwise(q) : dequantizeWeightPerChannel(q);
}

function dequantTable(t: QuantizedTable): Float32Array {
  const out = new Float32Array(t.codes.length);
  for (let i = 0; i < out.length; i++) out[i] = dequantize(t.codes[i], t.encoding);
  return out;
}

interface Prepared {
  model: Model;
  ropes: Map<number, RopeTables>;
}
const prepared = new WeakMap<QuantEncodings, Prepared>();

function prepare(model: Model, qenc: QuantEncodings): Prepared {
  let p = prepared.get(qenc);
  if (p) return p;
  const w = qenc.weights;
  const weights: ModelWeights = {
    tokEmbeddings: dequantTable(w.tokEmbeddings),
    norm: dequantTable(w.norm),
    output: dequantLinear(w.output),
    layers: w.layers.map((l) => ({
      attnNorm: dequantTable(l.attnNorm),
      ffnNorm: dequantTable(l.ffnNorm),
      wq: dequantLinear(l.linears.wq),
      wk: dequantLinear(l.linears.wk),
      wv: dequantLinear(l.linears.wv),
      wo: dequantLinear(l.linears.wo),
      w1: dequantLinear(l.linears.w1),
      w2: dequantLinear(l.linears.w2),
      w3: dequantLinear(l.linears.w3),
    })),
  };
  p = { model: { config: model.config, weights }, ropes: new Map() };
  prepared.set(qenc, p);
  return p;
}

function ropeFor(p: Prepared, positions: number): RopeTables {
  let r = p.ropes.get(positions);
  if (!r) {
    const c = p.model.config;
    p.ropes.set(positions, (r = buildRopeTables(c.headDim, positions, c.ropeTheta, c.ropeScaling)));
  }
  return r;
}

/** In place: x[i] = dequantize(quantize(x[i])). */
export function fakeQuantize(x: Float32Array, enc: QuantEncoding, start = 0, end = x.length): void {
  for (let i = start; i < end; i++) x[i] = dequantize(quantize(x[i], enc), enc);
}

function checkCodes(what: string, arr: CacheCodes, enc: QuantEncoding): void {
  const max = arr instanceof Uint8Array ? 255 : 65535;
  if (enc.qmax > max) throw new RangeError(`${what}: ${enc.bitwidth}-bit codes do not fit a ${arr.constructor.name}`);
}

function dequantMask(m: Uint16Array): Float32Array {
  const out = new Float32Array(m.length);
  for (let i = 0; i < m.length; i++) out[i] = dequantize(m[i], QUANT_MASK_ENCODING);
  return out;
}

/**
 * runDecoder (src/engine/decoder.ts) with fake quantization at every activation tap (see the file header):
 * its taps run before the tensor is used, so quantizing in place changes what the next op reads. `k` and `v`
 * are left to `attend`, which fake-quantizes them per KV head with the K/V encodings.
 */
function runDecoderFq(
  model: Model,
  rope: RopeTables,
  tokens: Int32Array,
  positions: Int32Array,
  acts: Map<string, QuantEncoding>,
  attend: AttentionFn,
  logits: Float32Array,
): void {
  const fq = (layer: number, name: TapName, x: Float32Array) => {
    if (name === "k" || name === "v") return;
    const enc = acts.get(tapKey(layer, name));
    if (!enc) throw new Error(`quantized graph: no calibrated encoding for ${tapKey(layer, name)}`);
    fakeQuantize(x, enc);
  };
  runDecoder(model, rope, tokens, positions, attend, logits, fq);
}

function quantizeLogits(dst: Uint16Array, logits: Float32Array, enc: QuantEncoding): void {
  if (enc.qmax > 65535) throw new RangeError("logits encoding does not fit uint16");
  for (let i = 0; i < logits.length; i++) dst[i] = quantize(logits[i], enc);
}

/** Dequantized logits codes (fp32). */
export function dequantizeLogits(qenc: QuantEncodings, codes: Uint16Array): Float32Array {
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = dequantize(codes[i], qenc.logits);
  return out;
}

/**
 * The quantized KV graph (`kv_forward`, SPEC §3) on device bytes. A pure function of its inputs: all outputs
 * are staged and written at the end, so they may alias inputs (Shift Pointer's V output does).
 */
export function quantKvForward(model: Model, qenc: QuantEncodings, kvSeqLen: number, inp: QuantKvInputs, out: QuantKvOutputs): void {
  const p = prepare(model, qenc);
  const c = model.config;
  const { headDim: hd, nHeads, nKvHeads: H, nLayers: NL, vocabSize: V } = c;
  const L = kvSeqLen - 1;
  const cols = L + 1;
  const n = NL * H;
  const expect = (what: string, got: number, want: number) => {
    if (got !== want) throw new RangeError(`quant kv_forward: ${what} has ${got} elements, expected ${want}`);
  };
  expect("tokens", inp.tokens.length, 1);
  expect("input_pos", inp.inputPos.length, 1);
  expect("atten_mask", inp.attnMask.length, cols);
  expect("k caches (count)", inp.kCaches.length, n);
  expect("v caches (count)", inp.vCaches.length, n);
  expect("logits", out.logits.length, V);
  expect("k out (count)", out.kOut.length, n);
  expect("v out (count)", out.vOut.length, n);
  const kv = qenc.kv;
  for (let i = 0; i < n; i++) {
    expect(`k cache ${i}`, inp.kCaches[i].length, hd * L);
    expect(`v cache ${i}`, inp.vCaches[i].length, L * hd);
    expect(`k out ${i}`, out.kOut[i].length, hd);
    expect(`v out ${i}`, out.vOut[i].length, hd);
    checkCodes(`k out ${i}`, out.kOut[i], kv.k[i]);
    checkCodes(`v out ${i}`, out.vOut[i], kv.v[i]);
  }

  const mask = dequantMask(inp.attnMask);
  const group = nHeads / H;
  const scale = attentionScale(hd);
  const kh = new Float32Array(hd * cols);
  const vh = new Float32Array(cols * hd);
  const scores = new Float32Array(cols);
  const newK = new Int32Array(n * hd);
  const newV = new Int32Array(n * hd);

  const attend: AttentionFn = (layer, q, k, v, y) => {
    for (let g = 0; g < H; g++) {
      const idx = layer * H + g;
      const ek = kv.k[idx];
      const ev = kv.v[idx];
      const kc = inp.kCaches[idx];
      const vc = inp.vCaches[idx];
      for (let d = 0; d < hd; d++) {
        for (let s = 0; s < L; s++) kh[d * cols + s] = dequantize(kc[d * L + s], ek);
        const qk = quantize(k[g * hd + d], ek);
        newK[idx * hd + d] = qk;
        kh[d * cols + L] = dequantize(qk, ek);
      }
      for (let i = 0; i < L * hd; i++) vh[i] = dequantize(vc[i], ev);
      for (let d = 0; d < hd; d++) {
        const qv = quantize(v[g * hd + d], ev);
        newV[idx * hd + d] = qv;
        vh[L * hd + d] = dequantize(qv, ev);
      }
      const view = { kData: kh, kOff: 0, kRowStride: cols, kColStride: 1, vData: vh, vOff: 0, vRowStride: hd };
      for (let j = 0; j < group; j++) {
        const h = g * group + j;
        attendHead(q, h * hd, hd, view, cols, mask, 0, scale, scores, y, h * hd);
      }
    }
  };

  const logits = new Float32Array(V);
  runDecoderFq(p.model, ropeFor(p, kvSeqLen), inp.tokens, inp.inputPos, qenc.activations, attend, logits);
  quantizeLogits(out.logits, logits, qenc.logits);
  for (let i = 0; i < n; i++) {
    out.kOut[i].set(newK.subarray(i * hd, (i + 1) * hd));
    out.vOut[i].set(newV.subarray(i * hd, (i + 1) * hd));
  }
}

/**
 * The quantized prefill graph (`prefill_forward`, SPEC §3): P rows at positions 0..P-1, the prefill graph's
 * own activation encodings, and outputs (logits, K [hd, P], V [P, hd]) in the encodings forced onto the KV
 * graph's (qenc.prefill.kv / .logits), so the K/V codes can be copied into the KV caches as they are.
 */
export function quantPrefillForward(model: Model, qenc: QuantEncodings, prefillSeqLen: number, inp: QuantPrefillInputs, out: QuantPrefillOutputs): void {
  const pre = qenc.prefill;
  if (!pre) throw new Error("quant prefill_forward: the encodings were calibrated without a prefill graph (no prefillSeqLen)");
  const p = prepare(model, qenc);
  const c = model.config;
  const { headDim: hd, nHeads, nKvHeads: H, nLayers: NL, vocabSize: V } = c;
  const P = prefillSeqLen - 1;
  const n = NL * H;
  const kvDim = H * hd;
  const qDim = nHeads * hd;
  const expect = (what: string, got: number, want: number) => {
    if (got !== want) throw new RangeError(`quant prefill_forward: ${what} has ${got} elements, expected ${want}`);
  };
  expect("tokens", inp.tokens.length, P);
  expect("atten_mask", inp.attnMask.length, P * P);
  expect("logits", out.logits.length, P * V);
  expect("k out (count)", out.kOut.length, n);
  expect("v out (count)", out.vOut.length, n);
  const kv: KvEncodings = pre.kv;
  for (let i = 0; i < n; i++) {
    expect(`k out ${i}`, out.kOut[i].length, hd * P);
    expect(`v out ${i}`, out.vOut[i].length, P * hd);
    checkCodes(`k out ${i}`, out.kOut[i], kv.k[i]);
    checkCodes(`v out ${i}`, out.vOut[i], kv.v[i]);
  }

  const mask = dequantMask(inp.attnMask);
  const group = nHeads / H;
  const scale = attentionScale(hd);
  const scores = new Float32Array(P);
  const newK = new Int32Array(n * hd * P);
  const newV = new Int32Array(n * P * hd);
  const positions = new Int32Array(P);
  for (let i = 0; i < P; i++) positions[i] = i;

  const attend: AttentionFn = (layer, q, k, v, y) => {
    for (let g = 0; g < H; g++) {
      const idx = layer * H + g;
      const ek = kv.k[idx];
      const ev = kv.v[idx];
      for (let t = 0; t < P; t++)
        for (let d = 0; d < hd; d++) {
          const ki = t * kvDim + g * hd + d;
          const qk = quantize(k[ki], ek);
          const qv = quantize(v[ki], ev);
          newK[idx * hd * P + d * P + t] = qk;
          newV[idx * P * hd + t * hd + d] = qv;
          k[ki] = dequantize(qk, ek);
          v[ki] = dequantize(qv, ev);
        }
      const view = { kData: k, kOff: g * hd, kRowStride: 1, kColStride: kvDim, vData: v, vOff: g * hd, vRowStride: kvDim };
      for (let j = 0; j < group; j++) {
        const h = g * group + j;
        for (let t = 0; t < P; t++) attendHead(q, t * qDim + h * hd, hd, view, P, mask, t * P, scale, scores, y, t * qDim + h * hd);
      }
    }
  };

  const logits = new Float32Array(P * V);
  runDecoderFq(p.model, ropeFor(p, P), inp.tokens, positions, pre.activations, attend, logits);
  quantizeLogits(out.logits, logits, pre.logits);
  for (let i = 0; i < n; i++) {
    out.kOut[i].set(newK.subarray(i * hd * P, (i + 1) * hd * P));
    out.vOut[i].set(newV.subarray(i * P * hd, (i + 1) * P * hd));
  }
}

/** The uint16 causal mask [P, P] of the quantized prefill graph (65535 attend, 0 blocked). */
export function quantCausalMask(P: number): Uint16Array {
  const m = new Uint16Array(P * P);
  for (let i = 0; i < P; i++) for (let j = 0; j <= i; j++) m[i * P + j] = 65535;
  return m;
}
