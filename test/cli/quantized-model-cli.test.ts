// Quantized model files on the command line: `run --ptq ... --save_quantized F` then `run --quantized_model F` gives the
// same tokens, the same logits bytes (--dump_logits) and the same --dump_encodings as the calibrating run, on 1 and 2
// threads, for stories260K (16a4w) and tiny_llama3 (the Llama 3.2 1B recipe: LPBQ, SeqMSE, 8-bit KV); and
// `eval --quantized_model F` scores a dataset exactly as `eval --ptq` with the same calibration does.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { FIXTURES, ROOT } from "../helpers/fixtures.js";
import { TINY_PARAMS, TINY_PTH } from "../helpers/tiny-llama3.js";

const dir = mkdtempSync(join(tmpdir(), "llama-golden-qmodel-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const EVAL = join(ROOT, "data", "eval.txt");
const SHAPE = ["--flow", "current", "--max_seq_len", "48", "--max_context_len", "64", "--prefill_ar_len", "8", "--json", "--seed", "1"];
const TIKTOKEN = join(FIXTURES, "tiktoken_small.model");

const cases = [
  { id: "stories260K", model: ["--checkpoint", join(ROOT, "models", "stories260K.bin")], tok: ["--tokenizer_bin", join(ROOT, "models", "tok512.bin")], quant: ["--ptq", "16a4w"], prompt: "Once upon a time" },
  {
    id: "tiny_llama3",
    model: ["--checkpoint", TINY_PTH, "--params", TINY_PARAMS],
    tok: ["--tokenizer_model", TIKTOKEN, "--fold_vocab"],
    quant: ["--decoder_model", "llama3_2-1b", "--seq_mse_candidates", "4"],
    prompt: "what is 1+1",
  },
];

describe("quantized model files on the command line", () => {
  it.each(cases)("$id: --save_quantized, then --quantized_model: same tokens, logits bytes and encodings (1 and 2 threads)", async (c) => {
    const file = join(dir, `${c.id}.lgq`);
    const base = [...c.tok, "--prompt", c.prompt, ...SHAPE, "--model_mode", "hybrid"];
    const saved = await cli(...c.model, ...base, ...c.quant, "--calib_text", EVAL, "--save_quantized", file, "--dump_logits", join(dir, `${c.id}-a.bin`), "--dump_encodings", join(dir, `${c.id}-a.json`));
    expect(saved.code, saved.stderr).toBe(0);
    const a = JSON.parse(saved.stdout);
    for (const threads of ["1", "2"]) {
      const r = await cli("--quantized_model", file, ...base, "--threads", threads, "--dump_logits", join(dir, `${c.id}-b.bin`), "--dump_encodings", join(dir, `${c.id}-b.json`));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/quantization: quantized model .*\.lgq \(recipe/);
      const b = JSON.parse(r.stdout);
      expect(b.generated_tokens).toEqual(a.generated_tokens);
      expect(b.generated_tokens.length).toBeGreaterThan(0);
      expect(readFileSync(join(dir, `${c.id}-b.bin`))).toEqual(readFileSync(join(dir, `${c.id}-a.bin`)));
      expect(readFileSync(join(dir, `${c.id}-b.json`), "utf8")).toBe(readFileSync(join(dir, `${c.id}-a.json`), "utf8"));
      expect(b.stats).toMatchObject({ ptq: a.stats.ptq, quant_recipe: a.stats.quant_recipe, kv_bits: a.stats.kv_bits, int32_overflows: a.stats.int32_overflows, checkpoint_format: "quantized model", masked_softmax: a.stats.masked_softmax, r3: a.stats.r3 });
    }
  }, 120_000);

  it("eval --quantized_model scores data/eval.txt as eval --ptq with the same calibration does", async () => {
    const c = cases[0];
    const file = join(dir, "eval.lgq");
    const shape = ["--flow", "current", "--max_seq_len", "64", "--max_context_len", "64", "--prefill_ar_len", "16"];
    const made = await cli(...c.model, ...c.tok, ...shape, "--ptq", "16a8w", "--calib_text", EVAL, "--save_quantized", file, "--json");
    expect(made.code, made.stderr).toBe(0);
    const direct = await cli("eval", ...c.model, ...c.tok, ...shape, "--ptq", "16a8w", "--calib_text", EVAL, "--dataset", EVAL, "--json");
    const fromFile = await cli("eval", "--quantized_model", file, ...c.tok, ...shape, "--dataset", EVAL, "--json");
    expect(direct.code, direct.stderr).toBe(0);
    expect(fromFile.code, fromFile.stderr).toBe(0);
    const [x, y] = [JSON.parse(direct.stdout), JSON.parse(fromFile.stdout)];
    expect(y.ppl.value).toBeGreaterThan(1);
    expect(y.ppl).toEqual(x.ppl);
    expect(y.nll).toEqual(x.nll);
  }, 120_000);
});
