// The quorum coordinator (Dynamo §4.5–4.6): any node takes any request. Reads ask the key's
// replicas and answer after R (PR of them primaries) replied, then repair stale replicas in
// the background. Writes are coordinated by a primary replica, which applies the change
// locally (a new dot for KV, a CRDT operation) and sends the result to the other replicas,
// answering after W (PW primaries) stored it. Down primaries are replaced by the next nodes
// on the ring carrying a hint (sloppy quorum); a primary with no stand-in, or one that fails
// to answer, gets a hint kept here. KV and CRDT buckets share all of this; they differ only
// in how a value is encoded and merged (kinds.ts) and in the local mutation.
import { crdtTypes, type AnyCrdtType } from '../core/crdt/index.ts';
import { knownEncoding, sameBytes } from '../core/encoded.ts';
import { HLC_ZERO, hlcReceive, hlcTick } from '../core/hlc.ts';
import { emptyObject, update } from '../core/object.ts';
import { keyHash, sloppyTargets, type SloppyTarget, type Ring } from '../core/ring.ts';
import type { Clock, Random, TimerHandle } from '../core/time.ts';
import type { Hlc, NodeId, VersionVector, VersionedObject } from '../core/types.ts';
import { bucketProps, type ShoalConfig } from '../config.ts';
import { MsgType } from '../net/messages.ts';
import { PeerError, type Message, type Transport } from '../net/transport.ts';
import type { Logger } from '../runtime/logger.ts';
import type { HintStore } from './hints.ts';
import { kindOf, type ValueKind } from './kinds.ts';
import type { ReadQuorum, WriteQuorum } from './quorum.ts';
import { QuorumError, type ClientWrite, type KvReadResult, type KvService, type KvWriteResult } from './service.ts';

/** A node's local storage for one family of values (ObjectStore implements it). */
export interface LocalReplica<T> {
  get(bucket: string, key: string): Promise<T | undefined>;
  update(bucket: string, key: string, fn: (cur: T | undefined) => T | null): Promise<T | undefined>;
  /** The value if it is in memory, without reading storage (undefined otherwise). */
  peek(bucket: string, key: string): T | undefined;
}

export interface CoordinatorDeps {
  readonly self: NodeId;
  /** This node's actor id in version vectors and CRDT dots: node id + data-dir incarnation. */
  readonly actor: string;
  readonly config: ShoalConfig;
  /** Versioned objects of KV buckets. */
  readonly store: LocalReplica<VersionedObject>;
  /** CRDT states of CRDT buckets (same engine, another record codec). */
  readonly crdtStore: LocalReplica<unknown>;
  readonly hints: HintStore;
  readonly transport: Transport;
  readonly ring: () => Ring;
  readonly isUp: (node: NodeId) => boolean;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  readonly count: (event: string, by?: number) => void;
}

/** A client write refused because it would keep more siblings than the bucket allows. */
export class TooManySiblingsError extends Error {
  constructor(
    readonly siblings: number,
    readonly limit: number,
  ) {
    super(
      `the write would leave ${siblings} siblings (limit ${limit}); read the key and write back with its context to resolve them`,
    );
    this.name = 'TooManySiblingsError';
  }
}

/** A CRDT operation the coordinator refused (bad shape, or a remove of something unseen). */
export class CrdtRejectedError extends Error {
  constructor(
    readonly code: 'BAD_OP' | 'PRECONDITION',
    message: string,
  ) {
    super(message);
    this.name = 'CrdtRejectedError';
  }
}

export interface CrdtReadResult {
  readonly type: AnyCrdtType;
  readonly state: unknown | undefined;
  readonly answered: number;
  readonly asked: number;
}

export interface CrdtWriteResult {
  readonly type: AnyCrdtType;
  readonly state: unknown;
  readonly answered: number;
  readonly asked: number;
}

interface Reply<T> {
  readonly target: SloppyTarget;
  readonly primary: boolean;
  readonly value: T | undefined;
}

/** A local change at the coordinator: what to store, and what to send to the other replicas. */
type Mutation<T> = (cur: T | undefined) => { readonly next: T; readonly send: T };

/** A client request as it travels in a FORWARD message to a primary. */
type ForwardedOp =
  | {
      readonly kind: 'kv';
      readonly value: Uint8Array;
      readonly contentType: string;
      readonly tombstone: boolean;
      readonly ttlSeconds: number | null;
      readonly ctx: { readonly clock: VersionVector; readonly maxTs: Hlc } | null;
    }
  | { readonly kind: 'crdt'; readonly op: unknown; readonly ctx: VersionVector | null };

