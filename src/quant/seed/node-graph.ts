// Owns the seed's static graphs as explicit node lists (SPEC §1-§3, §7.2-§7.3): the KV graph `kv_forward`
// and the prefill graph `prefill_forward` of ExecuTorch's static_llama (f965746a) after prepare_sha(),
// prepare_feedfoward_conv(), convert_linear_to_conv2d() on the LM head and DecomposeSilu, one node per aten
// op of the exported graph, in the export's (Python execution) order, named after the seed's module paths as
// the shared quantization reference names them (test/fixtures/README.md). Each node lists its tensor
// inputs (producer names, argument order) and evaluates in fp32 (src/quant/seed/tensor*.ts), so the graph runs
// as the prepared fp32 graph the seed calibrates; the quantizer (annotate.ts, observers.ts) walks the
// same list.
//
// Graph inputs, parameters and constant buffers are nodes too (ops placeholder / param / constant) so every
// edge producer -> consumer is explicit. Integer inputs (tokens, input_pos) are carried as exact fp32 values.
import type { ModelConfig } from "../../engine/config.js";
import type { KvGraphInputs, PrefillGraphInputs } from "../../engine/graph-io.js";
import type { Model } from "../../engine/weights.js";
import { seedRopeTables } from "./rope-tables.js";
import { add, conv1x1, divScalar, matmul, mul, rmsNormLast, sigmoid, softmaxLast, sub } from "./tensor-math.js";
import { cat, embedding, indexRows, permute, reshape, select, slice, squeeze, transpose, unsqueeze, type Tensor } from "./tensor.js";

export type SeedOp =
  | "placeholder" | "param" | "constant" // prettier-ignore
  | "embedding" | "index" | "select" | "slice" | "rms_norm" | "reshape" | "transpose" | "permute" | "unsqueeze" | "squeeze"
  | "conv2d" | "mul" | "add" | "sub" | "div" | "cat" | "matmul" | "softmax" | "sigmoid";

export type SeedGraphMode = "kv" | "prefill";

export interface SeedNode {
  name: string;
  op: SeedOp;
  /** Producers of the tensor arguments, in argument order (cat: its list). Scalars are not edges. */
  inputs: string[];
  /** Static output shape. */
  shape: number[];
  dtype: "float32" | "int32";
  /** Value of a param or constant node. */
  value?: Tensor;
  /** fp32 evaluation of a computed node from its inputs' values (in `inputs` order). */
  evaluate?: (args: Tensor[]) => Tensor;
}

export interface SeedGraph {
  mode: SeedGraphMode;
  config: ModelConfig;
  /** kv_seq_len (KV graph) or prefill_seq_len (prefill graph): the model's max_seq_len at export. */
  seqLen: number;
  /** Rows a call processes: 1 (KV) or P = prefill_seq_len - 1 (prefill). */
  rows: number;
  /** Every node in graph order. */
  nodes: SeedNode[];
  byName: Map<string, SeedNode>;
  /** Consumers of each node, in graph order (torch.fx `node.users`). */
  users: Map<string, string[]>;
  /** Placeholders in call order (tokens, atten_mask[, input_pos, k caches, v caches]). */
  inputNames: string[];
  /** Graph outputs in order: logits, new K per (layer, KV head), new V per (layer, KV head). */
  outputNames: string[];
}

export interface SeedGraphOptions {
  mode: SeedGraphMode;
  /** kv_seq_len for the KV graph, prefill_seq_len for the prefill graph. */
  seqLen: number;
}

/** Layer module prefix `layers.{l}.`. */
export const layerPrefix = (l: number): string => `layers.${l}.`;
export const attnPrefix = (l: number): string => `layers.${l}.attention.`;
export const kCacheName = (l: number, c: number): string => `k_cache.${l}.${c}`;
export const vCacheName = (l: number, c: number): string => `v_cache.${l}.${c}`;
/** The node holding the new K of (layer, KV head): the permuted RoPE output. */
export const newKName = (l: number, c: number): string => `${attnPrefix(l)}k_permute.${c}`;
/** The node holding the new V of (layer, KV head): the V conv output after reshape and transpose. */
export const newVName = (l: number, c: number): string => `${attnPrefix(l)}wv_sha.${c}.transpose`;
export const LOGITS_NODE = "output.squeeze";

/** Incremental graph builder: appends nodes in graph order. */
class Builder {
  readonly nodes: SeedNode[] = [];
  readonly byName = new Map<string, SeedNode>();

