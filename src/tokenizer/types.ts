// Owns the project's tokenizer interface: what every tokenizer format (llama2.c tokenizer.bin,
// SentencePiece .model, Llama 3 tiktoken) provides to the runner and the CLI.

/** A loaded tokenizer. Implementations are immutable after loading. */
export interface Tokenizer {
  /** Short format name, e.g. "llama2c-bin". */
  readonly kind: string;
  /** Number of pieces (ids are 0 .. vocabSize-1). */
  readonly vocabSize: number;
  /** Id of the beginning-of-sequence token. */
  readonly bosId: number;
  /** Stop tokens the runner uses (for llama2.c/Llama 2: [2]). */
  readonly eosIds: readonly number[];
  /** Text to ids. bos/eos default false. */
  encode(text: string, opts?: { bos?: boolean; eos?: boolean }): number[];
  /**
   * Bytes printed for `token` when it follows `prevToken` (the runner's decode(prev, cur)): byte tokens
   * <0xNN> give that one byte; a leading space is dropped after BOS.
   */
  decodeBytes(prevToken: number, token: number): Uint8Array;
  /** The raw piece string of an id (for display / debugging). */
  piece(id: number): string;
}
