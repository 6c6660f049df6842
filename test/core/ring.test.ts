import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  balance,
  buildRing,
  keyHash,
  ownershipShares,
  partitionOf,
  preferenceList,
  ringRanges,
  sloppyTargets,
} from '../../src/core/ring.ts';
import type { Ring } from '../../src/core/ring.ts';

const nodeId = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);
const memberSet = (min: number, max: number) => fc.uniqueArray(nodeId, { minLength: min, maxLength: max });
const uint32 = fc.integer({ min: 0, max: 0xffff_ffff });

/** Reference: walk vnodes one by one from the owning token, no cache, no binary search. */
function slowPreference(ring: Ring, hash: number, n: number): string[] {
  const { tokens, owners } = ring;
  let start = 0;
  while (start < tokens.length && (tokens[start] as number) < hash) start++;
  if (start === tokens.length) start = 0;
  const out: string[] = [];
  for (let s = 0; s < tokens.length && out.length < n; s++) {
    const o = owners[(start + s) % tokens.length] as string;
    if (!out.includes(o)) out.push(o);
  }
  return out;
}

describe('ring', () => {
  it('is determined by the member set alone (order and duplicates do not matter)', () => {
    fc.assert(
      fc.property(memberSet(1, 8), fc.integer(), (members, seed) => {
        const shuffled = [...members].sort(() => (seed & 1 ? 1 : -1));
        const a = buildRing(members, 16);
        const b = buildRing([...shuffled, ...members], 16);
        expect(Array.from(b.tokens)).toEqual(Array.from(a.tokens));
        expect(b.owners).toEqual(a.owners);
      }),
    );
  });

  it('keyHash is stable, uint32, and unambiguous in (bucket, key)', () => {
    // Pinned value: any change here moves every key in every existing cluster.
    expect(keyHash('users', 'alice')).toBe(3186612794);
    expect(keyHash('b', 'k')).toBe(2472349207);
    expect(keyHash('ab', 'c')).not.toBe(keyHash('a', 'bc'));
    expect(keyHash('users', 'alice')).toBe(keyHash(new TextEncoder().encode('users'), 'alice'));
    fc.assert(
      fc.property(fc.string(), fc.string(), (b, k) => {
        const h = keyHash(b, k);
        expect(Number.isInteger(h) && h >= 0 && h <= 0xffff_ffff).toBe(true);
      }),
    );
  });

  it('keyHash is md5 of the length-prefixed UTF-8 bytes, for any strings, long ones and byte inputs', () => {
    const reference = (b: Uint8Array, k: Uint8Array): number => {
      const buf = Buffer.alloc(4 + b.length + k.length);
      buf.writeUInt32BE(b.length, 0);
      buf.set(b, 4);
      buf.set(k, 4 + b.length);
      return createHash('md5').update(buf).digest().readUInt32BE(0);
    };
    const utf8 = (s: string) => new TextEncoder().encode(s);
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary', maxLength: 3000 }), fc.boolean(), (b, k, asBytes) => {
        const expected = reference(utf8(b), utf8(k));
        expect(asBytes ? keyHash(utf8(b), utf8(k)) : keyHash(b, k)).toBe(expected);
      }),
    );
  });

  it('preferenceList returns min(n, members) distinct nodes and matches a naive walk', () => {
    fc.assert(
      fc.property(memberSet(1, 7), uint32, fc.integer({ min: 1, max: 9 }), (members, hash, n) => {
        const ring = buildRing(members, 8);
        const pl = preferenceList(ring, hash, n);
        expect(pl.length).toBe(Math.min(n, members.length));
        expect(new Set(pl).size).toBe(pl.length);
        expect(pl).toEqual(slowPreference(ring, hash, n));
        // The first node owns the key's vnode range.
        expect(pl[0]).toBe(ring.owners[partitionOf(ring, hash)]);
      }),
    );
  });

  it('handles the wrap-around and exact token hits', () => {
    const ring = buildRing(['a', 'b', 'c'], 4);
    const last = ring.tokens[ring.tokens.length - 1] as number;
    const first = ring.tokens[0] as number;
    expect(partitionOf(ring, first)).toBe(0); // range (prev, token] includes the token
    expect(partitionOf(ring, first + 1)).toBe(first + 1 <= (ring.tokens[1] as number) ? 1 : 0);
    if (last < 0xffff_ffff) expect(partitionOf(ring, last + 1)).toBe(0);
    expect(partitionOf(ring, last)).toBe(ring.tokens.length - 1);
    expect(preferenceList(buildRing([], 4), 5, 3)).toEqual([]);
  });

  it('ringRanges tile the hash space; each hash falls in the range partitionOf names', () => {
    fc.assert(
      fc.property(memberSet(1, 5), uint32, (members, hash) => {
        const ring = buildRing(members, 8);
        const ranges = ringRanges(ring);
        expect(ranges.length).toBe(members.length * 8);
        const i = partitionOf(ring, hash);
        const r = ranges[i];
        if (r === undefined) throw new Error('no range');
        const inRange = r.start < r.end ? hash > r.start && hash <= r.end : hash > r.start || hash <= r.end;
        expect(inRange || ranges.length === 1).toBe(true);
        const shares = Object.values(ownershipShares(ring));
        expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      }),
    );
  });

  it('a joining node takes about 1/k of the keys and moves nothing between old nodes', () => {
    fc.assert(
      fc.property(memberSet(3, 6), nodeId, (members, joiner) => {
        fc.pre(!members.includes(joiner));
        const before = buildRing(members);
        const after = buildRing([...members, joiner]);
        const k = members.length + 1;
        let moved = 0;
        const keys = 2000;
        for (let i = 0; i < keys; i++) {
          const h = keyHash('b', `key-${i}`);
          const p0 = preferenceList(before, h, 1)[0];
          const p1 = preferenceList(after, h, 1)[0];
          if (p0 !== p1) {
            moved++;
            expect(p1).toBe(joiner); // only moves to the new node
          }
        }
        // Expected 1/k; random tokens at 64 vnodes spread ±~40% in the worst case.
        expect(moved / keys).toBeGreaterThan(0.4 / k);
        expect(moved / keys).toBeLessThan(1.8 / k);
      }),
      { numRuns: 20 },
    );
  });

  it('spreads keys within ±25% of the fair share at 64 vnodes for 3–5 nodes', () => {
    // Random token placement is statistical: ~7% of arbitrary id sets exceed ±25% at 64
    // vnodes (≈1% at 128, none seen at 256). So: the default config ids n1..n5 are pinned
    // within ±25%, and arbitrary id sets must be within ±25% in the large majority.
    const hashes = Array.from({ length: 20_000 }, (_, i) => keyHash('bucket', `k${i}`));
    for (const k of [3, 4, 5]) {
      const ring = buildRing(Array.from({ length: k }, (_, i) => `n${i + 1}`));
      const { shares, ratio } = balance(ring, hashes);
      for (const s of Object.values(shares)) expect(Math.abs(s * k - 1), `n×${k}`).toBeLessThan(0.25);
      expect(ratio).toBeLessThan(1.25 / 0.75);
    }
    let within = 0;
    const sets = 300;
    for (let t = 0; t < sets; t++) {
      const k = 3 + (t % 3);
      const shares = Object.values(ownershipShares(buildRing(Array.from({ length: k }, (_, i) => `id${t}-${i}`))));
      const dev = Math.max(...shares.map((s) => Math.abs(s * k - 1)));
      expect(dev).toBeLessThan(0.6);
      if (dev < 0.25) within++;
    }
    expect(within / sets).toBeGreaterThan(0.85);
  });

  it('sloppyTargets: up primaries kept, each down primary replaced by the next up node with a hint', () => {
    fc.assert(
      fc.property(
        memberSet(1, 7),
        uint32,
        fc.integer({ min: 1, max: 5 }),
        fc.func(fc.boolean()),
        (members, hash, n, upFn) => {
          const ring = buildRing(members, 8);
          const down = new Set(members.filter((m) => !upFn(m)));
          const isUp = (m: string) => !down.has(m);
          const { primaries, targets } = sloppyTargets(ring, hash, n, isUp);
          expect(primaries).toEqual(preferenceList(ring, hash, n));
          const nodes = targets.map((t) => t.node);
          expect(new Set(nodes).size).toBe(nodes.length); // never the same node twice
          for (const t of targets) expect(isUp(t.node)).toBe(true);
          for (const p of primaries) {
            if (isUp(p)) expect(targets).toContainEqual({ node: p, hintFor: null });
          }
          const hinted = targets.filter((t) => t.hintFor !== null);
          for (const h of hinted) {
            expect(down.has(h.hintFor as string)).toBe(true);
            expect(primaries.includes(h.node)).toBe(false);
          }
          // As many targets as possible: min(n, up members).
          const upCount = members.length - down.size;
          expect(targets.length).toBe(Math.min(primaries.length, upCount));
          // Stand-ins are the nearest up nodes clockwise beyond the preference list.
          const beyond = slowPreference(ring, hash, members.length).slice(primaries.length).filter(isUp);
          expect(hinted.map((h) => h.node)).toEqual(beyond.slice(0, hinted.length));
        },
      ),
    );
  });

  it('preferenceList is fast enough to run per request', () => {
    const ring = buildRing(Array.from({ length: 50 }, (_, i) => `n${i}`));
    let acc = 0;
    // Bounded loop; the cache makes repeated lookups a binary search plus a slice.
    for (let i = 0; i < 20_000; i++) acc += preferenceList(ring, (i * 2654435761) >>> 0, 3).length;
    expect(acc).toBe(60_000);
  });
});
