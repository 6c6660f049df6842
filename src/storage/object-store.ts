// The replica-side store of one node: typed get / read-modify-write / remove / scan over
// an Engine, with an LRU cache of decoded values. The coordinator calls this on each replica.
//
// Consistency rule: every read that fills the cache and every write runs in the key's
// queue, so the cache never holds a value older than storage (a read that raced a write
// could otherwise cache what the write just replaced).
//
// Updates of one key are pipelined: the next update computes on the value the previous one
// handed to the engine, without waiting for it to be durable, because the engine applies
// writes in call order (RocksDB group commit writes batches one after another). So a hot
// key's updates share group-commit batches instead of taking one batch, one thread-pool
// round trip and one event-loop turn each. Each update still resolves only when its own
// write is durable. Engine reads (a cache miss, a removal) wait until no write of the key is
// in flight, and the cache and the onWrite hook follow completions, which come in order.

import { LRUCache } from 'lru-cache';
import type { VersionedObject } from '../core/types.ts';
import type { Engine } from './engine.ts';
import { bucketPrefix, decodeObjectKey, describeKey, encodeObjectKey, keyspacePrefix, Keyspace } from './keys.ts';
import { CorruptRecordError, decodeValue, encodeValue, versionedObjectCodec } from './records.ts';
import type { RecordCodec } from './records.ts';

/** Updates of one key waiting behind each other; past this the key is overloaded. */
export const DEFAULT_MAX_QUEUED_PER_KEY = 1024;

/** Too many operations already queued for one key; retry later (the API maps it to 503). */
export class KeyBusyError extends Error {
  override readonly name = 'KeyBusyError';
}

export class StoreClosedError extends Error {
  override readonly name = 'StoreClosedError';
}

interface BaseOptions {
  /** Decoded values kept in memory (LRU). 0 disables the cache. */
  readonly cacheEntries: number;
  /**
   * Bound on the cache's estimated heap bytes besides its entry count (whichever is hit
   * first evicts); omitted, only entries count. A value larger than a sixteenth of it is
   * not cached at all, so one huge object cannot flush the hot set. 0 disables the cache.
   */
  readonly cacheBytes?: number;
  /** Bound of each key's operation queue (default DEFAULT_MAX_QUEUED_PER_KEY). */
  readonly maxQueuedPerKey?: number;
  /**
   * Called after every engine write of an object, inside the key's queue (so calls for one
   * key arrive in storage order): the stored record bytes and value, or undefined when the
   * key was removed. Anti-entropy keeps its hash trees current from this. Must not throw.
   */
  readonly onWrite?: (bucket: string, key: string, written: { readonly record: Uint8Array; readonly value: unknown } | undefined) => void;
  /**
   * True only when the key is certainly not stored (an index of every stored key says so),
   * letting a write of a new key skip the engine read. Called inside the key's queue.
   */
  readonly knownAbsent?: (bucket: string, key: string) => boolean;
}

/** The codec may be omitted only when the store holds VersionedObjects. */
export type ObjectStoreOptions<T> = BaseOptions &
  ([VersionedObject] extends [T] ? { readonly codec?: RecordCodec<T> } : { readonly codec: RecordCodec<T> });

export interface ObjectStoreStats {
  /** Lookups answered from the cache. */
  cacheHits: number;
  /** Lookups that had to read the engine. */
  cacheMisses: number;
  /** Engine reads (gets). */
  reads: number;
  /** Engine writes (puts and removals). */
  writes: number;
}

export interface ScanEntry<T> {
  readonly bucket: string;
  readonly key: string;
  readonly obj: T;
}

export interface ScanOptions {
  /**
   * Called for an entry that cannot be decoded, which is then skipped. Without it, scan
   * throws the CorruptRecordError (a corrupt record is never silently absent).
   */
  readonly onCorrupt?: (err: CorruptRecordError) => void;
}

/**
 * One key's operations. At most one holds the gate (is choosing its next value, reading or
 * removing); updates pass the gate on once their write is handed to the engine, other
 * operations once they are done, and those also wait until `inflight` is 0.
 */
