// Owns the default command: load the model and tokenizer, run the device flow through the reference
// backend, stream the text to stdout, the statistics to stderr, and write the machine-readable outputs.
import { loadModel } from "../loaders/index.js";
import { loadTokenizer } from "../tokenizer/index.js";
import { createStreamDecoder } from "../tokenizer/stream-decoder.js";
import type { Tokenizer } from "../tokenizer/types.js";
import { createParallelReferenceBackend } from "../backends/reference.js";
import { checkRunShape, generate } from "../runner/generate.js";
import { contextWarning } from "../runner/session.js";
import { checkCurrentShape, createConversation, rawLogitCodes, type CurrentMode } from "../runner/current-session.js";
import type { GenerateResult } from "../runner/generate.js";
import { generateCurrent } from "../runner/generate.js";
import type { Backend, BackendInit } from "../engine/backend.js";
import { assemblePrompt, familyStops, foldIds } from "../runner/prompt.js";
import type { GraphBackend, LogitsArray } from "../engine/backend.js";
import type { CacheArray, MaskArray } from "../kvcache/types.js";
import { createSampler } from "../runner/sampler.js";
import { buildStats, deriveStats, reportLines, stopLine, stopReason } from "../runner/stats.js";
import { createBackend } from "../backends/registry.js";
import { UserError } from "../util/errors.js";
import { readUserText } from "../util/files.js";
import type { Interrupts } from "../util/interrupts.js";
import { checkOutputs, openAtomicFile, f32Bytes, type AtomicFile, type OutputPath } from "./atomic-file.js";
import { readTokenIds } from "./tokenized-prompt.js";
import type { RunArgs } from "./args.js";
import type { ModelFamily } from "../runner/model-family.js";
import { attentionFor, familyFor } from "./family.js";
import type { EvalMode } from "../kvcache/types.js";
import { currentArLens, lookaheadOption } from "./lookahead-options.js";
import { lookaheadLines, lookaheadPaddingNote, lookaheadSummary } from "../runner/lookahead.js";
import { ttyProgress, withProgress } from "./progress.js";
import type { Model } from "../engine/weights.js";
import { calibrate, type QuantEncodings } from "../quant/calibrate.js";
import { readEncodingsFile, serializeEncodings } from "../quant/encodings-file.js";
import { applyEncodingsFile, encodingsExpectations, encodingsToFile } from "../quant/encodings-io.js";
import { applyRecipe, readRecipe } from "../quant/recipe.js";
import { createQuantizedBackend } from "../quant/quantized-backend.js";
import { calibrationTokens, experimentNote, seedQuantSetup, usesSeedGraphs } from "./seed-quant.js";
import { checkCurrentQuantFlags, currentQuantRequested, currentQuantSetup } from "./current-quant.js";
import { openRunQuantizedModel, type OpenedQuantizedModel } from "./quantized-model-option.js";
import type { CurrentEncodings } from "../quant/current/encodings.js";
import { serializeCurrentEncodings } from "../quant/current/encodings-file.js";
import { writeQuantizedModel } from "../quant/current/quantized-model-file.js";

export interface RunIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** True when stderr is a terminal (enables the load progress bar). */
  stderrIsTTY?: boolean;
  /** Undo steps run when the process is interrupted (the entry point's; none in-process). */
  interrupts?: Interrupts;
}

async function tokenizerFor(a: RunArgs, vocabSize: number): Promise<Tokenizer | undefined> {
  const path = a.tokenizerBin ?? a.tokenizerModel;
  if (path === undefined) return undefined;
  // With --fold_vocab a larger tokenizer is accepted (its ids are folded into the model's range below).
  return loadTokenizer(path, { expectedVocabSize: a.foldVocab ? undefined : vocabSize });
}

/**
 * `--ptq` / `--recipe`: calibrate (SPEC §7: one greedy fp32 run on the raw prompt, or on --calib_text), then
 * apply a recipe and a device encodings file when given.
 */
