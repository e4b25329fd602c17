// `parity --flow current` on the command line (issue 14's done-when): the onnxruntime and wasm backends pass
// against the reference on stories260K and the tiny Llama 3.2 in kv and hybrid modes, every AR-N call being a
// step; `--dump` writes golden vectors with the current tensor names that `--backend replay` plays back, and a
// seed-flow run of that recording is refused.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { TINY_PARAMS, TINY_PTH } from "../helpers/tiny-llama3.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-parity-current-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const ids = join(tmp, "ids.txt");
writeFileSync(ids, "1 9 511 300 12 77 4 18 250 3 41");

const MODELS: [string, string[]][] = [
  ["stories260K", []],
  ["tiny Llama 3.2", ["--checkpoint", TINY_PTH, "--params", TINY_PARAMS, "--tokenized_prompt", ids]],
];
const FLOW = ["--flow", "current", "--max_context_len", "64", "--max_seq_len", "64", "--prefill_ar_len", "8", "--steps", "6", "--json"];

describe("parity --flow current", () => {
  for (const [label, model] of MODELS)
    for (const backend of ["onnxruntime", "wasm"])
      it(`${label}: --backend ${backend} passes in kv and hybrid modes`, async () => {
        for (const mode of ["kv", "hybrid"]) {
          const r = await cli("parity", ...model, ...FLOW, "--model_mode", mode, "--backend", backend);
          expect(r.code, r.stderr + r.stdout.slice(0, 2000)).toBe(0);
          const o = JSON.parse(r.stdout);
          expect(o).toMatchObject({ passed: true, flow: "current", mode, contextLen: 64, prefillArLen: 8, maxSeqLen: 64, backend });
          const n = o.promptTokens.length;
          expect(o.steps.length).toBe((mode === "kv" ? n : Math.ceil(n / 8)) + 5);
          expect(o.freeRunning.firstTokenMismatch).toBeNull();
        }
      });

  it("--dump records the AR-N calls; --backend replay plays them back; the seed flow refuses the recording", async () => {
    const dump = join(tmp, "gv");
    const rec = await cli("parity", ...FLOW, "--model_mode", "hybrid", "--backend", "reference", "--dump", dump);
    expect(rec.code, rec.stderr).toBe(0);
    const m = JSON.parse(readFileSync(join(dump, "manifest.json"), "utf8"));
    expect(m.flow).toBe("current");
    expect(m.graphs.kv_forward.inputs.map((t: { name: string }) => t.name).slice(0, 4)).toEqual(["tokens", "atten_mask", "input_pos", "args_0"]);
    const play = await cli("parity", ...FLOW, "--model_mode", "hybrid", "--backend", "replay", "--replay_dir", dump);
    expect(play.code, play.stderr).toBe(0);
    expect(JSON.parse(play.stdout).passed).toBe(true);
    const seed = await cli("parity", "--kv_seq_len", "64", "--prefill_seq_len", "16", "--backend", "replay", "--replay_dir", dump);
    expect(seed.code).toBe(2);
    expect(seed.stderr.trim().split("\n")).toHaveLength(1);
    expect(seed.stderr).toMatch(/recording is of the current flow.*--flow current/);
  });

  it("the Markdown report names the flow and its lengths", async () => {
    const r = await cli("parity", ...FLOW.filter((f) => f !== "--json"), "--backend", "reference");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/flow: current \(AR-N graphs\), mode: hybrid, max_context_len 64, prefill_ar_len 8, max_seq_len 64/);
  });
});
