// `npm run bench [-- --quick] [-- --profile]`: YCSB-style workloads against a local 3-node
// Shoal cluster (RocksDB, N = 3) and its baselines, side by side in one run, with the same
// load generator and connection count. Writes bench/results/<timestamp>.json and prints a
// markdown table. See docs/BENCHMARKS.md for what each figure means.
import { mkdirSync, mkdtempSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { measureConvergence } from '../src/cluster/sim-cluster.ts';
import { summarise, type ProfileSummary } from './lib/cpuprofile.ts';
import { LoadGenerator, type LoadTarget, type RunStats } from './lib/load.ts';
import { cpuSeconds, dirBytes, killAllSync, rssBytes, sleep, stopAll, totalCpuSeconds } from './lib/procs.ts';
import { antiEntropyCases, antiEntropyMarkdown, runAntiEntropyCase, type AntiEntropyRow } from './lib/antientropy.ts';
import { CRDT_BUCKETS, LWW_BUCKET, repoRoot, runRedis, startBare, startEtcd, startRocks, startShoal, type Consistency, type RedisRow, type Target } from './lib/targets.ts';
import { OpChooser, WORKLOADS, type WorkloadName } from './lib/ycsb.ts';
import { measureWakeupCost, wakeupText } from './lib/wakeup.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    connections: { type: 'string' },
    'no-baselines': { type: 'boolean', default: false },
    /** Comma list (e.g. C,W): only these workloads; for quick comparisons while profiling. */
    workloads: { type: 'string' },
    /** Skip the scale curve, redis and membership convergence (the workload rows only). */
    'rows-only': { type: 'boolean', default: false },
  },
});
const QUICK = args.quick === true;

/** Every size, count and duration of a run; --quick trades coverage for a ~3 minute run. */
const PLAN = QUICK
  ? {
      keys: 10_000,
      etcdKeys: 3_000,
      valueSizes: [100],
      closedMs: 2000,
      openMs: 1000,
      warmMs: 2000,
      connections: 32,
      matrix: [
        ['C', '1,1'], ['C', 'quorum,quorum'], ['B', 'quorum,quorum'], ['A', 'quorum,quorum'],
        ['A', '1,all'], ['D', 'quorum,quorum'], ['F', 'quorum,quorum'], ['W', 'quorum,quorum'],
      ] as [WorkloadName, string][],
      singleNode: ['C', 'A'] as WorkloadName[],
      crdt: [['CTR-HOT', 'quorum,quorum'], ['CTR-SPREAD', 'quorum,quorum'], ['SET-ADD', 'quorum,quorum']] as [WorkloadName, string][],
      lww: [['A', 'quorum,quorum']] as [WorkloadName, string][],
      scaleKeys: [10_000, 30_000],
      scaleWindows: 1,
      scaleRefillWindows: 2,
      convergenceSizes: [5, 20, 50],
      redisRequests: 100_000,
    }
  : {
      keys: 100_000,
      etcdKeys: 20_000,
      valueSizes: [100, 1024],
      closedMs: 4000,
      openMs: 2500,
      warmMs: 4000,
      connections: 32,
      matrix: (['A', 'B', 'C', 'D', 'F', 'W'] as WorkloadName[]).flatMap((w) =>
        ['1,1', 'quorum,quorum', '1,all', 'all,all'].map((c) => [w, c] as [WorkloadName, string]),
      ),
      singleNode: ['A', 'B', 'C', 'D', 'F', 'W'] as WorkloadName[],
      // An update-only CRDT workload reads nothing: R does not matter, W does.
      crdt: (['CTR-HOT', 'CTR-SPREAD', 'SET-ADD'] as WorkloadName[]).flatMap((w) => ['1,1', 'quorum,quorum', '1,all'].map((c) => [w, c] as [WorkloadName, string])),
      lww: [['A', 'quorum,quorum'], ['F', 'quorum,quorum']] as [WorkloadName, string][],
      scaleKeys: [10_000, 100_000, 1_000_000],
      // One window per point swung the 1M/10k ratio between 0.45x and 1.05x on the same code:
      // a single 200-300 ms stall moves a 4 s window by 10-30%. The median of three does not.
      scaleWindows: 3,
      // After a bulk load the caches hold the keys written last; see the scale loop.
      scaleRefillWindows: 5,
      convergenceSizes: [5, 20, 50],
      redisRequests: 500_000,
    };
const CONNECTIONS = Number(args.connections ?? PLAN.connections);
const ONLY = args.workloads === undefined ? null : new Set(args.workloads.split(',').map((w) => w.trim().toUpperCase()));
const wanted = (w: WorkloadName) => ONLY === null || ONLY.has(w);
PLAN.matrix = PLAN.matrix.filter(([w]) => wanted(w));
PLAN.singleNode = PLAN.singleNode.filter(wanted);
PLAN.crdt = PLAN.crdt.filter(([w]) => wanted(w));
PLAN.lww = PLAN.lww.filter(([w]) => wanted(w));
const ROWS_ONLY = args['rows-only'] === true;
/** Rows between two samples of the bare-fastify ceiling. */
const CEILING_EVERY = QUICK ? 4 : 6;
const LOAD_TIMEOUT_MS = QUICK ? 60_000 : 600_000;

interface Row {
  target: string;
  workload: WorkloadName;
  /** The value size of a KV row; for a CRDT row, the size whose ceiling it is compared with. */
  valueBytes: number;
  /** A CRDT row: its requests are JSON operations, not values. */
  crdt: boolean;
  rw: string;
  keys: number;
  opsPerSec: number;
  vsBare: number | null;
  serverCpuSec: number;
  opsPerCpuSec: number;
  loadgenCpuPct: number;
  serverCpuPct: number;
  /**
   * Server CPU over wall time during the open run at 50% of the maximum rate. On this
   * machine a request costs several times more CPU at a low rate than at saturation (each
   * one wakes idle processes), so half the rate is far more than half the CPU.
   */
  serverCpuPctAt50: number | null;
  /** CPU of every other (idle) target's processes during the closed-loop run. */
  othersCpuPct: number;
  closed: RunStats;
  at50: RunStats | null;
  at80: RunStats | null;
  siblingReadShare: number | null;
  peerMsgsPerOp: number | null;
  /** Share of the servers' object lookups answered from their caches during the closed run. */
  cacheHitShare: number | null;
  /** Replication events during the whole row (closed and open runs), summed over the nodes. */
  events: Record<string, number>;
  /** Longest event-loop delay on any node during the row, ms (prom-client, 10 ms resolution). */
  loopDelayMaxMs: number | null;
  /**
   * Main-thread GC pauses on the nodes during the closed-loop run (every kind, mostly
   * scavenges), in µs per operation: what allocation costs the request path directly.
   */
  gcPauseUsPerOp: number | null;
  /** Major GCs on the nodes during the row, and how many paused 100 ms or more. */
  majorGcs: { all: number; over100ms: number };
  /**
   * Mean writes per RocksDB commit (group commit, over the nodes) in the closed-loop run and
   * at 50% load; null without the metric. A commit's fixed cost (a thread-pool hop and a WAL
   * append) is shared by its writes, so smaller groups cost more CPU per write.
   */
  writesPerCommit: { max: number | null; at50: number | null };
  rssMbPerNode: number[];
  /** performance.now() at the middle of the closed-loop run: pairs it with ceiling samples. */
  atMs: number;
  /** Scale points: ops/s of every window measured; the row's own figures are the median one's. */
  windowsOpsPerSec?: number[];
  /** A scale point: the cache hit share of each unmeasured refill window before it. */
  refillHitShares?: number[];
}

