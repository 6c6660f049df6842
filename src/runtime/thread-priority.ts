// A node's event loop is its one serial resource: every request and peer message passes
// through the main thread. Its helper threads are not on that path: libuv's pool (RocksDB
// reads and writes), RocksDB's flush and compaction threads, V8's GC and compiler workers.
// When every core is busy, a helper the loop wakes (each RocksDB call wakes one) preempts
// the loop, which then resumes on a cold cache. Running helpers at a lower CPU priority makes
// them fill idle CPU instead; RocksDB's own `LowerThreadPoolCPUPriority` does this for its
// compaction threads. With idle cores nothing changes: a helper still runs at once.
//
// Linux only (per-thread nice via /proc/self/task); elsewhere a no-op. Process-wide, so only
// a process that runs one node calls it (cli.ts), never code that may share its process.
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { isMainThread } from 'node:worker_threads';

/**
 * Sets every thread of this process except the main one to at least `nice` (0–19; 0 does
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
 * Lowers the helper threads now and again every `everyMs`: a thread started later (RocksDB
 * may start background threads on demand) inherits its creator's, the loop's, priority.
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
