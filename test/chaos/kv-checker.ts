// The KV checker: pure, over a history and the final quorum reads. Every written value is
// unique, and every write records the values visible to the read whose context it sent
// (`saw`), so causality is known without trusting the store:
//   - a value some acknowledged (W >= quorum) write saw is superseded for good: it must never
//     be visible at the end (siblings: "resurrected"; lww: a write lost to one it followed);
//   - an acknowledged (W >= quorum) value must be visible at the end unless some write (any
//     outcome: a failed write may have landed) saw it: else it is "lost" (siblings), or, in
//     lww buckets, it lost to a concurrent write (counted and reported, not a violation);
//   - nothing visible at the end was never written ("phantom"); a value visible twice is
//     "duplicated" (a write applied under two dots, e.g. a forward retried elsewhere);
//   - during the run, quorum reads see acknowledged quorum writes (checkStaleReads).
import type { KvOp, WriteOp } from './history.ts';

export interface FinalRead {
  readonly found: boolean;
  /** Visible sibling values (duplicates kept). */
  readonly values: readonly string[];
}

export interface Violation {
  readonly kind: 'lost' | 'resurrected' | 'phantom' | 'lww-causal' | 'stale-read' | 'unreadable' | 'not-converged' | 'fault' | 'counter-bounds' | 'counter-inexact' | 'set-lost-add' | 'set-phantom';
  readonly bucket: string;
  readonly key: string;
  readonly detail: string;
}

export interface KvCheckResult {
  readonly violations: Violation[];
  /** Acknowledged (W >= quorum) writes checked. */
  readonly ackedWrites: number;
  readonly duplicated: number;
  /** lww buckets: acknowledged writes that lost to a concurrent write (allowed, reported). */
  readonly lwwAcked: number;
  readonly lwwLostConcurrent: number;
}

const STRONG = new Set(['quorum', 'all']);
export const isStrong = (w: string, n: number): boolean => STRONG.has(w) || (/^\d+$/.test(w) && Number(w) >= Math.floor(n / 2) + 1);

/** `final` maps `bucket/key` to the final R = quorum read; `mode` gives each bucket's mode. */
export function checkKv(
  ops: readonly KvOp[],
  final: ReadonlyMap<string, FinalRead>,
  mode: (bucket: string) => 'siblings' | 'lww',
  n: number,
): KvCheckResult {
  const byKey = new Map<string, WriteOp[]>();
  for (const op of ops) {
    if (op.kind === 'read') continue;
    const k = `${op.bucket}/${op.key}`;
    let list = byKey.get(k);
    if (!list) byKey.set(k, (list = []));
    list.push(op);
  }
  const violations: Violation[] = [];
  let ackedWrites = 0;
  let duplicated = 0;
  let lwwAcked = 0;
  let lwwLostConcurrent = 0;
  for (const [k, writes] of byKey) {
    const slash = k.indexOf('/');
    const bucket = k.slice(0, slash);
    const key = k.slice(slash + 1);
    const f = final.get(k);
    if (f === undefined) {
      violations.push({ kind: 'unreadable', bucket, key, detail: 'no final quorum read succeeded' });
      continue;
    }
    const lww = mode(bucket) === 'lww';
    const written = new Set(writes.flatMap((w) => (w.value === undefined ? [] : [w.value])));
    const superseded = new Map<string, WriteOp>();
    const maybeSuperseded = new Set<string>();
    for (const w of writes) {
      for (const v of w.saw) maybeSuperseded.add(v);
      if (w.outcome === 'ok' && isStrong(w.w, n)) for (const v of w.saw) superseded.set(v, w);
    }
    const visible = new Set(f.values);
    duplicated += f.values.length - visible.size;
    for (const v of visible) {
      if (!written.has(v)) {
        violations.push({ kind: 'phantom', bucket, key, detail: `final value ${v} was never written` });
        continue;
      }
      const by = superseded.get(v);
      if (by) {
        violations.push({
          kind: lww ? 'lww-causal' : 'resurrected',
          bucket,
          key,
          detail: lww
            ? `final value ${v} won over write #${by.id} (${by.value ?? 'delete'}, acked at w=${by.w}) that had read it`
            : `value ${v} is visible again though write #${by.id} (${by.value ?? 'delete'}, acked at w=${by.w}) superseded it`,
        });
      }
    }
    for (const w of writes) {
      if (w.kind !== 'write' || w.value === undefined || w.outcome !== 'ok' || !isStrong(w.w, n)) continue;
      ackedWrites++;
      if (lww) lwwAcked++;
      if (visible.has(w.value) || maybeSuperseded.has(w.value)) continue;
      if (lww) {
        lwwLostConcurrent++;
        continue;
      }
      violations.push({
        kind: 'lost',
        bucket,
        key,
        detail: `write #${w.id} of ${w.value} by ${w.client} via ${w.node} (w=${w.w}, acked at +${w.end}ms) is gone; final ${f.found ? `[${f.values.join(', ')}]` : 'not found'}`,
      });
    }
  }
  return { violations, ackedWrites, duplicated, lwwAcked, lwwLostConcurrent };
}