const logDir = mkdtempSync(join(tmpdir(), 'shoal-bench-logs-'));
const started = new Date();
const stamp = started.toISOString().replace(/[:.]/g, '-');
const skipped: string[] = [];
const notes: string[] = [];
const targets: Target[] = [];

function log(msg: string): void {
  process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${msg}\n`);
}
const t0 = performance.now();

/** Per target and bucket: loaded keys, the next new key, and the client's contexts. */
interface Keyspace {
  loaded: number;
  inserts: { next: number };
  contexts: Map<number, string>;
}
const keyspaces = new Map<string, Keyspace>();
function keyspace(t: Target, bucket: string): Keyspace {
  const id = `${t.name}|${bucket}`;
  let ks = keyspaces.get(id);
  if (ks === undefined) {
    ks = { loaded: 0, inserts: { next: 0 }, contexts: new Map() };
    keyspaces.set(id, ks);
  }
  return ks;
}

function consistency(rw: string): Consistency {
  const [r, w] = rw.split(',');
  return { r: r!, w: w! };
}

function valueOf(size: number): Buffer {
  return Buffer.alloc(size, 'v');
}

interface Scraped {
  /** Sum of peer-message counters over the nodes, or null when none is exposed. */
  readonly peerMsgs: number | null;
  /** Most level-0 SST files on any node (RocksDB throttles writes at 20), or null. */
  readonly l0FilesMax: number | null;
  /** Whether any node's RocksDB was throttling or stopping writes. */
  readonly writesThrottled: boolean;
  /** Object cache lookups summed over the nodes, or null when not exposed. */
  readonly cache: { readonly hits: number; readonly misses: number } | null;
  /** `shoal_events_total` (read repairs, hints, anti-entropy repairs, …) summed over the nodes. */
  readonly events: ReadonlyMap<string, number>;
  /**
   * Longest event-loop delay on any node since the previous scrape (prom-client resets its
   * histogram at each one), in ms; null when not exposed.
   */
  readonly loopDelayMaxMs: number | null;
  /** Major (mark-compact) GCs summed over the nodes: all, and those of 100 ms or more. */
  readonly majorGcs: { readonly all: number; readonly over100ms: number };
  /** Main-thread GC pause time so far, every kind, summed over the nodes, in seconds. */
  readonly gcPauseSec: number;
  /** RocksDB group commit counts summed over the nodes, or null when not exposed. */
  readonly groupCommit: { readonly writes: number; readonly commits: number } | null;
}

/** A few figures from every node's /metrics; peerMsgs null when a scrape failed. */
async function scrape(t: Target): Promise<Scraped> {
  const events = new Map<string, number>();
  const majorGcs = { all: 0, over100ms: 0 };
  let gcPauseSec = 0;
  if (t.metricsUrls.length === 0) return { peerMsgs: null, l0FilesMax: null, writesThrottled: false, cache: null, events, loopDelayMaxMs: null, majorGcs, gcPauseSec, groupCommit: null };
  let total = 0;
  let found = false;
  let l0: number | null = null;
  let throttled = false;
  let cache: { hits: number; misses: number } | null = null;
  let loopDelayMaxMs: number | null = null;
  let groupCommit: { writes: number; commits: number } | null = null;
  for (const url of t.metricsUrls) {
    try {
      const text = await (await fetch(url, { signal: AbortSignal.timeout(2000) })).text();
      for (const line of text.split('\n')) {
        const value = Number(line.slice(line.lastIndexOf(' ') + 1));
        if (/^shoal_(peer|transport)_[a-z_]*(messages|frames|calls|requests)_total/.test(line) && /direction="(out|sent)"|^[^{]*_sent_/.test(line)) {
          total += value;
          found = true;
        } else if (line.startsWith('shoal_rocksdb_l0_files{')) {
          l0 = Math.max(l0 ?? 0, value);
        } else if (/^shoal_rocksdb_write_(delayed|stopped)\{/.test(line) && value > 0) {
          throttled = true;
        } else if (line.startsWith('shoal_object_cache_lookups_total{')) {
          cache ??= { hits: 0, misses: 0 };
          if (line.includes('result="hit"')) cache.hits += value;
          else cache.misses += value;
        } else if (line.startsWith('shoal_rocksdb_group_commit_writes_total{')) {
          groupCommit ??= { writes: 0, commits: 0 };
          groupCommit.writes += value;
        } else if (line.startsWith('shoal_rocksdb_group_commits_total{')) {
          groupCommit ??= { writes: 0, commits: 0 };
          groupCommit.commits += value;
        } else if (line.startsWith('shoal_events_total{')) {
          const event = /event="([^"]+)"/.exec(line)?.[1];
          if (event !== undefined) events.set(event, (events.get(event) ?? 0) + value);
        } else if (line.startsWith('shoal_process_nodejs_eventloop_lag_max_seconds{')) {
          loopDelayMaxMs = Math.max(loopDelayMaxMs ?? 0, value * 1000);
        } else if (line.startsWith('shoal_process_nodejs_gc_duration_seconds_sum{')) {
          gcPauseSec += value;
        } else if (line.startsWith('shoal_process_nodejs_gc_duration_seconds_') && line.includes('kind="major"')) {
          // The histogram's buckets: count (all) minus le="0.1" is the number of 100 ms+ pauses.
          if (line.startsWith('shoal_process_nodejs_gc_duration_seconds_count')) {
            majorGcs.all += value;
            majorGcs.over100ms += value;
          } else if (line.includes('le="0.1"')) majorGcs.over100ms -= value;
        }
      }
    } catch {
      return { peerMsgs: null, l0FilesMax: l0, writesThrottled: throttled, cache: null, events, loopDelayMaxMs, majorGcs, gcPauseSec, groupCommit: null };
    }
  }
  return { peerMsgs: found ? total : null, l0FilesMax: l0, writesThrottled: throttled, cache, events, loopDelayMaxMs, majorGcs, gcPauseSec, groupCommit };
}

/** Mean writes per commit between two scrapes; null without the metric or without commits. */
function writesPerCommit(a: Scraped, b: Scraped): number | null {
  if (a.groupCommit === null || b.groupCommit === null) return null;
  const commits = b.groupCommit.commits - a.groupCommit.commits;
  return commits > 0 ? Math.round((10 * (b.groupCommit.writes - a.groupCommit.writes)) / commits) / 10 : null;
}

/** Loads `upTo` keys with closed-loop inserts (bounded by LOAD_TIMEOUT_MS); returns its stats. */
async function load(t: Target, bucket: string, size: number, upTo: number, c: Consistency): Promise<RunStats | null> {
  const ks = keyspace(t, bucket);
  if (ks.inserts.next >= upTo) return null;
  const lt: LoadTarget = { hosts: t.hosts, protocol: t.protocol(bucket, c), contexts: ks.contexts };
  const gen = new LoadGenerator(lt, CONNECTIONS);
  try {
    const chooser = new OpChooser(WORKLOADS.W, 2, ks.inserts, 7);
    const stats = await gen.closed(chooser, valueOf(size), { durationMs: LOAD_TIMEOUT_MS, maxOps: upTo - ks.inserts.next });
    ks.loaded = ks.inserts.next;
    log(`loaded ${t.name} ${bucket} to ${ks.loaded} keys: ${Math.round(stats.ops / stats.elapsedSec)} writes/s, ${stats.errors} errors`);
    if (ks.loaded < upTo) notes.push(`${t.name} ${bucket}: load stopped at ${ks.loaded} of ${upTo} keys (time bound)`);
    return stats;
  } finally {
    gen.close();
  }
}

/**
 * Waits (bounded) until the servers are nearly idle: after a bulk load, RocksDB flushes and
 * compactions, hint delivery and anti-entropy would otherwise be charged to the next row.
 * Resolves with how long it waited (ms).
 */
async function settle(ts: readonly Target[], maxMs: number): Promise<number> {
  const pids = ts.flatMap((t) => t.pids());
  const start = performance.now();
  let prev = totalCpuSeconds(pids);
  let quiet = false;
  while (!quiet && performance.now() < start + maxMs) {
    await sleep(500);
    const now = totalCpuSeconds(pids);
    quiet = now - prev < 0.1; // under 20% of one core, summed over every server
    prev = now;
  }
  if (!quiet) log(`servers still busy after ${maxMs} ms of settling; measuring anyway`);
  return Math.round(performance.now() - start);
}

const bareCeiling = new Map<number, number>();
/**
 * The bare-fastify ceiling is sampled again every few rows: on a shared machine it drifts,
 * so each row's ratio divides by the mean of the samples taken just before and after it.
 */
const ceilingSamples = new Map<number, { atMs: number; opsPerSec: number }[]>();

async function sampleCeiling(bare: Target, size: number): Promise<void> {
  const r = await runOne(bare, 'C', size, '1,1', { latency: false });
  const list = ceilingSamples.get(size) ?? [];
  list.push({ atMs: r.atMs, opsPerSec: r.opsPerSec });
  ceilingSamples.set(size, list);
  bareCeiling.set(size, r.opsPerSec);
}

/**
 * A ceiling sample below this share of the run's median for its size was taken during a
 * burst of noise on the machine (a neighbour, a flush): it is reported but not divided by,
 * since it would inflate the ratios of the rows next to it.
 */
const CEILING_OUTLIER = 0.75;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function validCeilingSamples(size: number): { atMs: number; opsPerSec: number }[] {
  const list = ceilingSamples.get(size) ?? [];
  if (list.length === 0) return [];
  const m = median(list.map((s) => s.opsPerSec));
  return list.filter((s) => s.opsPerSec >= CEILING_OUTLIER * m);
}

function ceilingAround(size: number, atMs: number): number | undefined {
  const list = validCeilingSamples(size);
  const before = [...list].reverse().find((s) => s.atMs <= atMs);
  const after = list.find((s) => s.atMs >= atMs);
  const picked = [before, after].filter((s) => s !== undefined);
  if (picked.length === 0) return undefined;
  return picked.reduce((a, s) => a + s.opsPerSec, 0) / picked.length;
}

async function runOne(
  t: Target,
  workload: WorkloadName,
  size: number,
  rw: string,
  opts: { latency: boolean; bucket?: string; keys?: number; label?: string; settle?: boolean },
): Promise<Row> {
  const spec = WORKLOADS[workload];
  const bucket = opts.bucket ?? (spec.crdt !== undefined ? CRDT_BUCKETS[spec.crdt] : `b${size}`);
  const ks = keyspace(t, bucket);
  const c = consistency(rw);
  const records = Math.max(2, opts.keys ?? spec.keys ?? (ks.loaded || PLAN.keys));
  let protocol = t.protocol(bucket, c);
  if (spec.crdt !== undefined) {
    if (t.crdtProtocol === undefined) throw new Error(`${t.name} has no CRDT protocol for ${workload}`);
    protocol = t.crdtProtocol(spec.crdt, c);
  }
  const lt: LoadTarget = { hosts: t.hosts, protocol, contexts: ks.contexts };
  const gen = new LoadGenerator(lt, CONNECTIONS);
  const value = valueOf(size);
  const seed = 1 + workload.charCodeAt(0) * 31 + workload.length * 7 + size;
  try {
    // The previous row's leftovers first: at W = 1 its replicas may still be applying writes,
    // delivering hints or repairing, and that work would be charged to this row.
    const settledMs = opts.settle === false ? 0 : await settle([t], QUICK ? 3000 : 10_000);
    if (settledMs > 1000) log(`${t.name}: waited ${settledMs} ms for the previous row's background work`);
    // An unmeasured warm-up of this exact mix first: V8 compiles each server's hot path for
    // the operations it is about to see (a cold read path costs a 2 s row up to 2x).
    await gen.closed(new OpChooser(spec, records, ks.inserts, seed + 3), value, { durationMs: PLAN.warmMs, maxOps: 10_000_000 });
    const pids = t.pids();
    const cpu0 = totalCpuSeconds(pids);
    // The other targets idle meanwhile, but not for free: their CPU is the run's noise floor.
    const otherPids = targets.filter((o) => o !== t).flatMap((o) => o.pids());
    const others0 = totalCpuSeconds(otherPids);
    const before = await scrape(t);
    const msgs0 = before.peerMsgs;
    const closedStart = performance.now();
    const closed = await gen.closed(new OpChooser(spec, records, ks.inserts, seed), value, { durationMs: PLAN.closedMs, maxOps: 10_000_000 });
    const atMs = (closedStart + performance.now()) / 2;
    const serverCpuSec = totalCpuSeconds(pids) - cpu0;
    const othersCpuSec = totalCpuSeconds(otherPids) - others0;
    const after = await scrape(t);
    const msgs1 = after.peerMsgs;
    const opsPerSec = closed.ops / closed.elapsedSec;
    let at50: RunStats | null = null;
    let at80: RunStats | null = null;
    let serverCpuPctAt50: number | null = null;
    let mid: Scraped | null = null;
    if (opts.latency && opsPerSec > 10) {
      const open0 = totalCpuSeconds(pids);
      at50 = await gen.open(new OpChooser(spec, records, ks.inserts, seed + 1), value, { ratePerSec: opsPerSec * 0.5, durationMs: PLAN.openMs });
      serverCpuPctAt50 = Math.round((100 * (totalCpuSeconds(pids) - open0)) / at50.elapsedSec);
      if (after.groupCommit !== null) mid = await scrape(t);
      at80 = await gen.open(new OpChooser(spec, records, ks.inserts, seed + 2), value, { ratePerSec: opsPerSec * 0.8, durationMs: PLAN.openMs });
    }
    // Read after the open runs too: events over the whole row, and the longest stall in them.
    const end = at50 !== null ? await scrape(t) : after;
    const events: Record<string, number> = {};
    for (const [e, n] of end.events) if (n - (before.events.get(e) ?? 0) > 0) events[e] = n - (before.events.get(e) ?? 0);
    // Each scrape resets the loop-delay maximum: take the longest over every one since before.
    const delays = [after.loopDelayMaxMs, mid?.loopDelayMaxMs ?? null, end.loopDelayMaxMs].filter((d): d is number => d !== null);
    const lookups = before.cache && after.cache ? { hits: after.cache.hits - before.cache.hits, misses: after.cache.misses - before.cache.misses } : null;
    const reads = closed.reads + (at50?.reads ?? 0) + (at80?.reads ?? 0);
    const sib = closed.siblingReads + (at50?.siblingReads ?? 0) + (at80?.siblingReads ?? 0);
    const ceiling = bareCeiling.get(size);
    const row: Row = {
      target: opts.label ?? t.name,
      workload,
      valueBytes: size,
      crdt: spec.crdt !== undefined,
      rw,
      keys: records,
      opsPerSec: Math.round(opsPerSec),
      vsBare: ceiling ? Math.round((100 * opsPerSec) / ceiling) / 100 : null,
      serverCpuSec: Math.round(serverCpuSec * 100) / 100,
      opsPerCpuSec: serverCpuSec > 0 ? Math.round(closed.ops / serverCpuSec) : 0,
      loadgenCpuPct: Math.round((100 * closed.loadgenCpuSec) / closed.elapsedSec),
      serverCpuPct: Math.round((100 * serverCpuSec) / closed.elapsedSec),
      serverCpuPctAt50,
      othersCpuPct: Math.round((100 * othersCpuSec) / closed.elapsedSec),
      closed,
      at50,
      at80,
      siblingReadShare: t.kind === 'shoal' && reads > 0 ? sib / reads : null,
      peerMsgsPerOp: msgs0 !== null && msgs1 !== null && closed.ops > 0 ? Math.round((100 * (msgs1 - msgs0)) / closed.ops) / 100 : null,
      cacheHitShare: lookups && lookups.hits + lookups.misses > 0 ? lookups.hits / (lookups.hits + lookups.misses) : null,
      events,
      loopDelayMaxMs: delays.length > 0 ? Math.round(Math.max(...delays)) : null,
      gcPauseUsPerOp: t.metricsUrls.length > 0 && closed.ops > 0 ? Math.round((10 * 1e6 * (after.gcPauseSec - before.gcPauseSec)) / closed.ops) / 10 : null,
      majorGcs: { all: end.majorGcs.all - before.majorGcs.all, over100ms: end.majorGcs.over100ms - before.majorGcs.over100ms },
      writesPerCommit: { max: writesPerCommit(before, after), at50: mid === null ? null : writesPerCommit(after, mid) },
      rssMbPerNode: t.pids().map((p) => Math.round(rssBytes(p) / 1048576)),
      atMs,
    };
    const errs = closed.errors + (at50?.errors ?? 0) + (at80?.errors ?? 0);
    log(
      `${row.target.padEnd(16)} ${workload} ${spec.crdt !== undefined ? 'JSON' : `${String(size).padStart(4)}B`} (${rw}) ${String(row.opsPerSec).padStart(6)} ops/s` +
        `${row.vsBare !== null ? ` ${row.vsBare}× bare` : ''}, ${row.opsPerCpuSec} ops/CPU-s, loadgen ${row.loadgenCpuPct}%, idle targets ${row.othersCpuPct}%` +
        (at50 ? `, p99@50% ${(at50.latencyUs.p99 / 1000).toFixed(2)} ms (server CPU ${serverCpuPctAt50}% against ${row.serverCpuPct}% at the maximum)` : '') +
        (row.cacheHitShare !== null ? `, cache hits ${cacheHits(row)}` : '') +
        (row.loopDelayMaxMs !== null ? `, longest event-loop delay ${row.loopDelayMaxMs} ms` : '') +
        (at50 ? `, load generator's longest delay ${loadgenDelay(row)} ms` : '') +
        (row.gcPauseUsPerOp !== null ? `, GC pauses ${row.gcPauseUsPerOp} µs/op` : '') +
        (row.writesPerCommit.max !== null ? `, writes per RocksDB commit ${row.writesPerCommit.max}${row.writesPerCommit.at50 !== null ? ` (${row.writesPerCommit.at50} at 50%)` : ''}` : '') +
        (row.majorGcs.all > 0 ? `, major GCs ${row.majorGcs.all} (${row.majorGcs.over100ms} of 100 ms+)` : '') +
        (Object.keys(events).length > 0 ? `, events ${Object.entries(events).map(([e, n]) => `${e} ${n}`).join(' ')}` : '') +
        (after.l0FilesMax !== null ? `, RocksDB L0 files ${after.l0FilesMax}${after.writesThrottled ? ' (writes throttled)' : ''}` : '') +
        (errs > 0 ? `, ${errs} errors (${[...closed.errorSamples, ...(at50?.errorSamples ?? [])].slice(0, 3).join('; ')})` : ''),
    );
    return row;
  } finally {
    gen.close();
  }
}

