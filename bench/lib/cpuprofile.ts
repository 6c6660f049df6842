// Summarises V8 .cpuprofile files: self time per function and per area (fastify, msgpackr,
// ws, Shoal's own layers, GC, idle), summed over every node's profile.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly idleMs: number;
  readonly top: { name: string; where: string; selfMs: number; share: number }[];
  readonly areas: { area: string; selfMs: number; share: number }[];
}

function area(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)') return 'idle';
  if (fn === '(program)') return 'V8/native (program)';
  if (url === '') return 'native/builtins';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const src = /\/src\/([^/]+)\/?([^/]*)/.exec(url);
  if (src) return src[2] ? `src/${src[1]}/${src[2]}` : `src/${src[1]}`;
  if (url.startsWith('node:')) return url.split('/')[0]!.replace(/^node:internal.*/, 'node internals');
  return url.replace(/^file:\/\/.*\/(bench|test)\//, '$1/');
}

export function summarise(files: readonly string[], topN = 25): ProfileSummary {
  const byFn = new Map<string, { name: string; where: string; us: number }>();
  const byArea = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const file of files) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    // Native frames (no url) are charged to their nearest JavaScript caller, so "writev"
    // shows up as the socket write it is, and its area is the caller's.
    const jsCaller = (id: number): ProfileNode | undefined => {
      for (let cur = parent.get(id); cur !== undefined; cur = parent.get(cur)) {
        const q = nodes.get(cur);
        if (q !== undefined && q.callFrame.url !== '') return q;
      }
      return undefined;
    };
    const profilerFrame = (id: number): boolean => {
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const url = nodes.get(cur)?.callFrame.url ?? '';
        if (url === 'node:inspector' || url.endsWith('cpu-prof-preload.mjs')) return true;
      }
      return false;
    };
    for (let i = 0; i < p.samples.length; i++) {
      const n = nodes.get(p.samples[i]!);
      const dt = p.timeDeltas[i] ?? 0;
      // The profiler's own start-up shows as one long first sample under node:inspector.
      if (n === undefined || dt <= 0 || dt > 100_000 || profilerFrame(n.id)) continue;
      let { functionName, url, lineNumber } = n.callFrame;
      if (url === '' && !functionName.startsWith('(')) {
        const caller = jsCaller(n.id);
        if (caller !== undefined) {
          functionName = `${functionName || '(native)'} ← ${caller.callFrame.functionName || '(anonymous)'}`;
          url = caller.callFrame.url;
          lineNumber = caller.callFrame.lineNumber;
        }
      }
      const a = area(url, functionName);
      if (a === 'idle') {
        idle += dt;
        continue;
      }
      total += dt;
      byArea.set(a, (byArea.get(a) ?? 0) + dt);
      const short = url.replace(/^file:\/\/.*?\/(node_modules|src|bench)\//, '$1/');
      const key = `${functionName}|${short}|${lineNumber}`;
      const e = byFn.get(key) ?? { name: functionName || '(anonymous)', where: short ? `${short}:${lineNumber + 1}` : '', us: 0 };
      e.us += dt;
      byFn.set(key, e);
    }
  }
  const ms = (us: number) => Math.round(us / 100) / 10;
  const share = (us: number) => (total === 0 ? 0 : Math.round((1000 * us) / total) / 10);
  return {
    totalMs: ms(total),
    idleMs: ms(idle),
    top: [...byFn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map((e) => ({ name: e.name, where: e.where, selfMs: ms(e.us), share: share(e.us) })),
    areas: [...byArea.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([a, us]) => ({ area: a, selfMs: ms(us), share: share(us) })),
  };
}
