// The WebAssembly SIMD integer conv (integer-fast.ts over compute/integer-kernel.ts) against the plain integer path
// (integer.ts integerConvRows, the oracle): bit-identical outputs and identical accumulator statistics on random and
// extreme codes (sums far past int32, every zero point edge), per channel int4 / int8 and LPBQ, one and many tokens;
// and whole quantized graphs of stories260K and tiny_llama3 in every current scheme, decode and batched calls.
import { describe, expect, it } from "vitest";
import { createFastConvRows, createFastFakeQuant } from "../../../src/quant/current/integer-fast.js";
import { fakeQuantInPlace } from "../../../src/quant/current/activations.js";
import { integerConvRows, type IntegerStats } from "../../../src/quant/current/integer.js";
import type { ConvWeights } from "../../../src/quant/current/weights.js";
import type { QuantEncoding } from "../../../src/quant/affine.js";
import { intDotSupported } from "../../../src/compute/int-dot.js";
import { currentQuantizedBackend } from "../../../src/quant/current/quantized-backend.js";
import { createCurrentSession } from "../../../src/runner/current-session.js";
import { calibrateCase, calibrateSchemeCase, quantModels } from "../../helpers/current-quant.js";
import { rng } from "../../helpers/rng.js";
import { edgeValues } from "../../helpers/edge-values.js";
import { allocArCaches, allocArOutputs, arCausalMask } from "../../../src/engine/ar-graph-io.js";
import { fakeQuant } from "../../../src/quant/current/activations.js";
import { encodingOf, kCacheName, vCacheName } from "../../../src/quant/current/encodings.js";

const enc = (bits: 8 | 16, zeroPoint: number, scale: number): QuantEncoding => ({ scale: Math.fround(scale), zeroPoint, offset: -zeroPoint, qmin: 0, qmax: 2 ** bits - 1, bitwidth: bits, signed: false, symmetric: false });

function weights(rand: () => number, rows: number, cols: number, kind: "int4" | "int8" | "lpbq", block = 32, extreme = false): ConvWeights {
  const qmax = kind === "int4" || kind === "lpbq" ? 7 : 127;
  const qmin = -qmax - 1;
  const codes = new Int8Array(rows * cols);
  for (let i = 0; i < codes.length; i++) codes[i] = extreme ? (i % 3 === 0 ? qmax : qmin) : qmin + Math.floor(rand() * (qmax - qmin + 1));
  const channelScales = Float32Array.from({ length: rows }, () => Math.fround(0.001 + rand() * 0.01));
  const base = { rows, cols, codes, groupScales: channelScales, channelScales, step: 1, device: new Float32Array(0) };
  if (kind !== "lpbq") return { ...base, spec: { kind: "per_channel", bits: kind === "int4" ? 4 : 8, qmax } };
  const nb = cols / block;
  const multipliers = Uint8Array.from({ length: rows * nb }, () => 1 + Math.floor(rand() * 16));
  return { ...base, spec: { kind: "lpbq", blockSize: block, qmax }, multipliers };
}

/** Activations on eIn's grid: codes drawn uniformly (or all at one end), as values. */
function activations(rand: () => number, T: number, cols: number, e: QuantEncoding, code?: number): Float32Array {
  const x = new Float32Array(T * cols);
  for (let i = 0; i < x.length; i++) {
    const q = code ?? Math.floor(rand() * (e.qmax + 1));
    x[i] = Math.fround((q - e.zeroPoint) * e.scale);
  }
  return x;
}

function compare(w: ConvWeights, x: Float32Array, T: number, eIn: QuantEncoding, eOut: QuantEncoding) {
  const a = new Float32Array(T * w.rows);
  const b = new Float32Array(T * w.rows);
  const sa: IntegerStats = { int32Overflows: 0, maxAccumulator: 0 };
  const sb: IntegerStats = { int32Overflows: 0, maxAccumulator: 0 };
  integerConvRows(a, w, x, T, eIn, eOut, sa);
  createFastConvRows()(b, w, x, T, eIn, eOut, sb);
  expect(Buffer.from(b.buffer)).toEqual(Buffer.from(a.buffer));
  expect(sb).toEqual(sa);
  return sa;
}

