// Owns the format-neutral view of a checkpoint: named tensors with a stored dtype and shape that load
// themselves as contiguous fp32 on demand, so loaders read one tensor at a time (bounded memory), and the
// allocation of weight memory.
//
// Weight memory decision: every fp32 weight a loader returns lives in a SharedArrayBuffer, so worker pools (the
// threaded reference engine, the wasm backend) can receive the arrays by postMessage without a copy. A
// SharedArrayBuffer costs the same as an ArrayBuffer: zero-filled lazily by the OS (pages become resident on first
// write), outside the V8 heap, freed when the last view on any thread is collected. A model's weights are views
// into ONE buffer: for a llama2.c .bin the file itself (read whole), for PyTorch and safetensors an arena sized
// from the tensor shapes before anything is read (`sharedArena`), each tensor read or converted straight into its
// slot. One large mapping lets the kernel back it with transparent huge pages where the process asks for them
// (GLIBC_TUNABLES=glibc.malloc.hugetlb=1), and the whole model is freed together. See docs/performance.md.
import { oneLine, UserError } from "../util/errors.js";
import type { StoredDType } from "./dtype.js";

export interface LoadedTensor {
  /** Row-major contiguous fp32 values, backed by a SharedArrayBuffer. */
  data: Float32Array;
  /** Index of the first NaN / ±Inf element, or -1 (found while converting, so no second pass is needed). */
  firstNonFinite: number;
}

export interface NamedTensor {
  name: string;
  dtype: StoredDType;
  shape: number[];
  /** Stored bytes this tensor reads (for progress reporting). */
  byteLength: number;
  /**
   * Identity of the stored data and view: tensors with equal keys hold the same values (a tied LM head
   * stored as the embedding's storage), so the loader can share one fp32 array between them.
   */
  identity: string;
  /**
   * Where the stored bytes start: which file (an index in the order files were opened) and the byte offset
   * in it. The loader reads tensors in this order, so a cold file is read front to back.
   */
  filePos: { file: number; offset: number };
  /**
   * Whether the tensor loads into an array of its own (numel elements). False when it is a view of memory the
   * loader shares between tensors (several views of one PyTorch storage); then `into` is ignored.
   */
  ownsArray: boolean;
  /**
   * Reads and converts; throws UserError on a damaged file (size, CRC). Non-finite values are reported, not thrown.
   * With `into` (numel elements, shared memory) and `ownsArray`, the values are written there and `data` is `into`.
   */
  loadChecked(into?: Float32Array): LoadedTensor;
  /** `loadChecked().data`: the fp32 values alone. */
  load(): Float32Array;
}

export type TensorSet = Map<string, NamedTensor>;

export const numelOf = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** A zero-filled Float32Array of `n` elements backed by its own SharedArrayBuffer (see the header). */
export function sharedFloat32(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(4 * n));
}

/** Floats per arena slot alignment: every tensor starts on a 64-byte boundary. */
const ARENA_ALIGN = 16;

/**
 * One SharedArrayBuffer holding arrays of the given element counts, each starting 64-byte aligned; returns the
 * views in order. `what` names the checkpoint when the allocation fails (a UserError: not enough memory).
 */
export function sharedArena(counts: number[], what: string): Float32Array[] {
  const offsets: number[] = [];
  let total = 0;
  for (const n of counts) {
    offsets.push(total);
    total += Math.ceil(n / ARENA_ALIGN) * ARENA_ALIGN;
  }
  let buf: SharedArrayBuffer;
  try {
    buf = new SharedArrayBuffer(4 * total);
  } catch (e) {
    throw new UserError(`${what}: cannot allocate ${(4 * total / 1e9).toFixed(2)} GB for the fp32 weights (${oneLine(String((e as Error).message ?? e))}); not enough memory?`);
  }
  return counts.map((n, i) => new Float32Array(buf, 4 * offsets[i], n));
}

/** True when `a` lives in a SharedArrayBuffer (what every loader returns). */
export function isShared(a: ArrayBufferView): boolean {
  return a.buffer instanceof SharedArrayBuffer;
}
