import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HLC_ZERO, hlcCompare, hlcMax, hlcReceive, hlcTick } from '../../src/core/hlc.ts';
import type { Hlc } from '../../src/core/types.ts';

const hlcArb: fc.Arbitrary<Hlc> = fc.record({ wall: fc.nat(1000), logical: fc.nat(5) });
// Physical time that jumps back and forth, plus readings a broken clock might give.
const physicalArb = fc.oneof(fc.nat(1000), fc.constantFrom(Number.NaN, -1, Number.POSITIVE_INFINITY));
const eventArb = fc.oneof(
  fc.record({ kind: fc.constant('tick' as const), pt: physicalArb }),
  fc.record({ kind: fc.constant('receive' as const), pt: physicalArb, remote: hlcArb }),
);

describe('hybrid logical clock', () => {
  it('is strictly monotonic under tick and receive, whatever physical time does', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 50 }), (events) => {
        let last = HLC_ZERO;
        for (const e of events) {
          const next = e.kind === 'tick' ? hlcTick(last, e.pt) : hlcReceive(last, e.remote, e.pt);
          expect(hlcCompare(next, last)).toBe(1);
          if (e.kind === 'receive') expect(hlcCompare(next, e.remote)).toBe(1);
          expect(Number.isSafeInteger(next.wall) && Number.isSafeInteger(next.logical)).toBe(true);
          last = next;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('follows physical time when it moves forward', () => {
    fc.assert(
      fc.property(hlcArb, fc.nat(1000), (last, delta) => {
        expect(hlcTick(last, last.wall + delta + 1)).toEqual({ wall: last.wall + delta + 1, logical: 0 });
        const remote = { wall: last.wall, logical: last.logical + 3 };
        expect(hlcReceive(last, remote, last.wall + delta + 1)).toEqual({ wall: last.wall + delta + 1, logical: 0 });
      }),
      { numRuns: 200 },
    );
  });

  it('compare is a total order and max picks the larger', () => {
    fc.assert(
      fc.property(hlcArb, hlcArb, (a, b) => {
        expect(hlcCompare(a, b) + hlcCompare(b, a)).toBe(0);
        expect(hlcCompare(hlcMax(a, b), a) >= 0 && hlcCompare(hlcMax(a, b), b) >= 0).toBe(true);
        if (hlcCompare(a, b) === 0) expect(a).toEqual(b);
      }),
      { numRuns: 200 },
    );
  });
});
