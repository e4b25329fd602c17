// Owns the seed's quantization specs (SPEC §7.1): the QuantizationSpec objects ExecuTorch's Qualcomm
// quantizer (backends/qualcomm/quantizer/qconfig.py at f965746a) builds for `--ptq 8a8w` and `--ptq 16a4w`
// with `act_observer=MinMaxObserver`, and those of the llama custom annotations (custom_annotation.py). A spec
// carries exactly the attributes PT2E compares for implicit sharing (dtype, is_dynamic, quant_min, quant_max,
// qscheme, ch_axis; SPEC §7.2) plus its observer constructor (kind and eps, or the fixed qparams).
//
// The `id`s are the names the shared reference uses for these specs (`8a8w.act`, `pc_uint8_int8.weight`, ...).

/** torch dtypes the specs use: 16-bit activations are torch.int32 with range 0..65535. */
export type TorchDtype = "uint8" | "int8" | "int32";
export type QScheme = "per_tensor_affine" | "per_tensor_symmetric" | "per_channel_symmetric";
export type ObserverKind = "MinMaxObserver" | "PerChannelMinMaxObserver" | "FixedQParamsObserver";

export interface QSpec {
  kind: "spec";
  id: string;
  dtype: TorchDtype;
  /** null when the spec gives none (the observer then uses the dtype's full range). */
  quantMin: number | null;
  quantMax: number | null;
  qscheme: QScheme | null;
  chAxis: number | null;
  isDynamic: false;
  observer: ObserverKind;
  /** The observer's eps (with_args(eps=...)); null for a fixed observer. */
  eps: number | null;
  /** FixedQParamsObserver arguments. */
  fixed?: { scale: number; zeroPoint: number };
  /** qconfig.py / annotators.py / custom_annotation.py lines at f965746a. */
  source: string;
}

/** An edge is `producer->consumer`; a node (its output) is its name. */
export type EdgeOrNode = string;
export const edgeKey = (producer: string, consumer: string): EdgeOrNode => `${producer}->${consumer}`;
export const isEdge = (k: EdgeOrNode): boolean => k.includes("->");
export const edgeEnds = (k: EdgeOrNode): [string, string] => {
  const i = k.indexOf("->");
  return [k.slice(0, i), k.slice(i + 2)];
};

/** SharedQuantizationSpec(edge_or_node). */
export interface SharedSpec {
  kind: "shared";
  with: EdgeOrNode;
}

export type AnySpec = QSpec | SharedSpec;

export const shared = (w: EdgeOrNode): SharedSpec => ({ kind: "shared", with: w });

/** A QuantizationConfig: input and output activation spec (always the same object in these configs) and weight spec. */
export interface QConfig {
  act: QSpec;
  weight: QSpec;
}

const EPS12 = 2 ** -12;
const EPS20 = 2 ** -20;

function spec(id: string, source: string, s: Partial<QSpec> & Pick<QSpec, "dtype" | "qscheme" | "observer">): QSpec {
  return { kind: "spec", id, quantMin: null, quantMax: null, chAxis: null, isDynamic: false, eps: EPS12, source, ...s };
}

/** get_8a8w_qnn_ptq_config(act_symmetric, MinMaxObserver).input_activation: uint8, no range, ch_axis 0, eps 2^-12. */
const act8 = (symmetric: boolean): QSpec =>
  spec(symmetric ? "8a8w_sym.act" : "8a8w.act", "qconfig.py:65-74", {
    dtype: "uint8",
    qscheme: symmetric ? "per_tensor_symmetric" : "per_tensor_affine",
    chAxis: 0,
    observer: "MinMaxObserver",
  });

/** The uint16 activation of get_16a4w / get_16a8w_qnn_ptq_config: int32 0..65535, affine, eps 2^-20. */
const act16 = (id: string, source: string): QSpec =>
  spec(id, source, { dtype: "int32", quantMin: 0, quantMax: 65535, qscheme: "per_tensor_affine", observer: "MinMaxObserver", eps: EPS20 });

/** get_ptq_per_channel_quant_config weight: int8 storage, [-7, 7] (int4) or [-127, 127], per-channel symmetric. */
const pcWeight = (id: string, bits: 4 | 8): QSpec =>
  spec(id, "qconfig.py:268-275", {
    dtype: "int8",
    quantMin: bits === 4 ? -7 : -127,
    quantMax: bits === 4 ? 7 : 127,
    qscheme: "per_channel_symmetric",
    chAxis: 0,
    observer: "PerChannelMinMaxObserver",
  });

/** get_ptq_per_channel_quant_config(act_dtype, weight_dtype, MinMaxObserver, act_symmetric). */
function perChannelConfig(actBits: 8 | 16, weightBits: 4 | 8, actSymmetric = false): QConfig {
  const name = `pc_uint${actBits}_int${weightBits}${actSymmetric ? "_sym" : ""}`;
  const act = actSymmetric
    ? spec(`${name}.act`, "qconfig.py:245-254", { dtype: "uint8", qscheme: "per_tensor_symmetric", chAxis: 0, observer: "MinMaxObserver" })
    : spec(`${name}.act`, "qconfig.py:255-266", {
        dtype: actBits === 16 ? "int32" : "uint8",
        quantMin: 0,
        quantMax: actBits === 16 ? 65535 : 255,
        qscheme: "per_tensor_affine",
        observer: "MinMaxObserver",
      });
  return { act, weight: pcWeight(`${name}.weight`, weightBits) };
}

