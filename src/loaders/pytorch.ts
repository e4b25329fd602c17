// Owns PyTorch checkpoints written by torch.save (zip format): finds `<prefix>/data.pkl` under any archive
// folder prefix, unpickles it with an explicit allow-list of globals (the guarantee of
// torch.load(weights_only=True): nothing outside the list is ever called), resolves persistent storage
// references to `<prefix>/data/<key>` entries, and exposes every tensor of the state dict, rebuilt from
// (storage, offset, sizes, strides) — views and shared storages included — as a lazily loaded fp32 tensor.
//
// Reading: every storage a tensor uses is streamed whole, so its CRC-32 is always checked (also for views that
// use part of a storage). A contiguous view of a storage no other tensor uses is converted straight into its
// destination (its slot in the model's shared arena, see tensors.ts); float32 storages are read by pread straight into it (no intermediate copy), bf16/fp16
// through one reused 1 MiB staging buffer per archive, with the CRC, the conversion and the non-finite scan
// done on each chunk while it is in the cache. A storage used by several different views is loaded once, and
// its contiguous views are subarrays of it (zero copy); strided views are gathered into their own buffer.
import { UserError } from "../util/errors.js";
import { LITTLE_ENDIAN } from "../util/binary.js";
import type { ByteSource } from "./byte-source.js";
import { DTYPE_BYTES, firstNonFinite, toFloat32, type StoredDType } from "./dtype.js";
import { unpickle, type PickleDict, type PickleGlobals, type PickleValue } from "./pickle.js";
import { crc32, openZip, readEntry, type ZipArchive, type ZipEntry } from "./zip.js";
import { numelOf, sharedFloat32, type LoadedTensor, type NamedTensor, type TensorSet } from "./tensors.js";

/** Storage types torch.save names in persistent ids, with the dtype each holds (null: not supported). */
const STORAGE_TYPES: Record<string, StoredDType | null> = {
  FloatStorage: "F32",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  DoubleStorage: null,
  LongStorage: null,
  IntStorage: null,
  ShortStorage: null,
  CharStorage: null,
  ByteStorage: null,
  BoolStorage: null,
};

interface StorageRef {
  storageType: string;
  dtype: StoredDType | null;
  key: string;
  numel: number;
}

interface TensorRef {
  storage: StorageRef;
  offset: number;
  size: number[];
  stride: number[];
}

/** Bytes per read when streaming a storage: small enough that read, CRC and conversion find it in the L2 cache. */
const CHUNK = 1 << 20;

const isInt = (v: PickleValue): v is number => typeof v === "number" && Number.isSafeInteger(v);
const tupleItems = (v: PickleValue): PickleValue[] | undefined =>
  v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array) && (v as { kind?: string }).kind === "tuple"
    ? (v as { items: PickleValue[] }).items
    : undefined;
const asDict = (v: PickleValue): PickleDict | undefined =>
  v !== null && typeof v === "object" && !(v instanceof Uint8Array) && !Array.isArray(v) && (v as { kind?: string }).kind === "dict" ? (v as PickleDict) : undefined;
const asObject = (v: PickleValue, type: string): unknown =>
  v !== null && typeof v === "object" && !(v instanceof Uint8Array) && !Array.isArray(v) && (v as { kind?: string }).kind === "object" && (v as { type?: string }).type === type
    ? (v as { value: unknown }).value
    : undefined;

