// Seed fidelity (SPEC §7): `--ptq` computes the seed's quantized graph. The 8a8w encodings of stories260K are
// compared tensor by tensor and group by group with the independent torch-observer computation in
// test/fixtures/quant/ (see test/fixtures/README.md): every activation encoding and re-quantized edge, every
// observer group (members, spec, eps, observed range, qparams), every weight's scale, zero point and codes,
// and the calibration's token list. 16a4w is checked against SPEC §7.3's table, the node graph against the
// engine's fp32 graphs, and hybrid mode against §7.5.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createKvGraph, kvForward } from "../../src/engine/kv-graph.js";
import { causalMask } from "../../src/engine/graph-io.js";
import { createPrefillGraph, prefillForward } from "../../src/engine/prefill-graph.js";
import type { SeedEncodings } from "../../src/quant/seed/encodings.js";
import { buildSeedGraph, kvFeeds, LOGITS_NODE, newKName, newVName, prefillFeeds, runSeedGraph } from "../../src/quant/seed/node-graph.js";
import { groupIds } from "../../src/quant/seed/observers.js";
import { seedPtq } from "../../src/quant/seed/ptq.js";
import { schemeConfigs, shared, type AnySpec } from "../../src/quant/seed/qspecs.js";
import { fma32, sleefCosVec, sleefExpf, sleefSinVec } from "../../src/quant/seed/sleef.js";
import { FIXTURES, loadStories260K } from "../helpers/fixtures.js";
import { sqnrDb } from "../helpers/sqnr.js";

/** A gzip-compressed reference JSON (untyped). */
const fixture = (name: string): any => JSON.parse(gunzipSync(readFileSync(join(FIXTURES, "quant", name))).toString("utf8"));
const ref = fixture("activations_8a8w.json.gz");
const refW: Record<string, any> = fixture("weights_8a8w.json.gz").param_encodings;

const f32 = Math.fround;
const model = loadStories260K();
const c = model.config;
const PROMPT: number[] = ref.meta.prompt_ids;
const EOS = 2;
const KV_SEQ_LEN: number = ref.meta.kv_seq_len;

const kv8 = seedPtq(model, { scheme: "8a8w", mode: "kv", kvSeqLen: KV_SEQ_LEN, promptTokens: PROMPT, eosId: EOS }).kv!;
const e8 = kv8.encodings;

/** Collects "what: mine vs reference" lines for every field that differs (so one failure lists them all). */
function differ(out: string[], what: string, mine: unknown, theirs: unknown): void {
  if (JSON.stringify(mine) !== JSON.stringify(theirs)) out.push(`${what}: ${JSON.stringify(mine)} vs ${JSON.stringify(theirs)}`);
}
const sorted = (xs: Iterable<string>): string[] => [...xs].sort();
const f32s = (x: number | number[]): number | number[] => (Array.isArray(x) ? x.map(f32) : f32(x));

