// The only impure Clock and Random: real nodes get these from node.ts; everything else is
// handed a Clock/Random so it can also run on net/sim.ts's SimClock and a seeded Prng.
import type { Clock, Random, TimerHandle } from '../core/time.ts';

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
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
