// The parity run's report: call sequence per mode, agreement with the runner, capacity limits, the
// bisection's shape, backends without taps, rendering (JSON and Markdown), tolerances and the registry.
import { describe, expect, it } from "vitest";
import { loadStories260K } from "../helpers/fixtures.js";
import { greedyRun } from "../helpers/run.js";
import { expectUserError } from "../helpers/errors.js";
import { createReferenceBackend } from "../../src/backends/reference.js";
import type { Backend } from "../../src/engine/backend.js";
import { createBackend } from "../../src/backends/registry.js";
import type { EvalMode } from "../../src/kvcache/types.js";
import { runParity, tapOrder, type SeedParityOptions } from "../../src/parity/run-parity.js";
import { reportJson, reportMarkdown } from "../../src/parity/report.js";
import { applyOverrides, defaultTolerance, describeTolerance, parseToleranceFlag } from "../../src/parity/tolerances.js";
import { LAYER_TAPS } from "../../src/engine/decoder.js";
import { UserError } from "../../src/util/errors.js";
import { createFaultBackend } from "./faults.js";

const model = loadStories260K();
const PROMPT = [1, 403, 407, 261, 378];
const n = PROMPT.length;

function opts(mode: EvalMode, over: Partial<SeedParityOptions> = {}): SeedParityOptions {
  const init = { model, kvSeqLen: mode !== "prefill" ? 24 : undefined, prefillSeqLen: mode !== "kv" ? 12 : undefined };
  return {
    model,
    reference: createReferenceBackend(init),
    candidate: createReferenceBackend(init),
    mode,
    kvUpdater: "smart_mask",
    kvSeqLen: 24,
    prefillSeqLen: 12,
    promptTokens: PROMPT,
    steps: 4,
    tolerance: defaultTolerance("reference"),
    ...over,
  };
}

const withoutTaps = (b: Backend): Backend => ({ ...b, name: "no-taps", supportsTaps: false });

describe("runParity call sequence", () => {
  it("hybrid: one prefill (every fed row compared), then KV steps from position n", async () => {
    const r = await runParity(opts("hybrid"));
    expect(r.steps.map((s) => s.graph)).toEqual(["prefill", "kv", "kv", "kv"]);
    expect(r.steps.map((s) => s.position)).toEqual([n - 1, n, n + 1, n + 2]);
    expect(r.steps[0].rows!.count).toBe(n);
    expect(r.steps[0].token).toBeUndefined();
    expect(r.steps[1].token).toBe(r.freeRunning!.tokensReference[0]);
    expect(r.steps.map((s) => s.index)).toEqual([0, 1, 2, 3]);
    expect(r.freeRunning!.tokensReference).toHaveLength(4);
  });

  it("kv: teacher-forced prompt steps from position 0, then generation", async () => {
    const r = await runParity(opts("kv"));
    expect(r.steps).toHaveLength(n - 1 + 4);
    expect(r.steps.every((s) => s.graph === "kv")).toBe(true);
    expect(r.steps.map((s) => s.position)).toEqual(Array.from({ length: n + 3 }, (_, i) => i));
    expect(r.steps.slice(0, n).map((s) => s.token)).toEqual(PROMPT);
  });

  it("prefill: one prefill call per generated token over the growing row", async () => {
    const r = await runParity(opts("prefill"));
    expect(r.steps.map((s) => s.graph)).toEqual(["prefill", "prefill", "prefill", "prefill"]);
    expect(r.steps.map((s) => s.position)).toEqual([n - 1, n, n + 1, n + 2]);
    expect(r.steps.map((s) => s.rows!.count)).toEqual([n, n + 1, n + 2, n + 3]);
  });

  it("greedy tokens are the runner's (free-running reference = generate())", async () => {
    for (const mode of ["hybrid", "kv", "prefill"] as const) {
      const r = await runParity(opts(mode, { kvUpdater: "shift_pointer" }));
      const g = await greedyRun(model, { mode, kvUpdater: "shift_pointer", kvSeqLen: 24, prefillSeqLen: 12, prompt: PROMPT, stops: [] });
      expect(r.freeRunning!.tokensReference).toEqual(g.generated.slice(0, 4));
    }
  });

  it("stops at the graphs' capacity", async () => {
    const kv = await runParity(opts("kv", { steps: 1000, freeRunning: false }));
    expect(kv.steps).toHaveLength(23); // L = kv_seq_len - 1 KV calls
    expect(kv.freeRunning).toBeUndefined();
    const pre = await runParity(opts("prefill", { steps: 1000 }));
    expect(pre.steps).toHaveLength(11 - n + 1); // positions n-1 .. P-1
    const hy = await runParity(opts("hybrid", { steps: 1000 }));
    expect(hy.steps).toHaveLength(1 + 23 - n);
  });

  it("rejects bad shapes and step counts as user errors", async () => {
    await expect(runParity(opts("hybrid", { steps: 0 }))).rejects.toBeInstanceOf(UserError);
    await expect(runParity(opts("hybrid", { promptTokens: Array(12).fill(1) }))).rejects.toThrow(/prefill_seq_len/);
    await expect(runParity(opts("kv", { promptTokens: [1, 9999] }))).rejects.toThrow(/vocabulary/);
  });
});

