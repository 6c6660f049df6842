// The load generator: the same code, connection count and operation mix for every HTTP
// target. Closed-loop runs find the maximum throughput; open-loop (fixed-rate) runs measure
// latency from each operation's *intended* start, so a stalled server cannot hide its
// queueing by slowing the generator down (coordinated omission; Tene, "How NOT to measure
// latency"). Every run is bounded by a duration and an operation count.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import hdr from 'hdr-histogram-js';
import { HttpConnection, type HttpRequest } from './http.ts';
import { keyName, OpChooser, type OpChoice } from './ycsb.ts';

/** How one target spells a read and a write of a key. */
export interface KvProtocol {
  get(key: string): HttpRequest;
  put(key: string, value: Buffer, context: string | undefined): HttpRequest;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface RunStats {
  ops: number;
  reads: number;
  writes: number;
  notFound: number;
  siblingReads: number;
  errors: number;
  /** First few distinct error descriptions, for the log. */
  errorSamples: string[];
  elapsedSec: number;
  loadgenCpuSec: number;
  latencyUs: { p50: number; p99: number; p999: number; max: number; mean: number };
  /**
   * Open runs: the generator's own longest event-loop delay (ms, 10 ms resolution). Its
   * timer and its reads of answers wait behind it, so a tail this long is the generator's.
   */
  loadgenLoopDelayMaxMs?: number;
}

export interface LoadTarget {
  readonly hosts: readonly HostPort[];
  readonly protocol: KvProtocol;
  /** Causal contexts last seen per key (a client session's memory); only Shoal sends them. */
  readonly contexts: Map<number, string>;
}

class Recorder {
  readonly hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  ops = 0;
  reads = 0;
  writes = 0;
  notFound = 0;
  siblingReads = 0;
  errors = 0;
  errorSamples: string[] = [];

  error(what: string): void {
    this.errors++;
    if (this.errorSamples.length < 5 && !this.errorSamples.includes(what)) this.errorSamples.push(what);
  }

  finish(elapsedSec: number, cpuSec: number): RunStats {
    const h = this.hist;
    const stats: RunStats = {
      ops: this.ops,
      reads: this.reads,
      writes: this.writes,
      notFound: this.notFound,
      siblingReads: this.siblingReads,
      errors: this.errors,
      errorSamples: this.errorSamples,
      elapsedSec,
      loadgenCpuSec: cpuSec,
      latencyUs: {
        p50: h.getValueAtPercentile(50),
        p99: h.getValueAtPercentile(99),
        p999: h.getValueAtPercentile(99.9),
        max: h.maxValue,
        mean: Math.round(h.mean),
      },
    };
    h.destroy();
    return stats;
  }
}

/** Runs one YCSB operation on a connection; resolves when done (errors are counted, not thrown). */
async function execute(conn: HttpConnection, t: LoadTarget, op: OpChoice, value: Buffer, rec: Recorder): Promise<void> {
  const key = keyName(op.key);
  try {
    if (op.kind === 'read' || op.kind === 'rmw') {
      const res = await conn.request(t.protocol.get(key));
      rec.reads++;
      if (res.status === 300) rec.siblingReads++;
      if (res.status === 404) rec.notFound++;
      else if (res.status !== 200 && res.status !== 300) return rec.error(`read ${res.status}`);
      if (res.context !== undefined) t.contexts.set(op.key, res.context);
      if (op.kind === 'read') return;
    }
    const ctx = op.kind === 'insert' ? undefined : t.contexts.get(op.key);
    const res = await conn.request(t.protocol.put(key, value, ctx));
    rec.writes++;
    if (res.status !== 204 && res.status !== 200) return rec.error(`write ${res.status}`);
    if (res.context !== undefined) t.contexts.set(op.key, res.context);
  } catch (err) {
    rec.error(err instanceof Error ? err.message : String(err));
  }
}

export class LoadGenerator {
  private readonly conns: HttpConnection[];

  constructor(
    private readonly target: LoadTarget,
    connections: number,
  ) {
    this.conns = Array.from({ length: connections }, (_, i) => {
      const h = target.hosts[i % target.hosts.length]!;
      return new HttpConnection(h.host, h.port);
    });
  }

  close(): void {
    for (const c of this.conns) c.close();
  }

  /** As fast as the target answers: every connection runs the next op when the last ends. */
  async closed(chooser: OpChooser, value: Buffer, opts: { durationMs: number; maxOps: number }): Promise<RunStats> {
    const rec = new Recorder();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const end = t0 + opts.durationMs;
    let started = 0;
    let consecutiveErrors = 0;
    const loop = async (conn: HttpConnection) => {
      while (started < opts.maxOps && performance.now() < end && consecutiveErrors < 1000) {
        started++;
        const s = performance.now();
        const errorsBefore = rec.errors;
        await execute(conn, this.target, chooser.next(), value, rec);
        rec.hist.recordValue(Math.max(1, Math.round((performance.now() - s) * 1000)));
        rec.ops++;
        consecutiveErrors = rec.errors > errorsBefore ? consecutiveErrors + 1 : 0;
      }
    };
    await Promise.all(this.conns.map(loop));
    const cpu = process.cpuUsage(cpu0);
    return rec.finish((performance.now() - t0) / 1000, (cpu.user + cpu.system) / 1e6);
  }

  /**
   * Fixed rate: operation i is due at t0 + i/rate whatever happened before it; its latency
   * counts from then. Due operations wait for a free connection (that wait is queueing).
   */
  async open(chooser: OpChooser, value: Buffer, opts: { ratePerSec: number; durationMs: number }): Promise<RunStats> {
    const rec = new Recorder();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const total = Math.max(1, Math.floor((opts.ratePerSec * opts.durationMs) / 1000));
    const intervalMs = 1000 / opts.ratePerSec;
    const idle = [...this.conns];
    let due = 0;
    let started = 0;
    let finished = 0;
    // A target that stops answering must not hold the run forever.
    const hardEnd = t0 + opts.durationMs + 10_000;
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    return new Promise<RunStats>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const complete = () => {
        if (done) return;
        done = true;
        if (timer !== undefined) clearTimeout(timer);
        const lost = started - finished;
        for (let i = 0; i < lost; i++) rec.error('no answer before the hard deadline');
        const cpu = process.cpuUsage(cpu0);
        delay.disable();
        const stats = rec.finish((performance.now() - t0) / 1000, (cpu.user + cpu.system) / 1e6);
        stats.loadgenLoopDelayMaxMs = Math.round(delay.max / 1e6);
        resolve(stats);
      };
      const dispatch = () => {
        // Also on every answer, not only on the timer's ~1 ms ticks: an operation that fell
        // due since the last tick starts now, so the generator's own tick adds no latency.
        due = Math.min(total, Math.floor((performance.now() - t0) / intervalMs) + 1);
        while (idle.length > 0 && started < due) {
          const conn = idle.pop()!;
          const intended = t0 + started * intervalMs;
          started++;
          void execute(conn, this.target, chooser.next(), value, rec).then(() => {
            rec.hist.recordValue(Math.max(1, Math.round((performance.now() - intended) * 1000)));
            rec.ops++;
            finished++;
            idle.push(conn);
            if (finished === total) complete();
            else dispatch();
          });
        }
      };
      const tick = () => {
        const now = performance.now();
        if (now > hardEnd) return complete();
        dispatch();
        if (!done) timer = setTimeout(tick, due < total ? 1 : 50);
      };
      tick();
    });
  }
}
