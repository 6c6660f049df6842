// Plain data shared by every layer. Everything here is immutable by convention and
// encodable by msgpackr as-is (no classes, no Maps), so it crosses the wire and the
// disk unchanged.

/** A node id from the config: `^[A-Za-z0-9_-]{1,64}$` (validated in config). */
export type NodeId = string;

/** A version vector: node id → highest event counter seen from that node. */
export type VersionVector = Readonly<Record<NodeId, number>>;

/** One event: the `counter`-th update coordinated by `node`. */
export type Dot = readonly [node: NodeId, counter: number];

/**
 * Hybrid logical clock timestamp (Kulkarni et al.): `wall` is milliseconds since the
 * epoch as the coordinating node saw it, `logical` breaks ties within one millisecond.
 */
export interface Hlc {
  readonly wall: number;
  readonly logical: number;
}

/** One version of a value. A tombstone has an empty value. */
export interface Sibling {
  readonly value: Uint8Array;
  readonly contentType: string;
  readonly tombstone: boolean;
  /** Absolute expiry in ms since the epoch (from a TTL), or null for none. */
  readonly expiresAt: number | null;
  /** When the write was coordinated; orders LWW resolution. */
  readonly ts: Hlc;
  /** The event that created this sibling; it is dominated once a clock covers it. */
  readonly dot: Dot;
}

/**
 * A stored key: the concurrent versions not yet superseded, and a clock that summarises
 * every event this replica has seen for the key (dotted version vectors, Preguiça et al.).
 */
export interface VersionedObject {
  readonly clock: VersionVector;
  readonly siblings: readonly Sibling[];
}

export type ConflictMode = 'siblings' | 'lww';
