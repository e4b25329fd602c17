// Test helper: SQNR in dB, 10·log10(Σr² / Σ(a−r)²) (Infinity when identical), restated here independently of
// src/parity/metrics.ts so backend tests do not lean on the code they help to check.
export function sqnrDb(a: ArrayLike<number>, r: ArrayLike<number>): number {
  if (a.length !== r.length) throw new Error(`length ${a.length} vs ${r.length}`);
  let s = 0;
  let e = 0;
  for (let i = 0; i < r.length; i++) {
    s += r[i] * r[i];
    e += (a[i] - r[i]) ** 2;
  }
  return e === 0 ? Infinity : 10 * Math.log10(s / e);
}
