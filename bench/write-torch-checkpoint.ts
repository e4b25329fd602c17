// Owns the load benchmark's synthetic checkpoint: a random-weight model written to disk in the layout Meta ships
// Llama 3.2 in (`consolidated.00.pth` + `params.json`), as torch.save (PyTorch 2.x, zip format) would write it, with
// bf16 storages. Tensors are generated and written in fixed-size chunks, so writing a multi-GB file needs only a few
// MB of memory. Built on the project's own zip writer and pickler (src/loaders/zip-writer.ts, pickle-writer.ts).
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { configFromParams, type ModelConfig, type ParamsJson } from "../src/engine/config.js";
import { weightShapes } from "../src/engine/weights.js";
import { picklePlain, torchOrderedDict, torchTensor, type WritableValue } from "../src/loaders/pickle-writer.js";
import { createZipWriter } from "../src/loaders/zip-writer.js";
import { LITTLE_ENDIAN } from "../src/util/binary.js";

/** params.json keys in the order Meta writes them for Llama 3.2, and which of them Python holds as floats. */
export interface MetaParams {
  dim: number;
  n_layers: number;
  n_heads: number;
  n_kv_heads: number;
  vocab_size: number;
  ffn_dim_multiplier: number;
  multiple_of: number;
  norm_eps: number;
  rope_theta: number;
  use_scaled_rope: boolean;
}
const PARAM_KEYS: (keyof MetaParams)[] = [
  "dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "ffn_dim_multiplier", "multiple_of", "norm_eps", "rope_theta", "use_scaled_rope",
];
const FLOAT_KEYS = new Set<keyof MetaParams>(["ffn_dim_multiplier", "norm_eps", "rope_theta"]);

/** Meta's Llama-3.2-1B params.json (dim 2048, 16 layers, 32/8 heads, FFN 8192, tied LM head): 1.24 B parameters. */
export const LLAMA32_1B_PARAMS: MetaParams = {
  dim: 2048, n_layers: 16, n_heads: 32, n_kv_heads: 8, vocab_size: 128256,
  ffn_dim_multiplier: 1.5, multiple_of: 256, norm_eps: 1e-5, rope_theta: 500000, use_scaled_rope: true,
};

/** Meta's Llama-3.2-3B params.json (dim 3072, 28 layers, 24/8 heads, FFN 8192, tied LM head): 3.21 B parameters. */
export const LLAMA32_3B_PARAMS: MetaParams = {
  dim: 3072, n_layers: 28, n_heads: 24, n_kv_heads: 8, vocab_size: 128256,
  ffn_dim_multiplier: 1.0, multiple_of: 256, norm_eps: 1e-5, rope_theta: 500000, use_scaled_rope: true,
};

/** The Llama 3.2 architecture (GQA 4:1, FFN multiplier 1.5, scaled RoPE, tied head) at a few MB: 4.1 M parameters. */
export const LLAMA32_SMALL_PARAMS: MetaParams = {
  dim: 256, n_layers: 2, n_heads: 8, n_kv_heads: 2, vocab_size: 8192,
  ffn_dim_multiplier: 1.5, multiple_of: 256, norm_eps: 1e-5, rope_theta: 500000, use_scaled_rope: true,
};