  push(node: SeedNode): string {
    if (this.byName.has(node.name)) throw new Error(`seed graph: duplicate node ${node.name}`);
    for (const i of node.inputs) if (!this.byName.has(i)) throw new Error(`seed graph: ${node.name} reads unknown ${i}`);
    this.nodes.push(node);
    this.byName.set(node.name, node);
    return node.name;
  }

  shape(name: string): number[] {
    return this.byName.get(name)!.shape;
  }

  input(name: string, shape: number[], dtype: "float32" | "int32" = "float32"): string {
    return this.push({ name, op: "placeholder", inputs: [], shape, dtype });
  }

  param(name: string, shape: number[], data: Float32Array, op: "param" | "constant" = "param"): string {
    return this.push({ name, op, inputs: [], shape, dtype: "float32", value: { shape, data } });
  }

  op(name: string, op: SeedOp, inputs: string[], shape: number[], evaluate: (args: Tensor[]) => Tensor): string {
    return this.push({ name, op, inputs, shape, dtype: "float32", evaluate });
  }
}

const transposed = (s: number[], a: number, b: number): number[] => {
  const o = [...s];
  [o[a], o[b]] = [o[b], o[a]];
  return o;
};

/** conv2d node with its weight param `{name}.weight` [out, in, 1, 1]: rows [r0, r0+out) of `w` [*, in]. */
function conv(b: Builder, name: string, x: string, w: Float32Array, r0: number, out: number): string {
  const [n, cin, h, wd] = b.shape(x);
  const wName = b.param(`${name}.weight`, [out, cin, 1, 1], w.subarray(r0 * cin, (r0 + out) * cin));
  return b.op(name, "conv2d", [x, wName], [n, out, h, wd], ([xv, wv]) => conv1x1(xv, wv));
}

function reshapeNode(b: Builder, name: string, x: string, shape: number[]): string {
  return b.op(name, "reshape", [x], shape, ([v]) => reshape(v, shape));
}

function transposeNode(b: Builder, name: string, x: string, d0: number, d1: number): string {
  return b.op(name, "transpose", [x], transposed(b.shape(x), d0, d1), ([v]) => transpose(v, d0, d1));
}

function rmsNode(b: Builder, name: string, x: string, w: Float32Array, eps: number): string {
  const wName = b.param(`${name}.weight`, [w.length], w);
  return b.op(name, "rms_norm", [x, wName], b.shape(x), ([xv, wv]) => rmsNormLast(xv, wv, eps));
}

function binaryNode(b: Builder, name: string, op: "mul" | "add" | "sub", x: string, y: string, shape: number[]): string {
  const f = op === "mul" ? mul : op === "add" ? add : sub;
  return b.op(name, op, [x, y], shape, ([u, v]) => f(u, v));
}

function catNode(b: Builder, name: string, xs: string[], dim: number): string {
  const s0 = b.shape(xs[0]);
  const d = dim < 0 ? dim + s0.length : dim;
  const shape = [...s0];
  shape[d] = xs.reduce((a, x) => a + b.shape(x)[d], 0);
  return b.op(name, "cat", xs, shape, (vs) => cat(vs, dim));
}

/**
 * static_llama apply_rotary_emb_single on x [1, T, hd]: x_r = x[..., ::2], x_i = x[..., 1::2],
 * out_r = x_r·cos − x_i·sin, out_i = x_r·sin + x_i·cos, cat([out_r, out_i], -1) (half-split order).
 */
function rope(b: Builder, p: string, x: string, cos: string, sin: string): string {
  const s = b.shape(x);
  const half = [...s.slice(0, -1), s[s.length - 1] / 2];
  const end = s[s.length - 1];
  const xr = b.op(`${p}.x_r`, "slice", [x], half, ([v]) => slice(v, -1, 0, end, 2));
  const xi = b.op(`${p}.x_i`, "slice", [x], half, ([v]) => slice(v, -1, 1, end, 2));
  const rCos = binaryNode(b, `${p}.r_cos`, "mul", xr, cos, half);
  const iSin = binaryNode(b, `${p}.i_sin`, "mul", xi, sin, half);
  const outR = binaryNode(b, `${p}.out_r`, "sub", rCos, iSin, half);
  const rSin = binaryNode(b, `${p}.r_sin`, "mul", xr, sin, half);
  const iCos = binaryNode(b, `${p}.i_cos`, "mul", xi, cos, half);
  const outI = binaryNode(b, `${p}.out_i`, "add", rSin, iCos, half);
  return catNode(b, `${p}.cat`, [outR, outI], -1);
}

