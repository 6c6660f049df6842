// What waking and sleeping cost on this machine, measured once per bench run, so a reader can
// tell a slow machine from slow code: one process waking another on one CPU and across two
// (a cross-CPU round trip is ~40 µs of CPU in this Firecracker guest, a few µs on bare
// metal), and one process sleeping 1 ms at a time (25–40 µs per sleep here). A node at part
// load sleeps between requests and pays for each sleep, which is most of why the rows at 50%
// of their maximum cost about twice as much per operation (docs/BENCHMARKS.md, "What a sleep
// costs here"). Runs bench/wakeup-cost.c, compiled with the system's C compiler; without one
// the figure is skipped and the run says why.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

export interface WakeupCost {
  /** Both processes on CPU 0: µs of wall time and of CPU (both processes) per round trip. */
  readonly sameCpu: { readonly wallUs: number; readonly cpuUs: number };
  /** On CPUs 0 and 1. */
  readonly crossCpu: { readonly wallUs: number; readonly cpuUs: number };
  readonly roundTrips: number;
  /** One process sleeping 1 ms at a time: µs of CPU per sleep (timer, wake-up, switches). */
  readonly sleep1msCpuUs: number;
}

const LINE = /: ([\d.]+) us of wall time and ([\d.]+) us of CPU/;

/**
 * Measures both placements and the sleep; a string says why it could not. Bounded: 20k round
 * trips each, 1,000 sleeps (about a second).
 */
export function measureWakeupCost(source: string, roundTrips = 20_000): WakeupCost | string {
  if (process.platform !== 'linux') return 'wake-up cost: Linux only (CPU affinity)';
  if (cpus().length < 2) return 'wake-up cost: needs two CPUs';
  const dir = mkdtempSync(join(tmpdir(), 'shoal-wakeup-'));
  try {
    const bin = join(dir, 'wakeup-cost');
    try {
      execFileSync('cc', ['-O2', '-o', bin, source], { stdio: 'pipe', timeout: 60_000 });
    } catch (err) {
      return `wake-up cost: no C compiler (cc) to build bench/wakeup-cost.c (${String(err).split('\n')[0]})`;
    }
    const run = (...args: (string | number)[]) => {
      const out = execFileSync(bin, args.map(String), { encoding: 'utf8', timeout: 60_000 });
      const m = LINE.exec(out);
      if (!m) throw new Error(`unexpected output from wakeup-cost: ${out.trim()}`);
      return { wallUs: Number(m[1]), cpuUs: Number(m[2]) };
    };
    return { sameCpu: run(0, 0, roundTrips), crossCpu: run(0, 1, roundTrips), roundTrips, sleep1msCpuUs: run('sleep', 1000, 1000).cpuUs };
  } catch (err) {
    return `wake-up cost: ${String(err).split('\n')[0]}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function wakeupText(w: WakeupCost): string {
  return `a wake-up round trip between two processes costs ${w.sameCpu.cpuUs.toFixed(1)} µs of CPU on one CPU and ${w.crossCpu.cpuUs.toFixed(1)} µs across two, and one 1 ms sleep ${w.sleep1msCpuUs.toFixed(1)} µs (bench/wakeup-cost.c)`;
}
