// Owns writing the current flow's encodings as an AIMET 1.0.0 file (`--dump_encodings`), the layout
// src/quant/encodings-formats.ts reads (AIMET's encoding spec §5; `version` "1.0.0", lists of entries):
// - activation_encodings: one PER_TENSOR INT entry per calibrated activation, named as in
//   src/quant/current/encodings.ts (module paths: `layers.0.attention.k_cache`, `output.conv` = the logits, ...):
//   { name, dtype: "INT", enc_type: "PER_TENSOR", bw, is_sym, scale: [s], offset: [-zp] } (QNN's offset: the
//   value is s·(q + offset) on the unsigned code; uint8 symmetric K/V: offset -128);
// - param_encodings: conv weights `<conv path>.weight` — PER_CHANNEL { bw 4 | 8, is_sym, scale: s_c per output
//   channel, offset: -2^(bw-1) } (AIMET's symmetric offsets on the unsigned code), or LPBQ { bw 8, compressed_bw 4,
//   block_size, scale: S_c per channel, offset: -128, per_block_int_scale: m_cb channel-major } — AIMET's LPBQ
//   convention (bw = the decompressed width, code·m fits int8; compressed_bw = the 4-bit codes), so the effective
//   scale of block b of channel c is m_cb·S_c as on the device; RMSNorm weights and the embedding table
//   PER_TENSOR with their 16-bit (or 8-bit) affine encodings.
// Scales are fp32 values written as JavaScript prints them (shortest round trip of the double, exact).
import type { QuantEncoding } from "../affine.js";
import type { CurrentEncodings } from "./encodings.js";
import { EMBEDDING_NAME, encodingOf } from "./encodings.js";

type Entry = Record<string, unknown>;

const activation = (name: string, e: QuantEncoding): Entry => ({
  name,
  dtype: "INT",
  enc_type: "PER_TENSOR",
  bw: e.bitwidth,
  is_sym: e.symmetric,
  scale: [e.scale],
  offset: [e.offset + 0],
});

/** The AIMET 1.0.0 document of a calibration. */
export function currentEncodingsDocument(enc: CurrentEncodings): { version: "1.0.0"; activation_encodings: Entry[]; param_encodings: Entry[] } {
  const activations = [...enc.activations].map(([name, e]) => activation(name, e));
  const params: Entry[] = [activation(`${EMBEDDING_NAME}.weight`, encodingOf(enc, EMBEDDING_NAME))];
  for (const q of enc.convs) {
    const w = q.weights;
    const name = `${q.conv.path}.weight`;
    if (w.spec.kind === "per_channel") {
      const bw = w.spec.bits;
      params.push({
        name,
        dtype: "INT",
        enc_type: "PER_CHANNEL",
        bw,
        is_sym: true,
        scale: Array.from(w.channelScales),
        offset: Array.from(w.channelScales, () => -(2 ** (bw - 1))),
      });
    } else {
      params.push({
        name,
        dtype: "INT",
        enc_type: "LPBQ",
        bw: 8,
        compressed_bw: 4,
        block_size: w.spec.blockSize,
        is_sym: true,
        scale: Array.from(w.channelScales),
        offset: Array.from(w.channelScales, () => -128),
        per_block_int_scale: Array.from(w.multipliers!),
      });
    }
  }
  for (const n of enc.norms) params.push(activation(n.name, n.encoding));
  return { version: "1.0.0", activation_encodings: activations, param_encodings: params };
}

/** The file's text: one entry per line inside the two lists (readable, diffable). */
export function serializeCurrentEncodings(enc: CurrentEncodings): string {
  const doc = currentEncodingsDocument(enc);
  const list = (xs: Entry[]) => (xs.length === 0 ? "[]" : `[\n${xs.map((x) => `    ${JSON.stringify(x)}`).join(",\n")}\n  ]`);
  return `{\n  "version": "1.0.0",\n  "activation_encodings": ${list(doc.activation_encodings)},\n  "param_encodings": ${list(doc.param_encodings)}\n}\n`;
}
