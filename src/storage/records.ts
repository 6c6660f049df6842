// Stored values: [record type u8, format version u8, body…] (riak_dt's habit: a tag and
// a version at the start of every binary), so a reader can tell what it holds, refuse
// what it does not understand, and a later format can be migrated rather than misread.

import { decodeObject, encodeObject } from '../core/codec.ts';
import { decodeRemembering, encodeOnce, knownEncoding } from '../core/encoded.ts';
import type { VersionedObject } from '../core/types.ts';

export const RecordType = {
  /** A VersionedObject (src/core/codec.ts). */
  Object: 0x01,
  /** A metadata value (utf8 string), e.g. the node incarnation id. */
  Meta: 0x02,
  /** Reserved: hinted-handoff entries. */
  Hint: 0x03,
  /** Reserved: CRDT bucket values. */
  Crdt: 0x04,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** The only format version written today; decoding refuses any other. */
export const RECORD_FORMAT_VERSION = 1;

const HEADER_BYTES = 2;

/**
 * A stored value that cannot be read as what it should be. Never treated as absent:
 * the key is unreadable on this replica (the API answers 503 for it) until repaired.
 */
export class CorruptRecordError extends Error {
  override readonly name = 'CorruptRecordError';
  constructor(
    /** Which stored entry, e.g. `object "b"/"k"` (see describeKey). */
    readonly where: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`corrupt record at ${where}: ${reason}`, options);
  }
}

/**
 * The stored form of `body`. By default a slice of Node's shared buffer pool (a fresh
 * ArrayBuffer per write costs about a microsecond): engines copy what they keep, so do not
 * hold on to it. `owned` allocates the record its own memory, for a caller that keeps it.
 */
export function encodeRecord(type: RecordType, body: Uint8Array, owned = false): Uint8Array {
  const out = owned ? new Uint8Array(HEADER_BYTES + body.length) : Buffer.allocUnsafe(HEADER_BYTES + body.length);
  out[0] = type;
  out[1] = RECORD_FORMAT_VERSION;
  out.set(body, HEADER_BYTES);
  return out;
}

/** Checks the header and returns the body (a view, not a copy). */
export function decodeRecord(bytes: Uint8Array, expectedType: RecordType, where = 'unknown key'): Uint8Array {
  if (bytes.length < HEADER_BYTES) {
    throw new CorruptRecordError(where, `truncated: ${bytes.length} bytes, no record header`);
  }
  if (bytes[0] !== expectedType) {
    throw new CorruptRecordError(where, `record type ${bytes[0]}, expected ${expectedType}`);
  }
  if (bytes[1] !== RECORD_FORMAT_VERSION) {
    throw new CorruptRecordError(where, `format version ${bytes[1]}, this build reads ${RECORD_FORMAT_VERSION}`);
  }
  return bytes.subarray(HEADER_BYTES);
}

/** How one kind of value is stored: its record tag and body encoding. */
export interface RecordCodec<T> {
  readonly type: RecordType;
  encode(value: T): Uint8Array;
  /** Throws (any Error) on bytes that are not a valid body. */
  decode(body: Uint8Array): T;
  /**
   * The store keeps a decode of each written record instead of the value it was given (see
   * ObjectStore#write). For values that hold views into memory they do not own: a new
   * sibling's value is a view into its request body, which Node carves from a shared 8 KiB
   * pool, so caching it pins the whole slab (~4 KiB per cached 1 KiB value, measured).
   */
  readonly keepDecodedRecord?: boolean;
  /**
   * True when every byte field of `value` views its remembered encoding, and that encoding
   * is (nearly) its whole allocation: caching the value as it is pins nothing else, so the
   * store skips the decode keepDecodedRecord asks for. A replica's incoming object, decoded
   * from a copy of its frame bytes, is such a value.
   */
  selfContained?(value: T): boolean;
}

/** Bytes an encoding's allocation may hold beyond it and still count as its own (a record header). */
const SELF_CONTAINED_SLACK_BYTES = 16;

function objectSelfContained(obj: VersionedObject): boolean {
  const enc = knownEncoding(obj);
  if (enc === undefined || enc.buffer.byteLength > enc.byteLength + SELF_CONTAINED_SLACK_BYTES) return false;
  for (const s of obj.siblings) if (s.value.buffer !== enc.buffer) return false;
  return true;
}

export const versionedObjectCodec: RecordCodec<VersionedObject> = {
  type: RecordType.Object,
  // The loaded bytes stay with the object, so a replica answers reads without re-encoding.
  encode: (obj) => encodeOnce(obj, encodeObject),
  decode: (body) => decodeRemembering(body, decodeObject),
  keepDecodedRecord: true,
  selfContained: objectSelfContained,
};

export function encodeValue<T>(codec: RecordCodec<T>, value: T, owned = false): Uint8Array {
  return encodeRecord(codec.type, codec.encode(value), owned);
}

/** Header check plus body decode; any failure becomes a CorruptRecordError naming `where`. */
export function decodeValue<T>(codec: RecordCodec<T>, bytes: Uint8Array, where: string): T {
  const body = decodeRecord(bytes, codec.type, where);
  try {
    return codec.decode(body);
  } catch (err) {
    throw new CorruptRecordError(where, err instanceof Error ? err.message : String(err), { cause: err });
  }
}
