// Owns the SentencePiece `tokenizer.model` tokenizer: validating the file (with the project's own protobuf reader,
// sentencepiece-model.ts), encoding with Google's SentencePiece (the `sentencepiece-js` WebAssembly build), and
// decoding token by token the way the device runner prints.
//
// How sentencepiece-js is used (version 1.1.0, dist/index.js):
//   - Its only loader, `SentencePieceProcessor.load(path)`, is async: it instantiates a NEW Emscripten module
//     (~0.5 MB of WebAssembly compiled from an embedded base64 string, ~20 ms, its own 16 MB+ heap and in-memory
//     file system), reads `path` with fs.readFileSync into that file system and calls the C++ Load(), discarding
//     its status: a bad file "loads" silently. So here `load(os.devNull)` is only used to get a fresh module
//     instance (its processor's failed load of the empty file is thrown away); the already-validated bytes are
//     then written into the instance's file system and loaded with a new C++ processor whose Status is checked.
//     The bytes are never read twice from disk, and parseSentencePieceTokenizer works on bytes alone.
//   - Every tokenizer owns its module instance; no instance is shared, so a failed or aborted load (an Emscripten
//     abort marks its instance dead) cannot affect another tokenizer or a later load.
//   - Global state the package creates, and how it is contained: each module instance adds a
//     process.on("uncaughtException") and a process.on("unhandledRejection") listener that rethrow (Emscripten's
//     Node.js glue). They would pile up (MaxListenersExceededWarning after 10 loads) and keep every instance alive
//     forever. After each load, the listeners that load added (recognised by their exact source text and by not
//     having been there before) are removed again; nothing else of the process is touched.
//   - Text goes in through embind's std::string conversion, which mangles lone UTF-16 surrogates, so those are
//     replaced by U+FFFD first (what TextEncoder does, and what the llama2.c tokenizer sees).
//   - Every exception or bad status from the library becomes a one-line UserError naming the file. An exception
//     while encoding marks the tokenizer unusable (its instance may have aborted).
//
// What is checked before the bytes reach the library (beyond the protobuf structure, see sentencepiece-model.ts):
// the rules of SentencePiece's ModelInterface::InitializePieces (non-empty pieces without NUL, shorter than
// 8000 bytes, no duplicates within normal / reserved pieces, exactly one UNKNOWN piece, BYTE pieces only with
// byte_fallback, spelled `<0xHH>`, all 256 present), and BOS / EOS as SentencePiece's bos_id() / eos_id() find
// them (the CONTROL piece named trainer_spec.bos_piece / eos_piece, default "<s>" / "</s>"), which must agree with
// trainer_spec.bos_id / eos_id. A model without a BOS or EOS control piece is refused (the runner needs both).
//
// Decoding (decodeBytes) is done here from the piece table, not by the library, to print exactly what the device
// runner prints: the runner decodes with a llama2.c tokenizer.bin exported from this .model, and its decode(prev,
// cur) (llama2.c run.c, ExecuTorch's BPE/llama2c tokenizer) prints the exported piece, dropping a leading space
// after BOS and turning a piece that is exactly `<0xHH>` into that byte. The export rule (llama2.c tokenizer.py
// `export()`, which made the shipped models/tok512.bin and the Llama 2 tokenizer.bin byte for byte):
//   BOS id -> "\n<s>\n", EOS id -> "\n</s>\n", every other piece (the UNKNOWN piece "<unk>", other CONTROL and
//   USER_DEFINED pieces, BYTE pieces `<0xHH>`) -> its text with `▁` (U+2581) replaced by a space.
// So decodeBytes(prev, id) here equals the llama2.c tokenizer's decodeBytes on that exported tokenizer.bin for
// every id (a test checks this for tok512). ExecuTorch's own exporter (extension/llm/tokenizer/tokenizer.py, now
// pytorch_tokenizers llama2c convert) writes BOS / EOS as "<s>" / "</s>" without the newlines; pass
// `{ specialPieces: "executorch" }` to print that way.
import { devNull } from "node:os";
import {
  SentencePieceProcessor as SpWrapper,
  type SpAbslStringView,
  type SpModule,
  type SpProcessor,
} from "sentencepiece-js";
import { UserError } from "../util/errors.js";
import { readUserFile } from "../util/files.js";
import {
  PieceType,
  readSentencePieceModel,
  type PieceTypeId,
  type SentencePieceModel,
} from "./sentencepiece-model.js";
import type { Tokenizer } from "./types.js";

