// The default Engine: npm `rocksdb` (a leveldown-style binding, abstract-leveldown v7
// callback API). Keys and values cross the binding as Buffers that view the caller's
// bytes without copying.

import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { BatchOp, Engine, EngineOptions, IterateOptions } from './engine.ts';
import { assertKey, assertLimit, assertValue, maxBytes, prefixUpperBound } from './bytes.ts';

// Minimal local typing of the parts of the binding we use (it ships no types).
type Callback = (err: Error | null | undefined) => void;
type ValueCallback<T> = (err: Error | null | undefined, value?: T) => void;

interface RocksIteratorOptions {
  gte?: Buffer;
  lt?: Buffer;
  reverse: boolean;
  limit: number;
  keyAsBuffer: true;
  valueAsBuffer: true;
}

interface RocksIterator {
  next(cb: (err: Error | null | undefined, key?: Buffer, value?: Buffer) => void): void;
  end(cb: Callback): void;
}

type RocksBatchOp =
  | { type: 'put'; key: Buffer; value: Buffer }
  | { type: 'del'; key: Buffer };

interface RocksDb {
  open(options: { createIfMissing: boolean; errorIfExists: boolean; writeBufferSize?: number; cacheSize?: number }, cb: Callback): void;
  close(cb: Callback): void;
  get(key: Buffer, options: { asBuffer: true }, cb: ValueCallback<Buffer>): void;
  put(key: Buffer, value: Buffer, options: { sync: boolean }, cb: Callback): void;
  del(key: Buffer, options: { sync: boolean }, cb: Callback): void;
  batch(ops: RocksBatchOp[], options: { sync: boolean }, cb: Callback): void;
  iterator(options: RocksIteratorOptions): RocksIterator;
  getProperty(name: string): string;
}

const require = createRequire(import.meta.url);
const rocksdb = require('rocksdb') as (location: string) => RocksDb;

/** A Buffer over the same memory: the binding needs Buffers, we hand it Uint8Arrays. */
function buf(u8: Uint8Array): Buffer {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.length);
}

/** Turns RocksDB's status strings into a sentence an operator can act on. */
function explainOpenError(dir: string, cause: unknown): Error {
  const raw = cause instanceof Error ? cause.message : String(cause);
  const code = (cause as { code?: unknown } | null)?.code;
  let reason: string;
  if (/lock hold by current process/i.test(raw)) {
    reason = 'it is already open in this process';
  } else if (/lock/i.test(raw)) {
    reason = 'it is locked by another process (is another Shoal node using this data directory?)';
  } else if (code === 'EACCES' || code === 'EPERM' || /permission denied|read-only/i.test(raw)) {
    reason = 'permission denied (the directory is not writable by this user)';
  } else if (code === 'EEXIST' || code === 'ENOTDIR' || /not a directory/i.test(raw)) {
    reason = 'the path exists and is not a directory';
  } else if (/corrupt/i.test(raw)) {
    reason = 'the database files are corrupt';
  } else {
    reason = 'RocksDB could not open it';
  }
  return new Error(`cannot open data directory ${dir}: ${reason} (${raw})`, { cause });
}

// The binding's defaults (4 MB memtables, and RocksDB keeps only two) made sustained writes
// stall for hundreds of milliseconds whenever a flush lagged behind on a busy machine: the
// second memtable filled before the first was on disk. RocksDB's own default is 64 MB; 32 MB
// keeps two of them cheap beside the object cache. The block cache (8 MB by default) holds
// the SST blocks reads of uncached keys touch.
const WRITE_BUFFER_BYTES = 32 << 20;
const BLOCK_CACHE_BYTES = 32 << 20;

export async function openRocksEngine(dir: string, options: EngineOptions): Promise<Engine> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw explainOpenError(dir, err);
  }
  const db = rocksdb(dir);
  await new Promise<void>((resolve, reject) => {
    db.open({ createIfMissing: true, errorIfExists: false, writeBufferSize: WRITE_BUFFER_BYTES, cacheSize: BLOCK_CACHE_BYTES }, (err) =>
      err ? reject(explainOpenError(dir, err)) : resolve(),
    );
  });
  return new RocksEngine(db, dir, options.sync);
}

/**
 * A RocksDB property of a RocksDB engine (for metrics and tests), e.g.
 * `rocksdb.estimate-num-keys`, `rocksdb.num-snapshots`; undefined for other engines.
 */
export function rocksProperty(engine: Engine, name: string): string | undefined {
  return engine instanceof RocksEngine ? engine.property(name) : undefined;
}

/** Group commit's counts since open: single writes, and the native writes that carried them. */
export interface GroupCommitStats {
  writes: number;
  commits: number;
}

/** Group commit counts of a RocksDB engine (for metrics); undefined for other engines. */
export function rocksGroupCommits(engine: Engine): Readonly<GroupCommitStats> | undefined {
  return engine instanceof RocksEngine ? engine.groupCommits : undefined;
}

function done(resolve: () => void, reject: (e: Error) => void): Callback {
  return (err) => (err ? reject(err) : resolve());
}

class RocksEngine implements Engine {
  readonly #db: RocksDb;
  readonly #dir: string;
  readonly #writeOptions: { sync: boolean };
  // The binding may crash when used after close, so every call checks this first.
  #closed = false;
  /**
   * Group commit: single puts and deletes wait here while a write is in flight and go to
   * RocksDB together as one batch (one WAL append, one fsync when sync is on) instead of
   * one native call each. Each caller still resolves only once its own write is durable.
   */
  #pending: { op: RocksBatchOp; resolve: () => void; reject: (e: Error) => void }[] = [];
  #writing = false;
  #idle: (() => void)[] = [];
  readonly groupCommits: GroupCommitStats = { writes: 0, commits: 0 };

