// Owns the fp32 SLEEF kernels torch's vectorised CPU ops call on AVX2 (SLEEF e0a003ee, the version vendored by
// torch; helperavx2.h enables FMA): Sleef_expf8_u10 (xexpf), Sleef_sinf8_u10 (xsinf_u1) and Sleef_cosf8_u10
// (xcosf_u1), lane by lane, with the same operation sequence and fp32 rounding (the double-float helpers of
// df.h in their FMA forms, fused multiply-adds correctly rounded). sin/cos take their fast path only when
// every lane of the 8-lane vector has |x| < 125 (else all lanes use the Payne-Hanek reduction `rempif`), so
// they work on whole vectors. The reduction table is limited to its first row: |x| < 2^26.

const fround = Math.fround;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const i32 = new Int32Array(f32.buffer);

const bitsOf = (x: number): number => {
  f32[0] = x;
  return i32[0];
};
const fromBits = (b: number): number => {
  i32[0] = b | 0;
  return f32[0];
};

/** The fp32 neighbours below and above a finite fp32 value. */
function neighbours(x: number): [number, number] {
  if (x === 0) return [-1.401298464324817e-45, 1.401298464324817e-45];
  f32[0] = x;
  const b = u32[0];
  const at = (v: number): number => {
    u32[0] = v >>> 0;
    return f32[0];
  };
  return x > 0 ? [at(b - 1), at(b + 1)] : [at(b + 1), at(b - 1)];
}

/** Correctly rounded fp32 fused multiply-add a·b + c for fp32 inputs (the product is exact in float64). */
export function fma32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = fround(s);
  if (r === s || !Number.isFinite(s)) return r;
  const bb = s - p;
  const e = p - (s - bb) + (c - bb); // two-sum error: p + c = s + e exactly
  if (e === 0) return r;
  const [lo, hi] = neighbours(r);
  const below = r < s ? r : lo;
  const above = r > s ? r : hi;
  // Only a float64 sum exactly on an fp32 midpoint can round differently from the exact sum.
  if (s - below === above - s) return e > 0 ? above : below;
  return r;
}

const add = (a: number, b: number): number => fround(a + b);
const sub = (a: number, b: number): number => fround(a - b);
const mul = (a: number, b: number): number => fround(a * b);
const fmsub = (a: number, b: number, c: number): number => fma32(a, b, -c);

