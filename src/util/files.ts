// Owns reading user-named files: every failure becomes a UserError naming the file.
import { closeSync, fstatSync, openSync, readFileSync, statSync } from "node:fs";
import { oneLine, UserError } from "./errors.js";

/** Reads a whole file, or throws a UserError naming the file and the reason. */
export function readUserFile(path: string, what: string): Uint8Array {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new UserError(`${what} ${path}: ${describeFsError(e)}`);
  }
  if (st.isDirectory()) throw new UserError(`${what} ${path}: is a directory, expected a file`);
  try {
    const buf = readFileSync(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    throw new UserError(`${what} ${path}: ${describeFsError(e)}`);
  }
}

/**
 * Opens a user-named file for positioned reads (the caller closes `fd`): its descriptor and size, or a UserError
 * `<label>: <problem>` — missing, unreadable, or a directory (whose reads would fail with EISDIR later).
 */
export function openUserFileSync(path: string, label: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new UserError(`${label}: ${describeFsError(e)}`);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new UserError(`${label}: is a directory, expected a file`);
    return { fd, size: st.size };
  } catch (e) {
    closeSync(fd);
    if (e instanceof UserError) throw e;
    throw new UserError(`${label}: ${describeFsError(e)}`);
  }
}

/** A whole text file as UTF-8, refused when it is empty (white space only) or not text (NUL bytes, invalid UTF-8). */
export function readUserText(path: string, what: string): string {
  const bytes = readUserFile(path, what);
  if (bytes.includes(0)) throw new UserError(`${what} ${path}: a binary file, expected UTF-8 text`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new UserError(`${what} ${path}: not UTF-8 text`);
  }
  if (text.trim() === "") throw new UserError(`${what} ${path}: the file is empty`);
  return text;
}

/** A short reason for a failed file-system call (the error code in words), on one line. */
export function describeFsError(e: unknown): string {
  const code = (e as { code?: string }).code;
  switch (code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a directory, expected a file";
    default:
      return oneLine(String((e as Error).message ?? e));
  }
}
