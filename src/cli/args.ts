// Owns the command line: the flags (mirroring ExecuTorch's llama.py), their defaults and validation,
// turning argv into a RunArgs record or a UserError that names the bad flag.
import { parseArgs } from "node:util";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { UserError } from "../util/errors.js";
import type { EvalMode } from "../kvcache/types.js";
import type { KvUpdater } from "../runner/generate.js";
import { LLAMA_MODELS, type LlamaModel } from "../runner/model-family.js";
import type { LookaheadParams } from "../runner/lookahead.js";
import { SCHEME_NAMES, type SchemeName } from "../quant/schemes.js";
import { BACKEND_NAMES, type BackendName } from "../backends/registry.js";
import { BUILTIN_RECIPE_NAMES } from "../quant/current/recipe.js";


export type Flow = "seed" | "current";
export const FLOWS: readonly Flow[] = ["seed", "current"];

/** Flags that belong to one flow only; giving one implies that flow (SPEC-2026 §2.1 vs the seed's llama.py). */
const SEED_ONLY = ["prefill_seq_len", "kv_seq_len", "kv_updater", "kv_updator"];
const CURRENT_ONLY = [
  "prefill_ar_len", "max_context_len", "max_seq_len", "masked_softmax", "r3", "sample_raw_codes", "dump_logits_path",
  // quantization of the current flow (src/cli/current-quant.ts)
  "quant_recipe", "decoder_model", "calib_samples", "calib_dataset", "calib_column", "calib_max_samples", "seq_mse_candidates",
  "save_quantized", "quantized_model",
  // lookahead decoding (SPEC-2026 §6)
  "ngram", "window", "gcap", "lookahead_semantics",
];

/** The flow a command line asks for: --flow, else implied by its flags, else the seed flow; mixing is an error. */
function chooseFlow(values: Record<string, string | boolean | string[] | undefined>): Flow {
  const mode = values.model_mode as string | undefined;
  const seedFlags = [...SEED_ONLY.filter((f) => values[f] !== undefined), ...(mode?.toLowerCase() === "prefill" ? ["model_mode prefill"] : [])];
  const currentFlags = [...CURRENT_ONLY.filter((f) => values[f] !== undefined), ...(mode?.toLowerCase() === "lookahead" ? ["model_mode lookahead"] : [])];
  if (seedFlags.length > 0 && currentFlags.length > 0)
    throw new UserError(`--${seedFlags[0]} (seed flow) and --${currentFlags[0]} (current flow) both given; the flows have different graphs`);
  const flag = values.flow as string | undefined;
  const flow = flag === undefined ? (currentFlags.length > 0 ? "current" : "seed") : oneOf("flow", flag, FLOWS, "seed");
  const wrong = flow === "seed" ? currentFlags : seedFlags;
  if (wrong.length > 0) throw new UserError(`--${wrong[0]} is not a flag of the ${flow} flow (--flow ${flow})`);
  return flow;
}

