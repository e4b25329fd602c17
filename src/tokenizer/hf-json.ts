// Owns Hugging Face `tokenizer.json` (the Qwen2.5/Qwen3, SmolLM, Phi and Gemma families): recognising the file by
// content, validating it, and encoding / decoding it through Hugging Face's own pure TypeScript tokenizers library
// (`@huggingface/tokenizers`: normalizers, pre-tokenizers, BPE / WordPiece / Unigram, added tokens, post-processor
// templates, decoders), behind the project's Tokenizer interface.
//
// Decisions:
// - The library does the tokenizing: writing our own would mean re-implementing every normalizer and pre-tokenizer
//   and Oniguruma's regex semantics. The Rust crate `tokenizers` is the reference; test/tokenizer/hf-json.test.ts
//   cross-checks the library against it (its N-API binding) on a few hundred strings for the real Qwen3, Qwen2.5
//   and Gemma3 files and on small WordPiece / Unigram files.
// - The project validates the file before the library sees it, so a damaged file is a one-line UserError naming it,
//   never a library stack trace, and a file the library would tokenize differently from the reference is refused by
//   name rather than silently encoded differently: a JSON object; `model.type` BPE, WordPiece or Unigram (WordLevel
//   and others refused); vocab ids integers in [0, 2^31) with no id used twice; BPE merges that are pairs whose two
//   tokens and their concatenation are vocabulary tokens (as the Rust crate requires); added tokens with an integer
//   id and a non-empty string content, numbered as the Rust crate numbers them (it ignores the file's ids), no id
//   naming two different strings across vocab and added tokens. Refused because the library does not implement them
//   as the reference does (checked against it): BPE dropout, `continuing_subword_prefix`, `end_of_word_suffix`,
//   Unigram `byte_fallback`, added tokens with `single_word`. Known and kept: the library's BertNormalizer
//   (`handle_chinese_chars`) misses CJK characters outside the BMP (U+20000 on), which the reference splits apart.
// - The library is given the tokenizer.json only, not tokenizer_config.json (its transformers-only switches such as
//   `remove_space` and `clean_up_tokenization_spaces` are not part of the Rust crate), and decode never cleans up
//   tokenization spaces, as the Rust crate.
// - A lone UTF-16 surrogate in the text is encoded as U+FFFD (the Rust crate only ever sees UTF-8; the library would
//   otherwise give Gemma three byte-fallback tokens where the reference gives its "�" token).
// - vocabSize = max id + 1 over vocab and added tokens. A tokenizer may be smaller than the model's embedding table
//   (real Qwen checkpoints pad it to 151936 rows for 151669 ids); one with ids past the model's vocabulary is refused
//   (`expectedVocabSize`).
// - BOS / EOS come from `tokenizer_config.json` beside the file (`bos_token`, `eos_token`: strings or {content}); none
//   there (or no such file): bosId -1 and no EOS. `bos` / `eos` put those ids around the ids themselves: the
//   post-processor template is never applied by encode / encodeWithSpecial (only by encodeHf(text, true)).
// - encode() is plain text: added tokens marked `special` written in the text are ordinary text; the other added
//   tokens (e.g. Qwen3's <think>) are still matched — the Rust crate's `encode_special_tokens = true` (transformers'
//   `split_special_tokens`). encodeWithSpecial({allowSpecial: true}) matches all added tokens, exactly the library's
//   encode(text, {add_special_tokens: false}) (the Rust crate's default). The plain variant is a second library
//   tokenizer built without the special added tokens that shares the first one's model (vocab and merges).
// - decodeBytes(prev, id): the token's own bytes, for streaming; `prev` is ignored and no space is ever stripped. The
//   decoder's per-token steps are applied to the token alone: ByteLevel maps each character back through the GPT-2
//   byte-to-unicode table (a token with a character outside it keeps its UTF-8, as the Rust decoder does), added
//   tokens under ByteLevel are their content as UTF-8 (as the library's decode); ByteFallback `<0xNN>` is that byte;
//   Replace (a Regex pattern as a JavaScript RegExp) and Strip act on the token alone; Metaspace's replacement is a
//   space and a WordPiece token without the prefix gets a space in front (both also for the first token); Fuse and
//   what follows it act on the whole text and are not applied; without a decoder, the token's UTF-8 (the crate then
//   joins tokens with spaces). So the concatenated bytes of a sequence equal the UTF-8 of decode() for byte-level BPE
//   and for Gemma.
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { oneLine, UserError } from "../util/errors.js";
import { readUserFile } from "../util/files.js";
import type { Tokenizer } from "./types.js";

