// Membership as a pure state machine (STYLE §1): inputs are tick(now), receive(from, msg,
// now) and leave(now); outputs are effects (messages to send, status changes, addresses
// learned, clock-skew flags). No I/O, no timers; randomness comes from the Random port.
// The driver (gossiper.ts) turns effects into transport calls and log lines.
//
// Gossip is Cassandra's three-way push-pull (Gossiper.java): the initiator sends a SYN of
// digests (id, generation, heartbeat); the receiver answers with an ACK carrying the states
// it has newer plus digests of the ones it wants; the initiator sends those back in an ACK2.
// One round therefore repairs both sides. State per node is small (≤ ~50 nodes), so a
// state is sent whole rather than as Cassandra's per-key versioned application states.
//
// Failure detection: every heartbeat advance observed (first- or second-hand) is an arrival
// for that node's phi accrual detector (phi.ts); a node goes `suspect` above `suspectPhi`,
// `down` above `phiThreshold`, and `up` again as soon as its heartbeat advances.
import type { Random } from '../core/time.ts';
import type { NodeId } from '../core/types.ts';
import { MsgType } from '../net/messages.ts';
import { PhiDetector, defaultPhiOptions } from './phi.ts';
import type { PhiOptions } from './phi.ts';

/**
 * - up / suspect / down: local opinion from the phi detector (suspect still counts as up:
 *   it is an early warning, not a reason to move traffic).
 * - leaving: our own status after leave(); peers see such a node as `left`.
 * - left: departed on purpose; out of the ring, never marked down.
 */
export type MemberStatus = 'up' | 'suspect' | 'down' | 'leaving' | 'left';

export interface NodeAddress {
  readonly host: string;
  readonly httpPort: number;
  readonly peerPort: number;
}

/** What a node says about itself; only the node itself changes `status`. */
export type AnnouncedStatus = 'up' | 'leaving';

/** One node's gossiped state. */
export interface NodeState {
  readonly id: NodeId;
  readonly address: NodeAddress;
  /** Bumped on every restart (the driver passes the startup time in ms). */
  readonly generation: number;
  /** Bumped by the node every gossip round, and on leave(). */
  readonly heartbeat: number;
  readonly status: AnnouncedStatus;
  /** The node's own wall clock when it last bumped its heartbeat. */
  readonly wallMs: number;
}

/** [id, generation, heartbeat]; generation -1 means "I know nothing of this node". */
export type Digest = readonly [id: NodeId, generation: number, heartbeat: number];

export interface SynMessage {
  readonly t: typeof MsgType.GOSSIP_SYN;
  readonly wallMs: number;
  readonly digests: readonly Digest[];
}
export interface AckMessage {
  readonly t: typeof MsgType.GOSSIP_ACK;
  readonly wallMs: number;
  readonly states: readonly NodeState[];
  readonly requests: readonly Digest[];
}
export interface Ack2Message {
  readonly t: typeof MsgType.GOSSIP_ACK2;
  readonly wallMs: number;
  readonly states: readonly NodeState[];
}
export interface LeaveMessage {
  readonly t: typeof MsgType.LEAVE;
  readonly wallMs: number;
  readonly state: NodeState;
}
export type GossipMessage = SynMessage | AckMessage | Ack2Message | LeaveMessage;

export type MembershipEffect =
  | { readonly kind: 'send'; readonly to: NodeId; readonly msg: GossipMessage }
  | {
      readonly kind: 'status';
      readonly id: NodeId;
      readonly from: MemberStatus | null;
      readonly to: MemberStatus;
      readonly generation: number;
    }
  | { readonly kind: 'address'; readonly id: NodeId; readonly address: NodeAddress }
  | { readonly kind: 'clockSkew'; readonly id: NodeId; readonly offsetMs: number; readonly skewed: boolean }
  | { readonly kind: 'localPause'; readonly pausedMs: number };

