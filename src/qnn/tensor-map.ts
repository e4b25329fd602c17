// Owns the binding of a compiled QNN graph's tensors (as the context binary reports them) to the graph I/O
// of SPEC §3 (src/engine/graph-io.ts): which device tensor is which of our tensors, and whether the binary
// was built for this model and these sequence lengths.
//
// Order: tensors are matched by position in the device order. ExecuTorch names a graph input
// `input_<external id>_<node>_<n>` and its runtime (QnnManager, CompareExportedInput) sorts the inputs by that
// id, so when every input carries the prefix the inputs are ordered by it; otherwise the reported order is
// kept. Output names are the producing node's ("output_aten_..."), so they are never required. Names that
// are recognisable (tokens, atten_mask, input_pos, k_cache, v_cache, logits, k_out, v_out, and our own
// `_l<layer>_h<head>` suffix) are used to detect a swapped order.
// Checks, in this order, each failing with a one-line UserError: tensor counts (3 + 2·NL·H inputs and
// 1 + 2·NL·H outputs for kv_forward, 2 and 1 + 2·NL·H for prefill_forward), recognisable names, the
// sequence length / head_dim / vocabulary read from the binary against the run and the model, then every
// tensor's dims (leading 1s ignored: [1, 1] matches [1]) and data type (int32 tensors: INT_32 / UINT_32 /
// INT_64; float32 tensors: FLOAT_32 / FLOAT_16 / fixed point with a usable encoding).
//
// The current flow's AR-N graphs (SPEC-2026 §3, src/engine/ar-graph-io.ts) bind with bindArGraph: counts 3 + 2·NL
// inputs (2 + 2·NL when AR == CL: no input_pos) and 1 + 2·NL outputs, the cache inputs `args_<i>` (K of layer i
// for i < NL, V of layer i - NL after) checked by their index when the names carry it, CL and AR read from the
// mask [1, 1, AR, CL] against the run's --max_context_len / --prefill_ar_len, then every tensor as above. Each
// flow's binder recognises the other flow's graph by its counts (seed: NL·H per-head caches, and a prefill graph
// with just tokens and mask; current: NL per-layer caches, rank-4 masks and caches) and says so.
import type { ModelConfig } from "../engine/config.js";
import { kvGraphSpec, prefillGraphSpec, type GraphSpec, type TensorSpec } from "../engine/graph-io.js";
import { arGraphSpec, type ArGraphName } from "../engine/ar-graph-io.js";
import { UserError } from "../util/errors.js";
import { checkEncoding, dataTypeInfo, elementCount, isFixedPoint, type DataTypeInfo, type DeviceTensor } from "./encoding.js";

/** A device tensor as the addon reports it (structurally src/qnn/native.ts QnnTensorInfo). */
export interface DeviceTensorInfo extends DeviceTensor {
  id?: number;
  type?: string;
}

/** A device graph (structurally QnnGraphInfo). */
export interface DeviceGraphInfo {
  name: string;
  inputs: DeviceTensorInfo[];
  outputs: DeviceTensorInfo[];
}

export interface TensorBinding {
  /** Our tensor (SPEC §3 name, shape, dtype). */
  spec: TensorSpec;
  device: DeviceTensorInfo;
  /** Index in the graph's reported input (or output) list: where its buffer goes for execute(). */
  deviceIndex: number;
  dataType: DataTypeInfo;
  bytes: number;
}

export interface GraphBinding {
  graph: GraphSpec["name"];
  /** In SPEC §3 order. */
  inputs: TensorBinding[];
  outputs: TensorBinding[];
}

export type GraphKind = "kv" | "prefill";

const INT_TYPES = new Set(["INT_32", "UINT_32", "INT_64"]);
const FLOAT_TYPES = new Set(["FLOAT_32", "FLOAT_16", "UFIXED_POINT_8", "UFIXED_POINT_16", "UFIXED_POINT_32", "SFIXED_POINT_8", "SFIXED_POINT_16", "SFIXED_POINT_32"]);

