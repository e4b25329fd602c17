// Bad input to the current flow's quantization (run --flow current with --ptq / --quant_recipe / --decoder_model and
// the calibration flags), as test/cli/bad-input.test.ts checks every other flag: the real command line, in-process;
// each mistake ends with exit code 2 and exactly one stderr line naming the problem — no stack trace, nothing left
// in the output folder, every input file byte-identical afterwards.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { FIXTURES, MODEL_BIN, TOKENIZER_BIN } from "../helpers/fixtures.js";
import { TINY_PARAMS, TINY_PTH } from "../helpers/tiny-llama3.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-cq-bad-"));
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
const PARQUET = join(IN, "wiki.parquet");
copyFileSync(join(FIXTURES, "calib", "wiki_snappy_v1.parquet"), PARQUET);
const CHAT = join(IN, "chat.json");
copyFileSync(join(FIXTURES, "calib", "chat.json"), CHAT);
const TEXT = inFile("calib.txt", "Lily saw a dog. The dog was happy.");
const BLANK = inFile("blank.txt", "  \n\t ");
const IDS = inFile("ids.txt", "1 403 407");
const recipe = (name: string, doc: unknown) => inFile(name, typeof doc === "string" ? doc : JSON.stringify(doc));
const R_JSON = recipe("r-json.json", "{ default: 16a4w");
const R_KEY = recipe("r-key.json", { default: { scheme: "16a4w" }, kvbits: 8 });
const R_SCHEME = recipe("r-scheme.json", { default: { scheme: "4a4w" } });
const R_REGEX = recipe("r-regex.json", { default: { scheme: "16a4w" }, overrides: [{ pattern: "(wq", scheme: "16a8w" }] });
const R_BLOCK0 = recipe("r-block0.json", { default: { scheme: "16a4w_block", block_size: 0 } });
const R_BLOCK172 = recipe("r-block172.json", { default: { scheme: "16a4w_block", block_size: 16 } });
const R_KV = recipe("r-kv.json", { default: { scheme: "16a4w" }, kv_bits: 12 });
const R_BASE = recipe("r-base.json", { base: "llama4" });
const R_NONE = recipe("r-none.json", { default: { scheme: "16a4w" }, overrides: [{ pattern: "layers\\.9\\.", scheme: "16a8w" }] });
const R_LIST = recipe("r-list.json", [{ scheme: "16a4w" }]);
const R_OK = recipe("r-ok.json", { base: "stories260k" });
// A quantized model file made by the command line itself, and a truncated copy.
const QM = join(IN, "model.lgq");
const made = await cli("--checkpoint", CKPT, "--tokenizer_bin", TOK, "--flow", "current", "--max_seq_len", "32", "--prefill_ar_len", "8", "--ptq", "16a8w", "--save_quantized", QM, "--json");
if (made.code !== 0) throw new Error(`test setup: --save_quantized failed: ${made.stderr}`);
const QM_CUT = inFile("cut.lgq", readFileSync(QM).subarray(0, readFileSync(QM).length - 1000));

const M = ["--checkpoint", CKPT, "--tokenizer_bin", TOK, "--flow", "current", "--max_seq_len", "32", "--prefill_ar_len", "8"];
const TINY = ["--checkpoint", TINY_PTH, "--params", TINY_PARAMS, "--tokenizer_model", join(FIXTURES, "tiktoken_small.model"), "--fold_vocab", "--flow", "current", "--max_seq_len", "32", "--prefill_ar_len", "8"];
const out = (name: string) => join(OUT, name);
const INPUTS = [CKPT, TOK, PARQUET, CHAT, TEXT, BLANK, IDS, R_JSON, R_KEY, R_SCHEME, R_REGEX, R_BLOCK0, R_BLOCK172, R_KV, R_BASE, R_NONE, R_LIST, R_OK, QM, QM_CUT];
const Q = ["--quantized_model", QM, "--tokenizer_bin", TOK, "--max_seq_len", "32", "--prefill_ar_len", "8"];

