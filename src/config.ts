// cluster.config.json: loaded, validated against one JSON schema (ajv), defaults filled in.
// Every error names the field, so a typo in a bucket property fails at start, not at the
// first request that needs it.
import { readFileSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';

export type QuorumSpec = 'one' | 'quorum' | 'all' | number;
export const CRDT_TYPES = ['counter', 'set', 'register', 'flag', 'map'] as const;
export type CrdtTypeName = (typeof CRDT_TYPES)[number];
export type BucketType = 'kv' | CrdtTypeName;

export interface BucketProps {
  /** Replicas per key. */
  readonly n: number;
  readonly r: QuorumSpec;
  readonly w: QuorumSpec;
  /** Primaries that must answer a read / store a write (0 = any node may count). */
  readonly pr: QuorumSpec | 0;
  readonly pw: QuorumSpec | 0;
  readonly mode: 'siblings' | 'lww';
  /** Default time to live for writes; null keeps objects until deleted. */
  readonly ttlSeconds: number | null;
  readonly type: BucketType;
}

export interface NodeSpec {
  readonly id: string;
  readonly host: string;
  readonly httpPort: number;
  readonly peerPort: number;
}

export interface ShoalConfig {
  readonly clusterName: string;
  readonly secret: string;
  /** Resolved to an absolute path (relative paths are relative to the config file). */
  readonly dataDir: string;
  readonly nodes: readonly NodeSpec[];
  /** Node ids contacted to join; any subset of `nodes`. */
  readonly seeds: readonly string[];
  readonly storage: {
    /** 'rocksdb' (default, durable) or 'memory' (tests, throwaway caches). */
    readonly engine: 'rocksdb' | 'memory';
    /** fsync the write-ahead log on every write: survives power loss, not just a crash. */
    readonly fsync: boolean;
    /** Decoded objects kept in memory in front of the engine. */
    readonly cacheEntries: number;
    /** And at most about this many bytes of them (estimated), whichever bound is hit first. */
    readonly cacheBytes: number;
  };
  readonly limits: {
    readonly maxKeyBytes: number;
    readonly maxValueBytes: number;
    /** Siblings kept per key; beyond it the oldest (by HLC) are dropped, see README. */
    readonly maxSiblings: number;
  };
  readonly requestTimeoutMs: number;
  /** Share of reads that ask every replica rather than R, so read repair reaches them all. */
  readonly readRepairChance: number;
  readonly ring: { readonly vnodes: number };
  readonly gossip: {
    readonly intervalMs: number;
    readonly phiThreshold: number;
    readonly maxClockSkewMs: number;
  };
  readonly handoff: {
    readonly intervalMs: number;
    /** Hints kept per node before new ones are dropped (anti-entropy still repairs those keys). */
    readonly maxHints: number;
    /** Upper bound on hints sent per second to one returning node. */
    readonly maxPerSecond: number;
  };
  /** Active anti-entropy (replication/anti-entropy.ts, docs/ANTI-ENTROPY.md). */
  readonly antiEntropy: {
    readonly enabled: boolean;
    /** One exchange with one replica peer per interval. */
    readonly intervalMs: number;
    /** Repair budget so an exchange never starves client traffic. */
    readonly keysPerSecond: number;
    readonly bytesPerSecond: number;
    /** A tombstone held by every replica is reaped only once it is this old. */
    readonly tombstoneGraceSeconds: number;
    /** How often expired objects and reapable tombstones are swept. */
    readonly sweepIntervalMs: number;
  };
  readonly buckets: Readonly<Record<string, BucketProps>> & { readonly default: BucketProps };
  /** How `shoal start` runs its process (runtime/thread-priority.ts). */
  readonly runtime: {
    /**
     * Nice value (0–19) for RocksDB's flush and compaction threads; the loop, libuv's pool
     * and V8's workers keep the loop's priority. 0 leaves them alone. Linux only.
     */
    readonly helperThreadNice: number;
  };
  readonly security: {
    /** Bearer token every HTTP route but /health needs; null for none. */
    readonly httpToken: string | null;
    /** Bearer token for /admin, /cluster and /metrics (default: httpToken). */
    readonly adminToken: string | null;
    readonly httpTls: { readonly certFile: string; readonly keyFile: string } | null;
    /** wss between peers; each verifies the other's certificate against caFile. */
    readonly peerTls: { readonly certFile: string; readonly keyFile: string; readonly caFile: string } | null;
    /** Requests per client IP per window; null for no limit. */
    readonly rateLimit: { readonly max: number; readonly windowMs: number } | null;
    readonly maxHeaderBytes: number;
  };
}

const quorumSchema = {
  anyOf: [
    { enum: ['one', 'quorum', 'all'] },
    { type: 'integer', minimum: 1, maximum: 64 },
  ],
};
const primaryQuorumSchema = {
  anyOf: [
    { enum: ['one', 'quorum', 'all'] },
    { type: 'integer', minimum: 0, maximum: 64 },
  ],
};

const bucketSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    n: { type: 'integer', minimum: 1, maximum: 64 },
    r: quorumSchema,
    w: quorumSchema,
    pr: primaryQuorumSchema,
    pw: primaryQuorumSchema,
    mode: { enum: ['siblings', 'lww'] },
    ttlSeconds: { anyOf: [{ type: 'null' }, { type: 'integer', minimum: 1 }] },
    type: { enum: ['kv', ...CRDT_TYPES] },
  },
};