export interface HfJsonOptions {
  /** The model's vocabulary size: a tokenizer with ids at or past it is refused. */
  expectedVocabSize?: number;
  /** tokenizer_config.json text (default: the file beside the tokenizer, if any). */
  configText?: string;
}

export interface EncodeWithSpecialOptions {
  /** Match added tokens marked special written in the text; when false they are ordinary text (as encode()). */
  allowSpecial: boolean;
  bos?: boolean;
  eos?: boolean;
}

/** A loaded tokenizer.json: the common interface plus special-aware encoding, the library's own calls and look-ups. */
export interface HfJsonTokenizer extends Tokenizer {
  readonly kind: "hf-json";
  /** "BPE", "WordPiece" or "Unigram". */
  readonly modelType: string;
  encodeWithSpecial(text: string, o: EncodeWithSpecialOptions): number[];
  /** Exactly the library's encode(text, { add_special_tokens }) ids (what the tests cross-check against the Rust crate). */
  encodeHf(text: string, addSpecialTokens: boolean): number[];
  /** The library's decode (no clean-up of tokenization spaces). */
  decode(ids: readonly number[], skipSpecialTokens?: boolean): string;
  /** The id of a token string (vocab or added token), or undefined. */
  tokenId(token: string): number | undefined;
}

type Obj = Record<string, unknown>;
type Bad = (msg: string) => never;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const MAX_ID = 2 ** 31 - 1;
const isId = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_ID;
const show = (v: unknown, n = 60): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > n ? `${s.slice(0, n)}…` : s;
};

/**
 * True when the bytes look like a Hugging Face tokenizer.json: a JSON object (after optional white space) with a
 * top-level-style "model" or "added_tokens" key in its first 64 KiB. Only a sniff: parseHfTokenizerJson validates.
 */
export function isHfTokenizerJson(bytes: Uint8Array): boolean {
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  if (bytes[i] !== 0x7b) return false;
  const head = new TextDecoder("utf-8", { fatal: false }).decode(bytes.subarray(i, i + (1 << 16)));
  return /"(model|added_tokens)"\s*:\s*[[{]/.test(head);
}

/** GPT-2's byte-to-unicode table: printable bytes (! .. ~, ¡ .. ¬, ® .. ÿ) map to themselves, the other 68 bytes to
 * U+0100 onwards in byte order (so space is "Ġ" U+0120 and newline "Ċ" U+010A). Index = byte. */
export function gpt2ByteToUnicode(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let n = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(printable(b) ? b : 0x100 + n++));
  return out;
}

const UNICODE_TO_BYTE: ReadonlyMap<string, number> = new Map(gpt2ByteToUnicode().map((ch, b) => [ch, b]));

function parseJson(bytes: Uint8Array, bad: Bad): Obj {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    return bad(`not valid tokenizer.json (${oneLine((e as Error).message)})`);
  }
  return isObj(raw) ? raw : bad("not a tokenizer.json object");
}

/** The vocabulary: id → token (an array, holes where no token has the id) and token → id. */
interface Vocab {
  pieces: string[];
  maxId: number;
  /** Number of entries (the Rust crate's model.get_vocab_size()). */
  count: number;
  idOf(token: string): number | undefined;
}

