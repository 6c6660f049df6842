// Version vectors keyed by actor (replica node) id, with dots for single events, as used by
// dotted version vectors (Preguiça et al., "Dotted Version Vectors", 2012).
//
// A missing entry and a zero entry mean the same thing. Every function here returns a
// normalised vector — zero counters omitted, keys in sorted order — so equal clocks are
// structurally equal and encode to the same bytes.
//
// Lookups go through Object.hasOwn: an actor id is an opaque string, and "constructor" or
// "__proto__" must read as 0, not as something inherited from Object.prototype.

import type { Dot, NodeId, VersionVector } from './types.ts';

export type Ordering = 'before' | 'after' | 'equal' | 'concurrent';

export const EMPTY_VV: VersionVector = Object.freeze({});

/** The counter for `actor`, 0 when absent. */
export function counterOf(vv: VersionVector, actor: NodeId): number {
  return Object.hasOwn(vv, actor) ? (vv[actor] ?? 0) : 0;
}

/** Sorted keys, zero counters dropped. Object.fromEntries defines own properties, so any id is safe. */
export function normalize(vv: VersionVector): VersionVector {
  const entries = Object.entries(vv)
    .filter(([, n]) => n > 0)
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  return Object.fromEntries(entries);
}

function actorsOf(a: VersionVector, b: VersionVector): Set<NodeId> {
  return new Set([...Object.keys(a), ...Object.keys(b)]);
}

/** a ≥ b pointwise: `a` has seen every event `b` has. */
export function descends(a: VersionVector, b: VersionVector): boolean {
  for (const actor of Object.keys(b)) {
    if (counterOf(a, actor) < counterOf(b, actor)) return false;
  }
  return true;
}

/** 'before' when b strictly descends a; 'after' when a strictly descends b. */
export function compare(a: VersionVector, b: VersionVector): Ordering {
  let aAhead = false;
  let bAhead = false;
  for (const actor of actorsOf(a, b)) {
    const x = counterOf(a, actor);
    const y = counterOf(b, actor);
    if (x > y) aAhead = true;
    else if (y > x) bAhead = true;
    if (aAhead && bAhead) return 'concurrent';
  }
  if (aAhead) return 'after';
  if (bAhead) return 'before';
  return 'equal';
}

export function equalVV(a: VersionVector, b: VersionVector): boolean {
  return compare(a, b) === 'equal';
}

/** Pointwise maximum: the least upper bound of the two clocks. */
export function merge(a: VersionVector, b: VersionVector): VersionVector {
  const entries = [...actorsOf(a, b)].map(
    (actor) => [actor, Math.max(counterOf(a, actor), counterOf(b, actor))] as const,
  );
  return normalize(Object.fromEntries(entries));
}

/** True when the clock has seen the event. */
export function covers(vv: VersionVector, dot: Dot): boolean {
  return counterOf(vv, dot[0]) >= dot[1];
}

/** A new event by `actor`: its dot, and the clock that includes it. */
export function increment(vv: VersionVector, actor: NodeId): { vv: VersionVector; dot: Dot } {
  const dot: Dot = [actor, counterOf(vv, actor) + 1];
  const entries = Object.entries(vv).filter(([id]) => id !== actor);
  entries.push([actor, dot[1]]);
  return { vv: normalize(Object.fromEntries(entries)), dot };
}

/** Canonical order of dots: by actor id, then counter. */
export function compareDots(a: Dot, b: Dot): -1 | 0 | 1 {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return 0;
}
