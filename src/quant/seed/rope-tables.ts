// Owns the seed graph's RoPE constant tables as static_llama builds them on the CPU (examples/models/llama/
// rope.py precompute_freqs_cis, SPEC §2; no scaling in the seed): inv_freq = 1 / theta^(fp32(2k/hd)),
// angle = fp32(pos · inv_freq), then torch.cos / torch.sin over the [max_seq_len, hd/2] table, which run
// SLEEF's vectorised kernels (src/quant/seed/sleef.ts). theta^x is taken as the correctly rounded fp32 power
// (torch's scalar path, hd/2 < 16; wider heads would use SLEEF powf, not emulated here).
import { sleefCosVec, sleefSinVec } from "./sleef.js";

const fround = Math.fround;

export interface SeedRopeTables {
  cos: Float32Array;
  sin: Float32Array;
}

/** cos/sin tables [maxPos, hd/2], row-major. */
export function seedRopeTables(headDim: number, maxPos: number, theta: number): SeedRopeTables {
  const half = headDim / 2;
  const inv = new Float32Array(half);
  for (let k = 0; k < half; k++) inv[k] = fround(1 / fround(Math.pow(theta, fround((2 * k) / headDim))));
  const angles = new Float32Array(maxPos * half);
  for (let p = 0; p < maxPos; p++) for (let k = 0; k < half; k++) angles[p * half + k] = fround(p * inv[k]);
  return { cos: sleefCosVec(angles), sin: sleefSinVec(angles) };
}