export interface MemberView {
  readonly id: NodeId;
  readonly address: NodeAddress;
  readonly status: MemberStatus;
  readonly generation: number;
  readonly heartbeat: number;
  readonly phi: number;
  /** Estimated (their wall clock − ours) in ms, from direct messages; null before any. */
  readonly clockOffsetMs: number | null;
  readonly clockSkewed: boolean;
  /** Local time the heartbeat last advanced (ours: now); null if never. */
  readonly lastSeenMs: number | null;
}

export interface MembershipOptions {
  readonly self: NodeId;
  readonly address: NodeAddress;
  readonly generation: number;
  /** Seed ids (not self) used to join and, occasionally, to heal partitions. */
  readonly seeds: readonly NodeId[];
  readonly random: Random;
  readonly intervalMs?: number;
  readonly phiThreshold?: number;
  readonly suspectPhi?: number;
  readonly maxClockSkewMs?: number;
  readonly phi?: Partial<PhiOptions>;
  /**
   * A gap between our own ticks longer than this means we were paused (SIGSTOP, GC, a
   * blocked event loop); failure detectors restart their wait instead of convicting
   * everyone. Default 4 × intervalMs.
   */
  readonly localPauseMs?: number;
  /** Live peers gossiped to per round (default: fanoutFor(cluster size)). */
  readonly fanout?: number;
}

export const DEFAULT_GOSSIP_INTERVAL_MS = 500;
/** Cassandra's phi_convict_threshold default. */
export const DEFAULT_PHI_THRESHOLD = 8;
/** ≈ 1 in 1000 chance the node is merely slow: worth a warning, not a reroute. */
export const DEFAULT_SUSPECT_PHI = 3;
export const DEFAULT_MAX_CLOCK_SKEW_MS = 2000;
/** Bound on the member table and on entries accepted from one message. */
export const MAX_MEMBERS = 1024;
/** Direct clock samples kept per peer; the median rides out one delayed message. */
const CLOCK_SAMPLES = 5;

/**
 * Live peers per round. Heartbeats reach most nodes second-hand, so the gap between
 * arrivals (what phi measures) grows with the epidemic's spread time, ~log N rounds; more
 * targets per round in bigger clusters keep that gap, and so detection time, near-flat.
 */
export function fanoutFor(clusterSize: number): number {
  return Math.max(1, Math.ceil(Math.log2(Math.max(1, clusterSize)) / 2));
}

/** Order by (generation, heartbeat). */
export function compareVersion(
  a: { readonly generation: number; readonly heartbeat: number },
  b: { readonly generation: number; readonly heartbeat: number },
): number {
  return a.generation - b.generation || a.heartbeat - b.heartbeat;
}

/**
 * Join of two states of one node. A newer generation wins outright (a restart forgets a
 * previous leave). Within a generation the higher heartbeat wins, and `leaving` is sticky:
 * once the node announced it, no older or relayed `up` can undo it. Commutative,
 * associative and idempotent on (generation, heartbeat, status), so views converge
 * whatever order gossip arrives in.
 */
export function mergeState(a: NodeState, b: NodeState): NodeState {
  if (a.generation !== b.generation) return a.generation > b.generation ? a : b;
  const departing = a.status === 'leaving' || b.status === 'leaving';
  let newer: NodeState;
  if (a.heartbeat !== b.heartbeat) newer = a.heartbeat > b.heartbeat ? a : b;
  else newer = b.status === 'leaving' && a.status !== 'leaving' ? b : a;
  if (departing && newer.status !== 'leaving') return { ...newer, status: 'leaving' };
  return newer;
}

interface Peer {
  state: NodeState;
  status: MemberStatus;
  detector: PhiDetector;
  lastSeenMs: number | null;
}

interface ClockEstimate {
  samples: number[];
  offsetMs: number;
  skewed: boolean;
}

