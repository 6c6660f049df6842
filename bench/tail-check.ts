// Is a latency tail the servers' or the load generator's? One open-loop run with the bench's
// LoadGenerator against running Shoal nodes, printing the generator's own GC pauses and
// event-loop delay beside the latency it measured. Keys user0…user(keys-1) must exist.
//   node --import tsx bench/tail-check.ts <workload> <r,w> <ops/s> <keys> <http port>...
//   e.g. node --import tsx bench/tail-check.ts W quorum,quorum 2200 10000 8211 8212 8213
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';
import { LoadGenerator } from './lib/load.ts';
import { OpChooser, WORKLOADS } from './lib/ycsb.ts';
import { shoalProtocol } from './lib/targets.ts';
const [wl, rw, rate, keys, ...ports] = process.argv.slice(2);
if (wl === undefined || !(wl in WORKLOADS) || rw === undefined || !rw.includes(',') || !(Number(rate) > 0) || !(Number(keys) > 0) || ports.length === 0) {
  process.stderr.write('usage: node --import tsx bench/tail-check.ts <A|B|C|D|F|W> <r,w> <ops/s> <keys> <http port>...\n');
  process.exit(2);
}
const [r, w] = rw!.split(',');
let gcMax = 0, gcTotal = 0, gcN = 0;
new PerformanceObserver((l) => { for (const e of l.getEntries()) { gcN++; gcTotal += e.duration; gcMax = Math.max(gcMax, e.duration); } }).observe({ entryTypes: ['gc'] });
const gen = new LoadGenerator({ hosts: ports.map((p) => ({ host: '127.0.0.1', port: Number(p) })), protocol: shoalProtocol('default', { r: r!, w: w! }), contexts: new Map() }, 32);
const inserts = { next: Number(keys) };
await gen.closed(new OpChooser(WORKLOADS[wl as 'A'], Number(keys), inserts, 5), Buffer.alloc(100, 'v'), { durationMs: 1500, maxOps: 1e7 });
gcMax = 0; gcTotal = 0; gcN = 0;
const h = monitorEventLoopDelay({ resolution: 1 }); h.enable();
const s = await gen.open(new OpChooser(WORKLOADS[wl as 'A'], Number(keys), inserts, 1), Buffer.alloc(100, 'v'), { ratePerSec: Number(rate), durationMs: 6000 });
h.disable();
const l = s.latencyUs;
console.log(`${wl} ${rw} @${rate}/s: ${s.ops} ops, p50 ${(l.p50 / 1000).toFixed(2)} p99 ${(l.p99 / 1000).toFixed(2)} p99.9 ${(l.p999 / 1000).toFixed(2)} max ${(l.max / 1000).toFixed(1)} ms, errors ${s.errors}; generator: loop delay p99 ${(h.percentile(99) / 1e6).toFixed(1)} max ${(h.max / 1e6).toFixed(1)} ms, GC ${gcN}x total ${gcTotal.toFixed(0)} max ${gcMax.toFixed(1)} ms, CPU ${(100 * s.loadgenCpuSec / s.elapsedSec).toFixed(0)}%`);
gen.close();
