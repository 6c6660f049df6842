// The composition root: config → wired parts → start/stop. The only module that knows
// every layer; everything else is handed what it needs (STYLE §4).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { checkSecretForHost } from './api/security.ts';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './api/app.ts';
import { createMetrics, type Metrics } from './api/metrics.ts';
import { Gossiper } from './cluster/gossiper.ts';
import { bucketProps, nodeSpec, type ShoalConfig } from './config.ts';
import { buildRing, ringRanges, ownershipShares, type Ring } from './core/ring.ts';
import type { Clock, Random } from './core/time.ts';
import type { NodeId } from './core/types.ts';
import { MsgType } from './net/messages.ts';
import type { Message, Transport } from './net/transport.ts';
import { createWsTransport, type WsTransport } from './net/ws-transport.ts';
import { Coordinator, type CoordinatorDeps } from './replication/coordinator.ts';
import { Handoff } from './replication/handoff.ts';
import { HintStore } from './replication/hints.ts';
import { AntiEntropy, storeMerger, type MergeableKind } from './replication/anti-entropy.ts';
import { kindOf } from './replication/kinds.ts';
import { LIVE, objectLifetime } from './core/aae.ts';
import type { VersionedObject } from './core/types.ts';
import { scanObjectRecords } from './storage/record-scan.ts';
import { RecordType, decodeValue, versionedObjectCodec } from './storage/records.ts';
import { CrdtStore } from './replication/crdt-store.ts';
import { registerCrdtRoutes } from './api/crdt-routes.ts';
import { registerFaultRoutes } from './api/fault-routes.ts';
import { mathRandom, realClock } from './runtime/clock.ts';
import { silentLogger, type Logger } from './runtime/logger.ts';
import type { Engine } from './storage/engine.ts';
import { MemoryEngine } from './storage/memory.ts';
import { getOrCreateIncarnation } from './storage/metadata.ts';
import { ObjectStore } from './storage/object-store.ts';
import { openRocksEngine, rocksGroupCommits, rocksProperty } from './storage/rocksdb.ts';

export interface NodeOptions {
  readonly config: ShoalConfig;
  readonly nodeId: NodeId;
  /** Injected for simulated clusters; a WebSocket transport on the config's peerPort otherwise. */
  readonly transport?: Transport;
  /** Injected for tests; otherwise opened from config.storage under dataDir/<node>. */
  readonly engine?: Engine;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly log?: Logger;
  /** Override the config's ports (tests pass 0 to let the OS pick). */
  readonly httpPort?: number;
  readonly peerPort?: number;
  /** Listen for HTTP (false: tests use app.inject()). Default true. */
  readonly listen?: boolean;
  /** Process-wide metrics (CPU, heap) — once per process, so off for in-process clusters. */
  readonly processMetrics?: boolean;
  /** Chaos tests only (cli.ts: SHOAL_FAULTS=1): expose POST /admin/faults (api/fault-routes.ts). */
  readonly faults?: boolean;
}

export class ShoalNode {
  private constructor(
    readonly id: NodeId,
    readonly config: ShoalConfig,
    readonly app: FastifyInstance,
    readonly coordinator: Coordinator,
    readonly gossiper: Gossiper,
    readonly store: ObjectStore,
    readonly hints: HintStore,
    readonly handoff: Handoff,
    readonly transport: Transport,
    readonly engine: Engine,
    readonly metrics: Metrics,
    readonly actor: string,
    private readonly log: Logger,
    private readonly listen: boolean,
    private readonly httpPort: number,
    readonly antiEntropy: AntiEntropy,
  ) {}

  private leaveListeners: (() => void)[] = [];

  /** Called when an operator asks this node to leave (POST /admin/leave, `shoal leave`). */
  onLeaveRequest(fn: () => void): void {
    this.leaveListeners.push(fn);
  }

