// Owns the worker pool's shared protocol (src/compute/pool.ts, worker.ts): the control block's layout (an
// Int32Array over a SharedArrayBuffer, driven with Atomics), the claim word through which every thread takes
// chunks, the fixed cut of a job's work units into chunks, and the policy for polling between jobs.
//
// One job = one kernel call split over threads: a kernel of the pool's table (KERNEL), the memory it runs on
// (SHARD), its int32 arguments (ARGS…), and UNITS work units (row panels, output rows) cut into CHUNKS chunks.
// Main thread, per job: write the descriptor, DONE = 0, NEXT = claimWord(seq, CHUNKS), SEQ = seq, notify SEQ;
// take chunks like a worker until none is left; wait until DONE = CHUNKS.
// Worker: poll SEQ for SPIN µs, then Atomics.wait(SEQ); on a new sequence number take chunks until none is
// left (a compareExchange on NEXT per chunk; read the descriptor after the claim), DONE += 1 each.
// Which thread computes a chunk varies from run to run; its values cannot: every unit is computed by exactly
// one chunk with the same kernel code on the same inputs. Atomics are sequentially consistent, so the plain
// writes before them (descriptor, inputs, outputs) are visible to the thread that observes them.

/** Slot indices in the control block. */
export const CTRL = {
  /** Job sequence number: bumped (then notified) once per job; workers wait for it to change. */
  SEQ: 0,
  /** Chunks of the current job computed so far. */
  DONE: 1,
  /** What to do: OP_RUN or OP_QUIT. */
  OP: 2,
  /** Non-zero when a worker failed the current job (its message is in the error text area). */
  ERROR: 3,
  /** Memory (shard) whose kernel instance runs the job. */
  SHARD: 4,
  /** Index of the job's kernel in the pool's kernel table. */
  KERNEL: 5,
  /** Work units of the job, and the chunks K they are cut into (shareOf). */
  UNITS: 6,
  CHUNKS: 7,
  /** The claim word: (job tag << CLAIM_INDEX_BITS) | chunks not yet taken (see claimWord). */
  NEXT: 8,
  /** Microseconds a worker polls for the next job before sleeping; set by the main thread (see nextPolling). */
  SPIN: 9,
  /** Length of the error text (UTF-16 code units, at most ERROR_TEXT_SLOTS). */
  ERROR_LENGTH: 10,
  /** First of MAX_ARGS slots: the kernel's arguments other than the chunk's unit range. */
  ARGS: 16,
  /** First of ERROR_TEXT_SLOTS slots holding a failing worker's message, one UTF-16 code unit each. */
  ERROR_TEXT: 32,
} as const;
export const MAX_ARGS = 8;
export const ERROR_TEXT_SLOTS = 240;
export const CTRL_SLOTS = CTRL.ERROR_TEXT + ERROR_TEXT_SLOTS;
export const OP_RUN = 1;
export const OP_QUIT = 2;
/** Most threads of one pool, the main thread included. */
export const MAX_THREADS = 256;

/** Chunks per thread: enough that a thread which starts late (descheduled) leaves its work to the others. */
export const CHUNKS_PER_THREAD = 4;
export const CLAIM_INDEX_BITS = 11;
export const CLAIM_INDEX_MASK = (1 << CLAIM_INDEX_BITS) - 1;
/** Job tags are the low 20 bits of the sequence number, so a claim word stays a positive int32. */
export const CLAIM_TAG_MASK = (1 << 20) - 1;

/** Everything the thread-side code (worker.ts) needs of this file, passed to it because it cannot import. */
export const PROTOCOL = {
  ...CTRL,
  opQuit: OP_QUIT,
  errorTextSlots: ERROR_TEXT_SLOTS,
  indexBits: CLAIM_INDEX_BITS,
  indexMask: CLAIM_INDEX_MASK,
  tagMask: CLAIM_TAG_MASK,
} as const;
export type Protocol = typeof PROTOCOL;

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

/** Chunks of a job of `units` work units on `threads` threads: about 4 per thread (at most CLAIM_INDEX_MASK). */
export function chunksFor(units: number, threads: number): number {
  return Math.min(units, threads * CHUNKS_PER_THREAD, CLAIM_INDEX_MASK);
}

/**
 * Rows per chunk of the exact matmul (src/compute/exact-matmul.ts) for m output rows on `threads` threads:
 * about 8 chunks per thread, even (the two-row JS kernel's step).
 */
export function chunkRows(m: number, threads: number): number {
  return Math.max(2, Math.ceil(m / (threads * 8) / 2) * 2);
}

/**
 * Units [u0, u1) of chunk `i` of `chunks`: contiguous, sizes differing by at most one, a fixed function of
 * (units, chunks, i). Which thread takes a chunk varies from run to run; the values cannot, since every unit
 * is computed by exactly one chunk with the same kernel code and no output's sum is split.
 */
export function shareOf(units: number, chunks: number, i: number): [number, number] {
  return [Math.floor((units * i) / chunks), Math.floor((units * (i + 1)) / chunks)];
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
