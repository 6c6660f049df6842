import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareBytes, prefixUpperBound, startsWith } from '../../src/storage/bytes.ts';
import {
  Keyspace,
  MalformedKeyError,
  MAX_BUCKET_BYTES,
  bucketPrefix,
  decodeObjectKey,
  describeKey,
  encodeMetaKey,
  encodeObjectKey,
} from '../../src/storage/keys.ts';
import {
  CorruptRecordError,
  RECORD_FORMAT_VERSION,
  RecordType,
  decodeRecord,
  decodeValue,
  encodeRecord,
  encodeValue,
  versionedObjectCodec,
} from '../../src/storage/records.ts';
import { encodeObject } from '../../src/core/codec.ts';
import { objWith } from './helpers.ts';

// Well-formed Unicode of any plane, NULs and '/' included.
const text = fc.string({ unit: 'binary', maxLength: 40 });

describe('object keys', () => {
  it('object keys are the documented layout, for any strings (one buffer, written in place)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 50 }), fc.string({ unit: 'grapheme', maxLength: 300 }), (bucket, key) => {
        const b = new TextEncoder().encode(bucket);
        const expected = Buffer.concat([Buffer.from([0x01, b.length >>> 8, b.length & 0xff]), b, new TextEncoder().encode(key)]);
        expect(Buffer.from(encodeObjectKey(bucket, key)).equals(expected)).toBe(true);
        expect(Buffer.from(bucketPrefix(bucket)).equals(expected.subarray(0, 3 + b.length))).toBe(true);
      }),
    );
  });

  it('round-trip any bucket and key, including separators and NULs', () => {
    fc.assert(
      fc.property(text, text, (bucket, key) => {
        expect(decodeObjectKey(encodeObjectKey(bucket, key))).toEqual({ bucket, key });
      }),
    );
  });

  it('distinct (bucket, key) pairs never share a storage key', () => {
    fc.assert(
      fc.property(text, text, text, text, (b1, k1, b2, k2) => {
        fc.pre(b1 !== b2 || k1 !== k2);
        expect(compareBytes(encodeObjectKey(b1, k1), encodeObjectKey(b2, k2))).not.toBe(0);
      }),
    );
    expect(compareBytes(encodeObjectKey('a', 'bc'), encodeObjectKey('ab', 'c'))).not.toBe(0);
  });

  it('a key is under its bucket prefix and no other bucket’s', () => {
    fc.assert(
      fc.property(text, text, text, (bucket, other, key) => {
        const k = encodeObjectKey(bucket, key);
        expect(startsWith(k, bucketPrefix(bucket))).toBe(true);
        if (other !== bucket) expect(startsWith(k, bucketPrefix(other))).toBe(false);
      }),
    );
  });

  it('within a bucket, keys sort by their UTF-8 bytes', () => {
    fc.assert(
      fc.property(text, text, text, (bucket, a, b) => {
        const byKey = Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)));
        expect(Math.sign(compareBytes(encodeObjectKey(bucket, a), encodeObjectKey(bucket, b)))).toBe(byKey);
      }),
    );
  });

  it('refuses names with lone surrogates (they would collide after UTF-8 encoding)', () => {
    expect(() => encodeObjectKey('b', 'x\uD800')).toThrow(TypeError);
    expect(() => encodeObjectKey('\uDC00', 'k')).toThrow(TypeError);
    expect(decodeObjectKey(encodeObjectKey('b', '😀')).key).toBe('😀'); // a proper pair is fine
  });

  it('rejects a bucket too long for the u16 length', () => {
    expect(() => encodeObjectKey('x'.repeat(MAX_BUCKET_BYTES + 1), 'k')).toThrow(RangeError);
    expect(decodeObjectKey(encodeObjectKey('x'.repeat(MAX_BUCKET_BYTES), 'k')).key).toBe('k');
  });

  it('decoding rejects malformed keys', () => {
    const bad = [
      new Uint8Array(0),
      Uint8Array.of(Keyspace.Object),
      Uint8Array.of(Keyspace.Object, 0),
      Uint8Array.of(Keyspace.Metadata, 0, 0),
      Uint8Array.of(Keyspace.Object, 0, 5, 0x61), // bucket length past the end
      Uint8Array.of(Keyspace.Object, 0, 1, 0xff), // bucket not UTF-8
      Uint8Array.of(Keyspace.Object, 0, 1, 0x61, 0xc3), // key truncated mid-character
    ];
    for (const k of bad) expect(() => decodeObjectKey(k), describeKey(k)).toThrow(MalformedKeyError);
  });

  it('keyspaces do not overlap', () => {
    expect(encodeMetaKey('incarnation')[0]).toBe(Keyspace.Metadata);
    expect(encodeObjectKey('b', 'k')[0]).toBe(Keyspace.Object);
    expect(new Set(Object.values(Keyspace)).size).toBe(Object.values(Keyspace).length);
  });

  it('describeKey names bucket and key for object keys and stays short for others', () => {
    expect(describeKey(encodeObjectKey('users', 'alice'))).toBe('object "users"/"alice"');
    expect(describeKey(encodeMetaKey('incarnation'))).toBe('metadata "incarnation"');
    expect(describeKey(new Uint8Array(1000).fill(0x09)).length).toBeLessThan(200);
  });
});

