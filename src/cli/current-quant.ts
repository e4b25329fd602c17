// Owns the run command's quantization of the current flow (`--flow current` with --ptq / --quant_recipe /
// --decoder_model; SPEC-2026 §10): which recipe the flags select, the calibration data (files or the prompt),
// calibrating with a progress bar, and the quantized backend plus its --dump_encodings text. The maths live in
// src/quant/current/. Every mistake is a UserError (one line, exit 2), raised before anything is printed.
//
// Recipe selection: --quant_recipe FILE, else --decoder_model NAME (upstream's flag and names), else the recipe of
// the checkpoint's family (stories260k, stories110m; Llama 3.2: the 3B recipe for 28 layers or more, else the 1B
// one), named in a note. --ptq SCHEME replaces the recipe's conv2d default scheme (and default dtype), keeping its
// overrides and KV width, as --ptq did upstream before the recipes (d6864726a9); --group_size replaces every
// 16a4w_block block length. Upstream quantizes whenever it compiles, so --decoder_model alone quantizes too.
import type { Model } from "../engine/weights.js";
import type { Tokenizer } from "../tokenizer/types.js";
import type { ModelFamily } from "../runner/model-family.js";
import { attentionFor } from "./family.js";
import { currentArLens } from "./lookahead-options.js";
import { foldIds } from "../runner/prompt.js";
import { UserError } from "../util/errors.js";
import { readUserText } from "../util/files.js";
import { isPowerOfTwo } from "../engine/hadamard.js";
import { calibrationSequences, readCalibrationSource } from "../quant/calibration-data.js";
import { builtinRecipe, resolveRecipe, readRecipeFile, withCliOverrides, type CurrentRecipe, type CurrentScheme } from "../quant/current/recipe.js";
import { calibrateCurrent } from "../quant/current/calibrate.js";
import type { CurrentEncodings } from "../quant/current/encodings.js";
import { createCurrentQuantizedBackend, type CurrentQuantizedBackend } from "../quant/current/quantized-backend.js";
import { serializeCurrentEncodings } from "../quant/current/encodings-file.js";
import type { RunArgs } from "./args.js";
import { ttyProgress, withProgress, type ProgressIO } from "./progress.js";

/** The --ptq schemes of the current flow. */
export const CURRENT_PTQ: readonly CurrentScheme[] = ["16a4w", "16a4w_block", "16a8w", "8a8w"];

/** True when the flags ask for the current flow's quantization. */
export const currentQuantRequested = (a: RunArgs): boolean => a.ptq !== undefined || a.quantRecipe !== undefined || a.decoderModel !== undefined;

/** Checks of the quantization flags that need no model (run before anything is loaded). */
export function checkCurrentQuantFlags(a: RunArgs): void {
  if (!currentQuantRequested(a)) return;
  if (a.ptq !== undefined && !(CURRENT_PTQ as readonly string[]).includes(a.ptq))
    throw new UserError(`--ptq ${a.ptq} is not a scheme of the current flow (${CURRENT_PTQ.join(", ")})`);
  if (a.quantRecipe !== undefined && a.decoderModel !== undefined)
    throw new UserError(`--quant_recipe and --decoder_model both given; a recipe file extends a built-in recipe with "base": "${a.decoderModel}"`);
  if (a.calibColumn !== undefined && a.calibDataset === undefined) throw new UserError("--calib_column names a column of --calib_dataset FILE.parquet; give --calib_dataset");
  if (a.calibMaxSamples !== undefined && a.calibDataset === undefined) throw new UserError("--calib_max_samples limits the rows of --calib_dataset FILE.parquet; give --calib_dataset");
}