const ID_PATTERN = '^[A-Za-z0-9_-]{1,40}$';

/** A config section: an object that refuses fields it does not know (typos fail at start). */
function section(properties: Record<string, object>, required: string[] = []): object {
  return { type: 'object', additionalProperties: false, required, properties };
}

function nullable(schema: object): object {
  return { anyOf: [{ type: 'null' }, schema] };
}

const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['nodes', 'secret'],
  properties: {
    $schema: { type: 'string' },
    clusterName: { type: 'string', minLength: 1, maxLength: 64 },
    secret: { type: 'string', minLength: 16 },
    dataDir: { type: 'string', minLength: 1 },
    nodes: {
      type: 'array',
      minItems: 1,
      maxItems: 256,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'host', 'httpPort', 'peerPort'],
        properties: {
          id: { type: 'string', pattern: ID_PATTERN },
          host: { type: 'string', minLength: 1 },
          httpPort: { type: 'integer', minimum: 0, maximum: 65535 },
          peerPort: { type: 'integer', minimum: 0, maximum: 65535 },
        },
      },
    },
    seeds: { type: 'array', items: { type: 'string', pattern: ID_PATTERN } },
    storage: section({
      engine: { enum: ['rocksdb', 'memory'] },
      fsync: { type: 'boolean' },
      cacheEntries: { type: 'integer', minimum: 0 },
      cacheBytes: { type: 'integer', minimum: 0 },
    }),
    limits: section({
      maxKeyBytes: { type: 'integer', minimum: 1, maximum: 65535 },
      maxValueBytes: { type: 'integer', minimum: 1, maximum: 64 * 1024 * 1024 },
      maxSiblings: { type: 'integer', minimum: 1, maximum: 1000 },
    }),
    requestTimeoutMs: { type: 'integer', minimum: 1, maximum: 600_000 },
    readRepairChance: { type: 'number', minimum: 0, maximum: 1 },
    ring: section({ vnodes: { type: 'integer', minimum: 1, maximum: 4096 } }),
    gossip: section({
      intervalMs: { type: 'integer', minimum: 10 },
      phiThreshold: { type: 'number', exclusiveMinimum: 0 },
      maxClockSkewMs: { type: 'integer', minimum: 0 },
    }),
    handoff: section({
      intervalMs: { type: 'integer', minimum: 10 },
      maxHints: { type: 'integer', minimum: 0 },
      maxPerSecond: { type: 'integer', minimum: 1 },
    }),
    antiEntropy: section({
      enabled: { type: 'boolean' },
      intervalMs: { type: 'integer', minimum: 10 },
      keysPerSecond: { type: 'integer', minimum: 1 },
      bytesPerSecond: { type: 'integer', minimum: 1024 },
      tombstoneGraceSeconds: { type: 'integer', minimum: 0 },
      sweepIntervalMs: { type: 'integer', minimum: 10 },
    }),
    runtime: section({ helperThreadNice: { type: 'integer', minimum: 0, maximum: 19 } }),
    security: section({
      httpToken: nullable({ type: 'string', minLength: 16 }),
      adminToken: nullable({ type: 'string', minLength: 16 }),
      httpTls: nullable(section({ certFile: { type: 'string' }, keyFile: { type: 'string' } }, ['certFile', 'keyFile'])),
      peerTls: nullable(
        section({ certFile: { type: 'string' }, keyFile: { type: 'string' }, caFile: { type: 'string' } }, ['certFile', 'keyFile', 'caFile']),
      ),
      rateLimit: nullable(section({ max: { type: 'integer', minimum: 1 }, windowMs: { type: 'integer', minimum: 1 } }, ['max', 'windowMs'])),
      maxHeaderBytes: { type: 'integer', minimum: 1024, maximum: 1024 * 1024 },
    }),
    buckets: {
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z0-9_.-]{1,64}$' },
      additionalProperties: bucketSchema,
    },
  },
};

