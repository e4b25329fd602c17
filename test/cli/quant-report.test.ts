// `llama-golden quant-report` in-process: Markdown and --json reports, --html, exit codes 0 / 2, bad flags.
import { describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli } from "../helpers/cli.js";
import { ROOT } from "../helpers/fixtures.js";
import { DEFAULT_EVAL_TEXT } from "../../src/cli/quant-report-command.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-quant-report-"));
const SHORT_EVAL = join(tmp, "eval.txt");
writeFileSync(SHORT_EVAL, readFileSync(join(ROOT, "data", "eval.txt"), "utf8").slice(0, 200));
const SMALL = ["--kv_seq_len", "24", "--steps", "4", "--eval_text", SHORT_EVAL];

describe("quant-report command", () => {
  it("the default evaluation text ships with the package", () => {
    expect(DEFAULT_EVAL_TEXT).toBe(join(ROOT, "data", "eval.txt"));
    expect(existsSync(DEFAULT_EVAL_TEXT)).toBe(true);
  });

  it("Markdown on stdout, exit 0", async () => {
    const r = await cli("quant-report", "--ptq", "16a4w", ...SMALL);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^# Quantization report: 16a4w/);
    expect(r.stdout).toContain("perplexity (");
  });

  it("--json: one JSON object; --html writes a page; --calib_text calibrates on the text", async () => {
    const html = join(tmp, "r.html");
    const r = await cli("quant-report", "--ptq=8a8w", "--json", "--html", html, "--calib_text", SHORT_EVAL, ...SMALL);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    const o = JSON.parse(lines[0]);
    expect(o.scheme).toBe("8a8w");
    expect(o.calibration.source).toBe("calib_text");
    expect(o.steps.filter((s: { generated: boolean }) => s.generated)).toHaveLength(4);
    expect(Object.keys(o.perplexity)).toEqual(["fp32", "quantized"]);
    expect(o.perplexity.fp32).toEqual({ tokens: expect.any(Number), nllMean: expect.any(Number), ppl: expect.any(Number) });
    expect(typeof o.top1Agreement).toBe("number");
    // The seed's scheme runs the seed's converted graph: per-conv SQNR, and the integer arithmetic against its oracle.
    expect([o.simulation, o.arithmetic, o.perLayerKind]).toEqual(["seed graph", "integer", "accumulated"]);
    expect(o.perLayer[0]).toEqual({ layer: 0, tensor: "attention.wq_sha.0", sqnrDb: expect.any(Number) });
    expect(o.perLayer.at(-1)).toEqual({ layer: 5, tensor: "output.conv", sqnrDb: expect.any(Number) });
    expect(o.integerVsFake.int32Overflows).toBe(0);
    expect(o.sensitivity.thresholdDb).toBe(20);
    expect(o.sensitivity.layers.map((l: { layer: number | null }) => l.layer)).toEqual([0, 1, 2, 3, 4, null]);
    expect(o.sensitivity.convs).toHaveLength(5 * 20 + 1);
    const t = await cli("quant-report", "--ptq=8a8w", "--quant_sim", "taps", "--json", "--calib_text", SHORT_EVAL, ...SMALL);
    const ot = JSON.parse(t.stdout);
    expect([ot.simulation, ot.perLayerKind]).toEqual(["taps (experiment)", "isolated"]);
    expect(ot.perLayer[0]).toEqual({ layer: -1, tensor: "embedding", sqnrDb: expect.any(Number) });
    expect(readFileSync(html, "utf8")).toMatch(/^<!doctype html>/);
  });

  it("--help exits 0", async () => {
    const r = await cli("quant-report", "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--ptq SCHEME");
  });

  it.each([
    [["--ptq", "4a4w"], /--ptq "4a4w": expected one of 8a8w, 16a4w/],
    [[], /--ptq is required/],
    [["--ptq", "16a4w", "--eval_text", join(tmp, "missing.txt")], /--eval_text .*missing\.txt: no such file/],
    [["--ptq", "16a4w", "--calib_text", join(tmp, "nope.txt")], /--calib_text .*nope\.txt: no such file/],
    [["--ptq", "16a4w", "--steps", "0"], /--steps "0"/],
    [["--ptq", "16a4w", "--temperature", "0.5"], /--temperature is not used/],
    [["--ptq", "16a4w", "--bogus_flag", "1"], /bogus_flag/],
  ])("bad input %j -> exit 2", async (args, msg) => {
    const r = await cli("quant-report", ...args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(msg);
  });

  it("an empty evaluation text -> exit 2", async () => {
    const empty = join(tmp, "empty.txt");
    writeFileSync(empty, "  \n");
    const r = await cli("quant-report", "--ptq", "16a4w", "--eval_text", empty);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the file is empty/);
  });
});