/** A vocabulary object of token → id, checked. */
function objectVocab(vocab: unknown, bad: Bad): Vocab {
  if (!isObj(vocab)) return bad(`"model.vocab" must be an object of token → id`);
  const pieces: string[] = [];
  let maxId = -1;
  let count = 0;
  for (const tok in vocab) {
    count++;
    const id = vocab[tok];
    if (!isId(id)) return bad(`vocab entry ${show(tok)} has id ${show(id)}, not an integer in [0, 2^31)`);
    if (pieces[id] !== undefined) bad(`vocab id ${id} is used by both ${show(pieces[id])} and ${show(tok)}`);
    pieces[id] = tok;
    if (id > maxId) maxId = id;
  }
  if (maxId < 0) bad(`"model.vocab" is empty`);
  return { pieces, maxId, count, idOf: (t) => (Object.hasOwn(vocab, t) ? (vocab[t] as number) : undefined) };
}

function checkBpe(model: Obj, vocab: Obj, bad: Bad): void {
  if (model.dropout !== undefined && model.dropout !== null && model.dropout !== 0)
    bad(`BPE dropout ${show(model.dropout)} is not supported (tokenizing would be random)`);
  for (const k of ["continuing_subword_prefix", "end_of_word_suffix"])
    if (model[k] !== undefined && model[k] !== null && model[k] !== "") bad(`BPE ${k} ${show(model[k])} is not supported`);
  if (model.unk_token !== undefined && model.unk_token !== null && !(typeof model.unk_token === "string" && Object.hasOwn(vocab, model.unk_token)))
    bad(`BPE unk_token ${show(model.unk_token)} is not a vocabulary token`);
  const merges = model.merges;
  if (!Array.isArray(merges)) return bad(`"model.merges" must be a list`);
  for (let i = 0; i < merges.length; i++) {
    const m: unknown = merges[i];
    const pair = typeof m === "string" ? m.split(" ") : m;
    if (!(Array.isArray(pair) && pair.length === 2 && typeof pair[0] === "string" && typeof pair[1] === "string" && pair[0] !== "" && pair[1] !== ""))
      bad(`merge ${i} (${show(m)}) is not a pair of tokens`);
    const [a, b] = pair as [string, string];
    if (!Object.hasOwn(vocab, a)) bad(`merge ${i} (${show(m)}): ${show(a)} is not a vocabulary token`);
    if (!Object.hasOwn(vocab, b)) bad(`merge ${i} (${show(m)}): ${show(b)} is not a vocabulary token`);
    if (!Object.hasOwn(vocab, a + b)) bad(`merge ${i} (${show(m)}): ${show(a + b)} is not a vocabulary token`);
  }
}

/** Unigram: a list of [piece, score]; the ids are the positions. */
function unigramVocab(model: Obj, bad: Bad): Vocab {
  const vocab = model.vocab;
  if (!Array.isArray(vocab) || vocab.length === 0) return bad(`"model.vocab" of a Unigram model must be a non-empty list of [piece, score]`);
  if (vocab.length > MAX_ID) return bad("the Unigram vocabulary is too large");
  const ids = new Map<string, number>();
  const pieces = vocab.map((e: unknown, i): string => {
    if (!(Array.isArray(e) && e.length === 2 && typeof e[0] === "string" && typeof e[1] === "number" && Number.isFinite(e[1])))
      bad(`Unigram vocab entry ${i} (${show(e)}) is not [piece, score]`);
    const piece = (e as [string, number])[0];
    if (ids.has(piece)) bad(`Unigram piece ${show(piece)} appears twice`);
    ids.set(piece, i);
    return piece;
  });
  if (model.unk_id !== undefined && model.unk_id !== null && !(isId(model.unk_id) && model.unk_id < vocab.length))
    bad(`Unigram unk_id ${show(model.unk_id)} is not a vocabulary id`);
  if (model.byte_fallback === true) bad("Unigram byte_fallback is not supported");
  return { pieces, maxId: pieces.length - 1, count: pieces.length, idOf: (t) => ids.get(t) };
}

