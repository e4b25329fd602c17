// Owns the seed quantizer's annotation pass over the seed node graph (SPEC §7.1-§7.2): QnnQuantizer._annotate
// (every conv2d with the per-channel config, every other op with the per-tensor config, through the op
// annotators of backends/qualcomm/quantizer/annotators.py at f965746a), then the custom annotations that
// overwrite those annotations, in llama.py's order: annotate_matmul_16a8w (every --ptq),
// annotate_linear_16a8w_in_affine_layer (--llama_model stories110m, so also stories260K), and in hybrid mode
// annotate_prefill_kv_output on the prefill graph.
//
// An annotation is an ordered input qspec map (producer -> spec, in dict insertion order) and an output spec;
// the order matters, since PT2E builds observers from the first member of each group (observers.ts).
import type { SeedGraph, SeedNode } from "./node-graph.js";
import {
  conv8a4wConfig,
  edgeKey,
  lmHead16a8wConfig,
  matmul16a8wConfig,
  prefillOutputSpec,
  schemeConfigs,
  shared,
  sigmoidSpec,
  sym8Act,
  type AnySpec,
  type OutputQuantAttrs,
  type QConfig,
  type QSpec,
  type SeedScheme,
} from "./qspecs.js";

export interface Annotation {
  /** input_qspec_map in insertion order: [producer, spec]. */
  inputs: [string, AnySpec][];
  /** output_qspec, or null. */
  output: AnySpec | null;
}

export type Annotations = Map<string, Annotation>;

export interface AnnotateOptions {
  scheme: SeedScheme;
  /** annotate_linear_16a8w_in_affine_layer (llama.py: `--llama_model stories110m`); default true. */
  storiesLmHead?: boolean;
  /** Hybrid mode, prefill graph: the KV graph's output dequantize parameters, in output order. */
  prefillKvOutputs?: OutputQuantAttrs[];
}

const isFloatTensor = (n: SeedNode): boolean => n.dtype === "float32";

/** annotate_single_in_single_out. */
function singleInSingleOut(n: SeedNode, cfg: QConfig): Annotation {
  return { inputs: [[n.inputs[0], cfg.act]], output: cfg.act };
}

/** annotate_in_out_obs_sharing_op, falling back to annotate_single_in_single_out (transpose, permute, squeeze, unsqueeze). */
function sharingOp(ann: Annotations, n: SeedNode, cfg: QConfig): Annotation {
  const prod = ann.get(n.inputs[0]);
  if (prod && prod.output !== null) return { inputs: [[n.inputs[0], shared(n.inputs[0])]], output: shared(n.inputs[0]) };
  return singleInSingleOut(n, cfg);
}

/** annotate_binary: float tensor inputs (args 0 and 1) with the input spec; output spec when the output is float. */
function binary(g: SeedGraph, n: SeedNode, cfg: QConfig): Annotation {
  const inputs: [string, AnySpec][] = [];
  for (const i of n.inputs) if (isFloatTensor(g.byName.get(i)!) && !inputs.some(([p]) => p === i)) inputs.push([i, cfg.act]);
  return { inputs, output: isFloatTensor(n) ? cfg.act : null };
}

/** annotate_cat: first input with the input spec, the others and the output SharedQuantizationSpec((first, cat)). */
function catAnn(n: SeedNode, act: QSpec): Annotation {
  const first = n.inputs[0];
  const sh = shared(edgeKey(first, n.name));
  const inputs: [string, AnySpec][] = [[first, act]];
  for (const i of n.inputs.slice(1)) if (!inputs.some(([p]) => p === i)) inputs.push([i, sh]);
  return { inputs, output: sh };
}

/** annotate_conv2d: input activation, weight, output activation. */
function convAnn(n: SeedNode, cfg: QConfig): Annotation {
  return { inputs: [[n.inputs[0], cfg.act], [n.inputs[1], cfg.weight]], output: cfg.act };
}

