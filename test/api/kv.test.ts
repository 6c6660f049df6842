// The HTTP API of one node (n = 1), through fastify's inject(): status codes, headers,
// siblings, contexts, TTL, and the 4xx answers to bad input.
import type { InjectOptions } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimCluster, type SimCluster } from '../helpers/sim-cluster.ts';

let c: SimCluster;

beforeEach(async () => {
  c = await startSimCluster(['n1'], 7, {
    config: {
      limits: { maxKeyBytes: 64, maxValueBytes: 1024, maxSiblings: 4 },
      buckets: {
        default: { n: 1, r: 1, w: 1 },
        cache: { mode: 'lww', ttlSeconds: 60 },
        hits: { type: 'counter' },
      },
    },
  });
});
afterEach(async () => c.stop());

type InjectOpts = InjectOptions;
const req = (opts: InjectOpts) => c.run(c.node('n1').app.inject(opts));

describe('KV over HTTP (one node)', () => {
  it('stores bytes with their content type and returns them with a context', async () => {
    const put = await req({ method: 'PUT', url: '/buckets/b/keys/k', payload: '{"a":1}', headers: { 'content-type': 'application/json' } });
    expect(put.statusCode).toBe(204);
    expect(put.headers['x-shoal-context']).toBeTypeOf('string');
    const get = await req({ method: 'GET', url: '/buckets/b/keys/k' });
    expect(get.statusCode).toBe(200);
    expect(get.headers['content-type']).toBe('application/json');
    expect(get.body).toBe('{"a":1}');
    expect(get.headers['x-shoal-context']).toBeTypeOf('string');
    expect(get.headers['x-shoal-replicas']).toBe('1/1');
  });

  it('keeps raw binary bodies intact', async () => {
    const bytes = Buffer.from([0, 255, 1, 254, 10, 13]);
    await req({ method: 'PUT', url: '/buckets/b/bin', payload: bytes, headers: { 'content-type': 'application/octet-stream' } });
    const get = await req({ method: 'GET', url: '/buckets/b/keys/bin' });
    expect(get.statusCode).toBe(404); // wrong path above on purpose: /keys/ missing
    await req({ method: 'PUT', url: '/buckets/b/keys/bin', payload: bytes, headers: { 'content-type': 'application/octet-stream' } });
    const ok = await req({ method: 'GET', url: '/buckets/b/keys/bin' });
    expect(Buffer.compare(ok.rawPayload, bytes)).toBe(0);
  });

  it('answers 404 for a key never written', async () => {
    const get = await req({ method: 'GET', url: '/buckets/b/keys/nope' });
    expect(get.statusCode).toBe(404);
    expect(get.json()).toMatchObject({ error: 'NOT_FOUND' });
  });

  it('turns two blind writes into siblings (300) and a write with the context resolves them', async () => {
    await req({ method: 'PUT', url: '/buckets/b/keys/s', payload: 'one', headers: { 'content-type': 'text/plain' } });
    await req({ method: 'PUT', url: '/buckets/b/keys/s', payload: 'two', headers: { 'content-type': 'text/plain' } });
    const get = await req({ method: 'GET', url: '/buckets/b/keys/s' });
    expect(get.statusCode).toBe(300);
    const body = get.json() as { siblings: { value: string; encoding: string }[]; context: string };
    expect(body.siblings.map((s) => s.value).sort()).toEqual(['one', 'two']);
    expect(body.siblings.every((s) => s.encoding === 'utf8')).toBe(true);
    expect(body.context).toBe(get.headers['x-shoal-context']);
    const put = await req({ method: 'PUT', url: '/buckets/b/keys/s', payload: 'merged', headers: { 'content-type': 'text/plain', 'x-shoal-context': body.context } });
    expect(put.statusCode).toBe(204);
    const after = await req({ method: 'GET', url: '/buckets/b/keys/s' });
    expect(after.statusCode).toBe(200);
    expect(after.body).toBe('merged');
  });

  it('a write with an old context becomes a sibling of what it did not see', async () => {
    await req({ method: 'PUT', url: '/buckets/b/keys/o', payload: 'v1' });
    const ctx1 = (await req({ method: 'GET', url: '/buckets/b/keys/o' })).headers['x-shoal-context'] as string;
    await req({ method: 'PUT', url: '/buckets/b/keys/o', payload: 'v2', headers: { 'x-shoal-context': ctx1 } });
    await req({ method: 'PUT', url: '/buckets/b/keys/o', payload: 'v3', headers: { 'x-shoal-context': ctx1 } });
    const get = await req({ method: 'GET', url: '/buckets/b/keys/o' });
    expect(get.statusCode).toBe(300);
    const values = (get.json() as { siblings: { value: string }[] }).siblings.map((s) => Buffer.from(s.value, 'base64').toString());
    expect(values.sort()).toEqual(['v2', 'v3']);
  });

  it('refuses a write that would exceed maxSiblings with 409, storing nothing', async () => {
    for (let i = 0; i < 4; i++) expect((await req({ method: 'PUT', url: '/buckets/b/keys/many', payload: `v${i}` })).statusCode).toBe(204);
    const fifth = await req({ method: 'PUT', url: '/buckets/b/keys/many', payload: 'v4' });
    expect(fifth.statusCode).toBe(409);
    expect(fifth.json()).toMatchObject({ error: 'TOO_MANY_SIBLINGS' });
    const local = await req({ method: 'GET', url: '/admin/local/buckets/b/keys/many' });
    expect((local.json() as { object: { siblings: unknown[] } }).object.siblings).toHaveLength(4);
  });

  it('resolves concurrent writes by timestamp in an lww bucket', async () => {
    await req({ method: 'PUT', url: '/buckets/cache/keys/k', payload: 'first' });
    await c.clock.runFor(5);
    await req({ method: 'PUT', url: '/buckets/cache/keys/k', payload: 'second' });
    const get = await req({ method: 'GET', url: '/buckets/cache/keys/k' });
    expect(get.statusCode).toBe(200);
    expect(get.body).toBe('second');
  });

  it('deletes with a tombstone: 404 afterwards, tombstone visible in the local view', async () => {
    await req({ method: 'PUT', url: '/buckets/b/keys/d', payload: 'x' });
    const ctx = (await req({ method: 'GET', url: '/buckets/b/keys/d' })).headers['x-shoal-context'] as string;
    const del = await req({ method: 'DELETE', url: '/buckets/b/keys/d', headers: { 'x-shoal-context': ctx } });
    expect(del.statusCode).toBe(204);
    const get = await req({ method: 'GET', url: '/buckets/b/keys/d' });
    expect(get.statusCode).toBe(404);
    expect(get.headers['x-shoal-context']).toBeTypeOf('string');
    const local = (await req({ method: 'GET', url: '/admin/local/buckets/b/keys/d' })).json() as { object: { siblings: { tombstone: boolean }[] } };
    expect(local.object.siblings).toEqual([expect.objectContaining({ tombstone: true })]);
  });

  it('buckets named like Object.prototype members are ordinary buckets', async () => {
    for (const bucket of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect((await req({ method: 'PUT', url: `/buckets/${bucket}/keys/k`, payload: 'v' })).statusCode).toBe(204);
      const get = await req({ method: 'GET', url: `/buckets/${bucket}/keys/k` });
      expect(get.statusCode).toBe(200);
      expect(get.body).toBe('v');
    }
  });

  it('a delete without a context supersedes nothing: it becomes a tombstone sibling', async () => {
    await req({ method: 'PUT', url: '/buckets/b/keys/blind', payload: 'one' });
    expect((await req({ method: 'DELETE', url: '/buckets/b/keys/blind' })).statusCode).toBe(204);
    const get = await req({ method: 'GET', url: '/buckets/b/keys/blind' });
    expect(get.statusCode).toBe(200);
    expect(get.body).toBe('one');
    const local = (await req({ method: 'GET', url: '/admin/local/buckets/b/keys/blind' })).json() as { object: { siblings: { tombstone: boolean }[] } };
    expect(local.object.siblings.map((s) => s.tombstone).sort()).toEqual([false, true]);
  });

  it('expires values after their ttl (query parameter or bucket default)', async () => {
    await req({ method: 'PUT', url: '/buckets/b/keys/t?ttl=2', payload: 'short' });
    await req({ method: 'PUT', url: '/buckets/cache/keys/t', payload: 'bucket-ttl' });
    expect((await req({ method: 'GET', url: '/buckets/b/keys/t' })).statusCode).toBe(200);
    await c.clock.runFor(2_500);
    expect((await req({ method: 'GET', url: '/buckets/b/keys/t' })).statusCode).toBe(404);
    expect((await req({ method: 'GET', url: '/buckets/cache/keys/t' })).statusCode).toBe(200);
    await c.clock.runFor(60_000);
    expect((await req({ method: 'GET', url: '/buckets/cache/keys/t' })).statusCode).toBe(404);
  });

  it('reports object cache hits and misses, cache size and engine writes in /metrics', async () => {
    const metric = async (re: RegExp) => {
      const m = re.exec((await req({ method: 'GET', url: '/metrics' })).body);
      if (m === null) throw new Error(`no ${re} in /metrics`);
      return Number(m[1]);
    };
    const hits = () => metric(/^shoal_object_cache_lookups_total\{result="hit",node="n1"\} (\d+)$/m);
    const misses = () => metric(/^shoal_object_cache_lookups_total\{result="miss",node="n1"\} (\d+)$/m);
    const [h0, m0] = [await hits(), await misses()];
    // A new key: not cached, and the anti-entropy index knows it is absent (no engine read).
    await req({ method: 'PUT', url: '/buckets/b/keys/m', payload: 'v' });
    expect([await hits(), await misses()]).toEqual([h0, m0 + 1]);
    await req({ method: 'GET', url: '/buckets/b/keys/m' });
    await req({ method: 'GET', url: '/buckets/b/keys/m' });
    expect([await hits(), await misses()]).toEqual([h0 + 2, m0 + 1]);
    expect(await metric(/^shoal_object_cache_entries\{node="n1"\} (\d+)$/m)).toBe(1);
    expect(await metric(/^shoal_object_cache_bytes\{node="n1"\} (\d+)$/m)).toBeGreaterThan(600);
    expect(await metric(/^shoal_storage_ops_total\{op="write",node="n1"\} (\d+)$/m)).toBe(1);
    expect(await metric(/^shoal_storage_ops_total\{op="read",node="n1"\} (\d+)$/m)).toBe(0);
  });

  describe('bad input gets a 4xx with a message and stores nothing', () => {
    const cases: [string, InjectOpts, number, string][] = [
      ['forged context', { method: 'PUT', url: '/buckets/b/keys/x', payload: 'v', headers: { 'x-shoal-context': 'AAAAbm90LWEtY29udGV4dA' } }, 400, 'INVALID_CONTEXT'],
      ['garbage context', { method: 'PUT', url: '/buckets/b/keys/x', payload: 'v', headers: { 'x-shoal-context': '!!!***' } }, 400, 'INVALID_CONTEXT'],
      ['r > n', { method: 'GET', url: '/buckets/b/keys/x?r=2' }, 400, 'INVALID_QUORUM'],
      ['w > n', { method: 'PUT', url: '/buckets/b/keys/x?w=all&pw=5', payload: 'v' }, 400, 'INVALID_QUORUM'],
      ['r not a number', { method: 'GET', url: '/buckets/b/keys/x?r=lots' }, 400, 'INVALID_QUORUM'],
      ['bad timeout', { method: 'GET', url: '/buckets/b/keys/x?timeout=-1' }, 400, 'INVALID_QUORUM'],
      ['bad ttl', { method: 'PUT', url: '/buckets/b/keys/x?ttl=abc', payload: 'v' }, 400, 'BAD_REQUEST'],
      ['oversized key', { method: 'PUT', url: `/buckets/b/keys/${'k'.repeat(65)}`, payload: 'v' }, 413, 'KEY_TOO_LARGE'],
      ['oversized value', { method: 'PUT', url: '/buckets/b/keys/x', payload: 'v'.repeat(1025) }, 413, 'VALUE_TOO_LARGE'],
      ['bad bucket name', { method: 'PUT', url: '/buckets/b%20b/keys/x', payload: 'v' }, 400, 'INVALID_KEY'],
      ['kv op on a counter bucket', { method: 'PUT', url: '/buckets/hits/keys/x', payload: 'v' }, 400, 'WRONG_BUCKET_TYPE'],
    ];
    for (const [name, opts, status, code] of cases) {
      it(name, async () => {
        const res = await req(opts);
        expect(res.statusCode).toBe(status);
        const body = res.json() as { error: string; message: string };
        expect(body.error).toBe(code);
        expect(body.message.length).toBeGreaterThan(5);
        const local = await req({ method: 'GET', url: '/admin/local/buckets/b/keys/x' });
        expect(local.statusCode).toBe(404);
      });
    }

    it('a context taken from another key is refused', async () => {
      await req({ method: 'PUT', url: '/buckets/b/keys/a', payload: 'v' });
      const ctx = (await req({ method: 'GET', url: '/buckets/b/keys/a' })).headers['x-shoal-context'] as string;
      const res = await req({ method: 'PUT', url: '/buckets/b/keys/x', payload: 'v', headers: { 'x-shoal-context': ctx } });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'INVALID_CONTEXT' });
    });

    it('unknown routes are JSON 404s and the node keeps serving', async () => {
      const res = await req({ method: 'GET', url: '/nope' });
      expect(res.statusCode).toBe(404);
      expect((await req({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    });
  });
});