/** Validates `model`: its type and vocabulary. */
function checkModel(raw: Obj, bad: Bad): { type: string; vocab: Vocab } {
  const model = raw.model;
  if (!isObj(model)) return bad(`no "model" object`);
  const type = model.type;
  switch (type) {
    case "BPE": {
      const vocab = objectVocab(model.vocab, bad);
      checkBpe(model, model.vocab as Obj, bad);
      return { type, vocab };
    }
    case "WordPiece": {
      const vocab = objectVocab(model.vocab, bad);
      const unk = model.unk_token ?? "[UNK]";
      if (!(typeof unk === "string" && Object.hasOwn(model.vocab as Obj, unk))) bad(`WordPiece unk_token ${show(unk)} is not a vocabulary token`);
      return { type, vocab };
    }
    case "Unigram":
      return { type, vocab: unigramVocab(model, bad) };
    default:
      return bad(`model type ${show(type)} is not supported (BPE, WordPiece or Unigram)`);
  }
}

interface Added {
  id: number;
  content: string;
  special: boolean;
}

/**
 * Validates `added_tokens` against the vocabulary; adds them to `vocab.pieces` and `vocab.maxId`. The Rust crate does
 * not take an added token's id from the file: it numbers them in order (a token of the model's vocabulary keeps its
 * id; a new one gets the model's vocabulary size, then one more than the largest id so far) and only warns when the
 * file says otherwise. The library takes the file's ids, so a file whose ids differ from that numbering is refused.
 */
function checkAdded(raw: Obj, vocab: Vocab, bad: Bad): Map<string, Added> {
  const list = raw.added_tokens ?? [];
  if (!Array.isArray(list)) return bad(`"added_tokens" must be a list`);
  const byContent = new Map<string, Added>();
  let largest = -1;
  list.forEach((t: unknown, i) => {
    if (!isObj(t) || typeof t.content !== "string" || t.content === "" || !isId(t.id))
      bad(`added token ${i} (${show(t)}) needs an integer "id" in [0, 2^31) and a non-empty string "content"`);
    const a = t as Obj & { id: number; content: string };
    if (a.single_word === true) bad(`added token ${show(a.content)} has single_word, which is not supported`);
    const prev = vocab.pieces[a.id];
    if (prev !== undefined && prev !== a.content) bad(`id ${a.id} is both ${show(prev)} and the added token ${show(a.content)}`);
    const other = byContent.get(a.content);
    if (other !== undefined && other.id !== a.id) bad(`added token ${show(a.content)} has two ids, ${other.id} and ${a.id}`);
    const next = largest < 0 ? vocab.count : largest >= vocab.count || vocab.count === 0 ? largest + 1 : vocab.count;
    const rustId = other?.id ?? vocab.idOf(a.content) ?? next;
    if (a.id !== rustId) bad(`added token ${show(a.content)} has id ${a.id}, but the Rust tokenizers library numbers it ${rustId}`);
    largest = Math.max(largest, rustId);
    byContent.set(a.content, { id: a.id, content: a.content, special: a.special === true });
    vocab.pieces[a.id] = a.content;
    if (a.id > vocab.maxId) vocab.maxId = a.id;
  });
  return byContent;
}

/** Lone UTF-16 surrogates become U+FFFD, as in the UTF-8 text the Rust crate sees. */
function wellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
}

function tokenText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isObj(v) && typeof v.content === "string") return v.content;
  return undefined;
}

/** tokenizer_config.json: the given text, else the file beside the tokenizer, else {}. */
function readConfig(path: string, configText: string | undefined): Obj {
  const cfgPath = join(dirname(path), "tokenizer_config.json");
  if (configText === undefined) {
    if (!existsSync(cfgPath)) return {};
    configText = new TextDecoder().decode(readUserFile(cfgPath, "tokenizer config"));
  }
  let c: unknown;
  try {
    c = JSON.parse(configText);
  } catch (e) {
    throw new UserError(`tokenizer config ${cfgPath}: not valid JSON (${oneLine((e as Error).message)})`);
  }
  if (!isObj(c)) throw new UserError(`tokenizer config ${cfgPath}: not a JSON object`);
  return c;
}

/** Flattens the decoder config into its steps (Sequence nested in any depth). */
function decoderSteps(d: unknown): Obj[] {
  if (!isObj(d)) return [];
  if (d.type === "Sequence") return (Array.isArray(d.decoders) ? d.decoders : []).flatMap(decoderSteps);
  return [d];
}

const utf8 = new TextEncoder();

