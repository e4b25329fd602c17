// Owns `llama-golden parity`: runs one prompt through the reference engine and a candidate backend
// (onnxruntime, tfjs, qnn, replay, or the reference itself) graph call by graph call and reports where they part
// (src/parity/run-parity.ts). Model and flow flags are the run command's (parseRunArgs); exit code 0 when
// every step is within tolerance, 1 when one is not, 2 on bad input (a UserError, via main).
import { loadTokenizer } from "../tokenizer/index.js";
import { createReferenceBackend } from "../backends/reference.js";
import { BACKEND_NAMES, createBackend, isBackendName } from "../backends/registry.js";
import type { Backend, BackendInit } from "../engine/backend.js";
import type { ModelFamily } from "../runner/model-family.js";
import { familyFor } from "./family.js";
import { assemblePrompt } from "../runner/prompt.js";
import { runParity } from "../parity/run-parity.js";
import { reportHtml, reportJson, reportMarkdown } from "../parity/report.js";
import { checkOutputs, openAtomicFile } from "./atomic-file.js";
import { ttyProgress, withProgress, writtenNote } from "./progress.js";
import { resolve } from "node:path";
import { createRecordingBackend } from "../backends/recording.js";
import { applyOverrides, defaultTolerance, parseToleranceFlag, PARITY_DTYPES, type ParityDType } from "../parity/tolerances.js";
import { UserError } from "../util/errors.js";
import type { RunArgs } from "./args.js";
import { parseSubcommandArgs } from "./subcommand-args.js";
import { readTokenIds } from "./tokenized-prompt.js";
import { backendInitFor, checkFlowShape, loadCheckpointModel, runInputs, type RunIO } from "./run.js";
import type { CurrentMode } from "../runner/current-session.js";
import type { EvalMode } from "../kvcache/types.js";
import { lookaheadOption } from "./lookahead-options.js";
import { createHash } from "node:crypto";
import { basename } from "node:path";
import type { Model } from "../engine/weights.js";
import type { ParityReport } from "../parity/run-parity.js";
import type { ParityTolerance } from "../parity/tolerances.js";
import { buildSweepReport, sweepHtml, sweepJson, sweepMarkdown, sweepRecordOf, type SweepMeta, type SweepRecord } from "../parity/sweep.js";
import { readPrompts } from "./tokenize-command.js";
import { keyArgvOf } from "./eval-command.js";
import { itemsOfShard, parseShardSpec, shardFromEnv, type Shard } from "../eval/shard.js";
import { asStored, openResultsStore } from "../eval/results-store.js";

export const PARITY_HELP = `llama-golden parity — compare a backend with the reference engine, graph call by graph call

Usage: llama-golden parity --backend NAME [model and flow flags] [flags]

  --backend NAME          candidate backend: ${BACKEND_NAMES.join(" | ")} (required)
  --replay_dir DIR        replay: the golden-vector recording to play back
  --providers LIST        onnxruntime: execution providers in order, comma-separated (e.g. qnn,cpu)
  --pte FILE              qnn: the ExecuTorch .pte holding the QNN context binary (required for qnn)
  --qnn_backend_lib PATH  qnn: libQnnHtp.so / QnnHtp.dll (default: $QNN_BACKEND_LIB, else $QNN_SDK_ROOT)
  --qnn_system_lib PATH   qnn: libQnnSystem.so / QnnSystem.dll (default: $QNN_SYSTEM_LIB, else $QNN_SDK_ROOT)
  --qnn_provider NAME     qnn: backend provider, when the library offers several
  --steps N               tokens to generate (default 8)
  --dtype NAME            tolerance set: ${PARITY_DTYPES.join(" | ")} (default fp32)
  --tol_sqnr_db X         override every SQNR limit (logits, K/V, bisection), in dB
  --tol_kl X              override the KL limit on next-token distributions (nats)
  --tol_max_abs X         add a max |difference| limit on logits and K/V
  --dump DIR              record every candidate call's inputs and outputs as golden vectors in DIR
  --html FILE             also write a self-contained HTML report with plots (SQNR and KL per step,
                          per-layer SQNR at the first failing step)
  --json                  stdout is one JSON object: {"passed": true|false, "steps": [...], ...}
  --prompts_file FILE     a sweep: one parity run per prompt of this JSON array of strings; the report has a
                          row per prompt (exit 1 when any fails)
  --shard K/N             sweep: run prompts i with i mod N = K (K from 0; also from SLURM_ARRAY_TASK_ID /
                          SLURM_ARRAY_TASK_COUNT or JOB_COMPLETION_INDEX, docs/scale.md); needs --results
  --results FILE          sweep: append each prompt's result to this JSONL file (a rerun resumes);
                          llama-golden merge FILE... makes the sweep's report
  -h, --help              this text

Model and flow flags as in the run command: --checkpoint --params --tokenizer_bin --tokenizer_model
--llama_model --rope_scale_factor --fold_vocab --prompt --system_prompt --tokenized_prompt --model_mode;
seed flow: --kv_updater --kv_seq_len --prefill_seq_len; current flow (--flow current): --max_context_len
--prefill_ar_len --max_seq_len --masked_softmax --r3. In the current flow every AR-N call is a step: the
prompt chunks (AR_pp rows, or one token per call in kv mode), then the AR = 1 decode calls.

A quantized device (qnn) departs from the fp32 reference by its quantization: pick the tolerance set of
its export with --dtype (e.g. 16a4w) or give explicit --tol_* limits (docs/qnn.md).

Two regimes: lock-step (the candidate gets the reference's tokens and caches before every call, so each call
is judged alone; the first failing call is bisected layer by layer when both backends report intermediate
tensors) and free-running (each backend on its own; the first differing token is reported).
Markdown report on stdout by default. Exit code 0: within tolerance; 1: a tolerance failed; 2: bad input.
`;