export class Coordinator implements KvService {
  private lastTs: Hlc = HLC_ZERO;

  constructor(private readonly deps: CoordinatorDeps) {}

  // Created once: a per-call closure costs an esbuild keepNames `__name` call per request.
  private readonly isUpOrSelf = (node: NodeId): boolean => node === this.deps.self || this.deps.isUp(node);

  private targets(bucket: string, key: string, n: number) {
    return sloppyTargets(this.deps.ring(), this.hashOf(bucket, key), n, this.isUpOrSelf);
  }

  // keyHash (md5 of encoded bytes) is a measurable share of a request; hot keys repeat.
  // Bounded: dropped wholesale past HASH_CACHE_MAX entries.
  private readonly hashCache = new Map<string, Map<string, number>>();
  private hashCacheSize = 0;
  private hashOf(bucket: string, key: string): number {
    let keys = this.hashCache.get(bucket);
    const hit = keys?.get(key);
    if (hit !== undefined) return hit;
    const h = keyHash(bucket, key);
    if (this.hashCacheSize >= HASH_CACHE_MAX) {
      this.hashCache.clear();
      this.hashCacheSize = 0;
      keys = undefined;
    }
    if (keys === undefined) {
      keys = new Map();
      this.hashCache.set(bucket, keys);
    }
    keys.set(key, h);
    this.hashCacheSize++;
    return h;
  }

  private storeFor(bucket: string): LocalReplica<unknown> {
    return bucketProps(this.deps.config, bucket).type === 'kv'
      ? (this.deps.store as LocalReplica<unknown>)
      : this.deps.crdtStore;
  }

  private crdtTypeOf(bucket: string): AnyCrdtType {
    const type = bucketProps(this.deps.config, bucket).type;
    if (type === 'kv') throw new Error(`bucket ${bucket} is not a CRDT bucket`);
    return crdtTypes[type];
  }

  private nextTs(): Hlc {
    this.lastTs = hlcTick(this.lastTs, this.deps.clock.now());
    return this.lastTs;
  }

  localObject(bucket: string, key: string): Promise<VersionedObject | undefined> {
    return this.deps.store.get(bucket, key);
  }

  /** This node's stored CRDT state for a key (admin view). */
  localCrdt(bucket: string, key: string): Promise<unknown | undefined> {
    return this.deps.crdtStore.get(bucket, key);
  }

  async localCrdtValue(bucket: string, key: string): Promise<{ type: string; value: unknown } | undefined> {
    const type = this.crdtTypeOf(bucket);
    const state = await this.deps.crdtStore.get(bucket, key);
    return state === undefined ? undefined : { type: type.name, value: type.value(state) };
  }

  // ---- public operations ---------------------------------------------------------------

  async get(bucket: string, key: string, q: ReadQuorum): Promise<KvReadResult> {
    const res = await this.read<VersionedObject>(bucket, key, q);
    return { obj: res.value, answered: res.answered, asked: res.asked };
  }

  async put(bucket: string, key: string, write: ClientWrite, q: WriteQuorum): Promise<KvWriteResult> {
    const res = await this.write<VersionedObject>(bucket, key, q, this.kvForward(write), () => this.kvMutation(bucket, write));
    return { obj: res.value, answered: res.answered, asked: res.asked };
  }

  async crdtGet(bucket: string, key: string, q: ReadQuorum): Promise<CrdtReadResult> {
    const type = this.crdtTypeOf(bucket);
    const res = await this.read<unknown>(bucket, key, q);
    return { type, state: res.value, answered: res.answered, asked: res.asked };
  }

  /** Applies a client's CRDT op (JSON, validated here) with the context it observed. */
  async crdtUpdate(bucket: string, key: string, op: unknown, ctx: VersionVector | null, q: WriteQuorum): Promise<CrdtWriteResult> {
    const type = this.crdtTypeOf(bucket);
    const parsed = this.parseCrdtOp(type, op);
    const res = await this.write<unknown>(bucket, key, q, { kind: 'crdt', op, ctx }, () => this.crdtMutation(type, parsed, ctx));
    return { type, state: res.value, answered: res.answered, asked: res.asked };
  }

