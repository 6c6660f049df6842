import { describe, expect, it } from 'vitest';
import { createPrng } from '../../src/core/prng.ts';
import { SimClock, SimNetwork, withSeed, seedFromEnv, type SimEvent } from '../../src/net/sim.ts';
import { PeerError, type Message } from '../../src/net/transport.ts';
import { MsgType } from '../../src/net/messages.ts';
import { CONTRACT_MAX_QUEUED, transportContract, type ContractHarness } from './transport-contract.ts';

const echo = (fields: Record<string, unknown>): Message => ({ t: MsgType.TEST_ECHO, ...fields });

function simHarness(): ContractHarness {
  const clock = new SimClock(1_700_000_000_000);
  const net = new SimNetwork({ seed: 7, clock, delayMs: { min: 1, max: 20 }, maxQueuedPerPeer: CONTRACT_MAX_QUEUED });
  const a = net.transport('a');
  const b = net.transport('b');
  void a.start();
  void b.start();
  return {
    a,
    b,
    clock,
    async drive<T>(p: Promise<T>): Promise<T> {
      let done = false;
      p.then(
        () => (done = true),
        () => (done = true),
      );
      await clock.runUntil(() => done, 10 * 60_000);
      return p;
    },
    until: (pred, maxMs) => clock.runUntil(pred, maxMs),
    async close() {
      await a.stop();
      await b.stop();
    },
  };
}

transportContract('SimNetwork', async () => simHarness());

