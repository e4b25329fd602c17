// Owns reading a pre-tokenized prompt (--tokenized_prompt): a JSON array of ids, or ids separated by
// white space or commas. The ids are used verbatim: no BOS is added.
import { oneLine, UserError } from "../util/errors.js";
import { readUserFile } from "../util/files.js";

export function parseTokenIds(text: string, path: string): number[] {
  const t = text.trim();
  let parts: unknown[];
  if (t.startsWith("[")) {
    try {
      const v = JSON.parse(t);
      if (!Array.isArray(v)) throw new Error("not an array");
      parts = v;
    } catch (e) {
      throw new UserError(`tokenized prompt ${path}: not a valid JSON array (${oneLine((e as Error).message)})`);
    }
  } else {
    parts = t.split(/[\s,]+/).filter((x) => x !== "");
  }
  const ids = parts.map((p, i) => {
    const n = typeof p === "number" ? p : typeof p === "string" && /^\d+$/.test(p) ? Number(p) : NaN;
    if (!Number.isSafeInteger(n) || n < 0) throw new UserError(`tokenized prompt ${path}: entry ${i} (${JSON.stringify(p)}) is not a token id`);
    return n;
  });
  if (ids.length === 0) throw new UserError(`tokenized prompt ${path}: no token ids`);
  return ids;
}

export function readTokenIds(path: string): number[] {
  return parseTokenIds(new TextDecoder().decode(readUserFile(path, "tokenized prompt")), path);
}
