// The seed's converted graph run quantized (src/quant/seed/quantized-graph.ts, backend.ts): integer accumulation
// checked against a plain BigInt computation from the shared reference's 8a8w codes and encodings (not the
// simulator's), the fake-quant oracle against the integer path, the graph I/O dtypes of SPEC §7.6, 16a4w_block's
// per-block weights against SPEC §7.7 written out here, and the encodings file against the reference.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { MASK_BLOCKED } from "../../src/engine/graph-io.js";
import { parseEncodingsAny } from "../../src/quant/encodings-formats.js";
import { serializeEncodings } from "../../src/quant/encodings-file.js";
import { createSeedQuantBackend } from "../../src/quant/seed/backend.js";
import { seedEncodingsFile } from "../../src/quant/seed/encodings-file.js";
import { kCacheName, LOGITS_NODE, vCacheName, type SeedGraph } from "../../src/quant/seed/node-graph.js";
import { seedPtq } from "../../src/quant/seed/ptq.js";
import { runSeedQuantGraph, seedQuantGraph, type SeedQuantGraph } from "../../src/quant/seed/quantized-graph.js";
import type { Tensor } from "../../src/quant/seed/tensor.js";
import { generate } from "../../src/runner/generate.js";
import { createSampler } from "../../src/runner/sampler.js";
import type { KvUpdater } from "../../src/quant/seed/calibrate.js";
import { FIXTURES, loadStories260K } from "../helpers/fixtures.js";
import { rng } from "../helpers/rng.js";
import { sqnrDb } from "../helpers/sqnr.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const fixture = (name: string): any => JSON.parse(gunzipSync(readFileSync(join(FIXTURES, "quant", name))).toString("utf8"));
const ref = fixture("activations_8a8w.json.gz");
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const refW: Record<string, any> = fixture("weights_8a8w.json.gz").param_encodings;
const refAct: Record<string, { scale: number; offset: number; bitwidth: number; min: number; max: number }[]> = ref.activation_encodings;

const model = loadStories260K();
const c = model.config;
const PROMPT: number[] = ref.meta.prompt_ids;
const EOS = 2;
const KV = 128;
const PRE = 32;

const kv8 = seedPtq(model, { scheme: "8a8w", mode: "kv", kvSeqLen: KV, promptTokens: PROMPT, eosId: EOS }).kv!;
const q8 = seedQuantGraph(kv8.observers, "8a8w");

/** The reference's encoding of a tensor or edge as plain numbers: real = scale·(q + offset). */
function refEnc(name: string): { scale: number; offset: number; qmax: number } {
  const e = refAct[name][0];
  return { scale: e.scale, offset: e.offset, qmax: 2 ** e.bitwidth - 1 };
}

/** A code under a reference encoding, as quantized_decomposed does: clamp(rhe(fp32(x·fp32(1/s))) − offset). */
function refCode(x: number, e: { scale: number; offset: number; qmax: number }): number {
  const v = Math.fround(x * Math.fround(1 / Math.fround(e.scale)));
  let r = Math.round(v);
  if (r - v === 0.5 && r % 2 !== 0) r -= 1;
  return Math.min(e.qmax, Math.max(0, r - e.offset));
}

/** Requantization written out: clamp(round_half_even(acc·s_a·s_b / s_out) − offset_out). */
function refRequant(acc: bigint, sa: number, sb: number, out: { scale: number; offset: number; qmax: number }): number {
  const v = (Number(acc) * (Math.fround(sa) * Math.fround(sb))) / Math.fround(out.scale);
  let r = Math.round(v);
  if (r - v === 0.5 && r % 2 !== 0) r -= 1;
  return Math.min(out.qmax, Math.max(0, r - out.offset));
}

function codesOfWeight(name: string): Int8Array {
  const b = Buffer.from(refW[name].codes_b64, "base64");
  return new Int8Array(b.buffer, b.byteOffset, b.length);
}

