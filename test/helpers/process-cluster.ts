// A real Shoal cluster: one `shoal start` process per node on 127.0.0.1, ports reserved by
// binding port 0, data in a temp directory. Used by the process tests, the chaos checker
// and the benchmarks. Every child is stopped by its PID: by the caller's stop(), and as a
// last resort when this process exits, so a failed test never leaves nodes running.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../src/runtime/node-flags.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(repoRoot, 'bin/shoal.js');
/** Tail of each child's output kept for failure reports: enough for the last errors. */
const LOG_TAIL_CHARS = 32 * 1024;
const STARTUP_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 10_000;

export interface ProcessNode {
  id: string;
  httpUrl: string;
  pid: number | undefined;
  peerPort: number;
  httpPort: number;
}

export interface ProcessCluster {
  readonly nodes: ProcessNode[];
  readonly dataDir: string;
  readonly configPath: string;
  url(id: string): string;
  /** SIGKILL by PID, wait for exit. */
  kill9(id: string): Promise<void>;
  /** SIGSTOP / SIGCONT. */
  pause(id: string): void;
  resume(id: string): void;
  /** Start the same node again (same data), wait until /health answers. */
  restart(id: string): Promise<void>;
  /** SIGTERM (graceful leave), wait for exit (bounded; SIGKILL after). */
  stopNode(id: string): Promise<void>;
  /** Everything, and remove dataDir unless keepData. */
  stop(): Promise<void>;
  /** The tail of a node's stdout+stderr (all its runs). */
  logs(id: string): string;
  /** True while the node's process is running (paused counts as running). */
  isRunning(id: string): boolean;
  /** Bounded wait until every running node sees `pred` hold for its member list. */
  waitMembers(pred: (members: MemberInfo[], viewer: string) => boolean, what: string, timeoutMs?: number): Promise<void>;
}

export interface MemberInfo {
  id: string;
  status: string;
  [field: string]: unknown;
}

export interface ProcessClusterOptions {
  nodes?: number;
  /** Merged over the generated config (one level deep for objects, e.g. `gossip`, `buckets`). */
  config?: Record<string, unknown>;
  /** Extra environment for every node. */
  env?: Record<string, string>;
  /** Extra environment per node id (e.g. SHOAL_CLOCK_SKEW_MS for one node). */
  nodeEnv?: Record<string, Record<string, string>>;
  keepData?: boolean;
  /** Skip waiting for all members up (tests of startup failures). */
  noWait?: boolean;
}

/** Reserves `count` distinct free ports: all bound at once, then released. */
export async function reservePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((res, rej) => {
      const s = createServer();
      s.once('error', rej);
      s.listen(0, '127.0.0.1', () => res(s));
    })),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    if (a === null || typeof a === 'string') throw new Error('no port');
    return a.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns true; bounded in time. Throws with `what` and the last error. */
export async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    }
    await sleep(everyMs);
  }
}

/** fetch with a deadline, so a paused node never hangs a caller. */
export async function fetchWithTimeout(url: string, init: RequestInit = {}, timeoutMs = 3000): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
}

export async function membersOf(url: string, timeoutMs = 2000): Promise<MemberInfo[]> {
  const res = await fetchWithTimeout(`${url}/cluster/members`, {}, timeoutMs);
  if (!res.ok) throw new Error(`GET /cluster/members: ${res.status}`);
  const body = (await res.json()) as { members: MemberInfo[] };
  return body.members;
}

// Safety net: children still alive when this process exits are killed (synchronously).
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) if (c.pid !== undefined) try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
});

interface NodeProc {
  readonly node: ProcessNode;
  child: ChildProcess | undefined;
  exited: Promise<void>;
  log: string;
}

