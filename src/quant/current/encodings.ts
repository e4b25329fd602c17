// Owns the record of a current-flow calibration (what src/quant/current/calibrate.ts produces and the quantized
// backend, the encodings file and reports consume) and the names of its encodings.
//
// Names are module paths of the current static_llama graph (examples/qualcomm/oss_scripts/llama/model/
// static_llama.py at cff6f4dd), one per tensor the engine exposes (its taps, src/engine/decoder.ts LAYER_TAPS,
// and its weight products):
//   tok_embeddings                               embedding output (shares the table's encoding)
//   atten_mask                                   the mask input
//   layers.N.attention_norm                      RMSNorm output (tap attn_norm) = input of wq/wk/wv
//   layers.N.attention.{wq,wk,wv,wo}_conv        conv outputs (wv_conv = tap v, wo_conv = tap attn_out)
//   layers.N.attention.q_rope / k_rope           RoPE outputs (taps q, k); with 8-bit KV and no R3, k_rope IS the
//                                                layer's K encoding (annotate_kv_8bit walks back from the cache
//                                                concatenation through the RoPE cat, custom_annotation.py:225-260)
//   layers.N.attention.q_r3 / k_r3               q·Hd and k·Hd (R3 only: the R3 matmul outputs, 16-bit; the walk
//                                                stops at that matmul, so k·Hd is then re-quantized to K's encoding)
//   layers.N.attention.k_cache / v_cache         the layer's K / V encoding: cache input = new K/V output = cat
//   layers.N.attention.qk / scaled               q·kh and its ÷√hd (derived: scale s_qk/√hd, zp of qk)
//   layers.N.attention.mask_add                  scores + mask (without the masked softmax)
//   layers.N.attention.min / min_minus / select  the masked softmax's row min, min - 20, and where(mask == 0, ...)
//   layers.N.attention.softmax                   the softmax output (src/quant/current/attention.ts)
//   layers.N.attention.attn                      attention output before wo (tap attn)
//   layers.N.residual_attn / residual_ffn        the residual adds (taps resid_attn, resid_ffn)
//   layers.N.ffn_norm                            RMSNorm output (tap ffn_norm) = input of w1/w3
//   layers.N.feed_forward.{w1,w3,w2}_conv        conv outputs (taps ffn_gate, ffn_up, ffn_out)
//   layers.N.feed_forward.act_mul                silu(w1)·w3 (tap ffn_act) = input of w2
//   norm                                         final RMSNorm output (tap final_norm) = input of the LM head
//   output.conv                                  LM head output = the logits output
//   <conv>.input                                 a conv's own input encoding where its scheme's activation spec
//                                                differs from its producer's (8a4w / 8a8w convs under a 16-bit
//                                                default: the re-quantized edge)
// Parameters: <conv>.weight, tok_embeddings.weight, layers.N.attention_norm.weight, layers.N.ffn_norm.weight,
// norm.weight.
// Not modelled (the real graph has more q/dq points than the taps expose): the pre-RoPE q/k views, the RoPE
// halves and their products, silu's output before the multiply, the RMSNorm internals. Those ops run in fp32 on
// their quantized inputs.
import type { QuantEncoding } from "../affine.js";
import type { ModelConfig } from "../../engine/config.js";
import type { TapName } from "../../engine/decoder.js";
import type { ConvKind, ResolvedConv, ResolvedRecipe } from "./recipe.js";
import type { Range } from "./activations.js";
import type { ConvWeights } from "./weights.js";
import type { SeqMseResult } from "./seq-mse.js";

export const MASK_NAME = "atten_mask";
export const EMBEDDING_NAME = "tok_embeddings";
export const FINAL_NORM_NAME = "norm";
export const LOGITS_NAME = "output.conv";
export const kCacheName = (l: number) => `layers.${l}.attention.k_cache`;
export const vCacheName = (l: number) => `layers.${l}.attention.v_cache`;
export const qR3Name = (l: number) => `layers.${l}.attention.q_r3`;
export const kR3Name = (l: number) => `layers.${l}.attention.k_r3`;

