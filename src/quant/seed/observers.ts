// Owns PT2E `prepare`'s observer sharing for the seed graphs (SPEC §7.2; torch/ao/quantization/pt2e/prepare.py
// `_get_edge_or_node_to_qspec`, `_get_edge_or_node_to_group_id`, `_union_input_edge_with`, `_get_obs_or_fq_map`)
// and the observers' running state during calibration:
// - members are annotation keys in annotation order (graph order; a node's input edges in input_qspec_map
//   order, then its output);
// - SharedQuantizationSpec unions with its target; an input edge unions with the producer's other consumer
//   edges, then with the producer's output, when the root specs agree on dtype, is_dynamic, quant_min,
//   quant_max, qscheme and ch_axis (the union-find, roots and path compression exactly as torch's);
// - group ids count groups in order of their first member; each group's observer is built from its first
//   member's spec (so eps and observer kind come from that member);
// - MinMax observers keep a running min/max over every value of every member (an edge member sees its
//   producer's value), PerChannelMinMax one per output channel, FixedQParams nothing.
import { annotateSeedGraph, type AnnotateOptions, type Annotations } from "./annotate.js";
import type { SeedGraph, SeedValues } from "./node-graph.js";
import { edgeEnds, edgeKey, isEdge, sameSharingAttrs, type AnySpec, type EdgeOrNode, type QSpec } from "./qspecs.js";

export interface ObserverGroup {
  id: number;
  /** Spec of the first member: the observer's constructor. */
  spec: QSpec;
  /** Members in annotation order. */
  members: EdgeOrNode[];
  /** Names of the tensors the observer records: member nodes, and the producers of member edges (deduplicated). */
  observes: string[];
  /** True when every member is an edge from a parameter (a weight's own observer). */
  isWeight: boolean;
  /** Running range of a MinMax observer (fp32 values; +Infinity / -Infinity before any call). */
  min: number;
  max: number;
  /** Per-channel running ranges of a PerChannelMinMax observer. */
  channelMin?: Float32Array;
  channelMax?: Float32Array;
}

export interface SeedObservers {
  graph: SeedGraph;
  /** edge_or_node_to_qspec, in annotation order. */
  qspecs: Map<EdgeOrNode, AnySpec>;
  groups: ObserverGroup[];
  groupOf: Map<EdgeOrNode, number>;
  /** Calibration calls recorded. */
  calls: number;
}

/** `_get_edge_or_node_to_qspec`: input edges then output, node by node in graph order. */
export function edgeOrNodeToQspec(g: SeedGraph, ann: Annotations): Map<EdgeOrNode, AnySpec> {
  const m = new Map<EdgeOrNode, AnySpec>();
  for (const n of g.nodes) {
    const a = ann.get(n.name);
    if (!a) continue;
    for (const [p, s] of a.inputs) m.set(edgeKey(p, n.name), s);
    if (a.output) m.set(n.name, a.output);
  }
  return m;
}

/**
 * `_get_edge_or_node_to_group_id`: the union-find over `qspecs` and the group id of every key. `users` lists each
 * node's consumers in graph order (torch.fx `node.users`).
 */
