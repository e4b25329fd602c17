// Owns the statistics the device runner prints (SPEC §6): the PyTorchObserver JSON line and the report
// (load time, TTFT from inference start, prompt-eval and generation rates), computed from run timings.
import type { GenerateResult } from "./generate.js";

/** Field names as in the device runner's `PyTorchObserver {json}` line. Times in ms since the epoch. */
export interface RunStats {
  prompt_tokens: number;
  generated_tokens: number;
  model_load_start_ms: number;
  model_load_end_ms: number;
  inference_start_ms: number;
  inference_end_ms: number;
  prompt_eval_end_ms: number;
  first_token_ms: number;
  aggregate_sampling_time_ms: number;
  SCALING_FACTOR_UNITS_PER_SECOND: number;
}

export interface DerivedStats {
  load_s: number;
  inference_s: number;
  ttft_s: number;
  prompt_eval_s: number;
  prompt_tok_per_s: number;
  generation_s: number;
  generation_tok_per_s: number;
  sampling_s: number;
}

/** Stats of a run. `generated_tokens` is the runner's `final pos - n` (SPEC §6), not the list length. */
export function buildStats(r: GenerateResult, loadStartMs: number, loadEndMs: number): RunStats {
  const t = r.timings;
  return {
    prompt_tokens: r.promptTokens.length,
    generated_tokens: r.finalPos - (r.startPos ?? 0) - r.promptTokens.length,
    model_load_start_ms: loadStartMs,
    model_load_end_ms: loadEndMs,
    inference_start_ms: t.inferenceStartMs,
    inference_end_ms: t.inferenceEndMs,
    prompt_eval_end_ms: t.promptEvalEndMs,
    first_token_ms: t.firstTokenMs,
    aggregate_sampling_time_ms: t.samplingMs,
    SCALING_FACTOR_UNITS_PER_SECOND: 1000,
  };
}

/** Rates as the device report computes them (prompt rate n / prompt time; generation rate generated / time). */
export function deriveStats(s: RunStats): DerivedStats {
  const sec = (ms: number) => ms / s.SCALING_FACTOR_UNITS_PER_SECOND;
  const promptS = sec(s.prompt_eval_end_ms - s.inference_start_ms);
  const genS = sec(s.inference_end_ms - s.prompt_eval_end_ms);
  const rate = (n: number, secs: number) => (secs > 0 ? n / secs : 0);
  return {
    load_s: sec(s.model_load_end_ms - s.model_load_start_ms),
    inference_s: sec(s.inference_end_ms - s.inference_start_ms),
    ttft_s: sec(s.first_token_ms - s.inference_start_ms),
    prompt_eval_s: promptS,
    prompt_tok_per_s: rate(s.prompt_tokens, promptS),
    generation_s: genS,
    generation_tok_per_s: rate(s.generated_tokens, genS),
    sampling_s: sec(s.aggregate_sampling_time_ms),
  };
}

/** The `PyTorchObserver {json}` line; timestamps rounded to whole ms as the device prints them. */
export function observerLine(s: RunStats): string {
  const o: Record<string, number> = {};
  for (const [k, v] of Object.entries(s)) o[k] = Math.round(v);
  return `PyTorchObserver ${JSON.stringify(o)}`;
}

/** The human-readable report (same lines and order as the device runner's log). */
export function reportLines(s: RunStats): string[] {
  const d = deriveStats(s);
  const f = (x: number) => x.toFixed(6);
  return [
    observerLine(s),
    `\tPrompt Tokens: ${s.prompt_tokens}    Generated Tokens: ${s.generated_tokens}`,
    `\tModel Load Time:\t\t${f(d.load_s)} (seconds)`,
    `\tTotal inference time:\t\t${f(d.inference_s)} (seconds)\t\t Rate: \t${f(d.inference_s > 0 ? s.generated_tokens / d.inference_s : 0)} (tokens/second)`,
    `\t\tPrompt evaluation:\t${f(d.prompt_eval_s)} (seconds)\t\t Rate: \t${f(d.prompt_tok_per_s)} (tokens/second)`,
    `\t\tGenerated ${s.generated_tokens} tokens:\t${f(d.generation_s)} (seconds)\t\t Rate: \t${f(d.generation_tok_per_s)} (tokens/second)`,
    `\tTime to first generated token:\t${f(d.ttft_s)} (seconds)`,
    `\tSampling time over ${s.generated_tokens} tokens:\t${f(d.sampling_s)} (seconds)`,
  ];
}

/** Why generation ended: a stop token was sampled, or the runner reached its seq_len (every graph position used). */
export type StopReason = "stop_token" | "seq_len";

export function stopReason(r: GenerateResult): StopReason {
  return r.stoppedOnToken ? "stop_token" : "seq_len";
}

/** One report line: which backend ran and why generation stopped. */
export function stopLine(r: GenerateResult, backend: string): string {
  const why = r.stoppedOnToken ? `stop token ${r.generatedTokens[r.generatedTokens.length - 1]}` : `seq_len reached at position ${r.finalPos}`;
  return `\tBackend: ${backend}    Stopped: ${why}`;
}
