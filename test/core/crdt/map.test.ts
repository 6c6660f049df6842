import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { map } from '../../../src/core/crdt/index.ts';
import type { MapState } from '../../../src/core/crdt/index.ts';
import { CrdtOpError } from '../../../src/core/crdt/types.ts';
import { actorOf, checkLaws, cmdsArb, convergeAll, present, statesArb, tsOf, tvEmpty, tvMerge, tvOp } from './harness.ts';
import type { System, Tag, TagView } from './harness.ts';

// Each name has one type, so the model needs no type conflicts (tested separately below).
const FIELDS = { c1: 'counter', c2: 'counter', s: 'set', r: 'register', f: 'flag' } as const;
type Name = keyof typeof FIELDS;
const NAMES = Object.keys(FIELDS) as Name[];
const ELEMS = ['a', 'b', 'c'];

type Upd =
  | { name: 'c1' | 'c2'; op: { increment: number } }
  | { name: 's'; op: { add?: string[]; remove?: string[] } }
  | { name: 'r'; op: { assign: string } }
  | { name: 'f'; op: { enable: true } | { disable: true } };
interface RawMapOp {
  update: Upd[];
  remove: Name[];
}

const updArb: fc.Arbitrary<Upd> = fc.oneof(
  fc.record({ name: fc.constantFrom('c1' as const, 'c2' as const), op: fc.record({ increment: fc.integer({ min: -3, max: 5 }).filter((n) => n !== 0) }) }),
  fc.record({
    name: fc.constant('s' as const),
    op: fc.oneof(fc.record({ add: fc.subarray(ELEMS, { minLength: 1 }) }), fc.record({ remove: fc.subarray(ELEMS, { minLength: 1 }) })),
  }),
  fc.record({ name: fc.constant('r' as const), op: fc.record({ assign: fc.constantFrom('x', 'y', 'z') }) }),
  fc.record({ name: fc.constant('f' as const), op: fc.constantFrom({ enable: true as const }, { disable: true as const }) }),
);

const mapOpArb: fc.Arbitrary<RawMapOp> = fc
  .record({ update: fc.uniqueArray(updArb, { selector: (u) => u.name, maxLength: 3 }), remove: fc.subarray(NAMES, { maxLength: 2 }) })
  .map(({ update, remove }) => ({ update, remove: remove.filter((n) => !update.some((u) => u.name === n)) }))
  .filter((o) => o.update.length + o.remove.length > 0);

// Reference: every update is a tag on its field (set adds: one per element); an update
// tombstones the tags it supersedes, a remove the tags it observed — tombstones, no dots.
// A counter field keeps one running total per actor (a causal counter): each update's tag
// carries the actor's total so far, so a replica that receives a later update's delta without
// the ones before it already holds that actor's whole total. Per actor, the newest tag counts.
function counterValue(tags: readonly Tag[]): number {
  const newest = new Map<string, Tag>();
  for (const t of tags) {
    const cur = newest.get(t.actor);
    if (cur === undefined || t.tick > cur.tick) newest.set(t.actor, t);
  }
  let sum = 0;
  for (const t of newest.values()) sum += t.payload as number;
  return sum;
}

function modelValue(v: TagView): unknown {
  const out: Record<string, unknown> = {};
  for (const name of NAMES) {
    const p = present(v, (t) => t.field === name);
    if (p.length === 0) continue;
    const type = FIELDS[name];
    const value =
      type === 'counter' ? counterValue(p)
      : type === 'set' ? [...new Set(p.map((t) => t.elem))].sort()
      : type === 'register' ? p.reduce((x, y) => (y.tick > x.tick ? y : x)).payload
      : true;
    out[name] = { type, value };
  }
  return out;
}

function modelApply(v: TagView, op: RawMapOp, r: number, tick: number): { m: TagView; delta: TagView } | 'precondition' {
  const actor = actorOf(r);
  const observed: Tag[] = [];
  const add: Tag[] = [];
  const tag = (field: string, elem: string, payload: unknown): Tag => ({ id: `${tick}/${field}/${elem}`, field, elem, actor, payload, tick });
  for (const name of op.remove) {
    const p = present(v, (t) => t.field === name);
    if (p.length === 0) return 'precondition';
    observed.push(...p);
  }
  for (const u of op.update) {
    const inField = (t: Tag) => t.field === u.name;
    if (u.name === 'c1' || u.name === 'c2') {
      const own = present(v, (t) => inField(t) && t.actor === actor);
      observed.push(...own);
      add.push(tag(u.name, '', ((own[0]?.payload as number | undefined) ?? 0) + u.op.increment));
    } else if (u.name === 's') {
      for (const e of u.op.remove ?? []) {
        const p = present(v, (t) => inField(t) && t.elem === e);
        if (p.length === 0) return 'precondition';
        observed.push(...p);
      }
      for (const e of u.op.add ?? []) {
        observed.push(...present(v, (t) => inField(t) && t.elem === e));
        add.push(tag('s', e, null));
      }
    } else if (u.name === 'r') {
      observed.push(...present(v, inField));
      add.push(tag('r', '', u.op.assign));
    } else {
      observed.push(...present(v, inField));
      if ('enable' in u.op) add.push(tag('f', '', null));
    }
  }
  return tvOp(v, add, observed);
}

