// Owns the recording backend: a wrapper that forwards every graph call to another backend and records its
// inputs and outputs as golden vectors (the format of src/golden/golden-vectors.ts), for `parity --dump`; the seed
// flow's prefill/KV graphs or the current flow's AR-N graphs (named by their method: kv_forward at AR = 1,
// prefill_forward at AR_pp, calibrate at AR = CL), whichever the run builds.
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import type { Interrupts } from "../util/interrupts.js";
import { join } from "node:path";
import type { Backend, BackendInit, ExecuteOptions } from "../engine/backend.js";
import { arGraphSpec, type ArGraphInputs, type ArGraphOutputs, type ArGraphSpec } from "../engine/ar-graph-io.js";
import { kvGraphSpec, prefillGraphSpec, type GraphSpec } from "../engine/graph-io.js";
import {
  arInputTensors,
  arOutputTensors,
  callDirName,
  checkCount,
  GOLDEN_FORMAT,
  GOLDEN_VERSION,
  inputListFile,
  kvInputTensors,
  kvOutputTensors,
  MANIFEST_FILE,
  prefillInputTensors,
  prefillOutputTensors,
  tensorBytes,
  tensorRecords,
  writeAtomic,
  type GoldenCall,
  type GoldenManifest,
  type GraphName,
  type RawTensor,
} from "../golden/golden-vectors.js";
import { UserError } from "../util/errors.js";
import { describeFsError } from "../util/files.js";

/**
 * Wraps a backend so every graph call is forwarded to `inner` and recorded under `dir` (layout above). The
 * manifest and the input lists are rewritten atomically after each call, so a run that fails leaves a
 * consistent recording of the calls it finished. Refuses a directory that already holds a manifest. With
 * `interrupts`, a run interrupted by a signal before `complete()` removes what it recorded (the folder too, when
 * it made it), so a rerun starts clean.
 */
export function createRecordingBackend(inner: Backend, dir: string, init: BackendInit, interrupts?: Interrupts): Backend & { complete(): void } {
  const c = init.model.config;
  const current = init.contextLen !== undefined;
  const specs: Partial<Record<GraphName, GraphSpec | ArGraphSpec>> = {};
  /** Current flow: the graph name of each AR length (decode kv_forward, prompt prefill_forward, or calibrate). */
  const arNames = new Map<number, GraphName>();
  if (current) {
    const arSpecs = inner.graphs.ar ?? (init.arLens ?? [1]).map((ar) => arGraphSpec(c, init.contextLen!, ar));
    for (const sp of arSpecs) {
      specs[sp.name] = sp;
      arNames.set(sp.arLen, sp.name);
    }
  } else {
    specs.kv_forward = inner.graphs.kv ?? (init.kvSeqLen !== undefined ? kvGraphSpec(c, init.kvSeqLen) : undefined);
    specs.prefill_forward = inner.graphs.prefill ?? (init.prefillSeqLen !== undefined ? prefillGraphSpec(c, init.prefillSeqLen) : undefined);
  }
  const madeDir = !existsSync(dir);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UserError(`golden vectors ${dir}: cannot create the directory (${describeFsError(e)})`);
  }
  if (existsSync(join(dir, MANIFEST_FILE)))
    throw new UserError(`golden vectors ${dir}: already holds a recording (${MANIFEST_FILE}); choose an empty directory`);

  const manifest: GoldenManifest = { format: GOLDEN_FORMAT, version: GOLDEN_VERSION, ...(current ? { flow: "current" as const } : {}), graphs: {}, calls: [] };
  for (const g of ["kv_forward", "prefill_forward", "calibrate"] as const) if (specs[g]) manifest.graphs[g] = specs[g];
  const inputLists: Record<GraphName, string[]> = { kv_forward: [], prefill_forward: [], calibrate: [] };
  let counter = 0;
  const written = new Set<string>();
  const forget =
    interrupts?.add(() => {
      if (madeDir) rmSync(dir, { recursive: true, force: true });
      else for (const name of written) rmSync(join(dir, name), { recursive: true, force: true });
    }) ?? (() => {});

  const record = (graph: GraphName, inBytes: Uint8Array[], outs: RawTensor[]) => {
    const spec = specs[graph];
    if (!spec) throw new Error(`recording backend: no ${graph} graph spec`);
    const index = counter++;
    const sub = callDirName(index, graph);
    const call: GoldenCall = {
      index,
      graph,
      inputs: tensorRecords(spec.inputs, `${sub}/in`),
      outputs: tensorRecords(spec.outputs, `${sub}/out`),
    };
    written.add(sub).add(inputListFile(graph)).add(MANIFEST_FILE);
    mkdirSync(join(dir, sub, "in"), { recursive: true });
    mkdirSync(join(dir, sub, "out"), { recursive: true });
    call.inputs.forEach((t, k) => writeFileSync(join(dir, t.file), inBytes[k]));
    call.outputs.forEach((t, k) => writeFileSync(join(dir, t.file), tensorBytes(outs[k], t.dtype, `${graph} output ${t.name}`)));
    manifest.calls.push(call);
    inputLists[graph].push(call.inputs.map((t) => `${t.name}:=${t.file}`).join(" "));
    writeAtomic(join(dir, inputListFile(graph)), inputLists[graph].join("\n") + "\n");
    writeAtomic(join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 1) + "\n");
  };

  // Inputs are captured before the call: a graph may write outputs into buffers that alias its inputs.
  const captureInputs = (graph: GraphName, tensors: RawTensor[]): Uint8Array[] => {
    const spec = specs[graph];
    if (!spec) throw new Error(`recording backend: no ${graph} graph spec`);
    checkCount(graph, "inputs", tensors, spec.inputs);
    return tensors.map((a, k) => tensorBytes(a, spec.inputs[k].dtype, `${graph} input ${spec.inputs[k].name}`));
  };

  /** Captures a call's inputs, runs it, checks and records its outputs. */
  const recordCall = async (graph: GraphName, inputs: RawTensor[], run: () => Promise<void>, outputs: () => RawTensor[]): Promise<void> => {
    const inBytes = captureInputs(graph, inputs);
    await run();
    const outs = outputs();
    checkCount(graph, "outputs", outs, specs[graph]!.outputs);
    record(graph, inBytes, outs);
  };

  return {
    name: `recording(${inner.name})`,
    supportsTaps: inner.supportsTaps,
    graphs: inner.graphs,
    executeKv: (inputs, outputs, opts) =>
      recordCall("kv_forward", kvInputTensors(inputs), () => inner.executeKv(inputs, outputs, opts), () => kvOutputTensors(outputs)),
    executePrefill: (inputs, outputs, opts) =>
      recordCall("prefill_forward", prefillInputTensors(inputs), () => inner.executePrefill(inputs, outputs, opts), () => prefillOutputTensors(outputs)),
    ...(inner.executeAr
      ? {
          executeAr: (arLen: number, inputs: ArGraphInputs, outputs: ArGraphOutputs, opts?: ExecuteOptions) => {
            const graph = arNames.get(arLen);
            if (!graph) throw new Error(`recording backend: no AR-N graph of ${arLen} rows`);
            return recordCall(graph, arInputTensors(inputs), () => inner.executeAr!(arLen, inputs, outputs, opts), () => arOutputTensors(outputs));
          },
        }
      : {}),
    dispose() {
      inner.dispose();
    },
    complete: forget,
  };
}
