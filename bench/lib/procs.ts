// Child processes of the bench: started here, measured from /proc, stopped by PID (also on
// error: stopAll() runs from the bench's finally block and from its signal handlers).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, statSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  exited: boolean;
}

const running = new Set<Proc>();

export function spawnProc(name: string, cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; logFile: string; cwd?: string }): Proc {
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
  const p: Proc = { name, pid: child.pid, child, exited: false };
  child.on('exit', () => {
    p.exited = true;
    running.delete(p);
  });
  running.add(p);
  return p;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProc(p: Proc, graceMs = 8000): Promise<void> {
  if (p.exited) return;
  const gone = new Promise<void>((r) => p.child.once('exit', () => r()));
  try {
    process.kill(p.pid, 'SIGTERM');
  } catch {
    return;
  }
  const t = setTimeout(() => {
    try {
      if (!p.exited) process.kill(p.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, graceMs);
  await gone;
  clearTimeout(t);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => stopProc(p)));
}

/** Synchronous last resort (process 'exit' handler): SIGKILL whatever is still running. */
export function killAllSync(): void {
  for (const p of running) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** user + system CPU seconds of one process so far (0 once it has exited). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** cpuSeconds summed over processes (a target's nodes): diff two readings for a run's CPU. */
export function totalCpuSeconds(pids: readonly number[]): number {
  let sum = 0;
  for (const p of pids) sum += cpuSeconds(p);
  return sum;
}

export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function dirBytes(dir: string): number {
  let total = 0;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    total += st.isDirectory() ? dirBytes(p) : st.size;
  }
  return total;
}

/** Free TCP ports on 127.0.0.1 (bound, then released; good enough on a quiet machine). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<import('node:net').Server>((resolve, reject) => {
        const s = createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve(s));
      }),
    ),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Polls `url` until it answers 2xx (bounded by `timeoutMs`). */
export async function waitHttp(url: string, timeoutMs: number, proc?: Proc, init?: RequestInit): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    if (proc?.exited) throw new Error(`${proc.name} exited while starting (see its log)`);
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = String(err);
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (${last})`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function which(cmd: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`]).toString().trim() || undefined;
  } catch {
    return undefined;
  }
}
