// Causal CRDT machinery (Almeida et al., "Delta State Replicated Data Types", §5): a state is
// a dot store plus a causal context, and one join serves every store:
//   (s1, c1) ⊔ (s2, c2) = ((s1 ∩ s2) ∪ (s1 \ c2) ∪ (s2 \ c1), c1 ∪ c2)
// — a dot in the other side's context but not its store was removed there. This is what lets
// the OR-set, the flag and the map drop removed entries with no tombstones (riak_dt_orswot).
// The context is a version vector plus a "dot cloud" of dots past a gap: deltas carry
// non-contiguous contexts, and the cloud compacts into the vector once the gap fills.

import type { VersionVector } from '../types.ts';
import { arr, need, needSorted, sortedEntries, str, uint } from './util.ts';

export type DotT = readonly [actor: string, counter: number];

export interface Ctx {
  readonly vv: ReadonlyMap<string, number>;
  /** Per actor: sorted dots > vv+1 (a gap separates them from the vector). */
  readonly cloud: ReadonlyMap<string, readonly number[]>;
}

export const CTX_EMPTY: Ctx = { vv: new Map(), cloud: new Map() };

export function ctxHas(c: Ctx, actor: string, n: number): boolean {
  if (n <= (c.vv.get(actor) ?? 0)) return true;
  const cl = c.cloud.get(actor);
  return cl !== undefined && cl.includes(n);
}

/** Highest counter seen for `actor`: the next dot it mints is this + 1. */
export function ctxMax(c: Ctx, actor: string): number {
  const cl = c.cloud.get(actor);
  const top = cl !== undefined && cl.length > 0 ? cl[cl.length - 1]! : 0;
  return Math.max(c.vv.get(actor) ?? 0, top);
}

function compactActor(vv0: number, dots: Iterable<number>): { vv: number; cloud: number[] } {
  const sorted = [...new Set(dots)].filter((n) => n > vv0).sort((a, b) => a - b);
  let vv = vv0;
  let i = 0;
  while (i < sorted.length && sorted[i] === vv + 1) vv = sorted[i++]!;
  return { vv, cloud: sorted.slice(i) };
}

/** Adds dots to a context and compacts (cloud dots that close a gap move into the vector). */
export function ctxAdd(c: Ctx, dots: Iterable<DotT>): Ctx {
  const byActor = new Map<string, number[]>();
  for (const [a, n] of dots) {
    const l = byActor.get(a);
    if (l) l.push(n);
    else byActor.set(a, [n]);
  }
  if (byActor.size === 0) return c;
  const vv = new Map(c.vv);
  const cloud = new Map(c.cloud);
  for (const [a, ns] of byActor) {
    const r = compactActor(c.vv.get(a) ?? 0, [...(c.cloud.get(a) ?? []), ...ns]);
    if (r.vv > 0) vv.set(a, r.vv);
    if (r.cloud.length > 0) cloud.set(a, r.cloud);
    else cloud.delete(a);
  }
  return { vv, cloud };
}

export function ctxJoin(a: Ctx, b: Ctx): Ctx {
  const vv = new Map(a.vv);
  for (const [k, n] of b.vv) if (n > (vv.get(k) ?? 0)) vv.set(k, n);
  const out: Ctx = { vv, cloud: new Map() };
  const dots: DotT[] = [];
  for (const c of [a, b]) for (const [k, ns] of c.cloud) for (const n of ns) dots.push([k, n]);
  // ctxAdd also drops cloud dots the joined vector now covers.
  return ctxAdd(out, dots);
}

export function ctxFromDots(dots: Iterable<DotT>): Ctx {
  return ctxAdd(CTX_EMPTY, dots);
}

/** The contiguous part as a client-facing version vector (cloud dots left out: conservative). */
export function ctxToVV(c: Ctx): VersionVector {
  return Object.fromEntries(sortedEntries(c.vv));
}

/** Is the dot covered by a client's observed context? Own-property lookups only. */
export function vvCovers(vv: VersionVector, actor: string, n: number): boolean {
  return Object.hasOwn(vv, actor) && (vv[actor] ?? 0) >= n;
}

export function encodeCtx(c: Ctx): unknown {
  return [sortedEntries(c.vv), sortedEntries(c.cloud).map(([a, ns]) => [a, [...ns]])];
}