/** One per-head projection: conv -> reshape [1, hd, T] -> transpose [1, T, hd]. */
function headProjection(b: Builder, name: string, hs: string, w: Float32Array, head: number, hd: number, T: number): string {
  const cv = conv(b, name, hs, w, head * hd, hd);
  const r = reshapeNode(b, `${name}.reshape`, cv, [1, hd, T]);
  return transposeNode(b, `${name}.transpose`, r, 1, 2);
}

interface LayerCtx {
  b: Builder;
  model: Model;
  l: number;
  T: number;
  mode: SeedGraphMode;
  cos: string;
  sin: string;
  mask: string;
}

/** LlamaAttention.forward_sha for layer l on the normed hidden state `xn` [1, T, dim]; returns [1, T, dim]. */
function attention(ctx: LayerCtx, xn: string): string {
  const { b, model, l, T, mode } = ctx;
  const c = model.config;
  const w = model.weights.layers[l];
  const hd = c.headDim;
  const p = attnPrefix(l);
  const group = c.nHeads / c.nKvHeads;
  const hs0 = reshapeNode(b, `${p}hs_reshape`, xn, [1, T, 1, c.dim]);
  const hs = transposeNode(b, `${p}hs_transpose`, hs0, 1, 3);
  const q = Array.from({ length: c.nHeads }, (_, h) => headProjection(b, `${p}wq_sha.${h}`, hs, w.wq, h, hd, T));
  const k = Array.from({ length: c.nKvHeads }, (_, i) => headProjection(b, `${p}wk_sha.${i}`, hs, w.wk, i, hd, T));
  const v = Array.from({ length: c.nKvHeads }, (_, i) => headProjection(b, `${p}wv_sha.${i}`, hs, w.wv, i, hd, T));
  const qr = q.map((x, h) => rope(b, `${p}q_rope.${h}`, x, ctx.cos, ctx.sin));
  const kr = k.map((x, i) => {
    const r = rope(b, `${p}k_rope.${i}`, x, ctx.cos, ctx.sin);
    return b.op(newKName(l, i), "permute", [r], [1, hd, T], ([t]) => permute(t, [0, 2, 1]));
  });
  const kh: string[] = [];
  const vh: string[] = [];
  for (let i = 0; i < c.nKvHeads; i++) {
    if (mode === "kv") {
      kh.push(catNode(b, `${p}kh_cat.${i}`, [kCacheName(l, i), kr[i]], -1));
      vh.push(catNode(b, `${p}vh_cat.${i}`, [vCacheName(l, i), v[i]], 1));
    } else {
      kh.push(kr[i]);
      vh.push(v[i]);
    }
  }
  const scale = Math.sqrt(hd); // static_llama: float(head_dim) ** 0.5, a Python float
  const ys: string[] = [];
  for (let h = 0; h < c.nHeads; h++) {
    const ci = Math.floor(h / group);
    const hp = `${p}head.${h}`;
    const cols = b.shape(kh[ci])[2];
    const qk = b.op(`${hp}.qk`, "matmul", [qr[h], kh[ci]], [1, T, cols], ([x, y]) => matmul(x, y));
    const dv = b.op(`${hp}.div`, "div", [qk], [1, T, cols], ([x]) => divScalar(x, scale));
    const ma = binaryNode(b, `${hp}.mask_add`, "add", dv, ctx.mask, [1, T, cols]);
    const sm = b.op(`${hp}.softmax`, "softmax", [ma], [1, T, cols], ([x]) => softmaxLast(x));
    ys.push(b.op(`${hp}.pv`, "matmul", [sm, vh[ci]], [1, T, hd], ([x, y]) => matmul(x, y)));
  }
  const qDim = c.nHeads * hd;
  const y = catNode(b, `${p}y_cat`, ys, -1);
  const y1 = reshapeNode(b, `${p}y_reshape`, y, [1, T, 1, qDim]);
  const y2 = transposeNode(b, `${p}y_transpose`, y1, 1, 3);
  const o = conv(b, `${p}wo_sha`, y2, w.wo, 0, c.dim);
  const o1 = transposeNode(b, `${p}wo_transpose`, o, 1, 3);
  return reshapeNode(b, `${p}wo_reshape`, o1, [1, T, c.dim]);
}

