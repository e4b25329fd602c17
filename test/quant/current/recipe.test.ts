// The current flow's recipes (SPEC-2026 §10.1-10.2): the built-in table, upstream's regex rules (re.search over the
// module paths, later strategies win, overrides over the conv2d rule), the JSON file format and its errors, and the
// resolution against the two test models.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  BUILTIN_RECIPES,
  builtinRecipe,
  convSites,
  parseRecipeText,
  readRecipeFile,
  resolveRecipe,
  withCliOverrides,
  type CurrentRecipe,
} from "../../../src/quant/current/recipe.js";
import { EPS_16BIT, EPS_8BIT } from "../../../src/quant/current/weights.js";
import { UserError } from "../../../src/util/errors.js";
import { loadModel } from "../../../src/loaders/index.js";
import { loadStories260K } from "../../helpers/fixtures.js";
import { TINY_PARAMS, TINY_PTH } from "../../helpers/tiny-llama3.js";

const tiny = loadModel({ checkpoint: TINY_PTH, params: TINY_PARAMS }).model;
const stories = loadStories260K();

/** scheme[/block] of every conv, by path. */
const schemes = (r: CurrentRecipe, m = tiny) =>
  Object.fromEntries(resolveRecipe(r, m).convs.map((c) => [c.path, c.weight.kind === "lpbq" ? `${c.scheme}/${c.weight.blockSize}` : c.scheme]));

