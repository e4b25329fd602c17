// Golden vectors: a recorded run replays bit for bit without the engine, the raw files and input lists are
// what qnn-net-run reads, and a diverging run, a corrupt manifest or a truncated raw file are user errors.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createReferenceBackend } from "../../src/backends/reference.js";
import { createReplayBackend } from "../../src/backends/replay.js";
import type { Backend, BackendInit } from "../../src/engine/backend.js";
import { allocKvOutputs, numel } from "../../src/engine/graph-io.js";
import type { Model } from "../../src/engine/weights.js";
import type { EvalMode } from "../../src/kvcache/types.js";
import { createRecordingBackend } from "../../src/backends/recording.js";
import {
  DTYPE_BYTES,
  GOLDEN_FORMAT,
  inputListFile,
  readGoldenTensor,
  readGoldenVectors,
} from "../../src/golden/golden-vectors.js";
import { UserError } from "../../src/util/errors.js";
import { bitsEqual, loadStories260K } from "../helpers/fixtures.js";
import { greedyRun, type RunOut } from "../helpers/run.js";
import { expectUserError } from "../helpers/errors.js";

const KV_SEQ_LEN = 16;
const PREFILL_SEQ_LEN = 8;
const PROMPT = [1, 403, 407, 261, 378]; // "Once upon a time" (tok512)
const OTHER_PROMPT = [1, 403, 407, 261, 379]; // differs in the last prompt token only

let model: Model;
let root: string;
beforeAll(() => {
  model = loadStories260K();
  root = mkdtempSync(join(tmpdir(), "llama-golden-vectors-"));
});
afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

const initFor = (mode: EvalMode): BackendInit => ({
  model,
  kvSeqLen: mode !== "prefill" ? KV_SEQ_LEN : undefined,
  prefillSeqLen: mode !== "kv" ? PREFILL_SEQ_LEN : undefined,
});

const run = (mode: EvalMode, backend: Backend, prompt = PROMPT): Promise<RunOut> =>
  greedyRun(model, { mode, kvSeqLen: KV_SEQ_LEN, prefillSeqLen: PREFILL_SEQ_LEN, prompt, stops: [] }, { backend });

async function record(mode: EvalMode, name: string, prompt = PROMPT): Promise<{ dir: string; out: RunOut }> {
  const dir = join(root, name);
  const init = initFor(mode);
  const out = await run(mode, createRecordingBackend(createReferenceBackend(init), dir, init), prompt);
  return { dir, out };
}

async function expectUserErrorAsync(p: Promise<unknown>, ...parts: (string | RegExp)[]): Promise<string> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(UserError);
  const msg = (err as Error).message;
  expect(msg).not.toContain("\n");
  for (const part of parts) expect(msg).toMatch(part);
  return msg;
}

function expectIdentical(a: RunOut, b: RunOut): void {
  expect(b.generated).toEqual(a.generated);
  expect(b.finalPos).toBe(a.finalPos);
  expect([...b.rows.keys()]).toEqual([...a.rows.keys()]);
  for (const [pos, row] of a.rows) expect(bitsEqual(b.rows.get(pos)!, row), `logits row ${pos}`).toBe(true);
}

