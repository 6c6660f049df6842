// Anti-entropy cost and convergence: two replicas (N = 2) of `stored` keys, `differing` of
// them newer on one side; exchanges run until both trees are identical. Reports the bytes
// on the (simulated) wire against what sending the full key list would cost, the simulated
// time to converge under the default rate limits, and the wall time it took here. Used by
// `npm run bench` (its "Anti-entropy" table) and by bench/antientropy.ts on its own.
import { performance } from 'node:perf_hooks';
import { parseConfig } from '../../src/config.ts';
import { encodeValue, versionedObjectCodec } from '../../src/storage/records.ts';
import { simpleObject, startAaeHarness } from '../../test/helpers/aae-harness.ts';

/** Bounds the loop: every exchange repairs at least one partition's worth. */
const MAX_EXCHANGES = 10_000;

// The shipped defaults, so "time to converge" is what a real cluster would see.
export const aaeDefaults = parseConfig({ secret: 'bench-secret-0123456789', nodes: [{ id: 'a', host: 'h', httpPort: 1, peerPort: 2 }] }).antiEntropy;

export interface AntiEntropyRow {
  stored: number;
  differing: number;
  exchanges: number;
  bytes: number;
  fullListBytes: number;
  simMs: number;
  wallMs: number;
  repaired: number;
}

/** (stored, differing) pairs of a quick or a full run. */
export function antiEntropyCases(quick: boolean): [number, number][] {
  const storedCounts = quick ? [10_000] : [10_000, 100_000];
  const differingCounts = quick ? [10, 1_000] : [10, 1_000, 100_000];
  return storedCounts.flatMap((s) => differingCounts.filter((d) => d <= s).map((d) => [s, d] as [number, number]));
}

export async function runAntiEntropyCase(stored: number, differing: number): Promise<AntiEntropyRow> {
  const defaults = aaeDefaults;
  const h = startAaeHarness(['a', 'b'], 42, { n: 2, vnodes: 64, ae: { keysPerSecond: defaults.keysPerSecond, bytesPerSecond: defaults.bytesPerSecond } });
  const a = h.replica('a');
  const b = h.replica('b');
  let fullListBytes = 0;
  for (let i = 0; i < stored; i++) {
    const key = `key-${i}`;
    const obj = simpleObject('x.1', 1, Buffer.from(`value-${i}-${'x'.repeat(64)}`));
    const record = encodeValue(versionedObjectCodec, obj);
    a.store.put('b', key, obj, record);
    b.store.put('b', key, obj, record);
    fullListBytes += 1 + key.length + 8;
  }
  const step = Math.max(1, Math.floor(stored / differing));
  for (let i = 0, done = 0; done < differing && i < stored; i += step, done++) {
    a.store.put('b', `key-${i}`, simpleObject('x.1', 2, Buffer.from(`newer-${i}`)));
  }
  h.net.resetStats();
  const started = performance.now();
  const simStart = h.clock.now();
  let exchanges = 0;
  let repaired = 0;
  const same = () => JSON.stringify([...a.ae.roots()]) === JSON.stringify([...b.ae.roots()]);
  while (!same() && exchanges < MAX_EXCHANGES) {
    const r = await h.run(a.ae.exchange('b'), 3_600_000);
    repaired += r?.keysRepaired ?? 0;
    exchanges++;
    // Exchanges are an interval apart in a running node.
    await h.clock.runFor(defaults.intervalMs);
  }
  if (!same()) throw new Error(`did not converge in ${MAX_EXCHANGES} exchanges`);
  // The last interval wait is not part of converging.
  const simMs = h.clock.now() - simStart - defaults.intervalMs;
  return { stored, differing, exchanges, bytes: h.net.stats().bytes, fullListBytes, simMs, wallMs: performance.now() - started, repaired };
}

export function antiEntropyMarkdown(rows: readonly AntiEntropyRow[]): string {
  const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });
  const d = aaeDefaults;
  let md = `Anti-entropy exchange: 2 replicas, 64 vnodes each, defaults ${d.keysPerSecond} keys/s, ${fmt(d.bytesPerSecond)} B/s, interval ${d.intervalMs} ms\n\n`;
  md += '| stored keys | differing | exchanges | keys repaired | bytes exchanged | bytes / differing key | % of full key list | simulated time to converge (ms) | wall time (ms) |\n';
  md += '|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n';
  for (const r of rows) {
    md += `| ${fmt(r.stored)} | ${fmt(r.differing)} | ${r.exchanges} | ${fmt(r.repaired)} | ${fmt(r.bytes)} | ${fmt(r.bytes / r.differing)} | ${((100 * r.bytes) / r.fullListBytes).toFixed(2)}% | ${fmt(r.simMs)} | ${fmt(r.wallMs)} |\n`;
  }
  return md;
}
