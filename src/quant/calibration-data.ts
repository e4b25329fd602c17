// Owns the calibration data of the current flow (SPEC-2026 §10.3 items 1-2): reading a calibration file into
// texts (one per sample), turning texts into token sequences of at most CL tokens, and collating one sequence
// into the CALIBRATE graph's inputs. Three kinds of file, recognised by their content (the extension only
// sharpens the error when the content is not what it promises):
// - Parquet (a local copy of a Hugging Face dataset, e.g. wikitext-2-raw-v1's test split): magic "PAR1" at the
//   start and the end; one text per non-empty row of a string column (`text` by default), read by
//   src/quant/calibration-parquet.ts after every size and count in the file has been checked;
// - JSON / JSONL chat samples (`--calib_samples`): a JSON list of samples, or one sample per line; a sample is
//   a list of {role, content} messages or {"messages": [...], "files"?: [...]};
// - anything else that is UTF-8 text (`--calib_text`): the whole text is one sample.
// Every problem with the file is a one-line UserError naming the file.
//
// Upstream (pytorch/executorch cff6f4dd, paths under examples/qualcomm/oss_scripts/llama/):
// - chat sample -> text: tokenizer.py:406-407 `"".join(m["content"] for m in messages)` when the tokenizer has
//   no chat template, i.e. for every non-instruct model (tokenizer.py:86-95 and 114-120; stories and Llama 3.2
//   never get one): every message in order, system messages included, no separator, no role names.
// - samples file: dataset/loaders.py:48-54 (each file one JSON list; `MessageSample(**d)`, dataset/schema.py:26-34
//   requires `role` and `content` in every message). JSONL and bare message lists are this project's additions.
// - text -> sequences: dataset/builders.py:84-96 (see calibrationSequences).
// - collation: dataset/collators.py:19-29 and 67-80, masking_utils.py:12, 15-40, 123-129, 177-185,
//   inference/decoder.py:80-85 (see collateCalibrationBatch).
// Upstream's `--calib_hf_dataset` (dataset/loaders.py:141-192) downloads the dataset's "train" split, reads only a
// `messages` field (rows without one are skipped), applies the chat template, and DROPS samples longer than CL
// instead of splitting them; for a non-instruct model the template call fails and every row is skipped. A plain
// text column (wikitext) therefore yields nothing upstream; this reader treats each row as a `--calib_text` of
// its own, split like any other sample.
import { extname } from "node:path";
import { oneLine, UserError } from "../util/errors.js";
import { decodeUtf8, openUserFile, readAt, readWhole, type Fail } from "./calibration-files.js";
import { isParquetMagic, readParquetTexts } from "./calibration-parquet.js";
import { MASK_ATTEND, MASK_BLOCKED } from "../engine/graph-io.js";

export type CalibrationSourceKind = "parquet" | "json" | "jsonl" | "text";

export interface CalibrationSource {
  kind: CalibrationSourceKind;
  /** One text per sample: a Parquet row, a chat sample (contents concatenated), or the whole text file. */
  texts: string[];
}

export interface CalibrationReadOptions {
  /** Parquet: the text column (default "text"). */
  column?: string;
  /** Keep at most this many samples (positive integer; Parquet: the first non-empty rows). */
  maxSamples?: number;
  /** Progress: rows of a Parquet file, bytes of any other file. The last call is (total, total). */
  onProgress?: (done: number, total: number) => void;
  /** How the file is named in errors (default "calibration file"), e.g. "--calib_samples". */
  label?: string;
}

/** Token of the right padding (collators.py:26, F.pad's default value). */
export const CALIBRATION_PAD_TOKEN = 0;

// Limits: nothing read from a file decides an allocation beyond these.
const MAX_TEXT_BYTES = 256 * 2 ** 20; // a text / JSONL file, read whole
const MAX_JSON_BYTES = 64 * 2 ** 20; // a JSON document parsed at once (larger: JSONL)