function quantSetup(a: RunArgs, io: RunIO, model: Model, tok: Tokenizer | undefined, fam: ModelFamily, prompt: number[], eos: number): QuantEncodings {
  if (a.modelMode === "prefill") throw new UserError("--ptq supports kv and hybrid (got --model_mode prefill)");
  if (a.dumpPromptLogits !== undefined) throw new UserError("--dump_prompt_logits is not supported with --ptq");
  const recipe = a.recipe !== undefined ? readRecipe(a.recipe, model.config.nLayers) : undefined;
  const scheme = a.ptq ?? recipe!.default;
  const calib = calibrationTokens(a, model, tok, fam, prompt);
  const weightOptions = { stories: fam.name !== "llama3_2" };
  let qenc = withProgress(ttyProgress(io, !a.json, "calibrating"), (bar) =>
    calibrate(model, scheme, {
      kvSeqLen: a.kvSeqLen,
      prefillSeqLen: a.modelMode === "hybrid" ? a.prefillSeqLen : undefined,
      promptTokens: calib,
      eos,
      weightOptions,
      onProgress: bar.update,
    }),
  );
  if (recipe) qenc = applyRecipe(qenc, model, recipe, weightOptions);
  if (a.encodings !== undefined) {
    const file = readEncodingsFile(a.encodings, encodingsExpectations(qenc, model));
    qenc = applyEncodingsFile(qenc, file, model, a.encodings);
  }
  return qenc;
}

/**
 * The current flow's RoPE default (SPEC-2026 §1 row 8): a checkpoint with Llama-3 scaling and no
 * --rope_scale_factor gets factor 8 (model_args.py's rope_scale_factor default), not Meta's 32.
 */
export const CURRENT_ROPE_SCALE_FACTOR = 8;
export function withCurrentRopeDefault(model: Model): Model {
  if (model.config.arch) return model; // the families' RoPE comes from config.json as it is
  const r = model.config.ropeScaling;
  return r ? { ...model, config: { ...model.config, ropeScaling: { ...r, factor: CURRENT_ROPE_SCALE_FACTOR } } } : model;
}

/**
 * The run's graph lengths against the model and the prompt, for the flow in use (a UserError when they do not fit;
 * --r3 needs a power-of-two head_dim), and the warning when the graphs reach past the model's trained context.
 */
export function checkFlowShape(a: RunArgs, model: Model, prompt: number[], format: string, io: Pick<RunIO, "stderr">): void {
  const current = a.flow === "current";
  const hd = model.config.headDim;
  if (current && attentionFor(a, familyFor(a, model.config)).r3 && (hd & (hd - 1)) !== 0)
    throw new UserError(`R3 (--r3, or the family's default) needs a power-of-two head_dim (a Hadamard matrix), got ${hd}`);
  if (current)
    checkCurrentShape({ config: model.config, mode: a.modelMode as CurrentMode, contextLen: a.contextLen, prefillArLen: a.prefillArLen, maxSeqLen: a.maxSeqLen, promptTokens: prompt, lookahead: lookaheadOption(a) });
  else checkRunShape({ mode: a.modelMode as EvalMode, kvSeqLen: a.kvSeqLen, prefillSeqLen: a.prefillSeqLen, promptTokens: prompt, config: model.config });
  const longer = current
    ? contextWarning(model.config, "kv", a.contextLen, a.contextLen, declaresContext(format))
    : contextWarning(model.config, a.modelMode as EvalMode, a.kvSeqLen, a.prefillSeqLen, declaresContext(format));
  if (longer) io.stderr(longer + "\n");
}

/** The graphs a backend builds for the run: the seed flow's prefill/KV lengths, or the current flow's AR-N graphs. */
export function backendInitFor(a: RunArgs, model: Model): BackendInit {
  return a.flow === "current"
    ? {
        model,
        contextLen: a.contextLen,
        arLens: currentArLens(a),
        attention: attentionFor(a, familyFor(a, model.config)),
      }
    : {
        model,
        kvSeqLen: a.modelMode !== "prefill" ? a.kvSeqLen : undefined,
        prefillSeqLen: a.modelMode !== "kv" ? a.prefillSeqLen : undefined,
      };
}

/** Formats whose files state the trained context (llama2.c header seq_len; Hugging Face max_position_embeddings). */
export const declaresContext = (format: string): boolean => format.startsWith("llama2c-bin") || format === "safetensors";

/** The files a run reads (an output must never be one of them). */
export const runInputs = (a: RunArgs): (string | undefined)[] => [
  a.checkpoint,
  a.quantizedModel,
  a.params,
  a.tokenizerBin,
  a.tokenizerModel,
  a.tokenizedPrompt,
  a.encodings,
  a.recipe,
  a.calibText,
  a.quantRecipe,
  a.calibSamples,
  a.calibDataset,
];

