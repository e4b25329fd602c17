// Owns a bit-exact model of glibc's rand() (the TYPE_3 additive feedback generator behind srand/rand): the lookahead
// runner initialises its branches with rand() and never calls srand, i.e. seed 1 (SPEC-2026 §6.3). Written from the
// algorithm's published description: r[0] = seed; r[i] = 16807·r[i−1] mod (2^31 − 1) for i = 1..30 (Schrage's
// method, as glibc computes it in int32); r[i] = r[i−31] for i = 31..33; then r[i] = r[i−31] + r[i−3] (mod 2^32),
// the first 310 outputs discarded, each result r[i] >>> 1. Seed 0 is taken as 1, as glibc does.
export function glibcRand(seed: number): () => number {
  const r: number[] = new Array(34);
  let s = seed >>> 0;
  if (s === 0) s = 1;
  r[0] = s | 0;
  for (let i = 1; i < 31; i++) {
    // word = 16807 * r[i-1] % 2147483647, computed without overflow; r values are signed int32 in glibc.
    const hi = Math.trunc(r[i - 1] / 127773);
    const lo = r[i - 1] % 127773;
    let word = 16807 * lo - 2836 * hi;
    if (word < 0) word += 2147483647;
    r[i] = word;
  }
  for (let i = 31; i < 34; i++) r[i] = r[i - 31];
  // A ring of the last 34 values; r[k] = r[k-31] + r[k-3] (uint32).
  const ring = r.map((x) => x >>> 0);
  let k = 34;
  const next = (): number => {
    const v = (ring[(k - 31) % 34] + ring[(k - 3) % 34]) >>> 0;
    ring[k % 34] = v;
    k++;
    return v;
  };
  for (let i = 34; i < 344; i++) next();
  return () => next() >>> 1;
}
