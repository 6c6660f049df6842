// The bytes a value was encoded as (or decoded from), kept beside the value. Stored values
// are never mutated once built, so a replica can answer a read with the bytes it loaded
// instead of encoding again, and a coordinator can tell that a replica's answer is the
// copy it already holds by comparing bytes instead of decoding and merging. Encodings are
// canonical (see codec.ts), so equal bytes mean equal values; unequal bytes only mean
// "decode and merge", never a wrong answer.

import { readSlot, writeSlot } from './hidden-slot.ts';

// The bytes are kept in a hidden slot on the value (see hidden-slot.ts).
const ENCODING = Symbol('shoal.encoding');

/** The remembered encoding of `value`, if any. */
export function knownEncoding(value: unknown): Uint8Array | undefined {
  return typeof value === 'object' && value !== null ? readSlot<Uint8Array>(value, ENCODING) : undefined;
}

/** Remembers `bytes` as the encoding of `value` (extensible objects only; others are ignored). */
export function rememberEncoding(value: unknown, bytes: Uint8Array): void {
  if (typeof value === 'object' && value !== null) writeSlot(value, ENCODING, bytes);
}

/** `encode(value)`, computed once per value object. */
export function encodeOnce<T>(value: T, encode: (v: T) => Uint8Array): Uint8Array {
  const hit = knownEncoding(value);
  if (hit !== undefined) return hit;
  const bytes = encode(value);
  rememberEncoding(value, bytes);
  return bytes;
}

/**
 * Decodes `bytes` and remembers them as the result's encoding. `copy` for bytes that are a
 * view into a larger buffer (a network read): decoding from a copy of its own means neither
 * the remembered bytes nor the value's byte fields (msgpack bins decode as views) pin the
 * whole buffer, and the value and its encoding share one allocation.
 */
export function decodeRemembering<T>(bytes: Uint8Array, decode: (b: Uint8Array) => T, copy = false): T {
  // Uint8Array's slice copies; Buffer's slice would be a view (subarray).
  const own = copy ? Uint8Array.prototype.slice.call(bytes) : bytes;
  // msgpackr caches a DataView on the array it decodes (a property and ~80 bytes): give it a
  // throwaway view, so the bytes kept beside the value stay a plain array.
  const value = decode(new Uint8Array(own.buffer, own.byteOffset, own.byteLength));
  rememberEncoding(value, own);
  return value;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
