// Consistent-hash ring with virtual nodes (Dynamo §4.2, riak_core chash.erl).
//
// Pure: tokens derive from member ids alone, so every node that agrees on the member set
// agrees on the ring without exchanging it. A vnode token owns the hash range
// (previous token, token] — a key belongs to the first token clockwise at or after its hash,
// as in Dynamo and Cassandra. md5 is pure computation here, not I/O.
import { int32BE, md5, md5Input } from './md5.ts';
import type { NodeId } from './types.ts';

export const DEFAULT_VNODES_PER_NODE = 64;
/** Token space is uint32: [0, 2^32). */
export const HASH_SPACE = 0x1_0000_0000;

export interface Ring {
  /** Distinct members, sorted. */
  readonly members: readonly NodeId[];
  readonly vnodesPerNode: number;
  /** Vnode tokens, ascending. */
  readonly tokens: Uint32Array;
  /** owners[i] owns the range ending at tokens[i]. */
  readonly owners: readonly NodeId[];
  /**
   * Lazily filled per vnode index: every member in clockwise order of first appearance
   * starting at that vnode. preferenceList and sloppyTargets run per request; walking the
   * ring each time costs O(vnodes) in the worst case, the cache makes it a binary search
   * plus a slice. Bounded by tokens.length × members.length entries.
   */
  readonly successorCache: (readonly NodeId[] | undefined)[];
}

/** The first 4 bytes of the md5 of `data`, big-endian: a position on the ring. */
function md5Prefix32(data: Uint8Array): number {
  return int32BE(md5(data), 0) >>> 0;
}

/** The vnode token of member `id`'s i-th vnode. */
export function vnodeToken(id: NodeId, i: number): number {
  return md5Prefix32(Buffer.from(`${id}#${i}`, 'utf8'));
}

export function buildRing(members: readonly NodeId[], vnodesPerNode = DEFAULT_VNODES_PER_NODE): Ring {
  if (!Number.isInteger(vnodesPerNode) || vnodesPerNode < 1) {
    throw new RangeError(`vnodesPerNode must be a positive integer, got ${vnodesPerNode}`);
  }
  const distinct = [...new Set(members)].sort();
  const entries: { token: number; owner: NodeId }[] = [];
  for (const id of distinct) {
    for (let i = 0; i < vnodesPerNode; i++) entries.push({ token: vnodeToken(id, i), owner: id });
  }
  // Ties (md5 prefix collisions) break by owner id so the order is the same everywhere.
  entries.sort((a, b) => a.token - b.token || (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));
  const tokens = new Uint32Array(entries.length);
  const owners: NodeId[] = new Array<NodeId>(entries.length);
  entries.forEach((e, i) => {
    tokens[i] = e.token;
    owners[i] = e.owner;
  });
  return {
    members: distinct,
    vnodesPerNode,
    tokens,
    owners,
    successorCache: new Array<readonly NodeId[] | undefined>(entries.length),
  };
}

/**
 * Hash of (bucket, key) as uint32. The bucket is length-prefixed so ("ab","c") and
 * ("a","bc") differ; stable across processes and platforms (md5, big-endian prefix).
 */
export function keyHash(bucket: string | Uint8Array, key: string | Uint8Array): number {
  // Runs on every request and every replica write: the input is laid out in one reused
  // buffer (the digest is synchronous), not in three fresh arrays. Same bytes as before.
  const bLen = typeof bucket === 'string' ? Buffer.byteLength(bucket, 'utf8') : bucket.length;
  const kLen = typeof key === 'string' ? Buffer.byteLength(key, 'utf8') : key.length;
  const size = 4 + bLen + kLen;
  const buf = md5Input(size);
  buf.writeUInt32BE(bLen, 0);
  if (typeof bucket === 'string') buf.write(bucket, 4, 'utf8');
  else buf.set(bucket, 4);
  if (typeof key === 'string') buf.write(key, 4 + bLen, 'utf8');
  else buf.set(key, 4 + bLen);
  return md5Prefix32(buf.subarray(0, size));
}

/**
 * Index of the vnode whose range holds `hash`: the first token ≥ hash, wrapping to 0.
 * Returns -1 on an empty ring. Anti-entropy keys its trees by this index.
 */