  static async create(opts: NodeOptions): Promise<ShoalNode> {
    const { config, nodeId } = opts;
    const spec = nodeSpec(config, nodeId);
    const clock = opts.clock ?? realClock;
    const random = opts.random ?? mathRandom;
    const log = opts.log ?? silentLogger;
    const engine =
      opts.engine ??
      (config.storage.engine === 'memory'
        ? new MemoryEngine()
        : await openRocksEngine(join(config.dataDir, nodeId), { sync: config.storage.fsync }));
    // Anti-entropy's trees follow every write through this hook (bound once it exists).
    let antiEntropy: AntiEntropy | undefined;
    const onWrite = (b: string, k: string, w: { readonly record: Uint8Array; readonly value: unknown } | undefined) => antiEntropy?.onWrite(b, k, w);
    const knownAbsent = (b: string, k: string) => antiEntropy?.knownAbsent(b, k) ?? false;
    const store = new ObjectStore(engine, { cacheEntries: config.storage.cacheEntries, cacheBytes: config.storage.cacheBytes, onWrite, knownAbsent });
    const hints = await HintStore.open(engine, config.handoff.maxHints);
    // A wiped data directory gets a new incarnation, hence a new actor id: dots it creates
    // can never collide with the dots its former self handed out (see README, "Clocks").
    const incarnation = await getOrCreateIncarnation(engine, () => randomBytes(4).toString('hex'));
    const actor = `${nodeId}.${incarnation}`;
    checkSecretForHost(config, spec.host);
    const peerPort = opts.peerPort ?? spec.peerPort;
    const peerTls = config.security.peerTls;
    const transport =
      opts.transport ??
      createWsTransport({
        self: nodeId,
        secret: config.secret,
        listen: { host: spec.host, port: peerPort },
        maxFrameBytes: Math.max(16 * 1024 * 1024, config.limits.maxValueBytes * 2 + 1024 * 1024),
        maxQueuedPerPeer: 4096,
        connectTimeoutMs: 2000,
        handshakeTimeoutMs: 3000,
        backoff: { minMs: 100, maxMs: 5000 },
        log,
        ...(peerTls && {
          tls: { cert: readFileSync(peerTls.certFile), key: readFileSync(peerTls.keyFile), ca: readFileSync(peerTls.caFile) },
        }),
      });
    for (const n of config.nodes) {
      if (n.id !== nodeId) transport.setPeerAddress(n.id, { host: n.host, port: n.peerPort });
    }
    const gossiper = new Gossiper({
      self: nodeId,
      address: { host: spec.host, httpPort: opts.httpPort ?? spec.httpPort, peerPort },
      seeds: config.seeds.map((id) => {
        const s = nodeSpec(config, id);
        return { id, address: { host: s.host, httpPort: s.httpPort, peerPort: s.peerPort } };
      }),
      transport,
      clock,
      random,
      log,
      generation: clock.now(),
      intervalMs: config.gossip.intervalMs,
      phiThreshold: config.gossip.phiThreshold,
      maxClockSkewMs: config.gossip.maxClockSkewMs,
      vnodesPerNode: config.ring.vnodes,
    });
    const metrics = createMetrics(nodeId, { processMetrics: opts.processMetrics ?? false });
    const ring = ringView(config, gossiper);
    const isUp = (id: NodeId) => id === nodeId || gossiper.isUp(id);
    const count = (event: string, by?: number) => metrics.count(event, by);
    const crdtStore = new CrdtStore(engine, config, { cacheEntries: config.storage.cacheEntries, cacheBytes: config.storage.cacheBytes }, { onWrite, knownAbsent });
    const coordinator = new Coordinator({ self: nodeId, actor, config, store, crdtStore, hints, transport, ring, isUp, clock, random, log, count });
    const handoff = new Handoff(
      { hints, transport, isUp, clock, log, count },
      { intervalMs: config.handoff.intervalMs, maxPerSecond: config.handoff.maxPerSecond, timeoutMs: config.requestTimeoutMs },
    );
    antiEntropy = createAntiEntropy({ nodeId, config, engine, store, crdtStore, transport, ring, isUp, clock, random, log, count });
    const aae = antiEntropy;
    metrics.gauge('shoal_aae_keys', 'Keys in the anti-entropy hash index', () => aae.index.size);
    metrics.gauge('shoal_aae_keys_repaired', 'Keys repaired by anti-entropy exchanges since start', () => aae.totals.keysRepaired);
    metrics.gauge('shoal_aae_segments_differing', 'Differing tree segments found by exchanges since start', () => aae.totals.segmentsDiffering);
    const wireStats = (transport as Partial<WsTransport>).stats;
    if (wireStats) {
      metrics.labeledGauge('shoal_peer_messages_total', 'Peer frames sent and received since start', 'direction', () => ({
        out: wireStats.framesOut,
        in: wireStats.framesIn,
      }));
      metrics.labeledGauge('shoal_peer_bytes_total', 'Peer frame bytes sent and received since start', 'direction', () => ({
        out: wireStats.bytesOut,
        in: wireStats.bytesIn,
      }));
    }
    if (rocksProperty(engine, 'rocksdb.num-files-at-level0') !== undefined) {
      // RocksDB's own backlog: when flushes and compactions fall behind, it throttles, then
      // stops, writes (level-0 file count 20 and 36 by default): the first place to look
      // when write latency jumps.
      const rocks = (name: string): number => Number(rocksProperty(engine, name) || 0);
      metrics.gauge('shoal_rocksdb_l0_files', 'RocksDB SST files at level 0 (writes slow down at 20, stop at 36)', () => rocks('rocksdb.num-files-at-level0'));
      metrics.gauge('shoal_rocksdb_pending_compaction_bytes', 'RocksDB estimate of bytes compaction must rewrite', () => rocks('rocksdb.estimate-pending-compaction-bytes'));
      metrics.gauge('shoal_rocksdb_running_compactions', 'RocksDB compactions running now', () => rocks('rocksdb.num-running-compactions'));
      metrics.gauge('shoal_rocksdb_memtable_bytes', 'RocksDB memtable bytes (active and waiting to flush)', () => rocks('rocksdb.cur-size-all-mem-tables'));
      metrics.gauge('shoal_rocksdb_write_delayed', '1 while RocksDB throttles writes to let compaction catch up', () => (rocks('rocksdb.actual-delayed-write-rate') > 0 ? 1 : 0));
      metrics.gauge('shoal_rocksdb_write_stopped', '1 while RocksDB refuses writes until compaction catches up', () => rocks('rocksdb.is-write-stopped'));
      const commits = rocksGroupCommits(engine);
      if (commits) {
        // Their ratio is the mean group size: each commit is one native call, one thread-pool
        // hand-off and one WAL append, so the larger the groups the cheaper each write.
        metrics.gauge('shoal_rocksdb_group_commit_writes_total', 'Single puts and deletes written through group commit since start', () => commits.writes);
        metrics.gauge('shoal_rocksdb_group_commits_total', 'Native RocksDB writes that carried them (one WAL append each) since start', () => commits.commits);
      }
      metrics.gauge('shoal_rocksdb_estimated_keys', 'RocksDB estimate of stored entries (objects, hints, metadata)', () => rocks('rocksdb.estimate-num-keys'));
    }
    // The object caches (KV and CRDT stores) together: the hit share is what decides whether
    // reads cost an engine read, so it is the first figure to look at when reads slow down.
    const stores = [store, crdtStore.records] as const;
    const sum = (f: (s: (typeof stores)[number]) => number) => stores.reduce((n, s) => n + f(s), 0);
    metrics.labeledGauge('shoal_object_cache_lookups_total', 'Object lookups answered from the cache (hit) or not (miss) since start', 'result', () => ({
      hit: sum((s) => s.stats.cacheHits),
      miss: sum((s) => s.stats.cacheMisses),
    }));
    metrics.gauge('shoal_object_cache_entries', 'Objects in the object caches', () => sum((s) => s.cacheUsage().entries));
    metrics.gauge('shoal_object_cache_bytes', 'Estimated bytes of the objects in the object caches (bounded by storage.cacheBytes each)', () =>
      sum((s) => s.cacheUsage().bytes),
    );
    metrics.labeledGauge('shoal_storage_ops_total', 'Engine reads and writes (puts and removals) of stored objects since start', 'op', () => ({
      read: sum((s) => s.stats.reads),
      write: sum((s) => s.stats.writes),
    }));
    metrics.gauge('shoal_hint_backlog', 'Hints waiting for their owner to return', () => hints.backlog);
    metrics.gauge('shoal_members_up', 'Members this node sees up (itself included)', () =>
      gossiper.members().filter((m) => m.status === 'up').length,
    );

    transport.onRequest(async (from, msg: Message) => {
      switch (msg.t) {
        case MsgType.AAE_ROOTS:
        case MsgType.AAE_SEGMENTS:
        case MsgType.AAE_KEYS:
        case MsgType.AAE_REPAIR:
        case MsgType.AAE_HOLDS:
        case MsgType.AAE_REAP:
          return aae.handleRequest(from, msg);
        case MsgType.REPLICA_GET:
        case MsgType.REPLICA_PUT:
        case MsgType.HINT_DELIVER:
          return coordinator.handleReplicaMessage(msg);
        case MsgType.FORWARD:
          return coordinator.handleForward(msg);
        default:
          throw new Error(`no handler for message type ${msg.t}`);
      }
    });
    transport.onMessage((from, msg) => {
      gossiper.handleMessage(from, msg);
    });
    gossiper.onChange((e) => {
      if (e.to === 'up') handoff.nudge();
    });

    let self: ShoalNode | undefined;
    const app = await buildApp({
      config,
      nodeId,
      kv: coordinator,
      clock,
      metrics,
      cluster: {
        members: () => gossiper.members(),
        ring: () => ringJson(ring()),
        status: (name) => (name === 'antientropy' ? aae.status() : name === 'handoff' ? handoff.status() : undefined),
      },
      plugins: [
        // Fault hook for the chaos checker; only a WebSocket transport has a link filter.
        ...(opts.faults && 'setLinkFilter' in transport
          ? [async (scope: FastifyInstance) => registerFaultRoutes(scope, { setLinkFilter: (fn) => (transport as WsTransport).setLinkFilter(fn) })]
          : []),
        async (scope) => registerCrdtRoutes(scope, { config, nodeId, crdt: coordinator, clock }),
        async (scope) => {
          scope.post('/admin/leave', async (_req, reply) => {
            if (!self || self.leaveListeners.length === 0) {
              return reply.code(503).send({ error: 'STORAGE_UNAVAILABLE', message: 'this node cannot leave on request (not run by the CLI)' });
            }
            for (const fn of self.leaveListeners) setImmediate(fn);
            return reply.code(202).send({ node: nodeId, status: 'leaving' });
          });
        },
      ],
    });
    self = new ShoalNode(nodeId, config, app, coordinator, gossiper, store, hints, handoff, transport, engine, metrics, actor, log, opts.listen ?? true, opts.httpPort ?? spec.httpPort, aae);
    return self;
  }

