// CRDT buckets over HTTP on one node: counters, sets, registers, flags, maps; the 400/412
// answers to bad operations; nothing stored by a rejected request.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimCluster, type SimCluster } from '../helpers/sim-cluster.ts';

let c: SimCluster;
beforeEach(async () => {
  c = await startSimCluster(['n1'], 11, {
    config: {
      buckets: {
        default: { n: 1, r: 1, w: 1 },
        hits: { type: 'counter' },
        tags: { type: 'set' },
        names: { type: 'register' },
        switches: { type: 'flag' },
        profiles: { type: 'map' },
      },
    },
  });
});
afterEach(async () => c.stop());

const req = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) =>
  c.run(c.node('n1').app.inject({ method, url, ...(payload === undefined ? {} : { payload: payload as object }) }));

describe('CRDT buckets over HTTP', () => {
  it('counter: increments and decrements; 404 before the first write', async () => {
    expect((await req('GET', '/buckets/hits/counters/page')).statusCode).toBe(404);
    expect((await req('POST', '/buckets/hits/counters/page', { increment: 5 })).statusCode).toBe(204);
    expect((await req('POST', '/buckets/hits/counters/page', { increment: -2 })).statusCode).toBe(204);
    const res = await req('GET', '/buckets/hits/counters/page');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ value: 3 });
  });

  it('counter: a retried operation with the same id counts once; returnvalue gives the new value', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await req('POST', '/buckets/hits/counters/retry?returnvalue=true', { increment: 7, id: 'op-1' });
      expect(r.statusCode).toBe(200);
      expect(r.json()).toMatchObject({ value: 7 });
    }
    await req('POST', '/buckets/hits/counters/retry', { increment: 1, id: 'op-2' });
    expect((await req('GET', '/buckets/hits/counters/retry')).json()).toEqual({ value: 8 });
  });

  it('set: add, remove what the context saw, 412 for what it never saw', async () => {
    await req('POST', '/buckets/tags/sets/t', { add: ['a', 'b'] });
    const read = (await req('GET', '/buckets/tags/sets/t')).json() as { value: string[]; context: string };
    expect(read.value).toEqual(['a', 'b']);
    expect(read.context).toBeTypeOf('string');
    expect((await req('POST', '/buckets/tags/sets/t', { remove: ['a'], context: read.context })).statusCode).toBe(204);
    expect((await req('GET', '/buckets/tags/sets/t')).json()).toMatchObject({ value: ['b'] });
    const unseen = await req('POST', '/buckets/tags/sets/t', { remove: ['zzz'], context: read.context });
    expect(unseen.statusCode).toBe(412);
    expect(unseen.json()).toMatchObject({ error: 'PRECONDITION_FAILED' });
  });

  it('set: concurrent add wins over a remove that did not observe it', async () => {
    await req('POST', '/buckets/tags/sets/aw', { add: ['x'] });
    const ctx = ((await req('GET', '/buckets/tags/sets/aw')).json() as { context: string }).context;
    await req('POST', '/buckets/tags/sets/aw', { add: ['x'] }); // a second add the remove never saw
    await req('POST', '/buckets/tags/sets/aw', { remove: ['x'], context: ctx });
    expect((await req('GET', '/buckets/tags/sets/aw')).json()).toMatchObject({ value: ['x'] });
  });

  it('register, flag and map', async () => {
    await req('POST', '/buckets/names/registers/r', { assign: 'alice' });
    await req('POST', '/buckets/names/registers/r', { assign: 'bob' });
    expect((await req('GET', '/buckets/names/registers/r')).json()).toEqual({ value: 'bob' });

    await req('POST', '/buckets/switches/flags/f', { enable: true });
    const f = (await req('GET', '/buckets/switches/flags/f')).json() as { value: boolean; context: string };
    expect(f.value).toBe(true);
    await req('POST', '/buckets/switches/flags/f', { disable: true, context: f.context });
    expect((await req('GET', '/buckets/switches/flags/f')).json()).toMatchObject({ value: false });

    const op = { update: { visits: { type: 'counter', op: { increment: 2 } }, name: { type: 'register', op: { assign: 'ann' } } } };
    expect((await req('POST', '/buckets/profiles/maps/m', op)).statusCode).toBe(204);
    const m = (await req('GET', '/buckets/profiles/maps/m')).json() as { value: Record<string, unknown>; context: string };
    expect(m.value).toEqual({ visits: { type: 'counter', value: 2 }, name: { type: 'register', value: 'ann' } });
    await req('POST', '/buckets/profiles/maps/m', { remove: ['name'], context: m.context });
    expect(((await req('GET', '/buckets/profiles/maps/m')).json() as { value: object }).value).toEqual({ visits: { type: 'counter', value: 2 } });
  });

  describe('bad operations get a 400 with a message and store nothing', () => {
    const cases: [string, string, unknown, string][] = [
      ['non-integer increment', '/buckets/hits/counters/bad', { increment: 1.5 }, 'BAD_OPERATION'],
      ['string increment', '/buckets/hits/counters/bad', { increment: '1' }, 'BAD_OPERATION'],
      ['unknown field type in a map', '/buckets/profiles/maps/bad', { update: { f: { type: 'matrix', op: {} } } }, 'BAD_OPERATION'],
      ['junk set op', '/buckets/tags/sets/bad', { add: 'not-an-array' }, 'BAD_OPERATION'],
      ['not an object', '/buckets/hits/counters/bad', [1, 2], 'BAD_OPERATION'],
      ['forged context', '/buckets/tags/sets/bad', { remove: ['a'], context: 'Zm9yZ2Vk' }, 'INVALID_CONTEXT'],
      ['set op on a counter bucket', '/buckets/hits/sets/bad', { add: ['a'] }, 'WRONG_BUCKET_TYPE'],
      ['counter op on a kv bucket', '/buckets/plain/counters/bad', { increment: 1 }, 'WRONG_BUCKET_TYPE'],
    ];
    for (const [name, url, body, code] of cases) {
      it(name, async () => {
        const res = await req('POST', url, body);
        expect(res.statusCode).toBe(400);
        expect(res.json()).toMatchObject({ error: code });
        expect((res.json() as { message: string }).message.length).toBeGreaterThan(5);
        const [, , bucket, kind] = url.split('/');
        const read = await req('GET', `/buckets/${bucket}/${kind}/bad`);
        expect([400, 404]).toContain(read.statusCode);
      });
    }

    it('a set context from another key is refused', async () => {
      await req('POST', '/buckets/tags/sets/one', { add: ['a'] });
      const ctx = ((await req('GET', '/buckets/tags/sets/one')).json() as { context: string }).context;
      await req('POST', '/buckets/tags/sets/two', { add: ['a'] });
      const res = await req('POST', '/buckets/tags/sets/two', { remove: ['a'], context: ctx });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'INVALID_CONTEXT' });
      expect((await req('GET', '/buckets/tags/sets/two')).json()).toMatchObject({ value: ['a'] });
    });

    it('a KV write on a CRDT bucket is refused', async () => {
      const res = await req('PUT', '/buckets/hits/keys/x', 'v');
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'WRONG_BUCKET_TYPE' });
    });
  });
});
