// Issue 7's "done when": `llama-golden parity --backend qnn --pte F` runs end to end through the native addon
// and the stand-in QNN libraries, on a .pte built from the schema around a recorded stand-in context binary
// (src/qnn/stand-in-binary.ts), and reports the planted departure at exactly the planted step.
//
// Tolerance, derived rather than tuned: in lock-step every stand-in output is the reference output quantized
// with its encoding (uint16 logits, uint8 symmetric K/V per layer and head), so each element's error is at
// most half a step s/2 (the encodings cover the recorded range, nothing clips). Hence, for a tensor r of N
// elements, SQNR >= 10·log10(Σr² / (N·(s/2)²)) — a guaranteed floor; the expected SQNR of uniform rounding
// noise (s²/12) is 10·log10(3) = 4.77 dB above it. The SQNR limit is the lowest floor over every judged
// tensor of the steps before the fault (in practice an 8-bit K/V head, around 25 dB; uint16 logits sit near
// 90 dB). KL: a logit perturbation bounded by ε = s_l/2 gives KL(P‖Q) <= ε²/2 (Hoeffding's lemma), so the KL
// limit is s_l²/8. Top-1 must agree (the fp32 set's rule), which holds when every judged row's top-2 margin
// exceeds s_l — checked here as a premise. The faults then sit far outside: swap_top2 flips the argmax,
// k_noise (±6 codes) costs about 20·log10(6/0.5) = 21.6 dB below the floor.
import { describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli } from "../helpers/cli.js";
import { loadStories260K, loadTok512 } from "../helpers/fixtures.js";
import { buildPte } from "../helpers/pte-writer.js";
import { buildStandIn } from "../helpers/stand-in.js";
import { wrapQnnContext } from "../../src/qnn/context-header.js";
import { nativeAddonStatus } from "../../src/qnn/native.js";
import { recordStandIn, type StandInEncodings, type StandInFault } from "../helpers/stand-in-binary.js";
import { createReferenceBackend } from "../../src/backends/reference.js";
import type { Backend } from "../../src/engine/backend.js";
import { runParity } from "../../src/parity/run-parity.js";
import { defaultTolerance } from "../../src/parity/tolerances.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-qnn-e2e-"));
const model = loadStories260K();
const V = model.config.vocabSize;
const PROMPT = [1, ...loadTok512().encode("Once upon a time")];
const KV_SEQ_LEN = 32;
const PREFILL_SEQ_LEN = 16;
const STEPS = 10;
const FAULT_STEP = 5;

const libs = buildStandIn();
const addon = nativeAddonStatus();
const available = libs !== undefined && addon.available;
/** Why the end-to-end tests skip: in their titles, and once in the test output. */
const SKIP = libs === undefined ? ` (skipped: needs a C compiler (${process.env.CC || "cc"}; not on Windows) to build the stand-in QNN libraries)` : !addon.available ? ` (skipped: ${addon.reason})` : "";
if (SKIP) console.info(`parity --backend qnn end-to-end tests${SKIP}`);

type Mode = "hybrid" | "kv";
const runOptions = (mode: Mode) => ({
  model,
  mode,
  kvUpdater: "smart_mask" as const,
  kvSeqLen: KV_SEQ_LEN,
  prefillSeqLen: PREFILL_SEQ_LEN,
  promptTokens: PROMPT,
  steps: STEPS,
});

interface Call {
  graph: "kv" | "prefill";
  logits: Float32Array;
  k: Float32Array[];
  v: Float32Array[];
}

