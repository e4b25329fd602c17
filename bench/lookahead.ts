// Owns the lookahead rows of `npm run bench` (issue 17): decode tok/s of --model_mode lookahead against kv mode on the
// random-weight stories110M shape for the reference and wasm backends (random weights accept almost nothing, so this
// measures the cost of the wider graph), and the same on the real stories260K, where the n-gram pool does get accepted
// tokens. Greedy, CL 128, an 8-token prompt through the AR 8 prompt graph; tok/s = tokens after the first / time after
// the prompt. `--quick` makes fewer tokens. The table goes to stdout (markdown), progress to stderr.
import { createReferenceBackend } from "../src/backends/reference.js";
import { createBackend } from "../src/backends/registry.js";
import type { Backend } from "../src/engine/backend.js";
import type { Model } from "../src/engine/weights.js";
import { loadModel } from "../src/loaders/index.js";
import { createConversation } from "../src/runner/current-session.js";
import { generateCurrent } from "../src/runner/generate.js";
import { lookaheadArLen, type LookaheadParams } from "../src/runner/lookahead.js";
import { createSampler } from "../src/runner/sampler.js";
import { randomModel, STORIES110M_CONFIG } from "./random-model.js";
import { runScript, UsageError } from "./script.js";

const CL = 128;
const AR_PP = 8;
const log = (msg: string) => process.stderr.write(`[bench:lookahead] ${msg}\n`);

interface Row {
  model: string;
  backend: string;
  mode: string;
  tokens: number;
  calls: number;
  tokPerS: number;
  hist: string;
}

async function measure(label: string, model: Model, backendName: "reference" | "wasm", la: LookaheadParams | null, newTokens: number): Promise<Row> {
  const arLens = la ? [lookaheadArLen(la), AR_PP] : [1, AR_PP];
  const init = { model, contextLen: CL, arLens };
  const backend: Backend = backendName === "reference" ? createReferenceBackend(init) : await createBackend("wasm", init, { threads: 1 });
  try {
    const prompt = [1, 403, 407, 261, 378, 300, 29, 7].map((t) => t % model.config.vocabSize);
    const lookahead = la ? { ...la, seed: 1 } : undefined;
    const mode = la ? ("lookahead" as const) : ("hybrid" as const);
    const conv = createConversation({ config: model.config, mode, contextLen: CL, prefillArLen: AR_PP, lookahead });
    const r = await generateCurrent(
      {
        backend,
        config: model.config,
        mode,
        contextLen: CL,
        prefillArLen: AR_PP,
        maxSeqLen: prompt.length + 1 + newTokens,
        promptTokens: prompt,
        sampler: createSampler({ vocabSize: model.config.vocabSize, temperature: 0, seed: 0n }),
        ...(lookahead ? { lookahead } : {}),
      },
      conv,
    );
    const decodeS = (r.timings.inferenceEndMs - r.timings.promptEvalEndMs) / 1000;
    const tokens = r.generatedTokens.length - 1;
    const st = conv.lookahead?.state.stats;
    const hist = st ? [...Array(la!.ngram).keys()].map((k) => `${k + 1}:${st.accepted.filter((a) => a === k + 1).length}`).join(" ") : "—";
    const row = { model: label, backend: backendName, mode: la ? `lookahead ${la.ngram}/${la.window}/${la.gcap}` : "kv (AR 1)", tokens, calls: st ? st.calls : tokens, tokPerS: tokens / decodeS, hist };
    log(`${label} ${backendName} ${row.mode}: ${tokens} tokens in ${row.calls} calls, ${row.tokPerS.toFixed(2)} tok/s`);
    return row;
  } finally {
    backend.dispose();
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  for (const a of argv) if (a !== "--quick") throw new UsageError(`unknown flag ${a}\nusage: node dist/bench/lookahead.js [--quick]`);
  const quick = argv.includes("--quick");
  const configs: LookaheadParams[] = [
    { ngram: 3, window: 2, gcap: 2, semantics: "qnn" },
    { ngram: 5, window: 8, gcap: 8, semantics: "qnn" },
  ];
  const rows: Row[] = [];
  const big = randomModel(STORIES110M_CONFIG, 0x110);
  for (const backend of ["reference", "wasm"] as const) {
    rows.push(await measure("stories110M shape (random)", big, backend, null, quick ? 6 : 16));
    for (const la of configs) rows.push(await measure("stories110M shape (random)", big, backend, la, quick ? 4 : la.ngram === 5 ? 8 : 16));
  }
  const small = loadModel({ checkpoint: new URL("../../models/stories260K.bin", import.meta.url).pathname }).model;
  for (const backend of ["reference", "wasm"] as const) {
    rows.push(await measure("stories260K", small, backend, null, 100));
    for (const la of configs) rows.push(await measure("stories260K", small, backend, la, 100));
  }
  const lines = [
    "| model | backend | mode | tokens | graph calls | decode tok/s | tokens accepted per call |",
    "|---|---|---|---:|---:|---:|---|",
    ...rows.map((r) => `| ${r.model} | ${r.backend} | ${r.mode} | ${r.tokens} | ${r.calls} | ${r.tokPerS.toFixed(2)} | ${r.hist} |`),
  ];
  process.stdout.write(lines.join("\n") + "\n");
}

runScript(main);
