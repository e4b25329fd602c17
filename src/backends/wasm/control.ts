// Owns the shared control block of the wasm backend's thread pool: the Int32Array slots through which the
// main thread hands a matmul job to the workers and learns that it is done (Atomics, no message per job), the
// fixed cut of a job's row panels into chunks, the claim word through which threads take chunks, and the
// policy for polling between jobs.

/** Slot indices in the control block (an Int32Array over a SharedArrayBuffer). */
export const CTRL = {
  /** Job sequence number: bumped (then notified) once per job; workers wait for it to change. */
  SEQ: 0,
  /** Chunks of the current job computed so far. */
  DONE: 1,
  /** What to do: OP_MATMUL or OP_QUIT. */
  OP: 2,
  /** Non-zero when a worker failed the current job (its message is in the error text area). */
  ERROR: 3,
  /** Shard index (which memory / instance). */
  SHARD: 4,
  /** Kernel arguments, in MATMUL_PARAMS order except p0/p1 (from the chunk). */
  W: 5,
  X: 6,
  Y: 7,
  N_GROUPS: 8,
  PANELS: 9,
  T: 10,
  X_GROUP_STRIDE: 11,
  Y_STRIDE: 12,
  /** Length of the error text (UTF-16 code units, at most ERROR_TEXT_SLOTS). */
  ERROR_LENGTH: 13,
  /** Microseconds a worker polls for the next job before sleeping; set by the main thread (see nextPolling). */
  SPIN: 14,
  /** Chunks K of the current job. */
  CHUNKS: 15,
  /** The claim word: (job tag << CLAIM_INDEX_BITS) | chunks not yet taken (see claimWord). */
  NEXT: 16,
  /** First of ERROR_TEXT_SLOTS slots holding a failing worker's message, one UTF-16 code unit each. */
  ERROR_TEXT: 32,
} as const;
export const ERROR_TEXT_SLOTS = 240;
export const MAX_THREADS = 64;
export const CTRL_SLOTS = CTRL.ERROR_TEXT + ERROR_TEXT_SLOTS;
export const OP_MATMUL = 1;
export const OP_QUIT = 2;

/** Chunks per thread: enough that a thread which starts late (descheduled) leaves its work to the others. */
export const CHUNKS_PER_THREAD = 4;
export const CLAIM_INDEX_BITS = 11;
export const CLAIM_INDEX_MASK = (1 << CLAIM_INDEX_BITS) - 1;
/** Job tags are the low 20 bits of the sequence number, so a claim word stays a positive int32. */
export const CLAIM_TAG_MASK = (1 << 20) - 1;

/**
 * The claim word of job `seq` with `remaining` chunks not yet taken. A thread takes a chunk by a
 * compareExchange from w to w - 1 while the tag is its job's and remaining > 0; it then owns chunk
 * K - remaining. Because the count of chunks left lives in the same word as the job's tag, a claim can only
 * succeed on an open job and a chunk that exists, and while a thread holds an unfinished chunk the main thread
 * cannot finish the job or rewrite its descriptor: the descriptor it reads after claiming is that job's.
 */
export function claimWord(seq: number, remaining: number): number {
  return ((seq & CLAIM_TAG_MASK) << CLAIM_INDEX_BITS) | remaining;
}

/** Chunks of a job of `panels` row panels on `threads` threads (at most CLAIM_INDEX_MASK). */
export function chunksFor(panels: number, threads: number): number {
  return Math.min(panels, threads * CHUNKS_PER_THREAD, CLAIM_INDEX_MASK);
}

/**
 * Panels [p0, p1) of chunk `i` of `chunks`: contiguous, sizes differing by at most one, a fixed function of
 * (panels, chunks, i). Which thread takes a chunk varies from run to run; the values cannot, since every panel
 * is computed by exactly one chunk with the same kernel code and no output's sum is split.
 */
