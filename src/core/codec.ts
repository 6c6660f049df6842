// Binary encoding of versioned objects, shared by storage and the peer wire, plus the
// validation every object from outside (disk, peers) must pass before it is trusted.
//
// Layout (msgpack, positional so small values are not dwarfed by field names):
//   [clock: [actor, counter, actor, counter, …], siblings: [sibling…]]
//   sibling = [dotActor, dotCounter, tsWall, tsLogical, tombstone, contentType, expiresAt, value]
// The clock is a flat list rather than a map so no actor id is special to the decoder
// (msgpackr renames a "__proto__" map key). Storage wraps this in its own tag + version.

import { Packr } from 'msgpackr';
import { compareDots, covers, normalize } from './dvv.ts';
import { sortSiblings } from './object.ts';
import type { Dot, Hlc, NodeId, Sibling, VersionVector, VersionedObject } from './types.ts';

/** Actors are replica node ids, so a clock has at most one entry per node ever seen. */
export const MAX_CLOCK_ENTRIES = 1024;
/** Node ids are `^[A-Za-z0-9_-]{1,64}$`; anything longer is not one of ours. */
export const MAX_ACTOR_ID_CHARS = 64;
/** Far above any sane sibling count (the coordinator caps them lower); stops a hostile peer. */
export const MAX_SIBLINGS = 10_000;
/** Media types are short (RFC 6838 caps each part at 127 chars). */
export const MAX_CONTENT_TYPE_CHARS = 256;

/** One instance for the process: records off, so the bytes depend only on the data. */
export const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export function encodeObject(obj: VersionedObject): Uint8Array {
  const clock = flattenClock(obj.clock);
  const siblings = sortSiblings(obj.siblings).map((s) => [
    s.dot[0],
    s.dot[1],
    s.ts.wall,
    s.ts.logical,
    s.tombstone,
    s.contentType,
    s.expiresAt,
    s.value,
  ]);
  // pack returns a view into msgpackr's shared 8 KB buffer; copy so a stored or queued
  // record holds only its own bytes.
  return new Uint8Array(packr.pack([clock, siblings]));
}

export function decodeObject(bytes: Uint8Array): VersionedObject {
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (err) {
    throw new Error(`invalid object encoding: not msgpack (${(err as Error).message})`);
  }
  if (!Array.isArray(raw) || raw.length !== 2) fail('top level is not [clock, siblings]');
  const [flatClock, rawSiblings] = raw as unknown[];
  const clock = unflattenClock(flatClock);
  if (!Array.isArray(rawSiblings)) fail('siblings is not a list');
  if (rawSiblings.length > MAX_SIBLINGS) fail(`more than ${MAX_SIBLINGS} siblings`);
  const siblings = rawSiblings.map((t: unknown, i) => {
    if (!Array.isArray(t) || t.length !== 8) fail(`sibling ${i} is not an 8-field tuple`);
    const [actor, counter, wall, logical, tombstone, contentType, expiresAt, value] = t as unknown[];
    return { dot: [intern(actor), counter], ts: { wall, logical }, tombstone, contentType: intern(contentType), expiresAt, value };
  });
  return checkSiblings(clock, siblings);
}

// Actor ids and content types repeat across nearly every stored object, but msgpack decodes
// a new string each time; cached objects then hold thousands of copies of a few strings.
const interned = new Map<string, string>();
const MAX_INTERNED = 4096;
const MAX_INTERNED_CHARS = 128;

/** One shared copy of a short, common string; anything else passes through unchanged. */
function intern(v: unknown): unknown {
  if (typeof v !== 'string' || v.length > MAX_INTERNED_CHARS) return v;
  const hit = interned.get(v);
  if (hit !== undefined) return hit;
  if (interned.size >= MAX_INTERNED) interned.clear();
  interned.set(v, v);
  return v;
}

/** A clock as [actor, counter, actor, counter, …], in normalised (sorted) order. */
export function flattenClock(vv: VersionVector): (string | number)[] {
  const flat: (string | number)[] = [];
  // Clocks are almost always normalised already (decoded or built that way): check that in
  // one pass rather than sorting a copy.
  for (const [actor, n] of Object.entries(vv)) {
    if (n <= 0 || (flat.length > 0 && !((flat[flat.length - 2] as string) < actor))) {
      flat.length = 0;
      for (const [a, m] of Object.entries(normalize(vv))) flat.push(a, m);
      return flat;
    }
    flat.push(actor, n);
  }
  return flat;
}

