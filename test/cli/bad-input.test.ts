// The bad-input table (issue 13): the real command line, in-process, over well over 150 mistakes across the run
// command and every subcommand. Each must end with exit code 2 and exactly one stderr line naming the problem —
// no stack trace, nothing left in the output folder, and every input file byte-identical afterwards.
// New flags get rows here when they are added.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { FIXTURES, MODEL_BIN, TOKENIZER_BIN } from "../helpers/fixtures.js";
import { TINY_PARAMS, TINY_PTH } from "../helpers/tiny-llama3.js";
import { buildPte } from "../helpers/pte-writer.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-bad-"));
const IN = join(tmp, "in");
const OUT = join(tmp, "out");
mkdirSync(IN);
const inFile = (name: string, data: string | Uint8Array) => {
  const p = join(IN, name);
  writeFileSync(p, data);
  return p;
};
const CKPT = join(IN, "model.bin");
copyFileSync(MODEL_BIN, CKPT);
const TOK = join(IN, "tok.bin");
copyFileSync(TOKENIZER_BIN, TOK);
const TIKTOKEN = join(FIXTURES, "tiktoken_small.model");
const GARBAGE = inFile("garbage.bin", new Uint8Array(4096).map((_, i) => (i * 7919) % 251));
const EMPTY = inFile("empty.txt", "");
const BLANK = inFile("blank.txt", "   \n\t\n");
const BINARY = inFile("binary.txt", new Uint8Array([72, 105, 0, 1, 2, 3]));
const LATIN1 = inFile("latin1.txt", new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x20, 0xff]));
const TEXT = inFile("calib.txt", "Lily saw a dog.");
const IDS_OK = inFile("ids.txt", "1 403 407");
const IDS_BIG = inFile("ids-big.txt", "1 403 9999");
const IDS_NEG = inFile("ids-neg.txt", "1 -4 5");
const IDS_TEXT = inFile("ids-text.txt", "one two");
const IDS_JSON = inFile("ids-json.txt", "[1, 2,");
const IDS_EMPTY = inFile("ids-empty.txt", " \n ");
const ENC_EMPTY = inFile("enc-empty.json", "{}");
const ENC_BAD = inFile("enc-bad.json", "{ not json");
const RECIPE_BAD = inFile("recipe-bad.json", "{ default: 16a4w");
const RECIPE_SCHEME = inFile("recipe-scheme.json", JSON.stringify({ default: "16a4w", overrides: [{ match: "layers.0.*", scheme: "3a3w" }] }));
const PARAMS_BAD = inFile("params-bad.json", "{ dim: ");
const PARAMS_WRONG = inFile("params-wrong.json", JSON.stringify({ dim: 4096, n_layers: 32, n_heads: 32 }));
const PROMPTS_BAD = inFile("prompts-bad.json", "[1, 2]");
const NO_DIR = join(tmp, "no-such-dir");
const EMPTY_DIR = join(tmp, "empty-dir");
mkdirSync(EMPTY_DIR);

const M = ["--checkpoint", CKPT, "--tokenizer_bin", TOK];
const S = ["--kv_seq_len", "24", "--prefill_seq_len", "12"];
const TINY = ["--checkpoint", TINY_PTH, "--params", TINY_PARAMS];
const out = (name: string) => join(OUT, name);

type Case = [name: string, argv: string[], expected: RegExp];
const cases: Case[] = [];
const add = (name: string, argv: string[], expected: RegExp) => cases.push([name, argv, expected]);

// --- run command: numbers ---
for (const flag of ["kv_seq_len", "prefill_seq_len"])
  for (const v of ["-5", "0", "1", "abc", "1.5", "", "1e3", "0x10", "99999999999999999999"])
    add(`--${flag} ${JSON.stringify(v)}`, [...M, `--${flag}`, v], new RegExp(`--${flag}`));
add("--kv_seq_len far beyond memory", [...M, "--kv_seq_len", "99999999"], /--kv_seq_len 99999999.*GiB/);
add("--prefill_seq_len far beyond memory", [...M, "--model_mode", "prefill", "--prefill_seq_len", "99999999"], /--prefill_seq_len 99999999.*GiB/);
for (const v of ["-1", "0", "abc", "1.5", "", "300"]) add(`--threads ${JSON.stringify(v)}`, [...M, "--threads", v], /--threads/);
for (const flag of ["temperature", "rope_scale_factor"])
  for (const v of ["-1", "abc", "0x10", "inf", "Infinity", "NaN", "", "1e999", "1,5"]) add(`--${flag} ${JSON.stringify(v)}`, [...M, `--${flag}`, v], new RegExp(`--${flag}`));
