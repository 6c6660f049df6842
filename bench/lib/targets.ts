// The systems under test: the 3-node Shoal cluster, and the baselines measured in the same
// run with the same load generator — bare fastify, fastify + RocksDB, one Shoal node (n=1),
// a 3-member etcd cluster (HTTP/JSON gateway). redis-benchmark drives redis itself.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcessCluster, type ProcessCluster } from '../../test/helpers/process-cluster.ts';
import { connect } from 'node:net';
import type { HostPort, KvProtocol } from './load.ts';
import { freePorts, spawnProc, stopProc, waitHttp, which, type Proc } from './procs.ts';
import { rng, SET_ELEMENTS, type CrdtWorkloadType } from './ycsb.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface Consistency {
  readonly r: string;
  readonly w: string;
}

export interface Target {
  readonly name: string;
  readonly kind: 'shoal' | 'bare' | 'rocks' | 'etcd';
  readonly hosts: readonly HostPort[];
  /** Server processes whose CPU and RSS count against this target. */
  pids(): number[];
  readonly dataDirs: readonly string[];
  readonly metricsUrls: readonly string[];
  protocol(bucket: string, c: Consistency): KvProtocol;
  /** CRDT updates (its `put`; the value is ignored) and reads, on the bench's CRDT buckets. */
  crdtProtocol?(type: CrdtWorkloadType, c: Consistency): KvProtocol;
  /** Sends SIGUSR2 to every server (toggles the CPU profiler when started with profiling). */
  signalProfiler?(): void;
  stop(): Promise<void>;
}

