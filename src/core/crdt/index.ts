// The CRDT registry: by name (bucket config names a type) and by tag (the first byte of every
// encoding, so stored bytes say what they are). Encodings are canonical — equal states give
// identical bytes — so anti-entropy may hash `encode(state)` directly.

import { counter } from './counter.ts';
import { flag } from './flag.ts';
import { map } from './map.ts';
import { orset } from './orset.ts';
import { register } from './register.ts';
import type { CrdtType, CrdtTypeName } from './types.ts';
import { CrdtDecodeError } from './util.ts';

export { CrdtOpError } from './types.ts';
export type { CrdtEnv, CrdtOpErrorCode, CrdtType, CrdtTypeName } from './types.ts';
export { CrdtDecodeError, FORMAT_VERSION } from './util.ts';
export { counter, makeCounterType, COUNTER_LIMITS } from './counter.ts';
export type { CounterLimits, CounterOp, CounterState } from './counter.ts';
export { orset } from './orset.ts';
export type { SetOp, SetState } from './orset.ts';
export { register } from './register.ts';
export type { RegisterOp, RegisterState } from './register.ts';
export { flag } from './flag.ts';
export type { FlagOp, FlagState } from './flag.ts';
export { map } from './map.ts';
export type { MapOp, MapState, MapValue } from './map.ts';

/** Any CRDT type, with its state/op/value types erased (callers hold states opaquely). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCrdtType = CrdtType<any, any, unknown>;

export const crdtTypes: Readonly<Record<CrdtTypeName, AnyCrdtType>> = {
  counter,
  set: orset,
  register,
  flag,
  map,
};

const byTag = new Map<number, AnyCrdtType>(Object.values(crdtTypes).map((t) => [t.tag, t]));

/** Decodes bytes of any type by their tag byte; throws CrdtDecodeError on garbage. */
export function decodeAny(bytes: Uint8Array): { type: AnyCrdtType; state: unknown } {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw new CrdtDecodeError('crdt: empty or non-byte input');
  const type = byTag.get(bytes[0]!);
  if (type === undefined) throw new CrdtDecodeError(`crdt: unknown type tag ${bytes[0]}`);
  return { type, state: type.decode(bytes) };
}

export function isCrdtTypeName(x: unknown): x is CrdtTypeName {
  return typeof x === 'string' && Object.hasOwn(crdtTypes, x);
}