export const DEFAULT_BUCKET: BucketProps = {
  n: 3,
  r: 'quorum',
  w: 'quorum',
  pr: 0,
  pw: 0,
  mode: 'siblings',
  ttlSeconds: null,
  type: 'kv',
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validateSchema = ajv.compile(configSchema);

function describe(err: ErrorObject): string {
  const field = err.instancePath === '' ? '(top level)' : err.instancePath.slice(1).replaceAll('/', '.');
  if (err.keyword === 'additionalProperties') {
    return `${field}: unknown field "${String(err.params['additionalProperty'])}"`;
  }
  if (err.keyword === 'propertyNames') {
    return `${field}: invalid name "${String(err.params['propertyName'])}"`;
  }
  if (err.keyword === 'required') {
    return `${field}: missing required field "${String(err.params['missingProperty'])}"`;
  }
  return `${field}: ${err.message ?? 'is invalid'}`;
}

/** Validates raw config data; `baseDir` resolves a relative dataDir. */
export function parseConfig(raw: unknown, baseDir = process.cwd()): ShoalConfig {
  if (!validateSchema(raw)) {
    // anyOf branches each report; keep the distinct, most specific lines.
    const lines = [...new Set((validateSchema.errors ?? []).filter((e) => e.keyword !== 'anyOf').map(describe))];
    throw new ConfigError(`invalid config:\n  ${lines.join('\n  ')}`);
  }
  const c = raw as Record<string, any>;
  const nodes: NodeSpec[] = c.nodes;
  const ids = new Set<string>();
  for (const [i, n] of nodes.entries()) {
    // Node ids become object keys in JSON views and version vectors; keep them ordinary.
    if (n.id === '__proto__' || n.id === 'constructor' || n.id === 'prototype') {
      throw new ConfigError(`invalid config:\n  nodes.${i}.id: "${n.id}" is reserved`);
    }
    if (ids.has(n.id)) throw new ConfigError(`invalid config:\n  nodes.${i}.id: duplicate node id "${n.id}"`);
    ids.add(n.id);
  }
  const seeds: string[] = c.seeds ?? nodes.map((n) => n.id);
  for (const [i, s] of seeds.entries()) {
    if (!ids.has(s)) throw new ConfigError(`invalid config:\n  seeds.${i}: "${s}" is not a node id in nodes`);
  }
  const defaults: BucketProps = { ...DEFAULT_BUCKET, ...(c.buckets?.default ?? {}) };
  // No prototype, so a bucket named "__proto__" is stored as a bucket, not as a prototype.
  const buckets = Object.create(null) as Record<string, BucketProps>;
  buckets['default'] = defaults;
  for (const [name, props] of Object.entries<Record<string, unknown>>(c.buckets ?? {})) {
    if (name !== 'default') buckets[name] = { ...defaults, ...props } as BucketProps;
  }
  for (const [name, b] of Object.entries(buckets)) checkBucket(name, b);
  return {
    clusterName: c.clusterName ?? 'shoal',
    secret: c.secret,
    dataDir: resolve(baseDir, c.dataDir ?? './data'),
    nodes,
    seeds,
    storage: { engine: 'rocksdb', fsync: false, cacheEntries: 100_000, cacheBytes: 256 * 1024 * 1024, ...c.storage },
    limits: { maxKeyBytes: 1024, maxValueBytes: 1024 * 1024, maxSiblings: 64, ...c.limits },
    requestTimeoutMs: c.requestTimeoutMs ?? 5000,
    readRepairChance: c.readRepairChance ?? 0,
    ring: { vnodes: 128, ...c.ring },
    gossip: { intervalMs: 500, phiThreshold: 8, maxClockSkewMs: 2000, ...c.gossip },
    handoff: { intervalMs: 1000, maxHints: 1_000_000, maxPerSecond: 2000, ...c.handoff },
    // Riak's AAE ticks every 15 s; a day of grace outlasts any hint or delayed write (see
    // docs/ANTI-ENTROPY.md for why it is a safety margin and not the reaping rule itself).
    antiEntropy: {
      enabled: true,
      intervalMs: 5000,
      keysPerSecond: 2000,
      bytesPerSecond: 8 * 1024 * 1024,
      tombstoneGraceSeconds: 86_400,
      sweepIntervalMs: 60_000,
      ...c.antiEntropy,
    },
    buckets: buckets as ShoalConfig['buckets'],
    runtime: { helperThreadNice: 19, ...c.runtime },
    security: securityWithPaths(c.security ?? {}, dirname(resolve(baseDir, 'x'))),
  };
}

function securityWithPaths(s: Record<string, any>, baseDir: string): ShoalConfig['security'] {
  const abs = (p: string) => resolve(baseDir, p);
  return {
    httpToken: s.httpToken ?? null,
    adminToken: s.adminToken ?? null,
    httpTls: s.httpTls ? { certFile: abs(s.httpTls.certFile), keyFile: abs(s.httpTls.keyFile) } : null,
    peerTls: s.peerTls
      ? { certFile: abs(s.peerTls.certFile), keyFile: abs(s.peerTls.keyFile), caFile: abs(s.peerTls.caFile) }
      : null,
    rateLimit: s.rateLimit ?? null,
    // Node's default is 16 KiB; keys up to limits.maxKeyBytes travel in the request line.
    maxHeaderBytes: s.maxHeaderBytes ?? 32 * 1024,
  };
}

function checkBucket(name: string, b: BucketProps): void {
  for (const field of ['r', 'w', 'pr', 'pw'] as const) {
    const v = b[field];
    if (typeof v === 'number' && v > b.n) {
      throw new ConfigError(`invalid config:\n  buckets.${name}.${field}: ${v} is more than n (${b.n})`);
    }
  }
  if (b.type !== 'kv' && b.mode === 'lww' && name !== 'default') {
    throw new ConfigError(`invalid config:\n  buckets.${name}.mode: "lww" applies to kv buckets, not ${b.type}`);
  }
}

export function loadConfig(path: string): ShoalConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseConfig(raw, dirname(file));
}

/** Bucket properties: the named bucket's, else `default`'s. */
export function bucketProps(config: ShoalConfig, bucket: string): BucketProps {
  // Own properties only: a bucket named "constructor" or "__proto__" is just an unknown bucket.
  return Object.hasOwn(config.buckets, bucket) ? (config.buckets[bucket] as BucketProps) : config.buckets.default;
}

export function nodeSpec(config: ShoalConfig, id: string): NodeSpec {
  const spec = config.nodes.find((n) => n.id === id);
  if (!spec) throw new ConfigError(`node "${id}" is not in the config (known: ${config.nodes.map((n) => n.id).join(', ')})`);
  return spec;
}