describe("failures and bisection", () => {
  const faulty = (mode: EvalMode = "hybrid") => {
    const init = { model, kvSeqLen: 24, prefillSeqLen: mode !== "kv" ? 12 : undefined };
    return createFaultBackend("input_pos_off_by_one", init);
  };

  it("a failing run names the step, its failures, and every tap in compute order", async () => {
    const r = await runParity(opts("hybrid", { candidate: faulty() }));
    expect(r.passed).toBe(false);
    expect(r.firstDivergentStep).toBe(1);
    const s = r.steps[1];
    expect(s.passed).toBe(false);
    expect(s.failures.some((f) => f.startsWith("logits: "))).toBe(true);
    expect(s.failures.some((f) => /^[kv]: \d+\/\d+ heads fail/.test(f))).toBe(true);
    const b = r.bisect!;
    expect(b.perLayer.map((t) => [t.layer, t.tensor])).toEqual(tapOrder(model.config.nLayers).map((t) => [t.layer, t.tensor]));
    expect(b.perLayer).toHaveLength(2 + model.config.nLayers * LAYER_TAPS.length);
    expect(b.perLayer[0]).toMatchObject({ layer: -1, tensor: "embedding", sqnrDb: Infinity });
    expect(b.sqnrDb).toBeLessThan(r.tolerance.tapSqnrDb);
    // Later steps are still judged (lock-step re-syncs the caches every call).
    expect(r.steps).toHaveLength(4);
  });

  it("no bisection when a backend cannot report taps", async () => {
    const r = await runParity(opts("hybrid", { candidate: withoutTaps(faulty()) }));
    expect(r.passed).toBe(false);
    expect(r.bisect).toBeUndefined();
    expect(r.bisectNote).toMatch(/no-taps/);
  });

  it("a looser tolerance turns a failure into a pass", async () => {
    const loose = applyOverrides(defaultTolerance("x"), { sqnrDb: -1000, maxKl: 1e9 });
    const r = await runParity(opts("hybrid", { candidate: faulty(), tolerance: { ...loose, requireTop1: false } }));
    expect(r.passed).toBe(true);
    expect(r.tolerance.source).toMatch(/overrides/);
  });
});

