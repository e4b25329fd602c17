// The .pte reader (src/qnn/pte.ts), its FlatBuffers reader (src/qnn/flatbuffer.ts) and QNN's context header
// (src/qnn/context-header.ts), on program files written from the schema by test/helpers/pte-writer.ts: the exact
// context bytes come back for inline and segment storage, with and without the extended header; truncated,
// corrupted and foreign files end in one-line UserErrors, never in another exception.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildPte, type PteSpec } from "../helpers/pte-writer.js";
import { expectUserError } from "../helpers/errors.js";
import { FIXTURES, MODEL_BIN } from "../helpers/fixtures.js";
import { UserError } from "../../src/util/errors.js";
import { extractQnnContexts, findQnnDelegates, pteConstant, readPte } from "../../src/qnn/pte.js";
import { defaultSignature, unwrapQnnContext, wrapQnnContext } from "../../src/qnn/context-header.js";
import { fbBuffer, fbRoot, fbString, fbU32 } from "../../src/qnn/flatbuffer.js";

/** Deterministic pseudo-random bytes (xorshift32), standing in for context binaries. */
function bytesOf(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}

const eq = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.from(a).equals(Buffer.from(b));

/** QNN's header written out by hand from QnnCustomProtocol.h (not by the code under test). */
function handHeader(binary: Uint8Array, signature: bigint, padded: boolean): Uint8Array {
  const h = new Uint8Array(padded ? 256 : 20);
  h.set([0xcd, 0xab, 0x78, 0x56], 0); // 0x5678ABCD little-endian
  const dv = new DataView(h.buffer);
  dv.setBigInt64(4, signature, true);
  dv.setBigUint64(12, BigInt(binary.length), true);
  const out = new Uint8Array(h.length + binary.length);
  out.set(h);
  out.set(binary, h.length);
  return out;
}

const BIN_A = bytesOf(1, 1000);
const BIN_B = bytesOf(2, 777);
const CTX_A = handHeader(BIN_A, 1234567890123n, true);
const CTX_B = handHeader(BIN_B, -5n, true);
const SPEC = { key: "qnn_compile_spec", value: bytesOf(3, 40) };

describe("QNN's context header", () => {
  it("unwraps both layouts written by hand: the padded one (256 bytes) and the first one (20 bytes)", () => {
    const p = unwrapQnnContext(CTX_A, "x");
    expect(eq(p.binary, BIN_A)).toBe(true);
    expect(p.header).toEqual({ magic: 0x5678abcd, signature: 1234567890123n, binarySize: 1000, headerBytes: 256, layout: "padded-256" });
    const c = unwrapQnnContext(handHeader(BIN_B, -5n, false), "x");
    expect(eq(c.binary, BIN_B)).toBe(true);
    expect(c.header?.layout).toBe("compact-20");
    expect(c.header?.signature).toBe(-5n);
  });

  it("wraps to exactly the hand-written bytes; the default signature is deterministic and differs per binary", () => {
    expect(eq(wrapQnnContext(BIN_A, 1234567890123n), CTX_A)).toBe(true);
    expect(eq(wrapQnnContext(BIN_B, -5n, "compact-20"), handHeader(BIN_B, -5n, false))).toBe(true);
    expect(defaultSignature(BIN_A)).toBe(defaultSignature(BIN_A.slice()));
    expect(defaultSignature(BIN_A)).not.toBe(defaultSignature(BIN_B));
    expect(unwrapQnnContext(wrapQnnContext(BIN_A), "x").header?.signature).toBe(defaultSignature(BIN_A));
  });

  it("passes stand-in binaries (LGQNNSB1) through and refuses anything else without the magic", () => {
    const standIn = new Uint8Array([...new TextEncoder().encode("LGQNNSB1"), 1, 0, 0, 0]);
    expect(unwrapQnnContext(standIn, "x")).toEqual({ binary: standIn });
    expectUserError(() => unwrapQnnContext(bytesOf(9, 300), "model.pte: plan \"p\" delegate 0"), /^model\.pte: plan "p" delegate 0: /, /0x5678ABCD/, /DLC/);
    expectUserError(() => unwrapQnnContext(new Uint8Array([0xcd, 0xab]), "w"), /too short/);
  });

  it("refuses a truncated header, a size that does not match the data, and an empty binary", () => {
    expectUserError(() => unwrapQnnContext(CTX_A.subarray(0, 12), "w"), /^w: QNN context header truncated/);
    expectUserError(() => unwrapQnnContext(CTX_A.subarray(0, CTX_A.length - 1), "w"), /says the binary is 1000 bytes, but the data is 1255 bytes/);
    const big = CTX_A.slice();
    new DataView(big.buffer).setBigUint64(12, 0xffffffffffffn, true);
    expectUserError(() => unwrapQnnContext(big, "w"), /truncated or corrupt/);
    expectUserError(() => unwrapQnnContext(handHeader(new Uint8Array(0), 1n, true), "w"), /empty/);
  });
});

