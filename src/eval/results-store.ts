// Owns the append-only results file of a sharded run (issue 18: `eval` and `parity --prompts_file` with `--results`),
// and reading a set of them back for `merge`. JSONL: line 1 is the header
//   {"format":"llama-golden-results","version":1,"key":{key,items,description},"shard":{"index":K,"count":N},"meta":{...}}
// then one record per line ({"item": i, ...}), in the order they were scored. Each record is one write() of its line
// followed by fsync, so a killed run loses at most the item it was scoring: a kill mid-write leaves a torn last line
// (no newline), which the next open cuts off (and says so) before resuming. Everything else about the file is checked:
// a different run (key), shard or format is refused, never overwritten; a record of an item outside the shard, or twice,
// or a line that is not JSON, is an error naming the file and line. Records must be finite JSON: a NaN or ±Infinity is
// refused when written (JSON would silently turn it into null). Nothing read from the file sizes an allocation beyond
// the limits below.
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, statSync, writeSync } from "node:fs";
import { UserError } from "../util/errors.js";
import { describeFsError, openUserFileSync } from "../util/files.js";
import type { RunKey } from "./records.js";
import { itemsOfShard, type Shard } from "./shard.js";

export const RESULTS_FORMAT = "llama-golden-results";
export const RESULTS_VERSION = 1;
const MAX_LINE_BYTES = 64 * 2 ** 20;
const MAX_FILE_BYTES = 2 ** 31 - 1;

export interface ResultsHeader {
  key: RunKey;
  shard: Shard;
  /** What the report needs besides the records (an EvalMeta, a SweepMeta); stored as it is. */
  meta: unknown;
}

interface HeaderLine extends ResultsHeader {
  format: string;
  version: number;
}

export interface ResultsStore<R extends { item: number }> {
  /** Records already in the file, by item. */
  done: Map<number, R>;
  append(record: R): Promise<void>;
  close(): void;
}

/** JSON of a record, refusing non-finite numbers (they would come back as null). */
function finiteJson(v: unknown, what: string): string {
  return JSON.stringify(v, (k, x) => {
    if (typeof x === "number" && !Number.isFinite(x)) throw new UserError(`${what}: field "${k}" is ${x}, which a results file cannot hold (non-finite logits from the backend?)`);
    return x;
  });
}

/**
 * A record as a results file gives it back (JSON round trip: −0 becomes 0). Commands keep this form in memory too, so
 * a single run, a resumed run and merged shards report from identical numbers.
 */
export function asStored<R>(record: R, what: string): R {
  return JSON.parse(finiteJson(record, what)) as R;
}

/** The complete lines of a file and the byte length they span (a torn tail after the last newline is left out). */
function readLines(path: string, fd: number): { lines: string[]; complete: number; size: number } {
  const size = fstatSync(fd).size;
  if (size > MAX_FILE_BYTES) throw new UserError(`results file ${path}: ${size} bytes, more than the ${MAX_FILE_BYTES}-byte limit of one file (use more shards)`);
  const buf = Buffer.alloc(size);
  for (let at = 0; at < size; ) {
    const n = readSync(fd, buf, at, size - at, at);
    if (n === 0) throw new UserError(`results file ${path}: the file changed while being read`);
    at += n;
  }
  const lines: string[] = [];
  if (size > 0 && !buf.subarray(0, 64).toString("latin1").replace(/\s/g, "").startsWith(`{"format":"${RESULTS_FORMAT}"`.slice(0, Math.min(size, 30))))
    throw new UserError(`results file ${path}: not a llama-golden results file (line 1 is not its header)`);
  let start = 0;
  for (;;) {
    const nl = buf.indexOf(10, start);
    if (nl < 0) break;
    if (nl - start > MAX_LINE_BYTES) throw new UserError(`results file ${path}: line ${lines.length + 1} is longer than ${MAX_LINE_BYTES} bytes`);
    lines.push(buf.toString("utf8", start, nl));
    start = nl + 1;
  }
  return { lines, complete: start, size };
}

function parseLine(path: string, line: string, n: number): unknown {
  try {
    return JSON.parse(line);
  } catch {
    if (n === 1) throw new UserError(`results file ${path}: not a llama-golden results file (line 1 is not its header)`);
    throw new UserError(`results file ${path}: line ${n} is not JSON (a corrupted file; only a torn last line is repaired)`);
  }
}