/** Round half to even (vrint / cvtps under the default rounding mode). */
function rint(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** 2^q as fp32 from exponent bits (vpow2i). */
const pow2i = (q: number): number => fromBits((q + 0x7f) << 23);

const R_LN2F = fround(1.442695040888963407359924681001892137426645954152985934135449406931);
const L2UF = fround(0.693145751953125);
const L2LF = fround(1.428606765330187045e-6);
const EXP_C = [
  0.000198527617612853646278381, 0.00139304355252534151077271, 0.00833336077630519866943359, 0.0416664853692054748535156,
  0.166666671633720397949219, 0.5,
].map(fround);

/** xexpf: exp of one fp32 lane. */
export function sleefExpf(d: number): number {
  if (Number.isNaN(d)) return NaN;
  const q = rint(mul(d, R_LN2F));
  let s = fma32(q, -L2UF, d);
  s = fma32(q, -L2LF, s);
  let u = EXP_C[0];
  for (let i = 1; i < EXP_C.length; i++) u = fma32(u, s, EXP_C[i]);
  u = add(1, fma32(mul(s, s), u, s));
  const h = q >> 1;
  u = mul(mul(u, pow2i(h)), pow2i(q - h));
  if (d < -104) u = 0;
  if (100 < d) u = Infinity;
  return u;
}

/** A double-float (x + y, |y| <= ulp(x)/2). */
type DF = [number, number];

const dfNormalize = ([x, y]: DF): DF => {
  const s = add(x, y);
  return [s, add(sub(x, s), y)];
};
const dfAddFF = (x: number, y: number): DF => {
  const s = add(x, y);
  return [s, add(sub(x, s), y)];
};
const dfAdd2FF = (x: number, y: number): DF => {
  const s = add(x, y);
  const v = sub(s, x);
  return [s, add(sub(x, sub(s, v)), sub(y, v))];
};
const dfAddDF_F = (x: DF, y: number): DF => {
  const s = add(x[0], y);
  return [s, add(add(sub(x[0], s), y), x[1])];
};
const dfAdd2DF_F = (x: DF, y: number): DF => {
  const s = add(x[0], y);
  const v = sub(s, x[0]);
  const t = add(sub(x[0], sub(s, v)), sub(y, v));
  return [s, add(t, x[1])];
};
const dfAddF_DF = (x: number, y: DF): DF => {
  const s = add(x, y[0]);
  return [s, add(add(sub(x, s), y[0]), y[1])];
};
const dfAdd2DF_DF = (x: DF, y: DF): DF => {
  const s = add(x[0], y[0]);
  const v = sub(s, x[0]);
  const t = add(sub(x[0], sub(s, v)), sub(y[0], v));
  return [s, add(t, add(x[1], y[1]))];
};
const dfMulFF = (x: number, y: number): DF => {
  const s = mul(x, y);
  return [s, fmsub(x, y, s)];
};
const dfMulDF_F = (x: DF, y: number): DF => {
  const s = mul(x[0], y);
  return [s, fma32(x[1], y, fmsub(x[0], y, s))];
};
const dfMulDF_DF = (x: DF, y: DF): DF => {
  const s = mul(x[0], y[0]);
  return [s, fma32(x[0], y[1], fma32(x[1], y[0], fmsub(x[0], y[0], s)))];
};
const dfMulToF = (x: DF, y: DF): number => fma32(x[0], y[0], fma32(x[1], y[0], mul(x[0], y[1])));
const dfSqu = (x: DF): DF => {
  const s = mul(x[0], x[0]);
  return [s, fma32(add(x[0], x[0]), x[1], fmsub(x[0], x[0], s))];
};

/** The first row of Sleef_rempitabsp (2/π split in four floats: the row for |x| < 2^26). */
const REMPITAB0 = [0.159154892, 5.112411827e-8, 3.626141271e-15, -2.036222915e-22].map(fround);

/** rempisubf (FULL_FP_ROUNDING): x - round(4x)/4 and the quadrant count. */
function rempisubf(x: number): [number, number] {
  const y = rint(mul(x, 4));
  const vi = Math.trunc(sub(y, mul(rint(x), 4)));
  return [sub(x, mul(y, 0.25)), vi];
}

/** rempif: Payne-Hanek reduction of |a| >= 125 to a double-float in [-π/4, π/4] (times 2π) and a quadrant count. */
function rempif(a: number): [DF, number] {
  const ex = ((bitsOf(a) >>> 23) & 0xff) - 0x7f - 25;
  if (ex > 0) throw new RangeError(`sleef rempif: |${a}| >= 2^26 needs rows of the reduction table beyond the first`);
  let x = dfMulFF(a, REMPITAB0[0]);
  let [d, q] = rempisubf(x[0]);
  x = dfNormalize([d, x[1]]);
  let y = dfMulFF(a, REMPITAB0[1]);
  x = dfAdd2DF_DF(x, y);
  const r2 = rempisubf(x[0]);
  q += r2[1];
  x = dfNormalize([r2[0], x[1]]);
  y = dfMulDF_F([REMPITAB0[2], REMPITAB0[3]], a);
  x = dfAdd2DF_DF(x, y);
  x = dfNormalize(x);
  x = dfMulDF_DF(x, [fround(3.1415927410125732422 * 2), fround(-8.7422776573475857731e-8 * 2)]);
  if (Math.abs(a) < fround(0.7)) x = [a, 0];
  return [x, q];
}

const PI_A2F = fround(3.1414794921875);
const PI_B2F = fround(0.00011315941810607910156);
const PI_C2F = fround(1.9841872589410058936e-9);
const M_1_PIF = fround(0.318309886183790671537767526745028724);
const TRIGRANGEMAX2F = 125;
const HALF_PI_H = fround(3.1415927410125732422 * -0.5);
const HALF_PI_L = fround(-8.7422776573475857731e-8 * -0.5);
const SIN_C = [2.6083159809786593541503e-6, -0.0001981069071916863322258, 0.00833307858556509017944336, -0.166666597127914428710938].map(fround);

const mulsign = (x: number, y: number): number => (Object.is(y, -0) || y < 0 ? -x : x);

/** The shared polynomial of xsinf_u1 / xcosf_u1 on the reduced double-float t. */
function sinPoly(t: DF): number {
  const s = dfSqu(t);
  let u = SIN_C[0];
  u = fma32(u, s[0], SIN_C[1]);
  u = fma32(u, s[0], SIN_C[2]);
  const x = dfAddF_DF(1, dfMulDF_DF(dfAddFF(SIN_C[3], mul(u, s[0])), s));
  return dfMulToF(t, x);
}

/** xsinf_u1 on one lane; `fast` = every lane of its vector has |x| < 125. */
function sinLane(d: number, fast: boolean): number {
  let q: number;
  let s: DF;
  if (fast) {
    const u = rint(mul(d, M_1_PIF));
    q = u;
    const v = fma32(u, -PI_A2F, d);
    s = dfAdd2FF(v, mul(u, -PI_B2F));
    s = dfAddDF_F(s, mul(u, -PI_C2F));
  } else {
    let [df, qi] = rempif(d);
    q = (qi & 3) * 2 + (df[0] > 0 ? 2 : 1);
    q >>= 2;
    if ((qi & 1) === 1) df = dfAdd2DF_DF(df, [mulsign(HALF_PI_H, df[0]), mulsign(HALF_PI_L, df[0])]);
    s = dfNormalize(df);
  }
  let u = sinPoly(s);
  if ((q & 1) === 1) u = -u;
  return Object.is(d, -0) ? d : u;
}

/** xcosf_u1 on one lane; `fast` = every lane of its vector has |x| < 125. */
function cosLane(d: number, fast: boolean): number {
  let q: number;
  let s: DF;
  if (fast) {
    const dq = fma32(rint(fma32(d, M_1_PIF, -0.5)), 2, 1);
    q = dq;
    s = dfAdd2FF(d, mul(dq, fround(-PI_A2F * 0.5)));
    s = dfAdd2DF_F(s, mul(dq, fround(-PI_B2F * 0.5)));
    s = dfAdd2DF_F(s, mul(dq, fround(-PI_C2F * 0.5)));
  } else {
    let [df, qi] = rempif(d);
    q = (qi & 3) * 2 + (df[0] > 0 ? 8 : 7);
    q >>= 1;
    if ((qi & 1) === 0) {
      const y = df[0] > 0 ? 0 : -1;
      df = dfAdd2DF_DF(df, [mulsign(HALF_PI_H, y), mulsign(HALF_PI_L, y)]);
    }
    s = dfNormalize(df);
  }
  const u = sinPoly(s);
  return (q & 2) === 0 ? -u : u;
}

/** Applies a per-lane SLEEF trig kernel over x in 8-lane vectors aligned at index 0 (torch's vml map). */
function trigVectors(x: Float32Array, lane: (d: number, fast: boolean) => number): Float32Array {
  const out = new Float32Array(x.length);
  for (let v = 0; v < x.length; v += 8) {
    const end = Math.min(v + 8, x.length);
    let fast = true;
    for (let i = v; i < end; i++) if (!(Math.abs(x[i]) < TRIGRANGEMAX2F)) fast = false;
    for (let i = v; i < end; i++) out[i] = lane(x[i], fast);
  }
  return out;
}

/** torch.sin of a contiguous fp32 tensor's values (Sleef_sinf8_u10 per 8-lane vector). */
export const sleefSinVec = (x: Float32Array): Float32Array => trigVectors(x, sinLane);
/** torch.cos of a contiguous fp32 tensor's values (Sleef_cosf8_u10 per 8-lane vector). */
export const sleefCosVec = (x: Float32Array): Float32Array => trigVectors(x, cosLane);