  /** Starts the peer transport, gossip, handoff and (unless told not to) the HTTP listener. */
  async start(): Promise<void> {
    await this.transport.start();
    this.gossiper.start();
    this.handoff.start();
    // Rebuilds the hash index from storage (timed and logged) in the background, then
    // exchanges on a timer; a big store must not hold up the HTTP listener.
    void this.antiEntropy.start().catch((err) => this.log.error({ err: String(err) }, 'anti-entropy failed to start'));
    if (this.listen) {
      const spec = nodeSpec(this.config, this.id);
      await this.app.listen({ host: spec.host, port: this.httpPort });
    } else {
      await this.app.ready();
    }
    this.log.info({ node: this.id, actor: this.actor, http: this.httpUrl() }, 'node started');
  }

  httpUrl(): string | undefined {
    const addr = this.app.server.address();
    if (addr === null || typeof addr === 'string') return undefined;
    return `http://${addr.address}:${addr.port}`;
  }

  /** Graceful stop: announce leaving (if asked), drain HTTP, then close peers and storage. */
  async stop(opts: { leave?: boolean } = {}): Promise<void> {
    if (opts.leave) {
      this.gossiper.leave();
      // Give the announcement a moment to reach peers before the sockets close.
      await new Promise((r) => setTimeout(r, 200));
    }
    this.handoff.stop();
    this.antiEntropy.stop();
    await this.app.close();
    this.gossiper.stop();
    await this.transport.stop();
    await this.store.close();
    await this.engine.close();
    this.log.info({ node: this.id }, 'node stopped');
  }
}

