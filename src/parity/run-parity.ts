// Owns the parity run: one token sequence through a reference and a candidate backend, graph call by graph
// call, each backend with its own KV-cache manager driven as the device runner drives it (SPEC §4–6).
//
// Two regimes:
//   lock-step    both backends are fed the reference's greedy tokens, and before every candidate call the
//                candidate's cache inputs (mask, K, V) are overwritten with the reference's, so every graph
//                call is judged on identical inputs, in isolation. The first call failing the tolerance is the
//                first divergent step; when both backends report taps, that call is rerun with taps on both
//                and the first (layer, tensor) below the tap tolerance is named (bisection).
//   free-running each backend runs alone on its own caches and its own greedy tokens; the first sampled token
//                that differs is reported.
// The report's `passed` is the lock-step verdict; free-running drift is reported, not judged.
import type { Backend } from "../engine/backend.js";
import type { Model } from "../engine/weights.js";
import { LAYER_TAPS, type TapFn, type TapName } from "../engine/decoder.js";
import type { EvalMode } from "../kvcache/types.js";
import { checkRunShape, createSession, type CallResult, type KvUpdater, type RunnerSession } from "../runner/session.js";
import { checkCurrentShape, createCurrentSession, type CurrentMode, type CurrentSession } from "../runner/current-session.js";
import type { LookaheadParams } from "../runner/lookahead.js";
import { UserError } from "../util/errors.js";
import { checkTolerance, compareTensors, klDivergence, top1, type TensorDiff } from "./metrics.js";
import type { ParityTolerance } from "./tolerances.js";

export type GraphKind = "prefill" | "kv";

interface ParityCommon {
  model: Model;
  reference: Backend;
  candidate: Backend;
  /** Prompt ids as fed (BOS included). */
  promptTokens: number[];
  /** Tokens to generate (greedy); graph calls are bounded by this and by the graphs' capacity. */
  steps: number;
  tolerance: ParityTolerance;
  /** Also run the free-running regime (default true). */
  freeRunning?: boolean;
  /**
   * Progress in graph calls per regime (a progress bar; never changes the report): (0, total) when a regime
   * starts, then after every call. Free-running counts both backends' calls; a bisection rerun is not counted.
   */
  onProgress?: (done: number, total: number, phase: "lock-step" | "free-running") => void;
}

/** The seed flow (SPEC §3–6): the prefill and KV graphs with either cache updater. */
export interface SeedParityOptions extends ParityCommon {
  flow?: "seed";
  mode: EvalMode;
  kvUpdater: KvUpdater;
  kvSeqLen: number;
  prefillSeqLen: number;
}

/** The current flow (SPEC-2026 §3–5): AR-N calls (prompt chunks, then AR = 1 decode steps) over Smart Mask. */
export interface CurrentParityOptions extends ParityCommon {
  flow: "current";
  mode: CurrentMode;
  /** CL (--max_context_len). */
  contextLen: number;
  /** AR_pp (--prefill_ar_len). */
  prefillArLen: number;
  /** --max_seq_len. */
  maxSeqLen: number;
  /** Lookahead mode: N, W, G, semantics and the initialisation seed (SPEC-2026 §6). */
  lookahead?: LookaheadParams & { seed: number };
}

export type RunParityOptions = SeedParityOptions | CurrentParityOptions;

/** A K or V comparison of one (layer, head). */
export interface HeadDiff extends TensorDiff {
  layer: number;
  head: number;
}

export interface RowsSummary {
  /** Logits rows compared (prefill calls: every fed row 0..position). */
  count: number;
  /** The row with the lowest SQNR, and its metrics. */
  worstRow: number;
  worst: TensorDiff;
  maxKl: number;
  top1Mismatches: number;
}

export interface StepReport {
  index: number;
  graph: GraphKind;
  /** The position whose logits are sampled (KV calls: input_pos; prefill calls: the sampled row). */
  position: number;
  /** KV calls: the token fed. */
  token?: number;
  /** Metrics of the logits row used for sampling. */
  logits: TensorDiff;
  kl: number;
  top1: boolean;
  top1Reference: number;
  top1Candidate: number;
  /** Prefill calls: all fed rows. */
  rows?: RowsSummary;
  /** The worst (lowest SQNR) new-K and new-V output over every layer and head. */
  k: HeadDiff;
  v: HeadDiff;
  passed: boolean;
  failures: string[];
}

