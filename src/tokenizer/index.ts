// Owns `loadTokenizer`: recognises a tokenizer file by content — llama2.c tokenizer.bin, SentencePiece
// ModelProto (`tokenizer.model` of Llama 2 / stories), tiktoken text (`tokenizer.model` of Llama 3, the
// same file name in another format) or a Hugging Face tokenizer.json (Qwen, SmolLM, Phi, Gemma; also given as the
// directory that holds it) — and loads it behind the common Tokenizer interface.
import { statSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../util/errors.js";
import { readUserFile } from "../util/files.js";
import { isHfTokenizerJson, parseHfTokenizerJson } from "./hf-json.js";
import { parseLlama2cTokenizer } from "./llama2c-bin.js";
import { isSentencePieceModel } from "./sentencepiece-model.js";
import { parseSentencePieceTokenizer } from "./sentencepiece.js";
import { isTiktokenFile, parseTiktokenTokenizer } from "./tiktoken.js";
import type { Tokenizer } from "./types.js";

export type TokenizerFormat = "llama2c-bin" | "sentencepiece" | "tiktoken" | "hf-json";

export interface LoadTokenizerOptions {
  /** The model's vocabulary size: a tokenizer whose vocabulary differs is refused (hf-json: one larger than it). */
  expectedVocabSize?: number;
}

/** Which format the bytes are, or undefined. Tiktoken text, SentencePiece protobuf and tokenizer.json have
 * signatures; tokenizer.bin has none, so it is whatever parses as one. */
export function detectTokenizerFormat(bytes: Uint8Array): TokenizerFormat | undefined {
  const head = bytes.subarray(0, 4096);
  if (isTiktokenFile(head)) return "tiktoken";
  if (isSentencePieceModel(head)) return "sentencepiece";
  if (isHfTokenizerJson(bytes)) return "hf-json";
  return undefined;
}

/** A directory stands for the tokenizer.json in it. */
function tokenizerFilePath(path: string): string {
  let dir = false;
  try {
    dir = statSync(path).isDirectory();
  } catch {
    return path; // readUserFile reports it
  }
  if (!dir) return path;
  const file = join(path, "tokenizer.json");
  try {
    if (statSync(file).isFile()) return file;
  } catch {
    // reported below
  }
  throw new UserError(`tokenizer ${path}: a directory without a tokenizer.json`);
}

export async function loadTokenizer(pathIn: string, o: LoadTokenizerOptions = {}): Promise<Tokenizer> {
  const path = tokenizerFilePath(pathIn);
  const bytes = readUserFile(path, "tokenizer");
  if (bytes.length === 0) throw new UserError(`tokenizer ${path}: the file is empty`);
  switch (detectTokenizerFormat(bytes)) {
    case "tiktoken":
      return parseTiktokenTokenizer(bytes, path, { expectedVocabSize: o.expectedVocabSize, specialTokens: "llama3" });
    case "sentencepiece":
      return parseSentencePieceTokenizer(bytes, path, o.expectedVocabSize);
    case "hf-json":
      return parseHfTokenizerJson(bytes, path, { expectedVocabSize: o.expectedVocabSize });
    default:
      try {
        return parseLlama2cTokenizer(bytes, path, o.expectedVocabSize);
      } catch (e) {
        if (e instanceof UserError && /vocabulary|vocab/.test(e.message)) throw e;
        throw new UserError(
          `tokenizer ${path}: not a recognised tokenizer (llama2.c tokenizer.bin, SentencePiece tokenizer.model, Llama 3 tiktoken tokenizer.model, or Hugging Face tokenizer.json)`,
        );
      }
  }
}
