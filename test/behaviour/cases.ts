// Test support: the behaviour lock of the runner redesign (issue 12). Every command-line output that the
// runner, parity, quantization and calibration produce — `--json`, `--dump_logits`, `--dump_prompt_logits`,
// `--dump_encodings`, `parity --json` (and `--dump` golden vectors), `quant-report --json` — for stories260K
// and the tiny Llama 3.2 model in every mode × mechanism × scheme, recorded once BEFORE the redesign into
// test/fixtures/behaviour/recorded.json and compared byte for byte after it (timings excluded).
//
// This fixture is not a reference of correctness (those come from independent implementations): it only
// proves that a refactor changed nothing observable. Re-record it only for a deliberate behaviour change:
//   RECORD_BEHAVIOUR=1 npx vitest run test/behaviour
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { cli } from "../helpers/cli.js";
import { FIXTURES, ROOT } from "../helpers/fixtures.js";

export const RECORDED = join(FIXTURES, "behaviour", "recorded.json");

const S260 = ["--checkpoint", "models/stories260K.bin", "--tokenizer_bin", "models/tok512.bin"];
const TINY = ["--checkpoint", "test/fixtures/tiny_llama3/consolidated.00.pth", "--params", "test/fixtures/tiny_llama3/params.json"];
const TINY_TOK = [...TINY, "--tokenizer_model", "test/fixtures/tiktoken_small.model", "--fold_vocab"];
/** A tokenized prompt file, written into the case's temp dir. */
const IDS = "@ids";
const IDS_TEXT = "1 403 407 261 378 429 284 1 9 511 300";
/** Ids beyond the tiny model's vocabulary (768), for --fold_vocab. */
const IDS_BIG = "@idsbig";
const IDS_BIG_TEXT = "1 900 1500 30 7 769";

export interface BehaviourCase {
  id: string;
  /** Arguments; paths relative to the repository root; "@out/NAME" is a file in the case's temp dir. */
  argv: string[];
}

const MODES = ["prefill", "kv", "hybrid"] as const;
const UPDATERS = ["smart_mask", "shift_pointer"] as const;
const SCHEMES = ["8a8w", "16a4w", "16a8w", "16a16w", "16a4w_block"] as const;

function modelSets(): { name: string; args: string[]; small: string[] }[] {
  return [
    { name: "s260", args: [...S260, "--prompt", "Once upon a time, Lily"], small: ["--kv_seq_len", "48", "--prefill_seq_len", "24"] },
    { name: "tiny", args: [...TINY_TOK, "--prompt", "what is 1+1"], small: ["--kv_seq_len", "64", "--prefill_seq_len", "48"] },
  ];
}