/** Flags of the parity command itself; everything else goes to the run command's parser. */
const PARITY_FLAGS = [
  "backend",
  "replay_dir",
  "providers",
  "pte",
  "qnn_backend_lib",
  "qnn_system_lib",
  "qnn_provider",
  "steps",
  "dtype",
  "tol_sqnr_db",
  "tol_kl",
  "tol_max_abs",
  "dump",
  "html",
  "prompts_file",
  "shard",
  "results",
] as const;
/** Run-command flags that mean nothing here (parity is greedy and writes its own report). */
const GREEDY = "greedy, report on stdout";
const NO_PTQ = "parity compares the fp32 graphs; the quantized simulation is not a parity candidate yet — use quant-report";
const REJECTED: Record<string, string> = {
  temperature: GREEDY,
  seed: GREEDY,
  dump_logits: GREEDY,
  dump_prompt_logits: GREEDY,
  ptq: NO_PTQ,
  recipe: NO_PTQ,
  calib_text: NO_PTQ,
  dump_encodings: NO_PTQ,
  encodings: NO_PTQ,
  save_quantized: NO_PTQ,
  quantized_model: NO_PTQ,
  ...Object.fromEntries(
    ["quant_recipe", "decoder_model", "group_size", "seq_mse_candidates", "calib_samples", "calib_dataset", "calib_column", "calib_max_samples", "quant_arithmetic", "quant_sim"].map((f) => [f, NO_PTQ]),
  ),
};

export interface ParityArgs {
  help: boolean;
  backend?: string;
  replayDir?: string;
  providers?: string[];
  /** qnn: the .pte and the QNN libraries / provider. */
  pte?: string;
  qnnBackendLib?: string;
  qnnSystemLib?: string;
  qnnProvider?: string;
  steps: number;
  dtype: ParityDType;
  tolSqnrDb?: number;
  tolKl?: number;
  tolMaxAbs?: number;
  dump?: string;
  html?: string;
  /** The flags that decide a sweep's results (its run key): argv without output, shard and thread flags. */
  keyArgv: string[];
  /** A sweep: one parity run per prompt of this JSON array of strings (src/parity/sweep.ts). */
  promptsFile?: string;
  shardFlag?: string;
  results?: string;
  run: RunArgs;
}