describe("built-in recipes (SPEC-2026 §10.2)", () => {
  it("the table: default / conv2d scheme, block, overrides, KV bits, SeqMSE", () => {
    const row = (n: string) => {
      const r = builtinRecipe(n)!;
      return [r.defaultScheme, r.conv.scheme, r.conv.blockSize ?? null, r.overrides.map((o) => `${o.pattern}=${o.choice.scheme}`), r.kvBits, r.seqMseCandidates];
    };
    expect(row("stories260k")).toEqual(["16a4w", "16a4w", null, ["output\\.conv=16a8w"], 8, 0]);
    expect(row("stories110m")).toEqual(["16a4w", "16a4w", null, ["layers\\..*\\.attention\\..*wv.*=8a4w", "output\\.conv=16a8w"], 8, 0]);
    expect(row("llama3_2-1b_instruct")).toEqual(["16a4w_block", "16a4w_block", 32, ["output\\.conv=16a8w", "layers\\.[0-3]\\.feed_forward\\..*w2_conv=16a8w"], 8, 50]);
    expect(row("llama3_2-3b_instruct")).toEqual(["16a4w_block", "16a4w_block", 32, ["output\\.conv=16a8w", "layers\\.2[1-7]\\.feed_forward\\..*w2_conv=16a8w"], 8, 0]);
    expect(row("qwen2_5-0_5b")).toEqual(["16a4w", "16a4w_block", 16, [], 16, 0]);
    expect(row("qwen2_5-1_5b")).toEqual(["16a4w", "16a4w_block", 16, ["output\\.conv=16a8w"], 16, 0]);
    expect(row("qwen3-0_6b")).toEqual(["16a4w", "16a4w_block", 32, ["layers\\..*\\.feed_forward\\..*w2_conv=16a8w"], 16, 50]);
    expect(row("qwen3-1_7b")).toEqual(["16a4w", "16a4w_block", 16, ["output\\.conv=16a8w"], 8, 0]);
    expect(row("smollm2_135m")).toEqual(["16a8w", "16a8w", null, [], 16, 0]);
    expect(row("smollm3-3b")[3]).toEqual(["layers\\..*\\.attention\\..*wq.*=16a8w", "layers\\..*\\.attention\\..*wk.*=16a8w", "layers\\..*\\.attention\\..*wv.*=16a8w", "output\\.conv=16a8w"]);
    expect(row("smollm3-3b").slice(1, 3)).toEqual(["16a4w_block", 32]);
    expect(row("phi_4_mini")).toEqual(["16a4w", "16a4w_block", 16, ["layers\\..*\\.attention\\..*wv.*=8a4w", "output\\.conv=16a8w"], 8, 0]);
    expect(row("gemma3-1b")).toEqual(["16a4w", "16a4w_block", 64, ["layers\\..*\\.attention\\..*wv.*=16a8w"], 8, 0]);
    expect(Object.keys(BUILTIN_RECIPES)).toHaveLength(12);
    expect(builtinRecipe("LLAMA3_2-1B")!.name).toBe("llama3_2-1b_instruct");
    expect(builtinRecipe("llama3_2-3b")!.name).toBe("llama3_2-3b_instruct");
    expect(builtinRecipe("llama9")).toBeUndefined();
  });

  it("the current graph's conv module paths", () => {
    const paths = convSites(tiny.config).map((c) => c.path);
    expect(paths.slice(0, 7)).toEqual([
      "layers.0.attention.wq_conv", "layers.0.attention.wk_conv", "layers.0.attention.wv_conv", "layers.0.attention.wo_conv",
      "layers.0.feed_forward.w1_conv", "layers.0.feed_forward.w3_conv", "layers.0.feed_forward.w2_conv",
    ]);
    expect(paths).toHaveLength(3 * 7 + 1);
    expect(paths[paths.length - 1]).toBe("output.conv");
  });

  it("Llama 3.2 1B on tiny_llama3: LPBQ block 32, 16a8w output.conv and every layer's w2 (layers 0-2 exist), 8-bit symmetric KV", () => {
    const r = resolveRecipe(builtinRecipe("llama3_2-1b")!, tiny);
    for (const c of r.convs) {
      const sensitive = c.path === "output.conv" || c.kind === "w2";
      expect(c.weight, c.path).toEqual(sensitive ? { kind: "per_channel", bits: 8, qmax: 127 } : { kind: "lpbq", blockSize: 32, qmax: 7 });
      expect(c.act).toEqual({ bits: 16, symmetric: false, eps: EPS_16BIT });
    }
    expect(r.kv).toEqual({ bits: 8, symmetric: true, eps: EPS_8BIT });
    expect(r.defaultAct).toEqual({ bits: 16, symmetric: false, eps: EPS_16BIT });
    expect(r.notes).toEqual([]);
  });

  it("Llama 3.2 3B on a 3-layer model: its layers.2[1-7] pattern matches nothing — a note, not an error", () => {
    const r = resolveRecipe(builtinRecipe("llama3_2-3b")!, tiny);
    expect(r.notes).toEqual([expect.stringMatching(/layers\\.2\[1-7\].*matches no conv of this 3-layer model/)]);
    expect(r.convs.filter((c) => c.scheme === "16a8w").map((c) => c.path)).toEqual(["output.conv"]);
  });

  it("stories110m's wv override: 8a4w, int4 weights, uint8 symmetric input and output", () => {
    const r = resolveRecipe(builtinRecipe("stories110m")!, stories);
    const wv = r.convs.find((c) => c.path === "layers.3.attention.wv_conv")!;
    expect([wv.scheme, wv.weight, wv.act]).toEqual(["8a4w", { kind: "per_channel", bits: 4, qmax: 7 }, { bits: 8, symmetric: true, eps: EPS_16BIT }]);
    expect(r.convs.filter((c) => c.scheme === "8a4w")).toHaveLength(stories.config.nLayers);
  });

  it("a block size that does not divide a conv's input width is an error naming the conv (stories260K's w2: 172)", () => {
    const r = withCliOverrides(builtinRecipe("stories260k")!, { scheme: "16a4w_block" });
    expect(() => resolveRecipe(r, stories)).toThrow(/block_size 32 does not divide the input width 172 of layers\.0\.feed_forward\.w2_conv/);
    expect(() => resolveRecipe(withCliOverrides(r, { groupSize: 4 }), stories)).not.toThrow();
  });
});