  private parseCrdtOp(type: AnyCrdtType, op: unknown): unknown {
    try {
      return type.parseOp(op);
    } catch (err) {
      if (err instanceof Error && err.name === 'CrdtOpError') {
        throw new CrdtRejectedError((err as Error & { code: 'BAD_OP' | 'PRECONDITION' }).code, err.message);
      }
      throw err;
    }
  }

  private kvForward(write: ClientWrite): ForwardedOp {
    return {
      kind: 'kv',
      value: write.value,
      contentType: write.contentType,
      tombstone: write.tombstone,
      ttlSeconds: write.ttlSeconds,
      ctx: write.context === null ? null : { clock: write.context.clock, maxTs: write.context.maxTs },
    };
  }

  private kvMutation(bucket: string, write: ClientWrite): Mutation<VersionedObject> {
    const mode = bucketProps(this.deps.config, bucket).mode;
    const ts = this.nextTs();
    const input = {
      value: write.value,
      contentType: write.contentType,
      tombstone: write.tombstone,
      expiresAt: write.ttlSeconds === null ? null : this.deps.clock.now() + write.ttlSeconds * 1000,
      ts,
    };
    const limit = this.deps.config.limits.maxSiblings;
    return (cur) => {
      // A write without a context supersedes nothing, deletes included: what it did not see
      // stays as a sibling. (The chaos checker's model of "lost" relies on exactly this.)
      const { obj, sibling } = update(cur ?? emptyObject(), this.deps.actor, write.context, input, mode);
      if (obj.siblings.length > limit) throw new TooManySiblingsError(obj.siblings.length, limit);
      // update() may bump the timestamp past what the context saw; keep our HLC ahead of it.
      this.lastTs = hlcReceive(this.lastTs, sibling.ts, this.deps.clock.now());
      return { next: obj, send: obj };
    };
  }

  private crdtMutation(type: AnyCrdtType, op: unknown, ctx: VersionVector | null): Mutation<unknown> {
    const ts = this.nextTs();
    return (cur) => {
      try {
        const env = ctx === null ? { ts } : { ts, ctx };
        const { state, delta } = type.apply(cur ?? type.empty(), op, this.deps.actor, env);
        // Ship the delta, not the state (Almeida et al.): its size does not grow with history.
        return { next: state, send: delta };
      } catch (err) {
        if (err instanceof Error && err.name === 'CrdtOpError') {
          throw new CrdtRejectedError((err as Error & { code: 'BAD_OP' | 'PRECONDITION' }).code, err.message);
        }
        throw err;
      }
    };
  }

  // ---- reads ---------------------------------------------------------------------------

  private async read<T>(bucket: string, key: string, q: ReadQuorum): Promise<{ value: T | undefined; answered: number; asked: number }> {
    const { primaries, targets } = this.targets(bucket, key, q.n);
    const kind = kindOf(this.deps.config, bucket) as ValueKind<T>;
    if (targets.length < q.r) {
      throw new QuorumError('unavailable', q.r, 0, targets.length, `only ${targets.length} of the ${q.n} replicas are up; r=${q.r} needed`);
    }
    // Ask this node first, then primaries, then stand-ins; only as many as R (or PR) need,
    // with one more for each that fails (Cassandra's approach): a read at R = 1 on a replica
    // costs no network round trip. Replicas not asked are repaired by anti-entropy.
    const ordered = this.readOrder(targets, primaries);
    // A share of reads asks every replica anyway (Cassandra's read_repair_chance), so read
    // repair still reaches replicas that R-sized reads never ask.
    const everyone = this.deps.random.next() < this.deps.config.readRepairChance;
    const first = everyone ? ordered.length : Math.max(q.r, q.pr);
    const head = ordered[0];
    let g: Gather<T> | undefined;
    // first === 1 implies r ≤ 1 and pr ≤ 1.
    if (first === 1 && head !== undefined && head.node === this.deps.self && head.hintFor === null) {
      // Fast path (R = 1 answered by this node's primary copy): no timer, no gather state,
      // and one reply has nothing to repair. A failure asks the next replica, as gather does.
      try {
        const value = (await this.storeFor(bucket).get(bucket, key)) as T | undefined;
        return { value, answered: 1, asked: 1 };
      } catch (err) {
        g = new Gather<T>(this.deps.clock, ordered, (t) => this.askRead(bucket, key, t, kind, q.timeoutMs, primaries), q.r, q.pr, q.timeoutMs, 'read');
        g.preFailed(err);
      }
    }
    const { replies, settled } = await (g === undefined
      ? new Gather<T>(this.deps.clock, ordered, (t) => this.askRead(bucket, key, t, kind, q.timeoutMs, primaries), q.r, q.pr, q.timeoutMs, 'read').start(first)
      : g.resume());
    const merged = mergeReplies(replies, kind);
    // Read repair runs once every replica asked answered or failed, off the client's path.
    void settled.then(() => this.readRepair(bucket, key, replies, kind));
    return { value: merged, answered: replies.length, asked: replies.length };
  }

