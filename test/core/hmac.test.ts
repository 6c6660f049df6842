import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hmacSha256OfParts } from '../../src/core/hmac.ts';

/** The streaming reference: node's Hmac over the same length-prefixed parts. */
function reference(secret: string, parts: readonly Uint8Array[]): Buffer {
  const h = createHmac('sha256', secret);
  for (const p of parts) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(p.length);
    h.update(len);
    h.update(p);
  }
  return h.digest();
}

describe('hmacSha256OfParts', () => {
  it('equals createHmac over the length-prefixed parts, for any secret and parts', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }), (secret, parts) => {
        expect(hmacSha256OfParts(secret, parts).equals(reference(secret, parts))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('handles secrets longer than a block and multi-byte characters', () => {
    for (const secret of ['x'.repeat(64), 'y'.repeat(65), 'é'.repeat(40), '']) {
      const parts = [Buffer.from('shoal'), Uint8Array.of(1, 2, 3)];
      expect(hmacSha256OfParts(secret, parts).toString('hex')).toBe(reference(secret, parts).toString('hex'));
    }
  });

  it('tells different secrets and different part boundaries apart', () => {
    const a = hmacSha256OfParts('s1', [Buffer.from('ab'), Buffer.from('c')]);
    expect(a.equals(hmacSha256OfParts('s2', [Buffer.from('ab'), Buffer.from('c')]))).toBe(false);
    expect(a.equals(hmacSha256OfParts('s1', [Buffer.from('a'), Buffer.from('bc')]))).toBe(false);
  });
});
