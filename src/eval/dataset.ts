// Owns reading an `eval` dataset (issue 18) into documents, recognised by content like the calibration files:
// - Parquet (e.g. Hugging Face's wikitext-2-raw-v1 test split): one document per non-empty row of a string column
//   (`--text_column`, default "text"), read by src/quant/calibration-parquet.ts after every size in the file is checked;
// - JSONL: one JSON object per line with a string field (`--text_column`, default "text"); blank lines are skipped,
//   an empty text is skipped, anything else is an error naming the line;
// - anything else that is UTF-8 text: the whole file is one document.
// `--join_rows` joins the rows of a Parquet / JSONL file into one document with "\n\n" between them (what Hugging
// Face's perplexity guide does with wikitext: `"\n\n".join(test["text"])`), so windows run across rows.
// The dataset's sha256 is taken over the file's bytes (a base run must be made from the same file).
import { createHash } from "node:crypto";
import { extname } from "node:path";
import { oneLine, UserError } from "../util/errors.js";
import { decodeUtf8, openUserFile, readAt, readWhole, type Fail } from "../quant/calibration-files.js";
import { isParquetMagic, readParquetTexts } from "../quant/calibration-parquet.js";

export interface EvalDataset {
  path: string;
  kind: "parquet" | "jsonl" | "text";
  documents: string[];
  sha256: string;
}

const MAX_TEXT_BYTES = 1024 * 2 ** 20; // a text / JSONL dataset, read whole

async function sha256Of(fh: import("node:fs/promises").FileHandle, size: number, fail: Fail): Promise<string> {
  const h = createHash("sha256");
  const CHUNK = 8 * 2 ** 20;
  for (let at = 0; at < size; at += CHUNK) h.update(await readAt(fh, at, Math.min(CHUNK, size - at), fail));
  return h.digest("hex");
}

function jsonlDocuments(text: string, column: string, fail: Fail): string[] {
  const out: string[] = [];
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw fail(`line ${i + 1} is not JSON (${e instanceof Error ? e.message : String(e)})`);
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw fail(`line ${i + 1} is not a JSON object (expected {"${column}": "..."})`);
    const t = (v as Record<string, unknown>)[column];
    if (t === undefined) throw fail(`line ${i + 1} has no "${column}" field`);
    if (typeof t !== "string") throw fail(`line ${i + 1}: "${column}" is not a string`);
    if (t !== "") out.push(t);
  });
  return out;
}

/** Reads a dataset (file header). */
export async function readEvalDataset(path: string, opts: { column?: string; joinRows?: boolean; onProgress?: (done: number, total: number) => void } = {}): Promise<EvalDataset> {
  const fail: Fail = (problem) => new UserError(oneLine(`--dataset ${path}: ${problem}`));
  const column = opts.column ?? "text";
  const fh = await openUserFile(path, fail);
  try {
    const size = (await fh.stat()).size;
    if (size === 0) throw fail("the file is empty");
    const head = await readAt(fh, 0, Math.min(4, size), fail);
    const sha256 = await sha256Of(fh, size, fail);
    const ext = extname(path).toLowerCase();
    let kind: EvalDataset["kind"];
    let documents: string[];
    if (isParquetMagic(head)) {
      kind = "parquet";
      documents = await readParquetTexts(fh, size, column, Infinity, opts.onProgress, fail);
    } else {
      if (ext === ".parquet") throw fail("not a Parquet file (it does not start with PAR1)");
      if (size > MAX_TEXT_BYTES) throw fail(`${size} bytes, more than the ${MAX_TEXT_BYTES}-byte limit of a text or JSONL dataset`);
      const text = decodeUtf8(await readWhole(fh, size, opts.onProgress, fail), fail);
      const firstLine = text.split("\n").find((l) => l.trim() !== "") ?? "";
      if (ext === ".jsonl" || ext === ".json" || /^\s*\{/.test(firstLine)) {
        kind = "jsonl";
        documents = jsonlDocuments(text, column, fail);
      } else {
        kind = "text";
        documents = text.trim() === "" ? [] : [text];
      }
    }
    if (documents.length === 0) throw fail(kind === "text" ? "the file holds no text" : `no non-empty "${column}" text in the file`);
    if (opts.joinRows && documents.length > 1) documents = [documents.join("\n\n")];
    return { path, kind, documents, sha256 };
  } finally {
    await fh.close();
  }
}

/** lm-eval's word count of a document: the pieces of `re.split(r"\s+", doc)` (empty ends included, as Python counts them). */
export function wordCount(doc: string): number {
  return doc.split(/\s+/).length;
}
