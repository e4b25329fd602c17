// Owns the replay backend: plays back a golden-vector recording (src/golden/golden-vectors.ts) without the
// engine, for either flow (the recording says which; a run of the other flow is refused). Each call takes the
// next recorded call of its graph, checks the inputs match the recording bit for
// bit (a mismatch means the run diverged from the recording), and copies the recorded outputs out.
import type { Backend, BackendInit } from "../engine/backend.js";
import { kvGraphSpec, prefillGraphSpec, type GraphSpec } from "../engine/graph-io.js";
import { arGraphSpec, type ArGraphSpec } from "../engine/ar-graph-io.js";
import {
  arInputTensors,
  arOutputTensors,
  decodeRaw,
  manifestFlow,
  type GoldenFlow,
  kvInputTensors,
  kvOutputTensors,
  prefillInputTensors,
  prefillOutputTensors,
  readGoldenBytes,
  readGoldenVectors,
  tensorBytes,
  type GoldenCall,
  type GraphName,
  type RawTensor,
} from "../golden/golden-vectors.js";
import { UserError } from "../util/errors.js";

const sameSpec = (a: GraphSpec | ArGraphSpec, b: GraphSpec | ArGraphSpec): boolean => JSON.stringify(a) === JSON.stringify(b);

export function createReplayBackend(dir: string, init: BackendInit): Backend {
  const { manifest } = readGoldenVectors(dir);
  const c = init.model.config;
  const flow: GoldenFlow = init.contextLen !== undefined ? "current" : "seed";
  const recorded = manifestFlow(manifest);
  if (recorded !== flow)
    throw new UserError(`replay ${dir}: the recording is of the ${recorded} flow, this run is of the ${flow} flow (--flow ${recorded} to replay it)`);
  const want: Partial<Record<GraphName, GraphSpec | ArGraphSpec>> = {};
  const arNames = new Map<number, GraphName>();
  if (flow === "current")
    for (const ar of init.arLens ?? [1]) {
      const sp = arGraphSpec(c, init.contextLen!, ar);
      want[sp.name] = sp;
      arNames.set(ar, sp.name);
    }
  else {
    want.kv_forward = init.kvSeqLen !== undefined ? kvGraphSpec(c, init.kvSeqLen) : undefined;
    want.prefill_forward = init.prefillSeqLen !== undefined ? prefillGraphSpec(c, init.prefillSeqLen) : undefined;
  }
  for (const g of ["kv_forward", "prefill_forward", "calibrate"] as const) {
    const w = want[g];
    if (!w) continue;
    const got = manifest.graphs[g];
    // A recording without calls of a graph may also lack its spec; with calls, readGoldenVectors demands it.
    if (got && !sameSpec(got, w))
      throw new UserError(
        `replay ${dir}: the recorded ${g} graph has other tensors than this model and ` +
          (flow === "current" ? "--max_context_len / --prefill_ar_len build" : "sequence length build"),
      );
  }
  const queues: Record<GraphName, GoldenCall[]> = {
    kv_forward: manifest.calls.filter((k) => k.graph === "kv_forward"),
    prefill_forward: manifest.calls.filter((k) => k.graph === "prefill_forward"),
    calibrate: manifest.calls.filter((k) => k.graph === "calibrate"),
  };
  const next: Record<GraphName, number> = { kv_forward: 0, prefill_forward: 0, calibrate: 0 };

  const play = (graph: GraphName, inputs: RawTensor[], outputs: RawTensor[]) => {
    if (!want[graph]) throw new Error(`replay backend: built without a ${graph} graph`);
    const call = queues[graph][next[graph]];
    if (!call)
      throw new UserError(`replay ${dir}: the run makes ${graph} call #${next[graph] + 1} but the recording holds only ${queues[graph].length}`);
    next[graph] += 1;
    call.inputs.forEach((t, k) => {
      const recorded = readGoldenBytes(dir, t);
      const given = tensorBytes(inputs[k], t.dtype, `${graph} input ${t.name}`);
      if (Buffer.compare(recorded, given) === 0) return;
      if (recorded.length !== given.length)
        throw new UserError(
          `replay ${dir}: call ${call.index} (${graph}) diverged from the recording: input ${t.name} has ` +
            `${given.length / 4} elements, recorded ${recorded.length / 4}`,
        );
      let byte = 0;
      while (byte < recorded.length && byte < given.length && recorded[byte] === given[byte]) byte++;
      const e = Math.floor(byte / 4);
      const a = decodeRaw(recorded, t.dtype);
      const b = decodeRaw(given, t.dtype);
      throw new UserError(
        `replay ${dir}: call ${call.index} (${graph}) diverged from the recording: input ${t.name} differs at element ${e} ` +
          `(recorded ${a[e]}, given ${b[e]})`,
      );
    });
    call.outputs.forEach((t, k) => {
      const data = decodeRaw(readGoldenBytes(dir, t), t.dtype);
      if (outputs[k].length !== data.length)
        throw new RangeError(`replay: ${graph} output ${t.name} has ${outputs[k].length} elements, the recording ${data.length}`);
      outputs[k].set(data);
    });
  };

  const seedSpec = (g: "kv_forward" | "prefill_forward") => (flow === "seed" ? (want[g] as GraphSpec | undefined) : undefined);
  return {
    name: "replay",
    supportsTaps: false,
    graphs: {
      kv: seedSpec("kv_forward"),
      prefill: seedSpec("prefill_forward"),
      ...(flow === "current" ? { ar: [...arNames.values()].map((g) => want[g] as ArGraphSpec) } : {}),
    },
    async executeKv(inputs, outputs) {
      play("kv_forward", kvInputTensors(inputs), kvOutputTensors(outputs));
    },
    async executePrefill(inputs, outputs) {
      play("prefill_forward", prefillInputTensors(inputs), prefillOutputTensors(outputs));
    },
    async executeAr(arLen, inputs, outputs) {
      const graph = arNames.get(arLen);
      if (!graph) throw new Error(`replay backend: built without an AR-N graph of ${arLen} rows`);
      play(graph, arInputTensors(inputs), arOutputTensors(outputs));
    },
    dispose() {},
  };
}
