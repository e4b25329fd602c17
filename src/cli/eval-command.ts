// Owns `llama-golden eval` (issue 18): perplexity and KL statistics of one model configuration (fp32, a --ptq scheme
// or a recipe, either flow) over a dataset, or the statistics of a device's logits dump against the golden model.
// - Dataset mode: documents (src/eval/dataset.ts) -> token ids with no BOS -> windows (src/eval/windows.ts: "kv",
//   upstream's rolling lm-eval windows through the kv-mode runner, or "prefill", non-overlapping chunks through the
//   prefill graph) -> items, each scored in a fresh runner session (src/eval/score.ts) -> the report
//   (src/eval/report.ts). `--save_base` stores the run's log-probabilities, `--base` compares against a stored run,
//   `--sqnr_eval` runs the fp32 reference in lock-step (upstream's sqnr_eval and the KL statistics against fp32).
// - Device mode (`--device_logits FILE`): the rows of a runner's `--dump_logits_path` output for the prompt
//   (`--tokenized_prompt`, as the device got it) and its greedy continuation, against the golden model fed the same
//   tokens (SPEC-2026 §11-8: kv mode, one row per position).
// - Sharded runs (`--shard K/N`, or the Slurm / Kubernetes environment; `--results FILE`): the items of the shard are
//   scored and appended to an append-only JSONL file, which a rerun resumes; `llama-golden merge` makes the report.
// Exit code 0: report written; 2: bad input (a UserError, via main).
import { createHash } from "node:crypto";
import { basename, resolve } from "node:path";
import { loadTokenizer } from "../tokenizer/index.js";
import type { Tokenizer } from "../tokenizer/types.js";
import { encodeText } from "../tokenizer/encode.js";
import { assemblePrompt, familyStops, foldIds, requireLlama3Tokenizer } from "../runner/prompt.js";
import type { ModelFamily } from "../runner/model-family.js";
import { createParallelReferenceBackend } from "../backends/reference.js";
import type { Backend, GraphBackend, LogitsArray } from "../engine/backend.js";
import type { CacheArray, MaskArray } from "../kvcache/types.js";
import type { Model } from "../engine/weights.js";
import { UserError } from "../util/errors.js";
import { readUserFile } from "../util/files.js";
import { parseSubcommandArgs } from "./subcommand-args.js";
import { familyFor } from "./family.js";
import { readTokenIds } from "./tokenized-prompt.js";
import { checkOutputs, openAtomicFile, type AtomicFile } from "./atomic-file.js";
import { ttyProgress, withProgress, writtenNote } from "./progress.js";
import { backendInitFor, checkFlowShape, createRunBackend, loadRunModel, runInputs, type RunIO } from "./run.js";
import { checkCurrentQuantFlags } from "./current-quant.js";
import type { RunArgs } from "./args.js";
import { readEvalDataset, wordCount } from "../eval/dataset.js";
import { windowsOf, WINDOWINGS, type Window, type Windowing } from "../eval/windows.js";
import { currentWindowRunner, scoreWindow, seedWindowRunner, type RowStream, type WindowRunner } from "../eval/score.js";
import { buildEvalReport, evalReportHtml, evalReportJson, evalReportMarkdown, type EvalMeta } from "../eval/report.js";
import { encodeBaseHeader, encodeBaseRow, openBaseFile, checkBaseMatches, tokensSha256, type BaseHeader, type BaseReader } from "../eval/base-file.js";
import { readDeviceLogits } from "../eval/device-logits.js";
import { logitsEncodingOfPte } from "../qnn/pte.js";
import type { ItemRecord } from "../eval/records.js";
import { itemsOfShard, parseShardSpec, shardFromEnv, type Shard } from "../eval/shard.js";
import { asStored, openResultsStore } from "../eval/results-store.js";