export interface TapDiff {
  layer: number;
  tensor: TapName;
  sqnrDb: number;
  maxAbs: number;
  nonFinite: number;
}

export interface BisectResult {
  step: number;
  /** The first tap (compute order) below the tolerance; when none is, the lowest-SQNR tap. */
  layer: number;
  tensor: TapName;
  sqnrDb: number;
  belowTolerance: boolean;
  perLayer: TapDiff[];
}

export interface TokenMismatch {
  /** Index into the generated tokens. */
  index: number;
  /** Graph call (step index) that sampled it, and the position whose logits it came from. */
  step: number;
  position: number;
  reference: number;
  candidate: number;
}

export interface ParityReport {
  passed: boolean;
  /** Current flow only (absent: the seed flow): the flow and its graph lengths. */
  flow?: "current";
  contextLen?: number;
  prefillArLen?: number;
  maxSeqLen?: number;
  mode: EvalMode | "lookahead";
  kvUpdater: KvUpdater;
  backend: string;
  referenceBackend: string;
  tolerance: ParityTolerance;
  promptTokens: number[];
  steps: StepReport[];
  firstDivergentStep: number | null;
  bisect?: BisectResult;
  /** Why no bisection ran after a failure (e.g. a backend without taps). */
  bisectNote?: string;
  freeRunning?: {
    tokensReference: number[];
    tokensCandidate: number[];
    firstTokenMismatch: TokenMismatch | null;
  };
}

type CallOut = CallResult<Float32Array, Float32Array>;
type Session = RunnerSession<Float32Array, Float32Array, Float32Array>;

/**
 * One backend's runner session as parity drives it, whatever the flow: calls whose K/V outputs come as one array
 * per (layer, KV head) in layer-major order, reruns into fresh outputs, and lock-step cache adoption.
 */
interface ParitySession {
  readonly phase: string;
  readonly generated: readonly number[];
  call(opts?: { tap?: TapFn; fresh?: boolean }): Promise<CallOut>;
  /** Moves on greedily from a call's logits (the reference's, in lock-step): its row's top-1, or every lookahead row it reads. */
  advanceFrom(r: CallOut): void;
  /** Takes the other session's cache inputs for the next call (lock-step). */
  adopt(from: ParitySession): void;
  /** Graph calls a greedy run of `steps` tokens makes from here. */
  plannedCalls(steps: number): number;
}

/** One backend driven through the seed runner's flow for a mode (src/runner/session.ts), greedy, without stop tokens. */
function seedSession(backend: Backend, o: SeedParityOptions): ParitySession {
  const { model, mode, kvUpdater, kvSeqLen, prefillSeqLen, promptTokens } = o;
  const s: Session = createSession({ backend, config: model.config, mode, kvUpdater, kvSeqLen, prefillSeqLen, promptTokens });
  const self: ParitySession & { s: Session } = {
    s,
    get phase() {
      return s.phase;
    },
    get generated() {
      return s.generated;
    },
    call: (opts) => s.call(opts),
    advanceFrom: (r) => void s.advance(top1(r.row)),
    // Only KV calls read caches; a prefill call's inputs are the prompt alone.
    adopt: (from) => {
      if (s.phase === "kv") s.adoptCacheInputs((from as typeof self).s);
    },
    // Up to position n - 1 + steps (or the end of the caches).
    plannedCalls: (steps) => Math.max(1, Math.min(promptTokens.length - 1 + steps, s.cache.sizedLen) - s.pos),
  };
  return self;
}

/**
 * The current flow's session (src/runner/current-session.ts), greedy, without stop tokens. Its per-layer K/V outputs
 * ([H, hd, AR] and [H, AR, hd]) are handed to the comparison as per-head views (heads are contiguous in both).
 */
