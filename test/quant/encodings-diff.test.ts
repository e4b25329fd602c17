// `quant-report --compare_encodings A B` (issue 15 item 5): the three input layouts (AIMET 0.6.1, AIMET 1.0.0,
// `qnn inspect --json` output) normalised alike, the comparison (scale within / beyond a relative tolerance,
// offsets exact or within --tol_offset, the first differing channel named, bitwidth / symmetry / channel
// count, tensors in one file only, a name map), its Markdown and JSON, exit codes 0 / 1, and every bad input
// as exit code 2 with one stderr line naming the file. Fixtures: test/fixtures/encodings/ (hand-written from
// the AIMET specification; see test/fixtures/README.md) and variants written here.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseEncodingsAny, type EncodingsSet, type NormalEncoding } from "../../src/quant/encodings-formats.js";
import { compareTensor, diffEncodings, diffMarkdown, parseNameMap, positionOf, relDiff } from "../../src/quant/encodings-diff.js";
import { cli } from "../helpers/cli.js";
import { expectUserError } from "../helpers/errors.js";
import { FIXTURES } from "../helpers/fixtures.js";

const DIR = join(FIXTURES, "encodings");
const V061 = join(DIR, "aimet_0.6.1.json");
const V100 = join(DIR, "aimet_1.0.0.json");
const QNN = join(DIR, "qnn_inspect.json");
const MAP = join(DIR, "name_map.json");

