// The short chaos run inside `npm test` (issue 6): ~50 s of clients on a real 3-node cluster
// with at least one kill -9, one pause and one partition, then heal → converge → check.
// Longer runs: `npm run chaos -- --minutes 10 --nodes 5`. SHOAL_CHAOS_SEED picks the seed.
import { describe, expect, it } from 'vitest';
import { runChaos } from './chaos.ts';

const seed = Number(process.env['SHOAL_CHAOS_SEED'] ?? 20240611);

describe('chaos (short run)', () => {
  it(`loses no acknowledged write under kill, pause and partition (seed ${seed})`, async () => {
    const lines: string[] = [];
    const res = await runChaos({ durationMs: 50_000, nodes: 3, seed, log: (l) => lines.push(l) });
    // The summary is the useful failure message: it has the seed and every violation.
    if (!res.ok) process.stderr.write(`${lines.join('\n')}\n${res.summary}\n`);
    expect(res.faults.kill).toBeGreaterThanOrEqual(1);
    expect(res.faults.pause).toBeGreaterThanOrEqual(1);
    expect(res.faults.partition).toBeGreaterThanOrEqual(1);
    expect(res.violations, res.summary).toEqual([]);
  }, 180_000);
});
