// Owns the quantized simulation as a backend (`--ptq`, SPEC §7): the quantized graphs of src/quant/qgraph.ts
// behind the backend contract, on the device's codes — uint8 caches (uint16 when a K/V encoding needs more than
// 8 bits), a uint16 mask (65535 attend, 0 blocked), uint16 logits in the shared logits encoding — with the
// encodings it was built with. The runner session drives it like any other backend; the hybrid hand-over copies
// the prefill graph's K/V codes into the KV caches as they are (calibration forced the prefill outputs onto the
// KV graph's encodings, so the codes mean the same thing in both graphs).
import type { BackendInit, GraphEncoding, SyncGraphBackend } from "../engine/backend.js";
import { QUANT_ENCODING, type CacheEncoding, type KvCacheManager } from "../kvcache/types.js";
import type { QuantEncodings } from "./calibrate.js";
import { dequantizeLogits, quantKvForward, quantPrefillForward, type CacheCodes } from "./qgraph.js";

/** uint16 caches (16-bit K/V schemes) with the quantized uint16 mask. */
export const QUANT16_ENCODING: CacheEncoding<Uint16Array, Uint16Array> = { cache: Uint16Array, mask: Uint16Array, attend: 65535, blocked: 0 };

export type QuantizedBackend = SyncGraphBackend<CacheCodes, Uint16Array, Uint16Array>;
export type QuantCacheManager = KvCacheManager<CacheCodes, Uint16Array>;

export interface QuantizedBackendInit extends BackendInit {
  qenc: QuantEncodings;
  /**
   * Start every cache byte at the K/V zero point (default true), so never-written and padding slots
   * dequantize to 0.0 and a masked slot's score stays far below the mask's -255. With false the caches start
   * as zero bytes (the seed runner's allocation): code 0 dequantizes to about -amax in every dimension, whose
   * scores can outweigh the mask, so masked slots may leak and Smart Mask / Shift Pointer (which leave
   * different bytes in unused slots) may then disagree.
   */
  fillZeroPoint?: boolean;
}

/** The cache element type of a calibration: uint8 when every K/V encoding fits 8 bits, else uint16. */
export function cacheEncodingFor(qenc: QuantEncodings): CacheEncoding<CacheCodes, Uint16Array> {
  const bits = Math.max(...qenc.kv.k.map((e) => e.bitwidth), ...qenc.kv.v.map((e) => e.bitwidth));
  return (bits <= 8 ? QUANT_ENCODING : QUANT16_ENCODING) as CacheEncoding<CacheCodes, Uint16Array>;
}

/** Fills every cache buffer with the K/V zero point (whole buffers when all heads share one, else the views). */
function fillZeroPoints(cache: QuantCacheManager, qenc: QuantEncodings): void {
  const zps = new Set([...qenc.kv.k, ...qenc.kv.v].map((e) => e.zeroPoint));
  const inp = cache.kvInputs();
  const outs = cache.kvOutputs();
  const pre = cache.dims.mode === "hybrid" ? cache.prefillOutputs() : undefined;
  if (zps.size === 1) {
    const zp = [...zps][0];
    const arrays = [...inp.kCaches, ...inp.vCaches, ...outs.kOut, ...outs.vOut, ...(pre ? [...pre.kOut, ...pre.vOut] : [])];
    for (const buf of new Set(arrays.map((a) => a.buffer))) {
      const Ctor = arrays[0].constructor as typeof Uint8Array | typeof Uint16Array;
      new Ctor(buf as ArrayBuffer).fill(zp);
    }
    return;
  }
  inp.kCaches.forEach((a, i) => a.fill(qenc.kv.k[i].zeroPoint));
  inp.vCaches.forEach((a, i) => a.fill(qenc.kv.v[i].zeroPoint));
}

export function createQuantizedBackend(init: QuantizedBackendInit): QuantizedBackend {
  const { model, qenc, kvSeqLen, prefillSeqLen } = init;
  if (prefillSeqLen !== undefined && !qenc.prefill) throw new Error("quantized backend: a prefill graph needs encodings calibrated with a prefill_seq_len");
  const fill = init.fillZeroPoint ?? true;
  const io: GraphEncoding<CacheCodes, Uint16Array, Uint16Array> = {
    ...cacheEncodingFor(qenc),
    logits: Uint16Array,
    logitsToFloat: (row) => dequantizeLogits(qenc, row),
    ...(fill ? { initCache: (cache: QuantCacheManager) => fillZeroPoints(cache, qenc) } : {}),
  };
  const executeKvSync: QuantizedBackend["executeKvSync"] = (inputs, outputs) => {
    if (kvSeqLen === undefined) throw new Error("quantized backend: built without a KV graph (kvSeqLen)");
    quantKvForward(model, qenc, kvSeqLen, inputs, outputs);
  };
  const executePrefillSync: QuantizedBackend["executePrefillSync"] = (inputs, outputs) => {
    if (prefillSeqLen === undefined) throw new Error("quantized backend: built without a prefill graph (prefillSeqLen)");
    quantPrefillForward(model, qenc, prefillSeqLen, inputs, outputs);
  };
  return {
    name: `quantized(${qenc.scheme})`,
    // The seed's --ptq flow runs the KV graph (kv) and the prefill graph once before it (hybrid).
    supportedModes: ["kv", "hybrid"],
    // The fake-quantized activations are not reported per tap.
    supportsTaps: false,
    // Device-code graphs have no fp32 tensor list (their element types are in `io`).
    graphs: {},
    io,
    executeKvSync,
    executePrefillSync,
    async executeKv(inputs, outputs) {
      executeKvSync(inputs, outputs);
    },
    async executePrefill(inputs, outputs) {
      executePrefillSync(inputs, outputs);
    },
    dispose() {},
  };
}