export function parseParityArgs(argv: string[]): ParityArgs {
  const { help, own, run } = parseSubcommandArgs("parity", argv, PARITY_FLAGS, REJECTED);
  const stepsText = own.steps;
  let steps = 8;
  if (stepsText !== undefined) {
    if (!/^\s*\d+\s*$/.test(stepsText) || !(Number(stepsText) >= 1) || !Number.isSafeInteger(Number(stepsText)))
      throw new UserError(`--steps ${JSON.stringify(stepsText)}: expected an integer >= 1`);
    steps = Number(stepsText);
  }
  const dtypeText = own.dtype ?? "fp32";
  const dtype = PARITY_DTYPES.find((d) => d === dtypeText.toLowerCase());
  if (!dtype) throw new UserError(`--dtype ${JSON.stringify(dtypeText)}: expected one of ${PARITY_DTYPES.join(", ")}`);
  let providers: string[] | undefined;
  if (own.providers !== undefined) {
    providers = own.providers.split(",").map((p) => p.trim()).filter((p) => p !== "");
    if (providers.length === 0) throw new UserError(`--providers ${JSON.stringify(own.providers)}: expected a comma-separated list such as qnn,cpu`);
  }
  return {
    help,
    backend: own.backend,
    replayDir: own.replay_dir,
    providers,
    pte: own.pte,
    qnnBackendLib: own.qnn_backend_lib,
    qnnSystemLib: own.qnn_system_lib,
    qnnProvider: own.qnn_provider,
    steps,
    dtype,
    tolSqnrDb: parseToleranceFlag("tol_sqnr_db", own.tol_sqnr_db, true),
    tolKl: parseToleranceFlag("tol_kl", own.tol_kl),
    tolMaxAbs: parseToleranceFlag("tol_max_abs", own.tol_max_abs),
    dump: own.dump,
    html: own.html,
    keyArgv: keyArgvOf(argv),
    promptsFile: own.prompts_file,
    shardFlag: own.shard,
    results: own.results,
    run,
  };
}

/** Test seams; the command line never passes these. */
export interface ParityHooks {
  /** Replaces the candidate backend after it is built (fault injection in tests). */
  wrapCandidate?: (b: Backend, init: BackendInit) => Backend;
}


/** The prompt ids (src/runner/prompt.ts); the tokenizer is loaded only when the prompt is text. */
async function promptTokens(a: RunArgs, vocabSize: number, family: ModelFamily): Promise<number[]> {
  const tokenizedIds = a.tokenizedPrompt !== undefined ? readTokenIds(a.tokenizedPrompt) : undefined;
  const path = a.tokenizerBin ?? a.tokenizerModel;
  const tokenizer =
    tokenizedIds === undefined && path !== undefined ? await loadTokenizer(path, { expectedVocabSize: a.foldVocab ? undefined : vocabSize }) : undefined;
  return assemblePrompt({ family, tokenizer, prompt: a.prompt, systemPrompt: a.systemPrompt, tokenizedIds, foldVocab: a.foldVocab, vocabSize }).ids;
}

