// Owns scoring one item of `eval` (issue 18): a window's tokens fed to a fresh session of the evaluated model, every
// scored row turned into a TokenRecord (records.ts) — its NLL of the next token (log-softmax in float64, kl-stats.ts),
// its top token, and, when there is something to compare with, the comparison:
// - a base run (`--base FILE`): the stored log-probabilities of the same position (base-file.ts); the new row is
//   decoded through the same uint16 codes, so a model against itself gives exactly zero;
// - a reference session run in lock-step on the same window (`--sqnr_eval`: the fp32 model; `--device_logits`: the
//   golden model against the device's rows): KL and the rest from the exact log-probabilities, and the SQNR energies
//   Σ ref² and Σ (x − ref)² of the row (upstream's sqnr_eval, torchao compute_error: 20·log10(‖ref‖ / ‖x − ref‖) over
//   the whole logits tensor, i.e. the energies pooled over rows).
// Sessions are opened through a WindowRunner, so the runner's own code (src/runner) produces every row: the current
// flow's session in kv mode (one row per call) or hybrid mode (AR_pp rows per prefill call), the seed flow's kv or
// prefill session. Sums are float64 in ascending vocabulary order.
import type { ModelConfig } from "../engine/config.js";
import type { Backend, GraphBackend, LogitsArray } from "../engine/backend.js";
import type { CacheArray, MaskArray } from "../kvcache/types.js";
import { createCurrentSession } from "../runner/current-session.js";
import { createSession } from "../runner/session.js";
import { compareToken, logSoftmax, packLogProbs, unpackLogProbs } from "./kl-stats.js";
import type { BaseRow } from "./base-file.js";
import type { ItemRecord, TokenRecord } from "./records.js";
import type { Window } from "./windows.js";

/** The rows of one window's session, as they come: each call's rows of fed positions. */
export interface RowStream {
  next(): Promise<{ pos: number; row: Float32Array }[] | undefined>;
}

/** Opens a fresh session over `fed` (positions from 0). */
export type WindowRunner = (fed: readonly number[]) => RowStream;

/** The current flow's runner: kv mode (the AR = 1 graph, one row per call) or hybrid (prefill chunks of AR_pp rows). */
export function currentWindowRunner(o: { backend: Backend; config: ModelConfig; mode: "kv" | "hybrid"; contextLen: number; prefillArLen: number }): WindowRunner {
  return (fed) => {
    const s = createCurrentSession({
      backend: o.backend,
      config: o.config,
      mode: o.mode,
      contextLen: o.contextLen,
      prefillArLen: o.mode === "kv" ? 1 : o.prefillArLen,
      maxSeqLen: o.contextLen,
      promptTokens: fed.slice(),
      sampleRawCodes: false,
    });
    let done = false;
    return {
      async next() {
        if (done) return undefined;
        const r = await s.call();
        const rows = (r.promptLogits ?? []).map(({ pos, row }) => ({ pos, row: row.slice() }));
        if (r.sampled) done = true;
        else s.advance(-1);
        return rows;
      },
    };
  };
}

/** The seed flow's runner: a kv-mode session (one row per KV call) or a prefill-mode session (one call, every fed row). */
export function seedWindowRunner<C extends CacheArray, M extends MaskArray, G extends LogitsArray>(o: {
  backend: GraphBackend<C, M, G>;
  config: ModelConfig;
  mode: "kv" | "prefill";
  kvSeqLen: number;
  prefillSeqLen: number;
}): WindowRunner {
  return (fed) => {
    const s = createSession({ backend: o.backend, config: o.config, mode: o.mode, kvSeqLen: o.kvSeqLen, prefillSeqLen: o.prefillSeqLen, kvUpdater: "smart_mask", promptTokens: fed.slice() });
    const V = o.config.vocabSize;
    let done = false;
    return {
      async next() {
        if (done) return undefined;
        const r = await s.call();
        if (r.graph === "prefill") {
          done = true;
          const rows = [];
          for (let i = 0; i < r.rowCount; i++) rows.push({ pos: i, row: s.io.logitsToFloat(r.logits.subarray(i * V, (i + 1) * V) as G).slice() });
          return rows;
        }
        const row = { pos: r.position, row: r.row.slice() };
        if (r.position >= fed.length - 1) done = true;
        else s.advance(fed[r.position + 1]);
        return [row];
      },
    };
  };
}

