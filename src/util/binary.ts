// Owns zero-copy typed views over file bytes, with the alignment and endianness checks that make them safe, and
// byte concatenation.
import { endianness } from "node:os";

/** True on little-endian machines, where file bytes can be viewed as typed arrays directly. */
export const LITTLE_ENDIAN = endianness() === "LE";

/**
 * `count` little-endian fp32 values starting at `byteOffset` of `bytes`: a view sharing the file's memory
 * when aligned on a little-endian machine, otherwise a decoded copy. The caller has checked the bounds.
 */
export function f32View(bytes: Uint8Array, byteOffset: number, count: number): Float32Array {
  const abs = bytes.byteOffset + byteOffset;
  if (byteOffset + 4 * count > bytes.length) throw new RangeError("f32View past the end of the buffer");
  if (LITTLE_ENDIAN && abs % 4 === 0) return new Float32Array(bytes.buffer, abs, count);
  const out = new Float32Array(count);
  const dv = new DataView(bytes.buffer, abs, 4 * count);
  for (let i = 0; i < count; i++) out[i] = dv.getFloat32(4 * i, true);
  return out;
}

/** The parts' bytes one after another, in a new buffer. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