export interface RunArgs {
  help: boolean;
  checkpoint: string;
  params?: string;
  tokenizerBin?: string;
  tokenizerModel?: string;
  /** undefined: inferred from the checkpoint (stories260k for the shipped model). */
  llamaModel?: LlamaModel;
  /** Llama-3 RoPE scaling factor override (0 = none); undefined keeps the checkpoint's setting. */
  ropeScaleFactor?: number;
  modelMode: EvalMode | "lookahead";
  /** --model_mode lookahead: --ngram N, --window W, --gcap G, --lookahead_semantics (SPEC-2026 §6); undefined otherwise. */
  lookahead?: LookaheadParams;
  /** Which device flow: the seed's (f965746a) or the current one (SPEC-2026). */
  flow: Flow;
  /** Current flow: --max_context_len (CL), --prefill_ar_len (AR_pp), --max_seq_len. */
  contextLen: number;
  prefillArLen: number;
  maxSeqLen: number;
  /** Current flow: attention variants (SPEC-2026 §8); undefined = the model family's default (off for Llama / stories). */
  maskedSoftmax?: boolean;
  /** --longrope on: apply a Phi-3 config's LongRoPE factors (transformers does; the Qualcomm flow does not, SPEC-2026 §2.2). */
  applyLongRope?: boolean;
  r3?: boolean;
  /** Current flow: the sampler reads quantized logits as raw codes (SPEC-2026 §9); default on. */
  sampleRawCodes: boolean;
  prefillSeqLen: number;
  kvSeqLen: number;
  prompt: string;
  /** Every --prompt given, in order (the current flow makes them a conversation). */
  prompts: string[];
  systemPrompt?: string;
  temperature: number;
  /** undefined: chosen from the clock when the temperature is not 0. */
  seed?: bigint;
  kvUpdater: KvUpdater;
  json: boolean;
  dumpLogits?: string;
  /** Current flow, kv mode: the runner's --dump_logits_path (every call's logits, raw dtype; SPEC-2026 §11-8). */
  dumpLogitsPath?: string;
  dumpPromptLogits?: string;
  tokenizedPrompt?: string;
  /** Fold token ids >= the model's vocabulary to id mod V (test models smaller than their tokenizer). */
  foldVocab: boolean;
  /** --ptq: run the quantized graphs under this scheme (SPEC §7). */
  ptq?: SchemeName;
  /** --calib_text: calibrate on this file's text instead of the prompt. */
  calibText?: string;
  /** --dump_encodings: write the calibrated encodings (AIMET 1.x JSON). */
  dumpEncodings?: string;
  /** --save_quantized: write the calibrated model as a quantized model file (current flow). */
  saveQuantized?: string;
  /** --quantized_model: run a quantized model file instead of a checkpoint (current flow). */
  quantizedModel?: string;
  /** --encodings: override the calibrated encodings with this file's. */
  encodings?: string;
  /** --recipe: per-tensor schemes for weights and activations (JSON; the tap-level experiment). */
  recipe?: string;
  /** --quant_arithmetic: the quantized graphs' conv/matmul arithmetic (integer codes, or the fp32 fake-quant oracle), both flows. */
  quantArithmetic: "integer" | "fake";
  /** --group_size: 16a4w_block's block length along the input channels. */
  groupSize?: number;
  /** Current flow: --quant_recipe FILE (a JSON recipe, src/quant/current/recipe.ts). */
  quantRecipe?: string;
  /** Current flow: --decoder_model NAME, upstream's model name; picks the built-in recipe and the model family. */
  decoderModel?: string;
  /** Current flow: calibration data besides --calib_text: JSON/JSONL chat samples, a Parquet dataset. */
  calibSamples?: string;
  calibDataset?: string;
  /** --calib_dataset's text column (default "text") and how many of its rows to keep. */
  calibColumn?: string;
  calibMaxSamples?: number;
  /** Current flow: SeqMSE candidates (0 = off); default the model config's. */
  seqMseCandidates?: number;
  /** --quant_sim: the seed's converted graph (default for its schemes) or the tap-level experiment. */
  quantSim?: "seed" | "taps";
  /** --threads: threads per weight product in the reference engine (same results for any count). */
  threads: number;
  /** --backend: the backend that runs the graphs (reference by default). */
  backend: BackendName;
  /** onnxruntime: execution providers in order. */
  providers?: string[];
  /** qnn: the .pte and the QNN libraries / provider. */
  pte?: string;
  qnnBackendLib?: string;
  qnnSystemLib?: string;
  qnnProvider?: string;
}

