// Anti-entropy with real processes (issue 5): a node whose data directory is wiped while it
// is down rejoins and is refilled — to identical hash trees and identical objects — by
// anti-entropy alone: hinted handoff is off and no client reads anything in between.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchWithTimeout, startProcessCluster, waitFor, type ProcessCluster } from '../helpers/process-cluster.ts';

let c: ProcessCluster;
beforeAll(async () => {
  c = await startProcessCluster({
    nodes: 3,
    config: {
      handoff: { maxHints: 0 },
      antiEntropy: { intervalMs: 300 },
      buckets: { default: {}, hits: { type: 'counter' } },
    },
  });
}, 90_000);
afterAll(async () => c?.stop());

const KEYS = 300;

async function roots(id: string): Promise<Map<string, string>> {
  const res = await fetchWithTimeout(`${c.url(id)}/cluster/antientropy`);
  const body = (await res.json()) as { partitions: { partition: string; root: string }[] };
  return new Map(body.partitions.map((p) => [p.partition, p.root]));
}

/** True when every partition two nodes share has the same root on both. */
async function treesAgree(): Promise<boolean> {
  const all = await Promise.all(['n1', 'n2', 'n3'].map(roots));
  const n3 = all[2]!;
  if (n3.size === 0) return false;
  for (const other of all.slice(0, 2)) {
    for (const [p, root] of other) if (n3.has(p) && n3.get(p) !== root) return false;
  }
  return true;
}

describe('anti-entropy refills a wiped node (real processes)', () => {
  it('with no reads and no hints, the wiped node converges to identical trees and objects', async () => {
    for (let i = 0; i < KEYS; i++) {
      const res = await fetchWithTimeout(`${c.url('n1')}/buckets/b/keys/k${i}?w=all`, { method: 'PUT', body: `v${i}`, headers: { 'content-type': 'text/plain' } });
      expect(res.status).toBe(204);
    }
    for (let i = 0; i < 20; i++) {
      const res = await fetchWithTimeout(`${c.url('n2')}/buckets/hits/counters/c${i}?w=all`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ increment: i + 1 }),
      });
      expect(res.status).toBe(204);
    }
    await waitFor(treesAgree, 'trees agree before the wipe', 20_000, 300);

    await c.kill9('n3');
    const dir = join(c.dataDir, 'data', 'n3');
    expect(existsSync(dir)).toBe(true);
    rmSync(dir, { recursive: true, force: true });
    await c.restart('n3');
    // Really wiped: the restarted node rebuilt its index from an empty store.
    const first = (await (await fetchWithTimeout(`${c.url('n3')}/cluster/antientropy`)).json()) as { rebuild: { keys: number } | null };
    expect(first.rebuild?.keys ?? 0).toBe(0);

    await waitFor(treesAgree, 'the wiped node’s trees to match its peers', 60_000, 500);
    let missing = 0;
    for (let i = 0; i < KEYS; i++) {
      const res = await fetchWithTimeout(`${c.url('n3')}/admin/local/buckets/b/keys/k${i}`);
      if (res.status !== 200) missing++;
      else await res.arrayBuffer();
    }
    expect(missing).toBe(0);
    for (let i = 0; i < 20; i++) {
      const res = await fetchWithTimeout(`${c.url('n3')}/admin/local/buckets/hits/keys/c${i}`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { crdt: { value: number } }).crdt.value).toBe(i + 1);
    }
    const page = (await (await fetchWithTimeout(`${c.url('n3')}/cluster/antientropy`)).json()) as { totals: { keysRepaired: number } };
    expect(page.totals.keysRepaired).toBeGreaterThan(0);
  }, 120_000);
});
