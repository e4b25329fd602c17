// Owns the ONNX Runtime backend: the static graphs exported to ONNX (src/backends/onnx/build-graph.ts) — the seed
// flow's kv_forward / prefill_forward and, when `contextLen` is given, the current flow's AR-N graphs (SPEC-2026 §3,
// one session per AR length in `arLens`, default [1], exported with `attention`'s §8 options) — run by
// onnxruntime-node behind the Backend interface, with optional per-layer taps as extra outputs.
import * as ort from "onnxruntime-node";
import type { TapName } from "../engine/decoder.js";
import type { GraphSpec, TensorSpec } from "../engine/graph-io.js";
import { kvGraphSpec, prefillGraphSpec } from "../engine/graph-io.js";
import { checkArGraphIo, createArGraph, type ArGraph } from "../engine/ar-graph.js";
import type { ArGraphSpec } from "../engine/ar-graph-io.js";
import type { Model } from "../engine/weights.js";
import { oneLine, UserError } from "../util/errors.js";
import { buildArGraphModel, buildKvGraphModel, buildPrefillGraphModel, tapList, tapOutputName } from "./onnx/build-graph.js";
import type { Backend, BackendInit, ExecuteOptions } from "../engine/backend.js";

export interface OnnxRuntimeBackendInit extends BackendInit {
  /** ORT execution providers in priority order; default ["cpu"]. */
  executionProviders?: string[];
  /** Build the graphs with tap outputs so ExecuteOptions.tap receives intermediate tensors. */
  taps?: boolean;
  /** Extra ORT session options (threads, optimisation level); executionProviders above wins. */
  sessionOptions?: ort.InferenceSession.SessionOptions;
}

export interface OnnxRuntimeBackend extends Backend {
  /** The ORT sessions (for inspection: input/output names and metadata). */
  readonly sessions: { kv?: ort.InferenceSession; prefill?: ort.InferenceSession; /** AR-N sessions by AR length. */ ar: ReadonlyMap<number, ort.InferenceSession> };
}

type Feeds = Record<string, ort.Tensor>;

/** Wraps a typed array as a tensor of `dims`; a view into a larger buffer is copied so ORT sees exactly it. */
function tensor(a: Float32Array | Int32Array, dims: number[], name: string): ort.Tensor {
  const n = dims.reduce((x, y) => x * y, 1);
  if (a.length !== n) throw new RangeError(`onnxruntime backend: input ${name} has ${a.length} elements, expected ${n} ([${dims.join(", ")}])`);
  const whole = a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
  const data = whole ? a : a.slice();
  return a instanceof Float32Array
    ? new ort.Tensor("float32", data as Float32Array, dims)
    : new ort.Tensor("int32", data as Int32Array, dims);
}

function copyOut(name: string, t: ort.Tensor | undefined, dst: Float32Array): void {
  if (!t) throw new Error(`onnxruntime backend: missing output ${name}`);
  const src = t.data as Float32Array;
  if (src.length !== dst.length) throw new RangeError(`onnxruntime backend: output ${name} has ${src.length} elements, expected ${dst.length}`);
  dst.set(src);
}

async function createSession(bytes: Uint8Array, providers: string[], extra: ort.InferenceSession.SessionOptions | undefined): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(bytes, { ...extra, executionProviders: providers });
  } catch (e) {
    const msg = oneLine(e instanceof Error ? e.message : String(e));
    const supported = ort.listSupportedBackends().map((b) => b.name);
    const missing = providers.filter((p) => !supported.includes(p.toLowerCase()));
    const accelerators = providers.filter((p) => p.toLowerCase() !== "cpu");
    if (missing.length || accelerators.length || /execution provider|backend not found/i.test(msg))
      throw new UserError(
        `onnxruntime: execution provider(s) ${providers.join(", ")} could not be used` +
          (missing.length ? ` (not available in this onnxruntime-node build: ${missing.join(", ")}; available: ${supported.join(", ")})` : "") +
          `: ${msg}`,
      );
    throw e;
  }
}

