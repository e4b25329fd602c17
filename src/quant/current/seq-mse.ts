// Owns SeqMSE (SPEC-2026 §10.4; backends/qualcomm/_passes/seq_mse.py at cff6f4dd): for one conv, the single scalar
// multiplier m of its weight observer's scales that minimises MSE(conv(x, fakequant(W, s·m)), y) over the float conv
// input x and float conv output y of calibration batch 0 (quantize/ptq.py:65-73 runs it on batch 0 only).
// The search (SeqMseModule._find_best_candidate, seq_mse.py:107-135): m = 1 first; a coarse sweep over
// linspace(1/K, 1, K); a fine sweep over linspace(max(m* - 1/K, 0.001), min(m* + 1/K, 1), K); a candidate replaces
// the best only when its loss is strictly smaller. K = the model's seq_mse_candidates (50 for Llama 3.2 1B and
// Qwen3 0.6B). The scales s·m are fp32 (`scale * step`); fakequant is fp32(q · s) with the weight codes' rounding
// (src/quant/current/weights.ts); conv(x, W) is the engine's weight product (matMulRows). Differences from torch,
// documented: the loss is summed in float64 (torch's mse_loss sums in fp32), and linspace uses ATen's scalar
// formula (start + step·i for the first half, end - step·(K-1-i) for the rest, fp32), not its vectorised variant.
// Speed: the 1 + 2K products of a search run on the project's exact WebAssembly kernel (src/compute/
// kernels-exact.ts: every output bit-identical to matMulRows, tested there), on a memory of the conv's own.
import { matMulRows } from "../../engine/kernels.js";
import { buildExactMatMulModule, instantiateExactMatMul } from "../../compute/kernels-exact.js";
import { fakeQuantWeight } from "./weights.js";

const fround = Math.fround;

/** torch.linspace(start, end, steps) in float32, as a list (ATen's linspace kernel, scalar path). */
export function linspace32(start: number, end: number, steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`linspace: steps ${steps} is not a positive integer`);
  const a = fround(start);
  const b = fround(end);
  if (steps === 1) return [a];
  const step = fround(fround(b - a) / (steps - 1));
  const half = Math.floor(steps / 2);
  return Array.from({ length: steps }, (_, i) => (i < half ? fround(a + fround(step * i)) : fround(b - fround(step * (steps - i - 1)))));
}

export interface SeqMseProblem {
  /** The float weight [rows, cols]. */
  weight: Float32Array;
  rows: number;
  cols: number;
  /** The observer's scales, one per (row, group) row-major. */
  scales: Float32Array;
  /** Columns per scale group (cols for per channel, the block size for per block). */
  group: number;
  qmax: number;
  /** Float conv input [T, cols] and output [T, rows] of calibration batch 0. */
  x: Float32Array;
  y: Float32Array;
  T: number;
}

/** MSE(conv(x, fakequant(W, fp32(s · step))), y), summed in float64 over the whole output. */
export function seqMseLoss(p: SeqMseProblem, step: number, scratch?: { w: Float32Array; y: Float32Array }): number {
  const s = p.scales.map((v) => fround(v * step));
  const w = fakeQuantWeight(p.weight, p.rows, p.cols, s, p.group, p.qmax, scratch?.w);
  const y = scratch?.y ?? new Float32Array(p.T * p.rows);
  matMulRows(y, w, p.x, p.T, p.rows, p.cols);
  let sum = 0;
  for (let i = 0; i < y.length; i++) {
    const d = y[i] - p.y[i];
    sum += d * d;
  }
  return sum / y.length;
}

export interface SeqMseResult {
  /** The chosen multiplier (1 when nothing beat it). */
  step: number;
  loss: number;
  /** Loss at m = 1. */
  loss1: number;
  /** Candidates evaluated (1 + 2K). */
  evaluations: number;
}

/** The loss of one candidate step, on a WebAssembly memory holding x once (the search's evaluator). */
function wasmEvaluator(p: SeqMseProblem, module: WebAssembly.Module): (step: number) => number {
  const { rows: m, cols: n, T: t } = p;
  const wBytes = m * n * 4;
  const xAt = Math.ceil(wBytes / 8) * 8;
  const yAt = xAt + t * n * 8;
  const pages = Math.max(1, Math.ceil((yAt + t * m * 4) / 65536));
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const mm = instantiateExactMatMul(module, memory);
  const w = new Float32Array(memory.buffer, 0, m * n);
  new Float64Array(memory.buffer, xAt, t * n).set(p.x);
  const y = new Float32Array(memory.buffer, yAt, t * m);
  return (step) => {
    fakeQuantWeight(p.weight, m, n, p.scales.map((v) => fround(v * step)), p.group, p.qmax, w);
    mm(0, xAt, yAt, t, m, n, 0, m);
    let sum = 0;
    for (let i = 0; i < y.length; i++) {
      const d = y[i] - p.y[i];
      sum += d * d;
    }
    return sum / y.length;
  };
}

/** The compiled exact kernel (build once per calibration and pass to every search). */
export const compileSeqMseKernel = (): WebAssembly.Module => new WebAssembly.Module(buildExactMatMulModule());

/** SeqMseModule._find_best_candidate with K candidates. */
export function seqMseSearch(p: SeqMseProblem, K: number, kernel: WebAssembly.Module = compileSeqMseKernel()): SeqMseResult {
  if (!Number.isInteger(K) || K < 1) throw new RangeError(`SeqMSE: ${K} candidates`);
  if (p.x.length !== p.T * p.cols || p.y.length !== p.T * p.rows) throw new RangeError("SeqMSE: x / y do not match T and the weight's shape");
  const loss = wasmEvaluator(p, kernel);
  let evaluations = 0;
  const evalStep = (m: number) => {
    evaluations++;
    return loss(m);
  };
  let candidate = 1;
  let best = evalStep(1);
  const loss1 = best;
  for (const m of linspace32(1 / K, 1, K)) {
    const loss = evalStep(m);
    if (loss < best) [candidate, best] = [m, loss];
  }
  const resolution = 1 / K;
  for (const m of linspace32(Math.max(candidate - resolution, 0.001), Math.min(candidate + resolution, 1), K)) {
    const loss = evalStep(m);
    if (loss < best) [candidate, best] = [m, loss];
  }
  return { step: candidate, loss: best, loss1, evaluations };
}
