// Owns `llama-golden quant-report`: calibrates a `--ptq` scheme (SPEC §7) and reports how far the quantized KV
// graph departs from fp32 (src/quant/report.ts): per-step logits SQNR / KL / top-1 on a greedy run, per-layer
// activation SQNR, and perplexity on an evaluation text. Model flags are the run command's (parseRunArgs);
// kv mode only. Exit code 0 on success, 2 on bad input (a UserError, via main).
// `--flow current` reports a current-flow recipe instead (src/quant/current/report.ts), with the suggested recipe.
// `--compare_encodings A B` is a mode of its own: no model, only two encodings files compared
// (src/quant/encodings-diff.ts) with its flags --tol_rel, --tol_offset, --name_map, --json; exit code 0 when
// they agree, 1 when they differ.
import { join } from "node:path";
import { loadTokenizer } from "../tokenizer/index.js";
import { familyFor } from "./family.js";
import { assemblePrompt, plainTextIds, requireLlama3Tokenizer } from "../runner/prompt.js";
import { checkRunShape } from "../runner/session.js";
import { SCHEME_NAMES, type SchemeName } from "../quant/schemes.js";
import { quantReport, reportHtml, reportJson, reportMarkdown } from "../quant/report.js";
import { seedQuantReport } from "../quant/seed/report.js";
import { SEED_SCHEMES, type SeedScheme } from "../quant/seed/qspecs.js";
import { readEncodingsAny } from "../quant/encodings-formats.js";
import { DEFAULT_TOL_REL, diffEncodings, showTolerance, diffJson, diffMarkdown, parseNameMap } from "../quant/encodings-diff.js";
import { UserError } from "../util/errors.js";
import { readUserText } from "../util/files.js";
import { PACKAGE_ROOT, type RunArgs } from "./args.js";
import { parseSubcommandArgs } from "./subcommand-args.js";
import { checkOutputs, openAtomicFile } from "./atomic-file.js";
import { ttyProgress, withProgress, writtenNote } from "./progress.js";
import { readTokenIds } from "./tokenized-prompt.js";
import { loadCheckpointModel, runInputs, type RunIO } from "./run.js";
import { CURRENT_PTQ, currentQuantSetup } from "./current-quant.js";
import { currentQuantReport } from "../quant/current/report.js";
import { checkCurrentShape } from "../runner/current-session.js";

/** The evaluation text shipped with the package (an original children's story, for TinyStories models). */
export const DEFAULT_EVAL_TEXT = join(PACKAGE_ROOT, "data", "eval.txt");

