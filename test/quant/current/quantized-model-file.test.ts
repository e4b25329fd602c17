// The quantized model file (src/quant/current/quantized-model-file.ts): a calibration written and read back runs the same
// graphs as the in-memory quantized backend it came from — logits and accumulator statistics bit-identical, on 1 and 2
// threads, in every scheme, with SeqMSE and R3, on stories260K, tiny_llama3 and the Qwen3 / Gemma3 family fixtures
// (biases and q/k norms; Gemma's scaled embedding, kept fp32) — its codes and scales read back equal the calibration's,
// and broken files are refused in one line.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Backend } from "../../../src/engine/backend.js";
import type { Model } from "../../../src/engine/weights.js";
import { loadModel } from "../../../src/loaders/index.js";
import { calibrateCurrent } from "../../../src/quant/current/calibrate.js";
import type { CurrentEncodings } from "../../../src/quant/current/encodings.js";
import { currentQuantizedBackend, openQuantizedModelBackend } from "../../../src/quant/current/quantized-backend.js";
import { loadQuantizedModel, writeQuantizedModel } from "../../../src/quant/current/quantized-model-file.js";
import { builtinRecipe, resolveRecipe, withCliOverrides } from "../../../src/quant/current/recipe.js";
import { createCurrentSession } from "../../../src/runner/current-session.js";
import { UserError } from "../../../src/util/errors.js";
import { calibrateCase, calibrateSchemeCase, quantModels } from "../../helpers/current-quant.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-qmodel-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const FAM = new URL("../../fixtures/families/", import.meta.url).pathname;

function save(model: Model, enc: CurrentEncodings, name: string): string {
  const parts: Uint8Array[] = [];
  writeQuantizedModel({ write: (b) => parts.push(b.slice()) }, model, enc);
  const path = join(tmp, name);
  writeFileSync(path, Buffer.concat(parts));
  return path;
}

/** Hybrid-mode greedy calls: every logit row (prompt rows too) and the accumulator statistics. */
async function rows(b: Backend & { integerStats: unknown }, model: Model, prompt: number[], CL: number): Promise<{ rows: number[]; stats: unknown }> {
  const s = createCurrentSession({ backend: b, config: model.config, mode: "hybrid", contextLen: CL, prefillArLen: 8, maxSeqLen: 20, promptTokens: prompt, sampleRawCodes: false });
  const out: number[] = [];
  for (let k = 0; k < 8 && s.phase !== "done"; k++) {
    const r = await s.call();
    out.push(...r.row, ...(r.promptLogits ?? []).flatMap((p) => [...p.row]));
    s.advance(r.row.indexOf(Math.max(...r.row)));
  }
  b.dispose();
  return { rows: out, stats: structuredClone(b.integerStats) };
}

async function roundTrip(id: string, model: Model, enc: CurrentEncodings, prompt: number[], CL: number) {
  const want = await rows(currentQuantizedBackend(model, enc, { contextLen: CL, arLens: [1, 8] }), model, prompt, CL);
  expect(want.rows.length).toBeGreaterThan(0);
  const path = save(model, enc, `${id}.lgq`);
  for (const threads of [1, 2]) {
    const { backend, loaded } = await openQuantizedModelBackend(path, { contextLen: CL, arLens: [1, 8], threads });
    const got = await rows(backend, loaded.model, prompt, CL);
    expect(got.rows, `${id}, ${threads} thread(s)`).toEqual(want.rows);
    expect(got.stats, `${id}, ${threads} thread(s)`).toEqual(want.stats);
  }
  // Codes (read back from the kernel's memory where it holds them), scales and encodings as calibrated.
  const back = loadQuantizedModel(path);
  expect(back.encodings.activations).toEqual(enc.activations);
  expect(back.encodings.observed).toEqual(enc.observed);
  expect(back.encodings.recipe.convs).toEqual(enc.recipe.convs);
  back.encodings.convs.forEach((q, i) => {
    const w = enc.convs[i].weights;
    expect(q.conv.path).toBe(enc.convs[i].conv.path);
    expect(q.weights.codes).toEqual(w.codes);
    expect(q.weights.groupScales).toEqual(w.groupScales);
    expect(q.weights.channelScales).toEqual(w.channelScales);
    expect(q.weights.multipliers).toEqual(w.multipliers);
    expect([q.weights.step, q.input, q.output, q.requantInput, q.inputName]).toEqual([w.step, enc.convs[i].input, enc.convs[i].output, enc.convs[i].requantInput, enc.convs[i].inputName]);
  });
  const { loaded } = await openQuantizedModelBackend(path, { contextLen: CL, arLens: [1], threads: 1 }).then((r) => (r.backend.dispose(), r));
  loaded.encodings.convs.forEach((q, i) => expect(q.weights.codes, `${id} ${q.conv.path} via the kernel`).toEqual(enc.convs[i].weights.codes));
  return path;
}

