// Fault injection on a seeded schedule: kill -9 + restart, SIGSTOP/SIGCONT, and partitions
// through the nodes' link filters (POST /admin/faults, nodes run with SHOAL_FAULTS=1). One
// fault at a time, so a majority of every key's replicas is reachable between faults.
import type { Prng } from '../../src/core/prng.ts';
import { fetchWithTimeout, sleep, type ProcessCluster } from '../helpers/process-cluster.ts';
import type { History } from './history.ts';

export type FaultKind = 'kill' | 'pause' | 'partition';
export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'pause', 'partition'];

export interface FaultPlan {
  readonly cluster: ProcessCluster;
  readonly rnd: Prng;
  readonly history: History;
  readonly t0: number;
  /** No new fault starts after this (ms since epoch); running ones are healed. */
  readonly stopAt: number;
  /** How long each fault lasts. */
  readonly holdMs: readonly [number, number];
  readonly gapMs: readonly [number, number];
  /** Problems the injector itself hit (a node that would not restart). */
  readonly errors: string[];
}

export async function setPartition(cluster: ProcessCluster, drop: ReadonlyMap<string, readonly string[]>): Promise<void> {
  await Promise.all(
    cluster.nodes.map(async (n) => {
      const res = await fetchWithTimeout(`${n.httpUrl}/admin/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ drop: drop.get(n.id) ?? [] }),
      });
      if (!res.ok) throw new Error(`POST /admin/faults on ${n.id}: ${res.status} ${await res.text()}`);
    }),
  );
}

/** Runs faults until stopAt; every kind in FAULT_KINDS is used at least once if time allows. */
export async function runFaults(p: FaultPlan): Promise<Record<FaultKind, number>> {
  const counts: Record<FaultKind, number> = { kill: 0, pause: 0, partition: 0 };
  const ids = p.cluster.nodes.map((n) => n.id);
  const first = p.rnd.shuffle(FAULT_KINDS);
  const at = () => Date.now() - p.t0;
  while (Date.now() + p.holdMs[0] < p.stopAt) {
    await sleep(p.rnd.range(p.gapMs[0], p.gapMs[1]));
    const kind = first.shift() ?? p.rnd.pick(FAULT_KINDS);
    const hold = Math.max(1000, Math.min(p.rnd.range(p.holdMs[0], p.holdMs[1]), p.stopAt - Date.now()));
    const target = p.rnd.pick(ids);
    counts[kind]++;
    if (kind === 'kill') {
      p.history.fault({ kind: 'fault', at: at(), fault: 'kill', nodes: [target], phase: 'begin' });
      await p.cluster.kill9(target);
      await sleep(hold);
      try {
        await p.cluster.restart(target);
      } catch (err) {
        p.errors.push(`${target} did not restart: ${String(err).slice(0, 2000)}`);
        await p.cluster.restart(target).catch(() => undefined); // one more try, then the heal phase reports it
      }
      p.history.fault({ kind: 'fault', at: at(), fault: 'kill', nodes: [target], phase: 'end' });
    } else if (kind === 'pause') {
      p.history.fault({ kind: 'fault', at: at(), fault: 'pause', nodes: [target], phase: 'begin' });
      p.cluster.pause(target);
      try {
        await sleep(hold);
      } finally {
        p.cluster.resume(target);
      }
      p.history.fault({ kind: 'fault', at: at(), fault: 'pause', nodes: [target], phase: 'end' });
    } else {
      // A minority side (1 node, or up to 2 of 5) cut off from the rest, both directions.
      const size = ids.length >= 5 ? p.rnd.range(1, 2) : 1;
      const side = [target, ...p.rnd.shuffle(ids.filter((i) => i !== target)).slice(0, size - 1)];
      const rest = ids.filter((i) => !side.includes(i));
      const drop = new Map<string, string[]>();
      for (const i of side) drop.set(i, rest);
      for (const i of rest) drop.set(i, side);
      p.history.fault({ kind: 'fault', at: at(), fault: 'partition', nodes: side, phase: 'begin', detail: `${side.join(',')} | ${rest.join(',')}` });
      await setPartition(p.cluster, drop);
      await sleep(hold);
      await setPartition(p.cluster, new Map());
      p.history.fault({ kind: 'fault', at: at(), fault: 'partition', nodes: side, phase: 'end' });
    }
  }
  return counts;
}

/** Undo everything: continue paused nodes, restart dead ones, clear every link filter. */
export async function healAll(cluster: ProcessCluster, errors: string[]): Promise<void> {
  for (const n of cluster.nodes) cluster.resume(n.id);
  for (const n of cluster.nodes) {
    if (!cluster.isRunning(n.id)) await cluster.restart(n.id).catch((err: unknown) => errors.push(`${n.id} did not restart in heal: ${String(err).slice(0, 2000)}`));
  }
  await setPartition(cluster, new Map()).catch((err: unknown) => errors.push(`could not clear partitions: ${String(err)}`));
}