function currentSession(backend: Backend, o: CurrentParityOptions): ParitySession {
  const c = o.model.config;
  const s: CurrentSession = createCurrentSession({
    backend,
    config: c,
    mode: o.mode,
    contextLen: o.contextLen,
    prefillArLen: o.prefillArLen,
    maxSeqLen: o.maxSeqLen,
    promptTokens: o.promptTokens,
    ...(o.lookahead ? { lookahead: o.lookahead } : {}),
  });
  const H = c.nKvHeads;
  const heads = (perLayer: Float32Array[]) =>
    perLayer.flatMap((t) => Array.from({ length: H }, (_, h) => t.subarray((h * t.length) / H, ((h + 1) * t.length) / H)));
  const n = o.promptTokens.length;
  const ar = o.mode === "kv" ? 1 : o.prefillArLen;
  const seqLen = Math.min(o.maxSeqLen, o.contextLen);
  const self: ParitySession & { s: CurrentSession } = {
    s,
    get phase() {
      return s.phase;
    },
    get generated() {
      return s.generated;
    },
    call: async (opts) => {
      const r = await s.call(opts);
      return { ...r, kOut: heads(r.kOut as Float32Array[]), vOut: heads(r.vOut as Float32Array[]) };
    },
    advanceFrom: (r) => {
      if (r.lookahead) s.advanceLookahead((slot) => top1(r.lookahead!.slotRow(slot)));
      else s.advance(top1(r.row));
    },
    adopt: (from) => s.adoptCacheInputs((from as typeof self).s),
    // ceil(n / AR) prompt chunks, then one decode call per further token while pos < seq_len - 1 (SPEC-2026 §5).
    plannedCalls: (steps) => Math.ceil(n / ar) + Math.min(steps - 1, Math.max(0, seqLen - 1 - n)),
  };
  return self;
}

function newSession(backend: Backend, o: RunParityOptions): ParitySession {
  return o.flow === "current" ? currentSession(backend, o) : seedSession(backend, o);
}

const done = (s: ParitySession) => s.phase === "done";

const rowOf = (x: Float32Array, r: number, V: number) => x.subarray(r * V, (r + 1) * V);

/** Lowest SQNR first; a non-finite element makes a comparison worse than any finite one. */
function worse(a: TensorDiff, b: TensorDiff): boolean {
  if (a.nonFinite !== b.nonFinite) return a.nonFinite > b.nonFinite;
  return a.sqnrDb < b.sqnrDb || (Number.isNaN(a.sqnrDb) && !Number.isNaN(b.sqnrDb));
}

function compareCall(ref: CallOut, cand: CallOut, V: number, t: ParityTolerance, nKvHeads: number): Omit<StepReport, "index"> {
  const failures: string[] = [];
  const logitsTol = { minSqnrDb: t.logitsSqnrDb, maxAbs: t.maxAbs, maxKl: t.maxKl, requireTop1: t.requireTop1 };
  // The sampled (or last fed) row: the last of the rows that carry fed tokens; a lookahead call's first sampled row is
  // slot 0's (SPEC-2026 §6.4), and all its rows are fed.
  const sampleRow = ref.lookahead ? 0 : ref.rowCount - 1;
  const judgeRow = (r: number) => {
    const rr = rowOf(ref.logits, r, V);
    const cr = rowOf(cand.logits, r, V);
    const d = compareTensors(cr, rr);
    const kl = klDivergence(rr, cr);
    const tr = top1(rr);
    const tc = top1(cr);
    const chk = checkTolerance(d, logitsTol, { kl, top1: tr === tc });
    return { d, kl, tr, tc, chk };
  };
  const main = judgeRow(sampleRow);
  for (const f of main.chk.failures) failures.push(`logits: ${f}`);

  let rows: RowsSummary | undefined;
  if (ref.graph === "prefill" || ref.lookahead) {
    rows = { count: ref.rowCount, worstRow: sampleRow, worst: main.d, maxKl: main.kl, top1Mismatches: 0 };
    let failedRows = 0;
    let firstFail = "";
    for (let r = 0; r < ref.rowCount; r++) {
      const j = r === sampleRow ? main : judgeRow(r);
      if (worse(j.d, rows.worst)) {
        rows.worst = j.d;
        rows.worstRow = r;
      }
      if (!(j.kl <= rows.maxKl)) rows.maxKl = j.kl;
      if (j.tr !== j.tc) rows.top1Mismatches++;
      if (r !== sampleRow && !j.chk.passed) {
        if (failedRows === 0) firstFail = `row ${r}: ${j.chk.failures.join(", ")}`;
        failedRows++;
      }
    }
    if (failedRows > 0) failures.push(`logits: ${failedRows} other fed row(s) fail, first ${firstFail}`);
  }

  const kvTol = { minSqnrDb: t.kvSqnrDb, maxAbs: t.maxAbs };
  const judgeHeads = (what: "k" | "v", refs: Float32Array[], cands: Float32Array[]): HeadDiff => {
    let worst: HeadDiff | undefined;
    let worstFailing: { d: HeadDiff; failures: string[] } | undefined;
    let failed = 0;
    refs.forEach((r, i) => {
      const d: HeadDiff = { ...compareTensors(cands[i], r), layer: Math.floor(i / nKvHeads), head: i % nKvHeads };
      const chk = checkTolerance(d, kvTol);
      if (!worst || worse(d, worst)) worst = d;
      if (!chk.passed) {
        failed++;
        if (!worstFailing || worse(d, worstFailing.d)) worstFailing = { d, failures: chk.failures };
      }
    });
    if (worstFailing)
      failures.push(
        `${what}: ${failed}/${refs.length} heads fail, worst layer ${worstFailing.d.layer} head ${worstFailing.d.head}: ${worstFailing.failures.join(", ")}`,
      );
    return worst!;
  };
  const k = judgeHeads("k", ref.kOut, cand.kOut);
  const v = judgeHeads("v", ref.vOut, cand.vOut);

  return {
    graph: ref.graph,
    position: ref.position,
    ...(ref.token !== undefined ? { token: ref.token } : {}),
    logits: main.d,
    kl: main.kl,
    top1: main.tr === main.tc,
    top1Reference: main.tr,
    top1Candidate: main.tc,
    ...(rows ? { rows } : {}),
    k,
    v,
    passed: failures.length === 0,
    failures,
  };
}