/** The per-token part of the decoder (see the header): token string → its bytes. */
function tokenBytesDecoder(decoder: unknown, bad: Bad): (token: string, added: boolean) => Uint8Array {
  type Step = (s: string, added: boolean) => string | Uint8Array;
  const steps: Step[] = [];
  for (const d of decoderSteps(decoder)) {
    if (d.type === "Fuse" || d.type === "CTC") break; // from here on the steps see the whole text
    switch (d.type) {
      case "ByteLevel":
        steps.push((s, added) => {
          if (added) return utf8.encode(s);
          const out = new Uint8Array(s.length);
          let n = 0;
          for (const ch of s) {
            const b = UNICODE_TO_BYTE.get(ch);
            if (b === undefined) return utf8.encode(s);
            out[n++] = b;
          }
          return out.subarray(0, n);
        });
        break;
      case "ByteFallback":
        steps.push((s) => {
          const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(s);
          return m ? Uint8Array.of(parseInt(m[1], 16)) : s;
        });
        break;
      case "Replace": {
        const p = isObj(d.pattern) ? d.pattern : {};
        const content = typeof d.content === "string" ? d.content : "";
        if (typeof p.String === "string") {
          const from = p.String;
          steps.push((s) => (from === "" ? s : s.replaceAll(from, content)));
        } else if (typeof p.Regex === "string") {
          const re = jsRegex(p.Regex, bad);
          steps.push((s) => s.replace(re, content));
        }
        break;
      }
      case "Strip": {
        const ch = typeof d.content === "string" ? d.content : " ";
        const start = typeof d.start === "number" ? d.start : 0;
        const stop = typeof d.stop === "number" ? d.stop : 0;
        steps.push((s) => strip(s, ch, start, stop));
        break;
      }
      case "Metaspace": {
        const rep = typeof d.replacement === "string" ? d.replacement : "\u2581";
        steps.push((s) => s.replaceAll(rep, " "));
        break;
      }
      case "WordPiece": {
        const prefix = typeof d.prefix === "string" ? d.prefix : "##";
        steps.push((s) => {
          const t = prefix !== "" && s.startsWith(prefix) ? s.slice(prefix.length) : ` ${s}`;
          return d.cleanup === true ? cleanup(t) : t;
        });
        break;
      }
      case "BPE": {
        const suffix = typeof d.suffix === "string" ? d.suffix : "</w>";
        steps.push((s) => (suffix === "" ? s : s.replaceAll(suffix, " ")));
        break;
      }
    }
  }
  return (token, added) => {
    let s = token;
    for (const step of steps) {
      const r = step(s, added);
      if (typeof r !== "string") return r;
      s = r;
    }
    return utf8.encode(s);
  };
}

/** A Replace decoder's Regex pattern as a JavaScript RegExp (real tokenizer.json files use String patterns). */
function jsRegex(source: string, bad: Bad): RegExp {
  try {
    return new RegExp(source, "gu");
  } catch (e) {
    return bad(`decoder Replace pattern ${show(source)} (${oneLine((e as Error).message)})`);
  }
}

/** The Strip decoder on one token: up to `start` leading and `stop` trailing `ch` characters removed. */
function strip(s: string, ch: string, start: number, stop: number): string {
  const chars = [...s];
  let a = 0;
  while (a < start && a < chars.length && chars[a] === ch) a++;
  let b = chars.length;
  while (chars.length - b < stop && b > a && chars[b - 1] === ch) b--;
  return chars.slice(a, b).join("");
}

/** The WordPiece decoder's `cleanup` option: the replacements Hugging Face tokenizers applies, in its order (a behaviour of the format, rewritten here from its description). */
function cleanup(s: string): string {
  return s
    .replaceAll(" .", ".")
    .replaceAll(" ?", "?")
    .replaceAll(" !", "!")
    .replaceAll(" ,", ",")
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" do not", " don't")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

/** Builds a library tokenizer, its errors as UserErrors. */
function buildLibrary(json: Obj, bad: Bad): HfTokenizer {
  try {
    return new HfTokenizer(json, {});
  } catch (e) {
    return bad(`the tokenizer library cannot build it (${oneLine((e as Error).message)})`);
  }
}

