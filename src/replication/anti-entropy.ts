// Active anti-entropy (Dynamo §4.7, Riak's tictac AAE): replicas converge with no client
// reading anything. The hash index (core/aae.ts) is kept current on every write through the
// store's write hook; every interval this node picks one replica peer and
//   1. compares the roots of every partition both replicate (8 bytes each, one round trip),
//   2. for a differing partition, sends its 32 branch hashes and gets back the segment
//      hashes of the branches that differ,
//   3. fetches the key lists (key, hash, expiry) of the differing segments,
//   4. sends its state of each differing key; the peer merges it and answers with its
//      merged state, which is merged here too — both sides are repaired in one trip.
// So an exchange costs what differs, not what is stored. Repairs are rate-limited (keys/s,
// bytes/s) so they never starve client traffic.
//
// The sweep drops expired objects on every replica alike (the expiry is in the object) and
// reaps tombstones only when every replica holds the same tombstone and the grace period
// has passed (docs/ANTI-ENTROPY.md has the rule and why).
//
// Time, randomness and the transport are handed in, as for the Gossiper, so a whole cluster
// runs on the simulated network.
import type { ShoalConfig } from '../config.ts';
import {
  AaeIndex,
  BRANCHES,
  HASH_BYTES,
  SEGMENTS_PER_BRANCH,
  diffHashLists,
  diffKeyLists,
  elementHash,
  equalHash,
  hashFromBytes,
  hashToBytes,
  isDead,
  type Hash64,
  type KeyDigest,
  type Lifetime,
} from '../core/aae.ts';
import { keyHash, partitionOf, preferenceList, type Ring } from '../core/ring.ts';
import type { Clock, Random, TimerHandle } from '../core/time.ts';
import type { NodeId } from '../core/types.ts';
import { MsgType } from '../net/messages.ts';
import type { Message, Transport } from '../net/transport.ts';
import type { Logger } from '../runtime/logger.ts';
import type { RawRecord } from '../storage/record-scan.ts';

/**
 * How anti-entropy reads and repairs one key, whatever the bucket holds (KV object, CRDT
 * state). States are opaque encoded bytes; merging must be the bucket's join (siblings sync,
 * LWW, CRDT merge), so repairing in any order converges.
 */
export interface ReplicaMerger {
  /** The local state of a key in its wire encoding, or undefined. */
  read(bucket: string, key: string): Promise<Uint8Array | undefined>;
  /** Merges a peer's state into the local one; resolves to the stored result, encoded. */
  merge(bucket: string, key: string, state: Uint8Array): Promise<Uint8Array | undefined>;
}

/** A bucket's value type as anti-entropy needs it (replication/kinds.ts ValueKind fits). */
export interface MergeableKind<T> {
  decode(bytes: Uint8Array): T;
  encode(value: T): Uint8Array;
  /** The join: commutative, associative, idempotent. */
  merge(a: T, b: T): T;
  equal(a: T, b: T): boolean;
}

/** The local store of one kind of value, as anti-entropy repairs it (ObjectStore fits). */
export interface MergeableStore<T> {
  get(bucket: string, key: string): Promise<T | undefined>;
  update(bucket: string, key: string, fn: (cur: T | undefined) => T | null): Promise<T | undefined>;
}

/** A ReplicaMerger over a store and a kind: read-encode, and decode-join-store. */
export function storeMerger<T>(store: MergeableStore<T>, kind: MergeableKind<T>): ReplicaMerger {
  return {
    async read(bucket, key) {
      const cur = await store.get(bucket, key);
      return cur === undefined ? undefined : kind.encode(cur);
    },
    async merge(bucket, key, state) {
      const incoming = kind.decode(state); // validates: a malformed state is refused
      const stored = await store.update(bucket, key, (cur) => {
        if (cur === undefined) return incoming;
        const merged = kind.merge(cur, incoming);
        return kind.equal(merged, cur) ? null : merged; // no write when nothing changes
      });
      return stored === undefined ? undefined : kind.encode(stored);
    },
  };
}