describe.each(["hybrid", "kv"] as const)("golden vectors, %s mode", (mode) => {
  let dir: string;
  let recorded: RunOut;
  beforeAll(async () => {
    ({ dir, out: recorded } = await record(mode, `rt_${mode}`));
  });

  it("recording is transparent: same tokens and logits as the bare reference backend", async () => {
    const bare = await run(mode, createReferenceBackend(initFor(mode)));
    expectIdentical(bare, recorded);
    expect(recorded.generated.length).toBeGreaterThan(3);
  });

  it("replay reproduces every logits row and token bit for bit, and no more calls remain", async () => {
    const replay = createReplayBackend(dir, initFor(mode));
    expect(replay.name).toBe("replay");
    expect(replay.supportsTaps).toBe(false);
    expectIdentical(recorded, await run(mode, replay));
    const n = model.config.nLayers * model.config.nKvHeads;
    const L = KV_SEQ_LEN - 1;
    const hd = model.config.headDim;
    const inputs = {
      tokens: new Int32Array(1),
      attnMask: new Float32Array(KV_SEQ_LEN),
      inputPos: new Int32Array(1),
      kCaches: Array.from({ length: n }, () => new Float32Array(hd * L)),
      vCaches: Array.from({ length: n }, () => new Float32Array(hd * L)),
    };
    await expectUserErrorAsync(replay.executeKv(inputs, allocKvOutputs(model.config)), "kv_forward", /holds only \d+/);
  });

  it("manifest and raw files are consistent", () => {
    const { manifest } = readGoldenVectors(dir);
    const raw = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    expect(raw.format).toBe(GOLDEN_FORMAT);
    expect(raw.version).toBe(1);
    const kvCalls = manifest.calls.filter((c) => c.graph === "kv_forward");
    const prefillCalls = manifest.calls.filter((c) => c.graph === "prefill_forward");
    const n = PROMPT.length;
    if (mode === "hybrid") {
      expect(prefillCalls.map((c) => c.index)).toEqual([0]);
      expect(Object.keys(raw.graphs).sort()).toEqual(["kv_forward", "prefill_forward"]);
    } else {
      expect(prefillCalls).toEqual([]);
      expect(Object.keys(raw.graphs)).toEqual(["kv_forward"]);
    }
    // The runner loops while pos < max(L, P): every KV step from its first position to kv_seq_len - 1.
    expect(kvCalls.length).toBe(mode === "hybrid" ? KV_SEQ_LEN - 1 - n : KV_SEQ_LEN - 1);
    manifest.calls.forEach((c, i) => expect(c.index).toBe(i));
    for (const c of manifest.calls) {
      const spec = manifest.graphs[c.graph]!;
      expect(c.inputs.map((t) => t.name)).toEqual(spec.inputs.map((t) => t.name));
      expect(c.outputs.map((t) => t.name)).toEqual(spec.outputs.map((t) => t.name));
      for (const t of [...c.inputs, ...c.outputs]) {
        expect(t.encoding).toBeNull();
        expect(t.file.startsWith(`call_${String(c.index).padStart(4, "0")}_${c.graph}/`)).toBe(true);
        expect(statSync(join(dir, t.file)).size).toBe(numel(t.shape) * DTYPE_BYTES[t.dtype]);
      }
      expect(raw.calls[c.index].inputs[0]).toEqual({ name: "tokens", shape: spec.inputs[0].shape, dtype: "int32", encoding: null, file: c.inputs[0].file });
    }
    // The first KV call's input_pos: position 0 in kv mode, n (the first generated token's) in hybrid mode.
    const first = kvCalls[0];
    const posFile = first.inputs.find((t) => t.name === "input_pos")!;
    expect(readFileSync(join(dir, posFile.file)).readInt32LE(0)).toBe(mode === "hybrid" ? n : 0);
    const tokFile = first.inputs.find((t) => t.name === "tokens")!;
    expect(readFileSync(join(dir, tokFile.file)).readInt32LE(0)).toBe(mode === "hybrid" ? recorded.generated[0] : PROMPT[0]);
    // The recorded logits of the last KV call are the row the last token was sampled from.
    const last = kvCalls[kvCalls.length - 1];
    const logits = readGoldenTensor(dir, last.outputs[0]) as Float32Array;
    expect(bitsEqual(logits, recorded.rows.get(recorded.finalPos - 1)!)).toBe(true);
    if (mode === "hybrid") {
      // Prefill tokens: the prompt right-padded with id 0 to P = prefill_seq_len - 1.
      const toks = readGoldenTensor(dir, prefillCalls[0].inputs[0]);
      expect([...toks]).toEqual([...PROMPT, ...Array(PREFILL_SEQ_LEN - 1 - n).fill(0)]);
    }
  });

  it("input lists: one line per call of the graph, name:=path per input in device order", () => {
    const { manifest } = readGoldenVectors(dir);
    for (const graph of ["kv_forward", "prefill_forward"] as const) {
      const calls = manifest.calls.filter((c) => c.graph === graph);
      const path = join(dir, inputListFile(graph));
      if (calls.length === 0) {
        expect(() => statSync(path)).toThrow();
        continue;
      }
      const text = readFileSync(path, "utf8");
      expect(text.endsWith("\n")).toBe(true);
      const lines = text.slice(0, -1).split("\n");
      expect(lines.length).toBe(calls.length);
      const spec = manifest.graphs[graph]!;
      lines.forEach((line, k) => {
        const pairs = line.split(" ");
        expect(pairs.length).toBe(spec.inputs.length);
        pairs.forEach((pair, j) => {
          const [name, file, ...rest] = pair.split(":=");
          expect(rest).toEqual([]);
          expect(name).toBe(spec.inputs[j].name);
          expect(file).toBe(calls[k].inputs[j].file);
          expect(statSync(join(dir, file)).isFile()).toBe(true);
        });
      });
    }
  });
});

