// Test helper: writes real ExecuTorch program files (`.pte`) from pytorch/executorch's schema/program.fbs with a
// FlatBuffers writer of its own, so the reader in src/qnn/pte.ts is tested on files laid out the way ExecuTorch
// lays them out (and not on its own output read back):
// - the flatbuffer: root uoffset, file identifier "ET12", Program { version 0, execution_plan, constant_buffer [],
//   backend_delegate_data, segments, constant_segment }, each ExecutionPlan with every field the runtime's
//   Program::method_meta / Method::load dereference (name, container_meta_type, values, inputs, outputs, chains,
//   operators, delegates, non_const_buffer_sizes), one chain holding a DelegateCall instruction per delegate (a
//   union: instr_args_type + instr_args), and BackendDelegate { id, processed { location, index }, compile_specs };
//   a constant method (constant_methods, e.g. get_logits_scale) is a plan whose `values` hold one EValue (union
//   KernelTypes: val_type + val, an Int / Bool / Double table) and whose `outputs` are [0];
// - inline delegate data with its schema alignment (force_align 16 on BackendDelegateInlineData.data);
// - the extended header "eh00" inserted at byte 8 and padded to the schema's largest force_align (16: 32 bytes),
//   segments after the program at segment_base_offset = program size rounded up to the segment alignment, each
//   segment's offset rounded up to the alignment too (exir/_serialize/_program.py, default alignment 128);
// - identical delegate data stored once (as _extract_delegate_segments does for segments), so one multi-graph
//   context shared by several methods is one segment referenced by several delegates.
// The flatbuffer is built back to front like FlatBuffers' own builder (see serialize), so objects sit where flatc
// puts them: the root first, the first plan's name string last.

export interface PteDelegateSpec {
  id: string;
  data: Uint8Array;
  storage: "inline" | "segment";
  compileSpecs?: { key: string; value: Uint8Array }[];
  /** Writes this index into processed.index instead of the real one (to build corrupt files). */
  dataIndexOverride?: number;
}

/** A constant method's value (ExecuTorch's constant_methods: a plan whose one output is a constant EValue). */
export type PteConstant = { type: "int"; value: bigint } | { type: "double"; value: number } | { type: "bool"; value: boolean };

export interface PteSpec {
  plans: { name: string; delegates: PteDelegateSpec[]; constant?: PteConstant }[];
  /** Default: present exactly when some delegate is stored in a segment (as ExecuTorch does). */
  extendedHeader?: boolean;
  /** 32 (current ExecuTorch, with segment_data_size) or 24 (the first header version). Default 32. */
  headerLength?: 24 | 32;
  /** Default 128 (serialize_pte_binary's default). */
  segmentAlignment?: number;
  /** force_align of the inline delegate data (the schema's 16, or a larger delegate_alignment). */
  delegateAlignment?: number;
  /** Program.version; default 0. */
  version?: number;
  /** Bytes 4..8; default "ET12". */
  identifier?: string;
  /** Store identical data once (default true). */
  dedupe?: boolean;
  /** Adds fields a later schema might have (unknown to the reader) to Program, ExecutionPlan and BackendDelegate. */
  extraFields?: boolean;
}

// ---- a minimal FlatBuffers object model ----

type Scalar = { k: "u8"; v: number } | { k: "u32"; v: number } | { k: "i32"; v: number } | { k: "u64"; v: bigint } | { k: "i64"; v: bigint } | { k: "f64"; v: number };
type Field = Scalar | { k: "ref"; obj: FbObject };
type FbObject =
  | { k: "table"; fields: (Field | undefined)[] }
  | { k: "string"; s: string }
  | { k: "bytes"; data: Uint8Array; align: number }
  | { k: "ints"; type: "i32" | "i64"; values: (number | bigint)[] }
  | { k: "refs"; items: FbObject[] };

const SIZES: Record<Scalar["k"] | "ref", number> = { u8: 1, u32: 4, i32: 4, u64: 8, i64: 8, f64: 8, ref: 4 };

const table = (...fields: (Field | undefined)[]): FbObject => ({ k: "table", fields });
const ref = (obj: FbObject): Field => ({ k: "ref", obj });
const str = (s: string): Field => ref({ k: "string", s });
const refs = (items: FbObject[]): Field => ref({ k: "refs", items });
const ints = (type: "i32" | "i64", values: (number | bigint)[]): Field => ref({ k: "ints", type, values });
const u8 = (v: number): Field => ({ k: "u8", v });
const u32 = (v: number): Field => ({ k: "u32", v });
const i32 = (v: number): Field => ({ k: "i32", v });
const u64 = (v: number | bigint): Field => ({ k: "u64", v: BigInt(v) });
const i64 = (v: bigint): Field => ({ k: "i64", v });
const f64 = (v: number): Field => ({ k: "f64", v });

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/**
 * Serializes `root` the way FlatBuffers' builder (and so flatc, which ExecuTorch's serializer runs on the
 * program's JSON) does: back to front, every object after its children (children first in field order, so the
 * first string of the first plan ends up last in the file and the root table first), scalars and vector data
 * aligned to their size (or force_align) counted from the end, identical vtables shared, and the buffer padded so
 * those alignments hold from the start as well. Returns root uoffset + identifier + the objects.
 */
