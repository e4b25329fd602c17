// Owns the backend registry: a backend by name for the command line. The native and heavy engines
// (onnxruntime-node, TensorFlow.js) are imported only when asked for, so other runs never load them.
import { createReferenceBackend } from "./reference.js";
import { createReplayBackend } from "./replay.js";
import type { Backend, BackendInit } from "./types.js";
import { UserError } from "../util/errors.js";

export const BACKEND_NAMES = ["reference", "onnxruntime", "tfjs", "replay"] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface CreateBackendOptions {
  /** replay: the golden-vector directory to play back. */
  replayDir?: string;
  /** onnxruntime: execution providers in preference order (e.g. ["qnn", "cpu"]). */
  providers?: string[];
  /** onnxruntime: expose intermediate tensors for bisection (larger graphs). */
  taps?: boolean;
}

export function isBackendName(name: string): name is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(name);
}

export async function createBackend(name: BackendName | string, init: BackendInit, opts: CreateBackendOptions = {}): Promise<Backend> {
  switch (name) {
    case "reference":
      return createReferenceBackend(init);
    case "onnxruntime": {
      const { createOnnxRuntimeBackend } = await import("./onnxruntime.js");
      return createOnnxRuntimeBackend({ ...init, executionProviders: opts.providers, taps: opts.taps });
    }
    case "tfjs": {
      const { createTfjsBackend } = await import("./tfjs.js");
      return createTfjsBackend(init);
    }
    case "replay":
      if (opts.replayDir === undefined) throw new UserError("--backend replay needs --replay_dir DIR (a golden-vector recording)");
      return createReplayBackend(opts.replayDir, init);
    default:
      throw new UserError(`unknown backend ${JSON.stringify(name)}: expected one of ${BACKEND_NAMES.join(", ")}`);
  }
}
