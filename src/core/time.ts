// Time as a port: state machines take a Clock so a whole cluster can run on a simulated
// clock in one process (see net/sim). Real nodes use runtime/clock.ts.

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch (simulated or real). */
  now(): number;
  /** Runs `fn` once after `ms`; the handle cancels it. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
}

/** Seeded randomness as a port, for the same reason as Clock. */
export interface Random {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
}