/** The encoding name of a tap that is not a conv output (conv outputs are named by their conv), or undefined. */
export function tapEncodingName(layer: number, tap: TapName): string | undefined {
  switch (tap) {
    case "embedding":
      return EMBEDDING_NAME;
    case "final_norm":
      return FINAL_NORM_NAME;
    case "attn_norm":
      return `layers.${layer}.attention_norm`;
    case "q":
      return `layers.${layer}.attention.q_rope`;
    case "k":
      return `layers.${layer}.attention.k_rope`;
    case "attn":
      return `layers.${layer}.attention.attn`;
    case "resid_attn":
      return `layers.${layer}.residual_attn`;
    case "ffn_norm":
      return `layers.${layer}.ffn_norm`;
    case "ffn_act":
      return `layers.${layer}.feed_forward.act_mul`;
    case "resid_ffn":
      return `layers.${layer}.residual_ffn`;
    default:
      return undefined; // v, attn_out, ffn_gate, ffn_up, ffn_out: conv outputs
  }
}

/** The encoding a conv reads when it does not re-quantize: its producer's output. */
export function producerName(kind: ConvKind, layer: number): string {
  switch (kind) {
    case "wq":
    case "wk":
    case "wv":
      return `layers.${layer}.attention_norm`;
    case "wo":
      return `layers.${layer}.attention.attn`;
    case "w1":
    case "w3":
      return `layers.${layer}.ffn_norm`;
    case "w2":
      return `layers.${layer}.feed_forward.act_mul`;
    case "output":
      return FINAL_NORM_NAME;
  }
}

/** One conv after calibration. */
export interface ConvQuant {
  conv: ResolvedConv;
  weights: ConvWeights;
  /** The input encoding the conv reads: its producer's (`requantInput` false) or `<path>.input`. */
  inputName: string;
  input: QuantEncoding;
  requantInput: boolean;
  /** Its output encoding (named by its path). */
  output: QuantEncoding;
  /** SeqMSE's search, when it ran. */
  seqMse?: SeqMseResult;
}

/** An RMSNorm weight quantized per tensor with the default activation spec (the QNN rms_norm annotation). */
export interface NormQuant {
  name: string;
  /** -1 for the final norm. */
  layer: number;
  which: "attnNorm" | "ffnNorm" | "norm";
  encoding: QuantEncoding;
  /** fp32((q - zp)·s) of every element. */
  device: Float32Array;
}

export interface CurrentEncodings {
  config: ModelConfig;
  recipe: ResolvedRecipe;
  /** CL of the calibration graph (the decode and prompt graphs share it). */
  contextLen: number;
  attention: { maskedSoftmax: boolean; r3: boolean };
  /** Every activation encoding by name, in graph order. */
  activations: Map<string, QuantEncoding>;
  /** The observed range behind each calibrated activation encoding. */
  observed: Map<string, Range>;
  convs: ConvQuant[];
  norms: NormQuant[];
  /** Calibration sequences run (batch size 1). */
  sequences: number;
}

/** An activation encoding by name (an Error for a name the calibration did not produce). */
export function encodingOf(e: CurrentEncodings, name: string): QuantEncoding {
  const x = e.activations.get(name);
  if (!x) throw new Error(`current-flow encodings: no encoding named ${name}`);
  return x;
}

/**
 * The graph I/O encodings of an AR-N graph after §10.3 step 4 (llm_wrappers.py:1100-1139): _encoding_override copies
 * every encoding CALIBRATE → decode → prefill, and override_kv_cache sets each input cache `args_l` to the encoding
 * of the output cache of layer l. Every graph therefore gets the same table, keyed by SPEC-2026 §3's tensor names.
 */
export function graphIoEncodings(e: CurrentEncodings): Record<string, QuantEncoding> {
  const NL = e.config.nLayers;
  const io: Record<string, QuantEncoding> = { [MASK_NAME]: encodingOf(e, MASK_NAME), logits: encodingOf(e, LOGITS_NAME) };
  for (let l = 0; l < NL; l++) {
    io[`args_${l}`] = io[`k_out_l${l}`] = encodingOf(e, kCacheName(l));
    io[`args_${NL + l}`] = io[`v_out_l${l}`] = encodingOf(e, vCacheName(l));
  }
  return io;
}