export interface AntiEntropyDeps {
  readonly self: NodeId;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  readonly count: (event: string, by?: number) => void;
  readonly ring: () => Ring;
  readonly isUp: (node: NodeId) => boolean;
  /** Replicas per key in `bucket`. */
  readonly nOf: (bucket: string) => number;
  /** Every n some bucket may use: a partition is an (n, ring range) pair. */
  readonly nValues: () => readonly number[];
  readonly merger: (bucket: string) => ReplicaMerger;
  /** Removes the key only if `pred` accepts its stored record (inside the key's lock). */
  readonly removeIf: (bucket: string, key: string, pred: (record: Uint8Array) => boolean) => Promise<boolean>;
  /** Every stored object record, for the rebuild at start. */
  readonly scan: () => AsyncIterable<RawRecord>;
  /** TTL / tombstone facts of a stored record (`value` is its decoded form when at hand). */
  readonly lifetime: (record: Uint8Array, value: unknown) => Lifetime;
}

/** The config's antiEntropy section plus the peer call timeout. */
export type AntiEntropyOptions = ShoalConfig['antiEntropy'] & { readonly timeoutMs: number };

/** Per-message bounds, so one exchange never builds an unbounded frame. */
const MAX_KEYS_PER_LIST = 4096;
const MAX_REPAIR_KEYS = 64;
const MAX_REPAIR_BYTES = 1024 * 1024;
const MAX_REAP_BATCH = 256;
/** Index entries a sweep visits between two turns of the event loop. */
const SWEEP_SLICE = 20_000;
/** Expired objects dropped per sweep; the rest waits for the next one. */
const MAX_SWEEP_REMOVALS = 10_000;
const REBUILD_PROGRESS_EVERY = 100_000;

export interface PartitionStatus {
  lastExchangeAt: number | null;
  lastPeer: NodeId | null;
  /** Segments found differing in the last exchange that descended into this partition. */
  segmentsDiffering: number;
  keysRepaired: number;
}

export interface ExchangeReport {
  readonly peer: NodeId;
  readonly partitionsCompared: number;
  readonly partitionsDiffering: number;
  readonly segmentsDiffering: number;
  readonly keysDiffering: number;
  readonly keysRepaired: number;
}

interface Partition {
  readonly id: string;
  readonly n: number;
  readonly index: number;
  /** The preference list of the range: every replica of its keys. */
  readonly replicas: readonly NodeId[];
}

interface RingView {
  readonly ring: Ring;
  readonly id: string;
  /** Partitions this node replicates. */
  readonly mine: readonly Partition[];
  readonly byId: ReadonlyMap<string, Partition>;
  /**
   * Per n, the id of each vnode range this node replicates (undefined where it does not):
   * a key's partition without building an id string per write, and one shared id string
   * per partition in the index's entries instead of one per key.
   */
  readonly idsByN: ReadonlyMap<number, readonly (string | undefined)[]>;
}

/** Token bucket: a batch may overdraw; the next one waits until the debt is paid. */
class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly perSecond: number,
    private readonly clock: Clock,
  ) {
    this.tokens = perSecond;
    this.last = clock.now();
  }
  /** Takes `n` tokens; the ms to wait before using them. */
  take(n: number): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.last) * this.perSecond) / 1000);
    this.last = now;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.perSecond);
  }
}

export class AntiEntropy {
  readonly index: AaeIndex;
  readonly totals = {
    exchanges: 0,
    exchangesFailed: 0,
    partitionsDiffering: 0,
    segmentsDiffering: 0,
    keysRepaired: 0,
    bytesRepaired: 0,
    expiredDropped: 0,
    tombstonesReaped: 0,
  };
  /** Wall time and size of the last rebuild from storage. */
  lastRebuild: { keys: number; ms: number } | null = null;
  readonly #status = new Map<string, PartitionStatus>();
  #view: RingView | undefined;
  #exchangeTimer: TimerHandle | undefined;
  #sweepTimer: TimerHandle | undefined;
  #exchanging = false;
  #sweeping = false;
  #stopped = false;
  /** Keys written while a rebuild scans: the scan's older snapshot must not overwrite them. */
  #writtenDuringRebuild: Set<string> | undefined;
  /** Set once a rebuild has finished: from then on the index holds every stored key. */
  #indexComplete = false;
  readonly #keyBudget: TokenBucket;
  readonly #byteBudget: TokenBucket;

