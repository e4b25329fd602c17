// Owns the ONNX export of the static graphs: the seed flow's kv_forward and prefill_forward (SPEC §1–3) and the
// current flow's AR-N graphs (SPEC-2026 §3, one per AR length, with the §8.1 masked softmax and §8.2 R3 options),
// as opset-18 ModelProto bytes with the device's tensor names, shapes and order (graph-io.ts, ar-graph-io.ts),
// fp32 weights as initializers, RoPE tables built by the reference's own buildRopeTables, and optional
// `tap.<layer>.<name>` outputs mirroring runDecoder's LAYER_TAPS ([T, width] each).
import type { Model } from "../../engine/weights.js";
import { kvGraphSpec, prefillGraphSpec, type GraphSpec, type TensorSpec } from "../../engine/graph-io.js";
import { buildModelRope, buildRopeTables, type RopeTables } from "../../engine/rope.js";
import { attentionScaleOf, MASKED_SOFTMAX_OFFSET } from "../../engine/attention.js";
import { archOf, requirePlainLlama } from "../../engine/arch.js";
import { arGraphSpec, type ArGraphName, type ArGraphSpec } from "../../engine/ar-graph-io.js";
import { hadamardMatrix } from "../../engine/hadamard.js";
import { LAYER_TAPS, type TapName } from "../../engine/decoder.js";
import { UserError } from "../../util/errors.js";
import { DataType, graphProto, modelProto, nodeProto, tensorProto, valueInfo, type AttrValue, type Msg } from "./proto.js";

export const ONNX_OPSET = 18;
export const ONNX_IR_VERSION = 8;
/** Protobuf's hard message limit; larger models would need external data (not supported here). */
const PROTOBUF_LIMIT = 2 ** 31 - 1;

export interface BuildOptions {
  /** Add `tap.<layer>.<name>` graph outputs for every LAYER_TAPS entry (plus embedding and final_norm). */
  taps?: boolean;
}

/** Name of the graph output carrying a tap. */
export const tapOutputName = (layer: number, name: TapName): string => `tap.${layer}.${name}`;

/** Every tap of a call, in the order runDecoder reports them, with its width (row length). */
export function tapList(model: Model): { layer: number; name: TapName; width: number }[] {
  const c = model.config;
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  const width: Record<(typeof LAYER_TAPS)[number], number> = {
    attn_norm: c.dim, q: qDim, k: kvDim, v: kvDim, attn: qDim, attn_out: c.dim, resid_attn: c.dim,
    ffn_norm: c.dim, ffn_gate: c.hiddenDim, ffn_up: c.hiddenDim, ffn_act: c.hiddenDim, ffn_out: c.dim, resid_ffn: c.dim,
  };
  const out: { layer: number; name: TapName; width: number }[] = [{ layer: -1, name: "embedding", width: c.dim }];
  for (let l = 0; l < c.nLayers; l++) for (const n of LAYER_TAPS) out.push({ layer: l, name: n, width: width[n] });
  out.push({ layer: c.nLayers, name: "final_norm", width: c.dim });
  return out;
}

/** Accumulates nodes and initializers with unique value names. */
class Builder {
  nodes: Msg[] = [];
  inits: Msg[] = [];
  private n = 0;
  private consts = new Map<string, string>();

  /** Adds a node; returns its output names (fresh unless given). */
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs?: string[] | number): string[] {
    const outs = Array.isArray(outputs)
      ? outputs
      : Array.from({ length: outputs ?? 1 }, (_, i) => `${op.toLowerCase()}_${this.n}${i ? `_${i}` : ""}`);
    this.nodes.push(nodeProto(op, inputs, outs, `${op}_${this.n}`, attrs));
    this.n += 1;
    return outs;
  }
  /** Single-output node. */
  o(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    return this.op(op, inputs, attrs, output !== undefined ? [output] : 1)[0];
  }
  init(name: string, dims: number[], data: Float32Array | Int32Array | BigInt64Array): string {
    this.inits.push(tensorProto(name, dims, data));
    return name;
  }
  /** An int64 constant (deduplicated); `scalar` gives a rank-0 tensor. */
  i64(values: number[], scalar = false): string {
    const key = `${scalar ? "s" : "v"}:${values.join(",")}`;
    let name = this.consts.get(key);
    if (!name) {
      name = `const_i64_${this.consts.size}`;
      this.init(name, scalar ? [] : [values.length], BigInt64Array.from(values.map(BigInt)));
      this.consts.set(key, name);
    }
    return name;
  }
  f32(value: number): string {
    const key = `f:${value}`;
    let name = this.consts.get(key);
    if (!name) {
      name = `const_f32_${this.consts.size}`;
      this.init(name, [], Float32Array.of(value));
      this.consts.set(key, name);
    }
    return name;
  }
  reshape(x: string, shape: number[]): string {
    return this.o("Reshape", [x, this.i64(shape)]);
  }
}