export const EVAL_HELP = `llama-golden eval — perplexity and KL statistics over a dataset, or of a device's logits

Usage: llama-golden eval --dataset FILE [model and flow flags] [flags]
       llama-golden eval --device_logits FILE --tokenized_prompt FILE [--logits_scale X --logits_offset N | --logits_pte F] [model flags]

Dataset:
  --dataset FILE          plain text (one document), JSONL ({"text": ...} per line, one document each) or
                          Parquet (one document per non-empty row, e.g. wikitext-2-raw-v1's test split)
  --text_column NAME      the JSONL field / Parquet column holding the text (default text)
  --join_rows             join the rows into one document with "\\n\\n" between them
  --limit N               only the first N documents
  --windowing kv|prefill  kv (default): upstream's evaluator — lm-eval rolling windows of max_seq_len - 1 tokens
                          (seed flow: kv_seq_len - 1), each a fresh kv-mode runner, every token scored once, the
                          first window after the BOS (else EOS) token; prefill: non-overlapping chunks of the
                          prefill graph (current flow: min(max_context_len - prefill_ar_len, max_seq_len - 1)
                          tokens; seed flow: prefill_seq_len - 1, fp32 only), the first token of each chunk
                          context only

Comparisons:
  --save_base FILE        store this run's log-probabilities (uint16 per vocabulary entry and token) as a base
  --base FILE             compare with a stored base: KL, reverse KL, Δp, same top token, ln(PPL ratio),
                          log-prob correlation, the worst tokens
  --sqnr_eval             also run the fp32 reference on every window: upstream's SQNR of the logits
                          (10·log10(Σ ref² / Σ (x - ref)²) over all scored rows) and the KL statistics against it

Device logits:
  --device_logits FILE    a runner's --dump_logits_path output (kv mode: one row per position, the prompt's
                          rows then the decode rows); compared with the golden model fed the prompt and the
                          device's greedy tokens; SQNR over the prompt's rows, as upstream's sqnr_eval
  --logits_dtype D        uint16 (default; the .pte's quantized logits) or float32
  --logits_scale X        uint16: the .pte's logits scale (its get_logits_scale)
  --logits_offset N       uint16: the logits offset = -zero point (its get_logits_zero_point, negated)
  --logits_pte FILE       uint16: read both from the device's .pte (its get_logits_scale / get_logits_zero_point
                          constant methods) instead

Sharded runs (docs/scale.md):
  --shard K/N             score items i with i mod N = K (K from 0); also from SLURM_ARRAY_TASK_ID /
                          SLURM_ARRAY_TASK_COUNT or JOB_COMPLETION_INDEX (see docs/scale.md)
  --results FILE          append each scored item to this JSONL file; a rerun resumes from it;
                          llama-golden merge FILE... makes the report of the shards

Output:
  --json                  stdout is one JSON object (no progress bar)
  --html FILE             also write a self-contained HTML report (histograms of KL and Δp, per-position curves)

Model and flow flags as in the run command (--checkpoint --params --tokenizer_bin --tokenizer_model --flow
--decoder_model --ptq --quant_recipe --max_context_len --max_seq_len --prefill_ar_len --kv_seq_len
--prefill_seq_len --backend --threads ...). A quantized configuration calibrates as the run command does.
Exit code 0: report written; 2: bad input.
`;

const OWN_FLAGS = ["dataset", "text_column", "windowing", "limit", "save_base", "base", "device_logits", "logits_dtype", "logits_scale", "logits_offset", "logits_pte", "results", "shard", "html"] as const;
const BOOL_FLAGS = ["join_rows", "sqnr_eval"] as const;
const REJECTED: Record<string, string> = Object.fromEntries([
  ...["temperature", "seed", "dump_logits", "dump_logits_path", "dump_prompt_logits", "dump_encodings"].map((f) => [f, "it scores the text teacher-forced and writes a report"]),
  ["model_mode", "--windowing decides the graphs: kv runs the kv-mode runner, prefill the prefill graph"],
  ...["ngram", "window", "gcap", "lookahead_semantics"].map((f) => [f, "lookahead decoding generates; eval scores given text"]),
  ["save_quantized", "the run command writes it: llama-golden --flow current --ptq ... --save_quantized FILE, then eval --quantized_model FILE"],
]);

export interface EvalArgs {
  help: boolean;
  dataset?: string;
  textColumn: string;
  joinRows: boolean;
  limit?: number;
  windowing: Windowing;
  saveBase?: string;
  base?: string;
  sqnrEval: boolean;
  deviceLogits?: string;
  logitsDtype: "uint16" | "float32";
  logitsScale?: number;
  logitsOffset?: number;
  /** --logits_pte: the .pte whose get_logits_scale / get_logits_zero_point give the encoding. */
  logitsPte?: string;
  results?: string;
  /** --shard as given (the environment is read when the command runs). */
  shardFlag?: string;
  html?: string;
  run: RunArgs;
  /** The flags that decide the numbers (for the run key): argv without output, shard and thread flags. */
  keyArgv: string[];
}

