import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeObject, encodeObject } from '../../src/core/codec.ts';
import { decodeRemembering, encodeOnce, knownEncoding, rememberEncoding, sameBytes } from '../../src/core/encoded.ts';
import { update, emptyObject } from '../../src/core/object.ts';
import type { VersionedObject } from '../../src/core/types.ts';

function objectOf(values: string[]): VersionedObject {
  let obj = emptyObject();
  values.forEach((v, i) => {
    obj = update(obj, `a${i % 3}`, null, { value: Buffer.from(v), contentType: 'text/plain', tombstone: false, expiresAt: null, ts: { wall: 1000 + i, logical: 0 } }, 'siblings').obj;
  });
  return obj;
}

describe('remembered encodings', () => {
  it('encodeOnce encodes a value once; the bytes equal a fresh encode', () => {
    const obj = objectOf(['x', 'y']);
    let calls = 0;
    const enc = (o: VersionedObject) => {
      calls++;
      return encodeObject(o);
    };
    const a = encodeOnce(obj, enc);
    const b = encodeOnce(obj, enc);
    expect(calls).toBe(1);
    expect(b).toBe(a);
    expect(sameBytes(a, encodeObject(obj))).toBe(true);
  });

  it('decodeRemembering keeps the bytes, and a copy when asked (the source may be reused)', () => {
    const src = Buffer.from(encodeObject(objectOf(['v'])));
    const kept = decodeRemembering(src, decodeObject);
    expect(knownEncoding(kept)).toBe(src);
    const frame = Buffer.concat([Buffer.from([9, 9]), src]);
    const copied = decodeRemembering(frame.subarray(2), decodeObject, true);
    frame.fill(0); // the network buffer is reused
    expect(sameBytes(knownEncoding(copied)!, src)).toBe(true);
  });

  it('ignores non-objects and frozen ones, and says nothing of values it never saw', () => {
    rememberEncoding(42, new Uint8Array([1]));
    expect(knownEncoding(42)).toBeUndefined();
    expect(knownEncoding(objectOf([]))).toBeUndefined();
    const frozen = Object.freeze({ a: 1 });
    rememberEncoding(frozen, new Uint8Array([1]));
    expect(knownEncoding(frozen)).toBeUndefined();
  });

  it('a remembered encoding is invisible to keys, JSON, spread copies and deep equality', () => {
    const obj = objectOf(['v']);
    const plain = objectOf(['v']);
    rememberEncoding(obj, encodeObject(obj));
    expect(knownEncoding(obj)).toBeDefined();
    expect(Object.keys(obj)).toEqual(Object.keys(plain));
    expect(JSON.stringify(obj)).toBe(JSON.stringify(plain));
    expect(obj).toStrictEqual(plain);
    // A modified copy must not inherit bytes that no longer describe it.
    expect(knownEncoding({ ...obj })).toBeUndefined();
  });

  it('equal encodings mean equal objects (canonical codec): decode(encode(x)) re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 8 }), { maxLength: 6 }), (values) => {
        const bytes = encodeObject(objectOf(values));
        expect(sameBytes(encodeObject(decodeObject(bytes)), bytes)).toBe(true);
        expect(sameBytes(bytes, encodeObject(objectOf([...values, 'extra'])))).toBe(false);
      }),
      { numRuns: 100 },
    );
  });
});