/**
 * Stale quorum reads, checked during the run: a read at R >= quorum that started after a
 * write was acknowledged at W >= quorum must see that write, unless some write that started
 * before the read ended may have replaced it (one that saw it; in lww buckets also any
 * concurrent write, which may carry a later timestamp). R + W > N makes this hold only when
 * every replica is a primary (N = cluster size: no fallback nodes); with sloppy quorum on a
 * bigger cluster stale reads are expected (Dynamo §4.6), so they are reported, not violations.
 */
export function checkStaleReads(
  ops: readonly KvOp[],
  mode: (bucket: string) => 'siblings' | 'lww',
  n: number,
  strict: boolean,
): { stale: number; checked: number; violations: Violation[] } {
  const byKey = new Map<string, { reads: KvOp[]; writes: WriteOp[] }>();
  for (const op of ops) {
    const k = `${op.bucket}/${op.key}`;
    let e = byKey.get(k);
    if (!e) byKey.set(k, (e = { reads: [], writes: [] }));
    if (op.kind === 'read') e.reads.push(op);
    else e.writes.push(op);
  }
  let stale = 0;
  let checked = 0;
  const violations: Violation[] = [];
  for (const [k, { reads, writes }] of byKey) {
    const slash = k.indexOf('/');
    const bucket = k.slice(0, slash);
    const key = k.slice(slash + 1);
    const lww = mode(bucket) === 'lww';
    // Earliest start of a write that saw each value (it may have replaced it from then on).
    const sawFrom = new Map<string, number>();
    const startOf = new Map<string, number>();
    let firstDelete = Infinity;
    for (const w of writes) {
      for (const v of w.saw) sawFrom.set(v, Math.min(sawFrom.get(v) ?? Infinity, w.start));
      if (w.value !== undefined) startOf.set(w.value, w.start);
      if (w.kind === 'delete') firstDelete = Math.min(firstDelete, w.start);
    }
    const acked = writes.filter((w) => w.kind === 'write' && w.value !== undefined && w.outcome === 'ok' && isStrong(w.w, n));
    for (const r of reads) {
      if (r.kind !== 'read' || r.outcome !== 'ok' || !isStrong(r.r, n)) continue;
      const seen = new Set(r.values ?? []);
      for (const a of acked) {
        if (a.end >= r.start) continue;
        const v = a.value!;
        checked++;
        if (seen.has(v) || (sawFrom.get(v) ?? Infinity) < r.end) continue;
        if (lww) {
          const aSaw = new Set(a.saw);
          const other = [...seen].some((x) => x !== v && !aSaw.has(x) && (startOf.get(x) ?? Infinity) < r.end);
          if (other || (seen.size === 0 && firstDelete < r.end)) continue;
        }
        stale++;
        if (strict && violations.length < 50) {
          violations.push({
            kind: 'stale-read',
            bucket,
            key,
            detail: `read #${r.id} via ${r.node} (r=${r.r}, +${r.start}ms) saw [${[...seen].join(', ')}], missing ${v} acked at w=${a.w} via ${a.node} at +${a.end}ms`,
          });
        }
        break; // one finding per read
      }
    }
  }
  return { stale, checked, violations };
}
