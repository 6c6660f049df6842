// The driver around the pure Membership machine: runs a tick every interval on the Clock
// port, sends effects over the Transport port (one-way, best effort), tells the transport
// where peers live, logs, and notifies listeners of status changes.
//
// The Transport allows one onMessage handler, so this does not register one: node.ts
// dispatches and calls handleMessage(), which says whether the message was ours.
import { buildRing } from '../core/ring.ts';
import type { Ring } from '../core/ring.ts';
import type { Clock, TimerHandle } from '../core/time.ts';
import type { NodeId } from '../core/types.ts';
import { MsgType } from '../net/messages.ts';
import type { Message, Transport } from '../net/transport.ts';
import type { Logger } from '../runtime/logger.ts';
import { DEFAULT_GOSSIP_INTERVAL_MS, Membership } from './membership.ts';
import type { MemberStatus, MemberView, MembershipEffect, MembershipOptions, NodeAddress } from './membership.ts';

export interface Seed {
  readonly id: NodeId;
  readonly address: NodeAddress;
}

/**
 * The Membership machine's options (tuning included, documented there), with seeds as
 * addresses rather than ids, plus what the driver itself needs.
 */
export interface GossiperOptions extends Omit<MembershipOptions, 'seeds'> {
  /** Nodes to contact when joining; may include self (ignored). */
  readonly seeds: readonly Seed[];
  readonly transport: Transport;
  readonly clock: Clock;
  readonly log: Logger;
  /** Vnodes per member for ring(); the ring module's default when absent. */
  readonly vnodesPerNode?: number;
}

export interface MemberEvent {
  readonly id: NodeId;
  /** null when the node was just learned. */
  readonly from: MemberStatus | null;
  readonly to: MemberStatus;
  readonly generation: number;
}

export type MemberListener = (event: MemberEvent) => void;

const GOSSIP_TYPES: ReadonlySet<number> = new Set([
  MsgType.GOSSIP_SYN,
  MsgType.GOSSIP_ACK,
  MsgType.GOSSIP_ACK2,
  MsgType.LEAVE,
]);

export class Gossiper {
  readonly self: NodeId;
  readonly membership: Membership;
  private readonly transport: Transport;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly seeds: readonly Seed[];
  private readonly vnodesPerNode: number | undefined;
  private readonly listeners = new Set<MemberListener>();
  private timer: TimerHandle | null = null;
  private running = false;
  private ringCache: { key: string; ring: Ring } | null = null;

  constructor(private readonly options: GossiperOptions) {
    this.self = options.self;
    this.transport = options.transport;
    this.clock = options.clock;
    this.log = options.log;
    this.intervalMs = options.intervalMs ?? DEFAULT_GOSSIP_INTERVAL_MS;
    this.seeds = options.seeds.filter((s) => s.id !== options.self);
    this.vnodesPerNode = options.vnodesPerNode;
    const { seeds: _seeds, transport: _transport, clock: _clock, log: _log, vnodesPerNode: _vnodes, ...membershipOptions } = options;
    this.membership = new Membership(
      { ...membershipOptions, seeds: this.seeds.map((s) => s.id), intervalMs: this.intervalMs },
      options.clock.now(),
    );
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const s of this.seeds) this.transport.setPeerAddress(s.id, { host: s.address.host, port: s.address.peerPort });
    this.log.info({ node: this.self, generation: this.options.generation, seeds: this.seeds.map((s) => s.id) }, 'gossip started');
    // Tick at once so joining starts now; afterwards every intervalMs.
    this.loop();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = null;
  }

  /** Announce a deliberate departure to every live peer; keep gossiping until stop(). */
  leave(): void {
    this.apply(this.membership.leave(this.clock.now()));
  }

  /** Feed a one-way message; true if it was a gossip message (consumed here). */
  handleMessage(from: NodeId, msg: Message): boolean {
    if (!GOSSIP_TYPES.has(msg.t)) return false;
    if (this.running) this.apply(this.membership.receive(from, msg, this.clock.now()));
    return true;
  }

  /** Subscribe to status changes (e.g. a node back up → hinted handoff delivers). */
  onChange(listener: MemberListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  members(): MemberView[] {
    return this.membership.members(this.clock.now());
  }

  isUp(id: NodeId): boolean {
    return this.membership.isUp(id);
  }

  ringMembers(): NodeId[] {
    return this.membership.ringMembers();
  }

  /** The ring over ringMembers(), rebuilt only when that set changes. */
  ring(): Ring {
    const members = this.membership.ringMembers();
    const key = members.join('\n');
    if (this.ringCache?.key !== key) {
      this.ringCache = { key, ring: buildRing(members, this.vnodesPerNode) };
    }
    return this.ringCache.ring;
  }

  private loop(): void {
    if (!this.running) return;
    this.apply(this.membership.tick(this.clock.now()));
    if (this.running) this.timer = this.clock.setTimeout(() => this.loop(), this.intervalMs);
  }

  private apply(effects: readonly MembershipEffect[]): void {
    for (const e of effects) {
      switch (e.kind) {
        case 'send':
          this.transport.send(e.to, e.msg as unknown as Message);
          break;
        case 'address':
          this.transport.setPeerAddress(e.id, { host: e.address.host, port: e.address.peerPort });
          break;
        case 'clockSkew':
          if (e.skewed) {
            this.log.warn({ node: this.self, peer: e.id, offsetMs: e.offsetMs }, 'peer clock skewed beyond maxClockSkewMs');
          } else {
            this.log.info({ node: this.self, peer: e.id, offsetMs: e.offsetMs }, 'peer clock back within maxClockSkewMs');
          }
          break;
        case 'localPause':
          this.log.warn({ node: this.self, pausedMs: e.pausedMs }, 'local pause detected; not convicting peers for it');
          break;
        case 'status': {
          const level = e.to === 'down' ? 'warn' : 'info';
          this.log[level]({ node: this.self, peer: e.id, from: e.from, to: e.to, generation: e.generation }, 'member status');
          const event: MemberEvent = { id: e.id, from: e.from, to: e.to, generation: e.generation };
          for (const l of this.listeners) {
            try {
              l(event);
            } catch (err) {
              this.log.error({ err, peer: e.id }, 'member listener threw');
            }
          }
          break;
        }
      }
    }
  }
}