export async function parityCommand(argv: string[], io: RunIO, hooks: ParityHooks = {}): Promise<number> {
  const p = parseParityArgs(argv);
  if (p.help) {
    io.stdout(PARITY_HELP);
    return 0;
  }
  if (p.backend === undefined) throw new UserError(`parity: --backend is required (${BACKEND_NAMES.join(", ")})`);
  if (!isBackendName(p.backend)) throw new UserError(`parity: unknown backend ${JSON.stringify(p.backend)}: expected one of ${BACKEND_NAMES.join(", ")}`);
  if (p.replayDir !== undefined && p.backend !== "replay") throw new UserError("parity: --replay_dir is for --backend replay");
  if (p.providers !== undefined && p.backend !== "onnxruntime") throw new UserError("parity: --providers is for --backend onnxruntime");
  for (const [flag, v] of [["pte", p.pte], ["qnn_backend_lib", p.qnnBackendLib], ["qnn_system_lib", p.qnnSystemLib], ["qnn_provider", p.qnnProvider]] as const)
    if (v !== undefined && p.backend !== "qnn") throw new UserError(`parity: --${flag} is for --backend qnn`);
  if (p.backend === "qnn" && p.pte === undefined) throw new UserError("parity: --backend qnn needs --pte FILE (the ExecuTorch program holding the QNN context binary)");
  const a = p.run;
  const inputs = [...runInputs(a), p.replayDir, p.pte];
  if (p.html !== undefined) checkOutputs([{ flag: "--html", path: p.html }], inputs);
  if (p.dump !== undefined && inputs.some((i) => i !== undefined && resolve(i) === resolve(p.dump!)))
    throw new UserError(`--dump ${p.dump}: is an input of this run; choose an empty directory`);

  const prompts = p.promptsFile !== undefined ? readPrompts(p.promptsFile) : undefined;
  if (prompts !== undefined) {
    if (prompts.length === 0) throw new UserError(`prompts file ${p.promptsFile}: the array is empty`);
    if (p.dump !== undefined) throw new UserError("parity --prompts_file: --dump records one run; record a single prompt's run instead");
    if (a.tokenizedPrompt !== undefined || a.prompts.length > 0) throw new UserError("parity --prompts_file: the prompts come from the file; drop --prompt / --tokenized_prompt");
  } else if (p.shardFlag !== undefined || p.results !== undefined) throw new UserError("parity: --shard and --results split a sweep; give --prompts_file FILE");
  if (p.results !== undefined) checkOutputs([{ flag: "--results", path: p.results }], [...inputs, p.promptsFile, p.html]);

  const current = a.flow === "current";
  const loaded = loadCheckpointModel(a, io);
  const model = loaded.model;
  const family = familyFor(a, model.config);
  const init = backendInitFor(a, model);
  if (prompts !== undefined) return await sweepCommand(p, prompts, io, { model, family, format: loaded.format, init, hooks });
  const prompt = await promptTokens(a, model.config.vocabSize, family);
  checkFlowShape(a, model, prompt, loaded.format, io);
  const tolerance = applyOverrides(defaultTolerance(p.backend, p.dtype), { sqnrDb: p.tolSqnrDb, maxKl: p.tolKl, maxAbs: p.tolMaxAbs });

  const reference = createReferenceBackend(init);
  let candidate = await candidateBackend(p, init);
  let recording: { complete(): void } | undefined;
  try {
    if (hooks.wrapCandidate) candidate = hooks.wrapCandidate(candidate, init);
    if (p.dump !== undefined) {
      const rec = createRecordingBackend(candidate, p.dump, init, io.interrupts);
      recording = rec;
      candidate = rec;
    }
    const report = await withProgress(ttyProgress(io, !a.json, "parity"), (bar) => parityOf(a, { model, reference, candidate, promptTokens: prompt, steps: p.steps, tolerance }, bar.update));
    recording?.complete();
    if (p.html !== undefined) {
      const f = openAtomicFile(p.html, "--html", io.interrupts);
      f.write(new TextEncoder().encode(reportHtml(report)));
      f.commit();
      if (!a.json) io.stderr(writtenNote("HTML report", p.html));
    }
    io.stdout(a.json ? reportJson(report) + "\n" : reportMarkdown(report));
    return report.passed ? 0 : 1;
  } finally {
    candidate.dispose();
    reference.dispose();
  }
}

/** The candidate backend the flags name, with taps (for the bisection). */
function candidateBackend(p: ParityArgs, init: BackendInit): Promise<Backend> {
  return createBackend(p.backend!, init, {
    replayDir: p.replayDir,
    providers: p.providers,
    taps: true,
    pte: p.pte,
    backendLib: p.qnnBackendLib,
    systemLib: p.qnnSystemLib,
    provider: p.qnnProvider,
    threads: p.run.threads,
  });
}

type ParityCommon = { model: Model; reference: Backend; candidate: Backend; promptTokens: number[]; steps: number; tolerance: ParityTolerance };

/** One parity run of the flow the flags select. */
function parityOf(a: RunArgs, common: ParityCommon, onProgress?: (done: number, total: number) => void): Promise<ParityReport> {
  return runParity(
    a.flow === "current"
      ? { ...common, flow: "current", mode: a.modelMode as CurrentMode, contextLen: a.contextLen, prefillArLen: a.prefillArLen, maxSeqLen: a.maxSeqLen, lookahead: lookaheadOption(a), onProgress }
      : { ...common, mode: a.modelMode as EvalMode, kvUpdater: a.kvUpdater, kvSeqLen: a.kvSeqLen, prefillSeqLen: a.prefillSeqLen, onProgress },
  );
}

/**
 * `parity --prompts_file`: one lock-step parity run per prompt (the same backends throughout), condensed into sweep
 * records (src/parity/sweep.ts); sharded with --shard / the environment into a resumable --results file.
 */