interface Variant {
  kind: "kv" | "prefill" | "ar";
  /** Rows per call: 1 (KV), P (prefill) or AR (AR-N). */
  T: number;
  /** Cache slots: L (KV), 0 (prefill), C = CL - AR (AR-N). */
  L: number;
  spec: GraphSpec | ArGraphSpec;
  /** AR-N only: SPEC-2026 §8.1 masked softmax instead of the additive mask. */
  maskedSoftmax?: boolean;
  /** AR-N only: SPEC-2026 §8.2 R3, q and k times Hd after RoPE. */
  r3?: boolean;
}

/** AR-N build options: the §8 attention variants the graph is exported with, and the method name. */
export interface ArBuildOptions extends BuildOptions {
  /** SPEC-2026 §8.1 masked softmax (default false: softmax(scores + mask)). */
  maskedSoftmax?: boolean;
  /** SPEC-2026 §8.2 R3 (default false); head_dim must be a power of two. */
  r3?: boolean;
  /** Graph name (default defaultArGraphName(CL, AR)). */
  name?: ArGraphName;
}

function build(model: Model, v: Variant, opts: BuildOptions): Uint8Array {
  const c = model.config;
  const w = model.weights;
  const { dim, headDim: hd, nHeads, nKvHeads: H, nLayers, vocabSize: V } = c;
  const G = nHeads / H;
  const T = v.T;
  const qDim = nHeads * hd;
  const kvDim = H * hd;
  const b = new Builder();
  const taps = new Map<string, string>(); // tap output name -> internal value

  const tap = (layer: number, name: TapName, value: string) => {
    if (opts.taps) taps.set(tapOutputName(layer, name), value);
  };

  // Weights. Gemm with transB=1 takes the checkpoint's [out, in] matrices as they are (with a bias: its C input).
  const emb = b.init("tok_embeddings", [V, dim], w.tokEmbeddings);
  const lmHead = w.output === w.tokEmbeddings ? emb : b.init("output", [V, dim], w.output);
  const linear = (x: string, weight: string, bias?: string) => b.o("Gemm", bias ? [x, weight, bias] : [x, weight], { transB: 1 });
  const eps = b.f32(c.normEps);
  const axesLast = b.i64([-1]);
  const rmsNorm = (x: string, weight: string) => {
    const sq = b.o("Mul", [x, x]);
    const ms = b.o("ReduceMean", [sq, axesLast], { keepdims: 1 });
    const inv = b.o("Reciprocal", [b.o("Sqrt", [b.o("Add", [ms, eps])])]);
    return b.o("Mul", [b.o("Mul", [x, inv]), weight]);
  };
  /** GELU, tanh approximation (opset 18 has no Gelu): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
  const geluTanh = (x: string) => {
    const x3 = b.o("Mul", [b.o("Mul", [x, x]), x]);
    const inner = b.o("Mul", [b.o("Add", [x, b.o("Mul", [x3, b.f32(0.044715)])]), b.f32(Math.sqrt(2 / Math.PI))]);
    return b.o("Mul", [b.o("Mul", [x, b.f32(0.5)]), b.o("Add", [b.o("Tanh", [inner]), b.f32(1)])]);
  };

  // RoPE tables (fp32, the reference's functions; per layer for the families), gathered by position: [T, 1, half].
  // KV: kvSeqLen rows at input_pos [1,1]; AR-N with cache slots: CL rows at input_pos [1, AR] (as [AR, 1]); prefill and
  // the calibration graph (AR == CL, no input_pos): T rows at the constant positions arange(T).
  const arch = archOf(c);
  const positional = v.kind === "kv" || (v.kind === "ar" && v.L > 0);
  const ropeRows = v.kind === "kv" ? v.spec.inputs[1].shape[1] : positional ? v.T + v.L : T;
  const modelRope = v.kind === "ar" ? buildModelRope(c, ropeRows) : { maxPos: ropeRows, layers: Array.from({ length: nLayers }, () => buildRopeTables(hd, ropeRows, c.ropeTheta, c.ropeScaling)) };
  const posInput = positional
    ? v.kind === "kv"
      ? "input_pos"
      : b.reshape("input_pos", [T, 1])
    : b.init("positions", [T, 1], Int32Array.from({ length: T }, (_, i) => i));
  const gathered = new Map<RopeTables, { cos: string; sin: string }>();
  const ropeOf = (t: RopeTables) => {
    let g = gathered.get(t);
    if (!g) {
      const i = gathered.size;
      const cosT = b.init(i === 0 ? "rope_cos" : `rope_cos_${i}`, [t.maxPos, t.half], t.cos);
      const sinT = b.init(i === 0 ? "rope_sin" : `rope_sin_${i}`, [t.maxPos, t.half], t.sin);
      // KV: [1,1] -> [1,1,half]; AR-N: [AR,1] -> [AR,1,half]; prefill: [T,1] -> [T,1,half].
      g = { cos: b.o("Gather", [cosT, posInput], { axis: 0 }), sin: b.o("Gather", [sinT, posInput], { axis: 0 }) };
      gathered.set(t, g);
    }
    return g;
  };
  const idx0 = b.i64([0], true);
  const idx1 = b.i64([1], true);
  const rd = arch.rotaryDim;
  /**
   * x [T, heads*hd] -> rotated per head, half-split, [T, heads*hd]; the rotary part's pairs are (2i, 2i+1) for the
   * interleaved order, (i, i + rd/2) for rotate_half; dims past rd (partial rotary) pass through; no table = no RoPE.
   */
  const rope = (x: string, heads: number, t: RopeTables | null) => {
    if (!t) return x;
    const { cos, sin } = ropeOf(t);
    const half = t.half;
    const x3 = b.reshape(x, [T, heads, hd]);
    const rot = rd === hd ? x3 : b.o("Slice", [x3, b.i64([0]), b.i64([rd]), b.i64([2])]);
    let xr: string;
    let xi: string;
    if (arch.ropeOrder === "interleaved") {
      const pairs = b.reshape(rot, [T, heads, half, 2]);
      xr = b.o("Gather", [pairs, idx0], { axis: 3 });
      xi = b.o("Gather", [pairs, idx1], { axis: 3 });
    } else {
      const halves = b.reshape(rot, [T, heads, 2, half]);
      xr = b.o("Gather", [halves, idx0], { axis: 2 });
      xi = b.o("Gather", [halves, idx1], { axis: 2 });
    }
    const even = b.o("Sub", [b.o("Mul", [xr, cos]), b.o("Mul", [xi, sin])]);
    const odd = b.o("Add", [b.o("Mul", [xr, sin]), b.o("Mul", [xi, cos])]);
    const parts = rd === hd ? [even, odd] : [even, odd, b.o("Slice", [x3, b.i64([rd]), b.i64([hd]), b.i64([2])])];
    return b.reshape(b.o("Concat", parts, { axis: 2 }), [T, heads * hd]);
  };

  const scale = b.f32(attentionScaleOf(c));
  const unsq1 = b.i64([1]);
  const splitOnes = v.kind === "ar" ? "" : b.i64(Array.from({ length: H }, () => 1)); // per-head outputs: seed graphs only
  const cacheName = (prefix: string, l: number, h: number) => `${prefix}_l${l}_h${h}`;
  /** Writes one tensor [H, ...] as H graph outputs [1, ...]. */
  const splitHeads = (x: string, prefix: string, l: number) => {
    const names = Array.from({ length: H }, (_, h) => cacheName(prefix, l, h));
    if (H === 1) b.o("Identity", [x], {}, names[0]);
    else b.op("Split", [x, splitOnes], { axis: 0 }, names);
  };
  const concatHeads = (prefix: string, l: number) => {
    const names = Array.from({ length: H }, (_, h) => cacheName(prefix, l, h));
    return H === 1 ? names[0] : b.o("Concat", names, { axis: 0 });
  };

  // AR-N options. R3: Hd [hd, hd] (the reference's fp32 matrix); x [T, heads*hd] -> per head x·Hd.
  const hadamard = v.r3 ? b.init("r3_hadamard", [hd, hd], hadamardMatrix(hd)) : undefined;
  const r3 = (x: string, heads: number) =>
    hadamard ? b.reshape(b.o("MatMul", [b.reshape(x, [T, heads, hd]), hadamard]), [T, heads * hd]) : x;
  // Masked softmax: which mask entries are masked (any non-zero value), [1, 1, T, S] bool, one per mask input
  // (atten_mask; window_atten_mask for the sliding-window layers of Gemma3, SPEC-2026 §8.4).
  const maskedOf = new Map<string, string>();
  const maskedFor = (mask: string) => {
    let m = maskedOf.get(mask);
    if (!m) maskedOf.set(mask, (m = b.o("Not", [b.o("Equal", [mask, b.f32(0)])])));
    return m;
  };
  /** Per-head RMSNorm over hd of x [T, heads*hd] (Qwen3, Gemma3 q/k norms). */
  const headNorm = (x: string, heads: number, weight: string) => b.reshape(rmsNorm(b.reshape(x, [T, heads, hd]), weight), [T, heads * hd]);
  // AR-N caches: the last 2*NL inputs, K [1, H, hd, C] per layer then V [1, H, C, hd] per layer.
  const arCacheName = (kOrV: 0 | 1, l: number) => v.spec.inputs[v.spec.inputs.length - (2 - kOrV) * nLayers + l].name;

  // Embedding: tokens [1, T] -> [T] -> x [T, dim].
  let x = b.o("Gather", [emb, b.reshape("tokens", [T])], { axis: 0 });
  if (arch.embedScale !== 1) x = b.o("Mul", [x, b.f32(arch.embedScale)]);
  tap(-1, "embedding", x);

  for (let l = 0; l < nLayers; l++) {
    const lw = w.layers[l];
    const p = `l${l}_`;
    const a = rmsNorm(x, b.init(`${p}attn_norm`, [dim], lw.attnNorm));
    const opt = (name: string, dims: number[], data: Float32Array | undefined) => (data ? b.init(`${p}${name}`, dims, data) : undefined);
    let qLin = linear(a, b.init(`${p}wq`, [qDim, dim], lw.wq), opt("bq", [qDim], lw.bq));
    let kLin = linear(a, b.init(`${p}wk`, [kvDim, dim], lw.wk), opt("bk", [kvDim], lw.bk));
    const vv = linear(a, b.init(`${p}wv`, [kvDim, dim], lw.wv), opt("bv", [kvDim], lw.bv));
    if (lw.qNorm && lw.kNorm) {
      qLin = headNorm(qLin, nHeads, b.init(`${p}q_norm`, [hd], lw.qNorm));
      kLin = headNorm(kLin, H, b.init(`${p}k_norm`, [hd], lw.kNorm));
    }
    const q = rope(qLin, nHeads, modelRope.layers[l]);
    const k = rope(kLin, H, modelRope.layers[l]);
    tap(l, "attn_norm", a);
    tap(l, "q", q);
    tap(l, "k", k);
    tap(l, "v", vv);

    // R3 (AR-N option): attention and the new K use q·Hd and k·Hd; the taps above stay before R3.
    const qa = r3(q, nHeads);
    const ka = r3(k, H);

    // New K as [H, hd, T] (transposed, like the cache), new V as [H, T, hd]; seed graphs: one output per KV head;
    // AR-N: one output per layer, [1, H, hd, AR] and [1, H, AR, hd].
    const kNew = b.o("Transpose", [b.reshape(ka, [T, H, hd])], { perm: [1, 2, 0] });
    const vNew = b.o("Transpose", [b.reshape(vv, [T, H, hd])], { perm: [1, 0, 2] });
    if (v.kind === "ar") {
      b.o("Reshape", [kNew, b.i64([1, H, hd, T])], {}, v.spec.outputs[1 + l].name);
      b.o("Reshape", [vNew, b.i64([1, H, T, hd])], {}, v.spec.outputs[1 + nLayers + l].name);
    } else {
      splitHeads(kNew, "k_out", l);
      splitHeads(vNew, "v_out", l);
    }
    let kAll = kNew;
    let vAll = vNew;
    if (v.kind === "kv") {
      // K = cat([k_cache, k_new], -1): [H, hd, L+1]; V = cat([v_cache, v_new], rows): [H, L+1, hd].
      kAll = b.o("Concat", [concatHeads("k_cache", l), kNew], { axis: 2 });
      vAll = b.o("Concat", [concatHeads("v_cache", l), vNew], { axis: 1 });
    } else if (v.kind === "ar" && v.L > 0) {
      // kh = cat(K_cache, k^T) along slots: [H, hd, CL]; vh = cat(V_cache, v): [H, CL, hd]. With C = 0 (the
      // calibration graph) the cache inputs stay declared but unused: kh, vh are the new rows alone.
      const C = v.L;
      kAll = b.o("Concat", [b.reshape(arCacheName(0, l), [H, hd, C]), kNew], { axis: 2 });
      vAll = b.o("Concat", [b.reshape(arCacheName(1, l), [H, C, hd]), vNew], { axis: 1 });
    }
    // GQA: query head h = kvh*G + j uses KV head kvh. q -> [H, G, T, hd].
    const q4 = b.o("Transpose", [b.reshape(qa, [T, H, G, hd])], { perm: [1, 2, 0, 3] });
    const qk = b.o("MatMul", [q4, b.o("Unsqueeze", [kAll, unsq1])]); // [H, G, T, S]
    const s = b.o("Div", [qk, scale]);
    // Additive mask, or the masked softmax (SPEC-2026 §8.1): masked scores replaced by (row min over all S - 20).
    const mask = arch.layers[l].window !== null ? "window_atten_mask" : "atten_mask";
    const scores = v.maskedSoftmax
      ? b.o("Where", [maskedFor(mask), b.o("Sub", [b.o("ReduceMin", [s, axesLast], { keepdims: 1 }), b.f32(MASKED_SOFTMAX_OFFSET)]), s])
      : b.o("Add", [s, mask]);
    const probs = b.o("Softmax", [scores], { axis: -1 });
    const ctx = b.o("MatMul", [probs, b.o("Unsqueeze", [vAll, unsq1])]); // [H, G, T, hd]
    const y = b.reshape(b.o("Transpose", [ctx], { perm: [2, 0, 1, 3] }), [T, qDim]);
    let o = linear(y, b.init(`${p}wo`, [dim, qDim], lw.wo), opt("bo", [dim], lw.bo));
    if (lw.postAttnNorm) o = rmsNorm(o, b.init(`${p}post_attn_norm`, [dim], lw.postAttnNorm));
    tap(l, "attn", y);
    tap(l, "attn_out", o);
    x = b.o("Add", [x, o]);
    tap(l, "resid_attn", x);

    const f = rmsNorm(x, b.init(`${p}ffn_norm`, [dim], lw.ffnNorm));
    const gate = linear(f, b.init(`${p}w1`, [c.hiddenDim, dim], lw.w1));
    const up = linear(f, b.init(`${p}w3`, [c.hiddenDim, dim], lw.w3));
    tap(l, "ffn_norm", f);
    tap(l, "ffn_gate", gate);
    tap(l, "ffn_up", up);
    const act = b.o("Mul", [arch.act === "gelu_tanh" ? geluTanh(gate) : b.o("Mul", [gate, b.o("Sigmoid", [gate])]), up]);
    let down = linear(act, b.init(`${p}w2`, [dim, c.hiddenDim], lw.w2));
    if (lw.postFfnNorm) down = rmsNorm(down, b.init(`${p}post_ffn_norm`, [dim], lw.postFfnNorm));
    tap(l, "ffn_act", act);
    tap(l, "ffn_out", down);
    x = b.o("Add", [x, down]);
    tap(l, "resid_ffn", x);
  }
  const fin = rmsNorm(x, b.init("norm", [dim], w.norm));
  tap(nLayers, "final_norm", fin);
  let logits = linear(fin, lmHead);
  if (arch.finalLogitSoftcap !== null) {
    const cap = b.f32(arch.finalLogitSoftcap);
    logits = b.o("Mul", [b.o("Tanh", [b.o("Div", [logits, cap])]), cap]);
  }
  b.o("Reshape", [logits, b.i64([1, T, V])], {}, "logits");

  const vi = (s: TensorSpec) => valueInfo(s.name, s.dtype === "int32" ? DataType.INT32 : DataType.FLOAT, s.shape);
  const outputs = v.spec.outputs.map(vi);
  if (opts.taps)
    for (const t of tapList(model)) {
      const name = tapOutputName(t.layer, t.name);
      b.o("Identity", [taps.get(name)!], {}, name);
      outputs.push(valueInfo(name, DataType.FLOAT, [T, t.width]));
    }
  const graph = graphProto(v.spec.name, b.nodes, b.inits, v.spec.inputs.map(vi), outputs);
  if (graph.length > PROTOBUF_LIMIT)
    throw new UserError(`onnxruntime backend: the ${v.spec.name} graph is ${graph.length} bytes, over protobuf's 2 GiB limit (external data is not supported)`);
  return modelProto(graph, { irVersion: ONNX_IR_VERSION, opset: ONNX_OPSET, producer: "llama-golden" });
}

