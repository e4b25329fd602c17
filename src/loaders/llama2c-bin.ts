// Owns the llama2.c legacy (version 0, headerless) `.bin` checkpoint: 7 int32 config values, then fp32
// weights in run.c's order; a negative vocab size means a separate classifier stored at the end; the two
// RoPE tables in between (freq_cis_real/imag, seq_len*hd/2 each) are skipped, as run.c skips them.
// Zero copy: the weights are Float32Array views into the file's bytes when those bytes are a SharedArrayBuffer
// and the data after the 28-byte header is 4-byte aligned (loadModel reads the file into one SharedArrayBuffer,
// so it always is); otherwise the bytes are first copied once into a fresh SharedArrayBuffer (see tensors.ts).
import { LITTLE_ENDIAN } from "../util/binary.js";
import { configFromParams, validateConfig, type ModelConfig } from "../engine/config.js";
import { checkWeights, type LayerWeights, type ModelWeights } from "../engine/weights.js";
import { UserError } from "../util/errors.js";
import { firstNonFinite } from "./dtype.js";
import type { CheckpointFormat, LoadOptions, LoadedModel } from "./types.js";

const HEADER_BYTES = 28;
/** "ak42" little-endian: the magic of llama2.c's later export versions (v1 fp32, v2 int8). */
const AK42_MAGIC = 0x616b3432;

export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  /** Absolute value of the stored vocab size. */
  vocabSize: number;
  seqLen: number;
  sharedClassifier: boolean;
}

