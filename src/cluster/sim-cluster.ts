// Gossip-only clusters on the simulated network: shared by test/cluster and the bench
// (convergence time vs cluster size). One seed replays a run (STYLE §2).
import { createPrng } from '../core/prng.ts';
import type { Prng } from '../core/prng.ts';
import type { Clock } from '../core/time.ts';
import type { NodeId } from '../core/types.ts';
import { SimClock, SimNetwork } from '../net/sim.ts';
import type { SimFaults, SimTransport } from '../net/sim.ts';
import { silentLogger } from '../runtime/logger.ts';
import type { Logger } from '../runtime/logger.ts';
import { Gossiper } from './gossiper.ts';
import type { GossiperOptions, Seed } from './gossiper.ts';
import type { MemberStatus } from './membership.ts';

export interface SimClusterOptions {
  readonly seed: number;
  readonly ids: readonly NodeId[];
  /** Seed node ids; defaults to the first id. */
  readonly seedIds?: readonly NodeId[];
  readonly intervalMs?: number;
  readonly faults?: Partial<SimFaults>;
  /** Logger per node (default silent). */
  readonly log?: (id: NodeId) => Logger;
  /** Extra Gossiper options for every node. */
  readonly gossip?: Partial<Pick<GossiperOptions, 'phiThreshold' | 'suspectPhi' | 'maxClockSkewMs' | 'phi' | 'fanout'>>;
  /** Simulated epoch start; non-zero so generations look like timestamps. */
  readonly startMs?: number;
}

interface Running {
  gossiper: Gossiper;
  transport: SimTransport;
}

export class SimCluster {
  readonly clock: SimClock;
  readonly net: SimNetwork;
  readonly prng: Prng;
  readonly ids: readonly NodeId[];
  private readonly seeds: Seed[];
  private readonly nodes = new Map<NodeId, Running>();
  private readonly clockOffsetsMs = new Map<NodeId, number>();
  private readonly paused = new Set<NodeId>();

  constructor(private readonly options: SimClusterOptions) {
    this.clock = new SimClock(options.startMs ?? 1_700_000_000_000);
    this.net = new SimNetwork({ seed: options.seed, clock: this.clock, ...options.faults });
    this.prng = createPrng(options.seed).fork('sim-cluster');
    this.ids = options.ids;
    const seedIds = options.seedIds ?? options.ids.slice(0, 1);
    this.seeds = seedIds.map((id) => ({ id, address: addressOf(id) }));
  }

  /** Starts `id` (a fresh process: new transport, new generation = now). */
  async start(id: NodeId): Promise<Gossiper> {
    const transport = this.net.transport(id);
    const offset = this.clockOffsetsMs.get(id) ?? 0;
    const clock: Clock =
      offset === 0
        ? this.clock
        : { now: () => this.clock.now() + offset, setTimeout: (fn, ms) => this.clock.setTimeout(fn, ms) };
    const gossiper = new Gossiper({
      self: id,
      address: addressOf(id),
      seeds: this.seeds,
      transport,
      clock,
      random: this.prng.fork(`gossip-${id}-${this.clock.now()}`),
      log: this.options.log?.(id) ?? silentLogger,
      generation: clock.now(),
      ...(this.options.intervalMs !== undefined && { intervalMs: this.options.intervalMs }),
      ...this.options.gossip,
    });
    transport.onMessage((from, msg) => {
      gossiper.handleMessage(from, msg);
    });
    await transport.start();
    gossiper.start();
    this.nodes.set(id, { gossiper, transport });
    return gossiper;
  }

  async startAll(): Promise<void> {
    for (const id of this.ids) await this.start(id);
  }

  /** Give `id`'s clock an offset from the simulated time (takes effect at its next start). */
  setClockOffset(id: NodeId, offsetMs: number): void {
    this.clockOffsetsMs.set(id, offsetMs);
  }

