// One real `shoal start` process (n = 1) over a real socket: the client library and raw
// fetch, malformed HTTP on a raw TCP socket, and a bad config refused at start.
import { isBackgroundThread } from '../../src/runtime/thread-priority.ts';
import { threadsOf } from '../helpers/threads.ts';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShoalClient } from '../../src/client/client.ts';
import { NODE_FLAGS } from '../../src/runtime/node-flags.ts';
import { repoRoot, startProcessCluster, waitFor, type ProcessCluster } from '../helpers/process-cluster.ts';

let c: ProcessCluster;
let client: ShoalClient;
let url: string;

beforeAll(async () => {
  c = await startProcessCluster({ nodes: 1, config: { buckets: { default: { n: 1, r: 1, w: 1 }, cache: { mode: 'lww' } } } });
  url = c.url('n1');
  client = new ShoalClient(url);
}, 90_000);
afterAll(async () => c?.stop());

const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

/** Sends raw bytes on a fresh TCP connection; resolves with everything the server wrote back. */
function rawHttp(port: number, payload: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let out = '';
    sock.setTimeout(5000, () => sock.destroy(new Error('raw socket timed out')));
    sock.on('data', (d) => (out += d.toString('latin1')));
    sock.on('error', (err) => (out ? resolve(out) : reject(err)));
    sock.on('close', () => resolve(out));
    sock.on('connect', () => sock.end(payload));
  });
}

describe('one node process', () => {
  it('puts and gets through the client, with a context', async () => {
    const ctx = await client.put('b', 'k1', 'hello', { contentType: 'text/plain' });
    expect(ctx).toBeTypeOf('string');
    const got = await client.get('b', 'k1');
    expect(got.found).toBe(true);
    if (!got.found) return;
    expect(got.siblings).toHaveLength(1);
    expect(text(got.siblings[0]!.value)).toBe('hello');
    expect(got.siblings[0]!.contentType).toBe('text/plain');
  });

  it('keeps concurrent blind writes as siblings; a write with the context resolves them', async () => {
    await client.put('b', 's', 'one');
    await client.put('b', 's', 'two');
    const both = await client.get('b', 's');
    if (!both.found) throw new Error('not found');
    expect(both.siblings.map((s) => text(s.value)).sort()).toEqual(['one', 'two']);
    await client.put('b', 's', 'merged', { context: both.context });
    const one = await client.get('b', 's');
    if (!one.found) throw new Error('not found');
    expect(one.siblings.map((s) => text(s.value))).toEqual(['merged']);
  });

  it('lww bucket keeps one value for blind writes', async () => {
    await client.put('cache', 'x', 'a');
    await client.put('cache', 'x', 'b');
    const got = await client.get('cache', 'x');
    if (!got.found) throw new Error('not found');
    expect(got.siblings).toHaveLength(1);
  });

  it('deletes with a context (404 after), over raw fetch too', async () => {
    const put = await fetch(`${url}/buckets/b/keys/d`, { method: 'PUT', body: 'v', headers: { 'content-type': 'text/plain' } });
    expect(put.status).toBe(204);
    const get = await fetch(`${url}/buckets/b/keys/d`);
    expect(get.status).toBe(200);
    expect(await get.text()).toBe('v');
    const ctx = get.headers.get('x-shoal-context');
    expect(ctx).toBeTruthy();
    const del = await fetch(`${url}/buckets/b/keys/d`, { method: 'DELETE', headers: { 'x-shoal-context': ctx! } });
    expect(del.status).toBe(204);
    const after = await fetch(`${url}/buckets/b/keys/d`);
    expect(after.status).toBe(404);
    expect(await after.json()).toMatchObject({ error: 'NOT_FOUND' });
    // The tombstone is still visible to operators on the node's own copy.
    const local = await fetch(`${url}/admin/local/buckets/b/keys/d`);
    expect(local.status).toBe(200);
    const body = (await local.json()) as { object: { siblings: { tombstone: boolean }[] } };
    expect(body.object.siblings.every((s) => s.tombstone)).toBe(true);
  });

  it('expires a key after its ttl', async () => {
    await client.put('b', 't', 'short', { ttlSeconds: 1 });
    // Bounded poll: the key must disappear within a few seconds of its 1 s ttl.
    await waitFor(async () => (await client.get('b', 't')).found === false, 'ttl expiry', 10_000, 200);
    const local = (await client.json('/admin/local/buckets/b/keys/t')) as { object: { siblings: { expired: boolean }[] } };
    expect(local.object.siblings[0]?.expired).toBe(true);
  });

  it('answers 4xx to bad input over the socket', async () => {
    const badCtx = await fetch(`${url}/buckets/b/keys/k1`, { method: 'PUT', body: 'x', headers: { 'x-shoal-context': 'garbage!!' } });
    expect(badCtx.status).toBe(400);
    expect(await badCtx.json()).toMatchObject({ error: 'INVALID_CONTEXT' });
    const badR = await fetch(`${url}/buckets/b/keys/k1?r=5`);
    expect(badR.status).toBe(400);
    expect(await badR.json()).toMatchObject({ error: 'INVALID_QUORUM' });
  });

  it('answers malformed HTTP with 400 and keeps serving', async () => {
    const port = c.nodes[0]!.httpPort;
    const garbage = await rawHttp(port, Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a, 0x99]));
    expect(garbage).toMatch(/^HTTP\/1\.1 400/);
    const badLine = await rawHttp(port, 'GET /buckets/b/keys/k1 NOT-HTTP\r\n\r\n');
    expect(badLine).toMatch(/^HTTP\/1\.1 400/);
    const badHeader = await rawHttp(port, 'GET / HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n');
    expect(badHeader).toMatch(/^HTTP\/1\.1 400/);
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    const got = await client.get('b', 'k1');
    expect(got.found).toBe(true);
    expect(c.isRunning('n1')).toBe(true);
  });
});

