// The threaded WebAssembly SIMD integer kernels (src/compute/integer-kernel.ts, driven by integer-fast.ts) against the
// plain integer path (integer.ts integerConvRows, the oracle) at 1 and 2 threads: the raw block sums at the overflow
// bound of every layout (int8 by 8 and by 32 columns, packed int4), bit-identical conv outputs and identical accumulator
// statistics on random and extreme codes (sums far past int32), per channel int4 / int8 and LPBQ, T = 1 and T > 1; and
// the attention matmuls' SIMD kernels (q·K, softmax·V) on arbitrary and extreme values, odd widths and fallbacks; and
// whole quantized graphs of stories260K and tiny_llama3 in every current scheme with the kernel on two threads, decode
// steps and a batched (AR 16) call.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIntegerKernel, createIntegerKernelSync, integerKernelSupported, MAX_BLOCK, rowBytes, type IntegerKernel, type IntegerLayout } from "../../../src/compute/integer-kernel.js";
import { convLayout, createFastConvRows, createWasmAttention } from "../../../src/quant/current/integer-fast.js";
import { integerConvRows, integerProbsTimesV, integerScores, type AttentionIntegerEncodings, type IntegerStats } from "../../../src/quant/current/integer.js";
import type { KvView } from "../../../src/engine/attention.js";
import type { ConvWeights } from "../../../src/quant/current/weights.js";
import type { QuantEncoding } from "../../../src/quant/affine.js";
import { createCurrentQuantizedBackend, currentQuantizedBackend } from "../../../src/quant/current/quantized-backend.js";
import { createCurrentSession } from "../../../src/runner/current-session.js";
import { allocArCaches, allocArOutputs, arCausalMask } from "../../../src/engine/ar-graph-io.js";
import { calibrateSchemeCase, quantModels } from "../../helpers/current-quant.js";
import { rng } from "../../helpers/rng.js";
import { quantizeAct } from "../../../src/quant/current/activations.js";
import { edgeValues } from "../../helpers/edge-values.js";

const enc = (bits: 8 | 16, zeroPoint: number, scale: number): QuantEncoding => ({ scale: Math.fround(scale), zeroPoint, offset: -zeroPoint, qmin: 0, qmax: 2 ** bits - 1, bitwidth: bits, signed: false, symmetric: false });
const newStats = (): IntegerStats => ({ int32Overflows: 0, maxAccumulator: 0 });

function weights(rand: () => number, rows: number, cols: number, kind: "int4" | "int8" | "lpbq", block = 32, extreme?: number): ConvWeights {
  const qmax = kind === "int4" || kind === "lpbq" ? 7 : 127;
  const qmin = -qmax - 1;
  const codes = new Int8Array(rows * cols);
  for (let i = 0; i < codes.length; i++) codes[i] = extreme !== undefined ? (extreme < 0 ? qmin : qmax) : qmin + Math.floor(rand() * (qmax - qmin + 1));
  const channelScales = Float32Array.from({ length: rows }, () => Math.fround(0.001 + rand() * 0.01));
  const base = { rows, cols, codes, groupScales: channelScales, channelScales, step: 1, device: new Float32Array(0) };
  if (kind !== "lpbq") return { ...base, spec: { kind: "per_channel", bits: kind === "int4" ? 4 : 8, qmax } };
  const multipliers = Uint8Array.from({ length: (rows * cols) / block }, () => 1 + Math.floor(rand() * 16));
  return { ...base, spec: { kind: "lpbq", blockSize: block, qmax }, multipliers };
}

function activations(rand: () => number, T: number, cols: number, e: QuantEncoding, code?: number): Float32Array {
  const x = new Float32Array(T * cols);
  for (let i = 0; i < x.length; i++) x[i] = Math.fround(((code ?? Math.floor(rand() * (e.qmax + 1))) - e.zeroPoint) * e.scale);
  return x;
}

