// `llama-golden eval` end to end on stories260K: the perplexity of data/eval.txt equals quant-report's where the two
// measure the same thing (one window holding the whole text), the plain oracle below, fp32 against itself is exactly
// zero (through a base file and through --sqnr_eval), reports in three formats, and a device dump with a planted error.
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli } from "../helpers/cli.js";
import { buildPte } from "../helpers/pte-writer.js";
import { ROOT } from "../helpers/fixtures.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-eval-"));
const EVAL_TXT = join(ROOT, "data", "eval.txt");
// The whole text in one window: max_context_len 1024 (past stories260K's trained 512; a warning says so).
const CURRENT = ["--flow", "current", "--max_context_len", "1024", "--max_seq_len", "1024"];

/** Plain oracle: −ln softmax(row)[t] in float64, the sum written out. */
function nllOf(row: Float32Array, t: number): number {
  let m = -Infinity;
  for (const v of row) m = Math.max(m, v);
  let s = 0;
  for (const v of row) s += Math.exp(v - m);
  return -(row[t] - m - Math.log(s));
}

describe("eval: perplexity", () => {
  it("equals quant-report's on data/eval.txt when one window holds the text (seed flow, fp32)", async () => {
    // kv_seq_len 1024 (past stories260K's trained 512; a warning says so): the 722 tokens fit one window of both.
    const q = await cli("quant-report", "--kv_seq_len", "1024", "--ptq", "16a16w", "--eval_text", EVAL_TXT, "--steps", "1", "--json");
    expect(q.code).toBe(0);
    const qr = JSON.parse(q.stdout);
    const e = await cli("eval", "--kv_seq_len", "1024", "--dataset", EVAL_TXT, "--json");
    expect(e.code).toBe(0);
    const er = JSON.parse(e.stdout);
    expect(er.meta.items).toBe(1);
    expect(er.scored).toBe(722);
    expect(er.scored).toBe(qr.perplexity.fp32.tokens);
    expect(er.ppl.value / qr.perplexity.fp32.ppl - 1).toBeLessThan(1e-13);
    expect(qr.perplexity.fp32.ppl / er.ppl.value - 1).toBeLessThan(1e-13);
  }, 120_000);

  it("equals quant-report's quantized perplexity (current flow, 16a8w, the same calibration)", async () => {
    const text = join(tmp, "q.txt");
    writeFileSync(text, readFileSync(EVAL_TXT, "utf8").slice(0, 250));
    const flags = ["--flow", "current", "--max_context_len", "128", "--max_seq_len", "128", "--ptq", "16a8w"];
    const qr = JSON.parse((await cli("quant-report", ...flags, "--eval_text", text, "--steps", "1", "--json")).stdout);
    const er = JSON.parse((await cli("eval", ...flags, "--dataset", text, "--json")).stdout);
    expect(er.scored).toBe(qr.perplexity.quantized.tokens);
    expect(Math.abs(er.ppl.value / qr.perplexity.quantized.ppl - 1)).toBeLessThan(1e-13);
  }, 120_000);

  it("the mean NLL equals a plain oracle over the run command's prompt logits", async () => {
    const text = readFileSync(EVAL_TXT, "utf8").slice(0, 300);
    const file = join(tmp, "oracle.txt");
    writeFileSync(file, text);
    const dump = join(tmp, "prompt.f32");
    const flags = ["--flow", "current", "--max_context_len", "256", "--max_seq_len", "256"];
    const r = await cli(...flags, "--model_mode", "kv", "--prompt", text, "--temperature", "0", "--dump_prompt_logits", dump, "--json");
    expect(r.code).toBe(0);
    const ids: number[] = JSON.parse(r.stdout).prompt_tokens;
    const raw = readFileSync(dump);
    const all = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    const V = 512;
    let sum = 0;
    for (let p = 0; p + 1 < ids.length; p++) sum += nllOf(all.subarray(p * V, (p + 1) * V), ids[p + 1]);
    const e = JSON.parse((await cli("eval", ...flags, "--dataset", file, "--json")).stdout);
    expect(e.scored).toBe(ids.length - 1);
    expect(e.nll.mean).toBeCloseTo(sum / (ids.length - 1), 12);
  }, 120_000);

  it("--windowing prefill scores non-overlapping chunks; kv windows roll", async () => {
    const short = join(tmp, "short.txt");
    writeFileSync(short, readFileSync(EVAL_TXT, "utf8").slice(0, 400));
    const kv = JSON.parse((await cli("eval", "--flow", "current", "--max_context_len", "64", "--max_seq_len", "64", "--dataset", short, "--json")).stdout);
    const pf = JSON.parse((await cli("eval", "--flow", "current", "--max_context_len", "64", "--max_seq_len", "64", "--prefill_ar_len", "16", "--windowing", "prefill", "--dataset", short, "--json")).stdout);
    expect(kv.meta.windowLength).toBe(63);
    expect(pf.meta.windowLength).toBe(48);
    expect(kv.scored).toBe(kv.meta.dataset.tokens);
    expect(pf.scored).toBe(pf.meta.dataset.tokens + 1 - pf.meta.items);
    expect(kv.lmEval.bitsPerByte).toBeGreaterThan(0);
    expect(pf.lmEval).toBeUndefined();
  }, 120_000);
});

