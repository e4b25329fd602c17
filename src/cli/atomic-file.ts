// Owns output files that are never left half-written: data streams into a temporary file beside the
// target, which is renamed into place only when the run succeeds and removed when it fails.
import { closeSync, existsSync, openSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { UserError } from "../util/errors.js";

export interface AtomicFile {
  readonly path: string;
  write(bytes: Uint8Array): void;
  /** Renames the finished file into place. */
  commit(): void;
  /** Deletes the temporary file (safe to call after commit). */
  abort(): void;
}

export function openAtomicFile(path: string, flag: string): AtomicFile {
  const dir = dirname(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`${flag} ${path}: directory ${dir} does not exist`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new UserError(`${flag} ${path}: is a directory`);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "w");
  } catch (e) {
    throw new UserError(`${flag} ${path}: cannot write (${(e as { code?: string }).code ?? (e as Error).message})`);
  }
  let done = false;
  return {
    path,
    write(bytes) {
      if (fd === undefined) throw new Error(`${path}: already closed`);
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    },
    commit() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      renameSync(tmp, path);
      done = true;
    },
    abort() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      if (!done && existsSync(tmp)) unlinkSync(tmp);
    },
  };
}

/** The little-endian bytes of an fp32 row (a copy, so later writes into the row cannot change it). */
export function f32Bytes(row: Float32Array): Uint8Array {
  const out = new Uint8Array(row.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < row.length; i++) dv.setFloat32(4 * i, row[i], true);
  return out;
}
