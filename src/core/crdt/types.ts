// The one interface every Shoal CRDT implements, after riak_dt's behaviour (riak_dt.erl:
// new/update/merge/value/equal/to_binary) extended with delta mutators (Almeida et al.,
// "Delta State Replicated Data Types"): `apply` returns the new state and a delta that,
// joined into any replica, has the op's effect.

import type { Hlc, VersionVector } from '../types.ts';

export type CrdtTypeName = 'counter' | 'set' | 'register' | 'flag' | 'map';

/** What a coordinator hands to `apply`. Time comes in here; CRDT code never reads a clock. */
export interface CrdtEnv {
  /** The coordinator's HLC for this op: orders registers, ages counter op ids. */
  readonly ts: Hlc;
  /** What the client observed (from `contextOf` on a read): bounds removes. */
  readonly ctx?: VersionVector;
}

export type CrdtOpErrorCode = 'BAD_OP' | 'PRECONDITION';

/** A client op that is malformed (BAD_OP) or not applicable to this state (PRECONDITION). */
export class CrdtOpError extends Error {
  readonly code: CrdtOpErrorCode;
  constructor(code: CrdtOpErrorCode, message: string) {
    super(message);
    this.name = 'CrdtOpError';
    this.code = code;
  }
}

export interface CrdtType<S, Op, V> {
  readonly name: CrdtTypeName;
  /** Type tag byte, first byte of every encoding. */
  readonly tag: number;
  empty(): S;
  /**
   * Applies a client op at replica `actor`. Returns the new state and the delta; joining the
   * delta into the old state gives the new state (merge(state, delta) equals result.state).
   * Throws CrdtOpError.
   */
  apply(state: S, op: Op, actor: string, env: CrdtEnv): { state: S; delta: S };
  /** Join: commutative, associative, idempotent. */
  merge(a: S, b: S): S;
  /** JSON-friendly value. */
  value(state: S): V;
  equal(a: S, b: S): boolean;
  /** Canonical: equal states give identical bytes (anti-entropy hashes them). */
  encode(state: S): Uint8Array;
  /** Validates; throws an Error with a clear message on garbage or a wrong tag. */
  decode(bytes: Uint8Array): S;
  /** Validates client JSON; throws CrdtOpError('BAD_OP'). */
  parseOp(json: unknown): Op;
  /** The causal context a client must send back with removes. */
  contextOf?(state: S): VersionVector;
  /**
   * Housekeeping a replica runs at `actor` after merging a remote state or delta: returns the
   * new state and a delta to ship (like an op), or null when nothing needs doing. The counter
   * uses it to retire retry twins that lost (see counter.ts).
   */
  settle?(state: S, actor: string, ts: Hlc): { state: S; delta: S } | null;
}

/** Types whose removes need an observed context (set, flag, map) always provide contextOf. */
export interface WithContext<S> {
  contextOf(state: S): VersionVector;
}
