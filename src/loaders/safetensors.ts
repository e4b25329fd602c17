// Owns the safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header mapping
// names to {dtype, shape, data_offsets} relative to the data section, then the raw little-endian data.
// Every offset is checked against the file before anything is read; tensors load one at a time, each into its
// shared-memory destination (its slot in the model's arena, see tensors.ts): F32 data by pread straight into it (whatever the file offset's alignment: pread copies
// to any address, so an unaligned data section never costs an extra copy), F16/BF16 through one reused staging
// buffer per file. The non-finite scan runs on each chunk as it arrives (safetensors has no checksum).
import { oneLine, UserError } from "../util/errors.js";
import { LITTLE_ENDIAN } from "../util/binary.js";
import type { ByteSource } from "./byte-source.js";
import { DTYPE_BYTES, firstNonFinite, toFloat32, type StoredDType } from "./dtype.js";
import { numelOf, sharedFloat32, type LoadedTensor, type TensorSet } from "./tensors.js";

/** Largest JSON header accepted (the format's own limit is 100 MB). */
const MAX_HEADER = 100 * 1024 * 1024;
const DTYPES: Record<string, StoredDType> = { F32: "F32", F16: "F16", BF16: "BF16" };
/** Bytes per read when streaming a tensor (kept in the L2 cache between read, conversion and scan). */
const CHUNK = 1 << 20;

/** True when the first bytes look like safetensors: a plausible header length followed by '{'. */
export function isSafetensors(head: Uint8Array, fileSize: number): boolean {
  if (head.length < 9) return false;
  const n = Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true));
  return n >= 2 && n <= MAX_HEADER && 8 + n <= fileSize && head[8] === 0x7b;
}

/** The tensors of one safetensors file; `fileIndex` orders reads across the shards of a model. */
export function readSafetensors(src: ByteSource, fileIndex = 0): TensorSet {
  const path = src.path;
  const bad = (msg: string) => new UserError(`checkpoint ${path}: ${msg}`);
  if (src.size < 8) throw bad("too short for a safetensors header");
  const n = Number(new DataView(src.read(0, 8).buffer).getBigUint64(0, true));
  if (n > MAX_HEADER || 8 + n > src.size) throw bad(`safetensors header length ${n} does not fit the ${src.size}-byte file`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(src.read(8, n)));
  } catch (e) {
    // V8 quotes part of the input in the message: keep it on one line, without control characters.
    throw bad(`safetensors header is not valid JSON (${oneLine((e as Error).message)})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw bad("safetensors header is not a JSON object");
  const dataStart = 8 + n;
  const dataLen = src.size - dataStart;
  const out: TensorSet = new Map();
  let staging: Uint8Array | undefined; // one reused read buffer per file for converted dtypes
  const spans: [number, number, string][] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = typeof e?.dtype === "string" ? DTYPES[e.dtype] : undefined;
    if (!dtype) throw bad(`tensor ${JSON.stringify(name)} has dtype ${JSON.stringify(e?.dtype)}; supported: F32, F16, BF16`);
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw bad(`tensor ${JSON.stringify(name)} has an invalid shape ${JSON.stringify(shape)}`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && d >= 0) || offs[0] > offs[1])
      throw bad(`tensor ${JSON.stringify(name)} has invalid data_offsets ${JSON.stringify(offs)}`);
    const [begin, end] = offs as [number, number];
    const numel = numelOf(shape as number[]);
    const bytes = numel * DTYPE_BYTES[dtype];
    if (end - begin !== bytes) throw bad(`tensor ${JSON.stringify(name)}: data_offsets span ${end - begin} bytes, but ${dtype}${JSON.stringify(shape)} needs ${bytes}`);
    if (end > dataLen) throw bad(`tensor ${JSON.stringify(name)} data ends at ${end}, past the end of the file's ${dataLen}-byte data section (truncated?)`);
    spans.push([begin, end, name]);
    const abs = dataStart + begin;
    const loadChecked = (into?: Float32Array): LoadedTensor => {
      if (into !== undefined && into.length !== numel) throw new Error(`tensor ${name}: destination has ${into.length} elements, expected ${numel}`);
      const dst = into ?? sharedFloat32(numel);
      const eb = DTYPE_BYTES[dtype];
      let bad = -1;
      if (dtype === "F32" && LITTLE_ENDIAN) {
        // Read straight into the destination's bytes: no intermediate copy.
        const all = new Uint8Array(dst.buffer, dst.byteOffset, bytes);
        for (let off = 0; off < bytes; off += CHUNK) {
          const chunk = all.subarray(off, Math.min(bytes, off + CHUNK));
          src.readInto(abs + off, chunk);
          if (bad < 0) {
            const k = firstNonFinite(dst.subarray(off / 4, (off + chunk.length) / 4));
            if (k >= 0) bad = off / 4 + k;
          }
        }
        return { data: dst, firstNonFinite: bad };
      }
      staging ??= new Uint8Array(CHUNK);
      const per = CHUNK / eb;
      for (let i = 0; i < numel; i += per) {
        const count = Math.min(per, numel - i);
        const chunk = staging.subarray(0, count * eb);
        src.readInto(abs + i * eb, chunk);
        const k = toFloat32(dtype, chunk, 0, count, dst, i);
        if (k >= 0 && bad < 0) bad = i + k;
      }
      return { data: dst, firstNonFinite: bad };
    };
    out.set(name, {
      name,
      dtype,
      shape: shape as number[],
      byteLength: bytes,
      identity: `${fileIndex}:${abs}:${bytes}`,
      filePos: { file: fileIndex, offset: abs },
      ownsArray: true,
      loadChecked,
      load: () => loadChecked().data,
    });
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++)
    if (spans[i][0] < spans[i - 1][1]) throw bad(`tensors ${JSON.stringify(spans[i - 1][2])} and ${JSON.stringify(spans[i][2])} overlap`);
  return out;
}
