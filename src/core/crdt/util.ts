// Small private helpers shared by the CRDTs: HLC order, the framed canonical codec, and
// validation of decoded bodies and client JSON. Kept here (not core/hlc.ts) so crdt/ has no
// dependency on files still in motion; the order is the same (wall, then logical).

import { Packr } from 'msgpackr';
import type { Hlc } from '../types.ts';
import { CrdtOpError } from './types.ts';

/** Every encoding is [type tag u8][format version u8][msgpack body]. */
export const FORMAT_VERSION = 1;

// Records/structures off: bodies are plain arrays, so bytes depend only on the values.
const packr = new Packr({ useRecords: false });

export function hlcCompare(a: Hlc, b: Hlc): number {
  return a.wall !== b.wall ? (a.wall < b.wall ? -1 : 1) : a.logical !== b.logical ? (a.logical < b.logical ? -1 : 1) : 0;
}

export function strCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Entries of a map sorted by key: the canonical order of every encoding. */
export function sortedEntries<V>(m: ReadonlyMap<string, V>): [string, V][] {
  const out = [...m.entries()];
  // Maps decoded from storage, and joins that added no key, are already in order: a linear
  // check saves the sort on every encode of a big set.
  for (let i = 1; i < out.length; i++) if (out[i - 1]![0] >= out[i]![0]) return out.sort((x, y) => strCompare(x[0], y[0]));
  return out;
}

export function frame(tag: number, body: unknown): Uint8Array {
  const packed = packr.pack(body);
  const out = new Uint8Array(packed.length + 2);
  out[0] = tag;
  out[1] = FORMAT_VERSION;
  out.set(packed, 2);
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Thrown by every decoder; the message names the type and what was wrong. */
export class CrdtDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CrdtDecodeError';
  }
}

export function unframe(tag: number, name: string, bytes: unknown): unknown {
  if (!(bytes instanceof Uint8Array)) throw new CrdtDecodeError(`${name}: expected bytes`);
  if (bytes.length < 3) throw new CrdtDecodeError(`${name}: ${bytes.length} bytes is too short`);
  if (bytes[0] !== tag) throw new CrdtDecodeError(`${name}: wrong type tag ${bytes[0]} (expected ${tag})`);
  if (bytes[1] !== FORMAT_VERSION) throw new CrdtDecodeError(`${name}: unknown format version ${bytes[1]}`);
  try {
    // unpackMultiple rejects nothing on trailing bytes, so insist on exactly one value.
    const values = packr.unpackMultiple(bytes.subarray(2)) as unknown[];
    if (values.length !== 1) throw new CrdtDecodeError(`${name}: expected one body value, got ${values.length}`);
    return values[0];
  } catch (e) {
    if (e instanceof CrdtDecodeError) throw e;
    throw new CrdtDecodeError(`${name}: corrupt body (${(e as Error).message})`);
  }
}

// --- decoded-body validation -------------------------------------------------------------

export function need(cond: boolean, name: string, what: string): asserts cond {
  if (!cond) throw new CrdtDecodeError(`${name}: ${what}`);
}

export function isUint(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

export function arr(x: unknown, name: string, what: string): unknown[] {
  need(Array.isArray(x), name, `${what} is not an array`);
  return x;
}

export function str(x: unknown, name: string, what: string): string {
  need(typeof x === 'string', name, `${what} is not a string`);
  return x;
}

export function uint(x: unknown, name: string, what: string): number {
  need(isUint(x), name, `${what} is not a non-negative safe integer`);
  return x;
}

export function hlcFrom(x: unknown, name: string, what: string): Hlc {
  const a = arr(x, name, what);
  need(a.length === 2, name, `${what} is not [wall, logical]`);
  return { wall: uint(a[0], name, `${what}.wall`), logical: uint(a[1], name, `${what}.logical`) };
}

/** Keys must be strictly increasing: one canonical form, so equal states hash equal. */
export function needSorted(keys: readonly string[], name: string, what: string): void {
  for (let i = 1; i < keys.length; i++) {
    need(strCompare(keys[i - 1]!, keys[i]!) < 0, name, `${what} keys not strictly sorted`);
  }
}

// --- client JSON validation --------------------------------------------------------------

export function badOp(message: string): never {
  throw new CrdtOpError('BAD_OP', message);
}

export function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false;
  const proto = Object.getPrototypeOf(x) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Rejects keys outside `allowed` ("extra junk") with a message naming them. */
export function onlyKeys(x: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(x)) {
    if (!allowed.includes(k)) badOp(`${what}: unknown field ${JSON.stringify(k)} (allowed: ${allowed.join(', ')})`);
  }
}

export function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
