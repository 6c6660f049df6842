// Map of named, typed fields (riak_dt_map.erl) as a delta CRDT: an observed-remove map of
// embedded causal CRDTs sharing one causal context (Almeida et al. §7.3, "ORMap"). A field
// is the pair (name, type). Updating a field mints dots inside it; removing a field ships
// the context of the dots the client observed in it, so a concurrent update — whose dots
// that context lacks — keeps the field (update wins), holding that update's effect.
//
// ## JSON op (what the HTTP API accepts)
//   {
//     "update": {                                  // optional; ≤ 100 fields per op
//       "<field>": { "type": "counter",  "op": { "increment": 3 } },        // non-zero int
//       "<field>": { "type": "set",      "op": { "add": ["a"], "remove": ["b"] } },
//       "<field>": { "type": "register", "op": { "assign": "text" } },
//       "<field>": { "type": "flag",     "op": { "enable": true } },        // or {"disable": true}
//       "<field>": { "type": "map",      "op": { "update": {...}, "remove": [...] } }  // nested
//     },
//     "remove": ["<field>", ...]                   // optional; removes every type under the name
//   }
//   Field names: 1..256 bytes UTF-8. A field may not be both updated and removed in one op.
//   Removes (of fields, of set elements) need the client's observed context (env.ctx, from a
//   read); removing a field or element that context never saw present → PRECONDITION.
//   Updating a name with a type other than the one this replica holds → PRECONDITION.
//   Counter ops inside a map take no "id" (exactly-once retries are a top-level counter feature).
//
// ## JSON value
//   { "<field>": { "type": "counter",  "value": 5 },
//     "<field>": { "type": "set",      "value": ["a", "b"] },        // sorted
//     "<field>": { "type": "register", "value": "text" },
//     "<field>": { "type": "flag",     "value": true },
//     "<field>": { "type": "map",      "value": { ... same shape ... } } }
//   A field reads as absent once its embedded state is empty (a disabled flag, a set with no
//   elements, a map with no fields): absence means the type's bottom. If concurrent updates
//   gave one name two types, the entry is the first type in the order counter, flag, map,
//   register, set, with the others under "conflicts": [{ "type", "value" }, ...].
//
// Embedded semantics: counter fields are causal counters (one dot per actor carrying its
// running {p, n}; a remove resets what it observed, but a concurrent increment brings back
// that actor's whole running total — the known ORMap/CCounter behaviour). Register fields keep
// one dot per concurrent assign and read the greatest (ts, actor, value), as the top-level LWW
// register does.

import type { Hlc } from '../types.ts';
import {
  causalJoin, CTX_EMPTY, ctxFromDots, ctxToVV, decodeCausalBody, dotFunKind, dotMapKind, dotSetKind,
  encodeCausalBody, minter, observedDots,
} from './causal.ts';
import type { Causal, DotFun, DotMap, DotSet, DotT, Minter, StoreKind } from './causal.ts';
import { parseCounterOp } from './counter.ts';
import type { CounterOp, PN } from './counter.ts';
import { flagOpDelta, parseFlagOp } from './flag.ts';
import type { FlagOp } from './flag.ts';
import { parseSetOp, setOpDelta, setStoreKind, setValue } from './orset.ts';
import type { SetOp, SetStore } from './orset.ts';
import { assignStamp, parseRegisterOp } from './register.ts';
import type { RegisterOp } from './register.ts';
import { CrdtOpError } from './types.ts';
import type { CrdtEnv, CrdtType, WithContext } from './types.ts';
import {
  arr, badOp, bytesEqual, frame, hlcCompare, hlcFrom, isPlainObject, isUint, need, onlyKeys, str, strCompare,
  unframe, utf8Length,
} from './util.ts';

export const MAP_FIELD_NAME_MAX_BYTES = 256;
export const MAP_OP_FIELDS_MAX = 100;
/** Nesting depth bound: keeps recursion in decode/parse/apply bounded. */
export const MAP_DEPTH_MAX = 4;

export type FieldType = 'counter' | 'set' | 'register' | 'flag' | 'map';
const FIELD_TYPES: readonly FieldType[] = ['counter', 'set', 'register', 'flag', 'map'];