/** Taps in compute order: embedding, then per layer LAYER_TAPS, then final_norm. */
export function tapOrder(nLayers: number): { layer: number; tensor: TapName }[] {
  const order: { layer: number; tensor: TapName }[] = [{ layer: -1, tensor: "embedding" }];
  for (let l = 0; l < nLayers; l++) for (const t of LAYER_TAPS) order.push({ layer: l, tensor: t });
  order.push({ layer: nLayers, tensor: "final_norm" });
  return order;
}

function tapCollector(): { taps: Map<string, Float32Array>; tap: TapFn } {
  const taps = new Map<string, Float32Array>();
  return { taps, tap: (layer, name, data) => taps.set(`${layer}/${name}`, data.slice()) };
}

async function bisectCall(step: number, ref: ParitySession, cand: ParitySession, nLayers: number, t: ParityTolerance): Promise<BisectResult> {
  const r = tapCollector();
  const c = tapCollector();
  await ref.call({ tap: r.tap, fresh: true });
  await cand.call({ tap: c.tap, fresh: true });
  const perLayer: TapDiff[] = [];
  let first: TapDiff | undefined;
  let lowest: TapDiff | undefined;
  for (const { layer, tensor } of tapOrder(nLayers)) {
    const a = c.taps.get(`${layer}/${tensor}`);
    const b = r.taps.get(`${layer}/${tensor}`);
    if (!a || !b || a.length !== b.length) continue;
    const d = compareTensors(a, b);
    const td: TapDiff = { layer, tensor, sqnrDb: d.sqnrDb, maxAbs: d.maxAbs, nonFinite: d.nonFinite };
    perLayer.push(td);
    const bad = d.nonFinite > 0 || !(d.sqnrDb >= t.tapSqnrDb);
    if (bad && !first) first = td;
    if (!lowest || td.nonFinite > lowest.nonFinite || (td.nonFinite === lowest.nonFinite && td.sqnrDb < lowest.sqnrDb)) lowest = td;
  }
  const named = first ?? lowest;
  if (!named) throw new Error("parity: bisection received no intermediate tensors from the backends");
  return { step, layer: named.layer, tensor: named.tensor, sqnrDb: named.sqnrDb, belowTolerance: first !== undefined, perLayer };
}

function checkSteps(steps: number): void {
  if (!Number.isInteger(steps) || steps < 1) throw new UserError(`--steps must be an integer >= 1, got ${steps}`);
}

