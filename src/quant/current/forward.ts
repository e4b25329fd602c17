// Owns the current flow's quantized AR-N graph (SPEC-2026 §3, §10): the engine's arForward (src/engine/ar-graph.ts)
// with hooks that put every q/dq point the simulation models between its ops.
//
// The quantized graph (quantArForward) uses the calibrated encodings (src/quant/current/encodings.ts):
// - every conv reads its input encoding (re-quantizing where its scheme's differs from its producer's), multiplies
//   by its device weights (q·s_c, or q·m_cb·S_c for LPBQ), and its output is fake-quantized with its encoding; the
//   LM head's output encoding is the logits';
// - every other tap is fake-quantized in place (embedding — the table's encoding, its scale times Gemma's embedding
//   scale —, RMSNorm outputs, RoPE outputs,
//   attention output, residual adds, silu·mul); RMSNorm weights are their dequantized codes;
// - with R3, q·Hd and k·Hd are fake-quantized (q_r3, k_r3); the new K rows (k·Hd with R3) and V rows are
//   fake-quantized with the layer's K / V encoding before they join the cache (the concatenation shares that
//   encoding), and the K/V outputs are those values; the caches fed in are read through the same encodings, the
//   mask through its own.
// - inside attention (src/quant/current/attention.ts): q·k, the ÷√hd (derived encoding), the mask add — or the masked
//   softmax's row min, min - 20 and select —, and the softmax output, each fake-quantized with its layer's encoding.
// With integer arithmetic (the default, src/quant/current/integer.ts) the convs, q·k and softmax·V run on codes with
// exact sums and one requantization each instead of the fp32 products followed by the q/dq. By default those run on the
// fast path (integer-fast.ts: the WebAssembly SIMD integer kernels of the convs — split over threads when the backend
// has a pooled kernel — and of the attention matmuls, and the large q/dq points on float32 SIMD lanes), bit-identical
// to the plain one (`integerPath: "plain"`, integer.ts / activations.ts), which stays the test oracle.
// Not modelled (fp32 on quantized inputs, see encodings.ts): the RoPE internals, SiLU before the multiply, RMSNorm
// internals.
import type { EmbedFn, MatMulFn, TapFn } from "../../engine/decoder.js";
import { arForward, type ArGraph, type ArHooks } from "../../engine/ar-graph.js";
import type { ArGraphInputs, ArGraphOutputs } from "../../engine/ar-graph-io.js";
import type { AttendRowFn } from "../../engine/attention.js";
import { matMulRows } from "../../engine/kernels.js";
import { attentionPointName, attentionPoints, stagedAttendRow, type AttentionPoint } from "./attention.js";
import { createFastConvRows, createFastFakeQuant, createWasmAttention, type ConvRowsFn, type FakeQuantFn } from "./integer-fast.js";
import { integerConvRows, integerProbsTimesV, integerScores, type AttentionIntegerEncodings, type CurrentArithmetic, type IntegerStats } from "./integer.js";
import { fakeQuant, fakeQuantInPlace } from "./activations.js";
import type { QuantEncoding } from "../affine.js";
import { convWeight } from "./recipe.js";
import { encodingOf, type ConvQuant, kCacheName, kR3Name, MASK_NAME, qR3Name, tapEncodingName, vCacheName, type CurrentEncodings } from "./encodings.js";

/** The pieces of a quantized AR-N call that do not change between calls. */
export interface QuantArGraph {
  graph: ArGraph;
  enc: CurrentEncodings;
  /** The hooks; their model has the RMSNorm weights replaced by their dequantized codes (conv weights are swapped in matMul). */
  hooks: ArHooks;
  /** The integer arithmetic's accumulator statistics (zero with fake quantization). */
  stats: IntegerStats;
}

/** Sees every conv of a quantized call: its (re-quantized) input and its fake-quantized output, as copies. */
export type ConvObserver = (conv: ConvQuant, x: Float32Array, y: Float32Array) => void;

/** Builds the quantized graph's hooks for one AR-N graph of `model` (the model `enc` was calibrated on). */
export interface QuantArGraphOptions {
  /** Integer codes and accumulators (default, what the NPU computes) or the fp32 fake-quant oracle. */
  arithmetic?: CurrentArithmetic;
  /** Accumulator statistics of the integer arithmetic (added to across calls). */
  stats?: IntegerStats;
  onConv?: ConvObserver;
  /**
   * The integer arithmetic's implementation: "fast" (default: integer-fast.ts — the WebAssembly SIMD kernels of the convs,
   * split over threads when `convRows` is built on a pooled kernel, and of the attention matmuls) or "plain" (integer.ts,
   * the oracle). Bit-identical.
   */
  integerPath?: "fast" | "plain";
  /** The fast conv to use (share one between the graphs of a backend so the weight codes are copied once). */
  convRows?: ConvRowsFn;
  /** The fast q/dq to use (shared likewise). */
  fakeQuant?: FakeQuantFn;
  /** The embedding gather (a quantized model file's table of codes); default: the model's fp32 table. */
  embed?: EmbedFn;
}

