// Security settings: bearer tokens, rate limits, TLS for HTTP and for peer links, the
// header-size bound, and the refusal to expose the example secret beyond loopback.
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EXAMPLE_SECRET } from '../../src/api/security.ts';
import { parseConfig } from '../../src/config.ts';
import { MsgType } from '../../src/net/messages.ts';
import { createWsTransport, type WsTransport } from '../../src/net/ws-transport.ts';
import { ShoalNode } from '../../src/node.ts';
import { silentLogger } from '../../src/runtime/logger.ts';
import { MemoryEngine } from '../../src/storage/memory.ts';
import { startSimCluster, type SimCluster } from '../helpers/sim-cluster.ts';

const TLS_DIR = join(import.meta.dirname, '../fixtures/tls');
const cert = readFileSync(join(TLS_DIR, 'cert.pem'));
const key = readFileSync(join(TLS_DIR, 'key.pem'));

let c: SimCluster | undefined;
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  await c?.stop();
  c = undefined;
  for (const f of cleanup.splice(0)) await f();
});

const one = { default: { n: 1, r: 1, w: 1 } };

describe('bearer tokens', () => {
  it('data routes need the http token, operator routes the admin token, /health neither', async () => {
    c = await startSimCluster(['n1'], 3, {
      config: { buckets: one, security: { httpToken: 'data-token-0123456789', adminToken: 'admin-token-0123456789' } },
    });
    const inject = (url: string, token?: string) =>
      c!.run(c!.node('n1').app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} }));
    expect((await inject('/health')).statusCode).toBe(200);
    const anon = await inject('/buckets/b/keys/k');
    expect(anon.statusCode).toBe(401);
    expect(anon.json()).toMatchObject({ error: 'UNAUTHORIZED' });
    expect((await inject('/buckets/b/keys/k', 'wrong-token-0123456789')).statusCode).toBe(401);
    expect((await inject('/buckets/b/keys/k', 'data-token-0123456789')).statusCode).toBe(404);
    expect((await inject('/cluster/members', 'data-token-0123456789')).statusCode).toBe(401);
    expect((await inject('/cluster/members', 'admin-token-0123456789')).statusCode).toBe(200);
    expect((await inject('/metrics', 'admin-token-0123456789')).statusCode).toBe(200);
  });
});

describe('rate limit', () => {
  it('answers 429 RATE_LIMITED past the configured requests per window', async () => {
    c = await startSimCluster(['n1'], 4, { config: { buckets: one, security: { rateLimit: { max: 3, windowMs: 60_000 } } } });
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) codes.push((await c.run(c.node('n1').app.inject({ method: 'GET', url: '/buckets/b/keys/k' }))).statusCode);
    expect(codes).toEqual([404, 404, 404, 429, 429]);
    const res = await c.run(c.node('n1').app.inject({ method: 'GET', url: '/buckets/b/keys/k' }));
    expect(res.json()).toMatchObject({ error: 'RATE_LIMITED' });
  });
});

function nodeConfig(overrides: Record<string, unknown>, host = '127.0.0.1') {
  return parseConfig({
    secret: 'test-secret-0123456789',
    nodes: [{ id: 'n1', host, httpPort: 0, peerPort: 0 }],
    storage: { engine: 'memory' },
    buckets: one,
    ...overrides,
  });
}

async function startNode(config: ReturnType<typeof nodeConfig>): Promise<ShoalNode> {
  const node = await ShoalNode.create({ config, nodeId: 'n1', engine: new MemoryEngine(), httpPort: 0, peerPort: 0 });
  await node.start();
  cleanup.push(() => node.stop());
  return node;
}

describe('the example secret', () => {
  it('is refused on a non-loopback address, with the reason', async () => {
    const config = nodeConfig({ secret: EXAMPLE_SECRET }, '0.0.0.0');
    await expect(ShoalNode.create({ config, nodeId: 'n1', engine: new MemoryEngine() })).rejects.toThrow(/example secret/);
  });
  it('is accepted on loopback (the local npm start cluster)', async () => {
    const node = await startNode(nodeConfig({ secret: EXAMPLE_SECRET }));
    expect(node.httpUrl()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});

describe('HTTP over TLS and the header bound', () => {
  it('serves HTTPS with the configured certificate', async () => {
    const dir = TLS_DIR;
    const node = await startNode(nodeConfig({ security: { httpTls: { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') } } }));
    const port = new URL(node.httpUrl()!).port;
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, path: '/health', ca: cert }, (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve(data));
      });
      req.on('error', reject);
      req.end();
    });
    expect(JSON.parse(body)).toMatchObject({ status: 'ok' });
  });

  it('refuses headers beyond maxHeaderBytes with 431 and keeps serving', async () => {
    const node = await startNode(nodeConfig({ security: { maxHeaderBytes: 4096 } }));
    const port = new URL(node.httpUrl()!).port;
    const status = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path: '/health', headers }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    // A raw socket, so the whole answer is read even though the server closes right after it.
    const raw = await new Promise<string>((resolve, reject) => {
      const sock = connect(Number(port), '127.0.0.1', () => {
        sock.write(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`);
      });
      let data = '';
      sock.on('data', (d) => (data += d));
      sock.on('close', () => resolve(data));
      sock.on('error', reject);
      sock.setTimeout(3000, () => sock.destroy());
    });
    expect(raw).toMatch(/^HTTP\/1\.1 431/);
    expect(await status({})).toBe(200);
  });
});

describe('peer links over TLS (wss)', () => {
  it('two transports with the cluster certificate talk; a plain ws client cannot', async () => {
    const tls = { cert, key, ca: cert };
    const make = (self: string, withTls: boolean): WsTransport =>
      createWsTransport({ self, secret: 'test-secret-0123456789', listen: { host: '127.0.0.1', port: 0 }, log: silentLogger, connectTimeoutMs: 1000, handshakeTimeoutMs: 1000, ...(withTls && { tls }) });
    const a = make('a', true);
    const b = make('b', true);
    const plain = make('p', false);
    b.onRequest(async (_from, msg) => ({ t: MsgType.TEST_ECHO, echo: msg['x'] }));
    for (const t of [a, b, plain]) {
      await t.start();
      cleanup.push(() => t.stop());
    }
    a.setPeerAddress('b', b.address());
    const reply = await a.call('b', { t: MsgType.TEST_ECHO, x: 42 }, 2000);
    expect(reply['echo']).toBe(42);
    plain.setPeerAddress('b', b.address());
    await expect(plain.call('b', { t: MsgType.TEST_ECHO, x: 1 }, 1500)).rejects.toThrow();
  });
});