/** The allow-list: what a state dict needs and nothing else. */
function torchGlobals(where: string): PickleGlobals {
  const bad = (m: string) => new UserError(`${where}: ${m}`);
  const intTuple = (v: PickleValue, what: string): number[] => {
    const items = tupleItems(v);
    if (!items || !items.every(isInt) || items.some((x) => (x as number) < 0)) throw bad(`${what} is not a tuple of non-negative integers`);
    return items as number[];
  };
  const g: PickleGlobals = {
    "collections.OrderedDict": {
      call: (args) => {
        const d: PickleDict = { kind: "dict", map: new Map() };
        if (args.length > 0) throw bad("OrderedDict with constructor arguments is not supported");
        return d;
      },
    },
    "torch._utils._rebuild_tensor_v2": {
      call: (args) => {
        if (args.length < 4) throw bad("_rebuild_tensor_v2 with fewer than 4 arguments");
        const storage = asObject(args[0], "storage") as StorageRef | undefined;
        if (!storage) throw bad("_rebuild_tensor_v2: first argument is not a storage reference");
        if (!isInt(args[1]) || args[1] < 0) throw bad("_rebuild_tensor_v2: storage offset is not a non-negative integer");
        const size = intTuple(args[2], "tensor size");
        const stride = intTuple(args[3], "tensor stride");
        if (size.length !== stride.length) throw bad(`tensor size ${JSON.stringify(size)} and stride ${JSON.stringify(stride)} differ in rank`);
        const ref: TensorRef = { storage, offset: args[1], size, stride };
        return { kind: "object", type: "tensor", value: ref };
      },
    },
    "torch._utils._rebuild_parameter": {
      call: (args) => {
        if (!asObject(args[0], "tensor")) throw bad("_rebuild_parameter: first argument is not a tensor");
        return args[0];
      },
    },
  };
  for (const name of Object.keys(STORAGE_TYPES)) g[`torch.${name}`] = {};
  return g;
}

function storageFromPid(pid: PickleValue, where: string): PickleValue {
  const items = tupleItems(pid);
  const bad = () => new UserError(`${where}: persistent id is not a ('storage', type, key, location, numel) tuple`);
  if (!items || items.length < 5 || items[0] !== "storage") throw bad();
  const t = items[1] as { kind?: string; module?: string; name?: string };
  if (!t || t.kind !== "global" || t.module !== "torch" || !(t.name! in STORAGE_TYPES)) throw bad();
  const key = items[2];
  const numel = items[4];
  if (typeof key !== "string" || !/^[A-Za-z0-9_.-]+$/.test(key) || !isInt(numel) || numel < 0) throw bad();
  const ref: StorageRef = { storageType: t.name!, dtype: STORAGE_TYPES[t.name!], key, numel };
  return { kind: "object", type: "storage", value: ref };
}

/** Elements a view reaches beyond its offset: 1 + Σ (size_i - 1) * stride_i (0 for an empty tensor). */
function extent(size: number[], stride: number[]): number {
  if (size.some((s) => s === 0)) return 0;
  return 1 + size.reduce((acc, s, i) => acc + (s - 1) * stride[i], 0);
}

function isContiguous(size: number[], stride: number[]): boolean {
  let expect = 1;
  for (let i = size.length - 1; i >= 0; i--) {
    if (size[i] !== 1 && stride[i] !== expect) return false;
    expect *= size[i];
  }
  return true;
}

/** Copies a strided view out of `src` (elements from the view's first element) into contiguous `dst`. */
function gather(src: Float32Array, size: number[], stride: number[], dst: Float32Array): void {
  const rank = size.length;
  const idx = new Array<number>(rank).fill(0);
  const n = dst.length;
  let off = 0;
  for (let i = 0; i < n; i++) {
    dst[i] = src[off];
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      off += stride[d];
      if (idx[d] < size[d]) break;
      off -= stride[d] * size[d];
      idx[d] = 0;
    }
  }
}

export interface TorchCheckpoint {
  tensors: TensorSet;
  /** llama2.c training checkpoints: the `model_args` dict (plain values), when present. */
  modelArgs?: Map<string, PickleValue>;
  /** Archive folder prefix, e.g. "stories260K/". */
  prefix: string;
}

