// Phi accrual failure detector (Hayashibara et al., "The φ Accrual Failure Detector", 2004).
//
// Instead of a yes/no timeout, phi = -log10(P(a heartbeat arrives later than now)), from a
// window of observed inter-arrival times. phi 1 ≈ 10% chance we are wrong to suspect, phi 8
// ≈ 1e-8. As in Akka's PhiAccrualFailureDetector we model inter-arrival times as a normal
// distribution with a floor on the standard deviation, and add an acceptable pause to the
// mean. Cassandra's exponential model (phi = 0.434·t/mean) needs t ≈ 18× the mean interval
// to reach 8, ~9 s at a 500 ms gossip interval; the brief wants a crash seen in ~3–5 s.
//
// Pure: arrival times are handed in; nothing here reads a clock.

export interface PhiOptions {
  /** Samples kept; older ones fall out (bounded memory, adapts to changing load). */
  readonly windowSize: number;
  /**
   * Floor on the std deviation. Gossip heartbeats arrive second-hand, so their jitter is
   * large; without a floor a run of perfectly regular arrivals makes phi explode on the
   * first late one (Akka: min-std-deviation).
   */
  readonly minStdDevMs: number;
  /** Added to the mean: a pause this long is tolerated (GC, a busy event loop). */
  readonly acceptablePauseMs: number;
  /**
   * Intervals longer than this are not recorded: they are outages (a partition, a paused
   * process), not the normal rhythm, and would teach the detector to wait for minutes
   * (Cassandra's FailureDetector ignores intervals above MAX_INTERVAL for the same reason).
   */
  readonly maxSampleMs: number;
  /** Assumed mean before any interval has been observed (bootstrap, as Akka's first heartbeat estimate). */
  readonly firstIntervalMs: number;
}

export const defaultPhiOptions = (intervalMs: number): PhiOptions => ({
  windowSize: 100,
  minStdDevMs: Math.max(100, intervalMs / 2.5),
  acceptablePauseMs: 2 * intervalMs,
  maxSampleMs: Math.max(2000, 4 * intervalMs),
  firstIntervalMs: intervalMs,
});

/** Per-node arrival history. Mutable but self-contained; one per monitored node. */
export class PhiDetector {
  private readonly samples: number[] = [];
  private sum = 0;
  private sumSq = 0;
  private lastArrivalMs: number | null = null;

  constructor(readonly options: PhiOptions) {}

  /** Record a heartbeat arrival (a heartbeat counter that advanced) at `nowMs`. */
  heartbeat(nowMs: number): void {
    const last = this.lastArrivalMs;
    this.lastArrivalMs = nowMs;
    if (last === null) return;
    const interval = nowMs - last;
    if (interval < 0 || interval > this.options.maxSampleMs) return;
    this.samples.push(interval);
    this.sum += interval;
    this.sumSq += interval * interval;
    if (this.samples.length > this.options.windowSize) {
      const old = this.samples.shift() as number;
      this.sum -= old;
      this.sumSq -= old * old;
    }
  }

  /**
   * Restart the clock on the current gap without recording a sample: after *we* were
   * paused, silence from others says nothing about them (Cassandra: "Not marking nodes
   * down due to local pause").
   */
  rebase(nowMs: number): void {
    if (this.lastArrivalMs !== null) this.lastArrivalMs = nowMs;
  }

  get lastHeartbeatMs(): number | null {
    return this.lastArrivalMs;
  }

  get sampleCount(): number {
    return this.samples.length;
  }

  mean(): number {
    return this.samples.length === 0 ? this.options.firstIntervalMs : this.sum / this.samples.length;
  }

  stdDev(): number {
    const n = this.samples.length;
    const raw = n < 2 ? 0 : Math.sqrt(Math.max(0, this.sumSq / n - (this.sum / n) ** 2));
    return Math.max(raw, this.options.minStdDevMs);
  }

  /** Suspicion level at `nowMs`; 0 before the first heartbeat. */
  phi(nowMs: number): number {
    if (this.lastArrivalMs === null) return 0;
    return phi(nowMs - this.lastArrivalMs, this.mean() + this.options.acceptablePauseMs, this.stdDev());
  }
}

/**
 * phi for `elapsedMs` since the last arrival, given a normal model N(mean, std).
 * Uses the logistic approximation of the normal CDF (as Akka does): cheap, monotone, and
 * no Infinity until far beyond any threshold (capped below at the float limit).
 */
export function phi(elapsedMs: number, meanMs: number, stdDevMs: number): number {
  const y = (elapsedMs - meanMs) / stdDevMs;
  const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
  const p = elapsedMs > meanMs ? e / (1 + e) : 1 - 1 / (1 + e);
  // p underflows to 0 for very late heartbeats; clamp so phi stays finite and comparable.
  return -Math.log10(Math.max(p, Number.MIN_VALUE));
}
