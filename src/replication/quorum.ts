// Per-request consistency: `r`, `w`, `pr`, `pw` as `one`, `quorum`, `all` or a count, resolved
// against the bucket's n. Pure, so the API validates with exactly what the coordinator uses.
import type { BucketProps, QuorumSpec } from '../config.ts';

export class QuorumParamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuorumParamError';
  }
}

export function resolveQuorum(spec: QuorumSpec | 0, n: number): number {
  if (spec === 'one') return 1;
  if (spec === 'quorum') return Math.floor(n / 2) + 1;
  if (spec === 'all') return n;
  return spec;
}

/** Parses a query-string value (`one`, `quorum`, `all`, `default` or an integer 0..n). */
export function parseQuorumParam(name: string, raw: unknown, n: number, allowZero: boolean): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw new QuorumParamError(`${name} must be given once`);
  if (raw === 'one' || raw === 'quorum' || raw === 'all') return resolveQuorum(raw, n);
  if (!/^\d{1,3}$/.test(raw)) {
    throw new QuorumParamError(`${name} must be one, quorum, all or a number, got "${raw.slice(0, 32)}"`);
  }
  const v = Number(raw);
  if (v > n) throw new QuorumParamError(`${name}=${v} is impossible: the bucket keeps n=${n} replicas`);
  if (v === 0 && !allowZero) throw new QuorumParamError(`${name} must be at least 1`);
  return v;
}

export interface ReadQuorum {
  readonly n: number;
  readonly r: number;
  readonly pr: number;
  readonly timeoutMs: number;
}

export interface WriteQuorum {
  readonly n: number;
  readonly w: number;
  readonly pw: number;
  readonly timeoutMs: number;
}

export interface QuorumQuery {
  readonly r?: unknown;
  readonly w?: unknown;
  readonly pr?: unknown;
  readonly pw?: unknown;
  readonly timeout?: unknown;
}

function parseTimeout(raw: unknown, fallbackMs: number): number {
  if (raw === undefined) return fallbackMs;
  if (typeof raw !== 'string' || !/^\d{1,6}$/.test(raw) || Number(raw) < 1) {
    throw new QuorumParamError('timeout must be a number of milliseconds between 1 and 999999');
  }
  return Number(raw);
}

export function readQuorum(props: BucketProps, q: QuorumQuery, defaultTimeoutMs: number): ReadQuorum {
  const n = props.n;
  const r = parseQuorumParam('r', q.r, n, false) ?? resolveQuorum(props.r, n);
  const pr = parseQuorumParam('pr', q.pr, n, true) ?? resolveQuorum(props.pr, n);
  if (pr > r) throw new QuorumParamError(`pr=${pr} cannot exceed r=${r}`);
  return { n, r, pr, timeoutMs: parseTimeout(q.timeout, defaultTimeoutMs) };
}

export function writeQuorum(props: BucketProps, q: QuorumQuery, defaultTimeoutMs: number): WriteQuorum {
  const n = props.n;
  const w = parseQuorumParam('w', q.w, n, false) ?? resolveQuorum(props.w, n);
  const pw = parseQuorumParam('pw', q.pw, n, true) ?? resolveQuorum(props.pw, n);
  if (pw > w) throw new QuorumParamError(`pw=${pw} cannot exceed w=${w}`);
  return { n, w, pw, timeoutMs: parseTimeout(q.timeout, defaultTimeoutMs) };
}