async function sweepCommand(
  p: ParityArgs,
  prompts: string[],
  io: RunIO,
  o: { model: Model; family: ModelFamily; format: string; init: BackendInit; hooks: ParityHooks },
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const a = p.run;
  const { model, family } = o;
  const V = model.config.vocabSize;
  const shard: Shard = p.shardFlag !== undefined ? parseShardSpec(p.shardFlag, "--shard") : (shardFromEnv(env) ?? { index: 0, count: 1 });
  if (shard.count > 1 && p.results === undefined) throw new UserError(`parity: shard ${shard.index}/${shard.count} needs --results FILE (its prompts are merged with llama-golden merge)`);
  const path = a.tokenizerBin ?? a.tokenizerModel;
  if (path === undefined) throw new UserError("parity --prompts_file: no tokenizer: give --tokenizer_bin / --tokenizer_model (the prompts are text)");
  const tokenizer = await loadTokenizer(path, { expectedVocabSize: a.foldVocab ? undefined : V });
  const ids = prompts.map((text, i) => {
    try {
      const t = assemblePrompt({ family, tokenizer, prompt: text, systemPrompt: a.systemPrompt, foldVocab: a.foldVocab, vocabSize: V }).ids;
      checkFlowShape(a, model, t, o.format, { stderr: () => {} });
      return t;
    } catch (e) {
      if (e instanceof UserError) throw new UserError(`prompts file ${p.promptsFile}: prompt ${i}: ${e.message}`);
      throw e;
    }
  });
  const tolerance = applyOverrides(defaultTolerance(p.backend!, p.dtype), { sqnrDb: p.tolSqnrDb, maxKl: p.tolKl, maxAbs: p.tolMaxAbs });
  const meta: SweepMeta = { kind: "parity-sweep", backend: p.backend!, flow: a.flow === "current" ? "current" : "seed", mode: a.modelMode, promptsFile: basename(p.promptsFile!), tolerance, items: prompts.length };
  const key = createHash("sha256").update(JSON.stringify({ v: 1, argv: p.keyArgv, prompts })).digest("hex");
  const store = p.results !== undefined
    ? await openResultsStore<SweepRecord>(p.results, { key: { key, items: prompts.length, description: `parity sweep: ${p.backend} vs reference` }, shard, meta }, io)
    : undefined;
  const mine = itemsOfShard(prompts.length, shard.index, shard.count);
  const records: SweepRecord[] = [];
  const todo: number[] = [];
  for (const i of mine) {
    const done = store?.done.get(i);
    if (done) records.push(done);
    else todo.push(i);
  }
  if (store && records.length > 0 && !a.json) io.stderr(`resuming ${p.results}: ${records.length} of ${mine.length} prompts already run\n`);
  const reference = createReferenceBackend(o.init);
  let candidate = await candidateBackend(p, o.init);
  try {
    if (o.hooks.wrapCandidate) candidate = o.hooks.wrapCandidate(candidate, o.init);
    await withProgress(ttyProgress(io, !a.json, "parity sweep"), async (bar) => {
      bar.update(0, todo.length);
      let n = 0;
      for (const i of todo) {
        const report = await parityOf(a, { model, reference, candidate, promptTokens: ids[i], steps: p.steps, tolerance });
        const rec = asStored(sweepRecordOf(i, prompts[i], report), `parity sweep prompt ${i}`);
        await store?.append(rec);
        records.push(rec);
        bar.update(++n, todo.length);
      }
    });
  } finally {
    candidate.dispose();
    reference.dispose();
    store?.close();
  }
  if (shard.count > 1) {
    const failed = records.filter((r) => !r.passed).length;
    const msg = `shard ${shard.index}/${shard.count}: ${mine.length} prompts run into ${p.results} (${failed} failed); make the report with llama-golden merge`;
    io.stdout(a.json ? JSON.stringify({ shard: shard.index, shards: shard.count, items: mine.length, failed, results: resolve(p.results!) }) + "\n" : msg + "\n");
    return failed === 0 ? 0 : 1;
  }
  const report = buildSweepReport(meta, records);
  if (p.html !== undefined) {
    const f = openAtomicFile(p.html, "--html", io.interrupts);
    f.write(new TextEncoder().encode(sweepHtml(report)));
    f.commit();
    if (!a.json) io.stderr(writtenNote("HTML report", p.html));
  }
  io.stdout(a.json ? sweepJson(report) + "\n" : sweepMarkdown(report));
  return report.passed ? 0 : 1;
}
