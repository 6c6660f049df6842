import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packr } from '../../src/core/codec.ts';
import { ContextError, decodeContext, encodeContext, openToken, sealToken } from '../../src/core/context.ts';
import type { CausalContext } from '../../src/core/object.ts';

const SECRET = 'cluster-secret';
const ctxArb: fc.Arbitrary<CausalContext> = fc.record({
  clock: fc
    .array(fc.tuple(fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })), {
      maxLength: 8,
    })
    .map((entries) => Object.fromEntries(entries)),
  maxTs: fc.record({ wall: fc.nat(), logical: fc.nat(1000) }),
});

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Runs `fn`, and requires a ContextError (not any other exception, not a success). */
function expectContextError(fn: () => unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ContextError);
  expect((thrown as Error).message.length).toBeGreaterThan(0);
}

describe('causal context tokens', () => {
  it('round-trip', () => {
    fc.assert(
      fc.property(ctxArb, fc.string(), fc.string(), (ctx, bucket, key) => {
        const text = encodeContext(ctx, bucket, key, SECRET);
        expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(decodeContext(text, bucket, key, SECRET)).toEqual(ctx);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps actor ids that are Object.prototype names', () => {
    const clock = Object.fromEntries([['__proto__', 3], ['constructor', 1]]);
    const back = decodeContext(encodeContext({ clock, maxTs: { wall: 1, logical: 0 } }, 'b', 'k', SECRET), 'b', 'k', SECRET);
    expect(Object.entries(back.clock)).toEqual([['__proto__', 3], ['constructor', 1]]);
  });

  it('is small enough for a header: a 5-node clock fits in 100 chars', () => {
    const ctx = { clock: { n1: 120, n2: 98, n3: 77, n4: 5, n5: 1 }, maxTs: { wall: 1_760_000_000_000, logical: 3 } };
    expect(encodeContext(ctx, 'users', 'alice', SECRET).length).toBeLessThan(100);
  });

  it('rejects any single changed character', () => {
    fc.assert(
      fc.property(ctxArb, fc.nat(), fc.integer({ min: 1, max: 63 }), (ctx, pos, shift) => {
        const text = encodeContext(ctx, 'b', 'k', SECRET);
        const i = pos % text.length;
        const changed = B64[(B64.indexOf(text[i]!) + shift) % 64]!;
        expectContextError(() => decodeContext(text.slice(0, i) + changed + text.slice(i + 1), 'b', 'k', SECRET));
      }),
      { numRuns: 300 },
    );
  });

  it('rejects truncated and extended text', () => {
    fc.assert(
      fc.property(ctxArb, fc.nat(), fc.string({ minLength: 1, maxLength: 4 }), (ctx, cut, tail) => {
        const text = encodeContext(ctx, 'b', 'k', SECRET);
        expectContextError(() => decodeContext(text.slice(0, cut % text.length), 'b', 'k', SECRET));
        expectContextError(() => decodeContext(text + tail, 'b', 'k', SECRET));
      }),
      { numRuns: 200 },
    );
  });

  it('rejects random strings', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^[A-Za-z0-9_-]{0,80}$/)), (text) => {
        expectContextError(() => decodeContext(text, 'b', 'k', SECRET));
      }),
      { numRuns: 300 },
    );
    expectContextError(() => decodeContext('x'.repeat(300_000), 'b', 'k', SECRET));
    expectContextError(() => decodeContext(undefined as unknown as string, 'b', 'k', SECRET));
  });

  it('rejects a context for another key, bucket or secret', () => {
    fc.assert(
      fc.property(ctxArb, fc.string(), fc.string(), (ctx, bucket, key) => {
        const text = encodeContext(ctx, bucket, key, SECRET);
        expectContextError(() => decodeContext(text, bucket, key + 'x', SECRET));
        expectContextError(() => decodeContext(text, bucket + 'x', key, SECRET));
        expectContextError(() => decodeContext(text, bucket, key, SECRET + 'x'));
        // Length-prefixed scope: moving a character from bucket to key changes the MAC.
        if (bucket.length > 0) expectContextError(() => decodeContext(text, bucket.slice(0, -1), bucket.slice(-1) + key, SECRET));
      }),
      { numRuns: 200 },
    );
  });

  it('rejects an authentic token whose payload has the wrong shape', () => {
    const scope = ['kv-context', 'b', 'k'];
    const payloads: unknown[] = [
      'hello',
      [2, [], 0, 0], // unknown format version
      [1, ['n1', -1], 0, 0],
      [1, ['n1', 1, 'n1', 2], 0, 0],
      [1, ['x'.repeat(65), 1], 0, 0],
      [1, Array.from({ length: 2050 }, (_, i) => (i % 2 === 0 ? `n${i}` : 1)), 0, 0],
      [1, [], -1, 0],
      [1, [], 0],
    ];
    for (const p of payloads) expectContextError(() => decodeContext(sealToken(packr.pack(p), scope, SECRET), 'b', 'k', SECRET));
    expectContextError(() => decodeContext(sealToken(Uint8Array.of(0xc1), scope, SECRET), 'b', 'k', SECRET));
  });

  it('sealToken/openToken bind bytes to a scope, for reuse by other token kinds', () => {
    const bytes = Uint8Array.of(1, 2, 3);
    const text = sealToken(bytes, ['set-context', 'b', 'k'], SECRET);
    expect(openToken(text, ['set-context', 'b', 'k'], SECRET)).toEqual(Buffer.from(bytes));
    expectContextError(() => openToken(text, ['kv-context', 'b', 'k'], SECRET));
    expectContextError(() => openToken(text, ['set-context', 'b'], SECRET));
    expect(openToken(sealToken(new Uint8Array(), [], SECRET), [], SECRET)).toHaveLength(0);
  });
});
