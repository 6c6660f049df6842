// Anti-entropy hash trees, pure (no I/O, no timers). Modelled on Riak's tictac AAE
// (leveled/tictactree): each key contributes a 64-bit hash of (bucket, key, stored state);
// a segment's hash is the XOR of its keys' hashes and every level above is the XOR of the
// one below, so a write is two O(1) XORs per level (old out, new in) and the tree never
// needs a periodic rebuild. Two replicas of a partition hold the same key set, so equal
// roots mean equal data; unequal ones are narrowed branch → segment → key list, as in a
// Merkle exchange (Dynamo §4.7) but with a fixed-width tree whose cost tracks what differs.
//
// XOR is commutative and self-inverse: insertion order does not matter and removing a key
// is XOR-ing its hash again. The price is that two equal element hashes cancel; the hash
// covers the key itself, so that needs a 64-bit md5-prefix collision.
import { int32BE, md5, md5Input } from './md5.ts';
import { keyHash as ringKeyHash } from './ring.ts';
import type { VersionedObject } from './types.ts';

/** Segments per tree: 2^10, two levels of 32 (tictac's default "small" tree is 1024 too). */
export const BRANCHES = 32;
export const SEGMENTS_PER_BRANCH = 32;
export const SEGMENTS = BRANCHES * SEGMENTS_PER_BRANCH;
/** Bytes of one hash on the wire. */
export const HASH_BYTES = 8;

/**
 * A 64-bit hash as two signed int32 halves: plain numbers, so XOR stays exact and fast,
 * and small integers, so V8 keeps them in the object instead of boxing each (an index holds
 * one per stored key). On the wire it is always the 8 bytes of hashToBytes.
 */
export interface Hash64 {
  readonly hi: number;
  readonly lo: number;
}

export const ZERO_HASH: Hash64 = { hi: 0, lo: 0 };

/**
 * The hash a key contributes: md5 over length-prefixed bucket and key and the stored
 * record bytes (a canonical encoding, so equal states hash equal on every replica; CRDT
 * records work the same as KV ones). First 8 bytes.
 */
export function elementHash(bucket: string, key: string, state: Uint8Array): Hash64 {
  // Laid out in one reused buffer (the digest is synchronous) and hashed at once: a Hash
  // object, or a fresh buffer, per write costs more than the md5.
  const bLen = Buffer.byteLength(bucket);
  const kLen = Buffer.byteLength(key);
  const size = 8 + bLen + kLen + state.length;
  const buf = md5Input(size);
  buf.writeUInt32BE(bLen, 0);
  buf.writeUInt32BE(kLen, 4);
  buf.write(bucket, 8, 'utf8');
  buf.write(key, 8 + bLen, 'utf8');
  buf.set(state, 8 + bLen + kLen);
  const d = md5(buf.subarray(0, size));
  return { hi: int32BE(d, 0), lo: int32BE(d, 4) };
}

/** The segment of a key, from its ring hash: the low bits, uniform within any ring range. */
export function segmentOf(keyHash: number): number {
  return keyHash & (SEGMENTS - 1);
}

export function branchOf(segment: number): number {
  return Math.floor(segment / SEGMENTS_PER_BRANCH);
}

export function hashToBytes(h: Hash64): Uint8Array {
  const out = new Uint8Array(HASH_BYTES);
  const v = new DataView(out.buffer);
  v.setInt32(0, h.hi);
  v.setInt32(4, h.lo);
  return out;
}