const WHAT = "tokenizer";

export interface SentencePieceOptions {
  /**
   * How the BOS / EOS pieces print: "llama2c" (default) as llama2.c tokenizer.py exports them ("\n<s>\n",
   * "\n</s>\n"), "executorch" as ExecuTorch's exporter does ("<s>", "</s>").
   */
  specialPieces?: "llama2c" | "executorch";
}

/** A loaded SentencePiece tokenizer: the common interface plus the model's details. */
export interface SentencePieceTokenizer extends Tokenizer {
  /** The parsed ModelProto (pieces, trainer and normalizer spec). */
  readonly model: SentencePieceModel;
  /** The id of the UNKNOWN piece. */
  readonly unkId: number;
  /** The score of an id. */
  score(id: number): number;
  /** The SentencePiece type of an id (PieceType.NORMAL, .BYTE, ...). */
  pieceType(id: number): PieceTypeId;
}

/** Reads and loads a SentencePiece .model; every problem is a UserError naming the path. */
export async function loadSentencePieceTokenizer(
  path: string,
  expectedVocabSize?: number,
  opts?: SentencePieceOptions,
): Promise<SentencePieceTokenizer> {
  return parseSentencePieceTokenizer(readUserFile(path, WHAT), path, expectedVocabSize, opts);
}

/** Loads SentencePiece .model bytes (`path` is only used in messages). */
export async function parseSentencePieceTokenizer(
  bytes: Uint8Array,
  path: string,
  expectedVocabSize?: number,
  opts: SentencePieceOptions = {},
): Promise<SentencePieceTokenizer> {
  const fail = (problem: string): never => {
    throw new UserError(`${WHAT} ${path}: ${problem}`);
  };
  const model = readSentencePieceModel(bytes, path, WHAT);
  const n = model.pieces.length;
  if (expectedVocabSize !== undefined && n !== expectedVocabSize) {
    fail(`has ${n} pieces but the model's vocab_size is ${expectedVocabSize}`);
  }
  const ids = checkPieces(model, fail);
  const engine = await openEngine(bytes, fail);
  // A first encode, so a model the library loads but cannot run fails here rather than at the first prompt.
  const probe = engine.encode("Hello world, caf\u00e9 \u4f60\u597d \u{1F642}");
  if (!probe.ok) return fail(`SentencePiece (sentencepiece-js) fails on it: ${probe.problem}`);
  checkIds(probe.ids, n, fail);
  return makeTokenizer(path, model, ids, engine, opts.specialPieces ?? "llama2c");
}

interface SpecialIds {
  unk: number;
  bos: number;
  eos: number;
}

const MAX_PIECE_BYTES = 8000;
const BYTE_PIECE = /^<0x([0-9A-F]{2})>$/;
const utf8Encoder = new TextEncoder();