const fmtDims = (d: readonly number[]) => `[${d.join(", ")}]`;
const squeeze = (d: readonly number[]): number[] => {
  let i = 0;
  while (i < d.length && d[i] === 1) i++;
  return d.slice(i);
};
const sameDims = (a: readonly number[], b: readonly number[]) => {
  const x = squeeze(a);
  const y = squeeze(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
};

/** Indices of the inputs in device order: by the `input_<id>_` prefix when every name has one, else as reported. */
export function deviceInputOrder(inputs: readonly { name: string }[]): number[] {
  const ids = inputs.map((t) => /^input_(\d+)_/.exec(t.name));
  const idx = inputs.map((_, i) => i);
  if (inputs.length === 0 || ids.some((m) => m === null)) return idx;
  const n = ids.map((m) => Number(m![1]));
  if (new Set(n).size !== n.length) return idx;
  return idx.sort((a, b) => n[a] - n[b]);
}

type Role = "tokens" | "atten_mask" | "input_pos" | "k_cache" | "v_cache" | "logits" | "k_out" | "v_out";

/** The role a tensor name announces, when it is recognisable. */
export function roleOfName(name: string): Role | undefined {
  const s = name.toLowerCase().replace(/^input_\d+_/, "").replace(/^output_/, "");
  if (/k_?cache/.test(s)) return "k_cache";
  if (/v_?cache/.test(s)) return "v_cache";
  if (/(^|_)k_?out(_|\d|$)/.test(s)) return "k_out";
  if (/(^|_)v_?out(_|\d|$)/.test(s)) return "v_out";
  if (/atte?n_?mask|(^|_)mask(_|\d|$)/.test(s)) return "atten_mask";
  if (/input_pos|(^|_)pos(_|\d|$)/.test(s)) return "input_pos";
  if (/(^|_)tokens?(_|\d|$)/.test(s)) return "tokens";
  if (/logits/.test(s)) return "logits";
  return undefined;
}

const specRole = (name: string): Role => {
  for (const r of ["k_cache", "v_cache", "k_out", "v_out"] as const) if (name.startsWith(r)) return r;
  return name as Role;
};

const layerHead = (name: string): [number, number] | undefined => {
  const m = /(?:^|_)l(\d+)_h(\d+)(?:_|$)/.exec(name);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
};

/** What the binary says about the model and run it was compiled for (dims read from SPEC §3 positions). */
export interface BinaryShape {
  /** NL·H: K (and V) cache tensors. */
  caches: number;
  /** kv_forward: the attention mask's length; prefill_forward: P + 1 from the tokens length. */
  seqLen?: number;
  headDim?: number;
  vocab?: number;
}

function readShape(kind: GraphKind, ins: DeviceTensorInfo[], outs: DeviceTensorInfo[]): BinaryShape {
  const caches = (outs.length - 1) / 2;
  const last = (t: DeviceTensorInfo | undefined) => (t && t.dims.length > 0 ? t.dims[t.dims.length - 1] : undefined);
  const kOut = squeeze(outs[1]?.dims ?? []);
  const shape: BinaryShape = { caches, vocab: last(outs[0]) };
  if (kind === "kv") {
    shape.seqLen = last(ins[1]);
    if (kOut.length >= 1) shape.headDim = kOut[0];
  } else {
    const P = last(ins[0]);
    shape.seqLen = P === undefined ? undefined : P + 1;
    if (kOut.length === 2) shape.headDim = kOut[0];
  }
  return shape;
}

/**
 * Binds a device graph to SPEC §3's graph for `config` and `seqLen` (kv_seq_len or prefill_seq_len).
 * `where` names the source in errors (e.g. `--pte model.pte`).
 */
export function bindGraph(kind: GraphKind, g: DeviceGraphInfo, config: ModelConfig, seqLen: number, where: string): GraphBinding {
  const spec = kind === "kv" ? kvGraphSpec(config, seqLen) : prefillGraphSpec(config, seqLen);
  const gname = `${g.name} in ${where}`;
  const order = deviceInputOrder(g.inputs);
  const ins = order.map((i) => g.inputs[i]);
  const outs = g.outputs;
  const NLH = config.nLayers * config.nKvHeads;

  // 1. Counts.
  const wantIn = spec.inputs.length;
  const wantOut = spec.outputs.length;
  if (ins.length !== wantIn || outs.length !== wantOut) {
    const binCaches = (outs.length - 1) / 2;
    const hint = looksCurrentFlow(ins.length, outs.length, config.nLayers)
      ? `; ${currentFlowHint(config.nLayers)}`
      : Number.isInteger(binCaches) && binCaches !== NLH && binCaches > 0
        ? `: the binary has ${binCaches} K/V heads (layers x KV heads), the model ${config.nLayers} x ${config.nKvHeads} = ${NLH}; is --checkpoint the model the .pte was exported from?`
        : "";
    throw new UserError(
      `${gname}: ${ins.length} inputs and ${outs.length} outputs, SPEC §3 expects ${wantIn} and ${wantOut} for this model (NL*H = ${NLH})${hint}`,
    );
  }

  // 2. Recognisable names: a swapped order.
  const checkNames = (list: DeviceTensorInfo[], specs: TensorSpec[], what: string) =>
    list.forEach((t, i) => {
      const want = specRole(specs[i].name);
      const got = roleOfName(t.name);
      if (got !== undefined && got !== want)
        throw new UserError(
          `${gname}: device ${what} ${i} ${JSON.stringify(t.name)} looks like ${got} but SPEC §3 has ${specs[i].name} there (tensor order differs from the graph specification)`,
        );
      const lh = layerHead(t.name);
      const wlh = layerHead(specs[i].name);
      if (lh && wlh && (lh[0] !== wlh[0] || lh[1] !== wlh[1]))
        throw new UserError(
          `${gname}: device ${what} ${i} ${JSON.stringify(t.name)} is layer ${lh[0]} head ${lh[1]} but SPEC §3 has ${specs[i].name} there (cache tensors out of layer-major, head order)`,
        );
    });
  checkNames(ins, spec.inputs, "input");
  checkNames(outs, spec.outputs, "output");

  // 3. Model and run consistency, with the pitfall spelled out.
  const bin = readShape(kind, ins, outs);
  if (bin.vocab !== undefined && bin.vocab !== config.vocabSize)
    throw new UserError(`${gname}: logits have ${bin.vocab} columns, the model's vocabulary is ${config.vocabSize}; is --checkpoint the model the .pte was exported from?`);
  if (bin.headDim !== undefined && bin.headDim !== config.headDim)
    throw new UserError(`${gname}: the new K output is ${fmtDims(outs[1].dims)} (head_dim ${bin.headDim}), the model's head_dim is ${config.headDim}; is --checkpoint the model the .pte was exported from?`);
  if (bin.seqLen !== undefined && bin.seqLen !== seqLen) {
    if (kind === "kv")
      throw new UserError(
        ins[1].dims.length === 4
          ? `--kv_seq_len ${seqLen} does not match ${gname}: its atten_mask is ${fmtDims(ins[1].dims)}; ${currentFlowHint(config.nLayers)}`
          : `--kv_seq_len ${seqLen} does not match ${gname}: its atten_mask is ${fmtDims(ins[1].dims)}, so it was compiled with kv_seq_len ${bin.seqLen} (pass --kv_seq_len ${bin.seqLen})`,
      );
    throw new UserError(
      `--prefill_seq_len ${seqLen} does not match ${gname}: its tokens input is ${fmtDims(ins[0].dims)}, so it was compiled with prefill_seq_len ${bin.seqLen} (pass --prefill_seq_len ${bin.seqLen})`,
    );
  }

  // 4. Every tensor: dims and data type (a rank-4 tensor is the current flow's).
  const hint = (t: DeviceTensorInfo) => (t.dims.length === 4 ? `; ${currentFlowHint(config.nLayers)}` : "");
  return {
    graph: spec.name,
    inputs: bindTensors(gname, ins, spec.inputs, order, "input", hint),
    outputs: bindTensors(gname, outs, spec.outputs, outs.map((_, i) => i), "output", hint),
  };
}

/** Dims (leading 1s ignored) and data type of every tensor, in spec order; `hint` may extend a dims error. */
function bindTensors(
  gname: string,
  list: DeviceTensorInfo[],
  specs: TensorSpec[],
  indices: number[],
  what: string,
  hint: (t: DeviceTensorInfo, s: TensorSpec) => string = () => "",
): TensorBinding[] {
  return list.map((t, i) => {
    const s = specs[i];
    const head = `${gname}: ${what} ${i} (${s.name}, device ${JSON.stringify(t.name)})`;
    if (!sameDims(t.dims, s.shape)) throw new UserError(`${head}: dims ${fmtDims(t.dims)}, expected ${fmtDims(s.shape)}${hint(t, s)}`);
    const allowed = s.dtype === "int32" ? INT_TYPES : FLOAT_TYPES;
    const name = t.dataType.replace(/^QNN_DATATYPE_/, "");
    if (!allowed.has(name)) throw new UserError(`${head}: data type ${t.dataType}, expected one of ${[...allowed].join(", ")} for ${s.dtype}`);
    const d = dataTypeInfo(name, head);
    if (isFixedPoint(d)) checkEncoding(t, head);
    return { spec: s, device: t, deviceIndex: indices[i], dataType: d, bytes: elementCount(t.dims) * d.bytes };
  });
}

// ---- the current flow's AR-N graphs (SPEC-2026 §3) ----

/** Counts of a current-flow AR-N graph: 1 + 2·NL outputs, 3 + 2·NL inputs (2 + 2·NL without input_pos). */
const looksCurrentFlow = (nIn: number, nOut: number, NL: number) => nOut === 1 + 2 * NL && (nIn === 3 + 2 * NL || nIn === 2 + 2 * NL);
const currentFlowHint = (NL: number) =>
  `it looks like a current-flow (per-layer KV, AR-N) graph (one K and one V tensor per layer, ${NL} layers, mask [1, 1, AR, CL]): run it with --flow current (--max_context_len, --prefill_ar_len)`;
const SEED_FLOW_ADVICE = "run it with --flow seed (--kv_seq_len, --prefill_seq_len), or export the .pte with the current flow";

/** How an AR-N graph's tensors map onto a device graph's. */
export interface ArGraphBinding {
  graph: ArGraphName;
  /** CL and AR, as the device's mask says (and the run asked for). */
  contextLen: number;
  arLen: number;
  /** In SPEC-2026 §3 order: tokens, atten_mask, input_pos (absent when AR == CL), NL K caches, NL V caches. */
  inputs: TensorBinding[];
  /** logits, NL new K, NL new V. */
  outputs: TensorBinding[];
}

/** The SPEC-2026 §3 role of an AR-N tensor name (caches `args_<i>`: K for i < NL, V after). */
const arSpecRole = (name: string, NL: number): Role => {
  const a = /^args_(\d+)$/.exec(name);
  if (a) return Number(a[1]) < NL ? "k_cache" : "v_cache";
  return specRole(name);
};
const argsIndex = (name: string): number | undefined => {
  const m = /(?:^|_)args_(\d+)(?:[_@]|$)/.exec(name.replace(/^input_\d+_/, ""));
  return m ? Number(m[1]) : undefined;
};
const layerOf = (name: string): number | undefined => {
  const m = /(?:^|_)l(\d+)(?:[_@]|$)/.exec(name);
  return m ? Number(m[1]) : undefined;
};

/**
 * Binds a current-flow device graph (kv_forward at AR = 1, prefill_forward at AR = AR_pp) to SPEC-2026 §3's AR-N
 * graph for `config`, `contextLen` (CL, --max_context_len) and `arLen`. `where` names the source in errors.
 */
export function bindArGraph(g: DeviceGraphInfo, config: ModelConfig, contextLen: number, arLen: number, where: string): ArGraphBinding {
  const name: ArGraphName = arLen === 1 ? "kv_forward" : "prefill_forward";
  const spec = arGraphSpec(config, contextLen, arLen, name);
  const gname = `${g.name} in ${where}`;
  const order = deviceInputOrder(g.inputs);
  const ins = order.map((i) => g.inputs[i]);
  const outs = g.outputs;
  const { nLayers: NL, nKvHeads: H } = config;
  const NLH = NL * H;
  const wantIn = spec.inputs.length;
  const wantOut = spec.outputs.length;
  const counts = () =>
    `${gname}: ${ins.length} inputs and ${outs.length} outputs, SPEC-2026 §3 expects ${wantIn} and ${wantOut} for this model (one K and one V tensor per layer, NL = ${NL}${arLen === contextLen ? "; no input_pos at AR = CL" : ""})`;

  // 1. Counts, recognising the seed flow's graphs (per-head caches; a prefill graph of tokens and mask only).
  if (!looksCurrentFlow(ins.length, outs.length, NL)) {
    if (outs.length === 1 + 2 * NLH && (ins.length === 3 + 2 * NLH || ins.length === 2)) {
      const what = ins.length === 2 ? `a prefill graph without cache inputs, ${NLH} K/V outputs` : `${NLH} K/V caches`;
      throw new UserError(`${counts()}; it looks like a seed-flow (per-head KV) graph (${what} = ${NL} layers x ${H} KV heads): ${SEED_FLOW_ADVICE}`);
    }
    const binLayers = (outs.length - 1) / 2;
    const hint =
      Number.isInteger(binLayers) && binLayers > 0 && binLayers !== NL
        ? `: the binary has ${binLayers} per-layer K/V outputs, the model ${NL} layers; is --checkpoint the model the .pte was exported from?`
        : "";
    throw new UserError(counts() + hint);
  }

  // 2. CL and AR from the mask [1, 1, AR, CL] (when input 1 may be the mask), against the run.
  const maskRole = ins[1] && roleOfName(ins[1].name);
  const md = ins[1]?.dims ?? [];
  if (md.length > 0 && (maskRole === undefined || maskRole === "atten_mask")) {
    const binCL = md[md.length - 1];
    const binAR = md.length >= 2 ? md[md.length - 2] : 1;
    if (binCL !== contextLen)
      throw new UserError(
        `--max_context_len ${contextLen} does not match ${gname}: its atten_mask is ${fmtDims(md)}, so it was compiled with max_context_len ${binCL} (pass --max_context_len ${binCL})`,
      );
    if (binAR !== arLen) {
      if (arLen === 1)
        throw new UserError(
          `${gname}: its atten_mask is ${fmtDims(md)}, so it was compiled with AR = ${binAR} rows per call, but the decode graph of --model_mode kv / hybrid runs AR = 1 (a lookahead export? run it with --model_mode lookahead and the --ngram / --window / --gcap it was exported for)`,
        );
      throw new UserError(
        `--prefill_ar_len ${arLen} does not match ${gname}: its atten_mask is ${fmtDims(md)}, so it was compiled with prefill_ar_len ${binAR} (pass --prefill_ar_len ${binAR})`,
      );
    }
  }
  if (ins.length !== wantIn) throw new UserError(`${counts()}: input_pos is absent exactly when AR == CL`);

  // 3. Recognisable names: a swapped order, caches out of order.
  const checkNames = (list: DeviceTensorInfo[], specs: TensorSpec[], what: string) =>
    list.forEach((t, i) => {
      const s = specs[i].name;
      const want = arSpecRole(s, NL);
      const got = roleOfName(t.name);
      if (got !== undefined && got !== want)
        throw new UserError(
          `${gname}: device ${what} ${i} ${JSON.stringify(t.name)} looks like ${got} but SPEC-2026 §3 has ${s} (${want}) there (tensor order differs from the graph specification)`,
        );
      const ai = argsIndex(t.name);
      const wi = argsIndex(s);
      if (ai !== undefined && wi !== undefined && ai !== wi)
        throw new UserError(
          `${gname}: device ${what} ${i} ${JSON.stringify(t.name)} is args_${ai} but SPEC-2026 §3 has args_${wi} (${want} of layer ${wi % NL}) there (cache tensors out of order: K of layers 0..${NL - 1}, then V)`,
        );
      if (layerHead(t.name)) throw new UserError(`${gname}: device ${what} ${i} ${JSON.stringify(t.name)} names a (layer, head) pair; it looks like a seed-flow (per-head KV) graph: ${SEED_FLOW_ADVICE}`);
      const tl = want === "k_cache" || want === "v_cache" ? undefined : layerOf(t.name);
      const wl = layerOf(s);
      if (tl !== undefined && wl !== undefined && tl !== wl)
        throw new UserError(`${gname}: device ${what} ${i} ${JSON.stringify(t.name)} is layer ${tl} but SPEC-2026 §3 has ${s} there (outputs out of layer order)`);
    });
  checkNames(ins, spec.inputs, "input");
  checkNames(outs, spec.outputs, "output");

  // 4. Model consistency: vocabulary, KV heads and head_dim from logits [1, AR, V] and new K [1, H, hd, AR].
  const vocab = outs[0].dims[outs[0].dims.length - 1];
  if (vocab !== undefined && vocab !== config.vocabSize)
    throw new UserError(`${gname}: logits have ${vocab} columns, the model's vocabulary is ${config.vocabSize}; is --checkpoint the model the .pte was exported from?`);
  const kd = outs[1].dims;
  const binHd = kd.length >= 2 ? kd[kd.length - 2] : undefined;
  const binH = kd.length >= 3 ? kd[kd.length - 3] : undefined;
  if (binHd !== undefined && binHd !== config.headDim)
    throw new UserError(`${gname}: the new K output is ${fmtDims(kd)} (head_dim ${binHd}), the model's head_dim is ${config.headDim}; is --checkpoint the model the .pte was exported from?`);
  if (binH !== undefined && binH !== H)
    throw new UserError(`${gname}: the new K output is ${fmtDims(kd)} (${binH} KV heads), the model has ${H} KV heads; is --checkpoint the model the .pte was exported from?`);

  // 5. Every tensor: dims and data type. A cache without its head axis is a per-head (seed-flow) tensor.
  const hint = (t: DeviceTensorInfo, s: TensorSpec) => {
    const want = squeeze(s.shape);
    return H > 1 && want.length === 3 && want[0] === H && sameDims(t.dims, want.slice(1))
      ? `; it looks like a seed-flow (per-head KV) graph: ${SEED_FLOW_ADVICE}`
      : "";
  };
  return {
    graph: name,
    contextLen,
    arLen,
    inputs: bindTensors(gname, ins, spec.inputs, order, "input", hint),
    outputs: bindTensors(gname, outs, spec.outputs, outs.map((_, i) => i), "output", hint),
  };
}
