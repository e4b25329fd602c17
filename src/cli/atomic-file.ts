// Owns output files: where a run may write, checked before any work, and writes that never leave a file
// half-written. A regular file (or a path that does not exist yet) streams into a temporary file beside its real
// target (symlinks followed), renamed into place only when the run succeeds and removed when it fails. A
// character device or a FIFO (/dev/null, /dev/stdout, a pipe) is written directly: it cannot be replaced.
import { accessSync, closeSync, constants, existsSync, openSync, readdirSync, realpathSync, renameSync, statSync, unlinkSync, writeSync, type Stats } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { UserError } from "../util/errors.js";
import type { Interrupts } from "../util/interrupts.js";

export interface AtomicFile {
  readonly path: string;
  write(bytes: Uint8Array): void;
  /** Renames the finished file into place (closes a device). */
  commit(): void;
  /** Deletes the temporary file (safe to call after commit). */
  abort(): void;
}

export interface OutputPath {
  /** The flag that named it, for messages (e.g. "--dump_logits"). */
  flag: string;
  path: string;
}

const statOf = (p: string): Stats | undefined => {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
};

const isStream = (st: Stats | undefined): boolean => st !== undefined && (st.isCharacterDevice() || st.isFIFO());

/**
 * Written in place, never replaced: devices and pipes, and anything named under /dev (/dev/stdout may resolve to
 * the file the shell redirected stdout to; replacing that file would cut the process off from its output).
 */
const writtenDirectly = (path: string, st: Stats | undefined): boolean => isStream(st) || resolve(path).startsWith("/dev/");

/** The file a path writes to: symlinks followed; a path that does not exist yet resolves through its folder. */
function realTarget(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    const dir = dirname(resolve(path));
    try {
      return join(realpathSync(dir), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

/** dev:ino of every file a run reads (a folder stands for the files directly in it). */
function inputIdentities(inputs: readonly (string | undefined)[]): Map<string, string> {
  const ids = new Map<string, string>();
  for (const p of inputs) {
    if (p === undefined) continue;
    const st = statOf(p);
    if (!st) continue;
    if (st.isDirectory()) {
      for (const name of readdirSync(p)) {
        const f = statOf(join(p, name));
        if (f?.isFile()) ids.set(`${f.dev}:${f.ino}`, join(p, name));
      }
    } else if (st.isFile()) ids.set(`${st.dev}:${st.ino}`, p);
  }
  return ids;
}

/**
 * Checks every output of a run before any work: a non-empty path, not a folder, its folder present and
 * writable, not one of the run's inputs, not the output of another flag (devices such as /dev/null excepted).
 */
export function checkOutputs(outputs: readonly OutputPath[], inputs: readonly (string | undefined)[]): void {
  const inputIds = inputIdentities(inputs);
  const taken = new Map<string, string>();
  for (const { flag, path } of outputs) {
    if (path.trim() === "") throw new UserError(`${flag} ${JSON.stringify(path)}: an empty path`);
    const target = realTarget(path);
    const st = statOf(target);
    if (st?.isDirectory()) throw new UserError(`${flag} ${path}: is a directory`);
    if (writtenDirectly(path, st)) continue;
    const dir = dirname(target);
    const dst = statOf(dir);
    if (!dst || !dst.isDirectory()) throw new UserError(`${flag} ${path}: directory ${dirname(path)} does not exist`);
    try {
      accessSync(dir, constants.W_OK);
    } catch {
      throw new UserError(`${flag} ${path}: directory ${dirname(path)} is not writable`);
    }
    if (st) {
      const input = inputIds.get(`${st.dev}:${st.ino}`);
      if (input !== undefined) throw new UserError(`${flag} ${path}: is an input of this run (${input}); choose another file`);
    }
    const other = taken.get(target);
    if (other !== undefined) throw new UserError(`${flag} ${path}: is also the output of ${other}; give each output its own file`);
    taken.set(target, flag);
  }
}

/** Opens an output; with `interrupts`, its temporary file is removed if the run is interrupted before commit. */
export function openAtomicFile(path: string, flag: string, interrupts?: Interrupts): AtomicFile {
  if (path.trim() === "") throw new UserError(`${flag} ${JSON.stringify(path)}: an empty path`);
  const target = realTarget(path);
  const st = statOf(target);
  if (st?.isDirectory()) throw new UserError(`${flag} ${path}: is a directory`);
  const direct = writtenDirectly(path, st);
  const dir = dirname(target);
  if (!direct && (!existsSync(dir) || !statSync(dir).isDirectory())) throw new UserError(`${flag} ${path}: directory ${dirname(path)} does not exist`);
  const tmp = direct ? target : join(dir, `.${basename(target)}.${process.pid}.tmp`);
  // /dev/stdout, /dev/stderr, /dev/fd/N: the process's own descriptor (reopening it fails for pipes and sockets).
  const own = /^\/dev\/(?:(stdout)|(stderr)|fd\/(\d+))$/.exec(resolve(path));
  const ownFd = own ? (own[1] ? 1 : own[2] ? 2 : Number(own[3])) : undefined;
  let fd: number | undefined = ownFd;
  try {
    if (fd === undefined) fd = openSync(tmp, "w");
  } catch (e) {
    throw new UserError(`${flag} ${path}: cannot write (${(e as { code?: string }).code ?? (e as Error).message})`);
  }
  let done = false;
  const close = () => {
    if (fd !== undefined && fd !== ownFd) closeSync(fd);
    fd = undefined;
  };
  const forget = direct ? () => {} : (interrupts?.add(() => existsSync(tmp) && unlinkSync(tmp)) ?? (() => {}));
  return {
    path,
    write(bytes) {
      if (fd === undefined) throw new Error(`${path}: already closed`);
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    },
    commit() {
      close();
      if (!direct) renameSync(tmp, target);
      done = true;
      forget();
    },
    abort() {
      close();
      if (!done && !direct && existsSync(tmp)) unlinkSync(tmp);
      forget();
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