/** FeedForward.forward_feedfoward_conv with silu decomposed into sigmoid and mul (DecomposeSilu). */
function feedForward(ctx: LayerCtx, xn: string): string {
  const { b, model, l, T } = ctx;
  const c = model.config;
  const w = model.weights.layers[l];
  const p = `${layerPrefix(l)}feed_forward.`;
  const x0 = reshapeNode(b, `${p}x_reshape`, xn, [1, T, c.dim, 1]);
  const x1 = transposeNode(b, `${p}x_transpose`, x0, 1, 2);
  const g = conv(b, `${p}w1_conv`, x1, w.w1, 0, c.hiddenDim);
  const sg = b.op(`${p}silu_sigmoid`, "sigmoid", [g], b.shape(g), ([t]) => sigmoid(t));
  const silu = binaryNode(b, `${p}silu_mul`, "mul", g, sg, b.shape(g));
  const u = conv(b, `${p}w3_conv`, x1, w.w3, 0, c.hiddenDim);
  const gate = binaryNode(b, `${p}gate_mul`, "mul", silu, u, b.shape(g));
  const d = conv(b, `${p}w2_conv`, gate, w.w2, 0, c.dim);
  const d1 = transposeNode(b, `${p}out_transpose`, d, 1, 2);
  return reshapeNode(b, `${p}out_reshape`, d1, [1, T, c.dim]);
}

/** LlamaDecoderLayer.forward: x + attention(norm(x)), then + feed_forward(norm(h)). */
function decoderLayer(ctx: LayerCtx, x: string): string {
  const { b, model, l } = ctx;
  const c = model.config;
  const w = model.weights.layers[l];
  const p = layerPrefix(l);
  const a = attention(ctx, rmsNode(b, `${p}attention_norm`, x, w.attnNorm, c.normEps));
  const h = binaryNode(b, `${p}attn_residual`, "add", x, a, b.shape(x));
  const f = feedForward(ctx, rmsNode(b, `${p}ffn_norm`, h, w.ffnNorm, c.normEps));
  return binaryNode(b, `${p}ffn_residual`, "add", h, f, b.shape(h));
}

/** The LM head as convert_linear_to_conv2d's Conv2D: unsqueeze(-1), transpose(1,2), conv, transpose(1,2), squeeze(-1). */
function lmHead(b: Builder, model: Model, x: string, T: number): string {
  const c = model.config;
  const u = b.op("output.unsqueeze", "unsqueeze", [x], [1, T, c.dim, 1], ([t]) => unsqueeze(t, -1));
  const t0 = transposeNode(b, "output.transpose_in", u, 1, 2);
  const cv = conv(b, "output.conv", t0, model.weights.output, 0, c.vocabSize);
  const t1 = transposeNode(b, "output.transpose_out", cv, 1, 2);
  return b.op(LOGITS_NODE, "squeeze", [t1], [1, T, c.vocabSize], ([t]) => squeeze(t, -1));
}

/** The RoPE table rows a call reads: KV index+select by input_pos; prefill slice [:-1] (positions 0..P-1). */
function ropeRows(b: Builder, which: "cos" | "sin", table: Float32Array, seqLen: number, half: number, mode: SeedGraphMode): string {
  const name = `freqs_${which}`;
  b.param(name, [seqLen, half], table, "constant");
  if (mode === "prefill")
    return b.op(`${name}.slice`, "slice", [name], [seqLen - 1, half], ([t]) => slice(t, 0, 0, seqLen - 1, 1));
  const ix = b.push({
    name: `${name}.index`, op: "index", inputs: [name, "input_pos"], shape: [1, 1, half], dtype: "float32",
    evaluate: ([t, pos]) => indexRows(t, pos),
  }); // prettier-ignore
  return b.op(`${name}.select`, "select", [ix], [1, half], ([t]) => select(t, 0, 0));
}