/** Root of the package (holds models/): the nearest folder above this module with our package.json. */
function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const pj = join(dir, "package.json");
    if (existsSync(pj)) {
      try {
        if (JSON.parse(readFileSync(pj, "utf8")).name === "llama-golden") return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    if (dirname(dir) === dir) return join(start, "..", "..");
  }
}
export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
/** The default model and tokenizer shipped in the repository (stories260K, MIT; see NOTICE). */
export const DEFAULT_CHECKPOINT = join(PACKAGE_ROOT, "models", "stories260K.bin");
export const DEFAULT_TOKENIZER_BIN = join(PACKAGE_ROOT, "models", "tok512.bin");

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  checkpoint: { type: "string" },
  params: { type: "string" },
  tokenizer_bin: { type: "string" },
  tokenizer_model: { type: "string" },
  llama_model: { type: "string" },
  model_mode: { type: "string" },
  prefill_seq_len: { type: "string" },
  kv_seq_len: { type: "string" },
  rope_scale_factor: { type: "string" },
  prompt: { type: "string", multiple: true },
  system_prompt: { type: "string" },
  temperature: { type: "string" },
  seed: { type: "string" },
  kv_updater: { type: "string" },
  kv_updator: { type: "string" }, // upstream llama.py's spelling
  json: { type: "boolean" },
  dump_logits: { type: "string" },
  dump_logits_path: { type: "string" },
  dump_prompt_logits: { type: "string" },
  tokenized_prompt: { type: "string" },
  fold_vocab: { type: "boolean" },
  ptq: { type: "string" },
  calib_text: { type: "string" },
  dump_encodings: { type: "string" },
  encodings: { type: "string" },
  save_quantized: { type: "string" },
  quantized_model: { type: "string" },
  recipe: { type: "string" },
  quant_arithmetic: { type: "string" },
  quant_sim: { type: "string" },
  group_size: { type: "string" },
  quant_recipe: { type: "string" },
  decoder_model: { type: "string" },
  calib_samples: { type: "string" },
  calib_dataset: { type: "string" },
  calib_column: { type: "string" },
  calib_max_samples: { type: "string" },
  seq_mse_candidates: { type: "string" },
  threads: { type: "string" },
  flow: { type: "string" },
  prefill_ar_len: { type: "string" },
  masked_softmax: { type: "string" },
  longrope: { type: "string" },
  ngram: { type: "string" },
  window: { type: "string" },
  gcap: { type: "string" },
  lookahead_semantics: { type: "string" },
  sample_raw_codes: { type: "string" },
  r3: { type: "string" },
  max_context_len: { type: "string" },
  max_seq_len: { type: "string" },
  backend: { type: "string" },
  providers: { type: "string" },
  pte: { type: "string" },
  qnn_backend_lib: { type: "string" },
  qnn_system_lib: { type: "string" },
  qnn_provider: { type: "string" },
} as const;

/** A value that starts with "-" but is a number (e.g. `--kv_seq_len -5`), read as the flag's value. */
const NUMBER_LIKE = /^-(\d|\.\d|inf|nan)/i;

/**
 * Joins `--flag value` into `--flag=value` for flags that take a value, so a negative number is read as the
 * value (and then range-checked) and a missing value is named, instead of node's "argument is ambiguous".
 */
export function joinFlagValues(argv: readonly string[], valued: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--([A-Za-z_]+)$/.exec(a);
    if (!m || !valued(m[1]) || i + 1 >= argv.length) {
      out.push(a);
      continue;
    }
    const next = argv[i + 1];
    if (next.startsWith("-") && !NUMBER_LIKE.test(next)) throw new UserError(`--${m[1]} needs a value (got ${JSON.stringify(next)}, a flag)`);
    out.push(`${a}=${next}`);
    i++;
  }
  return out;
}

function oneOf<T extends string>(flag: string, v: string | undefined, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  const norm = v.toLowerCase();
  const hit = allowed.find((a) => a.toLowerCase() === norm);
  if (!hit) throw new UserError(`--${flag} ${JSON.stringify(v)}: expected one of ${allowed.join(", ")}`);
  return hit;
}

function intFlag(flag: string, v: string | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (/^\s*-\d+\s*$/.test(v)) throw new UserError(`--${flag} ${v.trim()}: must be an integer >= ${min}`);
  if (!/^\s*\d+\s*$/.test(v)) throw new UserError(`--${flag} ${JSON.stringify(v)}: expected an integer`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new UserError(`--${flag} ${v}: must be an integer >= ${min}`);
  return n;
}

/** A decimal number (no hex, no "Infinity"): what the float flags accept. */
const DECIMAL = /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i;

/** on | off (also true/false, 1/0), or undefined when the flag is absent. */
function onOff(flag: string, v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  const k = v.trim().toLowerCase();
  if (["on", "true", "1"].includes(k)) return true;
  if (["off", "false", "0"].includes(k)) return false;
  throw new UserError(`--${flag} ${JSON.stringify(v)}: expected on or off`);
}

/** A finite decimal number >= 0, or undefined when the flag is absent. */
function floatFlag(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!DECIMAL.test(v) || !Number.isFinite(x) || x < 0) throw new UserError(`--${flag} ${JSON.stringify(v)}: expected a number >= 0`);
  return x;
}

/** --threads N: 1 .. 256 (default 1; the results do not depend on it). */
function threadsFlag(v: string | undefined): number {
  const n = intFlag("threads", v, 1, 1);
  if (n > 256) throw new UserError(`--threads ${v}: must be at most 256`);
  return n;
}

/** A uint64 seed: decimal or 0x-hex. */
export function parseSeed(v: string): bigint {
  const s = v.trim();
  if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(s)) throw new UserError(`--seed ${JSON.stringify(v)}: expected a non-negative integer (decimal or 0x hex)`);
  const b = BigInt(s);
  if (b >= 1n << 64n) throw new UserError(`--seed ${v}: must fit in 64 bits`);
  return b;
}