export const QUANT_REPORT_HELP = `llama-golden quant-report — how far a --ptq scheme moves the model from fp32

Usage: llama-golden quant-report --ptq ${SCHEME_NAMES.join("|")} [model flags] [flags]
       llama-golden quant-report --flow current (--decoder_model NAME | --quant_recipe FILE | --ptq S) [flags]
       llama-golden quant-report --compare_encodings A B [--tol_rel X] [--tol_offset N] [--name_map FILE] [--json]

  --ptq SCHEME            quantization scheme (required): 8a8w, 16a4w, 16a4w_block run the seed's converted
                          graph on integer codes and compare it with its fp32 fake-quant oracle too;
                          16a8w, 16a16w are the tap-level experiment (not seed schemes)
  --quant_sim S           seed (default for the seed's schemes) | taps (the tap-level experiment)
  --group_size N          16a4w_block's block length (default 64)
  --sensitivity_threshold DB  a conv whose output SQNR is below DB is flagged sensitive (default 20); the
                          report lists per-layer minima, the worst convs with their weight and input
                          outlier statistics (kurtosis, max / p99.9)
  --steps N               tokens to generate in the comparison run (default: until the cache is full)
  --eval_text FILE        text for perplexity (default data/eval.txt of the package)
  --calib_text FILE       calibrate on this text's tokens (up to kv_seq_len - 1) instead of a greedy
                          fp32 run on the prompt
  --html FILE             also write a self-contained HTML report with plots
  --json                  stdout is one JSON object
  -h, --help              this text

--flow current            the current flow's recipes (as the run command: --decoder_model NAME, --quant_recipe
                          FILE, --ptq ${CURRENT_PTQ.join("|")} replacing the conv2d scheme, --group_size N,
                          --seq_mse_candidates K, --masked_softmax, --r3), calibrated on --calib_text /
                          --calib_samples / --calib_dataset (else the prompt) at --max_context_len, compared
                          with fp32 on the AR = 1 decode graph: per step, per conv (with the sensitivity
                          analysis) and perplexity (windows of max_context_len - 1 tokens)
  --suggest_recipe FILE   write the suggested recipe: the recipe run plus a 16a8w override per conv below
                          --sensitivity_threshold that is not 16a8w yet (a --quant_recipe file; the report
                          shows it too)

Model flags as in the run command: --checkpoint --params --tokenizer_bin --tokenizer_model --llama_model
--rope_scale_factor --fold_vocab --prompt --system_prompt --tokenized_prompt --kv_updater --kv_seq_len.
KV mode only. Perplexity is teacher-forced over windows of at most kv_seq_len - 1 tokens, the cache restarted
for each window. Markdown report on stdout by default. Exit code 0: report written; 2: bad input.

--compare_encodings A B   compare two encodings files instead (no model is loaded, no --ptq): each AIMET 0.x
                          (0.6.1, --dump_encodings), AIMET 1.0.0, or "qnn inspect --json" output saved to a
                          file. Lists the tensors whose dtype / bitwidth / symmetry / scale / offset differ and
                          those in one file only. Exit code 0: the same within the tolerances; 1: different.
  --tol_rel X             relative scale tolerance (default ${showTolerance(DEFAULT_TOL_REL)})
  --tol_offset N          largest allowed offset difference (default 0: exact)
  --name_map FILE         JSON object: tensor name in A -> tensor name in B (names are otherwise matched
                          exactly; QNN's tensor names and module paths have no reliable automatic mapping)
  --json                  stdout is one JSON object
`;

/** The flags of the --compare_encodings mode (with a value), and --json. */
const COMPARE_FLAGS = ["tol_rel", "tol_offset", "name_map"] as const;
type CompareFlag = (typeof COMPARE_FLAGS)[number];
const COMPARE = "quant-report --compare_encodings";

const OWN_FLAGS = ["ptq", "steps", "eval_text", "calib_text", "html", "quant_sim", "group_size", "sensitivity_threshold", "suggest_recipe"] as const;
/** Run-command flags that mean nothing here (greedy, kv mode, report on stdout). */
const GREEDY = "greedy, kv mode, report on stdout";
const OWN = "the report calibrates --ptq itself and runs the reference graphs on one thread";
const REJECTED: Record<string, string> = Object.fromEntries([
  ...["temperature", "seed", "dump_logits", "dump_prompt_logits", "model_mode", "prefill_seq_len"].map((f) => [f, GREEDY]),
  ...["recipe", "encodings", "dump_encodings", "backend", "providers", "pte", "qnn_backend_lib", "qnn_system_lib", "qnn_provider", "threads"].map((f) => [f, OWN]),
  ["quant_arithmetic", "the report runs the integer graph and compares it with the fake-quant oracle itself"],
  ...["save_quantized", "quantized_model"].map((f) => [f, "the report calibrates from the fp32 checkpoint and compares with it: it needs the checkpoint, not a quantized model file"]),
]);

export interface QuantReportArgs {
  help: boolean;
  /** Seed flow: any SchemeName; current flow: a CURRENT_PTQ scheme (a subset). */
  ptq?: SchemeName;
  steps?: number;
  evalText: string;
  calibText?: string;
  html?: string;
  /** The seed's converted graph (default for its schemes) or the tap-level experiment. */
  quantSim: "seed" | "taps";
  groupSize?: number;
  /** dB below which a conv counts as sensitive (seed graph, current flow). */
  sensitivityThresholdDb?: number;
  /** Current flow: write the suggested --quant_recipe file here. */
  suggestRecipe?: string;
  run: RunArgs;
}

