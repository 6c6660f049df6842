// Seeded PRNG (sfc32, Chris Doty-Humphrey's Small Fast Counter): 128 bits of state, passes
// PractRand, and needs only 32-bit integer ops so it is exact in JS. Every decision in a
// simulated run draws from one of these, so a seed replays the run (tigerbeetle VOPR).
import type { Random } from './time.ts';

export interface Prng extends Random {
  /** The seed this generator was created with (for "seed=<n>" failure messages). */
  readonly seed: number;
  /**
   * An independent generator derived from this one's seed and `label`, without consuming
   * this one's stream: adding a new consumer does not perturb the draws of existing ones.
   */
  fork(label: string): Prng;
  /** Uniform integer in [min, max] (both inclusive). */
  range(min: number, max: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** A uniformly chosen element; throws on an empty array. */
  pick<T>(items: readonly T[]): T;
  /** A new array, Fisher–Yates shuffled. */
  shuffle<T>(items: readonly T[]): T[];
}

/** FNV-1a over a string, 32 bits: used to mix fork labels into seeds. */
function fnv1a(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function createPrng(seed: number): Prng {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
  // Split the (up to 53-bit) seed into two 32-bit words; a constant fills the rest.
  let a = seed >>> 0;
  let b = Math.floor(seed / 0x1_0000_0000) >>> 0;
  let c = 0x9e3779b9;
  let d = 1;
  const next32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  // Warm up so nearby seeds diverge (recommended for sfc32).
  for (let i = 0; i < 15; i++) next32();

  const prng: Prng = {
    seed,
    next: () => next32() / 0x1_0000_0000,
    int(n: number): number {
      if (!(n > 0) || !Number.isInteger(n)) throw new RangeError(`int(n) needs a positive integer, got ${n}`);
      return Math.floor(prng.next() * n);
    },
    range(min: number, max: number): number {
      if (max < min) throw new RangeError(`range(${min}, ${max})`);
      return min + prng.int(max - min + 1);
    },
    chance(p: number): boolean {
      return p > 0 && prng.next() < p;
    },
    pick<T>(items: readonly T[]): T {
      if (items.length === 0) throw new RangeError('pick from empty array');
      return items[prng.int(items.length)] as T;
    },
    shuffle<T>(items: readonly T[]): T[] {
      const out = items.slice();
      for (let i = out.length - 1; i > 0; i--) {
        const j = prng.int(i + 1);
        const tmp = out[i] as T;
        out[i] = out[j] as T;
        out[j] = tmp;
      }
      return out;
    },
    fork(label: string): Prng {
      // Derived from the seed only (not the current state), so forks are order-independent.
      const lo = fnv1a(label, fnv1a(String(seed)));
      const hi = fnv1a(label, lo) & 0x1f_ffff; // 21 bits: keeps the result a safe integer
      return createPrng(hi * 0x1_0000_0000 + lo);
    },
  };
  return prng;
}
