// `--backend NAME` on the run command (issue 13 item 4): the wasm backend on two threads generates the reference's
// greedy tokens on stories260K and the tiny Llama 3.2 model, and the statistics name the backend, its decode rate
// and why generation stopped.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { TINY_PARAMS, TINY_PTH } from "../helpers/tiny-llama3.js";
import { loadStories260K } from "../helpers/fixtures.js";
import { createReferenceBackend } from "../../src/backends/reference.js";
import { generate } from "../../src/runner/generate.js";
import { createSampler } from "../../src/runner/sampler.js";
import { stopLine, stopReason } from "../../src/runner/stats.js";

const ids = join(mkdtempSync(join(tmpdir(), "llama-golden-backend-")), "ids.txt");
writeFileSync(ids, "1 9 511 300 12");

const MODELS: [string, string[]][] = [
  ["stories260K", ["--kv_seq_len", "64", "--prefill_seq_len", "16"]],
  ["tiny Llama 3.2", ["--checkpoint", TINY_PTH, "--params", TINY_PARAMS, "--tokenized_prompt", ids, "--kv_seq_len", "64", "--prefill_seq_len", "16"]],
];

describe("--backend on the run command", () => {
  it.each(MODELS)("%s: --backend wasm --threads 2 generates the reference's greedy tokens", async (_name, args) => {
    const run = async (backend: string) => {
      const r = await cli(...args, "--backend", backend, "--threads", "2", "--json", "--seed", "1");
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`Backend: ${backend}\\b`));
      return JSON.parse(r.stdout);
    };
    const ref = await run("reference");
    const wasm = await run("wasm");
    expect(wasm.generated_tokens.length).toBeGreaterThan(10);
    expect(wasm.generated_tokens).toEqual(ref.generated_tokens);
    expect(wasm.stats.backend).toBe("wasm");
    expect(ref.stats.backend).toBe("reference");
    expect(["stop_token", "seq_len"]).toContain(wasm.stats.stop_reason);
    expect(wasm.stats.stop_reason).toBe(ref.stats.stop_reason);
    expect(wasm.stats.generation_tok_per_s).toBeGreaterThan(0);
  });

  it("--flow current: --backend wasm and onnxruntime generate the reference's greedy tokens in kv and hybrid", async () => {
    for (const mode of ["kv", "hybrid"]) {
      const run = async (backend: string) => {
        const r = await cli("--flow", "current", "--model_mode", mode, "--max_seq_len", "48", "--prefill_ar_len", "8", "--backend", backend, "--json", "--seed", "1");
        expect(r.code, r.stderr).toBe(0);
        return JSON.parse(r.stdout);
      };
      const ref = await run("reference");
      for (const backend of ["wasm", "onnxruntime"]) {
        const o = await run(backend);
        expect(o.stats).toMatchObject({ backend, flow: "current", mode });
        expect(o.generated_tokens).toEqual(ref.generated_tokens);
      }
    }
  });

  it("stop_reason: stop_token when a stop token ends the run, seq_len when the graph is full", async () => {
    const model = loadStories260K();
    const run = (stops: number[]) =>
      generate({
        backend: createReferenceBackend({ model, kvSeqLen: 32 }),
        config: model.config,
        mode: "kv",
        kvSeqLen: 32,
        prefillSeqLen: 32,
        kvUpdater: "smart_mask",
        promptTokens: [1, 403, 407],
        stopTokens: stops,
        sampler: createSampler({ vocabSize: model.config.vocabSize, temperature: 0, seed: 0n }),
      });
    const full = await run([]);
    expect(stopReason(full)).toBe("seq_len");
    expect(stopLine(full, "reference")).toMatch(/seq_len reached at position 31/);
    const stop = full.generatedTokens[4];
    const stopped = await run([stop]);
    expect(stopReason(stopped)).toBe("stop_token");
    expect(stopLine(stopped, "reference")).toMatch(new RegExp(`Stopped: stop token ${stop}$`));
    expect(stopped.generatedTokens.length).toBe(full.generatedTokens.indexOf(stop) + 1);
  });
});