export function parseQuantReportArgs(argv: string[]): QuantReportArgs {
  const { help, own, run } = parseSubcommandArgs("quant-report", argv, OWN_FLAGS, REJECTED);
  const current = run.flow === "current";
  let ptq: SchemeName | undefined;
  if (own.ptq !== undefined) {
    const names: readonly string[] = current ? CURRENT_PTQ : SCHEME_NAMES;
    ptq = names.find((s) => s === own.ptq!.toLowerCase()) as SchemeName | undefined;
    if (!ptq) throw new UserError(`--ptq ${JSON.stringify(own.ptq)}: expected one of ${names.join(", ")}${current ? " (the current flow's schemes)" : ""}`);
  }
  let steps: number | undefined;
  if (own.steps !== undefined) {
    if (!/^\s*\d+\s*$/.test(own.steps) || !(Number(own.steps) >= 1) || !Number.isSafeInteger(Number(own.steps)))
      throw new UserError(`--steps ${JSON.stringify(own.steps)}: expected an integer >= 1`);
    steps = Number(own.steps);
  }
  const seedScheme = ptq !== undefined && (SEED_SCHEMES as readonly string[]).includes(ptq);
  const sim = own.quant_sim?.toLowerCase();
  if (current && sim !== undefined) throw new UserError("--quant_sim chooses between the seed flow's simulations; --flow current runs the current flow's quantized graph");
  if (sim !== undefined && sim !== "seed" && sim !== "taps") throw new UserError(`--quant_sim ${JSON.stringify(own.quant_sim)}: expected one of seed, taps`);
  if (sim === "seed" && ptq !== undefined && !seedScheme) throw new UserError(`--quant_sim seed runs the seed's schemes (${SEED_SCHEMES.join(", ")}) only; ${ptq} is the tap-level experiment`);
  const quantSim = sim === "taps" || (!current && ptq !== undefined && !seedScheme) ? "taps" : "seed";
  let groupSize: number | undefined;
  if (own.group_size !== undefined) {
    if (!/^\s*\d+\s*$/.test(own.group_size) || !(Number(own.group_size) >= 1) || !Number.isSafeInteger(Number(own.group_size)))
      throw new UserError(`--group_size ${JSON.stringify(own.group_size)}: expected an integer >= 1`);
    if (!current && (ptq !== "16a4w_block" || quantSim !== "seed")) throw new UserError("--group_size is the block length of --ptq 16a4w_block (seed graph)");
    groupSize = Number(own.group_size);
  }
  let sensitivityThresholdDb: number | undefined;
  if (own.sensitivity_threshold !== undefined) {
    const x = Number(own.sensitivity_threshold);
    if (!/^\s*-?[0-9.]+\s*$/.test(own.sensitivity_threshold) || !Number.isFinite(x))
      throw new UserError(`--sensitivity_threshold ${JSON.stringify(own.sensitivity_threshold)}: expected a number of dB`);
    if (quantSim !== "seed") throw new UserError("--sensitivity_threshold applies to the per-conv analysis of the seed graph (--quant_sim seed) or the current flow");
    sensitivityThresholdDb = x;
  }
  if (own.suggest_recipe !== undefined && !current) throw new UserError("--suggest_recipe writes a --quant_recipe file of the current flow; give --flow current");
  return { help, ptq, steps, evalText: own.eval_text ?? DEFAULT_EVAL_TEXT, calibText: own.calib_text, html: own.html, quantSim, groupSize, sensitivityThresholdDb, suggestRecipe: own.suggest_recipe, run };
}

export interface CompareEncodingsArgs {
  help: boolean;
  files: [string, string];
  tolRel: number;
  tolOffset: number;
  nameMap?: string;
  json: boolean;
}