/** The reference's outputs of every lock-step call (the reference as candidate, free-running off). */
async function referenceCalls(mode: Mode): Promise<{ calls: Call[]; positions: number[] }> {
  const o = runOptions(mode);
  const init = { model, kvSeqLen: KV_SEQ_LEN, prefillSeqLen: mode === "hybrid" ? PREFILL_SEQ_LEN : undefined };
  const inner = createReferenceBackend(init);
  const calls: Call[] = [];
  const capture: Backend = {
    ...inner,
    async executeKv(i, out) {
      await inner.executeKv(i, out);
      calls.push({ graph: "kv", logits: out.logits.slice(), k: out.kOut.map((a) => a.slice()), v: out.vOut.map((a) => a.slice()) });
    },
    async executePrefill(i, out) {
      await inner.executePrefill(i, out);
      calls.push({ graph: "prefill", logits: out.logits.slice(), k: out.kOut.map((a) => a.slice()), v: out.vOut.map((a) => a.slice()) });
    },
  };
  const rep = await runParity({ ...o, reference: createReferenceBackend(init), candidate: capture, tolerance: defaultTolerance("reference"), freeRunning: false });
  return { calls, positions: rep.steps.map((s) => s.position) };
}

const sumSq = (r: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < r.length; i++) s += r[i] * r[i];
  return s;
};
/** The guaranteed SQNR floor of a tensor quantized with step s (|error| <= s/2). */
const floorDb = (r: ArrayLike<number>, s: number) => 10 * Math.log10(sumSq(r) / (r.length * (s / 2) ** 2));
const EXPECTED_OVER_FLOOR_DB = 10 * Math.log10(3);

interface Derived {
  tolSqnrDb: number;
  tolKl: number;
  /** Expected logits SQNR (uniform rounding noise) of each step's sampled row. */
  expectedLogitsDb: number[];
  /** Smallest top-2 margin over the judged rows, and the logits step. */
  minMargin: number;
}

/** The tolerance of the header, from the reference outputs and the encodings of the steps before `upTo`. */
function deriveTolerance(calls: Call[], positions: number[], enc: StandInEncodings, upTo: number): Derived {
  const sl = enc.logits.scale;
  let floor = Infinity;
  let minMargin = Infinity;
  const expectedLogitsDb: number[] = [];
  calls.forEach((c, step) => {
    const rows = c.graph === "prefill" ? positions[step] + 1 : 1;
    const sampled = c.graph === "prefill" ? positions[step] : 0;
    for (let r = 0; r < rows; r++) {
      const row = c.logits.subarray(r * V, (r + 1) * V);
      const f = floorDb(row, sl);
      if (r === sampled) expectedLogitsDb[step] = f + EXPECTED_OVER_FLOOR_DB;
      if (step >= upTo) continue;
      floor = Math.min(floor, f);
      const sorted = Array.from(row).sort((a, b) => b - a);
      minMargin = Math.min(minMargin, sorted[0] - sorted[1]);
    }
    if (step >= upTo) return;
    c.k.forEach((k, i) => (floor = Math.min(floor, floorDb(k, enc.k[i].scale))));
    c.v.forEach((v, i) => (floor = Math.min(floor, floorDb(v, enc.v[i].scale))));
  });
  return { tolSqnrDb: Math.floor((floor - 0.01) * 100) / 100, tolKl: (sl * sl) / 8 + 1e-12, expectedLogitsDb, minMargin };
}

/** Records the stand-in binary, wraps it in QNN's header and a .pte (both graphs' plans share it, as ExecuTorch's multi-graph export does). */
async function makePte(mode: Mode, fault: StandInFault | undefined, storage: "inline" | "segment", file: string) {
  const rec = await recordStandIn({ ...runOptions(mode), fault });
  const data = wrapQnnContext(rec.binary);
  const plans = (mode === "hybrid" ? ["prefill_forward", "kv_forward"] : ["kv_forward"]).map((name) => ({ name, delegates: [{ id: "QnnBackend", data, storage }] }));
  const path = join(tmp, file);
  writeFileSync(path, buildPte({ plans }));
  return { rec, path };
}