for (const v of ["-5", "abc", "1.5", "18446744073709551616", "", "0xZZ"]) add(`--seed ${JSON.stringify(v)}`, [...M, "--seed", v], /--seed/);
// --- run command: names ---
for (const [flag, v] of [
  ["model_mode", "decode"],
  ["model_mode", ""],
  ["kv_updater", "ring"],
  ["kv_updator", "ring"],
  ["llama_model", "llama9"],
  ["ptq", "4a4w"],
  ["ptq", ""],
  ["backend", "cuda"],
  ["backend", ""],
]) add(`--${flag} ${JSON.stringify(v)}`, [...M, `--${flag}`, v], new RegExp(`--${flag}`));
// --- run command: flags without values ---
const VALUED = ["checkpoint", "params", "tokenizer_bin", "tokenizer_model", "model_mode", "kv_seq_len", "prompt", "temperature", "seed", "dump_logits", "tokenized_prompt", "ptq", "calib_text", "encodings", "recipe", "threads", "backend"];
for (const flag of VALUED) {
  add(`--${flag} at the end`, [`--${flag}`], new RegExp(`--${flag}`));
  add(`--${flag} followed by a flag`, [`--${flag}`, "--json"], new RegExp(`--${flag} needs a value`));
}
// --- run command: unknown flags and stray arguments ---
add("unknown flag", ["--foo"], /unknown flag --foo/);
add("unknown flag with a value", ["--foo=1"], /unknown flag --foo/);
add("misspelled flag", ["--kv-seq-len", "12"], /unknown flag --kv-seq-len/);
add("stray argument", ["hello"], /unexpected argument "hello"/);
add("single-dash flag", ["-x"], /unknown flag -x/);
add("boolean flag with a value", ["--json=yes"], /--json/);
// --- run command: input files ---
add("checkpoint missing", ["--checkpoint", join(IN, "nope.bin"), "--tokenized_prompt", IDS_OK], /nope\.bin/);
add("checkpoint is garbage", ["--checkpoint", GARBAGE, "--tokenized_prompt", IDS_OK], /garbage\.bin/);
add("checkpoint is empty", ["--checkpoint", EMPTY, "--tokenized_prompt", IDS_OK], /empty\.txt/);
add("checkpoint folder without weights", ["--checkpoint", EMPTY_DIR, "--tokenized_prompt", IDS_OK], /empty-dir/);
add("params missing", [...M, "--params", join(IN, "nope.json")], /nope\.json/);
add("params not JSON", [...M, "--params", PARAMS_BAD], /params-bad\.json/);
add("params disagree with the weights", [...M, "--params", PARAMS_WRONG], /params-wrong\.json|dim/);
add("tokenizer_bin missing", ["--checkpoint", CKPT, "--tokenizer_bin", join(IN, "nope.tok")], /nope\.tok/);
add("tokenizer_bin is garbage", ["--checkpoint", CKPT, "--tokenizer_bin", GARBAGE], /garbage\.bin/);
add("tokenizer_model is empty", ["--checkpoint", CKPT, "--tokenizer_model", EMPTY], /empty\.txt/);
add("tokenizer larger than the model", ["--checkpoint", CKPT, "--tokenizer_model", TIKTOKEN], /vocab|tokenizer/);
add("Llama 3 model with a llama2.c tokenizer", [...TINY, "--tokenizer_bin", TOK], /tokenizer|vocab/);
add("no tokenizer and a text prompt", [...TINY, "--prompt", "hi"], /no tokenizer/);
add("tokenized prompt missing", [...M, "--tokenized_prompt", join(IN, "nope.ids")], /nope\.ids/);
add("tokenized prompt id beyond the vocabulary", ["--checkpoint", CKPT, "--tokenized_prompt", IDS_BIG], /prompt token 2 is 9999/);
add("tokenized prompt negative id", ["--checkpoint", CKPT, "--tokenized_prompt", IDS_NEG], /ids-neg\.txt/);
add("tokenized prompt words", ["--checkpoint", CKPT, "--tokenized_prompt", IDS_TEXT], /ids-text\.txt/);
add("tokenized prompt broken JSON", ["--checkpoint", CKPT, "--tokenized_prompt", IDS_JSON], /ids-json\.txt/);
add("tokenized prompt empty", ["--checkpoint", CKPT, "--tokenized_prompt", IDS_EMPTY], /ids-empty\.txt/);
add("tokenized prompt is a folder", ["--checkpoint", CKPT, "--tokenized_prompt", EMPTY_DIR], /empty-dir/);
add("calib_text missing", [...M, ...S, "--ptq", "16a4w", "--calib_text", join(IN, "nope.txt")], /nope\.txt/);
add("calib_text empty", [...M, ...S, "--ptq", "16a4w", "--calib_text", EMPTY], /--calib_text.*empty/);
add("calib_text blank", [...M, ...S, "--ptq", "16a4w", "--calib_text", BLANK], /--calib_text.*empty/);
add("calib_text binary", [...M, ...S, "--ptq", "16a4w", "--calib_text", BINARY], /--calib_text.*binary/);
add("calib_text not UTF-8", [...M, ...S, "--ptq", "16a4w", "--calib_text", LATIN1], /--calib_text.*UTF-8/);
add("encodings missing", [...M, ...S, "--ptq", "16a4w", "--encodings", join(IN, "nope.json")], /nope\.json/);
add("encodings {}", [...M, ...S, "--ptq", "16a4w", "--encodings", ENC_EMPTY], /enc-empty\.json.*no encodings/);
add("encodings not JSON", [...M, ...S, "--ptq", "16a4w", "--encodings", ENC_BAD], /enc-bad\.json/);
add("recipe missing", [...M, ...S, "--recipe", join(IN, "nope.json")], /nope\.json/);
add("recipe not JSON", [...M, ...S, "--recipe", RECIPE_BAD], /recipe-bad\.json/);
add("recipe unknown scheme", [...M, ...S, "--recipe", RECIPE_SCHEME], /3a3w/);
// --- run command: conflicting or inapplicable flags ---
add("--prompt with --tokenized_prompt", [...M, "--prompt", "hi", "--tokenized_prompt", IDS_OK], /--prompt and --tokenized_prompt/);
add("--system_prompt with --tokenized_prompt", [...M, "--system_prompt", "be brief", "--tokenized_prompt", IDS_OK], /--system_prompt and --tokenized_prompt/);
add("two tokenizers", [...M, "--tokenizer_model", TIKTOKEN], /--tokenizer_bin and --tokenizer_model/);
add("kv_updater spellings disagree", [...M, "--kv_updater", "smart_mask", "--kv_updator", "shift_pointer"], /disagree/);
add("--ptq in prefill mode", [...M, ...S, "--ptq", "16a4w", "--model_mode", "prefill"], /--ptq supports kv and hybrid/);
add("--dump_prompt_logits with --ptq", [...M, ...S, "--ptq", "16a4w", "--dump_prompt_logits", out("p.f32")], /--dump_prompt_logits/);
add("--calib_text without --ptq", [...M, "--calib_text", TEXT], /--calib_text needs --ptq/);
add("--dump_encodings without --ptq", [...M, "--dump_encodings", out("e.json")], /--dump_encodings needs --ptq/);
add("--encodings without --ptq", [...M, "--encodings", ENC_EMPTY], /--encodings needs --ptq/);
add("--backend qnn without --pte", [...M, "--backend", "qnn"], /--pte/);
add("--pte without --backend qnn", [...M, "--pte", GARBAGE], /--pte is for --backend qnn/);
add("--providers without onnxruntime", [...M, "--providers", "cpu"], /--providers is for --backend onnxruntime/);
add("--qnn_backend_lib without qnn", [...M, "--qnn_backend_lib", GARBAGE], /--qnn_backend_lib is for --backend qnn/);
add("--backend replay on the run command", [...M, "--backend", "replay"], /replay/);
add("--quant_arithmetic without --ptq", [...M, "--quant_arithmetic", "fake"], /--quant_arithmetic needs --ptq/);
add("--quant_arithmetic unknown", [...M, "--ptq", "16a4w", "--quant_arithmetic", "exact"], /--quant_arithmetic "exact": expected one of integer, fake/);
add("--quant_arithmetic with the tap experiment", [...M, ...S, "--ptq", "16a8w", "--quant_arithmetic", "fake"], /--quant_arithmetic applies to the seed's converted graphs/);
add("--quant_sim unknown", [...M, "--ptq", "16a4w", "--quant_sim", "device"], /--quant_sim "device": expected one of seed, taps/);
add("--quant_sim seed with a non-seed scheme", [...M, ...S, "--ptq", "16a16w", "--quant_sim", "seed"], /--quant_sim seed runs the seed's schemes/);
add("--quant_sim seed with --recipe", [...M, ...S, "--ptq", "16a4w", "--quant_sim", "seed", "--recipe", TEXT], /--quant_sim seed runs the seed's schemes.*--recipe/);
add("--group_size not an integer", [...M, "--ptq", "16a4w_block", "--group_size", "3.5"], /--group_size "3\.5": expected an integer/);
add("--group_size 0", [...M, "--ptq", "16a4w_block", "--group_size", "0"], /--group_size 0: must be an integer >= 1/);
add("--group_size with 16a4w", [...M, ...S, "--ptq", "16a4w", "--group_size", "32"], /--group_size is the block length of --ptq 16a4w_block/);
add("--group_size dividing no width", [...M, ...S, "--ptq", "16a4w_block", "--group_size", "7"], /--group_size 7 divides no conv input width/);
add("quant-report --quant_arithmetic", ["quant-report", ...M, "--ptq", "16a4w", "--quant_arithmetic", "fake"], /--quant_arithmetic is not used/);
add("quant-report --group_size with 16a4w", ["quant-report", ...M, "--ptq", "16a4w", "--group_size", "32"], /--group_size is the block length of --ptq 16a4w_block/);
add("quant-report --quant_sim seed with 16a8w", ["quant-report", ...M, "--ptq", "16a8w", "--quant_sim", "seed"], /--quant_sim seed runs the seed's schemes/);
add("quant-report --sensitivity_threshold not a number", ["quant-report", ...M, "--ptq", "16a4w", "--sensitivity_threshold", "high"], /--sensitivity_threshold "high": expected a number of dB/);
add("quant-report --sensitivity_threshold with the tap experiment", ["quant-report", ...M, "--ptq", "16a8w", "--sensitivity_threshold", "20"], /--sensitivity_threshold applies to the per-conv analysis of the seed graph/);
add("--ptq with --backend wasm", [...M, "--ptq", "16a4w", "--backend", "wasm"], /--backend wasm does not apply/);
add("--providers empty list", [...M, "--backend", "onnxruntime", "--providers", ","], /--providers/);
add("--llama_model without --checkpoint", ["--llama_model", "llama3_2"], /needs --checkpoint/);
add("hybrid with kv shorter than prefill", [...M, "--kv_seq_len", "8", "--prefill_seq_len", "16"], /hybrid mode needs --kv_seq_len/);
add("prompt too long for the prefill graph", [...M, "--prefill_seq_len", "3", "--kv_seq_len", "8"], /prefill_seq_len 3/);
add("prompt too long for the KV graph", [...M, "--model_mode", "kv", "--kv_seq_len", "3"], /kv_seq_len 3/);
// --- the current flow (SPEC-2026) ---
const C = [...M, "--flow", "current"];
add("--flow bogus", [...M, "--flow", "2027"], /--flow/);
add("current: CL < AR", [...C, "--max_context_len", "16", "--max_seq_len", "16", "--prefill_ar_len", "32"], /--max_context_len \(16\) >= --prefill_ar_len \(32\)/);
add("current: prompt over CL - AR", [...C, "--max_context_len", "12", "--max_seq_len", "12", "--prefill_ar_len", "8"], /holds at most 4/);
add("current: --max_seq_len > CL", [...C, "--max_seq_len", "64", "--max_context_len", "32", "--prefill_ar_len", "8"], /--max_seq_len 64 is larger than --max_context_len 32/);
add("current: seed-only --kv_seq_len", [...C, "--kv_seq_len", "64"], /--kv_seq_len is not a flag of the current flow/);
add("current: seed-only --kv_updater", [...C, "--kv_updater", "shift_pointer"], /--kv_updater is not a flag of the current flow/);
add("current: prefill mode", [...C, "--model_mode", "prefill"], /--model_mode/);
add("seed: current-only --max_seq_len", [...M, "--flow", "seed", "--max_seq_len", "64"], /--max_seq_len is not a flag of the seed flow/);
add("flags of both flows", [...M, "--prefill_seq_len", "16", "--prefill_ar_len", "8"], /seed flow.*current flow/);
add("current: lookahead --ngram 1", [...C, "--model_mode", "lookahead", "--ngram", "1"], /--ngram 1: must be an integer >= 2/);
add("current: lookahead --window 0", [...C, "--model_mode", "lookahead", "--window", "0"], /--window 0: must be an integer >= 1/);
add("current: lookahead --gcap -1", [...C, "--model_mode", "lookahead", "--gcap", "-1"], /--gcap -1: must be an integer >= 0/);
add("current: lookahead CL <= AR", [...C, "--model_mode", "lookahead", "--max_seq_len", "32", "--max_context_len", "64", "--prefill_ar_len", "8"], /lookahead needs --max_context_len > next_pow2\(\(W\+G\)\(N-1\)\) = 64, got 64/);
add("current: --lookahead_semantics bogus", [...C, "--model_mode", "lookahead", "--lookahead_semantics", "static"], /--lookahead_semantics "static": expected one of qnn, generic/);
add("current: --ngram without lookahead", [...C, "--ngram", "3"], /--ngram applies to --model_mode lookahead/);
add("--longrope bogus", [...M, "--longrope", "maybe"], /--longrope/);
add("--longrope on a model without LongRoPE", [...M, "--longrope", "on", "--checkpoint", "test/fixtures/families/phi4mini"], /LongRoPE was asked for, but the config has no longrope rope_scaling/);
add("family in the seed flow", [...M, "--checkpoint", "test/fixtures/families/qwen3"], /this model \(model_type qwen3\) is not supported by the seed flow \(f965746a; use --flow current\)/);
add("--decoder_model not the checkpoint's family", [...C, "--checkpoint", "test/fixtures/families/qwen3", "--decoder_model", "gemma3-1b"], /--decoder_model gemma3-1b is a gemma3_text model, but the checkpoint's config\.json says model_type qwen3/);
add("current: --prefill_ar_len 0", [...C, "--prefill_ar_len", "0"], /--prefill_ar_len/);
add("current: --max_context_len -3", [...C, "--max_context_len", "-3"], /--max_context_len -3/);
add("current: buffers over the limit", [...C, "--max_context_len", "99999999", "--max_seq_len", "99999999"], /GiB/);
add("seed: several --prompt", [...M, "--prompt", "a", "--prompt", "b"], /--prompt given 2 times.*--flow current/);
add("parity: several --prompt", ["parity", ...M, ...S, "--backend", "reference", "--prompt", "a", "--prompt", "b"], /parity: --prompt given 2 times/);
add("current: --masked_softmax maybe", [...C, "--masked_softmax", "maybe"], /--masked_softmax "maybe": expected on or off/);
add("current: --r3 sometimes", [...C, "--r3", "sometimes"], /--r3 "sometimes": expected on or off/);
add("current: --dump_logits_path in hybrid mode", [...C, "--dump_logits_path", join(tmpdir(), "lg-never.bin")], /--dump_logits_path needs --model_mode kv/);
add("current: --dump_logits_path is the checkpoint", [...C, "--model_mode", "kv", "--dump_logits_path", CKPT], /--dump_logits_path.*input of this run/);
add("current: --sample_raw_codes maybe", [...C, "--sample_raw_codes", "maybe"], /--sample_raw_codes "maybe": expected on or off/);
add("seed: --sample_raw_codes with a seed-only flag", [...M, "--sample_raw_codes", "off", "--kv_seq_len", "64"], /seed flow.*current flow/);
add("--qnn_system_lib without qnn", [...M, "--qnn_system_lib", GARBAGE], /--qnn_system_lib is for --backend qnn/);
add("--qnn_provider without qnn", [...M, "--qnn_provider", "HTP"], /--qnn_provider is for --backend qnn/);
add("--r3 with a seed-flow flag", [...M, "--r3", "on", "--kv_seq_len", "64"], /seed flow.*current flow/);
add("parity current: prompt over CL - AR", ["parity", ...C, "--backend", "reference", "--max_context_len", "12", "--max_seq_len", "12", "--prefill_ar_len", "8"], /holds at most 4/);
for (const [flag, v] of [["quant_recipe", "r.json"], ["decoder_model", "stories260k"], ["calib_dataset", "d.parquet"], ["seq_mse_candidates", "5"]])
  add(`parity current: --${flag} refused`, ["parity", ...C, "--backend", "reference", `--${flag}`, v], new RegExp(`parity: --${flag} is not used by parity \\(parity compares the fp32 graphs`));
add("parity current: seed-only --kv_seq_len", ["parity", ...C, "--backend", "reference", "--kv_seq_len", "64"], /--kv_seq_len is not a flag of the current flow/);
add("quant-report --suggest_recipe in the seed flow", ["quant-report", ...M, "--ptq", "16a4w", "--suggest_recipe", join(tmp, "s.json")], /--suggest_recipe writes a --quant_recipe file of the current flow/);
add("quant-report current: no recipe", ["quant-report", ...C], /give the recipe: --decoder_model NAME, --quant_recipe FILE, or --ptq/);
add("quant-report current: --quant_sim", ["quant-report", ...C, "--ptq", "16a8w", "--quant_sim", "seed"], /--quant_sim chooses between the seed flow's simulations/);
add("quant-report current: --ptq 16a16w", ["quant-report", ...C, "--ptq", "16a16w"], /not|expected one of 16a4w, 16a4w_block, 16a8w, 8a8w/);
// --- outputs ---
add("--dump_logits is the checkpoint", [...M, ...S, "--dump_logits", CKPT], /--dump_logits.*input of this run/);
add("--dump_logits is the tokenizer", [...M, ...S, "--dump_logits", TOK], /--dump_logits.*input of this run/);
add("--dump_prompt_logits is the tokenized prompt", ["--checkpoint", CKPT, ...S, "--tokenized_prompt", IDS_OK, "--dump_prompt_logits", IDS_OK], /input of this run/);
add("--dump_logits is a folder", [...M, ...S, "--dump_logits", OUT], /--dump_logits.*is a directory/);
add("--dump_logits into a missing folder", [...M, ...S, "--dump_logits", join(NO_DIR, "l.f32")], /--dump_logits.*does not exist/);
add("--dump_logits empty path", [...M, ...S, "--dump_logits", ""], /--dump_logits.*empty path/);
add("two flags, one file", [...M, ...S, "--dump_logits", out("same.f32"), "--dump_prompt_logits", out("same.f32")], /also the output of --dump_logits/);
add("--dump_encodings into a missing folder", [...M, ...S, "--ptq", "16a4w", "--dump_encodings", join(NO_DIR, "e.json")], /--dump_encodings.*does not exist/);
add("--dump_encodings is the recipe", [...M, ...S, "--recipe", RECIPE_SCHEME, "--dump_encodings", RECIPE_SCHEME], /input of this run/);
// --- parity ---
const P = ["parity", ...M, ...S];
add("parity without --backend", [...P], /--backend is required/);
add("parity unknown backend", [...P, "--backend", "cuda"], /unknown backend/);
for (const v of ["0", "-1", "abc", "1.5", ""]) add(`parity --steps ${JSON.stringify(v)}`, [...P, "--backend", "reference", "--steps", v], /--steps/);
add("parity --dtype bogus", [...P, "--backend", "reference", "--dtype", "int3"], /--dtype/);
add("parity --tol_sqnr_db abc", [...P, "--backend", "reference", "--tol_sqnr_db", "abc"], /--tol_sqnr_db/);
add("parity --tol_kl -1", [...P, "--backend", "reference", "--tol_kl", "-1"], /--tol_kl/);
add("parity --tol_max_abs abc", [...P, "--backend", "reference", "--tol_max_abs", "abc"], /--tol_max_abs/);
add("parity --replay_dir without replay", [...P, "--backend", "reference", "--replay_dir", EMPTY_DIR], /--replay_dir is for --backend replay/);
add("parity replay without a dir", [...P, "--backend", "replay"], /--replay_dir/);
add("parity replay of an empty dir", [...P, "--backend", "replay", "--replay_dir", EMPTY_DIR], /empty-dir/);
add("parity --providers with reference", [...P, "--backend", "reference", "--providers", "cpu"], /--providers is for --backend onnxruntime/);
add("parity --pte with reference", [...P, "--backend", "reference", "--pte", GARBAGE], /--pte is for --backend qnn/);
add("parity qnn without --pte", [...P, "--backend", "qnn"], /--pte/);
add("parity --html into a missing folder", [...P, "--backend", "reference", "--html", join(NO_DIR, "r.html")], /--html.*does not exist/);
add("parity --html is the checkpoint", [...P, "--backend", "reference", "--html", CKPT], /--html.*input of this run/);
add("parity --dump is the checkpoint folder", ["parity", "--checkpoint", IN, ...S, "--backend", "reference", "--dump", IN], /--dump|checkpoint/);
for (const flag of ["temperature", "seed", "dump_logits", "ptq", "recipe", "calib_text", "encodings", "dump_encodings"])
  add(`parity --${flag} is refused`, [...P, "--backend", "reference", `--${flag}`, "1"], new RegExp(`--${flag} is not used by parity`));
add("parity --steps without a value", [...P, "--backend", "reference", "--steps"], /--steps needs a value/);
add("parity --backend given twice", [...P, "--backend", "reference", "--backend", "wasm"], /given twice/);
add("parity unknown flag", [...P, "--backend", "reference", "--bogus"], /unknown flag --bogus/);
add("parity tokenized id beyond the vocabulary", ["parity", "--checkpoint", CKPT, ...S, "--backend", "reference", "--tokenized_prompt", IDS_BIG], /prompt token 2 is 9999/);
// --- quant-report ---
const Q = ["quant-report", ...M, "--kv_seq_len", "24"];
add("quant-report without --ptq", [...Q], /--ptq is required/);
add("quant-report bogus --ptq", [...Q, "--ptq", "4a4w"], /--ptq/);
for (const v of ["0", "-3", "abc"]) add(`quant-report --steps ${JSON.stringify(v)}`, [...Q, "--ptq", "16a4w", "--steps", v], /--steps/);
add("quant-report --eval_text missing", [...Q, "--ptq", "16a4w", "--eval_text", join(IN, "nope.txt")], /nope\.txt/);
add("quant-report --eval_text empty", [...Q, "--ptq", "16a4w", "--eval_text", EMPTY], /--eval_text.*empty/);
add("quant-report --eval_text binary", [...Q, "--ptq", "16a4w", "--eval_text", BINARY], /--eval_text.*binary/);
add("quant-report --eval_text not UTF-8", [...Q, "--ptq", "16a4w", "--eval_text", LATIN1], /--eval_text.*UTF-8/);
add("quant-report --calib_text blank", [...Q, "--ptq", "16a4w", "--calib_text", BLANK], /--calib_text.*empty/);
add("quant-report --html into a missing folder", [...Q, "--ptq", "16a4w", "--html", join(NO_DIR, "q.html")], /--html.*does not exist/);
add("quant-report --html is the eval text", [...Q, "--ptq", "16a4w", "--eval_text", TEXT, "--html", TEXT], /--html.*input of this run/);
for (const flag of ["model_mode", "prefill_seq_len", "temperature", "seed", "dump_logits", "recipe", "encodings", "dump_encodings", "backend", "threads", "pte"])
  add(`quant-report --${flag} is refused`, [...Q, "--ptq", "16a4w", `--${flag}`, "1"], new RegExp(`--${flag} is not used by quant-report`));
add("quant-report tokenized id beyond the vocabulary", [...Q, "--ptq", "16a4w", "--tokenized_prompt", IDS_BIG], /prompt token 2 is 9999/);
add("quant-report without a tokenizer", ["quant-report", "--checkpoint", TINY_PTH, "--params", TINY_PARAMS, "--ptq", "16a4w"], /no tokenizer/);
add("quant-report prompt longer than the cache", [...Q.slice(0, -2), "--kv_seq_len", "3", "--ptq", "16a4w"], /kv_seq_len 3/);
// --- quant-report --compare_encodings ---
const ENC_GOOD = inFile("enc-good.json", JSON.stringify({ version: "0.6.1", activation_encodings: { x: [{ bitwidth: 8, dtype: "int", is_symmetric: "False", max: 1, min: 0, offset: 0, scale: 0.1 }] } }));
const encV1 = (name: string, entries: object[]) => inFile(name, JSON.stringify({ version: "1.0.0", activation_encodings: entries }));
const V1 = { name: "x", dtype: "INT", enc_type: "PER_TENSOR", bw: 8, is_sym: false, scale: [0.1], offset: [0] };
const ENC_V2 = inFile("enc-v2.json", JSON.stringify({ version: "2.0.0", encodings: [] }));
const ENC_ZERO = encV1("enc-zero.json", [{ ...V1, scale: [0] }]);
const ENC_NAN = inFile("enc-nan.json", '{"version": "1.0.0", "activation_encodings": [{"name": "x", "dtype": "INT", "enc_type": "PER_TENSOR", "bw": 8, "is_sym": false, "scale": [NaN], "offset": [0]}]}');
const ENC_LENGTHS = encV1("enc-lengths.json", [{ ...V1, enc_type: "PER_CHANNEL", scale: [0.1, 0.2] }]);
const ENC_DUP = encV1("enc-dup.json", [V1, V1]);
const ENC_NO_GRAPHS = inFile("enc-no-graphs.json", JSON.stringify({ plans: [], contexts: [], graph_listing: { available: false, reason: "native addon not available" } }));
const PTE = inFile("program.pte", new Uint8Array(64).map((_, i) => [0, 0, 0, 0, 69, 84, 49, 50][i] ?? 0));
const CE = ["quant-report", "--compare_encodings"];
add("compare_encodings: A not JSON", [...CE, ENC_BAD, ENC_GOOD], /enc-bad\.json: not valid JSON/);
add("compare_encodings: B binary", [...CE, ENC_GOOD, GARBAGE], /garbage\.bin: not valid JSON/);
add("compare_encodings: {} is no layout", [...CE, ENC_EMPTY, ENC_GOOD], /enc-empty\.json: unknown layout/);
add("compare_encodings: a .pte", [...CE, PTE, ENC_GOOD], /program\.pte: an ExecuTorch program.*qnn inspect/);
add("compare_encodings: missing file", [...CE, ENC_GOOD, join(IN, "nope.json")], /nope\.json: no such file/);
add("compare_encodings: version 2.0.0", [...CE, ENC_V2, ENC_GOOD], /enc-v2\.json: encodings version 2\.0\.0 is not supported/);
add("compare_encodings: scale 0", [...CE, ENC_ZERO, ENC_GOOD], /enc-zero\.json: .*scale\[0\] 0 is not a positive finite number/);
add("compare_encodings: scale NaN", [...CE, ENC_NAN, ENC_GOOD], /enc-nan\.json: .*scale\[0\] "NaN" is not a positive finite number/);
add("compare_encodings: scale / offset lengths", [...CE, ENC_LENGTHS, ENC_GOOD], /enc-lengths\.json: .*scale has 2 values, offset 1/);
add("compare_encodings: duplicate names", [...CE, ENC_DUP, ENC_GOOD], /enc-dup\.json: .*duplicate tensor name "x"/);
add("compare_encodings: qnn inspect without graphs", [...CE, ENC_NO_GRAPHS, ENC_GOOD], /enc-no-graphs\.json: qnn inspect could not list the graphs/);
add("compare_encodings: one file", [...CE, ENC_GOOD], /--compare_encodings needs two files/);
add("compare_encodings: --ptq refused", [...CE, ENC_GOOD, ENC_GOOD, "--ptq", "16a4w"], /--ptq is not used when comparing encodings/);
add("compare_encodings: --checkpoint refused", [...CE, ENC_GOOD, ENC_GOOD, ...M], /--checkpoint is not used when comparing encodings/);
add("compare_encodings: --tol_rel abc", [...CE, ENC_GOOD, ENC_GOOD, "--tol_rel", "abc"], /--tol_rel "abc"/);
add("compare_encodings: --tol_offset -1", [...CE, ENC_GOOD, ENC_GOOD, "--tol_offset", "-1"], /--tol_offset "-1"/);
add("compare_encodings: --name_map not JSON", [...CE, ENC_GOOD, ENC_GOOD, "--name_map", RECIPE_BAD], /--name_map .*recipe-bad\.json: not valid JSON/);
add("compare_encodings: --name_map values not names", [...CE, ENC_GOOD, ENC_GOOD, "--name_map", PARAMS_WRONG], /--name_map .*params-wrong\.json: the value of "dim" is not a non-empty string/);
add("quant-report --tol_rel without --compare_encodings", [...Q, "--ptq", "16a4w", "--tol_rel", "1e-3"], /--tol_rel is for --compare_encodings/);
// --- eval ---
const E = ["eval", ...M, "--flow", "current", "--max_context_len", "32", "--max_seq_len", "32"];
const DATA = inFile("data.txt", "Lily saw a dog. The dog ran to the park and Lily ran after it.");
const JSONL_BAD = inFile("data-bad.jsonl", '{"text": "a"}\n{"text": 3}\n');
const PARQUET_FAKE = inFile("data.parquet", "not a parquet file at all");
const DUMP_CUT = inFile("dump.u16", new Uint8Array(2 * 512 + 1));
const BASE_BAD = inFile("bad.base", "LGKLBASE not really");
add("eval without a dataset", [...E], /give --dataset FILE .* or --device_logits FILE/);
add("eval --dataset and --device_logits", [...E, "--dataset", DATA, "--device_logits", DUMP_CUT], /not both/);
add("eval --dataset missing", [...E, "--dataset", join(IN, "nope.txt")], /--dataset .*nope\.txt/);
add("eval --dataset empty", [...E, "--dataset", EMPTY], /--dataset .*empty\.txt: the file is empty/);
add("eval --dataset blank", [...E, "--dataset", BLANK], /--dataset .*blank\.txt: the file holds no text/);
add("eval --dataset binary", [...E, "--dataset", BINARY], /--dataset .*binary\.txt: a binary file/);
add("eval --dataset not UTF-8", [...E, "--dataset", LATIN1], /--dataset .*latin1\.txt: not UTF-8/);
add("eval --dataset JSONL with a number", [...E, "--dataset", JSONL_BAD], /data-bad\.jsonl: line 2: "text" is not a string/);
add("eval --dataset fake Parquet", [...E, "--dataset", PARQUET_FAKE], /data\.parquet: not a Parquet file/);
add("eval --dataset Parquet without the column", [...E, "--dataset", join(FIXTURES, "calib", "wiki_snappy_v1.parquet"), "--text_column", "body"], /body/);
add("eval --windowing bogus", [...E, "--dataset", DATA, "--windowing", "sliding"], /--windowing "sliding": expected one of kv, prefill/);
for (const v of ["0", "-2", "x"]) add(`eval --limit ${v}`, [...E, "--dataset", DATA, "--limit", v], /--limit/);
add("eval --save_base with --base", [...E, "--dataset", DATA, "--save_base", out("b.base"), "--base", BASE_BAD], /--save_base and --base together/);
add("eval --base not a base file", [...E, "--dataset", DATA, "--base", GARBAGE], /base file .*garbage\.bin: not an eval base file/);
add("eval --base truncated", [...E, "--dataset", DATA, "--base", BASE_BAD], /base file .*bad\.base/);
add("eval --base a folder", [...E, "--dataset", DATA, "--base", IN], /base file .*: is a directory, expected a file/);
add("eval --save_base is the dataset", [...E, "--dataset", DATA, "--save_base", DATA], /--save_base.*input of this run/);
add("eval --html into a missing folder", [...E, "--dataset", DATA, "--html", join(NO_DIR, "e.html")], /--html.*does not exist/);
add("eval --sqnr_eval=yes", [...E, "--dataset", DATA, "--sqnr_eval=yes"], /--sqnr_eval takes no value/);
for (const flag of ["temperature", "seed", "dump_logits", "dump_logits_path", "model_mode", "ngram"])
  add(`eval --${flag} is refused`, [...E, "--dataset", DATA, `--${flag}`, "1"], new RegExp(`--${flag} is not used by eval`));
add("eval --logits_scale without --device_logits", [...E, "--dataset", DATA, "--logits_scale", "0.1"], /describe a --device_logits file/);
add("eval --device_logits without the encoding", [...E, "--device_logits", DUMP_CUT, "--prompt", "Lily"], /uint16 logits need --logits_scale and --logits_offset/);
add("eval --device_logits --logits_scale 0", [...E, "--device_logits", DUMP_CUT, "--prompt", "Lily", "--logits_scale", "0", "--logits_offset", "0"], /--logits_scale 0: expected a number > 0/);
add("eval --device_logits --logits_offset 1.5", [...E, "--device_logits", DUMP_CUT, "--prompt", "Lily", "--logits_scale", "0.1", "--logits_offset", "1.5"], /--logits_offset 1\.5: expected an integer/);
add("eval --device_logits --logits_dtype int8", [...E, "--device_logits", DUMP_CUT, "--logits_dtype", "int8"], /--logits_dtype "int8"/);
add("eval --device_logits truncated", [...E, "--device_logits", DUMP_CUT, "--prompt", "Lily", "--logits_scale", "0.1", "--logits_offset", "-32768"], /device logits .*dump\.u16: 1025 bytes is not a whole number of 512-entry uint16 rows/);
add("eval --device_logits with --windowing", [...E, "--device_logits", DUMP_CUT, "--windowing", "kv"], /--windowing does not apply/);
const PTE_NO_ENC = inFile("no-enc.pte", buildPte({ plans: [{ name: "kv_forward", delegates: [] }] }));
const PTE_ZP = inFile("bad-zp.pte", buildPte({ plans: [{ name: "get_logits_scale", delegates: [], constant: { type: "double", value: 0.01 } }, { name: "get_logits_zero_point", delegates: [], constant: { type: "int", value: 70000n } }] }));
add("eval --logits_pte without --device_logits", [...E, "--dataset", DATA, "--logits_pte", PTE_NO_ENC], /--logits_pte describe a --device_logits file/);
add("eval --logits_pte with --logits_scale", [...E, "--device_logits", DUMP_CUT, "--prompt", "Lily", "--logits_pte", PTE_ZP, "--logits_scale", "0.1"], /by --logits_pte or by --logits_scale \/ --logits_offset, not both/);
add("eval --logits_pte with float32 logits", [...E, "--device_logits", DUMP_CUT, "--prompt", "Lily", "--logits_pte", PTE_ZP, "--logits_dtype", "float32"], /--logits_pte gives the encoding of uint16 logits/);
add("eval --logits_pte without the methods", [...E, "--device_logits", DUMP_CUT, "--prompt", "Lily", "--logits_pte", PTE_NO_ENC], /--logits_pte .*no-enc\.pte: no constant method get_logits_scale/);
add("eval --logits_pte zero point out of range", [...E, "--device_logits", DUMP_CUT, "--prompt", "Lily", "--logits_pte", PTE_ZP], /bad-zp\.pte: get_logits_zero_point is 70000, expected an integer in \[0, 65535\]/);
add("eval --logits_pte not a program", [...E, "--device_logits", DUMP_CUT, "--prompt", "Lily", "--logits_pte", DATA], /--logits_pte .*: not an ExecuTorch program/);
add("eval --logits_pte missing", [...E, "--device_logits", DUMP_CUT, "--prompt", "Lily", "--logits_pte", join(IN, "nope.pte")], /--logits_pte .*nope\.pte: no such file/);
add("eval --device_logits missing", [...E, "--device_logits", join(IN, "nope.u16"), "--prompt", "Lily", "--logits_dtype", "float32"], /nope\.u16/);
for (const v of ["3/3", "a/b", "1/0", "-1/3", "1.5/3", "2"]) add(`eval --shard ${JSON.stringify(v)}`, [...E, "--dataset", DATA, "--shard", v, "--results", out("s.jsonl")], /--shard/);
add("eval seed prefill windowing with --ptq", ["eval", ...M, "--dataset", DATA, "--windowing", "prefill", "--ptq", "8a8w"], /--windowing prefill in the seed flow runs the prefill-only graph/);
add("eval --shard without --results", [...E, "--dataset", DATA, "--shard", "0/2"], /shard 0\/2 needs --results FILE/);
add("eval --results is the dataset", [...E, "--dataset", DATA, "--results", DATA], /--results.*input of this run/);
add("eval --results of another format", [...E, "--dataset", DATA, "--results", TEXT], /results file .*calib\.txt: not a llama-golden results file/);
add("eval --save_base with --shard", [...E, "--dataset", DATA, "--save_base", out("b.base"), "--shard", "0/2", "--results", out("s.jsonl")], /--save_base needs one whole run/);
// --- merge ---
const RESULTS_TORN = inFile("torn.jsonl", '{"format":"llama-golden-results","version":1,"key":{"key":"k","items":2,"description":"d"},"shard":{"index":0,"count":1},"meta":{}}\n{"item":0');
const RESULTS_HALF = inFile("half.jsonl", '{"format":"llama-golden-results","version":1,"key":{"key":"k","items":2,"description":"d"},"shard":{"index":0,"count":2},"meta":{}}\n{"item":0}\n');
add("merge without files", ["merge"], /give the --results files/);
add("merge a missing file", ["merge", join(IN, "nope.jsonl")], /nope\.jsonl/);
add("merge a text file", ["merge", TEXT], /calib\.txt: not a llama-golden results file/);
add("merge a folder", ["merge", IN], /results file .*: is a directory, expected a file/);
add("merge a torn shard", ["merge", RESULTS_TORN], /torn\.jsonl: ends with a torn line/);
add("merge a missing shard", ["merge", RESULTS_HALF], /1 of 2 shards missing \(1\/2\)/);
add("merge an unknown flag", ["merge", RESULTS_HALF, "--steps", "3"], /unknown flag "--steps"/);
add("merge --html onto a shard file", ["merge", RESULTS_HALF, "--html", RESULTS_HALF], /--html.*input of this run/);
// --- parity sweeps ---
const PROMPTS_OK = inFile("prompts-ok.json", JSON.stringify(["Lily saw a dog"]));
add("parity --prompts_file not strings", ["parity", ...M, "--backend", "reference", "--prompts_file", PROMPTS_BAD], /prompts-bad\.json: expected a JSON array of strings/);
add("parity --prompts_file empty array", ["parity", ...M, "--backend", "reference", "--prompts_file", inFile("prompts-empty.json", "[]")], /the array is empty/);
add("parity --shard without a sweep", ["parity", ...M, "--backend", "reference", "--shard", "0/2"], /--shard and --results split a sweep/);
add("parity sweep --shard bogus", ["parity", ...M, "--backend", "reference", "--prompts_file", PROMPTS_OK, "--shard", "2/2", "--results", out("p.jsonl")], /--shard/);
add("parity sweep --shard without --results", ["parity", ...M, "--backend", "reference", "--prompts_file", PROMPTS_OK, "--shard", "0/2"], /needs --results FILE/);
add("parity sweep with --dump", ["parity", ...M, "--backend", "reference", "--prompts_file", PROMPTS_OK, "--dump", out("d")], /--dump records one run/);
add("parity sweep prompt too long", ["parity", ...M, "--backend", "reference", "--prompts_file", inFile("prompts-long.json", JSON.stringify(["a ".repeat(400)])), "--kv_seq_len", "16"], /prompts-long\.json: prompt 0: /);
// --- tokenize ---
add("tokenize without a prompt", ["tokenize", "--tokenizer_model", TIKTOKEN], /--prompt/);
add("tokenize missing tokenizer file", ["tokenize", "--tokenizer_model", join(IN, "nope.model"), "--prompt", "hi"], /nope\.model/);
add("tokenize garbage tokenizer", ["tokenize", "--tokenizer_model", GARBAGE, "--prompt", "hi"], /garbage\.bin/);
add("tokenize unknown flag", ["tokenize", "--tokenizer_model", TIKTOKEN, "--bogus"], /bogus/);
add("tokenize prompts file not strings", ["tokenize", "--tokenizer_model", TIKTOKEN, "--prompts_file", PROMPTS_BAD], /prompts-bad\.json/);
add("tokenize prompts file missing", ["tokenize", "--tokenizer_model", TIKTOKEN, "--prompts_file", join(IN, "nope.json")], /nope\.json/);
add("tokenize --allow_special on a llama2.c tokenizer", ["tokenize", "--tokenizer_bin", TOK, "--prompt", "hi", "--allow_special"], /--allow_special/);
// --- qnn ---
add("qnn without a subcommand", ["qnn"], /qnn/);
add("qnn unknown subcommand", ["qnn", "flash"], /flash/);
add("qnn inspect without --pte", ["qnn", "inspect"], /--pte/);
add("qnn inspect missing .pte", ["qnn", "inspect", "--pte", join(IN, "nope.pte")], /nope\.pte/);
add("qnn inspect garbage .pte", ["qnn", "inspect", "--pte", GARBAGE], /garbage\.bin/);
add("qnn inspect unknown flag", ["qnn", "inspect", "--pte", GARBAGE, "--foo"], /--foo/);
add("qnn extract without --out", ["qnn", "extract", "--pte", GARBAGE], /--out|garbage\.bin/);

const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");
const INPUTS = readdirSync(IN).map((n) => join(IN, n));

describe(`bad input: ${cases.length} cases, each one line and exit 2`, () => {
  it("the table holds at least 150 cases", () => expect(cases.length).toBeGreaterThanOrEqual(150));

  const before = new Map(INPUTS.map((p) => [p, sha(p)]));
  it.each(cases)("%s", async (_name, argv, expected) => {
    rmSync(OUT, { recursive: true, force: true });
    mkdirSync(OUT);
    const r = await cli(...argv);
    expect(r.code, r.stderr).toBe(2);
    const lines = r.stderr.split("\n").filter((l) => l !== "" && !l.startsWith("warning: "));
    expect(lines, r.stderr).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(lines[0]).toMatch(expected);
    expect(readdirSync(OUT)).toEqual([]);
    for (const p of INPUTS) expect(sha(p), p).toBe(before.get(p));
  });
});
