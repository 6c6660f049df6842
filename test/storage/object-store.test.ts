import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeObject, encodeObject } from '../../src/core/codec.ts';
import { decodeRemembering, knownEncoding, rememberEncoding } from '../../src/core/encoded.ts';
import type { VersionedObject } from '../../src/core/types.ts';
import type { Engine } from '../../src/storage/engine.ts';
import { encodeMetaKey, encodeObjectKey } from '../../src/storage/keys.ts';
import { MemoryEngine } from '../../src/storage/memory.ts';
import { getOrCreateIncarnation } from '../../src/storage/metadata.ts';
import { KeyBusyError, ObjectStore, StoreClosedError } from '../../src/storage/object-store.ts';
import {
  CorruptRecordError,
  RECORD_FORMAT_VERSION,
  RecordType,
  decodeValue,
  encodeRecord,
  encodeValue,
  versionedObjectCodec,
} from '../../src/storage/records.ts';
import type { RecordCodec } from '../../src/storage/records.ts';
import { openRocksEngine } from '../../src/storage/rocksdb.ts';
import { appendSibling, heldWritesEngine, objWith, slowEngine } from './helpers.ts';

const root = mkdtempSync(join(tmpdir(), 'shoal-store-'));
let dirs = 0;
const nextDir = (): string => join(root, `db${dirs++}`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Canonical bytes, so objects compare equal regardless of Buffer vs Uint8Array. */
const canon = (o: VersionedObject | undefined): string | undefined =>
  o === undefined ? undefined : Buffer.from(encodeObject(o)).toString('hex');

/** What is really on disk for (bucket, key), bypassing the store and its cache. */
async function stored(engine: Engine, bucket: string, key: string): Promise<VersionedObject | undefined> {
  const raw = await engine.get(encodeObjectKey(bucket, key));
  return raw === undefined ? undefined : decodeValue(versionedObjectCodec, raw, 'test');
}

const engines: [string, () => Promise<Engine>][] = [
  ['memory', async () => new MemoryEngine()],
  ['rocksdb', () => openRocksEngine(nextDir(), { sync: false })],
];

describe.each(engines)('ObjectStore on %s', (_name, open) => {
  it('100 concurrent updates of one key all survive', async () => {
    const engine = slowEngine(await open());
    const store = new ObjectStore(engine, { cacheEntries: 100 });
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => store.update('b', 'hot', (cur) => appendSibling(cur, `w${i}-`))),
    );
    // Each update saw the one before it: resolved values have 1..100 siblings, each once.
    expect(results.map((r) => r?.siblings.length).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    const onDisk = await stored(engine, 'b', 'hot');
    expect(onDisk?.siblings).toHaveLength(100);
    expect(onDisk?.clock).toEqual({ n1: 100 });
    expect(canon(await store.get('b', 'hot'))).toBe(canon(onDisk));
    await store.close();
  });

  it('concurrent updates of different keys do not wait on each other or mix', async () => {
    const engine = slowEngine(await open());
    const store = new ObjectStore(engine, { cacheEntries: 10 });
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => store.update('b', `k${i % 4}`, (cur) => appendSibling(cur))),
    );
    for (let k = 0; k < 4; k++) expect((await stored(engine, 'b', `k${k}`))?.siblings).toHaveLength(10);
    await store.close();
  });

  it('keeps the cache consistent with storage across update, get and remove', async () => {
    const engine = slowEngine(await open());
    const store = new ObjectStore(engine, { cacheEntries: 2 });
    const check = async (key: string): Promise<void> => {
      expect(canon(await store.get('b', key))).toBe(canon(await stored(engine, 'b', key)));
    };
    await store.update('b', 'k', () => objWith(1));
    await check('k');
    // A cache-missing get racing an update must not leave the value the update replaced
    // in the cache: evict 'k' by filling the (2-entry) cache with other keys first.
    await store.update('b', 'e1', () => objWith(1));
    await store.update('b', 'e2', () => objWith(1));
    const missesBefore = store.stats.cacheMisses;
    const release = engine.holdNextGet(); // this get reads v1, then stalls
    const racingGet = store.get('b', 'k');
    const racingUpdate = store.update('b', 'k', () => objWith(2));
    // Let the update finish if it can overtake the stalled read (a correct store makes it
    // wait, so this bounded wait runs out); then release the read.
    await Promise.race([racingUpdate, new Promise((r) => setTimeout(r, 100))]);
    release();
    expect((await racingGet)?.siblings).toHaveLength(1);
    await racingUpdate;
    expect(store.stats.cacheMisses).toBeGreaterThan(missesBefore); // the race was on a miss
    expect((await store.get('b', 'k'))?.siblings).toHaveLength(2);
    await check('k');
    // A get on a cold key racing its first update.
    const cold = store.get('b', 'cold');
    const coldWrite = store.update('b', 'cold', () => objWith(3));
    expect(await cold).toBeUndefined();
    await coldWrite;
    expect((await store.get('b', 'cold'))?.siblings).toHaveLength(3);
    await check('cold');

    await store.remove('b', 'k');
    expect(await store.get('b', 'k')).toBeUndefined();
    expect(await stored(engine, 'b', 'k')).toBeUndefined();
    // update after remove starts from nothing.
    const after = await store.update('b', 'k', (cur) => appendSibling(cur));
    expect(after?.siblings).toHaveLength(1);
    await check('k');
    await store.close();
  });

  it('serves repeated reads from the cache and counts hits, misses, reads and writes', async () => {
    const engine = slowEngine(await open());
    const store = new ObjectStore(engine, { cacheEntries: 2 });
    await store.update('b', 'a', () => objWith(1)); // miss (load), write
    const getsBefore = engine.calls.gets;
    await store.get('b', 'a');
    await store.get('b', 'a');
    expect(engine.calls.gets).toBe(getsBefore); // answered from the cache
    expect(store.stats).toEqual({ cacheHits: 2, cacheMisses: 1, reads: 1, writes: 1 });
    // Evicted past cacheEntries, then re-read from the engine, still correct.
    await store.update('b', 'x', () => objWith(1));
    await store.update('b', 'y', () => objWith(1));
    expect((await store.get('b', 'a'))?.siblings).toHaveLength(1);
    expect(engine.calls.gets).toBe(getsBefore + 3);
    await store.close();
  });

  it('bounds the cache by estimated bytes too, and never caches a value too big for it', async () => {
    const engine = slowEngine(await open());
    // ~700 estimated bytes per small object: 40 kB holds ~57 of them; an entry over 2.5 kB is not cached.
    const store = new ObjectStore(engine, { cacheEntries: 10_000, cacheBytes: 40_000 });
    for (let i = 0; i < 100; i++) await store.update('b', `k${i}`, () => objWith(1));
    let gets = engine.calls.gets;
    await store.get('b', 'k99');
    expect(engine.calls.gets).toBe(gets); // recent: cached
    await store.get('b', 'k0');
    expect(engine.calls.gets).toBe(gets + 1); // evicted by bytes long before 10,000 entries

    const small = objWith(1);
    const big = { ...small, siblings: [{ ...small.siblings[0]!, value: new Uint8Array(5000).fill(7) }] };
    await store.get('b', 'k99'); // cached small copy ...
    await store.update('b', 'k99', () => big); // ... replaced by one too big to cache
    gets = engine.calls.gets;
    const read = await store.get('b', 'k99');
    expect(engine.calls.gets).toBe(gets + 1); // not served a stale small copy from the cache
    expect(read?.siblings[0]?.value.length).toBe(5000);
    await store.get('b', 'k99');
    expect(engine.calls.gets).toBe(gets + 2); // and still not cached
    await store.close();
  });

  it('rejects a negative or fractional cacheBytes', async () => {
    const engine = new MemoryEngine();
    expect(() => new ObjectStore(engine, { cacheEntries: 10, cacheBytes: -1 })).toThrow(/cacheBytes/);
    expect(() => new ObjectStore(engine, { cacheEntries: 10, cacheBytes: 1.5 })).toThrow(/cacheBytes/);
  });

  it('skips the engine read only for keys knownAbsent vouches for; a loaded value keeps its bytes', async () => {
    const engine = slowEngine(await open());
    const first = new ObjectStore(engine, { cacheEntries: 0 });
    await first.update('b', 'present', () => objWith(1));
    const absent = new Set(['new1', 'new2']);
    const store = new ObjectStore(engine, { cacheEntries: 10, knownAbsent: (b, k) => b === 'b' && absent.has(k) });
    const gets = engine.calls.gets;
    expect(await store.get('b', 'new1')).toBeUndefined();
    await store.update('b', 'new2', (cur) => {
      expect(cur).toBeUndefined();
      return objWith(2);
    });
    expect(engine.calls.gets).toBe(gets); // neither touched the engine
    const loaded = await store.get('b', 'present'); // not vouched for: read from the engine
    expect(engine.calls.gets).toBe(gets + 1);
    expect(canon(await stored(engine, 'b', 'new2'))).toBe(canon(objWith(2)));
    expect(canon(loaded)).toBe(canon(objWith(1)));
    // The bytes it was loaded from are its encoding, and equal a fresh encode.
    expect(Buffer.from(knownEncoding(loaded)!).toString('hex')).toBe(canon(loaded));
    expect(store.peek('b', 'present')).toBe(loaded);
    expect(store.peek('b', 'elsewhere')).toBeUndefined();
    await store.close();
  });

  it('works with the cache disabled', async () => {
    const store = new ObjectStore(await open(), { cacheEntries: 0 });
    await store.update('b', 'k', () => objWith(2));
    expect((await store.get('b', 'k'))?.siblings).toHaveLength(2);
    expect(store.stats.cacheHits).toBe(0);
    await store.close();
  });

  it('fn returning null leaves the value unchanged and writes nothing', async () => {
    const store = new ObjectStore(await open(), { cacheEntries: 10 });
    expect(await store.update('b', 'k', () => null)).toBeUndefined();
    await store.update('b', 'k', () => objWith(1));
    const writes = store.stats.writes;
    expect((await store.update('b', 'k', () => null))?.siblings).toHaveLength(1);
    expect(store.stats.writes).toBe(writes);
    await store.close();
  });

  it('a throwing fn rejects only its own update', async () => {
    const store = new ObjectStore(slowEngine(await open()), { cacheEntries: 10 });
    const ok1 = store.update('b', 'k', (c) => appendSibling(c));
    const bad = store.update('b', 'k', () => {
      throw new Error('nope');
    });
    const ok2 = store.update('b', 'k', (c) => appendSibling(c));
    await expect(bad).rejects.toThrow('nope');
    await ok1;
    expect((await ok2)?.siblings).toHaveLength(2);
    await store.close();
  });

  it('a corrupt record surfaces as CorruptRecordError naming bucket and key, never as absent', async () => {
    const engine = await open();
    const store = new ObjectStore(engine, { cacheEntries: 10 });
    const good = encodeValue(versionedObjectCodec, objWith(1));
    const bodies: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['truncated header', Uint8Array.of(RecordType.Object)],
      ['wrong type', encodeRecord(RecordType.Meta, good.subarray(2))],
      ['future version', Uint8Array.of(RecordType.Object, RECORD_FORMAT_VERSION + 1, ...good.subarray(2))],
      ['truncated body', good.subarray(0, good.length - 3)],
      ['garbage body', encodeRecord(RecordType.Object, Uint8Array.of(0xc1, 0xc1))],
    ];
    for (const [what, bytes] of bodies) {
      const key = `bad-${what}`;
      await engine.put(encodeObjectKey('bkt', key), bytes);
      const err = await store.get('bkt', key).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, what).toBeInstanceOf(CorruptRecordError);
      expect((err as Error).message, what).toContain('"bkt"');
      expect((err as Error).message, what).toContain(JSON.stringify(key));
      let called = false;
      await expect(
        store.update('bkt', key, () => {
          called = true;
          return objWith(1);
        }),
      ).rejects.toBeInstanceOf(CorruptRecordError);
      expect(called, what).toBe(false);
      // The bad bytes are still there (not overwritten), and removal (repair) works.
      expect(Buffer.from((await engine.get(encodeObjectKey('bkt', key))) ?? []).equals(Buffer.from(bytes))).toBe(true);
      await store.remove('bkt', key);
      expect(await store.get('bkt', key)).toBeUndefined();
    }
    await store.close();
  });

  it('scan yields every object in key order, per bucket or all, skipping other keyspaces', async () => {
    const engine = await open();
    const store = new ObjectStore(engine, { cacheEntries: 10 });
    const put = (b: string, k: string): Promise<unknown> => store.update(b, k, () => objWith(1, `${b}/${k}`));
    // Written out of order; 'a'/'bc' and 'ab'/'c' would collide under naive concatenation.
    for (const [b, k] of [['ab', 'c'], ['a', 'z'], ['a', 'bc'], ['b', 'a'], ['a', ''], ['a', 'é'], ['a', 'b']] as const) {
      await put(b, k);
    }
    await engine.put(encodeMetaKey('incarnation'), encodeRecord(RecordType.Meta, Uint8Array.of(0x41)));
    const all: string[] = [];
    for await (const e of store.scan()) {
      all.push(`${e.bucket}/${e.key}`);
      expect(new TextDecoder().decode(e.obj.siblings[0]?.value)).toBe(`${e.bucket}/${e.key}1`);
    }
    // Buckets by (byte length, bytes), then keys bytewise (UTF-8: 'é' after 'z').
    expect(all).toEqual(['a/', 'a/b', 'a/bc', 'a/z', 'a/é', 'b/a', 'ab/c']);
    const inA: string[] = [];
    for await (const e of store.scan('a')) inA.push(e.key);
    expect(inA).toEqual(['', 'b', 'bc', 'z', 'é']);
    const none: string[] = [];
    for await (const e of store.scan('nope')) none.push(e.key);
    expect(none).toEqual([]);
    await store.close();
  });

  it('scan throws on a corrupt record unless onCorrupt is given', async () => {
    const engine = await open();
    const store = new ObjectStore(engine, { cacheEntries: 10 });
    await store.update('b', 'k1', () => objWith(1));
    await engine.put(encodeObjectKey('b', 'k2'), Uint8Array.of(9, 9, 9));
    await store.update('b', 'k3', () => objWith(1));
    const drain = async (opts = {}): Promise<string[]> => {
      const keys: string[] = [];
      for await (const e of store.scan('b', opts)) keys.push(e.key);
      return keys;
    };
    await expect(drain()).rejects.toBeInstanceOf(CorruptRecordError);
    const bad: string[] = [];
    expect(await drain({ onCorrupt: (e: CorruptRecordError) => bad.push(e.where) })).toEqual(['k1', 'k3']);
    expect(bad).toEqual(['object "b"/"k2"']);
    await store.close();
  });

  it('close waits for queued updates, then rejects new operations', async () => {
    const engine = slowEngine(await open());
    const store = new ObjectStore(engine, { cacheEntries: 10 });
    const pending = store.update('b', 'k', () => objWith(1));
    let settled = false;
    void pending.then(() => (settled = true));
    await store.close();
    expect(settled).toBe(true);
    await expect(store.get('b', 'k')).rejects.toBeInstanceOf(StoreClosedError);
    await expect(store.update('b', 'k', () => null)).rejects.toBeInstanceOf(StoreClosedError);
  });
});