export function decodeCtx(x: unknown, name: string): Ctx {
  const [vvRaw, cloudRaw] = pair(x, name, 'context');
  const vv = new Map<string, number>();
  const vvList = arr(vvRaw, name, 'context vv');
  for (const e of vvList) {
    const [a, n] = pair(e, name, 'context vv entry');
    vv.set(str(a, name, 'actor'), uint(n, name, 'context counter'));
    need(uint(n, name, 'context counter') > 0, name, 'zero context counter');
  }
  needSorted([...vv.keys()], name, 'context vv');
  need(vv.size === vvList.length, name, 'duplicate actor in context');
  const cloud = new Map<string, number[]>();
  const cloudList = arr(cloudRaw, name, 'context cloud');
  for (const e of cloudList) {
    const [a, nsRaw] = pair(e, name, 'context cloud entry');
    const actor = str(a, name, 'actor');
    const ns = arr(nsRaw, name, 'cloud dots').map((n) => uint(n, name, 'cloud dot'));
    need(ns.length > 0, name, 'empty cloud entry');
    // Canonical: strictly increasing, and past a gap after the vector (else it would compact).
    for (let i = 1; i < ns.length; i++) need(ns[i - 1]! < ns[i]!, name, 'cloud dots not increasing');
    need(ns[0]! > (vv.get(actor) ?? 0) + 1, name, 'cloud dot not past a gap');
    cloud.set(actor, ns);
  }
  needSorted([...cloud.keys()], name, 'context cloud');
  need(cloud.size === cloudList.length, name, 'duplicate actor in cloud');
  return { vv, cloud };
}

export function pair(x: unknown, name: string, what: string): [unknown, unknown] {
  const a = arr(x, name, what);
  need(a.length === 2, name, `${what} is not a pair`);
  return [a[0], a[1]];
}

// --- dot stores ----------------------------------------------------------------------------

/**
 * A store kind: how to join, enumerate and (de)serialise one shape of dot store. Stores are
 * immutable Maps; an absent key means the empty store.
 */
export interface StoreKind<S> {
  empty(): S;
  isEmpty(s: S): boolean;
  join(s1: S, c1: Ctx, s2: S, c2: Ctx): S;
  dots(s: S): DotT[];
  /** Canonical body (sorted). */
  encode(s: S): unknown;
  decode(x: unknown, name: string): S;
}

/**
 * DotSet: a set of dots, one per actor at most — an actor's new dot for an entry always
 * comes with its old one in the delta's context, so the old one cannot survive a join.
 */
export type DotSet = ReadonlyMap<string, number>;

export const dotSetKind: StoreKind<DotSet> = {
  empty: () => new Map(),
  isEmpty: (s) => s.size === 0,
  join(s1, c1, s2, c2) {
    if (s2.size === 0 && survivesWhole(s1, c2)) return s1;
    if (s1.size === 0 && survivesWhole(s2, c1)) return s2;
    const out = new Map<string, number>();
    for (const [a, n] of s1) if (s2.get(a) === n || !ctxHas(c2, a, n)) out.set(a, n);
    for (const [a, n] of s2) {
      if (ctxHas(c1, a, n)) continue;
      // Two surviving dots of one actor cannot arise from real histories; keep the later.
      out.set(a, Math.max(n, out.get(a) ?? 0));
    }
    // Returning an input that equals the result lets the enclosing join see "unchanged".
    return sameDots(out, s1) ? s1 : sameDots(out, s2) ? s2 : out;
  },
  dots: (s) => [...s],
  encode: (s) => sortedEntries(s),
  decode(x, name) {
    const out = new Map<string, number>();
    const l = arr(x, name, 'dot set');
    for (const e of l) {
      const [a, n] = pair(e, name, 'dot');
      need(uint(n, name, 'dot counter') > 0, name, 'zero dot counter');
      out.set(str(a, name, 'dot actor'), n as number);
    }
    needSorted([...out.keys()], name, 'dot set');
    return out;
  },
};

/** Whether every dot of `s` survives a join with a side whose store is empty and context is `c`. */
function survivesWhole(s: ReadonlyMap<string, number>, c: Ctx): boolean {
  for (const [a, n] of s) if (ctxHas(c, a, n)) return false;
  return true;
}

function sameDots(x: ReadonlyMap<string, number>, y: ReadonlyMap<string, number>): boolean {
  if (x.size !== y.size) return false;
  for (const [a, n] of x) if (y.get(a) !== n) return false;
  return true;
}

/** DotFun: each dot carries an immutable payload (register value, counter contribution). */
export interface Tagged<V> {
  readonly c: number;
  readonly v: V;
}
export type DotFun<V> = ReadonlyMap<string, Tagged<V>>;

export function dotFunKind<V>(
  payload: { encode(v: V): unknown; decode(x: unknown, name: string): V; compare(a: V, b: V): number },
): StoreKind<DotFun<V>> {
  return {
    empty: () => new Map(),
    isEmpty: (s) => s.size === 0,
    join(s1, c1, s2, c2) {
      const out = new Map<string, Tagged<V>>();
      for (const [a, t] of s1) if (s2.get(a)?.c === t.c || !ctxHas(c2, a, t.c)) out.set(a, t);
      for (const [a, t] of s2) {
        if (ctxHas(c1, a, t.c)) continue;
        const prev = out.get(a);
        // Unreachable from real histories (one payload per dot); deterministic anyway.
        if (prev === undefined || prev.c < t.c || (prev.c === t.c && payload.compare(prev.v, t.v) < 0)) out.set(a, t);
      }
      return out;
    },
    dots: (s) => [...s].map(([a, t]) => [a, t.c] as const),
    encode: (s) => sortedEntries(s).map(([a, t]) => [a, t.c, payload.encode(t.v)]),
    decode(x, name) {
      const out = new Map<string, Tagged<V>>();
      for (const e of arr(x, name, 'dot fun')) {
        const l = arr(e, name, 'dot fun entry');
        need(l.length === 3, name, 'dot fun entry is not [actor, counter, payload]');
        const c = uint(l[1], name, 'dot counter');
        need(c > 0, name, 'zero dot counter');
        out.set(str(l[0], name, 'dot actor'), { c, v: payload.decode(l[2], name) });
      }
      needSorted([...out.keys()], name, 'dot fun');
      return out;
    },
  };
}

