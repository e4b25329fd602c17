// Owns PyTorch checkpoints written by torch.save (zip format): finds `<prefix>/data.pkl` under any archive
// folder prefix, unpickles it with an explicit allow-list of globals (the guarantee of
// torch.load(weights_only=True): nothing outside the list is ever called), resolves persistent storage
// references to `<prefix>/data/<key>` entries, and exposes every tensor of the state dict, rebuilt from
// (storage, offset, sizes, strides) — views and shared storages included — as a lazily loaded fp32 tensor.
import { UserError } from "../util/errors.js";
import type { ByteSource } from "./byte-source.js";
import { DTYPE_BYTES, toFloat32, type StoredDType } from "./dtype.js";
import { unpickle, type PickleDict, type PickleGlobals, type PickleValue } from "./pickle.js";
import { crc32, openZip, readEntry, type ZipArchive, type ZipEntry } from "./zip.js";
import { numelOf, type NamedTensor, type TensorSet } from "./tensors.js";

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

const CHUNK = 8 * 1024 * 1024;

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

  const tensors: TensorSet = new Map();
  for (const [k, v] of stateDict.map) {
    const name = String(k);
    const ref = asObject(v, "tensor") as TensorRef | undefined;
    if (!ref) throw new UserError(`${where}: state-dict entry ${JSON.stringify(name)} is not a tensor`);
    tensors.set(name, tensorFromRef(zip, prefix, name, ref, path));
  }
  if (tensors.size === 0) throw new UserError(`${where}: the state dict holds no tensors`);
  return { tensors, modelArgs, prefix };
}

function tensorFromRef(zip: ZipArchive, prefix: string, name: string, ref: TensorRef, path: string): NamedTensor {
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
  const wholeStorage = contiguous && offset === 0 && numel === storage.numel;
  const base = entry.dataOffset + offset * eb;
  return {
    name,
    dtype,
    shape: size,
    byteLength: numel * eb,
    identity: `${storage.key}:${offset}:${size.join("x")}:${stride.join(",")}`,
    load(): Float32Array {
      const dst = new Float32Array(numel);
      if (numel === 0) return dst;
      if (contiguous) {
        // Stream the elements in chunks straight into the destination; check the CRC when the tensor
        // covers its whole storage (the usual case), so a corrupt file cannot load silently.
        const per = Math.max(1, Math.floor(CHUNK / eb));
        const buf = new Uint8Array(Math.min(per, numel) * eb); // one reused read buffer per tensor
        let crc = 0;
        for (let i = 0; i < numel; i += per) {
          const count = Math.min(per, numel - i);
          const chunk = buf.subarray(0, count * eb);
          zip.source.readInto(base + i * eb, chunk);
          if (wholeStorage) crc = crc32(chunk, crc);
          toFloat32(dtype, chunk, 0, count, dst, i);
        }
        if (wholeStorage && crc !== entry.crc32) throw bad(`storage "${storage.key}" fails its CRC-32 check (corrupt file)`);
        return dst;
      }
      const span = new Float32Array(reach);
      const per = Math.max(1, Math.floor(CHUNK / eb));
      for (let i = 0; i < reach; i += per) {
        const count = Math.min(per, reach - i);
        toFloat32(dtype, zip.source.read(base + i * eb, count * eb), 0, count, span, i);
      }
      gather(span, size, stride, dst);
      return dst;
    },
  };
}