describe('ObjectStore pipelines the updates of one key', () => {
  /** Lets queued operations reach the engine, then settles every held write. */
  const settleHeld = async (engine: { releaseAll(): Promise<void> }): Promise<void> => {
    await new Promise((r) => setImmediate(r));
    await engine.releaseAll();
  };

  it('computes the next update before the previous write is durable, resolving each only when its own write is', async () => {
    const engine = heldWritesEngine(new MemoryEngine());
    const store = new ObjectStore(engine, { cacheEntries: 10, knownAbsent: () => true });
    let resolved = 0;
    const ops = Array.from({ length: 5 }, (_, i) => store.update('b', 'hot', (cur) => appendSibling(cur, `w${i}-`)).then((v) => (resolved++, v)));
    await new Promise((r) => setImmediate(r));
    expect(engine.held).toBe(5); // all five handed to the engine, none waited for another's write
    expect(resolved).toBe(0); // and none acknowledged before its write is durable
    await engine.releaseAll();
    const results = await Promise.all(ops);
    expect(results.map((r) => r?.siblings.length)).toEqual([1, 2, 3, 4, 5]);
    expect(canon(await stored(engine, 'b', 'hot'))).toBe(canon(results[4]));
    expect(canon(await store.get('b', 'hot'))).toBe(canon(results[4])); // the cache follows the last write
    await store.close();
  });

  it('a failed write fails its own update; later ones built on it carry its dot, so no dot is handed out twice', async () => {
    const engine = heldWritesEngine(new MemoryEngine());
    const store = new ObjectStore(engine, { cacheEntries: 0 });
    const zeroth = store.update('b', 'k', (cur) => appendSibling(cur));
    await settleHeld(engine);
    await zeroth;
    engine.failNext(1);
    const first = store.update('b', 'k', (cur) => appendSibling(cur)).then(() => 'stored', (err: Error) => err.message); // dot n1:2: its write fails
    const second = store.update('b', 'k', (cur) => appendSibling(cur)); // dot n1:3, computed on n1:2
    await new Promise((r) => setImmediate(r));
    expect(engine.held).toBe(2);
    await engine.releaseAll();
    expect(await first).toMatch(/injected/);
    expect((await second)?.clock).toEqual({ n1: 3 });
    // The next update starts from what is stored (n1:3), not from before the failure.
    const third = store.update('b', 'k', (cur) => appendSibling(cur));
    await settleHeld(engine);
    expect((await third)?.clock).toEqual({ n1: 4 });
    expect((await stored(engine, 'b', 'k'))?.clock).toEqual({ n1: 4 });
    await store.close();
  });

  it('an update that changes nothing resolves only once the write it saw in flight is durable', async () => {
    const engine = heldWritesEngine(new MemoryEngine());
    const store = new ObjectStore(engine, { cacheEntries: 10, knownAbsent: () => true });
    const write = store.update('b', 'k', () => objWith(1));
    let same: VersionedObject | undefined | 'pending' = 'pending';
    const unchanged = store.update('b', 'k', () => null).then((v) => (same = v));
    await new Promise((r) => setImmediate(r));
    expect(same).toBe('pending'); // a replica must not acknowledge what is only in flight
    await engine.releaseAll();
    await write;
    await unchanged;
    expect(canon(same as unknown as VersionedObject)).toBe(canon(objWith(1)));

    // If that write fails, so does the update that relied on it.
    engine.failNext(1);
    const failing = store.update('b', 'k2', () => objWith(2)).then(() => 'stored', (e: Error) => e.message);
    const relying = store.update('b', 'k2', () => null).then(() => 'stored', (e: Error) => e.message);
    await new Promise((r) => setImmediate(r));
    await engine.releaseAll();
    expect(await failing).toMatch(/injected/);
    expect(await relying).toMatch(/injected/);
    await store.close();
  });

  it('an engine read or a removal waits until no write of the key is in flight', async () => {
    const engine = heldWritesEngine(new MemoryEngine());
    const store = new ObjectStore(engine, { cacheEntries: 0 });
    const write = store.update('b', 'k', () => objWith(2));
    let read: VersionedObject | undefined | 'pending' = 'pending';
    const get = store.get('b', 'k').then((v) => (read = v));
    let removed = false;
    const remove = store.remove('b', 'k').then(() => (removed = true));
    await new Promise((r) => setImmediate(r));
    expect(engine.held).toBe(1);
    expect(read).toBe('pending'); // it would have read the engine before the write landed
    expect(removed).toBe(false);
    await engine.releaseAll();
    await write;
    await get;
    expect(canon(read as unknown as VersionedObject)).toBe(canon(objWith(2)));
    await remove;
    expect(await stored(engine, 'b', 'k')).toBeUndefined();
    await store.close();
  });
});