export async function startProcessCluster(opts: ProcessClusterOptions = {}): Promise<ProcessCluster> {
  const count = opts.nodes ?? 3;
  const ports = await reservePorts(count * 2);
  const dataDir = mkdtempSync(join(tmpdir(), 'shoal-proc-'));
  const ids = Array.from({ length: count }, (_, i) => `n${i + 1}`);
  const nodesCfg = ids.map((id, i) => ({ id, host: '127.0.0.1', httpPort: ports[2 * i]!, peerPort: ports[2 * i + 1]! }));
  const base: Record<string, unknown> = {
    clusterName: 'shoal-test',
    secret: `test-secret-${Math.random().toString(36).slice(2)}-0123456789`,
    dataDir: join(dataDir, 'data'),
    nodes: nodesCfg,
    seeds: ids.slice(0, Math.min(2, count)),
    storage: { engine: 'rocksdb', fsync: false, cacheEntries: 10_000 },
    requestTimeoutMs: 2000,
    // Fast gossip and handoff so failures are seen, and healed, in a second or two.
    gossip: { intervalMs: 250, phiThreshold: 8, maxClockSkewMs: 2000 },
    handoff: { intervalMs: 300, maxHints: 1_000_000, maxPerSecond: 5000 },
    buckets: { default: { n: Math.min(3, count), r: 'quorum', w: 'quorum', mode: 'siblings', ttlSeconds: null, type: 'kv' } },
  };
  const config = mergeConfig(base, opts.config ?? {});
  const configPath = join(dataDir, 'cluster.config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));

  const procs = new Map<string, NodeProc>();
  for (const n of nodesCfg) {
    procs.set(n.id, {
      node: { id: n.id, httpUrl: `http://127.0.0.1:${n.httpPort}`, pid: undefined, peerPort: n.peerPort, httpPort: n.httpPort },
      child: undefined,
      exited: Promise.resolve(),
      log: '',
    });
  }
  const proc = (id: string): NodeProc => {
    const p = procs.get(id);
    if (!p) throw new Error(`no node ${id} in this cluster (${ids.join(', ')})`);
    return p;
  };
  const running = (p: NodeProc) => p.child !== undefined && p.child.exitCode === null && p.child.signalCode === null;

  const spawnNode = (p: NodeProc) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, BIN, 'start', '--node', p.node.id, '--config', configPath], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SHOAL_LOG: 'warn', ...opts.env, ...opts.nodeEnv?.[p.node.id] },
    });
    const append = (chunk: Buffer) => {
      p.log = (p.log + chunk.toString('utf8')).slice(-LOG_TAIL_CHARS);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    live.add(child);
    p.child = child;
    p.node.pid = child.pid;
    p.exited = new Promise<void>((res) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        p.log = (p.log + `\n[harness] ${p.node.id} pid ${child.pid} exited code=${code} signal=${signal}\n`).slice(-LOG_TAIL_CHARS);
        res();
      });
    });
  };

  const waitHealthy = async (p: NodeProc) => {
    await waitFor(async () => {
      if (!running(p)) throw new Error(`${p.node.id} exited during startup`);
      const res = await fetchWithTimeout(`${p.node.httpUrl}/health`, {}, 1000);
      return res.ok;
    }, `${p.node.id} /health`, STARTUP_TIMEOUT_MS, 100);
  };

  const signal = (p: NodeProc, sig: NodeJS.Signals) => {
    if (p.node.pid !== undefined && running(p)) process.kill(p.node.pid, sig);
  };

  const waitExit = async (p: NodeProc, sig: NodeJS.Signals) => {
    if (!running(p)) return;
    signal(p, sig);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      p.exited.then(() => false),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(true), EXIT_TIMEOUT_MS); }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      signal(p, 'SIGCONT'); // a paused process ignores SIGTERM until continued
      signal(p, 'SIGKILL');
      await p.exited;
    }
  };

  const cluster: ProcessCluster = {
    nodes: [...procs.values()].map((p) => p.node),
    dataDir,
    configPath,
    url: (id) => proc(id).node.httpUrl,
    logs: (id) => proc(id).log,
    isRunning: (id) => running(proc(id)),
    async kill9(id) {
      const p = proc(id);
      if (!running(p)) return;
      signal(p, 'SIGKILL');
      await p.exited;
    },
    pause(id) {
      signal(proc(id), 'SIGSTOP');
    },
    resume(id) {
      signal(proc(id), 'SIGCONT');
    },
    async restart(id) {
      const p = proc(id);
      if (running(p)) await waitExit(p, 'SIGKILL');
      spawnNode(p);
      try {
        await waitHealthy(p);
      } catch (err) {
        throw new Error(`${String(err)}\n--- ${id} log tail ---\n${p.log}`);
      }
    },
    async stopNode(id) {
      await waitExit(proc(id), 'SIGTERM');
    },
    async stop() {
      await Promise.all([...procs.values()].map(async (p) => {
        if (!running(p)) return;
        signal(p, 'SIGKILL');
        await p.exited;
      }));
      if (!opts.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
    async waitMembers(pred, what, timeoutMs = 30_000) {
      await waitFor(async () => {
        for (const p of procs.values()) {
          if (!running(p)) continue;
          if (!pred(await membersOf(p.node.httpUrl), p.node.id)) return false;
        }
        return true;
      }, what, timeoutMs, 200);
    },
  };

  try {
    for (const p of procs.values()) spawnNode(p);
    if (!opts.noWait) {
      await Promise.all([...procs.values()].map(waitHealthy));
      await cluster.waitMembers(
        (ms) => ids.every((id) => ms.some((m) => m.id === id && m.status === 'up')),
        'every node to see every member up',
        STARTUP_TIMEOUT_MS,
      );
    }
  } catch (err) {
    const tails = [...procs.values()].map((p) => `--- ${p.node.id} log tail ---\n${p.log.slice(-4000)}`).join('\n');
    process.stderr.write(`[process-cluster] startup failed: ${String(err)}\n${tails}\n`);
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** Config overrides: objects merged one level deep (so `gossip: { intervalMs }` keeps the rest). */
function mergeConfig(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    if (isPlainObject(b) && isPlainObject(v)) {
      const merged: Record<string, unknown> = { ...b };
      for (const [k2, v2] of Object.entries(v)) {
        const b2 = merged[k2];
        merged[k2] = isPlainObject(b2) && isPlainObject(v2) ? { ...b2, ...v2 } : v2;
      }
      out[k] = merged;
    } else {
      out[k] = v;
    }
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
