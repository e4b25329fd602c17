// Per-block (LPBQ, 16a4w_block) weights in the encodings file: written exactly (channel scales and 4-bit
// multipliers), read back, and validated.
import { describe, expect, it } from "vitest";
import { calibrate } from "../../src/quant/calibrate.js";
import { encodingsExpectations, encodingsToFile } from "../../src/quant/encodings-io.js";
import { parseEncodings, serializeEncodings } from "../../src/quant/encodings-file.js";
import { UserError } from "../../src/util/errors.js";
import { loadStories260K } from "../helpers/fixtures.js";

const model = loadStories260K();
const qenc = calibrate(model, "16a4w_block", { kvSeqLen: 12, promptTokens: [1, 403, 407, 261, 378], weightOptions: { blockSize: 32 } });
const file = encodingsToFile(qenc, model);
const text = serializeEncodings(file);
const { validNames, expected } = encodingsExpectations(qenc, model);

describe("LPBQ encodings", () => {
  it("every per-block weight is written with its exact channel scales and multipliers", () => {
    const wq = qenc.weights.layers[0].linears.wq;
    expect(wq.granularity).toBe("per-block");
    if (wq.granularity !== "per-block") return;
    const e = file.blockEncodings!["layers.0.attention.wq.weight"];
    expect(e.blockSize).toBe(32);
    expect(e.channelScales).toEqual(Array.from(wq.channelScales));
    expect(e.perBlockIntScale.flat()).toEqual(Array.from(wq.multipliers));
    expect(e.perBlockIntScale[0]).toHaveLength(2); // 64 inputs / 32
    // w2 has 172 inputs: not a multiple of 32, so it is per channel and has no LPBQ entry.
    expect(file.blockEncodings!["layers.0.feed_forward.w2.weight"]).toBeUndefined();
  });

  it("reads back identically through the validating parser", () => {
    const back = parseEncodings(text, "enc.json", { validNames, expected });
    expect(back.blockEncodings).toEqual(file.blockEncodings);
    expect(JSON.parse(text).lpbq_encodings["layers.0.attention.wq.weight"].enc_type).toBe("LPBQ");
  });

  it("refuses a multiplier out of 1..16, a wrong channel count and an unknown name", () => {
    const doc = JSON.parse(text);
    const bad = (mutate: (d: Record<string, Record<string, Record<string, unknown>>>) => void, re: RegExp) => {
      const d = JSON.parse(JSON.stringify(doc));
      mutate(d);
      let err: unknown;
      try {
        parseEncodings(JSON.stringify(d), "enc.json", { validNames, expected });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(re);
    };
    bad((d) => ((d.lpbq_encodings["layers.0.attention.wq.weight"].per_block_int_scale as number[][])[3][1] = 17), /per_block_int_scale\[3\]\[1\] 17 is not an integer in 1\.\.16/);
    bad((d) => (d.lpbq_encodings["layers.0.attention.wq.weight"].scale as number[]).pop(), /63 channel scales, expected 64/);
    bad((d) => (d.lpbq_encodings["layers.9.attention.wq.weight"] = d.lpbq_encodings["layers.0.attention.wq.weight"]), /unknown tensor name/);
  });
});
