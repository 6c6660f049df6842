// Raw object records straight from the engine, undecoded: anti-entropy rebuilds its hash
// index from the record bytes, whatever codec (KV object, CRDT state) wrote them.
import type { Engine } from './engine.ts';
import { Keyspace, decodeObjectKey, keyspacePrefix } from './keys.ts';

export interface RawRecord {
  readonly bucket: string;
  readonly key: string;
  readonly record: Uint8Array;
}

/** Every object record in key order, from one engine snapshot; malformed keys are skipped. */
export async function* scanObjectRecords(engine: Engine, onMalformed?: (err: Error) => void): AsyncIterable<RawRecord> {
  for await (const [k, record] of engine.iterate({ prefix: keyspacePrefix(Keyspace.Object) })) {
    let id: { bucket: string; key: string };
    try {
      id = decodeObjectKey(k);
    } catch (err) {
      onMalformed?.(err as Error);
      continue;
    }
    yield { bucket: id.bucket, key: id.key, record };
  }
}