const tmp = mkdtempSync(join(tmpdir(), "enc-diff-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
/** Writes text (or JSON) to a fresh temporary file and returns its path. */
function file(content: unknown, name = `f${++n}.json`): string {
  const p = join(tmp, name);
  writeFileSync(p, typeof content === "string" || content instanceof Uint8Array ? content : JSON.stringify(content));
  return p;
}
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
/** A fixture's JSON changed by `f`, written to a temporary file. */
function variant(fixture: string, f: (doc: Json) => void): string {
  const doc = JSON.parse(readFileSync(fixture, "utf8")) as Json;
  f(doc);
  return file(doc);
}
const read = (p: string): EncodingsSet => parseEncodingsAny(readFileSync(p, "utf8"), p);
const byName = (s: EncodingsSet, name: string): NormalEncoding => s.tensors.find((t) => t.name === name)!;
const compare = (...args: string[]) => cli("quant-report", "--compare_encodings", ...args);

describe("reading the three layouts", () => {
  it("AIMET 0.6.1: per tensor, per channel, float, and the project's lpbq_encodings as effective block scales", () => {
    const s = read(V061);
    expect(s.label).toBe("AIMET 0.6.1");
    expect(s.tensors.map((t) => t.name).sort()).toEqual(
      ["layers.0.attention.wq.weight", "layers.0.attn_norm", "layers.0.feed_forward.w1.weight", "layers.0.ffn_act", "layers.0.k_cache", "logits", "output.weight"].sort(),
    );
    expect(byName(s, "logits")).toEqual({ name: "logits", kind: "activation", dtype: "int", bitwidth: 16, symmetric: false, scales: [0.000457763671875], offsets: [-30000] });
    expect(byName(s, "layers.0.ffn_act")).toEqual({ name: "layers.0.ffn_act", kind: "activation", dtype: "float", bitwidth: 16, scales: [], offsets: [] });
    const wq = byName(s, "layers.0.attention.wq.weight");
    expect([wq.kind, wq.bitwidth, wq.symmetric, wq.scales.length]).toEqual(["param", 4, true, 8]);
    expect(wq.offsets).toEqual(Array(8).fill(-8));
    const w1 = byName(s, "layers.0.feed_forward.w1.weight");
    expect(w1.scales).toEqual([0.001 * 1, 0.001 * 2, 0.002 * 16, 0.002 * 3]);
    expect(w1).toMatchObject({ blockSize: 32, channels: 2, compressedBitwidth: 4, offsets: [-8, -8, -8, -8] });
  });

  it("AIMET 1.0.0 written by hand from the spec holds the same encodings as the 0.6.1 file", () => {
    const a = read(V061);
    const b = read(V100);
    expect(b.label).toBe("AIMET 1.0.0");
    const sorted = (s: EncodingsSet) => [...s.tensors].sort((x, y) => x.name.localeCompare(y.name));
    expect(sorted(b)).toEqual(sorted(a));
  });

  it("qnn inspect --json: graph inputs / outputs as <graph>/<tensor>, integers left out, signed offsets shifted", () => {
    const s = read(QNN);
    expect(s.label).toBe("qnn inspect --json");
    expect(s.tensors.map((t) => t.name)).toEqual(["kv_forward/input_1_atten_mask_0", "kv_forward/input_2_k_cache_0", "kv_forward/output_aten_add_tensor_12", "kv_forward/output_k_cache_0"]);
    // SFIXED_POINT_8 offset 0 is the unsigned code's -128; the device does not record symmetry.
    expect(byName(s, "kv_forward/output_k_cache_0")).toEqual({ name: "kv_forward/output_k_cache_0", kind: "activation", dtype: "int", bitwidth: 8, scales: [0.019999999552965164], offsets: [-128] });
    // An unsigned offset other than -2^(b-1) rules symmetry out.
    expect(byName(s, "kv_forward/input_1_atten_mask_0").symmetric).toBe(false);
  });

  const inspectDoc = (contexts: unknown[]) => ({ plans: [], contexts, graph_listing: { available: true, system_lib: "libQnnSystem.so" } });
  const ctx = (label: string, graphs: unknown[]) => ({ label, info: { graphs } });
  const tensor = (name: string, dataType: string, encoding: unknown) => ({ name, type: "APP_READ", dataType, dims: [4, 2], encoding });

  it("qnn inspect --json: per-axis encodings, a bitwidth from bw_*, several contexts, unreadable encodings skipped", () => {
    const doc = inspectDoc([
      ctx("prefill.0", [
        {
          name: "prefill_forward",
          inputs: [tensor("w", "SFIXED_POINT_8", { kind: "bw_axis_scale_offset", bitwidth: 4, axis: 0, scales: [0.5, 0.25, 0.125, 1], offsets: [0, 0, 0, 0] })],
          outputs: [tensor("blk", "SFIXED_POINT_8", { kind: "other", code: 5, name: "BLOCKWISE_EXPANSION" }), tensor("f", "FLOAT_16", { kind: "none" })],
        },
      ]),
      ctx("kv.0", [{ name: "kv_forward", inputs: [tensor("a", "UFIXED_POINT_16", { kind: "bw_scale_offset", bitwidth: 12, scale: 0.5, offset: -7 })], outputs: [] }]),
      { label: "bad.0", error: "QnnSystemContext_getBinaryInfo failed" },
    ]);
    const s = parseEncodingsAny(JSON.stringify(doc), "x.json");
    expect(s.tensors).toEqual([
      { name: "prefill.0/prefill_forward/w", kind: "activation", dtype: "int", bitwidth: 4, scales: [0.5, 0.25, 0.125, 1], offsets: [-8, -8, -8, -8] },
      { name: "prefill.0/prefill_forward/f", kind: "activation", dtype: "float", bitwidth: 16, scales: [], offsets: [] },
      { name: "kv.0/kv_forward/a", kind: "activation", dtype: "int", bitwidth: 12, symmetric: false, scales: [0.5], offsets: [-7] },
    ]);
    expect(s.skipped).toEqual([
      { name: "bad.0", reason: "graphs not readable: QnnSystemContext_getBinaryInfo failed" },
      { name: "prefill.0/prefill_forward/blk", reason: "encoding BLOCKWISE_EXPANSION (its parameters are not listed by qnn inspect)" },
    ]);
  });
});

describe("comparing", () => {
  const enc = (scales: number[], extra: Partial<NormalEncoding> = {}): NormalEncoding => ({
    name: "t",
    kind: "param",
    dtype: "int",
    bitwidth: 8,
    symmetric: true,
    scales,
    offsets: scales.map(() => -128),
    ...extra,
  });

  it("relative difference and channel positions", () => {
    expect(relDiff(1, 1.1)).toBeCloseTo(0.1 / 1.1, 12);
    expect(relDiff(0, 0)).toBe(0);
    expect(positionOf(enc([1]), 0)).toBe("");
    expect(positionOf(enc([1, 2, 3]), 2)).toBe("channel 2");
    expect(positionOf(enc([1, 2, 3, 4], { blockSize: 16, channels: 2 }), 3)).toBe("channel 1 block 1");
    expect(positionOf(enc([1, 2, 3, 4], { blockSize: 16 }), 3)).toBe("block 3");
  });

  it("what differs, field by field", () => {
    expect(compareTensor(enc([1, 2]), enc([1, 2]), 1e-6, 0)).toEqual([]);
    expect(compareTensor(enc([1]), enc([1], { bitwidth: 16 }), 1e-6, 0)).toEqual([{ field: "bitwidth", a: 8, b: 16 }]);
    expect(compareTensor(enc([1]), enc([1], { symmetric: false }), 1e-6, 0)).toEqual([{ field: "symmetric", a: true, b: false }]);
    expect(compareTensor(enc([1]), enc([1], { symmetric: undefined }), 1e-6, 0)).toEqual([]);
    expect(compareTensor(enc([1, 2]), enc([1, 2, 3]), 1e-6, 0)).toEqual([{ field: "channels", a: 2, b: 3 }]);
    expect(compareTensor(enc([1]), { ...enc([]), dtype: "float", bitwidth: 16 }, 1e-6, 0)).toEqual([{ field: "dtype", a: "int", b: "float" }]);
    const d = compareTensor(enc([1, 2, 3, 4, 5]), enc([1, 2, 3, 4.4, 5.5]), 1e-6, 0);
    expect(d).toEqual([{ field: "scale", a: 4, b: 4.4, relDiff: relDiff(4, 4.4), maxRelDiff: relDiff(4, 4.4), at: "channel 3", count: 2, of: 5 }]);
    expect(compareTensor(enc([1]), enc([1], { offsets: [-127] }), 1e-6, 0)).toEqual([{ field: "offset", a: -128, b: -127 }]);
    expect(compareTensor(enc([1]), enc([1], { offsets: [-127] }), 1e-6, 1)).toEqual([]);
  });

  it("a name map must name tensors of both files, one A tensor per B name", () => {
    const a = read(V061);
    const b = read(QNN);
    expectUserError(() => diffEncodings(a, b, { nameMap: { nope: "kv_forward/output_k_cache_0" }, nameMapFile: "m.json" }), /--name_map m\.json/, /"nope" is not a tensor of .*aimet_0\.6\.1\.json/);
    expectUserError(() => diffEncodings(a, b, { nameMap: { logits: "kv_forward/nope" }, nameMapFile: "m.json" }), /"kv_forward\/nope" \(for "logits"\) is not a tensor of .*qnn_inspect\.json/);
    expectUserError(() => diffEncodings(a, a, { nameMap: { logits: "output.weight" }, nameMapFile: "m.json" }), /"output\.weight" and "logits" .* both be compared with "output\.weight"/);
    expectUserError(() => parseNameMap('{"a": "x", "b": "x"}', "m.json"), /--name_map m\.json: "a" and "b" both map to "x"/);
    expectUserError(() => parseNameMap("[1]", "m.json"), /not a JSON object/);
    expectUserError(() => parseNameMap('{"a": 3}', "m.json"), /the value of "a" is not a non-empty string/);
    expectUserError(() => parseNameMap("{}", "m.json"), /maps no names/);
    expectUserError(() => parseNameMap("{ a", "m.json"), /--name_map m\.json: not valid JSON/);
  });
});

describe("quant-report --compare_encodings", () => {
  it("identical files: exit 0, no differences (Markdown and JSON)", async () => {
    const r = await compare(V061, V061);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^# Encodings comparison/);
    expect(r.stdout).toMatch(/\*\*No differences\*\*: 7 tensor\(s\) compared/);
    const j = await compare(V061, V061, "--json");
    expect(j.code).toBe(0);
    const o = JSON.parse(j.stdout);
    expect(o).toMatchObject({ same: true, compared: 7, differing: [], onlyInA: [], onlyInB: [], tolRel: 1e-6, tolOffset: 0 });
    expect(o.a).toMatchObject({ layout: "AIMET 0.6.1", tensors: 7 });
  });

  it("the 0.6.1 and 1.0.0 layouts of the same encodings compare equal", async () => {
    for (const [a, b] of [[V061, V100], [V100, V061]]) {
      const r = await compare(a, b);
      expect(r.code, r.stdout).toBe(0);
      expect(r.stdout).toMatch(/No differences/);
    }
  });

  const logitsScale = (factor: number) =>
    variant(V061, (d) => {
      d.activation_encodings.logits[0].scale *= factor;
    });

  it("a scale changed beyond the tolerance: exit 1, both values and the relative difference", async () => {
    const r = await compare(V061, logitsScale(1.00001));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/1 of 7 compared tensor\(s\) differ; 0 only in A; 0 only in B/);
    expect(r.stdout).toMatch(/\| `logits` \| activation \| scale \| 0\.000457763671875 \| 0\.000457768\d* \| 1\.00e-5 \|/);
    const j = JSON.parse((await compare(V061, logitsScale(1.00001), "--json")).stdout);
    expect(j.same).toBe(false);
    expect(j.differing).toEqual([{ name: "logits", kind: "activation", diffs: [expect.objectContaining({ field: "scale", a: 0.000457763671875, relDiff: expect.closeTo(1e-5, 9) })] }]);
  });

  it("a scale changed within the tolerance (default 1e-6, or --tol_rel): exit 0", async () => {
    expect((await compare(V061, logitsScale(1 + 1e-7))).code).toBe(0);
    expect((await compare(V061, logitsScale(1.00001), "--tol_rel", "1e-4")).code).toBe(0);
    expect((await compare(V061, logitsScale(1.00001), "--tol_rel=1e-6")).code).toBe(1);
  });

  it("a changed offset must match exactly unless --tol_offset", async () => {
    const b = variant(V061, (d) => {
      d.activation_encodings.logits[0].offset = -29999;
    });
    const r = await compare(V061, b);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/\| `logits` \| activation \| offset \| -30000 \| -29999 \|/);
    expect((await compare(V061, b, "--tol_offset", "1")).code).toBe(0);
  });

  it("a per-channel tensor whose channel 3 differs: the channel is named", async () => {
    const b = variant(V100, (d) => {
      d.param_encodings[0].scale[3] = 0.051;
    });
    const r = await compare(V061, b);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/\| `layers\.0\.attention\.wq\.weight` \| param \| scale \| 0\.05 \| 0\.051 \| 1\.96e-2 \| channel 3 \| 1 of 8 \|/);
  });

  it("an LPBQ multiplier that differs is named by channel and block", async () => {
    const b = variant(V100, (d) => {
      d.param_encodings[2].per_block_int_scale[2] = 15;
    });
    const r = await compare(V061, b, "--json");
    expect(JSON.parse(r.stdout).differing[0].diffs[0]).toMatchObject({ field: "scale", at: "channel 1 block 0", count: 1, of: 4 });
  });

  it("a bitwidth change and a symmetry change", async () => {
    const b = variant(V061, (d) => {
      d.param_encodings["output.weight"] = [{ bitwidth: 16, dtype: "int", is_symmetric: "True", max: 1, min: -1, offset: -32768, scale: 0.00390625 }];
      d.activation_encodings["layers.0.k_cache"][0].is_symmetric = "False";
    });
    const j = JSON.parse((await compare(V061, b, "--json")).stdout);
    expect(j.differing).toEqual([
      { name: "layers.0.k_cache", kind: "activation", diffs: [{ field: "symmetric", a: true, b: false }] },
      { name: "output.weight", kind: "param", diffs: [{ field: "bitwidth", a: 8, b: 16 }, { field: "offset", a: -128, b: -32768 }] },
    ]);
    const r = await compare(V061, b);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/\| `output\.weight` \| param \| bitwidth \| 8 \| 16 \|/);
  });

  it("tensors only in one file are listed and make the files differ", async () => {
    const b = variant(V100, (d) => {
      d.activation_encodings = d.activation_encodings.filter((e: Json) => e.name !== "logits");
      d.param_encodings.push({ name: "tok_embeddings.weight", dtype: "INT", enc_type: "PER_TENSOR", bw: 8, is_sym: true, scale: [0.1], offset: [-128] });
    });
    const r = await compare(V061, b);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/0 of 6 compared tensor\(s\) differ; 1 only in A; 1 only in B/);
    expect(r.stdout).toMatch(/## Only in A \(1\)\n- `logits`/);
    expect(r.stdout).toMatch(/## Only in B \(1\)\n- `tok_embeddings\.weight`/);
  });

  it("qnn inspect --json output against an AIMET file through a name map", async () => {
    const r = await compare(V061, QNN, "--name_map", MAP, "--json");
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ compared: 2, differing: [], nameMap: { file: MAP, names: 2 } });
    expect(j.onlyInB.sort()).toEqual(["kv_forward/input_1_atten_mask_0", "kv_forward/input_2_k_cache_0"]);
    expect(j.onlyInA).toHaveLength(5);
    expect(r.code).toBe(1); // the weights and inner activations are not graph inputs / outputs
    // Without the map nothing pairs up.
    expect(JSON.parse((await compare(V061, QNN, "--json")).stdout).compared).toBe(0);
    // A device offset that differs is shown under both names.
    const b = variant(QNN, (d) => {
      d.contexts[0].info.graphs[0].outputs[0].encoding.offset = -29000;
    });
    const m = await compare(V061, b, "--name_map", MAP);
    expect(m.stdout).toMatch(/\| `logits` → `kv_forward\/output_aten_add_tensor_12` \| activation \| offset \| -30000 \| -29000 \|/);
  });

  it("--help and the Markdown of the skipped tensors", async () => {
    const h = await cli("quant-report", "--compare_encodings", V061, V061, "--help");
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/--compare_encodings A B/);
    const a = read(V061);
    const md = diffMarkdown(diffEncodings(a, { ...a, skipped: [{ name: "blk", reason: "encoding BLOCKWISE_EXPANSION" }] }));
    expect(md).toMatch(/## Not read in B \(1\)\n- `blk`: encoding BLOCKWISE_EXPANSION/);
  });
});