function checkHeader(path: string, v: unknown): HeaderLine {
  const h = v as Partial<HeaderLine>;
  if (typeof v !== "object" || v === null || h.format !== RESULTS_FORMAT) throw new UserError(`results file ${path}: not a llama-golden results file (line 1 is not its header)`);
  if (h.version !== RESULTS_VERSION) throw new UserError(`results file ${path}: format version ${JSON.stringify(h.version)}, this llama-golden reads ${RESULTS_VERSION}`);
  const k = h.key as Partial<RunKey> | undefined;
  const s = h.shard as Partial<Shard> | undefined;
  const isCount = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
  if (!k || typeof k.key !== "string" || !isCount(k.items) || typeof k.description !== "string") throw new UserError(`results file ${path}: the header's run key is malformed`);
  if (!s || !isCount(s.index) || !isCount(s.count) || s.count < 1 || s.index >= s.count) throw new UserError(`results file ${path}: the header's shard is malformed`);
  return h as HeaderLine;
}

/** Checks one record line against its file's header; returns the record. */
function checkRecord<R extends { item: number }>(path: string, v: unknown, n: number, h: HeaderLine, seen: Map<number, R>): R {
  const item = (v as { item?: unknown } | null)?.item;
  if (typeof v !== "object" || v === null || typeof item !== "number" || !Number.isSafeInteger(item) || item < 0)
    throw new UserError(`results file ${path}: line ${n} is not a record (no item number)`);
  if (item >= h.key.items) throw new UserError(`results file ${path}: line ${n}: item ${item} is beyond the run's ${h.key.items} items`);
  if (item % h.shard.count !== h.shard.index) throw new UserError(`results file ${path}: line ${n}: item ${item} does not belong to shard ${h.shard.index}/${h.shard.count}`);
  if (seen.has(item)) throw new UserError(`results file ${path}: line ${n}: item ${item} is there twice`);
  return v as R;
}

/**
 * Opens (or creates) the results file of this run and shard (file header). The records already in it come back in
 * `done`; `append` adds one.
 */
export async function openResultsStore<R extends { item: number }>(path: string, header: ResultsHeader, io: { stderr: (s: string) => void }): Promise<ResultsStore<R>> {
  const line1 = finiteJson({ format: RESULTS_FORMAT, version: RESULTS_VERSION, ...header }, `results file ${path}`) + "\n";
  let fd: number;
  try {
    if (existsSync(path) && !statSync(path).isFile()) throw new UserError(`--results ${path}: not a regular file (a results file is appended to and synced)`);
    fd = openSync(path, existsSync(path) ? "r+" : "wx+");
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`--results ${path}: ${describeFsError(e)}`);
  }
  const done = new Map<number, R>();
  try {
    const { lines, complete, size } = readLines(path, fd);
    if (size === 0) {
      writeSync(fd, line1, 0, "utf8");
      fsyncSync(fd);
    } else {
      if (lines.length === 0) throw new UserError(`results file ${path}: no complete header line (not a results file, or cut off while it was created: remove it)`);
      const h = checkHeader(path, parseLine(path, lines[0], 1));
      if (h.key.key !== header.key.key || h.key.items !== header.key.items)
        throw new UserError(`results file ${path}: written by another run (${h.key.description}; its flags, model or data differ) — give another --results file`);
      if (h.shard.index !== header.shard.index || h.shard.count !== header.shard.count)
        throw new UserError(`results file ${path}: holds shard ${h.shard.index}/${h.shard.count}, this run is shard ${header.shard.index}/${header.shard.count}`);
      if (JSON.stringify(h.meta) !== JSON.stringify(JSON.parse(finiteJson(header.meta, `results file ${path}`))))
        throw new UserError(`results file ${path}: its description of the run differs from this run's (another version of llama-golden?) — give another --results file`);
      for (let i = 1; i < lines.length; i++) {
        const r = checkRecord<R>(path, parseLine(path, lines[i], i + 1), i + 1, h, done);
        done.set(r.item, r);
      }
      if (complete < size) {
        ftruncateSync(fd, complete);
        fsyncSync(fd);
        io.stderr(`results file ${path}: cut off a torn last line (${size - complete} bytes of an item being written when the run stopped); it is scored again\n`);
      }
    }
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  let at = fstatSync(fd).size;
  return {
    done,
    async append(record: R) {
      const i = record.item;
      if (!(Number.isSafeInteger(i) && i >= 0 && i < header.key.items && i % header.shard.count === header.shard.index) || done.has(i))
        throw new Error(`results file ${path}: item ${i} is not a new item of shard ${header.shard.index}/${header.shard.count}`);
      const text = finiteJson(record, `results file ${path}: item ${i}`) + "\n";
      const bytes = Buffer.from(text, "utf8");
      try {
        let off = 0;
        while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off, at + off);
        fsyncSync(fd);
      } catch (e) {
        // Leave no partial line behind: the file ends with its last whole record again.
        try {
          ftruncateSync(fd, at);
        } catch {
          // the write error below says what happened
        }
        throw new UserError(`results file ${path}: ${describeFsError(e)}`);
      }
      at += bytes.length;
      done.set(i, record);
    },
    close: () => closeSync(fd),
  };
}