function serialize(root: FbObject, identifier: string): { bytes: Uint8Array; maxAlign: number } {
  let buf = new Uint8Array(1 << 12);
  let head = buf.length; // the data lives in buf[head..]
  let minAlign = 1;
  const size = (): number => buf.length - head;
  const reserve = (n: number): void => {
    if (head >= n) return;
    const b = new Uint8Array(Math.max(2 * buf.length, buf.length + n));
    b.set(buf.subarray(head), b.length - size());
    head = b.length - size();
    buf = b;
  };
  const dv = (): DataView => new DataView(buf.buffer);
  /** Zero padding so that, once `additional` more bytes are written, the size is a multiple of `align`. */
  const prep = (align: number, additional: number): void => {
    minAlign = Math.max(minAlign, align);
    const pad = (align - ((size() + additional) % align)) % align;
    reserve(pad + additional);
    head -= pad;
    buf.fill(0, head, head + pad);
  };
  const push = (n: number, put: (d: DataView, at: number) => void): number => {
    reserve(n);
    head -= n;
    put(dv(), head);
    return size();
  };
  const pushU32 = (v: number): number => push(4, (d, at) => d.setUint32(at, v, true));
  /** A uoffset to the object at `target` (an offset from the end), stored at the next 4 bytes. */
  const pushRef = (target: number): number => {
    prep(4, 0);
    return pushU32(size() + 4 - target);
  };
  const vtables: { off: number; bytes: Uint8Array }[] = [];

  const write = (obj: FbObject): number => {
    switch (obj.k) {
      case "table": {
        let n = obj.fields.length;
        while (n > 0 && obj.fields[n - 1] === undefined) n--; // trailing absent fields: a shorter vtable
        const childOff = obj.fields.map((f) => (f?.k === "ref" ? write(f.obj) : 0));
        const objectEnd = size();
        const loc = new Array<number>(n).fill(0);
        // Biggest fields first (what generated code does), each aligned to its own size.
        const order = [...Array(n).keys()].filter((i) => obj.fields[i] !== undefined).sort((a, b) => SIZES[obj.fields[b]!.k] - SIZES[obj.fields[a]!.k]);
        for (const i of order) {
          const f = obj.fields[i]!;
          if (f.k === "ref") loc[i] = pushRef(childOff[i]);
          else {
            prep(SIZES[f.k], 0);
            loc[i] = push(SIZES[f.k], (d, at) => {
              if (f.k === "u8") d.setUint8(at, f.v);
              else if (f.k === "u32") d.setUint32(at, f.v, true);
              else if (f.k === "i32") d.setInt32(at, f.v, true);
              else if (f.k === "u64") d.setBigUint64(at, f.v, true);
              else if (f.k === "f64") d.setFloat64(at, f.v, true);
              else d.setBigInt64(at, f.v, true);
            });
          }
        }
        prep(4, 0);
        const tableOff = pushU32(0); // the soffset, filled in below
        const vt = new Uint8Array(4 + 2 * n);
        const vd = new DataView(vt.buffer);
        vd.setUint16(0, vt.length, true);
        vd.setUint16(2, tableOff - objectEnd, true);
        for (let i = 0; i < n; i++) vd.setUint16(4 + 2 * i, obj.fields[i] === undefined ? 0 : tableOff - loc[i], true);
        let vtOff = vtables.find((v) => v.bytes.length === vt.length && v.bytes.every((b, j) => b === vt[j]))?.off;
        if (vtOff === undefined) {
          vtOff = push(vt.length, (_, at) => buf.set(vt, at));
          vtables.push({ off: vtOff, bytes: vt });
        }
        // soffset = table position - vtable position (positive when the vtable lies before the table).
        dv().setInt32(buf.length - tableOff, vtOff - tableOff, true);
        return tableOff;
      }
      case "string": {
        const b = new TextEncoder().encode(obj.s);
        prep(4, b.length + 1);
        push(b.length + 1, (_, at) => (buf.set(b, at), (buf[at + b.length] = 0)));
        return pushU32(b.length);
      }
      case "bytes": {
        prep(4, obj.data.length);
        prep(Math.max(1, obj.align), obj.data.length);
        push(obj.data.length, (_, at) => buf.set(obj.data, at));
        return pushU32(obj.data.length);
      }
      case "ints": {
        const w = obj.type === "i32" ? 4 : 8;
        prep(4, w * obj.values.length);
        prep(w, w * obj.values.length);
        for (let i = obj.values.length - 1; i >= 0; i--) {
          const v = obj.values[i];
          push(w, (d, at) => (w === 4 ? d.setInt32(at, Number(v), true) : d.setBigInt64(at, BigInt(v), true)));
        }
        return pushU32(obj.values.length);
      }
      case "refs": {
        const offs = obj.items.map(write);
        prep(4, 4 * offs.length);
        for (let i = offs.length - 1; i >= 0; i--) pushRef(offs[i]);
        return pushU32(offs.length);
      }
    }
  };

  const rootOff = write(root);
  prep(minAlign, 8);
  push(4, (_, at) => {
    for (let i = 0; i < 4; i++) buf[at + i] = identifier.charCodeAt(i) & 0xff;
  });
  pushRef(rootOff);
  return { bytes: buf.slice(head), maxAlign: minAlign };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Index of `data` in `list`, appending it unless an identical entry exists (and dedupe is on). */
function intern(list: Uint8Array[], data: Uint8Array, dedupe: boolean): number {
  if (dedupe) {
    const i = list.findIndex((d) => sameBytes(d, data));
    if (i >= 0) return i;
  }
  list.push(data);
  return list.length - 1;
}

/** A real ExecuTorch program file (identifier "ET12") holding the given plans and delegates. */
export function buildPte(spec: PteSpec): Uint8Array {
  const dedupe = spec.dedupe ?? true;
  const segAlign = spec.segmentAlignment ?? 128;
  const delegateAlign = spec.delegateAlignment ?? 16;
  const inline: Uint8Array[] = [];
  const segments: Uint8Array[] = [];

  const planObjs = spec.plans.map((plan) => {
    const delegates = plan.delegates.map((d) => {
      const idx = d.storage === "inline" ? intern(inline, d.data, dedupe) : intern(segments, d.data, dedupe);
      const specs = (d.compileSpecs ?? []).map((c) => table(str(c.key), ref({ k: "bytes", data: c.value, align: 1 })));
      const processed = table(u8(d.storage === "inline" ? 0 : 1), u32(d.dataIndexOverride ?? idx));
      return table(str(d.id), ref(processed), refs(specs), ...(spec.extraFields ? [u64(0xfeedn), str("later field")] : []));
    });
    // One chain: a DelegateCall (union InstructionArguments index 2) per delegate, no value arguments.
    const instructions = plan.delegates.map((_, i) => table(u8(2), ref(table(i32(i), ints("i32", [])))));
    const chain = table(ints("i32", []), ints("i32", []), refs(instructions));
    // A constant method: values [EValue { val_type, val }] (union KernelTypes: Int 2, Bool 3, Double 4), outputs [0].
    const c = plan.constant;
    const values = c
      ? [c.type === "int" ? table(u8(2), ref(table(i64(c.value)))) : c.type === "bool" ? table(u8(3), ref(table(u8(c.value ? 1 : 0)))) : table(u8(4), ref(table(f64(c.value))))]
      : [];
    return table(
      str(plan.name),
      ref(table(str(""), str(""))), // container_meta_type
      refs(values), // values
      ints("i32", []), // inputs
      ints("i32", c ? [0] : []), // outputs
      refs([chain]),
      refs([]), // operators
      refs(delegates),
      ints("i64", [0n]), // non_const_buffer_sizes ([0] is the constant buffer's slot)
      ...(spec.extraFields ? [u32(7), refs([table(str("x"))])] : []),
    );
  });

  // Segment layout (relative to the segment base): each one at the next multiple of the alignment.
  const segOffsets: number[] = [];
  let segEnd = 0;
  for (const s of segments) {
    const off = alignUp(segEnd, segAlign);
    segOffsets.push(off);
    segEnd = off + s.length;
  }

  const program = table(
    u32(spec.version ?? 0),
    refs(planObjs),
    refs([]), // constant_buffer
    refs(inline.map((d) => table(ref({ k: "bytes", data: d, align: delegateAlign })))),
    refs(segments.map((s, i) => table(u64(segOffsets[i]), u64(s.length)))),
    ref(table(u32(0), ints("i64", []))), // constant_segment
    undefined, // mutable_data_segments
    ...(spec.extraFields ? [refs([table(str("named"), u32(0))]), u64(1n)] : []),
  );

  const withHeader = spec.extendedHeader ?? segments.length > 0;
  if (!withHeader && segments.length > 0) throw new Error("buildPte: segment storage needs the extended header");
  const { bytes: fb, maxAlign } = serialize(program, spec.identifier ?? "ET12");
  if (!withHeader) return fb;

  // The header goes in at byte 8, padded to the largest alignment in the buffer so every alignment survives,
  // and the root offset grows by its length (_insert_flatbuffer_header).
  const headerLength = spec.headerLength ?? 32;
  const padded = alignUp(headerLength, Math.max(16, maxAlign));
  const programSize = fb.length + padded;
  const base = segments.length > 0 ? alignUp(programSize, segAlign) : 0;
  const out = new Uint8Array(segments.length > 0 ? base + segEnd : programSize);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, new DataView(fb.buffer).getUint32(0, true) + padded, true);
  out.set(fb.subarray(4, 8), 4);
  out.set([0x65, 0x68, 0x30, 0x30], 8); // "eh00"
  dv.setUint32(12, headerLength, true);
  dv.setBigUint64(16, BigInt(programSize), true);
  dv.setBigUint64(24, BigInt(base), true);
  if (headerLength >= 32) dv.setBigUint64(32, BigInt(segEnd), true);
  out.set(fb.subarray(8), 8 + padded);
  segments.forEach((s, i) => out.set(s, base + segOffsets[i]));
  return out;
}
