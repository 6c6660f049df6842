// Peer socket fuzzing (issue 6): random bytes, random msgpack values, well-formed frames of
// every kind and type sent without (or with a wrong) handshake, and a flood from one
// connection. Each bad connection is closed, nothing reaches the handlers, and the node
// keeps serving a real peer afterwards.
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { FrameKind, PROTOCOL_VERSION } from '../../src/net/frame.ts';
import { MsgType } from '../../src/net/messages.ts';
import { seedFromEnv } from '../../src/net/sim.ts';
import { createWsTransport, type WsTransport } from '../../src/net/ws-transport.ts';
import { silentLogger } from '../../src/runtime/logger.ts';

const packr = new Packr({ useRecords: false });
let target: WsTransport;
let friend: WsTransport;
let handled = 0;

beforeAll(async () => {
  const make = (self: string) =>
    createWsTransport({ self, secret: 'fuzz-secret-0123456789', listen: { host: '127.0.0.1', port: 0 }, log: silentLogger, handshakeTimeoutMs: 500, connectTimeoutMs: 1000 });
  target = make('target');
  friend = make('friend');
  target.onRequest(async () => {
    handled++;
    return { t: MsgType.TEST_ECHO };
  });
  target.onMessage(() => {
    handled++;
  });
  await target.start();
  await friend.start();
  friend.setPeerAddress('target', target.address());
});
afterAll(async () => {
  await friend.stop();
  await target.stop();
});

/** Opens a raw socket, sends `frames`, resolves once the node closes it (bounded wait). */
function sendRaw(frames: readonly Uint8Array[], waitMs = 2000): Promise<'closed' | 'still-open'> {
  const { host, port } = target.address();
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://${host}:${port}/`);
    const timer = setTimeout(() => {
      ws.terminate();
      resolve('still-open');
    }, waitMs);
    ws.on('open', () => {
      for (const f of frames) if (ws.readyState === WebSocket.OPEN) ws.send(f);
    });
    ws.on('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
    ws.on('error', () => {});
  });
}

const msgTypes = Object.values(MsgType);
const frameKinds = Object.values(FrameKind);
const wellFormedFrame = fc
  .tuple(fc.constantFrom(...frameKinds), fc.nat(1000), fc.constantFrom(...msgTypes, 99, 0, -1), fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }))
  .map(([kind, id, t, fields]) => packr.pack([PROTOCOL_VERSION, kind, id, { ...fields, t }]) as Uint8Array);
const garbage = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 200 }),
  fc.anything().map((v) => packr.pack(v) as Uint8Array),
  wellFormedFrame,
  fc.constant(packr.pack([PROTOCOL_VERSION + 7, 0, 1, { t: MsgType.TEST_ECHO }]) as Uint8Array),
);

describe('peer socket fuzzing', () => {
  it('closes every connection that sends anything but a handshake, and serves a real peer after', async () => {
    let stillOpen = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(garbage, { minLength: 1, maxLength: 4 }), async (frames) => {
        if ((await sendRaw(frames)) === 'still-open') stillOpen++;
      }),
      { numRuns: 150, seed: seedFromEnv(), interruptAfterTimeLimit: 40_000 },
    );
    expect(stillOpen).toBe(0);
    expect(handled).toBe(0);
    const reply = await friend.call('target', { t: MsgType.TEST_ECHO }, 2000);
    expect(reply.t).toBe(MsgType.TEST_ECHO);
    expect(handled).toBe(1);
  }, 60_000);

  it('a frame whose error message is long multibyte text is closed with a reason that fits', async () => {
    // The decode error quotes the bytes read: 'a' then 60 two-byte characters, so the
    // reason's 123rd byte falls inside a character. Cut there, it once grew past 123 bytes
    // and ws threw from close(), killing the node.
    const frame = Buffer.concat([packr.pack('a' + 'é'.repeat(60)), Buffer.of(1)]);
    const { host, port } = target.address();
    const ws = new WebSocket(`ws://${host}:${port}/`);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      ws.on('error', () => {});
    });
    ws.on('open', () => ws.send(frame));
    const { code, reason } = await closed;
    expect(code).toBe(4003);
    expect(reason).toMatch(/^bad frame \(decode\): not msgpack/);
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
    const reply = await friend.call('target', { t: MsgType.TEST_ECHO }, 2000);
    expect(reply.t).toBe(MsgType.TEST_ECHO);
  });

  it('a flood of frames from one unauthenticated connection is cut off', async () => {
    const frame = packr.pack([PROTOCOL_VERSION, FrameKind.REQUEST, 1, { t: MsgType.REPLICA_PUT, bucket: 'b', key: 'k' }]) as Uint8Array;
    const result = await sendRaw(Array.from({ length: 5000 }, () => frame));
    expect(result).toBe('closed');
    const before = handled;
    await friend.call('target', { t: MsgType.TEST_ECHO }, 2000);
    expect(handled).toBe(before + 1);
  });
});

