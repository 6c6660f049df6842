import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { elementHash } from '../../src/core/aae.ts';
import { md5 } from '../../src/core/md5.ts';

const reference = (b: Uint8Array) => createHash('md5').update(b).digest();

describe('md5', () => {
  it('is the md5 digest of any input, short (WASM) or long (OpenSSL)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 9000 }), (b) => {
        expect(Buffer.from(md5(b)).equals(reference(b))).toBe(true);
      }),
      { numRuns: 300 },
    );
    // The RFC 1321 test vectors, and inputs either side of the WASM/OpenSSL boundary.
    expect(Buffer.from(md5(new Uint8Array(0))).toString('hex')).toBe('d41d8cd98f00b204e9800998ecf8427e');
    expect(Buffer.from(md5(Buffer.from('abc'))).toString('hex')).toBe('900150983cd24fb0d6963f7d28e17f72');
    for (const n of [4095, 4096, 4097]) {
      const b = Buffer.alloc(n, n & 0xff);
      expect(Buffer.from(md5(b)).equals(reference(b))).toBe(true);
    }
  });

  it('is not disturbed by a view into a larger buffer', () => {
    const big = Buffer.from('xxhello worldyy');
    expect(Buffer.from(md5(big.subarray(2, 13))).equals(reference(Buffer.from('hello world')))).toBe(true);
  });
});

describe('elementHash', () => {
  it('is the first 8 bytes of md5 over length-prefixed bucket, key and state, as signed halves', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 6000 }), (bucket, key, state) => {
        const b = Buffer.from(bucket, 'utf8');
        const k = Buffer.from(key, 'utf8');
        const head = Buffer.alloc(8);
        head.writeUInt32BE(b.length, 0);
        head.writeUInt32BE(k.length, 4);
        const d = reference(Buffer.concat([head, b, k, state]));
        expect(elementHash(bucket, key, state)).toEqual({ hi: d.readInt32BE(0), lo: d.readInt32BE(4) });
      }),
      { numRuns: 300 },
    );
  });
});
