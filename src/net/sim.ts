// A whole cluster in one process, as tigerbeetle's VOPR (src/vopr.zig, src/testing/time.zig):
// virtual time (SimClock), and a network (SimNetwork) whose every decision — delay, drop,
// duplicate — comes from one seeded PRNG, so the same seed and the same actions replay the
// same run. SimTransport implements the same Transport port as the WebSocket transport and
// passes the same contract suite (test/net/transport-contract.ts).
import type { Clock, TimerHandle } from '../core/time.ts';
import type { NodeId } from '../core/types.ts';
import { createPrng, type Prng } from '../core/prng.ts';
import { silentLogger, type Logger } from '../runtime/logger.ts';
import {
  PeerError,
  type Message,
  type OneWayHandler,
  type PeerAddress,
  type RequestHandler,
  type Transport,
} from './transport.ts';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FrameKind,
  decodeFrame,
  encodeFrame,
  errorBody,
  type Frame,
} from './frame.ts';
import { msgTypeName } from './messages.ts';

// Captured at load so vitest fake timers (which replace the global) cannot break settling.
const realSetImmediate = globalThis.setImmediate;

// ---------------------------------------------------------------------------------------
// SimClock

interface SimTimer {
  readonly at: number;
  /** Insertion order: equal times fire FIFO. */
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

export interface SimClockOptions {
  /**
   * Upper bound on timers fired by one runFor/runUntil call. A timer that re-arms itself at
   * 0 ms would otherwise spin forever without advancing time; this turns it into an error.
   */
  readonly maxStepsPerRun?: number;
}

export class SimClock implements Clock {
  private nowMs: number;
  private seq = 0;
  private liveTimers = 0;
  private readonly heap: SimTimer[] = [];
  private readonly maxStepsPerRun: number;

  constructor(startMs = 0, opts: SimClockOptions = {}) {
    this.nowMs = startMs;
    this.maxStepsPerRun = opts.maxStepsPerRun ?? 10_000_000;
  }

  now(): number {
    return this.nowMs;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const delayMs = Number.isFinite(ms) && ms > 0 ? ms : 0;
    const timer: SimTimer = { at: this.nowMs + delayMs, seq: this.seq++, fn, cancelled: false };
    this.push(timer);
    this.liveTimers++;
    return {
      cancel: () => {
        if (!timer.cancelled) {
          timer.cancelled = true;
          this.liveTimers--;
        }
      },
    };
  }

  /** Timers scheduled and not yet fired or cancelled. */
  pendingTimers(): number {
    return this.liveTimers;
  }

  /** When the next timer fires, or undefined if none is scheduled. */
  nextTimerAt(): number | undefined {
    return this.peek()?.at;
  }

  /**
   * Lets every queued microtask run (promise continuations of the code under test).
   * One macrotask turn is enough: Node drains the whole microtask queue, including
   * microtasks queued by microtasks, before it runs the next setImmediate callback.
   */
  settle(): Promise<void> {
    return new Promise<void>((resolve) => realSetImmediate(resolve));
  }

  /** Fires the earliest timer (advancing time to it), then settles. False if none was due. */
  async step(): Promise<boolean> {
    await this.settle();
    const timer = this.popLive();
    if (!timer) return false;
    this.fire(timer);
    await this.settle();
    return true;
  }

  /** Advances virtual time by `ms`, firing every timer due on the way, in order. */
  async runFor(ms: number): Promise<void> {
    const targetMs = this.nowMs + Math.max(0, ms);
    await this.settle();
    for (let steps = 0; ; steps++) {
      this.checkSteps(steps);
      const next = this.peek();
      if (!next || next.at > targetMs) break;
      this.fire(this.popLive() as SimTimer);
      await this.settle();
    }
    this.nowMs = targetMs;
    await this.settle();
  }

  /**
   * Runs timers until `pred()` holds (checked after every timer, with microtasks settled)
   * or `maxMs` of virtual time have passed. Returns whether `pred()` held.
   */
  async runUntil(pred: () => boolean, maxMs: number): Promise<boolean> {
    const deadlineMs = this.nowMs + Math.max(0, maxMs);
    await this.settle();
    if (pred()) return true;
    for (let steps = 0; ; steps++) {
      this.checkSteps(steps);
      const next = this.peek();
      if (!next || next.at > deadlineMs) {
        this.nowMs = deadlineMs;
        await this.settle();
        return pred();
      }
      this.fire(this.popLive() as SimTimer);
      await this.settle();
      if (pred()) return true;
    }
  }

