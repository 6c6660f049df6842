// PN-counter (riak_dt_pncounter.erl: per-actor positive and negative totals, joined by
// pointwise max) plus client op ids so a retried increment counts once.
//
// State, all parts joins:
//   plain[a]  = {p, n}            increments without an id coordinated by actor a. Only a
//                                 writes it, so pointwise max is the join; the delta of one
//                                 increment is this one entry: O(1) bytes whatever the history.
//   live[X][a] = {q, t, d}        an id'd increment: id X, applied at coordinator a as a's q-th
//                                 id'd op, at ts t, amount d. Union; the same id applied at two
//                                 coordinators gives two entries, and value() counts the id once
//                                 (the entry with the least (t, actor) wins).
//   folded[a] = {q, p, n, m}      a's entries with seq ≤ q have been folded into {p, n}; a's
//                                 marks with seq ≤ m have been pruned. Only a folds and prunes
//                                 its own entries, in seq order, so folded[a] is a single-writer
//                                 chain (join = the higher (q, m)) and the seq watermarks drop
//                                 entries the same way on every replica: union-then-filter by
//                                 a max watermark is still a join (associative and commutative).
//   marks[X][a] = {q, w}          "a folded X (at ts.wall w) and counted it": suppresses other
//                                 coordinators' live entries for X (a racing retry's twin).
// Folding, which bounds the table, happens only when a applies an id'd op (so plain deltas
// stay O(1)): a folds its own entries older than ID window (by the op's ts.wall) or beyond
// idLiveMax, counting an entry only if no mark and no winning twin for its id is in a's view;
// it prunes its marks folded over a window ago whose id has no twin left live in its view
// (a twin's own coordinator folds it as a loser on its next id'd op), or beyond idMarksMax.
//
// Exactness window. A retry (same id) counts exactly once in the converged value if either
//  (1) its coordinator already holds the first application's entry or mark — the retry is
//      then a no-op with an empty delta; entries live ≥ idWindowMs (10 min) after their op's
//      ts and marks ≥ idWindowMs after the fold, so a retry within 2 × idWindowMs of the
//      first application, at a coordinator that has merged it, is exact; or
//  (2) it races the first application at another coordinator, and each of the coordinators
//      that applied the id merges the other's entry (or mark) before folding its own, i.e.
//      within idWindowMs of op ts, and while it holds ≤ idLiveMax (1024) live id'd entries.
// Outside that (partitions longer than the window, > 1024 id'd ops per coordinator within
// it) a racing retry may count twice; it is never lost, and merge stays a join regardless.
// State size is bounded per actor: ≤ idLiveMax live entries + idMarksMax marks.

import type { Hlc } from '../types.ts';
import type { CrdtEnv, CrdtType } from './types.ts';
import { CrdtOpError } from './types.ts';
import {
  arr, badOp, bytesEqual, frame, hlcCompare, hlcFrom, isPlainObject, need, needSorted, onlyKeys, sortedEntries,
  str, strCompare, uint, unframe, utf8Length,
} from './util.ts';

export interface CounterLimits {
  /** An id'd entry is folded once an id'd op at its coordinator is this much newer. */
  readonly idWindowMs: number;
  /** Live id'd entries per coordinator before the oldest are folded regardless of age. */
  readonly idLiveMax: number;
  /** Marks per coordinator before the oldest are pruned regardless of age. */
  readonly idMarksMax: number;
}

export const COUNTER_LIMITS: CounterLimits = { idWindowMs: 10 * 60_000, idLiveMax: 1024, idMarksMax: 1024 };
/** Client op ids are short opaque strings (a UUID fits). */
export const COUNTER_ID_MAX_BYTES = 128;

export interface PN {
  readonly p: number;
  readonly n: number;
}
export interface Folded {
  readonly q: number;
  readonly p: number;
  readonly n: number;
  readonly m: number;
}
export interface IdEntry {
  readonly q: number;
  readonly t: Hlc;
  readonly d: number;
}
export interface Mark {
  readonly q: number;
  readonly w: number;
}
type ByActor<T> = ReadonlyMap<string, T>;

export interface CounterState {
  readonly plain: ByActor<PN>;
  readonly folded: ByActor<Folded>;
  readonly live: ReadonlyMap<string, ByActor<IdEntry>>;
  readonly marks: ReadonlyMap<string, ByActor<Mark>>;
}

export interface CounterOp {
  readonly increment: number;
  readonly id?: string;
}

const EMPTY: CounterState = { plain: new Map(), folded: new Map(), live: new Map(), marks: new Map() };
const F0: Folded = { q: 0, p: 0, n: 0, m: 0 };

function foldedCompare(x: Folded, y: Folded): number {
  return x.q - y.q || x.m - y.m || x.p - y.p || x.n - y.n;
}

