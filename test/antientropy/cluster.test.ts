// Anti-entropy in a simulated 3-node cluster (seeded; a failure prints its seed). Hinted
// handoff is switched off (maxHints 0) and no client reads anything, so only anti-entropy
// can make the replicas converge.
import { afterEach, describe, expect, it } from 'vitest';
import { encodeObject } from '../../src/core/codec.ts';
import { seedFromEnv, withSeed } from '../../src/net/sim.ts';
import type { ShoalNode } from '../../src/node.ts';
import type { WriteQuorum } from '../../src/replication/quorum.ts';
import { startSimCluster, type SimCluster } from '../helpers/sim-cluster.ts';

const IDS = ['n1', 'n2', 'n3'];
const CONFIG = {
  ring: { vnodes: 16 },
  handoff: { intervalMs: 500, maxHints: 0 },
  antiEntropy: { intervalMs: 500, keysPerSecond: 20_000, bytesPerSecond: 64 * 1024 * 1024, sweepIntervalMs: 1000, tombstoneGraceSeconds: 30 },
  buckets: { default: {}, hits: { type: 'counter' } },
};
const COUNTERS = 50;
const W1: WriteQuorum = { n: 3, w: 1, pw: 0, timeoutMs: 1000 };

let c: SimCluster | undefined;
afterEach(async () => {
  await c?.stop();
  c = undefined;
});

async function cluster(seed: number, config: Record<string, unknown> = {}): Promise<SimCluster> {
  c = await startSimCluster(IDS, seed, { config: { ...CONFIG, ...config } });
  if (!(await c.clock.runUntil(() => IDS.every((id) => sees(c!, id, IDS, 'up')), 30_000))) throw new Error('gossip did not converge');
  return c;
}

function sees(cl: SimCluster, observer: string, ids: readonly string[], status: string): boolean {
  const members = cl.node(observer).gossiper.members();
  return ids.every((id) => members.find((m) => m.id === id)?.status === status);
}

async function waitStatus(cl: SimCluster, observers: string[], ids: string[], status: string): Promise<void> {
  if (!(await cl.clock.runUntil(() => observers.every((o) => sees(cl, o, ids, status)), 30_000))) {
    throw new Error(`${ids} not ${status} on ${observers}`);
  }
}

function put(cl: SimCluster, via: string, key: string, value: string, opts: { tombstone?: boolean; ttlSeconds?: number } = {}) {
  return cl.node(via).coordinator.put(
    'b',
    key,
    { value: Buffer.from(opts.tombstone ? '' : value), contentType: 'text/plain', tombstone: opts.tombstone ?? false, ttlSeconds: opts.ttlSeconds ?? null, context: null },
    W1,
  );
}

/** Every replica's trees identical (all replicate every partition with N = 3 of 3 nodes). */
function rootsEqual(cl: SimCluster): boolean {
  const [first, ...rest] = IDS.map((id) => JSON.stringify([...cl.node(id).antiEntropy.roots()]));
  return rest.every((r) => r === first);
}

async function localObjects(node: ShoalNode): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of node.store.scan('b')) out.set(e.key, Buffer.from(encodeObject(e.obj)).toString('hex'));
  return out;
}

