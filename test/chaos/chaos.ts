// The fault checker (issue 6): a real cluster of node processes, concurrent clients on every
// node, faults on a seeded schedule, then heal → converge → check. `runChaos` returns the
// verdict and a printable summary; test/chaos/run.ts is the CLI, chaos.test.ts the short run.
//
// Extension point: a workload is "a client step + the keys it touches + a checker over the
// history and final reads". KV (siblings + lww buckets) is the first; CRDT counters (acked ≤
// final ≤ attempted, exact with id retries) and sets (acked adds not observed-removed are
// present) plug in the same way once their HTTP routes land: add a step to `clientLoop`, its
// keys to `converge`, and its check next to `checkKv`.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrng } from '../../src/core/prng.ts';
import { buildRing, keyHash, preferenceList } from '../../src/core/ring.ts';
import { fetchWithTimeout, startProcessCluster, waitFor, type ProcessCluster } from '../helpers/process-cluster.ts';
import { healAll, runFaults, type FaultKind } from './faults.ts';
import { History } from './history.ts';
import { checkKv, checkStaleReads, type Violation } from './kv-checker.ts';
import { CRDT_BUCKETS, checkCrdt, crdtDiverged, crdtStep, newTally, type CrdtClientCtx } from './crdt-workload.ts';
import { KV_BUCKETS, LWW_BUCKET, kvFinalReads, kvKeys, kvRead, kvStep, siblingHistogram, type KvClientCtx, type KvKey } from './kv-workload.ts';

export interface ChaosOptions {
  readonly durationMs: number;
  readonly nodes: number;
  readonly seed: number;
  readonly clientsPerNode?: number;
  /** Convergence after healing must happen within this (passive: hints + anti-entropy). */
  readonly convergeBoundMs?: number;
  /** Extra time allowed after one read-repair pass over every key, if passive was not enough. */
  readonly repairBoundMs?: number;
  readonly log?: (line: string) => void;
  /** Extra config merged over the chaos config (e.g. to break something on purpose). */
  readonly config?: Record<string, unknown>;
}

export interface ChaosResult {
  readonly ok: boolean;
  readonly seed: number;
  readonly historyPath: string;
  readonly violations: Violation[];
  readonly faults: Record<FaultKind, number>;
  readonly summary: string;
}