describe("golden vectors: divergence and damaged recordings", () => {
  let hybridDir: string;
  let kvDir: string;
  beforeAll(async () => {
    hybridDir = (await record("hybrid", "dmg_hybrid")).dir;
    kvDir = (await record("kv", "dmg_kv")).dir;
  });

  it("a different prompt diverges at the first call that sees it, named with graph and tensor", async () => {
    // Hybrid: the prefill call (call 0) already sees the whole prompt.
    await expectUserErrorAsync(
      run("hybrid", createReplayBackend(hybridDir, initFor("hybrid")), OTHER_PROMPT),
      "call 0 (prefill_forward)",
      "diverged",
      "input tokens differs at element 4",
      "recorded 378, given 379",
    );
    // KV: the last prompt token is fed at position 4, the fifth call.
    await expectUserErrorAsync(
      run("kv", createReplayBackend(kvDir, initFor("kv")), OTHER_PROMPT),
      "call 4 (kv_forward)",
      "input tokens differs at element 0",
    );
  });

  it("a replay built for other graph shapes is refused", () => {
    expectUserError(() => createReplayBackend(kvDir, { model, kvSeqLen: KV_SEQ_LEN + 1 }), "kv_forward", "other tensors");
  });

  it("missing or corrupt manifest", () => {
    const empty = mkdtempSync(join(root, "empty-"));
    expectUserError(() => readGoldenVectors(empty), "manifest.json", "no such file");
    const bad = join(root, "bad_json");
    cpSync(kvDir, bad, { recursive: true });
    writeFileSync(join(bad, "manifest.json"), '{"format": "llama-golden-golden-vectors", "vers');
    expectUserError(() => readGoldenVectors(bad), "not valid JSON");
    expectUserError(() => createReplayBackend(bad, initFor("kv")), "not valid JSON");
    writeFileSync(join(bad, "manifest.json"), JSON.stringify({ format: "something-else", version: 1 }));
    expectUserError(() => readGoldenVectors(bad), "not a golden-vector manifest");
    const m = JSON.parse(readFileSync(join(kvDir, "manifest.json"), "utf8"));
    m.calls[2].inputs[1].file = "../../etc/passwd";
    writeFileSync(join(bad, "manifest.json"), JSON.stringify(m));
    expectUserError(() => readGoldenVectors(bad), "call 2", "atten_mask", "inside the recording");
  });

  it("truncated or missing raw file", () => {
    const trunc = join(root, "truncated");
    cpSync(kvDir, trunc, { recursive: true });
    const { manifest } = readGoldenVectors(trunc);
    const logits = manifest.calls[3].outputs[0];
    truncateSync(join(trunc, logits.file), 100);
    expectUserError(() => readGoldenVectors(trunc), "call 3", "logits", "100 bytes", `needs ${model.config.vocabSize * 4}`);
    const missing = join(root, "missing");
    cpSync(kvDir, missing, { recursive: true });
    unlinkSync(join(missing, manifest.calls[1].inputs[2].file));
    expectUserError(() => createReplayBackend(missing, initFor("kv")), "call 1", "input_pos", "no such file");
  });

  it("refuses to record over an existing recording", () => {
    const init = initFor("kv");
    expectUserError(() => createRecordingBackend(createReferenceBackend(init), kvDir, init), "already holds a recording");
  });
});