  /** This node first if it is a primary, then other primaries, then stand-ins (stable). */
  private readOrder(targets: readonly SloppyTarget[], primaries: readonly NodeId[]): SloppyTarget[] {
    const out: SloppyTarget[] = [];
    let rest: SloppyTarget[] | undefined;
    let standIns: SloppyTarget[] | undefined;
    for (const t of targets) {
      if (t.hintFor === null && primaries.includes(t.node)) {
        if (t.node === this.deps.self) out.push(t);
        else (rest ??= []).push(t);
      } else (standIns ??= []).push(t);
    }
    if (rest !== undefined) for (const t of rest) out.push(t);
    if (standIns !== undefined) for (const t of standIns) out.push(t);
    return out;
  }

  private askRead<T>(bucket: string, key: string, t: SloppyTarget, kind: ValueKind<T>, timeoutMs: number, primaries: readonly NodeId[]): Promise<Reply<T>> {
    return this.readReplica(bucket, key, t, kind, timeoutMs).then((value) => ({ target: t, primary: t.hintFor === null && primaries.includes(t.node), value }));
  }

  private async readReplica<T>(bucket: string, key: string, t: SloppyTarget, kind: ValueKind<T>, timeoutMs: number): Promise<T | undefined> {
    if (t.node === this.deps.self) {
      if (t.hintFor === null) return (await this.storeFor(bucket).get(bucket, key)) as T | undefined;
      const bytes = await this.deps.hints.get(t.hintFor, bucket, key);
      return bytes === undefined ? undefined : kind.decode(bytes);
    }
    const reply = await this.deps.transport.call(t.node, { t: MsgType.REPLICA_GET, bucket, key, hintFor: t.hintFor }, timeoutMs);
    const bytes = reply['obj'];
    if (!(bytes instanceof Uint8Array)) return undefined;
    // Replicas usually agree: when the answer is byte for byte the copy this node holds,
    // use that object, so merging, read repair and context sealing see one value.
    const local = this.storeFor(bucket).peek(bucket, key) as T | undefined;
    const localBytes = local === undefined ? undefined : knownEncoding(local);
    if (localBytes !== undefined && sameBytes(localBytes, bytes)) return local;
    return kind.decode(bytes);
  }

  private async readRepair<T>(bucket: string, key: string, replies: readonly Reply<T>[], kind: ValueKind<T>) {
    if (replies.length < 2) return; // one answer has nothing to be compared with
    const merged = mergeReplies(replies, kind);
    if (merged === undefined) return;
    for (const r of replies) {
      if (r.value !== undefined && kind.equal(r.value, merged)) continue;
      this.deps.count('read_repair');
      this.writeReplica(bucket, key, r.target, merged, kind, this.deps.config.requestTimeoutMs).catch((err) => {
        this.deps.log.debug({ err: String(err), node: r.target.node, bucket, key }, 'read repair failed');
      });
    }
  }

  // ---- writes --------------------------------------------------------------------------

  private async write<T>(
    bucket: string,
    key: string,
    q: WriteQuorum,
    forwarded: ForwardedOp,
    mutation: () => Mutation<T>,
  ): Promise<{ value: T; answered: number; asked: number }> {
    const { primaries, targets } = this.targets(bucket, key, q.n);
    if (!primaries.includes(this.deps.self)) {
      const res = await this.forward(bucket, key, forwarded, q, primaries);
      const kind = kindOf(this.deps.config, bucket) as ValueKind<T>;
      return { value: kind.decode(res.bytes), answered: res.answered, asked: res.asked };
    }
    return this.coordinate(bucket, key, q, primaries, targets, mutation());
  }