const CALIB_COPY = join(tmp, "calib-copy.txt");
writeFileSync(CALIB_COPY, "Once upon a time there was a cat.");

describe("quant-report --flow current", () => {
  const CUR = ["--flow", "current", "--max_context_len", "48", "--steps", "4", "--eval_text", SHORT_EVAL, "--calib_text", SHORT_EVAL];

  it("--decoder_model: the recipe's report (JSON), the suggested recipe file, and Markdown with the suggestion", async () => {
    const file = join(tmp, "suggested.json");
    const r = await cli("quant-report", ...CUR, "--decoder_model", "stories260k", "--sensitivity_threshold", "15", "--suggest_recipe", file, "--json");
    expect(r.stderr).toMatch(/^quantization: recipe stories260k \(conv2d 16a4w, 1 override\), 8-bit KV/);
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout);
    expect([o.flow, o.recipe, o.scheme, o.simulation, o.calibration.source]).toEqual(["current", "stories260k", "16a4w", "current flow", "calibration data"]);
    expect(o.steps.filter((s: { generated: boolean }) => s.generated)).toHaveLength(4);
    expect(o.sensitivity.thresholdDb).toBe(15);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(o.suggestedRecipe.recipe);
    // The file feeds back: --quant_recipe reads it (its base's override plus one per sensitive conv).
    const again = await cli("quant-report", ...CUR, "--quant_recipe", file);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`${o.suggestedRecipe.recipe.overrides.length + 1} overrides`);
    expect(again.stdout).toMatch(/^# Quantization report: recipe .*suggested\.json \(conv2d 16a4w\)/);
    expect(again.stdout).toContain("## Suggested recipe");
  });

  it("--ptq replaces the conv2d scheme of the family's recipe; --html writes the page", async () => {
    const html = join(tmp, "current.html");
    const r = await cli("quant-report", ...CUR, "--ptq", "16a8w", "--html", html);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("uses the stories260k recipe");
    expect(r.stdout).toMatch(/^# Quantization report: recipe stories260k \(conv2d 16a8w\)/);
    expect(readFileSync(html, "utf8")).toContain("max_context_len");
  });

  it.each([
    [["--flow", "current"], /give the recipe: --decoder_model NAME, --quant_recipe FILE, or --ptq/],
    [["--flow", "current", "--ptq", "16a16w"], /--ptq "16a16w": expected one of 16a4w, 16a4w_block, 16a8w, 8a8w \(the current flow's schemes\)/],
    [["--flow", "current", "--ptq", "16a8w", "--quant_sim", "seed"], /--quant_sim chooses between the seed flow's simulations/],
    [["--ptq", "16a4w", "--suggest_recipe", join(tmp, "s.json")], /--suggest_recipe writes a --quant_recipe file of the current flow/],
    [["--flow", "current", "--decoder_model", "stories260k", "--calib_text", CALIB_COPY, "--suggest_recipe", CALIB_COPY], /--suggest_recipe .*: is an input of this run/],
    [["--flow", "current", "--ptq", "16a4w", "--group_size", "5"], /block|group_size/],
  ])("bad input %j -> exit 2", async (args, msg) => {
    const r = await cli("quant-report", ...args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(msg);
    expect(readFileSync(CALIB_COPY, "utf8")).toBe("Once upon a time there was a cat."); // no input overwritten
  });
});
