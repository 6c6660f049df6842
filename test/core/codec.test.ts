import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeObject, encodeObject, packr, validateObject } from '../../src/core/codec.ts';
import { emptyObject, equalObjects } from '../../src/core/object.ts';
import type { VersionedObject } from '../../src/core/types.ts';
import { historyArb, runHistory } from './history.ts';

// msgpackr's unpack attaches a `dataView` property to its input, so compare bytes as hex.
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const sibling = {
  value: Uint8Array.of(1, 2, 3),
  contentType: 'text/plain',
  tombstone: false,
  expiresAt: null,
  ts: { wall: 10, logical: 2 },
  dot: ['n1', 2] as const,
};
const valid: VersionedObject = { clock: { n1: 2, n2: 1 }, siblings: [sibling] };

describe('object codec', () => {
  it('round-trips every reachable object, and equal objects encode to equal bytes', () => {
    fc.assert(
      fc.property(historyArb, fc.constantFrom('siblings' as const, 'lww' as const), ({ replicas, ops }, mode) => {
        for (const obj of runHistory(replicas, ops, mode).reachable) {
          const bytes = encodeObject(obj);
          const back = decodeObject(bytes);
          expect(equalObjects(back, obj)).toBe(true);
          expect(hex(encodeObject(back))).toBe(hex(bytes));
          const reordered = { clock: { ...obj.clock }, siblings: [...obj.siblings].reverse() };
          expect(hex(encodeObject(reordered))).toBe(hex(bytes));
        }
      }),
      { numRuns: 100 },
    );
  });

  it('round-trips actor ids that collide with Object.prototype names', () => {
    const obj = { clock: { __proto__: 1, constructor: 2 } as Record<string, number>, siblings: [] };
    Object.defineProperty(obj.clock, '__proto__', { value: 1, enumerable: true });
    const back = decodeObject(encodeObject(obj));
    expect(Object.keys(back.clock).sort()).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(back.clock)).toBe(Object.prototype);
  });

  it('rejects garbage bytes with an Error, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeObject(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
          return;
        }
        // The rare random buffer that is a valid object must at least be one.
        expect(() => validateObject(decodeObject(bytes))).not.toThrow();
      }),
      { numRuns: 300 },
    );
    expect(() => decodeObject(new Uint8Array())).toThrow(/invalid object/);
    expect(() => decodeObject(packr.pack({ clock: {}, siblings: [] }))).toThrow(/invalid object/);
  });

  it('rejects every single-field corruption of a valid encoding', () => {
    const tuple = [['n1', 2, 'n2', 1], [['n1', 2, 10, 2, false, 'text/plain', null, Uint8Array.of(1)]]];
    expect(decodeObject(packr.pack(tuple)).siblings).toHaveLength(1);
    const corrupt = (path: [number, ...number[]], value: unknown): unknown[] => {
      const copy = structuredClone(tuple) as unknown[];
      let at = copy as unknown[];
      for (const i of path.slice(0, -1)) at = at[i] as unknown[];
      at[path[path.length - 1]!] = value;
      return copy;
    };
    const bad: [[number, ...number[]], unknown][] = [
      [[0, 1], -1], // negative counter
      [[0, 1], 1.5],
      [[0, 0], 'x'.repeat(65)], // actor id too long
      [[0, 2], 'n1'], // actor listed twice
      [[1, 0, 1], 3], // dot not covered by the clock
      [[1, 0, 1], 0], // dot counter zero
      [[1, 0, 2], -5],
      [[1, 0, 4], 'yes'],
      [[1, 0, 4], true], // tombstone carrying a value
      [[1, 0, 5], 7],
      [[1, 0, 6], 'tomorrow'],
      [[1, 0, 7], 'not bytes'],
      [[1, 0], ['n1', 2]],
    ];
    for (const [path, value] of bad) {
      expect(() => decodeObject(packr.pack(corrupt(path, value))), JSON.stringify([path, value])).toThrow(
        /invalid object/,
      );
    }
  });

  it('decodes a clock listed out of order or with zero counters to the normalised clock', () => {
    // Our encoder never writes these, but a peer's or an older build's bytes may hold them.
    const sib = ['n1', 2, 10, 2, false, 'text/plain', null, Uint8Array.of(1)];
    const canonical = decodeObject(packr.pack([['n1', 2, 'n2', 1], [sib]]));
    for (const clock of [['n2', 1, 'n1', 2], ['n1', 2, 'n0', 0, 'n2', 1], ['n2', 1, 'n1', 2, 'n3', 0]]) {
      const got = decodeObject(packr.pack([clock, [sib]]));
      expect(got.clock, JSON.stringify(clock)).toEqual({ n1: 2, n2: 1 });
      expect(Object.keys(got.clock)).toEqual(['n1', 'n2']);
      expect(encodeObject(got)).toEqual(encodeObject(canonical));
    }
    // Encoding normalises a clock built out of order too.
    expect(encodeObject({ ...canonical, clock: { n2: 1, n9: 0, n1: 2 } })).toEqual(encodeObject(canonical));
    // A repeat is refused however the list is ordered.
    expect(() => decodeObject(packr.pack([['n2', 1, 'n1', 2, 'n2', 1], [sib]]))).toThrow(/twice/);
    expect(() => decodeObject(packr.pack([['n1', 2, 'n1', 2], [sib]]))).toThrow(/twice/);
  });

  it('validateObject accepts a plain object and returns a canonical copy', () => {
    const two = { ...valid, siblings: [{ ...sibling, dot: ['n2', 1] as const }, sibling] };
    const out = validateObject(two);
    expect(out.siblings.map((s) => s.dot)).toEqual([
      ['n1', 2],
      ['n2', 1],
    ]);
    expect(validateObject({ clock: { a: 0 }, siblings: [] })).toEqual(emptyObject());
  });

  it('validateObject rejects malformed peer objects', () => {
    const bad: unknown[] = [
      null,
      [],
      'obj',
      { clock: [], siblings: [] },
      { clock: {}, siblings: {} },
      { clock: { n1: 2 }, siblings: [{ ...sibling, value: [1, 2] }] },
      { clock: { n1: 1 }, siblings: [sibling] },
      { clock: { n1: 2 }, siblings: [sibling, sibling] },
      { clock: { n1: 2 }, siblings: [{ ...sibling, ts: { wall: -1, logical: 0 } }] },
      { clock: { n1: 2 }, siblings: [{ ...sibling, dot: ['n1'] }] },
      { clock: Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [`n${i}`, 1])), siblings: [] },
    ];
    for (const x of bad) expect(() => validateObject(x), JSON.stringify(x)).toThrow(/invalid object/);
  });
});
