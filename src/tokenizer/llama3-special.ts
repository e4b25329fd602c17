// Owns the Llama 3 special tokens (names and ids), the runner's BOS and stop set for Llama 3, and the chat
// template the device runner wraps a prompt in (SPEC §6).
//
// The special tokens are not in tokenizer.model: the loader appends 256 of them after the file's ranks, the
// token at index i getting id nRanks + i (Meta's tokenizer.py `num_base_tokens + i`, ExecuTorch's Tiktoken
// `_build_special_token_encoder(num_base_tokens)`), which is 128000 + i for the Llama 3 file (128000 ranks).
//
// The names are those of Meta's Llama 3.1 / 3.2 release as published in the Hugging Face tokenizer files
// (checked against the vocabulary llama.cpp lists when loading a Llama-3.2-3B-Instruct GGUF converted from those
// files: 128004 <|finetune_right_pad_id|>, 128005 <|reserved_special_token_2|>, 128010 <|python_tag|>,
// 128011 <|reserved_special_token_3|>, ..., 128255 <|reserved_special_token_247|>). Other published lists differ
// only in ids that the runner never writes or stops on:
//   - Llama 3.0 (Meta's llama3 repo, early ExecuTorch llama_tiktoken.cpp): 128004/128005 reserved_2/3,
//     128008 reserved_4, 128010.. reserved_5..reserved_250 (no eom_id / python_tag / finetune_right_pad_id).
//   - later meta-llama/llama-models and ExecuTorch's llama_tiktoken.cpp (get_tiktoken_for_llama default):
//     128005 <|step_id|> and 128011.. reserved_2..reserved_246.
// Ids 128000, 128001, 128006, 128007, 128008 (3.1+), 128009 are the same in all of them. A name only matters
// when text containing it is encoded with special tokens allowed, or when such an id is printed.

/** How many special tokens follow the ranks. */
export const LLAMA3_NUM_SPECIAL_TOKENS = 256;

/** The first special id for the Llama 3 tokenizer.model (its number of ranks). */
export const LLAMA3_NUM_RANKS = 128000;

/** Index (id - number of ranks) of the special tokens the runner uses. */
export const LLAMA3_SPECIAL_INDEX = {
  beginOfText: 0,
  endOfText: 1,
  startHeader: 6,
  endHeader: 7,
  eom: 8,
  eot: 9,
  pythonTag: 10,
} as const;

/** The named (non-reserved) special tokens, by index. */
const NAMED: readonly (readonly [number, string])[] = [
  [0, "<|begin_of_text|>"],
  [1, "<|end_of_text|>"],
  [2, "<|reserved_special_token_0|>"],
  [3, "<|reserved_special_token_1|>"],
  [4, "<|finetune_right_pad_id|>"],
  [5, "<|reserved_special_token_2|>"],
  [6, "<|start_header_id|>"],
  [7, "<|end_header_id|>"],
  [8, "<|eom_id|>"],
  [9, "<|eot_id|>"],
  [10, "<|python_tag|>"],
];

function buildNames(): readonly string[] {
  const names: string[] = [];
  for (const [i, name] of NAMED) names[i] = name;
  // Indices 11..255 are <|reserved_special_token_3|> .. <|reserved_special_token_247|>.
  for (let i = NAMED.length; i < LLAMA3_NUM_SPECIAL_TOKENS; i++) {
    names.push(`<|reserved_special_token_${i - NAMED.length + 3}|>`);
  }
  return Object.freeze(names);
}

/** The 256 special token names; index i is id nRanks + i. */
export const LLAMA3_SPECIAL_TOKEN_NAMES: readonly string[] = buildNames();

/** Name -> id for the Llama 3 tokenizer.model (ids 128000..128255). */
export const LLAMA3_SPECIAL_TOKENS: ReadonlyMap<string, number> = new Map(
  LLAMA3_SPECIAL_TOKEN_NAMES.map((name, i) => [name, LLAMA3_NUM_RANKS + i] as const),
);

/** <|begin_of_text|>: the one BOS the runner puts in front of the prompt. */
export const LLAMA3_BOS_ID = LLAMA3_NUM_RANKS + LLAMA3_SPECIAL_INDEX.beginOfText; // 128000
/** <|end_of_text|>. */
export const LLAMA3_EOS_ID = LLAMA3_NUM_RANKS + LLAMA3_SPECIAL_INDEX.endOfText; // 128001
/** <|eot_id|>: end of a chat turn. */
export const LLAMA3_EOT_ID = LLAMA3_NUM_RANKS + LLAMA3_SPECIAL_INDEX.eot; // 128009
/** <|eom_id|> (not a stop token for this runner, see LLAMA3_STOP_IDS). */
export const LLAMA3_EOM_ID = LLAMA3_NUM_RANKS + LLAMA3_SPECIAL_INDEX.eom; // 128008
/** The runner's stop set (SPEC §6): <|end_of_text|> and <|eot_id|>. */
export const LLAMA3_STOP_IDS: readonly number[] = Object.freeze([LLAMA3_EOS_ID, LLAMA3_EOT_ID]);

/**
 * The device runner's Llama 3 prompt text (SPEC §6): a system block only when a non-empty system prompt is given
 * (the runner's flag defaults to the empty string, meaning none), then the user block and the assistant header.
 * Prompt and system prompt are inserted verbatim (no trimming). No BOS here: encode with `bos: true` and special
 * tokens allowed, which puts exactly one <|begin_of_text|> in front.
 */
export function llama3ChatPrompt(prompt: string, systemPrompt?: string): string {
  let text = "";
  if (systemPrompt !== undefined && systemPrompt !== "") {
    text += `<|start_header_id|>system<|end_header_id|>\n\n${systemPrompt}<|eot_id|>`;
  }
  text += `<|start_header_id|>user<|end_header_id|>\n\n${prompt}<|eot_id|>`;
  text += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return text;
}
