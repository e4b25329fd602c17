// The quantized KV graph on device bytes (uint8/uint16 caches, uint16 mask and logits), driven by the real
// cache managers in a greedy kv-mode loop on stories260K: Shift Pointer and Smart Mask agree byte for byte,
// and the tokens / logits are compared with the fp32 graph.
//
// Finding (kept, not papered over): the managers allocate zero bytes, as the device runner does
// (std::vector<uint8_t>), and code 0 of a symmetric uint8 K/V encoding (zp 128) dequantizes to -128*s, about
// -amax in every dim. For a still-empty slot, q·k/sqrt(hd) can then exceed the +255 the additive -255 mask
// subtracts, so masked slots leak into the softmax. On stories260K this first shows at position 3 in
// layer 2 (logits SQNR falls from ~20 dB to ~12 dB for 16a4w, ~16 dB even for 16a16w) and it is the
// main error source: filling the caches with the zero-point code (empty slots = 0.0) removes it (reported
// below). The simulation keeps the device's zero bytes; scores / softmax are not quantized here, so the
// device's exact leakage may differ.
import { describe, expect, it } from "vitest";
import { calibrate } from "../../src/quant/calibrate.js";
import type { SchemeName } from "../../src/quant/schemes.js";
import { llama2cCases, loadStories260K } from "../helpers/fixtures.js";
import { argmax, quantGreedyKv, sqnrDb, type QuantRun } from "./qrun.js";

const model = loadStories260K();
const PROMPT = [1, 403, 407, 261, 378];
const KV_SEQ_LEN = 40;
const fp32Greedy = llama2cCases().find((x) => x.id === "once_upon_n64")!.generated_tokens.slice(0, 32);

interface Stats {
  agree: number;
  firstDivergence: number;
  /** Per KV step (prompt steps included), quantized vs fp32 logits on identical inputs. */
  sqnr: number[];
  /** Steps where the quantized argmax equals the fp32 argmax on identical inputs. */
  stepArgmaxAgree: number;
}

