// CRDT states on disk: the same ObjectStore (per-key serialised, cached) with a record codec
// whose body is the CRDT's own tagged encoding, so a stored record says which type it holds.
import { crdtTypes, decodeAny, type AnyCrdtType } from '../core/crdt/index.ts';
import { encodeOnce, rememberEncoding } from '../core/encoded.ts';
import { bucketProps, type ShoalConfig } from '../config.ts';
import type { Engine } from '../storage/engine.ts';
import { ObjectStore, type ObjectStoreOptions } from '../storage/object-store.ts';
import { RecordType, type RecordCodec } from '../storage/records.ts';
import type { LocalReplica } from './coordinator.ts';

export interface CrdtRecord {
  readonly type: AnyCrdtType;
  readonly state: unknown;
}

export const crdtRecordCodec: RecordCodec<CrdtRecord> = {
  type: RecordType.Crdt,
  // The body is the state's own encoding, remembered with the state (see core/encoded.ts).
  encode: (r) => encodeOnce(r.state, (s) => r.type.encode(s)),
  decode: (body) => {
    const r = decodeAny(body);
    rememberEncoding(r.state, body);
    return r;
  },
};

/** The coordinator's view: bare states, typed by the bucket's configured CRDT type. */
export class CrdtStore implements LocalReplica<unknown> {
  readonly records: ObjectStore<CrdtRecord>;

  constructor(
    engine: Engine,
    private readonly config: ShoalConfig,
    cache: { readonly cacheEntries: number; readonly cacheBytes?: number },
    /** The store's hooks (anti-entropy keeps its trees from onWrite and answers knownAbsent). */
    hooks: Pick<ObjectStoreOptions<CrdtRecord>, 'onWrite' | 'knownAbsent'> = {},
  ) {
    this.records = new ObjectStore<CrdtRecord>(engine, { ...cache, codec: crdtRecordCodec, ...hooks });
  }

  private typeOf(bucket: string): AnyCrdtType {
    const t = bucketProps(this.config, bucket).type;
    if (t === 'kv') throw new Error(`bucket ${bucket} holds kv objects, not CRDTs`);
    return crdtTypes[t];
  }

  async get(bucket: string, key: string): Promise<unknown | undefined> {
    const r = await this.records.get(bucket, key);
    if (r === undefined) return undefined;
    if (r.type !== this.typeOf(bucket)) {
      throw new Error(`${bucket}/${key} holds a ${r.type.name}, but the bucket is configured as ${this.typeOf(bucket).name}`);
    }
    return r.state;
  }

  peek(bucket: string, key: string): unknown | undefined {
    return this.records.peek(bucket, key)?.state;
  }

  async update(bucket: string, key: string, fn: (cur: unknown | undefined) => unknown | null): Promise<unknown | undefined> {
    const type = this.typeOf(bucket);
    const r = await this.records.update(bucket, key, (cur) => {
      const next = fn(cur?.state);
      return next === null ? null : { type, state: next };
    });
    return r?.state;
  }

  close(): Promise<void> {
    return this.records.close();
  }
}