export function groupIds(users: ReadonlyMap<string, readonly string[]>, qspecs: Map<EdgeOrNode, AnySpec>): Map<EdgeOrNode, number> {
  const parent = new Map<EdgeOrNode, EdgeOrNode>([...qspecs.keys()].map((k) => [k, k]));
  const find = (x: EdgeOrNode): EdgeOrNode => {
    const p = parent.get(x);
    if (p === undefined) throw new Error(`observer sharing: ${x} is not annotated`);
    if (p === x) return x;
    const r = find(p);
    parent.set(x, r);
    return r;
  };
  const union = (par: EdgeOrNode, child: EdgeOrNode): void => {
    const rp = find(par);
    const rc = find(child);
    parent.set(rc, rp);
  };
  const unwrap = (s: AnySpec): QSpec => (s.kind === "spec" ? s : unwrap(qspecs.get(find(s.with))!));
  const updateSharedWith = (child: EdgeOrNode, s: AnySpec): void => {
    if (s.kind === "shared") union(s.with, child);
  };
  const unionInputEdgeWith = (edge: EdgeOrNode, edgeRoot: QSpec, other: EdgeOrNode): void => {
    const s = qspecs.get(other);
    if (s !== undefined && sameSharingAttrs(unwrap(s), edgeRoot)) union(other, edge);
  };
  for (const [key, s] of qspecs) {
    if (!isEdge(key)) {
      updateSharedWith(key, s);
      continue;
    }
    const root = unwrap(s);
    const [arg, n] = edgeEnds(key);
    for (const user of users.get(arg) ?? []) if (user !== n) unionInputEdgeWith(key, root, edgeKey(arg, user));
    unionInputEdgeWith(key, root, arg);
    updateSharedWith(key, s);
  }
  const ids = new Map<EdgeOrNode, number>();
  const rootIds = new Map<EdgeOrNode, number>();
  for (const key of qspecs.keys()) {
    const r = find(key);
    if (!rootIds.has(r)) rootIds.set(r, rootIds.size);
    ids.set(key, rootIds.get(r)!);
  }
  return ids;
}

/** The tensor a member's observer reads: a node's own value, or an edge's producer value. */
export const observedTensor = (k: EdgeOrNode): string => (isEdge(k) ? edgeEnds(k)[0] : k);

/** `prepare`: annotations -> groups with fresh observers. */
export function prepareSeedObservers(g: SeedGraph, ann: Annotations): SeedObservers {
  const qspecs = edgeOrNodeToQspec(g, ann);
  const groupOf = groupIds(g.users, qspecs);
  const groups: ObserverGroup[] = [];
  for (const [key, s] of qspecs) {
    const id = groupOf.get(key)!;
    let grp = groups[id];
    if (!grp) {
      if (s.kind !== "spec") throw new Error(`observer group ${id}: first member ${key} has a shared spec`);
      grp = { id, spec: s, members: [], observes: [], isWeight: true, min: Infinity, max: -Infinity };
      groups[id] = grp;
    }
    grp.members.push(key);
    const t = observedTensor(key);
    if (!grp.observes.includes(t)) grp.observes.push(t);
    if (!isEdge(key) || g.byName.get(t)!.op !== "param") grp.isWeight = false;
  }
  for (const grp of groups)
    if (grp.spec.observer === "PerChannelMinMaxObserver") {
      const ch = g.byName.get(grp.observes[0])!.shape[0];
      grp.channelMin = new Float32Array(ch).fill(Infinity);
      grp.channelMax = new Float32Array(ch).fill(-Infinity);
    }
  return { graph: g, qspecs, groups, groupOf, calls: 0 };
}

function observePerChannel(grp: ObserverGroup, data: Float32Array): void {
  const lo = grp.channelMin!;
  const hi = grp.channelMax!;
  const per = data.length / lo.length;
  for (let c = 0; c < lo.length; c++)
    for (let i = c * per; i < (c + 1) * per; i++) {
      const v = data[i];
      if (v < lo[c]) lo[c] = v;
      if (v > hi[c]) hi[c] = v;
    }
}

/** Records one call's values in every observer (the prepared graph's forward pass). */
export function observeCall(obs: SeedObservers, values: SeedValues): void {
  for (const grp of obs.groups) {
    if (grp.spec.observer === "FixedQParamsObserver") continue;
    for (const t of grp.observes) {
      const v = values.get(t);
      if (!v) throw new Error(`observer ${grp.id}: no value for ${t}`);
      if (grp.channelMin) {
        observePerChannel(grp, v.data);
        continue;
      }
      let lo = grp.min;
      let hi = grp.max;
      const d = v.data;
      for (let i = 0; i < d.length; i++) {
        const x = d[i];
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
      grp.min = lo;
      grp.max = hi;
    }
  }
  obs.calls++;
}

/** The observer groups of a seed graph under a scheme: the seed quantizer's annotations, then `prepare`. */
export function seedObserverGroups(g: SeedGraph, opts: AnnotateOptions): SeedObservers {
  return prepareSeedObservers(g, annotateSeedGraph(g, opts));
}
