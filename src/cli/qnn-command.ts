// Owns `llama-golden qnn`: `extract` writes the raw QNN context binaries of an ExecuTorch program's QnnBackend
// delegates (ExecuTorch's custom header removed) plus a manifest into a fresh directory, all or nothing;
// `inspect` lists the plans and delegates and, when the native addon and QNN's system library are available,
// each context's graphs and tensors (through src/qnn/native.ts, loaded on demand so the command works without
// it).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { openFileSource } from "../loaders/byte-source.js";
import { unwrapQnnContext, type QnnContextHeader } from "../qnn/context-header.js";
import { delegateData, QNN_BACKEND_ID, readPteFrom, type PteDelegate, type PteProgram } from "../qnn/pte.js";
import { describeFsError } from "../util/files.js";
import { isUserError, oneLine, UserError } from "../util/errors.js";
import type { RunIO } from "./run.js";
import type { QnnBinaryInfo, QnnTensorInfo } from "../qnn/native.js";

export const QNN_HELP = `llama-golden qnn — the QNN context binaries inside an ExecuTorch .pte program

Usage:
  llama-golden qnn extract --pte FILE --out DIR
  llama-golden qnn inspect --pte FILE [--qnn_system_lib PATH] [--json]

extract   writes the raw QNN context binary of every QnnBackend delegate (ExecuTorch's header, magic
          0x5678ABCD, removed) to DIR/<plan>.<delegate>.bin, and DIR/manifest.json (per delegate: plan,
          delegate index, storage, data index, file, byte size, sha256, header fields). A context shared by
          several plans (one multi-graph context serving prefill_forward and kv_forward) is written once, named
          after the first plan that uses it. DIR must not exist or be empty; it appears complete or not at all.
inspect   lists the plans and their delegates (storage, size, QNN header fields) and, when the native addon
          is built and QNN's system library is found, the graphs of each context and their tensors (name,
          type, dtype, dims, quantization encoding). Without them it says in one line why not; a system
          library it cannot use (e.g. older than system API 1.2) is an error.

  --pte FILE              the ExecuTorch program (e.g. from llama.py --compile_only)
  --out DIR               extract: the directory to create
  --qnn_system_lib PATH   inspect: libQnnSystem.so / QnnSystem.dll (default: $QNN_SYSTEM_LIB, then the
                          library under $QNN_SDK_ROOT)
  --json                  inspect: stdout is one JSON object
  -h, --help              this text
`;

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  pte: { type: "string" },
  out: { type: "string" },
  qnn_system_lib: { type: "string" },
  json: { type: "boolean" },
} as const;

// ---- the parts of src/qnn/native.ts this command uses (types only: the addon itself loads lazily) ----

export type QnnTensorInfoLike = Pick<QnnTensorInfo, "name" | "type" | "dataType" | "dims" | "encoding"> & { id?: number };
export type QnnBinaryInfoLike = Omit<QnnBinaryInfo, "graphs"> & {
  graphs: { name: string; inputs: QnnTensorInfoLike[]; outputs: QnnTensorInfoLike[] }[];
};
/** What `inspect` needs from the native addon: a way to read a context binary's graph and tensor infos. */
export interface QnnNativeApi {
  nativeAddonStatus(): { available: true; path: string } | { available: false; reason: string };
  readBinaryInfo(systemLib: string, binary: Uint8Array): QnnBinaryInfoLike;
}
export interface QnnCommandDeps {
  /** Loads the native API; throws when it is not part of this build. Default: import src/qnn/native.js. */
  loadNative?: () => Promise<QnnNativeApi>;
  /** Finds QNN's system library (default: src/qnn/libraries.js resolveQnnLibraries). */
  resolveSystemLib?: (env: NodeJS.ProcessEnv) => Promise<string>;
  env?: NodeJS.ProcessEnv;
}

// Loaded on demand: the native layer is optional, and `extract` / the delegate listing never need it.
async function defaultLoadNative(): Promise<QnnNativeApi> {
  const m: QnnNativeApi = await import("../qnn/native.js");
  return m;
}

async function defaultResolveSystemLib(env: NodeJS.ProcessEnv): Promise<string> {
  const { resolveQnnLibraries } = await import("../qnn/libraries.js");
  // inspect needs only the system library: a bare backend name is taken as given (never looked up).
  return resolveQnnLibraries({ backendLib: "unused-by-inspect" }, env).systemLib;
}