  constructor(
    private readonly deps: AntiEntropyDeps,
    private readonly opts: AntiEntropyOptions,
  ) {
    this.index = new AaeIndex((bucket, h) => this.#partitionOfKey(this.#ringView(), bucket, h));
    this.#keyBudget = new TokenBucket(opts.keysPerSecond, deps.clock);
    this.#byteBudget = new TokenBucket(opts.bytesPerSecond, deps.clock);
  }

  // ---- index upkeep --------------------------------------------------------------------

  /** The store's write hook: O(1) tree update. `written` undefined means removed. */
  onWrite(bucket: string, key: string, written: { readonly record: Uint8Array; readonly value: unknown } | undefined): void {
    this.#ringView();
    this.#writtenDuringRebuild?.add(`${bucket.length}:${bucket}${key}`);
    if (written === undefined) {
      this.index.record(bucket, key, undefined);
      return;
    }
    const life = this.deps.lifetime(written.record, written.value);
    this.index.record(bucket, key, elementHash(bucket, key, written.record), life);
  }

  /**
   * True when the key is certainly not in local storage: the index is complete (rebuilt,
   * then kept by every write) and has no entry for it. The store skips its engine read for
   * such keys, which is every write of a new key.
   */
  knownAbsent(bucket: string, key: string): boolean {
    return this.#indexComplete && this.index.get(bucket, key) === undefined;
  }

  /**
   * Fills the index from storage (the trees are in memory, so this runs at every start).
   * Wall time is measured and logged, with progress on a long rebuild.
   */
  async rebuild(): Promise<{ keys: number; ms: number }> {
    const started = performance.now();
    const written = new Set<string>();
    this.#writtenDuringRebuild = written;
    let keys = 0;
    try {
      for await (const r of this.deps.scan()) {
        if (!written.has(`${r.bucket.length}:${r.bucket}${r.key}`)) {
          const life = this.deps.lifetime(r.record, undefined);
          this.index.set(r.bucket, r.key, keyHash(r.bucket, r.key), elementHash(r.bucket, r.key, r.record), life);
        }
        keys++;
        if (keys % REBUILD_PROGRESS_EVERY === 0) {
          this.deps.log.info({ keys, ms: Math.round(performance.now() - started) }, 'anti-entropy index rebuild in progress');
        }
      }
    } finally {
      this.#writtenDuringRebuild = undefined;
    }
    this.#indexComplete = true;
    const ms = Math.round(performance.now() - started);
    this.lastRebuild = { keys, ms };
    this.deps.log.info({ keys, ms, partitions: [...this.index.partitions()].length }, 'anti-entropy index rebuilt from storage');
    return this.lastRebuild;
  }

  #ringView(): RingView {
    const ring = this.deps.ring();
    if (this.#view?.ring === ring) return this.#view;
    const mine: Partition[] = [];
    for (const n of [...new Set(this.deps.nValues())].sort((a, b) => a - b)) {
      for (let index = 0; index < ring.tokens.length; index++) {
        const replicas = preferenceList(ring, ring.tokens[index] as number, n);
        if (replicas.includes(this.deps.self)) mine.push({ id: `${n}/${index}`, n, index, replicas });
      }
    }
    const idsByN = new Map<number, (string | undefined)[]>();
    for (const p of mine) {
      let ids = idsByN.get(p.n);
      if (ids === undefined) {
        ids = new Array<string | undefined>(ring.tokens.length).fill(undefined);
        idsByN.set(p.n, ids);
      }
      ids[p.index] = p.id;
    }
    const first = this.#view === undefined;
    this.#view = {
      ring,
      id: `${ring.vnodesPerNode}:${ring.members.join(',')}`,
      mine,
      byId: new Map(mine.map((p) => [p.id, p])),
      idsByN,
    };
    // Trees are per ring range: a new ring regroups every key (in memory, no storage scan).
    if (!first) this.index.repartition((bucket, h) => this.#partitionOfKey(this.#view as RingView, bucket, h));
    return this.#view;
  }

  #partitionOfKey(view: RingView, bucket: string, h: number): string | undefined {
    return view.idsByN.get(this.deps.nOf(bucket))?.[partitionOf(view.ring, h)];
  }

  // ---- scheduling ----------------------------------------------------------------------

  /**
   * Rebuilds the index from storage, then (if enabled) exchanges and sweeps on timers.
   * Peers' exchanges are refused until the rebuild is done.
   */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.rebuild();
    if (!this.opts.enabled || this.#stopped) return;
    // A random first delay so nodes started together do not exchange in lockstep.
    this.#scheduleExchange(this.deps.random.next() * this.opts.intervalMs);
    this.#scheduleSweep(this.opts.sweepIntervalMs);
  }

