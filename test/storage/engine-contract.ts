// The one storage contract: every Engine runs this suite (as abstract-level's test/index.js).
// Usage: engineContract('memory', async () => new MemoryEngine()).

import { afterEach, describe, expect, it } from 'vitest';
import type { Engine, IterateOptions } from '../../src/storage/engine.ts';

const enc = new TextEncoder();
const s = (text: string): Uint8Array => enc.encode(text);
const b = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);
/** Comparable form: Buffers and Uint8Arrays with equal bytes compare equal. */
const hex = (u8: Uint8Array | undefined): string | undefined =>
  u8 === undefined ? undefined : Buffer.from(u8.buffer, u8.byteOffset, u8.length).toString('hex');

async function collect(engine: Engine, options: IterateOptions): Promise<string[]> {
  const out: string[] = [];
  for await (const [k, v] of engine.iterate(options)) out.push(`${hex(k)}=${hex(v)}`);
  return out;
}

async function keysOf(engine: Engine, options: IterateOptions): Promise<string[]> {
  const out: string[] = [];
  for await (const [k] of engine.iterate(options)) out.push(hex(k) as string);
  return out;
}

export function engineContract(name: string, open: () => Promise<Engine>): void {
  describe(`Engine contract: ${name}`, () => {
    const opened: Engine[] = [];
    const fresh = async (): Promise<Engine> => {
      const e = await open();
      opened.push(e);
      return e;
    };
    afterEach(async () => {
      for (const e of opened.splice(0)) await e.close();
    });

    it('get of an absent key resolves to undefined', async () => {
      const e = await fresh();
      expect(await e.get(s('nope'))).toBeUndefined();
    });

    it('put then get returns the bytes; put overwrites; delete removes', async () => {
      const e = await fresh();
      await e.put(s('k'), s('v1'));
      expect(hex(await e.get(s('k')))).toBe(hex(s('v1')));
      await e.put(s('k'), s('v2'));
      expect(hex(await e.get(s('k')))).toBe(hex(s('v2')));
      await e.delete(s('k'));
      expect(await e.get(s('k'))).toBeUndefined();
      await e.delete(s('k')); // deleting an absent key is not an error
    });

    it('writes not awaited are applied and settle in call order (ObjectStore pipelines on it)', async () => {
      const e = await fresh();
      const settled: number[] = [];
      const writes = Array.from({ length: 50 }, (_, i) =>
        (i % 7 === 6 ? e.delete(s('k')) : e.put(s('k'), s(`v${i}`))).then(() => settled.push(i)),
      );
      await Promise.all(writes);
      expect(settled).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(hex(await e.get(s('k')))).toBe(hex(s('v49')));
    });

    it('stores an empty value as present', async () => {
      const e = await fresh();
      await e.put(s('k'), new Uint8Array(0));
      const v = await e.get(s('k'));
      expect(v).toBeDefined();
      expect(v?.length).toBe(0);
    });

    it('rejects an empty key', async () => {
      const e = await fresh();
      await expect(e.put(new Uint8Array(0), s('v'))).rejects.toThrow(/empty/);
      await expect(e.get(new Uint8Array(0))).rejects.toThrow(/empty/);
    });

    it('binary keys with 0x00 and 0xff bytes are distinct and exact', async () => {
      const e = await fresh();
      const keys = [b(0x00), b(0x00, 0x00), b(0xff), b(0xff, 0x00), b(0x01, 0x00, 0xff), b(0x01, 0x00)];
      for (const [i, k] of keys.entries()) await e.put(k, b(i));
      for (const [i, k] of keys.entries()) expect(hex(await e.get(k))).toBe(hex(b(i)));
      expect(await e.get(b(0x01))).toBeUndefined();
    });

    it('does not alias caller buffers: mutating after put does not change the stored value', async () => {
      const e = await fresh();
      const k = s('k');
      const v = s('abc');
      await e.put(k, v);
      v[0] = 0x7a;
      k[0] = 0x7a;
      expect(hex(await e.get(s('k')))).toBe(hex(s('abc')));
    });

    it('reads through a subarray view use only the viewed bytes', async () => {
      const e = await fresh();
      const backing = s('xxKEYyyVALzz');
      await e.put(backing.subarray(2, 5), backing.subarray(7, 10));
      expect(hex(await e.get(s('KEY')))).toBe(hex(s('VAL')));
    });

    it('batch applies puts and deletes in order', async () => {
      const e = await fresh();
      await e.put(s('a'), s('old'));
      await e.batch([
        { type: 'put', key: s('b'), value: s('1') },
        { type: 'del', key: s('a') },
        { type: 'put', key: s('b'), value: s('2') }, // later op wins
        { type: 'put', key: s('c'), value: s('3') },
        { type: 'del', key: s('c') }, // put then del in one batch → absent
      ]);
      expect(await e.get(s('a'))).toBeUndefined();
      expect(hex(await e.get(s('b')))).toBe(hex(s('2')));
      expect(await e.get(s('c'))).toBeUndefined();
      await e.batch([]); // empty batch is a no-op
    });

    it('batch is atomic: an invalid op applies nothing', async () => {
      const e = await fresh();
      await expect(
        e.batch([
          { type: 'put', key: s('x'), value: s('1') },
          { type: 'put', key: new Uint8Array(0), value: s('2') },
        ]),
      ).rejects.toThrow();
      expect(await e.get(s('x'))).toBeUndefined();
    });

    it('batch is atomic to a concurrent reader: a snapshot sees all or none', async () => {
      const e = await fresh();
      const ops = Array.from({ length: 50 }, (_, i) => ({
        type: 'put' as const,
        key: s(`p/${String(i).padStart(3, '0')}`),
        value: s('v'),
      }));
      const write = e.batch(ops);
      const seen = await keysOf(e, { prefix: s('p/') });
      await write;
      expect([0, 50]).toContain(seen.length);
      expect(await keysOf(e, { prefix: s('p/') })).toHaveLength(50);
    });

    it('iterates a prefix in bytewise order, excluding neighbours', async () => {
      const e = await fresh();
      const inside = [b(0x10), b(0x10, 0x00), b(0x10, 0x01), b(0x10, 0x7f), b(0x10, 0x80), b(0x10, 0xff, 0xff)];
      const outside = [b(0x0f, 0xff), b(0x11), b(0x11, 0x00), b(0x00)];
      // Insert out of order so the engine has to sort.
      for (const k of [...inside].reverse()) await e.put(k, k);
      for (const k of outside) await e.put(k, k);
      expect(await keysOf(e, { prefix: b(0x10) })).toEqual(inside.map((k) => hex(k)));
      expect(await collect(e, { prefix: b(0x10, 0x7f) })).toEqual([`107f=107f`]);
    });

    it('prefix ending in 0xff bytes (no simple upper bound) still works', async () => {
      const e = await fresh();
      for (const k of [b(0xfe), b(0xff), b(0xff, 0xff), b(0xff, 0xff, 0x00), b(0xff, 0xfe)]) await e.put(k, k);
      expect(await keysOf(e, { prefix: b(0xff, 0xff) })).toEqual(['ffff', 'ffff00']);
      expect(await keysOf(e, { prefix: b(0xff) })).toEqual(['ff', 'fffe', 'ffff', 'ffff00']);
      expect(await keysOf(e, { prefix: b(0x01, 0xff) })).toEqual([]);
      await e.put(b(0x01, 0xff, 0x05), b(1));
      await e.put(b(0x02), b(2));
      expect(await keysOf(e, { prefix: b(0x01, 0xff) })).toEqual(['01ff05']);
    });

    it('an empty prefix iterates everything', async () => {
      const e = await fresh();
      for (const k of [b(0xff), b(0x00), b(0x42)]) await e.put(k, k);
      expect(await keysOf(e, { prefix: new Uint8Array(0) })).toEqual(['00', '42', 'ff']);
    });

    it('gte starts within the prefix; gte below or above the prefix is clamped', async () => {
      const e = await fresh();
      for (const c of ['a1', 'a2', 'a3', 'b1']) await e.put(s(c), s(c));
      const names = async (o: IterateOptions): Promise<string[]> =>
        (await keysOf(e, o)).map((h) => Buffer.from(h, 'hex').toString());
      expect(await names({ prefix: s('a'), gte: s('a2') })).toEqual(['a2', 'a3']);
      expect(await names({ prefix: s('a'), gte: s('a15') })).toEqual(['a2', 'a3']);
      expect(await names({ prefix: s('a'), gte: s('0') })).toEqual(['a1', 'a2', 'a3']);
      expect(await names({ prefix: s('a'), gte: s('b') })).toEqual([]);
    });

    it('limit stops after that many entries; limit 0 yields none', async () => {
      const e = await fresh();
      for (let i = 0; i < 10; i++) await e.put(b(0x01, i), b(i));
      expect(await keysOf(e, { prefix: b(0x01), limit: 3 })).toEqual(['0100', '0101', '0102']);
      expect(await keysOf(e, { prefix: b(0x01), limit: 0 })).toEqual([]);
      expect(await keysOf(e, { prefix: b(0x01), limit: 100 })).toHaveLength(10);
      expect(() => e.iterate({ prefix: b(0x01), limit: -1 })).toThrow(RangeError);
    });

    it('reverse iterates from the end of the prefix, with gte as the lower bound and limit', async () => {
      const e = await fresh();
      for (let i = 0; i < 5; i++) await e.put(b(0x01, i), b(i));
      await e.put(b(0x02), b(9));
      await e.put(b(0x00, 0xff), b(9));
      expect(await keysOf(e, { prefix: b(0x01), reverse: true })).toEqual(['0104', '0103', '0102', '0101', '0100']);
      expect(await keysOf(e, { prefix: b(0x01), reverse: true, limit: 2 })).toEqual(['0104', '0103']);
      expect(await keysOf(e, { prefix: b(0x01), reverse: true, gte: b(0x01, 0x03) })).toEqual(['0104', '0103']);
    });

    it('iteration reads a snapshot: writes during iteration are not seen', async () => {
      const e = await fresh();
      for (let i = 0; i < 20; i++) await e.put(b(0x05, i), b(i));
      const seen: string[] = [];
      let step = 0;
      for await (const [k, v] of e.iterate({ prefix: b(0x05) })) {
        seen.push(`${hex(k)}=${hex(v)}`);
        if (step++ === 0) {
          await e.put(b(0x05, 10), b(0xee)); // overwrite ahead of the cursor
          await e.delete(b(0x05, 15)); // delete ahead of the cursor
          await e.put(b(0x05, 0x80), b(0xee)); // insert ahead of the cursor
          await e.batch([{ type: 'put', key: b(0x05, 11), value: b(0xee) }]);
        }
      }
      expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => `${hex(b(0x05, i))}=${hex(b(i))}`));
      // And the writes did land.
      expect(hex(await e.get(b(0x05, 10)))).toBe('ee');
      expect(await e.get(b(0x05, 15))).toBeUndefined();
    });

    it('early break releases the iterator: later writes, iterations and close all work', async () => {
      const e = await fresh();
      for (let i = 0; i < 100; i++) await e.put(b(0x07, i), b(i));
      // Many abandoned iterations; a leaked RocksDB iterator would pin snapshots or block close.
      for (let round = 0; round < 50; round++) {
        for await (const [k] of e.iterate({ prefix: b(0x07) })) {
          expect(hex(k)).toBe('0700');
          break;
        }
      }
      // An exception inside the loop body also ends it.
      await expect(
        (async () => {
          for await (const _ of e.iterate({ prefix: b(0x07) })) throw new Error('boom');
        })(),
      ).rejects.toThrow('boom');
      await e.put(b(0x07, 0xff), b(1));
      expect(await keysOf(e, { prefix: b(0x07), reverse: true, limit: 1 })).toEqual(['07ff']);
    });

    it('each iteration of the same iterable takes a fresh snapshot', async () => {
      const e = await fresh();
      await e.put(s('q1'), s('1'));
      const iterable = e.iterate({ prefix: s('q') });
      expect(await (async () => { const o = []; for await (const x of iterable) o.push(x); return o.length; })()).toBe(1);
      await e.put(s('q2'), s('2'));
      expect(await (async () => { const o = []; for await (const x of iterable) o.push(x); return o.length; })()).toBe(2);
    });

    it('after close, operations reject instead of touching freed state', async () => {
      const e = await open();
      await e.put(s('k'), s('v'));
      await e.close();
      await expect(e.get(s('k'))).rejects.toThrow(/closed/);
      await expect(e.put(s('k'), s('v'))).rejects.toThrow(/closed/);
      await expect(e.batch([{ type: 'del', key: s('k') }])).rejects.toThrow(/closed/);
      await expect(keysOf(e, { prefix: s('k') })).rejects.toThrow(/closed/);
      await e.close(); // idempotent
    });
  });
}