const VNODES = 64;

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const log = opts.log ?? ((l: string) => process.stdout.write(l + '\n'));
  const rnd = createPrng(opts.seed);
  const dir = mkdtempSync(join(tmpdir(), 'shoal-chaos-'));
  const history = new History(join(dir, 'history.jsonl'));
  log(`chaos: seed=${opts.seed} nodes=${opts.nodes} duration=${Math.round(opts.durationMs / 1000)}s history=${history.path}`);

  const ids = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
  // Clock skew on one node, so LWW buckets see it (HLC + contexts must keep causality).
  const skewed = createPrng(opts.seed).fork('skew').pick(ids);
  const skewMs = rnd.fork('skew-ms').range(500, 2500) * (rnd.fork('skew-sign').chance(0.5) ? 1 : -1);
  const n = Math.min(3, opts.nodes);
  const cluster = await startProcessCluster({
    nodes: opts.nodes,
    env: { SHOAL_FAULTS: '1' },
    nodeEnv: { [skewed]: { SHOAL_CLOCK_SKEW_MS: String(skewMs) } },
    config: {
      requestTimeoutMs: 2000,
      ring: { vnodes: VNODES },
      gossip: { intervalMs: 250, phiThreshold: 8, maxClockSkewMs: 5000 },
      antiEntropy: { intervalMs: 1000 },
      buckets: { default: { n, r: 'quorum', w: 'quorum' }, ...KV_BUCKETS, ...CRDT_BUCKETS },
      ...opts.config,
    },
  });
  history.note({ kind: 'setup', seed: opts.seed, nodes: ids, skew: { node: skewed, ms: skewMs }, dataDir: cluster.dataDir });
  log(`chaos: cluster up (${ids.join(', ')}); ${skewed} clock skewed by ${skewMs} ms`);

  const violations: Violation[] = [];
  const faultErrors: string[] = [];
  let faults: Record<FaultKind, number> = { kill: 0, pause: 0, partition: 0 };
  let convergedMs: number | undefined;
  let convergeHow = '';
  const t0 = Date.now();
  try {
    const stopAt = t0 + opts.durationMs;
    const clientIds = Array.from({ length: (opts.clientsPerNode ?? 2) * opts.nodes }, (_, i) => `c${i + 1}`);
    const nodes = cluster.nodes.map((x) => ({ id: x.id, url: x.httpUrl }));
    const loops = clientIds.map(async (client) => {
      const ctx: KvClientCtx = { client, nodes, rnd: rnd.fork(client), history, t0, seq: 0 };
      while (Date.now() < stopAt) await kvStep(ctx);
    });
    // One CRDT client per node: counter increments with ids, set adds and observed removes.
    const tally = newTally();
    for (let i = 0; i < opts.nodes; i++) {
      const ctx: CrdtClientCtx = { client: `d${i + 1}`, nodes, rnd: rnd.fork(`crdt-${i}`), tally, seq: 0 };
      loops.push(
        (async () => {
          while (Date.now() < stopAt) await crdtStep(ctx);
        })(),
      );
    }
    faults = await runFaults({
      cluster, rnd: rnd.fork('faults'), history, t0, stopAt,
      holdMs: [3000, 7000], gapMs: [1000, 3000], errors: faultErrors,
    });
    await Promise.all(loops);
    log(`chaos: workload done (${history.ops.length} ops); healing`);

    // ---- heal, then converge ----
    await healAll(cluster, faultErrors);
    const healedAt = Date.now();
    await cluster.waitMembers((ms) => ids.every((id) => ms.some((m) => m.id === id && m.status === 'up')), 'every member up after healing', 30_000)
      .catch((err: unknown) => faultErrors.push(String(err)));
    const keys = kvKeys(clientIds);
    const primaries = (k: KvKey) => preferenceList(buildRing(ids, VNODES), keyHash(k.bucket, k.key), n);
    const passiveBound = opts.convergeBoundMs ?? 30_000;
    let diverged = await divergedKeys(cluster, keys, primaries);
    const crdtPrimaries = (bucket: string, key: string) => preferenceList(buildRing(ids, VNODES), keyHash(bucket, key), n);
    let crdtLeft: string[] = [];
    try {
      await waitFor(
        async () =>
          (diverged = await divergedKeys(cluster, keys, primaries)).length === 0 &&
          (crdtLeft = await crdtDiverged((id) => cluster.url(id), crdtPrimaries)).length === 0,
        'passive convergence',
        passiveBound,
        500,
      );
      convergedMs = Date.now() - healedAt;
      convergeHow = 'passively (hints + anti-entropy)';
    } catch {
      log(`chaos: ${diverged.length} keys not converged ${passiveBound} ms after healing; one read-repair pass (r=all)`);
      for (const k of diverged) await kvRead(cluster.nodes[0]!.httpUrl, k.bucket, k.key, 'all');
      await checkCrdt(cluster.nodes[0]!.httpUrl, tally); // its r=all reads repair the CRDT keys
      try {
        await waitFor(
          async () =>
            (diverged = await divergedKeys(cluster, keys, primaries)).length === 0 &&
            (crdtLeft = await crdtDiverged((id) => cluster.url(id), crdtPrimaries)).length === 0,
          'convergence after read repair',
          opts.repairBoundMs ?? 15_000,
          500,
        );
        convergedMs = Date.now() - healedAt;
        convergeHow = 'after a read-repair pass';
      } catch {
        for (const k of diverged.slice(0, 20)) {
          violations.push({ kind: 'not-converged', bucket: k.bucket, key: k.key, detail: 'replicas still differ after healing + read repair' });
        }
        for (const k of crdtLeft) violations.push({ kind: 'not-converged', bucket: k, key: '-', detail: 'CRDT replicas still differ' });
      }
    }

    // ---- check ----
    const final = await kvFinalReads(keys, cluster.nodes.map((x) => x.httpUrl));
    const kv = checkKv(history.ops, final, (b) => (b === LWW_BUCKET ? 'lww' : 'siblings'), n);
    violations.push(...kv.violations);
    // Strict only when N = cluster size (no fallback replicas, so R + W > N intersects).
    const stale = checkStaleReads(history.ops, (b) => (b === LWW_BUCKET ? 'lww' : 'siblings'), n, n === opts.nodes);
    violations.push(...stale.violations);
    const crdt = await checkCrdt(cluster.nodes[0]!.httpUrl, tally);
    violations.push(...crdt.violations);
    for (const e of faultErrors) violations.push({ kind: 'fault', bucket: '-', key: '-', detail: e });
    for (const v of violations) history.note({ kind: 'violation', violation: v.kind, bucket: v.bucket, key: v.key, detail: v.detail });
    const summary = formatSummary({
      seed: opts.seed, nodes: opts.nodes, durationMs: Date.now() - t0, history, faults, violations, convergedMs,
      convergeHow, passiveBound, kv, stale, crdtRows: crdt.rows, crdtOps: tally.ops, strictStale: n === opts.nodes, skew: `${skewed} ${skewMs > 0 ? '+' : ''}${skewMs} ms`,
    });
    history.note({ kind: 'summary', text: summary });
    return { ok: violations.length === 0, seed: opts.seed, historyPath: history.path, violations, faults, summary };
  } catch (err) {
    const tails = cluster.nodes.map((x) => `--- ${x.id} ---\n${cluster.logs(x.id).slice(-3000)}`).join('\n');
    throw new Error(`chaos run failed (seed=${opts.seed}, history ${history.path}): ${String(err)}\n${tails}`);
  } finally {
    await history.close();
    await cluster.stop();
  }
}

