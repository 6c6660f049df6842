// Last-writer-wins register (riak_dt_lwwreg.erl): one value, stamped with the coordinator's
// HLC and actor. Join keeps the greater (ts, actor, value) — total, so it is a join, and ties
// at equal ts are broken by actor the same way everywhere (the value only breaks the tie of a
// malformed history: one actor, one ts, two values).

import type { Hlc } from '../types.ts';
import type { CrdtEnv, CrdtType } from './types.ts';
import {
  arr, badOp, bytesEqual, frame, hlcCompare, hlcFrom, isPlainObject, need, onlyKeys, str, strCompare, unframe,
  utf8Length,
} from './util.ts';

/** Registers hold small values; bigger blobs belong in plain (non-CRDT) keys. */
export const REGISTER_VALUE_MAX_BYTES = 64 * 1024;

export interface LwwValue {
  readonly v: string;
  readonly t: Hlc;
  readonly a: string;
}
export type RegisterState = LwwValue | null;
export interface RegisterOp {
  readonly assign: string;
}

export function lwwCompare(x: LwwValue, y: LwwValue): number {
  return hlcCompare(x.t, y.t) || strCompare(x.a, y.a) || strCompare(x.v, y.v);
}

/**
 * The stamp for a new assign: env.ts, bumped past the newest stamp this replica holds, so an
 * assign always supersedes what its coordinator has seen even when that came from a node
 * whose clock runs ahead (causal order implies ts order; the model's "max ts" then agrees).
 */
export function assignStamp(ts: Hlc, seen: Hlc | undefined): Hlc {
  return seen === undefined || hlcCompare(ts, seen) > 0 ? ts : { wall: seen.wall, logical: seen.logical + 1 };
}

export function parseRegisterOp(json: unknown, what = 'register op'): RegisterOp {
  if (!isPlainObject(json)) badOp(`${what} must be {"assign": "<string>"}`);
  onlyKeys(json, ['assign'], what);
  const v = json['assign'];
  if (typeof v !== 'string') badOp(`${what}.assign must be a string`);
  if (utf8Length(v) > REGISTER_VALUE_MAX_BYTES) badOp(`${what}.assign longer than ${REGISTER_VALUE_MAX_BYTES} bytes`);
  return { assign: v };
}

export const register: CrdtType<RegisterState, RegisterOp, string | null> = {
  name: 'register',
  tag: 3,
  empty: () => null,
  apply(state: RegisterState, op: RegisterOp, actor: string, env: CrdtEnv) {
    const delta: LwwValue = { v: op.assign, t: assignStamp(env.ts, state?.t), a: actor };
    return { state: register.merge(state, delta), delta };
  },
  merge: (a, b) => (a === null ? b : b === null ? a : lwwCompare(a, b) >= 0 ? a : b),
  value: (s) => (s === null ? null : s.v),
  equal: (a, b) => (a === null || b === null ? a === b : lwwCompare(a, b) === 0),
  encode: (s) => frame(register.tag, s === null ? null : [s.v, [s.t.wall, s.t.logical], s.a]),
  decode(bytes) {
    const body = unframe(register.tag, 'register', bytes);
    if (body === null) return null;
    const l = arr(body, 'register', 'body');
    need(l.length === 3, 'register', 'body is not [value, ts, actor]');
    return { v: str(l[0], 'register', 'value'), t: hlcFrom(l[1], 'register', 'ts'), a: str(l[2], 'register', 'actor') };
  },
  parseOp: (json) => parseRegisterOp(json),
};
