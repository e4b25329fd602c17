// Where the wasm backend puts its weights: every distinct matrix once (a tied LM head is the embedding), in model
// order, greedily into shards no larger than the limit, at 64-byte aligned offsets past the shard's activation
// area, without overlaps; packed contents equal packPanels of the model's own array; too-large weights refused.
import { describe, expect, it } from "vitest";
import { allocateShards, modelMatrices, planShards } from "../../src/backends/wasm/layout.js";
import { packedBytes, packPanels } from "../../src/compute/kernels.js";
import { UserError } from "../../src/util/errors.js";
import { loadStories260K } from "../helpers/fixtures.js";

const model = loadStories260K();
const c = model.config;

describe("modelMatrices", () => {
  it("lists the 7 products per layer then the LM head, each array once", () => {
    const mats = modelMatrices(model);
    expect(mats).toHaveLength(c.nLayers * 7 + 1);
    expect(mats.slice(0, 7).map((m) => m.name)).toEqual(["layers.0.wq", "layers.0.wk", "layers.0.wv", "layers.0.wo", "layers.0.w1", "layers.0.w3", "layers.0.w2"]);
    expect(mats[mats.length - 1]).toMatchObject({ name: "output", m: c.vocabSize, n: c.dim });
    expect(mats[mats.length - 1].w).toBe(model.weights.tokEmbeddings); // stories260K ties its LM head
    for (const m of mats) expect(m.w.length).toBe(m.m * m.n);
    // a model that reuses one array twice places it once
    const l0 = model.weights.layers[0];
    const shared = { ...model, weights: { ...model.weights, layers: [{ ...l0, w3: l0.w1 }, ...model.weights.layers.slice(1)] } };
    expect(modelMatrices(shared)).toHaveLength(c.nLayers * 7);
  });
});

describe("planShards", () => {
  const mats = modelMatrices(model);
  const opts = { rows: 4, tokenCap: 15 };

  it("one shard when everything fits; activation area sized for the widest input and output", () => {
    const [s, ...rest] = planShards(mats, { ...opts, shardBytes: 2 ** 30 });
    expect(rest).toHaveLength(0);
    const maxGroups = Math.max(...mats.map((m) => Math.ceil(m.n / 4)));
    const maxMPad = Math.max(...mats.map((m) => Math.ceil(m.m / 4) * 4));
    expect(s.xBytes).toBeGreaterThanOrEqual(maxGroups * 15 * 16);
    expect(s.yBytes).toBeGreaterThanOrEqual(15 * maxMPad * 4);
    expect(s.yOff).toBe(s.xBytes);
    expect(s.matrices.map((m) => m.name)).toEqual(mats.map((m) => m.name));
  });

  it.each([176, 192, 300, 1024])("shard limit %i KiB: greedy, in order, aligned, no overlaps, within the limit", (kib) => {
    const limit = kib * 1024;
    const plan = planShards(mats, { ...opts, shardBytes: limit });
    expect(plan.flatMap((s) => s.matrices.map((m) => m.name))).toEqual(mats.map((m) => m.name));
    plan.forEach((s, i) => {
      expect(s.bytes).toBeLessThanOrEqual(limit);
      expect(s.pages * 65536).toBeGreaterThanOrEqual(s.bytes);
      let end = s.yOff + s.yBytes;
      for (const m of s.matrices) {
        expect(m.shard).toBe(i);
        expect(m.offset % 64).toBe(0);
        expect(m.offset).toBeGreaterThanOrEqual(end);
        end = m.offset + packedBytes(m.m, m.n, 4);
        expect(m.mPad).toBe(m.panels * 4);
        expect(m.panels).toBe(Math.ceil(m.m / 4));
        expect(m.nGroups).toBe(Math.ceil(m.n / 4));
      }
      expect(end).toBeLessThanOrEqual(s.bytes);
      // greedy: the next shard's first matrix would not have fitted here
      if (i + 1 < plan.length) {
        const next = plan[i + 1].matrices[0];
        expect(s.bytes + packedBytes(next.m, next.n, 4)).toBeGreaterThan(limit - 64 * 1024);
      }
    });
    if (kib <= 192) expect(plan.length).toBeGreaterThan(2);
  });

  it("refuses a weight that cannot fit in one shard", () => {
    expect(() => planShards(mats, { ...opts, shardBytes: 100 * 1024 })).toThrow(UserError);
    expect(() => planShards(mats, { ...opts, shardBytes: 100 * 1024 })).toThrow(/weight output \[512, 64\]/);
  });

  it("allocateShards packs each matrix at its offset, as packPanels does", () => {
    const plan = planShards(mats, { ...opts, shardBytes: 192 * 1024 });
    const mems = allocateShards(plan, mats, 4);
    expect(mems).toHaveLength(plan.length);
    plan.forEach((s, i) => {
      expect(mems[i].buffer.byteLength).toBe(s.pages * 65536);
      for (const m of s.matrices) {
        const want = new Float32Array(packedBytes(m.m, m.n, 4) / 4);
        packPanels(want, mats.find((x) => x.name === m.name)!.w, m.m, m.n, 4);
        const got = new Float32Array(mems[i].buffer, m.offset, want.length);
        let diff = 0;
        for (let j = 0; j < want.length; j++) if (!Object.is(got[j], want[j])) diff++;
        expect(diff, m.name).toBe(0);
      }
    });
  });
});
