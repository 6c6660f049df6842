import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Membership, compareVersion, mergeState } from '../../src/cluster/membership.ts';
import type { GossipMessage, MembershipEffect, NodeState } from '../../src/cluster/membership.ts';
import { createPrng } from '../../src/core/prng.ts';
import { MsgType } from '../../src/net/messages.ts';

const addr = (id: string) => ({ host: `${id}.test`, httpPort: 1, peerPort: 2 });

function mk(id: string, seeds: string[] = ['a'], now = 0, generation = 1, seed = 1): Membership {
  return new Membership({ self: id, address: addr(id), generation, seeds, random: createPrng(seed) }, now);
}

function sends(effects: MembershipEffect[]): { to: string; msg: GossipMessage }[] {
  return effects.flatMap((e) => (e.kind === 'send' ? [{ to: e.to, msg: e.msg }] : []));
}

/** Deliver every message produced, recursively, in FIFO order (a perfect network). */
function pump(nodes: Map<string, Membership>, from: string, effects: MembershipEffect[], now: number): void {
  const queue = sends(effects).map((s) => ({ from, ...s }));
  for (let i = 0; i < queue.length && i < 10_000; i++) {
    const { from: f, to, msg } = queue[i] as { from: string; to: string; msg: GossipMessage };
    const target = nodes.get(to);
    if (target === undefined) continue;
    const out = target.receive(f, structuredClone(msg), now);
    for (const s of sends(out)) queue.push({ from: to, ...s });
  }
}

function round(nodes: Map<string, Membership>, now: number): void {
  for (const [id, m] of nodes) pump(nodes, id, m.tick(now), now);
}

const state = (
  generation: number,
  heartbeat: number,
  status: 'up' | 'leaving' = 'up',
): NodeState => ({ id: 'x', address: addr('x'), generation, heartbeat, status, wallMs: 0 });

describe('merge rules', () => {
  it('a newer generation wins outright, even over leaving and a higher heartbeat', () => {
    expect(mergeState(state(1, 90, 'leaving'), state(2, 3))).toEqual(state(2, 3));
    expect(mergeState(state(2, 3), state(1, 90, 'leaving'))).toEqual(state(2, 3));
  });

  it('within a generation the higher heartbeat wins, and leaving is sticky', () => {
    expect(mergeState(state(1, 5), state(1, 7))).toEqual(state(1, 7));
    expect(mergeState(state(1, 7, 'leaving'), state(1, 9))).toEqual(state(1, 9, 'leaving'));
    expect(mergeState(state(1, 9), state(1, 7, 'leaving'))).toEqual(state(1, 9, 'leaving'));
  });

  it('is commutative, associative and idempotent on (generation, heartbeat, status)', () => {
    const st = fc
      .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 4 }), fc.constantFrom('up' as const, 'leaving' as const))
      .map(([g, h, s]) => state(g, h, s));
    const key = (s: NodeState) => [s.generation, s.heartbeat, s.status];
    fc.assert(
      fc.property(st, st, st, (a, b, c) => {
        expect(key(mergeState(a, b))).toEqual(key(mergeState(b, a)));
        expect(key(mergeState(mergeState(a, b), c))).toEqual(key(mergeState(a, mergeState(b, c))));
        expect(key(mergeState(a, a))).toEqual(key(a));
        expect(compareVersion(mergeState(a, b), a)).toBeGreaterThanOrEqual(0);
      }),
    );
  });
});

