// Owns what --model_mode lookahead adds to a run's options (SPEC-2026 §6): the generator's parameters with the seed of
// its branch initialisation (--seed, else 1: the device runner never calls srand), and the AR-N graphs a backend builds
// for a current-flow mode (decode AR 1, or next_pow2((W+G)(N−1)) for lookahead; the prompt graph AR_pp).
import type { EvalMode } from "../kvcache/types.js";
import { lookaheadArLen, type LookaheadParams } from "../runner/lookahead.js";
import { UserError } from "../util/errors.js";

export interface LookaheadFlags {
  modelMode: EvalMode | "lookahead";
  lookahead?: LookaheadParams;
  prefillArLen: number;
  seed?: bigint;
  temperature: number;
}

/** The session's lookahead option, or undefined outside lookahead mode. */
export function lookaheadOption(a: LookaheadFlags): (LookaheadParams & { seed: number }) | undefined {
  if (a.modelMode !== "lookahead" || !a.lookahead) return undefined;
  if (a.lookahead.semantics === "generic" && a.temperature !== 0)
    throw new UserError(`--lookahead_semantics generic is greedy (static_attention.py's lookahead_decode takes the argmax); --temperature must be 0, got ${a.temperature}`);
  // srand takes an unsigned int: the low 32 bits of --seed.
  return { ...a.lookahead, seed: a.seed === undefined ? 1 : Number(a.seed & 0xffffffffn) };
}

/** The AR lengths of a current-flow run's graphs: [decode AR, prompt AR] (kv mode: [1]). */
export function currentArLens(a: LookaheadFlags): number[] {
  if (a.modelMode === "kv") return [1];
  if (a.modelMode === "lookahead" && a.lookahead) return [lookaheadArLen(a.lookahead), a.prefillArLen];
  return [1, a.prefillArLen];
}
