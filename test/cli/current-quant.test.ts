// `run --flow current` quantized (SPEC-2026 §10) on the real command line: the Llama 3.2 1B recipe applied to the
// committed tiny_llama3 model, read back from --dump_encodings (LPBQ block 32, 16a8w per channel on output.conv and
// the w2 of layers 0-3 that exist, 8-bit KV with zp 128, one encoding per layer) — the same file from the built-in
// recipe and from the documented recipe file; kv and hybrid runs of stories260K producing the fp32 text's start;
// the calibration-data flags and the notes.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { FIXTURES, ROOT } from "../helpers/fixtures.js";
import { TINY_PARAMS, TINY_PTH } from "../helpers/tiny-llama3.js";
import { parseEncodingsAny } from "../../src/quant/encodings-formats.js";

const dir = mkdtempSync(join(tmpdir(), "llama-golden-current-quant-"));
const TINY = ["--checkpoint", TINY_PTH, "--params", TINY_PARAMS, "--tokenizer_model", join(FIXTURES, "tiktoken_small.model"), "--fold_vocab", "--prompt", "what is 1+1"];
const SHAPE = ["--flow", "current", "--max_seq_len", "32", "--prefill_ar_len", "8", "--json", "--seed", "1"];
const EVAL = join(ROOT, "data", "eval.txt");

type Entry = { name: string; enc_type: string; bw: number; is_sym: boolean; scale: number[]; offset: number[]; block_size?: number; compressed_bw?: number; per_block_int_scale?: number[] };

