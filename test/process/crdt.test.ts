// Counters on three real node processes (issue 4): clients increment through every node at
// once while one node is kill -9'ed and restarted. A client that does not know an outcome
// retries with the same operation id, so the final counter equals the acknowledged
// increments exactly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchWithTimeout, sleep, startProcessCluster, waitFor, type ProcessCluster } from '../helpers/process-cluster.ts';

let c: ProcessCluster;
beforeAll(async () => {
  c = await startProcessCluster({ nodes: 3, config: { buckets: { default: {}, hits: { type: 'counter' } } } });
}, 90_000);
afterAll(async () => c?.stop());

const IDS = ['n1', 'n2', 'n3'];

async function increment(node: string, id: string): Promise<'ok' | 'failed'> {
  try {
    const res = await fetchWithTimeout(`${c.url(node)}/buckets/hits/counters/k?w=quorum`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ increment: 1, id }),
    }, 3000);
    await res.arrayBuffer();
    return res.status === 204 ? 'ok' : 'failed';
  } catch {
    return 'failed'; // connection refused or timed out: outcome unknown, retry with the same id
  }
}

describe('counters across kill -9 and restart (real processes)', () => {
  it('the final count equals the acknowledged increments', async () => {
    let acknowledged = 0;
    let unresolved = 0;
    const client = async (clientNo: number, ops: number) => {
      for (let i = 0; i < ops; i++) {
        const id = `c${clientNo}-op${i}`;
        let ok = false;
        // Bounded retries, rotating through the nodes: the same id is never counted twice.
        for (let attempt = 0; attempt < 20 && !ok; attempt++) {
          const node = IDS[(clientNo + i + attempt) % 3]!;
          if (!c.isRunning(node)) continue;
          ok = (await increment(node, id)) === 'ok';
          if (!ok) await sleep(100);
        }
        if (ok) acknowledged++;
        else unresolved++;
      }
    };
    const load = Promise.all([client(0, 60), client(1, 60), client(2, 60)]);
    await sleep(700);
    await c.kill9('n3');
    await sleep(1500);
    await c.restart('n3');
    await load;
    expect(unresolved).toBe(0);
    expect(acknowledged).toBe(180);
    // Let hinted handoff and replication settle, then read at r=all through every node.
    await waitFor(async () => {
      for (const node of IDS) {
        const res = await fetchWithTimeout(`${c.url(node)}/buckets/hits/counters/k?r=all`);
        if (res.status !== 200) return false;
        const body = (await res.json()) as { value: number };
        if (body.value !== acknowledged) return false;
      }
      return true;
    }, 'every node reads the acknowledged count at r=all', 30_000, 500);
    // And each replica's own copy agrees (read repair and handoff have reached them).
    await waitFor(async () => {
      for (const node of IDS) {
        const res = await fetchWithTimeout(`${c.url(node)}/admin/local/buckets/hits/keys/k`);
        if (res.status !== 200) return false;
        const body = (await res.json()) as { crdt: { value: number } };
        if (body.crdt.value !== acknowledged) return false;
      }
      return true;
    }, 'every replica holds the acknowledged count locally', 30_000, 500);
  }, 120_000);
});
