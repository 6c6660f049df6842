import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { covers } from '../../src/core/dvv.ts';
import { hlcCompare } from '../../src/core/hlc.ts';
import {
  contextOf,
  emptyObject,
  equalObjects,
  isExpired,
  lwwWinner,
  sync,
  update,
  visibleSiblings,
  type WriteInput,
} from '../../src/core/object.ts';
import type { ConflictMode, Sibling, VersionedObject } from '../../src/core/types.ts';
import { expectedSurvivors, fullSync, historyArb, runHistory, sameDot, type WriteRecord } from './history.ts';

const modeArb = fc.constantFrom<ConflictMode>('siblings', 'lww');

/** Three states from one run (possibly the same one), as anti-entropy would meet them. */
const tripleArb = fc
  .tuple(historyArb, modeArb, fc.nat(), fc.nat(), fc.nat())
  .map(([{ replicas, ops }, mode, i, j, k]) => {
    const { reachable } = runHistory(replicas, ops, mode);
    const pick = (n: number): VersionedObject => reachable[n % reachable.length]!;
    return { mode, a: pick(i), b: pick(j), c: pick(k) };
  });

const write = (wall: number, byte: number, extra: Partial<WriteInput> = {}): WriteInput => ({
  value: Uint8Array.of(byte),
  contentType: 'application/octet-stream',
  tombstone: false,
  expiresAt: null,
  ts: { wall, logical: 0 },
  ...extra,
});

const dotsOf = (obj: VersionedObject): string[] => obj.siblings.map((s) => `${s.dot[0]}:${s.dot[1]}`);
const same = (x: VersionedObject, y: VersionedObject): void => {
  expect(equalObjects(x, y)).toBe(true);
  expect(x).toEqual(y); // canonical: equal states are structurally equal too
};

describe('sync laws (objects reachable by update + sync)', () => {
  it('is commutative, associative and idempotent in both modes', () => {
    fc.assert(
      fc.property(tripleArb, ({ mode, a, b, c }) => {
        same(sync(a, b, mode), sync(b, a, mode));
        same(sync(sync(a, b, mode), c, mode), sync(a, sync(b, c, mode), mode));
        same(sync(a, a, mode), a);
        same(sync(sync(a, b, mode), b, mode), sync(a, b, mode));
      }),
      { numRuns: 200 },
    );
  });

  it('returns a side itself when that side already is the merge (its stored bytes stay valid)', () => {
    fc.assert(
      fc.property(tripleArb, ({ a, b }) => {
        const merged = sync(a, b, 'siblings');
        // Whenever the merge equals one input, that input object is what comes back...
        if (equalObjects(merged, a)) expect(merged).toBe(a);
        else if (equalObjects(merged, b)) expect(merged).toBe(b);
        // ...and merging the result with either side again builds nothing new.
        for (const [x, y] of [[merged, a], [b, merged]] as const) {
          const again = sync(x, y, 'siblings');
          expect(again === x || again === y).toBe(true);
          same(again, merged);
        }
      }),
      { numRuns: 200 },
    );
    const base = update(emptyObject(), 'n1', null, write(1, 1), 'siblings').obj;
    const next = update(base, 'n1', contextOf(base), write(2, 2), 'siblings').obj;
    expect(sync(base, next, 'siblings')).toBe(next);
    expect(sync(next, base, 'siblings')).toBe(next);
  });
});

