// The only impure Clock and Random: real nodes get these from node.ts; everything else is
// handed a Clock/Random so it can also run on net/sim.ts's SimClock and a seeded Prng.
import type { Clock, Random, TimerHandle } from '../core/time.ts';

// A class, not a closure per timer: this runs for every peer call, and tsx's keepNames
// wraps each closure creation in a __name call.
class RealTimer implements TimerHandle {
  constructor(private readonly t: NodeJS.Timeout) {}
  cancel(): void {
    clearTimeout(this.t);
  }
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return new RealTimer(setTimeout(fn, ms));
  },
};

export const mathRandom: Random = {
  next: () => Math.random(),
  int: (n: number) => Math.floor(Math.random() * n),
};

/** A clock `offsetMs` ahead (or behind) of `base`: simulated clock skew (SHOAL_CLOCK_SKEW_MS). */
export function offsetClock(base: Clock, offsetMs: number): Clock {
  return { now: () => base.now() + offsetMs, setTimeout: (fn, ms) => base.setTimeout(fn, ms) };
}