describe.skipIf(!intDotSupported())("fast integer conv", () => {
  it("is bit-identical to the plain path on random codes (int4, int8, LPBQ; 1 and many tokens; odd widths)", () => {
    const rand = rng(7);
    const eOut = enc(16, 30000, 0.05);
    for (const [kind, rows, cols, block] of [["int8", 9, 37, 0], ["int4", 16, 768, 0], ["int8", 5, 2500, 0], ["lpbq", 8, 256, 16], ["lpbq", 6, 2048, 64], ["lpbq", 3, 96, 32]] as const)
      for (const T of [1, 3, 17])
        for (const eIn of [enc(16, 32768, 1e-3), enc(16, 0, 1e-3), enc(16, 65535, 1e-3), enc(8, 128, 0.02), enc(8, 0, 0.02)]) {
          const w = weights(rand, rows, cols, kind, block || 32);
          compare(w, activations(rand, T, cols, eIn), T, eIn, eOut);
        }
  });

  it("stays exact where an int32 accumulator would wrap (extreme codes over 8192 columns), counting the same overflows", () => {
    const rand = rng(9);
    const eIn = enc(16, 0, 1e-4);
    const eOut = enc(16, 32768, 1000);
    const w = weights(rand, 4, 8192, "int8", 0, true);
    const s = compare(w, activations(rand, 2, 8192, eIn, 65535), 2, eIn, eOut);
    expect(s.maxAccumulator).toBeGreaterThan(2 ** 31);
    expect(s.int32Overflows).toBeGreaterThan(0);
    const e8 = enc(16, 65535, 1e-4);
    compare(w, activations(rand, 2, 8192, e8, 0), 2, e8, eOut);
  });

  it("the float32 SIMD q/dq equals fakeQuantInPlace: ties, clamping at both ends, −0, tails, and a NaN reported alike", () => {
    const rand = rng(11);
    const fq = createFastFakeQuant();
    for (const e of [enc(16, 32768, 1e-3), enc(16, 0, 0.37), enc(8, 128, 0.02), enc(8, 0, 0.5), enc(8, 255, 0.25)])
      for (const n of [64, 67, 1001, 4096]) {
        const x = edgeValues(rand, n, e);
        const a = x.slice();
        const b = x.slice();
        fakeQuantInPlace(a, e, 3, n);
        fq(b, e, 3, n);
        expect(Buffer.from(b.buffer)).toEqual(Buffer.from(a.buffer));
      }
    const bad = new Float32Array(128).fill(1);
    bad[77] = NaN;
    expect(() => fq(bad.slice(), enc(8, 0, 0.1))).toThrow(/NaN at element 77/);
  });

  it("integer arithmetic reads cache inputs without their q/dq: raw off-grid caches give the outputs their q/dq'd copies give", async () => {
    const rand = rng(21);
    for (const m of await quantModels())
      for (const scheme of ["16a4w", "8a8w"] as const) {
        const CL = 32;
        const e = calibrateCase(m, { CL, scheme });
        const c = m.model.config;
        for (const ar of [1, 8])
          for (const integerPath of ["fast", "plain"] as const) {
            const b = currentQuantizedBackend(m.model, e, { contextLen: CL, arLens: [ar], integerPath });
            const caches = allocArCaches(c, CL, ar);
            // values anywhere in and past each cache's range, off the grid
            for (const x of [...caches.kCaches, ...caches.vCaches]) for (let i = 0; i < x.length; i++) x[i] = (rand() - 0.5) * 8;
            const snapped = {
              kCaches: caches.kCaches.map((k, l) => fakeQuant(k, encodingOf(e, kCacheName(l)))),
              vCaches: caches.vCaches.map((v, l) => fakeQuant(v, encodingOf(e, vCacheName(l)))),
            };
            const tokens = Int32Array.from({ length: ar }, (_, i) => (i * 7 + 3) % c.vocabSize);
            const base = { tokens, attnMask: arCausalMask(CL, ar, 10), inputPos: Int32Array.from({ length: ar }, (_, i) => 10 + i) };
            const raw = allocArOutputs(c, CL, ar);
            const ref = allocArOutputs(c, CL, ar);
            b.executeArSync(ar, { ...base, ...caches }, raw);
            b.executeArSync(ar, { ...base, ...snapped }, ref);
            expect(Buffer.from(raw.logits.buffer), `${m.id} ${scheme} AR ${ar} ${integerPath}`).toEqual(Buffer.from(ref.logits.buffer));
            raw.kOut.forEach((k, l) => expect(Buffer.from(k.buffer)).toEqual(Buffer.from(ref.kOut[l].buffer)));
            expect(snapped.kCaches[0]).not.toEqual(caches.kCaches[0]); // the raw caches really are off the grid
          }
      }
  }, 60_000);

  it("whole quantized graphs: logits bit-identical to the plain path in every scheme, decode and batched calls", async () => {
    for (const m of await quantModels())
      for (const scheme of ["16a4w", "16a4w_block", "16a8w", "8a8w"] as const) {
        const CL = 32;
        const e = calibrateSchemeCase(m, CL, scheme);
        const run = async (plain: boolean) => {
          const b = currentQuantizedBackend(m.model, e, { contextLen: CL, arLens: [1, 8], ...(plain ? { integerPath: "plain" as const } : {}), ...(scheme === "8a8w" && m.id === "tiny_llama3" ? { arithmetic: "fake" as const } : {}) });
          const s = createCurrentSession({ backend: b, config: m.model.config, mode: "hybrid", contextLen: CL, prefillArLen: 8, maxSeqLen: 20, promptTokens: m.prompt, sampleRawCodes: false });
          const rows: number[] = [];
          for (let k = 0; k < 8 && s.phase !== "done"; k++) {
            const r = await s.call();
            rows.push(...r.row, ...(r.promptLogits ?? []).flatMap((p) => [...p.row]));
            s.advance(r.row.indexOf(Math.max(...r.row)));
          }
          return { rows, stats: b.integerStats };
        };
        const [plain, fast] = [await run(true), await run(false)];
        expect(fast.rows.length, `${m.id} ${scheme}`).toBeGreaterThan(0);
        expect(fast.rows, `${m.id} ${scheme}`).toEqual(plain.rows);
        expect(fast.stats, `${m.id} ${scheme}`).toEqual(plain.stats);
      }
  }, 120_000);
});