describe('prefixUpperBound', () => {
  it('is above every key with the prefix and at or below every larger key without it', () => {
    const bytes = fc.uint8Array({ maxLength: 6 }).map((a) => a.map((x) => (x % 3 === 0 ? 0xff : x)));
    fc.assert(
      fc.property(bytes, bytes, (prefix, key) => {
        const ub = prefixUpperBound(prefix);
        if (startsWith(key, prefix)) {
          if (ub !== undefined) expect(compareBytes(key, ub)).toBeLessThan(0);
        } else if (compareBytes(key, prefix) > 0) {
          expect(ub).toBeDefined();
          expect(compareBytes(key, ub as Uint8Array)).toBeGreaterThanOrEqual(0);
        }
      }),
    );
    expect(prefixUpperBound(Uint8Array.of(0xff, 0xff))).toBeUndefined();
    expect(Array.from(prefixUpperBound(Uint8Array.of(1, 0xff)) ?? [])).toEqual([2]);
  });
});

describe('records', () => {
  it('start with type and version and round-trip the body', () => {
    const body = Uint8Array.of(1, 2, 3);
    const rec = encodeRecord(RecordType.Meta, body);
    expect(Array.from(rec)).toEqual([RecordType.Meta, RECORD_FORMAT_VERSION, 1, 2, 3]);
    expect(Array.from(decodeRecord(rec, RecordType.Meta))).toEqual([1, 2, 3]);
    expect(decodeRecord(encodeRecord(RecordType.Meta, new Uint8Array(0)), RecordType.Meta)).toHaveLength(0);
  });

  it('reject wrong type, unknown version and truncation with CorruptRecordError naming where', () => {
    const where = describeKey(encodeObjectKey('b', 'k'));
    const cases: [Uint8Array, RegExp][] = [
      [Uint8Array.of(RecordType.Object, RECORD_FORMAT_VERSION, 0), /record type 1, expected 2/],
      [Uint8Array.of(RecordType.Meta, 99), /format version 99/],
      [Uint8Array.of(RecordType.Meta), /truncated/],
      [new Uint8Array(0), /truncated/],
    ];
    for (const [bytes, why] of cases) {
      let err: unknown;
      try {
        decodeRecord(bytes, RecordType.Meta, where);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CorruptRecordError);
      expect((err as Error).message).toMatch(why);
      expect((err as Error).message).toContain('object "b"/"k"');
      expect((err as CorruptRecordError).where).toBe(where);
    }
  });

  it('versioned objects round-trip through the object codec', () => {
    const obj = objWith(3);
    const back = decodeValue(versionedObjectCodec, encodeValue(versionedObjectCodec, obj), 'x');
    expect(Buffer.from(encodeObject(back)).equals(Buffer.from(encodeObject(obj)))).toBe(true);
  });

  it('every truncation of a stored object is refused as corrupt', () => {
    const rec = encodeValue(versionedObjectCodec, objWith(2));
    for (let n = 0; n < rec.length; n++) {
      expect(() => decodeValue(versionedObjectCodec, rec.subarray(0, n), 'x'), `length ${n}`).toThrow(CorruptRecordError);
    }
  });
});