/** Inverse of flattenClock, validated; throws an Error on any malformed list. */
export function unflattenClock(flat: unknown): VersionVector {
  if (!Array.isArray(flat) || flat.length % 2 !== 0) fail('clock is not a flat [actor, counter] list');
  if (flat.length > 2 * MAX_CLOCK_ENTRIES) fail(`clock has more than ${MAX_CLOCK_ENTRIES} entries`);
  // Every encoding we write is canonical: actors strictly ascending, counters positive. Such
  // a list is already normalised and has no repeats, so one pass checks it; decode is on
  // every peer message, disk read and stored write, and the general path cost ~4 µs of ~6.
  let canonical = true;
  for (let i = 0; i < flat.length; i += 2) {
    const actor: unknown = flat[i];
    validateActor(actor);
    const n: unknown = flat[i + 1];
    if (!isCounter(n)) fail(`clock counter for "${actor}" is not a non-negative safe integer`);
    if (n === 0 || (i > 0 && !((flat[i - 2] as string) < actor))) canonical = false;
  }
  const entries: [string, unknown][] = [];
  if (canonical) {
    for (let i = 0; i < flat.length; i += 2) entries.push([flat[i] as string, flat[i + 1]]);
    return Object.fromEntries(entries) as VersionVector;
  }
  const seen = new Set<string>();
  for (let i = 0; i < flat.length; i += 2) {
    const actor = flat[i] as string;
    if (seen.has(actor)) fail(`clock lists actor "${actor}" twice`);
    seen.add(actor);
    entries.push([actor, flat[i + 1]]);
  }
  return validateVersionVector(Object.fromEntries(entries));
}

/**
 * Checks the shape of an object from outside (a peer, the disk) and returns a canonical
 * copy: normalised clock, siblings sorted by dot. Throws an Error saying what is wrong.
 */
export function validateObject(x: unknown): VersionedObject {
  if (!isRecord(x)) fail('not an object');
  return checkSiblings(validateVersionVector(x['clock']), x['siblings']);
}

/** validateObject's sibling half, against a clock already validated and normalised. */
function checkSiblings(clock: VersionVector, rawSiblings: unknown): VersionedObject {
  if (!Array.isArray(rawSiblings)) fail('siblings is not a list');
  if (rawSiblings.length > MAX_SIBLINGS) fail(`more than ${MAX_SIBLINGS} siblings`);
  const siblings = rawSiblings.map((s: unknown, i) => validateSibling(s, i));
  const sorted = sortSiblings(siblings);
  for (let i = 0; i < sorted.length; i++) {
    const s = sorted[i]!;
    // The clock summarises every event the replica has seen, so it must cover its own siblings.
    if (!covers(clock, s.dot)) fail(`sibling dot ${s.dot[0]}:${s.dot[1]} is not covered by the clock`);
    const prev = sorted[i - 1];
    if (prev !== undefined && compareDots(prev.dot, s.dot) === 0) {
      fail(`duplicate sibling dot ${s.dot[0]}:${s.dot[1]}`);
    }
  }
  return { clock, siblings: sorted };
}

export function validateVersionVector(x: unknown): VersionVector {
  if (!isRecord(x)) fail('clock is not a map');
  const entries = Object.entries(x);
  if (entries.length > MAX_CLOCK_ENTRIES) fail(`clock has more than ${MAX_CLOCK_ENTRIES} entries`);
  for (const [actor, n] of entries) {
    validateActor(actor);
    if (!isCounter(n)) fail(`clock counter for "${actor}" is not a non-negative safe integer`);
  }
  return normalize(x as VersionVector);
}

export function validateHlc(x: unknown): Hlc {
  if (!isRecord(x)) fail('timestamp is not an object');
  const { wall, logical } = x;
  if (!isCounter(wall) || !isCounter(logical)) fail('timestamp fields are not non-negative safe integers');
  return { wall, logical };
}

function validateActor(actor: unknown): asserts actor is NodeId {
  if (typeof actor !== 'string' || actor.length === 0 || actor.length > MAX_ACTOR_ID_CHARS) {
    fail(`actor id is not a string of 1..${MAX_ACTOR_ID_CHARS} chars`);
  }
}

function validateSibling(x: unknown, i: number): Sibling {
  if (!isRecord(x)) fail(`sibling ${i} is not an object`);
  const { value, contentType, tombstone, expiresAt, ts, dot } = x;
  if (!(value instanceof Uint8Array)) fail(`sibling ${i} value is not bytes`);
  if (typeof contentType !== 'string' || contentType.length > MAX_CONTENT_TYPE_CHARS) {
    fail(`sibling ${i} content type is not a string of at most ${MAX_CONTENT_TYPE_CHARS} chars`);
  }
  if (typeof tombstone !== 'boolean') fail(`sibling ${i} tombstone flag is not a boolean`);
  if (tombstone && value.length !== 0) fail(`sibling ${i} is a tombstone with a value`);
  if (expiresAt !== null && !(typeof expiresAt === 'number' && Number.isFinite(expiresAt))) {
    fail(`sibling ${i} expiry is neither null nor a finite number`);
  }
  if (!Array.isArray(dot) || dot.length !== 2) fail(`sibling ${i} dot is not [actor, counter]`);
  const [actor, counter] = dot as unknown[];
  validateActor(actor);
  if (!isCounter(counter) || counter === 0) fail(`sibling ${i} dot counter is not a positive safe integer`);
  const validDot: Dot = [actor, counter];
  return { value, contentType, tombstone, expiresAt, ts: validateHlc(ts), dot: validDot };
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
}

function isCounter(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function fail(why: string): never {
  throw new Error(`invalid object: ${why}`);
}