describe('model: random histories of updates and syncs across 3–5 replicas', () => {
  /** Siblings are exactly the seen writes that no seen write's context saw (siblings) or their LWW max. */
  const checkState = (obj: VersionedObject, writes: readonly WriteRecord[], mode: ConflictMode): void => {
    const expected = expectedSurvivors(obj.clock, writes).map((w) => w.sibling);
    if (mode === 'siblings') {
      expect(dotsOf(obj).sort()).toEqual(dotsOf({ clock: {}, siblings: expected }).sort());
    } else {
      const seen = writes.filter((w) => covers(obj.clock, w.sibling.dot)).map((w) => w.sibling);
      expect(obj.siblings).toHaveLength(seen.length === 0 ? 0 : 1);
      if (seen.length > 0) {
        const winner = obj.siblings[0]!;
        expect(winner).toEqual(lwwWinner(seen));
        // The winner is never a write that some later write's context saw.
        expect(expected.some((s) => sameDot(s.dot, winner.dot))).toBe(true);
      }
    }
  };

  it('every replica, after every step, holds exactly the writes not superseded', () => {
    fc.assert(
      fc.property(historyArb, modeArb, ({ replicas, ops }, mode) => {
        runHistory(replicas, ops, mode, (run) => {
          for (const obj of run.states) checkState(obj, run.writes, mode);
        });
      }),
      { numRuns: 120 },
    );
  });

  it('a full sync leaves every replica equal, holding every write not superseded', () => {
    fc.assert(
      fc.property(historyArb, modeArb, ({ replicas, ops }, mode) => {
        const run = runHistory(replicas, ops, mode);
        const final = fullSync(run.states, mode);
        for (const obj of final) same(obj, final[0]!);
        // Everything written has been seen by everyone now.
        for (const w of run.writes) expect(covers(final[0]!.clock, w.sibling.dot)).toBe(true);
        checkState(final[0]!, run.writes, mode);
      }),
      { numRuns: 200 },
    );
  });

  it('a write is timestamped after everything its context saw, whatever the physical clocks', () => {
    fc.assert(
      fc.property(historyArb, modeArb, ({ replicas, ops }, mode) => {
        const { writes } = runHistory(replicas, ops, mode);
        for (const w of writes) {
          for (const d of w.saw) {
            const earlier = writes.find((x) => sameDot(x.sibling.dot, d))!;
            expect(hlcCompare(w.sibling.ts, earlier.sibling.ts)).toBe(1);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('update', () => {
  it('without a context, a concurrent write becomes a sibling; with one, it supersedes', () => {
    const a = update(emptyObject(), 'n1', null, write(5, 1), 'siblings').obj;
    const b = update(a, 'n1', null, write(6, 2), 'siblings').obj;
    expect(dotsOf(b)).toEqual(['n1:1', 'n1:2']);
    const c = update(b, 'n2', contextOf(b), write(7, 3), 'siblings');
    expect(dotsOf(c.obj)).toEqual(['n2:1']);
    expect(c.obj.clock).toEqual({ n1: 2, n2: 1 });
  });

  it('takes a dot above what the context has seen from this actor, even if this replica is behind', () => {
    const elsewhere = update(update(emptyObject(), 'n1', null, write(1, 1), 'siblings').obj, 'n1', null, write(2, 2), 'siblings').obj;
    const { sibling, obj } = update(emptyObject(), 'n1', contextOf(elsewhere), write(3, 3), 'siblings');
    expect(sibling.dot).toEqual(['n1', 3]);
    // The context's writes are superseded: syncing with their replica does not bring them back.
    expect(dotsOf(sync(obj, elsewhere, 'siblings'))).toEqual(['n1:3']);
  });

  it('lww: a write made with a context wins over what it saw even when its clock runs behind', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 1000 }), (seenWall, skewedWall) => {
        const old = update(emptyObject(), 'n1', null, write(seenWall, 1), 'lww').obj;
        const { obj, sibling } = update(emptyObject(), 'n2', contextOf(old), write(skewedWall, 2), 'lww');
        expect(hlcCompare(sibling.ts, old.siblings[0]!.ts)).toBe(1);
        for (const merged of [sync(old, obj, 'lww'), sync(obj, old, 'lww')]) {
          expect(merged.siblings).toHaveLength(1);
          expect(merged.siblings[0]!.value).toEqual(Uint8Array.of(2));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('bumps the timestamp above every sibling it replaces, even if the context under-reports', () => {
    const old = update(emptyObject(), 'n1', null, write(50, 1), 'siblings').obj;
    const ctx = { clock: old.clock, maxTs: { wall: 0, logical: 0 } };
    const { sibling } = update(old, 'n2', ctx, write(10, 2), 'siblings');
    expect(sibling.ts).toEqual({ wall: 50, logical: 1 });
  });

  it('lww: concurrent writes resolve to the same winner in every merge order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 5 }), (walls) => {
        const replicas = walls.map((wall, i) => update(emptyObject(), `n${i}`, null, write(wall, i), 'lww').obj);
        const forward = replicas.reduce((acc, r) => sync(acc, r, 'lww'), emptyObject());
        const backward = [...replicas].reverse().reduce((acc, r) => sync(r, acc, 'lww'), emptyObject());
        same(forward, backward);
        const maxWall = Math.max(...walls);
        // Highest ts wins; among equal ts the highest dot (actor id order) wins.
        const expectedIndex = walls.lastIndexOf(maxWall);
        expect(forward.siblings[0]!.value).toEqual(Uint8Array.of(expectedIndex));
      }),
      { numRuns: 200 },
    );
  });
});

describe('reads', () => {
  const live: Sibling = {
    value: Uint8Array.of(1),
    contentType: 'text/plain',
    tombstone: false,
    expiresAt: 100,
    ts: { wall: 1, logical: 0 },
    dot: ['n1', 1],
  };
  const dead: Sibling = { ...live, value: new Uint8Array(), tombstone: true, expiresAt: null, dot: ['n2', 1] };

  it('hides tombstones and expired siblings; expiry is inclusive of its instant', () => {
    const obj: VersionedObject = { clock: { n1: 1, n2: 1 }, siblings: [live, dead] };
    expect(visibleSiblings(obj, 99)).toEqual([live]);
    expect(isExpired(live, 100)).toBe(true);
    expect(visibleSiblings(obj, 100)).toEqual([]);
  });

  it('contextOf carries the clock and the newest sibling timestamp', () => {
    const obj: VersionedObject = { clock: { n1: 1, n2: 1 }, siblings: [live, { ...dead, ts: { wall: 1, logical: 4 } }] };
    expect(contextOf(obj)).toEqual({ clock: obj.clock, maxTs: { wall: 1, logical: 4 } });
    expect(contextOf(emptyObject()).maxTs).toEqual({ wall: 0, logical: 0 });
  });
});
