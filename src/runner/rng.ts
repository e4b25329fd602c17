// Owns the sampler's random number generator: xorshift64* exactly as the device runner's sampler (SPEC §6).
const MASK64 = (1n << 64n) - 1n;
const MULT = 0x2545f4914f6cdd1dn;

export interface Rng {
  /** Current 64-bit state. */
  state: bigint;
}

export function createRng(seed: bigint): Rng {
  return { state: BigInt.asUintN(64, seed) };
}

/** s ^= s>>12; s ^= s<<25; s ^= s>>27; return (s * 0x2545F4914F6CDD1D) >> 32 (as uint32). */
export function randomU32(r: Rng): number {
  let s = r.state;
  s ^= s >> 12n;
  s ^= (s << 25n) & MASK64;
  s ^= s >> 27n;
  r.state = s;
  return Number(((s * MULT) & MASK64) >> 32n);
}

/** A float32 in [0, 1): (u32 >> 8) / 2^24 (exact in fp32). */
export function randomF32(r: Rng): number {
  return (randomU32(r) >>> 8) / 16777216;
}