  private checkSteps(steps: number): void {
    if (steps >= this.maxStepsPerRun) {
      throw new Error(`SimClock: more than ${this.maxStepsPerRun} timers in one run (livelock?)`);
    }
  }

  private fire(timer: SimTimer): void {
    this.nowMs = Math.max(this.nowMs, timer.at);
    this.liveTimers--;
    timer.fn();
  }

  // Binary min-heap on (at, seq); cancelled timers are removed lazily.
  private less(a: SimTimer, b: SimTimer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(t: SimTimer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p] as SimTimer;
      if (!this.less(t, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = t;
  }

  private popRaw(): SimTimer | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let best = last;
      const lt = h[l];
      const rt = h[r];
      if (lt && this.less(lt, best)) {
        m = l;
        best = lt;
      }
      if (rt && this.less(rt, best)) {
        m = r;
        best = rt;
      }
      if (m === i) break;
      h[i] = best;
      i = m;
    }
    h[i] = last;
    return top;
  }

  private peek(): SimTimer | undefined {
    while (this.heap[0]?.cancelled) this.popRaw();
    return this.heap[0];
  }

  private popLive(): SimTimer | undefined {
    this.peek();
    return this.popRaw();
  }
}

// ---------------------------------------------------------------------------------------
// SimNetwork

export interface DelayRange {
  readonly min: number;
  readonly max: number;
}

export interface SimFaults {
  /** One-way latency per frame, uniform in [min, max] ms; overlap reorders frames. */
  readonly delayMs: DelayRange;
  /** Probability each frame is lost. */
  readonly dropRate: number;
  /** Probability each (not dropped) frame is delivered twice. */
  readonly duplicateRate: number;
}

export interface SimNetworkOptions extends Partial<SimFaults> {
  readonly seed: number;
  readonly clock: SimClock;
  readonly maxFrameBytes?: number;
  /** Per-peer bound on pending calls, as in the ws transport. */
  readonly maxQueuedPerPeer?: number;
  /** Sees every send / drop / duplicate / delivery, e.g. to record a trace. */
  readonly onEvent?: (e: SimEvent) => void;
  readonly log?: Logger;
}

export type SimEventKind = 'send' | 'drop' | 'duplicate' | 'deliver';
export type SimDropReason = 'random' | 'partition' | 'crashed' | 'down' | 'unknown';

export interface SimEvent {
  readonly kind: SimEventKind;
  readonly atMs: number;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly frameKind: FrameKind;
  readonly id: number;
  /** Message type number of the body. */
  readonly t: number;
  readonly bytes: number;
  readonly reason?: SimDropReason;
}

export interface SimTypeStats {
  sent: number;
  delivered: number;
  bytes: number;
}

export interface SimStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  /** Encoded bytes handed to the network (each frame once, duplicates not counted). */
  bytes: number;
  /** Keyed by message type name (messages.ts), e.g. GOSSIP_SYN. */
  byType: Record<string, SimTypeStats>;
}

interface SimNode {
  transport: SimTransport;
  crashed: boolean;
  /** Bumped on restart/replace: frames addressed to an older incarnation are dropped. */
  incarnation: number;
}

function emptyStats(): SimStats {
  return { sent: 0, delivered: 0, dropped: 0, duplicated: 0, bytes: 0, byType: {} };
}

export class SimNetwork {
  readonly clock: SimClock;
  readonly seed: number;
  private readonly prng: Prng;
  private faults: SimFaults;
  private readonly maxFrameBytes: number;
  readonly maxQueuedPerPeer: number;
  private readonly onEvent: ((e: SimEvent) => void) | undefined;
  readonly log: Logger;
  private readonly nodes = new Map<NodeId, SimNode>();
  /** Directed links that drop everything: `${from}\0${to}`. */
  private readonly blocked = new Set<string>();
  private counters: SimStats = emptyStats();

  constructor(opts: SimNetworkOptions) {
    this.clock = opts.clock;
    this.seed = opts.seed;
    this.prng = createPrng(opts.seed).fork('sim-network');
    this.faults = {
      delayMs: opts.delayMs ?? { min: 1, max: 10 },
      dropRate: opts.dropRate ?? 0,
      duplicateRate: opts.duplicateRate ?? 0,
    };
    checkFaults(this.faults);
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxQueuedPerPeer = opts.maxQueuedPerPeer ?? 1024;
    this.onEvent = opts.onEvent;
    this.log = opts.log ?? silentLogger;
  }

