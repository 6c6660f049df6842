import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { flag, orset, register } from '../../../src/core/crdt/index.ts';
import { CrdtOpError } from '../../../src/core/crdt/types.ts';
import type { FlagState, SetState } from '../../../src/core/crdt/index.ts';
import { actorOf, checkLaws, cmdsArb, convergeAll, present, statesArb, tsOf, tvEmpty, tvMerge, tvOp } from './harness.ts';
import type { System, TagView } from './harness.ts';

const POOL = ['a', 'b', 'c', 'd'];
const RUNS = { numRuns: 150 };

type RawSetOp = { add: string[]; remove: string[] };
const setOpArb: fc.Arbitrary<RawSetOp> = fc
  .record({ add: fc.subarray(POOL), remove: fc.subarray(POOL) })
  .map(({ add, remove }) => ({ add, remove: remove.filter((e) => !add.includes(e)) }))
  .filter((o) => o.add.length + o.remove.length > 0);

// Reference: add-wins OR-set with tombstones — each add a unique tag; a remove (or re-add)
// tombstones the tags present at the replica.
const setSys: System<SetState, RawSetOp, TagView> = {
  type: orset,
  op: setOpArb,
  toJson: (o) => ({ ...(o.add.length ? { add: o.add } : {}), ...(o.remove.length ? { remove: o.remove } : {}) }),
  model: {
    empty: tvEmpty,
    merge: tvMerge,
    value: (v) => [...new Set(present(v).map((t) => t.elem))].sort(),
    apply(v, op, r, tick) {
      const observed = [];
      for (const e of op.remove) {
        const p = present(v, (t) => t.elem === e);
        if (p.length === 0) return 'precondition';
        observed.push(...p);
      }
      for (const e of op.add) observed.push(...present(v, (t) => t.elem === e));
      const add = op.add.map((e) => ({ id: `${tick}/${e}`, field: '', elem: e, actor: actorOf(r), payload: null, tick }));
      return tvOp(v, add, observed);
    },
  },
};

type RawFlagOp = 'enable' | 'disable';
const flagSys: System<FlagState, RawFlagOp, TagView> = {
  type: flag,
  op: fc.constantFrom('enable' as const, 'disable' as const),
  toJson: (o) => ({ [o]: true }),
  model: {
    empty: tvEmpty,
    merge: tvMerge,
    value: (v) => present(v).length > 0,
    apply: (v, op, r, tick) =>
      tvOp(v, op === 'enable' ? [{ id: `${tick}`, field: '', elem: '', actor: actorOf(r), payload: null, tick }] : [], present(v)),
  },
};

// Reference register: the assign with the greatest ts seen (ticks are unique, so no ties).
type RegView = readonly { tick: number; v: string }[];
const regSys: System<import('../../../src/core/crdt/register.ts').RegisterState, string, RegView> = {
  type: register,
  op: fc.constantFrom('x', 'y', 'z', ''),
  toJson: (v) => ({ assign: v }),
  model: {
    empty: () => [],
    merge: (a, b) => [...a, ...b],
    value: (m) => (m.length === 0 ? null : m.reduce((x, y) => (y.tick > x.tick ? y : x)).v),
    apply: (m, v, _r, tick) => ({ m: [...m, { tick, v }], delta: [{ tick, v }] }),
  },
};

for (const [name, sys, replicas] of [
  ['set', setSys, 4],
  ['flag', flagSys, 3],
  ['register', regSys, 5],
] as const) {
  describe(`${name}`, () => {
    it('merge is commutative, associative, idempotent; encoding round-trips', () => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      fc.assert(fc.property(statesArb(sys as System<any, any, any>), (states) => checkLaws(sys.type, states)), RUNS);
    });
    it('matches the reference model under interleaved ops, merges, duplicated/reordered deltas', () => {
      fc.assert(
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        fc.property(cmdsArb((sys as System<any, any, any>).op, replicas), (cmds) => convergeAll(sys as System<any, any, any>, replicas, cmds)),
        RUNS,
      );
    });
  });
}

const ts = tsOf(1);
const apply = <S>(t: { apply(s: S, op: never, a: string, env: never): { state: S } }, s: S, json: unknown, actor: string, ctx?: Record<string, number>) =>
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  (t as any).apply(s, (t as any).parseOp(json), actor, { ts, ctx }).state as S;

