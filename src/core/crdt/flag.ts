// Enable-wins flag (riak_dt_od_flag.erl; Almeida et al. §7.1 "EWFlag"): a dot set. Enable
// mints a dot and supersedes the dots held; disable ships only the context of the dots it
// observed, so a concurrent enable survives. Enabled iff any dot survives.

import {
  causalJoin, CTX_EMPTY, ctxFromDots, ctxToVV, decodeCausalBody, dotSetKind, encodeCausalBody, minter,
  observedDots,
} from './causal.ts';
import type { Causal, DotSet, DotT, Minter } from './causal.ts';
import type { VersionVector } from '../types.ts';
import type { CrdtEnv, CrdtType, WithContext } from './types.ts';
import { badOp, bytesEqual, frame, isPlainObject, onlyKeys, unframe } from './util.ts';

export type FlagState = Causal<DotSet>;
export type FlagOp = 'enable' | 'disable';

/** Shared with map.ts. Disabling what was never observed enabled is a no-op, as in riak_dt. */
export function flagOpDelta(
  store: DotSet, op: FlagOp, mint: Minter, observed: VersionVector | undefined,
): { store: DotSet; dots: DotT[] } {
  if (op === 'disable') return { store: new Map(), dots: observedDots(dotSetKind.dots(store), observed) };
  const n = mint.next();
  return { store: new Map([[mint.actor, n]]), dots: [[mint.actor, n], ...dotSetKind.dots(store)] };
}

export function parseFlagOp(json: unknown, what = 'flag op'): FlagOp {
  if (!isPlainObject(json)) badOp(`${what} must be {"enable": true} or {"disable": true}`);
  onlyKeys(json, ['enable', 'disable'], what);
  const keys = Object.keys(json);
  if (keys.length !== 1 || json[keys[0]!] !== true) badOp(`${what} must be exactly {"enable": true} or {"disable": true}`);
  return keys[0] as FlagOp;
}

const EMPTY: FlagState = { store: new Map(), ctx: CTX_EMPTY };

export const flag: CrdtType<FlagState, FlagOp, boolean> & WithContext<FlagState> = {
  name: 'flag',
  tag: 4,
  empty: () => EMPTY,
  apply(state: FlagState, op: FlagOp, actor: string, env: CrdtEnv) {
    const d = flagOpDelta(state.store, op, minter(state.ctx, actor), env.ctx);
    const delta: FlagState = { store: d.store, ctx: ctxFromDots(d.dots) };
    return { state: causalJoin(dotSetKind, state, delta), delta };
  },
  merge: (a, b) => causalJoin(dotSetKind, a, b),
  value: (s) => s.store.size > 0,
  equal: (a, b) => bytesEqual(flag.encode(a), flag.encode(b)),
  encode: (s) => frame(flag.tag, encodeCausalBody(dotSetKind, s)),
  decode: (bytes) => decodeCausalBody(dotSetKind, unframe(flag.tag, 'flag', bytes), 'flag'),
  parseOp: (json) => parseFlagOp(json),
  contextOf: (s) => ctxToVV(s.ctx),
};