export function readTorchCheckpoint(src: ByteSource): TorchCheckpoint {
  const path = src.path;
  const zip: ZipArchive = openZip(src);
  const pkls = zip.entries.filter((e) => e.name === "data.pkl" || e.name.endsWith("/data.pkl"));
  if (pkls.length !== 1)
    throw new UserError(`checkpoint ${path}: ${pkls.length === 0 ? "no data.pkl in the archive; not a torch.save checkpoint" : "several data.pkl entries"}`);
  const prefix = pkls[0].name.slice(0, pkls[0].name.length - "data.pkl".length);
  const where = `checkpoint ${path} (${pkls[0].name})`;
  const top = unpickle(readEntry(zip, pkls[0]), {
    path: where,
    globals: torchGlobals(where),
    persistentLoad: (pid) => storageFromPid(pid, where),
  });
  const topDict = asDict(top);
  if (!topDict) throw new UserError(`${where}: the pickled object is not a dict`);
  let stateDict = topDict;
  let modelArgs: Map<string, PickleValue> | undefined;
  const inner = asDict(topDict.map.get("model") ?? null) ?? asDict(topDict.map.get("state_dict") ?? null);
  if (inner) {
    stateDict = inner;
    const args = asDict(topDict.map.get("model_args") ?? null);
    if (args) modelArgs = new Map([...args.map].map(([k, v]) => [String(k), v]));
  }

  const refs: [string, TensorRef][] = [];
  for (const [k, v] of stateDict.map) {
    const name = String(k);
    const ref = asObject(v, "tensor") as TensorRef | undefined;
    if (!ref) throw new UserError(`${where}: state-dict entry ${JSON.stringify(name)} is not a tensor`);
    refs.push([name, ref]);
  }
  if (refs.length === 0) throw new UserError(`${where}: the state dict holds no tensors`);
  // Storages that several different views use are loaded once and shared (see the header).
  const views = new Map<string, Set<string>>();
  for (const [, ref] of refs) {
    const set = views.get(ref.storage.key) ?? new Set<string>();
    set.add(viewIdentity(ref));
    views.set(ref.storage.key, set);
  }
  const ctx = storageContext(zip);
  const tensors: TensorSet = new Map();
  for (const [name, ref] of refs) tensors.set(name, tensorFromRef(zip, ctx, prefix, name, ref, path, views.get(ref.storage.key)!.size > 1));
  return { tensors, modelArgs, prefix };
}

const viewIdentity = (r: TensorRef): string => `${r.storage.key}:${r.offset}:${r.size.join("x")}:${r.stride.join(",")}`;

interface StorageContext {
  /**
   * Streams a whole storage entry (all of it, so the CRC-32 is checked) and converts elements [from, from+count)
   * into dst[0..count). Returns the first non-finite index relative to `from`, or -1. `fail` makes the CRC error.
   */
  stream(entry: ZipEntry, dtype: StoredDType, from: number, count: number, dst: Float32Array, fail: (m: string) => UserError): number;
  /** A storage used by several views, loaded whole once into shared memory. */
  whole(key: string, entry: ZipEntry, dtype: StoredDType, numel: number, fail: (m: string) => UserError): LoadedTensor;
}

function storageContext(zip: ZipArchive): StorageContext {
  let staging: Uint8Array | undefined; // one reused read buffer per archive (loads run one at a time)
  const cache = new Map<string, LoadedTensor>();
  const stream: StorageContext["stream"] = (entry, dtype, from, count, dst, fail) => {
    const eb = DTYPE_BYTES[dtype];
    const total = entry.size;
    const fromB = from * eb;
    const toB = (from + count) * eb;
    let crc = 0;
    let bad = -1;
    if (dtype === "F32" && LITTLE_ENDIAN && fromB === 0 && toB === total && dst.byteOffset % 4 === 0) {
      // fp32 in the file: pread straight into the destination, checking each chunk while it is in the cache.
      const bytes = new Uint8Array(dst.buffer, dst.byteOffset, total);
      for (let off = 0; off < total; off += CHUNK) {
        const chunk = bytes.subarray(off, Math.min(total, off + CHUNK));
        zip.source.readInto(entry.dataOffset + off, chunk);
        crc = crc32(chunk, crc);
        if (bad < 0) {
          const k = firstNonFinite(dst.subarray(off / 4, (off + chunk.length) / 4));
          if (k >= 0) bad = off / 4 + k;
        }
      }
    } else {
      staging ??= new Uint8Array(CHUNK);
      const buf = staging;
      for (let off = 0; off < total; off += CHUNK) {
        const n = Math.min(CHUNK, total - off);
        const chunk = n === CHUNK ? buf : buf.subarray(0, n);
        zip.source.readInto(entry.dataOffset + off, chunk);
        crc = crc32(chunk, crc);
        const a = Math.max(off, fromB);
        const b = Math.min(off + n, toB);
        if (a < b) {
          const at = (a - fromB) / eb;
          const k = toFloat32(dtype, chunk, a - off, (b - a) / eb, dst, at);
          if (k >= 0 && bad < 0) bad = at + k;
        }
      }
    }
    if (crc !== entry.crc32) throw fail(`fails its CRC-32 check (corrupt file)`);
    return bad;
  };
  return {
    stream,
    whole(key, entry, dtype, numel, fail) {
      let s = cache.get(key);
      if (!s) {
        const data = sharedFloat32(numel);
        s = { data, firstNonFinite: stream(entry, dtype, 0, numel, data, fail) };
        cache.set(key, s);
      }
      return s;
    },
  };
}