// ---- the program's QNN delegates ----

interface DelegateRow {
  plan: string;
  delegate: PteDelegate;
  /** Set for QnnBackend delegates. */
  qnn?: { context?: ContextRow; error?: string };
}

interface ContextRow {
  /** File name (extract) / label (inspect): `<plan>.<delegate>`. */
  label: string;
  binary: Uint8Array;
  sha256: string;
  header?: QnnContextHeader;
  usedBy: { plan: string; index: number }[];
}

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** A file-name-safe rendering of a plan name (plan names are arbitrary strings in the schema). */
function safeName(s: string): string {
  const t = s.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^\.+/, "_");
  return t.length === 0 ? "plan" : t.slice(0, 100);
}

/**
 * Every delegate of every plan, the QnnBackend ones unwrapped; identical context binaries are one ContextRow.
 * With `strict`, a QnnBackend delegate that is not a context binary is an error; otherwise it is noted.
 */
function collect(p: PteProgram, strict: boolean): { rows: DelegateRow[]; contexts: ContextRow[] } {
  const rows: DelegateRow[] = [];
  const contexts: ContextRow[] = [];
  const bySha = new Map<string, ContextRow>();
  const byData = new Map<string, Uint8Array>();
  const labels = new Set<string>();
  for (const plan of p.plans) {
    for (const d of plan.delegates) {
      const row: DelegateRow = { plan: plan.name, delegate: d };
      rows.push(row);
      if (d.id !== QNN_BACKEND_ID) continue;
      const key = `${d.storage}:${d.dataIndex}`;
      let data = byData.get(key);
      if (data === undefined) byData.set(key, (data = delegateData(p, d)));
      let u;
      try {
        u = unwrapQnnContext(data, `${p.where}: plan "${plan.name}" delegate ${d.index}`);
      } catch (e) {
        if (strict || !isUserError(e)) throw e;
        row.qnn = { error: e.message };
        continue;
      }
      const sha = sha256(u.binary);
      let ctx = bySha.get(sha);
      if (ctx === undefined) {
        let label = `${safeName(plan.name)}.${d.index}`;
        for (let k = 2; labels.has(label); k++) label = `${safeName(plan.name)}.${d.index}-${k}`;
        labels.add(label);
        ctx = { label, binary: u.binary, sha256: sha, header: u.header, usedBy: [] };
        bySha.set(sha, ctx);
        contexts.push(ctx);
      }
      ctx.usedBy.push({ plan: plan.name, index: d.index });
      row.qnn = { context: ctx };
    }
  }
  return { rows, contexts };
}

function openProgram(path: string): PteProgram & { close(): void } {
  const src = openFileSource(path, "--pte");
  try {
    return { ...readPteFrom(src, `--pte ${path}`), close: () => src.close() };
  } catch (e) {
    src.close();
    throw e;
  }
}

const headerJson = (h: QnnContextHeader | undefined) =>
  h === undefined ? null : { layout: h.layout, header_bytes: h.headerBytes, signature: h.signature.toString(), binary_bytes: h.binarySize };

// ---- extract ----

/** Writes `files` into a fresh directory `dir`: staged beside it and renamed into place, removed on failure. */
function writeDirectory(dir: string, files: { name: string; data: Uint8Array }[]): void {
  const abs = resolve(dir);
  const parent = dirname(abs);
  if (!existsSync(parent) || !statSync(parent).isDirectory()) throw new UserError(`--out ${dir}: directory ${parent} does not exist`);
  if (existsSync(abs)) {
    if (!statSync(abs).isDirectory()) throw new UserError(`--out ${dir}: exists and is not a directory`);
    if (readdirSync(abs).length > 0) throw new UserError(`--out ${dir}: exists and is not empty (extract writes a fresh directory)`);
  }
  const tmp = join(parent, `.${basename(abs)}.${process.pid}.tmp`);
  try {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    for (const f of files) writeFileSync(join(tmp, f.name), f.data);
    if (existsSync(abs)) rmdirSync(abs);
    renameSync(tmp, abs);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw new UserError(`--out ${dir}: cannot write (${describeFsError(e)})`);
  }
}