const mapSys: System<MapState, RawMapOp, TagView> = {
  type: map,
  op: mapOpArb,
  toJson: (o) => ({
    ...(o.update.length ? { update: Object.fromEntries(o.update.map((u) => [u.name, { type: FIELDS[u.name], op: u.op }])) } : {}),
    ...(o.remove.length ? { remove: o.remove } : {}),
  }),
  model: { empty: tvEmpty, merge: tvMerge, value: modelValue, apply: modelApply },
};

const RUNS = { numRuns: 150 };

describe('map', () => {
  it('merge is commutative, associative, idempotent; encoding round-trips', () => {
    fc.assert(fc.property(statesArb(mapSys), (states) => checkLaws(map, states)), RUNS);
  });

  it('matches the reference model under interleaved ops, merges, duplicated/reordered deltas', () => {
    fc.assert(fc.property(cmdsArb(mapSys.op, 4), (cmds) => convergeAll(mapSys, 4, cmds)), RUNS);
  });

  const env = { ts: tsOf(1) };
  const up = (s: MapState, json: unknown, actor: string, ctx?: Record<string, number>) =>
    map.apply(s, map.parseOp(json), actor, { ...env, ctx }).state;

  it('value shape; a concurrent update keeps a removed field', () => {
    let a = up(map.empty(), { update: { n: { type: 'counter', op: { increment: 5 } }, tags: { type: 'set', op: { add: ['x'] } } } }, 'a');
    expect(map.value(a)).toEqual({ n: { type: 'counter', value: 5 }, tags: { type: 'set', value: ['x'] } });
    const b = up(a, { remove: ['tags'] }, 'b', map.contextOf(a));
    expect(map.value(b)).toEqual({ n: { type: 'counter', value: 5 } });
    a = up(a, { update: { tags: { type: 'set', op: { add: ['y'] } } } }, 'a');
    expect(map.value(map.merge(a, b))).toEqual({ n: { type: 'counter', value: 5 }, tags: { type: 'set', value: ['y'] } });
  });

  it('nested maps', () => {
    const s = up(map.empty(), { update: { m: { type: 'map', op: { update: { f: { type: 'flag', op: { enable: true } } } } } } }, 'a');
    expect(map.value(s)).toEqual({ m: { type: 'map', value: { f: { type: 'flag', value: true } } } });
    expect(map.equal(map.decode(map.encode(s)), s)).toBe(true);
    const t = up(s, { update: { m: { type: 'map', op: { remove: ['f'] } } } }, 'a');
    expect(map.value(t)).toEqual({});
  });

  it('a name updated with two types concurrently reports conflicts; locally it is a PRECONDITION', () => {
    const a = up(map.empty(), { update: { x: { type: 'counter', op: { increment: 1 } } } }, 'a');
    const b = up(map.empty(), { update: { x: { type: 'flag', op: { enable: true } } } }, 'b');
    expect(map.value(map.merge(a, b))).toEqual({ x: { type: 'counter', value: 1, conflicts: [{ type: 'flag', value: true }] } });
    expect(() => up(a, { update: { x: { type: 'set', op: { add: ['q'] } } } }, 'a')).toThrow(/holds a counter/);
  });

  it('a field named __proto__ is an ordinary field', () => {
    const s = up(map.empty(), JSON.parse('{"update":{"__proto__":{"type":"register","op":{"assign":"v"}}}}'), 'a');
    expect(Object.keys(map.value(s))).toEqual(['__proto__']);
  });

  it('remove of a field the context never saw → PRECONDITION', () => {
    const s = up(map.empty(), { update: { n: { type: 'counter', op: { increment: 1 } } } }, 'a');
    try {
      up(s, { remove: ['n'] }, 'b', {});
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CrdtOpError);
      expect((e as CrdtOpError).code).toBe('PRECONDITION');
    }
  });

  it('parseOp rejects wrong shapes with messages', () => {
    const cases: [unknown, RegExp][] = [
      [{ update: { n: { type: 'counter', op: { increment: 1.5 } } } }, /non-zero safe integer/],
      [{ update: { n: { type: 'hyperloglog', op: {} } } }, /type must be one of/],
      [{ update: { n: { type: 'counter', op: { increment: 1 }, extra: 1 } } }, /unknown field "extra"/],
      [{ update: { n: { type: 'counter', op: { increment: 1, id: 'x' } } } }, /unknown field "id"/],
      [{ update: {}, junk: true }, /unknown field "junk"/],
      [{}, /nothing to update/],
      [{ remove: 'n' }, /array of field names/],
      [{ remove: [''] }, /field names/],
      [{ update: { n: { type: 'flag', op: { enable: true } } }, remove: ['n'] }, /both updated and removed/],
      [[], /must be an object/],
    ];
    for (const [json, msg] of cases) expect(() => map.parseOp(json), JSON.stringify(json)).toThrow(msg);
  });
});
