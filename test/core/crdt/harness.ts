// Model-based test harness after riak_dt's crdt_statem_eqc: random interleavings of ops at
// 3–5 replicas, full-state merges, and delta deliveries (any earlier delta, so duplicated and
// reordered), checking every replica's value against a simple reference model after each step
// and "merge all → all equal and equal to the model" at the end.

import fc from 'fast-check';
import { expect } from 'vitest';
import { CrdtOpError } from '../../../src/core/crdt/types.ts';
import type { CrdtType } from '../../../src/core/crdt/types.ts';
import type { Hlc } from '../../../src/core/types.ts';

export type Cmd<RawOp> =
  | { readonly k: 'op'; readonly r: number; readonly op: RawOp }
  | { readonly k: 'sync'; readonly from: number; readonly to: number }
  | { readonly k: 'delta'; readonly pick: number; readonly to: number };

export interface Model<M, RawOp> {
  empty(): M;
  /** The op at replica r (actor actorOf(r)) at global tick; 'precondition' if it must fail. */
  apply(m: M, op: RawOp, r: number, tick: number): { m: M; delta: M } | 'precondition';
  merge(a: M, b: M): M;
  value(m: M): unknown;
}

export interface System<S, RawOp, M> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly type: CrdtType<S, any, unknown>;
  readonly op: fc.Arbitrary<RawOp>;
  readonly model: Model<M, RawOp>;
  /** Client JSON → op passed to parseOp (lets RawOp be richer than the JSON). */
  toJson(op: RawOp): unknown;
  /** env.ctx for the op, if the system tests observed contexts. */
  readonly wallStepMs?: number;
}

export const actorOf = (r: number): string => `n${r}`;
export const tsOf = (tick: number, stepMs = 1000): Hlc => ({ wall: 1_700_000_000_000 + tick * stepMs, logical: tick % 3 });

export function cmdsArb<RawOp>(op: fc.Arbitrary<RawOp>, replicas: number, maxLength = 40): fc.Arbitrary<Cmd<RawOp>[]> {
  const r = fc.nat(replicas - 1);
  return fc.array(
    fc.oneof(
      { weight: 5, arbitrary: fc.record({ k: fc.constant('op' as const), r, op }) },
      { weight: 2, arbitrary: fc.record({ k: fc.constant('sync' as const), from: r, to: r }) },
      { weight: 3, arbitrary: fc.record({ k: fc.constant('delta' as const), pick: fc.nat(), to: r }) },
    ),
    { maxLength },
  );
}

export interface RunResult<S> {
  states: S[];
  values: unknown[];
}

/** Runs the commands on the implementation and the model, asserting they agree at each step. */
export function run<S, RawOp, M>(sys: System<S, RawOp, M>, replicas: number, cmds: readonly Cmd<RawOp>[]): RunResult<S> {
  const { type, model } = sys;
  const states: S[] = Array.from({ length: replicas }, () => type.empty());
  const views: M[] = Array.from({ length: replicas }, () => model.empty());
  const deltas: { d: S; md: M }[] = [];
  let tick = 0;
  for (const c of cmds) {
    if (c.k === 'op') {
      tick++;
      const op = type.parseOp(sys.toJson(c.op));
      const expected = model.apply(views[c.r]!, c.op, c.r, tick);
      let res: { state: S; delta: S } | undefined;
      try {
        res = type.apply(states[c.r]!, op, actorOf(c.r), { ts: tsOf(tick, sys.wallStepMs) });
      } catch (e) {
        if (!(e instanceof CrdtOpError) || e.code !== 'PRECONDITION') throw e;
      }
      if (expected === 'precondition') {
        expect(res, 'apply should have failed its precondition').toBeUndefined();
        continue;
      }
      expect(res, 'apply failed a precondition the model accepts').toBeDefined();
      // Delta law: old ⊔ delta = new.
      expect(type.equal(type.merge(states[c.r]!, res!.delta), res!.state)).toBe(true);
      states[c.r] = res!.state;
      views[c.r] = expected.m;
      deltas.push({ d: res!.delta, md: expected.delta });
    } else if (c.k === 'sync') {
      states[c.to] = type.merge(states[c.to]!, states[c.from]!);
      views[c.to] = model.merge(views[c.to]!, views[c.from]!);
    } else {
      if (deltas.length === 0) continue;
      const { d, md } = deltas[c.pick % deltas.length]!;
      states[c.to] = type.merge(states[c.to]!, d);
      views[c.to] = model.merge(views[c.to]!, md);
    }
    for (let i = 0; i < replicas; i++) expect(type.value(states[i]!), `replica ${i} after ${c.k}`).toEqual(model.value(views[i]!));
  }
  return { states, values: views.map((v) => model.value(v)) };
}