/** Rows of a stream by position, pulled on demand (two streams of one window pair up even when their calls differ). */
function rowsByPosition(stream: RowStream) {
  const held = new Map<number, Float32Array>();
  let ended = false;
  return async (pos: number): Promise<Float32Array> => {
    while (!held.has(pos)) {
      if (ended) throw new Error(`the session gave no row for position ${pos}`);
      const rows = await stream.next();
      if (rows === undefined) ended = true;
      else for (const r of rows) held.set(r.pos, r.row);
    }
    const row = held.get(pos)!;
    for (const p of held.keys()) if (p <= pos) held.delete(p);
    return row;
  };
}

export interface ScoreOptions {
  run: WindowRunner;
  /** A session run in lock-step on the same window: the comparison's base (exact) and the SQNR reference. */
  reference?: WindowRunner;
  /** The stored base row of the run's n-th scored position (`--base`), n = `firstScored` + the item's scored index. */
  base?: (n: number) => BaseRow;
  /** Receives each scored row's stored form (`--save_base`). */
  onBaseRow?: (row: BaseRow) => void;
  /** Global index of the item's first scored position (for `base`). */
  firstScored?: number;
  /** The text of a target token (TokenRecord.piece). */
  piece?: (token: number) => string;
  /** Called after every scored row. */
  onRow?: () => void;
}

const argmaxRow = (x: ArrayLike<number>): number => {
  let b = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[b]) b = i;
  return b;
};

/** Σ ref², Σ (x − ref)² of one row, float64, ascending index. */
export function rowEnergies(x: Float32Array, ref: Float32Array): { signal: number; noise: number } {
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i];
    const d = x[i] - r;
    signal += r * r;
    noise += d * d;
  }
  return { signal, noise };
}

/** Scores one window (file header). */
export async function scoreWindow(item: { item: number; doc: number }, w: Window, o: ScoreOptions): Promise<ItemRecord> {
  const rowOf = rowsByPosition(o.run(w.fed));
  const refOf = o.reference ? rowsByPosition(o.reference(w.fed)) : undefined;
  const tokens: TokenRecord[] = [];
  for (let k = 0; k < w.targets.length; k++) {
    const pos = w.scoreFrom + k;
    const target = w.targets[k];
    const row = await rowOf(pos);
    const lp = logSoftmax(row);
    const rec: TokenRecord = { pos, target, nll: -lp[target], top: argmaxRow(row) };
    if (o.piece) rec.piece = o.piece(target);
    if (o.onBaseRow) o.onBaseRow({ target, packed: packLogProbs(lp) });
    let lpBase: Float64Array | undefined;
    let lpNew: Float64Array = lp;
    if (refOf) {
      const ref = await refOf(pos);
      Object.assign(rec, rowEnergies(row, ref));
      lpBase = logSoftmax(ref);
    }
    if (o.base) {
      const b = o.base((o.firstScored ?? 0) + k);
      if (b.target !== target) throw new Error(`base row ${(o.firstScored ?? 0) + k} scores token ${b.target}, this run ${target}`);
      lpBase = unpackLogProbs(b.packed);
      lpNew = unpackLogProbs(packLogProbs(lp));
    }
    if (lpBase) {
      const c = compareToken(lpBase, lpNew, target);
      rec.kl = c.kl;
      rec.reverseKl = c.reverseKl;
      rec.sameTop = c.sameTop;
      rec.dp = c.dp;
      rec.nllBase = c.nllBase;
      rec.nllCmp = c.nllNew;
    }
    tokens.push(rec);
    o.onRow?.();
  }
  return { item: item.item, doc: item.doc, start: w.start, fed: w.fed.length, tokens };
}