function extract(ptePath: string, out: string, io: RunIO): number {
  const p = openProgram(ptePath);
  let collected;
  try {
    collected = collect(p, true);
  } finally {
    p.close();
  }
  const { rows, contexts } = collected;
  if (contexts.length === 0) {
    const ids = [...new Set(rows.map((r) => r.delegate.id))];
    throw new UserError(`--pte ${ptePath}: no ${QNN_BACKEND_ID} delegates in the program (${ids.length ? `delegates: ${ids.join(", ")}` : "no delegates at all"})`);
  }
  const delegates = rows
    .filter((r) => r.qnn?.context)
    .map((r) => {
      const c = r.qnn!.context!;
      return {
        plan: r.plan,
        index: r.delegate.index,
        storage: r.delegate.storage,
        data_index: r.delegate.dataIndex,
        stored_bytes: r.delegate.byteSize,
        file: `${c.label}.bin`,
        bytes: c.binary.length,
        sha256: c.sha256,
        header: headerJson(c.header),
      };
    });
  const manifest = {
    format: "llama-golden qnn extract 1",
    pte: ptePath,
    pte_bytes: p.fileSize,
    identifier: p.identifier,
    schema_version: p.schemaVersion,
    delegates,
  };
  const files = contexts.map((c) => ({ name: `${c.label}.bin`, data: c.binary }));
  files.push({ name: "manifest.json", data: new TextEncoder().encode(JSON.stringify(manifest, null, 2) + "\n") });
  writeDirectory(out, files);
  for (const c of contexts) {
    const users = c.usedBy.map((u) => `${u.plan}[${u.index}]`).join(", ");
    io.stdout(`${join(out, `${c.label}.bin`)}  ${c.binary.length} bytes  sha256 ${c.sha256}  (${users})\n`);
  }
  io.stdout(`${join(out, "manifest.json")}\n`);
  return 0;
}

// ---- inspect ----

type GraphListing = { available: true; systemLib: string; api: QnnNativeApi } | { available: false; reason: string };

async function graphListing(flagLib: string | undefined, deps: QnnCommandDeps): Promise<GraphListing> {
  const env = deps.env ?? process.env;
  let api: QnnNativeApi;
  try {
    api = await (deps.loadNative ?? defaultLoadNative)();
  } catch (e) {
    const code = (e as { code?: string }).code;
    const reason = code === "ERR_MODULE_NOT_FOUND" ? "this build has no native QNN layer (src/qnn/native)" : `the native QNN layer failed to load (${oneLine((e as Error).message)})`;
    return { available: false, reason };
  }
  const status = api.nativeAddonStatus();
  if (!status.available) return { available: false, reason: `native addon not available: ${oneLine(status.reason)}` };
  if (flagLib !== undefined) return { available: true, systemLib: flagLib, api };
  try {
    return { available: true, systemLib: await (deps.resolveSystemLib ?? defaultResolveSystemLib)(env), api };
  } catch (e) {
    if (isUserError(e)) return { available: false, reason: `QNN system library not found: ${oneLine(e.message)}` };
    const code = (e as { code?: string }).code;
    if (code === "ERR_MODULE_NOT_FOUND") return { available: false, reason: "this build has no QNN library resolver (src/qnn/libraries)" };
    throw e;
  }
}

/** Codes 0..3 with their parameters; later ones (4..11, e.g. BLOCKWISE_EXPANSION of LPBQ weights) by name and code. */
function encodingText(e: QnnTensorInfoLike["encoding"]): string {
  switch (e.kind) {
    case "none":
      return "none";
    case "scale_offset":
      return `scale_offset(scale=${e.scale}, offset=${e.offset})`;
    case "axis_scale_offset":
      return `axis_scale_offset(axis=${e.axis}, ${e.scales.length} channels)`;
    case "bw_scale_offset":
      return `bw_scale_offset(bitwidth=${e.bitwidth}, scale=${e.scale}, offset=${e.offset})`;
    case "bw_axis_scale_offset":
      return `bw_axis_scale_offset(bitwidth=${e.bitwidth}, axis=${e.axis}, ${e.scales.length} channels${e.offsets.every((o) => o === 0) ? ", symmetric" : ""})`;
    default: {
      const o = e as { code?: number; name?: string };
      return o.name !== undefined ? `${o.name} (encoding ${o.code ?? "?"}; parameters not read)` : `encoding ${o.code ?? "?"}`;
    }
  }
}