const positiveInt = (flag: string, v: string): number => {
  if (!/^\s*\d+\s*$/.test(v) || !(Number(v) >= 1) || !Number.isSafeInteger(Number(v))) throw new UserError(`--${flag} ${JSON.stringify(v)}: expected an integer >= 1`);
  return Number(v);
};

/** Flags that do not change the numbers: left out of the run key so every shard (and a rerun with other outputs) shares it. */
const KEYLESS_VALUE = new Set(["shard", "results", "html", "threads", "save_base"]);
const KEYLESS_BOOL = new Set(["json"]);

export function keyArgvOf(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([A-Za-z_]+)(=.*)?$/s.exec(argv[i]);
    if (m && KEYLESS_VALUE.has(m[1])) {
      if (m[2] === undefined) i++;
      continue;
    }
    if (m && KEYLESS_BOOL.has(m[1])) continue;
    // --flag=v and --flag v are the same run.
    if (m && m[2] !== undefined) out.push(`--${m[1]}`, m[2].slice(1));
    else out.push(argv[i]);
  }
  return out;
}

export function parseEvalArgs(argv: string[]): EvalArgs {
  const bools = new Set<string>();
  const rest: string[] = [];
  for (const a of argv) {
    const m = /^--([A-Za-z_]+)(=.*)?$/s.exec(a);
    if (m && (BOOL_FLAGS as readonly string[]).includes(m[1])) {
      if (m[2] !== undefined) throw new UserError(`eval: --${m[1]} takes no value`);
      if (bools.has(m[1])) throw new UserError(`eval: --${m[1]} given twice`);
      bools.add(m[1]);
    } else rest.push(a);
  }
  const { help, own, run } = parseSubcommandArgs("eval", rest, OWN_FLAGS, REJECTED);
  const windowing = (own.windowing ?? "kv").toLowerCase() as Windowing;
  if (!WINDOWINGS.includes(windowing)) throw new UserError(`--windowing ${JSON.stringify(own.windowing)}: expected one of ${WINDOWINGS.join(", ")}`);
  const dtype = (own.logits_dtype ?? "uint16").toLowerCase();
  if (dtype !== "uint16" && dtype !== "float32") throw new UserError(`--logits_dtype ${JSON.stringify(own.logits_dtype)}: expected uint16 or float32`);
  const num = (flag: "logits_scale" | "logits_offset"): number | undefined => {
    const v = own[flag];
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!/^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(v) || !Number.isFinite(x)) throw new UserError(`--${flag} ${JSON.stringify(v)}: expected a number`);
    return x;
  };
  const p: EvalArgs = {
    help,
    dataset: own.dataset,
    textColumn: own.text_column ?? "text",
    joinRows: bools.has("join_rows"),
    limit: own.limit !== undefined ? positiveInt("limit", own.limit) : undefined,
    windowing,
    saveBase: own.save_base,
    base: own.base,
    sqnrEval: bools.has("sqnr_eval"),
    deviceLogits: own.device_logits,
    logitsDtype: dtype,
    logitsScale: num("logits_scale"),
    logitsOffset: num("logits_offset"),
    logitsPte: own.logits_pte,
    results: own.results,
    shardFlag: own.shard,
    html: own.html,
    run,
    keyArgv: keyArgvOf(argv),
  };
  if (help) return p;
  if ((p.dataset === undefined) === (p.deviceLogits === undefined)) throw new UserError("eval: give --dataset FILE (a dataset to score) or --device_logits FILE (a device's logits dump), not both");
  if (own.text_column !== undefined && p.dataset === undefined) throw new UserError("eval: --text_column reads a --dataset");
  if (p.joinRows && p.dataset === undefined) throw new UserError("eval: --join_rows reads a --dataset");
  if (p.limit !== undefined && p.dataset === undefined) throw new UserError("eval: --limit counts --dataset documents");
  if (p.saveBase !== undefined && p.base !== undefined) throw new UserError("eval: --save_base and --base together: make the base in one run, compare in another");
  if (p.logitsScale !== undefined && !(p.logitsScale > 0)) throw new UserError(`--logits_scale ${p.logitsScale}: expected a number > 0`);
  if (p.logitsOffset !== undefined && !Number.isInteger(p.logitsOffset)) throw new UserError(`--logits_offset ${p.logitsOffset}: expected an integer (the negated zero point)`);
  if (p.deviceLogits !== undefined) {
    for (const [flag, v] of [["--windowing", own.windowing], ["--save_base", p.saveBase], ["--base", p.base], ["--shard", p.shardFlag], ["--results", p.results]] as const)
      if (v !== undefined) throw new UserError(`eval --device_logits: ${flag} does not apply (the device's rows are compared with the golden model's in one window)`);
    if (p.sqnrEval) throw new UserError("eval --device_logits: --sqnr_eval does not apply (the SQNR of the device's rows against the golden model is always reported)");
    if (run.tokenizedPrompt === undefined && run.prompt === undefined) throw new UserError("eval --device_logits: give the prompt the device ran: --tokenized_prompt FILE (or --prompt TEXT)");
    if (p.logitsPte !== undefined) {
      if (dtype === "float32") throw new UserError("eval --device_logits: --logits_pte gives the encoding of uint16 logits, not float32");
      if (p.logitsScale !== undefined || p.logitsOffset !== undefined) throw new UserError("eval --device_logits: give the logits encoding by --logits_pte or by --logits_scale / --logits_offset, not both");
      const enc = logitsEncodingOfPte(p.logitsPte);
      p.logitsScale = enc.scale;
      p.logitsOffset = enc.offset;
    }
    if (dtype === "uint16" && (p.logitsScale === undefined || p.logitsOffset === undefined))
      throw new UserError("eval --device_logits: uint16 logits need --logits_scale and --logits_offset (the .pte's logits encoding) or --logits_pte FILE, or give --logits_dtype float32");
    if (dtype === "float32" && (p.logitsScale !== undefined || p.logitsOffset !== undefined)) throw new UserError("eval --device_logits: --logits_scale / --logits_offset are for uint16 logits, not float32");
  } else {
    if (own.logits_dtype !== undefined || p.logitsScale !== undefined || p.logitsOffset !== undefined || p.logitsPte !== undefined)
      throw new UserError("eval: --logits_dtype / --logits_scale / --logits_offset / --logits_pte describe a --device_logits file");
    if (p.saveBase !== undefined && (p.shardFlag !== undefined || p.results !== undefined))
      throw new UserError("eval: --save_base needs one whole run (no --shard / --results): the base file holds every scored position in order");
  }
  return p;
}

