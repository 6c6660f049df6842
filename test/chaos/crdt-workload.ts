// The CRDT workload of the fault checker: counter increments with operation ids (a client
// that does not learn an outcome retries with the same id, on another node) and set adds and
// observed removes. Checks after healing:
//   counters: acknowledged ≤ final ≤ attempted, and exactly acknowledged when no operation was
//             left unresolved (every unknown outcome was retried until acknowledged);
//   sets:     every acknowledged add is present unless a remove that observed it was attempted,
//             and nothing is present that no client tried to add;
//   both:     every primary replica holds the same value.
import type { Prng } from '../../src/core/prng.ts';
import { fetchWithTimeout } from '../helpers/process-cluster.ts';
import type { Violation } from './kv-checker.ts';

export const COUNTER_BUCKET = 'chaosctr';
export const SET_BUCKET = 'chaosset';
export const CRDT_BUCKETS = { [COUNTER_BUCKET]: { type: 'counter' }, [SET_BUCKET]: { type: 'set' } } as const;
export const COUNTER_KEYS = ['ctr-0', 'ctr-1'];
export const SET_KEYS = ['set-0'];
const CLIENT_TIMEOUT_MS = 4000;
const RETRIES = 6;

export interface CrdtTally {
  /** Per counter key: sum of acknowledged increments, and of every increment ever sent. */
  readonly counters: Map<string, { acked: number; attempted: number; unresolved: number }>;
  /** Elements whose add was acknowledged / attempted at all; elements some remove targeted. */
  readonly setAcked: Set<string>;
  readonly setAttempted: Set<string>;
  readonly setRemoveAttempted: Set<string>;
  ops: number;
}

export function newTally(): CrdtTally {
  return {
    counters: new Map(COUNTER_KEYS.map((k) => [k, { acked: 0, attempted: 0, unresolved: 0 }])),
    setAcked: new Set(),
    setAttempted: new Set(),
    setRemoveAttempted: new Set(),
    ops: 0,
  };
}

export interface CrdtClientCtx {
  readonly client: string;
  readonly nodes: readonly { id: string; url: string }[];
  readonly rnd: Prng;
  readonly tally: CrdtTally;
  seq: number;
}

async function post(url: string, body: unknown): Promise<'ok' | 'fail' | 'unknown'> {
  try {
    const res = await fetchWithTimeout(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }, CLIENT_TIMEOUT_MS);
    await res.arrayBuffer();
    if (res.status === 204 || res.status === 200) return 'ok';
    // A 503 may still have been applied on some replicas (as in Dynamo): not a clean failure.
    return res.status >= 500 ? 'unknown' : 'fail';
  } catch {
    return 'unknown';
  }
}

/** One client step: an increment (with retries under the same id), a set add, or an observed remove. */
export async function crdtStep(ctx: CrdtClientCtx): Promise<void> {
  const { rnd, tally } = ctx;
  const node = () => rnd.pick(ctx.nodes).url;
  const choice = rnd.int(10);
  ctx.seq++;
  tally.ops++;
  if (choice < 6) {
    const key = rnd.pick(COUNTER_KEYS);
    const amount = rnd.range(1, 3);
    const id = `${ctx.client}-${ctx.seq}`;
    const t = tally.counters.get(key)!;
    t.attempted += amount;
    for (let attempt = 0; attempt < RETRIES; attempt++) {
      const outcome = await post(`${node()}/buckets/${COUNTER_BUCKET}/counters/${key}?w=quorum`, { increment: amount, id });
      if (outcome === 'ok') {
        t.acked += amount;
        return;
      }
      if (outcome === 'fail') return; // refused (4xx): not applied anywhere
    }
    t.unresolved++;
    return;
  }
  const key = SET_KEYS[0]!;
  if (choice < 9) {
    const element = `${ctx.client}-${ctx.seq}`;
    tally.setAttempted.add(element);
    if ((await post(`${node()}/buckets/${SET_BUCKET}/sets/${key}?w=quorum`, { add: [element] })) === 'ok') tally.setAcked.add(element);
    return;
  }
  // Read, then remove up to two of this client's own elements that the read saw.
  try {
    const res = await fetchWithTimeout(`${node()}/buckets/${SET_BUCKET}/sets/${key}?r=quorum`, {}, CLIENT_TIMEOUT_MS);
    if (res.status !== 200) {
      await res.arrayBuffer();
      return;
    }
    const body = (await res.json()) as { value: string[]; context: string };
    const mine = body.value.filter((e) => e.startsWith(`${ctx.client}-`));
    if (mine.length === 0) return;
    const remove = [rnd.pick(mine), rnd.pick(mine)].filter((e, i, a) => a.indexOf(e) === i);
    for (const e of remove) tally.setRemoveAttempted.add(e);
    await post(`${node()}/buckets/${SET_BUCKET}/sets/${key}?w=quorum`, { remove, context: body.context });
  } catch {
    // a read that timed out observed nothing
  }
}