/** Reads a sharded run's results files for merge: every shard once, every item once; records sorted by item. */
export function readShardFiles<R extends { item: number }>(paths: readonly string[]): { key: RunKey; meta: unknown; records: R[] } {
  if (paths.length === 0) throw new UserError("merge: give the results files of every shard");
  let first: { h: HeaderLine; path: string } | undefined;
  const byShard = new Map<number, string>();
  const records: R[] = [];
  for (const path of paths) {
    const { fd } = openUserFileSync(path, `results file ${path}`);
    let lines: string[];
    let complete: number;
    let size: number;
    try {
      ({ lines, complete, size } = readLines(path, fd));
    } finally {
      closeSync(fd);
    }
    if (lines.length === 0) throw new UserError(`results file ${path}: empty or no complete header line`);
    const h = checkHeader(path, parseLine(path, lines[0], 1));
    if (complete < size) throw new UserError(`results file ${path}: ends with a torn line (shard ${h.shard.index}/${h.shard.count} was stopped mid-item): rerun that shard to complete it`);
    if (!first) first = { h, path };
    else {
      if (h.key.key !== first.h.key.key) throw new UserError(`results file ${path}: from another run than ${first.path} (${h.key.description} vs ${first.h.key.description})`);
      if (h.shard.count !== first.h.shard.count) throw new UserError(`results file ${path}: shard ${h.shard.index}/${h.shard.count}, but ${first.path} is one of ${first.h.shard.count} shards`);
      if (JSON.stringify(h.meta) !== JSON.stringify(first.h.meta)) throw new UserError(`results file ${path}: its description of the run differs from ${first.path}'s`);
    }
    const dup = byShard.get(h.shard.index);
    if (dup !== undefined) throw new UserError(`results files ${dup} and ${path} both hold shard ${h.shard.index}/${h.shard.count}`);
    byShard.set(h.shard.index, path);
    const seen = new Map<number, R>();
    for (let i = 1; i < lines.length; i++) {
      const r = checkRecord<R>(path, parseLine(path, lines[i], i + 1), i + 1, h, seen);
      seen.set(r.item, r);
    }
    const want = itemsOfShard(h.key.items, h.shard.index, h.shard.count);
    const missing = want.filter((i) => !seen.has(i));
    if (missing.length > 0)
      throw new UserError(`results file ${path}: shard ${h.shard.index}/${h.shard.count} is incomplete: ${missing.length} of ${want.length} items missing (first: ${missing[0]}); rerun the shard to finish it`);
    records.push(...seen.values());
  }
  const h = first!.h;
  const absent = Array.from({ length: h.shard.count }, (_, k) => k).filter((k) => !byShard.has(k));
  if (absent.length > 0) throw new UserError(`merge: ${absent.length} of ${h.shard.count} shards missing (${absent.slice(0, 8).map((k) => `${k}/${h.shard.count}`).join(", ")}${absent.length > 8 ? ", …" : ""})`);
  records.sort((a, b) => a.item - b.item);
  return { key: h.key, meta: h.meta, records };
}