/** KV-graph feeds: grid values from random codes in the caches, the first `open` slots and the last column open. */
function randomKvFeeds(q: SeedQuantGraph, seed: number, open: number, token = 407, pos = open): Map<string, Tensor> {
  const g = q.graph;
  const r = rng(seed);
  const L = g.seqLen - 1;
  const mask = new Float32Array(g.seqLen).fill(MASK_BLOCKED);
  for (let i = 0; i < open; i++) mask[i] = 0;
  mask[L] = 0;
  const feeds = new Map<string, Tensor>([
    ["tokens", { shape: [1, 1], data: Float32Array.of(token) }],
    ["input_pos", { shape: [1, 1], data: Float32Array.of(pos) }],
    ["atten_mask", { shape: [1, g.seqLen], data: mask }],
  ]);
  for (let l = 0; l < c.nLayers; l++)
    for (let h = 0; h < c.nKvHeads; h++)
      for (const name of [kCacheName(l, h), vCacheName(l, h)]) {
        const e = q.out.get(name)!;
        const data = new Float32Array(c.headDim * L);
        for (let i = 0; i < data.length; i++) data[i] = Math.fround((Math.floor(r() * 256) - e.zeroPoint) * e.scale);
        feeds.set(name, { shape: name.startsWith("k") ? [1, c.headDim, L] : [1, L, c.headDim], data });
      }
  return feeds;
}

describe("integer accumulation against the reference's codes (8a8w, stories260K)", () => {
  const feeds = randomKvFeeds(q8, 7, 20);
  const int = runSeedQuantGraph(q8, feeds, "integer").values;
  const fake = runSeedQuantGraph(q8, feeds, "fake").values;

  it("a Q projection conv: Σ (q_x − z_x)·q_w in BigInt, requantized, equals the integer path code for code", () => {
    const conv = "layers.1.attention.wq_sha.3";
    const input = "layers.1.attention.hs_transpose";
    const ex = refEnc(`${input}->${conv}`);
    const eo = refEnc(conv);
    const x = int.get(input)!.data; // [1, dim, 1, 1]
    const w = codesOfWeight(`${conv}.weight`);
    const ws: number[] = refW[`${conv}.weight`].scale;
    const out = int.get(conv)!.data;
    const outFake = fake.get(conv)!.data;
    let fakeOff = 0;
    for (let o = 0; o < c.headDim; o++) {
      let acc = 0n;
      for (let i = 0; i < c.dim; i++) acc += BigInt(refCode(x[i], ex) + ex.offset) * BigInt(w[o * c.dim + i]);
      const code = refRequant(acc, ex.scale, ws[o], eo);
      expect(refCode(out[o], eo)).toBe(code);
      fakeOff = Math.max(fakeOff, Math.abs(refCode(outFake[o], eo) - code));
    }
    expect(fakeOff).toBeLessThanOrEqual(1);
  });

  it("q·k over a filled cache: the 16-bit q side times the sym8 K side, requantized to the qk encoding", () => {
    const h = 5;
    const kvHead = Math.floor(h / (c.nHeads / c.nKvHeads));
    const qk = `layers.2.attention.head.${h}.qk`;
    const a = `layers.2.attention.q_rope.${h}.cat`;
    const b = `layers.2.attention.kh_cat.${kvHead}`;
    const ea = refEnc(`${a}->${qk}`);
    const eb = refEnc(b);
    const eo = refEnc(qk);
    const qa = int.get(a)!.data; // [1, 1, hd]
    const kb = int.get(b)!.data; // [1, hd, L+1]
    const out = int.get(qk)!.data;
    const cols = KV;
    for (let j = 0; j < cols; j++) {
      let acc = 0n;
      for (let t = 0; t < c.headDim; t++) acc += BigInt(refCode(qa[t], ea) + ea.offset) * BigInt(refCode(kb[t * cols + j], eb) + eb.offset);
      expect(refCode(out[j], eo)).toBe(refRequant(acc, ea.scale, eb.scale, eo));
    }
  });

  it("every tensor with an encoding holds grid values inside its range, in both arithmetics", () => {
    for (const values of [int, fake])
      for (const [name, e] of q8.out) {
        const d = values.get(name)!.data;
        const lo = Math.fround((e.quantMin - e.zeroPoint) * e.scale);
        const hi = Math.fround((e.quantMax - e.zeroPoint) * e.scale);
        for (let i = 0; i < d.length; i += 7) {
          const q = Math.round(d[i] / e.scale) + e.zeroPoint;
          expect(Math.fround((q - e.zeroPoint) * e.scale), name).toBe(d[i]);
          expect(d[i] >= lo && d[i] <= hi, name).toBe(true);
        }
      }
  });
});

async function greedy(backend: ReturnType<typeof createSeedQuantBackend>, mode: "kv" | "hybrid", steps: number, updater: KvUpdater = "smart_mask") {
  const rows: Float32Array[] = [];
  const r = await generate({
    backend,
    config: c,
    mode,
    kvSeqLen: steps + PROMPT.length + 1,
    prefillSeqLen: PRE,
    kvUpdater: updater,
    promptTokens: PROMPT,
    stopTokens: [EOS],
    sampler: createSampler({ vocabSize: c.vocabSize, temperature: 0, seed: 0n }),
    onSampleLogits: (row) => rows.push(row.slice()),
  });
  return { tokens: r.generatedTokens, rows };
}