/** The document's ids as the evaluator encodes them (no BOS, no EOS; eager_eval.py tok_encode), and the prefix token. */
function textIds(fam: ModelFamily, tok: Tokenizer, text: string, vocabSize: number, foldVocab: boolean): number[] {
  const ids = fam.name === "llama3_2" || fam.tokenizer === "hf-json" ? encodeText(tok, text, { bos: false }) : tok.encode(text);
  return foldIds(ids, vocabSize, foldVocab);
}

/** lm-eval's prefix token: the tokenizer's BOS, else its EOS (eager_eval.py prefix_token_id). */
function prefixToken(fam: ModelFamily, tok: Tokenizer): number {
  if (fam.name !== "llama3_2" && fam.tokenizer !== "hf-json") return fam.bos;
  if (tok.bosId >= 0) return tok.bosId;
  if (tok.eosIds.length > 0) return tok.eosIds[0];
  throw new UserError("eval: the tokenizer has neither a BOS nor an EOS token to start the first window with");
}

/** Window length of a windowing under the run's graph lengths (see --help). */
function windowLength(a: RunArgs, w: Windowing): number {
  if (a.flow === "current") {
    const seqLen = Math.min(a.maxSeqLen, a.contextLen);
    return w === "kv" ? seqLen - 1 : Math.min(a.contextLen - a.prefillArLen, seqLen - 1);
  }
  // The seed's prefill-only mode takes at most prefill_seq_len − 1 prompt tokens (its runner's check).
  return w === "kv" ? a.kvSeqLen - 1 : a.prefillSeqLen - 1;
}

/** A WindowRunner over a backend for the run's flow and windowing. */
function runnerFor(a: RunArgs, model: Model, backend: Backend | GraphBackend<CacheArray, MaskArray, LogitsArray>, w: Windowing): WindowRunner {
  return a.flow === "current"
    ? currentWindowRunner({ backend: backend as Backend, config: model.config, mode: w === "kv" ? "kv" : "hybrid", contextLen: a.contextLen, prefillArLen: a.prefillArLen })
    : seedWindowRunner({ backend: backend as GraphBackend<CacheArray, MaskArray, LogitsArray>, config: model.config, mode: w === "kv" ? "kv" : "prefill", kvSeqLen: a.kvSeqLen, prefillSeqLen: a.prefillSeqLen });
}

