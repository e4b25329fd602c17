// Owns the integer-vs-fake-quant comparison of quant-report (both flows): the integer graph's logits against its
// fp32 fake-quant oracle's, step by step on the same tokens — pooled and worst-step SQNR, top-1 agreement, the first
// step whose top-1 differs — with the integer run's accumulator statistics.
import { compareTensors, top1 } from "../parity/metrics.js";
import type { IntegerVsFake } from "./report.js";
import { sqnrFromEnergies } from "./sensitivity.js";

export interface IntegerVsFakeMeter {
  /** One step: both graphs' logits rows (step: the index reported as the first disagreement). */
  add(step: number, integer: Float32Array, fake: Float32Array): void;
  result(stats: { int32Overflows: number; maxAccumulator: number }): IntegerVsFake;
}

export function integerVsFakeMeter(): IntegerVsFakeMeter {
  let sig = 0;
  let noise = 0;
  let min = Infinity;
  let agree = 0;
  let steps = 0;
  let first: number | null = null;
  return {
    add(step, a, b) {
      for (let i = 0; i < a.length; i++) {
        sig += b[i] * b[i];
        noise += (a[i] - b[i]) ** 2;
      }
      min = Math.min(min, compareTensors(a, b).sqnrDb);
      steps++;
      if (top1(a) === top1(b)) agree++;
      else first ??= step;
    },
    result: (stats) => ({
      logitsSqnrDb: { min, pooled: sqnrFromEnergies(sig, noise) },
      top1Agreement: steps === 0 ? NaN : agree / steps,
      firstDisagreement: first,
      int32Overflows: stats.int32Overflows,
      maxAccumulator: stats.maxAccumulator,
    }),
  };
}