function entryCompare(x: IdEntry, y: IdEntry): number {
  return x.q - y.q || hlcCompare(x.t, y.t) || x.d - y.d;
}

/**
 * Union of two id tables, per (id, actor) the higher seq, minus entries at or below their
 * actor's watermark `wm` in the joined state. Starts from the bigger side (merging a small
 * delta into a big state copies one Map, not every row) and re-filters untouched rows only for
 * actors whose watermark rose past the bigger side's `wmBig`. The result is the same as the
 * plain union-then-filter, whichever side is bigger.
 */
function joinTable<T extends { q: number }>(
  x: ReadonlyMap<string, ByActor<T>>, y: ReadonlyMap<string, ByActor<T>>, cmp: (a: T, b: T) => number,
  wm: (actor: string) => number, wmOf: (side: 0 | 1, actor: string) => number, actors: Iterable<string>,
): Map<string, ByActor<T>> {
  const bigSide: 0 | 1 = x.size >= y.size ? 0 : 1;
  const [big, small] = bigSide === 0 ? [x, y] : [y, x];
  const out = new Map(big);
  const filterRow = (id: string, row: Map<string, T>) => {
    for (const [a, e] of row) if (e.q <= wm(a)) row.delete(a);
    if (row.size > 0) out.set(id, row);
    else out.delete(id);
  };
  for (const [id, srow] of small) {
    const row = new Map(out.get(id) ?? []);
    for (const [a, e] of srow) {
      const prev = row.get(a);
      if (prev === undefined || cmp(prev, e) < 0) row.set(a, e);
    }
    filterRow(id, row);
  }
  const raised: string[] = [];
  for (const a of actors) if (wm(a) > wmOf(bigSide, a)) raised.push(a);
  if (raised.length > 0) {
    for (const [id, row] of out) {
      if (small.has(id)) continue; // already filtered
      if (raised.some((a) => { const e = row.get(a); return e !== undefined && e.q <= wm(a); })) filterRow(id, new Map(row));
    }
  }
  return out;
}

function merge(x: CounterState, y: CounterState): CounterState {
  const plain = new Map(x.plain);
  for (const [a, v] of y.plain) {
    const u = plain.get(a);
    plain.set(a, u === undefined ? v : { p: Math.max(u.p, v.p), n: Math.max(u.n, v.n) });
  }
  const folded = new Map(x.folded);
  for (const [a, v] of y.folded) {
    const u = folded.get(a);
    if (u === undefined || foldedCompare(u, v) < 0) folded.set(a, v);
  }
  const f = (a: string): Folded => folded.get(a) ?? F0;
  const side = (i: 0 | 1, a: string): Folded => (i === 0 ? x : y).folded.get(a) ?? F0;
  const actors = [...folded.keys()]; // only actors with a fold record have a watermark > 0
  return {
    plain,
    folded,
    live: joinTable(x.live, y.live, entryCompare, (a) => f(a).q, (i, a) => side(i, a).q, actors),
    marks: joinTable(x.marks, y.marks, (u, v) => u.q - v.q || u.w - v.w, (a) => f(a).m, (i, a) => side(i, a).m, actors),
  };
}

/** The entry that counts for an id seen at several coordinators: least (ts, actor). */
function winner(row: ByActor<IdEntry>): [string, IdEntry] | undefined {
  let best: [string, IdEntry] | undefined;
  for (const [a, e] of row) {
    if (best === undefined || hlcCompare(e.t, best[1].t) < 0 || (hlcCompare(e.t, best[1].t) === 0 && strCompare(a, best[0]) < 0)) {
      best = [a, e];
    }
  }
  return best;
}

function value(s: CounterState): number {
  let v = 0;
  for (const { p, n } of s.plain.values()) v += p - n;
  for (const { p, n } of s.folded.values()) v += p - n;
  for (const [id, row] of s.live) {
    if (s.marks.has(id)) continue;
    v += winner(row)?.[1].d ?? 0;
  }
  return v;
}

function addChecked(total: number, d: number): number {
  const r = total + d;
  if (!Number.isSafeInteger(r)) throw new CrdtOpError('PRECONDITION', 'counter total would exceed 2^53 - 1');
  return r;
}

