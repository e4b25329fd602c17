// Owns the reads of a calibration file (src/quant/calibration-data.ts, calibration-parquet.ts): opening it with a
// one-line error, exact reads at an offset (a file that shrinks meanwhile is an error), a whole read with progress,
// and strict UTF-8 decoding. Every problem is a UserError naming the file through the caller's `fail`.
import { open, stat, type FileHandle } from "node:fs/promises";
import { describeFsError } from "../util/files.js";
import { UserError } from "../util/errors.js";

/** Makes the one-line UserError of a problem with the file (the caller's label and path). */
export type Fail = (problem: string) => UserError;

/** Bytes per read of a whole file (one progress step). */
const READ_CHUNK = 4 * 2 ** 20;

export const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export async function openUserFile(path: string, fail: Fail): Promise<FileHandle> {
  try {
    if ((await stat(path)).isDirectory()) throw fail("is a directory, expected a file");
    return await open(path, "r");
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw fail(describeFsError(e));
  }
}

/** Exactly `length` bytes at `position`, or a UserError. */
export async function readAt(fh: FileHandle, position: number, length: number, fail: Fail): Promise<Uint8Array> {
  try {
    return await readExactly(fh, position, length);
  } catch (e) {
    throw fail(messageOf(e));
  }
}

/** Exactly `length` bytes at `position`; a file that shrank meanwhile is an error. */
export async function readExactly(fh: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  for (let done = 0; done < length; ) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new Error("the file changed while being read (it is shorter than it was)");
    done += bytesRead;
  }
  return buf;
}

export async function readWhole(fh: FileHandle, size: number, onProgress: ((done: number, total: number) => void) | undefined, fail: Fail): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  for (let at = 0; at < size; at += READ_CHUNK) {
    out.set(await readAt(fh, at, Math.min(READ_CHUNK, size - at), fail), at);
    onProgress?.(Math.min(at + READ_CHUNK, size), size);
  }
  return out;
}

export function decodeUtf8(bytes: Uint8Array, fail: Fail): string {
  if (bytes.includes(0)) throw fail("a binary file (NUL bytes), expected Parquet, JSON, JSONL or UTF-8 text");
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes); // drops a leading BOM
  } catch {
    throw fail("not UTF-8 text");
  }
}