export function quantArGraph(graph: ArGraph, enc: CurrentEncodings, opts: QuantArGraphOptions = {}): QuantArGraph {
  const { onConv } = opts;
  const integer = (opts.arithmetic ?? "integer") === "integer";
  const stats = opts.stats ?? { int32Overflows: 0, maxAccumulator: 0 };
  const plain = opts.integerPath === "plain";
  const convRows = integer && !plain ? (opts.convRows ?? createFastConvRows()) : integerConvRows;
  // The large q/dq points (K/V cache inputs, conv outputs) on the kernel's float32 SIMD lanes unless the plain path is asked for.
  const fqBig = plain ? fakeQuantInPlace : (opts.fakeQuant ?? createFastFakeQuant());
  const fqCopy = (x: Float32Array, e: QuantEncoding): Float32Array => {
    const y = x.slice();
    fqBig(y, e);
    return y;
  };
  // The attention matmuls on the WebAssembly SIMD kernels (integer-fast.ts createWasmAttention) unless plain.
  const fastAttention = integer && !plain ? createWasmAttention() : undefined;
  const scoresFn: typeof integerScores = fastAttention?.scores ?? integerScores;
  const timesVFn: typeof integerProbsTimesV = fastAttention?.timesV ?? integerProbsTimesV;
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
    if (integer) convRows(y, q.weights, xin, t, q.input, q.output, stats);
    else {
      matMulRows(y, q.weights.device, xin, t, m, n);
      fqBig(y, q.output, 0, t * m);
    }
    onConv?.(q, xin.slice(0, t * n), y.slice(0, t * m));
  };
  // Gemma's embedding scale (a Mul by fround(sqrt(hidden)) after the gather): its output encoding is the table's with
  // the scale multiplied by the constant (same zero point), as the ÷√hd's is derived; the table's own would clip.
  const embedScale = c.arch?.embedScale ?? 1;
  const tapEnc = (layer: number, name: Parameters<TapFn>[1]) => {
    const n = tapEncodingName(layer, name);
    if (n === undefined) return undefined;
    const e = encodingOf(enc, n);
    return name === "embedding" && embedScale !== 1 ? { ...e, scale: Math.fround(e.scale * embedScale) } : e;
  };
  const tap: TapFn = (layer, name, data) => {
    const e = tapEnc(layer, name);
    if (e) fakeQuantInPlace(data, e);
  };
  const kEnc = Array.from({ length: c.nLayers }, (_, l) => encodingOf(enc, kCacheName(l)));
  const vEnc = Array.from({ length: c.nLayers }, (_, l) => encodingOf(enc, vCacheName(l)));
  const maskEnc = encodingOf(enc, MASK_NAME);
  const kR3 = enc.attention.r3 ? Array.from({ length: c.nLayers }, (_, l) => encodingOf(enc, kR3Name(l))) : null;
  const points = attentionPoints(enc.attention.maskedSoftmax);
  const rows: AttendRowFn[] = Array.from({ length: c.nLayers }, (_, l) => {
    const e = new Map(points.map((p) => [p, encodingOf(enc, attentionPointName(l, p))]));
    const stage = (p: AttentionPoint, x: Float32Array, start: number, end: number) => fakeQuantInPlace(x, e.get(p)!, start, end);
    if (!integer) return stagedAttendRow(enc.attention.maskedSoftmax, stage);
    const ie: AttentionIntegerEncodings = {
      q: encodingOf(enc, enc.attention.r3 ? qR3Name(l) : tapEncodingName(l, "q")!),
      k: encodingOf(enc, kCacheName(l)),
      v: encodingOf(enc, vCacheName(l)),
      qk: e.get("qk")!,
      softmax: e.get("softmax")!,
      attn: encodingOf(enc, tapEncodingName(l, "attn")!),
    };
    return stagedAttendRow(enc.attention.maskedSoftmax, stage, {
      scores: (q, qOff, hd, view, cols, scores) => scoresFn(q, qOff, hd, view, cols, scores, ie, stats),
      timesV: (p, cols, hd, view, y, yOff) => timesVFn(p, cols, hd, view, y, yOff, ie, stats),
    });
  });
  const hooks: ArHooks = {
    tap,
    ...(opts.embed ? { embed: opts.embed } : {}),
    attendRow: (l) => rows[l],
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
      // The window mask holds the same two values; it takes the causal mask's encoding.
      ...(inp.windowMask ? { windowMask: fakeQuant(inp.windowMask, maskEnc) } : {}),
      // The cache inputs' q/dq. With integer arithmetic the caches are read only by the attention matmuls, which turn
      // each value into its code with quantizeAct's expression — and quantizeAct(fakeQuant(x)) = quantizeAct(x) for
      // every value (a code's value maps back to that code: |q − zp| ≤ 65535, so the fp32 rounding errors stay far
      // below ½) — so the q/dq pass over every cache (the largest per-call cost of a decode) is skipped there; a NaN
      // still ends in a RangeError (at the q·k stage's q/dq instead of here). Fake arithmetic reads the values: q/dq.
      kCaches: integer ? inp.kCaches : inp.kCaches.map((k, l) => fqCopy(k, kEnc[l])),
      vCaches: integer ? inp.vCaches : inp.vCaches.map((v, l) => fqCopy(v, vEnc[l])),
    }),
  };
  const w = model.weights;
  const norm = (which: string, layer: number) => enc.norms.find((n) => n.which === which && n.layer === layer)!.device;
  hooks.model = {
    config: c,
    weights: {
      ...w,
      layers: w.layers.map((lw, l) => ({ ...lw, attnNorm: norm("attnNorm", l), ffnNorm: norm("ffnNorm", l) })),
      norm: norm("norm", -1),
    },
  };
  return { graph, enc, hooks, stats };
}

/** One call of the quantized AR-N graph on fp32 I/O (K/V and logits are the values of their codes). */
export function quantArForward(q: QuantArGraph, inp: ArGraphInputs, out?: ArGraphOutputs): ArGraphOutputs {
  return arForward(q.graph, inp, out, q.hooks);
}
