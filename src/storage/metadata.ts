// Small per-data-directory facts kept in the metadata keyspace (keys.ts), each a
// Meta record (records.ts) holding a UTF-8 string.

import type { Engine } from './engine.ts';
import { describeKey, encodeMetaKey } from './keys.ts';
import { RecordType, decodeValue, encodeValue } from './records.ts';
import type { RecordCodec } from './records.ts';

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export const metaStringCodec: RecordCodec<string> = {
  type: RecordType.Meta,
  encode: (s) => utf8.encode(s),
  decode: (body) => strictUtf8.decode(body),
};

/** Throws CorruptRecordError if the stored value is unreadable. */
export async function readMeta(engine: Engine, name: string): Promise<string | undefined> {
  const key = encodeMetaKey(name);
  const raw = await engine.get(key);
  return raw === undefined ? undefined : decodeValue(metaStringCodec, raw, describeKey(key));
}

export async function writeMeta(engine: Engine, name: string, value: string): Promise<void> {
  await engine.put(encodeMetaKey(name), encodeValue(metaStringCodec, value));
}

const INCARNATION = 'incarnation';

/**
 * A random id for this data directory, made on first use and kept after. A wiped data
 * directory gets a new one, so peers can tell a replica that lost its data from one that
 * restarted. A corrupt stored id throws rather than being silently replaced.
 */
export async function getOrCreateIncarnation(engine: Engine, makeId: () => string): Promise<string> {
  const existing = await readMeta(engine, INCARNATION);
  if (existing !== undefined) return existing;
  const id = makeId();
  if (id.length === 0) throw new Error('incarnation id must not be empty');
  await writeMeta(engine, INCARNATION, id);
  return id;
}