  /** Kill -9: the process vanishes without a word. */
  crash(id: NodeId): void {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    n.gossiper.stop();
    this.net.crash(id);
    this.nodes.delete(id);
  }

  /** SIGSTOP: no ticks, nothing sent or received, state kept. */
  pause(id: NodeId): void {
    this.gossiper(id).stop();
    this.net.crash(id);
    this.paused.add(id);
  }

  /** SIGCONT: same process, same generation, picks up where it stopped. */
  resume(id: NodeId): void {
    if (!this.paused.delete(id)) throw new Error(`${id} is not paused`);
    this.net.restart(id);
    this.gossiper(id).start();
  }

  /** Graceful leave, then the process stops after `lingerMs`. */
  async leave(id: NodeId, lingerMs = 0): Promise<void> {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    n.gossiper.leave();
    if (lingerMs > 0) await this.clock.runFor(lingerMs);
    n.gossiper.stop();
    await n.transport.stop();
    this.nodes.delete(id);
  }

  gossiper(id: NodeId): Gossiper {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no running node ${id}`);
    return n.gossiper;
  }

  /** Started, not crashed, not paused. */
  running(): NodeId[] {
    return [...this.nodes.keys()].filter((id) => !this.paused.has(id));
  }

  /** `observer`'s opinion of `id`. */
  statusOn(observer: NodeId, id: NodeId): MemberStatus | null {
    return this.gossiper(observer).membership.status(id);
  }

  /** Every observer (default: every running node) sees every target with the given status. */
  allSee(targets: readonly NodeId[], status: MemberStatus, observers: readonly NodeId[] = this.running()): boolean {
    return observers.every((o) => targets.every((t) => t === o || this.statusOn(o, t) === status));
  }

  /** Every running node sees every running node up (suspect counts as not yet). */
  converged(): boolean {
    const live = this.running();
    return this.allSee(live, 'up', live);
  }

  stop(): void {
    for (const n of this.nodes.values()) n.gossiper.stop();
  }
}

function addressOf(id: NodeId): { host: string; httpPort: number; peerPort: number } {
  return { host: `${id}.sim`, httpPort: 8080, peerPort: 9090 };
}

export interface ConvergenceResult {
  readonly nodes: number;
  readonly seed: number;
  /** Simulated ms from starting the first node until every node saw every node up; null if not within maxSimMs. */
  readonly convergedAfterMs: number | null;
  readonly gossipMessages: number;
  readonly gossipBytes: number;
}

/**
 * Start `nodes` nodes at once with one seed and measure simulated time until all see all
 * up. Reused by the bench to plot convergence against cluster size.
 */
export async function measureConvergence(opts: {
  readonly nodes: number;
  readonly seed: number;
  readonly intervalMs?: number;
  readonly maxSimMs?: number;
  readonly faults?: Partial<SimFaults>;
}): Promise<ConvergenceResult> {
  const ids = Array.from({ length: opts.nodes }, (_, i) => `n${String(i + 1).padStart(3, '0')}`);
  const cluster = new SimCluster({
    seed: opts.seed,
    ids,
    ...(opts.intervalMs !== undefined && { intervalMs: opts.intervalMs }),
    ...(opts.faults !== undefined && { faults: opts.faults }),
  });
  const t0 = cluster.clock.now();
  await cluster.startAll();
  const ok = await cluster.clock.runUntil(() => cluster.converged(), opts.maxSimMs ?? 60_000);
  const convergedAfterMs = ok ? cluster.clock.now() - t0 : null;
  cluster.stop();
  const stats = cluster.net.stats();
  let gossipMessages = 0;
  let gossipBytes = 0;
  for (const [name, s] of Object.entries(stats.byType)) {
    if (name.startsWith('GOSSIP_') || name === 'LEAVE') {
      gossipMessages += s.sent;
      gossipBytes += s.bytes;
    }
  }
  return { nodes: opts.nodes, seed: opts.seed, convergedAfterMs, gossipMessages, gossipBytes };
}