async function parity(mode: Mode, pte: string, tol: Derived, extra: string[] = []) {
  return cli(
    "parity",
    "--backend",
    "qnn",
    "--pte",
    pte,
    "--qnn_backend_lib",
    libs!.backendLib,
    "--qnn_system_lib",
    libs!.systemLib,
    "--json",
    "--model_mode",
    mode,
    "--kv_seq_len",
    String(KV_SEQ_LEN),
    "--prefill_seq_len",
    String(PREFILL_SEQ_LEN),
    "--steps",
    String(STEPS),
    "--tol_sqnr_db",
    String(tol.tolSqnrDb),
    "--tol_kl",
    String(tol.tolKl),
    ...extra,
  );
}

interface StepJson {
  index: number;
  graph: string;
  passed: boolean;
  failures: string[];
  top1: boolean;
  logits: { sqnrDb: number };
  k: { sqnrDb: number };
  v: { sqnrDb: number };
}

it("the stand-in libraries and the native addon are available (required in CI)", () => {
  if (!process.env.CI && !available) return; // local machine without a C compiler or addon build: the end-to-end tests skip
  expect(libs, "test/helpers/stand-in.ts could not build the stand-in libraries").toBeDefined();
  expect(addon.available ? "" : addon.reason).toBe("");
});

describe.skipIf(!available)(`parity --backend qnn end to end (stand-in QNN libraries)${SKIP}`, () => {
  const cases: { mode: Mode; fault: StandInFault; storage: "inline" | "segment"; why: RegExp }[] = [
    { mode: "hybrid", fault: { fromStep: FAULT_STEP, kind: "swap_top2" }, storage: "inline", why: /^logits: .*top1 disagrees/ },
    { mode: "kv", fault: { fromStep: FAULT_STEP, kind: "k_noise" }, storage: "segment", why: /^k: \d+\/20 heads fail, worst layer 0 head 0/ },
  ];
  for (const { mode, fault, storage, why } of cases) {
    it(`${mode} mode, ${fault.kind} from step ${fault.fromStep} (${storage} delegate): exit 1, first failing step exactly ${fault.fromStep}; without the fault exit 0`, async () => {
      const { calls, positions } = await referenceCalls(mode);
      const faulty = await makePte(mode, fault, storage, `${mode}-${fault.kind}.pte`);
      const clean = await makePte(mode, undefined, storage, `${mode}-clean.pte`);
      // Same run, same observed ranges: the fault changes table entries, never the encodings.
      expect(clean.rec.encodings).toEqual(faulty.rec.encodings);
      const tol = deriveTolerance(calls, positions, faulty.rec.encodings, fault.fromStep);
      // Premises of the derivation: top-1 cannot flip under the logits quantization; the 8-bit floor is far
      // below fp32's 60 dB and far above what the faults do.
      expect(tol.minMargin).toBeGreaterThan(faulty.rec.encodings.logits.scale);
      expect(tol.tolSqnrDb).toBeGreaterThan(18);
      expect(tol.tolSqnrDb).toBeLessThan(45);

      const r = await parity(mode, faulty.path, tol);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(1);
      const o = JSON.parse(r.stdout);
      expect(o.backend).toBe("qnn");
      expect(o.promptTokens).toEqual(PROMPT);
      expect(o.passed).toBe(false);
      expect(o.firstDivergentStep).toBe(fault.fromStep);
      expect(o.bisectNote).toMatch(/qnn cannot report intermediate tensors/);
      const steps: StepJson[] = o.steps;
      expect(steps.length).toBe(mode === "hybrid" ? STEPS : PROMPT.length - 1 + STEPS);
      expect(steps[0].graph).toBe(mode === "hybrid" ? "prefill" : "kv");
      for (const s of steps.slice(0, fault.fromStep)) {
        expect(s.passed, `step ${s.index}: ${s.failures.join("; ")}`).toBe(true);
        // The logits error is rounding noise: its SQNR sits at the uniform-noise expectation (±1 dB over 512 logits).
        expect(Math.abs(s.logits.sqnrDb - tol.expectedLogitsDb[s.index])).toBeLessThan(1);
      }
      const bad = steps[fault.fromStep];
      expect(bad.passed).toBe(false);
      expect(bad.failures.some((f) => why.test(f)), bad.failures.join("; ")).toBe(true);
      if (fault.kind === "k_noise") expect(bad.k.sqnrDb).toBeLessThan(tol.tolSqnrDb - 10);
      if (fault.kind === "swap_top2") expect(bad.top1).toBe(false);

      const ok = await parity(mode, clean.path, tol);
      expect(ok.stderr).toBe("");
      const p = JSON.parse(ok.stdout);
      expect(p.firstDivergentStep).toBe(null);
      expect(ok.code).toBe(0);
      expect(p.freeRunning.firstTokenMismatch).toBe(null);
    });
  }

  it("a --kv_seq_len that disagrees with the binary: exit 2, one line", async () => {
    const { path } = await makePte("kv", undefined, "inline", "kv-seq.pte");
    const r = await cli(
      "parity", "--backend", "qnn", "--pte", path, "--qnn_backend_lib", libs!.backendLib, "--qnn_system_lib", libs!.systemLib,
      "--model_mode", "kv", "--kv_seq_len", "24", "--steps", "2",
    );
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/--kv_seq_len 24 does not match kv_forward in --pte .*kv-seq\.pte: its atten_mask is \[1, 32\], so it was compiled with kv_seq_len 32/);
  });
});

