// YCSB workload shapes (Cooper et al., SoCC 2010) and its request distributions:
// scrambled zipfian (theta 0.99) for A/B/C/F, "latest" for D, sequential new keys for W;
// plus CRDT updates (counter increments on hot or spread keys, set adds).

export type WorkloadName = 'A' | 'B' | 'C' | 'D' | 'F' | 'W' | 'CTR-HOT' | 'CTR-SPREAD' | 'SET-ADD';
export type OpKind = 'read' | 'update' | 'insert' | 'rmw';
/** The CRDT types the CRDT workloads update. */
export type CrdtWorkloadType = 'counter' | 'set';

export interface WorkloadSpec {
  readonly name: WorkloadName;
  readonly description: string;
  /** Shares of each operation; they sum to 1. */
  readonly mix: Readonly<Partial<Record<OpKind, number>>>;
  readonly distribution: 'zipfian' | 'latest' | 'sequential' | 'uniform';
  /** A CRDT workload: its updates are operations on a bucket of this type. */
  readonly crdt?: CrdtWorkloadType;
  /** Keys it spreads over when not the loaded key count (CRDTs need no load phase). */
  readonly keys?: number;
}

/** Counters the hot-key workload increments: the zipfian's top one takes ~13% of them. */
export const HOT_COUNTERS = 1000;
/** Sets the set workload adds to, and the distinct elements each can hold (tags, say). */
export const SETS = 10_000;
export const SET_ELEMENTS = 64;

export const WORKLOADS: Readonly<Record<WorkloadName, WorkloadSpec>> = {
  A: { name: 'A', description: '50% read / 50% update', mix: { read: 0.5, update: 0.5 }, distribution: 'zipfian' },
  B: { name: 'B', description: '95% read / 5% update', mix: { read: 0.95, update: 0.05 }, distribution: 'zipfian' },
  C: { name: 'C', description: '100% read', mix: { read: 1 }, distribution: 'zipfian' },
  D: { name: 'D', description: '95% read / 5% insert, latest keys read most', mix: { read: 0.95, insert: 0.05 }, distribution: 'latest' },
  F: { name: 'F', description: '50% read / 50% read-modify-write (with the causal context)', mix: { read: 0.5, rmw: 0.5 }, distribution: 'zipfian' },
  W: { name: 'W', description: '100% writes of new keys (load phase)', mix: { insert: 1 }, distribution: 'sequential' },
  'CTR-HOT': { name: 'CTR-HOT', description: `counter increments, zipfian over ${HOT_COUNTERS} counters`, mix: { update: 1 }, distribution: 'zipfian', crdt: 'counter', keys: HOT_COUNTERS },
  'CTR-SPREAD': { name: 'CTR-SPREAD', description: 'counter increments, uniform over the loaded key count', mix: { update: 1 }, distribution: 'uniform', crdt: 'counter' },
  'SET-ADD': { name: 'SET-ADD', description: `set adds of one of ${SET_ELEMENTS} elements, zipfian over ${SETS} sets`, mix: { update: 1 }, distribution: 'zipfian', crdt: 'set', keys: SETS },
};

/** mulberry32: small, fast, seeded; good enough to pick keys and operations. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** YCSB's ZipfianGenerator (Gray et al., "Quickly generating billion-record synthetic databases"). */
export class Zipfian {
  private readonly zetan: number;
  private readonly alpha: number;
  private readonly eta: number;
  private readonly half: number;

  constructor(
    readonly items: number,
    private readonly random: () => number,
    readonly theta = 0.99,
  ) {
    if (items < 2) throw new Error('zipfian needs at least 2 items');
    let zetan = 0;
    for (let i = 1; i <= items; i++) zetan += 1 / Math.pow(i, theta);
    const zeta2 = 1 + 1 / Math.pow(2, theta);
    this.zetan = zetan;
    this.alpha = 1 / (1 - theta);
    this.eta = (1 - Math.pow(2 / items, 1 - theta)) / (1 - zeta2 / zetan);
    this.half = 1 + Math.pow(0.5, theta);
  }

  /** 0 is the most popular item. */
  next(): number {
    const u = this.random();
    const uz = u * this.zetan;
    if (uz < 1) return 0;
    if (uz < this.half) return 1;
    const v = Math.floor(this.items * Math.pow(this.eta * u - this.eta + 1, this.alpha));
    return v >= this.items ? this.items - 1 : v;
  }
}

/** murmur3's finaliser: spreads popular ranks over the key space (YCSB scrambles with FNV). */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

export interface OpChoice {
  readonly kind: OpKind;
  readonly key: number;
}

/**
 * Chooses operations and key indexes for one workload over `records` loaded keys.
 * `nextInsert` is shared state per target: inserts always write keys that target never had.
 */
export class OpChooser {
  private readonly zipf: Zipfian;
  private readonly random: () => number;
  private readonly thresholds: [OpKind, number][];

  constructor(
    readonly spec: WorkloadSpec,
    readonly records: number,
    private readonly inserts: { next: number },
    seed: number,
  ) {
    this.random = rng(seed);
    this.zipf = new Zipfian(records, this.random);
    let acc = 0;
    this.thresholds = Object.entries(spec.mix).map(([k, share]) => {
      acc += share;
      return [k as OpKind, acc];
    });
  }

  next(): OpChoice {
    const u = this.random();
    let kind: OpKind = this.thresholds[this.thresholds.length - 1]![0];
    for (const [k, t] of this.thresholds) {
      if (u < t) {
        kind = k;
        break;
      }
    }
    if (kind === 'insert') return { kind, key: this.inserts.next++ };
    if (this.spec.distribution === 'uniform') return { kind, key: Math.floor(this.random() * this.records) };
    if (this.spec.distribution === 'latest') {
      const latest = this.inserts.next - 1;
      return { kind, key: Math.max(0, latest - this.zipf.next()) };
    }
    return { kind, key: mix32(this.zipf.next()) % this.records };
  }
}

export function keyName(i: number): string {
  return `user${i}`;
}