/** The decoded text of one token (for the worst-token table), never throwing. */
function pieceOf(tok: Tokenizer | undefined): ((t: number) => string) | undefined {
  if (!tok) return undefined;
  const utf8 = new TextDecoder();
  return (t) => {
    try {
      return utf8.decode(tok.decodeBytes(-1, t));
    } catch {
      return `<${t}>`;
    }
  };
}

/** Writes `text` to an output flag's file atomically. */
function writeOutput(path: string, flag: string, text: string, io: RunIO, what: string, quiet: boolean): void {
  const f = openAtomicFile(path, flag, io.interrupts);
  try {
    f.write(new TextEncoder().encode(text));
    f.commit();
    if (!quiet) io.stderr(writtenNote(what, path));
  } finally {
    f.abort();
  }
}

function printReport(meta: EvalMeta, records: ItemRecord[], p: EvalArgs, io: RunIO): void {
  const report = buildEvalReport(meta, records);
  if (p.html !== undefined) writeOutput(p.html, "--html", evalReportHtml(report), io, "HTML report", p.run.json);
  io.stdout(p.run.json ? evalReportJson(report) + "\n" : evalReportMarkdown(report));
}

export async function evalCommand(argv: string[], io: RunIO, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const p = parseEvalArgs(argv);
  if (p.help) {
    io.stdout(EVAL_HELP);
    return 0;
  }
  const device = p.deviceLogits !== undefined;
  const current = p.run.flow === "current";
  const modelMode = p.windowing === "kv" || device ? "kv" : current ? "hybrid" : "prefill";
  let a: RunArgs = { ...p.run, modelMode };
  if (current) checkCurrentQuantFlags(a);
  if (!current && modelMode === "prefill" && (a.ptq !== undefined || a.recipe !== undefined))
    throw new UserError("eval --windowing prefill in the seed flow runs the prefill-only graph, which --ptq does not quantize: use --windowing kv, or --flow current (its prefill chunks run the quantized AR-N graph)");
  const shard: Shard = device ? { index: 0, count: 1 } : p.shardFlag !== undefined ? parseShardSpec(p.shardFlag, "--shard") : (shardFromEnv(env) ?? { index: 0, count: 1 });
  if (shard.count > 1 && p.results === undefined) throw new UserError(`eval: shard ${shard.index}/${shard.count} needs --results FILE (its items are merged with llama-golden merge)`);
  const outputs = [
    ...(p.html !== undefined ? [{ flag: "--html", path: p.html }] : []),
    ...(p.saveBase !== undefined ? [{ flag: "--save_base", path: p.saveBase }] : []),
  ];
  const inputs = [...runInputs(a), p.dataset, p.base, p.deviceLogits, p.logitsPte, p.results];
  if (outputs.length > 0) checkOutputs(outputs, inputs);
  if (p.results !== undefined) checkOutputs([{ flag: "--results", path: p.results }], [...runInputs(a), p.dataset, p.base, p.html, p.saveBase]);

  const dataset = p.dataset !== undefined ? await readEvalDataset(p.dataset, { column: p.textColumn, joinRows: p.joinRows }) : undefined;
  const loaded = await loadRunModel(a, io);
  a = loaded.args;
  const model = loaded.model;
  const V = model.config.vocabSize;
  const fam = familyFor(a, model.config);
  const tokPath = a.tokenizerBin ?? a.tokenizerModel;
  if (tokPath === undefined && dataset) throw new UserError("eval: no tokenizer: give --tokenizer_bin / --tokenizer_model (the dataset is text)");
  const tok = tokPath !== undefined ? await loadTokenizer(tokPath, { expectedVocabSize: a.foldVocab ? undefined : V }) : undefined;
  if (tok && fam.name === "llama3_2") requireLlama3Tokenizer(tok);
  const prompt = assemblePrompt({
    family: fam,
    tokenizer: tok,
    prompt: a.prompt,
    systemPrompt: a.systemPrompt,
    tokenizedIds: a.tokenizedPrompt !== undefined ? readTokenIds(a.tokenizedPrompt) : undefined,
    foldVocab: a.foldVocab,
    vocabSize: V,
  }).ids;
  checkFlowShape(a, model, prompt, loaded.format, io);
  const stops = tok ? familyStops(fam, tok) : fam.stops;
  const description = `${basename(a.quantizedModel ?? a.checkpoint ?? "model")} (${fam.name}${model.config.arch ? `, ${model.config.arch.modelType}` : ""})`;

  const made = await createRunBackend(a, io, model, tok, fam, prompt, stops, loaded.opened);
  const disposers: (() => void)[] = [() => made.backend.dispose()];
  try {
    const run = runnerFor(a, model, made.backend, p.windowing);
    if (device) return await deviceCommand(p, io, model, run, prompt, description, made.description, pieceOf(tok));

    // Dataset mode: documents -> windows -> items.
    const L = windowLength(a, p.windowing);
    if (!(L >= (p.windowing === "kv" ? 1 : 2))) throw new UserError(`eval: a ${p.windowing} window of ${L} tokens under these graph lengths; make the context longer`);
    const prefix = prefixToken(fam, tok!);
    const docs = p.limit !== undefined ? dataset!.documents.slice(0, p.limit) : dataset!.documents;
    const windows: { doc: number; w: Window }[] = [];
    let docTokens = 0;
    docs.forEach((text, d) => {
      const t = textIds(fam, tok!, text, V, a.foldVocab);
      docTokens += t.length;
      for (const w of windowsOf(p.windowing, t, prefix, L)) windows.push({ doc: d, w });
    });
    if (windows.length === 0) throw new UserError(`--dataset ${p.dataset}: no window has a token to score`);
    const firstScored: number[] = [];
    let positions = 0;
    for (const { w } of windows) {
      firstScored.push(positions);
      positions += w.targets.length;
    }
    const targetsSha = tokensSha256(windows.flatMap(({ w }) => w.targets));
    const d = dataset!;
    const meta: EvalMeta = {
      model: description,
      flow: current ? "current" : "seed",
      config: made.description,
      windowing: p.windowing,
      windowLength: L,
      dataset: {
        path: basename(d.path),
        kind: d.kind,
        sha256: d.sha256,
        documents: docs.length,
        tokens: docTokens,
        words: docs.reduce((s, x) => s + wordCount(x), 0),
        bytes: docs.reduce((s, x) => s + Buffer.byteLength(x, "utf8"), 0),
      },
      ...(p.base !== undefined ? { comparedWith: `base file ${basename(p.base)}` } : p.sqnrEval ? { comparedWith: "the fp32 reference (--sqnr_eval)" } : {}),
      ...(p.sqnrEval ? { sqnrRows: "every scored row against the fp32 reference" } : {}),
      wholeDocuments: p.windowing === "kv",
      items: windows.length,
    };
    const baseWant: Omit<BaseHeader, "model"> = { vocab: V, positions, dataset_sha256: d.sha256, tokens_sha256: targetsSha, windowing: p.windowing, context_len: L };
    let base: BaseReader | undefined;
    if (p.base !== undefined) {
      base = openBaseFile(p.base);
      disposers.push(() => base!.close());
      checkBaseMatches(base.header, baseWant, p.base);
    }
    let reference: WindowRunner | undefined;
    if (p.sqnrEval) {
      const ref = await createParallelReferenceBackend(backendInitFor(a, model), { threads: a.threads });
      disposers.push(() => ref.dispose());
      reference = runnerFor(a, model, ref, p.windowing);
    }
    let baseOut: AtomicFile | undefined;
    if (p.saveBase !== undefined) {
      baseOut = openAtomicFile(p.saveBase, "--save_base", io.interrupts);
      disposers.push(() => baseOut!.abort());
      baseOut.write(encodeBaseHeader({ ...baseWant, model: `${description}, ${made.description}` }));
    }
    const key = createHash("sha256").update(JSON.stringify({ v: 1, argv: p.keyArgv, dataset: d.sha256, targets: targetsSha, items: windows.length })).digest("hex");
    const store = p.results !== undefined
      ? await openResultsStore<ItemRecord>(p.results, { key: { key, items: windows.length, description: `${description}, ${made.description}` }, shard, meta }, io)
      : undefined;
    if (store) disposers.push(() => store.close());
    const mine = itemsOfShard(windows.length, shard.index, shard.count);
    const records: ItemRecord[] = [];
    const todo: number[] = [];
    for (const i of mine) {
      const done = store?.done.get(i);
      if (done) records.push(done);
      else todo.push(i);
    }
    if (store && records.length > 0 && !a.json) io.stderr(`resuming ${p.results}: ${records.length} of ${mine.length} items already scored\n`);
    const rowsTodo = todo.reduce((s, i) => s + windows[i].w.targets.length, 0);
    const piece = pieceOf(tok);
    await withProgress(ttyProgress(io, !a.json, "eval"), async (bar) => {
      let rows = 0;
      bar.update(0, rowsTodo);
      for (const i of todo) {
        const { doc, w } = windows[i];
        const rec = asStored(await scoreWindow({ item: i, doc }, w, {
          run,
          reference,
          base: base ? (n) => base!.row(n) : undefined,
          firstScored: firstScored[i],
          onBaseRow: baseOut ? (r) => baseOut!.write(encodeBaseRow(r, V)) : undefined,
          piece,
          onRow: () => bar.update(++rows, rowsTodo),
        }), `eval item ${i}`);
        await store?.append(rec);
        records.push(rec);
      }
    });
    baseOut?.commit();
    if (baseOut && !a.json) io.stderr(writtenNote("base", p.saveBase!));
    if (shard.count > 1) {
      const msg = `shard ${shard.index}/${shard.count}: ${mine.length} items scored into ${p.results}; make the report with llama-golden merge`;
      io.stdout(a.json ? JSON.stringify({ shard: shard.index, shards: shard.count, items: mine.length, results: resolve(p.results!) }) + "\n" : msg + "\n");
      return 0;
    }
    printReport(meta, records, p, io);
    return 0;
  } finally {
    for (const f of disposers.reverse()) f();
  }
}