// ---- reporting ---------------------------------------------------------------------------

const ms = (us: number | undefined) => (us === undefined ? '–' : (us / 1000).toFixed(us < 10_000 ? 2 : 1));
function lat(s: RunStats | null): string {
  return s === null ? '–' : `${ms(s.latencyUs.p50)} / ${ms(s.latencyUs.p99)} / ${ms(s.latencyUs.p999)}`;
}
const RW_LABEL: Record<string, string> = { '1,1': '1,1', 'quorum,quorum': 'q,q', '1,all': '1,all', 'all,all': 'all,all' };

/** The load generator's longest event-loop delay over the row's open runs. */
function loadgenDelay(r: Row): string {
  const d = [r.at50?.loadgenLoopDelayMaxMs, r.at80?.loadgenLoopDelayMaxMs].filter((x): x is number => x !== undefined);
  return d.length > 0 ? String(Math.max(...d)) : '–';
}

function cacheHits(r: Row): string {
  return r.cacheHitShare === null ? '–' : `${(100 * r.cacheHitShare).toFixed(1)}%`;
}

function table(rows: readonly Row[]): string {
  const head =
    '| target | wl | value | R,W | ops/s | × bare | ops/CPU-s | server CPU %: max / @50% | loadgen CPU % | p50/p99/p99.9 ms @50% | p50/p99/p99.9 ms @80% | errors | sibling reads | cache hits | peer msgs/op | max loop delay ms: nodes / load generator | RSS MB/node |\n' +
    '|---|---|---:|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---|';
  const lines = rows.map((r) => {
    const errs = r.closed.errors + (r.at50?.errors ?? 0) + (r.at80?.errors ?? 0);
    const sib = r.siblingReadShare === null ? '–' : `${(100 * r.siblingReadShare).toFixed(2)}%`;
    return `| ${r.target} | ${r.workload} | ${r.crdt ? 'op' : `${r.valueBytes} B`} | ${RW_LABEL[r.rw] ?? r.rw} | ${r.opsPerSec} | ${r.vsBare ?? '–'} | ${r.opsPerCpuSec} | ${r.serverCpuPct} / ${r.serverCpuPctAt50 ?? '–'} | ${r.loadgenCpuPct} | ${lat(r.at50)} | ${lat(r.at80)} | ${errs} | ${sib} | ${cacheHits(r)} | ${r.peerMsgsPerOp ?? '–'} | ${r.loopDelayMaxMs ?? '–'} / ${loadgenDelay(r)} | ${r.rssMbPerNode.join(', ')} |`;
  });
  return [head, ...lines].join('\n');
}