/** The recipe the flags select (before --ptq / --group_size), and how it was chosen. */
function chooseRecipe(a: RunArgs, model: Model, fam: ModelFamily): { recipe: CurrentRecipe; inferred?: string } {
  if (a.quantRecipe !== undefined) return { recipe: readRecipeFile(a.quantRecipe) };
  if (a.decoderModel !== undefined) return { recipe: builtinRecipe(a.decoderModel)! };
  const name = fam.name === "llama3_2" ? (model.config.nLayers >= 28 ? "llama3_2-3b_instruct" : "llama3_2-1b_instruct") : fam.name;
  return { recipe: builtinRecipe(name)!, inferred: name };
}

/** Calibration texts: --calib_text, --calib_samples, --calib_dataset in that order, else every --prompt. */
async function calibrationTexts(a: RunArgs, io: ProgressIO & { json?: boolean }): Promise<{ texts: string[]; fromPrompt: boolean }> {
  const texts: string[] = [];
  if (a.calibText !== undefined) texts.push(readUserText(a.calibText, "--calib_text"));
  if (a.calibSamples !== undefined) {
    const src = await readCalibrationSource(a.calibSamples, { label: "--calib_samples" });
    if (src.kind !== "json" && src.kind !== "jsonl")
      throw new UserError(`--calib_samples ${a.calibSamples}: not JSON or JSONL chat samples (a ${src.kind === "parquet" ? "Parquet file: use --calib_dataset" : "plain text file: use --calib_text"})`);
    texts.push(...src.texts);
  }
  if (a.calibDataset !== undefined) {
    const src = await withProgress(ttyProgress(io, !io.json, "reading --calib_dataset"), (bar) =>
      readCalibrationSource(a.calibDataset!, { label: "--calib_dataset", column: a.calibColumn, maxSamples: a.calibMaxSamples, onProgress: bar.update }),
    );
    if (src.kind !== "parquet") throw new UserError(`--calib_dataset ${a.calibDataset}: not a Parquet file (it does not start with PAR1); use --calib_samples or --calib_text`);
    texts.push(...src.texts);
  }
  if (texts.length > 0) return { texts, fromPrompt: false };
  return { texts: a.prompts.length > 0 ? a.prompts : [a.prompt], fromPrompt: true };
}

export interface CurrentQuantSetup {
  backend: CurrentQuantizedBackend;
  encodings: CurrentEncodings;
  /** The --dump_encodings text (AIMET 1.0.0). */
  encodingsText: () => string;
  /** stderr notes, printed by the caller once everything succeeded. */
  notes: string[];
  /** Fields of the --json stats. */
  stats: Record<string, unknown>;
  /** What was calibrated on: the prompt (no data given) or the calibration data, and the tokens fed. */
  calibration: { source: "prompt" | "calibration data"; tokens: number };
}

