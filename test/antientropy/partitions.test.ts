// Which tree a key is counted in: its bucket's n and the vnode range its ring hash falls in,
// on the nodes that replicate that range, and in no tree on the others.
import { describe, expect, it } from 'vitest';
import { keyHash, partitionOf, preferenceList } from '../../src/core/ring.ts';
import { seedFromEnv } from '../../src/net/sim.ts';
import { simpleObject, startAaeHarness } from '../helpers/aae-harness.ts';

describe('anti-entropy partitions', () => {
  it('a key is in the tree of (its bucket n, its vnode range) exactly on that range’s replicas', () => {
    const h = startAaeHarness(['a', 'b', 'c', 'd'], seedFromEnv(), { n: 3, vnodes: 16, nOfBucket: { one: 1, two: 2 } });
    const nOf: Record<string, number> = { one: 1, two: 2, three: 3 };
    for (const bucket of Object.keys(nOf)) {
      for (let i = 0; i < 300; i++) for (const r of h.replicas) r.store.put(bucket, `k${i}`, simpleObject('x.1', 1, Buffer.from(`v${i}`)));
    }
    let counted = 0;
    for (const r of h.replicas) {
      for (const [bucket, n] of Object.entries(nOf)) {
        for (let i = 0; i < 300; i++) {
          const hash = keyHash(bucket, `k${i}`);
          const index = partitionOf(h.ring, hash);
          const replicated = preferenceList(h.ring, h.ring.tokens[index] as number, n).includes(r.id);
          const entry = r.ae.index.get(bucket, `k${i}`);
          expect(entry?.partition).toBe(replicated ? `${n}/${index}` : undefined);
          if (replicated) counted++;
        }
      }
    }
    // Each key is counted on exactly n of the four nodes.
    expect(counted).toBe(300 * (1 + 2 + 3));
  });
});
