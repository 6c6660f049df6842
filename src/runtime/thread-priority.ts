// A node's event loop is its one serial resource: every request and peer message passes
// through the main thread. RocksDB's background threads (flushes and compactions) are not
// on that path, and when every core is busy one of them preempting the loop delays every
// request behind it. Running them at a lower CPU priority makes them fill idle CPU instead,
// as RocksDB's own `Env::LowerThreadPoolCPUPriority` does. With idle cores nothing changes.
//
// Only those threads. libuv's pool runs every RocksDB get and write batch a request waits
// for, and V8's workers run GC work the loop waits on or polls for; lowered to nice 19 they
// starved on a busy machine: V8 11.3's incremental sweeper re-posted its task thousands of
// times a second while the concurrent sweeper waited for CPU, quorum writes cost ~10% more,
// and p99 at half load was worse (docs/BENCHMARKS.md, "The event loop must not be preempted
// by its own helpers"). RocksDB names its background threads `rocksdb:<pool><n>`.
//
// Linux only (per-thread nice via /proc/self/task); elsewhere a no-op. Process-wide, so only
// a process that runs one node calls it (cli.ts), never code that may share its process.
import { readFileSync, readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { isMainThread } from 'node:worker_threads';

/** RocksDB's flush and compaction threads (`rocksdb:low0`, `rocksdb:high0`, ...). */
export function isBackgroundThread(name: string): boolean {
  return name.startsWith('rocksdb:');
}

/**
 * Sets RocksDB's background threads of this process to at least `nice` (0–19; 0 does
 * nothing). Returns how many threads it lowered. Threads that exit meanwhile are skipped.
 */
export function lowerHelperThreads(nice: number): number {
  if (nice <= 0 || process.platform !== 'linux' || !isMainThread) return 0;
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return 0;
  }
  let lowered = 0;
  for (const t of tids) {
    const tid = Number(t);
    if (tid === process.pid || !Number.isInteger(tid)) continue;
    try {
      if (!isBackgroundThread(readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim())) continue;
      // Only ever lower: an unprivileged process could not raise it back anyway.
      if (getPriority(tid) >= nice) continue;
      setPriority(tid, nice);
      lowered++;
    } catch {
      // The thread exited between the listing and the call.
    }
  }
  return lowered;
}

/**
 * Lowers RocksDB's background threads now and again every `everyMs`: RocksDB may start more
 * of them on demand, and a new thread inherits its creator's priority.
 */
export function keepHelperThreadsLow(nice: number, everyMs = 10_000): { stop(): void; readonly lowered: number } {
  let lowered = lowerHelperThreads(nice);
  const timer = nice > 0 ? setInterval(() => (lowered += lowerHelperThreads(nice)), everyMs) : undefined;
  timer?.unref();
  return {
    stop: () => clearInterval(timer),
    get lowered() {
      return lowered;
    },
  };
}