export function readLlama2cHeader(bytes: Uint8Array, path: string): Llama2cHeader {
  if (bytes.length < HEADER_BYTES) throw new UserError(`checkpoint ${path}: ${bytes.length} bytes, too short for a llama2.c header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  if (dv.getUint32(0, true) === AK42_MAGIC)
    throw new UserError(`checkpoint ${path}: llama2.c export version ${dv.getInt32(4, true)} ("ak42" header) is not supported; use the legacy (version 0) export`);
  const v = Array.from({ length: 7 }, (_, i) => dv.getInt32(i * 4, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocab, seqLen] = v;
  const names = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"];
  v.forEach((x, i) => {
    const ok = i === 5 ? x !== 0 && Math.abs(x) < 1 << 24 : x > 0 && x < 1 << 20;
    if (!ok) throw new UserError(`checkpoint ${path}: header field ${names[i]} = ${x} is not plausible; is this a llama2.c .bin?`);
  });
  if (dim % nHeads !== 0 || nHeads % nKvHeads !== 0 || (dim / nHeads) % 2 !== 0)
    throw new UserError(`checkpoint ${path}: inconsistent header (dim ${dim}, n_heads ${nHeads}, n_kv_heads ${nKvHeads})`);
  return { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(vocab), seqLen, sharedClassifier: vocab > 0 };
}

/** Number of fp32 values the file must hold after the header, per run.c's memory map. */
export function llama2cFloatCount(h: Llama2cHeader): number {
  const hd = h.dim / h.nHeads;
  const kvDim = h.nKvHeads * hd;
  const perLayer =
    h.dim + // rms_att
    h.dim * h.dim + // wq
    2 * kvDim * h.dim + // wk, wv
    h.dim * h.dim + // wo
    h.dim + // rms_ffn
    3 * h.hiddenDim * h.dim; // w1, w2, w3
  return h.vocabSize * h.dim + h.nLayers * perLayer + h.dim + h.seqLen * hd + (h.sharedClassifier ? 0 : h.vocabSize * h.dim);
}

function configFromHeader(h: Llama2cHeader, path: string, opts: LoadOptions): ModelConfig {
  const base: ModelConfig = {
    dim: h.dim,
    nLayers: h.nLayers,
    nHeads: h.nHeads,
    nKvHeads: h.nKvHeads,
    vocabSize: h.vocabSize,
    hiddenDim: h.hiddenDim,
    headDim: h.dim / h.nHeads,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: null,
    maxSeqLen: h.seqLen,
  };
  if (!opts.params) return validateConfig(base, `checkpoint ${path}`);
  // params.json adds what the .bin header cannot hold (eps, theta, scaling) and must agree with the rest.
  const pp = opts.paramsPath ?? "params.json";
  const fromParams = configFromParams(opts.params, `params ${pp}`, h.vocabSize);
  for (const k of ["dim", "nLayers", "nHeads", "nKvHeads", "vocabSize", "hiddenDim"] as const)
    if (fromParams[k] !== base[k])
      throw new UserError(`params ${pp}: ${k} = ${fromParams[k]} does not match checkpoint ${path} (${base[k]})`);
  return validateConfig({ ...base, normEps: fromParams.normEps, ropeTheta: fromParams.ropeTheta, ropeScaling: fromParams.ropeScaling }, `checkpoint ${path}`);
}

/** Throws unless a file of `size` bytes is exactly what header `h` describes (checked before reading the file). */
export function checkLlama2cSize(h: Llama2cHeader, size: number, path: string): void {
  const want = HEADER_BYTES + 4 * llama2cFloatCount(h);
  if (size !== want)
    throw new UserError(
      `checkpoint ${path}: ${size} bytes, but its header (dim ${h.dim}, ${h.nLayers} layers, vocab ${h.vocabSize}, ` +
        `${h.sharedClassifier ? "shared" : "separate"} classifier) needs ${want}; truncated or not a llama2.c v0 .bin`,
    );
}

/**
 * The fp32 values after the header as one SharedArrayBuffer-backed array: a view into `bytes` when they are
 * shared memory with the data 4-byte aligned on a little-endian machine, else a one-time copy.
 */
export function llama2cWeightFloats(bytes: Uint8Array, floats: number): Float32Array {
  const at = bytes.byteOffset + HEADER_BYTES;
  if (LITTLE_ENDIAN && bytes.buffer instanceof SharedArrayBuffer && at % 4 === 0) return new Float32Array(bytes.buffer, at, floats);
  const out = new Float32Array(new SharedArrayBuffer(4 * floats));
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes.subarray(HEADER_BYTES, HEADER_BYTES + 4 * floats));
  } else {
    const dv = new DataView(bytes.buffer, at, 4 * floats);
    for (let i = 0; i < floats; i++) out[i] = dv.getFloat32(4 * i, true);
  }
  return out;
}

export function loadLlama2cBin(bytes: Uint8Array, path: string, opts: LoadOptions = {}): LoadedModel {
  const h = readLlama2cHeader(bytes, path);
  const floats = llama2cFloatCount(h);
  checkLlama2cSize(h, bytes.length, path);
  const config = configFromHeader(h, path, opts);
  const all = llama2cWeightFloats(bytes, floats);
  let p = 0;
  const take = (n: number): Float32Array => {
    const a = all.subarray(p, p + n);
    p += n;
    return a;
  };
  const { dim, hiddenDim, nLayers, headDim } = config;
  const kvDim = config.nKvHeads * headDim;
  const tokEmbeddings = take(config.vocabSize * dim);
  const perLayer = (n: number) => Array.from({ length: nLayers }, () => take(n));
  const rmsAtt = perLayer(dim);
  const wq = perLayer(dim * dim);
  const wk = perLayer(kvDim * dim);
  const wv = perLayer(kvDim * dim);
  const wo = perLayer(dim * dim);
  const rmsFfn = perLayer(dim);
  const w1 = perLayer(hiddenDim * dim);
  const w2 = perLayer(dim * hiddenDim);
  const w3 = perLayer(hiddenDim * dim);
  const norm = take(dim);
  take(h.seqLen * headDim); // freq_cis_real and freq_cis_imag (seq_len * hd/2 each): unused, as in run.c
  const output = h.sharedClassifier ? tokEmbeddings : take(config.vocabSize * dim);
  const layers: LayerWeights[] = Array.from({ length: nLayers }, (_, l) => ({
    attnNorm: rmsAtt[l], wq: wq[l], wk: wk[l], wv: wv[l], wo: wo[l], ffnNorm: rmsFfn[l], w1: w1[l], w2: w2[l], w3: w3[l],
  }));
  const weights: ModelWeights = { tokEmbeddings, layers, norm, output };
  checkWeights(config, weights);
  const bad = firstNonFinite(all);
  if (bad >= 0) throw new UserError(`checkpoint ${path}: weight ${bad} is not finite (${all[bad]}); corrupt file?`);
  return { model: { config, weights }, format: "llama2c-bin-v0", path };
}

export const llama2cBinFormat: CheckpointFormat = {
  name: "llama2c-bin-v0",
  // No magic: a plausible 7-int header is the only signature (the size is checked by load).
  detect(head) {
    try {
      readLlama2cHeader(head, "");
      return true;
    } catch (e) {
      // An "ak42" header is a llama2.c file too: claim it so load() reports the unsupported version.
      return head.length >= 4 && new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true) === AK42_MAGIC;
    }
  },
  load: loadLlama2cBin,
};