describe("bad input: exit 2, one stderr line naming the file and the problem", () => {
  const pte = new Uint8Array(64);
  pte.set([69, 84, 49, 50], 4); // "ET12" at bytes 4..8
  const v1 = (entry: Json) => ({ version: "1.0.0", activation_encodings: [entry] });
  const good = { name: "x", dtype: "INT", enc_type: "PER_TENSOR", bw: 8, is_sym: false, scale: [0.1], offset: [-3] };
  const qnnWith = (t: Json) => ({ plans: [], graph_listing: { available: true }, contexts: [{ label: "c", info: { graphs: [{ name: "g", inputs: [t], outputs: [] }] } }] });
  const cases: [string, string[], RegExp][] = [
    ["not JSON", [file("{ not json", "broken.json"), V061], /broken\.json: not valid JSON/],
    ["a binary file", [V061, file(new Uint8Array([0xff, 0xfe, 0, 1, 2]), "blob.json")], /blob\.json: not valid JSON \(a binary file/],
    ["a .pte by content", [file(pte, "program.bin"), V061], /program\.bin: an ExecuTorch program \(\.pte\).*qnn inspect --pte .*--json/],
    ["a .pte by name", [V061, file("{}", "model.pte")], /model\.pte: an ExecuTorch program/],
    ["a missing file", [join(tmp, "nope.json"), V061], /--compare_encodings .*nope\.json: no such file/],
    ["a JSON array", [file("[1, 2]", "array.json"), V061], /array\.json: not an encodings file/],
    ["an unknown layout", [file({ tensors: [] }, "other.json"), V061], /other\.json: unknown layout/],
    ["version 2.0.0", [file({ version: "2.0.0", encodings: [] }, "v2.json"), V061], /v2\.json: encodings version 2\.0\.0 is not supported/],
    ["a numeric version", [file({ version: 1, param_encodings: [] }, "vnum.json"), V061], /vnum\.json: version 1 is not a string/],
    ["0.6.1 empty", [file({ version: "0.6.1", activation_encodings: {} }, "empty.json"), V061], /empty\.json: holds no encodings/],
    ["0.6.1 scale 0", [variant(V061, (d) => (d.activation_encodings.logits[0].scale = 0)), V061], /activation_encodings "logits": scale 0 is not positive/],
    ["0.6.1 NaN scale (Python)", [file('{"version": "0.6.1", "activation_encodings": {"x": [{"bitwidth": 8, "dtype": "int", "is_symmetric": "False", "max": 1, "min": 0, "offset": 0, "scale": NaN}]}}', "nan.json"), V061], /nan\.json: activation_encodings "x": scale "NaN" is not a finite number/],
    ["0.6.1 a name in both sections", [variant(V061, (d) => (d.param_encodings.logits = d.activation_encodings.logits)), V061], /duplicate tensor name "logits" \(in activation_encodings and param_encodings\)/],
    ["0.6.1 channels of two bitwidths", [variant(V061, (d) => (d.param_encodings["layers.0.attention.wq.weight"][3].bitwidth = 8)), V061], /channels disagree on bitwidth \(4 and 8\)/],
    ["1.0.0 sections not lists", [file({ version: "1.0.0", activation_encodings: { x: [] } }, "v1dict.json"), V061], /v1dict\.json: activation_encodings is not a list/],
    ["1.0.0 negative scale", [file(v1({ ...good, scale: [-0.1] }), "neg.json"), V061], /neg\.json: activation_encodings\[0\] "x": scale\[0\] -0\.1 is not a positive finite number/],
    ["1.0.0 Infinity scale (Python)", [file('{"version": "1.0.0", "activation_encodings": [{"name": "x", "dtype": "INT", "enc_type": "PER_TENSOR", "bw": 8, "is_sym": false, "scale": [Infinity], "offset": [0]}]}', "inf.json"), V061], /inf\.json: .*scale\[0\] "Infinity" is not a positive finite number/],
    ["1.0.0 scale and offset lengths", [file(v1({ ...good, enc_type: "PER_CHANNEL", scale: [0.1, 0.2], offset: [-3] }), "len.json"), V061], /len\.json: .*"x": scale has 2 values, offset 1/],
    ["1.0.0 duplicate names", [file({ version: "1.0.0", activation_encodings: [good], param_encodings: [good] }, "dup.json"), V061], /dup\.json: param_encodings\[0\]: duplicate tensor name "x" \(also activation_encodings\[0\]\)/],
    ["1.0.0 unknown enc_type", [file(v1({ ...good, enc_type: "VECTOR" }), "vec.json"), V061], /vec\.json: .*enc_type "VECTOR" is not one of/],
    ["1.0.0 PER_TENSOR with two scales", [file(v1({ ...good, scale: [0.1, 0.2], offset: [0, 0] }), "pt.json"), V061], /pt\.json: .*PER_TENSOR with 2 scales/],
    ["1.0.0 offset out of range", [file(v1({ ...good, offset: [3] }), "off.json"), V061], /off\.json: .*offset\[0\] 3 is not an integer in \[-255, 0\]/],
    ["1.0.0 no is_sym", [file(v1({ ...good, is_sym: undefined }), "sym.json"), V061], /sym\.json: .*is_sym missing/],
    ["1.0.0 LPBQ partial blocks", [file(v1({ ...good, enc_type: "LPBQ", bw: 4, offset: [-8], block_size: 32, compressed_bw: 4, per_block_int_scale: [] }), "lpbq.json"), V061], /lpbq\.json: .*per_block_int_scale is not a non-empty list/],
    ["qnn inspect without graphs", [file({ plans: [], contexts: [], graph_listing: { available: false, reason: "native addon not available" } }, "nograph.json"), V061], /nograph\.json: qnn inspect could not list the graphs \(native addon not available\)/],
    ["qnn inspect null scale (NaN)", [file(qnnWith({ name: "t", type: "APP_READ", dataType: "UFIXED_POINT_8", encoding: { kind: "scale_offset", scale: null, offset: 0 } }), "qnull.json"), V061], /qnull\.json: graph g inputs\[0\] "t": scale null is not a finite number/],
    ["qnn inspect per-axis lengths", [file(qnnWith({ name: "t", type: "APP_READ", dataType: "SFIXED_POINT_8", encoding: { kind: "axis_scale_offset", axis: 0, scales: [1, 2], offsets: [0] } }), "qlen.json"), V061], /qlen\.json: .*scales has 2 values, offsets 1/],
    ["qnn inspect duplicate names", [file({ plans: [], graph_listing: {}, contexts: [{ label: "c", info: { graphs: [{ name: "g", inputs: [{ name: "t", dataType: "FLOAT_32" }], outputs: [{ name: "t", dataType: "FLOAT_32" }] }] } }] }, "qdup.json"), V061], /qdup\.json: graph g outputs\[0\]: duplicate tensor name "g\/t"/],
    ["one file only", [V061], /--compare_encodings needs two files/],
    ["a flag instead of B", [V061, "--json"], /--compare_encodings needs two files/],
    ["--ptq in compare mode", [V061, V061, "--ptq", "16a4w"], /--ptq is not used when comparing encodings \(no model is loaded/],
    ["--checkpoint in compare mode", [V061, V061, "--checkpoint", "x.bin"], /--checkpoint is not used when comparing encodings/],
    ["a third file", [V061, V061, V100], /unexpected argument/],
    ["--tol_rel -1", [V061, V061, "--tol_rel", "-1"], /--tol_rel "-1": expected a number >= 0/],
    ["--tol_rel abc", [V061, V061, "--tol_rel", "abc"], /--tol_rel "abc"/],
    ["--tol_offset 1.5", [V061, V061, "--tol_offset", "1.5"], /--tol_offset "1\.5": expected an integer >= 0/],
    ["--tol_offset without a value", [V061, V061, "--tol_offset"], /--tol_offset needs a value/],
    ["--name_map missing", [V061, V061, "--name_map", join(tmp, "nomap.json")], /--name_map .*nomap\.json: no such file/],
    ["--name_map naming no tensor of A", [V061, QNN, "--name_map", file({ nope: "kv_forward/output_k_cache_0" }, "badmap.json")], /--name_map .*badmap\.json: "nope" is not a tensor of/],
  ];
  it.each(cases)("%s", async (_name, args, expected) => {
    const r = await compare(...args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.split("\n").filter((l) => l !== "");
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(expected);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  });

  it("--compare_encodings given twice, and its flags without it", async () => {
    const twice = await cli("quant-report", "--compare_encodings", V061, V061, "--compare_encodings", V061, V061);
    expect([twice.code, twice.stderr]).toEqual([2, expect.stringMatching(/--compare_encodings given twice/)]);
    const stray = await cli("quant-report", "--ptq", "16a4w", "--tol_rel", "1e-3");
    expect([stray.code, stray.stderr]).toEqual([2, expect.stringMatching(/quant-report: --tol_rel is for --compare_encodings A B/)]);
    const noPtq = await cli("quant-report");
    expect([noPtq.code, noPtq.stderr]).toEqual([2, expect.stringMatching(/--ptq is required/)]);
  });
});