describe("report rendering", () => {
  it("JSON: one object, top-level passed, per-step list, non-finite numbers as strings", async () => {
    const r = await runParity(opts("hybrid"));
    const text = reportJson(r);
    expect(text).not.toContain("\n");
    const o = JSON.parse(text);
    expect(o.passed).toBe(true);
    expect(o.mode).toBe("hybrid");
    expect(o.kvUpdater).toBe("smart_mask");
    expect(o.backend).toBe("reference");
    expect(o.firstDivergentStep).toBeNull();
    expect(o.tolerance).toMatchObject({ logitsSqnrDb: 60, maxKl: 1e-6, requireTop1: true, kvSqnrDb: 60 });
    expect(o.steps).toHaveLength(4);
    expect(o.steps[0]).toMatchObject({ index: 0, graph: "prefill", position: n - 1, passed: true, top1: true, kl: 0 });
    expect(o.steps[0].logits.sqnrDb).toBe("Infinity");
    expect(Object.keys(o.steps[1]).sort()).toEqual(
      ["index", "graph", "position", "token", "logits", "kl", "top1", "top1Reference", "top1Candidate", "k", "v", "passed", "failures"].sort(),
    );
    expect(o.freeRunning.firstTokenMismatch).toBeNull();
  });

  it("Markdown: tolerances, a row per step, the bisection and the free-running tokens", async () => {
    const init = { model, kvSeqLen: 24, prefillSeqLen: 12 };
    const r = await runParity(opts("hybrid", { candidate: createFaultBackend("k_not_transposed", init) }));
    const md = reportMarkdown(r);
    expect(md).toMatch(/^# Parity: fault:k_not_transposed vs reference: FAILED/);
    expect(md).toContain("## Tolerances (default reference/fp32)");
    expect(md).toContain("logits SQNR >= 60 dB");
    const rows = md.split("\n").filter((l) => /^\| \d+ \| (prefill|kv) \|/.test(l));
    expect(rows).toHaveLength(r.steps.length);
    expect(rows[1]).toContain("**FAIL**");
    expect(md).toMatch(/First tensor below 60 dB at step 1: \*\*layer 0, attn\*\*/);
    expect(md).toMatch(/first sampled token that differs|every sampled token agrees/);
    const ok = reportMarkdown(await runParity(opts("kv")));
    expect(ok).toContain("PASSED");
    expect(ok).toContain("Not needed: every step passed.");
  });
});

describe("tolerances", () => {
  it("fp32 defaults, placeholders, overrides and their description", () => {
    const t = defaultTolerance("onnxruntime");
    expect(t).toMatchObject({ source: "default onnxruntime/fp32", logitsSqnrDb: 60, maxKl: 1e-6, requireTop1: true, kvSqnrDb: 60 });
    expect(t.maxAbs).toBeUndefined();
    expect(defaultTolerance("onnxruntime", "16a4w").logitsSqnrDb).toBeLessThan(60);
    const o = applyOverrides(t, { sqnrDb: 80, maxKl: 1e-8, maxAbs: 1e-4 });
    expect(o).toMatchObject({ logitsSqnrDb: 80, kvSqnrDb: 80, tapSqnrDb: 80, maxKl: 1e-8, maxAbs: 1e-4 });
    expect(applyOverrides(t, {})).toEqual(t);
    expect(describeTolerance(o).join("\n")).toMatch(/max \|diff\| <= 0.0001/);
    expect(parseToleranceFlag("tol_kl", undefined)).toBeUndefined();
    expect(parseToleranceFlag("tol_kl", "1e-5")).toBe(1e-5);
    expect(() => parseToleranceFlag("tol_kl", "-1")).toThrow(UserError);
    expect(() => parseToleranceFlag("tol_kl", "abc")).toThrow(/--tol_kl/);
  });
});

describe("backend registry", () => {
  it("builds the reference backend and rejects unknown names", async () => {
    const b = await createBackend("reference", { model, kvSeqLen: 8 }, {});
    expect(b.name).toBe("reference");
    expect(b.graphs.kv?.name).toBe("kv_forward");
    await expect(createBackend("tpu", { model }, {})).rejects.toThrow(/unknown backend "tpu": expected one of reference, onnxruntime, tfjs, replay/);
    await expect(createBackend("tpu", { model }, {})).rejects.toBeInstanceOf(UserError);
    await expect(createBackend("replay", { model }, {})).rejects.toThrow(/--replay_dir/);
  });

  it("expectUserError helper agrees on one-line messages", () => {
    expectUserError(() => parseToleranceFlag("tol_sqnr_db", "x", true), /--tol_sqnr_db/);
  });
});