interface TargetCheck {
  readonly target: string;
  readonly goal: string;
  readonly measured: string;
  readonly met: boolean | null;
}

function checks(rows: readonly Row[], scale: readonly Row[]): TargetCheck[] {
  const size = PLAN.valueSizes[0]!;
  const find = (target: string, w: WorkloadName, rw: string) => rows.find((r) => r.target === target && r.workload === w && r.rw === rw && r.valueBytes === size);
  const out: TargetCheck[] = [];
  const ratio = (w: WorkloadName, rw: string, goal: number, label: string) => {
    const r = find(SHOAL3, w, rw);
    out.push({ target: label, goal: `≥ ${goal}× bare`, measured: r?.vsBare != null ? `${r.vsBare}×` : 'not run', met: r?.vsBare != null ? r.vsBare >= goal : null });
  };
  ratio('C', '1,1', 0.5, 'C at R=1');
  ratio('B', 'quorum,quorum', 0.3, 'B at quorum');
  ratio('A', 'quorum,quorum', 0.25, 'A at quorum');
  const w = find(SHOAL3, 'W', 'quorum,quorum');
  const e = rows.find((r) => r.target.startsWith('etcd') && r.workload === 'W' && r.valueBytes === size);
  out.push({
    target: 'quorum writes vs etcd puts',
    goal: '≥ 2×',
    measured: w && e ? `${(w.opsPerSec / e.opsPerSec).toFixed(2)}× (${w.opsPerSec} vs ${e.opsPerSec})` : 'etcd not run',
    met: w && e ? w.opsPerSec >= 2 * e.opsPerSec : null,
  });
  const quorumRows = rows.filter((r) => r.target === SHOAL3 && r.rw === 'quorum,quorum' && r.at50 !== null);
  const p99s = quorumRows.map((r) => r.at50!.latencyUs.p99);
  const worst = quorumRows.reduce<Row | undefined>((a, r) => (a === undefined || r.at50!.latencyUs.p99 > a.at50!.latencyUs.p99 ? r : a), undefined);
  // The bare route's own p99 at 50% is this machine's floor for any server under this
  // generator: shown beside the target so a miss can be read against it.
  const bareP99 = rows.filter((r) => r.target === 'bare fastify' && r.at50 !== null).map((r) => r.at50!.latencyUs.p99);
  out.push({
    target: 'p99 at 50% load, quorum ops',
    goal: '≤ 5 ms',
    measured: worst
      ? `worst ${ms(worst.at50!.latencyUs.p99)} ms (${worst.workload}); median ${ms(median(p99s))} ms; ${p99s.filter((p) => p <= 5000).length} of ${p99s.length} rows ≤ 5 ms` +
        (bareP99.length > 0 ? `; bare route ${bareP99.map((p) => ms(p)).join(', ')} ms` : '')
      : 'not run',
    met: worst ? worst.at50!.latencyUs.p99 <= 5000 : null,
  });
  const first = scale[0];
  const last = scale[scale.length - 1];
  out.push({
    target: `B at ${last?.keys ?? '?'} keys vs ${first?.keys ?? '?'}`,
    goal: '≥ 0.8×',
    measured: first && last && first !== last ? `${(last.opsPerSec / first.opsPerSec).toFixed(2)}×` : 'not run',
    met: first && last && first !== last ? last.opsPerSec >= 0.8 * first.opsPerSec : null,
  });
  return out;
}