export function behaviourCases(): BehaviourCase[] {
  const cases: BehaviourCase[] = [];
  const dumps = ["--dump_logits", "@out/logits.f32", "--dump_prompt_logits", "@out/prompt.f32"];
  for (const m of modelSets()) {
    for (const mode of MODES)
      for (const u of UPDATERS) {
        cases.push({ id: `run/${m.name}/${mode}/${u}/greedy`, argv: [...m.args, ...m.small, "--model_mode", mode, "--kv_updater", u, "--json", "--seed", "1", ...dumps] });
        cases.push({ id: `run/${m.name}/${mode}/${u}/t0.8`, argv: [...m.args, ...m.small, "--model_mode", mode, "--kv_updater", u, "--json", "--temperature", "0.8", "--seed", "7", ...dumps] });
      }
    for (const s of SCHEMES)
      for (const mode of ["kv", "hybrid"])
        for (const u of UPDATERS)
          cases.push({
            id: `ptq/${m.name}/${s}/${mode}/${u}`,
            argv: [...m.args, ...m.small, "--ptq", s, "--model_mode", mode, "--kv_updater", u, "--json", "--seed", "3", "--dump_logits", "@out/logits.f32", "--dump_encodings", "@out/enc.json"],
          });
    cases.push({ id: `ptq/${m.name}/16a4w/kv/t0.8`, argv: [...m.args, ...m.small, "--ptq", "16a4w", "--model_mode", "kv", "--json", "--temperature", "0.8", "--seed", "5", "--dump_logits", "@out/logits.f32"] });
    cases.push({ id: `ptq/${m.name}/16a4w/hybrid/calib_text`, argv: [...m.args, ...m.small, "--ptq", "16a4w", "--calib_text", "data/eval.txt", "--json", "--seed", "1", "--dump_logits", "@out/logits.f32", "--dump_encodings", "@out/enc.json"] });
    for (const b of ["reference", "wasm"])
      for (const mode of MODES)
        for (const u of UPDATERS)
          cases.push({ id: `parity/${m.name}/${b}/${mode}/${u}`, argv: ["parity", "--backend", b, ...m.args, ...m.small, "--model_mode", mode, "--kv_updater", u, "--steps", "6", "--json"] });
    for (const s of SCHEMES)
      for (const u of UPDATERS)
        cases.push({ id: `quant-report/${m.name}/${s}/${u}`, argv: ["quant-report", "--ptq", s, ...m.args, "--kv_seq_len", "40", "--kv_updater", u, "--steps", "10", "--json"] });
    cases.push({ id: `quant-report/${m.name}/16a4w/calib_text`, argv: ["quant-report", "--ptq", "16a4w", ...m.args, "--kv_seq_len", "40", "--calib_text", "data/eval.txt", "--json"] });
  }
  // Prompt assembly: BOS, the Llama 3 chat template with and without a system prompt, tokenized prompts, folding.
  const s = ["--kv_seq_len", "40", "--prefill_seq_len", "24", "--json", "--seed", "1", "--dump_prompt_logits", "@out/prompt.f32"];
  cases.push({ id: "prompt/s260/tokenized", argv: [...S260, "--tokenized_prompt", IDS, ...s] });
  cases.push({ id: "prompt/s260/tokenized-no-tokenizer", argv: ["--checkpoint", "models/stories260K.bin", "--tokenized_prompt", IDS, ...s] });
  cases.push({ id: "prompt/s260/system-prompt-ignored", argv: [...S260, "--prompt", "Tom had a dog", "--system_prompt", "be brief", ...s] });
  cases.push({ id: "prompt/tiny/chat", argv: [...TINY_TOK, "--prompt", "hi there", ...s] });
  cases.push({ id: "prompt/tiny/chat-system", argv: [...TINY_TOK, "--prompt", "hi there", "--system_prompt", "You are terse.", "--model_mode", "kv", ...s] });
  cases.push({ id: "prompt/tiny/chat-system-too-long", argv: [...TINY_TOK, "--prompt", "hi there", "--system_prompt", "You are terse.", ...s] });
  cases.push({ id: "prompt/tiny/tokenized", argv: [...TINY, "--tokenized_prompt", IDS, ...s] });
  cases.push({ id: "prompt/tiny/tokenized-fold", argv: [...TINY, "--tokenized_prompt", IDS_BIG, "--fold_vocab", ...s] });
  cases.push({ id: "prompt/tiny/ptq-tokenized", argv: [...TINY, "--tokenized_prompt", IDS, "--ptq", "8a8w", "--kv_seq_len", "40", "--prefill_seq_len", "24", "--json", "--seed", "1", "--dump_logits", "@out/l.f32", "--dump_encodings", "@out/enc.json"] });
  cases.push({ id: "prompt/s260/parity-tokenized", argv: ["parity", "--backend", "reference", "--checkpoint", "models/stories260K.bin", "--tokenized_prompt", IDS, "--kv_seq_len", "40", "--prefill_seq_len", "24", "--json"] });
  cases.push({ id: "prompt/tiny/parity-chat-system", argv: ["parity", "--backend", "reference", ...TINY_TOK, "--prompt", "hi", "--system_prompt", "Be kind.", "--kv_seq_len", "64", "--prefill_seq_len", "48", "--json"] });
  cases.push({ id: "prompt/tiny/quant-report-chat", argv: ["quant-report", "--ptq", "16a4w", ...TINY_TOK, "--prompt", "hi", "--system_prompt", "Be kind.", "--kv_seq_len", "40", "--steps", "4", "--json"] });
  cases.push({ id: "prompt/s260/quant-report-tokenized", argv: ["quant-report", "--ptq", "8a8w", ...S260, "--tokenized_prompt", IDS, "--kv_seq_len", "40", "--steps", "4", "--json"] });
  // Golden vectors written by parity --dump, and Markdown reports.
  cases.push({ id: "parity/s260/reference/hybrid/dump", argv: ["parity", "--backend", "reference", ...S260, "--kv_seq_len", "40", "--prefill_seq_len", "24", "--steps", "4", "--dump", "@out/vectors"] });
  cases.push({ id: "parity/tiny/reference/kv/dump", argv: ["parity", "--backend", "reference", ...TINY, "--tokenized_prompt", IDS, "--model_mode", "kv", "--kv_updater", "shift_pointer", "--kv_seq_len", "40", "--steps", "3", "--dump", "@out/vectors"] });
  cases.push({ id: "quant-report/s260/16a4w/markdown", argv: ["quant-report", "--ptq", "16a4w", ...S260, "--kv_seq_len", "40", "--steps", "4"] });
  return cases;
}