describe('ObjectStore bounds and generics', () => {
  it('rejects operations past maxQueuedPerKey with KeyBusyError', async () => {
    const store = new ObjectStore(slowEngine(new MemoryEngine()), { cacheEntries: 10, maxQueuedPerKey: 3 });
    const ops = Array.from({ length: 5 }, () => store.update('b', 'k', (c) => appendSibling(c)));
    const results = await Promise.allSettled(ops);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected']);
    expect((results[3] as PromiseRejectedResult).reason).toBeInstanceOf(KeyBusyError);
    // The queue drains and the key accepts work again.
    expect((await store.update('b', 'k', (c) => appendSibling(c)))?.siblings).toHaveLength(4);
    await store.close();
  });

  it('keeps a written object in its own record: values from a shared buffer do not pin it', async () => {
    // A request body is a view into an 8 KiB pool slab; cached as-is it would keep the slab.
    const slab = new Uint8Array(8192);
    const written = objWith(1);
    const body = slab.subarray(100, 110);
    body.set(new TextEncoder().encode('ten bytes!'));
    const obj: VersionedObject = { ...written, siblings: [{ ...written.siblings[0]!, value: body }] };
    const store = new ObjectStore(new MemoryEngine(), { cacheEntries: 10 });
    const result = await store.update('b', 'k', () => obj);
    const cached = await store.get('b', 'k');
    expect(cached).toBe(result);
    const value = cached!.siblings[0]!.value;
    expect(Buffer.from(value).toString()).toBe('ten bytes!');
    // One allocation of exactly the record (2-byte header + encoding) holds the value and
    // the remembered encoding; the slab is not referenced.
    const encoding = knownEncoding(cached)!;
    expect(value.buffer).not.toBe(slab.buffer);
    expect(value.buffer).toBe(encoding.buffer);
    expect(value.buffer.byteLength).toBe(encoding.byteLength + 2);
    expect(canon(cached)).toBe(canon(obj));
    await store.close();
  });

  it('caches a self-contained written object as it is: no second decode, nothing pinned', async () => {
    // What a replica stores: an object decoded from a copy of its frame bytes, whose values
    // view that copy. Re-decoding it would only make a twin in another allocation.
    const incoming = decodeRemembering(encodeObject(objWith(2)), decodeObject, true);
    expect(versionedObjectCodec.selfContained?.(incoming)).toBe(true);
    const engine = new MemoryEngine();
    const store = new ObjectStore(engine, { cacheEntries: 10 });
    const result = await store.update('b', 'k', () => incoming);
    expect(result).toBe(incoming);
    expect(await store.get('b', 'k')).toBe(incoming);
    // What the engine holds decodes to the same object.
    const stored = await engine.get(encodeObjectKey('b', 'k'));
    expect(canon(decodeValue(versionedObjectCodec, stored!, 'b/k'))).toBe(canon(incoming));
    await store.close();
  });

  it('selfContained: only when every value views the remembered encoding, which owns its allocation', () => {
    const enc = encodeObject(objWith(2));
    const own = decodeRemembering(enc, decodeObject, true);
    expect(versionedObjectCodec.selfContained?.(own)).toBe(true);
    // Decoded in place from a view into a larger buffer: it would pin that buffer.
    const big = new Uint8Array(enc.length + 4096);
    big.set(enc, 100);
    expect(versionedObjectCodec.selfContained?.(decodeRemembering(big.subarray(100, 100 + enc.length), decodeObject))).toBe(false);
    // A value from elsewhere (a request body), or no remembered encoding at all.
    const foreign = { ...own, siblings: [{ ...own.siblings[0]!, value: new Uint8Array(3) }, ...own.siblings.slice(1)] };
    rememberEncoding(foreign, knownEncoding(own)!);
    expect(versionedObjectCodec.selfContained?.(foreign)).toBe(false);
    expect(versionedObjectCodec.selfContained?.(objWith(2))).toBe(false);
  });

  it('stores another record type through a custom codec', async () => {
    interface Counter {
      readonly n: number;
    }
    const counterCodec: RecordCodec<Counter> = {
      type: RecordType.Crdt,
      encode: (c) => new TextEncoder().encode(String(c.n)),
      decode: (b) => {
        const n = Number(new TextDecoder().decode(b));
        if (!Number.isSafeInteger(n)) throw new Error('not a counter');
        return { n };
      },
    };
    const engine = new MemoryEngine();
    const store = new ObjectStore<Counter>(engine, { cacheEntries: 10, codec: counterCodec });
    await Promise.all(Array.from({ length: 10 }, () => store.update('c', 'x', (cur) => ({ n: (cur?.n ?? 0) + 1 }))));
    expect((await store.get('c', 'x'))?.n).toBe(10);
    // A VersionedObject store over the same key refuses the counter record as corrupt.
    const objects = new ObjectStore(engine, { cacheEntries: 0 });
    await expect(objects.get('c', 'x')).rejects.toBeInstanceOf(CorruptRecordError);
    // @ts-expect-error: a non-VersionedObject store must be given its codec.
    void new ObjectStore<Counter>(engine, { cacheEntries: 1 });
    await store.close();
  });
});

describe('getOrCreateIncarnation', () => {
  it('persists across reopen; a wiped directory gets a new id', async () => {
    const dir = nextDir();
    let made = 0;
    const makeId = (): string => `id-${++made}`;
    const a = await openRocksEngine(dir, { sync: false });
    expect(await getOrCreateIncarnation(a, makeId)).toBe('id-1');
    expect(await getOrCreateIncarnation(a, makeId)).toBe('id-1');
    await a.close();
    const b = await openRocksEngine(dir, { sync: false });
    expect(await getOrCreateIncarnation(b, makeId)).toBe('id-1');
    await b.close();
    rmSync(dir, { recursive: true, force: true });
    const c = await openRocksEngine(dir, { sync: false });
    expect(await getOrCreateIncarnation(c, makeId)).toBe('id-2');
    await c.close();
    expect(made).toBe(2);
  });

  it('a corrupt stored id throws instead of being replaced', async () => {
    const engine = new MemoryEngine();
    await engine.put(encodeMetaKey('incarnation'), Uint8Array.of(RecordType.Object, RECORD_FORMAT_VERSION));
    await expect(getOrCreateIncarnation(engine, () => 'new')).rejects.toBeInstanceOf(CorruptRecordError);
  });
});
