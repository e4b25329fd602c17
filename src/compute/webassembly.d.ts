// Type declarations for the part of the global `WebAssembly` API the project uses (Node provides the API;
// @types/node 20 does not declare it and the project does not load lib.dom). Shapes follow the WebAssembly
// JavaScript interface specification; only what src/compute and the wasm backend call is declared.
declare namespace WebAssembly {
  interface MemoryDescriptor {
    /** Initial size in 64 KiB pages. */
    initial: number;
    /** Maximum size in pages (required when shared). */
    maximum?: number;
    shared?: boolean;
  }
  class Memory {
    constructor(descriptor: MemoryDescriptor);
    /** An ArrayBuffer, or a SharedArrayBuffer for a shared memory. */
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
    /** Grows by `delta` pages; returns the previous size in pages. */
    grow(delta: number): number;
  }
  class Module {
    constructor(bytes: ArrayBufferView | ArrayBuffer);
  }
  type ExportValue = ((...args: number[]) => number | void) | Memory;
  type Exports = Record<string, ExportValue>;
  type ImportValue = ((...args: never[]) => unknown) | Memory | number;
  type Imports = Record<string, Record<string, ImportValue>>;
  class Instance {
    constructor(module: Module, imports?: Imports);
    readonly exports: Exports;
  }
  class CompileError extends Error {}
  class LinkError extends Error {}
  class RuntimeError extends Error {}
  function validate(bytes: ArrayBufferView | ArrayBuffer): boolean;
  function compile(bytes: ArrayBufferView | ArrayBuffer): Promise<Module>;
}
