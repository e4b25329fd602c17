// Owns choosing a checkpoint format by content (never by file name) and the one entry point `loadModel`.
import { UserError } from "../util/errors.js";
import { readUserFile } from "../util/files.js";
import { readParamsJson } from "./params-json.js";
import { llama2cBinFormat } from "./llama2c-bin.js";
import type { CheckpointFormat, LoadedModel } from "./types.js";

/** Formats tried in order; later issues add PyTorch zip and safetensors here. */
export const CHECKPOINT_FORMATS: CheckpointFormat[] = [llama2cBinFormat];

/** What a file that no format claims probably is, for the error message. */
function describeUnknown(head: Uint8Array): string {
  if (head[0] === 0x50 && head[1] === 0x4b) return "a zip archive (a PyTorch .pt/.pth checkpoint?), which this version cannot load yet";
  if (head.length >= 9 && head[8] === 0x7b) return "a safetensors file, which this version cannot load yet";
  if (head[0] === 0x80) return "a legacy (non-zip) pickle, which is not supported";
  return "not a recognised checkpoint format";
}

export interface LoadModelOptions {
  checkpoint: string;
  params?: string;
}

export function loadModel(o: LoadModelOptions): LoadedModel {
  const bytes = readUserFile(o.checkpoint, "checkpoint");
  const head = bytes.subarray(0, 64);
  const params = o.params !== undefined ? readParamsJson(o.params) : undefined;
  const fmt = CHECKPOINT_FORMATS.find((f) => f.detect(head, bytes.length));
  if (!fmt) throw new UserError(`checkpoint ${o.checkpoint}: ${describeUnknown(head)}`);
  return fmt.load(bytes, o.checkpoint, { params, paramsPath: o.params });
}