/**
 * One call's logits as the current runner's --dump_logits_path writes them (SPEC-2026 §11-8): the whole [AR, V]
 * output in the graph's dtype, little-endian — fp32, or the uint16 codes of a quantized graph.
 */
export function runnerLogitsBytes(logits: Float32Array, backend: Backend, vocabSize: number): Uint8Array {
  const enc = backend.logitsEncoding?.(logits.length / vocabSize);
  if (!enc) return f32Bytes(logits);
  const codes = rawLogitCodes(logits, enc);
  const out = new Uint8Array(codes.length * 2);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < codes.length; i++) dv.setUint16(2 * i, Math.min(65535, Math.max(0, codes[i])), true);
  return out;
}

/** What createRunBackend made: the backend of the run, and the encodings text of a quantized run (--dump_encodings). */
export interface RunBackend {
  backend: Backend | GraphBackend<CacheArray, MaskArray, LogitsArray>;
  /** The calibrated encodings as --dump_encodings writes them; undefined for a float run. */
  encodingsText?: () => string;
  /** How the graphs compute, in words ("fp32", "--ptq 16a4w", a recipe...). */
  description: string;
  /** The quantization fields of the run's --json stats (empty for a float run). */
  quantStats: () => Record<string, unknown>;
  /** The current flow's calibrated encodings (a --ptq run's, or a --quantized_model file's). */
  currentEncodings?: CurrentEncodings;
}

/**
 * The backend the run's flags select (used by run and eval): the current flow's quantized graph (--ptq / --quant_recipe /
 * --decoder_model, calibrated), the seed flow's converted graph or the tap-level experiment (--ptq / --recipe), else the
 * reference engine or the --backend named. Notes (calibration, experiment, lookahead padding) go to stderr.
 */
export async function createRunBackend(
  a: RunArgs,
  io: RunIO,
  model: Model,
  tok: Tokenizer | undefined,
  fam: ModelFamily,
  prompt: number[],
  stops: readonly number[],
  opened?: OpenedQuantizedModel,
): Promise<RunBackend> {
  if (opened) return quantizedModelRunBackend(a, io, opened);
  const current = a.flow === "current";
  const init = backendInitFor(a, model);
  const currentQuant = current && currentQuantRequested(a) ? await currentQuantSetup(a, io, model, tok, fam, prompt) : undefined;
  const seedQuant = !current && usesSeedGraphs(a)
    ? withProgress(ttyProgress(io, !a.json, "calibrating"), (bar) =>
        seedQuantSetup(a, model, fam, calibrationTokens(a, model, tok, fam, prompt), stops[0], init, bar.update),
      )
    : undefined;
  const quant = !current && !seedQuant && (a.ptq !== undefined || a.recipe !== undefined);
  const qenc = quant ? quantSetup(a, io, model, tok, fam, prompt, stops[0]) : undefined;
  const note = current ? undefined : experimentNote(a);
  const padNote = a.lookahead ? lookaheadPaddingNote(a.lookahead) : null;
  for (const n of [...(note ? [note] : []), ...(seedQuant?.notes ?? []), ...(currentQuant?.notes ?? []), ...(padNote ? [padNote] : [])]) io.stderr(n + "\n");
  const encodingsText = qenc
    ? () => serializeEncodings(encodingsToFile(qenc, model))
    : seedQuant
    ? () => seedQuant.encodingsText()
    : currentQuant
    ? () => currentQuant.encodingsText()
    : undefined;
  const scheme = a.ptq ?? (a.quantRecipe !== undefined ? `recipe ${a.quantRecipe}` : a.recipe !== undefined ? `recipe ${a.recipe}` : a.decoderModel !== undefined ? `${a.decoderModel} recipe` : undefined);
  const description = currentQuant || seedQuant || qenc ? `quantized (${scheme})` : `fp32 (${a.backend} backend)`;
  const backend = currentQuant
    ? currentQuant.backend
    : seedQuant
    ? seedQuant.backend
    : qenc
    ? createQuantizedBackend({ ...init, qenc })
    : a.backend === "reference"
      ? await createParallelReferenceBackend(init, { threads: a.threads })
      : await createBackend(a.backend, init, {
          providers: a.providers,
          pte: a.pte,
          backendLib: a.qnnBackendLib,
          systemLib: a.qnnSystemLib,
          provider: a.qnnProvider,
          threads: a.threads,
        });
  // The --json stats of a quantized run (read when the run ends: the overflow counts accumulate).
  const quantStats = (): Record<string, unknown> => ({
          ...(qenc ? { ptq: qenc.scheme, quant_simulation: "taps (experiment)" } : {}),
          ...(currentQuant
            ? { ...currentQuant.stats, ...(a.quantArithmetic === "integer" ? { int32_overflows: currentQuant.backend.integerStats.int32Overflows } : {}) }
            : {}),
          ...(seedQuant
            ? {
                ptq: a.ptq,
                quant_simulation: "seed graph",
                quant_arithmetic: a.quantArithmetic,
                ...(a.quantArithmetic === "integer" ? { int32_overflows: seedQuant.backend.integerStats.int32Overflows } : {}),
              }
            : {}),
  });
  return { backend, encodingsText, description, quantStats, currentEncodings: currentQuant?.encodings };
}

