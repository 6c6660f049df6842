// Cost: an exchange costs what differs, not what is stored (tictac AAE's point). 100,000
// keys, 10 of them differing: the bytes on the wire to find and fix them are asserted
// against what sending the full key list (key + 8-byte hash each) would cost.
import { describe, expect, it } from 'vitest';
import { seedFromEnv, withSeed } from '../../src/net/sim.ts';
import { encodeValue, versionedObjectCodec } from '../../src/storage/records.ts';
import { simpleObject, startAaeHarness } from '../helpers/aae-harness.ts';

const KEYS = 100_000;
const DIFFERING = 10;

describe('anti-entropy exchange cost', () => {
  it(`${KEYS} keys, ${DIFFERING} differing: a few percent of the full key list, and both sides repaired`, () =>
    withSeed(async (seed) => {
      const h = startAaeHarness(['a', 'b'], seed, { n: 2, vnodes: 64 });
      const a = h.replica('a');
      const b = h.replica('b');
      let fullKeyListBytes = 0;
      for (let i = 0; i < KEYS; i++) {
        const key = `key-${i}`;
        const obj = simpleObject('x.1', 1, Buffer.from(`value-${i}`));
        const record = encodeValue(versionedObjectCodec, obj);
        a.store.put('b', key, obj, record);
        b.store.put('b', key, obj, record);
        fullKeyListBytes += 'b'.length + key.length + 8;
      }
      // Half the differences are newer on a, half only on b (a write a never saw).
      for (let i = 0; i < DIFFERING / 2; i++) a.store.put('b', `key-${i * 7919}`, simpleObject('x.1', 2, Buffer.from('newer')));
      for (let i = 0; i < DIFFERING / 2; i++) b.store.put('b', `only-b-${i}`, simpleObject('y.1', 1, Buffer.from('new')));
      expect(a.ae.roots()).not.toEqual(b.ae.roots());

      h.net.resetStats();
      const report = await h.run(a.ae.exchange('b'));
      const stats = h.net.stats();
      const aaeBytes = Object.entries(stats.byType)
        .filter(([name]) => name.startsWith('AAE_'))
        .reduce((sum, [, s]) => sum + s.bytes, 0);

      expect(report?.keysDiffering).toBe(DIFFERING);
      expect(report?.keysRepaired).toBe(DIFFERING);
      // Every partition's root is compared, few descend, and only differing keys move.
      expect(report?.partitionsCompared).toBe(h.ring.tokens.length);
      expect(report?.partitionsDiffering).toBeLessThanOrEqual(DIFFERING);
      expect(aaeBytes).toBe(stats.bytes);
      expect(aaeBytes / fullKeyListBytes).toBeLessThan(0.03);
      // Both replicas converged from one exchange: identical trees, identical objects.
      expect(a.ae.roots()).toEqual(b.ae.roots());
      expect(a.store.map.size).toBe(KEYS + DIFFERING / 2);
      expect(b.store.map.size).toBe(KEYS + DIFFERING / 2);
      expect(Buffer.from((await b.store.get('b', 'key-0'))!.siblings[0]!.value).toString()).toBe('newer');
      expect(await a.store.get('b', 'only-b-0')).toBeDefined();
      console.log(`cost: ${aaeBytes} bytes for ${DIFFERING} of ${KEYS} keys; full key list ${fullKeyListBytes} bytes (${((100 * aaeBytes) / fullKeyListBytes).toFixed(2)}%)`);
    }, seedFromEnv()),
    // ~7 s on an idle 2-core machine (200,000 md5s dominate); slack for a loaded one.
    120_000);
});