/** Splits `--compare_encodings A B` (or `--compare_encodings=A B`) off argv; undefined when it is not given. */
export function splitCompareEncodings(argv: string[]): { files: [string, string]; rest: string[] } | undefined {
  const at = argv.findIndex((a) => a === "--compare_encodings" || a.startsWith("--compare_encodings="));
  if (at < 0) return undefined;
  if (argv.slice(at + 1).some((a) => a === "--compare_encodings" || a.startsWith("--compare_encodings="))) throw new UserError(`quant-report: --compare_encodings given twice`);
  const inline = argv[at].startsWith("--compare_encodings=") ? [argv[at].slice("--compare_encodings=".length)] : [];
  const files = [...inline, ...argv.slice(at + 1, at + 3 - inline.length)];
  if (files.length < 2 || files.some((f) => f === "" || f.startsWith("--")))
    throw new UserError(`${COMPARE} needs two files, A and B (see quant-report --help)`);
  return { files: [files[0], files[1]], rest: [...argv.slice(0, at), ...argv.slice(at + 3 - inline.length)] };
}

/** The rest of a --compare_encodings command line: only its own flags; anything else is refused by name. */
export function parseCompareEncodingsArgs(files: [string, string], rest: string[]): CompareEncodingsArgs {
  const own: Partial<Record<CompareFlag, string>> = {};
  let help = false;
  let json = false;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === "-h" || a === "--help") help = true;
    else if (a === "--json") json = true;
    else {
      const m = /^--([A-Za-z_]+)(?:=(.*))?$/s.exec(a);
      if (!m) throw new UserError(`${COMPARE}: unexpected argument ${JSON.stringify(a)} (it takes two files)`);
      const name = m[1];
      if (!(COMPARE_FLAGS as readonly string[]).includes(name))
        throw new UserError(`${COMPARE}: --${name} is not used when comparing encodings (no model is loaded; the flags are --${COMPARE_FLAGS.join(", --")}, --json)`);
      let v = m[2];
      if (v === undefined) {
        if (i + 1 >= rest.length || rest[i + 1].startsWith("--")) throw new UserError(`${COMPARE}: --${name} needs a value`);
        v = rest[++i];
      }
      if (own[name as CompareFlag] !== undefined) throw new UserError(`${COMPARE}: --${name} given twice`);
      own[name as CompareFlag] = v;
    }
  }
  let tolRel = DEFAULT_TOL_REL;
  if (own.tol_rel !== undefined) {
    const x = Number(own.tol_rel);
    if (!/^\s*[0-9.]+(e[-+]?\d+)?\s*$/i.test(own.tol_rel) || !Number.isFinite(x) || x < 0)
      throw new UserError(`--tol_rel ${JSON.stringify(own.tol_rel)}: expected a number >= 0`);
    tolRel = x;
  }
  let tolOffset = 0;
  if (own.tol_offset !== undefined) {
    if (!/^\s*\d+\s*$/.test(own.tol_offset) || !Number.isSafeInteger(Number(own.tol_offset)))
      throw new UserError(`--tol_offset ${JSON.stringify(own.tol_offset)}: expected an integer >= 0`);
    tolOffset = Number(own.tol_offset);
  }
  return { help, files, tolRel, tolOffset, nameMap: own.name_map, json };
}

/** `quant-report --compare_encodings A B`: the comparison on stdout; 0 when the files agree, 1 when not. */
function compareEncodingsCommand(c: CompareEncodingsArgs, io: RunIO): number {
  if (c.help) {
    io.stdout(QUANT_REPORT_HELP);
    return 0;
  }
  const [a, b] = c.files.map(readEncodingsAny);
  const nameMap = c.nameMap !== undefined ? parseNameMap(readUserText(c.nameMap, "--name_map"), c.nameMap) : undefined;
  const d = diffEncodings(a, b, { tolRel: c.tolRel, tolOffset: c.tolOffset, nameMap, nameMapFile: c.nameMap });
  io.stdout(c.json ? diffJson(d) + "\n" : diffMarkdown(d));
  return d.same ? 0 : 1;
}