  /** A non-replica hands the write to a primary: only replicas create dots (ARCHITECTURE.md). */
  private async forward(bucket: string, key: string, op: ForwardedOp, q: WriteQuorum, primaries: readonly NodeId[]) {
    let lastErr: unknown;
    for (const p of primaries) {
      if (!this.deps.isUp(p)) continue;
      try {
        this.deps.count('forward');
        const reply = await this.deps.transport.call(p, { t: MsgType.FORWARD, bucket, key, op, q }, q.timeoutMs + 500);
        return decodeForwardReply(reply);
      } catch (err) {
        if (err instanceof PeerError && err.code === 'REMOTE') throw new Error(`coordinator ${p} failed: ${err.message}`);
        lastErr = err;
      }
    }
    throw new QuorumError(
      'unavailable',
      q.w,
      0,
      primaries.length,
      `no primary replica of this key is reachable to coordinate the write${lastErr ? ` (${String(lastErr)})` : ''}`,
    );
  }

  /** Handles a FORWARD from a non-replica: coordinate here, never forward again. */
  async handleForward(msg: Message): Promise<Message> {
    const bucket = msg['bucket'];
    const key = msg['key'];
    const op = msg['op'] as ForwardedOp | undefined;
    const q = msg['q'] as WriteQuorum | undefined;
    if (typeof bucket !== 'string' || typeof key !== 'string' || typeof op !== 'object' || op === null || typeof q !== 'object' || q === null) {
      throw new Error('malformed FORWARD');
    }
    const { primaries, targets } = this.targets(bucket, key, q.n);
    const kind = kindOf(this.deps.config, bucket);
    try {
      let mutation: Mutation<unknown>;
      if (op.kind === 'kv' && op.value instanceof Uint8Array) {
        const write: ClientWrite = {
          value: op.value,
          contentType: String(op.contentType),
          tombstone: op.tombstone === true,
          ttlSeconds: typeof op.ttlSeconds === 'number' ? op.ttlSeconds : null,
          context: op.ctx ?? null,
        };
        mutation = this.kvMutation(bucket, write) as Mutation<unknown>;
      } else if (op.kind === 'crdt') {
        const type = this.crdtTypeOf(bucket);
        mutation = this.crdtMutation(type, this.parseCrdtOp(type, op.op), op.ctx ?? null);
      } else {
        throw new Error('malformed FORWARD op');
      }
      const res = await this.coordinate(bucket, key, q, primaries, targets, mutation);
      return { t: MsgType.FORWARD, ok: true, obj: kind.encode(res.value), answered: res.answered, asked: res.asked };
    } catch (err) {
      if (err instanceof QuorumError) {
        return { t: MsgType.FORWARD, ok: false, reason: err.reason, needed: err.needed, answered: err.answered, asked: err.asked, message: err.message };
      }
      if (err instanceof TooManySiblingsError) {
        return { t: MsgType.FORWARD, ok: false, reason: 'siblings', needed: err.siblings, answered: err.limit, asked: 0, message: err.message };
      }
      if (err instanceof CrdtRejectedError) {
        return { t: MsgType.FORWARD, ok: false, reason: 'crdt', code: err.code, message: err.message };
      }
      throw err;
    }
  }

  private async coordinate<T>(
    bucket: string,
    key: string,
    q: WriteQuorum,
    primaries: readonly NodeId[],
    targets: readonly SloppyTarget[],
    mutation: Mutation<T>,
  ): Promise<{ value: T; answered: number; asked: number }> {
    const kind = kindOf(this.deps.config, bucket) as ValueKind<T>;
    const store = this.storeFor(bucket) as LocalReplica<T>;
    let send: T | undefined;
    const stored = await store.update(bucket, key, (cur) => {
      const m = mutation(cur);
      send = m.send;
      return m.next;
    });
    if (stored === undefined || send === undefined) throw new Error('local store returned nothing after a write');
    const payload: T = send;

    const others = targets.filter((t) => !(t.node === this.deps.self && t.hintFor === null));
    const local: SloppyTarget = { node: this.deps.self, hintFor: null };
    // Primaries with no stand-in at all keep a hint here (Cassandra's coordinator hints).
    const covered = new Set(targets.map((t) => t.hintFor ?? t.node));
    for (const p of primaries) if (!covered.has(p)) void this.keepHint(p, bucket, key, payload, kind);
    // Only this node to write and its copy is stored: the answer is known, no gather needed.
    if (others.length === 0 && q.w <= 1 && q.pw <= 1) return { value: stored, answered: 1, asked: 1 };
    const all = [local, ...others];
    const { replies: acks, settled } = await new Gather<T>(
      this.deps.clock,
      all,
      async (t) => {
        if (t === local) return { target: t, primary: true, value: stored };
        this.replicaWritesInFlight.set(t.node, (this.replicaWritesInFlight.get(t.node) ?? 0) + 1);
        try {
          await this.writeReplica(bucket, key, t, payload, kind, q.timeoutMs);
        } catch (err) {
          // A primary that did not store it gets a hint, so it converges when it returns.
          if (t.hintFor === null) void this.keepHint(t.node, bucket, key, payload, kind);
          throw err;
        } finally {
          const left = (this.replicaWritesInFlight.get(t.node) ?? 1) - 1;
          if (left === 0) this.replicaWritesInFlight.delete(t.node);
          else this.replicaWritesInFlight.set(t.node, left);
        }
        return { target: t, primary: t.hintFor === null && primaries.includes(t.node), value: payload };
      },
      q.w,
      q.pw,
      q.timeoutMs,
      'write',
    ).start(all.length);
    if (acks.length < all.length && this.replicasLagging(others)) await this.catchUp(settled);
    return { value: stored, answered: acks.length, asked: all.length };
  }

