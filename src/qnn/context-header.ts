// Owns the header ExecuTorch's Qualcomm backend puts in front of a QNN context binary inside a `.pte` delegate
// ("QnnContextCustomProtocol"), and taking it off (unwrapQnnContext) or putting it on (wrapQnnContext).
//
// Layout (pytorch/executorch backends/qualcomm/runtime/backends/QnnCustomProtocol.h and .cpp; all little-endian,
// written with memcpy of host integers on little-endian targets):
//   offset 0   u32  magic 0x5678ABCD
//   offset 4   i64  signature (the build's high_resolution_clock count; delegates whose data carry the same
//                   signature share one QnnManager at run time: how one multi-graph context serves several methods)
//   offset 12  u64  context_binary_size
//   then the context binary, either right after the 20 header bytes (the protocol as first released), or at
//   offset 256 after 236 bytes of zero padding (later releases: "extra padding (236 bytes)", QNN_CTX_BIN_ALIGNMENT
//   256, so the binary is 256-byte aligned in the file).
// The delegate's data is exactly header + binary (the serializer sizes the buffer so), so the two layouts are
// told apart by the data's length: 20 + size or 256 + size; anything else is a corrupt header.
//
// A raw QNN context binary has no public format description to recognise it by, so data without the magic is
// refused, except our own stand-in binaries ("LGQNNSB1", test/helpers/stand-in-binary.ts), which pass through as they
// are. The QNN runtime itself treats data without the magic as DLC (online-prepare) input, which carries no
// context binary.
import { createHash } from "node:crypto";
import { UserError } from "../util/errors.js";

export const QNN_CONTEXT_MAGIC = 0x5678abcd;
/** Magic + signature + size. */
export const QNN_HEADER_FIELDS_BYTES = 20;
/** Where the binary starts in the padded layout. */
export const QNN_CONTEXT_ALIGNMENT = 256;
/** Magic of the project's stand-in context binaries (test/native/stand-in). */
export const STAND_IN_MAGIC = "LGQNNSB1";

export type QnnHeaderLayout = "padded-256" | "compact-20";

export interface QnnContextHeader {
  magic: number;
  /** Signed 64-bit, as the runtime reads it. */
  signature: bigint;
  binarySize: number;
  /** Bytes before the binary: 256 (padded) or 20 (compact). */
  headerBytes: number;
  layout: QnnHeaderLayout;
}

export interface UnwrappedQnnContext {
  /** The raw context binary (a view into `bytes`, no copy). */
  binary: Uint8Array;
  /** Absent when the data was a stand-in binary without the custom header. */
  header?: QnnContextHeader;
}

const hex32 = (n: number): string => "0x" + n.toString(16).toUpperCase().padStart(8, "0");

function startsWithAscii(bytes: Uint8Array, s: string): boolean {
  if (bytes.length < s.length) return false;
  for (let i = 0; i < s.length; i++) if (bytes[i] !== s.charCodeAt(i)) return false;
  return true;
}

/** Strips QNN's custom header; `where` names the data in errors (e.g. "model.pte: kv_forward delegate 0"). */
export function unwrapQnnContext(bytes: Uint8Array, where: string): UnwrappedQnnContext {
  if (startsWithAscii(bytes, STAND_IN_MAGIC)) return { binary: bytes };
  if (bytes.length < 4) throw new UserError(`${where}: ${bytes.length} bytes of QNN delegate data, too short for QNN's context header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = dv.getUint32(0, true);
  if (magic !== QNN_CONTEXT_MAGIC) {
    throw new UserError(
      `${where}: QNN delegate data does not start with QNN's context header (magic ${hex32(QNN_CONTEXT_MAGIC)}, found ${hex32(magic)}); ` +
        `not a compiled context binary (an online-prepare/DLC delegate carries none)`,
    );
  }
  if (bytes.length < QNN_HEADER_FIELDS_BYTES) throw new UserError(`${where}: QNN context header truncated (${bytes.length} of ${QNN_HEADER_FIELDS_BYTES} bytes)`);
  const signature = dv.getBigInt64(4, true);
  const size64 = dv.getBigUint64(12, true);
  const rest = BigInt(bytes.length);
  let layout: QnnHeaderLayout;
  if (size64 + BigInt(QNN_CONTEXT_ALIGNMENT) === rest) layout = "padded-256";
  else if (size64 + BigInt(QNN_HEADER_FIELDS_BYTES) === rest) layout = "compact-20";
  else {
    throw new UserError(
      `${where}: QNN context header says the binary is ${size64} bytes, but the data is ${bytes.length} bytes ` +
        `(expected ${QNN_CONTEXT_ALIGNMENT} or ${QNN_HEADER_FIELDS_BYTES} header bytes + ${size64}): truncated or corrupt`,
    );
  }
  const binarySize = Number(size64);
  if (binarySize === 0) throw new UserError(`${where}: QNN context header says the context binary is empty`);
  const headerBytes = layout === "padded-256" ? QNN_CONTEXT_ALIGNMENT : QNN_HEADER_FIELDS_BYTES;
  return { binary: bytes.subarray(headerBytes), header: { magic, signature, binarySize, headerBytes, layout } };
}

/**
 * A deterministic stand-in for the build timestamp: the first 8 bytes of the binary's SHA-256 as a signed
 * 64-bit integer, so different binaries get different signatures (the runtime shares a context between
 * delegates with equal signatures) and the same binary always gets the same one.
 */
export function defaultSignature(binary: Uint8Array): bigint {
  const d = createHash("sha256").update(binary).digest();
  return d.readBigInt64LE(0);
}

/** Puts QNN's custom header in front of a context binary (the inverse of unwrapQnnContext). */
export function wrapQnnContext(binary: Uint8Array, signature?: bigint, layout: QnnHeaderLayout = "padded-256"): Uint8Array {
  const headerBytes = layout === "padded-256" ? QNN_CONTEXT_ALIGNMENT : QNN_HEADER_FIELDS_BYTES;
  const out = new Uint8Array(headerBytes + binary.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, QNN_CONTEXT_MAGIC, true);
  dv.setBigInt64(4, BigInt.asIntN(64, signature ?? defaultSignature(binary)), true);
  dv.setBigUint64(12, BigInt(binary.length), true);
  out.set(binary, headerBytes);
  return out;
}