  stop(): void {
    this.#stopped = true;
    this.#exchangeTimer?.cancel();
    this.#sweepTimer?.cancel();
  }

  #scheduleExchange(ms: number): void {
    this.#exchangeTimer?.cancel();
    this.#exchangeTimer = this.deps.clock.setTimeout(() => {
      void this.exchange()
        // Already counted and logged by exchange(); a peer going away mid-way is routine.
        .catch(() => {})
        .finally(() => {
          if (!this.#stopped) this.#scheduleExchange(this.opts.intervalMs);
        });
    }, ms);
  }

  #scheduleSweep(ms: number): void {
    this.#sweepTimer?.cancel();
    this.#sweepTimer = this.deps.clock.setTimeout(() => {
      void this.sweep()
        .catch((err) => this.deps.log.warn({ err: String(err) }, 'anti-entropy sweep failed'))
        .finally(() => {
          if (!this.#stopped) this.#scheduleSweep(this.opts.sweepIntervalMs);
        });
    }, ms);
  }

  // ---- exchange (initiator) ------------------------------------------------------------

  /** Replica peers that are up and share a partition with this node. */
  peers(): NodeId[] {
    const out = new Set<NodeId>();
    for (const p of this.#ringView().mine) for (const r of p.replicas) if (r !== this.deps.self && this.deps.isUp(r)) out.add(r);
    return [...out].sort();
  }

  /**
   * One exchange with `peer` (default: a random up replica peer). Resolves to what it
   * found and repaired, or undefined when there was nothing to do or one is running.
   */
  async exchange(peer?: NodeId): Promise<ExchangeReport | undefined> {
    if (this.#exchanging) return undefined;
    const peers = this.peers();
    const target = peer ?? (peers.length === 0 ? undefined : peers[this.deps.random.int(peers.length)]);
    if (target === undefined) return undefined;
    this.#exchanging = true;
    try {
      const report = await this.#exchangeWith(target);
      this.totals.exchanges++;
      this.deps.count('aae_exchange');
      return report;
    } catch (err) {
      this.totals.exchangesFailed++;
      this.deps.count('aae_exchange_failed');
      this.deps.log.debug({ err: String(err), peer: target }, 'anti-entropy exchange aborted');
      throw err;
    } finally {
      this.#exchanging = false;
    }
  }

  async #exchangeWith(peer: NodeId): Promise<ExchangeReport> {
    const view = this.#ringView();
    const shared = view.mine.filter((p) => p.replicas.includes(peer));
    const mine = new Uint8Array(shared.length * HASH_BYTES);
    shared.forEach((p, i) => mine.set(hashToBytes(this.index.root(p.id)), i * HASH_BYTES));
    const reply = await this.#call(peer, {
      t: MsgType.AAE_ROOTS,
      ring: view.id,
      parts: shared.flatMap((p) => [p.n, p.index]),
    });
    const theirs = bytesField(reply, 'roots');
    const differing = diffHashLists(mine, theirs).map((i) => shared[i] as Partition);
    const now = this.deps.clock.now();
    for (const p of shared) {
      const s = this.#statusOf(p.id);
      s.lastExchangeAt = now;
      s.lastPeer = peer;
      if (!differing.includes(p)) s.segmentsDiffering = 0;
    }
    let segments = 0;
    let keysDiffering = 0;
    let keysRepaired = 0;
    for (const p of differing) {
      if (this.#stopped) break;
      const r = await this.#reconcile(peer, view, p);
      segments += r.segments;
      keysDiffering += r.keysDiffering;
      keysRepaired += r.keysRepaired;
    }
    this.totals.partitionsDiffering += differing.length;
    return {
      peer,
      partitionsCompared: shared.length,
      partitionsDiffering: differing.length,
      segmentsDiffering: segments,
      keysDiffering,
      keysRepaired,
    };
  }

  /** Descends one differing partition: branches → segments → key lists → repair. */
  async #reconcile(peer: NodeId, view: RingView, p: Partition) {
    const tree = this.index.tree(p.id);
    const branches = tree?.branchHashes() ?? new Uint8Array(BRANCHES * HASH_BYTES);
    const segReply = await this.#call(peer, { t: MsgType.AAE_SEGMENTS, ring: view.id, n: p.n, index: p.index, branches });
    const diffBranches = numbersField(segReply, 'branches', BRANCHES);
    const theirSegments = bytesField(segReply, 'segments');
    if (theirSegments.length !== diffBranches.length * SEGMENTS_PER_BRANCH * HASH_BYTES) throw new Error('AAE_SEGMENTS: wrong size');
    const segments: number[] = [];
    diffBranches.forEach((b, i) => {
      const mineSeg = tree?.segmentHashes(b) ?? new Uint8Array(SEGMENTS_PER_BRANCH * HASH_BYTES);
      const size = SEGMENTS_PER_BRANCH * HASH_BYTES;
      for (const s of diffHashLists(mineSeg, theirSegments.subarray(i * size, (i + 1) * size))) {
        segments.push(b * SEGMENTS_PER_BRANCH + s);
      }
    });
    const status = this.#statusOf(p.id);
    status.segmentsDiffering = segments.length;
    this.totals.segmentsDiffering += segments.length;
    this.deps.count('aae_segments_differing', segments.length);

    let keysDiffering = 0;
    let keysRepaired = 0;
    // Key lists come back whole segments at a time, bounded per message.
    for (let from = 0; from < segments.length; ) {
      const want = segments.slice(from);
      const keysReply = await this.#call(peer, { t: MsgType.AAE_KEYS, ring: view.id, n: p.n, index: p.index, segments: want });
      const covered = Number(keysReply['covered']);
      if (!Number.isInteger(covered) || covered < 1 || covered > want.length) throw new Error('AAE_KEYS: bad coverage');
      const remote = parseDigests(keysReply['keys']);
      const local = this.index.keysIn(p.id, want.slice(0, covered)).map((e) => ({
        bucket: e.bucket,
        key: e.key,
        hash: e.hash,
        deadAt: e.life.deadAt,
      }));
      const diff = diffKeyLists(local, remote, this.deps.clock.now());
      keysDiffering += diff.length;
      keysRepaired += await this.#repair(peer, diff);
      from += covered;
    }
    status.keysRepaired += keysRepaired;
    return { segments: segments.length, keysDiffering, keysRepaired };
  }

  /** Sends local states of `keys`; the peer merges and answers with its merged states. */
  async #repair(peer: NodeId, keys: readonly KeyDigest[]): Promise<number> {
    let repaired = 0;
    for (let i = 0; i < keys.length; ) {
      const items: [string, string, Uint8Array | null][] = [];
      let bytes = 0;
      while (i < keys.length && items.length < MAX_REPAIR_KEYS && bytes < MAX_REPAIR_BYTES) {
        const k = keys[i++] as KeyDigest;
        const state = (await this.deps.merger(k.bucket).read(k.bucket, k.key)) ?? null;
        bytes += (state?.length ?? 0) + k.bucket.length + k.key.length;
        items.push([k.bucket, k.key, state]);
      }
      await this.#throttle(items.length, bytes);
      const r = await this.#call(peer, { t: MsgType.AAE_REPAIR, items });
      const back = r['items'];
      if (!Array.isArray(back) || back.length !== items.length) throw new Error('AAE_REPAIR: wrong item count');
      let backBytes = 0;
      for (let j = 0; j < items.length; j++) {
        const [bucket, key] = items[j] as [string, string, Uint8Array | null];
        const merged: unknown = back[j];
        if (merged instanceof Uint8Array) {
          backBytes += merged.length;
          await this.deps.merger(bucket).merge(bucket, key, merged);
        } else if (merged !== null) throw new Error('AAE_REPAIR: an item is neither bytes nor null');
      }
      // The peer's answers count against the byte budget of the next batch.
      this.#byteBudget.take(backBytes);
      repaired += items.length;
      this.totals.keysRepaired += items.length;
      this.totals.bytesRepaired += bytes + backBytes;
      this.deps.count('aae_keys_repaired', items.length);
    }
    return repaired;
  }

  async #throttle(keys: number, bytes: number): Promise<void> {
    const waitMs = Math.max(this.#keyBudget.take(keys), this.#byteBudget.take(bytes));
    if (waitMs > 0) await new Promise<void>((resolve) => this.deps.clock.setTimeout(resolve, waitMs));
  }

  async #call(peer: NodeId, msg: Message): Promise<Message> {
    const r = await this.deps.transport.call(peer, msg, this.opts.timeoutMs);
    if (r['ok'] === false) throw new Error(`peer ${peer} refused ${msg.t}: ${String(r['reason'])}`);
    return r;
  }

  #statusOf(id: string): PartitionStatus {
    let s = this.#status.get(id);
    if (s === undefined) {
      s = { lastExchangeAt: null, lastPeer: null, segmentsDiffering: 0, keysRepaired: 0 };
      this.#status.set(id, s);
    }
    return s;
  }

  // ---- responder -----------------------------------------------------------------------

  /** Answers AAE_* requests from a peer. */
  async handleRequest(from: NodeId, msg: Message): Promise<Message> {
    const view = this.#ringView();
    const t = msg.t;
    const ringOk = msg['ring'] === undefined || msg['ring'] === view.id;
    switch (t) {
      case MsgType.AAE_ROOTS: {
        if (!ringOk) return { t, ok: false, reason: 'ring differs' };
        // A half-built index would look like missing keys and trigger needless repairs.
        if (this.#writtenDuringRebuild !== undefined) return { t, ok: false, reason: 'rebuilding' };
        const parts = numbersField(msg, 'parts', 1 << 20);
        if (parts.length % 2 !== 0) throw new Error('AAE_ROOTS: parts is not [n, index] pairs');
        const roots = new Uint8Array((parts.length / 2) * HASH_BYTES);
        const now = this.deps.clock.now();
        for (let i = 0; i < parts.length; i += 2) {
          const id = `${parts[i]}/${parts[i + 1]}`;
          roots.set(hashToBytes(this.index.root(id)), (i / 2) * HASH_BYTES);
          // A compare the peer started counts as an exchange of this partition here too.
          if (view.byId.has(id)) {
            const s = this.#statusOf(id);
            s.lastExchangeAt = now;
            s.lastPeer = from;
          }
        }
        return { t, ok: true, roots };
      }
      case MsgType.AAE_SEGMENTS: {
        if (!ringOk) return { t, ok: false, reason: 'ring differs' };
        const id = partitionField(msg);
        const theirs = bytesField(msg, 'branches');
        const tree = this.index.tree(id);
        const mine = tree?.branchHashes() ?? new Uint8Array(BRANCHES * HASH_BYTES);
        const branches = diffHashLists(mine, theirs);
        const segments = new Uint8Array(branches.length * SEGMENTS_PER_BRANCH * HASH_BYTES);
        branches.forEach((b, i) => {
          if (tree) segments.set(tree.segmentHashes(b), i * SEGMENTS_PER_BRANCH * HASH_BYTES);
        });
        return { t, ok: true, branches, segments };
      }
      case MsgType.AAE_KEYS: {
        if (!ringOk) return { t, ok: false, reason: 'ring differs' };
        const id = partitionField(msg);
        const segments = numbersField(msg, 'segments', SEGMENTS_PER_BRANCH * BRANCHES);
        const keys: [string, string, Uint8Array, number | null][] = [];
        let covered = 0;
        // Whole segments only, so the initiator compares like with like; at least one.
        for (const s of segments) {
          const inSeg = this.index.keysIn(id, [s]);
          if (covered > 0 && keys.length + inSeg.length > MAX_KEYS_PER_LIST) break;
          for (const e of inSeg) keys.push([e.bucket, e.key, hashToBytes(e.hash), e.life.deadAt]);
          covered++;
        }
        return { t, ok: true, keys, covered: Math.max(1, covered) };
      }
      case MsgType.AAE_REPAIR: {
        const items = itemsField(msg, MAX_REPAIR_KEYS);
        const out = await Promise.all(
          items.map(async (it): Promise<Uint8Array | null> => {
            const [bucket, key, state] = it;
            if (!(state === null || state instanceof Uint8Array)) throw new Error('AAE_REPAIR: state is not bytes');
            // Only replicas of a key take it (a peer on another ring must not plant keys here).
            if (!this.#replicates(view, bucket, key)) return null;
            const merger = this.deps.merger(bucket);
            const merged = state === null ? await merger.read(bucket, key) : await merger.merge(bucket, key, state);
            // Nothing to send back when the peer's state already is the merge.
            if (merged === undefined || (state !== null && Buffer.from(merged).equals(state))) return null;
            return merged;
          }),
        );
        return { t, ok: true, items: out };
      }
      case MsgType.AAE_HOLDS: {
        const items = itemsField(msg, MAX_REAP_BATCH);
        const rebuilding = this.#writtenDuringRebuild !== undefined;
        const holds = items.map(([bucket, key, h]) => {
          if (rebuilding) return false; // unsure is "no": a reap then waits
          const e = this.index.get(bucket, key);
          return e !== undefined && h instanceof Uint8Array && equalHash(e.hash, hashFromBytes(h));
        });
        return { t, ok: true, holds };
      }
      case MsgType.AAE_REAP: {
        const items = itemsField(msg, MAX_REAP_BATCH);
        let reaped = 0;
        for (const [bucket, key, h] of items) {
          if (!(h instanceof Uint8Array)) throw new Error('AAE_REAP: hash is not bytes');
          if (await this.#removeIfHash(bucket, key, hashFromBytes(h))) reaped++;
        }
        this.totals.tombstonesReaped += reaped;
        this.deps.count('aae_tombstones_reaped', reaped);
        return { t, ok: true, reaped };
      }
      default:
        throw new Error(`anti-entropy: unexpected message type ${t} from ${from}`);
    }
  }

  #replicates(view: RingView, bucket: string, key: string): boolean {
    return preferenceList(view.ring, keyHash(bucket, key), this.deps.nOf(bucket)).includes(this.deps.self);
  }

  #removeIfHash(bucket: string, key: string, h: Hash64): Promise<boolean> {
    return this.deps.removeIf(bucket, key, (record) => equalHash(elementHash(bucket, key, record), h));
  }

  // ---- sweep: TTL and tombstones -------------------------------------------------------

  /**
   * Drops expired objects (every replica computes the same expiry from the object, so all
   * drop alike) and reaps tombstones that every replica holds and that are older than the
   * grace period. Only the first node of a key's preference list coordinates a reap.
   */
  async sweep(): Promise<{ expired: number; reaped: number }> {
    if (this.#sweeping) return { expired: 0, reaped: 0 };
    this.#sweeping = true;
    try {
      const now = this.deps.clock.now();
      const view = this.#ringView();
      const graceMs = this.opts.tombstoneGraceSeconds * 1000;
      const expired: { bucket: string; key: string; hash: Hash64 }[] = [];
      const groups = new Map<string, { replicas: readonly NodeId[]; items: { bucket: string; key: string; hash: Hash64 }[] }>();
      let visited = 0;
      for (const e of this.index.entries()) {
        // A million keys take tens of milliseconds to visit: let requests in between slices.
        // (A Map iterator stays valid while writes change the index meanwhile.)
        if (++visited % SWEEP_SLICE === 0) await new Promise<void>((resolve) => this.deps.clock.setTimeout(resolve, 0));
        if (isDead(e.life, now)) {
          if (expired.length < MAX_SWEEP_REMOVALS) expired.push(e);
          continue;
        }
        if (e.life.tombstoneAt === null || e.life.tombstoneAt + graceMs > now || e.partition === undefined) continue;
        const replicas = view.byId.get(e.partition)?.replicas;
        if (replicas === undefined || replicas[0] !== this.deps.self) continue;
        const g = replicas.join('\n');
        let group = groups.get(g);
        if (group === undefined) {
          group = { replicas, items: [] };
          groups.set(g, group);
        }
        group.items.push(e);
      }
      let expiredCount = 0;
      for (const e of expired) if (await this.#removeIfHash(e.bucket, e.key, e.hash)) expiredCount++;
      this.totals.expiredDropped += expiredCount;
      this.deps.count('aae_expired_dropped', expiredCount);

      let reaped = 0;
      for (const { replicas, items } of groups.values()) {
        const others = replicas.filter((r) => r !== this.deps.self);
        // Every replica must be up and hold the same tombstone (checked just below).
        if (!others.every((r) => this.deps.isUp(r))) continue;
        for (let i = 0; i < items.length; i += MAX_REAP_BATCH) {
          reaped += await this.#reapBatch(others, items.slice(i, i + MAX_REAP_BATCH));
        }
      }
      this.totals.tombstonesReaped += reaped;
      this.deps.count('aae_tombstones_reaped', reaped);
      return { expired: expiredCount, reaped };
    } finally {
      this.#sweeping = false;
    }
  }

  async #reapBatch(others: readonly NodeId[], batch: { bucket: string; key: string; hash: Hash64 }[]): Promise<number> {
    const wire = (xs: typeof batch) => xs.map((e) => [e.bucket, e.key, hashToBytes(e.hash)]);
    let agreed = batch;
    try {
      for (const peer of others) {
        const r = await this.#call(peer, { t: MsgType.AAE_HOLDS, items: wire(agreed) });
        const holds = r['holds'];
        if (!Array.isArray(holds) || holds.length !== agreed.length) throw new Error('AAE_HOLDS: wrong answer count');
        agreed = agreed.filter((_, i) => holds[i] === true);
        if (agreed.length === 0) return 0;
      }
      // Peers first: if one misses the reap it keeps the tombstone, and exchanges copy the
      // tombstone (never the older value) back until a later sweep reaps it everywhere.
      for (const peer of others) await this.#call(peer, { t: MsgType.AAE_REAP, items: wire(agreed) });
    } catch (err) {
      this.deps.log.debug({ err: String(err) }, 'tombstone reap round failed');
      return 0;
    }
    let reaped = 0;
    for (const e of agreed) if (await this.#removeIfHash(e.bucket, e.key, e.hash)) reaped++;
    return reaped;
  }

  // ---- visibility ----------------------------------------------------------------------

  /** GET /cluster/antientropy. */
  status(): object {
    const view = this.#ringView();
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    return {
      node: this.deps.self,
      enabled: this.opts.enabled,
      intervalMs: this.opts.intervalMs,
      keys: this.index.size,
      rebuild: this.lastRebuild,
      totals: { ...this.totals },
      partitions: view.mine.map((p) => {
        const s = this.#status.get(p.id);
        const root = this.index.root(p.id);
        return {
          partition: p.id,
          n: p.n,
          index: p.index,
          replicas: p.replicas,
          root: Buffer.from(hashToBytes(root)).toString('hex'),
          lastExchangeAt: iso(s?.lastExchangeAt ?? null),
          lastPeer: s?.lastPeer ?? null,
          segmentsDiffering: s?.segmentsDiffering ?? 0,
          keysRepaired: s?.keysRepaired ?? 0,
        };
      }),
    };
  }

  /** Every partition this node replicates with its root: for tests and checkers. */
  roots(): Map<string, string> {
    const out = new Map<string, string>();
    for (const p of this.#ringView().mine) out.set(p.id, Buffer.from(hashToBytes(this.index.root(p.id))).toString('hex'));
    return out;
  }
}

// ---- message field checks ----------------------------------------------------------------

function bytesField(m: Message, name: string): Uint8Array {
  const v = m[name];
  if (!(v instanceof Uint8Array)) throw new Error(`anti-entropy message: ${name} is not bytes`);
  return v;
}

function numbersField(m: Message, name: string, max: number): number[] {
  const v = m[name];
  if (!Array.isArray(v) || v.length > max || !v.every((x) => Number.isSafeInteger(x) && x >= 0)) {
    throw new Error(`anti-entropy message: ${name} is not a list of at most ${max} non-negative integers`);
  }
  return v as number[];
}

function partitionField(m: Message): string {
  const n = m['n'];
  const index = m['index'];
  if (!Number.isSafeInteger(n) || !Number.isSafeInteger(index)) throw new Error('anti-entropy message: bad partition');
  return `${n as number}/${index as number}`;
}

function itemsField(m: Message, max: number): [string, string, unknown][] {
  const v = m['items'];
  if (!Array.isArray(v) || v.length > max) throw new Error(`anti-entropy message: items is not a list of at most ${max}`);
  for (const it of v) {
    if (!Array.isArray(it) || it.length !== 3 || typeof it[0] !== 'string' || typeof it[1] !== 'string') {
      throw new Error('anti-entropy message: an item is not [bucket, key, bytes]');
    }
  }
  return v as [string, string, unknown][];
}

function parseDigests(v: unknown): KeyDigest[] {
  if (!Array.isArray(v) || v.length > MAX_KEYS_PER_LIST * 16) throw new Error('AAE_KEYS: keys is not a bounded list');
  return v.map((d: unknown) => {
    if (!Array.isArray(d) || d.length !== 4) throw new Error('AAE_KEYS: a key is not [bucket, key, hash, deadAt]');
    const [bucket, key, h, deadAt] = d as unknown[];
    if (typeof bucket !== 'string' || typeof key !== 'string' || !(h instanceof Uint8Array)) throw new Error('AAE_KEYS: bad key entry');
    if (deadAt !== null && typeof deadAt !== 'number') throw new Error('AAE_KEYS: bad expiry');
    return { bucket, key, hash: hashFromBytes(h), deadAt };
  });
}