describe("the backend on device codes", () => {
  it("graph I/O as the export encodes it (SPEC §7.6): uint8 S8 caches, the mask's own dtype, uint16 logits", () => {
    const b8 = createSeedQuantBackend({ model, kvSeqLen: KV, ptq: { kv: kv8 } });
    expect(b8.io!.cache).toBe(Uint8Array);
    expect([b8.io!.mask, b8.io!.attend, b8.io!.blocked]).toEqual([Uint8Array, 255, 0]);
    expect(b8.io!.logits).toBe(Uint16Array); // stories: the LM head is 16a8w
    const p16 = seedPtq(model, { scheme: "16a4w", mode: "kv", kvSeqLen: 24, promptTokens: PROMPT, eosId: EOS });
    const b16 = createSeedQuantBackend({ model, kvSeqLen: 24, ptq: p16 });
    expect([b16.io!.mask, b16.io!.attend, b16.io!.blocked]).toEqual([Uint16Array, 65535, 0]);
    for (const g of [q8, b16.quantGraphs.kv!])
      for (let l = 0; l < c.nLayers; l++)
        for (let h = 0; h < c.nKvHeads; h++) expect(g.out.get(kCacheName(l, h))!.zeroPoint).toBe(128);
  });

  it("integer and fake-quant runs pick the same greedy tokens; their logits agree to > 40 dB (measured 51 dB 16a4w, 113 dB 8a8w, hybrid, kv_seq_len 46)", async () => {
    for (const scheme of ["16a4w", "8a8w"] as const) {
      const steps = 40;
      const ptq = seedPtq(model, { scheme, mode: "hybrid", kvSeqLen: steps + PROMPT.length + 1, prefillSeqLen: PRE, promptTokens: PROMPT, eosId: EOS });
      const kvSeqLen = steps + PROMPT.length + 1;
      const int = await greedy(createSeedQuantBackend({ model, kvSeqLen, prefillSeqLen: PRE, ptq, arithmetic: "integer" }), "hybrid", steps);
      const fake = await greedy(createSeedQuantBackend({ model, kvSeqLen, prefillSeqLen: PRE, ptq, arithmetic: "fake" }), "hybrid", steps);
      expect(int.tokens, scheme).toEqual(fake.tokens);
      const a = Float32Array.from(int.rows.flatMap((r) => [...r]));
      const b = Float32Array.from(fake.rows.flatMap((r) => [...r]));
      expect(sqnrDb(b, a), scheme).toBeGreaterThan(40);
    }
  });

  it("with zero-point caches Smart Mask and Shift Pointer generate the same tokens", async () => {
    const steps = 30;
    const ptq = seedPtq(model, { scheme: "16a4w", mode: "kv", kvSeqLen: steps + PROMPT.length + 1, promptTokens: PROMPT, eosId: EOS });
    const mk = () => createSeedQuantBackend({ model, kvSeqLen: steps + PROMPT.length + 1, ptq });
    const sm = await greedy(mk(), "kv", steps, "smart_mask");
    const sp = await greedy(mk(), "kv", steps, "shift_pointer");
    expect(sp.tokens).toEqual(sm.tokens);
  });
});

describe("the empty-cache-slot hazard (docs/quantization.md)", () => {
  it("zero-byte caches (the runner's allocation) give the zero-point caches' logits bit for bit: the q·k encoding clamps a masked slot's score", async () => {
    const steps = 40;
    const kvSeqLen = steps + PROMPT.length + 1;
    for (const scheme of ["16a4w", "8a8w"] as const) {
      const ptq = seedPtq(model, { scheme, mode: "kv", kvSeqLen, promptTokens: PROMPT, eosId: EOS });
      const zero = await greedy(createSeedQuantBackend({ model, kvSeqLen, ptq, fillZeroPoint: false }), "kv", steps);
      const zp = await greedy(createSeedQuantBackend({ model, kvSeqLen, ptq, fillZeroPoint: true }), "kv", steps);
      expect(zero.tokens, scheme).toEqual(zp.tokens);
      zero.rows.forEach((r, i) => expect(r, `${scheme} step ${i}`).toEqual(zp.rows[i]));
      // Code 0 of a K cache reads as -128·s in every dimension; the largest q·k that yields is far above the
      // q·k encoding's calibrated maximum, which is what a masked slot's score is clamped to.
      const g = seedQuantGraph(ptq.kv!.observers, scheme);
      const qk = g.out.get("layers.0.attention.head.0.qk")!;
      expect((qk.quantMax - qk.zeroPoint) * qk.scale / Math.sqrt(c.headDim)).toBeLessThan(255 / 4);
    }
  });
});