/** Builds the seed's KV graph (mode "kv", seqLen = kv_seq_len) or prefill graph (mode "prefill", seqLen = prefill_seq_len). */
export function buildSeedGraph(model: Model, opts: SeedGraphOptions): SeedGraph {
  const c = model.config;
  const { mode, seqLen } = opts;
  if (!Number.isInteger(seqLen) || seqLen < 2) throw new RangeError(`seq_len must be an integer >= 2, got ${seqLen}`);
  const b = new Builder();
  const T = mode === "kv" ? 1 : seqLen - 1;
  const L = seqLen - 1;
  const hd = c.headDim;
  const inputNames = [b.input("tokens", [1, T], "int32")];
  inputNames.push(b.input("atten_mask", mode === "kv" ? [1, seqLen] : [T, T]));
  if (mode === "kv") {
    inputNames.push(b.input("input_pos", [1, 1], "int32"));
    for (let l = 0; l < c.nLayers; l++) for (let i = 0; i < c.nKvHeads; i++) inputNames.push(b.input(kCacheName(l, i), [1, hd, L]));
    for (let l = 0; l < c.nLayers; l++) for (let i = 0; i < c.nKvHeads; i++) inputNames.push(b.input(vCacheName(l, i), [1, L, hd]));
  }
  // The seed ignores use_scaled_rope (SPEC §2): plain tables over max_seq_len positions.
  const tables = seedRopeTables(hd, seqLen, c.ropeTheta);
  const cos = ropeRows(b, "cos", tables.cos, seqLen, hd / 2, mode);
  const sin = ropeRows(b, "sin", tables.sin, seqLen, hd / 2, mode);
  const emb = b.param("tok_embeddings.weight", [c.vocabSize, c.dim], model.weights.tokEmbeddings);
  let x = b.push({
    name: "tok_embeddings", op: "embedding", inputs: [emb, "tokens"], shape: [1, T, c.dim], dtype: "float32",
    evaluate: ([wt, ids]) => embedding(wt, ids),
  }); // prettier-ignore
  for (let l = 0; l < c.nLayers; l++) x = decoderLayer({ b, model, l, T, mode, cos, sin, mask: "atten_mask" }, x);
  const n = rmsNode(b, "norm", x, model.weights.norm, c.normEps);
  const logits = lmHead(b, model, n, T);
  const outputNames = [logits];
  for (let l = 0; l < c.nLayers; l++) for (let i = 0; i < c.nKvHeads; i++) outputNames.push(newKName(l, i));
  for (let l = 0; l < c.nLayers; l++) for (let i = 0; i < c.nKvHeads; i++) outputNames.push(newVName(l, i));
  const users = new Map<string, string[]>(b.nodes.map((nd) => [nd.name, []]));
  for (const nd of b.nodes) for (const i of new Set(nd.inputs)) users.get(i)!.push(nd.name);
  return { mode, config: c, seqLen, rows: T, nodes: b.nodes, byName: b.byName, users, inputNames, outputNames };
}

/** Values of every node of one call, by name. */
export type SeedValues = Map<string, Tensor>;

/** A graph input's value from `feeds`, checked against the node's static shape. */
export function placeholderValue(g: SeedGraph, nd: SeedNode, feeds: ReadonlyMap<string, Tensor>): Tensor {
  const v = feeds.get(nd.name);
  if (!v) throw new RangeError(`${g.mode} graph: no value for input ${nd.name}`);
  if (v.data.length !== nd.shape.reduce((a, s) => a * s, 1))
    throw new RangeError(`${g.mode} graph: input ${nd.name} has ${v.data.length} values, expected shape [${nd.shape}]`);
  return { shape: nd.shape, data: v.data };
}

/** Runs the graph in fp32 on placeholder values `feeds` (by name); returns every node's value. */
export function runSeedGraph(g: SeedGraph, feeds: ReadonlyMap<string, Tensor>): SeedValues {
  const values: SeedValues = new Map();
  for (const nd of g.nodes) {
    if (nd.op === "placeholder") values.set(nd.name, placeholderValue(g, nd, feeds));
    else if (nd.value) values.set(nd.name, nd.value);
    else values.set(nd.name, nd.evaluate!(nd.inputs.map((i) => values.get(i)!)));
  }
  return values;
}

const asF32 = (a: ArrayLike<number>): Float32Array => Float32Array.from(a);

/** Placeholder values of a KV call from the engine's KvGraphInputs (caches layer-major, then KV head). */
export function kvFeeds(g: SeedGraph, inp: KvGraphInputs): Map<string, Tensor> {
  const c = g.config;
  const L = g.seqLen - 1;
  const m = new Map<string, Tensor>([
    ["tokens", { shape: [1, 1], data: asF32(inp.tokens) }],
    ["atten_mask", { shape: [1, g.seqLen], data: inp.attnMask }],
    ["input_pos", { shape: [1, 1], data: asF32(inp.inputPos) }],
  ]);
  for (let l = 0; l < c.nLayers; l++)
    for (let i = 0; i < c.nKvHeads; i++) {
      m.set(kCacheName(l, i), { shape: [1, c.headDim, L], data: inp.kCaches[l * c.nKvHeads + i] });
      m.set(vCacheName(l, i), { shape: [1, L, c.headDim], data: inp.vCaches[l * c.nKvHeads + i] });
    }
  return m;
}

/** Placeholder values of a prefill call from the engine's PrefillGraphInputs. */
export function prefillFeeds(g: SeedGraph, inp: PrefillGraphInputs): Map<string, Tensor> {
  const P = g.rows;
  return new Map<string, Tensor>([
    ["tokens", { shape: [1, P], data: asF32(inp.tokens) }],
    ["atten_mask", { shape: [P, P], data: inp.attnMask }],
  ]);
}