/** The run's backend from --quantized_model (opened by openRunQuantizedModel before the prompt was assembled). */
function quantizedModelRunBackend(a: RunArgs, io: RunIO, opened: OpenedQuantizedModel): RunBackend {
  const enc = opened.backend.encodings;
  const recipe = enc.recipe.recipe;
  io.stderr(`quantization: quantized model ${a.quantizedModel} (recipe ${recipe.name}, conv2d ${recipe.conv.scheme}, ${enc.recipe.kv.bits}-bit KV, calibrated on ${enc.sequences} sequence${enc.sequences === 1 ? "" : "s"} at CL ${enc.contextLen})\n`);
  return {
    backend: opened.backend,
    encodingsText: () => serializeCurrentEncodings(enc),
    description: `quantized (${a.quantizedModel})`,
    currentEncodings: enc,
    quantStats: () => ({
      ptq: recipe.conv.scheme,
      quant_recipe: recipe.name,
      quant_simulation: "current graph",
      quant_arithmetic: a.quantArithmetic,
      kv_bits: enc.recipe.kv.bits,
      quantized_model: a.quantizedModel,
      calibration_sequences: enc.sequences,
      ...(a.quantArithmetic === "integer" ? { int32_overflows: opened.backend.integerStats.int32Overflows } : {}),
    }),
  };
}

/**
 * The run's model: the checkpoint's (the current flow's RoPE default applied), or a --quantized_model file's with its
 * backend (and the run's flags with the attention variants it was calibrated with).
 */
export async function loadRunModel(a: RunArgs, io: RunIO): Promise<{ model: Model; format: string; args: RunArgs; opened?: OpenedQuantizedModel }> {
  if (a.quantizedModel !== undefined) {
    const opened = await openRunQuantizedModel(a);
    return { model: opened.model, format: opened.format, args: opened.args, opened };
  }
  return { ...loadCheckpointModel(a, io), args: a };
}

/** The checkpoint's model (a progress bar on a TTY), with the current flow's RoPE default when no --rope_scale_factor. */
export function loadCheckpointModel(a: RunArgs, io: RunIO): { model: Model; format: string } {
  const loaded = withProgress(ttyProgress(io, !a.json, "loading", "bytes"), (bar) =>
    loadModel({ checkpoint: a.checkpoint, params: a.params, ropeScaleFactor: a.ropeScaleFactor, applyLongRope: a.applyLongRope, onProgress: bar.update }),
  );
  const model = a.flow === "current" && a.ropeScaleFactor === undefined ? withCurrentRopeDefault(loaded.model) : loaded.model;
  return { model, format: loaded.format };
}