/** Keys whose primaries' local copies differ (a missing copy differs from any copy). */
async function divergedKeys(cluster: ProcessCluster, keys: readonly KvKey[], primaries: (k: KvKey) => string[]): Promise<KvKey[]> {
  const out: KvKey[] = [];
  for (const k of keys) {
    const views = await Promise.all(primaries(k).map((id) => localView(cluster.url(id), k)));
    if (new Set(views).size > 1) out.push(k);
  }
  return out;
}

async function localView(url: string, k: KvKey): Promise<string> {
  const res = await fetchWithTimeout(`${url}/admin/local/buckets/${k.bucket}/keys/${encodeURIComponent(k.key)}`);
  if (res.status === 404) return 'absent';
  if (!res.ok) throw new Error(`local view ${res.status}`);
  const body = (await res.json()) as { object: { clock: unknown; siblings: { dot: { actor: string; counter: number }; tombstone: boolean; valueBase64: string; ts: unknown }[] } };
  const sibs = body.object.siblings
    .map((s) => `${s.dot.actor}:${s.dot.counter}:${s.tombstone ? 'T' : s.valueBase64}:${canonical(s.ts)}`)
    .sort();
  return `${canonical(body.object.clock)}|${sibs.join(',')}`;
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${k}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

interface SummaryInput {
  seed: number;
  nodes: number;
  durationMs: number;
  history: History;
  faults: Record<FaultKind, number>;
  violations: Violation[];
  convergedMs: number | undefined;
  convergeHow: string;
  passiveBound: number;
  kv: ReturnType<typeof checkKv>;
  stale: ReturnType<typeof checkStaleReads>;
  crdtRows: [string, string][];
  crdtOps: number;
  strictStale: boolean;
  skew: string;
}

function formatSummary(s: SummaryInput): string {
  const ops = s.history.ops;
  const count = (kind: string, outcome: string) => ops.filter((o) => o.kind === kind && o.outcome === outcome).length;
  const rows: [string, string][] = [];
  for (const kind of ['read', 'write', 'delete']) {
    rows.push([`${kind}s ok / fail / unknown`, `${count(kind, 'ok')} / ${count(kind, 'fail')} / ${count(kind, 'unknown')}`]);
  }
  rows.push(['acked writes checked (w>=quorum)', String(s.kv.ackedWrites)]);
  rows.push(['crdt operations (counters, sets)', String(s.crdtOps)]);
  rows.push(...s.crdtRows);
  rows.push(['faults: kill / pause / partition', `${s.faults.kill} / ${s.faults.pause} / ${s.faults.partition}`]);
  rows.push(['clock skew', s.skew]);
  const by = (k: string) => s.violations.filter((v) => v.kind === k).length;
  rows.push(['lost (acked, gone)', String(by('lost'))]);
  rows.push(['resurrected (superseded, back)', String(by('resurrected'))]);
  rows.push(['phantom values', String(by('phantom'))]);
  rows.push(['duplicated values (reported)', String(s.kv.duplicated)]);
  rows.push(['lww: lost to a causal predecessor', String(by('lww-causal'))]);
  rows.push([`stale quorum reads${s.strictStale ? '' : ' (sloppy: reported)'}`, `${s.stale.stale} of ${s.stale.checked} read/acked-write pairs`]);
  const share = s.kv.lwwAcked === 0 ? 0 : (100 * s.kv.lwwLostConcurrent) / s.kv.lwwAcked;
  rows.push(['lww: acked lost to concurrent (allowed)', `${s.kv.lwwLostConcurrent} of ${s.kv.lwwAcked} (${share.toFixed(1)}%)`]);
  rows.push(['unreadable / not converged / fault errors', `${by('unreadable')} / ${by('not-converged')} / ${by('fault')}`]);
  rows.push(['time to converge after heal', s.convergedMs === undefined ? `NOT within bound` : `${(s.convergedMs / 1000).toFixed(1)} s ${s.convergeHow} (bound ${s.passiveBound / 1000} s)`]);
  const hist = [...siblingHistogram(ops).entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${k}:${v}`).join('  ');
  rows.push(['sibling counts seen by reads', hist]);
  const w = Math.max(...rows.map((r) => r[0].length));
  const lines = [
    `== shoal chaos: seed=${s.seed} nodes=${s.nodes} ran ${(s.durationMs / 1000).toFixed(0)} s ==`,
    ...rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`),
    s.violations.length === 0 ? 'RESULT: OK (0 violations)' : `RESULT: ${s.violations.length} VIOLATIONS (replay with --seed ${s.seed})`,
    ...s.violations.slice(0, 30).map((v) => `  [${v.kind}] ${v.bucket}/${v.key}: ${v.detail}`),
    `history: ${s.history.path}`,
  ];
  return lines.join('\n');
}