interface RegPayload {
  readonly v: string;
  readonly t: Hlc;
}

type FieldStore = unknown; // DotFun<PN> | SetStore | DotFun<RegPayload> | DotSet | MapStore
export type MapStore = DotMap<FieldStore>;
export type MapState = Causal<MapStore>;

export type FieldOp =
  | { readonly type: 'counter'; readonly op: CounterOp }
  | { readonly type: 'set'; readonly op: SetOp }
  | { readonly type: 'register'; readonly op: RegisterOp }
  | { readonly type: 'flag'; readonly op: FlagOp }
  | { readonly type: 'map'; readonly op: MapOp };

export interface MapOp {
  readonly update: ReadonlyMap<string, FieldOp>;
  readonly remove: readonly string[];
}

const pnKind = dotFunKind<PN>({
  encode: (v) => [v.p, v.n],
  decode(x, name) {
    const l = arr(x, name, 'counter payload');
    need(l.length === 2 && isUint(l[0]) && isUint(l[1]), name, 'counter payload is not [p, n]');
    return { p: l[0], n: l[1] };
  },
  compare: (a, b) => a.p - b.p || a.n - b.n,
});

const regKind = dotFunKind<RegPayload>({
  encode: (v) => [v.v, [v.t.wall, v.t.logical]],
  decode(x, name) {
    const l = arr(x, name, 'register payload');
    need(l.length === 2, name, 'register payload is not [value, ts]');
    return { v: str(l[0], name, 'register value'), t: hlcFrom(l[1], name, 'register ts') };
  },
  compare: (a, b) => hlcCompare(a.t, b.t) || strCompare(a.v, b.v),
});

export function fieldKey(type: FieldType, name: string): string {
  return `${type}:${name}`;
}

function splitKey(key: string): [FieldType, string] {
  const i = key.indexOf(':');
  return [key.slice(0, i) as FieldType, key.slice(i + 1)];
}

function checkKey(key: string, name: string): void {
  const i = key.indexOf(':');
  need(i > 0 && FIELD_TYPES.includes(key.slice(0, i) as FieldType), name, `bad field key ${JSON.stringify(key.slice(0, 40))}`);
  const n = key.slice(i + 1);
  need(n.length > 0 && utf8Length(n) <= MAP_FIELD_NAME_MAX_BYTES, name, 'bad field name length');
}

// Map stores nest; the depth bound is enforced by decode via a depth-indexed kind per level.
const mapKinds: StoreKind<MapStore>[] = [];
function mapKindAt(depth: number): StoreKind<MapStore> {
  let k = mapKinds[depth];
  if (k === undefined) {
    k = dotMapKind<FieldStore>((key) => fieldKind(splitKey(key)[0], depth), (key, name) => {
      checkKey(key, name);
      need(!(key.startsWith('map:') && depth + 1 >= MAP_DEPTH_MAX), name, `maps nested deeper than ${MAP_DEPTH_MAX}`);
    });
    mapKinds[depth] = k;
  }
  return k;
}

function fieldKind(type: FieldType, depth: number): StoreKind<FieldStore> {
  switch (type) {
    case 'counter': return pnKind as StoreKind<FieldStore>;
    case 'set': return setStoreKind as StoreKind<FieldStore>;
    case 'register': return regKind as StoreKind<FieldStore>;
    case 'flag': return dotSetKind as StoreKind<FieldStore>;
    case 'map': return mapKindAt(depth + 1) as StoreKind<FieldStore>;
  }
}

const rootKind = mapKindAt(0);

// --- ops ---------------------------------------------------------------------------------

interface Delta {
  store: FieldStore;
  dots: DotT[];
}