describe("seed 8a8w KV-graph encodings equal the torch-observer reference (stories260K, kv_seq_len 128)", () => {
  it("calibrates on the reference's tokens: the prompt teacher-forced, then fp32 greedy, 127 KV calls (no EOS)", () => {
    expect(PROMPT).toEqual([1, 403, 407, 261, 378]);
    expect(kv8.calibration.tokens).toEqual(ref.meta.calibration.tokens);
    expect(kv8.calibration.calls).toBe(ref.meta.calibration.kv_calls);
    expect(kv8.calibration.calls).toBe(127);
    expect(kv8.calibration.stoppedBy).toBe("length");
    expect(e8.calls).toBe(127);
  });

  it("has every activation encoding of the reference and no other, each exactly equal (fp32 scale, zp, range, group)", () => {
    const theirs: Record<string, any[]> = ref.activation_encodings;
    expect(sorted(Object.keys(e8.activations))).toEqual(sorted(Object.keys(theirs)));
    expect(Object.keys(theirs).length).toBe(1678);
    const bad: string[] = [];
    for (const [name, [r]] of Object.entries(theirs)) {
      const m = e8.activations[name];
      differ(bad, `${name} scale`, m.scale, f32(r.scale));
      differ(bad, `${name} offset`, m.offset, r.offset);
      differ(bad, `${name} zero point`, m.zeroPoint, -r.offset);
      differ(bad, `${name} bitwidth`, m.bitwidth, r.bitwidth);
      differ(bad, `${name} dtype`, m.dtype, r.bitwidth === 16 ? "uint16" : "uint8");
      differ(bad, `${name} symmetric`, m.isSymmetric, r.is_symmetric === "True");
      differ(bad, `${name} min`, m.min, f32(r.min));
      differ(bad, `${name} max`, m.max, f32(r.max));
      differ(bad, `${name} group`, m.group, r.group);
    }
    expect(bad).toEqual([]);
  });

  it("has the reference's observer groups: ids, members (as sets), spec, eps, observed range and qparams", () => {
    const theirs: Record<string, any> = ref.groups;
    expect(sorted(Object.keys(e8.groups))).toEqual(sorted(Object.keys(theirs)));
    const bad: string[] = [];
    for (const [id, r] of Object.entries(theirs)) {
      const m = e8.groups[Number(id)];
      differ(bad, `group ${id} members`, sorted(m.members), sorted(r.members));
      differ(bad, `group ${id} first member`, m.firstMember, r.root_member);
      differ(bad, `group ${id} spec`, m.spec, r.spec);
      differ(bad, `group ${id} observer`, m.observer, r.observer);
      differ(bad, `group ${id} qscheme`, m.qscheme, r.qscheme);
      differ(bad, `group ${id} dtype`, m.dtype, r.dtype);
      differ(bad, `group ${id} range`, [m.quantMin, m.quantMax, m.bitwidth], [r.quant_min, r.quant_max, r.bitwidth]);
      differ(bad, `group ${id} symmetric`, m.isSymmetric, r.is_symmetric);
      differ(bad, `group ${id} eps`, m.eps, r.eps);
      differ(bad, `group ${id} qparams`, [m.scale, m.zeroPoint, m.offset], [f32(r.scale), r.zero_point, r.offset]);
      differ(bad, `group ${id} encoding range`, [m.min, m.max], [f32(r.min), f32(r.max)]);
      differ(bad, `group ${id} observed`, [m.observedMin, m.observedMax], [r.observed_min ?? null, r.observed_max ?? null].map((v) => (v === null ? null : f32(v))));
      differ(bad, `group ${id} eps clamped`, m.epsClamped, r.eps_clamped ?? false);
    }
    expect(bad).toEqual([]);
  });

  it("maps every tensor to the reference's group and re-quantizes exactly the reference's edges", () => {
    expect(e8.tensorToGroup).toEqual(ref.tensor_to_group);
    const theirs = Object.fromEntries(
      Object.entries<any>(ref.edge_requant).map(([k, v]) => [k, { group: v.group, fromGroup: v.from_group }]),
    );
    expect(e8.edgeRequant).toEqual(theirs);
    expect(Object.keys(theirs).length).toBe(474);
  });

  it("has every weight's encoding and integer codes (sha256 and bytes) as the reference", () => {
    expect(sorted(Object.keys(e8.weights))).toEqual(sorted(Object.keys(refW)));
    const bad: string[] = [];
    for (const [name, r] of Object.entries(refW)) {
      const m = e8.weights[name];
      const bytes = Buffer.from(m.codes.buffer, m.codes.byteOffset, m.codes.byteLength);
      differ(bad, `${name} codes sha256`, createHash("sha256").update(bytes).digest("hex"), r.codes_sha256);
      differ(bad, `${name} codes bytes`, bytes.equals(Buffer.from(r.codes_b64, "base64")), true);
      differ(bad, `${name} codes dtype`, m.codesDtype, r.codes_dtype);
      differ(bad, `${name} group`, m.group, r.group);
      differ(bad, `${name} spec`, [m.spec, m.observer, m.qscheme], [r.spec, r.observer, r.qscheme]);
      differ(bad, `${name} dtype`, [m.dtype, m.bitwidth, m.quantMin, m.quantMax, m.isSymmetric], [r.dtype, r.bitwidth, r.quant_min, r.quant_max, r.is_symmetric]);
      differ(bad, `${name} eps`, m.eps, r.eps);
      differ(bad, `${name} encoding`, [m.encoding, m.shape], [r.encoding, r.shape]);
      differ(bad, `${name} scale`, m.scale, f32s(r.scale));
      differ(bad, `${name} zero point`, [m.zeroPoint, m.offset], [r.zero_point, r.offset]);
      if (m.encoding === "per_tensor")
        differ(bad, `${name} range`, [m.min, m.max, m.observedMin, m.observedMax], [r.min, r.max, r.observed_min, r.observed_max].map(f32));
    }
    expect(bad).toEqual([]);
  });
});

