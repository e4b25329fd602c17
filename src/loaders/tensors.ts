// Owns the format-neutral view of a checkpoint: named tensors with a stored dtype and shape that load
// themselves as contiguous fp32 on demand, so loaders read one tensor at a time (bounded memory).
import type { StoredDType } from "./dtype.js";

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
  /** Reads and converts to a fresh row-major contiguous Float32Array. */
  load(): Float32Array;
}

export type TensorSet = Map<string, NamedTensor>;

export const numelOf = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
