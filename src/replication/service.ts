// What the HTTP layer needs from replication: quorum reads and writes of versioned objects.
// The coordinator implements it; the API never touches storage or peers directly.
import type { CausalContext } from '../core/object.ts';
import type { VersionedObject } from '../core/types.ts';
import type { ReadQuorum, WriteQuorum } from './quorum.ts';

export interface ClientWrite {
  readonly value: Uint8Array;
  readonly contentType: string;
  readonly tombstone: boolean;
  /** Seconds to live from now, or null for no expiry. */
  readonly ttlSeconds: number | null;
  /** What the client read before writing, or null (a blind write). */
  readonly context: CausalContext | null;
}

export interface ReplicaCount {
  /** Replicas that answered (read) or stored the write (write). */
  readonly answered: number;
  readonly asked: number;
}

export interface KvReadResult extends ReplicaCount {
  /** The merged object of the replicas that answered; undefined when none holds the key. */
  readonly obj: VersionedObject | undefined;
}

export interface KvWriteResult extends ReplicaCount {
  /** The object as the coordinator stored it. */
  readonly obj: VersionedObject;
}

export interface KvService {
  get(bucket: string, key: string, q: ReadQuorum): Promise<KvReadResult>;
  put(bucket: string, key: string, write: ClientWrite, q: WriteQuorum): Promise<KvWriteResult>;
  /** This node's own copy, without asking anyone (admin/debug). */
  localObject(bucket: string, key: string): Promise<VersionedObject | undefined>;
  /** This node's own CRDT value for a key of a CRDT bucket, as JSON, without asking anyone. */
  localCrdtValue?(bucket: string, key: string): Promise<{ type: string; value: unknown } | undefined>;
}

/** Fewer replicas answered than the request needed, in time or at all. */
export class QuorumError extends Error {
  constructor(
    readonly reason: 'unavailable' | 'timeout',
    readonly needed: number,
    readonly answered: number,
    readonly asked: number,
    message: string,
  ) {
    super(message);
    this.name = 'QuorumError';
  }
}
