// Owns the loader interface: how a checkpoint format plugs in (detect by content, then load), and what a
// load returns. Formats of later issues (PyTorch zip, safetensors) add a CheckpointFormat to the registry.
import type { Model } from "../engine/weights.js";
import type { ParamsJson } from "../engine/config.js";

export interface LoadOptions {
  /** Parsed params.json, when the user gave one (--params). */
  params?: ParamsJson;
  /** Path of the params file, for messages. */
  paramsPath?: string;
}

export interface LoadedModel {
  model: Model;
  /** Format name, e.g. "llama2c-bin-v0". */
  format: string;
  /** The checkpoint path. */
  path: string;
}

export interface CheckpointFormat {
  name: string;
  /** True when the leading bytes (and size) look like this format. Must not throw. */
  detect(head: Uint8Array, fileSize: number): boolean;
  /** Loads the whole file; throws UserError on anything malformed, naming the path. */
  load(bytes: Uint8Array, path: string, opts: LoadOptions): LoadedModel;
}
