// Owns choosing a checkpoint format by content (never by file name) and the one entry point `loadModel`:
// llama2.c .bin, PyTorch zip (.pt/.pth; llama2.c training or Meta layout), Hugging Face safetensors
// (a file, a directory, or a sharded index), with params.json or config.json, and the RoPE override.
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { configFromParams, validateConfig, type ModelConfig, type ParamsJson } from "../engine/config.js";
import type { Model } from "../engine/weights.js";
import { oneLine, UserError } from "../util/errors.js";
import { readUserFile } from "../util/files.js";
import { openFileSource, type ByteSource } from "./byte-source.js";
import { parseHfConfig } from "./hf-config.js";
import { checkLlama2cSize, llama2cBinFormat, readLlama2cHeader } from "./llama2c-bin.js";
import { parseParamsJson } from "./params-json.js";
import { readTorchCheckpoint } from "./pytorch.js";
import { isSafetensors, readSafetensors } from "./safetensors.js";
import { buildModel, detectLayout, shapeFacts } from "./state-dict.js";
import type { TensorSet } from "./tensors.js";
import type { LoadedModel } from "./types.js";
import { isZip } from "./zip.js";
import type { PickleValue } from "./pickle.js";

export interface LoadModelOptions {
  /** A checkpoint file, or a Hugging Face model directory. */
  checkpoint: string;
  /** params.json (Meta / llama2.c) or config.json (Hugging Face). */
  params?: string;
  /**
   * Llama-3 RoPE scaling factor: undefined keeps the file's setting (32 when params say use_scaled_rope);
   * 0 switches scaling off (the seed flow); any other value replaces the factor (8: later upstream exports).
   */
  ropeScaleFactor?: number;
  /** Load progress in stored bytes. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** Phi-3: apply the config's LongRoPE factors (transformers does; the Qualcomm flow ignores them, SPEC-2026 §2.2). */
  applyLongRope?: boolean;
  /** A worker thread making the weights' memory resident ahead of the loader (>= 64 MB); default: when huge pages are in use. */
  prefault?: boolean;
}

type ParsedParams = { kind: "params"; params: ParamsJson; path: string } | { kind: "hf"; config: ModelConfig; tie: boolean; path: string };

function readParams(path: string, applyLongRope?: boolean): ParsedParams {
  const text = new TextDecoder().decode(readUserFile(path, "params"));
  let probe: unknown;
  try {
    probe = JSON.parse(text);
  } catch {
    probe = undefined; // parseParamsJson reports it
  }
  if (probe && typeof probe === "object" && "hidden_size" in (probe as object)) {
    const hf = parseHfConfig(text, path, { applyLongRope });
    return { kind: "hf", config: hf.config, tie: hf.tieWordEmbeddings, path };
  }
  return { kind: "params", params: parseParamsJson(text, path), path };
}

/** Describes an unrecognised file for the error message. */
function describeUnknown(head: Uint8Array): string {
  if (head[0] === 0x80) return "a legacy (non-zip) pickle, which is not supported; re-save it with a current torch.save";
  if (head[0] === 0x7b) return "a JSON file, not a checkpoint (did you swap --checkpoint and --params?)";
  return "not a recognised checkpoint format (llama2.c .bin, PyTorch .pt/.pth, safetensors)";
}

function applyRopeOverride(c: ModelConfig, factor: number | undefined): ModelConfig {
  if (factor === undefined) return c;
  if (c.arch) throw new UserError(`--rope_scale_factor applies to Llama checkpoints only (this is a ${c.arch.modelType} model; its RoPE comes from config.json)`);
  if (!(factor >= 0) || !Number.isFinite(factor)) throw new UserError(`--rope_scale_factor ${factor}: expected a number >= 0`);
  if (factor === 0) return { ...c, ropeScaling: null };
  const base = c.ropeScaling ?? { factor, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 };
  return { ...c, ropeScaling: { ...base, factor } };
}

/** Config for a state dict: from --params, else llama2.c's model_args, checked against the tensor shapes. */
function configForTensors(tensors: TensorSet, layout: "meta" | "hf", path: string, params: ParsedParams | undefined, modelArgs?: Map<string, PickleValue>): ModelConfig {
  const facts = shapeFacts(tensors, layout);
  let config: ModelConfig;
  if (params?.kind === "hf") config = params.config;
  else if (params?.kind === "params") config = configFromParams(params.params, `params ${params.path}`, facts.vocabSize);
  else if (modelArgs) {
    const o: Record<string, unknown> = Object.fromEntries(modelArgs);
    config = configFromParams(parseParamsJson(JSON.stringify(o, (_k, v) => (typeof v === "bigint" ? Number(v) : v)), `${path} (model_args)`), `checkpoint ${path} (model_args)`, facts.vocabSize);
  } else
    throw new UserError(`checkpoint ${path}: holds no model parameters; pass --params (params.json for Meta checkpoints, config.json for Hugging Face)`);
  const src = params ? `params ${params.path}` : `checkpoint ${path} (model_args)`;
  const check = (what: string, fromParams: number, fromShapes: number | undefined) => {
    if (fromShapes !== undefined && fromParams !== fromShapes)
      throw new UserError(`${src}: ${what} = ${fromParams}, but the tensors in ${path} say ${fromShapes}`);
  };
  check("dim", config.dim, facts.dim);
  check("vocab_size", config.vocabSize, facts.vocabSize);
  check("n_layers", config.nLayers, facts.nLayers);
  check("FFN width (hidden_dim)", config.hiddenDim, facts.hiddenDim);
  check("n_kv_heads * head_dim", config.nKvHeads * config.headDim, facts.kvDim);
  return validateConfig(config, src);
}