/**
 * The model (with the current flow's RoPE default in that flow, unless --rope_scale_factor), its family, the
 * tokenizer (required: the evaluation text needs one), the prompt ids, and plain text -> ids (no chat template, BOS).
 */
async function loadReportInputs(a: RunArgs, io: RunIO) {
  const loaded = loadCheckpointModel(a, io);
  const model = loaded.model;
  const V = model.config.vocabSize;
  const family = familyFor(a, model.config);
  const path = a.tokenizerBin ?? a.tokenizerModel;
  if (path === undefined) throw new UserError("quant-report: no tokenizer: give --tokenizer_bin / --tokenizer_model (needed for the evaluation text)");
  const tok = await loadTokenizer(path, { expectedVocabSize: a.foldVocab ? undefined : V });
  if (family.name === "llama3_2") requireLlama3Tokenizer(tok);
  const tokenizedIds = a.tokenizedPrompt !== undefined ? readTokenIds(a.tokenizedPrompt) : undefined;
  const prompt = assemblePrompt({ family, tokenizer: tok, prompt: a.prompt, systemPrompt: a.systemPrompt, tokenizedIds, foldVocab: a.foldVocab, vocabSize: V }).ids;
  const plain = (text: string) => plainTextIds(family, tok, text, V, a.foldVocab);
  return { model, family, tok, prompt, plain };
}

/** Writes `text` to `path` atomically (an output flag's file). */
function writeOutput(path: string, flag: string, text: string, io: RunIO, what: string, json: boolean): void {
  const f = openAtomicFile(path, flag, io.interrupts);
  try {
    f.write(new TextEncoder().encode(text));
    f.commit();
    if (!json) io.stderr(writtenNote(what, path));
  } finally {
    f.abort();
  }
}

/**
 * `quant-report --flow current`: the recipe the flags select (--decoder_model, --quant_recipe, --ptq, --group_size, as
 * the run command), calibrated on the calibration data (or the prompt), compared with fp32 on the decode graph.
 */
async function currentReportCommand(p: QuantReportArgs, io: RunIO): Promise<number> {
  const a: RunArgs = { ...p.run, ptq: p.ptq, groupSize: p.groupSize, calibText: p.calibText, modelMode: "kv" };
  if (a.ptq === undefined && a.decoderModel === undefined && a.quantRecipe === undefined)
    throw new UserError(`quant-report --flow current: give the recipe: --decoder_model NAME, --quant_recipe FILE, or --ptq ${CURRENT_PTQ.join("|")} (the checkpoint family's recipe with that conv2d scheme)`);
  const outputs = [
    ...(p.html !== undefined ? [{ flag: "--html", path: p.html }] : []),
    ...(p.suggestRecipe !== undefined ? [{ flag: "--suggest_recipe", path: p.suggestRecipe }] : []),
  ];
  if (outputs.length > 0) checkOutputs(outputs, [...runInputs(a), p.evalText]);
  const evalText = readUserText(p.evalText, "--eval_text");
  const { model, family, tok, prompt, plain } = await loadReportInputs(a, io);
  checkCurrentShape({ config: model.config, mode: "kv", contextLen: a.contextLen, prefillArLen: 1, maxSeqLen: a.contextLen, promptTokens: prompt });
  const evalTokens = plain(evalText);
  if (evalTokens.length < 2) throw new UserError(`--eval_text ${p.evalText}: fewer than 2 tokens`);

  const setup = await currentQuantSetup(a, io, model, tok, family, prompt);
  for (const n of setup.notes) io.stderr(n + "\n");
  const report = await withProgress(ttyProgress(io, !a.json, "quant-report"), (bar) =>
    currentQuantReport(model, setup.encodings, {
      promptTokens: prompt,
      evalTokens,
      steps: p.steps,
      stopTokens: family.stops,
      calibration: setup.calibration,
      sensitivityThresholdDb: p.sensitivityThresholdDb,
      onProgress: bar.update,
    }),
  );
  if (p.suggestRecipe !== undefined) writeOutput(p.suggestRecipe, "--suggest_recipe", JSON.stringify(report.suggestedRecipe!.recipe, null, 2) + "\n", io, "suggested recipe", a.json);
  if (p.html !== undefined) writeOutput(p.html, "--html", reportHtml(report), io, "HTML report", a.json);
  io.stdout(a.json ? reportJson(report) + "\n" : reportMarkdown(report));
  return 0;
}