/**
 * The ring over every configured node plus any member learned by gossip, minus members that
 * left. The config's nodes are in it from the first request, before gossip has converged, so
 * a starting node does not briefly route every key to itself.
 */
function ringView(config: ShoalConfig, gossiper: Gossiper): () => Ring {
  let cache: { key: string; ring: Ring } | undefined;
  // The ring changes only with membership (a node learned, leaving, left); every status
  // event invalidates it, so the per-request path is one field read.
  let stale = true;
  gossiper.onChange(() => {
    stale = true;
  });
  const configured = config.nodes.map((n) => n.id);
  return () => {
    if (!stale && cache !== undefined) return cache.ring;
    stale = false;
    // ringMembers() already leaves out members that left; the key changes when that set does.
    const known = gossiper.ringMembers();
    const key = known.join('\n');
    if (cache?.key !== key) {
      const left = new Set(gossiper.members().filter((m) => m.status === 'left').map((m) => m.id));
      const members = [...new Set([...configured, ...known])].filter((id) => !left.has(id)).sort();
      cache = { key, ring: buildRing(members, config.ring.vnodes) };
    }
    return cache.ring;
  };
}

function ringJson(ring: Ring): object {
  return {
    members: ring.members,
    vnodesPerNode: ring.vnodesPerNode,
    ownership: ownershipShares(ring),
    partitions: ringRanges(ring),
  };
}

