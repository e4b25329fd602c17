// Owns the dense fp32 tensor of the seed node graph (src/quant/seed/node-graph.ts) and its layout-only ops:
// reshape, transpose/permute, strided slice, cat, index/select of rows, embedding lookup. These move values
// without arithmetic, so they are exact; every op returns a new row-major (contiguous) tensor.
//
// Integer tensors (tokens, input_pos) are held in the same Float32Array form: their values are ids and
// positions, far below 2^24, so they are exact.

export interface Tensor {
  /** Static shape, outermost first. */
  shape: number[];
  /** Row-major values, length = product of `shape`. */
  data: Float32Array;
}

export const numelOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export function tensor(shape: number[], data?: Float32Array): Tensor {
  const n = numelOf(shape);
  const d = data ?? new Float32Array(n);
  if (d.length !== n) throw new RangeError(`tensor: ${d.length} values for shape [${shape}]`);
  return { shape, data: d };
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

const normDim = (dim: number, rank: number): number => {
  const d = dim < 0 ? dim + rank : dim;
  if (d < 0 || d >= rank) throw new RangeError(`dim ${dim} out of range for rank ${rank}`);
  return d;
};

/** torch.reshape on a contiguous tensor: the same values under a new shape (-1 infers one size). */
export function reshape(x: Tensor, shape: number[]): Tensor {
  const known = shape.filter((s) => s !== -1);
  const n = x.data.length;
  const inferred = shape.map((s) => (s === -1 ? n / numelOf(known) : s));
  if (numelOf(inferred) !== n) throw new RangeError(`reshape: [${x.shape}] -> [${shape}]`);
  return { shape: inferred, data: x.data.slice() };
}

/** torch.permute: out[i_0..] = x[i at perm positions]; returns a contiguous copy. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const rank = x.shape.length;
  if (perm.length !== rank) throw new RangeError(`permute: ${perm.length} axes for rank ${rank}`);
  const outShape = perm.map((p) => x.shape[p]);
  const inStrides = stridesOf(x.shape);
  const srcStride = perm.map((p) => inStrides[p]);
  const out = new Float32Array(x.data.length);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let a = 0; a < rank; a++) src += idx[a] * srcStride[a];
    out[o] = x.data[src];
    for (let a = rank - 1; a >= 0; a--) {
      if (++idx[a] < outShape[a]) break;
      idx[a] = 0;
    }
  }
  return { shape: outShape, data: out };
}

/** torch.transpose(x, d0, d1). */
export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  const rank = x.shape.length;
  const a = normDim(d0, rank);
  const b = normDim(d1, rank);
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

/** torch.unsqueeze(x, dim). */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normDim(dim, x.shape.length + 1);
  const shape = [...x.shape];
  shape.splice(d, 0, 1);
  return { shape, data: x.data.slice() };
}

/** torch.squeeze(x, dim) for a size-1 dim. */
export function squeeze(x: Tensor, dim: number): Tensor {
  const d = normDim(dim, x.shape.length);
  if (x.shape[d] !== 1) throw new RangeError(`squeeze: dim ${dim} has size ${x.shape[d]}`);
  const shape = x.shape.filter((_, i) => i !== d);
  return { shape, data: x.data.slice() };
}

/** x[..., start:end:step] along `dim` (aten.slice.Tensor); end is clamped to the size. */
export function slice(x: Tensor, dim: number, start: number, end: number, step: number): Tensor {
  const rank = x.shape.length;
  const d = normDim(dim, rank);
  const size = x.shape[d];
  const s = start < 0 ? start + size : start;
  const e = Math.min(end < 0 ? end + size : end, size);
  const count = Math.max(0, Math.ceil((e - s) / step));
  const outer = numelOf(x.shape.slice(0, d));
  const inner = numelOf(x.shape.slice(d + 1));
  const out = new Float32Array(outer * count * inner);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < count; i++) {
      const src = (o * size + s + i * step) * inner;
      out.set(x.data.subarray(src, src + inner), (o * count + i) * inner);
    }
  const shape = [...x.shape];
  shape[d] = count;
  return { shape, data: out };
}

/** torch.cat(xs, dim): all shapes equal except along `dim`. */
export function cat(xs: readonly Tensor[], dim: number): Tensor {
  const rank = xs[0].shape.length;
  const d = normDim(dim, rank);
  const outer = numelOf(xs[0].shape.slice(0, d));
  const inner = numelOf(xs[0].shape.slice(d + 1));
  for (const x of xs)
    if (x.shape.length !== rank || x.shape.some((s, i) => i !== d && s !== xs[0].shape[i]))
      throw new RangeError(`cat: shapes [${xs.map((t) => `[${t.shape}]`).join(", ")}] along ${dim}`);
  const total = xs.reduce((a, x) => a + x.shape[d], 0);
  const out = new Float32Array(outer * total * inner);
  for (let o = 0; o < outer; o++) {
    let at = o * total * inner;
    for (const x of xs) {
      const len = x.shape[d] * inner;
      out.set(x.data.subarray(o * len, (o + 1) * len), at);
      at += len;
    }
  }
  const shape = [...xs[0].shape];
  shape[d] = total;
  return { shape, data: out };
}

/** table[idx] for an integer index tensor (aten.index.Tensor with one index on dim 0): shape idx.shape + row. */
export function indexRows(table: Tensor, idx: Tensor): Tensor {
  const rowShape = table.shape.slice(1);
  const row = numelOf(rowShape);
  const out = new Float32Array(idx.data.length * row);
  for (let i = 0; i < idx.data.length; i++) {
    const r = idx.data[i];
    if (!Number.isInteger(r) || r < 0 || r >= table.shape[0]) throw new RangeError(`index ${r} outside [0, ${table.shape[0]})`);
    out.set(table.data.subarray(r * row, (r + 1) * row), i * row);
  }
  return { shape: [...idx.shape, ...rowShape], data: out };
}

/** x.select(dim, i) (aten.select.int): drops `dim`. */
export function select(x: Tensor, dim: number, i: number): Tensor {
  const d = normDim(dim, x.shape.length);
  const s = slice(x, d, i, i + 1, 1);
  return { shape: x.shape.filter((_, k) => k !== d), data: s.data };
}

/** aten.embedding(weight [V, D], ids): rows of the table. */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  return indexRows(weight, ids);
}