describe('authenticated peer sending malformed replication, anti-entropy and gossip messages', () => {
  it('gets errors, and nothing is stored', async () => {
    const { parseConfig } = await import('../../src/config.ts');
    const { ShoalNode } = await import('../../src/node.ts');
    const { MemoryEngine } = await import('../../src/storage/memory.ts');
    const config = parseConfig({
      secret: 'fuzz-secret-0123456789',
      nodes: [
        { id: 'n1', host: '127.0.0.1', httpPort: 0, peerPort: 0 },
        { id: 'evil', host: '127.0.0.1', httpPort: 0, peerPort: 0 },
      ],
      storage: { engine: 'memory' },
      buckets: { default: { n: 1, r: 1, w: 1 }, hits: { type: 'counter' } },
    });
    const engine = new MemoryEngine();
    const node = await ShoalNode.create({ config, nodeId: 'n1', engine, listen: false, peerPort: 0 });
    await node.start();
    const evil = createWsTransport({ self: 'evil', secret: 'fuzz-secret-0123456789', listen: { host: '127.0.0.1', port: 0 }, log: silentLogger });
    await evil.start();
    try {
      evil.setPeerAddress('n1', (node.transport as WsTransport).address());
      const field = fc.oneof(fc.constant(undefined), fc.string({ maxLength: 8 }), fc.integer(), fc.uint8Array({ maxLength: 40 }), fc.jsonValue({ maxDepth: 2 }));
      let errors = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(
            ...[MsgType.REPLICA_PUT, MsgType.REPLICA_GET, MsgType.HINT_DELIVER, MsgType.FORWARD],
            ...[MsgType.AAE_ROOTS, MsgType.AAE_SEGMENTS, MsgType.AAE_KEYS, MsgType.AAE_REPAIR, MsgType.AAE_HOLDS, MsgType.AAE_REAP],
            ...[MsgType.GOSSIP_SYN, MsgType.GOSSIP_ACK, MsgType.LEAVE, MsgType.PING],
          ),
          fc.record(
            {
              bucket: fc.oneof(field, fc.constantFrom('b', 'hits')),
              ...{ key: field, obj: field, hintFor: field, op: field, q: field },
              // Anti-entropy's fields, with values near the valid ones so they pass the first checks.
              ...{ ring: field, n: fc.oneof(field, fc.integer({ min: -2, max: 5 })), index: fc.oneof(field, fc.integer({ min: -2, max: 70 })) },
              parts: fc.oneof(field, fc.array(fc.integer({ min: -1, max: 70 }), { maxLength: 8 })),
              branches: fc.oneof(field, fc.uint8Array({ maxLength: 1200 })),
              segments: fc.oneof(field, fc.array(fc.integer({ min: -1, max: 2_000_000 }), { maxLength: 8 })),
              items: fc.oneof(field, fc.array(fc.tuple(fc.constantFrom('b', 'hits', ''), fc.string({ maxLength: 4 }), fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constant(null))), { maxLength: 4 })),
              // Gossip's.
              ...{ states: field, digests: field, requests: field, state: field, wallMs: field },
            },
            { requiredKeys: [] },
          ),
          async (t, fields) => {
            const clean = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
            evil.send('n1', { t, ...clean }); // as a one-way message too (gossip's kind)
            try {
              await evil.call('n1', { t, ...clean }, 2000);
            } catch {
              errors++;
            }
          },
        ),
        { numRuns: 300, seed: seedFromEnv(), interruptAfterTimeLimit: 30_000 },
      );
      expect(errors).toBeGreaterThan(150);
      let stored = 0;
      for await (const _ of engine.iterate({ prefix: Uint8Array.of(0x01) })) stored++;
      for await (const _ of engine.iterate({ prefix: Uint8Array.of(0x02) })) stored++;
      expect(stored).toBe(0);
      const ok = await node.app.inject({ method: 'PUT', url: '/buckets/b/keys/k', payload: 'v' });
      expect(ok.statusCode).toBe(204);
    } finally {
      await evil.stop();
      await node.stop();
    }
  }, 60_000);
});
