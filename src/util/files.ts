// Owns reading user-named files: every failure becomes a UserError naming the file.
import { readFileSync, statSync } from "node:fs";
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
