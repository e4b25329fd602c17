// Owns the backend registry: a backend by name for the command line. The native and heavy engines
// (onnxruntime-node, TensorFlow.js, the QNN addon) are imported only when asked for, so other runs never load them.
import { createParallelReferenceBackend, createReferenceBackend } from "./reference.js";
import { createReplayBackend } from "./replay.js";
import type { Backend, BackendInit } from "../engine/backend.js";
import { UserError } from "../util/errors.js";

export const BACKEND_NAMES = ["reference", "onnxruntime", "tfjs", "replay", "qnn", "wasm"] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface CreateBackendOptions {
  /** replay: the golden-vector directory to play back. */
  replayDir?: string;
  /** onnxruntime: execution providers in preference order (e.g. ["qnn", "cpu"]). */
  providers?: string[];
  /** onnxruntime: expose intermediate tensors for bisection (larger graphs). */
  taps?: boolean;
  /** qnn: the ExecuTorch .pte holding the QNN context binary. */
  pte?: string;
  /** qnn: backend library (libQnnHtp.so / QnnHtp.dll) and system library (libQnnSystem.so / QnnSystem.dll). */
  backendLib?: string;
  systemLib?: string;
  /** qnn: backend provider name. */
  provider?: string;
  /**
   * wasm, reference: threads computing each weight product, the main thread included (default 1). For
   * "reference", giving it selects the fast exact matmul pool (same bits as the plain oracle, which is what
   * "reference" without it builds).
   */
  threads?: number;
}

export function isBackendName(name: string): name is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(name);
}

export async function createBackend(name: BackendName | string, init: BackendInit, opts: CreateBackendOptions = {}): Promise<Backend> {
  switch (name) {
    case "reference":
      return opts.threads === undefined ? createReferenceBackend(init) : createParallelReferenceBackend(init, { threads: opts.threads });
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
    case "qnn": {
      if (opts.pte === undefined) throw new UserError("--backend qnn needs --pte FILE (the ExecuTorch program holding the QNN context binary)");
      const { createQnnBackend } = await import("./qnn.js");
      return createQnnBackend({ ...init, pte: opts.pte, backendLib: opts.backendLib, systemLib: opts.systemLib, provider: opts.provider });
    }
    case "wasm": {
      const { createWasmBackend } = await import("./wasm.js");
      return createWasmBackend(init, { threads: opts.threads });
    }
    default:
      throw new UserError(`unknown backend ${JSON.stringify(name)}: expected one of ${BACKEND_NAMES.join(", ")}`);
  }
}