describe("quantized model files", () => {
  it("run bit-identically to the in-memory calibration in every scheme (stories260K, tiny_llama3; SeqMSE, R3), 1 and 2 threads", async () => {
    const CL = 32;
    for (const m of await quantModels())
      for (const [scheme, extra] of [["16a4w", {}], ["16a4w_block", {}], ["16a8w", { seqMse: 2 }], ["8a8w", { r3: true }]] as const) {
        const enc = scheme === "16a4w_block" ? calibrateSchemeCase(m, CL, scheme) : calibrateCase(m, { CL, scheme, ...extra });
        const path = await roundTrip(`${m.id}-${scheme}`, m.model, enc, m.prompt, CL);
        // 4-bit codes two per byte: the file is well under the fp32 model's size.
        if (scheme === "16a4w" && m.id === "tiny_llama3") {
          const fp32 = 4 * (m.model.weights.layers.reduce((s, l) => s + l.wq.length + l.wk.length + l.wv.length + l.wo.length + l.w1.length + l.w2.length + l.w3.length, 0) + m.model.weights.output.length + m.model.weights.tokEmbeddings.length);
          expect(readFileSync(path).length).toBeLessThan(fp32 / 3);
        }
      }
  }, 240_000);

  it("family fixtures: Qwen3 (q/k norms) and Gemma3 (scaled embedding kept fp32, window mask)", async () => {
    const CL = 32;
    for (const name of ["qwen3", "gemma3"]) {
      const model = loadModel({ checkpoint: join(FAM, name) }).model;
      const V = model.config.vocabSize;
      const seq = Array.from({ length: 24 }, (_, i) => (i * 37 + 5) % V);
      const recipe = withCliOverrides(builtinRecipe("stories260k")!, { scheme: "16a8w" });
      const enc = calibrateCurrent(model, resolveRecipe(recipe, model), { contextLen: CL, sequences: [seq], seqMseCandidates: 0, attention: { maskedSoftmax: true } });
      const path = await roundTrip(name, model, enc, seq.slice(0, 11), CL);
      const h = JSON.parse(readFileSync(path).subarray(24, 24 + Number(readFileSync(path).readBigUInt64LE(16))).toString("utf8"));
      expect(h.embedding.dtype).toBe(name === "gemma3" ? "f32" : "u16");
    }
  }, 120_000);

  it("refuses broken files in one line naming the file", async () => {
    const [m] = await quantModels();
    const enc = calibrateCase(m, { CL: 16, scheme: "16a4w" });
    const path = save(m.model, enc, "good.lgq");
    const bytes = readFileSync(path);
    const hLen = Number(bytes.readBigUInt64LE(16));
    const header = JSON.parse(bytes.subarray(24, 24 + hLen).toString("utf8"));
    const variant = (name: string, b: Uint8Array) => {
      const p = join(tmp, name);
      writeFileSync(p, b);
      return p;
    };
    const data = bytes.subarray(Math.ceil((24 + hLen) / 64) * 64);
    /** The same file with its header changed (the data sections after it, re-aligned). */
    const withHeader = (name: string, edit: (h: typeof header) => void) => {
      const h = structuredClone(header);
      edit(h);
      const json = Buffer.from(JSON.stringify(h));
      const head = Buffer.from(bytes.subarray(0, 24));
      head.writeBigUInt64LE(BigInt(json.length), 16);
      const pad = Buffer.alloc((64 - ((24 + json.length) % 64)) % 64);
      return variant(name, Buffer.concat([head, json, pad, data]));
    };
    const cases: [string, RegExp][] = [
      [join(tmp, "missing.lgq"), /no such file/i],
      [variant("short.lgq", bytes.subarray(0, 10)), /too short/],
      [variant("magic.lgq", Buffer.concat([Buffer.from("NOTAMODL"), bytes.subarray(8)])), /not a quantized model file/],
      [variant("trunc.lgq", bytes.subarray(0, bytes.length - 100)), /truncated/],
      [variant("trunc-header.lgq", bytes.subarray(0, 24 + 50)), /more than the file holds/],
      [variant("tail.lgq", Buffer.concat([bytes, Buffer.alloc(64)])), /bytes after the last data section/],
      [withHeader("bytes.lgq", (h) => (h.convs[0].codes.bytes += 1)), /layers\.0\.attention\.wq_conv codes: \d+ bytes, expected \d+/],
      [withHeader("dtype.lgq", (h) => (h.convs[0].codes.dtype = "i8")), /codes: i8 data, expected i4/],
      [withHeader("offset.lgq", (h) => (h.convs[1].channelScales.offset = h.dataBytes)), /not an aligned place inside the data/],
      [withHeader("dup.lgq", (h) => (h.convs[1].path = h.convs[0].path)), /twice/],
      [withHeader("dim.lgq", (h) => (h.config.dim = -1)), /dim must be a positive integer/],
      [withHeader("act.lgq", (h) => delete h.activations[3][1].scale), /activation .*: not an encoding/],
      [withHeader("act-pair.lgq", (h) => (h.activations[0] = 7)), /activations\[0\] is not a \[name, value\] pair/],
      [withHeader("norm.lgq", (h) => (h.norms[0].which = "mid")), /norm entry 0 is not/],
      [withHeader("tensor.lgq", (h) => (h.tensors[2] = null)), /a tensor entry without a layer and key/],
      [withHeader("conv-enc.lgq", (h) => (h.convs[2].output = { scale: -1 })), /wv_conv output: not an encoding/],
      [withHeader("recipe.lgq", (h) => (h.recipe.overrides = 5)), /its recipe does not resolve on its config/],
      [withHeader("same.lgq", () => {}), /^$/],
    ];
    expect(loadQuantizedModel(join(tmp, "same.lgq")).encodings.convs.length).toBe(enc.convs.length); // the rebuild itself is sound
    // A NaN in the embedding table has no code: the table is kept in fp32 (and read back bit for bit).
    const table = m.model.weights.tokEmbeddings.slice();
    table[511 * m.model.config.dim + 3] = NaN;
    const nanModel = { ...m.model, weights: { ...m.model.weights, tokEmbeddings: table } };
    const nanPath = save(nanModel, enc, "nan.lgq");
    const nanBytes = readFileSync(nanPath);
    expect(JSON.parse(nanBytes.subarray(24, 24 + Number(nanBytes.readBigUInt64LE(16))).toString("utf8")).embedding.dtype).toBe("f32");
    expect(Buffer.from(loadQuantizedModel(nanPath).model.weights.tokEmbeddings.buffer)).toEqual(Buffer.from(table.buffer));
    for (const [p, re] of cases.filter(([p]) => !p.endsWith("same.lgq"))) {
      let err: unknown;
      try {
        loadQuantizedModel(p);
      } catch (e) {
        err = e;
      }
      expect(err, p).toBeInstanceOf(UserError);
      expect((err as Error).message, p).toMatch(re);
      expect((err as Error).message, p).toContain(p);
      expect((err as Error).message).not.toContain("\n");
    }
  });
});
