// The quorum coordinator (Dynamo §4.5–4.6): any node takes any request. Reads ask the key's
// replicas and answer after R (PR of them primaries) replied, then repair stale replicas in
// the background. Writes are coordinated by a primary replica, which adds its dot, stores the
// version and sends it to the other replicas, answering after W (PW primaries) stored it.
// Down primaries are replaced by the next nodes on the ring carrying a hint (sloppy quorum);
// a primary with no stand-in, or one that fails to answer, gets a hint kept here.
import { decodeObject, encodeObject } from '../core/codec.ts';
import { HLC_ZERO, hlcTick } from '../core/hlc.ts';
import { emptyObject, equalObjects, sync, update } from '../core/object.ts';
import { keyHash, sloppyTargets, type Ring, type SloppyTarget } from '../core/ring.ts';
import type { Clock } from '../core/time.ts';
import type { ConflictMode, Hlc, NodeId, VersionedObject } from '../core/types.ts';
import { bucketProps, type ShoalConfig } from '../config.ts';
import { MsgType } from '../net/messages.ts';
import { PeerError, type Message, type Transport } from '../net/transport.ts';
import type { Logger } from '../runtime/logger.ts';
import type { HintStore } from './hints.ts';
import type { ReadQuorum, WriteQuorum } from './quorum.ts';
import { QuorumError, type ClientWrite, type KvReadResult, type KvService, type KvWriteResult } from './service.ts';

/** The local replica's storage, as the coordinator needs it (ObjectStore implements it). */
export interface LocalReplica {
  get(bucket: string, key: string): Promise<VersionedObject | undefined>;
  update(
    bucket: string,
    key: string,
    fn: (cur: VersionedObject | undefined) => VersionedObject | null,
  ): Promise<VersionedObject | undefined>;
}

export interface CoordinatorDeps {
  readonly self: NodeId;
  /** This node's actor id in version vectors: node id + data-directory incarnation. */
  readonly actor: string;
  readonly config: ShoalConfig;
  readonly store: LocalReplica;
  readonly hints: HintStore;
  readonly transport: Transport;
  readonly ring: () => Ring;
  readonly isUp: (node: NodeId) => boolean;
  readonly clock: Clock;
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

interface ReplicaReply {
  readonly target: SloppyTarget;
  readonly primary: boolean;
  readonly obj: VersionedObject | undefined;
}

/** Wire shape of a forwarded write: a non-replica hands the client's request to a primary. */
interface ForwardBody {
  readonly bucket: string;
  readonly key: string;
  readonly value: Uint8Array;
  readonly contentType: string;
  readonly tombstone: boolean;
  readonly ttlSeconds: number | null;
  readonly ctx: { readonly clock: Record<string, number>; readonly maxTs: Hlc } | null;
  readonly q: WriteQuorum;
}

export class Coordinator implements KvService {
  private lastTs: Hlc = HLC_ZERO;

  constructor(private readonly deps: CoordinatorDeps) {}

  private mode(bucket: string): ConflictMode {
    return bucketProps(this.deps.config, bucket).mode;
  }

  private targets(bucket: string, key: string, n: number) {
    const isUp = (node: NodeId) => node === this.deps.self || this.deps.isUp(node);
    return sloppyTargets(this.deps.ring(), keyHash(bucket, key), n, isUp);
  }

  localObject(bucket: string, key: string): Promise<VersionedObject | undefined> {
    return this.deps.store.get(bucket, key);
  }

  // ---- reads ---------------------------------------------------------------------------

