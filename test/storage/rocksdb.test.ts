import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryEngine } from '../../src/storage/memory.ts';
import { openRocksEngine, rocksGroupCommits, rocksProperty } from '../../src/storage/rocksdb.ts';
import { engineContract } from './engine-contract.ts';

// One temp root per file; every engine gets its own subdirectory.
const root = mkdtempSync(join(tmpdir(), 'shoal-rocks-'));
let n = 0;
const nextDir = (): string => join(root, `db${n++}`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

engineContract('rocksdb', () => openRocksEngine(nextDir(), { sync: false }));
engineContract('rocksdb (sync)', () => openRocksEngine(nextDir(), { sync: true }));

describe('openRocksEngine', () => {
  it('writes made together go down as one commit, and the counts say so', async () => {
    const e = await openRocksEngine(nextDir(), { sync: false });
    try {
      await e.put(Uint8Array.of(1), Uint8Array.of(1));
      expect(rocksGroupCommits(e)).toEqual({ writes: 1, commits: 1 });
      // Queued in one turn of the event loop: one native batch carries all of them.
      await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 5 === 4 ? e.delete(Uint8Array.of(2, i - 1)) : e.put(Uint8Array.of(2, i), Uint8Array.of(i)))));
      expect(rocksGroupCommits(e)).toEqual({ writes: 51, commits: 2 });
      let left = 0;
      for await (const _ of e.iterate({ prefix: Uint8Array.of(2) })) left++;
      expect(left).toBe(30); // 40 puts, 10 of them deleted after, in call order
      expect(rocksGroupCommits(new MemoryEngine())).toBeUndefined();
    } finally {
      await e.close();
    }
  });

  it('creates missing parent directories', async () => {
    const dir = join(nextDir(), 'a', 'b');
    const e = await openRocksEngine(dir, { sync: false });
    await e.put(Uint8Array.of(1), Uint8Array.of(2));
    await e.close();
  });

  it('data survives close and reopen', async () => {
    const dir = nextDir();
    const a = await openRocksEngine(dir, { sync: false });
    await a.put(Uint8Array.of(1, 0, 0xff), Uint8Array.of(9));
    await a.close();
    const b = await openRocksEngine(dir, { sync: false });
    expect(Array.from((await b.get(Uint8Array.of(1, 0, 0xff))) ?? [])).toEqual([9]);
    await b.close();
  });

  it('a directory already open in this process fails with the path and the reason', async () => {
    const dir = nextDir();
    const a = await openRocksEngine(dir, { sync: false });
    try {
      const err = await openRocksEngine(dir, { sync: false }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toContain(dir);
      expect((err as Error).message).toMatch(/already open/);
    } finally {
      await a.close();
    }
  });

  it('iterators release their snapshot when done, on early break and on a throw', async () => {
    const e = await openRocksEngine(nextDir(), { sync: false });
    try {
      const snapshots = (): string | undefined => rocksProperty(e, 'rocksdb.num-snapshots');
      for (let i = 0; i < 10; i++) await e.put(Uint8Array.of(1, i), Uint8Array.of(i));
      expect(snapshots()).toBe('0');
      const it = e.iterate({ prefix: Uint8Array.of(1) })[Symbol.asyncIterator]();
      await it.next();
      expect(snapshots()).toBe('1'); // held while iterating: the check below can fail
      await it.return?.();
      expect(snapshots()).toBe('0');
      for await (const _ of e.iterate({ prefix: Uint8Array.of(1) })) break;
      expect(snapshots()).toBe('0');
      await expect(
        (async () => {
          for await (const _ of e.iterate({ prefix: Uint8Array.of(1) })) throw new Error('boom');
        })(),
      ).rejects.toThrow('boom');
      expect(snapshots()).toBe('0');
      for await (const _ of e.iterate({ prefix: Uint8Array.of(1) })) void _;
      expect(snapshots()).toBe('0');
      expect(rocksProperty(new MemoryEngine(), 'rocksdb.num-snapshots')).toBeUndefined();
    } finally {
      await e.close();
    }
  });

  it('a path that is a file fails with the path named', async () => {
    const file = join(root, `file${n++}`);
    writeFileSync(file, 'not a directory');
    await expect(openRocksEngine(file, { sync: false })).rejects.toThrow(file);
    await expect(openRocksEngine(file, { sync: false })).rejects.toThrow(/not a directory/);
  });

  it('corrupt database files fail with the path and "corrupt"', async () => {
    const dir = nextDir();
    const a = await openRocksEngine(dir, { sync: false });
    await a.close();
    writeFileSync(join(dir, 'CURRENT'), 'garbage\n');
    const err = await openRocksEngine(dir, { sync: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).message).toContain(dir);
    expect((err as Error).message).toMatch(/corrupt/);
  });
});