describe("seed node graph (fp32) agrees with the engine's graphs", () => {
  it("KV graph: logits, new K and new V within fp32 rounding of kvForward (SQNR >= 100 dB) over 24 cached steps", () => {
    const g = buildSeedGraph(model, { mode: "kv", seqLen: 64 });
    const eg = createKvGraph(model, 64);
    const L = 63;
    const n = c.nLayers * c.nKvHeads;
    const mask = new Float32Array(64).fill(-255);
    mask[L] = 0;
    const kC = Array.from({ length: n }, () => new Float32Array(c.headDim * L));
    const vC = Array.from({ length: n }, () => new Float32Array(L * c.headDim));
    let worst = Infinity;
    for (let pos = 0; pos < 24; pos++) {
      const inp = { tokens: Int32Array.of(kv8.calibration.tokens[pos]), attnMask: mask, inputPos: Int32Array.of(pos), kCaches: kC, vCaches: vC };
      const want = kvForward(eg, inp);
      const got = runSeedGraph(g, kvFeeds(g, inp));
      worst = Math.min(worst, sqnrDb(got.get(LOGITS_NODE)!.data, want.logits));
      for (let i = 0; i < n; i++) {
        const [l, h] = [Math.floor(i / c.nKvHeads), i % c.nKvHeads];
        const k = got.get(newKName(l, h))!.data;
        const v = got.get(newVName(l, h))!.data;
        worst = Math.min(worst, sqnrDb(k, want.kOut[i]), sqnrDb(v, want.vOut[i]));
        for (let d = 0; d < c.headDim; d++) {
          kC[i][d * L + pos] = k[d];
          vC[i][pos * c.headDim + d] = v[d];
        }
      }
      mask[pos] = 0;
    }
    expect(worst).toBeGreaterThanOrEqual(100);
  });

  it("prefill graph: logits and every K/V output within fp32 rounding of prefillForward (SQNR >= 100 dB)", () => {
    const g = buildSeedGraph(model, { mode: "prefill", seqLen: 24 });
    const tokens = new Int32Array(23);
    tokens.set(kv8.calibration.tokens.slice(0, 12));
    const inp = { tokens, attnMask: causalMask(23) };
    const want = prefillForward(createPrefillGraph(model, 24), inp);
    const got = runSeedGraph(g, prefillFeeds(g, inp));
    const scores = [sqnrDb(got.get(LOGITS_NODE)!.data, want.logits)];
    for (let i = 0; i < c.nLayers * c.nKvHeads; i++) {
      const [l, h] = [Math.floor(i / c.nKvHeads), i % c.nKvHeads];
      scores.push(sqnrDb(got.get(newKName(l, h))!.data, want.kOut[i]), sqnrDb(got.get(newVName(l, h))!.data, want.vOut[i]));
    }
    expect(Math.min(...scores)).toBeGreaterThanOrEqual(100);
  });

  it("names the nodes as the reference: every reference tensor is a node, graph input or constant of the KV graph", () => {
    const names = new Set(kv8.graph.nodes.map((n) => n.name));
    const missing = Object.keys(ref.tensor_to_group).filter((t) => !names.has(t));
    expect(missing).toEqual([]);
  });
});

