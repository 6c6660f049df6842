import { createHmac, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { realClock } from '../../src/runtime/clock.ts';
import { memoryLogger, type LogRecord } from '../../src/runtime/logger.ts';
import { createWsTransport, CloseCode, type WsTransport, type WsTransportOptions } from '../../src/net/ws-transport.ts';
import { FrameKind, PROTOCOL_VERSION, decodeFrame, encodeFrame } from '../../src/net/frame.ts';
import { MsgType } from '../../src/net/messages.ts';
import { PeerError, type Message, type PeerAddress } from '../../src/net/transport.ts';
import { CONTRACT_MAX_QUEUED, transportContract, type ContractHarness } from './transport-contract.ts';

const SECRET = 'cluster-secret';
const echo = (fields: Record<string, unknown>): Message => ({ t: MsgType.TEST_ECHO, ...fields });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Every transport made here is stopped after its test. */
const live: WsTransport[] = [];
async function node(
  self: string,
  extra: Partial<WsTransportOptions> = {},
): Promise<WsTransport & { records: LogRecord[] }> {
  const log = memoryLogger();
  const t = createWsTransport({
    self,
    secret: SECRET,
    listen: { host: '127.0.0.1', port: 0 },
    handshakeTimeoutMs: 1_000,
    connectTimeoutMs: 1_000,
    backoff: { minMs: 10, maxMs: 50 },
    log,
    ...extra,
  });
  live.push(t);
  await t.start();
  return Object.assign(t, { records: log.records });
}

function link(...ts: WsTransport[]): void {
  for (const x of ts) for (const y of ts) if (x !== y) x.setPeerAddress(y.self, y.address());
}

async function until(pred: () => boolean, maxMs: number): Promise<boolean> {
  for (let waitedMs = 0; waitedMs <= maxMs; waitedMs += 5) {
    if (pred()) return true;
    await sleep(5);
  }
  return pred();
}

afterEach(async () => {
  await Promise.all(live.splice(0).map((t) => t.stop()));
});

transportContract('WebSocket', async (): Promise<ContractHarness> => {
  const a = await node('a', { maxQueuedPerPeer: CONTRACT_MAX_QUEUED });
  const b = await node('b', { maxQueuedPerPeer: CONTRACT_MAX_QUEUED });
  link(a, b);
  return { a, b, clock: realClock, drive: (p) => p, until, close: async () => {} };
});

const logged = (records: LogRecord[], re: RegExp): boolean =>
  records.some((r) => re.test(`${r.msg} ${JSON.stringify(r.obj)}`));

interface RawConn {
  ws: WebSocket;
  frames: Message[];
  closed: Promise<{ code: number; reason: string }>;
}

/** A bare WebSocket client that speaks the wire protocol by hand. */
async function rawConnect(addr: PeerAddress): Promise<RawConn> {
  const ws = new WebSocket(`ws://${addr.host}:${addr.port}/`);
  const frames: Message[] = [];
  ws.on('message', (d: Buffer) => frames.push(decodeFrame(d).body));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  expect(await until(() => frames.length > 0, 2_000)).toBe(true);
  return { ws, frames, closed };
}

/** Completes the client side of the handshake with `secret`, as node `self`. */
async function rawHandshake(addr: PeerAddress, self: string, secret: string): Promise<RawConn> {
  const raw = await rawConnect(addr);
  const hello = raw.frames[0]!;
  expect(hello.t).toBe(MsgType.HELLO);
  const ns = hello['nonce'] as Uint8Array;
  const nc = randomBytes(32);
  const proof = createHmac('sha256', secret)
    .update('shoal-v1|c|')
    .update(ns)
    .update(nc)
    .update(`|${self}|${String(hello['server'])}`)
    .digest();
  raw.ws.send(encodeFrame({ kind: FrameKind.ONEWAY, id: 0, body: { t: MsgType.CHALLENGE, client: self, nonce: nc, proof } }));
  return raw;
}

describe('WebSocket transport: handshake', () => {
  it('a peer with the wrong secret is refused and reaches no handler', async () => {
    const b = await node('b');
    let handled = 0;
    b.onRequest(async () => {
      handled++;
      return echo({});
    });
    b.onMessage(() => handled++);
    const intruder = await node('x', { secret: 'wrong' });
    link(intruder, b);
    intruder.send('b', echo({}));
    const err = await intruder.call('b', echo({}), 5_000).catch((e: PeerError) => e);
    expect(err).toBeInstanceOf(PeerError);
    expect((err as PeerError).code).toBe('UNREACHABLE');
    expect(await until(() => logged(b.records, /bad proof from x/), 2_000)).toBe(true);
    expect(handled).toBe(0);
  });

  it('a server with the wrong secret is refused by the dialling client', async () => {
    const fake = await node('b', { secret: 'wrong' });
    let handled = 0;
    fake.onRequest(async () => {
      handled++;
      return echo({});
    });
    const a = await node('a');
    link(a, fake);
    const err = await a.call('b', echo({}), 5_000).catch((e: PeerError) => e);
    expect((err as PeerError).code).toBe('UNREACHABLE');
    expect(await until(() => logged(fake.records, /bad proof from a/), 2_000)).toBe(true);
    expect(handled).toBe(0);
  });

  it('the client checks the server proof (a server that accepts anyone is refused)', async () => {
    // A rogue server that skips verification and answers with a made-up proof.
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', r));
    let requests = 0;
    wss.on('connection', (ws) => {
      ws.send(encodeFrame({ kind: FrameKind.ONEWAY, id: 0, body: { t: MsgType.HELLO, server: 'b', nonce: randomBytes(32) } }));
      ws.on('message', (d: Buffer) => {
        const f = decodeFrame(d);
        if (f.body.t === MsgType.CHALLENGE) {
          ws.send(encodeFrame({ kind: FrameKind.ONEWAY, id: 0, body: { t: MsgType.PROOF, proof: randomBytes(32) } }));
        } else requests++;
      });
    });
    try {
      const a = await node('a');
      a.setPeerAddress('b', { host: '127.0.0.1', port: (wss.address() as AddressInfo).port });
      const err = await a.call('b', echo({}), 5_000).catch((e: PeerError) => e);
      expect((err as PeerError).code).toBe('UNREACHABLE');
      expect(logged(a.records, /bad proof from b/)).toBe(true);
      expect(requests).toBe(0);
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    }
  });

  it('refuses a node answering at the address under another id', async () => {
    const c = await node('c');
    const a = await node('a');
    a.setPeerAddress('b', c.address());
    const err = await a.call('b', echo({}), 5_000).catch((e: PeerError) => e);
    expect((err as PeerError).code).toBe('UNREACHABLE');
    expect(logged(a.records, /dialled b but reached c/)).toBe(true);
  });

  it('a client that never completes the handshake is closed', async () => {
    const b = await node('b', { handshakeTimeoutMs: 100 });
    const raw = await rawConnect(b.address());
    expect(raw.frames[0]?.t).toBe(MsgType.HELLO);
    expect(await raw.closed).toEqual({ code: CloseCode.HANDSHAKE_TIMEOUT, reason: 'handshake timeout' });
  });

  it('a request before the handshake closes the connection and reaches no handler', async () => {
    const b = await node('b');
    let handled = 0;
    b.onRequest(async () => {
      handled++;
      return echo({});
    });
    const raw = await rawConnect(b.address());
    raw.ws.send(encodeFrame({ kind: FrameKind.REQUEST, id: 1, body: echo({}) }));
    const { code, reason } = await raw.closed;
    expect(code).toBe(CloseCode.PROTOCOL);
    expect(reason).toMatch(/TEST_ECHO before handshake/);
    expect(handled).toBe(0);
  });

  it('a hand-made client with the right secret gets answers (the wire format is pinned)', async () => {
    const b = await node('b');
    b.onRequest(async (from, msg) => echo({ from, x: msg['x'] }));
    const raw = await rawHandshake(b.address(), 'r', SECRET);
    expect(await until(() => raw.frames.length >= 2, 2_000)).toBe(true);
    expect(raw.frames[1]?.t).toBe(MsgType.PROOF);
    raw.ws.send(encodeFrame({ kind: FrameKind.REQUEST, id: 7, body: echo({ x: 1 }) }));
    expect(await until(() => raw.frames.length >= 3, 2_000)).toBe(true);
    expect(raw.frames[2]).toEqual(echo({ from: 'r', x: 1 }));
    raw.ws.close();
  });
});

describe('WebSocket transport: bad frames', () => {
  const packr = new Packr({ useRecords: false });
  const cases: Array<[string, (maxBytes: number) => Buffer, RegExp]> = [
    ['random bytes', () => Buffer.from([0xc1, ...randomBytes(64)]), /bad frame \(decode\)/],
    ['msgpack of the wrong shape', () => packr.pack({ hello: 'world' }), /bad frame \(shape\)/],
    ['wrong protocol version', () => packr.pack([PROTOCOL_VERSION + 1, 0, 1, echo({})]), /bad frame \(version\)/],
    ['unknown message type', () => packr.pack([PROTOCOL_VERSION, FrameKind.REQUEST, 1, { t: 59 }]), /bad frame \(type\)/],
    ['oversized frame', (max) => packr.pack([PROTOCOL_VERSION, FrameKind.ONEWAY, 0, echo({ pad: Buffer.alloc(max) })]), /Max payload size exceeded/],
  ];
  for (const [name, make, why] of cases) {
    it(`${name} closes that connection; the node still serves a good peer`, async () => {
      const maxFrameBytes = 64 * 1024;
      const b = await node('b', { maxFrameBytes });
      const a = await node('a', { maxFrameBytes });
      link(a, b);
      let handled = 0;
      b.onRequest(async () => {
        handled++;
        return echo({ ok: true });
      });
      expect(await a.call('b', echo({}), 5_000)).toEqual(echo({ ok: true }));
      const raw = await rawHandshake(b.address(), 'r', SECRET);
      expect(await until(() => raw.frames.length >= 2, 2_000)).toBe(true);
      raw.ws.send(make(maxFrameBytes));
      const { code } = await raw.closed;
      expect([CloseCode.BAD_FRAME, 1009]).toContain(code);
      expect(await until(() => logged(b.records, why), 2_000)).toBe(true);
      expect(handled).toBe(1);
      expect(await a.call('b', echo({}), 5_000)).toEqual(echo({ ok: true }));
    });
  }

  it('refuses to send a frame over maxFrameBytes', async () => {
    const a = await node('a', { maxFrameBytes: 1024 });
    const b = await node('b');
    link(a, b);
    await expect(a.call('b', echo({ pad: Buffer.alloc(2048) }), 5_000)).rejects.toThrow(/exceeds 1024/);
  });
});

describe('WebSocket transport: flow control and faults', () => {
  it('rejects with BACKPRESSURE when the socket buffer is over its byte bound', async () => {
    const a = await node('a', { maxBufferedBytes: 64 * 1024, maxFrameBytes: 32 * 1024 * 1024 });
    const b = await node('b', { maxFrameBytes: 32 * 1024 * 1024 });
    link(a, b);
    b.onRequest(async () => echo({}));
    await a.call('b', echo({}), 5_000); // connect first
    // Both ends share this thread, so b cannot drain until we yield: most of 24 MiB stays
    // in a's user-space buffer, far above the 64 KiB bound.
    const big = a.call('b', echo({ pad: Buffer.alloc(24 * 1024 * 1024) }), 10_000);
    const err = await a.call('b', echo({}), 5_000).catch((e: PeerError) => e);
    expect((err as PeerError).code).toBe('BACKPRESSURE');
    await big;
  });

  it('reconnects after the peer restarts on the same port', async () => {
    const a = await node('a');
    const b = await node('b');
    link(a, b);
    b.onRequest(async () => echo({ gen: 1 }));
    expect(await a.call('b', echo({}), 5_000)).toEqual(echo({ gen: 1 }));
    const port = b.address().port;
    await b.stop();
    const down = await a.call('b', echo({}), 5_000).catch((e: PeerError) => e);
    expect((down as PeerError).code).toBe('UNREACHABLE');
    const b2 = await node('b', { listen: { host: '127.0.0.1', port } });
    b2.onRequest(async () => echo({ gen: 2 }));
    let res: Message | undefined;
    for (let attempt = 0; attempt < 100 && !res; attempt++) {
      res = await a.call('b', echo({}), 1_000).catch(async (e: PeerError) => {
        expect(e.code).toBe('UNREACHABLE'); // fails fast while backing off
        await sleep(10);
        return undefined;
      });
    }
    expect(res).toEqual(echo({ gen: 2 }));
  });

  it('the link filter drops frames both ways until cleared', async () => {
    const a = await node('a');
    const b = await node('b');
    link(a, b);
    const atA: Message[] = [];
    a.onMessage((_f, m) => atA.push(m));
    b.onRequest(async () => echo({}));
    await a.call('b', echo({}), 5_000);
    a.setLinkFilter((peer) => (peer === 'b' ? 'drop' : 'pass'));
    const err = await a.call('b', echo({}), 100).catch((e: PeerError) => e);
    expect((err as PeerError).code).toBe('TIMEOUT');
    b.send('a', echo({ n: 1 })); // dropped on arrival at a
    await sleep(50);
    expect(atA).toEqual([]);
    a.setLinkFilter(null);
    expect(await a.call('b', echo({}), 5_000)).toEqual(echo({}));
    b.send('a', echo({ n: 2 }));
    expect(await until(() => atA.length === 1, 2_000)).toBe(true);
    expect(atA).toEqual([echo({ n: 2 })]);
  });

  it('simultaneous dials settle on one connection and lose no call', async () => {
    for (let round = 0; round < 5; round++) {
      const a = await node(`a${round}`);
      const b = await node(`b${round}`);
      link(a, b);
      a.onRequest(async () => echo({ by: 'a' }));
      b.onRequest(async () => echo({ by: 'b' }));
      const calls = [
        ...Array.from({ length: 10 }, () => a.call(b.self, echo({}), 5_000)),
        ...Array.from({ length: 10 }, () => b.call(a.self, echo({}), 5_000)),
      ];
      const res = await Promise.all(calls);
      expect(res.filter((m) => m['by'] === 'b')).toHaveLength(10);
      expect(res.filter((m) => m['by'] === 'a')).toHaveLength(10);
      // Both sides kept the same connection: later calls keep working both ways.
      await sleep(20);
      expect(await a.call(b.self, echo({}), 5_000)).toEqual(echo({ by: 'b' }));
      expect(await b.call(a.self, echo({}), 5_000)).toEqual(echo({ by: 'a' }));
    }
  });
});