/** stats fields that are clock readings or derived from them. */
const TIMING_STATS = new Set([
  "model_load_start_ms",
  "model_load_end_ms",
  "inference_start_ms",
  "inference_end_ms",
  "prompt_eval_end_ms",
  "first_token_ms",
  "aggregate_sampling_time_ms",
  "load_s",
  "inference_s",
  "ttft_s",
  "prompt_eval_s",
  "prompt_tok_per_s",
  "generation_s",
  "generation_tok_per_s",
  "sampling_s",
]);

/** stdout with the timing fields of the run command's `--json` stats removed (every other byte kept). */
export function withoutTimings(stdout: string, argv: string[]): string {
  if (argv[0] === "parity" || argv[0] === "quant-report" || !argv.includes("--json")) return stdout;
  const obj = JSON.parse(stdout);
  for (const k of Object.keys(obj.stats)) if (TIMING_STATS.has(k)) delete obj.stats[k];
  return JSON.stringify(obj) + "\n";
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out;
}

export interface BehaviourResult {
  code: number;
  stdout: string;
  /** Output files (relative to the case's temp dir) -> sha256 and size. */
  files: Record<string, string>;
}

/** Runs a case in-process and captures its observable outputs. */
export async function runCase(c: BehaviourCase): Promise<BehaviourResult> {
  const dir = mkdtempSync(join(tmpdir(), "llama-golden-behaviour-"));
  const cwd = process.cwd();
  try {
    writeFileSync(join(dir, "ids.txt"), IDS_TEXT);
    writeFileSync(join(dir, "idsbig.txt"), IDS_BIG_TEXT);
    const argv = c.argv.map((a) => (a === IDS ? join(dir, "ids.txt") : a === IDS_BIG ? join(dir, "idsbig.txt") : a.startsWith("@out/") ? join(dir, "out", a.slice(5)) : a));
    (await import("node:fs")).mkdirSync(join(dir, "out"));
    process.chdir(ROOT);
    const r = await cli(...argv);
    const files: Record<string, string> = {};
    for (const p of listFiles(join(dir, "out"))) {
      const b = readFileSync(p);
      files[relative(join(dir, "out"), p)] = `${sha256(b)} ${b.length}`;
    }
    return { code: r.code, stdout: r.code === 0 || r.code === 1 ? withoutTimings(r.stdout, c.argv) : r.stdout + r.stderr, files };
  } finally {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  }
}
