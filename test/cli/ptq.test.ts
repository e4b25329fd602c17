// `--ptq` on the command line (SPEC §7): end to end on the shipped model, encodings written and read back,
// and bad recipes / encodings files (exit 2, one line on stderr).
import { describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli } from "../helpers/cli.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-ptq-"));
const SMALL = ["--kv_seq_len", "48", "--prefill_seq_len", "16"];

function expectUserError(r: { code: number; stdout: string; stderr: string }, re: RegExp) {
  expect(r.code).toBe(2);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr, r.stderr).toMatch(re);
}

describe("--ptq", () => {
  let fp32: number[] = [];
  let q: number[] = [];

  it("--ptq 16a4w --json runs end to end on the default model", async () => {
    const f = await cli("--json");
    const r = await cli("--ptq", "16a4w", "--json");
    expect(r.code, r.stderr).toBe(0);
    const obj = JSON.parse(r.stdout);
    fp32 = JSON.parse(f.stdout).generated_tokens;
    q = obj.generated_tokens;
    expect(obj.prompt_tokens).toEqual(JSON.parse(f.stdout).prompt_tokens);
    expect(q.length).toBe(fp32.length); // no EOS: both run to kv_seq_len - 1
    expect(obj.stats.ptq).toBe("16a4w");
    expect(typeof obj.text).toBe("string");
    expect(r.stderr).toMatch(/PyTorchObserver /);
    // The quantized model follows the fp32 story for a while.
    expect(q.slice(0, 4)).toEqual(fp32.slice(0, 4));
    console.log(`fp32  first 32: ${fp32.slice(0, 32).join(",")}\n16a4w first 32: ${q.slice(0, 32).join(",")}`);
  });

  it("kv mode with both mechanisms gives identical tokens; --dump_logits writes dequantized rows", async () => {
    const dump = join(tmp, "q.logits");
    const a = await cli("--ptq", "16a4w", "--json", "--model_mode", "kv", ...SMALL, "--dump_logits", dump);
    const b = await cli("--ptq", "16a4w", "--json", "--model_mode", "kv", ...SMALL, "--kv_updater", "shift_pointer");
    expect(a.code, a.stderr).toBe(0);
    const ta = JSON.parse(a.stdout).generated_tokens;
    expect(JSON.parse(b.stdout).generated_tokens).toEqual(ta);
    expect(readFileSync(dump).length).toBe(ta.length * 512 * 4);
  });

  it("--dump_encodings then --encodings of that file reproduces the same tokens", async () => {
    const enc = join(tmp, "enc.json");
    const a = await cli("--ptq", "16a4w", "--quant_sim", "taps", "--json", ...SMALL, "--dump_encodings", enc);
    expect(a.code, a.stderr).toBe(0);
    const file = JSON.parse(readFileSync(enc, "utf8"));
    expect(file.version).toBe("0.6.1");
    expect(file.activation_encodings["layers.0.attn_norm"][0].bitwidth).toBe(16);
    expect(file.activation_encodings["k_cache.l0.h0"][0].bitwidth).toBe(8);
    expect(file.activation_encodings.logits).toHaveLength(1);
    expect(file.param_encodings["layers.0.attention.wq.weight"].length).toBeGreaterThan(1);
    const b = await cli("--ptq", "16a4w", "--json", ...SMALL, "--encodings", enc, "--calib_text", join(tmp, "calib.txt"));
    // calib_text missing: a read error first
    expectUserError(b, /calib\.txt/);
    writeFileSync(join(tmp, "calib.txt"), "The cat sat on the mat. It was a sunny day and the dog ran.");
    const c = await cli("--ptq", "16a4w", "--json", ...SMALL, "--encodings", enc, "--calib_text", join(tmp, "calib.txt"));
    expect(c.code, c.stderr).toBe(0);
    // Different calibration text, but every activation / K/V / logits encoding comes from the file.
    expect(JSON.parse(c.stdout).generated_tokens).toEqual(JSON.parse(a.stdout).generated_tokens);
  });

  it("seed schemes run the seed's converted graph: integer by default, fake-quant on request, 8a8w's mask noted", async () => {
    const int = await cli("--ptq", "16a4w", "--json", ...SMALL);
    const fake = await cli("--ptq", "16a4w", "--json", ...SMALL, "--quant_arithmetic", "fake");
    expect(int.code, int.stderr).toBe(0);
    expect(fake.code, fake.stderr).toBe(0);
    const si = JSON.parse(int.stdout).stats;
    expect([si.quant_simulation, si.quant_arithmetic, si.int32_overflows, si.backend]).toEqual(["seed graph", "integer", 0, "seed-ptq(16a4w, integer)"]);
    expect(JSON.parse(fake.stdout).stats.backend).toBe("seed-ptq(16a4w, fake)");
    // Their logits differ by rounding only; greedy decoding agrees until a near-tie (here at the 30th token).
    expect(JSON.parse(fake.stdout).generated_tokens.slice(0, 20)).toEqual(JSON.parse(int.stdout).generated_tokens.slice(0, 20));
    const e8 = await cli("--ptq", "8a8w", "--json", ...SMALL);
    expect(e8.code, e8.stderr).toBe(0);
    expect(e8.stderr).toMatch(/8a8w exports a uint8 \(s = 1, zp 255\) mask.*SPEC 7\.6/);
    const exp = await cli("--ptq", "16a8w", "--json", ...SMALL);
    expect(exp.stderr).toMatch(/tap-level quantization experiment \(16a8w is not a seed scheme\)/);
    expect(JSON.parse(exp.stdout).stats.quant_simulation).toBe("taps (experiment)");
  });

  it("--dump_encodings of the seed graphs: the seed's module paths, kv_forward/ and prefill_forward/ in hybrid mode", async () => {
    const kv = join(tmp, "seed-kv.json");
    const hy = join(tmp, "seed-hybrid.json");
    expect((await cli("--ptq", "16a4w", "--model_mode", "kv", ...SMALL, "--dump_encodings", kv)).code).toBe(0);
    expect((await cli("--ptq", "16a4w_block", "--group_size", "32", ...SMALL, "--dump_encodings", hy)).code).toBe(0);
    const a = JSON.parse(readFileSync(kv, "utf8"));
    expect(a.activation_encodings["layers.0.attention.wq_sha.0"][0].bitwidth).toBe(16);
    expect(a.activation_encodings["k_cache.0.0"][0]).toMatchObject({ bitwidth: 8, offset: -128, is_symmetric: "True" });
    expect(a.activation_encodings["atten_mask"][0]).toMatchObject({ bitwidth: 16, offset: -65535 });
    expect(a.param_encodings["layers.0.attention.wv_sha.0.weight"]).toHaveLength(8); // int4 per channel
    const b = JSON.parse(readFileSync(hy, "utf8"));
    expect(b.activation_encodings["kv_forward/layers.0.attention.wq_sha.0"]).toBeDefined();
    expect(b.activation_encodings["prefill_forward/layers.0.attention.wq_sha.0"]).toBeDefined();
    expect(b.lpbq_encodings["kv_forward/layers.0.attention.wq_sha.0.weight"]).toMatchObject({ block_size: 32, bw: 4 });
    expect(b.lpbq_encodings["kv_forward/layers.0.feed_forward.w2_conv.weight"]).toBeUndefined(); // 172 inputs: per channel
  });

  it("refuses contradicting seed-graph flags", async () => {
    expectUserError(await cli("--ptq", "16a4w", "--group_size", "32", ...SMALL), /--group_size is the block length of --ptq 16a4w_block/);
    expectUserError(await cli("--ptq", "16a4w_block", "--group_size", "7", ...SMALL), /--group_size 7 divides no conv input width/);
    expectUserError(await cli("--ptq", "16a8w", "--quant_sim", "seed", ...SMALL), /--quant_sim seed runs the seed's schemes/);
    expectUserError(await cli("--ptq", "16a8w", "--quant_arithmetic", "fake", ...SMALL), /--quant_arithmetic applies to the seed's converted graphs/);
    expectUserError(await cli("--quant_arithmetic", "fake"), /--quant_arithmetic needs --ptq/);
    expectUserError(await cli("--ptq", "16a4w", "--quant_arithmetic", "exact"), /--quant_arithmetic "exact": expected one of integer, fake/);
  });

  it("refuses prefill mode and stray quantization flags", async () => {
    expectUserError(await cli("--ptq", "16a4w", "--model_mode", "prefill"), /--ptq supports kv and hybrid/);
    expectUserError(await cli("--ptq", "4a4w"), /--ptq "4a4w"/);
    expectUserError(await cli("--dump_encodings", join(tmp, "x.json")), /needs --ptq/);
  });

  it("bad encodings files: unknown tensor, bitwidth 99, NaN scale -> exit 2, one line, nothing written", async () => {
    const good = JSON.parse(readFileSync(join(tmp, "enc.json"), "utf8"));
    const write = (name: string, f: unknown, raw?: string) => {
      const p = join(tmp, name);
      writeFileSync(p, raw ?? JSON.stringify(f));
      return p;
    };
    const unknown = structuredClone(good);
    unknown.activation_encodings["layers.9.bogus"] = good.activation_encodings.logits;
    expectUserError(await cli("--ptq", "16a4w", ...SMALL, "--encodings", write("u.json", unknown)), /layers\.9\.bogus.*unknown tensor/);
    const bw = structuredClone(good);
    bw.activation_encodings["layers.0.attn_norm"][0].bitwidth = 99;
    expectUserError(await cli("--ptq", "16a4w", ...SMALL, "--encodings", write("bw.json", bw)), /layers\.0\.attn_norm.*bitwidth 99/);
    const bw8 = structuredClone(good);
    bw8.activation_encodings["layers.0.attn_norm"][0].bitwidth = 8;
    expectUserError(await cli("--ptq", "16a4w", ...SMALL, "--encodings", write("bw8.json", bw8)), /layers\.0\.attn_norm.*bitwidth 8, expected 16/);
    const nanText = JSON.stringify(good).replace(/("logits":\[\{[^}]*"scale":)[^,}]+/, "$1NaN");
    expect(nanText).toMatch(/NaN/);
    const out = join(tmp, "never.json");
    expectUserError(await cli("--ptq", "16a4w", ...SMALL, "--encodings", write("nan.json", null, nanText), "--dump_encodings", out), /logits.*scale "?NaN/);
    expect(existsSync(out)).toBe(false);
  });

  it("recipes: weight overrides run; unknown scheme, a match naming nothing, bad JSON -> exit 2", async () => {
    const rec = (name: string, body: string) => {
      const p = join(tmp, name);
      writeFileSync(p, body);
      return p;
    };
    const ok = rec("ok.json", JSON.stringify({ default: "16a4w", overrides: [{ match: "layers.0.*", scheme: "16a8w" }, { match: "output.weight", scheme: "16a16w" }] }));
    const r = await cli("--recipe", ok, "--json", ...SMALL);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).stats.ptq).toBe("16a4w");
    expectUserError(await cli("--recipe", rec("s.json", JSON.stringify({ default: "16a4w", overrides: [{ match: "layers.0.*", scheme: "3a3w" }] })), ...SMALL), /s\.json.*unknown scheme "3a3w"/);
    expectUserError(await cli("--recipe", rec("m.json", JSON.stringify({ default: "16a4w", overrides: [{ match: "layers.99.*", scheme: "16a8w" }] })), ...SMALL), /m\.json.*layers\.99\.\*.*names no tensor/);
    expectUserError(await cli("--recipe", rec("j.json", "{ default: 16a4w"), ...SMALL), /j\.json.*not valid JSON/);
    expectUserError(await cli("--recipe", rec("d.json", JSON.stringify({ default: "16a8w" })), "--ptq", "16a4w", ...SMALL), /d\.json.*differs from --ptq 16a4w/);
  });

  it("--help documents the flags", async () => {
    const r = await cli("--help");
    for (const f of ["--ptq", "--calib_text", "--dump_encodings", "--encodings", "--recipe"]) expect(r.stdout).toContain(f);
  });
});
