// Random histories of versioned-object replicas (a test helper, not a test file): replicas
// coordinate writes — with no context, a fresh context read from some replica, or a stale
// one saved earlier — and sync pairwise in random order. A model tracks, for every write,
// which earlier writes its context saw, so tests can state exactly what must survive.

import fc from 'fast-check';
import { covers } from '../../src/core/dvv.ts';
import { contextOf, sync, update, type CausalContext } from '../../src/core/object.ts';
import { emptyObject } from '../../src/core/object.ts';
import type { ConflictMode, Dot, Sibling, VersionedObject } from '../../src/core/types.ts';

/** Awkward names on purpose: ids that collide with Object.prototype must read as plain keys. */
export const ACTORS = ['n1', 'constructor', '__proto__', 'n4', 'toString'] as const;

export type Op =
  | { kind: 'write'; at: number; ctx: 'none' | { fresh: number } | { saved: number }; wall: number; tombstone: boolean; expires: boolean }
  | { kind: 'read'; from: number }
  | { kind: 'sync'; from: number; to: number };

export const opArb = (replicas: number): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('write' as const),
        at: fc.nat(replicas - 1),
        ctx: fc.oneof(
          fc.constant('none' as const),
          { weight: 2, arbitrary: fc.record({ fresh: fc.nat(replicas - 1) }) },
          fc.record({ saved: fc.nat(8) }),
        ),
        // A small range of physical times: plenty of skew (later writes with earlier
        // clocks) and of exact ties, which the dot must break.
        wall: fc.integer({ min: 1, max: 12 }),
        tombstone: fc.boolean(),
        expires: fc.boolean(),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('read' as const), from: fc.nat(replicas - 1) }) },
    {
      weight: 3,
      arbitrary: fc.record({ kind: fc.constant('sync' as const), from: fc.nat(replicas - 1), to: fc.nat(replicas - 1) }),
    },
  );

export const historyArb = fc
  .integer({ min: 3, max: 5 })
  .chain((replicas) => fc.record({ replicas: fc.constant(replicas), ops: fc.array(opArb(replicas), { minLength: 4, maxLength: 40, size: 'medium' }) }));

export interface WriteRecord {
  readonly sibling: Sibling;
  /** Dots of the earlier writes the write's context covered: these it supersedes. */
  readonly saw: readonly Dot[];
}

export interface Run {
  readonly states: VersionedObject[];
  /** Every state any replica went through, in order (for law checks on reachable objects). */
  readonly reachable: VersionedObject[];
  readonly writes: WriteRecord[];
  readonly contexts: CausalContext[];
}

/** Runs a history; `afterEach` sees the run after every op (for invariant checks). */
export function runHistory(
  replicas: number,
  ops: readonly Op[],
  mode: ConflictMode,
  afterEach?: (run: Run) => void,
): Run {
  const run: Run = {
    states: Array.from({ length: replicas }, () => emptyObject()),
    reachable: [emptyObject()],
    writes: [],
    contexts: [],
  };
  ops.forEach((op, i) => {
    if (op.kind === 'read') {
      run.contexts.push(contextOf(run.states[op.from]!));
    } else if (op.kind === 'sync') {
      run.states[op.to] = sync(run.states[op.to]!, run.states[op.from]!, mode);
      run.reachable.push(run.states[op.to]!);
    } else {
      let ctx: CausalContext | null = null;
      if (op.ctx !== 'none' && 'fresh' in op.ctx) ctx = contextOf(run.states[op.ctx.fresh]!);
      if (op.ctx !== 'none' && 'saved' in op.ctx) ctx = run.contexts[op.ctx.saved] ?? null;
      const saw = ctx === null ? [] : run.writes.map((w) => w.sibling.dot).filter((d) => covers(ctx.clock, d));
      const result = update(
        run.states[op.at]!,
        ACTORS[op.at]!,
        ctx,
        {
          value: op.tombstone ? new Uint8Array() : Uint8Array.of(i & 0xff, i >> 8),
          contentType: 'application/octet-stream',
          tombstone: op.tombstone,
          expiresAt: op.expires ? op.wall + 5 : null,
          ts: { wall: op.wall, logical: 0 },
        },
        mode,
      );
      run.states[op.at] = result.obj;
      run.reachable.push(result.obj);
      run.writes.push({ sibling: result.sibling, saw });
    }
    afterEach?.(run);
  });
  return run;
}

/** Folds every replica into one, then hands the result back to each: a full anti-entropy round. */
export function fullSync(states: readonly VersionedObject[], mode: ConflictMode): VersionedObject[] {
  const all = states.reduce((acc, s) => sync(acc, s, mode), emptyObject());
  return states.map((s) => sync(s, all, mode));
}

export function sameDot(a: Dot, b: Dot): boolean {
  return a[0] === b[0] && a[1] === b[1];
}

/** The writes a replica with `clock` has seen that no other seen write's context saw. */
export function expectedSurvivors(clock: VersionedObject['clock'], writes: readonly WriteRecord[]): WriteRecord[] {
  const seen = writes.filter((w) => covers(clock, w.sibling.dot));
  return seen.filter((w) => !seen.some((later) => later.saw.some((d) => sameDot(d, w.sibling.dot))));
}