  /**
   * The transport for node `id`. Creating one for an id whose previous transport crashed or
   * stopped replaces it (a restarted process with fresh state); a live one cannot be replaced.
   */
  transport(id: NodeId): SimTransport {
    const prev = this.nodes.get(id);
    if (prev && !prev.crashed && prev.transport.isRunning()) {
      throw new Error(`SimNetwork: transport for ${id} is live; crash or stop it first`);
    }
    const t = new SimTransport(this, id);
    this.nodes.set(id, { transport: t, crashed: false, incarnation: (prev?.incarnation ?? 0) + 1 });
    return t;
  }

  /** Changes delay/drop/duplicate settings mid-run (e.g. a calm liveness phase, as VOPR). */
  setFaults(faults: Partial<SimFaults>): void {
    const next = { ...this.faults, ...faults };
    checkFaults(next);
    this.faults = next;
  }

  /** Symmetric partition: nothing passes between any node of `a` and any node of `b`. */
  partition(a: readonly NodeId[], b: readonly NodeId[]): void {
    for (const x of a) {
      for (const y of b) {
        this.blocked.add(linkKey(x, y));
        this.blocked.add(linkKey(y, x));
      }
    }
  }

  /** Frames from `from` to `to` are lost; the other direction still works. */
  partitionOneWay(from: NodeId, to: NodeId): void {
    this.blocked.add(linkKey(from, to));
  }

  /** Removes every partition (crashed nodes stay crashed). */
  heal(): void {
    this.blocked.clear();
  }