describe.skipIf(!available)(`parity --backend qnn with QNN libraries older than the addon is built for: exit 2, one line${SKIP}`, () => {
  const cases: [string, string, (l: NonNullable<typeof libs>) => string][] = [
    ["LG_STANDIN_CORE_API", "2.13", (l) => `${l.backendLib}: QNN core API 2.13.0 (provider STANDIN_HTP) is older than the minimum 2.14 this addon is built for`],
    ["LG_STANDIN_SYSTEM_API", "1.1", (l) => `${l.systemLib}: QNN system API 1.1.0 is older than the minimum 1.2 this addon is built for`],
  ];
  for (const [variable, version, message] of cases)
    it(`a stand-in reporting ${variable === "LG_STANDIN_CORE_API" ? "core" : "system"} API ${version} is refused naming both versions`, async () => {
      const { path } = await makePte("kv", undefined, "inline", `old-${version}.pte`);
      const args = ["parity", "--backend", "qnn", "--pte", path, "--qnn_backend_lib", libs!.backendLib, "--qnn_system_lib", libs!.systemLib, "--model_mode", "kv", "--kv_seq_len", String(KV_SEQ_LEN), "--steps", "1"];
      process.env[variable] = version;
      let r;
      try {
        r = await cli(...args);
      } finally {
        delete process.env[variable];
      }
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe(`llama-golden: error: ${message(libs!)}\n`);
    });
});

describe("parity --backend qnn: bad input, exit 2 with one line (no addon needed)", () => {
  const bad = async (args: string[], re: RegExp) => {
    const r = await cli("parity", ...args, "--steps", "1");
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(re);
  };
  it("a .pte without a QnnBackend delegate", async () => {
    const path = join(tmp, "xnnpack.pte");
    writeFileSync(path, buildPte({ plans: [{ name: "forward", delegates: [{ id: "XnnpackBackend", data: new Uint8Array(64).fill(7), storage: "inline" }] }] }));
    await bad(["--backend", "qnn", "--pte", path], /--pte .*xnnpack\.pte: the program has no QnnBackend delegate/);
  });
  it("a missing --pte file, --backend qnn without --pte, --pte without --backend qnn", async () => {
    await bad(["--backend", "qnn", "--pte", join(tmp, "nope.pte")], /--pte .*nope\.pte: no such file/);
    await bad(["--backend", "qnn"], /--backend qnn needs --pte FILE/);
    await bad(["--backend", "reference", "--pte", "x.pte"], /--pte is for --backend qnn/);
    await bad(["--backend", "reference", "--qnn_system_lib", "x.so"], /--qnn_system_lib is for --backend qnn/);
  });
});