describe("seed 16a4w KV-graph encodings follow SPEC §7.3 (stories260K)", () => {
  const e: SeedEncodings = seedPtq(model, { scheme: "16a4w", mode: "kv", kvSeqLen: KV_SEQ_LEN, promptTokens: PROMPT, eosId: EOS }).kv!.encodings;
  const groups = Object.values(e.groups);
  const CONV_OUT = /^(layers\.\d+\.attention\.(wq_sha\.\d+|wk_sha\.\d+|wo_sha)|layers\.\d+\.feed_forward\.w[123]_conv|output\.conv)$/;

  it("has eps 2^-12 on exactly the 16 conv-output groups per layer and the logits; every other U16 group 2^-20", () => {
    const u16 = groups.filter((g) => g.dtype === "uint16" && g.observer === "MinMaxObserver");
    const e12 = u16.filter((g) => g.eps === 2 ** -12);
    expect(e12.length).toBe(16 * c.nLayers + 1);
    expect(e12.every((g) => CONV_OUT.test(g.firstMember))).toBe(true);
    expect(u16.filter((g) => g.eps !== 2 ** -12).every((g) => g.eps === 2 ** -20)).toBe(true);
    expect(e.activations[LOGITS_NODE].group).toBe(e.activations["output.conv"].group);
    for (const w of ["tok_embeddings.weight", "norm.weight", "layers.0.attention_norm.weight", "layers.4.ffn_norm.weight"]) {
      expect(e.weights[w], w).toMatchObject({ dtype: "uint16", eps: 2 ** -20, encoding: "per_tensor", codesDtype: "<u2" });
    }
  });

  it("mask: uint16, s = 255/65535, zp 65535, one group for every head of every layer", () => {
    expect(e.activations.atten_mask).toMatchObject({ bitwidth: 16, scale: f32(255 / 65535), zeroPoint: 65535, offset: -65535 });
    expect(e.groups[e.activations.atten_mask.group].members.length).toBe(c.nLayers * c.nHeads);
  });

  it("sigmoid: fixed s = 1/65536, zp 0, shared with the silu mul's second input", () => {
    for (let l = 0; l < c.nLayers; l++) {
      const sg = `layers.${l}.feed_forward.silu_sigmoid`;
      expect(e.activations[sg]).toMatchObject({ bitwidth: 16, scale: 1 / 65536, zeroPoint: 0 });
      expect(e.groups[e.activations[sg].group].members).toContain(`${sg}->layers.${l}.feed_forward.silu_mul`);
    }
  });

  it("K and V: uint8 symmetric zp 128 per (layer, KV head); the cache input shares the new value's encoding", () => {
    for (let l = 0; l < c.nLayers; l++)
      for (let h = 0; h < c.nKvHeads; h++) {
        for (const [input, out] of [[`k_cache.${l}.${h}`, newKName(l, h)], [`v_cache.${l}.${h}`, newVName(l, h)]]) {
          expect(e.activations[out], out).toMatchObject({ bitwidth: 8, dtype: "uint8", isSymmetric: true, zeroPoint: 128 });
          expect(e.activations[input].group).toBe(e.activations[out].group);
        }
        expect(e.activations[`layers.${l}.attention.wv_sha.${h}`]).toMatchObject({ bitwidth: 8, isSymmetric: true, zeroPoint: 128 });
      }
  });

  it("weights: every conv int4 [-7, 7] per output channel (V convs included); the stories LM head int8 [-127, 127]", () => {
    for (const [name, w] of Object.entries(e.weights)) {
      if (w.encoding !== "per_channel(axis 0)") continue;
      const want = name === "output.conv.weight" ? { dtype: "int8", quantMin: -127, quantMax: 127 } : { dtype: "int4", quantMin: -7, quantMax: 7 };
      expect(w, name).toMatchObject({ ...want, isSymmetric: true, eps: 2 ** -12 });
      expect((w.zeroPoint as number[]).every((z) => z === 0)).toBe(true);
      expect(w.codes.every((q) => q >= want.quantMin && q <= want.quantMax)).toBe(true);
    }
    expect(e.weights["layers.0.attention.wv_sha.0.weight"].dtype).toBe("int4");
  });
});