export class Membership {
  readonly self: NodeId;
  readonly intervalMs: number;
  readonly phiThreshold: number;
  readonly suspectPhi: number;
  readonly maxClockSkewMs: number;
  private readonly phiOptions: PhiOptions;
  private readonly seeds: readonly NodeId[];
  private readonly fanout: number | undefined;
  private readonly localPauseMs: number;
  private lastTickMs: number | null = null;
  private readonly random: Random;
  private selfState: NodeState;
  private readonly peers = new Map<NodeId, Peer>();
  private readonly clocks = new Map<NodeId, ClockEstimate>();
  /** True once any peer has spoken to us: until then we knock on every seed each round. */
  private joined = false;

  constructor(options: MembershipOptions, nowMs: number) {
    this.self = options.self;
    this.intervalMs = options.intervalMs ?? DEFAULT_GOSSIP_INTERVAL_MS;
    this.phiThreshold = options.phiThreshold ?? DEFAULT_PHI_THRESHOLD;
    this.suspectPhi = Math.min(options.suspectPhi ?? DEFAULT_SUSPECT_PHI, this.phiThreshold);
    this.maxClockSkewMs = options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    this.phiOptions = { ...defaultPhiOptions(this.intervalMs), ...options.phi };
    this.seeds = [...new Set(options.seeds)].filter((s) => s !== options.self);
    this.random = options.random;
    this.fanout = options.fanout;
    this.localPauseMs = options.localPauseMs ?? 4 * this.intervalMs;
    this.selfState = {
      id: options.self,
      address: options.address,
      generation: options.generation,
      heartbeat: 0,
      status: 'up',
      wallMs: nowMs,
    };
  }

  // ---- inputs ----------------------------------------------------------------------

  /** One gossip round: bump our heartbeat, re-evaluate peers, gossip to chosen targets. */
  tick(nowMs: number): MembershipEffect[] {
    const effects: MembershipEffect[] = [];
    this.selfState = { ...this.selfState, heartbeat: this.selfState.heartbeat + 1, wallMs: nowMs };
    if (this.lastTickMs !== null && nowMs - this.lastTickMs > this.localPauseMs) {
      for (const p of this.peers.values()) p.detector.rebase(nowMs);
      effects.push({ kind: 'localPause', pausedMs: nowMs - this.lastTickMs });
    }
    this.lastTickMs = nowMs;
    this.evaluate(nowMs, effects);
    const syn: SynMessage = { t: MsgType.GOSSIP_SYN, wallMs: nowMs, digests: this.digests() };
    for (const to of this.gossipTargets()) effects.push({ kind: 'send', to, msg: syn });
    return effects;
  }

  /** Handle a gossip message. Unknown or malformed messages produce no effects. */
  receive(from: NodeId, raw: unknown, nowMs: number): MembershipEffect[] {
    const effects: MembershipEffect[] = [];
    if (from === this.self || typeof raw !== 'object' || raw === null) return effects;
    const msg = raw as Record<string, unknown>;
    const t = msg['t'];
    if (t !== MsgType.GOSSIP_SYN && t !== MsgType.GOSSIP_ACK && t !== MsgType.GOSSIP_ACK2 && t !== MsgType.LEAVE) {
      return effects;
    }
    if (isFiniteNumber(msg['wallMs'])) this.sampleClock(from, msg['wallMs'] - nowMs, effects);
    this.joined = true;
    switch (t) {
      case MsgType.GOSSIP_SYN: {
        const digests = parseDigests(msg['digests']);
        const { states, requests } = this.answerSyn(digests);
        effects.push({ kind: 'send', to: from, msg: { t: MsgType.GOSSIP_ACK, wallMs: nowMs, states, requests } });
        break;
      }
      case MsgType.GOSSIP_ACK: {
        for (const s of parseStates(msg['states'])) this.apply(s, nowMs, effects);
        const states = this.statesNewerThan(parseDigests(msg['requests']));
        if (states.length > 0) {
          effects.push({ kind: 'send', to: from, msg: { t: MsgType.GOSSIP_ACK2, wallMs: nowMs, states } });
        }
        break;
      }
      case MsgType.GOSSIP_ACK2:
        for (const s of parseStates(msg['states'])) this.apply(s, nowMs, effects);
        break;
      case MsgType.LEAVE: {
        const s = parseState(msg['state']);
        if (s !== null) this.apply(s, nowMs, effects);
        break;
      }
    }
    return effects;
  }

