// Owns `llama-golden tokenize`: text to token ids with any supported tokenizer, for users who prepare
// tokenized prompts for the device runner (--tokenized_prompt here, or the runner's own flag).
import { parseArgs } from "node:util";
import { loadTokenizer } from "../tokenizer/index.js";
import { encodeText } from "../tokenizer/encode.js";
import { oneLine, UserError } from "../util/errors.js";
import { readUserFile } from "../util/files.js";
import { DEFAULT_TOKENIZER_BIN } from "./args.js";
import type { RunIO } from "./run.js";

export const TOKENIZE_HELP = `llama-golden tokenize — text to token ids

Usage: llama-golden tokenize (--prompt TEXT | --prompts_file FILE) [flags]

  --tokenizer_model FILE  SentencePiece or Llama 3 tiktoken tokenizer.model
  --tokenizer_bin FILE    llama2.c tokenizer.bin (default: the shipped models/tok512.bin)
  --prompt TEXT           one text
  --prompts_file FILE     a JSON array of strings, all tokenized in one process
  --bos, --eos            add the tokenizer's BOS / EOS (default: neither)
  --allow_special         recognise special tokens written in the text (e.g. <|eot_id|>); default: plain text
  --json                  print JSON: an id array, or an array of id arrays with --prompts_file
  -h, --help              this text

Without --json the ids of each text are printed on one line, separated by spaces (what --tokenized_prompt reads).
`;

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  tokenizer_model: { type: "string" },
  tokenizer_bin: { type: "string" },
  prompt: { type: "string" },
  prompts_file: { type: "string" },
  bos: { type: "boolean" },
  eos: { type: "boolean" },
  allow_special: { type: "boolean" },
  json: { type: "boolean" },
} as const;

/** A --prompts_file: a JSON array of strings (also parity's sweep). */
export function readPrompts(path: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(readUserFile(path, "prompts file")));
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`prompts file ${path}: not valid JSON (${oneLine((e as Error).message)})`);
  }
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) throw new UserError(`prompts file ${path}: expected a JSON array of strings`);
  return v;
}

export async function tokenizeCommand(argv: string[], io: RunIO): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new UserError(`tokenize: ${(e as Error).message.split("\n")[0]} (see tokenize --help)`);
  }
  if (values.help) {
    io.stdout(TOKENIZE_HELP);
    return 0;
  }
  const model = values.tokenizer_model as string | undefined;
  const bin = values.tokenizer_bin as string | undefined;
  if (model !== undefined && bin !== undefined) throw new UserError("tokenize: give --tokenizer_model or --tokenizer_bin, not both");
  const prompt = values.prompt as string | undefined;
  const file = values.prompts_file as string | undefined;
  if ((prompt === undefined) === (file === undefined)) throw new UserError("tokenize: give exactly one of --prompt and --prompts_file");
  const texts = file !== undefined ? readPrompts(file) : [prompt as string];
  const tok = await loadTokenizer(model ?? bin ?? DEFAULT_TOKENIZER_BIN);
  const opts = { bos: values.bos === true, eos: values.eos === true, allowSpecial: values.allow_special === true };
  const ids = texts.map((t) => encodeText(tok, t, opts));
  if (values.json) io.stdout(JSON.stringify(file !== undefined ? ids : ids[0]) + "\n");
  else for (const row of ids) io.stdout(row.join(" ") + "\n");
  return 0;
}