/** Selects the recipe, reads and tokenizes the calibration data, calibrates, and builds the quantized backend. */
export async function currentQuantSetup(
  a: RunArgs,
  io: ProgressIO,
  model: Model,
  tok: Tokenizer | undefined,
  fam: ModelFamily,
  prompt: readonly number[],
): Promise<CurrentQuantSetup> {
  checkCurrentQuantFlags(a);
  const c = model.config;
  const notes: string[] = [];
  const chosen = chooseRecipe(a, model, fam);
  const recipe = withCliOverrides(chosen.recipe, { scheme: a.ptq as CurrentScheme | undefined, groupSize: a.groupSize });
  const resolved = resolveRecipe(recipe, model);
  const attention = attentionFor(a, fam);
  if (attention.r3 && !isPowerOfTwo(c.headDim)) throw new UserError(`--r3 needs a power-of-two head_dim (a Hadamard matrix), got ${c.headDim}`);
  const K = a.seqMseCandidates ?? recipe.seqMseCandidates;

  const V = c.vocabSize;
  const { texts, fromPrompt } = await calibrationTexts(a, { ...io, json: a.json });
  let sequences: number[][];
  if (tok) {
    // A tokenizer without a BOS (Qwen3's tokenizer.json) encodes the sample without one, as plainTextIds does.
    const encode = (s: string, bos: boolean) => foldIds(tok.encode(s, { bos: bos && tok.bosId >= 0 }), V, a.foldVocab);
    sequences = calibrationSequences(texts, encode, a.contextLen);
  } else if (fromPrompt) {
    // Without a tokenizer (--tokenized_prompt only) the prompt ids are the one sample, cut like any other.
    sequences = [];
    for (let i = 0; i < prompt.length; i += a.contextLen) sequences.push(prompt.slice(i, i + a.contextLen));
  } else {
    throw new UserError("calibration files need a tokenizer (--tokenizer_bin / --tokenizer_model)");
  }
  sequences = sequences.filter((s) => s.length > 0);
  if (sequences.length === 0) throw new UserError("the calibration data holds no tokens");
  sequences.forEach((s, i) =>
    s.forEach((t) => {
      if (!(t >= 0 && t < V)) throw new UserError(`calibration sequence ${i} holds token ${t}, outside the model's vocabulary [0, ${V}) (see --fold_vocab)`);
    }),
  );

  const start = performance.now();
  const encodings = withProgress(ttyProgress(io, !a.json, "calibrating"), (bar) =>
    calibrateCurrent(model, resolved, { contextLen: a.contextLen, sequences, attention, seqMseCandidates: K, onProgress: (d, t, phase) => bar.update(d, t, phase) }),
  );
  const calibrationMs = performance.now() - start;
  const backend = await createCurrentQuantizedBackend(model, encodings, { contextLen: a.contextLen, arLens: currentArLens(a), arithmetic: a.quantArithmetic, threads: a.threads });

  if (chosen.inferred) notes.push(`note: --ptq with --flow current uses the ${chosen.inferred} recipe (inferred from the checkpoint; --decoder_model NAME or --quant_recipe FILE chooses another)`);
  notes.push(...resolved.notes);
  if (recipe.maskedSoftmax !== attention.maskedSoftmax || recipe.r3 !== attention.r3) {
    const onOff = (b: boolean) => (b ? "on" : "off");
    notes.push(
      `note: the ${recipe.base ?? recipe.name} config exports --masked_softmax ${onOff(recipe.maskedSoftmax)} --r3 ${onOff(recipe.r3)}; this run uses --masked_softmax ${onOff(attention.maskedSoftmax)} --r3 ${onOff(attention.r3)} (the flags, else the ${fam.name} defaults)`,
    );
  }
  if (fromPrompt)
    notes.push(`note: no calibration data given (--calib_text, --calib_samples, --calib_dataset): calibrating on the prompt as ${texts.length === 1 ? "one sample" : `${texts.length} samples`} (upstream requires a dataset)`);
  const blocks = [...new Set(resolved.convs.filter((x) => x.weight.kind === "lpbq").map((x) => (x.weight.kind === "lpbq" ? x.weight.blockSize : 0)))];
  notes.push(
    `quantization: recipe ${recipe.name} (conv2d ${recipe.conv.scheme}${blocks.length ? `, block ${blocks.join("/")}` : ""}, ${recipe.overrides.length} override${recipe.overrides.length === 1 ? "" : "s"}), ` +
      `${resolved.kv.bits}-bit KV, SeqMSE ${K === 0 ? "off" : `${K} candidates`}, ${sequences.length} calibration sequence${sequences.length === 1 ? "" : "s"} at CL ${a.contextLen} in ${(calibrationMs / 1000).toFixed(2)} s`,
  );
  return {
    backend,
    encodings,
    calibration: { source: fromPrompt ? "prompt" : "calibration data", tokens: sequences.reduce((n, x) => n + x.length, 0) },
    encodingsText: () => serializeCurrentEncodings(encodings),
    notes,
    stats: {
      ptq: a.ptq ?? recipe.conv.scheme,
      quant_recipe: recipe.name,
      quant_simulation: "current graph",
      quant_arithmetic: a.quantArithmetic,
      kv_bits: resolved.kv.bits,
      seq_mse_candidates: K,
      calibration_sequences: sequences.length,
      calibration_ms: Math.round(calibrationMs),
    },
  };
}
