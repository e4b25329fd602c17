// Owns the bump allocator of the kernels' WebAssembly memories (int-dot.ts, integer-kernel.ts): 16-byte aligned
// regions handed out in order and never freed, the memory grown on demand (a shared memory grows from the main
// thread), refused past 4 GiB.

/** Byte offset of a fresh region of `bytes` bytes in `memory` (16-byte aligned); the memory grows as needed. */
export function createBumpAllocator(memory: WebAssembly.Memory): (bytes: number) => number {
  let top = 16;
  return (bytes) => {
    const at = (top + 15) & ~15;
    const end = at + bytes;
    if (end > 2 ** 32 - 65536) throw new RangeError(`the integer kernel's memory would exceed 4 GiB (${end} bytes)`);
    const have = memory.buffer.byteLength;
    if (end > have) memory.grow(Math.ceil((end - have) / 65536));
    top = end;
    return at;
  };
}
