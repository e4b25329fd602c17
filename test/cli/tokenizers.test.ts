// Tokenizers from the command line: format detection for --tokenizer_model / --tokenizer_bin, the Llama 3
// chat template on the tiny Llama 3.2 model, and the `tokenize` subcommand.
import { describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli } from "../helpers/cli.js";
import { FIXTURES, ROOT, TOKENIZER_BIN, llama2cCases } from "../helpers/fixtures.js";
import { TINY_PARAMS, TINY_PTH } from "../helpers/tiny-llama3.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-tok-"));
const TOK512_MODEL = join(FIXTURES, "tok512.model");
const TIKTOKEN_SMALL = join(FIXTURES, "tiktoken_small.model");
const LLAMA3_TOKENIZER = join(ROOT, "..", "shared", "models", "llama3", "tokenizer.model");
/** Why the Meta Llama 3 test skips: in its title, and once in the test output. */
const LLAMA3_SKIP = existsSync(LLAMA3_TOKENIZER) ? "" : " (skipped: needs ../shared/models/llama3/tokenizer.model, Meta's Llama 3 tokenizer, not in this repository)";
if (LLAMA3_SKIP) console.info(`Llama 3 tokenizer test${LLAMA3_SKIP}`);
const tiktokenRef = JSON.parse(readFileSync(join(FIXTURES, "tokenizers_tiktoken.json"), "utf8"));

describe("--tokenizer_model", () => {
  it("a SentencePiece tok512.model drives stories260K like tok512.bin (run.c's tokens)", async () => {
    const once = llama2cCases().find((c) => c.id === "once_upon_n64")!;
    const r = await cli("--tokenizer_model", TOK512_MODEL, "--json", "--kv_seq_len", "65", "--prefill_seq_len", "16");
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.prompt_tokens).toEqual(once.prompt_tokens);
    expect(o.generated_tokens).toEqual(once.generated_tokens);
    expect(o.text + "\n").toBe(once.stdout);
  });

  it("a file that is no tokenizer is refused by content", async () => {
    const r = await cli("--tokenizer_model", TINY_PARAMS);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^llama-golden: error: tokenizer .*params\.json: not a recognised tokenizer/);
  });
});

describe("Llama 3 chat template on the tiny Llama 3.2 model", () => {
  it("a tokenizer larger than the model is refused unless --fold_vocab", async () => {
    const r = await cli("--checkpoint", TINY_PTH, "--params", TINY_PARAMS, "--tokenizer_model", TIKTOKEN_SMALL);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/2256.*768|768.*2256/);
  });

  it("with --fold_vocab it runs end to end: BOS, the template's special tokens, folded ids, system prompt", async () => {
    const run = (...extra: string[]) =>
      cli("--checkpoint", TINY_PTH, "--params", TINY_PARAMS, "--tokenizer_model", TIKTOKEN_SMALL, "--fold_vocab", "--json", "--prompt", "what is 1+1", "--kv_seq_len", "64", "--prefill_seq_len", "48", ...extra);
    const a = await run();
    expect(a.code).toBe(0);
    const o = JSON.parse(a.stdout);
    expect(o.stats.llama_model).toBe("llama3_2");
    // tiktoken_small: special ids are 2000 + index; BOS 2000, start_header 2006, end_header 2007, eot 2009; all folded mod 768.
    const f = (id: number) => id % 768;
    expect(o.prompt_tokens[0]).toBe(f(2000));
    expect(o.prompt_tokens.filter((t: number) => t === f(2006)).length).toBe(2);
    expect(o.prompt_tokens.filter((t: number) => t === f(2009)).length).toBe(1);
    expect(o.text.startsWith("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nwhat is 1+1<|eot_id|>")).toBe(true);
    const b = await run("--system_prompt", "be brief");
    const ob = JSON.parse(b.stdout);
    expect(ob.prompt_tokens.filter((t: number) => t === f(2006)).length).toBe(3); // system block added
    expect(ob.text).toMatch(/^<\|begin_of_text\|><\|start_header_id\|>system<\|end_header_id\|>\n\nbe brief<\|eot_id\|>/);
  });

  it.skipIf(!existsSync(LLAMA3_TOKENIZER))(`with Meta's Llama 3 tokenizer.model: the chat prompt ids equal tiktoken's${LLAMA3_SKIP}`, async () => {
    const r = await cli("--checkpoint", TINY_PTH, "--params", TINY_PARAMS, "--tokenizer_model", LLAMA3_TOKENIZER, "--fold_vocab", "--json", "--prompt", "what is 1+1", "--kv_seq_len", "40");
    expect(r.code).toBe(0);
    const want = [128000, ...tiktokenRef["tiktoken:llama3"].chat_template_allowed_all].map((t: number) => t % 768);
    expect(JSON.parse(r.stdout).prompt_tokens).toEqual(want);
  });
});

describe("llama-golden tokenize", () => {
  it("prints ids without BOS/EOS by default, with them on request, for every tokenizer format", async () => {
    const bin = await cli("tokenize", "--tokenizer_bin", TOKENIZER_BIN, "--prompt", "Once upon a time");
    expect(bin.stdout).toBe("403 407 261 378\n");
    const spm = await cli("tokenize", "--tokenizer_model", TOK512_MODEL, "--prompt", "Once upon a time", "--bos", "--eos", "--json");
    expect(JSON.parse(spm.stdout)).toEqual([1, 403, 407, 261, 378, 2]);
    const strings: string[] = tiktokenRef.strings;
    const tk = await cli("tokenize", "--tokenizer_model", TIKTOKEN_SMALL, "--prompt", strings[0], "--json");
    expect(JSON.parse(tk.stdout)).toEqual(tiktokenRef["tiktoken:tiktoken_small"].encode_ordinary[0]);
  });

  it("--prompts_file with --json tokenizes every string in one process; --allow_special recognises special tokens", async () => {
    const f = join(tmp, "prompts.json");
    const strings: string[] = tiktokenRef.strings;
    writeFileSync(f, JSON.stringify(strings));
    const r = await cli("tokenize", "--tokenizer_model", TIKTOKEN_SMALL, "--prompts_file", f, "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(tiktokenRef["tiktoken:tiktoken_small"].encode_ordinary);
    const plain = JSON.parse((await cli("tokenize", "--tokenizer_model", TIKTOKEN_SMALL, "--prompt", "<|eot_id|>", "--json")).stdout);
    const special = JSON.parse((await cli("tokenize", "--tokenizer_model", TIKTOKEN_SMALL, "--prompt", "<|eot_id|>", "--json", "--allow_special")).stdout);
    expect(special).toEqual([2009]);
    expect(plain.length).toBeGreaterThan(1);
  });

  it("bad input is one line and exit 2", async () => {
    const bad = join(tmp, "bad.json");
    writeFileSync(bad, '{"not": "an array"}');
    for (const argv of [
      ["tokenize", "--prompt", "x", "--prompts_file", bad],
      ["tokenize", "--prompts_file", bad],
      ["tokenize", "--prompt", "x", "--tokenizer_model", join(tmp, "missing.model")],
      ["tokenize", "--prompt", "x", "--allow_special"],
      ["tokenize", "--frob"],
    ]) {
      const r = await cli(...argv);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.stderr.trimEnd().split("\n"), argv.join(" ")).toHaveLength(1);
    }
  });
});