export function hashFromBytes(b: Uint8Array): Hash64 {
  if (b.length !== HASH_BYTES) throw new Error(`a hash is ${HASH_BYTES} bytes, got ${b.length}`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { hi: v.getInt32(0), lo: v.getInt32(4) };
}

export function equalHash(a: Hash64, b: Hash64): boolean {
  return a.hi === b.hi && a.lo === b.lo;
}

/** Indexes of the differing 8-byte hashes of two equally long hash lists. */
export function diffHashLists(a: Uint8Array, b: Uint8Array): number[] {
  if (a.length !== b.length || a.length % HASH_BYTES !== 0) {
    throw new Error(`hash lists differ in length (${a.length} vs ${b.length})`);
  }
  const out: number[] = [];
  for (let i = 0; i < a.length; i += HASH_BYTES) {
    for (let j = 0; j < HASH_BYTES; j++) {
      if (a[i + j] !== b[i + j]) {
        out.push(i / HASH_BYTES);
        break;
      }
    }
  }
  return out;
}

/** One partition's fixed-size tree: segments, branches, root, all XOR-maintained. */
export class HashTree {
  // [hi, lo] pairs.
  readonly #segments = new Int32Array(SEGMENTS * 2);
  readonly #branches = new Int32Array(BRANCHES * 2);
  #rootHi = 0;
  #rootLo = 0;

  /** XORs `h` into `segment` (adds it if absent, removes it if present). */
  toggle(segment: number, h: Hash64): void {
    if (!Number.isInteger(segment) || segment < 0 || segment >= SEGMENTS) throw new RangeError(`segment ${segment}`);
    const b = branchOf(segment);
    this.#segments[segment * 2] = (this.#segments[segment * 2] as number) ^ h.hi;
    this.#segments[segment * 2 + 1] = (this.#segments[segment * 2 + 1] as number) ^ h.lo;
    this.#branches[b * 2] = (this.#branches[b * 2] as number) ^ h.hi;
    this.#branches[b * 2 + 1] = (this.#branches[b * 2 + 1] as number) ^ h.lo;
    this.#rootHi ^= h.hi;
    this.#rootLo ^= h.lo;
  }

  root(): Hash64 {
    return { hi: this.#rootHi, lo: this.#rootLo };
  }

  isEmpty(): boolean {
    return this.#rootHi === 0 && this.#rootLo === 0;
  }

  /** Every branch hash, BRANCHES × 8 bytes. */
  branchHashes(): Uint8Array {
    return pairsToBytes(this.#branches, 0, BRANCHES);
  }

  /** The segment hashes under `branch`, SEGMENTS_PER_BRANCH × 8 bytes. */
  segmentHashes(branch: number): Uint8Array {
    if (!Number.isInteger(branch) || branch < 0 || branch >= BRANCHES) throw new RangeError(`branch ${branch}`);
    return pairsToBytes(this.#segments, branch * SEGMENTS_PER_BRANCH, SEGMENTS_PER_BRANCH);
  }
}

function pairsToBytes(pairs: Int32Array, first: number, count: number): Uint8Array {
  const out = new Uint8Array(count * HASH_BYTES);
  const v = new DataView(out.buffer);
  for (let i = 0; i < count; i++) {
    v.setInt32(i * 8, pairs[(first + i) * 2] as number);
    v.setInt32(i * 8 + 4, pairs[(first + i) * 2 + 1] as number);
  }
  return out;
}

/**
 * When a stored state stops mattering, from its content: `deadAt` when every sibling has
 * expired (TTL), `tombstoneAt` (the newest delete's HLC wall time) when every sibling is
 * a tombstone. Both null for live data and for states without such notions (CRDTs).
 */
export interface Lifetime {
  readonly deadAt: number | null;
  readonly tombstoneAt: number | null;
}

export const LIVE: Lifetime = { deadAt: null, tombstoneAt: null };

export function objectLifetime(obj: VersionedObject): Lifetime {
  if (obj.siblings.length === 0) return LIVE;
  let deadAt: number | null = 0;
  let tombstoneAt: number | null = 0;
  for (const s of obj.siblings) {
    deadAt = s.expiresAt === null || deadAt === null ? null : Math.max(deadAt, s.expiresAt);
    tombstoneAt = !s.tombstone || tombstoneAt === null ? null : Math.max(tombstoneAt, s.ts.wall);
  }
  // The shared LIVE for live data: an index entry per stored key points at it.
  return deadAt === null && tombstoneAt === null ? LIVE : { deadAt, tombstoneAt };
}

export function isDead(life: Lifetime, nowMs: number): boolean {
  return life.deadAt !== null && life.deadAt <= nowMs;
}

/**
 * What the index keeps per stored key: one object, with the element hash inline (an entry
 * is its own Hash64) and small-integer fields, because a node holds one per stored key and
 * every heap object is work for each major GC. Immutable: a new state makes a new entry, so
 * a caller holding an entry holds the hash it saw.
 */
export class IndexEntry implements Hash64 {
  constructor(
    readonly bucket: string,
    readonly key: string,
    /** The ring hash of (bucket, key) as an int32 (`keyHash | 0`: a small integer, unboxed). */
    readonly keyHash32: number,
    readonly hi: number,
    readonly lo: number,
    readonly life: Lifetime,
    /** The tree it is counted in, or undefined when this node replicates no such partition. */
    readonly partition: string | undefined,
  ) {}

  /** The ring hash of (bucket, key): picks the partition and the segment. */
  get keyHash(): number {
    return this.keyHash32 >>> 0;
  }

  /** The key's element hash: the entry itself. */
  get hash(): Hash64 {
    return this;
  }
}

/**
 * The entries of one segment: none, one entry alone, or an array of two or more. A segment
 * holds keys / (partitions × SEGMENTS) keys, under one at 100k keys on a 3-node ring, so a
 * Set per segment was mostly a container for a single entry.
 */
type SegmentEntries = IndexEntry | IndexEntry[] | undefined;

interface PartitionState {
  readonly tree: HashTree;
  /** SEGMENTS slots: answers "key list of a differing segment". */
  readonly segments: SegmentEntries[];
  /** Entries in this partition; the partition is dropped when it reaches 0. */
  size: number;
}

/** Which tree a key belongs to (`${n}/${vnode index}`), or undefined for none. */
export type PartitionOfKey = (bucket: string, keyHash: number) => string | undefined;

/** One bucket's entries, and the bucket name every entry shares (not one string per key). */
interface BucketEntries {
  readonly name: string;
  readonly keys: Map<string, IndexEntry>;
}

/**
 * Every stored key's hash, and one HashTree per partition over them. In memory: rebuilt
 * from storage at start (see AntiEntropy.rebuild); re-partitioned in memory when the ring
 * changes, because the entries keep their ring hash.
 */
export class AaeIndex {
  // Keyed by bucket, then key: no combined id string per key.
  readonly #buckets = new Map<string, BucketEntries>();
  readonly #partitions = new Map<string, PartitionState>();
  #size = 0;
  #partitionOf: PartitionOfKey;

  constructor(partitionOf: PartitionOfKey) {
    this.#partitionOf = partitionOf;
  }

  get size(): number {
    return this.#size;
  }

  /** Records a key's new state (or its removal when `hash` is undefined). O(1). */
  set(bucket: string, key: string, keyHash: number, hash: Hash64 | undefined, life: Lifetime = LIVE): void {
    this.#set(this.get(bucket, key), bucket, key, keyHash, hash, life);
  }

  /**
   * set() without the caller hashing the key: a stored key's ring hash is taken from its
   * entry (the common case, an overwrite), a new key's is computed here.
   */
  record(bucket: string, key: string, hash: Hash64 | undefined, life: Lifetime = LIVE): void {
    const old = this.get(bucket, key);
    if (old === undefined && hash === undefined) return;
    this.#set(old, bucket, key, old?.keyHash ?? ringKeyHash(bucket, key), hash, life);
  }

  #set(old: IndexEntry | undefined, bucket: string, key: string, keyHash: number, hash: Hash64 | undefined, life: Lifetime): void {
    if (hash !== undefined && old !== undefined && old.keyHash32 === (keyHash | 0)) {
      // A new state of a stored key (most writes): same partition and segment, so the tree
      // swaps one hash for another and the segment swaps one entry for another.
      const entry = new IndexEntry(old.bucket, old.key, old.keyHash32, hash.hi, hash.lo, life, old.partition);
      const p = old.partition === undefined ? undefined : this.#partitions.get(old.partition);
      if (p !== undefined) {
        const seg = segmentOf(keyHash);
        p.tree.toggle(seg, old);
        p.tree.toggle(seg, entry);
        const slot = p.segments[seg];
        if (slot === old) p.segments[seg] = entry;
        else if (Array.isArray(slot)) {
          const i = slot.indexOf(old);
          if (i >= 0) slot[i] = entry;
        }
      }
      this.#buckets.get(bucket)?.keys.set(key, entry);
      return;
    }
    if (old !== undefined) {
      this.#unlink(old);
      const b = this.#buckets.get(bucket);
      b?.keys.delete(key);
      if (b?.keys.size === 0) this.#buckets.delete(bucket);
      this.#size--;
    }
    if (hash === undefined) return;
    let b = this.#buckets.get(bucket);
    if (b === undefined) {
      b = { name: bucket, keys: new Map() };
      this.#buckets.set(bucket, b);
    }
    const entry = new IndexEntry(b.name, key, keyHash | 0, hash.hi, hash.lo, life, this.#partitionOf(bucket, keyHash));
    b.keys.set(key, entry);
    this.#size++;
    this.#link(entry);
  }

  get(bucket: string, key: string): IndexEntry | undefined {
    return this.#buckets.get(bucket)?.keys.get(key);
  }

  *entries(): IterableIterator<IndexEntry> {
    for (const b of this.#buckets.values()) yield* b.keys.values();
  }

  tree(partition: string): HashTree | undefined {
    return this.#partitions.get(partition)?.tree;
  }

  /** The root of a partition's tree; zero for a partition with no keys. */
  root(partition: string): Hash64 {
    return this.#partitions.get(partition)?.tree.root() ?? ZERO_HASH;
  }

  partitions(): IterableIterator<string> {
    return this.#partitions.keys();
  }

  /** The entries of the given segments of one partition, at most `limit` of them. */
  keysIn(partition: string, segments: readonly number[], limit = Infinity): IndexEntry[] {
    const p = this.#partitions.get(partition);
    const out: IndexEntry[] = [];
    if (p === undefined) return out;
    for (const s of segments) {
      const slot = p.segments[s];
      if (slot === undefined) continue;
      for (const e of Array.isArray(slot) ? slot : [slot]) {
        if (out.length >= limit) return out;
        out.push(e);
      }
    }
    return out;
  }

  /** New partition function (the ring changed): every tree is rebuilt from the entries. */
  repartition(partitionOf: PartitionOfKey): void {
    this.#partitionOf = partitionOf;
    this.#partitions.clear();
    for (const b of this.#buckets.values()) {
      for (const [key, e] of b.keys) {
        const moved = new IndexEntry(e.bucket, e.key, e.keyHash32, e.hi, e.lo, e.life, partitionOf(e.bucket, e.keyHash));
        b.keys.set(key, moved);
        this.#link(moved);
      }
    }
  }

  #link(e: IndexEntry): void {
    if (e.partition === undefined) return;
    let p = this.#partitions.get(e.partition);
    if (p === undefined) {
      p = { tree: new HashTree(), segments: new Array<SegmentEntries>(SEGMENTS).fill(undefined), size: 0 };
      this.#partitions.set(e.partition, p);
    }
    const seg = segmentOf(e.keyHash32);
    p.tree.toggle(seg, e);
    const slot = p.segments[seg];
    if (slot === undefined) p.segments[seg] = e;
    else if (Array.isArray(slot)) slot.push(e);
    else p.segments[seg] = [slot, e];
    p.size++;
  }

  #unlink(e: IndexEntry): void {
    if (e.partition === undefined) return;
    const p = this.#partitions.get(e.partition);
    if (p === undefined) return;
    const seg = segmentOf(e.keyHash32);
    const slot = p.segments[seg];
    const i = Array.isArray(slot) ? slot.indexOf(e) : -1;
    if (slot === e) {
      p.segments[seg] = undefined;
    } else if (Array.isArray(slot) && i >= 0) {
      // Order within a segment does not matter: the last entry fills the gap.
      const last = slot.pop() as IndexEntry;
      if (i < slot.length) slot[i] = last;
      if (slot.length === 1) p.segments[seg] = slot[0];
    } else {
      return; // not linked here
    }
    p.tree.toggle(seg, e);
    if (--p.size === 0) this.#partitions.delete(e.partition);
  }
}

/** Unambiguous for any strings: the bucket's length says where it ends. */
function entryId(bucket: string, key: string): string {
  return `${bucket.length}:${bucket}${key}`;
}

/** One key as a replica reports it in a key list. */
export interface KeyDigest {
  readonly bucket: string;
  readonly key: string;
  readonly hash: Hash64;
  readonly deadAt: number | null;
}

/**
 * The keys two replicas must repair, from their key lists of the same segments. A key that
 * is expired (or absent) on both sides is no difference: every replica drops it alike.
 */
export function diffKeyLists(local: readonly KeyDigest[], remote: readonly KeyDigest[], nowMs: number): KeyDigest[] {
  const alive = (d: KeyDigest) => d.deadAt === null || d.deadAt > nowMs;
  const mine = new Map(local.filter(alive).map((d) => [entryId(d.bucket, d.key), d]));
  const out: KeyDigest[] = [];
  const seen = new Set<string>();
  for (const r of remote) {
    if (!alive(r)) continue;
    const id = entryId(r.bucket, r.key);
    seen.add(id);
    const l = mine.get(id);
    if (l === undefined || !equalHash(l.hash, r.hash)) out.push(r);
  }
  for (const [id, l] of mine) if (!seen.has(id)) out.push(l);
  return out;
}