export async function runCommand(aIn: RunArgs, io: RunIO): Promise<void> {
  const outputs = [
    { flag: "--dump_logits", path: aIn.dumpLogits },
    { flag: "--dump_logits_path", path: aIn.dumpLogitsPath },
    { flag: "--dump_prompt_logits", path: aIn.dumpPromptLogits },
    { flag: "--dump_encodings", path: aIn.dumpEncodings },
    { flag: "--save_quantized", path: aIn.saveQuantized },
  ].filter((o): o is OutputPath => o.path !== undefined);
  let a = aIn;
  checkOutputs(outputs, runInputs(a));
  const current = a.flow === "current";
  // The runner accepts --dump_logits_path only with --eval_mode 0 (kv mode), SPEC-2026 §11-8.
  if (a.dumpLogitsPath !== undefined && a.modelMode !== "kv")
    throw new UserError(`--dump_logits_path needs --model_mode kv (the runner allows the dump only in eval_mode 0), got --model_mode ${a.modelMode}`);
  if (current) checkCurrentQuantFlags(a);
  const loadStart = Date.now();
  const loaded = await loadRunModel(a, io);
  a = loaded.args;
  const model = loaded.model;
  // A --quantized_model's backend exists from here (its pool's workers are unref'd: an early error does not hang).
  let disposeBackend: (() => void) | undefined = loaded.opened ? () => loaded.opened!.backend.dispose() : undefined;
  const fam = familyFor(a, model.config);
  const tok = await tokenizerFor(a, model.config.vocabSize);
  const promptIn = assemblePrompt({
    family: fam,
    tokenizer: tok,
    prompt: a.prompt,
    systemPrompt: a.systemPrompt,
    tokenizedIds: a.tokenizedPrompt !== undefined ? readTokenIds(a.tokenizedPrompt) : undefined,
    foldVocab: a.foldVocab,
    vocabSize: model.config.vocabSize,
  });
  for (const note of promptIn.notes) io.stderr(note + "\n");
  const prompt = promptIn.ids;
  checkFlowShape(a, model, prompt, loaded.format, io);
  // The device runner stops on the tokenizer's EOS (plus <|eot_id|> for Llama 3); without a tokenizer, the
  // family's stop set.
  const stops = tok ? familyStops(fam, tok) : fam.stops;

  let seed = a.seed;
  if (seed === undefined) {
    // The device seeds from the clock (std::time, seconds); say which seed it was so the run can be repeated.
    seed = BigInt(Math.floor(Date.now() / 1000));
    if (a.temperature !== 0) io.stderr(`seed: ${seed} (from the clock; pass --seed ${seed} to repeat)\n`);
  }
  const sampler = createSampler({ vocabSize: model.config.vocabSize, temperature: a.temperature, seed });

  const dumps: AtomicFile[] = [];
  const open = (p: string | undefined, flag: string) => {
    if (p === undefined) return undefined;
    const f = openAtomicFile(p, flag, io.interrupts);
    dumps.push(f);
    return f;
  };
  try {
    const dumpLogits = open(a.dumpLogits, "--dump_logits");
    const dumpCalls = open(a.dumpLogitsPath, "--dump_logits_path");
    const dumpPrompt = open(a.dumpPromptLogits, "--dump_prompt_logits");
    const { backend, encodingsText, quantStats, currentEncodings } = await createRunBackend(a, io, model, tok, fam, prompt, stops, loaded.opened);
    const dumpEnc = open(a.dumpEncodings, "--dump_encodings");
    if (dumpEnc && encodingsText) dumpEnc.write(new TextEncoder().encode(encodingsText()));
    const saveQuantized = open(a.saveQuantized, "--save_quantized");
    if (saveQuantized && currentEncodings) writeQuantizedModel(saveQuantized, model, currentEncodings);
    disposeBackend = () => backend.dispose();
    const loadEnd = Date.now();

    let text = "";
    const out = (s: string) => {
      if (s === "") return;
      text += s;
      if (!a.json) io.stdout(s);
    };
    const callbacks = {
      sampler,
      onSampleLogits: dumpLogits ? (row: Float32Array) => dumpLogits.write(f32Bytes(row)) : undefined,
      onPromptLogits: dumpPrompt ? (_pos: number, row: Float32Array) => dumpPrompt.write(f32Bytes(row)) : undefined,
    };
    // Each --prompt is a turn of one conversation in the current flow (SPEC-2026 §7): the cache and the position
    // carry over, BOS only at position 0, the chat template applied to every turn.
    const conversation = current
      ? createConversation({ config: model.config, mode: a.modelMode as CurrentMode, contextLen: a.contextLen, prefillArLen: a.prefillArLen, lookahead: lookaheadOption(a) })
      : undefined;
    const turnPrompts = current && a.prompts.length > 1 ? a.prompts : [a.prompt];
    const turns: { prompt_tokens: number[]; generated_tokens: number[]; text: string }[] = [];
    let result: GenerateResult | undefined;
    let samplingMs = 0;
    for (let k = 0; k < turnPrompts.length; k++) {
      const turnIn =
        k === 0
          ? promptIn
          : assemblePrompt({ family: fam, tokenizer: tok, prompt: turnPrompts[k], systemPrompt: a.systemPrompt, foldVocab: a.foldVocab, vocabSize: model.config.vocabSize, bos: false });
      const ids = turnIn.ids;
      const textStart = text.length;
      const dec = tok ? createStreamDecoder(tok) : undefined;
      // The runner prints the prompt first (token_callback(prompt)), then each sampled piece.
      if (a.tokenizedPrompt === undefined) out(turnIn.text);
      else if (dec) ids.forEach((id, i) => (i > 0 || id !== fam.bos) && out(dec.push(i > 0 ? ids[i - 1] : -1, id)));
      const onToken = (prev: number, t: number) => dec && out(dec.push(prev, t));
      result = current
        ? await generateCurrent(
            {
              ...callbacks,
              onToken,
              backend: backend as Backend,
              config: model.config,
              mode: a.modelMode as CurrentMode,
              contextLen: a.contextLen,
              prefillArLen: a.prefillArLen,
              maxSeqLen: a.maxSeqLen,
              promptTokens: ids,
              stopTokens: stops,
              lookahead: lookaheadOption(a),
              sampleRawCodes: a.sampleRawCodes,
              onCallLogits: dumpCalls ? (logits) => dumpCalls.write(runnerLogitsBytes(logits as Float32Array, backend as Backend, model.config.vocabSize)) : undefined,
            },
            conversation,
          )
        : await generate<CacheArray, MaskArray, LogitsArray>({
            ...callbacks,
            onToken,
            backend: backend as GraphBackend<CacheArray, MaskArray, LogitsArray>,
            config: model.config,
            mode: a.modelMode as EvalMode,
            kvSeqLen: a.kvSeqLen,
            prefillSeqLen: a.prefillSeqLen,
            kvUpdater: a.kvUpdater,
            promptTokens: ids,
            stopTokens: stops,
          });
      if (dec) out(dec.flush());
      // Quirk (SPEC-2026 §5.1): the runner never resets its stats between turns, so sampling time accumulates.
      samplingMs += result.timings.samplingMs;
      turns.push({ prompt_tokens: ids, generated_tokens: result.generatedTokens, text: text.slice(textStart) });
      if (k < turnPrompts.length - 1) {
        if (!a.json) io.stdout("\n");
        io.stderr([...reportLines(buildStats(result, loadStart, loadEnd)), stopLine(result, backend.name)].join("\n") + "\n");
      }
    }
    result = { ...result!, timings: { ...result!.timings, samplingMs } };
    const stats = buildStats(result, loadStart, loadEnd);
    const lhd = conversation?.lookahead ? lookaheadSummary(conversation.lookahead.state, deriveStats(stats).generation_s) : undefined;
    for (const f of dumps) f.commit();
    if (a.json) {
      // A conversation lists every turn; the top-level ids are all turns' in order.
      const obj = {
        prompt_tokens: turns.flatMap((t) => t.prompt_tokens),
        generated_tokens: turns.flatMap((t) => t.generated_tokens),
        text,
        stats: {
          ...stats,
          ...deriveStats(stats),
          seed: seed.toString(),
          mode: a.modelMode,
          kv_updater: a.kvUpdater,
          ...quantStats(),
          llama_model: fam.name,
          ...(model.config.arch ? { model_type: model.config.arch.modelType } : {}),
          checkpoint_format: loaded.format,
          backend: backend.name,
          stop_reason: stopReason(result),
          ...(current
            ? {
                flow: "current",
                max_context_len: a.contextLen,
                prefill_ar_len: a.prefillArLen,
                max_seq_len: a.maxSeqLen,
                masked_softmax: attentionFor(a, fam).maskedSoftmax,
                r3: attentionFor(a, fam).r3,
                sample_raw_codes: a.sampleRawCodes,
                ...(lhd ? { lookahead: lhd } : {}),
              }
            : {}),
        },
        ...(current ? { turns } : {}),
      };
      io.stdout(JSON.stringify(obj) + "\n");
    } else {
      io.stdout("\n");
    }
    io.stderr([...reportLines(stats), ...(lhd ? lookaheadLines(lhd) : []), stopLine(result, backend.name)].join("\n") + "\n");
  } finally {
    disposeBackend?.();
    for (const f of dumps) f.abort();
  }
}