describe("regex rules (quant_recipe.py)", () => {
  const file = (o: object) => parseRecipeText(JSON.stringify(o), "r.json");

  it("patterns are searched, not fullmatched; later overrides win; overrides win over the conv2d rule", () => {
    const s = schemes(
      file({
        default: { scheme: "16a4w" },
        overrides: [
          { pattern: "wv", scheme: "16a8w" }, // a substring: every wv_conv
          { pattern: "layers\\.1\\.", scheme: "8a8w" }, // later: wins for layer 1, wv included
          { pattern: "output", scheme: "16a4w_block", block_size: 32 },
        ],
      }),
    );
    expect(s["layers.0.attention.wv_conv"]).toBe("16a8w");
    expect(s["layers.0.attention.wq_conv"]).toBe("16a4w");
    expect(s["layers.1.attention.wv_conv"]).toBe("8a8w");
    expect(s["layers.1.feed_forward.w2_conv"]).toBe("8a8w");
    expect(s["output.conv"]).toBe("16a4w_block/32");
  });

  it("a pattern is matched against every module path of the conv's nn_module_stack (an anchored parent path matches its convs)", () => {
    const s = schemes(file({ default: { scheme: "16a4w" }, overrides: [{ pattern: "^layers\\.0\\.feed_forward$", scheme: "16a8w" }, { pattern: "^output$", scheme: "8a8w" }] }));
    expect(s["layers.0.feed_forward.w1_conv"]).toBe("16a8w");
    expect(s["layers.0.attention.wq_conv"]).toBe("16a4w");
    expect(s["layers.1.feed_forward.w1_conv"]).toBe("16a4w");
    expect(s["output.conv"]).toBe("8a8w");
    // Fullmatch semantics would not match "feed_forward" alone; search does.
    expect(schemes(file({ default: { scheme: "16a4w" }, overrides: [{ pattern: "feed_forward", scheme: "16a8w" }] }))["layers.2.feed_forward.w3_conv"]).toBe("16a8w");
  });
});