export function shareOf(panels: number, chunks: number, i: number): [number, number] {
  return [Math.floor((panels * i) / chunks), Math.floor((panels * (i + 1)) / chunks)];
}

/**
 * Polling policy. Waiting threads poll (spin) for a while before sleeping in Atomics.wait: on idle cores this
 * saves a sleep/wake per job (tens of µs each, ~85 jobs per decode step). But when other processes want the
 * cores, a polling thread takes CPU from the threads doing the work. The main thread watches two signs of that,
 * and switches polling off for a back-off time when it sees one, then tries again:
 * - lateness: `LATE_STRIKES` jobs in a row where it waited more than `LATE_MS` longer for the last chunks than
 *   its own part of the job took (a worker was descheduled holding a chunk);
 * - starving workers: over a window of `WINDOW_JOBS` jobs the main thread took more than halfway between its
 *   fair share (1/threads) and all of the chunks (the workers rarely got to run).
 * The back-off doubles (from `MIN_BACKOFF_MS` up to `MAX_BACKOFF_MS`) while this persists and resets after
 * `GOOD_JOBS` good jobs, so a one-off hiccup costs little and sustained contention is retried rarely.
 */
export interface Polling {
  /** Current polling time, µs (0 = sleep at once). */
  spinMicros: number;
  /** Consecutive late jobs while polling. */
  strikes: number;
  /** Consecutive good jobs while polling. */
  good: number;
  /** Jobs in the current window and the sum of the main thread's share of their chunks. */
  windowJobs: number;
  windowShare: number;
  /** While polling is off: the time (ms) to try it again. */
  retryAt: number;
  /** The next back-off, ms. */
  backoffMs: number;
}
export const LATE_MS = 0.2;
export const LATE_STRIKES = 3;
export const WINDOW_JOBS = 32;
export const GOOD_JOBS = 200;
export const MIN_BACKOFF_MS = 50;
export const MAX_BACKOFF_MS = 2000;

export const initialPolling = (spinMicros: number): Polling => ({
  spinMicros,
  strikes: 0,
  good: 0,
  windowJobs: 0,
  windowShare: 0,
  retryAt: 0,
  backoffMs: MIN_BACKOFF_MS,
});

/** The main thread's share of chunks above which the workers count as starved. */
export const starvedShare = (threads: number): number => 1 / threads + 0.5 * (1 - 1 / threads);

/**
 * The polling state after a job on `threads` threads: `ownMs` is how long the main thread spent taking chunks,
 * `lagMs` how long it then waited for the rest, `mainShare` the fraction of the chunks it took, `now` a ms
 * clock, `configured` the polling time to use when things are quiet.
 */
export function nextPolling(p: Polling, configured: number, threads: number, ownMs: number, lagMs: number, mainShare: number, now: number): Polling {
  if (configured <= 0) return initialPolling(0);
  if (p.spinMicros === 0) return now >= p.retryAt ? { ...p, spinMicros: configured, strikes: 0, good: 0, windowJobs: 0, windowShare: 0 } : p;
  const off = (): Polling => ({ ...initialPolling(0), retryAt: now + p.backoffMs, backoffMs: Math.min(MAX_BACKOFF_MS, 2 * p.backoffMs) });
  const strikes = lagMs - ownMs > LATE_MS ? p.strikes + 1 : 0;
  if (strikes >= LATE_STRIKES) return off();
  let windowJobs = p.windowJobs + 1;
  let windowShare = p.windowShare + mainShare;
  if (windowJobs >= WINDOW_JOBS) {
    if (windowShare / windowJobs > starvedShare(threads)) return off();
    windowJobs = 0;
    windowShare = 0;
  }
  const good = strikes === 0 ? p.good + 1 : 0;
  return { ...p, strikes, good, windowJobs, windowShare, backoffMs: good >= GOOD_JOBS ? MIN_BACKOFF_MS : p.backoffMs };
}