/** A float as Python's repr prints it (json.dumps uses repr): 500000.0, 1.5, 1e-05, 1e+16. */
export function pythonFloat(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`params.json: ${x} is not a finite number`);
  const [mant, expStr] = x.toExponential().split("e");
  const exp = Number(expStr);
  if (exp < -4 || exp >= 16) return `${mant}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  const s = String(x); // shortest round-trip digits, fixed notation in this exponent range
  return Number.isInteger(x) ? `${s}.0` : s;
}

/** params.json text byte-identical to Meta's: one line, Python json.dumps spacing, floats as Python prints them. */
export function metaParamsJson(p: MetaParams): string {
  const parts = PARAM_KEYS.map((k) => {
    const v = p[k];
    const text = typeof v === "boolean" ? String(v) : FLOAT_KEYS.has(k) ? pythonFloat(v) : String(v);
    return `"${k}": ${text}`;
  });
  return `{${parts.join(", ")}}`;
}

/** The engine's config for these params (what loadModel should derive from the written params.json). */
export function configOfMetaParams(p: MetaParams): ModelConfig {
  return configFromParams(p as unknown as ParamsJson, "meta params");
}

export interface TensorPlan {
  name: string;
  shape: number[];
  numel: number;
  /** Storage key: archive member `consolidated.00/data/<key>`; keys count up in state-dict order. */
  key: string;
  /** Values are centre ± amp, uniform. */
  center: number;
  amp: number;
}

/** Meta's state-dict order for a Llama 3.2 checkpoint; no `output.weight` (the LM head is tied to the embedding). */
export function metaTensorPlan(c: ModelConfig): TensorPlan[] {
  const shapes = weightShapes(c);
  const plan: TensorPlan[] = [];
  const add = (name: string, shape: number[], center: number, amp: number) =>
    plan.push({ name, shape, numel: shape.reduce((a, b) => a * b, 1), key: String(plan.length), center, amp });
  const MATRIX = 0.02;
  const NORM = 0.05;
  add("tok_embeddings.weight", shapes.tokEmbeddings, 0, MATRIX);
  for (let l = 0; l < c.nLayers; l++) {
    add(`layers.${l}.attention.wq.weight`, shapes.wq, 0, MATRIX);
    add(`layers.${l}.attention.wk.weight`, shapes.wk, 0, MATRIX);
    add(`layers.${l}.attention.wv.weight`, shapes.wv, 0, MATRIX);
    add(`layers.${l}.attention.wo.weight`, shapes.wo, 0, MATRIX);
    add(`layers.${l}.feed_forward.w1.weight`, shapes.w1, 0, MATRIX);
    add(`layers.${l}.feed_forward.w2.weight`, shapes.w2, 0, MATRIX);
    add(`layers.${l}.feed_forward.w3.weight`, shapes.w3, 0, MATRIX);
    add(`layers.${l}.attention_norm.weight`, shapes.attnNorm, 1, NORM);
    add(`layers.${l}.ffn_norm.weight`, shapes.ffnNorm, 1, NORM);
  }
  add("norm.weight", shapes.norm, 1, NORM);
  return plan;
}

const BF16_BYTES = 2;
const ARCHIVE_PREFIX = "consolidated.00/";

/** Stored (bf16) bytes of all tensors of a Meta checkpoint with these params: the bulk of the file. */
export function metaStoredBytes(p: MetaParams): number {
  return metaTensorPlan(configOfMetaParams(p)).reduce((s, t) => s + t.numel * BF16_BYTES, 0);
}

/*
 * Random bf16 values: mulberry32 (one add, two multiplies, three xor-shifts per 32-bit draw, all int32 in V8). Each
 * draw gives two 16-bit uniforms, i.e. two values; bf16 keeps only 8 significant bits, so 16 bits of randomness per
 * value is plenty. fp32 -> bf16 rounds to nearest even (the values are small and finite, so no NaN/overflow cases).
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const toBf16 = (x: number): number => {
  f32[0] = x;
  const u = u32[0];
  return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
};

/** Fills out[0..n) with bf16 bit patterns of centre ± amp (uniform); `rng` holds the mulberry32 state. */
function fillBf16(out: Uint16Array, n: number, rng: Int32Array, center: number, amp: number): void {
  const k = (2 * amp) / 65536;
  const base = center - amp;
  let s = rng[0];
  for (let i = 0; i < n; i += 2) {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    t = (t ^ (t >>> 14)) >>> 0;
    out[i] = toBf16(base + (t & 0xffff) * k);
    if (i + 1 < n) out[i + 1] = toBf16(base + (t >>> 16) * k);
  }
  rng[0] = s;
}

export interface WriteCheckpointOptions {
  /** Bytes generated per chunk (default 8 MiB); the writer holds one chunk buffer, reused for every chunk. */
  chunkBytes?: number;
  /** Called after each tensor with the tensor bytes written so far and in total. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

export interface WrittenCheckpoint {
  dir: string;
  /** `<dir>/consolidated.00.pth`. */
  checkpoint: string;
  /** `<dir>/params.json`; "" for a llama2.c checkpoint, which carries its config (`model_args`). */
  params: string;
  config: ModelConfig;
  tensors: number;
  /** Sum of the bf16 storages. */
  storedBytes: number;
  /** Size of consolidated.00.pth (storages + pickle + zip records + alignment padding). */
  fileBytes: number;
  /** fp32 size of the distinct weights (2x storedBytes: every storage is bf16, none shared). */
  fp32Bytes: number;
}

/**
 * Writes a random-weight Llama checkpoint of shape `params` into `dir` (created if needed) the way Meta ships
 * Llama 3.2: `params.json` and `consolidated.00.pth`, a torch.save zip (PyTorch 2.x style, members under
 * `consolidated.00/`, data aligned to 64 bytes, ZIP64 past 4 GiB) whose data.pkl is an OrderedDict of bf16
 * tensors in Meta's order. Storage members come in the order torch.save writes them (sorted by key as strings:
 * 0, 1, 10, 100, ...), so the loader reads the file out of order as it would a real one. Values: matrices and
 * the embedding uniform ±0.02, RMSNorm weights 1 ± 0.05, from one mulberry32 stream seeded by `seed`, drawn in
 * archive order, so the file is a pure function of (params, seed).
 */
export function writeRandomMetaCheckpoint(dir: string, params: MetaParams, seed: number, opts: WriteCheckpointOptions = {}): WrittenCheckpoint {
  if (!LITTLE_ENDIAN) throw new Error("writeRandomMetaCheckpoint: bf16 chunks are built as native Uint16 values; big-endian hosts are not supported");
  const chunkBytes = opts.chunkBytes ?? 8 * 1024 * 1024;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 2 || chunkBytes % 2 !== 0) throw new RangeError(`chunkBytes must be an even integer >= 2, got ${chunkBytes}`);
  const config = configOfMetaParams(params);
  const plan = metaTensorPlan(config);
  const storedBytes = plan.reduce((s, t) => s + t.numel * BF16_BYTES, 0);

  mkdirSync(dir, { recursive: true });
  const paramsPath = join(dir, "params.json");
  writeFileSync(paramsPath, metaParamsJson(params));

  const stateDict = new Map<string, WritableValue>();
  for (const t of plan)
    stateDict.set(t.name, torchTensor({ storageType: "torch.BFloat16Storage", key: t.key, storageNumel: t.numel, sizes: t.shape }));
  const pkl = picklePlain(torchOrderedDict(stateDict));

  const checkpoint = join(dir, "consolidated.00.pth");
  const zip = createZipWriter(checkpoint);
  const ascii = (s: string) => new TextEncoder().encode(s);
  zip.addEntry(`${ARCHIVE_PREFIX}data.pkl`, pkl);
  zip.addEntry(`${ARCHIVE_PREFIX}.format_version`, ascii("1"));
  zip.addEntry(`${ARCHIVE_PREFIX}.storage_alignment`, ascii("64"));
  zip.addEntry(`${ARCHIVE_PREFIX}byteorder`, ascii("little"));

  const buf = new Uint8Array(Math.min(chunkBytes, Math.max(2, ...plan.map((t) => t.numel * BF16_BYTES))));
  const buf16 = new Uint16Array(buf.buffer, 0, buf.length / 2);
  const rng = Int32Array.of(seed | 0);
  function* chunks(t: TensorPlan): Generator<Uint8Array> {
    for (let done = 0; done < t.numel; ) {
      const n = Math.min(buf16.length, t.numel - done);
      fillBf16(buf16, n, rng, t.center, t.amp);
      yield n === buf16.length ? buf : buf.subarray(0, n * BF16_BYTES);
      done += n;
    }
  }
  let written = 0;
  for (const t of [...plan].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    zip.addEntryChunks(`${ARCHIVE_PREFIX}data/${t.key}`, t.numel * BF16_BYTES, chunks(t));
    written += t.numel * BF16_BYTES;
    opts.onProgress?.(written, storedBytes);
  }
  zip.addEntry(`${ARCHIVE_PREFIX}version`, ascii("3\n"));
  // torch.save's writer ends with a serialization id (decimal digits); any fixed string does for the loader.
  zip.addEntry(`${ARCHIVE_PREFIX}.data/serialization_id`, ascii(String(seed >>> 0).padStart(40, "0")));
  zip.close();

  return {
    dir,
    checkpoint,
    params: paramsPath,
    config,
    tensors: plan.length,
    storedBytes,
    fileBytes: statSync(checkpoint).size,
    fp32Bytes: storedBytes * 2,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// llama2.c training checkpoints (stories15M.pt / stories110M.pt style): fp32 storages.

/** llama2.c's ModelArgs as train.py saves them in `model_args` (what loadModel derives the config from). */
export interface Llama2cModelArgs {
  dim: number;
  n_layers: number;
  n_heads: number;
  n_kv_heads: number;
  vocab_size: number;
  multiple_of: number;
  max_seq_len: number;
}

/** stories110M's model_args (dim 768, 12 layers, 12 heads, FFN 2048 from multiple_of 32, vocab 32000). */
export const STORIES110M_ARGS: Llama2cModelArgs = { dim: 768, n_layers: 12, n_heads: 12, n_kv_heads: 12, vocab_size: 32000, multiple_of: 32, max_seq_len: 1024 };

/** The engine's config for llama2.c model_args (what loadModel derives from a training checkpoint). */
export function configOfLlama2cArgs(args: Llama2cModelArgs): ModelConfig {
  return configFromParams({ ...args } as unknown as ParamsJson, "llama2.c model_args");
}

/** Fills out[0..n) with fp32 centre ± amp (uniform), one mulberry32 draw per value. */
function fillF32(out: Float32Array, n: number, rng: Int32Array, center: number, amp: number): void {
  const k = (2 * amp) / 4294967296;
  const base = center - amp;
  let s = rng[0];
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = base + ((t ^ (t >>> 14)) >>> 0) * k;
  }
  rng[0] = s;
}

/**
 * Writes `<dir>/<name>.pt` as llama2.c's train.py saves a checkpoint (PyTorch 2.x zip, members under `<name>/`):
 * `{"model": OrderedDict(state dict), "model_args": {...}, "iter_num": 0}` with fp32 (FloatStorage) tensors in
 * llama2.c's module order — `tok_embeddings`, per layer `attention.wq/wk/wv/wo`, `feed_forward.w1/w2/w3`,
 * `attention_norm`, `ffn_norm`, then `norm` and `output` — where `output.weight` is the embedding's storage (weight
 * tying saves one storage under both keys). No optimizer state (the loader never reads it). Values as in
 * writeRandomMetaCheckpoint, fp32.
 */
export function writeRandomLlama2cCheckpoint(dir: string, name: string, args: Llama2cModelArgs, seed: number, opts: WriteCheckpointOptions = {}): WrittenCheckpoint {
  if (!LITTLE_ENDIAN) throw new Error("writeRandomLlama2cCheckpoint: fp32 chunks are built as native values; big-endian hosts are not supported");
  const chunkBytes = opts.chunkBytes ?? 8 * 1024 * 1024;
  const config = configOfLlama2cArgs(args);
  const shapes = weightShapes(config);
  const plan: TensorPlan[] = [];
  const add = (n: string, shape: number[], center: number, amp: number) =>
    plan.push({ name: n, shape, numel: shape.reduce((a, b) => a * b, 1), key: String(plan.length), center, amp });
  add("tok_embeddings.weight", shapes.tokEmbeddings, 0, 0.02);
  for (let l = 0; l < config.nLayers; l++) {
    for (const k of ["wq", "wk", "wv", "wo"] as const) add(`layers.${l}.attention.${k}.weight`, shapes[k], 0, 0.02);
    for (const k of ["w1", "w2", "w3"] as const) add(`layers.${l}.feed_forward.${k}.weight`, shapes[k], 0, 0.02);
    add(`layers.${l}.attention_norm.weight`, shapes.attnNorm, 1, 0.05);
    add(`layers.${l}.ffn_norm.weight`, shapes.ffnNorm, 1, 0.05);
  }
  add("norm.weight", shapes.norm, 1, 0.05);
  const storedBytes = plan.reduce((s, t) => s + 4 * t.numel, 0);

  const stateDict = new Map<string, WritableValue>();
  for (const t of plan) stateDict.set(t.name, torchTensor({ storageType: "torch.FloatStorage", key: t.key, storageNumel: t.numel, sizes: t.shape }));
  stateDict.set("output.weight", stateDict.get("tok_embeddings.weight")!);
  const top = new Map<string, WritableValue>([
    ["model", torchOrderedDict(stateDict)],
    ["model_args", new Map<string, WritableValue>([...Object.entries(args), ["dropout", { $float: 0 }]])],
    ["iter_num", 0],
  ]);

  mkdirSync(dir, { recursive: true });
  const checkpoint = join(dir, `${name}.pt`);
  const prefix = `${name}/`;
  const zip = createZipWriter(checkpoint);
  const ascii = (s: string) => new TextEncoder().encode(s);
  zip.addEntry(`${prefix}data.pkl`, picklePlain(top));
  zip.addEntry(`${prefix}.format_version`, ascii("1"));
  zip.addEntry(`${prefix}.storage_alignment`, ascii("64"));
  zip.addEntry(`${prefix}byteorder`, ascii("little"));
  const buf = new Float32Array(Math.max(1, Math.floor(chunkBytes / 4)));
  const bytes = new Uint8Array(buf.buffer);
  const rng = Int32Array.of(seed | 0);
  function* chunks(t: TensorPlan): Generator<Uint8Array> {
    for (let done = 0; done < t.numel; ) {
      const n = Math.min(buf.length, t.numel - done);
      fillF32(buf, n, rng, t.center, t.amp);
      yield bytes.subarray(0, 4 * n);
      done += n;
    }
  }
  let written = 0;
  for (const t of [...plan].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    zip.addEntryChunks(`${prefix}data/${t.key}`, 4 * t.numel, chunks(t));
    written += 4 * t.numel;
    opts.onProgress?.(written, storedBytes);
  }
  zip.addEntry(`${prefix}version`, ascii("3\n"));
  zip.addEntry(`${prefix}.data/serialization_id`, ascii(String(seed >>> 0).padStart(40, "0")));
  zip.close();
  return { dir, checkpoint, params: "", config, tensors: plan.length, storedBytes, fileBytes: statSync(checkpoint).size, fp32Bytes: storedBytes };
}