/** The quantizer's two configs for a scheme: per-tensor (every non-conv op) and per-channel (conv2d). */
export interface SchemeConfigs {
  perTensor: QConfig;
  perChannel: QConfig;
}

export type SeedScheme = "8a8w" | "16a4w" | "16a4w_block";
export const SEED_SCHEMES: readonly SeedScheme[] = ["8a8w", "16a4w", "16a4w_block"];

/**
 * quantizer.py quant_config_dict at f965746a for use_8a8w / use_16a4w. 16a4w_block (SPEC §7.7, later upstream)
 * keeps the 16a4w activations; only its conv weights differ (per block), which this module does not compute.
 */
export function schemeConfigs(scheme: SeedScheme): SchemeConfigs {
  if (scheme === "8a8w") {
    const a = act8(false);
    // The per-tensor config's own weight spec annotates nothing in this model (SPEC §7.1).
    return { perTensor: { act: a, weight: pcWeight("8a8w.weight.unused", 8) }, perChannel: perChannelConfig(8, 8) };
  }
  const a = act16("16a4w.act", "qconfig.py:104-114");
  return { perTensor: { act: a, weight: pcWeight("16a4w.weight.unused", 4) }, perChannel: perChannelConfig(16, 4) };
}

/** get_16a8w_qnn_ptq_config(MinMaxObserver): uint16 activations; its "weight" is uint8 symmetric (zp 128), eps 2^-20. */
export function matmul16a8wConfig(): QConfig {
  return {
    act: act16("16a8w.act", "qconfig.py:143-153"),
    weight: spec("16a8w.weight", "qconfig.py:155-160", {
      dtype: "uint8",
      qscheme: "per_tensor_symmetric",
      chAxis: 0,
      observer: "MinMaxObserver",
      eps: EPS20,
    }),
  };
}

/** get_8a8w_qnn_ptq_config(act_symmetric=True, MinMaxObserver): the K/V path of annotate_matmul_16a8w. */
export const sym8Act = (): QSpec => act8(true);

/** The V convs of annotate_matmul_16a8w: per-channel config uint8 symmetric activations, int4 weights ("8a4w"). */
export const conv8a4wConfig = (): QConfig => perChannelConfig(8, 4, true);

/** annotate_linear_16a8w_in_affine_layer's LM head: per-channel config, uint16 activations, int8 weights. */
export const lmHead16a8wConfig = (): QConfig => perChannelConfig(16, 8);

/** The (quant_min, quant_max) an observer built from the spec uses: the spec's, else the dtype's full range. */
export function effectiveRange(s: QSpec): [number, number] {
  if (s.quantMin !== null && s.quantMax !== null) return [s.quantMin, s.quantMax];
  if (s.dtype === "uint8") return [0, 255];
  if (s.dtype === "int8") return [-128, 127];
  throw new RangeError(`spec ${s.id}: no range for dtype ${s.dtype}`);
}

/** annotate_sigmoid's output spec: FixedQParamsObserver scale 1/(qmax - qmin + 1), zp 0, in the config's output dtype. */
export function sigmoidSpec(outAct: QSpec): QSpec {
  const [qmin, qmax] = effectiveRange(outAct);
  return spec("sigmoid.fixed", "annotators.py:627-688", {
    dtype: outAct.dtype,
    quantMin: qmin,
    quantMax: qmax,
    qscheme: "per_tensor_affine",
    observer: "FixedQParamsObserver",
    eps: null,
    fixed: { scale: 1 / (qmax - qmin + 1), zeroPoint: 0 },
  });
}

/** Dequantize parameters of a converted graph output (scale, zero_point, quant_min, quant_max, dtype). */
export interface OutputQuantAttrs {
  scale: number;
  zeroPoint: number;
  quantMin: number;
  quantMax: number;
  dtype: TorchDtype;
}

/** annotate_prefill_kv_output's fixed spec: QuantizationSpec(quant_min, quant_max, dtype, ch_axis=0), no qscheme. */
export function prefillOutputSpec(a: OutputQuantAttrs): QSpec {
  return spec("kv_output.fixed", "custom_annotation.py:56-87", {
    dtype: a.dtype,
    quantMin: a.quantMin,
    quantMax: a.quantMax,
    qscheme: null,
    chAxis: 0,
    observer: "FixedQParamsObserver",
    eps: null,
    fixed: { scale: a.scale, zeroPoint: a.zeroPoint },
  });
}

/** PT2E's implicit-sharing test (prepare.py `_has_same_attr` over these attributes). */
export function sameSharingAttrs(a: QSpec, b: QSpec): boolean {
  return (
    a.dtype === b.dtype &&
    a.isDynamic === b.isDynamic &&
    a.quantMin === b.quantMin &&
    a.quantMax === b.quantMax &&
    a.qscheme === b.qscheme &&
    a.chAxis === b.chAxis
  );
}