interface KeyQueue<T> {
  gate: boolean;
  /** Operations waiting for the gate, in arrival order. */
  readonly waiting: { readonly exclusive: boolean; readonly start: () => void }[];
  /** Writes handed to the engine and not yet settled; `head` is the newest one's value. */
  inflight: number;
  head: T | undefined;
  /** The newest write handed to the engine while `inflight` > 0. */
  lastPut: Promise<void> | undefined;
  /** Accepted and not yet settled (bounded by maxQueuedPerKey). */
  depth: number;
}

export class ObjectStore<T extends object = VersionedObject> {
  readonly stats: ObjectStoreStats = { cacheHits: 0, cacheMisses: 0, reads: 0, writes: 0 };
  readonly #engine: Engine;
  readonly #codec: RecordCodec<T>;
  readonly #cache: LRUCache<string, T> | undefined;
  readonly #maxQueuedPerKey: number;
  readonly #onWrite: BaseOptions['onWrite'];
  readonly #knownAbsent: BaseOptions['knownAbsent'];
  // Only keys with operations in flight have an entry; drained queues are removed.
  readonly #queues = new Map<string, KeyQueue<T>>();
  #closed = false;
  /** Called when the last queue drains (close() waits for it). */
  #drained: (() => void) | undefined;

  constructor(engine: Engine, opts: ObjectStoreOptions<T>) {
    if (!Number.isSafeInteger(opts.cacheEntries) || opts.cacheEntries < 0) {
      throw new RangeError(`cacheEntries must be a non-negative integer, got ${opts.cacheEntries}`);
    }
    const maxQueued = opts.maxQueuedPerKey ?? DEFAULT_MAX_QUEUED_PER_KEY;
    if (!Number.isSafeInteger(maxQueued) || maxQueued < 1) {
      throw new RangeError(`maxQueuedPerKey must be a positive integer, got ${maxQueued}`);
    }
    this.#engine = engine;
    // Sound: the options type makes codec required unless T is VersionedObject.
    this.#codec = opts.codec ?? (versionedObjectCodec as unknown as RecordCodec<T>);
    const bytes = opts.cacheBytes;
    if (bytes !== undefined && (!Number.isSafeInteger(bytes) || bytes < 0)) {
      throw new RangeError(`cacheBytes must be a non-negative integer, got ${bytes}`);
    }
    this.#cache =
      opts.cacheEntries === 0 || bytes === 0
        ? undefined
        : bytes === undefined
          ? new LRUCache<string, T>({ max: opts.cacheEntries })
          : new LRUCache<string, T>({ max: opts.cacheEntries, maxSize: bytes, maxEntrySize: Math.max(1, Math.floor(bytes / 16)) });
    this.#maxQueuedPerKey = maxQueued;
    this.#onWrite = opts.onWrite;
    this.#knownAbsent = opts.knownAbsent;
  }

