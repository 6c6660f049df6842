// The threads of a running process, read from /proc (Linux only): for the tests that check
// which threads `shoal start` runs at a lower CPU priority.
import { readFileSync, readdirSync } from 'node:fs';

export interface ThreadInfo {
  readonly tid: string;
  /** The thread's name (`comm`), e.g. `rocksdb:low0`. */
  readonly name: string;
  readonly nice: number;
}

/** Every thread of `pid` still alive while it is read; the main thread's tid is the pid. */
export function threadsOf(pid: number): ThreadInfo[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // Fields after "(comm) ": state is field 3, nice field 19.
      const nice = Number(stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[16]);
      return [{ tid, name: readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(), nice }];
    } catch {
      return []; // the thread exited meanwhile
    }
  });
}