type Case = [name: string, argv: string[], expected: RegExp];
const cases: Case[] = [];
const add = (name: string, argv: string[], expected: RegExp) => cases.push([name, argv, expected]);

// --- schemes and recipes ---
add("--ptq 16a16w", [...M, "--ptq", "16a16w"], /--ptq 16a16w is not a scheme of the current flow/);
add("--ptq 3a3w", [...M, "--ptq", "3a3w"], /--ptq "3a3w"/);
add("--decoder_model unknown", [...M, "--decoder_model", "llama9"], /--decoder_model "llama9": expected one of .*llama3_2-1b_instruct/);
add("--decoder_model empty", [...M, "--decoder_model", ""], /--decoder_model/);
add("--quant_recipe and --decoder_model", [...M, "--quant_recipe", R_OK, "--decoder_model", "stories260k"], /--quant_recipe and --decoder_model both given/);
add("--quant_recipe missing", [...M, "--quant_recipe", join(IN, "nope.json")], /--quant_recipe .*nope\.json/);
add("--quant_recipe a folder", [...M, "--quant_recipe", IN], /--quant_recipe .*is a directory/);
add("recipe not JSON", [...M, "--quant_recipe", R_JSON], /r-json\.json: not JSON/);
add("recipe a list", [...M, "--quant_recipe", R_LIST], /r-list\.json: the top level is not a JSON object/);
add("recipe unknown key", [...M, "--quant_recipe", R_KEY], /r-key\.json: unknown key "kvbits"/);
add("recipe unknown scheme", [...M, "--quant_recipe", R_SCHEME], /r-scheme\.json: default: unknown scheme "4a4w"/);
add("recipe bad regex", [...M, "--quant_recipe", R_REGEX], /r-regex\.json: overrides\[0\]: pattern "\(wq" is not a valid regular expression/);
add("recipe block size 0", [...M, "--quant_recipe", R_BLOCK0], /r-block0\.json: default: block_size 0 is not a positive integer/);
add("recipe block size not dividing a conv", [...M, "--quant_recipe", R_BLOCK172], /r-block172\.json: block_size 16 does not divide the input width 172 of layers\.0\.feed_forward\.w2_conv/);
add("recipe kv_bits 12", [...M, "--quant_recipe", R_KV], /r-kv\.json: kv_bits 12 is not 8 or 16/);
add("recipe unknown base", [...M, "--quant_recipe", R_BASE], /r-base\.json: base "llama4" is not a built-in recipe/);
add("recipe pattern matching no conv", [...M, "--quant_recipe", R_NONE], /r-none\.json: overrides\[0\] pattern "layers\\\\\.9\\\\\." matches no conv of this model/);
add("--ptq 16a4w_block on stories260K (w2 172 wide)", [...M, "--ptq", "16a4w_block"], /block_size 32 does not divide the input width 172 of layers\.0\.feed_forward\.w2_conv/);
add("--group_size with a per-channel recipe", [...M, "--ptq", "16a4w", "--group_size", "16"], /--group_size is the block length of 16a4w_block; the recipe stories260k/);
add("--group_size 7 on tiny_llama3", [...TINY, "--decoder_model", "llama3_2-1b", "--group_size", "7"], /block_size 7 does not divide the input width 96 of layers\.0\.attention\.wq_conv/);
add("--group_size 0", [...M, "--ptq", "16a4w_block", "--group_size", "0"], /--group_size 0/);
// --- calibration data ---
add("--calib_text missing", [...M, "--ptq", "16a8w", "--calib_text", join(IN, "nope.txt")], /--calib_text .*nope\.txt/);
add("--calib_text blank", [...M, "--ptq", "16a8w", "--calib_text", BLANK], /--calib_text .*blank\.txt/);
add("--calib_samples a text file", [...M, "--ptq", "16a8w", "--calib_samples", TEXT], /--calib_samples .*calib\.txt: not JSON or JSONL chat samples/);
add("--calib_samples a Parquet file", [...M, "--ptq", "16a8w", "--calib_samples", PARQUET], /--calib_samples .*wiki\.parquet: not JSON or JSONL .*use --calib_dataset/);
add("--calib_dataset a JSON file", [...M, "--ptq", "16a8w", "--calib_dataset", CHAT], /--calib_dataset .*chat\.json: not a Parquet file/);
add("--calib_dataset missing column", [...M, "--ptq", "16a8w", "--calib_dataset", PARQUET, "--calib_column", "words"], /--calib_dataset .*wiki\.parquet.*words/);
add("--calib_column without --calib_dataset", [...M, "--ptq", "16a8w", "--calib_column", "text"], /--calib_column names a column of --calib_dataset/);
add("--calib_max_samples without --calib_dataset", [...M, "--ptq", "16a8w", "--calib_max_samples", "4"], /--calib_max_samples limits the rows of --calib_dataset/);
add("--calib_max_samples 0", [...M, "--ptq", "16a8w", "--calib_dataset", PARQUET, "--calib_max_samples", "0"], /--calib_max_samples 0: must be an integer >= 1/);
add("--calib_max_samples abc", [...M, "--ptq", "16a8w", "--calib_dataset", PARQUET, "--calib_max_samples", "abc"], /--calib_max_samples "abc"/);
add("calibration file without a tokenizer", ["--checkpoint", CKPT, "--tokenized_prompt", IDS, "--flow", "current", "--max_seq_len", "32", "--prefill_ar_len", "8", "--ptq", "16a8w", "--calib_text", TEXT], /calibration files need a tokenizer/);
add("--seq_mse_candidates -1", [...M, "--ptq", "16a8w", "--seq_mse_candidates", "-1"], /--seq_mse_candidates -1: must be an integer >= 0/);
add("--seq_mse_candidates 2.5", [...M, "--ptq", "16a8w", "--seq_mse_candidates", "2.5"], /--seq_mse_candidates "2\.5"/);
// --- flags without quantization, flags of the seed flow's quantization ---
add("--calib_samples without --ptq", [...M, "--calib_samples", CHAT], /--calib_samples needs --ptq SCHEME \(or --quant_recipe FILE, --decoder_model NAME\)/);
add("--calib_dataset alone implies the current flow, needs --ptq", ["--calib_dataset", PARQUET], /--calib_dataset needs --ptq SCHEME/);
add("--seq_mse_candidates without --ptq", [...M, "--seq_mse_candidates", "4"], /--seq_mse_candidates needs --ptq/);
add("--dump_encodings without --ptq", [...M, "--dump_encodings", out("e.json")], /--dump_encodings needs --ptq/);
add("--recipe with the current flow", [...M, "--recipe", R_OK], /--recipe belongs to the seed flow's quantization/);
add("--encodings with the current flow", [...M, "--ptq", "16a8w", "--encodings", R_OK], /--encodings belongs to the seed flow's quantization/);
add("--quant_sim with the current flow", [...M, "--ptq", "16a8w", "--quant_sim", "taps"], /--quant_sim belongs to the seed flow's quantization/);
add("--quant_arithmetic bogus with the current flow", [...M, "--ptq", "16a8w", "--quant_arithmetic", "bf16"], /--quant_arithmetic/);
add("--quant_recipe with a seed-flow flag", ["--quant_recipe", R_OK, "--kv_seq_len", "64"], /seed flow.*current flow/);
add("--decoder_model with --backend wasm", [...M, "--decoder_model", "stories260k", "--backend", "wasm"], /--decoder_model runs the quantized simulation; --backend wasm does not apply/);
add("--quant_recipe with --backend onnxruntime", [...M, "--quant_recipe", R_OK, "--backend", "onnxruntime"], /--quant_recipe runs the quantized simulation/);
// --- outputs ---
add("--dump_encodings is the recipe", [...M, "--quant_recipe", R_OK, "--dump_encodings", R_OK], /--dump_encodings .*input of this run/);
add("--dump_encodings is the calibration dataset", [...M, "--ptq", "16a8w", "--calib_dataset", PARQUET, "--dump_encodings", PARQUET], /--dump_encodings .*input of this run/);
add("--dump_encodings into a missing folder", [...M, "--ptq", "16a8w", "--dump_encodings", join(tmp, "no-dir", "e.json")], /--dump_encodings.*does not exist/);
// --- quantized model files ---
add("--save_quantized without --ptq", [...M, "--save_quantized", out("m.lgq")], /--save_quantized needs --ptq SCHEME/);
add("--save_quantized is the checkpoint", [...M, "--ptq", "16a8w", "--save_quantized", CKPT], /--save_quantized .*input of this run/);
add("--save_quantized into a missing folder", [...M, "--ptq", "16a8w", "--save_quantized", join(tmp, "no-dir", "m.lgq")], /--save_quantized.*does not exist/);
add("--quantized_model with --checkpoint", [...Q, "--checkpoint", CKPT], /--quantized_model FILE holds the model, its recipe and its calibration; --checkpoint does not apply/);
add("--quantized_model with --ptq", [...Q, "--ptq", "16a4w"], /--ptq does not apply/);
add("--quantized_model with --calib_text", [...Q, "--calib_text", TEXT], /--calib_text does not apply/);
add("--quantized_model with --backend", [...Q, "--backend", "wasm"], /--backend does not apply/);
add("--quantized_model with --save_quantized", [...Q, "--save_quantized", out("again.lgq")], /--save_quantized does not apply/);
add("--quantized_model with a seed-flow flag", ["--quantized_model", QM, "--kv_seq_len", "64"], /seed flow.*current flow/);
add("--quantized_model missing", [...Q.slice(2), "--quantized_model", join(IN, "nope.lgq")], /quantized model .*nope\.lgq: .*(no such file|not found|does not exist)/i);
add("--quantized_model a folder", [...Q.slice(2), "--quantized_model", IN], /quantized model .*in: /);
add("--quantized_model not a quantized model", [...Q.slice(2), "--quantized_model", TEXT], /quantized model .*calib\.txt: (not a quantized model file|\d+ bytes, too short)/);
add("--quantized_model truncated", [...Q.slice(2), "--quantized_model", QM_CUT], /quantized model .*cut\.lgq: .*truncated/);
add("--quantized_model with --masked_softmax on", [...Q, "--masked_softmax", "on"], /--masked_softmax on: the quantized model .*model\.lgq was calibrated with --masked_softmax off/);
add("--quantized_model with a tokenizer of another vocabulary", [...Q.slice(0, 2), "--tokenizer_model", join(FIXTURES, "tiktoken_small.model"), "--max_seq_len", "32"], /vocab/i);
add("parity --quantized_model", ["parity", "--backend", "wasm", ...Q], /parity: --quantized_model is not used by parity/);
add("quant-report --quantized_model", ["quant-report", "--flow", "current", "--ptq", "16a8w", ...Q], /quant-report: --quantized_model is not used by quant-report .*needs the checkpoint/);
add("eval --save_quantized", ["eval", ...M, "--ptq", "16a8w", "--dataset", TEXT, "--save_quantized", out("m.lgq")], /eval: --save_quantized is not used by eval/);
for (const flag of ["quant_recipe", "decoder_model", "calib_samples", "calib_dataset", "calib_column", "calib_max_samples", "seq_mse_candidates", "save_quantized", "quantized_model"]) {
  add(`--${flag} at the end`, [...M, `--${flag}`], new RegExp(`--${flag}`));
  add(`--${flag} followed by a flag`, [...M, `--${flag}`, "--json"], new RegExp(`--${flag} needs a value`));
}

const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

describe(`current-flow quantization, bad input: ${cases.length} cases, each one line and exit 2`, () => {
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
