// The storage port. Every engine (RocksDB, memory) passes test/storage/engine-contract.ts.
// Keys and values are raw bytes; keys sort bytewise (memcmp order), as in RocksDB.

export type BatchOp =
  | { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly key: Uint8Array };

export interface IterateOptions {
  /** Only keys starting with these bytes. */
  readonly prefix: Uint8Array;
  /** Start at the first key >= gte (still within prefix). */
  readonly gte?: Uint8Array;
  /** Stop after this many entries. */
  readonly limit?: number;
  readonly reverse?: boolean;
}

export interface Engine {
  /** Resolves to undefined when the key is absent. */
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  /**
   * Puts and deletes are applied, and settle, in call order among themselves (batch is not
   * ordered with them), also when the caller does not wait for one before making the next:
   * ObjectStore pipelines a key's updates on this.
   */
  put(key: Uint8Array, value: Uint8Array): Promise<void>;
  delete(key: Uint8Array): Promise<void>;
  /** Applies every op atomically: all or none are visible after a crash. */
  batch(ops: readonly BatchOp[]): Promise<void>;
  /** Entries in key order (or reverse), read from a consistent snapshot. */
  iterate(options: IterateOptions): AsyncIterable<readonly [key: Uint8Array, value: Uint8Array]>;
  close(): Promise<void>;
}

export interface EngineOptions {
  /**
   * fsync the write-ahead log on every write. Off: an acknowledged write survives a
   * process crash (kill -9) but not power loss. On: it survives power loss too.
   */
  readonly sync: boolean;
}
