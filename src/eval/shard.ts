// Owns which items a shard of a sharded run scores (issue 18): `--shard K/N` (K counted from 0, 0 ≤ K < N), or the
// scheduler's environment — Slurm job arrays (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT
// tasks; a stepped array is refused, its ids would leave holes) or Kubernetes Indexed Jobs (JOB_COMPLETION_INDEX, with
// the count from LLAMA_GOLDEN_SHARD_COUNT since the pod does not see `completions`). An explicit --shard wins over the
// environment. Items are dealt round-robin (item i belongs to shard i mod N), so long and short documents spread
// evenly. Every mistake is a one-line UserError.
import { UserError } from "../util/errors.js";

export interface Shard {
  /** K, from 0. */
  index: number;
  /** N ≥ 1. */
  count: number;
}

const MAX_SHARDS = 1 << 20;
const intText = (s: string): number | undefined => (/^\s*\d+\s*$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : undefined);

/** `K/N` (K from 0). `source` names where it came from in errors ("--shard", "SLURM_ARRAY_TASK_ID"...). */
export function parseShardSpec(text: string, source: string): Shard {
  const m = /^\s*([^/]*)\/([^/]*)\s*$/.exec(text);
  const k = m ? intText(m[1]) : undefined;
  const n = m ? intText(m[2]) : undefined;
  if (k === undefined || n === undefined) throw new UserError(`${source} ${JSON.stringify(text)}: expected K/N with integers 0 <= K < N (e.g. 0/4: the first of four shards)`);
  return checkShard(k, n, source);
}

function checkShard(k: number, n: number, source: string): Shard {
  if (n < 1) throw new UserError(`${source}: the shard count must be at least 1, got ${n}`);
  if (n > MAX_SHARDS) throw new UserError(`${source}: ${n} shards is more than the limit of ${MAX_SHARDS}`);
  if (k >= n) throw new UserError(`${source}: shard index ${k} is not below the shard count ${n} (indices count from 0)`);
  return { index: k, count: n };
}

/** The shard the environment gives (Slurm array or Kubernetes Indexed Job), or undefined when it gives none. */
export function shardFromEnv(env: NodeJS.ProcessEnv): Shard | undefined {
  const get = (name: string): number | undefined => {
    const v = env[name];
    if (v === undefined || v === "") return undefined;
    const x = intText(v);
    if (x === undefined) throw new UserError(`${name}=${JSON.stringify(v)}: expected a non-negative integer`);
    return x;
  };
  const slurmId = get("SLURM_ARRAY_TASK_ID");
  const k8s = get("JOB_COMPLETION_INDEX");
  if (slurmId !== undefined && k8s !== undefined) throw new UserError("both SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX are set: give --shard K/N to say which shard this is");
  if (slurmId !== undefined) {
    const count = get("SLURM_ARRAY_TASK_COUNT");
    if (count === undefined) throw new UserError("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: give --shard K/N");
    const step = get("SLURM_ARRAY_TASK_STEP");
    if (step !== undefined && step !== 1) throw new UserError(`SLURM_ARRAY_TASK_STEP=${step}: a stepped job array leaves shards out; use --array=0-${count - 1} or give --shard K/N`);
    const min = get("SLURM_ARRAY_TASK_MIN") ?? 0;
    const max = get("SLURM_ARRAY_TASK_MAX");
    if (max !== undefined && max - min + 1 !== count)
      throw new UserError(`SLURM_ARRAY_TASK_MIN..MAX = ${min}..${max} is not ${count} consecutive ids (SLURM_ARRAY_TASK_COUNT): a listed array leaves shards out; use --array=0-${count - 1} or give --shard K/N`);
    if (slurmId < min) throw new UserError(`SLURM_ARRAY_TASK_ID=${slurmId} is below SLURM_ARRAY_TASK_MIN=${min}`);
    return checkShard(slurmId - min, count, "SLURM_ARRAY_TASK_ID");
  }
  if (k8s !== undefined) {
    const count = get("LLAMA_GOLDEN_SHARD_COUNT");
    if (count === undefined) throw new UserError("JOB_COMPLETION_INDEX is set: give the job's completions as LLAMA_GOLDEN_SHARD_COUNT (or --shard K/N)");
    return checkShard(k8s, count, "JOB_COMPLETION_INDEX");
  }
  return undefined;
}

/** The items 0..items−1 of shard `index` of `count`, round-robin. */
export function itemsOfShard(items: number, index: number, count: number): number[] {
  const out: number[] = [];
  for (let i = index; i < items; i += count) out.push(i);
  return out;
}