/** Merges everything everywhere; asserts convergence to one state equal to the model's. */
export function convergeAll<S, RawOp, M>(sys: System<S, RawOp, M>, replicas: number, cmds: readonly Cmd<RawOp>[]): void {
  const { states } = run(sys, replicas, cmds);
  // Also rebuild the model's full view by replaying with everything synced (union of views).
  const all = states.reduce((a, b) => sys.type.merge(a, b), sys.type.empty());
  const merged = states.map((s) => states.reduce((a, b) => sys.type.merge(a, b), s));
  for (const s of merged) expect(sys.type.equal(s, all)).toBe(true);
  for (const s of merged) expect(sys.type.encode(s)).toEqual(sys.type.encode(all));
  const mv = replayModel(sys, replicas, cmds);
  expect(sys.type.value(all)).toEqual(sys.model.value(mv));
}

function replayModel<S, RawOp, M>(sys: System<S, RawOp, M>, replicas: number, cmds: readonly Cmd<RawOp>[]): M {
  const views: M[] = Array.from({ length: replicas }, () => sys.model.empty());
  const deltas: M[] = [];
  let tick = 0;
  for (const c of cmds) {
    if (c.k === 'op') {
      tick++;
      const r = sys.model.apply(views[c.r]!, c.op, c.r, tick);
      if (r === 'precondition') continue;
      views[c.r] = r.m;
      deltas.push(r.delta);
    } else if (c.k === 'sync') views[c.to] = sys.model.merge(views[c.to]!, views[c.from]!);
    else if (deltas.length > 0) views[c.to] = sys.model.merge(views[c.to]!, deltas[c.pick % deltas.length]!);
  }
  return views.reduce((a, b) => sys.model.merge(a, b), sys.model.empty());
}

/** States from random histories (not arbitrary structures), for the join laws. */
export function statesArb<S, RawOp, M>(sys: System<S, RawOp, M>, replicas = 3): fc.Arbitrary<S[]> {
  return cmdsArb(sys.op, replicas, 30).map((cmds) => run(sys, replicas, cmds).states);
}

export function checkLaws<S>(type: CrdtType<S, unknown, unknown>, [a, b, c]: S[]): void {
  const eq = (x: S, y: S) => expect(type.encode(x)).toEqual(type.encode(y));
  eq(type.merge(a!, b!), type.merge(b!, a!));
  eq(type.merge(type.merge(a!, b!), c!), type.merge(a!, type.merge(b!, c!)));
  eq(type.merge(a!, a!), a!);
  eq(type.merge(a!, type.empty()), a!);
  // Canonical round trip: decode(encode(s)) is equal and re-encodes to the same bytes.
  const back = type.decode(type.encode(a!));
  expect(type.equal(back, a!)).toBe(true);
  eq(back, a!);
  expect(type.value(back)).toEqual(type.value(a!));
}

// --- a tag-based observed-remove reference (tombstones, no dots): the "simple model" -----

export interface Tag {
  readonly id: string;
  readonly field: string;
  readonly elem: string;
  readonly actor: string;
  readonly payload: unknown;
  readonly tick: number;
}
export interface TagView {
  readonly added: ReadonlyMap<string, Tag>;
  readonly removed: ReadonlySet<string>;
}
export const tvEmpty = (): TagView => ({ added: new Map(), removed: new Set() });
export const tvMerge = (a: TagView, b: TagView): TagView => ({
  added: new Map([...a.added, ...b.added]),
  removed: new Set([...a.removed, ...b.removed]),
});
export function present(v: TagView, pred: (t: Tag) => boolean = () => true): Tag[] {
  return [...v.added.values()].filter((t) => !v.removed.has(t.id) && pred(t));
}
/** One op's effect: new tags, and the tags it observed (and so removes/supersedes). */
export function tvOp(v: TagView, add: Tag[], observed: Tag[]): { m: TagView; delta: TagView } {
  const delta: TagView = { added: new Map(add.map((t) => [t.id, t])), removed: new Set(observed.map((t) => t.id)) };
  return { m: tvMerge(v, delta), delta };
}