async function localValue(url: string, bucket: string, key: string): Promise<string> {
  const res = await fetchWithTimeout(`${url}/admin/local/buckets/${bucket}/keys/${encodeURIComponent(key)}`);
  if (res.status === 404) return 'absent';
  const body = (await res.json()) as { crdt?: { value: unknown } };
  return JSON.stringify(body.crdt?.value ?? null);
}

/** CRDT keys whose primary replicas' local values differ. */
export async function crdtDiverged(urlOf: (id: string) => string, primaries: (bucket: string, key: string) => string[]): Promise<string[]> {
  const out: string[] = [];
  const keys = [...COUNTER_KEYS.map((k) => [COUNTER_BUCKET, k] as const), ...SET_KEYS.map((k) => [SET_BUCKET, k] as const)];
  for (const [bucket, key] of keys) {
    const views = await Promise.all(primaries(bucket, key).map((id) => localValue(urlOf(id), bucket, key)));
    if (new Set(views).size > 1) out.push(`${bucket}/${key}`);
  }
  return out;
}

export interface CrdtCheck {
  readonly violations: Violation[];
  readonly rows: [string, string][];
}

/** Reads every CRDT key at r=all through the first node and checks the tally. */
export async function checkCrdt(base: string, tally: CrdtTally): Promise<CrdtCheck> {
  const violations: Violation[] = [];
  const rows: [string, string][] = [];
  for (const [key, t] of tally.counters) {
    const res = await fetchWithTimeout(`${base}/buckets/${COUNTER_BUCKET}/counters/${key}?r=all`, {}, CLIENT_TIMEOUT_MS);
    const value = res.status === 200 ? ((await res.json()) as { value: number }).value : res.status === 404 ? 0 : NaN;
    rows.push([`counter ${key}: acked / final / attempted`, `${t.acked} / ${value} / ${t.attempted} (${t.unresolved} unresolved)`]);
    if (!(value >= t.acked && value <= t.attempted)) {
      violations.push({ kind: 'counter-bounds', bucket: COUNTER_BUCKET, key, detail: `final ${value} outside [acked ${t.acked}, attempted ${t.attempted}]` });
    } else if (t.unresolved === 0 && value !== t.acked) {
      violations.push({ kind: 'counter-inexact', bucket: COUNTER_BUCKET, key, detail: `every op resolved, yet final ${value} != acked ${t.acked} (double count)` });
    }
  }
  for (const key of SET_KEYS) {
    const res = await fetchWithTimeout(`${base}/buckets/${SET_BUCKET}/sets/${key}?r=all`, {}, CLIENT_TIMEOUT_MS);
    const value = res.status === 200 ? new Set(((await res.json()) as { value: string[] }).value) : new Set<string>();
    let lost = 0;
    for (const e of tally.setAcked) {
      if (!value.has(e) && !tally.setRemoveAttempted.has(e)) {
        lost++;
        if (lost <= 20) violations.push({ kind: 'set-lost-add', bucket: SET_BUCKET, key, detail: `acknowledged add of ${e} is missing and no remove targeted it` });
      }
    }
    for (const e of value) {
      if (!tally.setAttempted.has(e)) violations.push({ kind: 'set-phantom', bucket: SET_BUCKET, key, detail: `${e} was never added` });
    }
    rows.push([`set ${key}: acked adds / final size / lost`, `${tally.setAcked.size} / ${value.size} / ${lost}`]);
  }
  return { violations, rows };
}
