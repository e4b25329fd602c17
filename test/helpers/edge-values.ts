// Test helper: float32 activations that probe a quantizer's edges under an encoding — ties (k + ½ steps), values past
// both ends of its range, −0, a tiny negative, values on its grid and arbitrary ones, in turn.
import type { QuantEncoding } from "../../src/quant/affine.js";

export function edgeValues(rand: () => number, n: number, e: QuantEncoding): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const kind = i % 6;
    x[i] =
      kind === 0 ? Math.fround((Math.floor(rand() * 600) - 300 + 0.5) * e.scale) // ties
      : kind === 1 ? Math.fround((rand() - 0.5) * e.scale * 2 * (e.qmax + 1) * 1.5) // past both ends
      : kind === 2 ? -0
      : kind === 3 ? Math.fround(-1e-9)
      : kind === 4 ? Math.fround((Math.floor(rand() * 60000) - 30000) * e.scale) // on the grid
      : Math.fround((rand() - 0.5) * 100);
  }
  return x;
}