describe('membership state machine', () => {
  it('knocks on every seed until someone answers, then joins through the ACK', () => {
    const b = mk('b', ['a', 's2']);
    const syns = sends(b.tick(0));
    expect(syns.map((s) => s.to).sort()).toEqual(['a', 's2']);
    const a = mk('a', []);
    a.tick(0);
    const ack = sends(a.receive('b', syns[0]?.msg, 10));
    expect(ack).toHaveLength(1);
    const msg = ack[0]?.msg;
    if (msg?.t !== MsgType.GOSSIP_ACK) throw new Error('expected ACK');
    expect(msg.states.map((s) => s.id)).toEqual(['a']); // b never mentioned a
    expect(msg.requests).toEqual([['b', -1, -1]]); // a wants b's state
    const ack2 = sends(b.receive('a', msg, 20));
    expect(ack2[0]?.msg.t).toBe(MsgType.GOSSIP_ACK2);
    a.receive('b', ack2[0]?.msg, 30);
    expect(a.status('b')).toBe('up');
    expect(b.status('a')).toBe('up');
    expect(a.ringMembers()).toEqual(['a', 'b']);
    expect(b.ringMembers()).toEqual(['a', 'b']);
  });

  it('goes suspect, then down, on silence; back up when the heartbeat advances', () => {
    const nodes = new Map([
      ['a', mk('a', [])],
      ['b', mk('b')],
    ]);
    for (let t = 0; t <= 10_000; t += 500) round(nodes, t);
    const a = nodes.get('a') as Membership;
    expect(a.status('b')).toBe('up');
    const statuses: string[] = [];
    for (let t = 10_500; t <= 20_000; t += 500) {
      for (const e of a.tick(t)) if (e.kind === 'status') statuses.push(`${e.to}@${t - 10_000}`);
    }
    expect(statuses.map((s) => s.split('@')[0])).toEqual(['suspect', 'down']);
    const downAfterMs = Number(statuses[1]?.split('@')[1]);
    expect(downAfterMs).toBeGreaterThanOrEqual(2000);
    expect(downAfterMs).toBeLessThanOrEqual(4500);
    expect(a.isUp('b')).toBe(false);
    expect(a.ringMembers()).toEqual(['a', 'b']); // down nodes keep their ranges
    round(nodes, 20_500);
    expect(a.status('b')).toBe('up');
  });

  it('a restart (new generation) replaces the old state and is up at once', () => {
    const nodes = new Map([
      ['a', mk('a', [])],
      ['b', mk('b')],
    ]);
    for (let t = 0; t <= 5_000; t += 500) round(nodes, t);
    const a = nodes.get('a') as Membership;
    for (let t = 5_500; t <= 12_000; t += 500) a.tick(t);
    expect(a.status('b')).toBe('down');
    nodes.set('b', mk('b', ['a'], 12_000, 2));
    round(nodes, 12_500);
    expect(a.status('b')).toBe('up');
    expect(a.members(12_500).find((m) => m.id === 'b')?.generation).toBe(2);
  });

  it('leave: LEAVE goes to live peers, who mark the node left (not down) and drop it from the ring', () => {
    const nodes = new Map(['a', 'b', 'c'].map((id) => [id, mk(id, ['a'])] as const));
    for (let t = 0; t <= 3_000; t += 500) round(nodes, t);
    const b = nodes.get('b') as Membership;
    const effects = b.leave(3_100);
    expect(sends(effects).map((s) => s.to).sort()).toEqual(['a', 'c']);
    expect(b.status('b')).toBe('leaving');
    pump(nodes, 'b', effects, 3_100);
    nodes.delete('b');
    for (let t = 3_500; t <= 20_000; t += 500) round(nodes, t);
    for (const id of ['a', 'c']) {
      const m = nodes.get(id) as Membership;
      expect(m.status('b')).toBe('left');
      expect(m.isUp('b')).toBe(false);
      expect(m.ringMembers()).toEqual(['a', 'c']);
    }
  });

  it('flags a skewed peer clock once per transition', () => {
    const a = mk('a', []);
    const skewEvents = (effects: MembershipEffect[]) => effects.filter((e) => e.kind === 'clockSkew');
    const syn = (wallMs: number) => ({ t: MsgType.GOSSIP_SYN, wallMs, digests: [] });
    const flagged: MembershipEffect[] = [];
    for (let i = 0; i < 6; i++) flagged.push(...skewEvents(a.receive('b', syn(1000 * i + 5_000), 1000 * i)));
    expect(flagged).toEqual([{ kind: 'clockSkew', id: 'b', offsetMs: 5_000, skewed: true }]);
    const cleared: MembershipEffect[] = [];
    for (let i = 6; i < 12; i++) cleared.push(...skewEvents(a.receive('b', syn(1000 * i + 10), 1000 * i)));
    expect(cleared).toEqual([{ kind: 'clockSkew', id: 'b', offsetMs: 10, skewed: false }]);
  });

  it('after its own pause, a node does not convict its peers', () => {
    const nodes = new Map([
      ['a', mk('a', [])],
      ['b', mk('b')],
    ]);
    for (let t = 0; t <= 5_000; t += 500) round(nodes, t);
    const a = nodes.get('a') as Membership;
    const effects = a.tick(15_000); // a was stopped for 10 s
    expect(effects.some((e) => e.kind === 'localPause')).toBe(true);
    expect(a.status('b')).toBe('up');
  });

  it('ignores malformed messages and states about itself', () => {
    const a = mk('a', []);
    a.tick(0);
    expect(a.receive('b', null, 1)).toEqual([]);
    expect(a.receive('b', { t: 99 }, 1)).toEqual([]);
    a.receive('b', { t: MsgType.GOSSIP_ACK2, wallMs: 1, states: [{ id: 'c' }, 'junk', { ...state(1, 1), id: 'a', generation: 99 }] }, 1);
    a.receive('b', { t: MsgType.GOSSIP_SYN, wallMs: 1, digests: 'nope' }, 1);
    expect(a.members(1).map((m) => m.id)).toEqual(['a']);
    expect(a.selfNodeState().generation).toBe(1);
  });

  it('converges under any message order, loss and duplication', () => {
    const ids = ['a', 'b', 'c', 'd'];
    const op = fc.oneof(
      fc.record({ kind: fc.constant('tick' as const), node: fc.nat(3) }),
      fc.record({ kind: fc.constant('deliver' as const), index: fc.nat(), dup: fc.boolean() }),
      fc.record({ kind: fc.constant('drop' as const), index: fc.nat() }),
      fc.record({ kind: fc.constant('leave' as const), node: fc.nat(3) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), fc.integer({ min: 1, max: 1_000_000 }), (ops, seed) => {
        const nodes = new Map(ids.map((id, i) => [id, mk(id, ['a'], 0, 1, seed + i)] as const));
        const inflight: { from: string; to: string; msg: GossipMessage }[] = [];
        let now = 0;
        let left: string | null = null;
        for (const o of ops) {
          now += 50;
          if (o.kind === 'tick') {
            const id = ids[o.node] as string;
            for (const s of sends((nodes.get(id) as Membership).tick(now))) inflight.push({ from: id, ...s });
          } else if (o.kind === 'leave') {
            if (left !== null) continue;
            left = ids[o.node] as string;
            for (const s of sends((nodes.get(left) as Membership).leave(now))) inflight.push({ from: left, ...s });
          } else if (inflight.length > 0) {
            const i = o.index % inflight.length;
            const m = inflight[i] as (typeof inflight)[number];
            if (o.kind === 'drop' || !(o.kind === 'deliver' && o.dup)) inflight.splice(i, 1);
            if (o.kind === 'drop') continue;
            for (const s of sends((nodes.get(m.to) as Membership).receive(m.from, structuredClone(m.msg), now))) {
              inflight.push({ from: m.to, ...s });
            }
          }
        }
        // Liveness phase: a perfect network for a bounded number of rounds.
        for (const m of inflight) pump(nodes, m.from, [{ kind: 'send', to: m.to, msg: m.msg }], now);
        const before = new Map(ids.map((id) => [id, (nodes.get(id) as Membership).selfNodeState()] as const));
        for (let r = 0; r < 12; r++) round(nodes, (now += 500));
        const expectedRing = ids.filter((id) => id !== left);
        for (const [id, m] of nodes) {
          expect(m.ringMembers()).toEqual(expectedRing);
          for (const other of ids) {
            if (other === id) continue;
            expect(m.status(other)).toBe(other === left ? 'left' : id === left ? m.status(other) : 'up');
            const seen = m.members(now).find((v) => v.id === other);
            expect(compareVersion(seen ?? state(0, 0), before.get(other) as NodeState)).toBeGreaterThanOrEqual(0);
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});