describe("eval: comparisons", () => {
  it("fp32 against its own base file: every KL statistic exactly zero; Markdown and HTML", async () => {
    const short = join(tmp, "base.txt");
    writeFileSync(short, readFileSync(EVAL_TXT, "utf8").slice(0, 300));
    const base = join(tmp, "fp32.base");
    const s = await cli("eval", "--flow", "current", "--max_context_len", "48", "--max_seq_len", "48", "--dataset", short, "--save_base", base, "--json");
    expect(s.code).toBe(0);
    expect(existsSync(base)).toBe(true);
    const c = await cli("eval", "--flow", "current", "--max_context_len", "48", "--max_seq_len", "48", "--dataset", short, "--base", base, "--json");
    expect(c.code).toBe(0);
    const r = JSON.parse(c.stdout);
    const k = r.comparison;
    expect(k.kl).toEqual({ mean: 0, err: 0 });
    expect(k.reverseKl).toEqual({ mean: 0, err: 0 });
    expect(k.lnPplRatio).toEqual({ mean: 0, err: 0 });
    expect(k.sameTop.mean).toBe(1);
    expect(k.dp).toEqual({ mean: 0, err: 0 });
    expect(Object.values(k.klPercentiles).every((v) => v === 0)).toBe(true);
    const html = join(tmp, "r.html");
    const m = await cli("eval", "--flow", "current", "--max_context_len", "48", "--max_seq_len", "48", "--dataset", short, "--base", base, "--html", html);
    expect(m.code).toBe(0);
    expect(m.stdout).toMatch(/^# llama-golden eval/);
    expect(m.stdout).toContain("mean KL(base‖new) | 0.0000 ± 0.0000");
    expect(readFileSync(html, "utf8")).toMatch(/^<!doctype html>[\s\S]*nll-by-position[\s\S]*kl-by-position[\s\S]*kl-histogram[\s\S]*dp-histogram/);
    // A base from other windows is refused in one line.
    const w = await cli("eval", "--flow", "current", "--max_context_len", "40", "--max_seq_len", "40", "--dataset", short, "--base", base);
    expect(w.code).toBe(2);
    expect(w.stderr.trim().split("\n")).toHaveLength(1);
    expect(w.stderr).toMatch(/base file .*fp32\.base: made with/);
  }, 120_000);

  it("--sqnr_eval: fp32 against the fp32 reference is +∞ dB and zero KL; 16a4w is finite", async () => {
    const short = join(tmp, "sqnr.txt");
    writeFileSync(short, readFileSync(EVAL_TXT, "utf8").slice(0, 200));
    const flags = ["--flow", "current", "--max_context_len", "48", "--max_seq_len", "48", "--dataset", short, "--sqnr_eval", "--json"];
    const f = JSON.parse((await cli("eval", ...flags)).stdout);
    expect(f.sqnrDb).toBe("Infinity");
    expect(f.comparison.kl).toEqual({ mean: 0, err: 0 });
    const q = JSON.parse((await cli("eval", ...flags, "--ptq", "16a4w")).stdout);
    expect(Number.isFinite(q.sqnrDb)).toBe(true);
    expect(q.comparison.kl.mean).toBeGreaterThan(0);
  }, 120_000);
});

describe("eval --device_logits", () => {
  const FLAGS = ["--flow", "current", "--max_context_len", "64", "--max_seq_len", "40"];
  const PROMPT = "Once upon a time, there was a little fox";

  it("finds a planted error in a quantized dump of the golden model's own logits at its position", async () => {
    const dump = join(tmp, "golden.f32");
    const r = await cli(...FLAGS, "--model_mode", "kv", "--prompt", PROMPT, "--temperature", "0", "--dump_logits_path", dump, "--json");
    expect(r.code).toBe(0);
    const n = JSON.parse(r.stdout).prompt_tokens.length;
    const raw = readFileSync(dump);
    const f32 = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    const V = 512;
    const rows = f32.length / V;
    expect(rows).toBe(39); // positions 0 .. seq_len - 2
    // Quantize with a known encoding: value = scale·(code + offset).
    const scale = 0.001;
    const offset = -32768;
    const codes = new Uint16Array(f32.length);
    for (let i = 0; i < f32.length; i++) codes[i] = Math.min(65535, Math.max(0, Math.round(f32[i] / scale - offset)));
    // Plant an error at position 20 (a decode row): a low-ranked token raised to 0.5 below the top logit.
    const P = 20;
    const row = codes.subarray(P * V, (P + 1) * V);
    let top = 0;
    for (let v = 1; v < V; v++) if (row[v] > row[top]) top = v;
    const victim = top === 7 ? 8 : 7;
    row[victim] = row[top] - 500;
    const file = join(tmp, "device.u16");
    writeFileSync(file, new Uint8Array(codes.buffer));
    const e = await cli("eval", ...FLAGS, "--prompt", PROMPT, "--device_logits", file, "--logits_scale", String(scale), "--logits_offset", String(offset), "--json");
    expect(e.stderr).toBe("");
    expect(e.code).toBe(0);
    const rep = JSON.parse(e.stdout);
    expect(rep.scored).toBe(rows);
    expect(rep.worst[0].pos).toBe(P);
    expect(rep.worst[0].kl).toBeGreaterThan(100 * rep.worst[1].kl);
    // The prompt's rows carry the SQNR (quantization step 0.001 on logits of magnitude ~10: about 80 dB).
    expect(rep.sqnrDb).toBeGreaterThan(60);
    expect(rep.meta.sqnrRows).toContain(`${n} rows`);
    expect(rep.comparison.sameTop.mean).toBe(1);
    // The encoding read from the device's .pte (its get_logits_scale / get_logits_zero_point constant methods).
    const pte = join(tmp, "device.pte");
    writeFileSync(
      pte,
      buildPte({
        plans: [
          { name: "kv_forward", delegates: [{ id: "QnnBackend", data: new Uint8Array(64).fill(7), storage: "inline" }] },
          { name: "get_logits_scale", delegates: [], constant: { type: "double", value: scale } },
          { name: "get_logits_zero_point", delegates: [], constant: { type: "int", value: BigInt(-offset) } },
        ],
      }),
    );
    const viaPte = await cli("eval", ...FLAGS, "--prompt", PROMPT, "--device_logits", file, "--logits_pte", pte, "--json");
    expect(viaPte.code, viaPte.stderr).toBe(0);
    expect(JSON.parse(viaPte.stdout)).toEqual(rep);

    // The same dump as float32 rows, and the Markdown report names the position.
    const md = await cli("eval", ...FLAGS, "--prompt", PROMPT, "--device_logits", file, "--logits_scale", String(scale), "--logits_offset", String(offset));
    const worstRow = md.stdout.split("\n").find((l) => l.startsWith("| 0 | "));
    expect(worstRow).toMatch(new RegExp(`^\\| 0 \\| ${P} \\| `));
    const self = await cli("eval", ...FLAGS, "--prompt", PROMPT, "--device_logits", dump, "--logits_dtype", "float32", "--json");
    const s = JSON.parse(self.stdout);
    expect(s.comparison.kl.mean).toBe(0);
    expect(s.sqnrDb).toBe("Infinity");

    // A truncated dump (fewer rows than the prompt, or not a whole row) is refused in one line.
    const cut = join(tmp, "cut.u16");
    writeFileSync(cut, new Uint8Array(codes.buffer).subarray(0, 2 * V * (n - 1)));
    const t = await cli("eval", ...FLAGS, "--prompt", PROMPT, "--device_logits", cut, "--logits_scale", "0.001", "--logits_offset", "-32768");
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/device logits .*cut\.u16: \d+ rows, but the prompt has \d+ tokens/);
    writeFileSync(cut, new Uint8Array(codes.buffer).subarray(0, 2 * V * n + 3));
    const t2 = await cli("eval", ...FLAGS, "--prompt", PROMPT, "--device_logits", cut, "--logits_scale", "0.001", "--logits_offset", "-32768");
    expect(t2.code).toBe(2);
    expect(t2.stderr).toMatch(/not a whole number of 512-entry uint16 rows/);
  }, 120_000);
});