export function parseHfTokenizerJson(bytes: Uint8Array, path: string, opts: HfJsonOptions = {}): HfJsonTokenizer {
  const bad: Bad = (msg) => {
    throw new UserError(`tokenizer ${path}: ${msg}`);
  };
  const raw = parseJson(bytes, bad);
  const { type, vocab } = checkModel(raw, bad);
  const added = checkAdded(raw, vocab, bad);
  const { pieces, maxId } = vocab;
  const vocabSize = maxId + 1;
  if (opts.expectedVocabSize !== undefined && vocabSize > opts.expectedVocabSize)
    bad(`token ids up to ${maxId} (${vocabSize} ids), but the model's vocabulary has ${opts.expectedVocabSize} (see --fold_vocab)`);
  const tokenId = (t: string): number | undefined => added.get(t)?.id ?? vocab.idOf(t);
  const addedIds = new Set([...added.values()].map((a) => a.id));

  const config = readConfig(path, opts.configText);
  const idOf = (key: "bos_token" | "eos_token"): number => {
    const text = tokenText(config[key]);
    if (text === undefined) return -1;
    const id = tokenId(text);
    return id ?? bad(`tokenizer_config.json's ${key} ${show(text)} is not a token`);
  };
  const bosId = idOf("bos_token");
  const eosId = idOf("eos_token");

  // The library wants every component key present (null when absent, as the Rust crate takes it).
  const json: Obj = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...raw, added_tokens: raw.added_tokens ?? [] };
  const hf = buildLibrary(json, bad);
  // Plain text: the same tokenizer without the special added tokens, sharing the first one's model (the library adds
  // every added token of the first one to the model's token → id map, so ids of a post-processor template still
  // resolve). A stand-in model keeps the second construction cheap.
  const nonSpecial = (json.added_tokens as Obj[]).filter((t) => t.special !== true);
  const plainHf = buildLibrary({ ...json, added_tokens: nonSpecial, model: { type: "BPE", vocab: {}, merges: [] } }, bad);
  plainHf.model = hf.model;

  const bytesOf = tokenBytesDecoder(raw.decoder, bad);
  const checkId = (id: number) => {
    if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) throw new RangeError(`token id ${id} is outside the tokenizer's [0, ${vocabSize})`);
  };
  const withBosEos = (ids: number[], bos?: boolean, eos?: boolean): number[] => {
    if (bos && bosId < 0) bad("a BOS was asked for, but the tokenizer has none (no bos_token in tokenizer_config.json)");
    if (eos && eosId < 0) bad("an EOS was asked for, but the tokenizer has none (no eos_token in tokenizer_config.json)");
    return [...(bos ? [bosId] : []), ...ids, ...(eos ? [eosId] : [])];
  };
  const plain = (text: string) => plainHf.encode(wellFormed(text), { add_special_tokens: false }).ids;
  const withSpecial = (text: string) => hf.encode(wellFormed(text), { add_special_tokens: false }).ids;

  return {
    kind: "hf-json",
    modelType: type,
    vocabSize,
    bosId,
    eosIds: eosId >= 0 ? [eosId] : [],
    encode: (text, o = {}) => withBosEos(plain(text), o.bos, o.eos),
    encodeWithSpecial: (text, o) => withBosEos(o.allowSpecial ? withSpecial(text) : plain(text), o.bos, o.eos),
    encodeHf: (text, addSpecialTokens) => hf.encode(wellFormed(text), { add_special_tokens: addSpecialTokens }).ids,
    decode: (ids, skipSpecialTokens = false) => {
      ids.forEach(checkId);
      // The library refuses an empty list; the empty sequence decodes to "".
      return ids.length === 0 ? "" : hf.decode([...ids], { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: false });
    },
    decodeBytes: (_prev, id) => {
      checkId(id);
      const t = pieces[id];
      return t === undefined ? new Uint8Array(0) : bytesOf(t, addedIds.has(id));
    },
    piece: (id) => {
      checkId(id);
      return pieces[id] ?? "";
    },
    tokenId,
  };
}
