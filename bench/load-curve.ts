// Server CPU per operation against offered load. The bench's latency rows run at 50% and
// 80% of each row's closed-loop maximum; this shows what those rates cost the machine. On a
// small VM a request arriving alone wakes idle processes and finds cold caches, so it costs
// several times the CPU it costs at saturation, and "50% of the maximum" can keep the cores
// nearly busy. Starts its own bare-fastify server and 3-node cluster (127.0.0.1, ports the OS
// picks) and stops them by PID.
//   node --import tsx bench/load-curve.ts [workload (C)] [r,w (quorum,quorum)] [seconds per rate (4)]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoadGenerator, type RunStats } from './lib/load.ts';
import { stopAll, totalCpuSeconds } from './lib/procs.ts';
import { startBare, startShoal, type Target } from './lib/targets.ts';
import { OpChooser, WORKLOADS, type WorkloadName } from './lib/ycsb.ts';

const [wlArg = 'C', rw = 'quorum,quorum', secsArg = '4'] = process.argv.slice(2);
const secs = Number(secsArg);
if (!(wlArg in WORKLOADS) || WORKLOADS[wlArg as WorkloadName].crdt !== undefined || !rw.includes(',') || !(secs > 0 && secs <= 60)) {
  process.stderr.write('usage: node --import tsx bench/load-curve.ts [A|B|C|D|F|W] [r,w] [seconds per rate, ≤ 60]\n');
  process.exit(2);
}
const workload = wlArg as WorkloadName;
const [r, w] = rw.split(',') as [string, string];
const KEYS = 20_000;
const FRACTIONS = [0.05, 0.1, 0.25, 0.5, 0.8];
const value = Buffer.alloc(100, 'v');
const logDir = mkdtempSync(join(tmpdir(), 'shoal-load-curve-'));

interface Point {
  readonly label: string;
  readonly stats: RunStats;
  readonly serverCpuSec: number;
}

async function curve(t: Target, bucket: string, load: boolean): Promise<Point[]> {
  const gen = new LoadGenerator({ hosts: t.hosts, protocol: t.protocol(bucket, { r, w }), contexts: new Map() }, 32);
  const inserts = { next: 0 };
  try {
    if (load) await gen.closed(new OpChooser(WORKLOADS.W, KEYS, inserts, 1), value, { durationMs: 120_000, maxOps: KEYS });
    else inserts.next = KEYS;
    const chooser = new OpChooser(WORKLOADS[workload], KEYS, inserts, 7);
    await gen.closed(chooser, value, { durationMs: 3000, maxOps: 1e8 }); // JIT warm-up
    const measure = async (label: string, run: () => Promise<RunStats>): Promise<Point> => {
      const c0 = totalCpuSeconds(t.pids());
      const stats = await run();
      return { label, stats, serverCpuSec: totalCpuSeconds(t.pids()) - c0 };
    };
    const max = await measure('closed loop (max)', () => gen.closed(chooser, value, { durationMs: secs * 1000, maxOps: 1e8 }));
    const maxRate = max.stats.ops / max.stats.elapsedSec;
    const points = [max];
    for (const f of FRACTIONS) {
      points.push(await measure(`${Math.round(f * 100)}% of max`, () => gen.open(chooser, value, { ratePerSec: maxRate * f, durationMs: secs * 1000 })));
    }
    return points;
  } finally {
    gen.close();
  }
}

function print(name: string, points: readonly Point[]): void {
  console.log(`\n${name}, ${workload} at ${rw}, 100 B values, ${KEYS} keys, 32 connections\n`);
  console.log('| offered | ops/s | server CPU % | server µs/op | loadgen CPU % | p50 ms | p99 ms |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const p of points) {
    const s = p.stats;
    console.log(
      `| ${p.label} | ${Math.round(s.ops / s.elapsedSec)} | ${Math.round((100 * p.serverCpuSec) / s.elapsedSec)} | ${Math.round((1e6 * p.serverCpuSec) / Math.max(1, s.ops))} | ` +
        `${Math.round((100 * s.loadgenCpuSec) / s.elapsedSec)} | ${(s.latencyUs.p50 / 1000).toFixed(2)} | ${(s.latencyUs.p99 / 1000).toFixed(2)} |`,
    );
  }
}

try {
  const bare = await startBare(logDir);
  try {
    print('bare fastify (the HTTP ceiling)', await curve(bare, 'b100', false));
  } finally {
    await bare.stop();
  }
  const shoal = await startShoal('shoal ×3', { nodes: 3, n: 3, cacheEntries: 100_000, logDir });
  try {
    print('shoal ×3 (N = 3)', await curve(shoal, 'default', true));
  } finally {
    await shoal.stop();
  }
} finally {
  await stopAll();
}