/** SentencePiece's own acceptance rules for the piece table, and the special ids. */
function checkPieces(model: SentencePieceModel, fail: (problem: string) => never): SpecialIds {
  const spec = model.trainerSpec;
  const normal = new Map<string, number>();
  const reserved = new Map<string, number>();
  const bytesSeen = new Set<number>();
  let unk = -1;
  /** A piece named in a message (long pieces shortened, so the message stays readable). */
  const label = (id: number): string => {
    const p = model.pieces[id].piece;
    return `piece ${id} ${JSON.stringify(p.length > 40 ? `${p.slice(0, 40)}...` : p)}`;
  };
  model.pieces.forEach(({ piece, type }, id) => {
    if (piece.length === 0) fail(`piece ${id} is empty`);
    if (piece.includes("\0")) fail(`${label(id)} contains a NUL character`);
    // (UTF-8 takes at most 3 bytes per UTF-16 code unit, so only long pieces need measuring.)
    if (piece.length * 3 >= MAX_PIECE_BYTES && utf8Encoder.encode(piece).length >= MAX_PIECE_BYTES) {
      fail(`${label(id)} is ${MAX_PIECE_BYTES} bytes or longer`);
    }
    const isNormal = type === PieceType.NORMAL || type === PieceType.USER_DEFINED || type === PieceType.UNUSED;
    const map = isNormal ? normal : reserved;
    const first = map.get(piece);
    if (first !== undefined) fail(`${label(id)} is defined twice (ids ${first} and ${id})`);
    map.set(piece, id);
    if (type === PieceType.UNKNOWN) {
      if (unk !== -1) fail(`has two UNKNOWN pieces (ids ${unk} and ${id})`);
      unk = id;
    }
    if (type === PieceType.BYTE) {
      if (!spec.byteFallback) fail(`${label(id)} is a BYTE piece but trainer_spec.byte_fallback is false`);
      const m = BYTE_PIECE.exec(piece);
      if (m === null) return fail(`${label(id)} is a BYTE piece but not of the form <0xHH>`);
      bytesSeen.add(parseInt(m[1], 16));
    }
  });
  if (unk === -1) fail("has no UNKNOWN piece (<unk>)");
  if (spec.byteFallback && bytesSeen.size !== 256) {
    fail(`trainer_spec.byte_fallback is true but only ${bytesSeen.size} of the 256 byte pieces <0x00>..<0xFF> exist`);
  }
  if (spec.unkId !== unk) fail(`trainer_spec.unk_id is ${spec.unkId} but the UNKNOWN piece is id ${unk}`);
  const control = (name: string, declared: number, kind: "BOS" | "EOS"): number => {
    const field = `trainer_spec.${kind.toLowerCase()}_id`;
    const id = reserved.get(name);
    if (id === undefined || model.pieces[id].type !== PieceType.CONTROL) {
      return fail(`has no ${kind}: no CONTROL piece ${JSON.stringify(name)} (${field} ${declared})`);
    }
    if (declared !== id) fail(`${field} is ${declared} but the ${kind} piece ${JSON.stringify(name)} is id ${id}`);
    return id;
  };
  const bos = control(spec.bosPiece, spec.bosId, "BOS");
  const eos = control(spec.eosPiece, spec.eosId, "EOS");
  return { unk, bos, eos };
}

function checkIds(ids: readonly number[], n: number, fail: (problem: string) => never): void {
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= n) fail(`SentencePiece returned token id ${id}, outside 0..${n - 1}`);
  }
}

// ---- the library ----

type EncodeResult = { ok: true; ids: number[] } | { ok: false; problem: string };

interface Engine {
  encode(text: string): EncodeResult;
}

/** The file name the model bytes get inside the module instance's in-memory file system. */
const MODEL_FILE = "/llama-golden.model";

/** The exact source text of the process listeners Emscripten's Node.js glue adds per instance (dist/index.js 1.1.0). */
const EMSCRIPTEN_LISTENERS: Readonly<Record<"uncaughtException" | "unhandledRejection", string>> = {
  uncaughtException: "function(ex){if(!(ex instanceof ExitStatus)){throw ex}}",
  unhandledRejection: "function(reason){throw reason}",
};

/** A fresh module instance with the bytes loaded, or a UserError. */
async function openEngine(bytes: Uint8Array, fail: (problem: string) => never): Promise<Engine> {
  const events = Object.keys(EMSCRIPTEN_LISTENERS) as (keyof typeof EMSCRIPTEN_LISTENERS)[];
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(events.map((e) => [e, new Set(emitter.listeners(e))]));
  const wrapper = new SpWrapper();
  try {
    await wrapper.load(devNull);
  } catch (e) {
    fail(`could not start SentencePiece (sentencepiece-js): ${errorText(e)}`);
  } finally {
    for (const e of events) {
      for (const fn of emitter.listeners(e)) {
        if (!before.get(e)!.has(fn) && String(fn) === EMSCRIPTEN_LISTENERS[e]) {
          emitter.removeListener(e, fn as (...args: unknown[]) => void);
        }
      }
    }
  }
  const mod: SpModule = wrapper.sentencepiece;
  let processor: SpProcessor | undefined;
  try {
    wrapper.processor.delete(); // its load of the empty file failed; not used
    mod.FS.writeFile(MODEL_FILE, bytes);
    processor = new mod.SentencePieceProcessor();
    const status = withStringView(mod, MODEL_FILE, (view) => {
      const st = processor!.Load(view);
      try {
        return st.ToString();
      } finally {
        st.delete();
      }
    });
    mod.FS.unlink(MODEL_FILE);
    if (status !== "OK") fail(`SentencePiece (sentencepiece-js) refused it: ${oneLine(status)}`);
  } catch (e) {
    if (e instanceof UserError) throw e;
    fail(`SentencePiece (sentencepiece-js) failed while loading it: ${errorText(e)}`);
  }
  const proc = processor!;
  let dead: string | undefined;
  return {
    encode(text: string): EncodeResult {
      if (dead !== undefined) return { ok: false, problem: `unusable after an earlier failure (${dead})` };
      try {
        const ids = withStringView(mod, text, (view) => {
          const vec = proc.EncodeAsIds(view);
          try {
            const out = new Array<number>(vec.size());
            for (let i = 0; i < out.length; i++) out[i] = vec.get(i);
            return out;
          } finally {
            vec.delete();
          }
        });
        return { ok: true, ids };
      } catch (e) {
        dead = errorText(e);
        return { ok: false, problem: dead };
      }
    },
  };
}