export function partitionOf(ring: Ring, hash: number): number {
  const { tokens } = ring;
  if (tokens.length === 0) return -1;
  let lo = 0;
  let hi = tokens.length; // invariant: answer in [lo, hi]; hi === length means wrap
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((tokens[mid] as number) < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo === tokens.length ? 0 : lo;
}

/** Every member, in clockwise order of first appearance from vnode `index`. */
function successors(ring: Ring, index: number): readonly NodeId[] {
  const cached = ring.successorCache[index];
  if (cached !== undefined) return cached;
  const out: NodeId[] = [];
  const seen = new Set<NodeId>();
  const total = ring.owners.length;
  for (let step = 0; step < total && out.length < ring.members.length; step++) {
    const owner = ring.owners[(index + step) % total] as NodeId;
    if (!seen.has(owner)) {
      seen.add(owner);
      out.push(owner);
    }
  }
  ring.successorCache[index] = out;
  return out;
}

/** The first n distinct nodes clockwise from `hash` (fewer if the ring has fewer members). */
export function preferenceList(ring: Ring, hash: number, n: number): NodeId[] {
  const index = partitionOf(ring, hash);
  if (index < 0 || n <= 0) return [];
  return successors(ring, index).slice(0, n);
}

export interface SloppyTarget {
  readonly node: NodeId;
  /** The down primary this replica stands in for (hinted handoff), or null. */
  readonly hintFor: NodeId | null;
}

export interface SloppyTargets {
  readonly primaries: NodeId[];
  readonly targets: SloppyTarget[];
}

/**
 * Sloppy quorum (Dynamo §4.6): the n primaries, with each down primary replaced by the
 * next up node clockwise beyond the preference list, not already used, carrying a hint
 * naming the owner. Up primaries keep their position first. With no spare up node a
 * down primary gets no stand-in, so `targets` may be shorter than n.
 */
export function sloppyTargets(
  ring: Ring,
  hash: number,
  n: number,
  isUp: (node: NodeId) => boolean,
): SloppyTargets {
  const index = partitionOf(ring, hash);
  if (index < 0 || n <= 0) return { primaries: [], targets: [] };
  const order = successors(ring, index);
  const primaries = order.slice(0, n);
  const targets: SloppyTarget[] = [];
  let spare = primaries.length; // next candidate stand-in in `order`
  for (const p of primaries) {
    if (isUp(p)) {
      targets.push({ node: p, hintFor: null });
      continue;
    }
    while (spare < order.length && !isUp(order[spare] as NodeId)) spare++;
    if (spare < order.length) {
      targets.push({ node: order[spare] as NodeId, hintFor: p });
      spare++;
    }
  }
  return { primaries, targets };
}

export interface RingRange {
  /** Exclusive start token (the previous vnode's token; wraps for the first range). */
  readonly start: number;
  /** Inclusive end token. */
  readonly end: number;
  readonly owner: NodeId;
}

/** Every vnode range, in token order; index i is partition i. */
export function ringRanges(ring: Ring): RingRange[] {
  const { tokens, owners } = ring;
  const out: RingRange[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const prev = i === 0 ? tokens[tokens.length - 1] : tokens[i - 1];
    out.push({ start: prev as number, end: tokens[i] as number, owner: owners[i] as NodeId });
  }
  return out;
}

/** Fraction of the hash space whose primary is each member (sums to 1). */
export function ownershipShares(ring: Ring): Record<NodeId, number> {
  // No prototype: a member named "__proto__" or "constructor" is just a key here.
  const shares: Record<NodeId, number> = Object.create(null) as Record<NodeId, number>;
  for (const m of ring.members) shares[m] = 0;
  const { tokens, owners } = ring;
  if (tokens.length === 1) {
    shares[owners[0] as NodeId] = 1;
    return shares;
  }
  for (let i = 0; i < tokens.length; i++) {
    const prev = (i === 0 ? tokens[tokens.length - 1] : tokens[i - 1]) as number;
    const width = ((tokens[i] as number) - prev + HASH_SPACE) % HASH_SPACE;
    const owner = owners[i] as NodeId;
    shares[owner] = (shares[owner] ?? 0) + width / HASH_SPACE;
  }
  return shares;
}

export interface Balance {
  /** Share of the given keys whose primary is each member. */
  readonly shares: Record<NodeId, number>;
  /** max share / min share; Infinity when some member owns none of the keys. */
  readonly ratio: number;
}

/** How evenly `hashes` spread over members by primary owner. */
export function balance(ring: Ring, hashes: Iterable<number>): Balance {
  const counts: Record<NodeId, number> = {};
  for (const m of ring.members) counts[m] = 0;
  let total = 0;
  for (const h of hashes) {
    const i = partitionOf(ring, h);
    if (i < 0) continue;
    const owner = ring.owners[i] as NodeId;
    counts[owner] = (counts[owner] ?? 0) + 1;
    total++;
  }
  const shares: Record<NodeId, number> = {};
  let max = 0;
  let min = Infinity;
  for (const m of ring.members) {
    const s = total === 0 ? 0 : (counts[m] ?? 0) / total;
    shares[m] = s;
    max = Math.max(max, s);
    min = Math.min(min, s);
  }
  const ratio = ring.members.length === 0 ? 1 : min === 0 ? Infinity : max / min;
  return { shares, ratio };
}
