// Reading a device logits dump (src/eval/device-logits.ts): golden logits of stories260K quantized with a known
// uint16 encoding and written as the runner writes them (kv mode: one row per position) read back within half a code
// step; a planted error at one position is where the KL statistics put their maximum; bad dumps are refused in one line.
import { describe, expect, it } from "vitest";
import { readDeviceLogits } from "../../src/eval/device-logits.js";
import { compareToken, logSoftmax } from "../../src/eval/kl-stats.js";
import { createReferenceBackend } from "../../src/backends/reference.js";
import { generateCurrent } from "../../src/runner/generate.js";
import { createSampler } from "../../src/runner/sampler.js";
import { loadStories260K } from "../helpers/fixtures.js";
import { expectUserError } from "../helpers/errors.js";

const model = loadStories260K();
const V = model.config.vocabSize;

async function goldenRows(): Promise<{ rows: Float32Array[]; tokens: number[] }> {
  const rows: Float32Array[] = [];
  const r = await generateCurrent({
    backend: createReferenceBackend({ model, contextLen: 32, arLens: [1] }),
    config: model.config,
    mode: "kv",
    contextLen: 32,
    prefillArLen: 1,
    maxSeqLen: 24,
    promptTokens: [1, 403, 407, 261, 378],
    sampler: createSampler({ vocabSize: V, temperature: 0, seed: 0n }),
    onCallLogits: (l) => rows.push((l as Float32Array).slice()),
  });
  return { rows, tokens: [...r.promptTokens, ...r.generatedTokens] };
}

describe("device logits dump", () => {
  it("uint16 codes with a known encoding read back within half a step; a planted error is found at its position", async () => {
    const { rows, tokens } = await goldenRows();
    let lo = Infinity;
    let hi = -Infinity;
    for (const r of rows) for (const x of r) (lo = Math.min(lo, x)), (hi = Math.max(hi, x));
    const scale = (hi - lo) / 65535;
    const offset = -Math.round(-lo / scale); // code = round(x / scale - offset): lo maps to code 0
    const planted = 9;
    const bytes = new Uint8Array(rows.length * V * 2);
    const dv = new DataView(bytes.buffer);
    rows.forEach((r, k) =>
      r.forEach((x, v) => {
        let code = Math.min(65535, Math.max(0, Math.round(x / scale - offset)));
        if (k === planted && v === tokens[k + 1]) code = Math.max(0, code - 4000); // the device got this row wrong
        dv.setUint16(2 * (k * V + v), code, true);
      }),
    );
    const back = readDeviceLogits(bytes, { vocab: V, dtype: "uint16", scale, offset }, "d.bin");
    expect(back.length).toBe(rows.length);
    let worst = 0;
    back.forEach((r, k) => {
      if (k !== planted) r.forEach((x, v) => (worst = Math.max(worst, Math.abs(x - rows[k][v]))));
    });
    expect(worst).toBeLessThanOrEqual(scale / 2 + 1e-6);
    const kls = back.slice(0, rows.length - 1).map((r, k) => compareToken(logSoftmax(rows[k]), logSoftmax(r), tokens[k + 1]).kl);
    expect(kls.indexOf(Math.max(...kls))).toBe(planted);
  });

  it("float32 dumps are read as they are", () => {
    const f = new Float32Array([1, 2, 3, 4, 5, 6]);
    const rows = readDeviceLogits(new Uint8Array(f.buffer), { vocab: 3, dtype: "float32" }, "f.bin");
    expect(rows.map((r) => Array.from(r))).toEqual([[1, 2, 3], [4, 5, 6]]);
  });

  it("refuses truncated dumps, a missing encoding, NaN and empty files", () => {
    const b = new Uint8Array(V * 2 * 3 + 7);
    expectUserError(() => readDeviceLogits(b, { vocab: V, dtype: "uint16", scale: 0.01, offset: -30000 }, "t.bin"), "device logits t.bin", "3 rows and 7 bytes: truncated");
    expectUserError(() => readDeviceLogits(new Uint8Array(V * 2), { vocab: V, dtype: "uint16" }, "t.bin"), "need the logits scale");
    expectUserError(() => readDeviceLogits(new Uint8Array(0), { vocab: V, dtype: "float32" }, "t.bin"), "the file is empty");
    expectUserError(() => readDeviceLogits(new Uint8Array(new Float32Array([NaN, 1]).buffer), { vocab: 2, dtype: "float32" }, "t.bin"), "row 0, entry 0 is NaN");
  });
});
