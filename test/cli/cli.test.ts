// The command line, run in-process: default example, machine-readable outputs, and bad input
// (one line on stderr, exit code 2, no stack trace, nothing half-written).
import { describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli } from "../helpers/cli.js";
import { MODEL_BIN, TOKENIZER_BIN, llama2cCases } from "../helpers/fixtures.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-cli-"));
const once = llama2cCases().find((c) => c.id === "once_upon_n64")!;

function f32rows(path: string, V: number): Float32Array[] {
  const b = readFileSync(path);
  const all = new Float32Array(new Uint8Array(b).buffer);
  expect(all.length % V).toBe(0);
  return Array.from({ length: all.length / V }, (_, i) => all.subarray(i * V, (i + 1) * V));
}

describe("default run", () => {
  it("tells the story of the shipped model in hybrid mode, stats on stderr", async () => {
    const r = await cli();
    expect(r.code).toBe(0);
    // run.c's greedy text for this prompt (independent reference), minus its final newline.
    expect(r.stdout.startsWith(once.stdout.trimEnd())).toBe(true);
    const obs = r.stderr.split("\n").find((l) => l.startsWith("PyTorchObserver "));
    const stats = JSON.parse(obs!.slice("PyTorchObserver ".length));
    expect(stats.prompt_tokens).toBe(5);
    expect(stats.generated_tokens).toBe(128 - 1 - 5); // final pos kv_seq_len - 1 minus n
    expect(stats.SCALING_FACTOR_UNITS_PER_SECOND).toBe(1000);
    expect(r.stderr).toMatch(/Time to first generated token/);
  });

  it("--help", async () => {
    const r = await cli("--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--kv_updater/);
  });
});

describe("machine-readable outputs", () => {
  it("--json is exactly one JSON object; tokens match run.c", async () => {
    const r = await cli("--json", "--kv_seq_len", "65", "--prefill_seq_len", "16");
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(Object.keys(o)).toEqual(["prompt_tokens", "generated_tokens", "text", "stats"]);
    expect(o.prompt_tokens).toEqual(once.prompt_tokens);
    expect(o.generated_tokens).toEqual(once.generated_tokens);
    expect(o.text + "\n").toBe(once.stdout);
    expect(o.stats.generated_tokens).toBe(59); // the runner's count: final pos 64 - n 5
  });

  it("--dump_logits and --dump_prompt_logits write fp32 rows in order, in every mode", async () => {
    for (const mode of ["hybrid", "kv", "prefill"]) {
      const dl = join(tmp, `logits-${mode}.f32`);
      const dp = join(tmp, `prompt-${mode}.f32`);
      const r = await cli("--json", "--model_mode", mode, "--kv_seq_len", "24", "--prefill_seq_len", mode === "prefill" ? "24" : "8", "--dump_logits", dl, "--dump_prompt_logits", dp);
      expect(r.code).toBe(0);
      const o = JSON.parse(r.stdout);
      const rows = f32rows(dl, 512);
      const prows = f32rows(dp, 512);
      expect(rows.length).toBe(o.generated_tokens.length);
      expect(prows.length).toBe(o.prompt_tokens.length);
      // The first sampled row is the last prompt row; each row's argmax is the token sampled from it.
      expect(Buffer.from(rows[0].buffer, rows[0].byteOffset, 2048).equals(Buffer.from(prows[4].buffer, prows[4].byteOffset, 2048))).toBe(true);
      rows.forEach((row, i) => expect(row.indexOf(Math.max(...row))).toBe(o.generated_tokens[i]));
      // Row 0 is the logits after BOS, which run.c recorded (first 8 values).
      once.logits_first8["0"].forEach((v, j) => expect(Math.abs(prows[0][j] - v)).toBeLessThan(2e-5));
    }
  });

  it("--tokenized_prompt takes ids verbatim (JSON or separated by spaces/commas), no BOS added", async () => {
    const a = join(tmp, "ids.txt");
    writeFileSync(a, "1 403, 407\n261,378\n");
    const b = join(tmp, "ids.json");
    writeFileSync(b, "[1, 403, 407, 261, 378]");
    const ra = JSON.parse((await cli("--json", "--tokenized_prompt", a, "--kv_seq_len", "65")).stdout);
    const rb = JSON.parse((await cli("--json", "--tokenized_prompt", b, "--kv_seq_len", "65")).stdout);
    expect(ra.prompt_tokens).toEqual(once.prompt_tokens);
    expect(ra.generated_tokens).toEqual(once.generated_tokens);
    expect(rb.generated_tokens).toEqual(once.generated_tokens);
    const c = join(tmp, "nobos.txt");
    writeFileSync(c, "403 407");
    expect(JSON.parse((await cli("--json", "--tokenized_prompt", c, "--kv_seq_len", "8", "--prefill_seq_len", "4")).stdout).prompt_tokens).toEqual([403, 407]);
  });

  it("--kv_updator (upstream spelling) and both mechanisms give the same tokens", async () => {
    const sm = JSON.parse((await cli("--json", "--kv_updater", "smart_mask")).stdout);
    const sp = JSON.parse((await cli("--json", "--kv_updator", "ShiftPointer")).stdout);
    expect(sp.generated_tokens).toEqual(sm.generated_tokens);
    expect(sp.stats.kv_updater).toBe("shift_pointer");
  });

  it("temperature > 0: --seed repeats a run; without it the clock seed is printed", async () => {
    const a = JSON.parse((await cli("--json", "--temperature", "0.8", "--seed", "42")).stdout);
    const b = JSON.parse((await cli("--json", "--temperature", "0.8", "--seed", "42")).stdout);
    expect(b.generated_tokens).toEqual(a.generated_tokens);
    expect(a.stats.seed).toBe("42");
    const r = await cli("--json", "--temperature", "0.8", "--kv_seq_len", "10", "--prefill_seq_len", "8");
    expect(r.stderr).toMatch(/^seed: \d+ \(from the clock; pass --seed \d+ to repeat\)$/m);
  });
});

describe("bad input: one line, exit code 2", () => {
  const shortBin = join(tmp, "short.bin");
  writeFileSync(shortBin, readFileSync(MODEL_BIN).subarray(0, 5000));
  // A tokenizer with 300 of tok512's records: it does not fit the model's 512-token vocabulary.
  const tok = readFileSync(TOKENIZER_BIN);
  let off = 4;
  for (let i = 0; i < 300; i++) off += 8 + tok.readUInt32LE(off + 4);
  const smallTok = join(tmp, "tok300.bin");
  writeFileSync(smallTok, tok.subarray(0, off));

  const cases: [string, string[], RegExp][] = [
    ["missing checkpoint", ["--checkpoint", join(tmp, "nope.bin")], /checkpoint .*nope\.bin: no such file/],
    ["checkpoint size vs header", ["--checkpoint", shortBin, "--tokenizer_bin", TOKENIZER_BIN], /short\.bin: 5000 bytes, but its header .* needs 1056540/],
    ["tokenizer vocabulary", ["--tokenizer_bin", smallTok], /tok300\.bin.*300.*512|512.*300/],
    ["missing tokenizer", ["--tokenizer_bin", join(tmp, "none.bin")], /none\.bin: no such file/],
    ["prompt too long for hybrid", ["--prompt", "Once upon a time there was a big dog who liked to run and play all day", "--prefill_seq_len", "8"], /--model_mode kv or a larger --prefill_seq_len/],
    ["kv_seq_len < prefill_seq_len", ["--kv_seq_len", "16", "--prefill_seq_len", "32"], /--kv_seq_len \(16\) >= --prefill_seq_len \(32\)/],
    ["unknown mode", ["--model_mode", "turbo"], /--model_mode "turbo": expected one of prefill, kv, hybrid/],
    ["unknown updater", ["--kv_updater", "ring"], /--kv_updater "ring"/],
    ["unknown model", ["--llama_model", "gpt2"], /--llama_model "gpt2"/],
    ["unknown flag", ["--frobnicate"], /frobnicate/],
    ["bad number", ["--kv_seq_len", "12x"], /--kv_seq_len "12x": expected an integer/],
    ["bad temperature", ["--temperature", "hot"], /--temperature "hot"/],
    ["bad seed", ["--seed", "-1"], /--seed/],
    ["stories110m without a checkpoint", ["--llama_model", "stories110m"], /needs --checkpoint/],
    ["token id outside the vocabulary", ["--tokenized_prompt", join(tmp, "bad-ids.txt")], /prompt token 1 is 999, outside the model's vocabulary \[0, 512\)/],
    ["unreadable tokenized prompt", ["--tokenized_prompt", join(tmp, "ids-garbage.txt")], /entry 1 \("x"\) is not a token id/],
    ["dump into a missing directory", ["--dump_logits", join(tmp, "no", "such", "dir", "l.f32")], /--dump_logits .*: directory .* does not exist/],
  ];
  writeFileSync(join(tmp, "bad-ids.txt"), "1 999");
  writeFileSync(join(tmp, "ids-garbage.txt"), "1 x 3");

  it.each(cases)("%s", async (_name, argv, pattern) => {
    const r = await cli(...argv);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^llama-golden: error: /);
    expect(lines[0]).toMatch(pattern);
  });

  it("a failed run leaves no dump file behind", async () => {
    const dir = mkdtempSync(join(tmp, "dumps-"));
    const r = await cli("--dump_logits", join(dir, "l.f32"), "--kv_seq_len", "16", "--prefill_seq_len", "32");
    expect(r.code).toBe(2);
    expect(readdirSync(dir)).toEqual([]);
    expect(existsSync(join(dir, "l.f32"))).toBe(false);
  });
});
