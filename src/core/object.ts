// The versioned object: concurrent siblings plus one clock summarising every event the
// replica has seen for the key. This is the "dotted causal container" form of dotted
// version vectors (Preguiça et al.; Riak's dvvset, Almeida et al.'s ORSWOT use the same
// rule): a sibling survives a merge unless the other side has seen its dot and dropped it.

import { EMPTY_VV, compareDots, covers, equalVV, increment, merge } from './dvv.ts';
import { HLC_ZERO, hlcCompare, hlcMax, hlcTick } from './hlc.ts';
import type { ConflictMode, Hlc, NodeId, Sibling, VersionVector, VersionedObject } from './types.ts';

/** What an earlier read saw: its clock, and the newest timestamp among what it returned. */
export interface CausalContext {
  readonly clock: VersionVector;
  readonly maxTs: Hlc;
}

/** A client write as the coordinator hands it in. */
export interface WriteInput {
  readonly value: Uint8Array;
  readonly contentType: string;
  readonly tombstone: boolean;
  readonly expiresAt: number | null;
  /** The coordinator's HLC reading for this write; may be bumped, see `update`. */
  readonly ts: Hlc;
}

export function emptyObject(): VersionedObject {
  return { clock: EMPTY_VV, siblings: [] };
}

/**
 * Applies a client write at the coordinating replica `actor`. Siblings the context has
 * seen are superseded; the rest stay as siblings of the new write. The new sibling's ts
 * is bumped above everything it supersedes, so under clock skew a write still wins LWW
 * against what its writer read (the coordinator should feed `sibling.ts` back into its HLC).
 */
export function update(
  obj: VersionedObject,
  actor: NodeId,
  ctx: CausalContext | null,
  write: WriteInput,
  mode: ConflictMode,
): { obj: VersionedObject; sibling: Sibling } {
  const seen = ctx?.clock ?? EMPTY_VV;
  const superseded = obj.siblings.filter((s) => covers(seen, s.dot));
  const kept = obj.siblings.filter((s) => !covers(seen, s.dot));

  // The dot must be fresh for both what this replica and the reader have seen:
  // max(obj.clock[actor], ctx.clock[actor]) + 1.
  const { vv: clock, dot } = increment(merge(obj.clock, seen), actor);

  const floor = superseded.reduce((m, s) => hlcMax(m, s.ts), ctx?.maxTs ?? HLC_ZERO);
  const ts = hlcCompare(write.ts, floor) > 0 ? write.ts : hlcTick(floor, write.ts.wall);

  const sibling: Sibling = {
    value: write.value,
    contentType: write.contentType,
    tombstone: write.tombstone,
    expiresAt: write.expiresAt,
    ts,
    dot,
  };
  const siblings = mode === 'lww' ? [lwwWinner([...kept, sibling])] : sortSiblings([...kept, sibling]);
  return { obj: { clock, siblings }, sibling };
}

/**
 * Merges two replicas' copies of a key. A sibling of one side survives if the other side
 * holds it too, or has not seen its dot; a seen-but-absent dot was superseded there.
 *
 * In lww mode the single survivor is the max by (ts, dot) over both sides. `update` keeps
 * ts increasing along causality, so each replica's sibling is the max of every write its
 * clock covers, the max of the union is never a dominated write, and max is trivially
 * commutative, associative and idempotent.
 */
export function sync(a: VersionedObject, b: VersionedObject, mode: ConflictMode): VersionedObject {
  if (a === b) return a; // replicas that agree (the common read) cost nothing to merge
  const clock = merge(a.clock, b.clock);
  if (mode === 'lww') {
    const all = [...a.siblings, ...b.siblings];
    return { clock, siblings: all.length === 0 ? [] : [lwwWinner(all)] };
  }
  const survivors = new Map<string, Sibling>();
  keepSurvivors(survivors, a, b);
  keepSurvivors(survivors, b, a);
  // Usually one side already is the merge (a replica receiving a version that descends from
  // the one it stores): return that object itself, so the bytes remembered with it serve
  // the store and the next read without encoding again. `a` first: a caller merging into
  // what it stores learns that nothing changed.
  if (holdsExactly(a, clock, survivors)) return a;
  if (holdsExactly(b, clock, survivors)) return b;
  return { clock, siblings: sortSiblings([...survivors.values()]) };
}

/** Whether `obj` has exactly this clock and exactly these siblings (by dot). */
function holdsExactly(obj: VersionedObject, clock: VersionVector, survivors: ReadonlyMap<string, Sibling>): boolean {
  return obj.siblings.length === survivors.size && equalVV(obj.clock, clock) && obj.siblings.every((s) => survivors.has(dotKey(s)));
}

/** Adds the siblings of `mine` that survive against `other` (see sync). */
function keepSurvivors(survivors: Map<string, Sibling>, mine: VersionedObject, other: VersionedObject): void {
  const otherHolds = new Set(other.siblings.map(dotKey));
  for (const s of mine.siblings) {
    const id = dotKey(s);
    // A dot names one write, so a sibling both sides hold is the same sibling.
    if (survivors.has(id)) continue;
    if (otherHolds.has(id) || !covers(other.clock, s.dot)) survivors.set(id, s);
  }
}

/** The context a read of `obj` hands back to the client. */
export function contextOf(obj: VersionedObject): CausalContext {
  return { clock: obj.clock, maxTs: obj.siblings.reduce((m, s) => hlcMax(m, s.ts), HLC_ZERO) };
}

export function isExpired(s: Sibling, nowMs: number): boolean {
  return s.expiresAt !== null && s.expiresAt <= nowMs;
}

/** What a client read returns: live values only. */
export function visibleSiblings(obj: VersionedObject, nowMs: number): Sibling[] {
  return obj.siblings.filter((s) => !s.tombstone && !isExpired(s, nowMs));
}

export function equalObjects(a: VersionedObject, b: VersionedObject): boolean {
  if (a === b) return true;
  if (!equalVV(a.clock, b.clock) || a.siblings.length !== b.siblings.length) return false;
  const xs = sortSiblings(a.siblings);
  const ys = sortSiblings(b.siblings);
  return xs.every((x, i) => {
    const y = ys[i];
    return y !== undefined && equalSiblings(x, y);
  });
}

export function equalSiblings(x: Sibling, y: Sibling): boolean {
  return (
    compareDots(x.dot, y.dot) === 0 &&
    hlcCompare(x.ts, y.ts) === 0 &&
    x.tombstone === y.tombstone &&
    x.expiresAt === y.expiresAt &&
    x.contentType === y.contentType &&
    equalBytes(x.value, y.value)
  );
}

/** LWW order: the later ts wins; equal ts (two coordinators, same HLC) falls back to the dot. */
export function lwwWinner(siblings: readonly Sibling[]): Sibling {
  let best = siblings[0];
  if (best === undefined) throw new Error('lwwWinner needs at least one sibling');
  for (const s of siblings) {
    const c = hlcCompare(s.ts, best.ts);
    if (c > 0 || (c === 0 && compareDots(s.dot, best.dot) > 0)) best = s;
  }
  return best;
}

/** Siblings in canonical order (by dot), so equal states are structurally equal. */
export function sortSiblings(siblings: readonly Sibling[]): Sibling[] {
  return [...siblings].sort((a, b) => compareDots(a.dot, b.dot));
}

function dotKey(s: Sibling): string {
  return `${s.dot[1]}:${s.dot[0]}`;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