/** A free run: the greedy tokens, and for each the index of the graph call that sampled it. */
async function freeRun(o: RunParityOptions, backend: Backend, onCall: () => void = () => {}): Promise<{ tokens: number[]; calls: number[] }> {
  const s = newSession(backend, o);
  const calls: number[] = [];
  for (let call = 0; !done(s) && s.generated.length < o.steps; call++) {
    const before = s.generated.length;
    s.advanceFrom(await s.call());
    for (let i = before; i < s.generated.length; i++) calls.push(call);
    onCall();
  }
  return { tokens: s.generated.slice(), calls };
}

export async function runParity(o: RunParityOptions): Promise<ParityReport> {
  if (o.flow === "current")
    checkCurrentShape({ config: o.model.config, mode: o.mode, contextLen: o.contextLen, prefillArLen: o.prefillArLen, maxSeqLen: o.maxSeqLen, promptTokens: o.promptTokens, lookahead: o.lookahead });
  else checkRunShape({ mode: o.mode, kvSeqLen: o.kvSeqLen, prefillSeqLen: o.prefillSeqLen, promptTokens: o.promptTokens, config: o.model.config });
  checkSteps(o.steps);
  const c = o.model.config;
  const V = c.vocabSize;
  const t = o.tolerance;

  // Lock-step.
  const ref = newSession(o.reference, o);
  const cand = newSession(o.candidate, o);
  const steps: StepReport[] = [];
  let firstDivergentStep: number | null = null;
  let bisect: BisectResult | undefined;
  let bisectNote: string | undefined;
  const calls = ref.plannedCalls(o.steps);
  o.onProgress?.(0, calls, "lock-step");
  for (let index = 0; !done(ref) && ref.generated.length < o.steps; index++) {
    const r = await ref.call();
    cand.adopt(ref);
    const k = await cand.call();
    const step: StepReport = { index, ...compareCall(r, k, V, t, c.nKvHeads) };
    steps.push(step);
    if (!step.passed && firstDivergentStep === null) {
      firstDivergentStep = index;
      if (o.reference.supportsTaps && o.candidate.supportsTaps) {
        bisect = await bisectCall(index, ref, cand, c.nLayers, t);
      } else {
        const without = [o.reference, o.candidate].filter((b) => !b.supportsTaps).map((b) => b.name);
        bisectNote = `no bisection: ${without.join(", ")} cannot report intermediate tensors`;
      }
    }
    ref.advanceFrom(r);
    cand.advanceFrom(r);
    o.onProgress?.(index + 1, calls, "lock-step");
  }

  const report: ParityReport = {
    passed: firstDivergentStep === null,
    ...(o.flow === "current" ? { flow: "current" as const, contextLen: o.contextLen, prefillArLen: o.prefillArLen, maxSeqLen: o.maxSeqLen } : {}),
    mode: o.mode,
    // The current flow has Smart Mask only (SPEC-2026 §4).
    kvUpdater: o.flow === "current" ? "smart_mask" : o.kvUpdater,
    backend: o.candidate.name,
    referenceBackend: o.reference.name,
    tolerance: t,
    promptTokens: o.promptTokens.slice(),
    steps,
    firstDivergentStep,
  };
  if (bisect) report.bisect = bisect;
  if (bisectNote) report.bisectNote = bisectNote;

  if (o.freeRunning !== false) {
    let freeCalls = 0;
    const onCall = () => o.onProgress?.(++freeCalls, 2 * calls, "free-running");
    o.onProgress?.(0, 2 * calls, "free-running");
    const r = await freeRun(o, o.reference, onCall);
    const k = await freeRun(o, o.candidate, onCall);
    const tokensReference = r.tokens;
    const tokensCandidate = k.tokens;
    let firstTokenMismatch: TokenMismatch | null = null;
    const n = o.promptTokens.length;
    const len = Math.max(tokensReference.length, tokensCandidate.length);
    for (let i = 0; i < len; i++) {
      if (tokensReference[i] !== tokensCandidate[i]) {
        firstTokenMismatch = {
          index: i,
          step: r.calls[i] ?? k.calls[i],
          position: n - 1 + i,
          reference: tokensReference[i] ?? -1,
          candidate: tokensCandidate[i] ?? -1,
        };
        break;
      }
    }
    report.freeRunning = { tokensReference, tokensCandidate, firstTokenMismatch };
  }
  return report;
}