/** The window with the median ops/s (the upper one of an even count), listing every window's. */
function medianWindow(windows: readonly Row[]): Row {
  const sorted = [...windows].sort((a, b) => a.opsPerSec - b.opsPerSec);
  const mid = sorted[sorted.length >> 1];
  if (mid === undefined) throw new Error('a scale point needs at least one window');
  return { ...mid, windowsOpsPerSec: windows.map((w) => w.opsPerSec) };
}

const SHOAL3 = 'shoal ×3 (N=3)';
const SHOAL1 = 'shoal ×1 (N=1)';

// ---- main ----------------------------------------------------------------------------------

async function profileRun(): Promise<void> {
  const profileDir = join(repoRoot, 'bench/results', `profile-${stamp}`);
  mkdirSync(profileDir, { recursive: true });
  const single = await startShoal(SHOAL1, { nodes: 1, n: 1, cacheEntries: 100_000, profileDir, logDir });
  targets.push(single);
  const shoal = await startShoal(SHOAL3, { nodes: 3, n: 3, cacheEntries: 100_000, profileDir, logDir });
  targets.push(shoal);
  const q = consistency('quorum,quorum');
  await load(single, 'b100', 100, PLAN.keys, q);
  await load(shoal, 'b100', 100, PLAN.keys, q);
  await settle(targets, 10_000);
  const summaries: Record<string, ProfileSummary> = {};
  // --workloads picks what to profile (each on the 3-node cluster at quorum).
  const plan: [Target, WorkloadName, string][] =
    ONLY === null
      ? [[single, 'C', '1,1'], [shoal, 'C', '1,1'], [shoal, 'C', 'quorum,quorum'], [shoal, 'A', 'quorum,quorum']]
      : [...ONLY].filter((w): w is WorkloadName => w in WORKLOADS).map((w) => [shoal, w, 'quorum,quorum']);
  for (const [t, w, rw] of plan) {
    const before = new Set(readdirSync(profileDir));
    await settle([t], 10_000); // here: a running profiler would keep the servers busy
    t.signalProfiler!();
    await sleep(1000); // the profiler's start-up stall stays out of the measured run
    const row = await runOne(t, w, 100, rw, { latency: false, settle: false });
    t.signalProfiler!();
    await sleep(1500);
    const files = readdirSync(profileDir).filter((f) => !before.has(f)).map((f) => join(profileDir, f));
    const s = summarise(files);
    const label = `${t.kind === 'shoal' && t.pids().length === 1 ? 'single' : 'cluster'}-${w}-${rw.replace(',', '-')}`;
    summaries[label] = s;
    for (const f of files) renameSync(f, f.replace(/\/p\d+-/, `/${label}-`));
    process.stdout.write(`\n## Profile: ${t.name}, workload ${w} at (R,W)=(${rw}): ${row.opsPerSec} ops/s, ${row.opsPerCpuSec} ops/CPU-s; ${s.totalMs} ms on CPU summed over nodes\n\n`);
    process.stdout.write('| area | self ms | share |\n|---|---:|---:|\n' + s.areas.slice(0, 15).map((a) => `| ${a.area} | ${a.selfMs} | ${a.share}% |`).join('\n') + '\n\n');
    process.stdout.write('| function | where | self ms | share |\n|---|---|---:|---:|\n' + s.top.map((f) => `| ${f.name} | ${f.where} | ${f.selfMs} | ${f.share}% |`).join('\n') + '\n');
  }
  writeFileSync(join(profileDir, 'summary.json'), JSON.stringify(summaries, null, 2));
  process.stdout.write(`\nprofiles (.cpuprofile, open in Chrome DevTools or speedscope) in ${profileDir}\n`);
}

