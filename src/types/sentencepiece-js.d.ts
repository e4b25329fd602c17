// Type declarations for the untyped `sentencepiece-js` package (Google SentencePiece compiled to WebAssembly with
// Emscripten + embind; dist/index.js, CommonJS). Only what src/tokenizer/sentencepiece.ts uses is declared. The
// `sentencepiece` (Emscripten module instance) and `processor` (embind SentencePieceProcessor) members are the
// wrapper's undocumented internals, set by `load()`; their shapes were read from dist/index.js 1.1.0.
declare module "sentencepiece-js" {
  /** An embind handle to a C++ object in the module's heap: free it with delete(). */
  export interface EmbindHandle {
    delete(): void;
  }
  /** sentencepiece::util::Status; ToString() is exactly "OK" on success, else "<Code>: <message>". */
  export interface SpStatus extends EmbindHandle {
    ToString(): string;
  }
  /** std::vector<int>. */
  export interface SpVectorInt extends EmbindHandle {
    size(): number;
    get(i: number): number;
  }
  /** absl::string_view over a StringView's bytes (valid while the StringView lives). */
  export type SpAbslStringView = EmbindHandle;
  /** A std::string holding a JS string as UTF-8 (embind's std::string conversion). */
  export interface SpStringView extends EmbindHandle {
    getView(): SpAbslStringView;
  }
  /** The C++ sentencepiece::SentencePieceProcessor (embind class). */
  export interface SpProcessor extends EmbindHandle {
    /** Loads a model from a file of the module's in-memory file system. */
    Load(filename: SpAbslStringView): SpStatus;
    status(): SpStatus;
    EncodeAsIds(text: SpAbslStringView): SpVectorInt;
  }
  /** One Emscripten module instance (its own WebAssembly memory and in-memory file system). */
  export interface SpModule {
    FS: {
      writeFile(path: string, data: Uint8Array): void;
      unlink(path: string): void;
    };
    StringView: new (text: string) => SpStringView;
    SentencePieceProcessor: new () => SpProcessor;
  }

  /** The JS wrapper. */
  export class SentencePieceProcessor {
    /**
     * Creates a new Emscripten module instance, copies the file at `path` (read with fs.readFileSync) into its
     * file system and loads it. Does not report a failed load (the status is discarded).
     */
    load(path: string): Promise<void>;
    encodeIds(text: string): number[];
    encodePieces(text: string): string[];
    decodeIds(ids: number[]): string;
    /** Internal: the module instance, set by load(). */
    sentencepiece: SpModule;
    /** Internal: the processor created by load(). */
    processor: SpProcessor;
  }
  export function cleanText(text: string): string;
  const sentencepiece: {
    SentencePieceProcessor: typeof SentencePieceProcessor;
    cleanText: typeof cleanText;
  };
  export default sentencepiece;
}