  /**
   * Leave on purpose: announce `leaving` (with a heartbeat bump so it is newer than any
   * state in flight) and push it to every live peer now rather than wait for gossip.
   */
  leave(nowMs: number): MembershipEffect[] {
    if (this.selfState.status === 'leaving') return [];
    this.selfState = {
      ...this.selfState,
      status: 'leaving',
      heartbeat: this.selfState.heartbeat + 1,
      wallMs: nowMs,
    };
    const effects: MembershipEffect[] = [
      { kind: 'status', id: this.self, from: 'up', to: 'leaving', generation: this.selfState.generation },
    ];
    const msg: LeaveMessage = { t: MsgType.LEAVE, wallMs: nowMs, state: this.selfState };
    for (const [id, p] of this.peers) {
      if (p.status === 'up' || p.status === 'suspect') effects.push({ kind: 'send', to: id, msg });
    }
    return effects;
  }

  // ---- view ------------------------------------------------------------------------

  members(nowMs: number): MemberView[] {
    const out: MemberView[] = [
      {
        id: this.self,
        address: this.selfState.address,
        status: this.selfState.status,
        generation: this.selfState.generation,
        heartbeat: this.selfState.heartbeat,
        phi: 0,
        clockOffsetMs: 0,
        clockSkewed: false,
        lastSeenMs: nowMs,
      },
    ];
    for (const [id, p] of this.peers) {
      const clock = this.clocks.get(id);
      out.push({
        id,
        address: p.state.address,
        status: p.status,
        generation: p.state.generation,
        heartbeat: p.state.heartbeat,
        phi: p.detector.phi(nowMs),
        clockOffsetMs: clock?.offsetMs ?? null,
        clockSkewed: clock?.skewed ?? false,
        lastSeenMs: p.lastSeenMs,
      });
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  status(id: NodeId): MemberStatus | null {
    if (id === this.self) return this.selfState.status;
    return this.peers.get(id)?.status ?? null;
  }

  /** Reachable enough to send to: up or suspect (and not leaving). */
  isUp(id: NodeId): boolean {
    const s = this.status(id);
    return s === 'up' || s === 'suspect';
  }

  /**
   * Members that own ring ranges, sorted: every known node that has not announced it is
   * leaving. Down nodes stay (sloppy quorum routes around them, hints bring data back).
   * Depends only on gossiped state, so every node that converged computes the same ring.
   */
  ringMembers(): NodeId[] {
    const out: NodeId[] = [];
    if (this.selfState.status === 'up') out.push(this.self);
    for (const [id, p] of this.peers) if (p.state.status === 'up') out.push(id);
    return out.sort();
  }

  /** This node's own gossiped state (for tests and the admin API). */
  selfNodeState(): NodeState {
    return this.selfState;
  }

  /** Gossiped state of every known node, self included (for tests and merge checks). */
  states(): NodeState[] {
    return [this.selfState, ...[...this.peers.values()].map((p) => p.state)];
  }

  // ---- internals -------------------------------------------------------------------

  private digests(): Digest[] {
    const out: Digest[] = [[this.self, this.selfState.generation, this.selfState.heartbeat]];
    for (const [id, p] of this.peers) out.push([id, p.state.generation, p.state.heartbeat]);
    return out;
  }

  private localState(id: NodeId): NodeState | undefined {
    return id === this.self ? this.selfState : this.peers.get(id)?.state;
  }

  /** ACK contents: our newer states (including nodes the sender never mentioned) + requests. */
  private answerSyn(digests: readonly Digest[]): { states: NodeState[]; requests: Digest[] } {
    const states: NodeState[] = [];
    const requests: Digest[] = [];
    const mentioned = new Set<NodeId>();
    for (const [id, generation, heartbeat] of digests) {
      mentioned.add(id);
      const local = this.localState(id);
      if (local === undefined) {
        if (this.peers.size < MAX_MEMBERS) requests.push([id, -1, -1]);
        continue;
      }
      const c = compareVersion(local, { generation, heartbeat });
      if (c > 0) states.push(local);
      else if (c < 0 && id !== this.self) requests.push([id, local.generation, local.heartbeat]);
    }
    for (const s of this.states()) if (!mentioned.has(s.id)) states.push(s);
    return { states, requests };
  }

  private statesNewerThan(digests: readonly Digest[]): NodeState[] {
    const out: NodeState[] = [];
    for (const [id, generation, heartbeat] of digests) {
      const local = this.localState(id);
      if (local !== undefined && compareVersion(local, { generation, heartbeat }) > 0) out.push(local);
    }
    return out;
  }

  private apply(incoming: NodeState, nowMs: number, effects: MembershipEffect[]): void {
    if (incoming.id === this.self) return; // only we speak for ourselves
    const peer = this.peers.get(incoming.id);
    if (peer === undefined) {
      if (this.peers.size >= MAX_MEMBERS) return;
      const detector = new PhiDetector(this.phiOptions);
      detector.heartbeat(nowMs);
      const status: MemberStatus = incoming.status === 'leaving' ? 'left' : 'up';
      this.peers.set(incoming.id, { state: incoming, status, detector, lastSeenMs: nowMs });
      effects.push({ kind: 'address', id: incoming.id, address: incoming.address });
      effects.push({ kind: 'status', id: incoming.id, from: null, to: status, generation: incoming.generation });
      return;
    }
    const before = peer.state;
    const merged = mergeState(before, incoming);
    if (merged === before) return;
    const newGeneration = merged.generation > before.generation;
    const advanced = compareVersion(merged, before) > 0;
    if (newGeneration) {
      // A restart: the old arrival history says nothing about the new process.
      peer.detector = new PhiDetector(this.phiOptions);
    }
    if (advanced) {
      peer.detector.heartbeat(nowMs);
      peer.lastSeenMs = nowMs;
    }
    peer.state = merged;
    if (!sameAddress(before.address, merged.address)) {
      effects.push({ kind: 'address', id: merged.id, address: merged.address });
    }
    const next: MemberStatus = merged.status === 'leaving' ? 'left' : advanced ? 'up' : peer.status;
    this.setStatus(peer, next, effects);
  }

  private setStatus(peer: Peer, to: MemberStatus, effects: MembershipEffect[]): void {
    if (peer.status === to) return;
    effects.push({ kind: 'status', id: peer.state.id, from: peer.status, to, generation: peer.state.generation });
    peer.status = to;
  }

  private evaluate(nowMs: number, effects: MembershipEffect[]): void {
    for (const peer of this.peers.values()) {
      if (peer.status === 'left') continue;
      const phi = peer.detector.phi(nowMs);
      if (phi >= this.phiThreshold) this.setStatus(peer, 'down', effects);
      else if (phi >= this.suspectPhi && peer.status === 'up') this.setStatus(peer, 'suspect', effects);
      else if (phi < this.suspectPhi && peer.status === 'suspect') this.setStatus(peer, 'up', effects);
    }
  }

  /**
   * Cassandra's Gossiper.run: one random live peer; a down one with probability
   * down/(live+1) so partitions heal; a seed when the live peer was not one, always if we
   * know fewer live peers than seeds, else with probability seeds/(live+down) — seeds
   * keep the cluster from splitting into islands that only gossip among themselves.
   * Before anyone has answered, every seed each round.
   */
  private gossipTargets(): NodeId[] {
    const targets = new Set<NodeId>();
    if (!this.joined) {
      for (const s of this.seeds) targets.add(s);
      return [...targets];
    }
    const live: NodeId[] = [];
    const down: NodeId[] = [];
    for (const [id, p] of this.peers) {
      if (p.status === 'up' || p.status === 'suspect') live.push(id);
      else if (p.status === 'down') down.push(id);
    }
    let toSeed = false;
    const fanout = Math.min(live.length, this.fanout ?? fanoutFor(this.peers.size + 1));
    for (let i = 0; i < fanout; i++) {
      // Partial Fisher–Yates: `fanout` distinct live peers.
      const j = i + this.random.int(live.length - i);
      const target = live[j] as NodeId;
      live[j] = live[i] as NodeId;
      live[i] = target;
      targets.add(target);
      toSeed ||= this.seeds.includes(target);
    }
    if (down.length > 0 && this.random.next() < down.length / (live.length + 1)) {
      targets.add(down[this.random.int(down.length)] as NodeId);
    }
    if (this.seeds.length > 0 && (!toSeed || live.length < this.seeds.length)) {
      const p = live.length === 0 ? 1 : this.seeds.length / (live.length + down.length);
      if (live.length < this.seeds.length || this.random.next() < p) {
        targets.add(this.seeds[this.random.int(this.seeds.length)] as NodeId);
      }
    }
    return [...targets];
  }

  private sampleClock(from: NodeId, offsetMs: number, effects: MembershipEffect[]): void {
    let est = this.clocks.get(from);
    if (est === undefined) {
      if (this.clocks.size >= MAX_MEMBERS) return;
      est = { samples: [], offsetMs: 0, skewed: false };
      this.clocks.set(from, est);
    }
    est.samples.push(offsetMs);
    if (est.samples.length > CLOCK_SAMPLES) est.samples.shift();
    // Median of recent one-way samples: network delay biases each by a few ms, far below
    // the skew that matters (LWW ordering, TTL expiry), and one late message is ignored.
    const sorted = [...est.samples].sort((a, b) => a - b);
    est.offsetMs = sorted[sorted.length >> 1] as number;
    const skewed = Math.abs(est.offsetMs) > this.maxClockSkewMs;
    if (skewed !== est.skewed) {
      est.skewed = skewed;
      effects.push({ kind: 'clockSkew', id: from, offsetMs: est.offsetMs, skewed });
    }
  }
}

// ---- wire validation (messages come from other processes: trust nothing) ------------

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function sameAddress(a: NodeAddress, b: NodeAddress): boolean {
  return a.host === b.host && a.httpPort === b.httpPort && a.peerPort === b.peerPort;
}

function parseDigests(v: unknown): Digest[] {
  if (!Array.isArray(v)) return [];
  const out: Digest[] = [];
  for (const d of v.slice(0, MAX_MEMBERS)) {
    if (!Array.isArray(d)) continue;
    const [id, g, h] = d as unknown[];
    if (typeof id === 'string' && isFiniteNumber(g) && isFiniteNumber(h)) out.push([id, g, h]);
  }
  return out;
}

function parseStates(v: unknown): NodeState[] {
  if (!Array.isArray(v)) return [];
  const out: NodeState[] = [];
  for (const s of v.slice(0, MAX_MEMBERS)) {
    const st = parseState(s);
    if (st !== null) out.push(st);
  }
  return out;
}

export function parseState(v: unknown): NodeState | null {
  if (typeof v !== 'object' || v === null) return null;
  const s = v as Record<string, unknown>;
  const a = s['address'] as Record<string, unknown> | null | undefined;
  if (
    typeof s['id'] !== 'string' ||
    !isFiniteNumber(s['generation']) ||
    !isFiniteNumber(s['heartbeat']) ||
    (s['status'] !== 'up' && s['status'] !== 'leaving') ||
    !isFiniteNumber(s['wallMs']) ||
    typeof a !== 'object' ||
    a === null ||
    typeof a['host'] !== 'string' ||
    !isFiniteNumber(a['httpPort']) ||
    !isFiniteNumber(a['peerPort'])
  ) {
    return null;
  }
  return {
    id: s['id'],
    address: { host: a['host'], httpPort: a['httpPort'], peerPort: a['peerPort'] },
    generation: s['generation'],
    heartbeat: s['heartbeat'],
    status: s['status'],
    wallMs: s['wallMs'],
  };
}