async function benchRun(): Promise<void> {
  const rows: Row[] = [];
  const loads: Record<string, { writesPerSec: number; errors: number; keys: number }> = {};
  const recordLoad = (t: Target, bucket: string, s: RunStats | null, label = bucket) => {
    if (s) loads[`${t.name} ${label}`] = { writesPerSec: Math.round(s.ops / s.elapsedSec), errors: s.errors, keys: keyspace(t, bucket).loaded };
  };
  const q = consistency('quorum,quorum');

  // What waking and sleeping cost on this machine, before anything else runs: a node at part
  // load pays a sleep between requests, so this sets how much more the rows at 50% cost.
  const wakeup = measureWakeupCost(join(repoRoot, 'bench/wakeup-cost.c'));
  if (typeof wakeup === 'string') skipped.push(wakeup);
  else log(`machine: ${wakeupText(wakeup)}`);

  // Start everything first, so the idle cost of each is present in every measurement alike.
  log(`plan: ${QUICK ? 'quick' : 'full'}, ${CONNECTIONS} connections, ${PLAN.keys} keys, values ${PLAN.valueSizes.join('/')} B; logs in ${logDir}`);
  const bare = await startBare(logDir);
  targets.push(bare);
  const baselines = args['no-baselines'] !== true;
  const rocks = baselines ? await startRocks(logDir) : undefined;
  if (rocks) targets.push(rocks);
  const single = baselines ? await startShoal(SHOAL1, { nodes: 1, n: 1, cacheEntries: 100_000, logDir }) : undefined;
  if (single) targets.push(single);
  const shoal = await startShoal(SHOAL3, { nodes: 3, n: 3, cacheEntries: 100_000, logDir });
  targets.push(shoal);
  let etcd: Target | undefined;
  if (baselines) {
    const e = await startEtcd(logDir);
    if (typeof e === 'string') skipped.push(e);
    else targets.push((etcd = e));
  }
  log(`started: ${targets.map((t) => `${t.name} [pids ${t.pids().join(',')}]`).join('; ')}`);

  for (const size of PLAN.valueSizes) {
    const bucket = `b${size}`;
    // The first ceiling, with its latency figures (runOne warms up first).
    const ceiling = await runOne(bare, 'C', size, '1,1', { latency: true });
    ceilingSamples.set(size, [{ atMs: ceiling.atMs, opsPerSec: ceiling.opsPerSec }]);
    bareCeiling.set(size, ceiling.opsPerSec);
    rows.push(ceiling);
    // Load phase (workload W at quorum), each target in turn.
    for (const t of [rocks, single, shoal]) if (t) recordLoad(t, bucket, await load(t, bucket, size, PLAN.keys, q));
    if (etcd) recordLoad(etcd, bucket, await load(etcd, bucket, size, PLAN.etcdKeys, q));
    await settle(targets, QUICK ? 6000 : 20_000);

    const runs: [Target, WorkloadName, string][] = [];
    if (rocks) for (const w of (['C', 'W'] as WorkloadName[]).filter(wanted)) runs.push([rocks, w, '1,1']);
    if (single) for (const w of PLAN.singleNode) runs.push([single, w, '1,1']);
    for (const [w, rw] of PLAN.matrix) runs.push([shoal, w, rw]);
    if (etcd) for (const w of (['W', 'C'] as WorkloadName[]).filter(wanted)) runs.push([etcd, w, 'quorum,quorum']);
    for (const [i, [t, w, rw]] of runs.entries()) {
      if (i > 0 && i % CEILING_EVERY === 0) await sampleCeiling(bare, size);
      rows.push(await runOne(t, w, size, rw, { latency: true }));
    }
    await sampleCeiling(bare, size);
  }
  // Ratios against the ceiling samples around each row.
  for (const r of rows) {
    const c = ceilingAround(r.valueBytes, r.atMs);
    r.vsBare = c ? Math.round((100 * r.opsPerSec) / c) / 100 : null;
  }

  // Bytes on disk per key: every replica's files (WAL and SST) over the keys written.
  const storage = targets
    .filter((t) => t.dataDirs.length > 0)
    .map((t) => {
      const keys = [...keyspaces.entries()].filter(([id]) => id.startsWith(`${t.name}|`)).reduce((s, [, k]) => s + k.inserts.next, 0);
      const bytes = t.dataDirs.reduce((s, d) => s + dirBytes(d), 0);
      return { target: t.name, keys, bytesOnDisk: bytes, bytesPerKey: keys > 0 ? Math.round(bytes / keys) : null, replicas: t.dataDirs.length, rssMbPerNode: t.pids().map((p) => Math.round(rssBytes(p) / 1048576)) };
    });

  // After the storage figures and every KV row: the same 100 B keys in a last-writer-wins
  // bucket (loading them earlier would push the sibling rows' keys out of the nodes' object
  // caches, which hold 100k entries), then the CRDT updates (whose objects would count
  // against the KV keys on disk); between ceiling samples of their own, 100 B ceiling.
  const late: [WorkloadName, string, { bucket?: string; label?: string }][] = [
    ...PLAN.lww.map(([w, rw]): [WorkloadName, string, { bucket?: string; label?: string }] => [w, rw, { bucket: LWW_BUCKET, label: `${SHOAL3}, LWW bucket` }]),
    ...PLAN.crdt.map(([w, rw]): [WorkloadName, string, { bucket?: string; label?: string }] => [w, rw, {}]),
  ];
  if (PLAN.lww.length > 0) {
    recordLoad(shoal, LWW_BUCKET, await load(shoal, LWW_BUCKET, 100, PLAN.keys, q));
    await settle([shoal], QUICK ? 6000 : 20_000);
  }
  const lateRows: Row[] = [];
  for (const [i, [w, rw, o]] of late.entries()) {
    if (i % CEILING_EVERY === 0) await sampleCeiling(bare, 100);
    lateRows.push(await runOne(shoal, w, 100, rw, { latency: true, ...o }));
  }
  if (late.length > 0) await sampleCeiling(bare, 100);
  for (const r of lateRows) {
    // Ratios against the samples around each row, as above.
    const c = ceilingAround(100, r.atMs);
    r.vsBare = c ? Math.round((100 * r.opsPerSec) / c) / 100 : null;
    rows.push(r);
  }

  // Redis: its own client at the same concurrency (different protocol: informational).
  let redis: RedisRow[] | string | undefined;
  if (baselines && !ROWS_ONLY) {
    redis = await runRedis({ connections: CONNECTIONS, valueBytes: PLAN.valueSizes[0]!, keys: PLAN.keys, requests: PLAN.redisRequests, logDir }, cpuSeconds);
    if (typeof redis === 'string') skipped.push(redis);
  }

  // Scale curve: workload B at quorum over a growing key space (bucket b100: the keys loaded
  // above, extended by further loading; 100 B values). The zipfian picks among the first
  // `keys` keys, so the working set and the data on disk grow together.
  const scale: Row[] = [];
  for (const keys of ROWS_ONLY ? [] : PLAN.scaleKeys) {
    const ks = keyspace(shoal, 'b100');
    if (ks.inserts.next < keys) {
      recordLoad(shoal, 'b100', await load(shoal, 'b100', 100, keys, q), `b100 to ${keys}`);
      await settle([shoal], QUICK ? 6000 : 30_000);
    }
    const point = { latency: false, bucket: 'b100', keys: Math.min(keys, ks.inserts.next) };
    // A point measures B in steady state. Right after a bulk load the nodes' object caches
    // hold the keys written last, not the point's hot keys, and one window's warm-up refilled
    // them only part way: at 1M keys 61-63% of reads were cached in four of five runs, where
    // refilled caches answer 97-99%. Unmeasured windows run until the hit share moves by
    // under a point, at most scaleRefillWindows of them.
    const refill: number[] = [];
    for (let i = 0; i < PLAN.scaleRefillWindows; i++) {
      refill.push((await runOne(shoal, 'B', 100, 'quorum,quorum', point)).cacheHitShare ?? 0);
      if (refill.length >= 2 && Math.abs(refill[refill.length - 1]! - refill[refill.length - 2]!) < 0.01) break;
    }
    log(`scale ${keys} keys: cache refill, hits per window ${refill.map((h) => `${(100 * h).toFixed(1)}%`).join(' → ')}`);
    const windows: Row[] = [];
    for (let i = 0; i < PLAN.scaleWindows; i++) windows.push(await runOne(shoal, 'B', 100, 'quorum,quorum', point));
    scale.push({ ...medianWindow(windows), refillHitShares: refill });
  }

  // Membership convergence in the simulated network (simulated time; wall time for context).
  const convergence = [];
  for (const n of ROWS_ONLY ? [] : PLAN.convergenceSizes) {
    const w0 = performance.now();
    const r = await measureConvergence({ nodes: n, seed: 1 });
    convergence.push({ ...r, wallMs: Math.round(performance.now() - w0) });
    log(`convergence ${n} nodes: ${r.convergedAfterMs ?? 'not converged'} simulated ms, ${r.gossipMessages} gossip messages`);
  }

  // Anti-entropy in the simulated network: cost and time to converge against differing keys.
  const antiEntropy: AntiEntropyRow[] = [];
  for (const [stored, differing] of ROWS_ONLY ? [] : antiEntropyCases(QUICK)) {
    const r = await runAntiEntropyCase(stored, differing);
    antiEntropy.push(r);
    log(`anti-entropy ${stored} keys, ${differing} differing: ${r.exchanges} exchanges, ${r.bytes} bytes, ${r.simMs} simulated ms`);
  }

  const peerMsgsExposed = rows.some((r) => r.peerMsgsPerOp !== null);
  if (!peerMsgsExposed) notes.push('peer messages per client op: not measured (no peer-message counter in /metrics yet)');

  const checkList = checks(rows, scale);
  let md = `## Shoal bench — ${started.toISOString()} (${QUICK ? 'quick' : 'full'} run)\n\n`;
  md += `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; ${CONNECTIONS} connections; zipfian 0.99 over ${PLAN.keys} keys; ` +
    `closed-loop ${PLAN.closedMs / 1000} s, open-loop ${PLAN.openMs / 1000} s at 50% and 80% of each row's max` +
    (typeof wakeup === 'string' ? '.\n\n' : `; ${wakeupText(wakeup)}.\n\n`);
  md += table(rows) + '\n\n';
  const sampleText = [...ceilingSamples.entries()]
    .map(([size, l]) => {
      const valid = new Set(validCeilingSamples(size));
      return `${size} B: ${l.map((x) => (valid.has(x) ? String(x.opsPerSec) : `~~${x.opsPerSec}~~`)).join(', ')}`;
    })
    .join('; ');
  md += `× bare: ops/s over the mean of the bare-fastify C samples taken just before and after the row, leaving out samples below ${CEILING_OUTLIER}× the run's median (struck through: taken in a burst of noise) (samples: ${sampleText} ops/s).\n\n`;
  md += '### Targets (ratios in this run)\n\n| target | goal | measured | met |\n|---|---|---|---|\n';
  md += checkList.map((c) => `| ${c.target} | ${c.goal} | ${c.measured} | ${c.met === null ? '–' : c.met ? 'yes' : '**no**'} |`).join('\n') + '\n\n';
  md += `### Scale: workload B at quorum, 100 B values (${PLAN.scaleWindows === 1 ? 'one window' : `median of ${PLAN.scaleWindows} windows`} per point)\n\n` +
    '| keys | ops/s | every window, ops/s | ops/CPU-s | cache hits | cache hits in the refill windows before it | RSS MB/node |\n|---:|---:|---|---:|---:|---|---|\n';
  md += scale.map((r) => `| ${r.keys} | ${r.opsPerSec} | ${(r.windowsOpsPerSec ?? [r.opsPerSec]).join(', ')} | ${r.opsPerCpuSec} | ${cacheHits(r)} | ${(r.refillHitShares ?? []).map((h) => `${(100 * h).toFixed(1)}%`).join(' → ') || '–'} | ${r.rssMbPerNode.join(', ')} |`).join('\n') + '\n\n';
  md += '### Storage\n\n| target | keys written | bytes on disk (all replicas) | bytes/key | data dirs | RSS MB/node |\n|---|---:|---:|---:|---:|---|\n';
  md += storage.map((s) => `| ${s.target} | ${s.keys} | ${s.bytesOnDisk} | ${s.bytesPerKey ?? '–'} | ${s.replicas} | ${s.rssMbPerNode.join(', ')} |`).join('\n') + '\n\n';
  md += '### Load phase (workload W at quorum, closed loop)\n\n| target / bucket | keys | writes/s | errors |\n|---|---:|---:|---:|\n';
  md += Object.entries(loads).map(([k, v]) => `| ${k} | ${v.keys} | ${v.writesPerSec} | ${v.errors} |`).join('\n') + '\n\n';
  if (Array.isArray(redis)) {
    md += `### redis (redis-benchmark, ${CONNECTIONS} connections, ${PLAN.valueSizes[0]} B, informational: RESP, not HTTP)\n\n| test | ops/s | p50 ms | p99 ms | ops/CPU-s (server) | redis-benchmark CPU s |\n|---|---:|---:|---:|---:|---:|\n`;
    md += redis.map((r) => `| ${r.test} | ${Math.round(r.opsPerSec)} | ${r.p50Ms} | ${r.p99Ms} | ${r.serverCpuSec > 0 ? Math.round(r.requests / r.serverCpuSec) : '–'} | ${r.benchCpuSec.toFixed(2)} |`).join('\n') + '\n\n';
  }
  md += '### Membership convergence (simulated network, gossip every 500 ms, one seed)\n\n| nodes | converged after (simulated ms) | gossip messages | gossip bytes |\n|---:|---:|---:|---:|\n';
  md += convergence.map((c) => `| ${c.nodes} | ${c.convergedAfterMs ?? 'not within 60 s'} | ${c.gossipMessages} | ${c.gossipBytes} |`).join('\n') + '\n\n';
  if (antiEntropy.length > 0) md += `### Anti-entropy (simulated network)\n\n${antiEntropyMarkdown(antiEntropy)}\n`;
  if (skipped.length > 0) md += `**Skipped:** ${skipped.join('; ')}\n\n`;
  if (notes.length > 0) md += `**Notes:** ${notes.join('; ')}\n`;

  const resultsDir = join(repoRoot, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${stamp}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        startedAt: started.toISOString(),
        mode: QUICK ? 'quick' : 'full',
        machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, wakeup: typeof wakeup === 'string' ? null : wakeup },
        plan: { ...PLAN, connections: CONNECTIONS },
        rows,
        targets: checkList,
        scale,
        ceilingSamples: Object.fromEntries(ceilingSamples),
        storage,
        loads,
        redis: redis ?? null,
        convergence,
        antiEntropy,
        skipped,
        notes,
        markdown: md,
      },
      null,
      2,
    ),
  );
  process.stdout.write(md + `\nresults: ${file}\n`);
}

let cleaning = false;
async function cleanup(): Promise<void> {
  if (cleaning) return;
  cleaning = true;
  await Promise.allSettled(targets.map((t) => t.stop()));
  await stopAll();
}
process.once('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: stopping every process this bench started`);
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  if (args.profile) await profileRun();
  else await benchRun();
} catch (err) {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n(logs in ${logDir})\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
  log('done; every process stopped');
}
