import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compare, counterOf, covers, descends, equalVV, increment, merge, normalize } from '../../src/core/dvv.ts';
import type { VersionVector } from '../../src/core/types.ts';

// Few actors and small counters so equal and ordered pairs are common, and zeros appear
// explicitly (they must mean the same as a missing entry).
const actor = fc.constantFrom('a', 'b', 'c', 'constructor', '__proto__');
const vvArb: fc.Arbitrary<VersionVector> = fc
  .array(fc.tuple(actor, fc.nat(3)), { maxLength: 6 })
  .map((entries) => Object.fromEntries(entries));

const runs = { numRuns: 300 };

describe('version vectors', () => {
  it('compare is a partial order that agrees with descends', () => {
    fc.assert(
      fc.property(vvArb, vvArb, vvArb, (a, b, c) => {
        expect(compare(a, a)).toBe('equal');
        const flipped = { before: 'after', after: 'before', equal: 'equal', concurrent: 'concurrent' } as const;
        expect(compare(b, a)).toBe(flipped[compare(a, b)]);
        expect(descends(a, b)).toBe(compare(a, b) === 'after' || compare(a, b) === 'equal');
        expect(descends(b, a)).toBe(compare(a, b) === 'before' || compare(a, b) === 'equal');
        if (descends(a, b) && descends(b, c)) expect(descends(a, c)).toBe(true);
        if (descends(a, b) && descends(b, a)) expect(equalVV(a, b)).toBe(true);
      }),
      runs,
    );
  });

  it('merge is commutative, associative, idempotent and the least upper bound', () => {
    fc.assert(
      fc.property(vvArb, vvArb, vvArb, (a, b, c) => {
        // Structural equality, not only equalVV: merged clocks are normalised.
        expect(merge(a, b)).toEqual(merge(b, a));
        expect(merge(merge(a, b), c)).toEqual(merge(a, merge(b, c)));
        expect(merge(merge(a, b), b)).toEqual(merge(a, b));
        const m = merge(a, b);
        expect(descends(m, a) && descends(m, b)).toBe(true);
        if (descends(c, a) && descends(c, b)) expect(descends(c, m)).toBe(true);
      }),
      runs,
    );
  });

  it('normalises: zero entries are dropped, key order is canonical', () => {
    expect(normalize({ b: 1, a: 0, c: 2 })).toEqual({ b: 1, c: 2 });
    expect(Object.keys(merge({ z: 1 }, { a: 1 }))).toEqual(['a', 'z']);
    expect(equalVV({ a: 0 }, {})).toBe(true);
    expect(compare({ a: 0, b: 1 }, { b: 1 })).toBe('equal');
  });

  it('reads inherited names as zero', () => {
    expect(counterOf({}, 'constructor')).toBe(0);
    expect(counterOf({}, 'toString')).toBe(0);
    expect(compare({}, { constructor: 1 })).toBe('before');
    const { vv } = increment({}, '__proto__');
    expect(counterOf(vv, '__proto__')).toBe(1);
    expect(Object.keys(vv)).toEqual(['__proto__']);
  });

  it('increment makes a fresh dot that only the new clock covers', () => {
    fc.assert(
      fc.property(vvArb, actor, (vv, who) => {
        const { vv: next, dot } = increment(vv, who);
        expect(dot).toEqual([who, counterOf(vv, who) + 1]);
        expect(covers(vv, dot)).toBe(false);
        expect(covers(next, dot)).toBe(true);
        expect(compare(vv, next)).toBe('before');
      }),
      runs,
    );
  });
});
