// Test helper: fake current-flow (SPEC-2026 §3) QNN device graphs for the qnn backend's AR-N binding. A device graph
// is described as the context binary would report it: ExecuTorch's names (inputs `input_<k>_<fx name>_0` with k the
// placeholder order: tokens, atten_mask, input_pos, args_0..args_{2NL-1}; outputs named after their producing
// nodes), inputs listed in a shuffled order, fp32 or fixed-point tensors with scale/offset encodings. The executable
// fake reads its inputs by those ids, converts device codes to values with its own arithmetic (written out here,
// independently of src/qnn/encoding.ts), computes the reference AR-N graph (arForward) and writes its outputs back
// in the tensors' types, recording every call's bytes.
import type { Model } from "../../src/engine/weights.js";
import { arForward, createArGraph } from "../../src/engine/ar-graph.js";
import type { ArGraphInputs } from "../../src/engine/ar-graph-io.js";
import type { ExecutableGraph } from "../../src/backends/qnn.js";
import { QNN_TENSOR_TYPE, type ScaleOffset, type StandInTensor } from "./stand-in-binary.js";

/** Fixed-point I/O: logits and mask UFIXED_POINT_16, K/V (caches and outputs share a layer's encoding) kvType. */
export interface ArDeviceEncodings {
  logits: ScaleOffset;
  mask: ScaleOffset;
  /** Per layer. */
  k: ScaleOffset[];
  v: ScaleOffset[];
  kvType: "UFIXED_POINT_8" | "UFIXED_POINT_16";
}

export interface ArDeviceGraphOptions {
  /** Graph name (default kv_forward at AR = 1, else prefill_forward). */
  name?: string;
  /** Fixed-point encodings; without them every float tensor is FLOAT_32. */
  enc?: ArDeviceEncodings;
  /** Seed of the input shuffle (default 1); 0 keeps ExecuTorch's order. */
  shuffle?: number;
}

export interface ArDeviceGraph {
  name: string;
  inputs: StandInTensor[];
  outputs: StandInTensor[];
}

