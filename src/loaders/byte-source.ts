// Owns random-access reading of a user's file (or an in-memory buffer) without loading it whole:
// bounds-checked positioned reads, every failure a one-line UserError naming the file.
import { describeFsError, openUserFileSync } from "../util/files.js";
import { closeSync, readSync } from "node:fs";
import { UserError } from "../util/errors.js";

/** Random-access bytes of a file or a buffer. Reads are bounds-checked. */
export interface ByteSource {
  /** Total length in bytes (a JS number; files up to 2^53). */
  readonly size: number;
  /** For messages. */
  readonly path: string;
  /** What the file is, for messages ("checkpoint"); messages read `${what} ${path}: …`. */
  readonly what?: string;
  /** Exactly `length` bytes at `offset` (a fresh Uint8Array the caller may keep); throws UserError naming the path if out of range. */
  read(offset: number, length: number): Uint8Array;
  /** Reads into a caller buffer (for streaming large entries in chunks). */
  readInto(offset: number, target: Uint8Array): void;
  close(): void;
}

/** The `what path` prefix of every message about this source. */
export function sourceLabel(source: Pick<ByteSource, "path" | "what">): string {
  return `${source.what ?? "file"} ${source.path}`;
}

/** Largest single readSync call (Node refuses lengths past 2^31 - 1). */
const MAX_READ_CALL = 1 << 30;

/** Throws unless [offset, offset + length) lies inside a source of `size` bytes. */
function checkRange(label: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new UserError(`${label}: invalid read of ${length} bytes at offset ${offset}`);
  }
  if (offset + length > size) {
    throw new UserError(`${label}: unexpected end of file at offset ${Math.max(offset, size)} (truncated?)`);
  }
}

/** Opens `path` for positioned reads; `what` ("checkpoint") labels every error. */
export function openFileSource(path: string, what: string): ByteSource {
  const label = `${what} ${path}`;
  const { fd, size } = openUserFileSync(path, label);
  let open = true;

  const readInto = (offset: number, target: Uint8Array): void => {
    if (!open) throw new Error(`${label}: read after close`);
    checkRange(label, size, offset, target.length);
    let done = 0;
    while (done < target.length) {
      const want = Math.min(target.length - done, MAX_READ_CALL);
      let got: number;
      try {
        got = readSync(fd, target, done, want, offset + done);
      } catch (e) {
        throw new UserError(`${label}: ${describeFsError(e)}`);
      }
      // The file shrank under us: report it like any other truncation.
      if (got === 0) throw new UserError(`${label}: unexpected end of file at offset ${offset + done} (truncated?)`);
      done += got;
    }
  };

  return {
    size,
    path,
    what,
    read(offset, length) {
      checkRange(label, size, offset, length);
      const out = new Uint8Array(length);
      readInto(offset, out);
      return out;
    },
    readInto,
    close() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

/** A ByteSource over bytes already in memory (tests, small archives). */
export function bufferSource(bytes: Uint8Array, path: string, what = "file"): ByteSource {
  const label = `${what} ${path}`;
  const size = bytes.length;
  return {
    size,
    path,
    what,
    read(offset, length) {
      checkRange(label, size, offset, length);
      return bytes.slice(offset, offset + length);
    },
    readInto(offset, target) {
      checkRange(label, size, offset, target.length);
      target.set(bytes.subarray(offset, offset + target.length));
    },
    close() {},
  };
}