  /**
   * The node stops sending and receiving; frames in flight to it are lost, and calls to it
   * time out. Its own pending calls time out too (their timers keep running).
   */
  crash(id: NodeId): void {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`SimNetwork: no node ${id}`);
    node.crashed = true;
  }

  /** Brings a crashed node's transport back (same handlers); older in-flight frames stay lost. */
  restart(id: NodeId): void {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`SimNetwork: no node ${id}`);
    node.crashed = false;
    node.incarnation++;
  }

  isCrashed(id: NodeId): boolean {
    return this.nodes.get(id)?.crashed ?? false;
  }

  knows(id: NodeId): boolean {
    return this.nodes.has(id);
  }

  stats(): SimStats {
    return structuredClone(this.counters);
  }

  resetStats(): void {
    this.counters = emptyStats();
  }

  /** @internal Sends one frame from `sender` (throws FrameError if it cannot be encoded). */
  transmit(sender: SimTransport, to: NodeId, frame: Frame): void {
    const from = sender.self;
    const bytes = encodeFrame(frame, this.maxFrameBytes);
    const t = frame.body.t;
    const base = { from, to, frameKind: frame.kind, id: frame.id, t, bytes: bytes.length };
    this.counters.sent++;
    this.counters.bytes += bytes.length;
    const ts = this.typeStats(t);
    ts.sent++;
    ts.bytes += bytes.length;
    this.emit({ kind: 'send', atMs: this.clock.now(), ...base });

    const fromNode = this.nodes.get(from);
    const toNode = this.nodes.get(to);
    const reason = this.blockReason(sender, fromNode, toNode, from, to);
    if (reason) return this.drop(base, reason);
    if (this.prng.chance(this.faults.dropRate)) return this.drop(base, 'random');
    const copies = this.prng.chance(this.faults.duplicateRate) ? 2 : 1;
    if (copies === 2) {
      this.counters.duplicated++;
      this.emit({ kind: 'duplicate', atMs: this.clock.now(), ...base });
    }
    const toIncarnation = (toNode as SimNode).incarnation;
    for (let i = 0; i < copies; i++) {
      const { min, max } = this.faults.delayMs;
      const delayMs = this.prng.range(min, max);
      this.clock.setTimeout(() => this.deliver(base, bytes, toIncarnation), delayMs);
    }
  }

  private deliver(
    base: Omit<SimEvent, 'kind' | 'atMs'>,
    bytes: Buffer,
    toIncarnation: number,
  ): void {
    const toNode = this.nodes.get(base.to);
    if (!toNode || toNode.incarnation !== toIncarnation) return this.drop(base, 'crashed');
    if (toNode.crashed) return this.drop(base, 'crashed');
    if (!toNode.transport.isRunning()) return this.drop(base, 'down');
    // Partitions also cut frames already in flight.
    if (this.blocked.has(linkKey(base.from, base.to))) return this.drop(base, 'partition');
    this.counters.delivered++;
    this.typeStats(base.t).delivered++;
    this.emit({ kind: 'deliver', atMs: this.clock.now(), ...base });
    // Each copy decodes separately: nodes never share objects, as across a real wire.
    toNode.transport.receive(base.from, decodeFrame(bytes, this.maxFrameBytes));
  }

  private blockReason(
    sender: SimTransport,
    fromNode: SimNode | undefined,
    toNode: SimNode | undefined,
    from: NodeId,
    to: NodeId,
  ): SimDropReason | undefined {
    if (!fromNode || fromNode.transport !== sender || fromNode.crashed) return 'crashed';
    if (!toNode) return 'unknown';
    if (toNode.crashed) return 'crashed';
    if (!toNode.transport.isRunning()) return 'down';
    if (this.blocked.has(linkKey(from, to))) return 'partition';
    return undefined;
  }

  private drop(base: Omit<SimEvent, 'kind' | 'atMs'>, reason: SimDropReason): void {
    this.counters.dropped++;
    this.emit({ kind: 'drop', atMs: this.clock.now(), ...base, reason });
  }

  private typeStats(t: number): SimTypeStats {
    const name = msgTypeName(t);
    let s = this.counters.byType[name];
    if (!s) {
      s = { sent: 0, delivered: 0, bytes: 0 };
      this.counters.byType[name] = s;
    }
    return s;
  }

  private emit(e: SimEvent): void {
    this.onEvent?.(e);
  }

  /** @internal Incarnation of the node's current registration (for replies after restart). */
  incarnationOf(id: NodeId): number {
    return this.nodes.get(id)?.incarnation ?? 0;
  }
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}\0${to}`;
}

function checkFaults(f: SimFaults): void {
  const { min, max } = f.delayMs;
  if (!(Number.isInteger(min) && Number.isInteger(max) && min >= 0 && max >= min)) {
    throw new RangeError(`delayMs must be integers 0 <= min <= max, got ${min}..${max}`);
  }
  for (const [name, p] of [['dropRate', f.dropRate], ['duplicateRate', f.duplicateRate]] as const) {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`${name} must be in [0, 1], got ${p}`);
  }
}

// ---------------------------------------------------------------------------------------
// SimTransport

interface PendingCall {
  readonly peer: NodeId;
  readonly resolve: (m: Message) => void;
  readonly reject: (e: Error) => void;
  readonly timer: TimerHandle;
}

export class SimTransport implements Transport {
  private running = false;
  private nextId = 1;
  private readonly pending = new Map<number, PendingCall>();
  private readonly pendingPerPeer = new Map<NodeId, number>();
  private requestHandler: RequestHandler | undefined;
  private messageHandler: OneWayHandler | undefined;

  constructor(
    private readonly net: SimNetwork,
    readonly self: NodeId,
  ) {}

  isRunning(): boolean {
    return this.running;
  }

  setPeerAddress(_peer: NodeId, _address: PeerAddress): void {
    // Addresses mean nothing in one process; ids are enough.
  }

  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  onMessage(handler: OneWayHandler): void {
    this.messageHandler = handler;
  }

  async start(): Promise<void> {
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const [id, p] of this.pending) {
      this.settle(id, p);
      p.reject(new PeerError('CLOSED', p.peer, 'transport stopped'));
    }
  }

  call(peer: NodeId, msg: Message, timeoutMs: number): Promise<Message> {
    if (!this.running) return Promise.reject(new PeerError('CLOSED', peer, 'transport not running'));
    if (!this.net.knows(peer)) {
      return Promise.reject(new PeerError('UNREACHABLE', peer, `unknown peer ${peer}`));
    }
    const queued = this.pendingPerPeer.get(peer) ?? 0;
    if (queued >= this.net.maxQueuedPerPeer) {
      return Promise.reject(new PeerError('BACKPRESSURE', peer, `${queued} calls pending to ${peer}`));
    }
    const id = this.nextId++;
    return new Promise<Message>((resolve, reject) => {
      try {
        this.net.transmit(this, peer, { kind: FrameKind.REQUEST, id, body: msg });
      } catch (err) {
        reject(err as Error);
        return;
      }
      const timer = this.net.clock.setTimeout(() => {
        const p = this.pending.get(id);
        if (!p) return;
        this.settle(id, p);
        reject(new PeerError('TIMEOUT', peer, `no response from ${peer} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { peer, resolve, reject, timer });
      this.pendingPerPeer.set(peer, queued + 1);
    });
  }

  send(peer: NodeId, msg: Message): void {
    if (!this.running) return;
    try {
      this.net.transmit(this, peer, { kind: FrameKind.ONEWAY, id: 0, body: msg });
    } catch (err) {
      this.net.log.warn({ peer, err }, 'send: frame not encodable, dropped');
    }
  }

  /** @internal Called by SimNetwork when a frame arrives. */
  receive(from: NodeId, frame: Frame): void {
    switch (frame.kind) {
      case FrameKind.REQUEST:
        this.handleRequest(from, frame);
        return;
      case FrameKind.RESPONSE:
      case FrameKind.ERROR: {
        const p = this.pending.get(frame.id);
        if (!p || p.peer !== from) return; // late (timed out) or duplicated response
        this.settle(frame.id, p);
        if (frame.kind === FrameKind.RESPONSE) p.resolve(frame.body);
        else p.reject(new PeerError('REMOTE', from, String(frame.body['message'])));
        return;
      }
      case FrameKind.ONEWAY:
        try {
          this.messageHandler?.(from, frame.body);
        } catch (err) {
          this.net.log.error({ peer: from, err }, 'one-way handler threw');
        }
        return;
    }
  }

  private handleRequest(from: NodeId, frame: Frame): void {
    const handler = this.requestHandler;
    const incarnation = this.net.incarnationOf(this.self);
    const reply = (kind: FrameKind, body: Message): void => {
      // A reply computed before a crash/restart belongs to a process that no longer exists.
      if (!this.running || this.net.incarnationOf(this.self) !== incarnation) return;
      try {
        this.net.transmit(this, from, { kind, id: frame.id, body });
      } catch (err) {
        this.net.transmit(this, from, {
          kind: FrameKind.ERROR,
          id: frame.id,
          body: errorBody(`bad response: ${(err as Error).message}`),
        });
      }
    };
    if (!handler) {
      reply(FrameKind.ERROR, errorBody(`${this.self} has no request handler`));
      return;
    }
    // Requests run concurrently; a sync throw becomes a rejection too.
    Promise.resolve()
      .then(() => handler(from, frame.body))
      .then(
        (res) => reply(FrameKind.RESPONSE, res),
        (err: unknown) => reply(FrameKind.ERROR, errorBody(errorMessage(err))),
      );
  }

  private settle(id: number, p: PendingCall): void {
    p.timer.cancel();
    this.pending.delete(id);
    const n = (this.pendingPerPeer.get(p.peer) ?? 1) - 1;
    if (n > 0) this.pendingPerPeer.set(p.peer, n);
    else this.pendingPerPeer.delete(p.peer);
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------
// Seeds for tests

/** SHOAL_SEED from the environment if set (to replay a failure), else a fresh random seed. */
export function seedFromEnv(env: Record<string, string | undefined> = process.env): number {
  const raw = env['SHOAL_SEED'];
  if (raw !== undefined && raw !== '') {
    const seed = Number(raw);
    if (!Number.isSafeInteger(seed)) throw new Error(`SHOAL_SEED must be an integer, got ${raw}`);
    return seed;
  }
  return Math.floor(Math.random() * 0x1_0000_0000);
}

/**
 * Runs `fn` with a seed (SHOAL_SEED or random); if it fails, the error's message gains
 * "seed=<n>" so the run can be replayed with `SHOAL_SEED=<n> npx vitest run …`.
 */
export async function withSeed<T>(
  fn: (seed: number) => Promise<T> | T,
  seed: number = seedFromEnv(),
): Promise<T> {
  try {
    return await fn(seed);
  } catch (err) {
    if (err instanceof Error) {
      const old = err.message;
      err.message = `seed=${seed}: ${old}`;
      if (err.stack) err.stack = err.stack.replace(old, err.message);
      throw err;
    }
    throw new Error(`seed=${seed}: ${String(err)}`);
  }
}
