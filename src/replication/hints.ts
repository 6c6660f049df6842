// Hinted handoff storage (Dynamo §4.6, Cassandra's hints): versions a node accepted for an
// owner that was down, kept in RocksDB beside the data so they survive a restart, and
// handed back when the owner returns. One entry per (owner, bucket, key): a second hint for
// the same key merges into the first, so the backlog is bounded by distinct keys.
import type { NodeId } from '../core/types.ts';
import type { Engine } from '../storage/engine.ts';
import { Keyspace } from '../storage/keys.ts';
import { RecordType, decodeRecord, encodeRecord } from '../storage/records.ts';
import { KeyedLock } from './keyed-lock.ts';

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export interface Hint {
  readonly owner: NodeId;
  readonly bucket: string;
  readonly key: string;
  /** The value's wire encoding (see replication/kinds.ts); the bucket says how to read it. */
  readonly bytes: Uint8Array;
}

/** Joins two encoded copies of one key's value. */
export type BytesMerge = (a: Uint8Array, b: Uint8Array) => Uint8Array;

function lengthPrefixed(s: string): Uint8Array {
  const b = utf8.encode(s);
  const out = new Uint8Array(2 + b.length);
  out[0] = b.length >>> 8;
  out[1] = b.length & 0xff;
  out.set(b, 2);
  return out;
}

/** 0x02 | u16 owner length | owner | u16 bucket length | bucket | key */
export function hintKey(owner: NodeId, bucket?: string, key?: string): Uint8Array {
  const parts = [Uint8Array.of(Keyspace.Hint), lengthPrefixed(owner)];
  if (bucket !== undefined) parts.push(lengthPrefixed(bucket));
  if (key !== undefined) parts.push(utf8.encode(key));
  return Buffer.concat(parts);
}

function parseHintKey(bytes: Uint8Array): { owner: string; bucket: string; key: string } {
  const read = (at: number): [string, number] => {
    const len = ((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0);
    if (at + 2 + len > bytes.length) throw new Error('length past end');
    return [strictUtf8.decode(bytes.subarray(at + 2, at + 2 + len)), at + 2 + len];
  };
  const [owner, afterOwner] = read(1);
  const [bucket, afterBucket] = read(afterOwner);
  return { owner, bucket, key: strictUtf8.decode(bytes.subarray(afterBucket)) };
}

export class HintStore {
  private readonly lock = new KeyedLock();
  private count = 0;
  /** Hints refused because the backlog was full (anti-entropy repairs those keys later). */
  dropped = 0;

  private constructor(
    private readonly engine: Engine,
    private readonly maxHints: number,
  ) {}

  /** Opens the store and counts the backlog left by an earlier run. */
  static async open(engine: Engine, maxHints: number): Promise<HintStore> {
    const store = new HintStore(engine, maxHints);
    for await (const _ of engine.iterate({ prefix: Uint8Array.of(Keyspace.Hint) })) store.count++;
    return store;
  }

  get backlog(): number {
    return this.count;
  }

  /** Merges `obj` into the hint for (owner, bucket, key). False when the backlog is full. */
  async add(owner: NodeId, bucket: string, key: string, bytes: Uint8Array, merge: BytesMerge): Promise<boolean> {
    const k = hintKey(owner, bucket, key);
    return this.lock.run(Buffer.from(k).toString('latin1'), async () => {
      const cur = await this.read(k);
      if (cur === undefined && this.count >= this.maxHints) {
        this.dropped++;
        return false;
      }
      const next = cur === undefined ? bytes : merge(cur, bytes);
      await this.engine.put(k, encodeRecord(RecordType.Hint, next));
      if (cur === undefined) this.count++;
      return true;
    });
  }

  async get(owner: NodeId, bucket: string, key: string): Promise<Uint8Array | undefined> {
    return this.read(hintKey(owner, bucket, key));
  }

  /** Hints for one owner, in key order, at most `limit`. */
  async list(owner: NodeId, limit: number): Promise<Hint[]> {
    const out: Hint[] = [];
    for await (const [k, v] of this.engine.iterate({ prefix: hintKey(owner), limit })) {
      const where = `hint ${Buffer.from(k).toString('hex').slice(0, 64)}`;
      const { bucket, key } = parseHintKey(k);
      out.push({ owner, bucket, key, bytes: decodeRecord(v, RecordType.Hint, where) });
    }
    return out;
  }

  /** Owners that have at least one hint waiting. */
  async owners(): Promise<NodeId[]> {
    // Handoff asks every second; a healthy cluster has no hints, so do not make RocksDB
    // build an iterator (a snapshot and three thread-pool hops) to find none. The count is
    // exact: every put and removal goes through the per-key lock.
    if (this.count === 0) return [];
    const owners: NodeId[] = [];
    let from: Uint8Array | undefined;
    // One seek per owner: jump past each owner's range instead of reading every hint.
    for (let i = 0; i < 10_000; i++) {
      let found: string | undefined;
      for await (const [k] of this.engine.iterate({ prefix: Uint8Array.of(Keyspace.Hint), gte: from, limit: 1 })) {
        found = parseHintKey(k).owner;
      }
      if (found === undefined) break;
      owners.push(found);
      const next = hintKey(found);
      // The smallest key after every key of this owner: bump the owner's length prefix end.
      from = Buffer.concat([next, Uint8Array.of(0xff, 0xff)]);
    }
    return owners;
  }

  /** Deletes the hint if it still holds exactly `delivered` (a newer merge stays for the next round). */
  async removeIfUnchanged(owner: NodeId, bucket: string, key: string, delivered: Uint8Array): Promise<boolean> {
    const k = hintKey(owner, bucket, key);
    return this.lock.run(Buffer.from(k).toString('latin1'), async () => {
      const cur = await this.read(k);
      if (cur === undefined) return false;
      if (!Buffer.from(cur).equals(delivered)) return false;
      await this.engine.delete(k);
      this.count--;
      return true;
    });
  }

  private async read(k: Uint8Array): Promise<Uint8Array | undefined> {
    const bytes = await this.engine.get(k);
    if (bytes === undefined) return undefined;
    return decodeRecord(bytes, RecordType.Hint, `hint ${Buffer.from(k).toString('hex').slice(0, 64)}`);
  }
}