  /**
   * Replica writes this coordinator has sent and not yet seen answered, per node. W below
   * the replica count answers the client before the rest have stored the write; without a
   * bound, a client writing at W = 1 as fast as it is answered outruns the replicas, and
   * their backlog grows until calls fail on the transport's queue bound or time out.
   */
  private readonly replicaWritesInFlight = new Map<NodeId, number>();

  private replicasLagging(targets: readonly SloppyTarget[]): boolean {
    for (const t of targets) if ((this.replicaWritesInFlight.get(t.node) ?? 0) > LAGGING_REPLICA_WRITES) return true;
    return false;
  }

  /**
   * Backpressure: with a replica that far behind, the answer waits until this write reached
   * every replica asked, so clients slow to what the replicas absorb. Bounded, because a
   * replica that is partitioned but not yet marked down answers nothing: then each write
   * waits at most CATCH_UP_WAIT_MS and the call's own timeout turns it into a hint.
   */
  private catchUp(settled: Promise<void>): Promise<void> {
    this.deps.count('write_backpressure');
    return new Promise<void>((resolve) => {
      const timer = this.deps.clock.setTimeout(resolve, CATCH_UP_WAIT_MS);
      void settled.then(() => {
        timer.cancel();
        resolve();
      });
    });
  }

  private async keepHint<T>(owner: NodeId, bucket: string, key: string, value: T, kind: ValueKind<T>) {
    try {
      const merge = (a: Uint8Array, b: Uint8Array) => kind.encode(kind.merge(kind.decode(a), kind.decode(b)));
      if (await this.deps.hints.add(owner, bucket, key, kind.encode(value), merge)) this.deps.count('hint_stored');
      else this.deps.count('hint_dropped');
    } catch (err) {
      this.deps.log.warn({ err: String(err), owner, bucket, key }, 'could not store hint');
    }
  }

  private async writeReplica<T>(bucket: string, key: string, t: SloppyTarget, value: T, kind: ValueKind<T>, timeoutMs: number): Promise<void> {
    if (t.node === this.deps.self) {
      await this.applyLocally(bucket, key, t.hintFor, value, kind);
      return;
    }
    await this.deps.transport.call(t.node, { t: MsgType.REPLICA_PUT, bucket, key, obj: kind.encode(value), hintFor: t.hintFor }, timeoutMs);
  }

  /** Merges a replica's copy (or a delta) into this node's store, or into its hint for `hintFor`. */
  private async applyLocally<T>(bucket: string, key: string, hintFor: NodeId | null, value: T, kind: ValueKind<T>): Promise<void> {
    if (hintFor === null) {
      const store = this.storeFor(bucket) as LocalReplica<T>;
      const settle = this.settlerOf(bucket);
      let settled: unknown;
      await store.update(bucket, key, (cur) => {
        const merged = cur === undefined ? value : kind.merge(cur, value);
        const s = settle?.(merged);
        // Already stored (a repeated delivery, a repair of an equal copy): nothing to write.
        if (!s) return merged === cur ? null : merged;
        settled = s.delta;
        return s.state as T;
      });
      // Housekeeping this replica did as its own actor travels like a small write.
      if (settled !== undefined) void this.spread(bucket, key, settled as T, kind);
      return;
    }
    const merge = (a: Uint8Array, b: Uint8Array) => kind.encode(kind.merge(kind.decode(a), kind.decode(b)));
    if (!(await this.deps.hints.add(hintFor, bucket, key, kind.encode(value), merge))) throw new Error('hint backlog is full');
  }

