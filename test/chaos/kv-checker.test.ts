// The checker itself, on small hand-made histories: it must flag what it claims to flag.
import { describe, expect, it } from 'vitest';
import type { KvOp, ReadOp, WriteOp } from './history.ts';
import { checkKv, checkStaleReads, type FinalRead } from './kv-checker.ts';

let id = 0;
const w = (value: string | undefined, o: Partial<WriteOp> = {}): WriteOp => ({
  kind: value === undefined ? 'delete' : 'write', id: ++id, client: 'c1', node: 'n1', bucket: 'b', key: 'k', w: 'quorum',
  start: 0, end: 1, outcome: 'ok', saw: [], withContext: false, ...(value !== undefined && { value }), ...o,
});
const r = (values: string[], o: Partial<ReadOp> = {}): ReadOp => ({
  kind: 'read', id: ++id, client: 'c1', node: 'n2', bucket: 'b', key: 'k', r: 'quorum', start: 0, end: 1, outcome: 'ok', values, ...o,
});
const fin = (values: string[]): Map<string, FinalRead> => new Map([['b/k', { found: values.length > 0, values }]]);
const sib = () => 'siblings' as const;
const lww = () => 'lww' as const;

describe('checkKv', () => {
  it('passes a clean read-modify-write chain', () => {
    const ops: KvOp[] = [w('a'), w('b', { saw: ['a'], withContext: true })];
    expect(checkKv(ops, fin(['b']), sib, 3).violations).toEqual([]);
  });
  it('flags an acknowledged write that is gone', () => {
    const res = checkKv([w('a'), w('b')], fin(['b']), sib, 3);
    expect(res.violations.map((v) => v.kind)).toEqual(['lost']);
  });
  it('does not count a w=one write, nor one a failed write may have replaced', () => {
    const ops: KvOp[] = [w('a', { w: 'one' }), w('b'), w('c', { saw: ['b'], outcome: 'unknown' })];
    expect(checkKv(ops, fin(['c']), sib, 3).violations).toEqual([]);
  });
  it('flags a superseded value that comes back, and phantoms and duplicates', () => {
    const ops: KvOp[] = [w('a'), w('b', { saw: ['a'] })];
    const res = checkKv(ops, fin(['a', 'b', 'b', 'zzz']), sib, 3);
    expect(res.violations.map((v) => v.kind).sort()).toEqual(['phantom', 'resurrected']);
    expect(res.duplicated).toBe(1);
  });
  it('lww: counts loss to a concurrent write, flags loss to a causal predecessor', () => {
    const concurrent = checkKv([w('a'), w('b')], fin(['b']), lww, 3);
    expect(concurrent.violations).toEqual([]);
    expect(concurrent.lwwLostConcurrent).toBe(1);
    const causal = checkKv([w('a'), w('b', { saw: ['a'] })], fin(['a']), lww, 3);
    expect(causal.violations.map((v) => v.kind)).toEqual(['lww-causal']);
  });
});

describe('checkStaleReads', () => {
  it('flags a quorum read that misses an earlier quorum write', () => {
    const ops: KvOp[] = [w('a', { end: 10 }), r([], { start: 20, end: 25 })];
    expect(checkStaleReads(ops, sib, 3, true).violations.map((v) => v.kind)).toEqual(['stale-read']);
    expect(checkStaleReads(ops, sib, 3, false)).toMatchObject({ stale: 1, violations: [] });
  });
  it('allows reads that overlap the write, r=one reads, and replacements by later writes', () => {
    const ops: KvOp[] = [
      w('a', { end: 10 }),
      r([], { start: 5, end: 15 }),
      r([], { start: 20, end: 25, r: 'one' }),
      w('b', { start: 30, end: 40, saw: ['a'], outcome: 'fail' }),
      r(['b'], { start: 35, end: 45 }),
    ];
    expect(checkStaleReads(ops, sib, 3, true).violations).toEqual([]);
  });
});
