import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utf8Prefix } from '../../src/core/utf8.ts';

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

describe('utf8Prefix', () => {
  it('fits the cap, is a prefix of the encoding, and is the longest such prefix', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 })), fc.nat(200), (text, max) => {
        const out = utf8Prefix(text, max);
        const whole = Buffer.from(text, 'utf8');
        const cut = Buffer.from(out, 'utf8');
        expect(cut.length).toBeLessThanOrEqual(max);
        expect(whole.subarray(0, cut.length).equals(cut)).toBe(true);
        if (whole.length <= max) expect(out).toBe(text);
        // One more character would not fit: the cut is at most one character (4 bytes) short.
        else expect(max - cut.length).toBeLessThan(4);
      }),
      { numRuns: 2000 },
    );
  });

  it('cuts before a character the cap would split', () => {
    // 'a' then two-byte characters: a cap of 4 lands inside the second 'é'.
    expect(utf8Prefix('aéé', 4)).toBe('aé');
    expect(utf8Prefix('a\u{1F600}', 4)).toBe('a');
    expect(utf8Prefix('\u{1F600}', 4)).toBe('\u{1F600}');
    expect(utf8Prefix('abc', 0)).toBe('');
  });
});