function makeCounter(limits: CounterLimits): CrdtType<CounterState, CounterOp, number> {
  if (limits.idLiveMax < 1 || limits.idMarksMax < 0 || limits.idWindowMs < 0) throw new Error('bad counter limits');

  function applyId(s: CounterState, d: number, id: string, actor: string, ts: Hlc) {
    // Already in view (live or marked): a retry; counting it again is what ids prevent.
    if (s.live.has(id) || s.marks.has(id)) return { state: s, delta: EMPTY };
    const f = s.folded.get(actor) ?? F0;
    const own = ownEntries(s, actor);
    const entry: IdEntry = { q: (own.at(-1)?.[1].q ?? f.q) + 1, t: ts, d };
    own.push([id, entry]);
    return fold(s, actor, ts, own, 0, [id, entry]);
  }

  /**
   * Folds `actor`'s oldest own entries (a prefix by seq, so the watermark f.q describes it):
   * those older than the window, beyond idLiveMax, or with seq ≤ forceQ; then prunes its old
   * marks. `added` is a new live entry the delta must carry (an op), if any.
   */
  function fold(s: CounterState, actor: string, ts: Hlc, own: [string, IdEntry][], forceQ: number, added?: [string, IdEntry]) {
    const f = s.folded.get(actor) ?? F0;
    let { q, p, n, m } = f;
    const newMarks: [string, Mark][] = [];
    const horizon = ts.wall - limits.idWindowMs;
    for (let i = 0; i < own.length; i++) {
      const [x, e] = own[i]!;
      if (!(e.t.wall < horizon || own.length - i > limits.idLiveMax || e.q <= forceQ)) break;
      const w = winner(s.live.get(x) ?? new Map());
      const counted = !s.marks.has(x) && (w === undefined || w[0] === actor);
      if (counted) {
        if (e.d > 0) p = addChecked(p, e.d);
        else n = addChecked(n, -e.d);
        newMarks.push([x, { q: e.q, w: ts.wall }]); // aged from the fold, not the op
      }
      q = e.q;
    }
    // Prune own marks: folded more than a window ago, or beyond the count bound (oldest first).
    const ownMarks: [string, Mark][] = [];
    for (const [x, row] of s.marks) {
      const mk = row.get(actor);
      if (mk !== undefined) ownMarks.push([x, mk]);
    }
    ownMarks.push(...newMarks);
    ownMarks.sort((u, v) => u[1].q - v[1].q);
    // A mark whose id still has a twin entry live in this view is kept (age notwithstanding):
    // pruning it would let that loser count until its own coordinator folds it.
    const twinLive = (x: string) => [...(s.live.get(x)?.keys() ?? [])].some((a) => a !== actor);
    for (let i = 0; i < ownMarks.length; i++) {
      const [x, mk] = ownMarks[i]!;
      if (!((mk.w < horizon && !twinLive(x)) || ownMarks.length - i > limits.idMarksMax)) break;
      m = mk.q;
    }
    const nf: Folded = { q, p, n, m };
    const delta: CounterState = {
      plain: new Map(),
      folded: foldedCompare(nf, f) === 0 ? new Map() : new Map([[actor, nf]]),
      live: added !== undefined && added[1].q > q ? new Map([[added[0], new Map([[actor, added[1]]])]]) : new Map(),
      marks: new Map(newMarks.filter(([, mk]) => mk.q > m).map(([x, mk]) => [x, new Map([[actor, mk]])])),
    };
    return { state: merge(s, delta), delta };
  }

  function ownEntries(s: CounterState, actor: string): [string, IdEntry][] {
    const own: [string, IdEntry][] = [];
    for (const [x, row] of s.live) {
      const e = row.get(actor);
      if (e !== undefined) own.push([x, e]);
    }
    return own.sort((u, v) => u[1].q - v[1].q);
  }

  /**
   * Folds, as not counted, this actor's live entries that lost to a twin another coordinator
   * has already counted (its mark is in view), so the twin's mark can later be pruned without
   * the loser coming back to life. Run by a replica when a merge brings such a mark; returns
   * null when there is nothing to fold. Without it a loser lived until its coordinator's next
   * id'd op, and a pruned mark then let it count twice.
   */
  function settleTwins(s: CounterState, actor: string, ts: Hlc): { state: CounterState; delta: CounterState } | null {
    const own = ownEntries(s, actor);
    let forceQ = 0;
    for (const [x, e] of own) {
      const marked = s.marks.get(x);
      if (marked !== undefined && [...marked.keys()].some((a) => a !== actor)) forceQ = Math.max(forceQ, e.q);
    }
    if (forceQ === 0) return null;
    return fold(s, actor, ts, own, forceQ);
  }

  const counter: CrdtType<CounterState, CounterOp, number> = {
    name: 'counter',
    tag: 1,
    empty: () => EMPTY,
    apply(state: CounterState, op: CounterOp, actor: string, env: CrdtEnv) {
      if (op.id !== undefined) return applyId(state, op.increment, op.id, actor, env.ts);
      const cur = state.plain.get(actor) ?? { p: 0, n: 0 };
      const next: PN = op.increment > 0
        ? { p: addChecked(cur.p, op.increment), n: cur.n }
        : { p: cur.p, n: addChecked(cur.n, -op.increment) };
      const delta: CounterState = { ...EMPTY, plain: new Map([[actor, next]]) };
      return { state: merge(state, delta), delta };
    },
    merge,
    value,
    equal: (a, b) => bytesEqual(counter.encode(a), counter.encode(b)),
    encode: (s) =>
      frame(counter.tag, [
        sortedEntries(s.plain).map(([a, { p, n }]) => [a, p, n]),
        sortedEntries(s.folded).map(([a, { q, p, n, m }]) => [a, q, p, n, m]),
        sortedEntries(s.live).map(([x, row]) => [x, sortedEntries(row).map(([a, e]) => [a, e.q, [e.t.wall, e.t.logical], e.d])]),
        sortedEntries(s.marks).map(([x, row]) => [x, sortedEntries(row).map(([a, mk]) => [a, mk.q, mk.w])]),
      ]),
    decode: (bytes) => decodeBody(unframe(counter.tag, 'counter', bytes)),
    parseOp,
    settle: settleTwins,
  };
  return counter;
}

