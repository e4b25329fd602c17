// Owns `llama-golden quant-report`: calibrates a `--ptq` scheme (SPEC §7) and reports how far the quantized KV
// graph departs from fp32 (src/quant/report.ts): per-step logits SQNR / KL / top-1 on a greedy run, per-layer
// activation SQNR, and perplexity on an evaluation text. Model flags are the run command's (parseRunArgs);
// kv mode only. Exit code 0 on success, 2 on bad input (a UserError, via main).
import { join } from "node:path";
import { loadModel } from "../loaders/index.js";
import { loadTokenizer } from "../tokenizer/index.js";
import { FAMILIES, inferFamily } from "../runner/model-family.js";
import { assemblePrompt, plainTextIds, requireLlama3Tokenizer } from "../runner/prompt.js";
import { checkRunShape } from "../runner/session.js";
import { SCHEME_NAMES, type SchemeName } from "../quant/schemes.js";
import { quantReport, reportHtml, reportJson, reportMarkdown } from "../quant/report.js";
import { UserError } from "../util/errors.js";
import { readUserText } from "../util/files.js";
import { PACKAGE_ROOT, type RunArgs } from "./args.js";
import { parseSubcommandArgs } from "./subcommand-args.js";
import { checkOutputs, openAtomicFile } from "./atomic-file.js";
import { ttyProgress, withProgress, writtenNote } from "./progress.js";
import { readTokenIds } from "./tokenized-prompt.js";
import { runInputs, type RunIO } from "./run.js";

/** The evaluation text shipped with the package (an original children's story, for TinyStories models). */
export const DEFAULT_EVAL_TEXT = join(PACKAGE_ROOT, "data", "eval.txt");

export const QUANT_REPORT_HELP = `llama-golden quant-report — how far a --ptq scheme moves the model from fp32

Usage: llama-golden quant-report --ptq ${SCHEME_NAMES.join("|")} [model flags] [flags]

  --ptq SCHEME            quantization scheme (required)
  --steps N               tokens to generate in the comparison run (default: until the cache is full)
  --eval_text FILE        text for perplexity (default data/eval.txt of the package)
  --calib_text FILE       calibrate on this text's tokens (up to kv_seq_len - 1) instead of a greedy
                          fp32 run on the prompt
  --html FILE             also write a self-contained HTML report with plots
  --json                  stdout is one JSON object
  -h, --help              this text

Model flags as in the run command: --checkpoint --params --tokenizer_bin --tokenizer_model --llama_model
--rope_scale_factor --fold_vocab --prompt --system_prompt --tokenized_prompt --kv_updater --kv_seq_len.
KV mode only. Perplexity is teacher-forced over windows of at most kv_seq_len - 1 tokens, the cache restarted
for each window. Markdown report on stdout by default. Exit code 0: report written; 2: bad input.
`;

const OWN_FLAGS = ["ptq", "steps", "eval_text", "calib_text", "html"] as const;
/** Run-command flags that mean nothing here (greedy, kv mode, report on stdout). */
const GREEDY = "greedy, kv mode, report on stdout";
const OWN = "the report calibrates --ptq itself and runs the reference graphs on one thread";
const REJECTED: Record<string, string> = Object.fromEntries([
  ...["temperature", "seed", "dump_logits", "dump_prompt_logits", "model_mode", "prefill_seq_len"].map((f) => [f, GREEDY]),
  ...["recipe", "encodings", "dump_encodings", "backend", "providers", "pte", "qnn_backend_lib", "qnn_system_lib", "qnn_provider", "threads"].map((f) => [f, OWN]),
]);

export interface QuantReportArgs {
  help: boolean;
  ptq?: SchemeName;
  steps?: number;
  evalText: string;
  calibText?: string;
  html?: string;
  run: RunArgs;
}