  async get(bucket: string, key: string, q: ReadQuorum): Promise<KvReadResult> {
    const { primaries, targets } = this.targets(bucket, key, q.n);
    const mode = this.mode(bucket);
    const asked = targets.length;
    if (asked < q.r) {
      throw new QuorumError('unavailable', q.r, 0, asked, `only ${asked} of the ${q.n} replicas are up; r=${q.r} needed`);
    }
    const replies: ReplicaReply[] = [];
    const all = targets.map((t) =>
      this.readReplica(bucket, key, t, q.timeoutMs).then((obj) => {
        replies.push({ target: t, primary: t.hintFor === null && primaries.includes(t.node), obj });
      }),
    );
    const done = Promise.allSettled(all);
    await this.awaitQuorum(all, () => replies, q.r, q.pr, asked, q.timeoutMs, 'read');
    const merged = mergeReplies(replies, mode);
    // Read repair runs once every replica answered or failed, off the client's path.
    void done.then(() => this.readRepair(bucket, key, replies, mode));
    return { obj: merged, answered: replies.length, asked };
  }

  private async readReplica(bucket: string, key: string, t: SloppyTarget, timeoutMs: number) {
    if (t.node === this.deps.self) {
      return t.hintFor === null ? this.deps.store.get(bucket, key) : this.deps.hints.get(t.hintFor, bucket, key);
    }
    const reply = await this.deps.transport.call(
      t.node,
      { t: MsgType.REPLICA_GET, bucket, key, hintFor: t.hintFor },
      timeoutMs,
    );
    return reply['obj'] instanceof Uint8Array ? decodeObject(reply['obj']) : undefined;
  }

  private async readRepair(bucket: string, key: string, replies: readonly ReplicaReply[], mode: ConflictMode) {
    const merged = mergeReplies(replies, mode);
    if (merged === undefined) return;
    for (const r of replies) {
      if (r.obj !== undefined && equalObjects(r.obj, merged)) continue;
      this.deps.count('read_repair');
      this.writeReplica(bucket, key, r.target, merged, mode, this.deps.config.requestTimeoutMs).catch((err) => {
        this.deps.log.debug({ err: String(err), node: r.target.node, bucket, key }, 'read repair failed');
      });
    }
  }

  // ---- writes --------------------------------------------------------------------------

  async put(bucket: string, key: string, write: ClientWrite, q: WriteQuorum): Promise<KvWriteResult> {
    const { primaries, targets } = this.targets(bucket, key, q.n);
    if (!primaries.includes(this.deps.self)) return this.forward(bucket, key, write, q, primaries);
    return this.coordinatePut(bucket, key, write, q, primaries, targets);
  }

