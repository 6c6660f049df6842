// What the replication layer needs to know about a bucket's values: how to put them on the
// wire and merge two replicas' copies. KV buckets hold versioned objects (merged by sync, or
// LWW); CRDT buckets hold one CRDT type's state (merged by its join). Everything above the
// encoding (quorums, read repair, hints, handoff) is the same for both.
import { decodeObject, encodeObject } from '../core/codec.ts';
import { crdtTypes, type AnyCrdtType } from '../core/crdt/index.ts';
import { decodeRemembering, encodeOnce } from '../core/encoded.ts';
import { equalObjects, sync } from '../core/object.ts';
import type { ConflictMode, VersionedObject } from '../core/types.ts';
import { bucketProps, type ShoalConfig } from '../config.ts';

export interface ValueKind<T> {
  readonly name: string;
  decode(bytes: Uint8Array): T;
  encode(value: T): Uint8Array;
  /** Join of two replicas' copies: commutative, associative, idempotent. */
  merge(a: T, b: T): T;
  equal(a: T, b: T): boolean;
}

const kvKinds: Record<ConflictMode, ValueKind<VersionedObject>> = {
  siblings: kvKind('siblings'),
  lww: kvKind('lww'),
};

function kvKind(mode: ConflictMode): ValueKind<VersionedObject> {
  return {
    name: `kv-${mode}`,
    // Values arrive from peers; their bytes (copied out of the frame) serve the next encode.
    decode: (bytes) => decodeRemembering(bytes, decodeObject, true),
    encode: (obj) => encodeOnce(obj, encodeObject),
    merge: (a, b) => sync(a, b, mode),
    equal: equalObjects,
  };
}

const crdtKinds = new Map<AnyCrdtType, ValueKind<unknown>>();

export function crdtKind(type: AnyCrdtType): ValueKind<unknown> {
  let kind = crdtKinds.get(type);
  if (kind === undefined) {
    kind = {
      name: type.name,
      decode: (bytes) => decodeRemembering(bytes, (b) => type.decode(b), true),
      encode: (state) => encodeOnce(state, (s) => type.encode(s)),
      merge: (a, b) => (a === b ? a : type.merge(a, b)),
      equal: (a, b) => a === b || type.equal(a, b),
    };
    crdtKinds.set(type, kind);
  }
  return kind;
}

/** The kind of every value in `bucket`, from its configured type and mode. */
export function kindOf(config: ShoalConfig, bucket: string): ValueKind<unknown> {
  const props = bucketProps(config, bucket);
  if (props.type === 'kv') return kvKinds[props.mode] as ValueKind<unknown>;
  return crdtKind(crdtTypes[props.type]);
}