describe("recipe files (--quant_recipe)", () => {
  const dir = mkdtempSync(join(tmpdir(), "llama-golden-recipe-"));

  it("the documented example with a base: the base's fields, overridden; the file's overrides after the base's", () => {
    const p = join(dir, "ex.json");
    writeFileSync(
      p,
      JSON.stringify({
        default: { scheme: "16a4w_block", block_size: 32 },
        kv_bits: 8,
        overrides: [{ pattern: "output\\.conv", scheme: "16a8w" }, { pattern: "layers\\.[0-3]\\.feed_forward\\..*w2_conv", scheme: "16a8w" }],
        base: "llama3_2-1b",
      }),
    );
    const r = readRecipeFile(p);
    expect(r.name).toBe(p);
    expect(r.base).toBe("llama3_2-1b_instruct");
    expect(r.overrides.map((o) => [o.pattern, o.builtin])).toEqual([
      ["output\\.conv", true],
      ["layers\\.[0-3]\\.feed_forward\\..*w2_conv", true],
      ["output\\.conv", false],
      ["layers\\.[0-3]\\.feed_forward\\..*w2_conv", false],
    ]);
    expect([r.kvBits, r.seqMseCandidates, r.conv]).toEqual([8, 50, { scheme: "16a4w_block", blockSize: 32 }]);
    expect(schemes(r)).toEqual(schemes(builtinRecipe("llama3_2-1b")!));
  });

  it("without a base: default required, KV 16-bit unless given (no annotate_kv_8bit), SeqMSE off", () => {
    const r = parseRecipeText(JSON.stringify({ default: { scheme: "16a8w" } }), "x.json");
    expect([r.defaultScheme, r.kvBits, r.seqMseCandidates, r.overrides]).toEqual(["16a8w", 16, 0, []]);
    expect(resolveRecipe(r, tiny).kv).toEqual({ bits: 16, symmetric: false, eps: EPS_16BIT });
    expect(resolveRecipe(parseRecipeText(JSON.stringify({ default: { scheme: "8a8w" } }), "y.json"), tiny).kv.bits).toBe(8);
  });

  const bad: [string, string, RegExp][] = [
    ["not JSON", "{ default: 16a4w", /bad\.json: not JSON/],
    ["a list", "[]", /bad\.json: the top level is not a JSON object/],
    ["unknown key", JSON.stringify({ default: { scheme: "16a4w" }, kv: 8 }), /unknown key "kv"/],
    ["unknown key in default", JSON.stringify({ default: { scheme: "16a4w", group: 32 } }), /unknown key "group" in default/],
    ["unknown key in an override", JSON.stringify({ default: { scheme: "16a4w" }, overrides: [{ pattern: "x", scheme: "16a8w", match: 1 }] }), /unknown key "match" in overrides\[0\]/],
    ["unknown scheme", JSON.stringify({ default: { scheme: "3a3w" } }), /default: unknown scheme "3a3w"/],
    ["unknown override scheme", JSON.stringify({ default: { scheme: "16a4w" }, overrides: [{ pattern: "wq", scheme: "16a16w" }] }), /overrides\[0\]: unknown scheme "16a16w"/],
    ["bad regex", JSON.stringify({ default: { scheme: "16a4w" }, overrides: [{ pattern: "layers.[0-3", scheme: "16a8w" }] }), /overrides\[0\]: pattern "layers\.\[0-3" is not a valid regular expression/],
    ["empty pattern", JSON.stringify({ default: { scheme: "16a4w" }, overrides: [{ pattern: "", scheme: "16a8w" }] }), /pattern "" is not a non-empty string/],
    ["block size zero", JSON.stringify({ default: { scheme: "16a4w_block", block_size: 0 } }), /block_size 0 is not a positive integer/],
    ["block size 1.5", JSON.stringify({ default: { scheme: "16a4w_block", block_size: 1.5 } }), /block_size 1\.5 is not a positive integer/],
    ["block size missing", JSON.stringify({ default: { scheme: "16a4w_block" } }), /16a4w_block needs block_size/],
    ["block size on per channel", JSON.stringify({ default: { scheme: "16a4w", block_size: 32 } }), /block_size applies to 16a4w_block only/],
    ["kv_bits 4", JSON.stringify({ default: { scheme: "16a4w" }, kv_bits: 4 }), /kv_bits 4 is not 8 or 16/],
    ["unknown base", JSON.stringify({ base: "llama9" }), /base "llama9" is not a built-in recipe/],
    ["no default, no base", JSON.stringify({ kv_bits: 8 }), /no "default"/],
    ["default a string", JSON.stringify({ default: "16a4w" }), /default is not an object/],
    ["overrides not a list", JSON.stringify({ default: { scheme: "16a4w" }, overrides: {} }), /overrides is not a list/],
  ];
  for (const [name, text, re] of bad)
    it(`bad file: ${name}`, () => {
      const p = join(dir, "bad.json");
      writeFileSync(p, text);
      let err: unknown;
      try {
        readRecipeFile(p);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).toContain(p);
      expect((err as Error).message).not.toContain("\n");
    });

  it("resolution errors name the file: a pattern matching no conv, a block size not dividing a conv (named)", () => {
    const none = parseRecipeText(JSON.stringify({ default: { scheme: "16a4w" }, overrides: [{ pattern: "layers\\.7\\.", scheme: "16a8w" }] }), "n.json");
    expect(() => resolveRecipe(none, tiny)).toThrow(/--quant_recipe n\.json: overrides\[0\] pattern "layers\\\\.7\\\\." matches no conv of this model/);
    const b = parseRecipeText(JSON.stringify({ default: { scheme: "16a4w" }, overrides: [{ pattern: "w2_conv", scheme: "16a4w_block", block_size: 64 }] }), "b.json");
    expect(() => resolveRecipe(b, tiny)).not.toThrow(); // 384 / 64
    const b2 = parseRecipeText(JSON.stringify({ default: { scheme: "16a4w_block", block_size: 64 } }), "b2.json");
    expect(() => resolveRecipe(b2, tiny)).toThrow(/b2\.json: block_size 64 does not divide the input width 96 of layers\.0\.attention\.wq_conv/);
  });

  it("--ptq replaces the conv2d default and default dtype; --group_size every block length; --group_size without blocks is an error", () => {
    const r = withCliOverrides(builtinRecipe("llama3_2-1b")!, { scheme: "16a8w" });
    expect([r.conv, r.defaultScheme, r.overrides.length, r.kvBits]).toEqual([{ scheme: "16a8w" }, "16a8w", 2, 8]);
    const g = withCliOverrides(builtinRecipe("llama3_2-1b")!, { groupSize: 16 });
    expect(g.conv).toEqual({ scheme: "16a4w_block", blockSize: 16 });
    expect(withCliOverrides(builtinRecipe("stories260k")!, { scheme: "16a4w_block" }).conv).toEqual({ scheme: "16a4w_block", blockSize: 32 });
    expect(() => withCliOverrides(builtinRecipe("stories260k")!, { groupSize: 16 })).toThrow(/--group_size is the block length of 16a4w_block/);
    expect(resolveRecipe(withCliOverrides(builtinRecipe("stories260k")!, { scheme: "8a8w" }), stories).kv.bits).toBe(8);
  });
});