export async function quantReportCommand(argv: string[], io: RunIO): Promise<number> {
  const compare = splitCompareEncodings(argv);
  if (compare !== undefined) return compareEncodingsCommand(parseCompareEncodingsArgs(compare.files, compare.rest), io);
  const misplaced = argv.map((a) => /^--([A-Za-z_]+)/.exec(a)?.[1]).find((f) => f !== undefined && (COMPARE_FLAGS as readonly string[]).includes(f));
  if (misplaced !== undefined) throw new UserError(`quant-report: --${misplaced} is for --compare_encodings A B`);
  const p = parseQuantReportArgs(argv);
  if (p.help) {
    io.stdout(QUANT_REPORT_HELP);
    return 0;
  }
  if (p.run.flow === "current") return currentReportCommand(p, io);
  if (p.ptq === undefined) throw new UserError(`quant-report: --ptq is required (${SCHEME_NAMES.join(", ")})`);
  const a = p.run;
  if (p.html !== undefined) checkOutputs([{ flag: "--html", path: p.html }], [...runInputs(a), p.evalText, p.calibText]);
  const evalText = readUserText(p.evalText, "--eval_text");
  const calibText = p.calibText !== undefined ? readUserText(p.calibText, "--calib_text") : undefined;

  const { model, family, prompt, plain } = await loadReportInputs(a, io);
  if (prompt.length > a.kvSeqLen - 1) throw new UserError(`quant-report: the prompt has ${prompt.length} tokens; kv_seq_len ${a.kvSeqLen} holds ${a.kvSeqLen - 1}`);
  checkRunShape({ mode: "kv", kvSeqLen: a.kvSeqLen, prefillSeqLen: a.kvSeqLen, promptTokens: prompt, config: model.config });
  const evalTokens = plain(evalText);
  if (evalTokens.length < 2) throw new UserError(`--eval_text ${p.evalText}: fewer than 2 tokens`);

  const common = {
    promptTokens: prompt,
    kvSeqLen: a.kvSeqLen,
    evalTokens,
    calibTokens: calibText !== undefined ? plain(calibText) : undefined,
    steps: p.steps,
    eos: family.stops[0],
    kvUpdater: a.kvUpdater,
  };
  const report = withProgress(ttyProgress(io, !a.json, "quant-report"), (bar) =>
    p.quantSim === "seed"
      ? seedQuantReport(model, p.ptq as SeedScheme, { ...common, blockSize: p.groupSize, sensitivityThresholdDb: p.sensitivityThresholdDb, storiesLmHead: family.name !== "llama3_2", onProgress: bar.update })
      : { ...quantReport(model, p.ptq!, { ...common, weightOptions: { stories: family.name !== "llama3_2" }, onProgress: bar.update }), simulation: "taps (experiment)" as const, perLayerKind: "isolated" as const },
  );
  if (p.html !== undefined) {
    const f = openAtomicFile(p.html, "--html", io.interrupts);
    try {
      f.write(new TextEncoder().encode(reportHtml(report)));
      f.commit();
      if (!a.json) io.stderr(writtenNote("HTML report", p.html));
    } finally {
      f.abort();
    }
  }
  io.stdout(a.json ? reportJson(report) + "\n" : reportMarkdown(report));
  return 0;
}