/** Builds the requested graphs, loads them into ORT sessions, and returns the backend. */
export async function createOnnxRuntimeBackend(init: OnnxRuntimeBackendInit): Promise<OnnxRuntimeBackend> {
  const model: Model = init.model;
  const c = model.config;
  const providers = init.executionProviders ?? ["cpu"];
  const taps = init.taps ?? false;
  const tapsInfo = taps ? tapList(model).map((t) => ({ ...t, output: tapOutputName(t.layer, t.name) })) : [];

  const kvSpec = init.kvSeqLen !== undefined ? kvGraphSpec(c, init.kvSeqLen) : undefined;
  const prefillSpec = init.prefillSeqLen !== undefined ? prefillGraphSpec(c, init.prefillSeqLen) : undefined;
  // AR-N graphs as the reference builds them (engine-backend.ts): one per distinct AR length, in the given order.
  // The reference's ArGraph (shapes, spec, options) checks every call's tensors exactly as arForward does.
  const arGraphs: ArGraph[] = [];
  if (init.contextLen !== undefined)
    for (const arLen of new Set(init.arLens ?? [1])) arGraphs.push(createArGraph(model, { contextLen: init.contextLen, arLen, ...init.attention }));
  // Sessions are created one after the other so a build's bytes can be dropped before the next is made; if one
  // fails, those already created are released.
  const created: ort.InferenceSession[] = [];
  const open = async (bytes: () => Uint8Array) => {
    const s = await createSession(bytes(), providers, init.sessionOptions);
    created.push(s);
    return s;
  };
  let kv: ort.InferenceSession | undefined;
  let prefill: ort.InferenceSession | undefined;
  const ar = new Map<number, { graph: ArGraph; session: ort.InferenceSession }>();
  try {
    kv = kvSpec ? await open(() => buildKvGraphModel(model, init.kvSeqLen!, { taps })) : undefined;
    prefill = prefillSpec ? await open(() => buildPrefillGraphModel(model, init.prefillSeqLen!, { taps })) : undefined;
    for (const g of arGraphs) {
      const opts = { taps, maskedSoftmax: g.maskedSoftmax, r3: g.r3 !== null, name: g.spec.name };
      ar.set(g.arLen, { graph: g, session: await open(() => buildArGraphModel(model, g.contextLen, g.arLen, opts)) });
    }
  } catch (e) {
    await Promise.all(created.map((s) => s.release()));
    throw e;
  }
  const builtAr = arGraphs.length ? arGraphs.map((g) => g.arLen).join(", ") : "none, contextLen not given";

  const mainOutputs = (s: { outputs: TensorSpec[] }) => s.outputs.map((o) => o.name);

  async function run(session: ort.InferenceSession, spec: GraphSpec | ArGraphSpec, feeds: Feeds, opts: ExecuteOptions | undefined) {
    const wantTaps = taps && opts?.tap !== undefined;
    const fetches = wantTaps ? [...mainOutputs(spec), ...tapsInfo.map((t) => t.output)] : mainOutputs(spec);
    const res = await session.run(feeds, fetches);
    if (wantTaps) for (const t of tapsInfo) opts!.tap!(t.layer, t.name as TapName, res[t.output].data as Float32Array);
    return res;
  }

  function writeOutputs(spec: GraphSpec, res: ort.InferenceSession.OnnxValueMapType, logits: Float32Array, kOut: Float32Array[], vOut: Float32Array[]) {
    const n = c.nLayers * c.nKvHeads;
    if (kOut.length !== n || vOut.length !== n) throw new RangeError(`onnxruntime backend: expected ${n} K and V outputs`);
    copyOut("logits", res.logits, logits);
    for (let i = 0; i < n; i++) {
      copyOut(spec.outputs[1 + i].name, res[spec.outputs[1 + i].name], kOut[i]);
      copyOut(spec.outputs[1 + n + i].name, res[spec.outputs[1 + n + i].name], vOut[i]);
    }
  }

  let disposed = false;
  const live = () => {
    if (disposed) throw new Error("onnxruntime backend: used after dispose()");
  };

  return {
    name: "onnxruntime",
    supportsTaps: taps,
    graphs: { kv: kvSpec, prefill: prefillSpec, ...(arGraphs.length ? { ar: arGraphs.map((g) => g.spec) } : {}) },
    sessions: { kv, prefill, ar: new Map([...ar].map(([n, e]) => [n, e.session])) },
    async executeKv(inputs, outputs, opts) {
      live();
      if (!kv || !kvSpec) throw new Error("onnxruntime backend: built without a KV graph (kvSeqLen)");
      const ins = kvSpec.inputs;
      const n = c.nLayers * c.nKvHeads;
      if (inputs.kCaches.length !== n || inputs.vCaches.length !== n) throw new RangeError(`kv_forward: expected ${n} K and V caches`);
      const feeds: Feeds = {
        tokens: tensor(inputs.tokens, ins[0].shape, "tokens"),
        atten_mask: tensor(inputs.attnMask, ins[1].shape, "atten_mask"),
        input_pos: tensor(inputs.inputPos, ins[2].shape, "input_pos"),
      };
      for (let i = 0; i < n; i++) {
        feeds[ins[3 + i].name] = tensor(inputs.kCaches[i], ins[3 + i].shape, ins[3 + i].name);
        feeds[ins[3 + n + i].name] = tensor(inputs.vCaches[i], ins[3 + n + i].shape, ins[3 + n + i].name);
      }
      const res = await run(kv, kvSpec, feeds, opts);
      writeOutputs(kvSpec, res, outputs.logits, outputs.kOut, outputs.vOut);
    },
    async executePrefill(inputs, outputs, opts) {
      live();
      if (!prefill || !prefillSpec) throw new Error("onnxruntime backend: built without a prefill graph (prefillSeqLen)");
      const ins = prefillSpec.inputs;
      const feeds: Feeds = {
        tokens: tensor(inputs.tokens, ins[0].shape, "tokens"),
        atten_mask: tensor(inputs.attnMask, ins[1].shape, "atten_mask"),
      };
      const res = await run(prefill, prefillSpec, feeds, opts);
      writeOutputs(prefillSpec, res, outputs.logits, outputs.kOut, outputs.vOut);
    },
    async executeAr(arLen, inputs, outputs, opts) {
      live();
      const e = ar.get(arLen);
      if (!e) throw new Error(`onnxruntime backend: built without an AR-N graph of ${arLen} rows (built: ${builtAr})`);
      const { graph: g } = e;
      const spec = g.spec;
      checkArGraphIo(g, inputs, outputs); // arForward's checks: element counts, input_pos required unless AR == CL, positions < CL
      if (g.arLen === g.contextLen && inputs.inputPos?.some((p, i) => p !== i))
        throw new RangeError(`${spec.name}: the AR == CL graph has no input_pos (positions are arange(${g.contextLen})), got other positions`);
      const NL = c.nLayers;
      const ins = spec.inputs;
      const base = ins.length - 2 * NL; // tokens, atten_mask[, window_atten_mask][, input_pos]
      const feeds: Feeds = {
        tokens: tensor(inputs.tokens, ins[0].shape, "tokens"),
        atten_mask: tensor(inputs.attnMask, ins[1].shape, "atten_mask"),
      };
      for (let i = 2; i < base; i++) {
        const n = ins[i].name;
        if (n === "window_atten_mask") feeds[n] = tensor(inputs.windowMask!, ins[i].shape, n);
        else feeds[n] = tensor(inputs.inputPos!, ins[i].shape, n);
      }
      for (let l = 0; l < NL; l++) {
        feeds[ins[base + l].name] = tensor(inputs.kCaches[l], ins[base + l].shape, ins[base + l].name);
        feeds[ins[base + NL + l].name] = tensor(inputs.vCaches[l], ins[base + NL + l].shape, ins[base + NL + l].name);
      }
      const res = await run(e.session, spec, feeds, opts);
      // Copied only after the run: outputs may alias the inputs.
      copyOut("logits", res.logits, outputs.logits);
      for (let l = 0; l < NL; l++) {
        copyOut(spec.outputs[1 + l].name, res[spec.outputs[1 + l].name], outputs.kOut[l]);
        copyOut(spec.outputs[1 + NL + l].name, res[spec.outputs[1 + NL + l].name], outputs.vOut[l]);
      }
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      void kv?.release();
      void prefill?.release();
      for (const e of ar.values()) void e.session.release();
    },
  };
}