/** Runs `fn` on an absl::string_view of `text`, freeing the C++ objects afterwards. */
function withStringView<T>(mod: SpModule, text: string, fn: (view: SpAbslStringView) => T): T {
  const holder = new mod.StringView(text);
  try {
    const view = holder.getView();
    try {
      return fn(view);
    } finally {
      view.delete();
    }
  } finally {
    holder.delete();
  }
}

function errorText(e: unknown): string {
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return oneLine(msg);
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

// ---- the tokenizer ----

/** U+2581, SentencePiece's visible space. */
const SPACE_MARK = /\u2581/g;
/** Lone UTF-16 surrogates (a paired surrogate is one code point, which \p{Cs} does not match with the u flag). */
const LONE_SURROGATE = /\p{Cs}/gu;

function makeTokenizer(
  path: string,
  model: SentencePieceModel,
  ids: SpecialIds,
  engine: Engine,
  specialPieces: "llama2c" | "executorch",
): SentencePieceTokenizer {
  const n = model.pieces.length;
  const [bosText, eosText] = specialPieces === "llama2c" ? ["\n<s>\n", "\n</s>\n"] : ["<s>", "</s>"];
  // Each piece as the llama2.c export writes it into tokenizer.bin.
  const exported = model.pieces.map(({ piece }, id) =>
    utf8Encoder.encode(id === ids.bos ? bosText : id === ids.eos ? eosText : piece.replace(SPACE_MARK, " ")),
  );
  const checkId = (id: number): void => {
    if (!Number.isInteger(id) || id < 0 || id >= n) {
      throw new Error(`sentencepiece tokenizer: token id ${id} is out of range 0..${n - 1}`);
    }
  };
  return {
    kind: "sentencepiece",
    model,
    vocabSize: n,
    bosId: ids.bos,
    eosIds: [ids.eos],
    unkId: ids.unk,
    encode(text, opts) {
      const res = engine.encode(text.replace(LONE_SURROGATE, "\uFFFD"));
      if (!res.ok) {
        throw new UserError(`${WHAT} ${path}: SentencePiece (sentencepiece-js) failed to encode text: ${res.problem}`);
      }
      checkIds(res.ids, n, (problem) => {
        throw new UserError(`${WHAT} ${path}: ${problem}`);
      });
      const out: number[] = [];
      if (opts?.bos) out.push(ids.bos);
      for (const id of res.ids) out.push(id);
      if (opts?.eos) out.push(ids.eos);
      return out;
    },
    decodeBytes(prevToken, token) {
      checkId(token);
      // run.c decode(): drop a leading space after BOS, then a piece that is exactly <0xHH> prints that byte.
      const piece = exported[token];
      const body = prevToken === ids.bos && piece[0] === 0x20 ? piece.subarray(1) : piece;
      const byte = byteTokenValue(body);
      return byte === -1 ? body.slice() : Uint8Array.of(byte);
    },
    piece(id) {
      checkId(id);
      return model.pieces[id].piece;
    },
    score(id) {
      checkId(id);
      return model.pieces[id].score;
    },
    pieceType(id) {
      checkId(id);
      return model.pieces[id].type;
    },
  };
}

/** The byte of a piece that is exactly `<0xHH>` (hex digits in either case, as llama2c-bin.ts reads them), else -1. */
function byteTokenValue(p: Uint8Array): number {
  if (p.length !== 6 || p[0] !== 0x3c || p[1] !== 0x30 || p[2] !== 0x78 || p[5] !== 0x3e) return -1;
  const hex = String.fromCharCode(p[3], p[4]);
  return /^[0-9A-Fa-f]{2}$/.test(hex) ? parseInt(hex, 16) : -1;
}