/** Hugging Face directory: config.json plus model.safetensors or a sharded model.safetensors.index.json. */
function hfDirectoryFiles(dir: string): { weights: string[]; config?: string } {
  const config = existsSync(join(dir, "config.json")) ? join(dir, "config.json") : undefined;
  const single = join(dir, "model.safetensors");
  if (existsSync(single)) return { weights: [single], config };
  const index = join(dir, "model.safetensors.index.json");
  if (existsSync(index)) {
    let map: Record<string, string>;
    try {
      map = JSON.parse(new TextDecoder().decode(readUserFile(index, "index"))).weight_map;
      if (typeof map !== "object" || map === null) throw new Error("no weight_map");
    } catch (e) {
      throw new UserError(`index ${index}: ${oneLine((e as Error).message)}`); // V8 quotes the input, newlines included
    }
    const files = [...new Set(Object.values(map))];
    if (files.some((f) => typeof f !== "string" || f.includes("/") || f.includes("\\") || f.startsWith(".")))
      throw new UserError(`index ${index}: weight_map names files outside the model directory`);
    return { weights: files.map((f) => join(dir, f)), config };
  }
  throw new UserError(`checkpoint ${dir}: a directory without model.safetensors or model.safetensors.index.json`);
}

export function loadModel(o: LoadModelOptions): LoadedModel {
  const path = o.checkpoint;
  const params = o.params !== undefined ? readParams(o.params, o.applyLongRope) : undefined;
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // openFileSource / readUserFile report missing files
  }

  const sources: ByteSource[] = [];
  try {
    let model: Model;
    let format: string;
    if (isDir) {
      const files = hfDirectoryFiles(path);
      const p = params ?? (files.config ? readParams(files.config, o.applyLongRope) : undefined);
      const tensors: TensorSet = new Map();
      for (const f of files.weights) {
        const src = openFileSource(f, "checkpoint");
        sources.push(src);
        for (const [n, t] of readSafetensors(src, sources.length - 1)) {
          if (tensors.has(n)) throw new UserError(`checkpoint ${f}: tensor ${JSON.stringify(n)} also appears in another shard`);
          tensors.set(n, t);
        }
      }
      model = finish(tensors, path, p, undefined, o);
      format = "safetensors";
    } else {
      const src = openFileSource(path, "checkpoint");
      sources.push(src);
      const head = src.read(0, Math.min(64, src.size));
      if (isZip(head)) {
        const ck = readTorchCheckpoint(src);
        model = finish(ck.tensors, path, params, ck.modelArgs, o);
        format = "pytorch";
      } else if (isSafetensors(head, src.size)) {
        const sibling = join(dirname(path), "config.json");
        const p = params ?? (existsSync(sibling) ? readParams(sibling, o.applyLongRope) : undefined);
        model = finish(readSafetensors(src), path, p, undefined, o);
        format = "safetensors";
      } else if (llama2cBinFormat.detect(head, src.size)) {
        // The whole file into one SharedArrayBuffer, the weights views into it (28-byte header: aligned);
        // its size is checked against the header first, so a wrong file is never read whole.
        checkLlama2cSize(readLlama2cHeader(head, path), src.size, path);
        const bytes = new Uint8Array(new SharedArrayBuffer(src.size));
        src.readInto(0, bytes);
        const loaded = llama2cBinFormat.load(bytes, path, {
          params: params?.kind === "params" ? params.params : undefined,
          paramsPath: params?.path,
        });
        if (params?.kind === "hf") throw new UserError(`params ${params.path}: a Hugging Face config.json cannot describe a llama2.c .bin checkpoint`);
        model = loaded.model;
        format = loaded.format;
      } else {
        throw new UserError(`checkpoint ${path}: ${describeUnknown(head)}`);
      }
    }
    model = { ...model, config: applyRopeOverride(model.config, o.ropeScaleFactor) };
    return { model, format, path };
  } finally {
    for (const s of sources) s.close();
  }
}

function finish(tensors0: TensorSet, path: string, params: ParsedParams | undefined, modelArgs: Map<string, PickleValue> | undefined, o: LoadModelOptions): Model {
  const { layout, tensors } = detectLayout(tensors0, path);
  const config = configForTensors(tensors, layout, path, params, modelArgs);
  if (config.arch && layout !== "hf") throw new UserError(`checkpoint ${path}: a ${config.arch.modelType} config needs the Hugging Face tensor names (model.embed_tokens.weight, ...)`);
  const tieWordEmbeddings = params?.kind === "hf" && config.arch ? params.tie : undefined;
  return buildModel(tensors, layout, config, path, { onProgress: o.onProgress, prefault: o.prefault, tieWordEmbeddings });
}