describe("run --flow current, quantized", () => {
  it("done when: the Llama 3.2 1B recipe on tiny_llama3 — LPBQ block 32, 16a8w output.conv and layers 0-2 w2, uint8 zp-128 KV per layer", async () => {
    const dump = join(dir, "tiny.json");
    const r = await cli(...TINY, ...SHAPE, "--decoder_model", "llama3_2-1b", "--calib_text", EVAL, "--dump_encodings", dump);
    expect(r.code, r.stderr).toBe(0);
    const stats = JSON.parse(r.stdout).stats;
    expect(stats).toMatchObject({ flow: "current", ptq: "16a4w_block", quant_recipe: "llama3_2-1b_instruct", kv_bits: 8, seq_mse_candidates: 50, backend: "quantized-current(llama3_2-1b_instruct, integer)" });
    expect(stats.calibration_sequences).toBeGreaterThan(1);
    const text = readFileSync(dump, "utf8");
    expect(parseEncodingsAny(text, dump).layout).toBe("aimet-1.0.0"); // the project's AIMET reader accepts it
    const doc = JSON.parse(text) as { version: string; activation_encodings: Entry[]; param_encodings: Entry[] };
    expect(doc.version).toBe("1.0.0");
    const params = new Map(doc.param_encodings.map((e) => [e.name, e]));
    const acts = new Map(doc.activation_encodings.map((e) => [e.name, e]));
    // tiny_llama3: dim 96, 3 layers, 6 heads / 2 KV heads of 16, FFN 384, vocab 768 — every width a multiple of 32.
    const rows: Record<string, [number, number]> = { wq_conv: [96, 96], wk_conv: [32, 96], wv_conv: [32, 96], wo_conv: [96, 96], w1_conv: [384, 96], w3_conv: [384, 96] };
    for (let l = 0; l < 3; l++) {
      for (const [conv, [out, inp]] of Object.entries(rows)) {
        const mod = conv.startsWith("w1") || conv.startsWith("w3") ? "feed_forward" : "attention";
        const e = params.get(`layers.${l}.${mod}.${conv}.weight`)!;
        expect([e.enc_type, e.block_size, e.bw, e.compressed_bw, e.is_sym, e.scale.length], `layers.${l}.${conv}`).toEqual(["LPBQ", 32, 8, 4, true, out]);
        expect(e.per_block_int_scale!.length).toBe(out * (inp / 32));
        expect(e.per_block_int_scale!.every((m) => Number.isInteger(m) && m >= 1 && m <= 16)).toBe(true);
        expect(e.per_block_int_scale!.filter((m) => m === 16).length).toBeGreaterThanOrEqual(out); // each channel's largest block
      }
      const w2 = params.get(`layers.${l}.feed_forward.w2_conv.weight`)!;
      expect([w2.enc_type, w2.bw, w2.is_sym, w2.scale.length, w2.block_size], `layers.${l}.w2`).toEqual(["PER_CHANNEL", 8, true, 96, undefined]);
      for (const kv of ["k_cache", "v_cache"]) {
        const e = acts.get(`layers.${l}.attention.${kv}`)!;
        expect([e.enc_type, e.bw, e.is_sym, e.offset, e.scale.length], `layers.${l}.${kv}`).toEqual(["PER_TENSOR", 8, true, [-128], 1]);
      }
    }
    const head = params.get("output.conv.weight")!;
    expect([head.enc_type, head.bw, head.scale.length]).toEqual(["PER_CHANNEL", 8, 768]);
    expect(acts.get("output.conv")).toMatchObject({ bw: 16, is_sym: false });
    expect(acts.get("atten_mask")).toMatchObject({ bw: 16, offset: [-65535] });
    expect([...acts.keys()].filter((n) => n.endsWith("_cache"))).toHaveLength(6);

    // The documented recipe file (base llama3_2-1b, its own default / kv_bits / overrides) gives the same file.
    const recipe = join(dir, "recipe.json");
    writeFileSync(
      recipe,
      JSON.stringify({
        default: { scheme: "16a4w_block", block_size: 32 },
        kv_bits: 8,
        overrides: [{ pattern: "output\\.conv", scheme: "16a8w" }, { pattern: "layers\\.[0-3]\\.feed_forward\\..*w2_conv", scheme: "16a8w" }],
        base: "llama3_2-1b",
      }),
    );
    const dump2 = join(dir, "tiny-file.json");
    const r2 = await cli(...TINY, ...SHAPE, "--quant_recipe", recipe, "--calib_text", EVAL, "--dump_encodings", dump2);
    expect(r2.code, r2.stderr).toBe(0);
    expect(readFileSync(dump2, "utf8")).toBe(text);
    expect(JSON.parse(r2.stdout).generated_tokens).toEqual(JSON.parse(r.stdout).generated_tokens);
  });

  it("stories260K --ptq 16a8w in kv and hybrid mode: the recipe inferred (a note), fp32's greedy tokens, the stats", async () => {
    const base = ["--max_seq_len", "64", "--prefill_ar_len", "8", "--json", "--seed", "1"];
    for (const mode of ["kv", "hybrid"]) {
      const fp = JSON.parse((await cli("--flow", "current", "--model_mode", mode, ...base)).stdout);
      const r = await cli("--flow", "current", "--model_mode", mode, ...base, "--ptq", "16a8w", "--calib_text", EVAL);
      expect(r.code, r.stderr).toBe(0);
      const o = JSON.parse(r.stdout);
      expect(o.stats).toMatchObject({ ptq: "16a8w", quant_recipe: "stories260k", kv_bits: 8, seq_mse_candidates: 0, sample_raw_codes: true, mode });
      expect(r.stderr).toMatch(/note: --ptq with --flow current uses the stories260k recipe \(inferred from the checkpoint/);
      expect(r.stderr).toMatch(/quantization: recipe stories260k \(conv2d 16a8w, 1 override\), 8-bit KV, SeqMSE off/);
      expect(o.text.startsWith("Once upon a time, there was a little girl named Lily.")).toBe(true);
      // Measured: all 59 generated tokens equal fp32's (calibrated on data/eval.txt, CL 64, raw-code sampling; the
      // stories260k recipe itself, 16a4w with a 16a8w LM head, departs at the 24th).
      expect(o.generated_tokens).toEqual(fp.generated_tokens);
    }
  });

  it("calibration data: the prompt by default (a note), --calib_samples JSON, --calib_dataset Parquet with --calib_max_samples", async () => {
    const base = ["--flow", "current", "--max_seq_len", "32", "--prefill_ar_len", "8", "--json", "--decoder_model", "stories260k"];
    const byPrompt = await cli(...base);
    expect(byPrompt.code, byPrompt.stderr).toBe(0);
    expect(byPrompt.stderr).toMatch(/no calibration data given.*calibrating on the prompt as one sample/);
    expect(JSON.parse(byPrompt.stdout).stats.calibration_sequences).toBe(1);
    const samples = await cli(...base, "--calib_samples", join(FIXTURES, "calib", "chat.json"));
    expect(samples.code, samples.stderr).toBe(0);
    expect(samples.stderr).not.toMatch(/no calibration data/);
    const parquet = await cli(...base, "--calib_dataset", join(FIXTURES, "calib", "wiki_snappy_v1.parquet"), "--calib_max_samples", "2");
    expect(parquet.code, parquet.stderr).toBe(0);
    expect(JSON.parse(parquet.stdout).stats.calibration_sequences).toBeGreaterThanOrEqual(2);
  });

  it("--group_size replaces the recipe's block length", async () => {
    const dump = join(dir, "g16.json");
    const r = await cli(...TINY, ...SHAPE, "--decoder_model", "llama3_2-1b", "--group_size", "16", "--seq_mse_candidates", "0", "--dump_encodings", dump);
    expect(r.code, r.stderr).toBe(0);
    const wq = (JSON.parse(readFileSync(dump, "utf8")).param_encodings as Entry[]).find((e) => e.name === "layers.0.attention.wq_conv.weight")!;
    expect([wq.block_size, wq.per_block_int_scale!.length]).toEqual([16, 96 * 6]);
  });
});