  /** The bucket's CRDT housekeeping at this node's actor (see CrdtType.settle), if any. */
  private settlerOf(bucket: string): ((state: unknown) => { state: unknown; delta: unknown } | null) | undefined {
    const type = bucketProps(this.deps.config, bucket).type;
    if (type === 'kv') return undefined;
    const crdt = crdtTypes[type];
    if (crdt.settle === undefined) return undefined;
    return (state) => crdt.settle!(state, this.deps.actor, this.nextTs());
  }

  /** Best-effort: send a value (a delta) to the key's other replicas; a failed one gets a hint. */
  private async spread<T>(bucket: string, key: string, value: T, kind: ValueKind<T>): Promise<void> {
    const n = bucketProps(this.deps.config, bucket).n;
    const { targets } = this.targets(bucket, key, n);
    for (const t of targets) {
      if (t.node === this.deps.self && t.hintFor === null) continue;
      this.writeReplica(bucket, key, t, value, kind, this.deps.config.requestTimeoutMs).catch(() => {
        void this.keepHint(t.hintFor ?? t.node, bucket, key, value, kind);
      });
    }
  }

  // ---- replica side --------------------------------------------------------------------

  /** REPLICA_GET / REPLICA_PUT / HINT_DELIVER from a coordinator or a handoff sender. */
  async handleReplicaMessage(msg: Message): Promise<Message> {
    const bucket = msg['bucket'];
    const key = msg['key'];
    const hintFor = msg['hintFor'] ?? null;
    if (typeof bucket !== 'string' || typeof key !== 'string' || (hintFor !== null && typeof hintFor !== 'string')) {
      throw new Error('malformed replica request: bucket, key and hintFor must be strings');
    }
    const kind = kindOf(this.deps.config, bucket);
    if (msg.t === MsgType.REPLICA_GET) {
      if (hintFor !== null) return { t: msg.t, obj: (await this.deps.hints.get(hintFor, bucket, key)) ?? null };
      const value = await this.storeFor(bucket).get(bucket, key);
      return { t: msg.t, obj: value === undefined ? null : kind.encode(value) };
    }
    const raw = msg['obj'];
    if (!(raw instanceof Uint8Array)) throw new Error('malformed replica write: obj must be bytes');
    // decode validates: a malformed value is refused, never stored.
    await this.applyLocally(bucket, key, hintFor, kind.decode(raw), kind);
    return { t: msg.t, ok: true };
  }
}

const NOOP = (): void => {};
const HASH_CACHE_MAX = 100_000;
/** Replica writes in flight to one node past which a write's answer waits for its replicas. */
export const LAGGING_REPLICA_WRITES = 256;
/** The longest that wait lasts (a replica partitioned but not yet marked down never answers). */
export const CATCH_UP_WAIT_MS = 100;

/**
 * Asks `first` of `targets` (in order), and one more for each that fails. Resolves with the
 * replies once `needed` are in (`neededPrimaries` of them from primaries); rejects as soon
 * as that can no longer happen, or at the timeout. `settled` resolves when every call made
 * has answered or failed (read repair waits for it). A class, not closures: per-request
 * named closures each cost an esbuild keepNames `__name` call.
 */
class Gather<T> {
  private readonly replies: Reply<T>[] = [];
  private launched = 0;
  private failed = 0;
  private firstError: unknown;
  private done = false;
  private timer: TimerHandle | undefined;
  private resolve: (v: { replies: Reply<T>[]; settled: Promise<void> }) => void = NOOP;
  private reject: (err: Error) => void = NOOP;
  private allSettled: () => void = NOOP;
  private readonly settled: Promise<void>;

  constructor(
    private readonly clock: Clock,
    private readonly targets: readonly SloppyTarget[],
    private readonly ask: (t: SloppyTarget) => Promise<Reply<T>>,
    private readonly needed: number,
    private readonly neededPrimaries: number,
    private readonly timeoutMs: number,
    private readonly what: 'read' | 'write',
  ) {
    this.settled = new Promise<void>((resolve) => (this.allSettled = resolve));
  }

  start(first: number): Promise<{ replies: Reply<T>[]; settled: Promise<void> }> {
    return new Promise((resolve, reject) => {
      this.arm(resolve, reject);
      const { targets } = this;
      for (let i = 0; i < Math.min(first, targets.length); i++) this.launch();
      // Not enough successes possible in principle, or nothing to ask at all.
      if (targets.length === 0 || targets.length < this.needed) this.check();
    });
  }