function fieldDelta(cur: FieldStore, f: FieldOp, mint: Minter, env: CrdtEnv, path: string, depth: number): Delta {
  switch (f.type) {
    case 'counter': {
      const own = (cur as DotFun<PN>).get(mint.actor);
      const base = own?.v ?? { p: 0, n: 0 };
      const d = f.op.increment;
      const v = d > 0 ? { p: base.p + d, n: base.n } : { p: base.p, n: base.n - d };
      if (!Number.isSafeInteger(v.p) || !Number.isSafeInteger(v.n)) throw new CrdtOpError('PRECONDITION', `${path}: counter would exceed 2^53 - 1`);
      const c = mint.next();
      // The actor's new dot carries its running total and retires its old dot: O(1) delta.
      return { store: new Map([[mint.actor, { c, v }]]), dots: own ? [[mint.actor, c], [mint.actor, own.c]] : [[mint.actor, c]] };
    }
    case 'set':
      return setOpDelta(cur as SetStore, f.op, mint, env.ctx, `${path}: `);
    case 'register': {
      let seen: Hlc | undefined;
      for (const t of (cur as DotFun<RegPayload>).values()) if (seen === undefined || hlcCompare(t.v.t, seen) > 0) seen = t.v.t;
      const c = mint.next();
      return {
        store: new Map([[mint.actor, { c, v: { v: f.op.assign, t: assignStamp(env.ts, seen) } }]]),
        dots: [[mint.actor, c], ...regKind.dots(cur as DotFun<RegPayload>)],
      };
    }
    case 'flag':
      return flagOpDelta(cur as DotSet, f.op, mint, env.ctx);
    case 'map':
      return mapOpDelta(cur as MapStore, f.op, mint, env, path, depth + 1);
  }
}

function mapOpDelta(store: MapStore, op: MapOp, mint: Minter, env: CrdtEnv, path: string, depth: number): Delta {
  const out = new Map<string, FieldStore>();
  const dots: DotT[] = [];
  const at = (name: string) => (path === '' ? JSON.stringify(name) : `${path}.${JSON.stringify(name)}`);
  for (const name of op.remove) {
    let seen: DotT[] = [];
    for (const type of FIELD_TYPES) {
      const sub = store.get(fieldKey(type, name));
      if (sub !== undefined) seen = seen.concat(observedDots(fieldKind(type, depth).dots(sub), env.ctx));
    }
    if (seen.length === 0) throw new CrdtOpError('PRECONDITION', `remove ${at(name)}: field not present in the observed context`);
    dots.push(...seen);
  }
  for (const [name, f] of op.update) {
    const other = FIELD_TYPES.find((t) => t !== f.type && store.has(fieldKey(t, name)));
    if (other !== undefined) throw new CrdtOpError('PRECONDITION', `${at(name)} holds a ${other}, not a ${f.type}`);
    const key = fieldKey(f.type, name);
    const fk = fieldKind(f.type, depth);
    const d = fieldDelta(store.get(key) ?? fk.empty(), f, mint, env, at(name), depth);
    if (!fk.isEmpty(d.store)) out.set(key, d.store);
    dots.push(...d.dots);
  }
  return { store: out, dots };
}

function parseField(json: unknown, what: string, depth: number): FieldOp {
  if (!isPlainObject(json)) badOp(`${what} must be {"type": ..., "op": ...}`);
  onlyKeys(json, ['type', 'op'], what);
  const type = json['type'];
  const op = json['op'];
  switch (type) {
    case 'counter': return { type, op: parseCounterOp(op, `${what}.op`, false) };
    case 'set': return { type, op: parseSetOp(op, `${what}.op`) };
    case 'register': return { type, op: parseRegisterOp(op, `${what}.op`) };
    case 'flag': return { type, op: parseFlagOp(op, `${what}.op`) };
    case 'map':
      if (depth + 1 >= MAP_DEPTH_MAX) badOp(`${what}: maps nest at most ${MAP_DEPTH_MAX} deep`);
      return { type, op: parseMapOp(op, `${what}.op`, depth + 1) };
    default:
      return badOp(`${what}.type must be one of ${FIELD_TYPES.join(', ')}, got ${JSON.stringify(type)}`);
  }
}

function fieldName(name: unknown, what: string): string {
  if (typeof name !== 'string' || name.length === 0 || utf8Length(name) > MAP_FIELD_NAME_MAX_BYTES) {
    badOp(`${what}: field names are non-empty strings of at most ${MAP_FIELD_NAME_MAX_BYTES} bytes`);
  }
  return name;
}

