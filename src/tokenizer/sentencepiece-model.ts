// Owns reading SentencePiece `.model` files: a serialized `sentencepiece.ModelProto` (protobuf 2 wire format),
// read by this small hand-written reader, not by a protobuf library. It extracts what the project needs (the
// pieces with their score and type, the trainer spec's ids / model type / byte_fallback / vocab_size, the
// normalizer spec's switches) and checks the file's structure strictly, so a bad file is a one-line UserError
// here and never reaches the WebAssembly SentencePiece (which accepts some broken files without complaint).
//
// Schema (google/sentencepiece src/sentencepiece_model.proto; only the fields read or wire-type-checked here):
//   ModelProto:     1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec, 4 self_test_data,
//                   5 denormalizer_spec (messages).
//   SentencePiece:  1 piece (string), 2 score (float), 3 type (enum NORMAL=1 UNKNOWN=2 CONTROL=3 USER_DEFINED=4
//                   UNUSED=5 BYTE=6, default NORMAL).
//   TrainerSpec:    3 model_type (enum UNIGRAM=1 BPE=2 WORD=3 CHAR=4, default UNIGRAM), 4 vocab_size (int32),
//                   35 byte_fallback (bool), 40 unk_id (default 0), 41 bos_id (1), 42 eos_id (2), 43 pad_id (-1),
//                   45..48 unk/bos/eos/pad_piece (strings, default "<unk>" "<s>" "</s>" "<pad>"); the other
//                   fields are skipped after their wire type is checked (table TRAINER_WIRE below).
//   NormalizerSpec: 1 name (string), 2 precompiled_charsmap (bytes), 3 add_dummy_prefix, 4 remove_extra_whitespaces,
//                   5 escape_whitespaces (bools, default true), 6 normalization_rule_tsv (string).
// Wire format: each field is a varint tag (field_number << 3 | wire_type); wire types 0 varint, 1 fixed64,
// 2 length-delimited (varint length + bytes), 5 fixed32 (little-endian); 3/4 (groups) are not used by this schema.
//
// Strictness (every item is a UserError naming the file, with the byte offset):
//   - a first byte other than 0x0a: the file must start with a piece (field 1), as every file SentencePiece writes
//     does (protobuf serializes fields in field-number order);
//   - truncated varints / fixed fields, lengths running past the end of the file or of the enclosing message,
//     varints longer than 10 bytes, field number 0, wire types 3, 4, 6, 7;
//   - a known field with the wrong wire type (protobuf parsers would treat it as unknown and skip it);
//   - int32 values outside int32, bools other than 0/1, enum values outside the schema's values (protobuf
//     would keep the default and hide the value among unknown fields);
//   - zero pieces; a piece count different from an explicitly written trainer_spec.vocab_size;
//   - a piece that is not valid UTF-8, a score that is not finite.
// Unknown fields (other numbers, extensions >= 200) are skipped. Repeated occurrences of a singular field follow
// protobuf: the last scalar wins, messages merge.
import { UserError } from "../util/errors.js";

/** SentencePiece piece types (ModelProto.SentencePiece.Type). */
export const PieceType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;
export type PieceTypeId = (typeof PieceType)[keyof typeof PieceType];

/** TrainerSpec.ModelType. */
export const ModelType = { UNIGRAM: 1, BPE: 2, WORD: 3, CHAR: 4 } as const;
export type ModelTypeId = (typeof ModelType)[keyof typeof ModelType];

export interface SentencePieceEntry {
  /** The piece text exactly as stored (U+2581 `▁` for spaces). */
  readonly piece: string;
  readonly score: number;
  readonly type: PieceTypeId;
}

/** The TrainerSpec fields this project uses, with the schema's defaults for absent fields. */
export interface TrainerSpecFields {
  /** True if the file has a trainer_spec at all. */
  readonly present: boolean;
  readonly modelType: ModelTypeId;
  /** vocab_size only when the file writes it (the schema default 8000 means nothing about a file). */
  readonly vocabSize: number | undefined;
  readonly unkId: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly byteFallback: boolean;
  readonly unkPiece: string;
  readonly bosPiece: string;
  readonly eosPiece: string;
  readonly padPiece: string;
}