describe('set specifics', () => {
  it('concurrent add and remove of the same element: the add wins', () => {
    let a = apply(orset, orset.empty(), { add: ['x'] }, 'a');
    let b = orset.merge(orset.empty(), a);
    b = apply(orset, b, { remove: ['x'] }, 'b', orset.contextOf(b));
    a = apply(orset, a, { add: ['x'] }, 'a');
    expect(orset.value(orset.merge(a, b))).toEqual(['x']);
    expect(orset.value(orset.merge(b, a))).toEqual(['x']);
    // …while a remove that observed both adds removes it everywhere.
    const c = apply(orset, orset.merge(a, b), { remove: ['x'] }, 'c');
    expect(orset.value(orset.merge(a, c))).toEqual([]);
  });

  it('a remove takes only the dots the client context observed', () => {
    const a = apply(orset, orset.empty(), { add: ['x'] }, 'a');
    const seen = orset.contextOf(a); // the client read x at a
    const b = apply(orset, orset.empty(), { add: ['x'] }, 'b'); // a concurrent add elsewhere
    const both = orset.merge(a, b);
    const removed = apply(orset, both, { remove: ['x'] }, 'a', seen);
    expect(orset.value(removed)).toEqual(['x']); // b's unseen add survives
    expect([...removed.store.get('x')!.keys()]).toEqual(['b']);
    expect(orset.value(apply(orset, both, { remove: ['x'] }, 'a', orset.contextOf(both)))).toEqual([]);
  });

  it('a re-add supersedes the dots it observed: one dot per element after sequential adds', () => {
    const a = apply(orset, orset.empty(), { add: ['x'] }, 'a');
    const b = apply(orset, a, { add: ['x'] }, 'b');
    expect([...b.store.get('x')!]).toEqual([['b', 1]]);
  });

  it('remove of an element the context never saw present → PRECONDITION', () => {
    const s1 = apply(orset, orset.empty(), { add: ['x'] }, 'a');
    const err = (() => {
      try {
        apply(orset, s1, { remove: ['x'] }, 'a', {});
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CrdtOpError);
    expect((err as CrdtOpError).code).toBe('PRECONDITION');
    expect(() => apply(orset, s1, { remove: ['nope'] }, 'a')).toThrow(/not present/);
  });

  it('removed elements leave no tombstones', () => {
    let s = orset.empty();
    for (let i = 0; i < 50; i++) s = apply(orset, s, { add: [`e${i}`] }, 'a');
    const full = orset.encode(s).length;
    for (let i = 0; i < 50; i++) s = apply(orset, s, { remove: [`e${i}`] }, 'a');
    expect(orset.value(s)).toEqual([]);
    expect(orset.encode(s).length).toBeLessThan(full / 10);
    expect(s.store.size).toBe(0);
  });

  it('an add to a big set rebuilds only the added element; a delta already held changes nothing', () => {
    let s = orset.empty();
    for (let i = 0; i < 64; i++) s = apply(orset, s, { add: [`e${i}`] }, i % 2 ? 'a' : 'b');
    const { state, delta } = orset.apply(s, { add: ['e7'], remove: [] }, 'c', { ts: tsOf(1) });
    for (const [e, dots] of state.store) {
      if (e === 'e7') expect(dots).not.toBe(s.store.get(e));
      else expect(dots).toBe(s.store.get(e)); // shared, not copied
    }
    // A replica that already holds the delta (a duplicate or a late repair) gets its own store back.
    expect(orset.merge(state, delta).store).toBe(state.store);
    expect(orset.value(orset.merge(s, delta))).toEqual(orset.value(state));
  });

  it('parseOp rejects wrong shapes with messages', () => {
    for (const bad of [null, [], 'x', {}, { add: 'x' }, { add: [1] }, { add: ['x'], junk: 1 }, { add: ['x'], remove: ['x'] }, { add: ['é'.repeat(600)] }]) {
      expect(() => orset.parseOp(bad)).toThrow(CrdtOpError);
    }
    expect(() => orset.parseOp({ add: ['x'], junk: 1 })).toThrow(/unknown field "junk"/);
  });
});

describe('flag specifics', () => {
  it('enable wins over a concurrent disable; an observed disable sticks', () => {
    const a = apply(flag, flag.empty(), { enable: true }, 'a');
    const b = apply(flag, a, { disable: true }, 'b', flag.contextOf(a));
    const a2 = apply(flag, a, { enable: true }, 'a');
    expect(flag.value(flag.merge(a2, b))).toBe(true);
    expect(flag.value(flag.merge(a, b))).toBe(false);
  });
  it('parseOp', () => {
    expect(flag.parseOp({ enable: true })).toBe('enable');
    for (const bad of [{}, { enable: false }, { enable: true, disable: true }, { on: true }, 'enable']) expect(() => flag.parseOp(bad)).toThrow(CrdtOpError);
  });
});

describe('register specifics', () => {
  it('greater ts wins; equal ts broken by actor, the same way in either order', () => {
    const x = register.apply(null, { assign: 'x' }, 'a', { ts: { wall: 5, logical: 0 } }).state;
    const y = register.apply(null, { assign: 'y' }, 'b', { ts: { wall: 5, logical: 0 } }).state;
    expect(register.value(register.merge(x, y))).toBe('y');
    expect(register.value(register.merge(y, x))).toBe('y');
    const z = register.apply(null, { assign: 'z' }, 'a', { ts: { wall: 5, logical: 1 } }).state;
    expect(register.value(register.merge(y, z))).toBe('z');
  });
  it('an assign supersedes what its replica holds even if its clock is behind', () => {
    const ahead = register.apply(null, { assign: 'old' }, 'b', { ts: { wall: 900, logical: 0 } }).state;
    const r = register.apply(ahead, { assign: 'new' }, 'a', { ts: { wall: 100, logical: 0 } });
    expect(register.value(r.state)).toBe('new');
    expect(register.value(register.merge(ahead, r.delta))).toBe('new');
  });
  it('parseOp', () => {
    for (const bad of [{}, { assign: 1 }, { assign: 'x', ts: 1 }, null]) expect(() => register.parseOp(bad)).toThrow(CrdtOpError);
  });
});
