// One suite for the Transport port, run against every implementation (as abstract-level's
// test/index.js and libp2p's interface-compliance-tests): ws-transport.test.ts and
// sim.test.ts each call transportContract() with their own harness.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/core/time.ts';
import type { NodeId } from '../../src/core/types.ts';
import { PeerError, type Message, type Transport } from '../../src/net/transport.ts';
import { MsgType } from '../../src/net/messages.ts';

export interface ContractHarness {
  /** Two started transports that can reach each other; maxQueuedPerPeer = CONTRACT_MAX_QUEUED. */
  readonly a: Transport;
  readonly b: Transport;
  /** The clock the transports use (handlers use it to delay replies). */
  readonly clock: Clock;
  /** Resolves/rejects as `p` does, advancing simulated time if needed. */
  drive<T>(p: Promise<T>): Promise<T>;
  /** Waits (real or simulated) until `pred()` holds; false after `maxMs`. */
  until(pred: () => boolean, maxMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export const CONTRACT_MAX_QUEUED = 4;

const echo = (fields: Record<string, unknown>): Message => ({ t: MsgType.TEST_ECHO, ...fields });

/** A reply that never comes: lets a test hold a call pending. */
const never = (): Promise<Message> => new Promise<Message>(() => {});

async function rejection(p: Promise<unknown>): Promise<PeerError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(PeerError);
    return err as PeerError;
  }
  throw new Error('expected a rejection');
}

export function transportContract(name: string, makeHarness: () => Promise<ContractHarness>): void {
  describe(`Transport contract: ${name}`, () => {
    let h: ContractHarness;
    beforeEach(async () => {
      h = await makeHarness();
    });
    afterEach(async () => {
      await h.close();
    });

    it('call gets the response from the right handler, with the caller id', async () => {
      h.b.onRequest(async (from, msg) => echo({ from, x: msg['x'], at: h.b.self }));
      const res = await h.drive(h.a.call(h.b.self, echo({ x: 41 }), 5_000));
      expect(res).toEqual(echo({ from: h.a.self, x: 41, at: h.b.self }));
    });

    it('concurrent calls in both directions are correlated to their own responses', async () => {
      // Replies come back in reverse order of arrival, so correlation must be by id.
      const delayed = (self: NodeId) => (from: NodeId, msg: Message) =>
        new Promise<Message>((resolve) => {
          const n = msg['n'] as number;
          h.clock.setTimeout(() => resolve(echo({ n, by: self, from })), 200 - n * 10);
        });
      h.a.onRequest(delayed(h.a.self));
      h.b.onRequest(delayed(h.b.self));
      const count = CONTRACT_MAX_QUEUED; // stays within the per-peer bound
      const ab = Array.from({ length: count }, (_, n) => h.a.call(h.b.self, echo({ n }), 10_000));
      const ba = Array.from({ length: count }, (_, n) => h.b.call(h.a.self, echo({ n }), 10_000));
      const all = await h.drive(Promise.all([...ab, ...ba]));
      expect(all).toEqual([
        ...Array.from({ length: count }, (_, n) => echo({ n, by: h.b.self, from: h.a.self })),
        ...Array.from({ length: count }, (_, n) => echo({ n, by: h.a.self, from: h.b.self })),
      ]);
    });

    it('a call with no response rejects TIMEOUT and frees its slot', async () => {
      h.b.onRequest(async (_from, msg) => (msg['hang'] ? never() : echo({ ok: true })));
      const hung = Array.from({ length: CONTRACT_MAX_QUEUED }, () =>
        h.a.call(h.b.self, echo({ hang: true }), 100),
      );
      const errs = await h.drive(Promise.all(hung.map(rejection)));
      expect(errs.map((e) => e.code)).toEqual(hung.map(() => 'TIMEOUT'));
      expect(errs[0]?.peer).toBe(h.b.self);
      // Had the timed-out entries stayed pending, this would be refused for backpressure.
      expect(await h.drive(h.a.call(h.b.self, echo({}), 5_000))).toEqual(echo({ ok: true }));
    });

    it('a full per-peer queue rejects at once with BACKPRESSURE', async () => {
      h.b.onRequest(never);
      const held = Array.from({ length: CONTRACT_MAX_QUEUED }, () =>
        h.a.call(h.b.self, echo({}), 60_000),
      );
      held.forEach((p) => p.catch(() => {}));
      const err = await rejection(h.a.call(h.b.self, echo({}), 60_000));
      expect(err.code).toBe('BACKPRESSURE');
    });

    it('a handler that throws rejects the call with REMOTE and its message', async () => {
      h.b.onRequest(async () => {
        throw new Error('boom at b');
      });
      const err = await h.drive(rejection(h.a.call(h.b.self, echo({}), 5_000)));
      expect(err.code).toBe('REMOTE');
      expect(err.message).toContain('boom at b');
      // The connection survives a remote error.
      h.b.onRequest(async () => echo({ fine: 1 }));
      expect(await h.drive(h.a.call(h.b.self, echo({}), 5_000))).toEqual(echo({ fine: 1 }));
    });

    it('send delivers one-way messages with the sender id', async () => {
      const got: Array<[NodeId, Message]> = [];
      h.b.onMessage((from, msg) => got.push([from, msg]));
      h.a.send(h.b.self, echo({ gossip: 1 }));
      h.a.send(h.b.self, echo({ gossip: 2 }));
      expect(await h.until(() => got.length >= 2, 5_000)).toBe(true);
      expect(got.map(([from]) => from)).toEqual([h.a.self, h.a.self]);
      expect(got.map(([, m]) => m['gossip']).sort()).toEqual([1, 2]);
    });

    it('send never throws, even to an unknown peer', () => {
      expect(() => h.a.send('nobody-knows-me', echo({}))).not.toThrow();
    });

    it('a call to an unknown peer rejects UNREACHABLE', async () => {
      const err = await h.drive(rejection(h.a.call('nobody-knows-me', echo({}), 5_000)));
      expect(err.code).toBe('UNREACHABLE');
      expect(err.peer).toBe('nobody-knows-me');
    });

    it('stop() rejects pending calls with CLOSED', async () => {
      let arrived = false;
      h.b.onRequest(() => {
        arrived = true;
        return never();
      });
      const p = h.a.call(h.b.self, echo({}), 60_000);
      const errP = rejection(p);
      expect(await h.until(() => arrived, 5_000)).toBe(true);
      await h.a.stop();
      const err = await errP;
      expect(err.code).toBe('CLOSED');
    });
  });
}