describe("FlatBuffers reader", () => {
  // root uoffset 16 | "TEST" | vtable at 8: size 8, inline size 12, field0 at +4, field1 at +8 |
  // table at 16: soffset 8, u32 7, uoffset 4 -> string at 28: length 2, "hi", NUL.
  const tiny = (): Uint8Array =>
    new Uint8Array([16, 0, 0, 0, 84, 69, 83, 84, 8, 0, 12, 0, 4, 0, 8, 0, 8, 0, 0, 0, 7, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 104, 105, 0]);

  it("reads scalars, strings and defaults (absent fields, fields past a shorter vtable)", () => {
    const t = fbRoot(fbBuffer(tiny(), "tiny"), "Root");
    expect(fbU32(t, 0, "a")).toBe(7);
    expect(fbString(t, 1, "s")).toBe("hi");
    expect(fbU32(t, 2, "later", 99)).toBe(99);
    const b = tiny();
    b[12] = 0; // field0 absent
    expect(fbU32(fbRoot(fbBuffer(b, "tiny"), "Root"), 0, "a", 5)).toBe(5);
  });

  it("names the file and the object for every bad offset", () => {
    const cases: [string, (b: Uint8Array) => Uint8Array, RegExp][] = [
      ["string without terminator", (b) => b.subarray(0, 34), /terminator of string Root\.s at 34 runs past the end of the 34-byte buffer/],
      ["string not UTF-8", (b) => ((b[32] = 0xff), b), /string Root\.s at 28 is not valid UTF-8/],
      ["vector too long", (b) => ((b[29] = 4), b), /vector Root\.s \(1026 elements\) at 32 runs past the end/],
      ["vtable outside", (b) => ((b[16] = 200), b), /vtable of Root at -184 points before the start/],
      ["field outside its table", (b) => ((b[12] = 12), b), /field Root\.a at offset 12 lies outside its 12-byte table/],
      ["root outside", (b) => ((b[0] = 250), b), /Root at 250 runs past the end/],
    ];
    for (const [, corrupt, re] of cases) {
      expectUserError(() => {
        const t = fbRoot(fbBuffer(corrupt(tiny()), "tiny.pte"), "Root");
        fbU32(t, 0, "a");
        fbString(t, 1, "s");
      }, /^tiny\.pte: truncated or corrupt flatbuffer \(/, re);
    }
  });
});

// ---- program files ----

const twoPlansInline: PteSpec = {
  plans: [
    { name: "prefill_forward", delegates: [{ id: "QnnBackend", data: CTX_A, storage: "inline", compileSpecs: [SPEC] }] },
    {
      name: "kv_forward",
      delegates: [
        { id: "XnnpackBackend", data: bytesOf(4, 64), storage: "inline" },
        { id: "QnnBackend", data: CTX_B, storage: "inline", compileSpecs: [SPEC] },
      ],
    },
  ],
};

/** The llama flow's shape: one multi-graph context shared by both methods, a second partition, a CPU delegate. */
const sharedSegments: PteSpec = {
  plans: [
    {
      name: "prefill_forward",
      delegates: [
        { id: "QnnBackend", data: CTX_A, storage: "segment", compileSpecs: [SPEC] },
        { id: "QnnBackend", data: CTX_B, storage: "segment" },
      ],
    },
    {
      name: "kv_forward",
      delegates: [
        { id: "QnnBackend", data: CTX_A, storage: "segment", compileSpecs: [SPEC] },
        { id: "QnnBackend", data: CTX_B, storage: "segment" },
        { id: "XnnpackBackend", data: bytesOf(5, 99), storage: "segment" },
      ],
    },
  ],
};

describe("readPte / extractQnnContexts", () => {
  it("inline storage without an extended header: exact context bytes, other backends ignored, compile specs read", () => {
    const file = buildPte(twoPlansInline);
    const p = readPte(file, "m.pte");
    expect(p.identifier).toBe("ET12");
    expect(p.schemaVersion).toBe(0);
    expect(p.extendedHeader).toBeUndefined();
    expect(p.plans.map((x) => x.name)).toEqual(["prefill_forward", "kv_forward"]);
    expect(p.plans[1].delegates.map((d) => [d.id, d.storage, d.index])).toEqual([
      ["XnnpackBackend", "inline", 0],
      ["QnnBackend", "inline", 1],
    ]);
    expect(p.plans[0].delegates[0].compileSpecs.map((c) => [c.key, eq(c.value, SPEC.value)])).toEqual([["qnn_compile_spec", true]]);
    const q = findQnnDelegates(p);
    expect(q.map((d) => [d.plan, d.index, d.storage])).toEqual([
      ["prefill_forward", 0, "inline"],
      ["kv_forward", 1, "inline"],
    ]);
    expect(eq(q[0].data, CTX_A) && eq(q[1].data, CTX_B)).toBe(true);
    const ctx = extractQnnContexts(file, "m.pte");
    expect(ctx.map((c) => [c.plan, c.index])).toEqual([
      ["prefill_forward", 0],
      ["kv_forward", 1],
    ]);
    expect(eq(ctx[0].binary, BIN_A)).toBe(true);
    expect(eq(ctx[1].binary, BIN_B)).toBe(true);
    expect(ctx[0].header?.signature).toBe(1234567890123n);
  });

  it("segment storage with the extended header: aligned segments, a context shared by two methods stored once", () => {
    const file = buildPte(sharedSegments);
    const p = readPte(file, "m.pte");
    const eh = p.extendedHeader!;
    expect(eh.headerLength).toBe(32);
    expect(eh.segmentBaseOffset % 128).toBe(0);
    expect(eh.segmentBaseOffset).toBeGreaterThanOrEqual(eh.programSize);
    expect(eh.segmentDataSize).toBe(file.length - eh.segmentBaseOffset);
    expect(p.segments).toHaveLength(3); // CTX_A, CTX_B, the Xnnpack blob
    for (const s of p.segments) expect((eh.segmentBaseOffset + s.offset) % 128).toBe(0);
    // Independently of the reader: the stored bytes sit in the file where the segment table says.
    const s0 = p.segments[p.plans[1].delegates[0].dataIndex];
    expect(eq(file.subarray(eh.segmentBaseOffset + s0.offset, eh.segmentBaseOffset + s0.offset + s0.size), CTX_A)).toBe(true);
    const ctx = extractQnnContexts(file, "m.pte");
    expect(ctx.map((c) => [c.plan, c.index, c.storage, c.dataIndex])).toEqual([
      ["prefill_forward", 0, "segment", 0],
      ["prefill_forward", 1, "segment", 1],
      ["kv_forward", 0, "segment", 0],
      ["kv_forward", 1, "segment", 1],
    ]);
    expect([BIN_A, BIN_B, BIN_A, BIN_B].every((b, i) => eq(ctx[i].binary, b))).toBe(true);
  });

  it("the first (24-byte) header, 4096-byte segments, 64-byte delegate alignment, and mixed storage", () => {
    const spec: PteSpec = {
      plans: [
        { name: "prefill_forward", delegates: [{ id: "QnnBackend", data: CTX_A, storage: "inline" }] },
        { name: "kv_forward", delegates: [{ id: "QnnBackend", data: CTX_B, storage: "segment" }] },
      ],
      headerLength: 24,
      segmentAlignment: 4096,
      delegateAlignment: 64,
    };
    const file = buildPte(spec);
    const p = readPte(file, "m.pte");
    expect(p.extendedHeader).toEqual({ headerLength: 24, programSize: p.extendedHeader!.programSize, segmentBaseOffset: 4096 });
    const inline = p.inlineData[0];
    expect((inline.byteOffset - file.byteOffset) % 64).toBe(0);
    const ctx = extractQnnContexts(file, "m.pte");
    expect(eq(ctx[0].binary, BIN_A) && eq(ctx[1].binary, BIN_B)).toBe(true);
  });

  it("an extended header without segments, the compact QNN header, stand-in binaries, no QNN delegates", () => {
    const standIn = new Uint8Array([...new TextEncoder().encode("LGQNNSB1"), ...bytesOf(6, 50)]);
    const file = buildPte({
      plans: [
        {
          name: "forward",
          delegates: [
            { id: "QnnBackend", data: handHeader(BIN_B, 7n, false), storage: "inline" },
            { id: "QnnBackend", data: standIn, storage: "inline" },
          ],
        },
      ],
      extendedHeader: true,
    });
    const p = readPte(file, "m.pte");
    expect(p.extendedHeader?.segmentBaseOffset).toBe(0);
    const ctx = extractQnnContexts(file, "m.pte");
    expect(eq(ctx[0].binary, BIN_B) && ctx[0].header?.layout === "compact-20").toBe(true);
    expect(eq(ctx[1].binary, standIn) && ctx[1].header === undefined).toBe(true);
    expect(extractQnnContexts(buildPte({ plans: [{ name: "forward", delegates: [{ id: "XnnpackBackend", data: BIN_A, storage: "inline" }] }] }), "m")).toEqual([]);
  });

  it("fields from a later schema are skipped (FlatBuffers evolution)", () => {
    const a = extractQnnContexts(buildPte({ ...sharedSegments, extraFields: true }), "m.pte");
    const b = extractQnnContexts(buildPte(sharedSegments), "m.pte");
    expect(a.map((c) => [c.plan, c.index, Buffer.from(c.binary).toString("hex")])).toEqual(b.map((c) => [c.plan, c.index, Buffer.from(c.binary).toString("hex")]));
  });
});

describe("constant methods (the Qualcomm runner's metadata)", () => {
  const spec: PteSpec = {
    plans: [
      { name: "kv_forward", delegates: [{ id: "QnnBackend", data: bytesOf(3, 64), storage: "segment" }] },
      { name: "get_logits_scale", delegates: [], constant: { type: "double", value: 0.000123456789 } },
      { name: "get_logits_zero_point", delegates: [], constant: { type: "int", value: 32768n } },
      { name: "get_max_context_len", delegates: [], constant: { type: "int", value: -5n } },
      { name: "get_use_kv_cache", delegates: [], constant: { type: "bool", value: true } },
    ],
  };
  it("reads Int (int64), Double and Bool values exactly; plans with delegates have none; an absent name is undefined", () => {
    const p = readPte(buildPte(spec), "m.pte");
    expect(pteConstant(p, "get_logits_scale")).toBe(0.000123456789);
    expect(pteConstant(p, "get_logits_zero_point")).toBe(32768n);
    expect(pteConstant(p, "get_max_context_len")).toBe(-5n);
    expect(pteConstant(p, "get_use_kv_cache")).toBe(true);
    expect(pteConstant(p, "kv_forward")).toBeUndefined();
    expect(pteConstant(p, "get_vocab_size")).toBeUndefined();
    expect(findQnnDelegates(p)).toHaveLength(1);
  });
  it("every truncation ends in a one-line UserError, or (cutting only trailing padding) reads the same values", () => {
    const file = buildPte({ plans: spec.plans.slice(1) });
    const names = spec.plans.slice(1).map((x) => x.name);
    const full = readPte(file, "m.pte");
    let refused = 0;
    for (let n = 0; n < file.length; n++) {
      let p;
      try {
        p = readPte(file.subarray(0, n), "cut.pte");
      } catch (e) {
        expect(e).toBeInstanceOf(UserError);
        expect((e as Error).message).toMatch(/^cut\.pte: [^\n]+$/);
        refused++;
        continue;
      }
      expect(names.map((x) => pteConstant(p, x)), `cut to ${n} of ${file.length} bytes`).toEqual(names.map((x) => pteConstant(full, x)));
      expect(file.length - n).toBeLessThan(4); // only the final alignment padding can go unnoticed
    }
    expect(refused).toBeGreaterThan(file.length - 4);
  });
});

describe("bad program files", () => {
  /** Runs the whole read; anything but a one-line UserError naming the file (or success) fails. */
  function outcome(bytes: Uint8Array): "ok" | string {
    try {
      extractQnnContexts(bytes, "cut.pte");
      return "ok";
    } catch (e) {
      if (!(e instanceof UserError)) throw new Error(`not a UserError: ${(e as Error).stack}`);
      expect(e.message).not.toContain("\n");
      expect(e.message.startsWith("cut.pte: ")).toBe(true);
      return e.message;
    }
  }

  it("every truncation of every layout is refused (inline, segments with either header)", () => {
    const files = [buildPte(twoPlansInline), buildPte(sharedSegments), buildPte({ ...sharedSegments, headerLength: 24 }), buildPte({ ...twoPlansInline, extendedHeader: true })];
    let cuts = 0;
    for (const f of files) {
      for (let n = 0; n < f.length; n++) {
        const r = outcome(f.subarray(0, n));
        if (r === "ok") throw new Error(`a ${f.length}-byte file cut to ${n} bytes was accepted`);
        cuts++;
      }
    }
    expect(cuts).toBeGreaterThan(5000);
  });

  it("seeded corruption ends in a clean read or a one-line UserError, never another exception", () => {
    const files = [buildPte(twoPlansInline), buildPte(sharedSegments)];
    let s = 12345;
    const rnd = (n: number): number => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return Math.floor((s / 2 ** 32) * n);
    };
    const seen = { ok: 0, error: 0 };
    for (const f of files) {
      for (let it = 0; it < 400; it++) {
        const b = f.slice();
        const flips = 1 + rnd(4);
        // Mostly where the structure is (the flatbuffer), sometimes anywhere.
        const span = it % 4 === 0 ? b.length : Math.min(b.length, 1200);
        for (let k = 0; k < flips; k++) b[rnd(span)] = rnd(256);
        seen[outcome(b) === "ok" ? "ok" : "error"]++;
      }
    }
    expect(seen.error).toBeGreaterThan(100);
  });

  it("foreign files: a PyTorch zip, a llama2.c checkpoint, random bytes, an empty file", () => {
    expectUserError(() => readPte(readFileSync(join(FIXTURES, "stories260K.pt")), "stories260K.pt"), /^stories260K\.pt: not an ExecuTorch program \(identifier .*expected "ET12"\) \(a zip archive/);
    expectUserError(() => readPte(readFileSync(MODEL_BIN), "stories260K.bin"), /^stories260K\.bin: not an ExecuTorch program \(identifier /);
    expectUserError(() => readPte(bytesOf(77, 5000), "r.bin"), /^r\.bin: not an ExecuTorch program/);
    expectUserError(() => readPte(new Uint8Array(0), "e.pte"), /^e\.pte: 0 bytes, too short/);
    expectUserError(() => readPte(CTX_A, "ctx.bin"), /not an ExecuTorch program.*QNN context binary/);
  });

  it("another identifier or schema version is named", () => {
    expectUserError(() => readPte(buildPte({ ...twoPlansInline, identifier: "ET11" }), "old.pte"), /^old\.pte: ExecuTorch program with file identifier ET11; this reader supports ET12/);
    expectUserError(() => readPte(buildPte({ ...twoPlansInline, version: 3 }), "v.pte"), /^v\.pte: Program schema version 3 is not supported/);
  });

  it("delegate data indices out of range, segments outside the file, segments without a header", () => {
    const badInline = buildPte({ plans: [{ name: "p", delegates: [{ id: "QnnBackend", data: CTX_A, storage: "inline", dataIndexOverride: 5 }] }] });
    expectUserError(() => readPte(badInline, "m.pte"), /plan "p" delegate 0 \(QnnBackend\) refers to inline data 5, the program has 1/);
    const badSeg = buildPte({ plans: [{ name: "p", delegates: [{ id: "QnnBackend", data: CTX_A, storage: "segment", dataIndexOverride: 1 }] }] });
    expectUserError(() => readPte(badSeg, "m.pte"), /refers to segment 1, the program has 1/);
    const v24 = buildPte({ ...sharedSegments, headerLength: 24 });
    expectUserError(() => readPte(v24.subarray(0, v24.length - 1), "m.pte"), /^m\.pte: truncated: segment 2 \(99 bytes at \d+ \+ \d+\) runs past the end/);
    const v32 = buildPte(sharedSegments);
    expectUserError(() => readPte(v32.subarray(0, v32.length - 1), "m.pte"), /^m\.pte: truncated: the extended header says \d+ bytes of segment data/);
    const noHeader = buildPte(sharedSegments).slice();
    noHeader.set([0, 0, 0, 0], 8); // "eh00" gone: the segment base offset is lost
    expectUserError(() => readPte(noHeader, "m.pte"), /refers to segment 0, but the file has no extended header/);
    const shortLen = buildPte(sharedSegments).slice();
    new DataView(shortLen.buffer).setUint32(12, 16, true);
    expectUserError(() => readPte(shortLen, "m.pte"), /extended header length 16 < 24/);
  });

  it("a QnnBackend delegate whose data is not a context binary names the plan and delegate", () => {
    const file = buildPte({ plans: [{ name: "kv_forward", delegates: [{ id: "QnnBackend", data: bytesOf(8, 500), storage: "segment" }] }] });
    expectUserError(() => extractQnnContexts(file, "m.pte"), /^m\.pte: plan "kv_forward" delegate 0: QNN delegate data does not start with QNN's context header/);
    const badSize = CTX_A.slice();
    new DataView(badSize.buffer).setBigUint64(12, 999n, true);
    expectUserError(() => extractQnnContexts(buildPte({ plans: [{ name: "p", delegates: [{ id: "QnnBackend", data: badSize, storage: "inline" }] }] }), "m.pte"), /says the binary is 999 bytes/);
  });
});