/** The device's rows as a RowStream (one row per position, as the kv-mode dump holds them). */
function deviceRows(rows: Float32Array[]): WindowRunner {
  return (): RowStream => {
    let k = 0;
    return { next: async () => (k < rows.length ? [{ pos: k, row: rows[k++] }] : undefined) };
  };
}

const argmax = (x: Float32Array): number => {
  let b = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[b]) b = i;
  return b;
};

/** `eval --device_logits`: the device's rows against the golden model fed the same tokens (file header). */
async function deviceCommand(p: EvalArgs, io: RunIO, model: Model, golden: WindowRunner, prompt: number[], description: string, config: string, piece?: (t: number) => string): Promise<number> {
  const V = model.config.vocabSize;
  const path = p.deviceLogits!;
  const rows = readDeviceLogits(readUserFile(path, "--device_logits"), { vocab: V, dtype: p.logitsDtype, scale: p.logitsScale, offset: p.logitsOffset }, path);
  const n = prompt.length;
  if (rows.length < n) throw new UserError(`device logits ${path}: ${rows.length} rows, but the prompt has ${n} tokens (one row per prompt position first): truncated, or another prompt`);
  // The tokens the device fed: the prompt, then its greedy choices (argmax of each row; the runner at temperature 0).
  const fed = prompt.slice();
  for (let r = n - 1; r < rows.length - 1; r++) fed.push(argmax(rows[r]));
  const targets = [...fed.slice(1), argmax(rows[rows.length - 1])];
  const window: Window = { start: 0, fed, scoreFrom: 0, targets };
  const rec = await scoreWindow({ item: 0, doc: 0 }, window, { run: deviceRows(rows), reference: golden, piece });
  // SQNR over the prompt's rows only (upstream sqnr_eval compares the prompt's logits).
  for (const t of rec.tokens) if (t.pos >= n) {
    delete t.signal;
    delete t.noise;
  }
  const meta: EvalMeta = {
    model: description,
    flow: p.run.flow === "current" ? "current" : "seed",
    config: `device logits ${basename(path)} (${p.logitsDtype}${p.logitsDtype === "uint16" ? `, scale ${p.logitsScale}, offset ${p.logitsOffset}` : ""}) against the golden ${config}`,
    windowing: "device (kv mode, one row per position)",
    windowLength: fed.length,
    dataset: { path: "prompt", kind: "tokens", sha256: tokensSha256(prompt), documents: 1, tokens: n, words: 0, bytes: 0 },
    comparedWith: "the golden model (base) on the device's tokens",
    sqnrRows: `the prompt's ${n} rows, as upstream's sqnr_eval`,
    wholeDocuments: false,
    items: 1,
  };
  printReport(meta, [rec], p, io);
  return 0;
}