export function parseQuantReportArgs(argv: string[]): QuantReportArgs {
  const { help, own, run } = parseSubcommandArgs("quant-report", argv, OWN_FLAGS, REJECTED);
  let ptq: SchemeName | undefined;
  if (own.ptq !== undefined) {
    ptq = SCHEME_NAMES.find((s) => s === own.ptq!.toLowerCase());
    if (!ptq) throw new UserError(`--ptq ${JSON.stringify(own.ptq)}: expected one of ${SCHEME_NAMES.join(", ")}`);
  }
  let steps: number | undefined;
  if (own.steps !== undefined) {
    if (!/^\s*\d+\s*$/.test(own.steps) || !(Number(own.steps) >= 1) || !Number.isSafeInteger(Number(own.steps)))
      throw new UserError(`--steps ${JSON.stringify(own.steps)}: expected an integer >= 1`);
    steps = Number(own.steps);
  }
  return { help, ptq, steps, evalText: own.eval_text ?? DEFAULT_EVAL_TEXT, calibText: own.calib_text, html: own.html, run };
}


export async function quantReportCommand(argv: string[], io: RunIO): Promise<number> {
  const p = parseQuantReportArgs(argv);
  if (p.help) {
    io.stdout(QUANT_REPORT_HELP);
    return 0;
  }
  if (p.ptq === undefined) throw new UserError(`quant-report: --ptq is required (${SCHEME_NAMES.join(", ")})`);
  const a = p.run;
  if (a.flow === "current") throw new UserError("quant-report: runs the seed flow's graphs only for now (the current flow's quantization is not built yet); drop --flow current and its flags");
  if (p.html !== undefined) checkOutputs([{ flag: "--html", path: p.html }], [...runInputs(a), p.evalText, p.calibText]);
  const evalText = readUserText(p.evalText, "--eval_text");
  const calibText = p.calibText !== undefined ? readUserText(p.calibText, "--calib_text") : undefined;

  const { model } = withProgress(ttyProgress(io, !a.json, "loading", "bytes"), (bar) => loadModel({ checkpoint: a.checkpoint, params: a.params, ropeScaleFactor: a.ropeScaleFactor, onProgress: bar.update }));
  const V = model.config.vocabSize;
  const family = FAMILIES[a.llamaModel ?? inferFamily(model.config)];
  const path = a.tokenizerBin ?? a.tokenizerModel;
  if (path === undefined) throw new UserError("quant-report: no tokenizer: give --tokenizer_bin / --tokenizer_model (needed for the evaluation text)");
  const tok = await loadTokenizer(path, { expectedVocabSize: a.foldVocab ? undefined : V });
  if (family.name === "llama3_2") requireLlama3Tokenizer(tok);
  /** Plain text (no chat template) with one BOS. */
  const plain = (text: string) => plainTextIds(family, tok, text, V, a.foldVocab);
  const tokenizedIds = a.tokenizedPrompt !== undefined ? readTokenIds(a.tokenizedPrompt) : undefined;
  const prompt = assemblePrompt({ family, tokenizer: tok, prompt: a.prompt, systemPrompt: a.systemPrompt, tokenizedIds, foldVocab: a.foldVocab, vocabSize: V }).ids;
  if (prompt.length > a.kvSeqLen - 1) throw new UserError(`quant-report: the prompt has ${prompt.length} tokens; kv_seq_len ${a.kvSeqLen} holds ${a.kvSeqLen - 1}`);
  checkRunShape({ mode: "kv", kvSeqLen: a.kvSeqLen, prefillSeqLen: a.kvSeqLen, promptTokens: prompt, config: model.config });
  const evalTokens = plain(evalText);
  if (evalTokens.length < 2) throw new UserError(`--eval_text ${p.evalText}: fewer than 2 tokens`);

  const report = withProgress(ttyProgress(io, !a.json, "quant-report"), (bar) => quantReport(model, p.ptq!, {
    promptTokens: prompt,
    kvSeqLen: a.kvSeqLen,
    evalTokens,
    calibTokens: calibText !== undefined ? plain(calibText) : undefined,
    steps: p.steps,
    eos: family.stops[0],
    kvUpdater: a.kvUpdater,
    weightOptions: { stories: family.name !== "llama3_2" },
    onProgress: bar.update,
  }));
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