describe.skipIf(!integerKernelSupported())("threaded integer kernels", () => {
  let k2: IntegerKernel;
  beforeAll(async () => {
    // every call split over both threads, however small
    k2 = await createIntegerKernel(2, { parallelMinMacs: 0 });
  });
  afterAll(() => k2?.dispose());

  it("raw block sums are exact at the overflow bound in every layout (|x'| = 32768, |w| = 128 / 8, blocks of 1024)", () => {
    for (const k of [createIntegerKernelSync(), k2])
      for (const layout of ["i8x8", "i8x32", "i4x32"] as IntegerLayout[])
        for (const [xv, wv] of [[-32768, layout === "i4x32" ? -8 : -128], [32767, layout === "i4x32" ? 7 : 127], [-32768, layout === "i4x32" ? 7 : 127]]) {
          const rows = 3;
          const T = 2;
          const cols = 4 * MAX_BLOCK;
          const rb = rowBytes(layout, cols);
          const w = k.alloc(rows * rb);
          const x = k.alloc(T * cols * 2);
          const out = k.alloc(rows * T * 4 * 8);
          new Int8Array(k.memory.buffer, w, rows * rb).fill(layout === "i4x32" ? (wv & 15) | (wv << 4) : wv);
          new Int16Array(k.memory.buffer, x, T * cols).fill(xv);
          k.qdot(layout, x, w, out, T, rows, cols, MAX_BLOCK);
          const o = new Float64Array(k.memory.buffer, out, rows * T * 4);
          expect([...o], `${layout} ${xv}·${wv}`).toEqual(new Array(rows * T * 4).fill(xv * wv * MAX_BLOCK));
        }
  });

  it("qx: the activation codes equal quantizeAct − 32768 on ties, clamping at both ends, −0, off-grid values (both kernels)", () => {
    const rand = rng(31);
    for (const kern of [createIntegerKernelSync(), k2!])
      for (const e of [enc(16, 32768, 1e-3), enc(16, 0, 0.37), enc(16, 65535, 2e-4), enc(8, 128, 0.02), enc(8, 0, 0.5), enc(8, 255, 0.25)]) {
        const n = 4096;
        const x = edgeValues(rand, n, e);
        const src = kern.alloc(n * 4);
        const dst = kern.alloc(n * 2);
        new Float32Array(kern.memory.buffer, src, n).set(x);
        const inv = Math.fround(1 / e.scale);
        kern.qx(src, dst, n, inv, e.zeroPoint, e.qmin, e.qmax);
        const got = Array.from(new Int16Array(kern.memory.buffer, dst, n));
        expect(got).toEqual(Array.from(x, (v) => quantizeAct(v, e) - 32768));
      }
    expect(() => createIntegerKernelSync().qx(0, 0, 12, 1, 0, 0, 255)).toThrow(/multiple of 8/);
  });

  it("is bit-identical to the plain path at 1 and 2 threads (int4, int8, LPBQ; T = 1 and T > 1; odd widths), statistics alike", () => {
    const rand = rng(21);
    const eOut = enc(16, 30000, 0.05);
    const fast1 = createFastConvRows(createIntegerKernelSync());
    const fast2 = createFastConvRows(k2);
    const cases = [["int8", 9, 37, 0], ["int4", 16, 768, 0], ["int4", 7, 100, 0], ["int8", 5, 2500, 0], ["lpbq", 8, 256, 16], ["lpbq", 6, 2048, 64], ["lpbq", 3, 96, 32], ["lpbq", 4, 128, 8]] as const;
    const layouts = new Set<string>();
    for (const [kind, rows, cols, block] of cases) {
      const w = weights(rand, rows, cols, kind, block || 32);
      layouts.add(convLayout(w)?.layout ?? "plain");
      for (const T of [1, 5])
        for (const eIn of [enc(16, 32768, 1e-3), enc(16, 0, 1e-3), enc(16, 65535, 1e-3), enc(8, 128, 0.02), enc(8, 0, 0.02)]) {
          const x = activations(rand, T, cols, eIn);
          const ys = [0, 1, 2].map(() => new Float32Array(T * rows));
          const ss = [newStats(), newStats(), newStats()];
          integerConvRows(ys[0], w, x, T, eIn, eOut, ss[0]);
          fast1(ys[1], w, x, T, eIn, eOut, ss[1]);
          fast2(ys[2], w, x, T, eIn, eOut, ss[2]);
          expect(Buffer.from(ys[1].buffer), `${kind} ${cols} T ${T}`).toEqual(Buffer.from(ys[0].buffer));
          expect(Buffer.from(ys[2].buffer), `${kind} ${cols} T ${T} 2 threads`).toEqual(Buffer.from(ys[0].buffer));
          expect(ss[1]).toEqual(ss[0]);
          expect(ss[2]).toEqual(ss[0]);
        }
    }
    expect([...layouts].sort()).toEqual(["i4x32", "i8x32", "i8x8"]);
    expect(k2.poolStats!.parallelJobs).toBeGreaterThan(0);
  });

  it("stays exact where an int32 accumulator would wrap (all 65535 × 127 / −128 over 8192 columns), same overflow counts", () => {
    const rand = rng(23);
    const eOut = enc(16, 32768, 1000);
    const fast2 = createFastConvRows(k2);
    for (const [kind, extreme, block] of [["int8", 1, 0], ["int8", -1, 0], ["int4", -1, 0], ["lpbq", 1, 64], ["lpbq", -1, 1024]] as const) {
      const w = weights(rand, 5, 8192, kind, block || 32, extreme);
      for (const [eIn, code] of [[enc(16, 0, 1e-4), 65535], [enc(16, 65535, 1e-4), 0]] as const)
        for (const T of [1, 3]) {
          const x = activations(rand, T, 8192, eIn, code);
          const a = new Float32Array(T * 5);
          const b = new Float32Array(T * 5);
          const sa = newStats();
          const sb = newStats();
          integerConvRows(a, w, x, T, eIn, eOut, sa);
          fast2(b, w, x, T, eIn, eOut, sb);
          expect(Buffer.from(b.buffer)).toEqual(Buffer.from(a.buffer));
          expect(sb).toEqual(sa);
          expect(sa.maxAccumulator).toBeGreaterThan(2 ** 31);
          expect(sa.int32Overflows).toBe(5 * T);
        }
    }
  });

  it("attention matmuls: bit-identical scores / outputs and statistics (off-grid values, ties, clamping, extremes, odd widths, NaN)", () => {
    const rand = rng(31);
    const att = createWasmAttention();
    const encs = (kv: 8 | 16, zp: number): AttentionIntegerEncodings => ({
      q: enc(16, 32768, 1e-3),
      k: enc(kv, zp, kv === 8 ? 0.05 : 2e-3),
      v: enc(kv, zp, kv === 8 ? 0.05 : 2e-3),
      qk: enc(16, 20000, 0.5),
      softmax: enc(16, 0, 1 / 65535),
      attn: enc(16, 32768, 1e-3),
    });
    const value = (e: QuantEncoding, mode: number) => {
      const r = rand();
      if (mode === 1) return Math.fround((r < 0.5 ? -1 : 1) * 1e6); // clamps at either end
      if (mode === 2) return Math.fround((Math.floor(r * 600) - 300 + 0.5) * e.scale); // ties
      if (mode === 3) return r < 0.5 ? -0 : Math.fround(-1e-9);
      return Math.fround((r - 0.5) * e.scale * (e.qmax + 1) * 1.2);
    };
    for (const [kv, zp] of [[16, 32768], [16, 0], [16, 65535], [8, 128], [8, 0]] as const)
      for (const hd of [64, 12, 6])
        for (const cols of [1, 7, 64, 131]) {
          const e = encs(kv, zp);
          const CL = cols + 5;
          const kh = Float32Array.from({ length: hd * CL }, (_, i) => value(e.k, i % 5));
          const vh = Float32Array.from({ length: CL * hd }, (_, i) => value(e.v, (i * 7) % 5));
          const views: KvView[] = [
            { kData: kh, kOff: 0, kRowStride: CL, kColStride: 1, vData: vh, vOff: 0, vRowStride: hd },
            { kData: kh, kOff: 2, kRowStride: 1, kColStride: hd, vData: vh, vOff: 3, vRowStride: hd + 1 }, // strided: the fallbacks
          ];
          const q = Float32Array.from({ length: hd + 3 }, () => value(e.q, 0));
          const p = Float32Array.from({ length: cols }, () => Math.fround(rand()));
          if (cols > 2) p[1] = 1; // the largest code
          for (const view of views) {
            if (view.kColStride !== 1 && (view.kOff + (hd - 1) * view.kRowStride + (cols - 1) * view.kColStride >= kh.length || view.vOff + (cols - 1) * view.vRowStride + hd > vh.length)) continue;
            const [sa, sb] = [newStats(), newStats()];
            const [a, b] = [new Float32Array(cols), new Float32Array(cols)];
            integerScores(q, 3, hd, view, cols, a, e, sa);
            att.scores(q, 3, hd, view, cols, b, e, sb);
            expect(Buffer.from(b.buffer), `scores kv${kv} zp ${zp} hd ${hd} cols ${cols}`).toEqual(Buffer.from(a.buffer));
            const [ya, yb] = [new Float32Array(hd + 2), new Float32Array(hd + 2)];
            integerProbsTimesV(p, cols, hd, view, ya, 2, e, sa);
            att.timesV(p, cols, hd, view, yb, 2, e, sb);
            expect(Buffer.from(yb.buffer), `timesV kv${kv} zp ${zp} hd ${hd} cols ${cols}`).toEqual(Buffer.from(ya.buffer));
            expect(sb).toEqual(sa);
          }
        }
    // all codes at the extremes: |q − z|·|k − z| = 65535² per term, far past int32
    const e = { ...encs(16, 0), q: enc(16, 0, 1e-3) };
    const hd = 64;
    const cols = 33;
    const view: KvView = { kData: new Float32Array(hd * cols).fill(1e6), kOff: 0, kRowStride: cols, kColStride: 1, vData: new Float32Array(cols * hd).fill(1e6), vOff: 0, vRowStride: hd };
    const q = new Float32Array(hd).fill(1e6);
    const [sa, sb] = [newStats(), newStats()];
    const [a, b] = [new Float32Array(cols), new Float32Array(cols)];
    integerScores(q, 0, hd, view, cols, a, e, sa);
    att.scores(q, 0, hd, view, cols, b, e, sb);
    expect(Buffer.from(b.buffer)).toEqual(Buffer.from(a.buffer));
    expect(sb).toEqual(sa);
    expect(sa.maxAccumulator).toBe(65535 * 65535 * hd);
    // a NaN in K goes through the plain function (NaN scores, as before)
    view.kData[5] = NaN;
    integerScores(q, 0, hd, view, cols, a, e, sa);
    att.scores(q, 0, hd, view, cols, b, e, sb);
    expect([...b].map(String)).toEqual([...a].map(String));
    expect(sb).toEqual(sa);
  });

  it("whole quantized graphs on two threads: logits bit-identical to the plain path in every scheme, decode and AR 16 calls", async () => {
    const CL = 32;
    for (const m of await quantModels())
      for (const scheme of ["16a4w", "16a4w_block", "16a8w", "8a8w"] as const) {
        const e = calibrateSchemeCase(m, CL, scheme);
        const run = async (plain: boolean) => {
          // the fast run: every conv split over both threads (stories260K, via createCurrentQuantizedBackend's default
          // threshold otherwise), bit-identical whatever the split
          const kernel = plain ? undefined : await createIntegerKernel(2, { parallelMinMacs: 0 });
          const b = plain
            ? currentQuantizedBackend(m.model, e, { contextLen: CL, arLens: [1, 16], integerPath: "plain" })
            : m.id === "stories260K"
              ? currentQuantizedBackend(m.model, e, { contextLen: CL, arLens: [1, 16], integerKernel: kernel, ownKernel: true })
              : await createCurrentQuantizedBackend(m.model, e, { contextLen: CL, arLens: [1, 16], threads: 2 });
          if (m.id !== "stories260K") kernel?.dispose();
          const rows: number[] = [];
          // a batched call: AR 16 at position 0
          const c = m.model.config;
          const caches = allocArCaches(c, CL, 16);
          const tokens = Int32Array.from({ length: 16 }, (_, i) => m.prompt[i % m.prompt.length]);
          const out = allocArOutputs(c, CL, 16);
          await b.executeAr!(16, { tokens, attnMask: arCausalMask(CL, 16, 0), inputPos: Int32Array.from({ length: 16 }, (_, i) => i), ...caches }, out);
          rows.push(...out.logits);
          // decode steps (kv mode)
          const s = createCurrentSession({ backend: b, config: c, mode: "kv", contextLen: CL, prefillArLen: 16, maxSeqLen: 12, promptTokens: m.prompt.slice(0, 3), sampleRawCodes: false });
          for (let k = 0; k < 6 && s.phase !== "done"; k++) {
            const r = await s.call();
            rows.push(...r.row);
            s.advance(r.row.indexOf(Math.max(...r.row)));
          }
          const stats = { ...b.integerStats };
          if (kernel && m.id === "stories260K") expect(kernel.poolStats!.parallelJobs).toBeGreaterThan(0);
          b.dispose();
          return { rows, stats };
        };
        const [plain, fast] = [await run(true), await run(false)];
        expect(fast.rows.length, `${m.id} ${scheme}`).toBeGreaterThan(16 * m.model.config.vocabSize);
        expect(Buffer.from(Float64Array.from(fast.rows).buffer).equals(Buffer.from(Float64Array.from(plain.rows).buffer)), `${m.id} ${scheme}`).toBe(true);
        expect(fast.stats, `${m.id} ${scheme}`).toEqual(plain.stats);
      }
  }, 60_000);
});
