// The AIMET 1.x encodings JSON: a write/read round trip of a model's 16a4w weight encodings and some
// activation encodings, the file's layout, and one one-line UserError (naming file and tensor) per bad input.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { activationEncoding, symmetricEncoding } from "../../src/quant/affine.js";
import {
  encodingFromEntry,
  entryFromEncoding,
  parseEncodings,
  perChannelEntries,
  readEncodingsFile,
  writeEncodingsFile,
  type EncodingsFile,
  type TensorExpectation,
} from "../../src/quant/encodings-file.js";
import { quantizeModelWeights } from "../../src/quant/schemes.js";
import { loadStories260K } from "../helpers/fixtures.js";
import { expectUserError } from "../helpers/errors.js";

const dir = mkdtempSync(join(tmpdir(), "quant-enc-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function modelFile(): { file: EncodingsFile; names: Set<string>; expected: Map<string, TensorExpectation> } {
  const q = quantizeModelWeights(loadStories260K(), "16a4w");
  const file: EncodingsFile = { version: "0.6.1", activationEncodings: {}, paramEncodings: {} };
  const expected = new Map<string, TensorExpectation>();
  q.layers.forEach((l, i) => {
    for (const [k, v] of Object.entries(l.linears)) {
      if (v.granularity !== "per-channel") throw new Error("16a4w is per-channel");
      file.paramEncodings[`layers.${i}.attention.${k}.weight`] = perChannelEntries(v);
      expected.set(`layers.${i}.attention.${k}.weight`, { bitwidth: 4, channels: v.rows, symmetric: true });
    }
    file.paramEncodings[`layers.${i}.attention_norm.weight`] = [entryFromEncoding(l.attnNorm.encoding)];
  });
  if (q.output.granularity !== "per-channel") throw new Error("per-channel");
  file.paramEncodings["output.weight"] = perChannelEntries(q.output);
  expected.set("output.weight", { bitwidth: 8, channels: 512, symmetric: true });
  file.activationEncodings["h_0"] = [entryFromEncoding(activationEncoding(-1, 3, 8))];
  file.activationEncodings["k_cache_0"] = [entryFromEncoding(symmetricEncoding(2.5, 8, { signed: false }))];
  file.activationEncodings["logits"] = [entryFromEncoding(activationEncoding(-12.5, 20.25, 16))];
  file.activationEncodings["fp_tensor"] = [{ dtype: "float", bitwidth: 16 }];
  const names = new Set([...Object.keys(file.paramEncodings), ...Object.keys(file.activationEncodings)]);
  return { file, names, expected };
}

describe("encodings file round trip", () => {
  it("writes the AIMET 1.x layout and reads back exactly", () => {
    const { file, names, expected } = modelFile();
    const path = join(dir, "model.encodings");
    writeEncodingsFile(path, file);
    const raw = JSON.parse(readFileSync(path, "utf8"));
    expect(raw.version).toBe("0.6.1");
    expect(raw.activation_encodings.h_0).toEqual([
      { bitwidth: 8, dtype: "int", is_symmetric: "False", max: 191 * Math.fround(4 / 255), min: -64 * Math.fround(4 / 255), offset: -64, scale: Math.fround(4 / 255) },
    ]);
    expect(raw.activation_encodings.k_cache_0[0]).toMatchObject({ is_symmetric: "True", offset: -128, bitwidth: 8 });
    const w0 = raw.param_encodings["layers.0.attention.wq.weight"];
    expect(w0).toHaveLength(64);
    expect(w0[0]).toMatchObject({ bitwidth: 4, dtype: "int", is_symmetric: "True", offset: -8 });
    expect(w0[0].min).toBe(-7 * w0[0].scale);
    expect(raw.activation_encodings.fp_tensor).toEqual([{ bitwidth: 16, dtype: "float" }]);

    const back = readEncodingsFile(path, { validNames: names, expected });
    expect(back).toEqual(file);
  });

  it("entries convert back to the encodings they came from", () => {
    for (const enc of [activationEncoding(-1, 3, 8), activationEncoding(-0.3, 70, 16), symmetricEncoding(2.5, 8, { signed: false })])
      expect(encodingFromEntry(entryFromEncoding(enc), { signed: false })).toEqual(enc);
    for (const [amax, bits] of [[3.5, 4], [1.27, 8], [9, 16]] as const) {
      const enc = symmetricEncoding(amax, bits, { signed: true });
      expect(encodingFromEntry(entryFromEncoding(enc), { signed: true })).toEqual(enc);
    }
  });
});

describe("encodings file validation", () => {
  const good = { bitwidth: 8, dtype: "int", is_symmetric: "False", max: 3, min: -1, offset: -64, scale: 0.0156 };
  const FILE = "/x/model.encodings";
  const doc = (entry: unknown, name = "h_0", section = "activation_encodings") => JSON.stringify({ version: "0.6.1", [section]: { [name]: [entry] } });
  const names = new Set(["h_0", "w"]);
  const bad = (text: string, ...parts: (string | RegExp)[]) =>
    expectUserError(() => parseEncodings(text, FILE, { validNames: names, expected: new Map([["w", { bitwidth: 4, channels: 2, symmetric: true }]]) }), FILE, ...parts);

  it("accepts a good file, with version 0.4.0-style entries (no dtype) and JSON booleans", () => {
    expect(parseEncodings(doc(good), FILE, { validNames: names }).activationEncodings.h_0[0]).toMatchObject({ offset: -64, isSymmetric: false });
    const { dtype: _d, ...noDtype } = good;
    expect(parseEncodings(doc({ ...noDtype, is_symmetric: false }), FILE).activationEncodings.h_0[0].dtype).toBe("int");
  });

  it("names the file and tensor for every bad entry", () => {
    bad(doc(good, "nope"), /"nope"/, /unknown tensor name/);
    bad(doc({ ...good, bitwidth: 0 }), /"h_0"/, /bitwidth 0 is not an integer in 1\.\.32/);
    bad(doc({ ...good, bitwidth: 33 }), /"h_0"/, /bitwidth 33/);
    bad(doc({ ...good, bitwidth: 7.5 }), /bitwidth 7\.5/);
    bad(doc({ ...good, bitwidth: "8" }), /bitwidth "8" is not/);
    bad(doc({ ...good, scale: -0.5 }), /"h_0"/, /scale -0\.5 is not positive/);
    bad(doc({ ...good, scale: 0 }), /scale 0 is not positive/);
    bad(doc({ ...good, scale: "NaN" }), /"h_0"/, /scale "NaN" is not a finite number/);
    bad(doc(good).replace("0.0156", "NaN"), /"h_0"/, /scale "NaN" is not a finite number/); // Python's json literal
    bad(doc(good).replace("0.0156", "Infinity"), /"h_0"/, /scale "Infinity"/);
    bad(doc(good).replace("0.0156", "1e999"), /"h_0"/, /scale Infinity is not a finite number/);
    bad(doc({ ...good, scale: undefined }), /scale missing is not a finite number/);
    bad(doc({ ...good, offset: 1 }), /"h_0"/, /offset 1 is not an integer in \[-255, 0\] for bitwidth 8/);
    bad(doc({ ...good, offset: -256 }), /offset -256/);
    bad(doc({ ...good, offset: -64.5 }), /offset -64\.5/);
    bad(doc({ ...good, min: 4 }), /"h_0"/, /min 4 > max 3/);
    bad(doc({ ...good, max: "x" }), /max "x"/);
    bad(doc({ ...good, is_symmetric: "yes" }), /is_symmetric "yes" is not "True" or "False"/);
    bad(doc({ ...good, is_symmetric: undefined }), /is_symmetric missing/);
    bad(doc({ ...good, dtype: "uint" }), /dtype "uint"/);
    bad(doc({ dtype: "float", bitwidth: 8 }), /float bitwidth 8/);
    bad(doc(42), /"h_0"/, /not an object/);
  });

  it("checks the scheme's expectations", () => {
    const w = { bitwidth: 4, dtype: "int", is_symmetric: "True", max: 0.7, min: -0.7, offset: -8, scale: 0.1 };
    const two = (a: unknown, b: unknown) => JSON.stringify({ param_encodings: { w: [a, b] } });
    expect(parseEncodings(two(w, w), FILE, { expected: new Map([["w", { bitwidth: 4, channels: 2, symmetric: true }]]) }).paramEncodings.w).toHaveLength(2);
    bad(two(w, { ...w, bitwidth: 8, offset: -128 }), /param_encodings "w"\[1\]/, /bitwidth 8, expected 4/);
    bad(two(w, { ...w, is_symmetric: "False" }), /"w"\[1\]/, /is_symmetric False, expected True/);
    bad(JSON.stringify({ param_encodings: { w: [w] } }), /"w"/, /1 encodings, expected 2/);
    bad(two(w, { ...w, offset: -16 }), /"w"\[1\]/, /offset -16 is not an integer in \[-15, 0\] for bitwidth 4/);
  });

  it("rejects files that are not encodings", () => {
    bad("{not json", /not valid JSON/);
    bad("[1, 2]", /top level is not a JSON object/);
    bad(JSON.stringify({ version: "1.0.0", activation_encodings: [], param_encodings: [] }), /version 1\.0\.0 is not supported/);
    bad(JSON.stringify({ version: 1 }), /version is not a string/);
    bad(JSON.stringify({ param_encodings: [] }), /param_encodings is not an object/);
    bad(JSON.stringify({ activation_encodings: { h_0: [] } }), /"h_0"/, /not a non-empty list/);
    bad(JSON.stringify({ activation_encodings: { h_0: {} } }), /"h_0"/, /not a non-empty list/);
    bad(JSON.stringify({ activation_encodings: { "bad\nname": [good] } }), /unknown tensor name/);
  });

  it("reports unreadable and unwritable paths as UserErrors", () => {
    const missing = join(dir, "missing.encodings");
    expectUserError(() => readEncodingsFile(missing), missing, /cannot read encodings \(ENOENT\)/);
    const target = join(dir, "no-such-dir", "x.encodings");
    expectUserError(() => writeEncodingsFile(target, { version: "0.6.1", activationEncodings: {}, paramEncodings: {} }), target, /cannot write/);
    const p = join(dir, "bad.encodings");
    writeFileSync(p, doc({ ...good, scale: -1 }));
    expectUserError(() => readEncodingsFile(p), p, /"h_0"/, /scale -1 is not positive/);
  });
});