function hostPort(url: string): HostPort {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

const OCTET = 'Content-Type: application/octet-stream\r\n';

export function shoalProtocol(bucket: string, c: Consistency): KvProtocol {
  const base = `/buckets/${bucket}/keys/`;
  const rq = `?r=${c.r}`;
  const wq = `?w=${c.w}`;
  return {
    get: (key) => ({ method: 'GET', path: base + key + rq }),
    put: (key, value, ctx) => ({
      method: 'PUT',
      path: base + key + wq,
      headers: ctx === undefined ? OCTET : `${OCTET}X-Shoal-Context: ${ctx}\r\n`,
      body: value,
    }),
  };
}

/** The bench cluster's CRDT buckets, one per type the workloads use. */
export const CRDT_BUCKETS: Readonly<Record<CrdtWorkloadType, string>> = { counter: 'ctr', set: 'tags' };
const JSON_TYPE = 'Content-Type: application/json\r\n';
const INCREMENT = Buffer.from('{"increment":1}');
const SET_ADDS = Array.from({ length: SET_ELEMENTS }, (_, i) => Buffer.from(`{"add":["tag${i}"]}`));

export function shoalCrdtProtocol(type: CrdtWorkloadType, c: Consistency): KvProtocol {
  const base = `/buckets/${CRDT_BUCKETS[type]}/${type === 'counter' ? 'counters' : 'sets'}/`;
  const random = rng(17);
  return {
    get: (key) => ({ method: 'GET', path: `${base}${key}?r=${c.r}` }),
    put: (key) => ({
      method: 'POST',
      path: `${base}${key}?w=${c.w}`,
      headers: JSON_TYPE,
      body: type === 'counter' ? INCREMENT : SET_ADDS[Math.floor(random() * SET_ELEMENTS)]!,
    }),
  };
}

/** The bench bucket configured for last-writer-wins (100 B values). */
export const LWW_BUCKET = 'lww100';

export interface ShoalTargetOptions {
  readonly nodes: number;
  readonly n: number;
  readonly cacheEntries: number;
  readonly profileDir?: string;
  readonly logDir: string;
}

export async function startShoal(name: string, opts: ShoalTargetOptions): Promise<Target> {
  const env: Record<string, string> = {};
  if (opts.profileDir !== undefined) {
    env['NODE_OPTIONS'] = `--import ${join(repoRoot, 'bench/lib/cpu-prof-preload.mjs')}`;
    env['SHOAL_CPU_PROF_DIR'] = opts.profileDir;
  }
  const cluster: ProcessCluster = await startProcessCluster({
    nodes: opts.nodes,
    env,
    config: {
      clusterName: 'shoal-bench',
      storage: { engine: 'rocksdb', fsync: false, cacheEntries: opts.cacheEntries },
      requestTimeoutMs: 5000,
      gossip: { intervalMs: 500 },
      // lww100: the same workloads with last-writer-wins resolution (no siblings), the mode a
      // cache backend would pick; the other buckets keep siblings.
      buckets: { default: { n: opts.n, r: 'quorum', w: 'quorum', mode: 'siblings', ttlSeconds: null, type: 'kv' }, [LWW_BUCKET]: { mode: 'lww' }, [CRDT_BUCKETS.counter]: { type: 'counter' }, [CRDT_BUCKETS.set]: { type: 'set' } },
    },
  });
  const pids = () => cluster.nodes.map((n) => n.pid).filter((p): p is number => p !== undefined);
  return {
    name,
    kind: 'shoal',
    hosts: cluster.nodes.map((n) => hostPort(n.httpUrl)),
    pids,
    dataDirs: cluster.nodes.map((n) => join(cluster.dataDir, 'data', n.id)),
    metricsUrls: cluster.nodes.map((n) => `${n.httpUrl}/metrics`),
    protocol: shoalProtocol,
    crdtProtocol: shoalCrdtProtocol,
    signalProfiler() {
      for (const p of pids()) process.kill(p, 'SIGUSR2');
    },
    stop: () => cluster.stop(),
  };
}

async function startFastifyServer(name: string, kind: 'bare' | 'rocks', logDir: string): Promise<Target> {
  const [port] = await freePorts(1);
  const dir = mkdtempSync(join(tmpdir(), `shoal-bench-${kind}-`));
  const script = join(repoRoot, 'bench/servers', kind === 'bare' ? 'bare.ts' : 'rocks.ts');
  const args = ['--import', 'tsx', script, '--port', String(port)];
  if (kind === 'rocks') args.push('--dir', join(dir, 'db'));
  const proc = spawnProc(name, process.execPath, args, { logFile: join(logDir, `${kind}.log`), cwd: repoRoot });
  try {
    await waitHttp(`http://127.0.0.1:${port}/health`, 30_000, proc);
  } catch (err) {
    await stopProc(proc);
    throw err;
  }
  return {
    name,
    kind,
    hosts: [{ host: '127.0.0.1', port: port! }],
    pids: () => [proc.pid],
    dataDirs: kind === 'rocks' ? [join(dir, 'db')] : [],
    metricsUrls: [],
    protocol: shoalProtocol, // same route shape; the query string is ignored
    async stop() {
      await stopProc(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const startBare = (logDir: string) => startFastifyServer('bare fastify', 'bare', logDir);
export const startRocks = (logDir: string) => startFastifyServer('fastify+RocksDB', 'rocks', logDir);

// ---- etcd ------------------------------------------------------------------------------

export async function startEtcd(logDir: string): Promise<Target | string> {
  const bin = which('etcd');
  if (bin === undefined) return 'etcd not installed (apt-get install etcd-server)';
  const ports = await freePorts(6);
  const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-etcd-'));
  const names = ['e1', 'e2', 'e3'];
  const peer = (i: number) => `http://127.0.0.1:${ports[2 * i + 1]}`;
  const client = (i: number) => `http://127.0.0.1:${ports[2 * i]}`;
  const initial = names.map((n, i) => `${n}=${peer(i)}`).join(',');
  const procs: Proc[] = names.map((n, i) =>
    spawnProc(`etcd ${n}`, bin, [
      '--name', n,
      '--data-dir', join(dir, n),
      '--listen-client-urls', client(i),
      '--advertise-client-urls', client(i),
      '--listen-peer-urls', peer(i),
      '--initial-advertise-peer-urls', peer(i),
      '--initial-cluster', initial,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', `shoal-bench-${process.pid}`,
      '--log-level', 'warn',
    ], { logFile: join(logDir, `etcd-${n}.log`), env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env['ETCD_UNSUPPORTED_ARCH'] ?? '' } }),
  );
  const stop = async () => {
    await Promise.all(procs.map((p) => stopProc(p)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) await waitHttp(`${client(i)}/health`, 30_000, procs[i]);
    // A write through the gateway proves there is a leader.
    await waitHttp(`${client(0)}/v3/kv/put`, 30_000, procs[0], {
      method: 'POST',
      body: JSON.stringify({ key: Buffer.from('probe').toString('base64'), value: 'eA==' }),
    });
  } catch (err) {
    await stop();
    return `etcd did not start: ${String(err)}`;
  }
  const b64Cache = new WeakMap<Buffer, string>();
  const JSON_CT = 'Content-Type: application/json\r\n';
  return {
    name: 'etcd ×3 (Raft, HTTP/JSON gateway)',
    kind: 'etcd',
    hosts: [0, 1, 2].map((i) => ({ host: '127.0.0.1', port: ports[2 * i]! })),
    pids: () => procs.map((p) => p.pid),
    dataDirs: names.map((n) => join(dir, n)),
    metricsUrls: [],
    protocol: (bucket) => ({
      // Linearizable range reads (etcd's default), puts committed by Raft with WAL fsync.
      get: (key) => ({ method: 'POST', path: '/v3/kv/range', headers: JSON_CT, body: Buffer.from(`{"key":"${Buffer.from(`${bucket}/${key}`).toString('base64')}"}`) }),
      put: (key, value) => {
        let v = b64Cache.get(value);
        if (v === undefined) {
          v = value.toString('base64');
          b64Cache.set(value, v);
        }
        return { method: 'POST', path: '/v3/kv/put', headers: JSON_CT, body: Buffer.from(`{"key":"${Buffer.from(`${bucket}/${key}`).toString('base64')}","value":"${v}"}`) };
      },
    }),
    stop,
  };
}

function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.write('PING\r\n'));
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('data', (d) => done(d.toString().startsWith('+PONG')));
    s.once('error', () => done(false));
  });
}

// ---- redis -----------------------------------------------------------------------------

export interface RedisRow {
  readonly test: string;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly serverCpuSec: number;
  readonly benchCpuSec: number;
  readonly requests: number;
}

export async function runRedis(
  opts: { connections: number; valueBytes: number; keys: number; requests: number; logDir: string },
  cpuSeconds: (pid: number) => number,
): Promise<RedisRow[] | string> {
  const server = which('redis-server');
  const bench = which('redis-benchmark');
  if (server === undefined || bench === undefined) return 'redis-server/redis-benchmark not installed (apt-get install redis-server)';
  const [port] = await freePorts(1);
  const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-redis-'));
  mkdirSync(dir, { recursive: true });
  const proc = spawnProc('redis-server', server, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    logFile: join(opts.logDir, 'redis.log'),
  });
  try {
    // Ready when it answers PING (redis-benchmark itself spins forever if -n < -c).
    const deadline = Date.now() + 10_000;
    while (!(await redisPing(port!))) {
      if (Date.now() > deadline) throw new Error('redis-server did not answer PING within 10 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    // redis-benchmark runs as a tracked child (stopped by PID on timeout); its CPU is
    // sampled from /proc while it runs, the last sample before it exits being kept.
    const run = async (args: string[]): Promise<{ out: string; cpuSec: number }> => {
      const child = spawnProc('redis-benchmark', bench, args, { logFile: join(opts.logDir, 'redis-benchmark.log') });
      let out = '';
      child.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      let cpuSec = 0;
      const poll = setInterval(() => (cpuSec = Math.max(cpuSec, cpuSeconds(child.pid))), 50);
      const killer = setTimeout(() => void stopProc(child, 1000), 60_000);
      await new Promise<void>((r) => (child.exited ? r() : child.child.once('exit', () => r())));
      clearInterval(poll);
      clearTimeout(killer);
      return { out, cpuSec };
    };
    const rows: RedisRow[] = [];
    for (const test of ['set', 'get']) {
      const cpu0 = cpuSeconds(proc.pid);
      const { out, cpuSec: benchCpuSec } = await run([
        '-h', '127.0.0.1', '-p', String(port), '-c', String(opts.connections), '-n', String(opts.requests),
        '-d', String(opts.valueBytes), '-r', String(opts.keys), '-t', test, '--csv',
      ]);
      const serverCpuSec = cpuSeconds(proc.pid) - cpu0;
      // CSV: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
      const line = out.split('\n').find((l) => l.startsWith(`"${test.toUpperCase()}"`));
      const cols = (line ?? '').split(',').map((c) => Number(c.replaceAll('"', '')));
      rows.push({ test: test.toUpperCase(), opsPerSec: cols[1] ?? 0, p50Ms: cols[4] ?? 0, p99Ms: cols[6] ?? 0, serverCpuSec, benchCpuSec, requests: opts.requests });
    }
    return rows;
  } catch (err) {
    return `redis run failed: ${String(err)}`;
  } finally {
    await stopProc(proc);
    rmSync(dir, { recursive: true, force: true });
  }
}
