import { describe, expect, it } from 'vitest';
import { HintStore, hintKey } from '../../src/replication/hints.ts';
import type { Engine, IterateOptions } from '../../src/storage/engine.ts';
import { MemoryEngine } from '../../src/storage/memory.ts';

/** A memory engine that counts the iterators it opens. */
class CountingEngine extends MemoryEngine {
  iterators = 0;
  override iterate(options: IterateOptions): ReturnType<Engine['iterate']> {
    this.iterators++;
    return super.iterate(options);
  }
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => Buffer.concat([a, b]);
const bytes = (s: string): Uint8Array => Buffer.from(s);

describe('HintStore', () => {
  it('lists owners with hints, counts the backlog exactly, and opens no iterator when it is empty', async () => {
    const engine = new CountingEngine();
    const store = await HintStore.open(engine, 100);
    const afterOpen = engine.iterators;
    expect(await store.owners()).toEqual([]);
    expect(engine.iterators).toBe(afterOpen);

    expect(await store.add('n2', 'b', 'k1', bytes('a'), concat)).toBe(true);
    expect(await store.add('n2', 'b', 'k1', bytes('b'), concat)).toBe(true); // merges: still one hint
    expect(await store.add('n3', 'b', 'k2', bytes('c'), concat)).toBe(true);
    expect(store.backlog).toBe(2);
    expect(await store.owners()).toEqual(['n2', 'n3']);
    expect(engine.iterators).toBeGreaterThan(afterOpen);

    // A removal of what was delivered; a hint merged since stays.
    expect(await store.removeIfUnchanged('n2', 'b', 'k1', bytes('a'))).toBe(false);
    expect(await store.removeIfUnchanged('n2', 'b', 'k1', bytes('ab'))).toBe(true);
    expect(await store.removeIfUnchanged('n2', 'b', 'k1', bytes('ab'))).toBe(false);
    expect(store.backlog).toBe(1);
    expect(await store.owners()).toEqual(['n3']);
    expect(await store.removeIfUnchanged('n3', 'b', 'k2', bytes('c'))).toBe(true);
    expect(store.backlog).toBe(0);
    const before = engine.iterators;
    expect(await store.owners()).toEqual([]);
    expect(engine.iterators).toBe(before);
  });

  it('a reopened store counts the hints left by the last run and lists their owners', async () => {
    const engine = new MemoryEngine();
    const first = await HintStore.open(engine, 100);
    await first.add('n2', 'b', 'k1', bytes('a'), concat);
    await first.add('n4', 'b', 'k1', bytes('a'), concat);
    const second = await HintStore.open(engine, 100);
    expect(second.backlog).toBe(2);
    expect(await second.owners()).toEqual(['n2', 'n4']);
    expect((await engine.get(hintKey('n4', 'b', 'k1'))) !== undefined).toBe(true);
  });

  it('refuses new keys once the backlog is full, and still merges into existing ones', async () => {
    const store = await HintStore.open(new MemoryEngine(), 2);
    expect(await store.add('n2', 'b', 'k1', bytes('a'), concat)).toBe(true);
    expect(await store.add('n2', 'b', 'k2', bytes('a'), concat)).toBe(true);
    expect(await store.add('n2', 'b', 'k3', bytes('a'), concat)).toBe(false);
    expect(store.dropped).toBe(1);
    expect(await store.add('n2', 'b', 'k1', bytes('b'), concat)).toBe(true);
    expect(store.backlog).toBe(2);
  });
});