/** The NormalizerSpec fields this project uses, with the schema's defaults for absent fields. */
export interface NormalizerSpecFields {
  /** True if the file has a normalizer_spec at all. */
  readonly present: boolean;
  readonly name: string | undefined;
  readonly addDummyPrefix: boolean;
  readonly removeExtraWhitespaces: boolean;
  readonly escapeWhitespaces: boolean;
}

export interface SentencePieceModel {
  readonly pieces: readonly SentencePieceEntry[];
  readonly trainerSpec: TrainerSpecFields;
  readonly normalizerSpec: NormalizerSpecFields;
}

// ---- wire format ----

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;
const WIRE_NAMES = ["varint", "fixed64", "length-delimited", "start-group", "end-group", "fixed32", "6", "7"];

type Fail = (problem: string) => never;

/**
 * A cursor over bytes[pos, end) of one message. Error texts are only built on failure: `field` arguments are
 * short constants ("score", "field 7"), qualified with the message's name (e.g. "pieces[17].score") by `at`.
 */
class Cursor {
  constructor(
    readonly bytes: Uint8Array,
    /** A view of the same bytes (shared by the nested cursors), for fixed32 floats. */
    readonly view: DataView,
    public pos: number,
    readonly end: number,
    /** The message's name, e.g. "trainer_spec" or "pieces" (with `index`); "" for the top-level ModelProto. */
    readonly label: string,
    readonly index: number,
    readonly fail: Fail,
  ) {}

  get name(): string {
    if (this.label === "") return "the model";
    return this.index >= 0 ? `${this.label}[${this.index}]` : this.label;
  }

  /** A field of this message, named for an error message ("pieces[3].score", "field 9 of trainer_spec"). */
  at(field: string): string {
    if (this.label === "") return field;
    return field.startsWith("field ") ? `${field} of ${this.name}` : `${this.name}.${field}`;
  }

  private cutOff(what: string, start: number): never {
    const scope = this.end === this.bytes.length ? "the file" : `${this.name} (which ends at offset ${this.end})`;
    return this.fail(`${what} at offset ${start} runs past the end of ${scope} (truncated?)`);
  }