/** Reads a calibration file into texts, recognising Parquet, JSON, JSONL and plain text by content. */
export async function readCalibrationSource(path: string, opts: CalibrationReadOptions = {}): Promise<CalibrationSource> {
  const label = opts.label ?? "calibration file";
  const fail: Fail = (problem) => new UserError(oneLine(`${label} ${path}: ${problem}`));
  const max = opts.maxSamples ?? Infinity;
  if (opts.maxSamples !== undefined && !(Number.isSafeInteger(max) && max >= 1)) throw new RangeError(`maxSamples must be a positive integer (got ${max})`);
  const fh = await openUserFile(path, fail);
  try {
    const size = (await fh.stat()).size;
    if (size === 0) throw fail("the file is empty");
    const head = await readAt(fh, 0, Math.min(4, size), fail);
    if (isParquetMagic(head)) {
      return { kind: "parquet", texts: await readParquetTexts(fh, size, opts.column ?? "text", max, opts.onProgress, fail) };
    }
    const ext = extname(path).toLowerCase();
    if (ext === ".parquet") throw fail("not a Parquet file (it does not start with PAR1)");
    if (size > MAX_TEXT_BYTES) throw fail(`${size} bytes, more than the ${MAX_TEXT_BYTES}-byte limit of a text or JSON file`);
    const text = decodeUtf8(await readWhole(fh, size, opts.onProgress, fail), fail);
    return parseTextSource(text, ext, max, fail);
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Samples -> sequences -> graph inputs

/**
 * Token sequences of at most `contextLen` tokens, in sample order: each text encoded with BOS and no EOS, then
 * cut into consecutive `contextLen`-token pieces. Upstream dataset/builders.py:84-96 (DecoderDatasetBuilder.
 * from_conversation): `tokens = encode(prompt, bos=True, eos=False)` once per sample, then
 * `tokens[i : i + max_context_len] for i in range(0, len(tokens), max_context_len)`: so BOS starts only the
 * sample's first piece (later pieces start mid-text), and the short tail is kept as a piece of its own.
 */
export function calibrationSequences(texts: readonly string[], encode: (s: string, bos: boolean) => number[], contextLen: number): number[][] {
  checkContextLen(contextLen);
  const out: number[][] = [];
  for (const text of texts) {
    const tokens = encode(text, true);
    for (let i = 0; i < tokens.length; i += contextLen) out.push(tokens.slice(i, i + contextLen));
  }
  return out;
}

export interface CalibrationBatch {
  /** [1, CL] int32: the sequence, right-padded with token 0. */
  tokens: Int32Array;
  /** [1, 1, CL, CL] row-major: causal 0 / -255, every padding row fully -255. */
  mask: Float32Array;
  /** [1, CL] int32: 0 .. CL-1. */
  inputPos: Int32Array;
}

/**
 * The CALIBRATE graph's inputs (AR = CL, empty caches) for one sequence. Upstream: tokens padded with 0 to
 * max_context_len (collators.py:19-29, 74-76); mask = create_causal_attn_mask (masking_utils.py:15-40, -255
 * above the diagonal, value from masking_utils.py:12) then `_mask_padding_positions` (123-129), which fills
 * every row at or beyond the sequence's length with -255 in every column; input_pos = arange(CL) whatever the
 * length (inference/decoder.py:80-85). Padding rows still run through the graph and feed the observers.
 */
export function collateCalibrationBatch(seq: readonly number[], contextLen: number): CalibrationBatch {
  checkContextLen(contextLen);
  if (seq.length > contextLen) throw new RangeError(`a calibration sequence has ${seq.length} tokens, more than the context length ${contextLen}`);
  const tokens = new Int32Array(contextLen).fill(CALIBRATION_PAD_TOKEN);
  tokens.set(seq);
  const mask = new Float32Array(contextLen * contextLen);
  for (let i = 0; i < contextLen; i++) {
    for (let j = 0; j < contextLen; j++) mask[i * contextLen + j] = i < seq.length && j <= i ? MASK_ATTEND : MASK_BLOCKED;
  }
  const inputPos = Int32Array.from({ length: contextLen }, (_, i) => i);
  return { tokens, mask, inputPos };
}

function checkContextLen(contextLen: number): void {
  if (!Number.isInteger(contextLen) || contextLen < 1) throw new RangeError(`context length must be a positive integer (got ${contextLen})`);
}

// ---------------------------------------------------------------------------------------------------------
// Text, JSON and JSONL

/**
 * Text unless the first non-blank character is "[" or "{". Then JSON when the whole document parses (a one-line
 * file named .jsonl is JSONL), JSONL when the first non-empty line parses as a list or an object; otherwise text,
 * unless the name says .json / .jsonl (the parse error is reported) or the file is too large to parse as one
 * JSON document (it may be one: refused rather than guessed).
 */
function parseTextSource(text: string, ext: string, max: number, fail: Fail): CalibrationSource {
  if (text.trim() === "") throw fail("the file is empty");
  const saysJson = ext === ".json" || ext === ".jsonl";
  if (!/^\s*[[{]/.test(text)) {
    if (saysJson) throw fail("not JSON (expected a list of samples, or one sample per line)");
    return { kind: "text", texts: [text] };
  }
  const lines = text.split("\n");
  const firstLine = lines.find((l) => l.trim() !== "")!;
  const oneLineJsonl = ext === ".jsonl" && firstLine.length === text.trim().length;
  if (!oneLineJsonl && text.length <= MAX_JSON_BYTES) {
    const doc = tryJson(text);
    if (doc.ok && isContainer(doc.value)) return { kind: "json", texts: withText(jsonDocumentTexts(doc.value, max, fail), fail) };
  }
  const first = tryJson(firstLine);
  if (first.ok && isContainer(first.value)) return { kind: "jsonl", texts: withText(jsonlTexts(lines, max, fail), fail) };
  if (text.length > MAX_JSON_BYTES) {
    throw fail(`starts like JSON but is larger than the ${MAX_JSON_BYTES}-byte limit of one JSON document; write one sample per line (JSONL)`);
  }
  if (saysJson) throw fail(`invalid JSON (${(tryJson(text) as { error: string }).error})`);
  return { kind: "text", texts: [text] };
}

type JsonResult = { ok: true; value: unknown } | { ok: false; error: string };

function tryJson(s: string): JsonResult {
  try {
    return { ok: true, value: JSON.parse(s) };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

const isContainer = (v: unknown): v is object => typeof v === "object" && v !== null;

/** A JSON document: a list of samples, or one {"messages": [...]} sample. */
function jsonDocumentTexts(doc: object, max: number, fail: Fail): string[] {
  if (!Array.isArray(doc)) return [sampleText(doc, "the sample", fail)];
  if (doc.length > 0 && doc.every(isMessageObject)) {
    throw fail('the list holds messages, not samples: a JSON file is a list of samples (each a list of messages or {"messages": [...]}); wrap one conversation in [ ]');
  }
  return doc.slice(0, max).map((s, i) => sampleText(s, `sample ${i + 1}`, fail));
}

function jsonlTexts(lines: string[], max: number, fail: Fail): string[] {
  const texts: string[] = [];
  for (let i = 0; i < lines.length && texts.length < max; i++) {
    if (lines[i].trim() === "") continue;
    const r = tryJson(lines[i]);
    if (!r.ok) throw fail(`line ${i + 1}: invalid JSON (${r.error})`);
    texts.push(sampleText(r.value, `line ${i + 1}`, fail));
  }
  return texts;
}

const isMessageObject = (v: unknown): boolean => isContainer(v) && !Array.isArray(v) && "role" in v && "content" in v && !("messages" in v);

/** A sample's text: its messages' contents in order, no separator (tokenizer.py:406-407). */
function sampleText(sample: unknown, where: string, fail: Fail): string {
  return sampleMessages(sample, where, fail)
    .map((m, i) => messageContent(m, `${where}, message ${i + 1}`, fail))
    .join("");
}

function sampleMessages(sample: unknown, where: string, fail: Fail): unknown[] {
  if (Array.isArray(sample)) return sample;
  if (isContainer(sample)) {
    const unknown = Object.keys(sample).find((k) => k !== "messages" && k !== "files");
    if (unknown === undefined && Array.isArray((sample as { messages?: unknown }).messages)) return (sample as { messages: unknown[] }).messages;
    if (unknown !== undefined) throw fail(`${where}: unknown key "${unknown}" (a sample is a list of {role, content} messages or {"messages": [...], "files"?: [...]})`);
  }
  throw fail(`${where}: expected a list of {role, content} messages or {"messages": [...]}`);
}

function messageContent(m: unknown, where: string, fail: Fail): string {
  if (!isContainer(m) || Array.isArray(m)) throw fail(`${where}: expected an object {role, content}`);
  const { role, content } = m as { role?: unknown; content?: unknown };
  if (typeof role !== "string") throw fail(`${where}: "role" must be a string`);
  if (typeof content !== "string") throw fail(`${where}: "content" must be a string (multimodal content lists are not read)`);
  return content;
}

function withText(texts: string[], fail: Fail): string[] {
  if (texts.length === 0) throw fail("holds no samples");
  if (texts.every((t) => t === "")) throw fail("yields no text (every sample's messages are empty)");
  return texts;
}