/** DotMap: key → nested store; a key whose store empties is gone (no tombstone). */
export type DotMap<S> = ReadonlyMap<string, S>;

export function dotMapKind<S>(kindOf: (key: string) => StoreKind<S>, checkKey?: (key: string, name: string) => void): StoreKind<DotMap<S>> {
  return {
    empty: () => new Map(),
    isEmpty: (s) => s.size === 0,
    join(s1, c1, s2, c2) {
      // A delta touches few keys of a big map: the untouched entries' joins return their own
      // store, so the result shares them, and is s1 itself when nothing changed.
      const out = new Map<string, S>();
      let same = true;
      // Joins never modify their inputs, so one empty store per kind serves every absent key.
      let emptyKind: StoreKind<S> | undefined;
      let empty: S | undefined;
      const emptyOf = (kind: StoreKind<S>): S => {
        if (kind !== emptyKind) {
          emptyKind = kind;
          empty = kind.empty();
        }
        return empty as S;
      };
      for (const [k, sub1] of s1) {
        const kind = kindOf(k);
        const j = kind.join(sub1, c1, s2.get(k) ?? emptyOf(kind), c2);
        if (j !== sub1) same = false;
        if (!kind.isEmpty(j)) out.set(k, j);
      }
      for (const [k, sub2] of s2) {
        if (s1.has(k)) continue;
        const kind = kindOf(k);
        const j = kind.join(emptyOf(kind), c1, sub2, c2);
        if (!kind.isEmpty(j)) {
          out.set(k, j);
          same = false;
        }
      }
      return same ? s1 : out;
    },
    dots(s) {
      const out: DotT[] = [];
      for (const [k, sub] of s) out.push(...kindOf(k).dots(sub));
      return out;
    },
    encode: (s) => sortedEntries(s).map(([k, sub]) => [k, kindOf(k).encode(sub)]),
    decode(x, name) {
      const out = new Map<string, S>();
      const l = arr(x, name, 'dot map');
      for (const e of l) {
        const [kRaw, subRaw] = pair(e, name, 'dot map entry');
        const k = str(kRaw, name, 'key');
        checkKey?.(k, name);
        const kind = kindOf(k);
        const sub = kind.decode(subRaw, name);
        need(!kind.isEmpty(sub), name, 'empty entry in dot map');
        out.set(k, sub);
      }
      needSorted([...out.keys()], name, 'dot map');
      need(out.size === l.length, name, 'duplicate key in dot map');
      return out;
    },
  };
}

/** A causal CRDT state: store + context. */
export interface Causal<S> {
  readonly store: S;
  readonly ctx: Ctx;
}

export function causalJoin<S>(kind: StoreKind<S>, a: Causal<S>, b: Causal<S>): Causal<S> {
  return { store: kind.join(a.store, a.ctx, b.store, b.ctx), ctx: ctxJoin(a.ctx, b.ctx) };
}

/** Every dot in the store must also be in the context (an invariant of valid states). */
export function checkStoreInCtx<S>(kind: StoreKind<S>, s: Causal<S>, name: string): void {
  for (const [a, n] of kind.dots(s.store)) need(ctxHas(s.ctx, a, n), name, `dot ${a}:${n} missing from context`);
}


/** Mints an actor's next dots for one op (an op may need several: one per added element). */
export interface Minter {
  readonly actor: string;
  next(): number;
}

export function minter(ctx: Ctx, actor: string): Minter {
  let n = ctxMax(ctx, actor);
  return { actor, next: () => ++n };
}

/** Dots of a store that a remove may take: those the client observed (or, without a ctx, all). */
export function observedDots(dots: readonly DotT[], observed: VersionVector | undefined): DotT[] {
  return observed === undefined ? [...dots] : dots.filter(([a, n]) => vvCovers(observed, a, n));
}

export function encodeCausalBody<S>(kind: StoreKind<S>, s: Causal<S>): unknown {
  return [encodeCtx(s.ctx), kind.encode(s.store)];
}

export function decodeCausalBody<S>(kind: StoreKind<S>, x: unknown, name: string): Causal<S> {
  const [c, st] = pair(x, name, 'body');
  const state: Causal<S> = { ctx: decodeCtx(c, name), store: kind.decode(st, name) };
  checkStoreInCtx(kind, state, name);
  return state;
}
