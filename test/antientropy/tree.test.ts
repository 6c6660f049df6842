// Laws of the tictac-style hash trees (core/aae.ts): XOR makes a tree a function of the key
// set alone, whatever the order of writes, and removing what was added leaves it empty.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AaeIndex,
  HashTree,
  SEGMENTS,
  diffKeyLists,
  elementHash,
  equalHash,
  objectLifetime,
  segmentOf,
  type KeyDigest,
} from '../../src/core/aae.ts';
import { keyHash } from '../../src/core/ring.ts';
import type { VersionedObject } from '../../src/core/types.ts';

const entry = fc.record({
  key: fc.string({ minLength: 1, maxLength: 8 }),
  state: fc.uint8Array({ minLength: 0, maxLength: 8 }),
});
const entries = fc.uniqueArray(entry, { selector: (e) => e.key, maxLength: 60 });

function hex(t: HashTree): string {
  return Buffer.from(t.branchHashes()).toString('hex');
}

function fill(items: readonly { key: string; state: Uint8Array }[]): AaeIndex {
  const idx = new AaeIndex(() => 'p');
  for (const e of items) idx.set('b', e.key, keyHash('b', e.key), elementHash('b', e.key, e.state));
  return idx;
}

describe('HashTree / AaeIndex', () => {
  it('the tree depends on the key set, not on the order of writes', () => {
    fc.assert(
      fc.property(entries, fc.integer(), (items, seed) => {
        const shuffled = [...items].sort((a, b) => ((a.key.length * 31 + seed) % 7) - ((b.key.length * 31 + seed) % 7));
        const a = fill(items);
        const b = fill(shuffled.reverse());
        expect(equalHash(a.root('p'), b.root('p'))).toBe(true);
        expect(hex(a.tree('p') ?? new HashTree())).toBe(hex(b.tree('p') ?? new HashTree()));
      }),
    );
  });

  it('inserting then removing every key leaves an empty tree', () => {
    fc.assert(
      fc.property(entries, (items) => {
        const idx = fill(items);
        for (const e of items) idx.set('b', e.key, keyHash('b', e.key), undefined);
        expect(idx.size).toBe(0);
        expect(idx.root('p')).toEqual({ hi: 0, lo: 0 });
        expect([...idx.partitions()]).toEqual([]);
      }),
    );
  });

  it('any history of writes and removals ends in the tree of the final states', () => {
    const op = fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd', 'e'), state: fc.option(fc.uint8Array({ maxLength: 4 }), { nil: undefined }) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const idx = new AaeIndex((_b, h) => (h % 3 === 0 ? 'x' : 'y'));
        const final = new Map<string, Uint8Array>();
        for (const [i, o] of ops.entries()) {
          const h = o.state === undefined ? undefined : elementHash('b', o.key, o.state);
          // Half the writes leave the key hash to the index (record), as the write hook does.
          if (i % 2 === 0) idx.set('b', o.key, keyHash('b', o.key), h);
          else idx.record('b', o.key, h);
          if (o.state === undefined) final.delete(o.key);
          else final.set(o.key, o.state);
        }
        const fresh = new AaeIndex((_b, h) => (h % 3 === 0 ? 'x' : 'y'));
        for (const [k, st] of final) fresh.set('b', k, keyHash('b', k), elementHash('b', k, st));
        expect(idx.size).toBe(final.size);
        expect([...idx.partitions()].sort()).toEqual([...fresh.partitions()].sort());
        for (const p of ['x', 'y']) {
          expect(idx.root(p)).toEqual(fresh.root(p));
          const all = Array.from({ length: SEGMENTS }, (_, i) => i);
          expect(idx.keysIn(p, all).map((e) => e.key).sort()).toEqual(fresh.keysIn(p, all).map((e) => e.key).sort());
        }
      }),
    );
  });

  it('segments holding several keys: any history ends in the key lists and roots of the final states', () => {
    // 3,000 keys over 1,024 segments: most segments hold two or more entries, and writes,
    // overwrites and removals hit the first, middle and last of them.
    const op = fc.record({ key: fc.integer({ min: 0, max: 2999 }), state: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }) });
    fc.assert(
      fc.property(fc.array(op, { minLength: 2000, maxLength: 6000 }), (ops) => {
        const idx = new AaeIndex(() => 'p');
        const final = new Map<string, number>();
        for (const o of ops) {
          const key = `k${o.key}`;
          idx.record('b', key, o.state === undefined ? undefined : elementHash('b', key, Uint8Array.of(o.state)));
          if (o.state === undefined) final.delete(key);
          else final.set(key, o.state);
        }
        const fresh = new AaeIndex(() => 'p');
        for (const [k, st] of final) fresh.set('b', k, keyHash('b', k), elementHash('b', k, Uint8Array.of(st)));
        expect(idx.size).toBe(final.size);
        expect(idx.root('p')).toEqual(fresh.root('p'));
        for (let seg = 0; seg < SEGMENTS; seg++) {
          const keys = (x: AaeIndex) => x.keysIn('p', [seg]).map((e) => `${e.key}=${e.hi},${e.lo}`).sort();
          expect(keys(idx)).toEqual(keys(fresh));
        }
        // Removing every key empties the partition.
        for (const k of final.keys()) idx.record('b', k, undefined);
        expect([...idx.partitions()]).toEqual([]);
      }),
      { numRuns: 15 },
    );
  });

  it('overwriting a key replaces its contribution (O(1) update, no rebuild)', () => {
    fc.assert(
      fc.property(entries, fc.uint8Array({ minLength: 1, maxLength: 8 }), (items, other) => {
        fc.pre(items.length > 0);
        const first = items[0]!;
        const updated = fill(items);
        updated.set('b', first.key, keyHash('b', first.key), elementHash('b', first.key, other));
        const direct = fill([{ key: first.key, state: other }, ...items.slice(1)]);
        expect(updated.root('p')).toEqual(direct.root('p'));
      }),
    );
  });

  it('a changed state changes the root, its branch and its segment only', () => {
    const a = fill([{ key: 'k1', state: Uint8Array.of(1) }, { key: 'k2', state: Uint8Array.of(2) }]);
    const b = fill([{ key: 'k1', state: Uint8Array.of(1) }, { key: 'k2', state: Uint8Array.of(3) }]);
    expect(equalHash(a.root('p'), b.root('p'))).toBe(false);
    const seg = segmentOf(keyHash('b', 'k2'));
    const branch = Math.floor(seg / 32);
    const ta = a.tree('p')!;
    const tb = b.tree('p')!;
    for (let br = 0; br < 32; br++) {
      const same = Buffer.from(ta.segmentHashes(br)).equals(tb.segmentHashes(br));
      expect(same).toBe(br !== branch);
    }
    expect(a.keysIn('p', [seg]).map((e) => e.key)).toContain('k2');
    expect(seg).toBeLessThan(SEGMENTS);
  });

  it('repartitioning regroups every key without losing any', () => {
    const items = Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, state: Uint8Array.of(i & 0xff) }));
    const idx = fill(items);
    const before = idx.root('p');
    idx.repartition((_b, h) => (h % 2 === 0 ? 'even' : 'odd'));
    expect(idx.size).toBe(200);
    const x = idx.root('even');
    const y = idx.root('odd');
    expect({ hi: x.hi ^ y.hi, lo: x.lo ^ y.lo }).toEqual(before);
  });
});

