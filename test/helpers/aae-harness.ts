// Anti-entropy without the rest of a node: AntiEntropy drivers over map-backed stores on a
// seeded SimNetwork and SimClock. The cost test and bench/antientropy.ts use it to count
// exchange bytes over many keys without HTTP, storage engines or gossip in the way.
import { objectLifetime } from '../../src/core/aae.ts';
import { decodeObject, encodeObject } from '../../src/core/codec.ts';
import { equalObjects, sync } from '../../src/core/object.ts';
import { buildRing, type Ring } from '../../src/core/ring.ts';
import type { VersionedObject } from '../../src/core/types.ts';
import { createPrng } from '../../src/core/prng.ts';
import { SimClock, SimNetwork } from '../../src/net/sim.ts';
import { AntiEntropy, storeMerger, type AntiEntropyOptions, type MergeableKind, type MergeableStore } from '../../src/replication/anti-entropy.ts';
import { silentLogger } from '../../src/runtime/logger.ts';
import { encodeValue, versionedObjectCodec } from '../../src/storage/records.ts';

export const kvSiblings: MergeableKind<VersionedObject> = {
  decode: decodeObject,
  encode: encodeObject,
  merge: (a, b) => sync(a, b, 'siblings'),
  equal: equalObjects,
};

/** A replica's objects in a Map, with the same write hook contract as ObjectStore. */
export class MapStore implements MergeableStore<VersionedObject> {
  readonly map = new Map<string, { bucket: string; key: string; obj: VersionedObject; record: Uint8Array }>();
  onWrite: (bucket: string, key: string, w: { record: Uint8Array; value: unknown } | undefined) => void = () => {};

  async get(bucket: string, key: string): Promise<VersionedObject | undefined> {
    return this.map.get(id(bucket, key))?.obj;
  }

  async update(bucket: string, key: string, fn: (cur: VersionedObject | undefined) => VersionedObject | null) {
    const cur = this.map.get(id(bucket, key))?.obj;
    const next = fn(cur);
    if (next === null) return cur;
    this.put(bucket, key, next);
    return next;
  }

  /** A direct write (what a coordinator's replica write would store). */
  put(bucket: string, key: string, obj: VersionedObject, record = encodeValue(versionedObjectCodec, obj)): void {
    this.map.set(id(bucket, key), { bucket, key, obj, record });
    this.onWrite(bucket, key, { record, value: obj });
  }

  async removeIf(bucket: string, key: string, pred: (record: Uint8Array) => boolean): Promise<boolean> {
    const cur = this.map.get(id(bucket, key));
    if (cur === undefined || !pred(cur.record)) return false;
    this.map.delete(id(bucket, key));
    this.onWrite(bucket, key, undefined);
    return true;
  }
}

function id(bucket: string, key: string): string {
  return `${bucket.length}:${bucket}${key}`;
}

export interface AaeReplica {
  readonly id: string;
  readonly store: MapStore;
  readonly ae: AntiEntropy;
}

export interface AaeHarness {
  readonly clock: SimClock;
  readonly net: SimNetwork;
  readonly ring: Ring;
  readonly replicas: AaeReplica[];
  replica(id: string): AaeReplica;
  /** Awaits `p` while advancing simulated time. */
  run<T>(p: Promise<T>, maxMs?: number): Promise<T>;
}

export function startAaeHarness(
  ids: readonly string[],
  seed: number,
  opts: { n?: number; vnodes?: number; ae?: Partial<AntiEntropyOptions>; nOfBucket?: Readonly<Record<string, number>> } = {},
): AaeHarness {
  const clock = new SimClock(1_700_000_000_000);
  const net = new SimNetwork({ seed, clock, delayMs: { min: 1, max: 2 } });
  const ring = buildRing(ids, opts.vnodes ?? 64);
  const n = opts.n ?? ids.length;
  const prng = createPrng(seed);
  const replicas = ids.map((self) => {
    const store = new MapStore();
    const transport = net.transport(self);
    const ae = new AntiEntropy(
      {
        self,
        transport,
        clock,
        random: prng.fork(self),
        log: silentLogger,
        count: () => {},
        ring: () => ring,
        isUp: () => true,
        nOf: (bucket) => opts.nOfBucket?.[bucket] ?? n,
        nValues: () => [n, ...Object.values(opts.nOfBucket ?? {})],
        merger: () => storeMerger(store, kvSiblings),
        removeIf: (b, k, pred) => store.removeIf(b, k, pred),
        scan: async function* () {},
        lifetime: (record, value) => objectLifetime((value as VersionedObject | undefined) ?? decodeObject(record.subarray(2))),
      },
      {
        enabled: false,
        intervalMs: 1000,
        keysPerSecond: 1_000_000,
        bytesPerSecond: 1024 * 1024 * 1024,
        tombstoneGraceSeconds: 60,
        sweepIntervalMs: 60_000,
        timeoutMs: 5000,
        ...opts.ae,
      },
    );
    store.onWrite = (b, k, w) => ae.onWrite(b, k, w);
    transport.onRequest((from, msg) => ae.handleRequest(from, msg));
    void transport.start();
    return { id: self, store, ae };
  });
  const run = async <T>(p: Promise<T>, maxMs = 600_000): Promise<T> => {
    let done = false;
    const tracked = p.finally(() => {
      done = true;
    });
    tracked.catch(() => {});
    await clock.runUntil(() => done, maxMs);
    if (!done) throw new Error(`did not finish within ${maxMs} ms of virtual time`);
    return tracked;
  };
  return {
    clock,
    net,
    ring,
    replicas,
    replica: (rid) => {
      const r = replicas.find((x) => x.id === rid);
      if (!r) throw new Error(`no replica ${rid}`);
      return r;
    },
    run,
  };
}

/** A one-sibling object as a coordinator at `actor` would write it (version `counter`). */
export function simpleObject(actor: string, counter: number, value: Uint8Array, wall = 1_700_000_000_000): VersionedObject {
  return {
    clock: { [actor]: counter },
    siblings: [{ value, contentType: 'application/octet-stream', tombstone: false, expiresAt: null, ts: { wall, logical: counter }, dot: [actor, counter] }],
  };
}