  /** A non-replica hands the write to a primary: only replicas create dots (see README). */
  private async forward(
    bucket: string,
    key: string,
    write: ClientWrite,
    q: WriteQuorum,
    primaries: readonly NodeId[],
  ): Promise<KvWriteResult> {
    const body: ForwardBody = {
      bucket,
      key,
      value: write.value,
      contentType: write.contentType,
      tombstone: write.tombstone,
      ttlSeconds: write.ttlSeconds,
      ctx: write.context === null ? null : { clock: { ...write.context.clock }, maxTs: write.context.maxTs },
      q,
    };
    let lastErr: unknown;
    for (const p of primaries) {
      if (!this.deps.isUp(p)) continue;
      try {
        this.deps.count('forward');
        const reply = await this.deps.transport.call(p, { t: MsgType.FORWARD, ...body }, q.timeoutMs + 500);
        return decodeWriteReply(reply);
      } catch (err) {
        if (err instanceof PeerError && err.code === 'REMOTE') throw remoteToLocal(err);
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
    const b = msg as unknown as ForwardBody;
    if (typeof b.bucket !== 'string' || typeof b.key !== 'string' || !(b.value instanceof Uint8Array)) {
      throw new Error('malformed FORWARD');
    }
    const write: ClientWrite = {
      value: b.value,
      contentType: String(b.contentType),
      tombstone: b.tombstone === true,
      ttlSeconds: typeof b.ttlSeconds === 'number' ? b.ttlSeconds : null,
      context: b.ctx === null || b.ctx === undefined ? null : { clock: b.ctx.clock, maxTs: b.ctx.maxTs },
    };
    const { primaries, targets } = this.targets(b.bucket, b.key, b.q.n);
    try {
      const res = await this.coordinatePut(b.bucket, b.key, write, b.q, primaries, targets);
      return { t: MsgType.FORWARD, ok: true, obj: encodeObject(res.obj), answered: res.answered, asked: res.asked };
    } catch (err) {
      if (err instanceof QuorumError) {
        return { t: MsgType.FORWARD, ok: false, reason: err.reason, needed: err.needed, answered: err.answered, asked: err.asked, message: err.message };
      }
      if (err instanceof TooManySiblingsError) {
        return { t: MsgType.FORWARD, ok: false, reason: 'siblings', needed: err.siblings, answered: err.limit, asked: 0, message: err.message };
      }
      throw err;
    }
  }

  private nextTs(): Hlc {
    this.lastTs = hlcTick(this.lastTs, this.deps.clock.now());
    return this.lastTs;
  }

  private async coordinatePut(
    bucket: string,
    key: string,
    write: ClientWrite,
    q: WriteQuorum,
    primaries: readonly NodeId[],
    targets: readonly SloppyTarget[],
  ): Promise<KvWriteResult> {
    const mode = this.mode(bucket);
    const now = this.deps.clock.now();
    const ts = this.nextTs();
    const input = {
      value: write.value,
      contentType: write.contentType,
      tombstone: write.tombstone,
      expiresAt: write.ttlSeconds === null ? null : now + write.ttlSeconds * 1000,
      ts,
    };
    const limit = this.deps.config.limits.maxSiblings;
    const stored = await this.deps.store.update(bucket, key, (cur) => {
      const next = update(cur ?? emptyObject(), this.deps.actor, write.context, input, mode).obj;
      if (next.siblings.length > limit) throw new TooManySiblingsError(next.siblings.length, limit);
      return next;
    });
    if (stored === undefined) throw new Error('local store returned nothing after a write');
    // The new version may carry a later ts than ours (bumped past what the context saw).
    for (const s of stored.siblings) if (s.ts.wall > this.lastTs.wall) this.lastTs = s.ts;

    const others = targets.filter((t) => !(t.node === this.deps.self && t.hintFor === null));
    const asked = others.length + 1;
    const acks: ReplicaReply[] = [{ target: { node: this.deps.self, hintFor: null }, primary: true, obj: stored }];
    // Primaries with no stand-in at all keep a hint here (Cassandra's coordinator hints).
    const covered = new Set(targets.map((t) => t.hintFor ?? t.node));
    for (const p of primaries) {
      if (!covered.has(p)) void this.keepHint(p, bucket, key, stored, mode);
    }
    const pending = others.map((t) =>
      this.writeReplica(bucket, key, t, stored, mode, q.timeoutMs).then(
        () => {
          acks.push({ target: t, primary: t.hintFor === null && primaries.includes(t.node), obj: stored });
        },
        (err) => {
          // A primary that did not store it gets a hint, so it converges when it returns.
          if (t.hintFor === null) void this.keepHint(t.node, bucket, key, stored, mode);
          throw err;
        },
      ),
    );
    const local = Promise.resolve();
    await this.awaitQuorum([local, ...pending], () => acks, q.w, q.pw, asked, q.timeoutMs, 'write');
    return { obj: stored, answered: acks.length, asked };
  }

  private async keepHint(owner: NodeId, bucket: string, key: string, obj: VersionedObject, mode: ConflictMode) {
    try {
      if (await this.deps.hints.add(owner, bucket, key, obj, mode)) this.deps.count('hint_stored');
      else this.deps.count('hint_dropped');
    } catch (err) {
      this.deps.log.warn({ err: String(err), owner, bucket, key }, 'could not store hint');
    }
  }

  private async writeReplica(
    bucket: string,
    key: string,
    t: SloppyTarget,
    obj: VersionedObject,
    mode: ConflictMode,
    timeoutMs: number,
  ): Promise<void> {
    if (t.node === this.deps.self) {
      if (t.hintFor === null) await this.deps.store.update(bucket, key, (cur) => (cur ? sync(cur, obj, mode) : obj));
      else await this.deps.hints.add(t.hintFor, bucket, key, obj, mode);
      return;
    }
    await this.deps.transport.call(
      t.node,
      { t: MsgType.REPLICA_PUT, bucket, key, obj: encodeObject(obj), hintFor: t.hintFor },
      timeoutMs,
    );
  }

  /**
   * Resolves once `needed` replies (`neededPrimaries` of them from primaries) are in; rejects
   * as soon as that can no longer happen, or at the timeout.
   */
  private awaitQuorum(
    calls: readonly Promise<unknown>[],
    replies: () => readonly ReplicaReply[],
    needed: number,
    neededPrimaries: number,
    asked: number,
    timeoutMs: number,
    what: 'read' | 'write',
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let failed = 0;
      let settled = false;
      const timer = this.deps.clock.setTimeout(() => {
        finish(new QuorumError('timeout', needed, replies().length, asked, `${what} timed out after ${timeoutMs} ms with ${replies().length} of ${needed} replicas`));
      }, timeoutMs);
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        timer.cancel();
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        const got = replies();
        const primaries = got.filter((r) => r.primary).length;
        if (got.length >= needed && primaries >= neededPrimaries) return finish();
        const outstanding = asked - got.length - failed;
        if (got.length + outstanding < needed) {
          finish(new QuorumError('unavailable', needed, got.length, asked, `${what} needs ${needed} replicas; ${got.length} answered and ${failed} failed`));
        } else if (outstanding === 0) {
          finish(new QuorumError('unavailable', needed, got.length, asked, `${what} needs ${neededPrimaries} primary replicas; ${primaries} answered`));
        }
      };
      for (const c of calls) {
        c.then(check, () => {
          failed++;
          check();
        });
      }
      if (calls.length === 0) check();
    });
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
    const mode = this.mode(bucket);
    if (msg.t === MsgType.REPLICA_GET) {
      const obj = hintFor === null ? await this.deps.store.get(bucket, key) : await this.deps.hints.get(hintFor, bucket, key);
      return { t: MsgType.REPLICA_GET, obj: obj === undefined ? null : encodeObject(obj) };
    }
    const raw = msg['obj'];
    if (!(raw instanceof Uint8Array)) throw new Error('malformed replica write: obj must be bytes');
    const obj = decodeObject(raw); // validates: a malformed object is refused, never stored
    if (hintFor === null) {
      await this.deps.store.update(bucket, key, (cur) => (cur ? sync(cur, obj, mode) : obj));
    } else if (!(await this.deps.hints.add(hintFor, bucket, key, obj, mode))) {
      throw new Error('hint backlog is full');
    }
    return { t: msg.t, ok: true };
  }
}

function mergeReplies(replies: readonly ReplicaReply[], mode: ConflictMode): VersionedObject | undefined {
  let merged: VersionedObject | undefined;
  for (const r of replies) {
    if (r.obj === undefined) continue;
    merged = merged === undefined ? r.obj : sync(merged, r.obj, mode);
  }
  return merged;
}

function decodeWriteReply(reply: Message): KvWriteResult {
  if (reply['ok'] === true && reply['obj'] instanceof Uint8Array) {
    return { obj: decodeObject(reply['obj']), answered: Number(reply['answered']), asked: Number(reply['asked']) };
  }
  if (reply['reason'] === 'siblings') {
    throw new TooManySiblingsError(Number(reply['needed']), Number(reply['answered']));
  }
  const reason = reply['reason'] === 'timeout' ? 'timeout' : 'unavailable';
  throw new QuorumError(reason, Number(reply['needed']), Number(reply['answered']), Number(reply['asked']), String(reply['message']));
}

function remoteToLocal(err: PeerError): Error {
  return new Error(`coordinator failed: ${err.message}`);
}
