// Owns the unit of work of `eval` (issue 18) and what it leaves behind: an evaluation is a list of items (one
// window of one document, scored in a fresh session), numbered 0..n-1 in dataset order. Each item's result is an
// ItemRecord — plain JSON, so a sharded run can write it as one line of an append-only JSONL file and `merge` can
// read it back bit for bit (JSON round-trips every finite float64). The report is a pure function of the records
// taken in item order, so a single run, a resumed run and merged shards give the same report.

/** One scored position of an item. */
export interface TokenRecord {
  /** Position fed (0-based within the window): its logits row scores `target`. */
  pos: number;
  target: number;
  /** −ln p(target) under the evaluated model (float64). */
  nll: number;
  /** The evaluated model's top token at this position. */
  top: number;
  /** The target token's text (its decoded piece), so a report names the worst tokens and their context without a tokenizer. */
  piece?: string;
  /** Against a base run: KL(base‖new), KL(new‖base), same top token, Δp = p_new(target) − p_base(target), base NLL. */
  kl?: number;
  reverseKl?: number;
  sameTop?: boolean;
  dp?: number;
  nllBase?: number;
  /** −ln p_new(target) as compared with the base: decoded through the same uint16 codes as the base (kl-stats.ts). */
  nllCmp?: number;
  /** SQNR energies of this row against the reference row (--sqnr_eval / --device_logits): Σ ref², Σ (x − ref)². */
  signal?: number;
  noise?: number;
}

/** One item: a window of a document. */
export interface ItemRecord {
  /** Global item index (dataset order). */
  item: number;
  /** Document index and the document's token offset of the window's first fed token. */
  doc: number;
  start: number;
  /** Tokens fed to the window's session (its length). */
  fed: number;
  tokens: TokenRecord[];
}

/** What identifies a run: records are only merged / resumed under the same key. */
export interface RunKey {
  /** sha256 over the canonical JSON of everything that decides the numbers (model, flags, dataset). */
  key: string;
  /** Items of the whole run (all shards). */
  items: number;
  /** Human-readable description (informational). */
  description: string;
}