describe("seed 16a4w numbers recomputed plainly from SPEC §7.1 (stories260K)", () => {
  const ptq = seedPtq(model, { scheme: "16a4w", mode: "kv", kvSeqLen: KV_SEQ_LEN, promptTokens: PROMPT, eosId: EOS }).kv!;
  const e = ptq.encodings;
  const g = buildSeedGraph(model, { mode: "kv", seqLen: KV_SEQ_LEN });
  const rhe = (x: number): number => {
    const r = Math.round(x);
    return (r - x === 0.5 && r % 2 !== 0 ? r - 1 : r) + 0;
  };
  const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
  const code = (x: number, s: number, zp: number, lo: number, hi: number) => clamp(rhe(f32(x * f32(1 / s))) + zp, lo, hi);
  /** Affine: lo = min(x, 0), hi = max(x, 0), s = max(fp32(fp32(hi - lo) / (qmax - qmin)), eps), zp = clamp(qmin - rhe(lo / s)). */
  const affine = (mn: number, mx: number, qmin: number, qmax: number, eps: number) => {
    const lo = Math.min(mn, 0);
    const hi = Math.max(mx, 0);
    const s = Math.max(f32(f32(hi - lo) / (qmax - qmin)), f32(eps));
    return { s, zp: clamp(qmin - rhe(f32(lo / s)), qmin, qmax) };
  };

  it("every per-channel conv weight: s_c = max(amax_c / qmax, 2^-12), codes clamp(rhe(w·fp32(1/s_c)), ±qmax)", () => {
    let n = 0;
    for (const [name, w] of Object.entries(e.weights)) {
      if (w.encoding !== "per_channel(axis 0)") continue;
      const v = g.byName.get(name)!.value!;
      const rows = v.shape[0];
      const cols = v.data.length / rows;
      const qmax = name === "output.conv.weight" ? 127 : 7;
      for (let r = 0; r < rows; r++) {
        let amax = 0;
        for (let i = 0; i < cols; i++) amax = Math.max(amax, Math.abs(v.data[r * cols + i]));
        const s = Math.max(f32(amax / qmax), f32(2 ** -12));
        expect((w.scale as number[])[r], `${name}[${r}]`).toBe(s);
        const want = Array.from({ length: cols }, (_, i) => code(v.data[r * cols + i], s, 0, -qmax, qmax));
        expect(Array.from(w.codes.subarray(r * cols, (r + 1) * cols)), `${name}[${r}]`).toEqual(want);
      }
      n++;
    }
    expect(n).toBe(c.nLayers * (c.nHeads + 2 * c.nKvHeads + 4) + 1);
  });

  it("the RMSNorm weights and the embedding table: uint16 affine per tensor over the whole tensor, eps 2^-20", () => {
    for (const name of ["tok_embeddings.weight", "norm.weight", ...Array.from({ length: c.nLayers }, (_, l) => [`layers.${l}.attention_norm.weight`, `layers.${l}.ffn_norm.weight`]).flat()]) {
      const v = g.byName.get(name)!.value!.data;
      let mn = Infinity;
      let mx = -Infinity;
      for (const x of v) [mn, mx] = [Math.min(mn, x), Math.max(mx, x)];
      const { s, zp } = affine(mn, mx, 0, 65535, 2 ** -20);
      expect([e.weights[name].scale, e.weights[name].zeroPoint], name).toEqual([s, zp]);
      for (let i = 0; i < v.length; i += 3) expect(e.weights[name].codes[i], `${name}[${i}]`).toBe(code(v[i], s, zp, 0, 65535));
    }
  });

  it("every MinMax activation group: its scale and zero point from its observed range, affine (uint16) or sym8 (zp 128)", () => {
    let n = 0;
    for (const grp of Object.values(e.groups)) {
      if (grp.observer !== "MinMaxObserver") continue;
      const mn = grp.observedMin!;
      const mx = grp.observedMax!;
      if (grp.isSymmetric) {
        const amax = Math.max(-Math.min(mn, 0), Math.max(mx, 0));
        expect([grp.scale, grp.zeroPoint], `group ${grp.id}`).toEqual([Math.max(f32(amax / 127.5), f32(grp.eps!)), 128]);
      } else {
        const { s, zp } = affine(mn, mx, 0, grp.dtype === "uint16" ? 65535 : 255, grp.eps!);
        expect([grp.scale, grp.zeroPoint], `group ${grp.id}`).toEqual([s, zp]);
      }
      n++;
    }
    expect(n).toBe(913); // stories260K's 16a4w KV graph has 913 MinMax activation groups
  });
});

