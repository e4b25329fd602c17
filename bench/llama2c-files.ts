// Owns the files the llama2.c anchor of `npm run bench` needs: a model written as a llama2.c legacy (version 0)
// `.bin` (run.c's memory map, which src/loaders/llama2c-bin.ts reads too), a llama2.c `tokenizer.bin` with a
// synthetic vocabulary of any size (run.c reads exactly vocab_size records), and parsing run.c's speed line.
import { closeSync, openSync, writeSync } from "node:fs";
import type { Model } from "../src/engine/weights.js";
import { LITTLE_ENDIAN } from "../src/util/binary.js";

/**
 * Writes `model` as a llama2.c v0 checkpoint: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size —
 * negative when the classifier is stored separately —, seq_len), then fp32 tensors in run.c's order: embedding,
 * rms_att[all layers], wq, wk, wv, wo, rms_ffn, w1, w2, w3 (each for all layers), rms_final, the two RoPE tables
 * (seq_len * head_dim / 2 floats each; run.c skips them, written as zeros), then wcls when not tied.
 */
export function writeLlama2cBin(path: string, model: Model, seqLen: number): number {
  if (!LITTLE_ENDIAN) throw new Error("writeLlama2cBin: fp32 arrays are written as native bytes; big-endian hosts are not supported");
  const c = model.config;
  const w = model.weights;
  const tied = w.output === w.tokEmbeddings;
  const header = Int32Array.of(c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, tied ? c.vocabSize : -c.vocabSize, seqLen);
  const fd = openSync(path, "w");
  let written = 0;
  const put = (a: Int32Array | Float32Array) => {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, Math.min(bytes.length - off, 1 << 30));
    written += bytes.length;
  };
  try {
    put(header);
    put(w.tokEmbeddings);
    for (const k of ["attnNorm", "wq", "wk", "wv", "wo", "ffnNorm", "w1", "w2", "w3"] as const) for (const l of w.layers) put(l[k]);
    put(w.norm);
    put(new Float32Array(seqLen * c.headDim)); // freq_cis_real and freq_cis_imag
    if (!tied) put(w.output);
  } finally {
    closeSync(fd);
  }
  return written;
}

/**
 * A llama2.c tokenizer.bin of exactly `vocabSize` records: `<unk>`, `\n<s>\n`, `\n</s>\n` (ids 0-2 as in
 * Llama 2's), the 256 byte tokens `<0xHH>` (ids 3-258, run.c's byte fallback), the 95 printable ASCII characters
 * (so run.c finds the " " dummy prefix and every character of an ASCII prompt), then distinct filler pieces.
 * Scores fall with the id, so merges are well defined. Layout: uint32 max_token_length, then per record
 * float32 score, int32 length, the piece's bytes.
 */
export function llama2cTokenizerBytes(vocabSize: number): Uint8Array {
  const pieces: string[] = ["<unk>", "\n<s>\n", "\n</s>\n"];
  for (let b = 0; b < 256; b++) pieces.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
  for (let ch = 0x20; ch < 0x7f; ch++) pieces.push(String.fromCharCode(ch));
  if (vocabSize < pieces.length) throw new RangeError(`llama2cTokenizerBytes: vocab_size ${vocabSize} < ${pieces.length} fixed pieces`);
  for (let i = 0; pieces.length < vocabSize; i++) pieces.push(`~t${i.toString(36)}`); // '~' is in no fixed multi-char piece
  const enc = new TextEncoder();
  const bytes = pieces.map((p) => enc.encode(p));
  const maxLen = Math.max(...bytes.map((b) => b.length));
  const out = new Uint8Array(4 + bytes.reduce((s, b) => s + 8 + b.length, 0));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, maxLen, true);
  let p = 4;
  bytes.forEach((b, id) => {
    dv.setFloat32(p, -id, true);
    dv.setInt32(p + 4, b.length, true);
    out.set(b, p + 8);
    p += 8 + b.length;
  });
  return out;
}

/** The tok/s figure of run.c's "achieved tok/s: X" line (stderr), or undefined when absent. */
export function parseRunCTokPerS(output: string): number | undefined {
  const m = /achieved tok\/s:\s*([0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)/i.exec(output);
  if (!m) return undefined;
  const x = Number(m[1]);
  return Number.isFinite(x) && x > 0 ? x : undefined;
}