describe('anti-entropy, simulated 3-node cluster', () => {
  it('a node partitioned away during 5,000 W=1 writes converges with no reads', () =>
    withSeed(async (seed) => {
      const cl = await cluster(seed);
      cl.net.partition(['n3'], ['n1', 'n2']);
      await waitStatus(cl, ['n1', 'n2'], ['n3'], 'down');
      for (let batch = 0; batch < 20; batch++) {
        const writes = Array.from({ length: 250 }, (_, i) => {
          const k = batch * 250 + i;
          return put(cl, k % 2 === 0 ? 'n1' : 'n2', `k${k}`, `v${k}`);
        });
        await cl.run(Promise.all(writes));
      }
      // Some CRDTs too: counters incremented through both majority nodes.
      for (let round = 0; round < 4; round++) {
        await cl.run(
          Promise.all(
            Array.from({ length: COUNTERS }, (_, i) =>
              cl.node(round % 2 === 0 ? 'n1' : 'n2').coordinator.crdtUpdate('hits', `c${i}`, { increment: i + 1 }, null, W1),
            ),
          ),
        );
      }
      expect(cl.node('n3').antiEntropy.index.size).toBe(0);
      expect(cl.node('n1').hints.backlog + cl.node('n2').hints.backlog).toBe(0);
      const healedAt = cl.clock.now();
      cl.net.heal();
      const converged = await cl.clock.runUntil(() => cl.node('n3').antiEntropy.index.size === 5000 + COUNTERS && rootsEqual(cl), 120_000);
      expect(converged).toBe(true);
      for (let i = 0; i < COUNTERS; i++) {
        for (const id of IDS) expect(await cl.node(id).coordinator.localCrdtValue('hits', `c${i}`)).toEqual({ type: 'counter', value: 4 * (i + 1) });
      }
      const objects = await Promise.all(IDS.map((id) => localObjects(cl.node(id))));
      expect(objects[0]!.size).toBe(5000);
      expect(objects[1]).toEqual(objects[0]);
      expect(objects[2]).toEqual(objects[0]);
      const repaired = IDS.reduce((s, id) => s + cl.node(id).antiEntropy.totals.keysRepaired, 0);
      expect(repaired).toBeGreaterThanOrEqual(5000 + COUNTERS);
      console.log(`converged ${cl.clock.now() - healedAt} ms (simulated) after healing; ${repaired} keys repaired`);
    }, seedFromEnv()),
    // ~3 s on an idle machine; slack for a loaded one.
    120_000);

  it('trees are rebuilt from storage on restart; a node wiped while down is refilled by anti-entropy alone', () =>
    withSeed(async (seed) => {
      const cl = await cluster(seed);
      await cl.run(Promise.all(Array.from({ length: 300 }, (_, i) => put(cl, IDS[i % 3]!, `w${i}`, `v${i}`))));
      await cl.clock.runUntil(() => rootsEqual(cl) && cl.node('n3').antiEntropy.index.size === 300, 30_000);
      // A restart with its storage rebuilds the same trees from disk, before any exchange.
      const rootsBefore = [...cl.node('n2').antiEntropy.roots()];
      cl.net.crash('n2');
      const back = await cl.restart('n2');
      expect(await cl.clock.runUntil(() => back.antiEntropy.lastRebuild !== null, 1_000)).toBe(true);
      expect(back.antiEntropy.lastRebuild?.keys).toBe(300);
      expect([...back.antiEntropy.roots()]).toEqual(rootsBefore);
      // The rebuilt index vouches for absence (new-key writes skip the storage read), only
      // for keys really absent.
      expect(back.antiEntropy.knownAbsent('b', 'w7')).toBe(false);
      expect(back.antiEntropy.knownAbsent('b', 'never-written')).toBe(true);
      await waitStatus(cl, IDS, IDS, 'up');
      cl.net.crash('n3');
      await waitStatus(cl, ['n1', 'n2'], ['n3'], 'down');
      const fresh = await cl.restart('n3', { wipe: true });
      expect(fresh.antiEntropy.index.size).toBe(0);
      const refilled = await cl.clock.runUntil(() => fresh.antiEntropy.index.size === 300 && rootsEqual(cl), 60_000);
      expect(refilled).toBe(true);
      expect(fresh.antiEntropy.knownAbsent('b', 'w7')).toBe(false); // repairs are writes too
      expect(await localObjects(fresh)).toEqual(await localObjects(cl.node('n1')));
    }, seedFromEnv()));

  it('tombstones: a replica away past the grace period does not bring a deleted key back', () =>
    withSeed(async (seed) => {
      const cl = await cluster(seed);
      await cl.run(put(cl, 'n1', 'gone', 'old value'));
      await cl.clock.runUntil(() => rootsEqual(cl) && cl.node('n3').antiEntropy.index.size === 1, 30_000);
      cl.net.partition(['n3'], ['n1', 'n2']);
      await waitStatus(cl, ['n1', 'n2'], ['n3'], 'down');
      // Delete with a context that saw the value, so the tombstone supersedes it.
      const obj = await cl.node('n1').coordinator.localObject('b', 'gone');
      await cl.run(
        cl.node('n1').coordinator.put('b', 'gone', { value: new Uint8Array(), contentType: 'text/plain', tombstone: true, ttlSeconds: null, context: { clock: obj!.clock, maxTs: obj!.siblings[0]!.ts } }, W1),
      );
      // Far past the 30 s grace: n1 and n2 hold the tombstone but n3 does not, so no reap.
      await cl.clock.runFor(120_000);
      for (const id of ['n1', 'n2']) {
        const local = await cl.node(id).coordinator.localObject('b', 'gone');
        expect(local?.siblings.every((s) => s.tombstone)).toBe(true);
      }
      expect((await cl.node('n3').coordinator.localObject('b', 'gone'))?.siblings[0]?.tombstone).toBe(false);
      cl.net.heal();
      // n3 gets the tombstone (never the reverse); once all three hold it, it is reaped.
      const reaped = await cl.clock.runUntil(() => IDS.every((id) => cl.node(id).antiEntropy.index.get('b', 'gone') === undefined), 60_000);
      expect(reaped).toBe(true);
      await cl.clock.runFor(10_000);
      for (const id of IDS) expect(await cl.node(id).coordinator.localObject('b', 'gone')).toBeUndefined();
      const total = IDS.reduce((s, id) => s + cl.node(id).antiEntropy.totals.tombstonesReaped, 0);
      expect(total).toBe(3);
    }, seedFromEnv()));

  it('TTL: expired objects are dropped on every replica and are not repaired as differences', () =>
    withSeed(async (seed) => {
      const cl = await cluster(seed);
      await cl.run(Promise.all(Array.from({ length: 20 }, (_, i) => put(cl, 'n1', `t${i}`, 'short', { ttlSeconds: 5 }))));
      await cl.run(put(cl, 'n1', 'keep', 'forever'));
      await cl.clock.runUntil(() => rootsEqual(cl) && cl.node('n3').antiEntropy.index.size === 21, 30_000);
      // n3 misses the expiry sweeps while away: it still holds 20 expired objects.
      cl.net.partition(['n3'], ['n1', 'n2']);
      cl.node('n3').antiEntropy.stop();
      await cl.clock.runFor(10_000);
      expect(cl.node('n1').antiEntropy.index.size).toBe(1);
      expect(cl.node('n3').antiEntropy.index.size).toBe(21);
      const repairedBefore = IDS.reduce((s, id) => s + cl.node(id).antiEntropy.totals.keysRepaired, 0);
      cl.net.heal();
      await cl.clock.runFor(10_000);
      const repairedAfter = IDS.reduce((s, id) => s + cl.node(id).antiEntropy.totals.keysRepaired, 0);
      // The roots differ, the exchanges look, and find nothing alive to repair.
      expect(repairedAfter).toBe(repairedBefore);
      expect(cl.node('n1').antiEntropy.index.size).toBe(1);
      await cl.run(cl.node('n3').antiEntropy.sweep());
      expect(cl.node('n3').antiEntropy.index.size).toBe(1);
      expect(rootsEqual(cl)).toBe(true);
    }, seedFromEnv()));

  it('GET /cluster/antientropy shows per-partition exchanges; totals are in the metrics', () =>
    withSeed(async (seed) => {
      const cl = await cluster(seed);
      await cl.run(put(cl, 'n1', 'x', 'y'));
      await cl.clock.runUntil(() => rootsEqual(cl) && cl.node('n2').antiEntropy.index.size === 1, 30_000);
      await cl.run(cl.node('n2').store.remove('b', 'x'));
      expect(cl.node('n2').antiEntropy.index.size).toBe(0);
      expect(await cl.clock.runUntil(() => rootsEqual(cl) && cl.node('n2').antiEntropy.index.size === 1, 30_000)).toBe(true);
      await cl.clock.runFor(2 * CONFIG.antiEntropy.intervalMs);
      const res = await cl.run(cl.node('n2').app.inject({ method: 'GET', url: '/cluster/antientropy' }));
      expect(res.statusCode).toBe(200);
      const page = res.json() as { totals: { keysRepaired: number }; partitions: { partition: string; lastExchangeAt: string | null; segmentsDiffering: number; keysRepaired: number }[] };
      expect(page.partitions).toHaveLength(48); // 16 vnodes × 3 nodes, each replicated by all three
      expect(page.partitions.every((p) => p.lastExchangeAt !== null)).toBe(true);
      const all = IDS.map((id) => cl.node(id).antiEntropy.totals.keysRepaired).reduce((a, b) => a + b, 0);
      expect(all).toBeGreaterThanOrEqual(1);
      const metrics = await cl.run(cl.node('n2').app.inject({ method: 'GET', url: '/metrics' }));
      expect(metrics.body).toMatch(/shoal_aae_keys\{node="n2"\} 1/);
      expect(metrics.body).toMatch(/shoal_events_total\{event="aae_exchange",node="n2"\} [1-9]/);
    }, seedFromEnv()));
});
