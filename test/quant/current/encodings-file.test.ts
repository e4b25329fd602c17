// The current flow's --dump_encodings file (AIMET 1.0.0): the project's own reader (src/quant/encodings-formats.ts)
// accepts it, and what it reads back is the calibration: activation encodings by module path, per-channel weights,
// LPBQ weights as AIMET writes them (bw 8, compressed_bw 4, offset -128, per_block_int_scale) whose effective block
// scales are m·S_c, RMSNorm and embedding encodings.
import { describe, expect, it } from "vitest";
import { parseEncodingsAny } from "../../../src/quant/encodings-formats.js";
import { currentEncodingsDocument, serializeCurrentEncodings } from "../../../src/quant/current/encodings-file.js";
import { calibrateCase, quantModels } from "../../helpers/current-quant.js";

const [, tiny] = await quantModels();

describe("AIMET 1.0.0 encodings of the current flow", () => {
  const enc = calibrateCase(tiny, { CL: 32, texts: ["what is 1+1? two."] });
  const text = serializeCurrentEncodings(enc);
  const set = parseEncodingsAny(text, "dump.json");
  const byName = new Map(set.tensors.map((t) => [t.name, t]));

  it("is read back by the AIMET 1.0.0 reader: every activation and parameter, nothing skipped", () => {
    expect(set.layout).toBe("aimet-1.0.0");
    expect(set.skipped).toEqual([]);
    const doc = currentEncodingsDocument(enc);
    expect(set.tensors).toHaveLength(doc.activation_encodings.length + doc.param_encodings.length);
    expect(doc.activation_encodings.map((e) => e.name)).toEqual([...enc.activations.keys()]);
    expect(JSON.parse(text)).toEqual(doc);
  });

  it("activations: per tensor, scale and offset -zp; K/V uint8 symmetric offset -128", () => {
    for (const [name, e] of enc.activations) {
      const t = byName.get(name)!;
      expect([t.kind, t.bitwidth, t.symmetric, t.scales, t.offsets], name).toEqual(["activation", e.bitwidth, e.symmetric, [e.scale], [0 - e.zeroPoint]]); // 0 - zp: offset 0, not -0, for a softmax (zp 0)
    }
    expect(byName.get("layers.2.attention.k_cache")).toMatchObject({ bitwidth: 8, symmetric: true, offsets: [-128] });
    expect(byName.get("output.conv")).toMatchObject({ bitwidth: 16, symmetric: false });
  });

  it("weights: per channel int8 for w2 / output.conv, LPBQ block 32 elsewhere, effective block scale m·S_c", () => {
    for (const c of enc.convs) {
      const t = byName.get(`${c.conv.path}.weight`)!;
      const w = c.weights;
      if (w.spec.kind === "per_channel") {
        expect([t.bitwidth, t.symmetric, t.blockSize], c.conv.path).toEqual([8, true, undefined]);
        expect(t.scales).toEqual(Array.from(w.channelScales));
        expect(t.offsets.every((o) => o === -128)).toBe(true);
      } else {
        const nb = c.conv.cols / 32;
        expect([t.bitwidth, t.compressedBitwidth, t.blockSize, t.channels], c.conv.path).toEqual([8, 4, 32, c.conv.rows]);
        expect(t.scales).toEqual(Array.from(w.multipliers!, (m, i) => m * w.channelScales[Math.floor(i / nb)]));
      }
    }
    expect(byName.get("layers.0.attention_norm.weight")).toMatchObject({ kind: "param", bitwidth: 16, symmetric: false });
    expect(byName.get("tok_embeddings.weight")!.scales).toEqual([enc.activations.get("tok_embeddings")!.scale]);
  });
});
