// Add-wins observed-remove set without tombstones (ORSWOT, riak_dt_orswot.erl) as a delta
// CRDT (Almeida et al. §7.2, "add-wins set"): element → dots of the adds that put it there,
// plus the causal context. An add mints a fresh dot and supersedes the element's dots this
// replica holds; a remove ships only context (the dots it observed), so a concurrent add's
// dot — not in that context — survives the join: add wins. Removed elements leave nothing.

import type { VersionVector } from '../types.ts';
import {
  causalJoin, CTX_EMPTY, ctxFromDots, ctxToVV, decodeCausalBody, dotMapKind, dotSetKind, encodeCausalBody, minter,
  observedDots,
} from './causal.ts';
import type { Causal, DotMap, DotSet, DotT, Minter } from './causal.ts';
import { CrdtOpError } from './types.ts';
import type { CrdtEnv, CrdtType, WithContext } from './types.ts';
import { badOp, bytesEqual, frame, isPlainObject, need, onlyKeys, strCompare, unframe, utf8Length } from './util.ts';

/** Elements are strings of at most 1 KiB (UTF-8): they are keys on disk and on the wire. */
export const SET_ELEMENT_MAX_BYTES = 1024;
/** Elements per op: bounds the delta and the work one request can cause. */
export const SET_OP_ELEMENTS_MAX = 1000;

export type SetStore = DotMap<DotSet>;
export type SetState = Causal<SetStore>;
export interface SetOp {
  readonly add: readonly string[];
  readonly remove: readonly string[];
}

export const setStoreKind = dotMapKind<DotSet>(
  () => dotSetKind,
  (k, name) => need(utf8Length(k) <= SET_ELEMENT_MAX_BYTES, name, 'element longer than 1 KiB'),
);

/**
 * The delta store and context dots of a set op over (store, ctx). Shared with map.ts, whose
 * set fields use the map's context. Removes are checked first, so a failing op changes nothing.
 */
export function setOpDelta(
  store: SetStore, op: SetOp, mint: Minter, observed: VersionVector | undefined, where: string,
): { store: SetStore; dots: DotT[] } {
  const out = new Map<string, DotSet>();
  const dots: DotT[] = [];
  for (const e of op.remove) {
    const seen = observedDots(dotSetKind.dots(store.get(e) ?? new Map()), observed);
    if (seen.length === 0) {
      throw new CrdtOpError('PRECONDITION', `${where}remove ${JSON.stringify(e)}: not present in the observed context`);
    }
    dots.push(...seen);
  }
  for (const e of op.add) {
    const n = mint.next();
    out.set(e, new Map([[mint.actor, n]]));
    dots.push([mint.actor, n], ...dotSetKind.dots(store.get(e) ?? new Map()));
  }
  return { store: out, dots };
}

export function setValue(store: SetStore): string[] {
  return [...store.keys()].sort(strCompare);
}

function elements(x: unknown, what: string): string[] {
  if (!Array.isArray(x)) badOp(`${what} must be an array of strings`);
  const seen = new Set<string>();
  for (const e of x) {
    if (typeof e !== 'string') badOp(`${what} must contain only strings`);
    if (utf8Length(e) > SET_ELEMENT_MAX_BYTES) badOp(`${what}: element longer than ${SET_ELEMENT_MAX_BYTES} bytes`);
    seen.add(e);
  }
  return [...seen];
}

export function parseSetOp(json: unknown, what = 'set op'): SetOp {
  if (!isPlainObject(json)) badOp(`${what} must be an object like {"add": ["x"], "remove": ["y"]}`);
  onlyKeys(json, ['add', 'remove'], what);
  const add = json['add'] === undefined ? [] : elements(json['add'], `${what}.add`);
  const remove = json['remove'] === undefined ? [] : elements(json['remove'], `${what}.remove`);
  if (add.length + remove.length === 0) badOp(`${what}: nothing to add or remove`);
  if (add.length + remove.length > SET_OP_ELEMENTS_MAX) badOp(`${what}: more than ${SET_OP_ELEMENTS_MAX} elements`);
  const both = add.find((e) => remove.includes(e));
  if (both !== undefined) badOp(`${what}: ${JSON.stringify(both)} is both added and removed`);
  return { add, remove };
}

const EMPTY: SetState = { store: new Map(), ctx: CTX_EMPTY };

export const orset: CrdtType<SetState, SetOp, string[]> & WithContext<SetState> = {
  name: 'set',
  tag: 2,
  empty: () => EMPTY,
  apply(state: SetState, op: SetOp, actor: string, env: CrdtEnv) {
    const d = setOpDelta(state.store, op, minter(state.ctx, actor), env.ctx, '');
    const delta: SetState = { store: d.store, ctx: ctxFromDots(d.dots) };
    return { state: causalJoin(setStoreKind, state, delta), delta };
  },
  merge: (a, b) => causalJoin(setStoreKind, a, b),
  value: (s) => setValue(s.store),
  equal: (a, b) => bytesEqual(orset.encode(a), orset.encode(b)),
  encode: (s) => frame(orset.tag, encodeCausalBody(setStoreKind, s)),
  decode: (bytes) => decodeCausalBody(setStoreKind, unframe(orset.tag, 'set', bytes), 'set'),
  parseOp: (json) => parseSetOp(json),
  contextOf: (s) => ctxToVV(s.ctx),
};