  constructor(db: RocksDb, dir: string, sync: boolean) {
    this.#db = db;
    this.#dir = dir;
    this.#writeOptions = { sync };
  }

  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return new Promise((resolve, reject) => {
      this.#assertOpen();
      assertKey(key);
      this.#db.get(buf(key), { asBuffer: true }, (err, value) => {
        if (err) {
          // abstract-leveldown reports an absent key as an error whose message starts 'NotFound'.
          if (/^NotFound/.test(err.message)) resolve(undefined);
          else reject(err);
        } else {
          resolve(value);
        }
      });
    });
  }

  put(key: Uint8Array, value: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#assertOpen();
      assertKey(key);
      assertValue(value);
      this.#enqueue({ type: 'put', key: Buffer.from(buf(key)), value: Buffer.from(buf(value)) }, resolve, reject);
    });
  }

  delete(key: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#assertOpen();
      assertKey(key);
      this.#enqueue({ type: 'del', key: Buffer.from(buf(key)) }, resolve, reject);
    });
  }

  // Copies above: the caller may reuse its buffers before the batch is written.
  #enqueue(op: RocksBatchOp, resolve: () => void, reject: (e: Error) => void): void {
    this.#pending.push({ op, resolve, reject });
    if (!this.#writing) {
      // Start in the event loop's check phase, not now: every write made while this poll
      // phase handles its I/O (a peer frame carries many, and many requests arrive together)
      // goes down as one batch: one native call, one hand-off to the thread pool (on a busy
      // machine each hand-off can cost the main thread its core), one WAL append.
      this.#writing = true;
      setImmediate(this.#flushSoon);
    }
  }

  readonly #flushSoon = (): void => this.#flush();

  #flush(): void {
    // Bounded batches keep one slow write from holding an unbounded number of callers.
    const group = this.#pending.splice(0, 4096);
    if (group.length === 0 || this.#closed) {
      for (const w of group) w.reject(new Error(`RocksDB engine at ${this.#dir} is closed`));
      this.#writing = false;
      for (const wake of this.#idle.splice(0)) wake();
      return;
    }
    this.#writing = true;
    this.groupCommits.writes += group.length;
    this.groupCommits.commits++;
    const finish = (err?: Error | null) => {
      for (const w of group) {
        if (err) w.reject(err);
        else w.resolve();
      }
      this.#flush();
    };
    if (group.length === 1) {
      const { op } = group[0]!;
      if (op.type === 'put') this.#db.put(op.key, op.value, this.#writeOptions, finish);
      else this.#db.del(op.key, this.#writeOptions, finish);
    } else {
      this.#db.batch(group.map((w) => w.op), this.#writeOptions, finish);
    }
  }

  batch(ops: readonly BatchOp[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#assertOpen();
      if (ops.length === 0) return resolve();
      const mapped = ops.map((op): RocksBatchOp => {
        assertKey(op.key);
        if (op.type === 'put') {
          assertValue(op.value);
          return { type: 'put', key: buf(op.key), value: buf(op.value) };
        }
        return { type: 'del', key: buf(op.key) };
      });
      this.#db.batch(mapped, this.#writeOptions, done(resolve, reject));
    });
  }

  iterate(options: IterateOptions): AsyncIterable<readonly [key: Uint8Array, value: Uint8Array]> {
    assertLimit(options.limit);
    const prefix = options.prefix;
    const gte = options.gte === undefined ? prefix : maxBytes(prefix, options.gte);
    const lt = prefixUpperBound(prefix);
    const rocksOptions: RocksIteratorOptions = {
      reverse: options.reverse === true,
      limit: options.limit ?? -1, // -1: no limit
      keyAsBuffer: true,
      valueAsBuffer: true,
    };
    // Copy the bounds: the caller may reuse its arrays before iteration starts.
    if (gte.length > 0) rocksOptions.gte = Buffer.from(gte);
    if (lt !== undefined) rocksOptions.lt = Buffer.from(lt);
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        if (rocksOptions.limit === 0) return;
        self.#assertOpen();
        // The iterator holds a RocksDB snapshot from here until end().
        const it = self.#db.iterator(rocksOptions);
        try {
          for (;;) {
            self.#assertOpen();
            const entry = await new Promise<readonly [Buffer, Buffer] | undefined>(
              (resolve, reject) => {
                it.next((err, key, value) => {
                  if (err) reject(err);
                  else if (key === undefined || value === undefined) resolve(undefined);
                  else resolve([key, value] as const);
                });
              },
            );
            if (entry === undefined) return;
            yield entry;
          }
        } finally {
          // Also on early break or error: an un-ended iterator pins its snapshot.
          if (!self.#closed) {
            await new Promise<void>((resolve, reject) => it.end(done(resolve, reject)));
          }
        }
      },
    };
  }

  property(name: string): string {
    this.#assertOpen();
    return this.#db.getProperty(name);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Writes already accepted are finished first: close never drops an acknowledged-to-be write.
    while (this.#writing) await new Promise<void>((resolve) => this.#idle.push(resolve));
    this.#closed = true;
    // The binding ends open iterators before closing.
    await new Promise<void>((resolve, reject) => this.#db.close(done(resolve, reject)));
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error(`RocksDB engine at ${this.#dir} is closed`);
  }
}
