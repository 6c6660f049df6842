// In-memory Engine for tests and the simulated cluster. Same contract as RocksDB
// (test/storage/engine-contract.ts): bytewise order, atomic batches, snapshot iteration.
// Nothing survives close().

import type { BatchOp, Engine, IterateOptions } from './engine.ts';
import {
  copyBytes,
  assertKey,
  assertLimit,
  assertValue,
  compareBytes,
  maxBytes,
  prefixUpperBound,
} from './bytes.ts';

interface Entry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export class MemoryEngine implements Engine {
  // Sorted by key. Entries are never mutated in place (a put replaces the entry), so a
  // shallow slice of this array is a consistent snapshot.
  #entries: Entry[] = [];
  #closed = false;

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.#assertOpen();
    assertKey(key);
    const i = this.#find(key);
    const e = this.#entries[i];
    return e !== undefined && compareBytes(e.key, key) === 0 ? copyBytes(e.value) : undefined;
  }

  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    this.#assertOpen();
    assertKey(key);
    assertValue(value);
    this.#put(key, value);
  }

  async delete(key: Uint8Array): Promise<void> {
    this.#assertOpen();
    assertKey(key);
    this.#delete(key);
  }

  async batch(ops: readonly BatchOp[]): Promise<void> {
    this.#assertOpen();
    // Validate everything first so a bad op leaves nothing applied (all or none).
    for (const op of ops) {
      assertKey(op.key);
      if (op.type === 'put') assertValue(op.value);
    }
    for (const op of ops) {
      if (op.type === 'put') this.#put(op.key, op.value);
      else this.#delete(op.key);
    }
  }

  iterate(options: IterateOptions): AsyncIterable<readonly [key: Uint8Array, value: Uint8Array]> {
    assertLimit(options.limit);
    const prefix = copyBytes(options.prefix);
    const gte = options.gte === undefined ? prefix : maxBytes(prefix, copyBytes(options.gte));
    const lt = prefixUpperBound(prefix);
    const limit = options.limit ?? Infinity;
    const reverse = options.reverse === true;
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        // The snapshot is taken when iteration starts (first next()), like the RocksDB engine.
        self.#assertOpen();
        const from = self.#find(gte);
        const to = lt === undefined ? self.#entries.length : self.#find(lt);
        const range = self.#entries.slice(from, Math.max(from, to));
        if (reverse) range.reverse();
        const n = Math.min(limit, range.length);
        for (let i = 0; i < n; i++) {
          const e = range[i] as Entry;
          yield [copyBytes(e.key), copyBytes(e.value)] as const;
        }
      },
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#entries = [];
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('memory engine is closed');
  }

  /** Index of the first entry with key >= `key`. */
  #find(key: Uint8Array): number {
    let lo = 0;
    let hi = this.#entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes((this.#entries[mid] as Entry).key, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #put(key: Uint8Array, value: Uint8Array): void {
    // Copies: the caller may reuse its buffers after the write resolves.
    const entry: Entry = { key: copyBytes(key), value: copyBytes(value) };
    const i = this.#find(key);
    const e = this.#entries[i];
    if (e !== undefined && compareBytes(e.key, key) === 0) this.#entries[i] = entry;
    else this.#entries.splice(i, 0, entry);
  }

  #delete(key: Uint8Array): void {
    const i = this.#find(key);
    const e = this.#entries[i];
    if (e !== undefined && compareBytes(e.key, key) === 0) this.#entries.splice(i, 1);
  }
}