/** Nice values of a process's threads: the loop's, RocksDB's background threads', the rest. */
function threadNices(pid: number): { main: number; background: number[]; others: number[] } {
  const threads = threadsOf(pid);
  const rest = threads.filter((t) => t.tid !== String(pid));
  return {
    main: threads.find((t) => t.tid === String(pid))!.nice,
    background: rest.filter((t) => isBackgroundThread(t.name)).map((t) => t.nice),
    others: rest.filter((t) => !isBackgroundThread(t.name)).map((t) => t.nice),
  };
}

describe.runIf(process.platform === 'linux')('thread priorities', () => {
  it("runs RocksDB's background threads at nice 19 and every other thread at the loop's priority", async () => {
    const pid = c.nodes[0]!.pid!;
    await client.put('b', 'prio', 'x'); // RocksDB and libuv's pool are working by now
    await waitFor(() => threadNices(pid).background.every((n) => n === 19), 'RocksDB threads at nice 19', 15_000);
    const { main, background, others } = threadNices(pid);
    expect(background.length).toBeGreaterThan(0);
    expect(new Set(background)).toEqual(new Set([Math.max(19, main)]));
    // V8's platform workers and libuv's pool (4) at least keep the loop's priority.
    expect(others.length).toBeGreaterThanOrEqual(8);
    expect(new Set(others)).toEqual(new Set([main]));
  });
});

describe('V8 heap flags', () => {
  it.runIf(process.platform === 'linux')('a node process has them on its command line and does not warn', () => {
    const argv = readFileSync(`/proc/${c.nodes[0]!.pid!}/cmdline`, 'utf8').split('\0');
    for (const f of NODE_FLAGS) expect(argv).toContain(f);
    expect(c.logs('n1')).not.toContain('started without');
  });

  it('the shoal bin sets the same flags in its shebang', () => {
    const shebang = readFileSync(join(repoRoot, 'bin/shoal.js'), 'utf8').split('\n')[0]!;
    expect(shebang.startsWith('#!/usr/bin/env -S node ')).toBe(true);
    expect(shebang.split(' ').slice(3)).toEqual([...NODE_FLAGS]);
  });

  it('a node started without them warns, naming them, and still serves', async () => {
    const node = startPlain({ default: { n: 1, r: 1, w: 1 } }, 30_000);
    try {
      await waitFor(() => node.io.out.includes('serving HTTP'), 'the node to serve', 25_000);
      expect(node.io.err).toContain('started without');
      for (const f of NODE_FLAGS) expect(node.io.err).toContain(f);
    } finally {
      await node.stop();
    }
  }, 40_000);
});

/**
 * `node bin/shoal.js start` as a user might type it (no V8 flags), for one node n1 with
 * these buckets in a temp directory; SIGKILLed after `killAfterMs` so a run never hangs.
 * stop() ends it and removes the directory.
 */
function startPlain(buckets: object, killAfterMs: number) {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-start-'));
  const path = join(dir, 'cfg.json');
  writeFileSync(path, JSON.stringify({
    secret: 'a-long-enough-test-secret',
    dataDir: join(dir, 'data'),
    nodes: [{ id: 'n1', host: '127.0.0.1', httpPort: 0, peerPort: 0 }],
    buckets,
  }));
  const child = spawn(process.execPath, ['bin/shoal.js', 'start', '--node', 'n1', '--config', path], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SHOAL_LOG: 'warn' },
  });
  const io = { out: '', err: '' };
  child.stdout.on('data', (d: Buffer) => (io.out = (io.out + d.toString()).slice(-4000)));
  child.stderr.on('data', (d: Buffer) => (io.err = (io.err + d.toString()).slice(-4000)));
  const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  const exited = new Promise<number | null>((res) =>
    child.once('exit', (code) => {
      clearTimeout(killer);
      res(code);
    }),
  );
  return {
    io,
    exited,
    async stop(): Promise<void> {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('start with a bad config', () => {
  it('exits non-zero with a message naming the field', async () => {
    const node = startPlain({ default: { n: 1, r: 1, w: 1 }, sessions: { mode: 'lww', replicas: 3 } }, 20_000);
    try {
      const code = await node.exited;
      expect(code).not.toBe(0);
      expect(code).not.toBeNull();
      expect(node.io.err).toContain('buckets.sessions');
      expect(node.io.err).toContain('replicas');
    } finally {
      await node.stop();
    }
  });
});