export function parseMapOp(json: unknown, what = 'map op', depth = 0): MapOp {
  if (!isPlainObject(json)) badOp(`${what} must be an object like {"update": {...}, "remove": [...]}`);
  onlyKeys(json, ['update', 'remove'], what);
  const update = new Map<string, FieldOp>();
  const u = json['update'];
  if (u !== undefined) {
    if (!isPlainObject(u)) badOp(`${what}.update must be an object of field → {"type", "op"}`);
    for (const [name, f] of Object.entries(u)) {
      update.set(fieldName(name, `${what}.update`), parseField(f, `${what}.update[${JSON.stringify(name)}]`, depth));
    }
  }
  const r = json['remove'];
  let remove: string[] = [];
  if (r !== undefined) {
    if (!Array.isArray(r)) badOp(`${what}.remove must be an array of field names`);
    remove = [...new Set(r.map((n) => fieldName(n, `${what}.remove`)))];
  }
  if (update.size + remove.length === 0) badOp(`${what}: nothing to update or remove`);
  if (update.size + remove.length > MAP_OP_FIELDS_MAX) badOp(`${what}: more than ${MAP_OP_FIELDS_MAX} fields`);
  const both = remove.find((n) => update.has(n));
  if (both !== undefined) badOp(`${what}: ${JSON.stringify(both)} is both updated and removed`);
  return { update, remove };
}

// --- value -------------------------------------------------------------------------------

export interface FieldValue {
  readonly type: FieldType;
  readonly value: unknown;
  readonly conflicts?: readonly { type: FieldType; value: unknown }[];
}
export type MapValue = Record<string, FieldValue>;

function fieldValue(type: FieldType, s: FieldStore): unknown {
  switch (type) {
    case 'counter': {
      let v = 0;
      for (const t of (s as DotFun<PN>).values()) v += t.v.p - t.v.n;
      return v;
    }
    case 'set': return setValue(s as SetStore);
    case 'register': {
      let best: [string, RegPayload] | undefined;
      for (const [a, t] of s as DotFun<RegPayload>) {
        const c = best === undefined ? 1 : hlcCompare(t.v.t, best[1].t) || strCompare(a, best[0]) || strCompare(t.v.v, best[1].v);
        if (c > 0) best = [a, t.v];
      }
      return best?.[1].v ?? null;
    }
    case 'flag': return (s as DotSet).size > 0;
    case 'map': return mapValue(s as MapStore);
  }
}

function mapValue(store: MapStore): MapValue {
  const byName = new Map<string, { type: FieldType; value: unknown }[]>();
  for (const key of [...store.keys()].sort(strCompare)) {
    const [type, name] = splitKey(key);
    const l = byName.get(name) ?? [];
    l.push({ type, value: fieldValue(type, store.get(key)) });
    byName.set(name, l);
  }
  // fromEntries defines own properties, so a field named "__proto__" is just a field.
  return Object.fromEntries(
    [...byName].map(([name, [first, ...rest]]) => [name, rest.length === 0 ? first! : { ...first!, conflicts: rest }]),
  );
}

const EMPTY: MapState = { store: new Map(), ctx: CTX_EMPTY };

export const map: CrdtType<MapState, MapOp, MapValue> & WithContext<MapState> = {
  name: 'map',
  tag: 5,
  empty: () => EMPTY,
  apply(state: MapState, op: MapOp, actor: string, env: CrdtEnv) {
    const d = mapOpDelta(state.store, op, minter(state.ctx, actor), env, '', 0);
    const delta: MapState = { store: d.store as MapStore, ctx: ctxFromDots(d.dots) };
    return { state: causalJoin(rootKind, state, delta), delta };
  },
  merge: (a, b) => causalJoin(rootKind, a, b),
  value: (s) => mapValue(s.store),
  equal: (a, b) => bytesEqual(map.encode(a), map.encode(b)),
  encode: (s) => frame(map.tag, encodeCausalBody(rootKind, s)),
  decode: (bytes) => decodeCausalBody(rootKind, unframe(map.tag, 'map', bytes), 'map'),
  parseOp: (json) => parseMapOp(json),
  contextOf: (s) => ctxToVV(s.ctx),
};

