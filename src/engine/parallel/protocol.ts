// Owns the worker pool's shared protocol: the control block's layout (an Int32Array over a SharedArrayBuffer,
// driven with Atomics) and the row chunking, both used by the main thread and, as source text, by the workers
// (src/engine/parallel/worker-main.ts), so the two sides cannot disagree.
//
// One job = one weight product, its output rows cut into NCHUNKS chunks of CHUNK rows (chunkRange).
// ACTIVE is a gate: the number of workers inside a job, or CLOSED while the main thread writes a descriptor.
// Main thread, per job:
//   1. close the gate: compareExchange(ACTIVE, 0, CLOSED), waiting while workers are still inside;
//   2. write KIND, SLOT, T, M, N, CHUNK, NCHUNKS, NEXT = 0, FINISHED = 0;
//   3. open the gate (ACTIVE = 0), GEN += 1, Atomics.notify(GEN);
//   4. claim chunks with Atomics.add(NEXT, 1) and compute them, FINISHED += 1 per chunk;
//   5. wait until FINISHED = NCHUNKS (spin, then Atomics.wait).
// Worker: spin on GEN for a while, then Atomics.wait(GEN). On a new generation it enters through the gate
// (compareExchange ACTIVE → ACTIVE + 1, never while CLOSED), reads the descriptor, claims and computes chunks
// like the main thread (FINISHED += 1 each, notify at the last), then leaves (ACTIVE -= 1). The descriptor
// never changes while a worker is inside, so no chunk is ever computed with another job's descriptor (a
// worker that enters late simply helps with whatever job is current, or finds no chunk left); and the main
// thread never waits for a worker that is asleep or not scheduled: only for chunks actually claimed.
// Which thread computes a chunk varies from run to run; its values cannot: every output element is computed
// by the same sequential code from the same inputs. Atomics are sequentially consistent, so the plain
// writes before them (descriptor, x, y) are visible to the thread that observes them.

/** Control-block slots (Int32 indices). */
export const CTL = {
  /** Job generation, bumped once per job (and once more to stop). */
  GEN: 0,
  /** 1: workers exit at the next generation. */
  STOP: 1,
  /** Set to 1 by a worker whose chunk threw (the chunk still counts as finished). */
  ERR: 2,
  /** Workers inside a job, or CLOSED while the main thread writes the descriptor. */
  ACTIVE: 4,
  /** Next unclaimed chunk index. */
  NEXT: 5,
  /** Chunks computed. */
  FINISHED: 6,
  // The descriptor:
  /** Kernel: KIND_WASM or KIND_JS. */
  KIND: 7,
  /** Weight slot index (see the pool's slot table). */
  SLOT: 8,
  /** Token rows in this job (<= the scratch's row capacity). */
  T: 9,
  M: 10,
  N: 11,
  /** Rows per chunk. */
  CHUNK: 12,
  NCHUNKS: 13,
  /** Int32 length of the block. */
  LENGTH: 16,
} as const;

/** ACTIVE's value while the descriptor is being written. */
export const CLOSED = 1 << 30;

export const KIND_WASM = 0;
export const KIND_JS = 1;

/**
 * Rows of chunk k: [k·chunk, min(m, (k+1)·chunk)); empty (start >= end) past the last chunk.
 * Self-contained: its source runs in the workers.
 */
export function chunkRange(m: number, chunk: number, k: number): [number, number] {
  const start = k * chunk;
  return [Math.min(start, m), Math.min(start + chunk, m)];
}

/** Rows per chunk for a product with m output rows split over `threads`: about 8 chunks per thread, even. */
export function chunkRows(m: number, threads: number): number {
  return Math.max(2, Math.ceil(m / (threads * 8) / 2) * 2);
}