function stats(r: QuantRun): Stats {
  let agree = 0;
  let firstDivergence = -1;
  for (let i = 0; i < 32; i++) {
    if (r.generated[i] === fp32Greedy[i]) agree++;
    else if (firstDivergence < 0) firstDivergence = i;
  }
  const sqnr = r.qLogits.map((q, i) => sqnrDb(r.fLogits[i], q));
  const stepArgmaxAgree = r.qLogits.filter((q, i) => argmax(q) === argmax(r.fLogits[i])).length;
  return { agree, firstDivergence, sqnr, stepArgmaxAgree };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (s: Stats) =>
  `top-1 agreement ${s.agree}/32 (first divergence at generated index ${s.firstDivergence}), per-step argmax agreement ` +
  `${s.stepArgmaxAgree}/${s.sqnr.length}, logits SQNR min ${Math.min(...s.sqnr).toFixed(2)} median ${median(s.sqnr).toFixed(2)} ` +
  `max ${Math.max(...s.sqnr).toFixed(2)} dB`;

function runBoth(scheme: SchemeName, weightOptions?: { blockSize?: number }) {
  const q = calibrate(model, scheme, { kvSeqLen: KV_SEQ_LEN, promptTokens: PROMPT, weightOptions });
  const sm = quantGreedyKv(model, q, { kind: "smart_mask", kvSeqLen: KV_SEQ_LEN, prompt: PROMPT });
  const sp = quantGreedyKv(model, q, { kind: "shift_pointer", kvSeqLen: KV_SEQ_LEN, prompt: PROMPT });
  const zp = quantGreedyKv(model, q, { kind: "smart_mask", kvSeqLen: KV_SEQ_LEN, prompt: PROMPT, fillZeroPoint: true });
  return { q, sm, sp, zp };
}

function expectSameBytes(sm: QuantRun, sp: QuantRun): void {
  expect(sp.generated).toEqual(sm.generated);
  expect(sm.snapshot.length).toBe(model.config.nLayers * model.config.nKvHeads * (KV_SEQ_LEN - 1) * model.config.headDim * 2);
  expect(Buffer.from(Uint16Array.from(sp.snapshot).buffer).equals(Buffer.from(Uint16Array.from(sm.snapshot).buffer))).toBe(true);
  for (let i = 0; i < sm.qLogits.length; i++) expect(sp.qLogits[i]).toEqual(sm.qLogits[i]);
}

describe("16a4w quantized KV graph, kv mode, kv_seq_len 40, stories260K", () => {
  const { sm, sp, zp } = runBoth("16a4w");
  const s = stats(sm);
  console.log(`16a4w: ${fmt(s)}`);
  console.log(`16a4w, caches pre-filled with the zero point: ${fmt(stats(zp))}`);

  it("runs to the end of the cache: 39 KV steps, 35 generated tokens, no EOS", () => {
    expect(sm.qLogits).toHaveLength(KV_SEQ_LEN - 1);
    expect(sm.generated).toHaveLength(KV_SEQ_LEN - 1 - PROMPT.length + 1);
  });

  it("Shift Pointer and Smart Mask give identical tokens, logits codes and cache bytes (slots mapped via readK/readV)", () => {
    expectSameBytes(sm, sp);
  });

  it("top-1 agreement with run.c's fp32 greedy tokens: 26/32, the first divergence at generated index 26", () => {
    // Measured. Index 26 (position 31): the quantized graph picks 335 instead of 426. From there the two
    // texts differ, so later agreement is coincidental. On identical inputs the quantized argmax disagrees
    // with fp32's at only that one of the 39 steps.
    expect(sm.generated.slice(0, 26)).toEqual(fp32Greedy.slice(0, 26));
    expect(s.firstDivergence).toBe(26);
    expect(s.agree).toBe(26);
    expect(s.stepArgmaxAgree).toBe(38);
  });

  it("logits SQNR vs fp32 on identical inputs, with margin below the measured values", () => {
    // Measured: prompt steps 20.3 20.1 21.1 11.9 19.9 dB; overall min -3.49 dB (the step at position 23, where
    // empty-slot leakage dominates), median ~18 dB, max 25.2 dB.
    expect(Math.min(...s.sqnr.slice(0, 3))).toBeGreaterThan(19);
    expect(Math.min(...s.sqnr)).toBeGreaterThan(-4.5);
    expect(median(s.sqnr)).toBeGreaterThan(16);
    expect(Math.max(...s.sqnr)).toBeGreaterThan(24);
  });

  it("zero-point-filled caches (empty slots = 0.0) remove the leakage: higher logits SQNR (tokens: 23/32, a different near-tie)", () => {
    const z = stats(zp);
    expect(Math.min(...z.sqnr)).toBeGreaterThan(Math.min(...s.sqnr));
    expect(median(z.sqnr)).toBeGreaterThan(median(s.sqnr));
  });
});

describe.each([["8a8w"], ["16a16w"], ["16a8w"], ["16a4w_block"], ["16a4w_block", 32]] as [SchemeName, number?][])(
  "%s (block %s): reported, cache mechanisms byte-identical",
  (scheme, blockSize) => {
    it("runs; Shift Pointer and Smart Mask agree byte for byte", () => {
      const { sm, sp, zp } = runBoth(scheme, blockSize ? { blockSize } : undefined);
      console.log(`${scheme}${blockSize ? ` block ${blockSize}` : ""}: ${fmt(stats(sm))}`);
      console.log(`${scheme}${blockSize ? ` block ${blockSize}` : ""}, zero-point-filled caches: ${fmt(stats(zp))}`);
      expectSameBytes(sm, sp);
      // Sanity only: the first generated tokens are the fp32 ones.
      expect(sm.generated.slice(0, 10)).toEqual(fp32Greedy.slice(0, 10));
    });
  },
);