describe("seed hybrid calibration (SPEC §7.5)", () => {
  const P = 16;
  const r = seedPtq(model, { scheme: "16a4w", mode: "hybrid", kvSeqLen: 32, prefillSeqLen: P + 1, promptTokens: PROMPT, eosId: EOS });

  it("calibrates the prefill graph P - n times, appending argmax of row pos - 1 (the KV run's greedy tokens)", () => {
    expect(r.prefill!.calibration.calls).toBe(P - PROMPT.length);
    expect(r.prefill!.calibration.tokens).toEqual(kv8.calibration.tokens.slice(0, P));
  });

  it("forces the KV graph's output encodings onto the prefill graph's outputs", () => {
    const kv = r.kv!.encodings.activations;
    const pre = r.prefill!.encodings.activations;
    for (const name of r.prefill!.graph.outputNames) {
      const pick = (x: typeof kv[string]) => [x.scale, x.zeroPoint, x.bitwidth];
      expect(pick(pre[name]), name).toEqual(pick(kv[name]));
      expect(r.prefill!.encodings.groups[pre[name].group].observer).toBe("FixedQParamsObserver");
    }
  });
});

describe("seed quantizer building blocks", () => {
  it("groups edges and nodes as PT2E's union-find (torch prepare.py docstring: op1/op2 -> cat1 -> cat2 <- op3)", () => {
    const q = schemeConfigs("8a8w").perTensor.act;
    const users = new Map([["op1", ["cat1"]], ["op2", ["cat1"]], ["op3", ["cat2"]], ["cat1", ["cat2"]], ["cat2", []]]);
    const specs = new Map<string, AnySpec>([
      ["op1", q],
      ["op2", q],
      ["op1->cat1", q],
      ["op2->cat1", shared("op1->cat1")],
      ["cat1", shared("op1->cat1")],
      ["op3->cat2", q],
      ["cat1->cat2", shared("op3->cat2")],
      ["cat2", shared("op3->cat2")],
    ]);
    const ids = groupIds(users, specs);
    expect(new Set(ids.values())).toEqual(new Set([0]));
    // A producer's output in another dtype/range is not shared implicitly: the edge starts its own group.
    const pc = schemeConfigs("8a8w").perChannel.act;
    const split = groupIds(new Map([["a", ["b"]], ["b", []]]), new Map<string, AnySpec>([["a", q], ["a->b", pc], ["b", pc]]));
    expect([split.get("a"), split.get("a->b"), split.get("b")]).toEqual([0, 1, 2]);
  });

  it("fma32 rounds the exact a·b + c once (a float64 sum landing on an fp32 midpoint is resolved by its error)", () => {
    // 24929 · 673 = 2^24 + 1, the midpoint between 16777216 and 16777218; ± 2^-30 is lost in the float64 sum.
    expect(fma32(24929, 673, 2 ** -30)).toBe(16777218);
    expect(fma32(24929, 673, -(2 ** -30))).toBe(16777216);
    expect(fma32(24929, 673, 0)).toBe(16777216);
    expect(fma32(3, 5, 7)).toBe(22);
  });

  it("SLEEF exp/sin/cos stay within 1 ulp of the exact function (both sin/cos reduction paths)", () => {
    const ulp = (x: number) => {
      const b = new Float32Array([Math.abs(x)]);
      const i = new Int32Array(b.buffer);
      i[0] += 1;
      return b[0] - Math.abs(x);
    };
    let worst = 0;
    for (let x = -103; x < 88; x += 0.37) {
      const v = f32(x);
      worst = Math.max(worst, Math.abs(sleefExpf(v) - Math.exp(v)) / ulp(Math.exp(v)));
    }
    const angles = Float32Array.from({ length: 4096 }, (_, i) => f32((i - 2048) * 0.0977));
    const sin = sleefSinVec(angles);
    const cos = sleefCosVec(angles);
    for (let i = 0; i < angles.length; i++) {
      worst = Math.max(worst, Math.abs(sin[i] - Math.sin(angles[i])) / ulp(Math.sin(angles[i])));
      worst = Math.max(worst, Math.abs(cos[i] - Math.cos(angles[i])) / ulp(Math.cos(angles[i])));
    }
    expect(worst).toBeLessThanOrEqual(1);
    expect([sleefExpf(0), sleefSinVec(new Float32Array(1))[0], sleefCosVec(new Float32Array(1))[0]]).toEqual([1, 0, 1]);
  });
});