function headerText(h: QnnContextHeader | undefined): string {
  if (h === undefined) return "no ExecuTorch header (stand-in binary)";
  return `header ${h.headerBytes} bytes (${h.layout}), magic 0x${h.magic.toString(16).toUpperCase()}, signature ${h.signature}`;
}

async function inspect(ptePath: string, flagLib: string | undefined, json: boolean, io: RunIO, deps: QnnCommandDeps): Promise<number> {
  // A bare file name is left to the dynamic loader's search path; a path must exist.
  if (flagLib !== undefined && /[\\/]/.test(flagLib) && !existsSync(flagLib)) throw new UserError(`--qnn_system_lib ${flagLib}: no such file`);
  const p = openProgram(ptePath);
  let collected;
  try {
    collected = collect(p, false);
  } finally {
    p.close();
  }
  const { rows, contexts } = collected;
  const listing = contexts.length > 0 ? await graphListing(flagLib, deps) : ({ available: false, reason: "no QNN context binaries in the program" } as const);
  const infos = new Map<ContextRow, { info?: QnnBinaryInfoLike; error?: string }>();
  if (listing.available) {
    for (const c of contexts) {
      try {
        infos.set(c, { info: listing.api.readBinaryInfo(listing.systemLib, c.binary) });
      } catch (e) {
        // A system library that cannot be used at all (not loadable, no fitting provider, older than the
        // addon's minimum API) is the user's setup, not this binary: one line, exit 2.
        if (isUserError(e) && (e as { libraryUnusable?: boolean }).libraryUnusable === true) throw e;
        infos.set(c, { error: oneLine((e as Error).message) });
      }
    }
  }

  if (json) {
    const out = {
      pte: ptePath,
      file_bytes: p.fileSize,
      identifier: p.identifier,
      schema_version: p.schemaVersion,
      extended_header: p.extendedHeader ?? null,
      segments: p.segments,
      plans: p.plans.map((plan) => ({
        name: plan.name,
        delegates: rows
          .filter((r) => r.plan === plan.name)
          .map((r) => ({
            index: r.delegate.index,
            id: r.delegate.id,
            storage: r.delegate.storage,
            data_index: r.delegate.dataIndex,
            stored_bytes: r.delegate.byteSize,
            compile_specs: r.delegate.compileSpecs.map((c) => ({ key: c.key, bytes: c.value.length })),
            ...(r.qnn?.context ? { context: r.qnn.context.label } : {}),
            ...(r.qnn?.error ? { error: r.qnn.error } : {}),
          })),
      })),
      contexts: contexts.map((c) => ({
        label: c.label,
        used_by: c.usedBy,
        bytes: c.binary.length,
        sha256: c.sha256,
        header: headerJson(c.header),
        ...(infos.get(c) ?? {}),
      })),
      graph_listing: listing.available ? { available: true, system_lib: listing.systemLib } : { available: false, reason: listing.reason },
    };
    io.stdout(JSON.stringify(out, null, 2) + "\n");
    return 0;
  }

  const eh = p.extendedHeader;
  io.stdout(
    `${ptePath}: ExecuTorch program ${p.identifier}, schema version ${p.schemaVersion}, ${p.fileSize} bytes; ` +
      (eh ? `extended header: program ${eh.programSize} bytes, segments at ${eh.segmentBaseOffset}` : "no extended header") +
      `; ${p.plans.length} plan(s), ${p.inlineData.length} inline data, ${p.segments.length} segment(s)\n`,
  );
  for (const plan of p.plans) {
    io.stdout(`plan ${plan.name}: ${plan.delegates.length} delegate(s)\n`);
    for (const r of rows.filter((x) => x.plan === plan.name)) {
      const d = r.delegate;
      let line = `  [${d.index}] ${d.id}  ${d.storage} ${d.dataIndex}  ${d.byteSize} bytes`;
      if (r.qnn?.error) line += `  not a context binary: ${r.qnn.error}`;
      else if (r.qnn?.context) {
        const c = r.qnn.context;
        const first = c.usedBy[0];
        line +=
          first.plan === plan.name && first.index === d.index
            ? `  context ${c.label}: ${c.binary.length} bytes, ${headerText(c.header)}, sha256 ${c.sha256}`
            : `  same context as ${first.plan}[${first.index}] (${c.label})`;
      }
      io.stdout(line + "\n");
    }
  }
  if (!listing.available) {
    io.stdout(`graphs: not listed (${listing.reason})\n`);
    return 0;
  }
  for (const c of contexts) {
    const r = infos.get(c)!;
    const users = c.usedBy.map((u) => `${u.plan}[${u.index}]`).join(", ");
    if (r.error !== undefined) {
      io.stdout(`context ${c.label} (${users}): graphs not readable: ${r.error}\n`);
      continue;
    }
    const i = r.info!;
    const extra = [i.buildId ? `build ${i.buildId}` : "", i.socModel !== undefined ? `SoC model ${i.socModel}` : "", i.hwArch !== undefined ? `HTP arch ${i.hwArch}` : ""].filter(Boolean);
    io.stdout(
      `context ${c.label} (${users}): binary info v${i.binaryInfoVersion}, core API ${i.coreApiVersion}, backend API ${i.backendApiVersion}` +
        (extra.length ? `, ${extra.join(", ")}` : "") +
        `, ${i.graphs.length} graph(s)\n`,
    );
    for (const g of i.graphs) {
      io.stdout(`  graph ${g.name}: ${g.inputs.length} input(s), ${g.outputs.length} output(s)\n`);
      for (const [dir, list] of [["in ", g.inputs], ["out", g.outputs]] as const) {
        for (const t of list) io.stdout(`    ${dir} ${t.name}  ${t.type}  ${t.dataType}  [${t.dims.join(", ")}]  ${encodingText(t.encoding)}\n`);
      }
    }
  }
  return 0;
}

