// An in-process Shoal cluster on a seeded SimNetwork: real nodes (coordinator, gossip,
// handoff, HTTP app via inject) over memory engines, on one simulated clock.
import { parseConfig, type ShoalConfig } from '../../src/config.ts';
import { createPrng } from '../../src/core/prng.ts';
import { ShoalNode } from '../../src/node.ts';
import { SimClock, SimNetwork } from '../../src/net/sim.ts';
import { MemoryEngine } from '../../src/storage/memory.ts';

export const TEST_SECRET = 'test-secret-0123456789';

export function testConfig(ids: readonly string[], overrides: Record<string, unknown> = {}): ShoalConfig {
  return parseConfig({
    secret: TEST_SECRET,
    dataDir: '/nonexistent-shoal-sim',
    nodes: ids.map((id, i) => ({ id, host: '127.0.0.1', httpPort: 0, peerPort: 20000 + i })),
    storage: { engine: 'memory', cacheEntries: 1000 },
    gossip: { intervalMs: 200 },
    handoff: { intervalMs: 500 },
    requestTimeoutMs: 1000,
    ...overrides,
  });
}

export interface SimCluster {
  readonly clock: SimClock;
  readonly net: SimNetwork;
  readonly config: ShoalConfig;
  readonly nodes: Map<string, ShoalNode>;
  node(id: string): ShoalNode;
  /** Awaits `p` while advancing simulated time (bounded by maxMs of virtual time). */
  run<T>(p: Promise<T>, maxMs?: number): Promise<T>;
  /**
   * Restart a crashed node with the same storage engine (its data survives), or with
   * `wipe` a fresh empty engine (a lost data directory: new incarnation, nothing stored).
   */
  restart(id: string, opts?: { wipe?: boolean }): Promise<ShoalNode>;
  stop(): Promise<void>;
}

export async function startSimCluster(
  ids: readonly string[],
  seed: number,
  opts: { config?: Record<string, unknown>; net?: { dropRate?: number; duplicateRate?: number; delayMs?: { min: number; max: number } } } = {},
): Promise<SimCluster> {
  const clock = new SimClock(1_700_000_000_000);
  const net = new SimNetwork({ seed, clock, delayMs: { min: 1, max: 5 }, ...opts.net });
  const config = testConfig(ids, opts.config);
  const prng = createPrng(seed);
  const engines = new Map(ids.map((id) => [id, new MemoryEngine()]));
  const nodes = new Map<string, ShoalNode>();
  const make = async (id: string) => {
    const node = await ShoalNode.create({
      config,
      nodeId: id,
      transport: net.transport(id),
      engine: engines.get(id)!,
      clock,
      random: prng.fork(`node-${id}-${clock.now()}`),
      listen: false,
    });
    await node.start();
    nodes.set(id, node);
    return node;
  };
  for (const id of ids) await make(id);

  const run = async <T>(p: Promise<T>, maxMs = 60_000): Promise<T> => {
    let done = false;
    const tracked = p.finally(() => {
      done = true;
    });
    tracked.catch(() => {});
    await clock.runUntil(() => done, maxMs);
    if (!done) throw new Error(`simulated operation did not finish within ${maxMs} ms of virtual time`);
    return tracked;
  };

  return {
    clock,
    net,
    config,
    nodes,
    node: (id) => {
      const n = nodes.get(id);
      if (!n) throw new Error(`no node ${id}`);
      return n;
    },
    run,
    async restart(id, restartOpts = {}) {
      const old = nodes.get(id);
      if (old) {
        old.antiEntropy.stop();
        old.handoff.stop();
        old.gossiper.stop();
        await old.transport.stop();
      }
      // The engine object survives, as a disk would; the node is rebuilt from it.
      if (restartOpts.wipe) engines.set(id, new MemoryEngine());
      return make(id);
    },
    async stop() {
      for (const n of nodes.values()) {
        n.antiEntropy.stop();
        n.handoff.stop();
        n.gossiper.stop();
        await n.app.close();
        await n.transport.stop();
      }
    },
  };
}