describe("16a4w_block (SPEC §7.7, later upstream)", () => {
  const ptq = seedPtq(model, { scheme: "16a4w_block", mode: "kv", kvSeqLen: 24, promptTokens: PROMPT, eosId: EOS });
  const q = seedQuantGraph(ptq.kv!.observers, "16a4w_block", { blockSize: 32 });

  /** SPEC §7.7 at b743cc1e: s_cb = max(amax/7, 2^-12), S_c = max_b s_cb / 16, m = clamp(round(s/S), 1, 16), code against s_cb. */
  function lpbqOracle(w: Float32Array, rows: number, cols: number, B: number): Float32Array {
    const out = new Float32Array(w.length);
    const rhe = (x: number) => {
      const r = Math.round(x);
      return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
    };
    for (let r = 0; r < rows; r++) {
      const s: number[] = [];
      for (let b = 0; b < cols / B; b++) {
        let amax = 0;
        for (let i = 0; i < B; i++) amax = Math.max(amax, Math.abs(w[r * cols + b * B + i]));
        s.push(Math.fround(Math.max(amax / 7, 2 ** -12)));
      }
      const S = Math.fround(Math.max(...s) / 16);
      s.forEach((sb, b) => {
        const m = Math.min(16, Math.max(1, rhe(sb / S)));
        for (let i = 0; i < B; i++) {
          const x = w[r * cols + b * B + i];
          const code = Math.min(7, Math.max(-7, rhe(x / sb))) + 0; // an int4 code has no −0
          out[r * cols + b * B + i] = Math.fround(code * Math.fround(m * S));
        }
      });
    }
    return out;
  }

  it("the scheme's int4 convs are per block with the device's weights; V convs (8a4w), the LM head (16a8w) and w2 (172 inputs) stay per channel", () => {
    const g: SeedGraph = q.graph;
    for (const nd of g.nodes) {
      if (nd.op !== "conv2d") continue;
      const w = q.convWeights.get(nd.name)!;
      const wv = g.byName.get(`${nd.name}.weight`)!.value!;
      const [rows] = wv.shape;
      const cols = wv.data.length / rows;
      const perChannel = /wv_sha|output\.conv|w2_conv/.test(nd.name);
      expect(w.kind, nd.name).toBe(perChannel ? "per_channel" : "per_block");
      if (!perChannel) expect(q.params.get(`${nd.name}.weight`)!.data, nd.name).toEqual(lpbqOracle(wv.data, rows, cols, 32));
    }
  });

  it("runs on codes, and its integer and fake logits agree", () => {
    const feeds = randomKvFeeds(q, 3, 10);
    const a = runSeedQuantGraph(q, feeds, "integer").values.get(LOGITS_NODE)!.data;
    const b = runSeedQuantGraph(q, feeds, "fake").values.get(LOGITS_NODE)!.data;
    expect(sqnrDb(b, a)).toBeGreaterThan(30);
  });
});

describe("the --dump_encodings file", () => {
  it("holds the reference's encoding for every tensor and edge it names (8a8w), and reads back", () => {
    const text = serializeEncodings(seedEncodingsFile({ kv: { q: q8, ptq: kv8 } }));
    const set = parseEncodingsAny(text, "dump.json");
    const ours = new Map(set.tensors.map((t) => [t.name, t]));
    let compared = 0;
    for (const [name, [e]] of Object.entries(refAct)) {
      const t = ours.get(name);
      expect(t, name).toBeDefined();
      expect(Math.fround(t!.scales[0]), name).toBe(Math.fround(e.scale));
      expect(t!.offsets[0], name).toBe(e.offset);
      expect(t!.bitwidth, name).toBe(e.bitwidth);
      compared++;
    }
    expect(compared).toBe(Object.keys(refAct).length);
    for (const [name, e] of Object.entries(refW)) {
      if (e.encoding !== "per_channel(axis 0)") continue;
      expect(ours.get(name)!.scales.map(Math.fround), name).toEqual(e.scale.map(Math.fround));
    }
  });
});