/** What anti-entropy is wired from: the coordinator's shared parts plus the raw stores. */
interface AntiEntropyParts
  extends Pick<CoordinatorDeps, 'config' | 'transport' | 'ring' | 'isUp' | 'clock' | 'random' | 'log' | 'count'> {
  readonly nodeId: NodeId;
  readonly engine: Engine;
  readonly store: ObjectStore;
  readonly crdtStore: CrdtStore;
}

/** Anti-entropy over both stores: KV objects and CRDT states repair by their own join. */
function createAntiEntropy(p: AntiEntropyParts): AntiEntropy {
  const { config } = p;
  const nValues = [...new Set(Object.values(config.buckets).map((b) => b.n))];
  return new AntiEntropy(
    {
      self: p.nodeId,
      transport: p.transport,
      clock: p.clock,
      random: p.random,
      log: p.log,
      count: p.count,
      ring: p.ring,
      isUp: p.isUp,
      nOf: (bucket) => bucketProps(config, bucket).n,
      nValues: () => nValues,
      merger: (bucket) =>
        bucketProps(config, bucket).type === 'kv'
          ? storeMerger(p.store, kindOf(config, bucket) as MergeableKind<VersionedObject>)
          : storeMerger(p.crdtStore, kindOf(config, bucket)),
      removeIf: (bucket, key, pred) =>
        bucketProps(config, bucket).type === 'kv' ? p.store.removeIf(bucket, key, pred) : p.crdtStore.records.removeIf(bucket, key, pred),
      scan: () => scanObjectRecords(p.engine, (err) => p.log.warn({ err: err.message }, 'anti-entropy rebuild skipped a malformed key')),
      // TTL and tombstones exist for KV objects only; CRDT states live until overwritten.
      lifetime: (record, value) => {
        if (record[0] !== RecordType.Object) return LIVE;
        try {
          return objectLifetime((value as VersionedObject | undefined) ?? decodeValue(versionedObjectCodec, record, 'anti-entropy rebuild'));
        } catch {
          return LIVE; // a corrupt record still gets a tree entry; reads report the corruption
        }
      },
    },
    { ...config.antiEntropy, timeoutMs: config.requestTimeoutMs },
  );
}