describe('diffKeyLists', () => {
  const d = (key: string, s: number, deadAt: number | null = null): KeyDigest => ({
    bucket: 'b',
    key,
    hash: elementHash('b', key, Uint8Array.of(s)),
    deadAt,
  });

  it('finds keys missing on either side and keys whose hashes differ', () => {
    const diff = diffKeyLists([d('same', 1), d('mine', 1), d('changed', 1)], [d('same', 1), d('theirs', 1), d('changed', 2)], 0);
    expect(diff.map((x) => x.key).sort()).toEqual(['changed', 'mine', 'theirs']);
  });

  it('an expired key is no difference, whichever side still holds it', () => {
    const now = 1000;
    expect(diffKeyLists([d('ttl', 1, 500)], [], now)).toEqual([]);
    expect(diffKeyLists([], [d('ttl', 1, 500)], now)).toEqual([]);
    expect(diffKeyLists([d('ttl', 1, 500)], [d('ttl', 2, 900)], now)).toEqual([]);
    expect(diffKeyLists([d('ttl', 1, 5000)], [], now).map((x) => x.key)).toEqual(['ttl']);
  });
});

describe('objectLifetime', () => {
  const sib = (tombstone: boolean, expiresAt: number | null, wall: number, n: number) => ({
    value: new Uint8Array(),
    contentType: 'x',
    tombstone,
    expiresAt,
    ts: { wall, logical: 0 },
    dot: ['a', n] as const,
  });
  it('an object is dead when every sibling expired, a tombstone when every sibling is one', () => {
    const o = (...s: ReturnType<typeof sib>[]): VersionedObject => ({ clock: { a: 9 }, siblings: s });
    expect(objectLifetime(o(sib(false, 10, 1, 1), sib(false, 20, 2, 2)))).toEqual({ deadAt: 20, tombstoneAt: null });
    expect(objectLifetime(o(sib(false, 10, 1, 1), sib(false, null, 2, 2)))).toEqual({ deadAt: null, tombstoneAt: null });
    expect(objectLifetime(o(sib(true, null, 5, 1), sib(true, null, 7, 2)))).toEqual({ deadAt: null, tombstoneAt: 7 });
    expect(objectLifetime(o(sib(true, null, 5, 1), sib(false, null, 7, 2)))).toEqual({ deadAt: null, tombstoneAt: null });
  });
});
