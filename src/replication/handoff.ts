// Hinted handoff delivery: hand stored hints back to their owners once they are up again.
// Rate-limited, and adaptively so: a window of in-flight deliveries grows by one on each
// success and halves on each failure or slow answer (AIMD, as TCP), under a hard per-second
// cap. Riak and Scylla both learned that an unthrottled handoff floods a node that has only
// just come back.
import type { Clock, TimerHandle } from '../core/time.ts';
import type { NodeId } from '../core/types.ts';
import { MsgType } from '../net/messages.ts';
import type { Transport } from '../net/transport.ts';
import type { Logger } from '../runtime/logger.ts';
import type { HintStore, Hint } from './hints.ts';

export interface HandoffOptions {
  readonly intervalMs: number;
  readonly maxPerSecond: number;
  /** A delivery slower than this counts as congestion and shrinks the window. */
  readonly slowMs?: number;
  readonly timeoutMs?: number;
}

export interface HandoffDeps {
  readonly hints: HintStore;
  readonly transport: Transport;
  readonly isUp: (node: NodeId) => boolean;
  readonly clock: Clock;
  readonly log: Logger;
  readonly count: (event: string, by?: number) => void;
}

const MAX_WINDOW = 64;
const BATCH = 256;

export class Handoff {
  private timer: TimerHandle | undefined;
  private running = false;
  private stopped = false;
  private window = 4;
  delivered = 0;
  failed = 0;

  constructor(
    private readonly deps: HandoffDeps,
    private readonly opts: HandoffOptions,
  ) {}

  /** GET /cluster/handoff: the backlog and how delivery is going. */
  status(): object {
    return {
      backlog: this.deps.hints.backlog,
      droppedBacklogFull: this.deps.hints.dropped,
      delivered: this.delivered,
      failed: this.failed,
      window: this.window,
      maxPerSecond: this.opts.maxPerSecond,
    };
  }

  start(): void {
    this.stopped = false;
    this.schedule(this.opts.intervalMs);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** Run a round soon (e.g. when membership reports an owner back up). */
  nudge(): void {
    if (!this.stopped) this.schedule(0);
  }

  private schedule(ms: number): void {
    this.timer?.cancel();
    this.timer = this.deps.clock.setTimeout(() => void this.round(), ms);
  }

  /** One pass over every owner that is up; returns the number delivered. */
  async round(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    let total = 0;
    try {
      for (const owner of await this.deps.hints.owners()) {
        if (this.stopped) break;
        if (!this.deps.isUp(owner)) continue;
        total += await this.deliverTo(owner);
      }
    } catch (err) {
      this.deps.log.warn({ err: String(err) }, 'handoff round failed');
    } finally {
      this.running = false;
      if (!this.stopped) this.schedule(this.opts.intervalMs);
    }
    return total;
  }

  private async deliverTo(owner: NodeId): Promise<number> {
    let delivered = 0;
    const timeoutMs = this.opts.timeoutMs ?? 5000;
    const slowMs = this.opts.slowMs ?? 250;
    // Bounded: at most this many batches per round; the rest waits for the next round.
    for (let batchNo = 0; batchNo < 64 && !this.stopped && this.deps.isUp(owner); batchNo++) {
      const batch = await this.deps.hints.list(owner, BATCH);
      if (batch.length === 0) break;
      let progress = false;
      let next = 0;
      const secondStart = this.deps.clock.now();
      let sentThisSecond = 0;
      const worker = async (): Promise<void> => {
        while (next < batch.length && !this.stopped) {
          if (sentThisSecond >= this.opts.maxPerSecond) {
            await this.sleep(Math.max(1, 1000 - (this.deps.clock.now() - secondStart)));
            sentThisSecond = 0;
          }
          const hint = batch[next++] as Hint;
          sentThisSecond++;
          const start = this.deps.clock.now();
          try {
            await this.deps.transport.call(
              owner,
              { t: MsgType.HINT_DELIVER, bucket: hint.bucket, key: hint.key, obj: hint.bytes, hintFor: null },
              timeoutMs,
            );
            await this.deps.hints.removeIfUnchanged(owner, hint.bucket, hint.key, hint.bytes);
            delivered++;
            this.delivered++;
            progress = true;
            this.deps.count('hint_delivered');
            if (this.deps.clock.now() - start > slowMs) this.window = Math.max(1, Math.floor(this.window / 2));
            else this.window = Math.min(MAX_WINDOW, this.window + 1);
          } catch (err) {
            this.failed++;
            this.window = Math.max(1, Math.floor(this.window / 2));
            this.deps.count('hint_delivery_failed');
            this.deps.log.debug({ err: String(err), owner }, 'hint delivery failed');
            return; // this worker backs off; the round ends when all workers do
          }
        }
      };
      const workers = Array.from({ length: Math.max(1, this.window) }, () => worker());
      await Promise.all(workers);
      if (!progress) break;
    }
    if (delivered > 0) this.deps.log.info({ owner, delivered, backlog: this.deps.hints.backlog }, 'hints handed off');
    return delivered;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.deps.clock.setTimeout(resolve, ms));
  }
}
