// Config validation: every mistake is refused at start with a message naming the field.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, bucketProps, loadConfig, parseConfig } from '../src/config.ts';

const base = {
  secret: 'a-secret-of-sixteen+',
  nodes: [
    { id: 'n1', host: '127.0.0.1', httpPort: 1, peerPort: 2 },
    { id: 'n2', host: '127.0.0.1', httpPort: 3, peerPort: 4 },
  ],
};

function errorOf(raw: unknown): string {
  try {
    parseConfig(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('config was accepted');
}

describe('config', () => {
  it('the shipped cluster.config.json is valid: 3 loopback nodes', () => {
    const c = loadConfig('cluster.config.json');
    expect(c.nodes.map((n) => n.id)).toEqual(['n1', 'n2', 'n3']);
    expect(c.nodes.every((n) => n.host === '127.0.0.1')).toBe(true);
    expect(c.buckets.default.n).toBe(3);
  });

  it('fills defaults and lets named buckets inherit from default', () => {
    const c = parseConfig({ ...base, buckets: { default: { n: 2, w: 'all' }, cache: { mode: 'lww', ttlSeconds: 60 } } });
    expect(c.buckets.default).toMatchObject({ n: 2, r: 'quorum', w: 'all', mode: 'siblings', type: 'kv' });
    expect(bucketProps(c, 'cache')).toMatchObject({ n: 2, w: 'all', mode: 'lww', ttlSeconds: 60 });
    expect(bucketProps(c, 'unknown-bucket')).toBe(c.buckets.default);
    expect(c.limits).toEqual({ maxKeyBytes: 1024, maxValueBytes: 1024 * 1024, maxSiblings: 64 });
    expect(c.storage.fsync).toBe(false);
    expect(c.storage).toMatchObject({ cacheEntries: 100_000, cacheBytes: 256 * 1024 * 1024 });
    expect(c.runtime).toEqual({ helperThreadNice: 19 });
    expect(parseConfig({ ...base, runtime: { helperThreadNice: 0 } }).runtime.helperThreadNice).toBe(0);
  });

  const cases: [string, unknown, RegExp][] = [
    ['unknown bucket property', { ...base, buckets: { default: { n: 3, colour: 'red' } } }, /buckets\.default: unknown field "colour"/],
    ['wrong type for n', { ...base, buckets: { default: { n: 'three' } } }, /buckets\.default\.n: must be integer/],
    ['bad mode', { ...base, buckets: { b: { mode: 'newest' } } }, /buckets\.b\.mode/],
    ['r greater than n', { ...base, buckets: { default: { n: 2, r: 3 } } }, /buckets\.default\.r: 3 is more than n \(2\)/],
    ['missing secret', { nodes: base.nodes }, /missing required field "secret"/],
    ['short secret', { ...base, secret: 'short' }, /secret/],
    ['duplicate node id', { ...base, nodes: [base.nodes[0], base.nodes[0]] }, /nodes\.1\.id: duplicate node id "n1"/],
    ['seed not a node', { ...base, seeds: ['n9'] }, /seeds\.0: "n9" is not a node id/],
    ['bad node id', { ...base, nodes: [{ id: 'n 1', host: 'h', httpPort: 1, peerPort: 2 }] }, /nodes\.0\.id/],
    ['port out of range', { ...base, nodes: [{ id: 'n1', host: 'h', httpPort: 70000, peerPort: 2 }] }, /nodes\.0\.httpPort/],
    ['unknown top-level field', { ...base, replicas: 3 }, /unknown field "replicas"/],
    ['a negative cache size', { ...base, storage: { cacheBytes: -1 } }, /storage\.cacheBytes/],
    ['a nice value past 19', { ...base, runtime: { helperThreadNice: 20 } }, /runtime\.helperThreadNice: must be <= 19/],
    ['bad crdt type', { ...base, buckets: { c: { type: 'matrix' } } }, /buckets\.c\.type/],
    ['a reserved node id', { ...base, nodes: [{ id: '__proto__', host: 'h', httpPort: 1, peerPort: 2 }] }, /nodes\.0\.id: "__proto__" is reserved/],
  ];
  for (const [name, raw, pattern] of cases) {
    it(`refuses ${name}, naming the field`, () => {
      expect(errorOf(raw)).toMatch(pattern);
    });
  }

  it('a file that is not JSON is refused with its path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shoal-config-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{ "nodes": [');
    expect(() => loadConfig(file)).toThrow(new RegExp(`${file.replaceAll('/', '\\/')} is not valid JSON`));
  });
});
