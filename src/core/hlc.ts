// Hybrid logical clocks (Kulkarni, Demirbas et al., "Logical Physical Clocks and Consistent
// Snapshots in Globally Distributed Databases", 2014). Physical time is passed in, so this
// stays pure; the caller keeps the last value and feeds it back.
//
// Invariant: every tick/receive returns a value strictly greater than `last` (and than
// `remote`), whatever the physical time does — including running backwards or being NaN.

import type { Hlc } from './types.ts';

export const HLC_ZERO: Hlc = Object.freeze({ wall: 0, logical: 0 });

export function hlcCompare(a: Hlc, b: Hlc): -1 | 0 | 1 {
  if (a.wall !== b.wall) return a.wall < b.wall ? -1 : 1;
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1;
  return 0;
}

export function hlcMax(a: Hlc, b: Hlc): Hlc {
  return hlcCompare(a, b) >= 0 ? a : b;
}

/** A physical reading that cannot be trusted (NaN, ±Infinity) is ignored. */
function physical(ms: number): number {
  return Number.isFinite(ms) ? Math.floor(ms) : Number.NEGATIVE_INFINITY;
}

/** A local or send event. */
export function hlcTick(last: Hlc, physicalMs: number): Hlc {
  const pt = physical(physicalMs);
  if (pt > last.wall) return { wall: pt, logical: 0 };
  return { wall: last.wall, logical: last.logical + 1 };
}

/** A receive event: the result is after both `last` and `remote`. */
export function hlcReceive(last: Hlc, remote: Hlc, physicalMs: number): Hlc {
  const pt = physical(physicalMs);
  const wall = Math.max(last.wall, remote.wall, pt);
  if (wall === last.wall && wall === remote.wall) {
    return { wall, logical: Math.max(last.logical, remote.logical) + 1 };
  }
  if (wall === last.wall) return { wall, logical: last.logical + 1 };
  if (wall === remote.wall) return { wall, logical: remote.logical + 1 };
  return { wall, logical: 0 };
}