/** Deterministic Fisher-Yates permutation. */
function shuffled<T>(a: T[], seed: number): T[] {
  const out = a.slice();
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** The device graph of the AR-N graph of `arLen` rows over a `contextLen` context, as the binary would report it. */
export function arDeviceGraph(model: Model, contextLen: number, arLen: number, o: ArDeviceGraphOptions = {}): ArDeviceGraph {
  const { nLayers: NL, nKvHeads: H, headDim: hd, vocabSize: V } = model.config;
  const C = contextLen - arLen;
  const e = o.enc;
  let id = 1;
  const t = (name: string, out: boolean, dataType: string, dims: number[], so?: ScaleOffset): StandInTensor => ({
    id: id++,
    name,
    type: out ? "APP_READ" : "APP_WRITE",
    tensorType: out ? QNN_TENSOR_TYPE.APP_READ : QNN_TENSOR_TYPE.APP_WRITE,
    dataType: e && so ? dataType : dataType === "INT_32" ? "INT_32" : "FLOAT_32",
    dims,
    encoding: e && so ? { kind: "scale_offset", scale: so.scale, offset: so.offset } : { kind: "none" },
  });
  const kv = e?.kvType ?? "FLOAT_32";
  let k = 0;
  const input = (fx: string, dataType: string, dims: number[], so?: ScaleOffset) => t(`input_${k++}_${fx}_0`, false, dataType, dims, so);
  const inputs = [
    input("tokens", "INT_32", [1, arLen]),
    input("atten_mask", "UFIXED_POINT_16", [1, 1, arLen, contextLen], e?.mask),
    ...(arLen === contextLen ? [] : [input("input_pos", "INT_32", [1, arLen])]),
    ...Array.from({ length: NL }, (_, l) => input(`args_${l}`, kv, [1, H, hd, C], e?.k[l])),
    ...Array.from({ length: NL }, (_, l) => input(`args_${NL + l}`, kv, [1, H, C, hd], e?.v[l])),
  ];
  const outputs = [
    t("output_aten_view_copy_default_0", true, "UFIXED_POINT_16", [1, arLen, V], e?.logits),
    ...Array.from({ length: NL }, (_, l) => t(`output_aten_permute_copy_default_${l + 1}_0`, true, kv, [1, H, hd, arLen], e?.k[l])),
    ...Array.from({ length: NL }, (_, l) => t(`output_aten_view_copy_default_${NL + l + 1}_0`, true, kv, [1, H, arLen, hd], e?.v[l])),
  ];
  const seed = o.shuffle ?? 1;
  return { name: o.name ?? (arLen === 1 ? "kv_forward" : "prefill_forward"), inputs: seed === 0 ? inputs : shuffled(inputs, seed), outputs };
}

// ---- the fake's own conversion (QNN: real = scale * (q + offset)) ----

const so = (t: StandInTensor) => (t.encoding.kind === "scale_offset" ? t.encoding : undefined);

/** Values of a device tensor's bytes: int32, fp32, or fixed point dequantized in float64 then rounded to fp32. */
export function readDevice(t: StandInTensor, b: Uint8Array): Float32Array | Int32Array {
  const n = t.dims.reduce((a, x) => a * x, 1);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (t.dataType === "INT_32") return Int32Array.from({ length: n }, (_, i) => dv.getInt32(4 * i, true));
  if (t.dataType === "FLOAT_32") return Float32Array.from({ length: n }, (_, i) => dv.getFloat32(4 * i, true));
  const e = so(t)!;
  const wide = t.dataType === "UFIXED_POINT_16";
  return Float32Array.from({ length: n }, (_, i) => e.scale * ((wide ? dv.getUint16(2 * i, true) : dv.getUint8(i)) + e.offset));
}

/** The code of `x`: clamp(round(x / scale) - offset) (round half away from zero: ties do not occur in the tests). */
export function codeOf(x: number, e: ScaleOffset, max: number): number {
  const q = Math.round(x / e.scale) - e.offset;
  return q < 0 ? 0 : q > max ? max : q;
}

/** Writes values into a device tensor's bytes. */
export function writeDevice(t: StandInTensor, vals: ArrayLike<number>, b: Uint8Array): void {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (t.dataType === "INT_32") for (let i = 0; i < vals.length; i++) dv.setInt32(4 * i, vals[i], true);
  else if (t.dataType === "FLOAT_32") for (let i = 0; i < vals.length; i++) dv.setFloat32(4 * i, vals[i], true);
  else {
    const e = so(t)!;
    const wide = t.dataType === "UFIXED_POINT_16";
    for (let i = 0; i < vals.length; i++) {
      const q = codeOf(vals[i], e, wide ? 65535 : 255);
      if (wide) dv.setUint16(2 * i, q, true);
      else dv.setUint8(i, q);
    }
  }
}

export interface ArCall {
  /** Copies of the input / output bytes in the graph's reported order. */
  inputs: Uint8Array[];
  outputs: Uint8Array[];
}

/**
 * An executable fake of `info`: finds each input by its `input_<k>_` id (k = SPEC-2026 §3 position), runs the
 * reference AR-N graph on the values and writes the outputs in the device's types. `calls` records every call.
 */
export function arExecutableGraph(info: ArDeviceGraph, model: Model, contextLen: number, arLen: number): ExecutableGraph & { calls: ArCall[] } {
  const NL = model.config.nLayers;
  const g = createArGraph(model, { contextLen, arLen });
  const byId = info.inputs.map((t, i) => ({ k: Number(/^input_(\d+)_/.exec(t.name)![1]), i })).sort((a, b) => a.k - b.k).map((x) => x.i);
  const calls: ArCall[] = [];
  return {
    name: info.name,
    inputs: info.inputs,
    outputs: info.outputs,
    calls,
    execute(inputs, outputs) {
      const v = byId.map((i) => readDevice(info.inputs[i], inputs[i]));
      const withPos = arLen !== contextLen;
      const first = withPos ? 3 : 2;
      const inp: ArGraphInputs = {
        tokens: v[0] as Int32Array,
        attnMask: v[1] as Float32Array,
        inputPos: withPos ? (v[2] as Int32Array) : undefined,
        kCaches: v.slice(first, first + NL) as Float32Array[],
        vCaches: v.slice(first + NL, first + 2 * NL) as Float32Array[],
      };
      const out = arForward(g, inp);
      [out.logits, ...out.kOut, ...out.vOut].forEach((a, i) => writeDevice(info.outputs[i], a, outputs[i]));
      calls.push({ inputs: inputs.map((b) => b.slice()), outputs: outputs.map((b) => b.slice()) });
    },
  };
}