describe('SimClock', () => {
  it('fires timers in time order, FIFO for equal times, and advances now()', async () => {
    const clock = new SimClock(1000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`c@${clock.now()}`), 30);
    clock.setTimeout(() => fired.push(`a1@${clock.now()}`), 10);
    clock.setTimeout(() => fired.push(`a2@${clock.now()}`), 10);
    const cancelled = clock.setTimeout(() => fired.push('never'), 5);
    cancelled.cancel();
    await clock.runFor(20);
    expect(fired).toEqual(['a1@1010', 'a2@1010']);
    expect(clock.now()).toBe(1020);
    await clock.runFor(100);
    expect(fired).toEqual(['a1@1010', 'a2@1010', 'c@1030']);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('settles promise chains between timers', async () => {
    const clock = new SimClock(0);
    const log: string[] = [];
    const sleep = (ms: number) => new Promise<void>((r) => clock.setTimeout(r, ms));
    // A chain of awaits that schedules the next timer only after several microtask hops.
    void (async () => {
      for (let i = 0; i < 3; i++) {
        await sleep(10);
        await Promise.resolve();
        await Promise.resolve();
        log.push(`tick${i}@${clock.now()}`);
      }
    })();
    await clock.runFor(100);
    expect(log).toEqual(['tick0@10', 'tick1@20', 'tick2@30']);
  });

  it('runUntil stops as soon as the predicate holds, or reports false at the deadline', async () => {
    const clock = new SimClock(0);
    let n = 0;
    const tick = (): void => {
      n++;
      clock.setTimeout(tick, 10);
    };
    clock.setTimeout(tick, 10);
    expect(await clock.runUntil(() => n === 3, 1_000)).toBe(true);
    expect(clock.now()).toBe(30);
    expect(await clock.runUntil(() => n === 1_000, 100)).toBe(false);
    expect(clock.now()).toBe(130);
  });

  it('a zero-delay timer loop is reported instead of spinning forever', async () => {
    const clock = new SimClock(0, { maxStepsPerRun: 1_000 });
    const spin = (): void => void clock.setTimeout(spin, 0);
    spin();
    await expect(clock.runFor(1)).rejects.toThrow(/livelock/);
  });
});

describe('prng', () => {
  it('is deterministic per seed, forks independently, and stays in range', () => {
    const draw = (seed: number) => Array.from({ length: 8 }, (() => { const r = createPrng(seed); return () => r.next(); })());
    const r1 = createPrng(42);
    const r2 = createPrng(42);
    const a = Array.from({ length: 100 }, () => r1.int(10));
    const b = Array.from({ length: 100 }, () => r2.int(10));
    expect(a).toEqual(b);
    expect(a.every((x) => x >= 0 && x < 10)).toBe(true);
    expect(new Set(a).size).toBe(10);
    expect(draw(1)).not.toEqual(draw(2));
    // fork depends only on seed + label, not on how much the parent has drawn
    const p = createPrng(9);
    const f1 = p.fork('x').next();
    p.next();
    expect(p.fork('x').next()).toBe(f1);
    expect(p.fork('y').next()).not.toBe(f1);
  });
});

interface Run {
  trace: string[];
  results: unknown[];
}

/** A small workload on a faulty network; returns the delivery trace. */
async function tracedRun(seed: number): Promise<Run> {
  const clock = new SimClock(0);
  const trace: string[] = [];
  const net = new SimNetwork({
    seed,
    clock,
    delayMs: { min: 1, max: 50 },
    dropRate: 0.1,
    duplicateRate: 0.2,
    onEvent: (e: SimEvent) => trace.push(`${e.atMs} ${e.kind} ${e.from}>${e.to} k${e.frameKind} #${e.id} ${e.reason ?? ''}`),
  });
  const ids = ['n1', 'n2', 'n3'];
  const ts = ids.map((id) => net.transport(id));
  for (const t of ts) {
    await t.start();
    t.onRequest(async (from, msg) => echo({ from, n: msg['n'] }));
    t.onMessage(() => {});
  }
  const results: unknown[] = [];
  const calls: Promise<void>[] = [];
  for (let i = 0; i < 30; i++) {
    const from = ts[i % 3]!;
    const to = ids[(i + 1) % 3]!;
    from.send(to, echo({ g: i }));
    calls.push(
      from.call(to, echo({ n: i }), 200).then(
        (m) => void results.push(m['n']),
        (e: PeerError) => void results.push(e.code),
      ),
    );
  }
  await clock.runFor(1_000);
  await Promise.all(calls);
  return { trace, results };
}

describe('SimNetwork', () => {
  it('same seed gives the same delivery trace; another seed a different one', async () => {
    const seed = seedFromEnv();
    await withSeed(async () => {
      const r1 = await tracedRun(seed);
      const r2 = await tracedRun(seed);
      expect(r1.trace.length).toBeGreaterThan(60);
      expect(r1.trace.some((l) => l.includes('duplicate'))).toBe(true);
      expect(r1.trace.some((l) => l.includes('random'))).toBe(true);
      expect(r2).toEqual(r1);
      const r3 = await tracedRun(seed + 1);
      expect(r3.trace).not.toEqual(r1.trace);
    }, seed);
  });

  it('duplicates deliver twice but a call resolves once; copies share no objects', async () => {
    const clock = new SimClock(0);
    const net = new SimNetwork({ seed: 3, clock, duplicateRate: 1 });
    const a = net.transport('a');
    const b = net.transport('b');
    await a.start();
    await b.start();
    const got: Message[] = [];
    b.onMessage((_f, m) => got.push(m));
    let handled = 0;
    b.onRequest(async () => {
      handled++;
      return echo({});
    });
    const sent = echo({ list: [1, 2] });
    a.send('b', sent);
    const res = a.call('b', echo({}), 1_000);
    await clock.runFor(100);
    await expect(res).resolves.toEqual(echo({}));
    expect(handled).toBe(2); // the request itself was duplicated
    expect(got).toHaveLength(2);
    expect(got[0]).toEqual(sent);
    expect(got[0]).not.toBe(sent);
    expect(got[0]!['list']).not.toBe(got[1]!['list']);
    const s = net.stats();
    expect(s.duplicated).toBeGreaterThanOrEqual(3);
    expect(s.delivered).toBe(2 * s.sent);
    expect(s.byType['TEST_ECHO']?.sent).toBe(s.sent);
    expect(s.bytes).toBeGreaterThan(0);
    expect(s.byType['TEST_ECHO']?.bytes).toBe(s.bytes);
  });

  it('partition blocks both ways, heal restores', async () => {
    const clock = new SimClock(0);
    const net = new SimNetwork({ seed: 1, clock });
    const [a, b, c] = ['a', 'b', 'c'].map((id) => net.transport(id));
    for (const t of [a!, b!, c!]) {
      await t.start();
      t.onRequest(async () => echo({ by: t.self }));
    }
    net.partition(['a'], ['b']);
    const ab = a!.call('b', echo({}), 100).catch((e: PeerError) => e.code);
    const ba = b!.call('a', echo({}), 100).catch((e: PeerError) => e.code);
    const ac = a!.call('c', echo({}), 100).catch((e: PeerError) => e.code);
    await clock.runFor(200);
    expect(await ab).toBe('TIMEOUT');
    expect(await ba).toBe('TIMEOUT');
    expect(await ac).toEqual(echo({ by: 'c' }));
    net.heal();
    const healed = a!.call('b', echo({}), 100);
    await clock.runFor(200);
    await expect(healed).resolves.toEqual(echo({ by: 'b' }));
  });

  it('one-way partition lets frames through in one direction only', async () => {
    const clock = new SimClock(0);
    const net = new SimNetwork({ seed: 1, clock });
    const a = net.transport('a');
    const b = net.transport('b');
    await a.start();
    await b.start();
    const atA: Message[] = [];
    const atB: Message[] = [];
    a.onMessage((_f, m) => atA.push(m));
    b.onMessage((_f, m) => atB.push(m));
    b.onRequest(async () => echo({}));
    net.partitionOneWay('a', 'b');
    a.send('b', echo({ x: 1 }));
    b.send('a', echo({ x: 2 }));
    // b receives nothing from a, so a call a→b times out; b→a requests arrive but replies can't.
    a.onRequest(async () => echo({}));
    const ba = b.call('a', echo({}), 100).catch((e: PeerError) => e.code);
    await clock.runFor(200);
    expect(atB).toEqual([]);
    expect(atA).toEqual([echo({ x: 2 })]);
    expect(await ba).toBe('TIMEOUT');
    expect(net.stats().byType['TEST_ECHO']?.delivered).toBe(2); // x:2 and b's request
  });

  it('crash drops traffic and in-flight frames; restart brings the node back', async () => {
    const clock = new SimClock(0);
    const net = new SimNetwork({ seed: 5, clock, delayMs: { min: 10, max: 10 } });
    const a = net.transport('a');
    const b = net.transport('b');
    await a.start();
    await b.start();
    const atB: Message[] = [];
    b.onMessage((_f, m) => atB.push(m));
    b.onRequest(async () => echo({ alive: true }));
    a.send('b', echo({ inflight: 1 }));
    await clock.runFor(5);
    net.crash('b');
    const p = a.call('b', echo({}), 100).catch((e: PeerError) => e.code);
    await clock.runFor(200);
    expect(atB).toEqual([]); // in-flight frame lost with the crash
    expect(await p).toBe('TIMEOUT');
    net.restart('b');
    const q = a.call('b', echo({}), 100);
    await clock.runFor(200);
    await expect(q).resolves.toEqual(echo({ alive: true }));
    // A crashed node can be replaced by a fresh transport (a restarted process).
    net.crash('b');
    const b2 = net.transport('b');
    await b2.start();
    b2.onRequest(async () => echo({ fresh: true }));
    const r = a.call('b', echo({}), 100);
    await clock.runFor(200);
    await expect(r).resolves.toEqual(echo({ fresh: true }));
    expect(() => net.transport('b')).toThrow(/live/);
  });

  it('withSeed puts the seed in the failure message', async () => {
    await expect(
      withSeed(() => {
        throw new Error('bad');
      }, 1234),
    ).rejects.toThrow('seed=1234: bad');
    expect(seedFromEnv({ SHOAL_SEED: '99' })).toBe(99);
  });
});