/** kv_forward as ONNX ModelProto bytes (SPEC §3 I/O, kvGraphSpec names and order). */
export function buildKvGraphModel(model: Model, kvSeqLen: number, opts: BuildOptions = {}): Uint8Array {
  requirePlainLlama(model.config, "the seed flow's kv_forward graph (f965746a; use --flow current)");
  if (!Number.isInteger(kvSeqLen) || kvSeqLen < 2) throw new RangeError(`kv_seq_len must be an integer >= 2, got ${kvSeqLen}`);
  return build(model, { kind: "kv", T: 1, L: kvSeqLen - 1, spec: kvGraphSpec(model.config, kvSeqLen) }, opts);
}

/** prefill_forward as ONNX ModelProto bytes (SPEC §3 I/O, prefillGraphSpec names and order). */
export function buildPrefillGraphModel(model: Model, prefillSeqLen: number, opts: BuildOptions = {}): Uint8Array {
  requirePlainLlama(model.config, "the seed flow's prefill_forward graph (f965746a; use --flow current)");
  if (!Number.isInteger(prefillSeqLen) || prefillSeqLen < 2)
    throw new RangeError(`prefill_seq_len must be an integer >= 2, got ${prefillSeqLen}`);
  const P = prefillSeqLen - 1;
  return build(model, { kind: "prefill", T: P, L: 0, spec: prefillGraphSpec(model.config, prefillSeqLen) }, opts);
}

/**
 * The current flow's AR-N graph (SPEC-2026 §3) as ONNX ModelProto bytes: exactly arGraphSpec(CL, AR)'s tensors in
 * order (input_pos absent when AR == CL: positions arange(CL)); per-layer caches K [1,H,hd,C] / V [1,H,C,hd] ahead of
 * the AR new rows, a [1,1,AR,CL] mask, RoPE tables of CL rows; with `maskedSoftmax` / `r3` the §8.1 / §8.2 attention
 * of createArGraph. With C = 0 the cache inputs are declared (0-sized) but feed no node.
 */
export function buildArGraphModel(model: Model, contextLen: number, arLen: number, opts: ArBuildOptions = {}): Uint8Array {
  const spec = arGraphSpec(model.config, contextLen, arLen, opts.name); // checks 1 <= AR <= CL
  if (opts.r3) hadamardMatrix(model.config.headDim); // RangeError unless head_dim is a power of two
  return build(
    model,
    { kind: "ar", T: arLen, L: contextLen - arLen, spec, maskedSoftmax: opts.maskedSoftmax ?? false, r3: opts.r3 ?? false },
    { taps: opts.taps },
  );
}