  /** The first target was asked outside (read fast path) and failed with `err`. */
  preFailed(err: unknown): void {
    this.launched = 1;
    this.failed = 1;
    this.firstError = err;
  }

  /** Continues after preFailed as the failure handler would: ask the next one, then check. */
  resume(): Promise<{ replies: Reply<T>[]; settled: Promise<void> }> {
    return new Promise((resolve, reject) => {
      this.arm(resolve, reject);
      this.launch();
      this.check();
    });
  }

  private arm(resolve: (v: { replies: Reply<T>[]; settled: Promise<void> }) => void, reject: (err: Error) => void): void {
    this.resolve = resolve;
    this.reject = reject;
    this.timer = this.clock.setTimeout(() => this.onTimeout(), this.timeoutMs);
  }

  private onTimeout(): void {
    const { replies, needed } = this;
    this.finish(new QuorumError('timeout', needed, replies.length, this.launched, `${this.what} timed out after ${this.timeoutMs} ms with ${replies.length} of ${needed} replicas`));
  }

  private finish(err?: Error): void {
    if (this.done) return;
    this.done = true;
    this.timer?.cancel();
    if (err) this.reject(err);
    else this.resolve({ replies: this.replies, settled: this.settled });
  }

  private unavailable(message: string): Error {
    const { firstError } = this;
    // A record this node cannot read is reported as such (503 STORAGE_UNAVAILABLE), not
    // hidden behind a generic quorum error.
    if (firstError instanceof Error && firstError.name === 'CorruptRecordError') return firstError;
    const why = firstError === undefined ? '' : ` (first failure: ${firstError instanceof Error ? firstError.message : String(firstError)})`;
    return new QuorumError('unavailable', this.needed, this.replies.length, this.targets.length, message + why);
  }

  private check(): void {
    const { replies, failed, launched, targets, needed, neededPrimaries, what } = this;
    if (replies.length + failed === launched) this.allSettled();
    if (this.done) return;
    let primaries = 0;
    for (const r of replies) if (r.primary) primaries++;
    if (replies.length >= needed && primaries >= neededPrimaries) return this.finish();
    // Enough replies but too few from primaries: ask one more.
    if (replies.length + (launched - replies.length - failed) >= needed && launched < targets.length && replies.length + failed === launched) this.launch();
    const possible = targets.length - this.failed;
    if (possible < needed) {
      this.finish(this.unavailable(`${what} needs ${needed} replicas; ${replies.length} answered and ${this.failed} failed`));
    } else if (replies.length + this.failed === targets.length) {
      this.finish(this.unavailable(`${what} needs ${neededPrimaries} primary replicas; ${primaries} answered`));
    }
  }

  private launch(): void {
    const t = this.targets[this.launched];
    if (t === undefined) return;
    this.launched++;
    void this.ask(t).then(
      (reply) => {
        this.replies.push(reply);
        this.check();
      },
      (err: unknown) => {
        this.failed++;
        this.firstError ??= err;
        this.launch(); // replace the failed replica with the next one, if any
        this.check();
      },
    );
  }
}

function mergeReplies<T>(replies: readonly Reply<T>[], kind: ValueKind<T>): T | undefined {
  let merged: T | undefined;
  for (const r of replies) {
    if (r.value === undefined) continue;
    merged = merged === undefined ? r.value : kind.merge(merged, r.value);
  }
  return merged;
}

function decodeForwardReply(reply: Message): { bytes: Uint8Array; answered: number; asked: number } {
  if (reply['ok'] === true && reply['obj'] instanceof Uint8Array) {
    return { bytes: reply['obj'], answered: Number(reply['answered']), asked: Number(reply['asked']) };
  }
  if (reply['reason'] === 'siblings') throw new TooManySiblingsError(Number(reply['needed']), Number(reply['answered']));
  if (reply['reason'] === 'crdt') {
    throw new CrdtRejectedError(reply['code'] === 'PRECONDITION' ? 'PRECONDITION' : 'BAD_OP', String(reply['message']));
  }
  const reason = reply['reason'] === 'timeout' ? 'timeout' : 'unavailable';
  throw new QuorumError(reason, Number(reply['needed']), Number(reply['answered']), Number(reply['asked']), String(reply['message']));
}