  /** The stored value, or undefined. Throws CorruptRecordError if it cannot be decoded. */
  get(bucket: string, key: string): Promise<T | undefined> {
    if (this.#closed) return Promise.reject(new StoreClosedError('object store is closed'));
    const ck = cacheKey(bucket, key);
    const hit = this.#cache?.get(ck);
    if (hit !== undefined) {
      this.stats.cacheHits++;
      return Promise.resolve(hit);
    }
    return this.#exclusive(ck, () => this.#load(bucket, key, ck));
  }

  /** What the cache holds now: entries, and their estimated bytes when sizes are tracked. */
  cacheUsage(): { entries: number; bytes: number } {
    return { entries: this.#cache?.size ?? 0, bytes: this.#cache?.calculatedSize ?? 0 };
  }

  /** The cached value, if any: no engine read, no queue, no stats (a hint, not a read). */
  peek(bucket: string, key: string): T | undefined {
    return this.#cache?.peek(cacheKey(bucket, key));
  }

  /**
   * Read-modify-write, serialised per key within this process, so two concurrent updates
   * of one key never lose each other; persisted before it resolves. `fn` gets the current
   * value (or undefined) and returns the next one, or null to leave it unchanged. Resolves
   * to what is stored afterwards. `fn` must be synchronous and not throw for normal cases
   * (a throw rejects this update only).
   */
  update(bucket: string, key: string, fn: (cur: T | undefined) => T | null): Promise<T | undefined> {
    if (this.#closed) return Promise.reject(new StoreClosedError('object store is closed'));
    const ck = cacheKey(bucket, key);
    return new Promise<T | undefined>((resolve, reject) => {
      const start = (q: KeyQueue<T>): void => {
        // The newest value handed to the engine, else the cache, else (rarely: neither cached
        // nor known absent) an engine read, which no write of this key can be racing.
        const known = q.inflight > 0 ? q.head : this.#loadKnown(bucket, key, ck);
        if (known !== UNKNOWN) return this.#write(q, bucket, key, ck, known, fn, resolve, reject);
        this.#read(bucket, key, ck).then(
          (cur) => this.#write(q, bucket, key, ck, cur, fn, resolve, reject),
          (err: unknown) => {
            reject(err);
            this.#done(ck, q, true);
          },
        );
      };
      const err = this.#enqueue(ck, false, start);
      if (err !== undefined) reject(err);
    });
  }

  /** Chooses the next value and hands it to the engine; passes the gate on right after. */
  #write(
    q: KeyQueue<T>,
    bucket: string,
    key: string,
    ck: string,
    cur: T | undefined,
    fn: (cur: T | undefined) => T | null,
    resolve: (v: T | undefined) => void,
    reject: (e: unknown) => void,
  ): void {
    let next: T | null;
    let record: Uint8Array;
    let put: Promise<void>;
    try {
      next = fn(cur);
      if (next === null) {
        const pending = q.inflight > 0 ? q.lastPut : undefined;
        if (pending === undefined) {
          resolve(cur);
          return this.#done(ck, q, true);
        }
        // `cur` is the newest value handed to the engine: stored only once that write is
        // (a replica must not acknowledge a delivery it holds only in flight).
        this.#settleWith(pending.then(() => cur), ck, q, false, resolve, reject);
        return this.#passGate(ck, q);
      }
      if (this.#codec.keepDecodedRecord === true && this.#codec.selfContained?.(next) !== true) {
        // One allocation holds the record, the value's encoding and its byte fields (views),
        // the same shape as a value loaded from the engine; costs a decode (~2 µs) per write.
        record = encodeValue(this.#codec, next, true);
        next = decodeValue(this.#codec, record, 'a record being written');
      } else {
        record = encodeValue(this.#codec, next);
      }
      put = this.#engine.put(encodeObjectKey(bucket, key), record);
    } catch (err) {
      reject(err);
      return this.#done(ck, q, true);
    }
    // In flight: the next update of this key may compute on `next` now (once this write's
    // completion is registered: callbacks must run in the engine's order).
    q.inflight++;
    q.head = next;
    q.lastPut = put;
    const value = next;
    put.then(
      () => {
        this.stats.writes++;
        this.#cacheSet(ck, value, record);
        this.#onWrite?.(bucket, key, { record, value });
        this.#landed(ck, q);
        resolve(value);
      },
      (err: unknown) => {
        // Later updates of this key may already be built on `value`: that is "maybe
        // written", like any failed write. Their clocks carry its dot, so none is reused.
        this.#landed(ck, q);
        reject(err);
      },
    );
    this.#passGate(ck, q);
  }

  /** Physical removal (reaping a tombstone, dropping a handed-off key); not a client delete. */
  remove(bucket: string, key: string): Promise<void> {
    if (this.#closed) return Promise.reject(new StoreClosedError('object store is closed'));
    const ck = cacheKey(bucket, key);
    return this.#exclusive(ck, async () => {
      // Drop the cached value first: if the delete fails we re-read rather than trust it.
      this.#cache?.delete(ck);
      await this.#engine.delete(encodeObjectKey(bucket, key));
      this.stats.writes++;
      this.#onWrite?.(bucket, key, undefined);
    });
  }

  /**
   * Removes the key only if `pred` accepts its stored record bytes, checked inside the key's
   * queue so no write can slip in between (anti-entropy reaps a tombstone or an expired
   * object only if it is still the version every replica agreed on). Resolves to whether it
   * removed anything.
   */
  removeIf(bucket: string, key: string, pred: (record: Uint8Array) => boolean): Promise<boolean> {
    if (this.#closed) return Promise.reject(new StoreClosedError('object store is closed'));
    const ck = cacheKey(bucket, key);
    return this.#exclusive(ck, async () => {
      const storageKey = encodeObjectKey(bucket, key);
      const raw = await this.#engine.get(storageKey);
      this.stats.reads++;
      if (raw === undefined || !pred(raw)) return false;
      this.#cache?.delete(ck);
      await this.#engine.delete(storageKey);
      this.stats.writes++;
      this.#onWrite?.(bucket, key, undefined);
      return true;
    });
  }

  /**
   * Every stored value (in one bucket, or all), from one engine snapshot. Order: by bucket
   * (byte length, then bytes: see keys.ts), then key bytes (UTF-8 order).
   */
  async *scan(bucket?: string, options: ScanOptions = {}): AsyncIterable<ScanEntry<T>> {
    if (this.#closed) throw new StoreClosedError('object store is closed');
    const prefix = bucket === undefined ? keyspacePrefix(Keyspace.Object) : bucketPrefix(bucket);
    for await (const [k, v] of this.#engine.iterate({ prefix })) {
      let entry: ScanEntry<T>;
      try {
        let id: { bucket: string; key: string };
        try {
          id = decodeObjectKey(k);
        } catch (err) {
          throw new CorruptRecordError(describeKey(k), (err as Error).message, { cause: err });
        }
        entry = { bucket: id.bucket, key: id.key, obj: decodeValue(this.#codec, v, describeKey(k)) };
      } catch (err) {
        if (err instanceof CorruptRecordError && options.onCorrupt !== undefined) {
          options.onCorrupt(err);
          continue;
        }
        throw err;
      }
      yield entry;
    }
  }

  /** Waits for queued operations, then closes the engine. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#queues.size > 0) await new Promise<void>((r) => (this.#drained = r));
    this.#cache?.clear();
    await this.#engine.close();
  }

  /**
   * The current value when it is known without reading the engine (cached, or certainly
   * absent), else UNKNOWN. Call only inside the key's queue.
   */
  #loadKnown(bucket: string, key: string, ck: string): T | undefined | typeof UNKNOWN {
    const cached = this.#cache?.get(ck);
    if (cached !== undefined) {
      this.stats.cacheHits++;
      return cached;
    }
    if (this.#knownAbsent?.(bucket, key) === true) {
      this.stats.cacheMisses++;
      return undefined;
    }
    return UNKNOWN;
  }

  /** Cache, else engine (decoding and caching). Call only inside the key's queue. */
  #load(bucket: string, key: string, ck: string): Promise<T | undefined> {
    const known = this.#loadKnown(bucket, key, ck);
    return known === UNKNOWN ? this.#read(bucket, key, ck) : Promise.resolve(known);
  }

  /** The engine's copy, decoded and cached, when #loadKnown said UNKNOWN. Inside the queue. */
  async #read(bucket: string, key: string, ck: string): Promise<T | undefined> {
    this.stats.cacheMisses++;
    const storageKey = encodeObjectKey(bucket, key);
    const raw = await this.#engine.get(storageKey);
    this.stats.reads++;
    if (raw === undefined) return undefined;
    const value = decodeValue(this.#codec, raw, describeKey(storageKey));
    this.#cacheSet(ck, value, raw);
    return value;
  }

  #cacheSet(ck: string, value: T, record: Uint8Array): void {
    const cache = this.#cache;
    if (cache === undefined) return;
    // Over maxEntrySize, lru-cache stores nothing and drops the key's older copy as well.
    if (cache.maxSize > 0) cache.set(ck, value, { size: cachedSize(record) });
    else cache.set(ck, value);
  }

  /**
   * Runs `fn` once it holds the key's gate and no write of the key is in flight (every
   * earlier operation on the key has settled); passes the gate on when `fn` settles.
   */
  #exclusive<R>(ck: string, fn: () => Promise<R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const start = (q: KeyQueue<T>): void => {
        let run: Promise<R>;
        try {
          run = fn();
        } catch (err) {
          run = Promise.reject(err);
        }
        this.#settleWith(run, ck, q, true, resolve, reject);
      };
      const err = this.#enqueue(ck, true, start);
      if (err !== undefined) reject(err);
    });
  }

  /** Settles an operation with `run`'s outcome, then lets it leave the key's queue. */
  #settleWith<R>(run: Promise<R>, ck: string, q: KeyQueue<T>, holdsGate: boolean, resolve: (v: R) => void, reject: (e: unknown) => void): void {
    run.then(
      (v) => {
        resolve(v);
        this.#done(ck, q, holdsGate);
      },
      (err: unknown) => {
        reject(err);
        this.#done(ck, q, holdsGate);
      },
    );
  }

  /**
   * Queues an operation on a key; starts it at once when the key is idle (the usual case: no
   * promise hop). Returns an error instead when too many are queued already.
   */
  #enqueue(ck: string, exclusive: boolean, start: (q: KeyQueue<T>) => void): Error | undefined {
    let q = this.#queues.get(ck);
    if (q === undefined) {
      q = { gate: true, waiting: [], inflight: 0, head: undefined, lastPut: undefined, depth: 1 };
      this.#queues.set(ck, q);
      start(q);
      return undefined;
    }
    if (q.depth >= this.#maxQueuedPerKey) return new KeyBusyError(`too many operations queued for one key (${q.depth})`);
    q.depth++;
    const queue = q;
    q.waiting.push({ exclusive, start: () => start(queue) });
    this.#pump(ck, q);
    return undefined;
  }

  /** Starts the next waiting operation if the gate is free (and, for an exclusive one, no write is in flight). */
  #pump(ck: string, q: KeyQueue<T>): void {
    if (q.gate) return;
    const next = q.waiting[0];
    if (next === undefined) {
      if (q.inflight === 0) this.#forget(ck, q);
      return;
    }
    if (next.exclusive && q.inflight > 0) return; // #landed pumps again
    q.waiting.shift();
    q.gate = true;
    next.start();
  }

  /** The gate holder is done choosing (its write, if any, is in flight). */
  #passGate(ck: string, q: KeyQueue<T>): void {
    q.gate = false;
    this.#pump(ck, q);
  }

  /** An operation settled without a write in flight: it passes the gate and leaves. */
  #done(ck: string, q: KeyQueue<T>, holdsGate: boolean): void {
    q.depth--;
    if (holdsGate) q.gate = false;
    this.#pump(ck, q);
  }

  /** A write handed to the engine settled (in call order). */
  #landed(ck: string, q: KeyQueue<T>): void {
    q.inflight--;
    if (q.inflight === 0) {
      q.head = undefined;
      q.lastPut = undefined;
    }
    this.#done(ck, q, false);
  }

  #forget(ck: string, q: KeyQueue<T>): void {
    if (q.depth !== 0 || this.#queues.get(ck) !== q) return;
    this.#queues.delete(ck);
    if (this.#queues.size === 0 && this.#drained !== undefined) {
      const wake = this.#drained;
      this.#drained = undefined;
      wake();
    }
  }
}

/** "Not known without an engine read" (undefined already means "absent"). */
const UNKNOWN: unique symbol = Symbol('unknown');

/**
 * A decoded object's heap, estimated from its stored record: the bytes (values are copied
 * out of it) plus what the surrounding objects cost, ~600 bytes for a one-sibling object
 * with a 100-byte value (measured with heap snapshots; see docs/BENCHMARKS.md).
 */
function cachedSize(record: Uint8Array): number {
  return record.length + 600;
}

/** Unambiguous for any strings: the bucket's length says where it ends. */
function cacheKey(bucket: string, key: string): string {
  return `${bucket.length}:${bucket}${key}`;
}