/** The OP_ANNOTATOR entry for a node under the quantizer's config for it. */
function generic(g: SeedGraph, ann: Annotations, n: SeedNode, cfg: QConfig): Annotation | null {
  switch (n.op) {
    case "placeholder":
    case "param":
    case "constant":
      return null;
    case "embedding":
      return { inputs: [[n.inputs[0], cfg.act]], output: shared(edgeKey(n.inputs[0], n.name)) };
    case "index":
      // annotate_in_out_obs_sharing_op returns early (the table is an unannotated constant), then:
      return { inputs: [[n.inputs[0], cfg.act]], output: shared(edgeKey(n.inputs[0], n.name)) };
    case "select":
    case "slice":
    case "reshape":
    case "softmax":
      return singleInSingleOut(n, cfg);
    case "transpose":
    case "permute":
    case "squeeze":
    case "unsqueeze":
      return sharingOp(ann, n, cfg);
    case "rms_norm":
      return { inputs: [[n.inputs[0], cfg.act], [n.inputs[1], cfg.act]], output: cfg.act };
    case "conv2d":
      return convAnn(n, cfg);
    case "mul":
    case "add":
    case "sub":
    case "div":
      return binary(g, n, cfg);
    case "cat":
      return catAnn(n, cfg.act);
    case "matmul":
      // annotators.annotate_matmul; always overwritten by annotate_matmul_16a8w in the llama flow.
      return { inputs: [[n.inputs[0], cfg.act], [n.inputs[1], cfg.act]], output: cfg.act };
    case "sigmoid":
      return { inputs: [[n.inputs[0], cfg.act]], output: sigmoidSpec(cfg.act) };
  }
}

/** annotate_matmul_16a8w (custom_annotation.py:90-198): every matmul 16a8w, and its input 1 walked back to 8-bit. */
function annotateMatmul16a8w(g: SeedGraph, ann: Annotations): void {
  const mm = matmul16a8wConfig();
  const sym = { act: sym8Act(), weight: sym8Act() };
  const conv = conv8a4wConfig();
  for (const n of g.nodes) {
    if (n.op !== "matmul") continue;
    ann.set(n.name, { inputs: [[n.inputs[0], mm.act], [n.inputs[1], mm.weight]], output: mm.act });
    let cur: SeedNode | undefined = g.byName.get(n.inputs[1]);
    while (cur && !["placeholder", "param", "constant"].includes(cur.op)) {
      if (["permute", "squeeze", "transpose", "reshape"].includes(cur.op)) {
        ann.set(cur.name, singleInSingleOut(cur, sym));
        cur = g.byName.get(cur.inputs[0]);
      } else if (cur.op === "cat") {
        ann.set(cur.name, catAnn(cur, sym.act));
        cur = g.byName.get(cur.inputs[1]); // (the past cache, the new value): follow the new value
      } else if (cur.op === "conv2d") {
        ann.set(cur.name, convAnn(cur, conv));
        break;
      } else if (cur.op === "add" || cur.op === "sub") break;
      else cur = g.byName.get(cur.inputs[0]); // "not expected in the input1 of the matmul": skipped
    }
  }
}

/** annotate_linear_16a8w_in_affine_layer: the conv whose module is `output.conv` (the LM head) gets 16a8w per channel. */
function annotateLmHead16a8w(g: SeedGraph, ann: Annotations): void {
  const cfg = lmHead16a8wConfig();
  for (const n of g.nodes) if (n.op === "conv2d" && n.name === "output.conv") ann.set(n.name, convAnn(n, cfg));
}

/** annotate_prefill_kv_output: each graph output node's node inputs and output get the KV output's fixed qparams. */
function annotatePrefillKvOutputs(g: SeedGraph, ann: Annotations, attrs: OutputQuantAttrs[]): void {
  if (attrs.length !== g.outputNames.length) throw new RangeError(`prefill outputs: ${attrs.length} KV encodings for ${g.outputNames.length} outputs`);
  g.outputNames.forEach((name, i) => {
    const fixed = prefillOutputSpec(attrs[i]);
    const n = g.byName.get(name)!;
    ann.set(name, { inputs: [...new Set(n.inputs)].map((p): [string, AnySpec] => [p, fixed]), output: fixed });
  });
}

/** QnnQuantizer.annotate for the seed's llama flow: generic annotators in graph order, then the custom annotations. */
export function annotateSeedGraph(g: SeedGraph, opts: AnnotateOptions): Annotations {
  const cfgs = schemeConfigs(opts.scheme);
  const ann: Annotations = new Map();
  for (const n of g.nodes) {
    const a = generic(g, ann, n, n.op === "conv2d" ? cfgs.perChannel : cfgs.perTensor);
    if (a) ann.set(n.name, a);
  }
  annotateMatmul16a8w(g, ann);
  if (opts.storiesLmHead ?? true) annotateLmHead16a8w(g, ann);
  if (opts.prefillKvOutputs) {
    if (g.mode !== "prefill") throw new RangeError("annotate_prefill_kv_output applies to the prefill graph");
    annotatePrefillKvOutputs(g, ann, opts.prefillKvOutputs);
  }
  return ann;
}