  /** A varint as two uint32 halves (lo in the return value, hi in `this.hi`); at most 10 bytes, 64 bits. */
  varint(field: string): number {
    const start = this.pos;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.cutOff(`${this.at(field)} (varint)`, start);
      const b = this.bytes[this.pos++];
      const v = b & 0x7f;
      if (i < 4) lo |= v << (7 * i);
      else if (i === 4) {
        lo |= (v & 0x0f) << 28;
        hi |= v >>> 4;
      } else hi |= v << (7 * i - 32);
      if ((b & 0x80) === 0) {
        this.hi = hi >>> 0;
        return lo >>> 0;
      }
    }
    return this.fail(`${this.at(field)} at offset ${start} is a varint longer than 10 bytes`);
  }
  /** The high 32 bits of the last varint. */
  hi = 0;

  /** A length-delimited field's payload: sets `this.from` / `this.to`, checked against the enclosing message. */
  lengthDelimited(field: string): void {
    const start = this.pos;
    const lo = this.varint(`${field} length`);
    if (this.hi !== 0 || lo > this.end - this.pos) {
      const len = this.hi === 0 ? String(lo) : "over 2^32";
      this.cutOff(`${this.at(field)}: length ${len}`, start);
    }
    this.from = this.pos;
    this.pos += lo;
    this.to = this.pos;
  }
  from = 0;
  to = 0;

  /** Skips a fixed-size field; returns its offset. */
  fixed(n: 4 | 8, field: string): number {
    const start = this.pos;
    if (this.end - this.pos < n) this.cutOff(`${this.at(field)} (${n}-byte fixed field)`, start);
    this.pos += n;
    return start;
  }

  /** The next field's tag: sets `this.field`, `this.wire`, `this.tagOffset`. */
  tag(): void {
    const offset = this.pos;
    const lo = this.varint("field tag");
    if (this.hi !== 0) this.fail(`field tag at offset ${offset} in ${this.name} does not fit in 32 bits (corrupted?)`);
    this.field = lo >>> 3;
    this.wire = lo & 7;
    this.tagOffset = offset;
    if (this.field === 0) {
      this.fail(`field tag at offset ${offset} in ${this.name} has field number 0 (not a .model file, or corrupted)`);
    }
  }
  field = 0;
  wire = 0;
  tagOffset = 0;

  /** Fails unless the current field has the wire type `wire`. */
  expectWire(wire: number, field: string): void {
    if (this.wire !== wire) {
      this.fail(
        `${this.at(field)} (field ${this.field}) at offset ${this.tagOffset} has wire type ` +
          `${WIRE_NAMES[this.wire]}, expected ${WIRE_NAMES[wire]} (not a .model file, or corrupted)`,
      );
    }
  }

  /** Skips the current field's value (an unknown field). */
  skip(): void {
    const field = `field ${this.field}`;
    switch (this.wire) {
      case WIRE_VARINT:
        this.varint(field);
        return;
      case WIRE_I64:
        this.fixed(8, field);
        return;
      case WIRE_LEN:
        this.lengthDelimited(field);
        return;
      case WIRE_I32:
        this.fixed(4, field);
        return;
      default:
        this.fail(
          `${this.at(field)}: tag at offset ${this.tagOffset} has wire type ${WIRE_NAMES[this.wire]}, ` +
            "which a SentencePiece model never uses (not a .model file, or corrupted)",
        );
    }
  }

  /** The nested message in the current length-delimited field. */
  message(label: string, index = -1): Cursor {
    this.lengthDelimited(index >= 0 ? `${label}[${index}]` : label);
    return new Cursor(this.bytes, this.view, this.from, this.to, label, index, this.fail);
  }

  int32(field: string): number {
    const start = this.pos;
    const lo = this.varint(field);
    // int32 is written as a plain varint when >= 0 and as a 10-byte sign-extended varint when negative.
    if (this.hi === 0 && lo <= 0x7fffffff) return lo;
    if (this.hi === 0xffffffff && lo >= 0x80000000) return lo | 0;
    return this.fail(`${this.at(field)} at offset ${start} is outside the int32 range`);
  }

  bool(field: string): boolean {
    const start = this.pos;
    const lo = this.varint(field);
    if (this.hi !== 0 || lo > 1) {
      this.fail(`${this.at(field)} at offset ${start} is a bool with value other than 0 or 1`);
    }
    return lo === 1;
  }

  enum<T extends number>(field: string, values: readonly number[]): T {
    const start = this.pos;
    const v = this.int32(field);
    if (!values.includes(v)) this.fail(`${this.at(field)} at offset ${start} is ${v}, not one of ${values.join(", ")}`);
    return v as T;
  }

  string(field: string): string {
    const start = this.pos;
    this.lengthDelimited(field);
    const { bytes, from, to } = this;
    // Fast path for short ASCII strings (most pieces); anything else goes through the strict decoder.
    if (to - from <= 64) {
      let ascii = "";
      let i = from;
      for (; i < to && bytes[i] < 0x80; i++) ascii += String.fromCharCode(bytes[i]);
      if (i === to) return ascii;
    }
    try {
      return utf8.decode(bytes.subarray(from, to));
    } catch {
      return this.fail(`${this.at(field)} at offset ${start} is not valid UTF-8`);
    }
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// ---- messages ----

const PIECE_TYPES: readonly number[] = Object.values(PieceType);
const MODEL_TYPES: readonly number[] = Object.values(ModelType);

function readPiece(c: Cursor): SentencePieceEntry {
  let piece = "";
  let score = 0;
  let type: PieceTypeId = PieceType.NORMAL;
  while (c.pos < c.end) {
    c.tag();
    switch (c.field) {
      case 1:
        c.expectWire(WIRE_LEN, "piece");
        piece = c.string("piece");
        break;
      case 2: {
        c.expectWire(WIRE_I32, "score");
        const at = c.fixed(4, "score");
        score = c.view.getFloat32(at, true);
        if (!Number.isFinite(score)) c.fail(`${c.at("score")} at offset ${at} is not finite (${score})`);
        break;
      }
      case 3:
        c.expectWire(WIRE_VARINT, "type");
        type = c.enum<PieceTypeId>("type", PIECE_TYPES);
        break;
      default:
        c.skip();
    }
  }
  return { piece, score, type };
}

/** Expected wire types of the TrainerSpec fields that are skipped (checked anyway: a known field, a known type). */
const TRAINER_WIRE: ReadonlyMap<number, number> = new Map([
  ...[1, 2, 5, 7, 30, 31, 36, 44].map((f): [number, number] => [f, WIRE_LEN]),
  ...[10, 15, 51].map((f): [number, number] => [f, WIRE_I32]),
  ...[6, 11, 12, 13, 14, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 32, 33, 34, 49, 50, 52].map(
    (f): [number, number] => [f, WIRE_VARINT],
  ),
]);

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type MutableTrainerSpec = Mutable<TrainerSpecFields>;
type MutableNormalizerSpec = Mutable<NormalizerSpecFields>;

const TRAINER_IDS: Readonly<Record<number, ["unkId" | "bosId" | "eosId" | "padId", string]>> = {
  40: ["unkId", "unk_id"],
  41: ["bosId", "bos_id"],
  42: ["eosId", "eos_id"],
  43: ["padId", "pad_id"],
};
const TRAINER_PIECES: Readonly<Record<number, ["unkPiece" | "bosPiece" | "eosPiece" | "padPiece", string]>> = {
  45: ["unkPiece", "unk_piece"],
  46: ["bosPiece", "bos_piece"],
  47: ["eosPiece", "eos_piece"],
  48: ["padPiece", "pad_piece"],
};

function readTrainerSpec(c: Cursor, spec: MutableTrainerSpec): void {
  spec.present = true;
  while (c.pos < c.end) {
    c.tag();
    const f = c.field;
    if (f === 3) {
      c.expectWire(WIRE_VARINT, "model_type");
      spec.modelType = c.enum<ModelTypeId>("model_type", MODEL_TYPES);
    } else if (f === 4) {
      c.expectWire(WIRE_VARINT, "vocab_size");
      spec.vocabSize = c.int32("vocab_size");
    } else if (f === 35) {
      c.expectWire(WIRE_VARINT, "byte_fallback");
      spec.byteFallback = c.bool("byte_fallback");
    } else if (f in TRAINER_IDS) {
      const [key, name] = TRAINER_IDS[f];
      c.expectWire(WIRE_VARINT, name);
      spec[key] = c.int32(name);
    } else if (f in TRAINER_PIECES) {
      const [key, name] = TRAINER_PIECES[f];
      c.expectWire(WIRE_LEN, name);
      spec[key] = c.string(name);
    } else {
      const wire = TRAINER_WIRE.get(f);
      if (wire !== undefined) c.expectWire(wire, `field ${f}`);
      c.skip();
    }
  }
}

const NORMALIZER_BOOLS: Readonly<
  Record<number, ["addDummyPrefix" | "removeExtraWhitespaces" | "escapeWhitespaces", string]>
> = {
  3: ["addDummyPrefix", "add_dummy_prefix"],
  4: ["removeExtraWhitespaces", "remove_extra_whitespaces"],
  5: ["escapeWhitespaces", "escape_whitespaces"],
};

function readNormalizerSpec(c: Cursor, spec: MutableNormalizerSpec): void {
  spec.present = true;
  while (c.pos < c.end) {
    c.tag();
    const f = c.field;
    if (f === 1) {
      c.expectWire(WIRE_LEN, "name");
      spec.name = c.string("name");
    } else if (f in NORMALIZER_BOOLS) {
      const [key, name] = NORMALIZER_BOOLS[f];
      c.expectWire(WIRE_VARINT, name);
      spec[key] = c.bool(name);
    } else if (f === 2 || f === 6) {
      c.expectWire(WIRE_LEN, f === 2 ? "precompiled_charsmap" : "normalization_rule_tsv");
      c.skip();
    } else {
      c.skip();
    }
  }
}

/**
 * Reads a SentencePiece ModelProto. Every structural problem is a UserError `${what} ${path}: ...` (one line, with
 * the byte offset). Does not judge whether SentencePiece would accept the vocabulary (unknown piece, byte pieces,
 * duplicates): that is the tokenizer's business.
 */
export function readSentencePieceModel(bytes: Uint8Array, path: string, what = "tokenizer"): SentencePieceModel {
  const fail: Fail = (problem) => {
    throw new UserError(`${what} ${path}: ${problem}`);
  };
  if (bytes.length === 0) fail("empty file");
  if (bytes[0] !== 0x0a) {
    fail(
      "not a SentencePiece model: a .model file starts with byte 0x0a (its first piece), " +
        `this one with 0x${hex2(bytes[0])}`,
    );
  }
  const trainer: MutableTrainerSpec = {
    present: false,
    modelType: ModelType.UNIGRAM,
    vocabSize: undefined,
    unkId: 0,
    bosId: 1,
    eosId: 2,
    padId: -1,
    byteFallback: false,
    unkPiece: "<unk>",
    bosPiece: "<s>",
    eosPiece: "</s>",
    padPiece: "<pad>",
  };
  const normalizer: MutableNormalizerSpec = {
    present: false,
    name: undefined,
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    escapeWhitespaces: true,
  };
  const denormalizer: MutableNormalizerSpec = { ...normalizer };
  const pieces: SentencePieceEntry[] = [];

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const top = new Cursor(bytes, view, 0, bytes.length, "", -1, fail);
  while (top.pos < top.end) {
    top.tag();
    switch (top.field) {
      case 1:
        top.expectWire(WIRE_LEN, `pieces[${pieces.length}]`);
        pieces.push(readPiece(top.message("pieces", pieces.length)));
        break;
      case 2:
        top.expectWire(WIRE_LEN, "trainer_spec");
        readTrainerSpec(top.message("trainer_spec"), trainer);
        break;
      case 3:
        top.expectWire(WIRE_LEN, "normalizer_spec");
        readNormalizerSpec(top.message("normalizer_spec"), normalizer);
        break;
      case 4:
        top.expectWire(WIRE_LEN, "self_test_data");
        top.skip();
        break;
      case 5:
        top.expectWire(WIRE_LEN, "denormalizer_spec");
        readNormalizerSpec(top.message("denormalizer_spec"), denormalizer);
        break;
      default:
        top.skip();
    }
  }

  if (pieces.length === 0) fail("has no pieces");
  if (trainer.vocabSize !== undefined && trainer.vocabSize !== pieces.length) {
    fail(`has ${pieces.length} pieces but its trainer_spec.vocab_size is ${trainer.vocabSize}`);
  }
  return { pieces, trainerSpec: trainer, normalizerSpec: normalizer };
}

function hex2(b: number): string {
  return b.toString(16).padStart(2, "0");
}

/**
 * Cheap structural check for format detection, on the first bytes of a file (any length; 64+ recommended): the
 * file must start like a ModelProto whose first field is a piece: tag 0x0a (field 1, length-delimited), a varint
 * length, then a SentencePiece message starting with tag 0x0a (its `piece` string) of a sane length, and every
 * further field of that first message that lies within `head` must be a valid piece field (score fixed32, type
 * varint 1..6). A llama2.c tokenizer.bin (starts with a little-endian uint32) and a tiktoken text file (base64
 * letters) fail this.
 */
export function isSentencePieceModel(head: Uint8Array): boolean {
  let pos = 0;
  /** A varint within head; undefined if malformed or cut off by the end of head. */
  const varint = (): number | undefined => {
    let v = 0;
    for (let i = 0; i < 5; i++) {
      if (pos >= head.length) return undefined;
      const b = head[pos++];
      v += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) return v;
    }
    return undefined;
  };
  if (head.length < 4 || head[pos++] !== 0x0a) return false;
  const msgLen = varint();
  if (msgLen === undefined || msgLen < 3) return false;
  const msgEnd = pos + msgLen;
  if (head[pos++] !== 0x0a) return false;
  const pieceLen = varint();
  // A piece is non-empty and its tag + length + bytes fit inside the message.
  if (pieceLen === undefined || pieceLen === 0 || pos + pieceLen > msgEnd) return false;
  pos += pieceLen;
  while (pos < msgEnd && pos < head.length) {
    const tag = head[pos++];
    if (tag === 0x15) {
      pos += 4; // score: fixed32
    } else if (tag === 0x18) {
      const t = varint();
      if (t === undefined) return pos >= head.length; // cut off by the end of head: still plausible
      if (t < 1 || t > 6) return false;
    } else {
      return false;
    }
  }
  // A score that would run past the end of the piece message is malformed, wherever head ends.
  return pos <= msgEnd;
}