// ---- the command ----

/** "qnn extract" / "qnn inspect" when the command line names one (for messages), else "qnn". */
function commandLabel(argv: string[]): string {
  let positionals: string[] = [];
  try {
    ({ positionals } = parseArgs({ args: argv, options: OPTIONS, strict: false, allowPositionals: true }));
  } catch {
    // the strict parse's message is what matters
  }
  const action = positionals[0];
  return action === "extract" || action === "inspect" ? `qnn ${action}` : "qnn";
}

/** node:util parseArgs's complaint, as one short clause naming the flag. */
function argumentProblem(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const message = String(err.message ?? e);
  const quoted = /'([^']+)'/.exec(message)?.[1];
  if (err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && quoted) return `unknown flag ${quoted}`;
  if (err.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && quoted) {
    // quoted: "--pte <value>", "--json" or "-h, --help"
    const names = quoted.replace(/ <value>$/, "").split(", ");
    const flag = names.find((n) => n.startsWith("--")) ?? names[0];
    if (/argument missing/.test(message)) return `${flag} needs a value`;
    if (/does not take an argument/.test(message)) return `${flag} takes no value`;
  }
  return oneLine(message.split("\n")[0]);
}

export async function qnnCommand(argv: string[], io: RunIO, deps: QnnCommandDeps = {}): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: true }));
  } catch (e) {
    throw new UserError(`${commandLabel(argv)}: ${argumentProblem(e)} (see qnn --help)`);
  }
  if (values.help) {
    io.stdout(QNN_HELP);
    return 0;
  }
  if (positionals.length === 0) throw new UserError("qnn: give a command, extract or inspect (see qnn --help)");
  const [action, ...extra] = positionals;
  if (action !== "extract" && action !== "inspect") throw new UserError(`qnn: unknown command ${JSON.stringify(action)} (extract | inspect; see qnn --help)`);
  if (extra.length > 0) throw new UserError(`qnn ${action}: unexpected argument ${JSON.stringify(extra[0])} (see qnn --help)`);
  const pte = values.pte as string | undefined;
  if (pte === undefined) throw new UserError(`qnn ${action}: --pte FILE is required`);
  if (action === "extract") {
    if (values.qnn_system_lib !== undefined || values.json !== undefined) throw new UserError(`qnn extract: --${values.json !== undefined ? "json" : "qnn_system_lib"} is an inspect flag`);
    const out = values.out as string | undefined;
    if (out === undefined) throw new UserError("qnn extract: --out DIR is required");
    return extract(pte, out, io);
  }
  if (values.out !== undefined) throw new UserError("qnn inspect: --out is an extract flag");
  return inspect(pte, values.qnn_system_lib as string | undefined, values.json === true, io, deps);
}
