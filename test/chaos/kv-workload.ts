// The KV workload: read-modify-write with contexts at chosen (R, W), blind writes and deletes,
// on a siblings bucket and an lww bucket. Each client owns a few keys (sequential, so an
// acknowledged write is easy to reason about) and all share a few hot keys (concurrency).
import type { Prng } from '../../src/core/prng.ts';
import { fetchWithTimeout } from '../helpers/process-cluster.ts';
import type { History, KvOp, Outcome, ReadOp, WriteOp } from './history.ts';
import type { FinalRead } from './kv-checker.ts';

export const SIBLINGS_BUCKET = 'chaos';
export const LWW_BUCKET = 'chaoslww';
export const KV_BUCKETS = { [SIBLINGS_BUCKET]: { mode: 'siblings' }, [LWW_BUCKET]: { mode: 'lww' } } as const;
const OWN_KEYS = 3;
const SHARED_KEYS = 4;
/** Above the node's requestTimeoutMs (+ forward slack): no answer by then means unknown. */
export const CLIENT_TIMEOUT_MS = 4000;

export interface KvKey {
  readonly bucket: string;
  readonly key: string;
}

export function kvKeys(clients: readonly string[]): KvKey[] {
  const keys: KvKey[] = [];
  for (const bucket of [SIBLINGS_BUCKET, LWW_BUCKET]) {
    for (let i = 0; i < SHARED_KEYS; i++) keys.push({ bucket, key: `shared-${i}` });
    for (const c of clients) for (let i = 0; i < OWN_KEYS; i++) keys.push({ bucket, key: `${c}-${i}` });
  }
  return keys;
}

interface ReadAnswer {
  outcome: Outcome;
  status?: number;
  found: boolean;
  values: string[];
  context?: string;
  error?: string;
}

/** One GET, classified. A paused or dead node gives `unknown`. */
export async function kvRead(base: string, bucket: string, key: string, r: string): Promise<ReadAnswer> {
  try {
    const res = await fetchWithTimeout(`${base}/buckets/${bucket}/keys/${encodeURIComponent(key)}?r=${r}`, {}, CLIENT_TIMEOUT_MS);
    const context = res.headers.get('x-shoal-context') ?? undefined;
    const ctx = context === undefined ? {} : { context };
    if (res.status === 200) return { outcome: 'ok', status: 200, found: true, values: [await res.text()], ...ctx };
    if (res.status === 300) {
      const body = (await res.json()) as { siblings: { value: string; encoding: string }[]; context: string };
      const values = body.siblings.map((s) => (s.encoding === 'utf8' ? s.value : Buffer.from(s.value, 'base64').toString('utf8')));
      return { outcome: 'ok', status: 300, found: true, values, context: body.context };
    }
    if (res.status === 404) {
      await res.arrayBuffer();
      return { outcome: 'ok', status: 404, found: false, values: [], ...ctx };
    }
    return { outcome: 'fail', status: res.status, found: false, values: [], error: (await res.text()).slice(0, 200) };
  } catch (err) {
    return { outcome: 'unknown', found: false, values: [], error: String(err).slice(0, 200) };
  }
}

async function kvWrite(base: string, op: 'write' | 'delete', bucket: string, key: string, w: string, value: string | undefined, context: string | undefined) {
  const headers: Record<string, string> = { 'content-type': 'text/plain' };
  if (context) headers['x-shoal-context'] = context;
  try {
    const res = await fetchWithTimeout(
      `${base}/buckets/${bucket}/keys/${encodeURIComponent(key)}?w=${w}`,
      { method: op === 'write' ? 'PUT' : 'DELETE', headers, ...(op === 'write' ? { body: value } : {}) },
      CLIENT_TIMEOUT_MS,
    );
    const text = await res.text();
    if (res.status === 204) return { outcome: 'ok' as Outcome, status: 204 };
    return { outcome: 'fail' as Outcome, status: res.status, error: text.slice(0, 200) };
  } catch (err) {
    return { outcome: 'unknown' as Outcome, error: String(err).slice(0, 200) };
  }
}

export interface KvClientCtx {
  readonly client: string;
  readonly nodes: readonly { id: string; url: string }[];
  readonly rnd: Prng;
  readonly history: History;
  readonly t0: number;
  seq: number;
}

/** One client step: a read, or a read followed by a write or delete with that read's context. */
export async function kvStep(c: KvClientCtx): Promise<void> {
  const { rnd, history } = c;
  const node = rnd.pick(c.nodes);
  const bucket = rnd.chance(0.6) ? SIBLINGS_BUCKET : LWW_BUCKET;
  const key = rnd.chance(0.6) ? `${c.client}-${rnd.int(OWN_KEYS)}` : `shared-${rnd.int(SHARED_KEYS)}`;
  const r = rnd.chance(0.8) ? 'quorum' : 'one';
  const now = () => Date.now() - c.t0;
  const readStart = now();
  const got = await kvRead(node.url, bucket, key, r);
  const read: ReadOp = {
    kind: 'read', id: history.id(), client: c.client, node: node.id, bucket, key, r,
    start: readStart, end: now(), outcome: got.outcome, values: got.values,
    ...(got.status !== undefined && { status: got.status }), ...(got.error !== undefined && { error: got.error }),
  };
  history.op(read);
  const roll = rnd.next();
  if (roll < 0.25) return; // read only
  const blind = got.outcome !== 'ok' || rnd.chance(0.1);
  if (got.outcome !== 'ok' && rnd.chance(0.5)) return;
  const kind: 'write' | 'delete' = roll < 0.33 ? 'delete' : 'write';
  const w = rnd.chance(0.7) ? 'quorum' : rnd.chance(0.5) ? 'all' : 'one';
  const value = kind === 'write' ? `${c.client}.${++c.seq}` : undefined;
  const context = blind ? undefined : got.context;
  const wnode = rnd.chance(0.7) ? node : rnd.pick(c.nodes);
  const start = now();
  const res = await kvWrite(wnode.url, kind, bucket, key, w, value, context);
  const op: WriteOp = {
    kind, id: history.id(), client: c.client, node: wnode.id, bucket, key, w, start, end: now(),
    outcome: res.outcome, saw: context === undefined ? [] : got.values, withContext: context !== undefined,
    ...(value !== undefined && { value }), ...(res.status !== undefined && { status: res.status }),
    ...(res.error !== undefined && { error: res.error }),
  };
  history.op(op);
}

/** Final R = quorum reads of every key, each retried (bounded) on every node in turn. */
export async function kvFinalReads(keys: readonly KvKey[], urls: readonly string[]): Promise<Map<string, FinalRead>> {
  const out = new Map<string, FinalRead>();
  for (const [i, k] of keys.entries()) {
    for (let attempt = 0; attempt < urls.length * 2; attempt++) {
      const got = await kvRead(urls[(i + attempt) % urls.length]!, k.bucket, k.key, 'quorum');
      if (got.outcome === 'ok') {
        out.set(`${k.bucket}/${k.key}`, { found: got.found, values: got.values });
        break;
      }
    }
  }
  return out;
}

export function siblingHistogram(ops: readonly KvOp[]): Map<number, number> {
  const h = new Map<number, number>();
  for (const op of ops) {
    if (op.kind !== 'read' || op.outcome !== 'ok') continue;
    const n = op.values?.length ?? 0;
    h.set(n, (h.get(n) ?? 0) + 1);
  }
  return h;
}
