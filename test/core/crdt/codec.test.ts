import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CrdtDecodeError, crdtTypes, decodeAny, map, orset } from '../../../src/core/crdt/index.ts';
import { tsOf } from './harness.ts';

const samples = (() => {
  const env = { ts: tsOf(1) };
  const c = crdtTypes.counter.apply(crdtTypes.counter.empty(), { increment: 3, id: 'k' }, 'a', env).state;
  const s = orset.apply(orset.empty(), { add: ['x', 'y'], remove: [] }, 'a', env).state;
  const r = crdtTypes.register.apply(null, { assign: 'v' }, 'a', env).state;
  const f = crdtTypes.flag.apply(crdtTypes.flag.empty(), 'enable', 'a', env).state;
  const m = map.apply(map.empty(), map.parseOp({ update: { n: { type: 'counter', op: { increment: 2 } } } }), 'a', env).state;
  return { counter: c, set: s, register: r, flag: f, map: m } as const;
})();

describe('encodings', () => {
  for (const [name, state] of Object.entries(samples)) {
    const type = crdtTypes[name as keyof typeof crdtTypes];
    it(`${name}: round trip, tag/version header, decodeAny`, () => {
      const bytes = type.encode(state);
      expect(bytes[0]).toBe(type.tag);
      expect(bytes[1]).toBe(1);
      expect(type.equal(type.decode(bytes), state)).toBe(true);
      const any = decodeAny(bytes);
      expect(any.type.name).toBe(name);
      expect(type.value(any.state)).toEqual(type.value(state));
    });

    it(`${name}: garbage, truncation and wrong tags are clear Errors, never crashes`, () => {
      const good = type.encode(state);
      const other = Object.values(crdtTypes).find((t) => t.tag !== type.tag)!;
      expect(() => type.decode(other.encode(other.empty()))).toThrow(/wrong type tag/);
      expect(() => type.decode(new Uint8Array([type.tag, 9, 0x90]))).toThrow(/format version/);
      for (let cut = 0; cut < good.length; cut++) expect(() => type.decode(good.subarray(0, cut))).toThrow(CrdtDecodeError);
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(), fc.integer({ min: 0, max: 255 }), (junk, at, byte) => {
          // Pure junk after a valid header, and single-byte corruptions of a valid encoding.
          const cases = [new Uint8Array([type.tag, 1, ...junk]), Uint8Array.from(good, (b, i) => (i === 2 + (at % (good.length - 2)) ? byte : b))];
          for (const bytes of cases) {
            try {
              const s = type.decode(bytes);
              // If it decodes, it is a valid state: it re-encodes canonically and merges.
              expect(type.decode(type.encode(s))).toBeDefined();
              type.merge(s, state);
            } catch (e) {
              expect(e).toBeInstanceOf(CrdtDecodeError);
            }
          }
        }),
        { numRuns: 200 },
      );
    });
  }

  it('non-canonical bodies are rejected (unsorted keys would break state hashing)', () => {
    const bytes = orset.encode(samples.set);
    const i = bytes.indexOf(0x78); // 'x'
    const j = bytes.indexOf(0x79); // 'y'
    const swapped = Uint8Array.from(bytes);
    swapped[i] = 0x79;
    swapped[j] = 0x78;
    expect(() => orset.decode(swapped)).toThrow(/sorted|context/);
  });

  it('decodeAny rejects unknown tags and empty input', () => {
    expect(() => decodeAny(new Uint8Array([])) ).toThrow(CrdtDecodeError);
    expect(() => decodeAny(new Uint8Array([99, 1, 0]))).toThrow(/unknown type tag 99/);
  });
});