const N = 'counter';

function tuple(x: unknown, len: number, what: string): unknown[] {
  const l = arr(x, N, what);
  need(l.length === len, N, `${what} has ${l.length} fields, expected ${len}`);
  return l;
}

function byKey<T>(x: unknown, what: string, one: (l: unknown[]) => T, len: number): Map<string, T> {
  const out = new Map<string, T>();
  for (const e of arr(x, N, what)) {
    const l = tuple(e, len, `${what} entry`);
    out.set(str(l[0], N, `${what} key`), one(l));
  }
  needSorted([...out.keys()], N, what);
  return out;
}

function decodeBody(body: unknown): CounterState {
  const [pl, fo, li, ma] = tuple(body, 4, 'body');
  const plain = byKey(pl, 'plain', (l) => ({ p: uint(l[1], N, 'p'), n: uint(l[2], N, 'n') }), 3);
  const folded = byKey(fo, 'folded', (l) => {
    const f = { q: uint(l[1], N, 'q'), p: uint(l[2], N, 'p'), n: uint(l[3], N, 'n'), m: uint(l[4], N, 'm') };
    need(f.m <= f.q, N, 'mark watermark above fold watermark');
    return f;
  }, 5);
  const fq = (a: string): Folded => folded.get(a) ?? F0;
  const live = byKey(li, 'live', (l) => {
    const row = byKey(l[1], 'live row', (r) => {
      const d = r[3];
      need(typeof d === 'number' && Number.isSafeInteger(d) && d !== 0, N, 'amount is not a non-zero safe integer');
      return { q: uint(r[1], N, 'seq'), t: hlcFrom(r[2], N, 'ts'), d };
    }, 4);
    for (const [a, e] of row) need(e.q > fq(a).q, N, 'live entry below its fold watermark');
    need(row.size > 0, N, 'empty live row');
    return row as ByActor<IdEntry>;
  }, 2);
  const marks = byKey(ma, 'marks', (l) => {
    const row = byKey(l[1], 'mark row', (r) => ({ q: uint(r[1], N, 'seq'), w: uint(r[2], N, 'wall') }), 3);
    for (const [a, mk] of row) need(mk.q > fq(a).m && mk.q <= fq(a).q, N, 'mark outside its watermarks');
    need(row.size > 0, N, 'empty mark row');
    return row as ByActor<Mark>;
  }, 2);
  return { plain, folded, live, marks };
}

export function parseCounterOp(json: unknown, what = 'counter op', allowId = true): CounterOp {
  if (!isPlainObject(json)) badOp(`${what} must be an object like {"increment": 1}`);
  onlyKeys(json, allowId ? ['increment', 'id'] : ['increment'], what);
  const inc = json['increment'];
  // 0 is rejected: it would cost a write and (with an id) a table entry for no effect.
  if (typeof inc !== 'number' || !Number.isSafeInteger(inc) || inc === 0) {
    badOp(`${what}.increment must be a non-zero safe integer (negative decrements)`);
  }
  const id = json['id'];
  if (id === undefined) return { increment: inc };
  if (typeof id !== 'string' || id.length === 0 || utf8Length(id) > COUNTER_ID_MAX_BYTES) {
    badOp(`${what}.id must be a non-empty string of at most ${COUNTER_ID_MAX_BYTES} bytes`);
  }
  return { increment: inc, id };
}

const parseOp = (json: unknown): CounterOp => parseCounterOp(json);

/** A counter with other limits (tests use small ones to exercise folding). Same tag/encoding. */
export const makeCounterType = makeCounter;
export const counter = makeCounter(COUNTER_LIMITS);