/** kv_updater spellings: ours (smart_mask, shift_pointer) and the runner's (SmartMask, ShiftPointer). */
function parseUpdater(v: string | undefined, flag = "kv_updater"): KvUpdater {
  if (v === undefined) return "smart_mask";
  const k = v.toLowerCase().replace(/[_-]/g, "");
  if (k === "smartmask") return "smart_mask";
  if (k === "shiftpointer") return "shift_pointer";
  throw new UserError(`--${flag} ${JSON.stringify(v)}: expected smart_mask or shift_pointer`);
}

/** node:util parseArgs failures in one plain line. */
function describeParseError(e: unknown): string {
  const err = e as { code?: string; message: string };
  if (e instanceof UserError) return err.message;
  const quoted = /'([^']+)'/.exec(err.message)?.[1];
  if (err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && quoted) return `unknown flag ${quoted}`;
  if (err.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL" && quoted) return `unexpected argument ${JSON.stringify(quoted)}: every value follows its flag`;
  return err.message.split("\n")[0];
}

/** Flags of which at most one may be given. */
const EXCLUSIVE: [string, string][] = [
  ["prompt", "tokenized_prompt"],
  ["system_prompt", "tokenized_prompt"],
  ["tokenizer_bin", "tokenizer_model"],
];

export function parseRunArgs(argv: string[]): RunArgs {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    const joined = joinFlagValues(argv, (name) => (OPTIONS as Record<string, { type: string }>)[name]?.type === "string");
    ({ values } = parseArgs({ args: joined, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new UserError(`${describeParseError(e)} (see --help)`);
  }
  const s = (k: keyof typeof OPTIONS) => values[k] as string | undefined;
  const flow = chooseFlow(values);
  const modelMode = oneOf("model_mode", s("model_mode"), flow === "seed" ? (["prefill", "kv", "hybrid"] as const) : (["kv", "hybrid", "lookahead"] as const), "hybrid");
  const lookaheadFlag = (["ngram", "window", "gcap", "lookahead_semantics"] as const).find((f) => s(f) !== undefined);
  if (lookaheadFlag && modelMode !== "lookahead") throw new UserError(`--${lookaheadFlag} applies to --model_mode lookahead`);
  const lookahead: LookaheadParams | undefined =
    modelMode === "lookahead"
      ? {
          ngram: intFlag("ngram", s("ngram"), 5, 2),
          window: intFlag("window", s("window"), 8, 1),
          gcap: intFlag("gcap", s("gcap"), 8, 0),
          semantics: oneOf("lookahead_semantics", s("lookahead_semantics"), ["qnn", "generic"] as const, "qnn"),
        }
      : undefined;
  if (flow === "current")
    for (const f of ["recipe", "encodings", "quant_sim"] as const)
      if (s(f) !== undefined)
        throw new UserError(`--${f} belongs to the seed flow's quantization; the current flow takes --ptq, --quant_recipe FILE, --decoder_model NAME (docs/quantization.md)`);
  const maxSeqLen = intFlag("max_seq_len", s("max_seq_len"), 512, 2);
  const prompts = (values.prompt as unknown as string[] | undefined) ?? [];
  if (prompts.length > 1 && flow === "seed")
    throw new UserError(`--prompt given ${prompts.length} times: a conversation (one turn per --prompt) is a current-flow feature (--flow current)`);
  for (const [x, y] of EXCLUSIVE)
    if (values[x] !== undefined && values[y] !== undefined) throw new UserError(`--${x} and --${y} both given; give one`);
  const backend = oneOf("backend", s("backend"), BACKEND_NAMES, "reference");
  const backendOnly: [string, BackendName][] = [["providers", "onnxruntime"], ["pte", "qnn"], ["qnn_backend_lib", "qnn"], ["qnn_system_lib", "qnn"], ["qnn_provider", "qnn"]];
  for (const [flag, owner] of backendOnly)
    if (values[flag] !== undefined && backend !== owner) throw new UserError(`--${flag} is for --backend ${owner}`);
  if (backend === "qnn" && s("pte") === undefined) throw new UserError("--backend qnn needs --pte FILE (the ExecuTorch program holding the QNN context binary)");
  if (backend === "replay") throw new UserError("--backend replay plays back a recording and is for parity (llama-golden parity --backend replay)");
  const quantFlag = ["ptq", "recipe", "quant_recipe", "decoder_model"].find((f) => s(f as keyof typeof OPTIONS) !== undefined);
  if (backend !== "reference" && quantFlag !== undefined)
    throw new UserError(`--${quantFlag} runs the quantized simulation; --backend ${backend} does not apply`);
  let providers: string[] | undefined;
  if (s("providers") !== undefined) {
    providers = s("providers")!.split(",").map((p) => p.trim()).filter((p) => p !== "");
    if (providers.length === 0) throw new UserError(`--providers ${JSON.stringify(s("providers"))}: expected a comma-separated list such as qnn,cpu`);
  }
  if (s("kv_updater") !== undefined && s("kv_updator") !== undefined && parseUpdater(s("kv_updater")) !== parseUpdater(s("kv_updator"), "kv_updator"))
    throw new UserError("--kv_updater and --kv_updator disagree; give one");
  const temperature = floatFlag("temperature", s("temperature")) ?? 0;
  const llamaModelText = s("llama_model");
  const llamaModel = llamaModelText === undefined ? undefined : oneOf("llama_model", llamaModelText, LLAMA_MODELS, "stories260k");
  const checkpoint = s("checkpoint");
  if (checkpoint === undefined && llamaModel !== undefined && llamaModel !== "stories260k")
    throw new UserError(`--llama_model ${llamaModel} needs --checkpoint (only stories260k ships with llama-golden)`);
  const quantizedModel = s("quantized_model");
  if (quantizedModel !== undefined) {
    // The file holds the model, its quantization and its calibration: nothing may choose them again.
    const clash = ["checkpoint", "params", "llama_model", "rope_scale_factor", "longrope", "ptq", "quant_recipe", "decoder_model", "group_size", "calib_text", "calib_samples", "calib_dataset", "calib_column", "calib_max_samples", "seq_mse_candidates", "save_quantized", "backend"].find((f) => values[f] !== undefined);
    if (clash) throw new UserError(`--quantized_model FILE holds the model, its recipe and its calibration; --${clash} does not apply`);
  }
  const usingDefaultModel = checkpoint === undefined && quantizedModel === undefined;
  const seedText = s("seed");
  const ptqText = s("ptq");
  const ptq = ptqText === undefined ? undefined : oneOf("ptq", ptqText, SCHEME_NAMES, "16a4w");
  if (ptq === undefined && quantFlag === undefined)
    for (const f of ["calib_text", "save_quantized", ...(quantizedModel === undefined ? ["dump_encodings", "quant_arithmetic"] : []), "encodings", "quant_sim", "group_size", ...CURRENT_ONLY.filter((x) => x.startsWith("calib_") || x === "seq_mse_candidates")] as const)
      if (s(f as keyof typeof OPTIONS) !== undefined)
        throw new UserError(`--${f} needs --ptq SCHEME (${flow === "current" ? "or --quant_recipe FILE, --decoder_model NAME" : "or --recipe FILE"})`);
  const decoderModelText = s("decoder_model");
  const decoderModel = decoderModelText === undefined ? undefined : oneOf("decoder_model", decoderModelText, BUILTIN_RECIPE_NAMES, "stories260k");
  return {
    help: values.help === true,
    checkpoint: checkpoint ?? DEFAULT_CHECKPOINT,
    params: s("params"),
    tokenizerBin: s("tokenizer_bin") ?? (usingDefaultModel && s("tokenizer_model") === undefined ? DEFAULT_TOKENIZER_BIN : undefined),
    tokenizerModel: s("tokenizer_model"),
    llamaModel,
    ropeScaleFactor: floatFlag("rope_scale_factor", s("rope_scale_factor")),
    modelMode,
    lookahead,
    flow,
    maxSeqLen,
    contextLen: intFlag("max_context_len", s("max_context_len"), maxSeqLen, 2),
    prefillArLen: intFlag("prefill_ar_len", s("prefill_ar_len"), 32, 1),
    maskedSoftmax: onOff("masked_softmax", s("masked_softmax")),
    applyLongRope: onOff("longrope", s("longrope")),
    sampleRawCodes: onOff("sample_raw_codes", s("sample_raw_codes")) ?? true,
    r3: onOff("r3", s("r3")),
    prefillSeqLen: intFlag("prefill_seq_len", s("prefill_seq_len"), 32, 2),
    kvSeqLen: intFlag("kv_seq_len", s("kv_seq_len"), 128, 2),
    prompt: prompts[0] ?? "Once upon a time",
    prompts,
    systemPrompt: s("system_prompt"),
    temperature,
    seed: seedText !== undefined ? parseSeed(seedText) : undefined,
    kvUpdater: s("kv_updater") !== undefined ? parseUpdater(s("kv_updater")) : parseUpdater(s("kv_updator"), "kv_updator"),
    json: values.json === true,
    dumpLogits: s("dump_logits"),
    dumpLogitsPath: s("dump_logits_path"),
    dumpPromptLogits: s("dump_prompt_logits"),
    tokenizedPrompt: s("tokenized_prompt"),
    foldVocab: values.fold_vocab === true,
    ptq,
    calibText: s("calib_text"),
    dumpEncodings: s("dump_encodings"),
    saveQuantized: s("save_quantized"),
    quantizedModel,
    encodings: s("encodings"),
    recipe: s("recipe"),
    quantArithmetic: oneOf("quant_arithmetic", s("quant_arithmetic"), ["integer", "fake"] as const, "integer"),
    groupSize: s("group_size") === undefined ? undefined : intFlag("group_size", s("group_size"), 0, 1),
    quantRecipe: s("quant_recipe"),
    decoderModel,
    calibSamples: s("calib_samples"),
    calibDataset: s("calib_dataset"),
    calibColumn: s("calib_column"),
    calibMaxSamples: s("calib_max_samples") === undefined ? undefined : intFlag("calib_max_samples", s("calib_max_samples"), 0, 1),
    seqMseCandidates: s("seq_mse_candidates") === undefined ? undefined : intFlag("seq_mse_candidates", s("seq_mse_candidates"), 0, 0),
    quantSim: s("quant_sim") === undefined ? undefined : oneOf("quant_sim", s("quant_sim"), ["seed", "taps"] as const, "seed"),
    threads: threadsFlag(s("threads")),
    backend,
    providers,
    pte: s("pte"),
    qnnBackendLib: s("qnn_backend_lib"),
    qnnSystemLib: s("qnn_system_lib"),
    qnnProvider: s("qnn_provider"),
  };
}

export const HELP = `llama-golden — golden model of the ExecuTorch Qualcomm (QNN HTP) LLaMA flow, in TypeScript

Usage: llama-golden [flags]            (no flags: stories260K, hybrid mode, "Once upon a time")

Model
  --checkpoint PATH        llama2.c .bin, PyTorch .pt/.pth (llama2.c or Meta), safetensors file or Hugging
                           Face directory (default: the shipped models/stories260K.bin)
  --params FILE            params.json (Meta / llama2.c) or config.json (Hugging Face); must agree with
                           the tensor shapes
  --tokenizer_bin FILE     llama2.c tokenizer.bin (default with the shipped model: models/tok512.bin)
  --tokenizer_model FILE   SentencePiece (Llama 2 / stories) or tiktoken (Llama 3) tokenizer.model, or a Hugging
                           Face tokenizer.json (or its directory): Qwen, SmolLM, Phi, Gemma (recognised by content)
  --fold_vocab             accept a tokenizer larger than the model's vocabulary: prompt ids >= V become
                           id mod V (for small test models such as a tiny Llama 3 with 768 tokens)
  --llama_model NAME       stories260k | stories110m | llama3_2 (default: inferred from the checkpoint)
                           Hugging Face families (config.json model_type): llama (SmolLM2), qwen2 (Qwen2.5), qwen3,
                           smollm3, phi3 (Phi-4-mini), gemma3_text; they run in the current flow (--flow current)
  --longrope on|off        Phi-3: apply the config's LongRoPE factors as transformers does (default off: the
                           Qualcomm flow ignores them)
  --rope_scale_factor F    Llama-3 RoPE scaling: 32 (Meta, the default with use_scaled_rope), 8 (later
                           upstream exports), 0 (none, as the seed flow)

Device flow
  --flow NAME              seed (ExecuTorch f965746a, the default) | current (today's flow: AR-N chunked prefill
                           with a KV cache, merged per-layer KV, Smart Mask); flags of one flow imply it
  --model_mode MODE        seed: prefill | kv | hybrid; current: kv | hybrid | lookahead (default hybrid)
  --ngram N, --window W, --gcap G
                           lookahead (SPEC-2026 §6): n-gram size (5), window (8), verification branches (8); the
                           decode graph has next_pow2((W+G)(N-1)) rows
  --lookahead_semantics S  qnn (the device runner, quirks included; default) | generic (static_attention.py's
                           lookahead_decode where they differ; greedy only); docs/lookahead.md
  --max_seq_len N          current: the runner's seq_len (default 512)
  --max_context_len N      current: CL, the compiled context (default --max_seq_len)
  --prefill_ar_len N       current: AR of the prompt graph (default 32); the prompt runs in ceil(n/AR) chunks
  --masked_softmax on|off  current: masked softmax (masked scores set to the row minimum - 20) instead of adding
                           the mask (default: the family's exported config — on for Qwen, SmolLM3, Gemma3)
  --r3 on|off              current: R3 Hadamard rotation of q and k after RoPE (default: the family's config — on
                           for Qwen2.5, Qwen3 1.7B, SmolLM2)
  --sample_raw_codes on|off
                           current: sample a quantized graph's logits as raw integer codes, as the current
                           runner does (default on; off samples the dequantized values, as the seed runner)
  --prefill_seq_len N      prefill graph length; it takes N-1 tokens (default 32)
  --kv_seq_len N           KV graph length; N-1 cache slots (default 128)
  --kv_updater NAME        smart_mask | shift_pointer (default smart_mask; --kv_updator also accepted)
  --threads N              threads per weight product (default 1); the reference engine's results are
                           bit-identical for any N (the fp32 graphs; --ptq runs on one thread)
  --backend NAME           reference (default) | wasm | onnxruntime | tfjs | qnn: what runs the graphs; the
                           statistics name it (and why generation stopped: stop_reason)
  --providers LIST         onnxruntime: execution providers in order, comma-separated (e.g. qnn,cpu)
  --pte FILE               qnn: the ExecuTorch .pte holding the QNN context binary (required for qnn)
  --qnn_backend_lib PATH   qnn: libQnnHtp.so / QnnHtp.dll (default: $QNN_BACKEND_LIB, else $QNN_SDK_ROOT)
  --qnn_system_lib PATH    qnn: libQnnSystem.so / QnnSystem.dll (default: $QNN_SYSTEM_LIB, else $QNN_SDK_ROOT)
  --qnn_provider NAME      qnn: backend provider, when the library offers several

Generation
  --prompt TEXT            prompt (default "Once upon a time"); BOS is added
  --system_prompt TEXT     system prompt (the family's chat template, SPEC-2026 §7; ignored for stories)

  --tokenized_prompt FILE  prompt as token ids (JSON array, or ids separated by spaces/commas), used verbatim
  --temperature T          0 = greedy argmax (default 0; note llama.py passes 0.8)
  --seed N                 sampler seed (uint64); printed when chosen from the clock

Quantization (kv and hybrid modes)
  --ptq SCHEME             run the seed's quantized graphs: 8a8w | 16a4w (the seed's two schemes) |
                           16a4w_block (later upstream, SPEC 7.7); calibrates first as the seed does (KV
                           graph: the prompt teacher-forced, then fp32 greedy to the cache end or EOS;
                           hybrid: then the prefill graph, re-run per appended token); every tensor of the
                           converted graph quantized with its encoding, convs and matmuls on integer codes;
                           uint8 caches, mask and logits in their export encodings
                           16a8w | 16a16w: experiments, not seed schemes (tap-level simulation; a note on
                           stderr says so), as are --recipe and --encodings below
  --quant_sim S            seed (default for 8a8w, 16a4w, 16a4w_block) | taps (the tap-level experiment;
                           always for 16a8w, 16a16w, --recipe, --encodings)
  --quant_arithmetic A     integer (default: exact integer accumulation, requantized) | fake (fp32
                           fake-quant, the oracle); both flows
  --group_size N           16a4w_block's block length (default 64); a conv whose input width N does not
                           divide keeps int4 per-channel weights
  --calib_text FILE        calibrate on this text (BOS + its tokens, cut to the graph length) instead
  --dump_encodings FILE    write the calibrated encodings (AIMET 0.6.1 JSON; seed schemes: by the seed's
                           module paths, layers.0.attention.wq_sha.0, ..., re-quantized edges as
                           producer->consumer, kv_forward/ and prefill_forward/ prefixes in hybrid mode;
                           experiments: layers.<l>.<tap>, logits, k_cache.l<l>.h<h>)
  --encodings FILE         (tap-level experiment) use this encodings file's activation / K/V / logits
                           encodings (names and bitwidths checked against the scheme; param encodings
                           checked, not applied)
  --recipe FILE            (tap-level experiment) mixed precision: {"default": "16a4w", "overrides":
                           [{"match": "layers.0.*", "scheme": "16a8w"}]}; a match (exact name or * glob; the
                           last matching override wins) names weights (Meta names,
                           layers.0.attention.wq.weight), which take that scheme's weight spec, and/or
                           activations (layers.<l>.<tap>, final_norm), re-encoded at that scheme's activation
                           bits; K/V and logits keep theirs; implies --ptq with the recipe's default (given
                           --ptq, it must be the same scheme)

Quantization of the current flow (--flow current; SPEC-2026 §10, docs/quantization.md "Current flow")
  --decoder_model NAME     upstream's model name: its built-in recipe (stories260k, stories110m,
                           llama3_2-1b_instruct, llama3_2-3b_instruct, qwen2_5-0_5b, qwen2_5-1_5b, qwen3-0_6b,
                           qwen3-1_7b, smollm2_135m, smollm3-3b, phi_4_mini, gemma3-1b; llama3_2-1b / -3b also
                           accepted) and SeqMSE setting; quantizes the run (as upstream, which always does); also
                           the model family: chat template, stop tokens, masked softmax / R3 defaults (it must
                           match the checkpoint's model_type; without it the family is inferred from config.json)
  --ptq SCHEME             16a4w | 16a4w_block | 16a8w | 8a8w: the recipe (--decoder_model's, --quant_recipe's,
                           else the checkpoint family's) with its conv2d default replaced by SCHEME
  --quant_recipe FILE      a JSON recipe: {"default": {"scheme": "16a4w_block", "block_size": 32}, "kv_bits": 8,
                           "overrides": [{"pattern": "output\\\\.conv", "scheme": "16a8w"}], "base": "llama3_2-1b"}
                           (patterns: regexes searched in conv module paths; the last match wins)
  --group_size N           block length of every 16a4w_block conv (the recipe's otherwise)
  --calib_text FILE        calibration text (one sample); --calib_samples FILE: JSON / JSONL chat samples;
  --calib_dataset FILE     a Parquet dataset (--calib_column NAME, default text; --calib_max_samples N);
                           several may be given; none: the prompt is the one sample (a note says so)
  --seq_mse_candidates K   SeqMSE candidates (0 = off; default the model config's: 50 for llama3_2-1b, qwen3-0_6b)
  --dump_encodings FILE    AIMET 1.0.0 encodings of the calibration (names: module paths, docs/quantization.md)
  --save_quantized FILE    write the calibrated model as a quantized model file: weight codes, scales and every
                           encoding (a 1B model at 16a4w: about 1.3 GB), run later with --quantized_model
  --quantized_model FILE   run (or eval) a quantized model file instead of --checkpoint: no fp32 weights and no
                           calibration; its codes go straight into the integer kernels. Give the tokenizer
                           (--tokenizer_bin / --tokenizer_model) or --tokenized_prompt; --masked_softmax / --r3
                           must be what it was calibrated with

Output
  --json                   stdout is one JSON object {prompt_tokens, generated_tokens, text, stats}
  --dump_logits FILE       fp32 LE logits row used for every sampled token, in order
  --dump_logits_path FILE  current flow, kv mode (the runner's eval_mode 0): the runner's dump — every graph
                           call's logits in call order (prompt calls, then decode calls), raw dtype: fp32 LE,
                           or uint16 LE codes when the graph's logits are quantized
  --dump_prompt_logits FILE  fp32 LE logits rows of prompt positions 0..n-1
  -h, --help               this text

Subcommands
  llama-golden tokenize --tokenizer_model F --prompt TEXT   print token ids (see tokenize --help)
  llama-golden parity --backend NAME                         compare a backend with the reference (parity --help)
  llama-golden quant-report --ptq SCHEME                     quantization quality report (quant-report --help)
  llama-golden qnn extract|inspect --pte F                   QNN context binaries in an ExecuTorch .pte (qnn --help)
  llama-golden eval --dataset FILE                           perplexity and KL statistics over a dataset (eval --help)
  llama-golden merge FILE...                                 the report of a sharded eval run (merge --help)

Generated text goes to stdout, statistics (and the PyTorchObserver line) to stderr. Bad input exits with 2;
SIGINT / SIGTERM remove partial outputs and exit 130 / 143.
`;