function tensorFromRef(zip: ZipArchive, ctx: StorageContext, prefix: string, name: string, ref: TensorRef, path: string, sharedStorage: boolean): NamedTensor {
  const { storage, offset, size, stride } = ref;
  const bad = (m: string) => new UserError(`checkpoint ${path}: tensor ${JSON.stringify(name)}: ${m}`);
  if (!storage.dtype) throw bad(`dtype ${storage.storageType} is not supported (float32, float16, bfloat16 only)`);
  const dtype = storage.dtype;
  const eb = DTYPE_BYTES[dtype];
  const entry: ZipEntry | undefined = zip.byName.get(`${prefix}data/${storage.key}`);
  if (!entry) throw bad(`storage "${storage.key}" is missing from the archive`);
  if (entry.size !== storage.numel * eb)
    throw bad(`storage "${storage.key}" has ${entry.size} bytes, but the pickle says ${storage.numel} ${dtype} elements (${storage.numel * eb} bytes)`);
  if (entry.method !== 0) throw bad(`storage "${storage.key}" is compressed; torch.save never compresses tensor data`);
  const numel = numelOf(size);
  const reach = extent(size, stride);
  if (offset + reach > storage.numel)
    throw bad(`view (offset ${offset}, size ${JSON.stringify(size)}, stride ${JSON.stringify(stride)}) reaches element ${offset + reach} of a ${storage.numel}-element storage`);
  const contiguous = isContiguous(size, stride);
  const failStorage = (m: string) => bad(`storage "${storage.key}" ${m}`);
  const loadChecked = (into?: Float32Array): LoadedTensor => {
    if (into !== undefined && !sharedStorage && into.length !== numel) throw new Error(`tensor ${name}: destination has ${into.length} elements, expected ${numel}`);
    const dst = () => (!sharedStorage && into) || sharedFloat32(numel);
    if (numel === 0) return { data: dst(), firstNonFinite: -1 };
    if (sharedStorage) {
      const s = ctx.whole(storage.key, entry, dtype, storage.numel, failStorage);
      if (contiguous) {
        const data = s.data.subarray(offset, offset + numel); // a view: no copy
        return { data, firstNonFinite: s.firstNonFinite < 0 ? -1 : firstNonFinite(data) };
      }
      const data = sharedFloat32(numel);
      gather(s.data.subarray(offset), size, stride, data);
      return { data, firstNonFinite: firstNonFinite(data) };
    }
    if (contiguous) {
      const data = dst();
      return { data, firstNonFinite: ctx.stream(entry, dtype, offset, numel, data, failStorage) };
    }
    const span = new Float32Array(reach); // the elements the view spans, then gathered
    ctx.stream(entry, dtype, offset, reach, span, failStorage);
    const data = dst();
    gather(span, size, stride, data);
    return { data, firstNonFinite: firstNonFinite(data) };
  };
  return {
    name,
    dtype,
    shape: size,
    byteLength: numel * eb,
    identity: viewIdentity(ref),
    filePos: { file: 0, offset: entry.dataOffset + offset * eb },
    ownsArray: !sharedStorage,
    loadChecked,
    load: () => loadChecked().data,
  };
}
