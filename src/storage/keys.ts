// Storage key layout. One engine holds several keyspaces, told apart by a leading tag
// byte, so each can be iterated alone by prefix:
//
//   object:        0x01 | u16 BE bucket byte length | bucket utf8 | key utf8
//   hint:          0x02 | (layout owned by hinted handoff)
//   metadata:      0x03 | name utf8
//   anti-entropy:  0x04 | (layout owned by anti-entropy)
//
// The bucket is length-prefixed rather than separator-terminated, so no bucket or key
// content can forge a different (bucket, key) pair. Consequence for ordering: objects sort
// by bucket byte length, then bucket bytes, then key bytes.

export const Keyspace = {
  Object: 0x01,
  Hint: 0x02,
  Metadata: 0x03,
  AntiEntropy: 0x04,
} as const;
export type Keyspace = (typeof Keyspace)[keyof typeof Keyspace];

/** u16 length prefix; names are far shorter in practice (the API caps them lower). */
export const MAX_BUCKET_BYTES = 0xffff;

export class MalformedKeyError extends Error {
  override readonly name = 'MalformedKeyError';
}

const utf8 = new TextEncoder();
// fatal: a key that is not valid UTF-8 is malformed, not silently replaced with U+FFFD.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// In unicode mode a surrogate pair is one code point, so this matches only lone halves.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * UTF-8 cannot carry a lone surrogate (TextEncoder would turn it into U+FFFD, so two
 * different names could share a storage key): refuse such names outright.
 */
function checkName(what: string, name: string): void {
  if (LONE_SURROGATE.test(name)) throw new TypeError(`${what} is not well-formed Unicode (lone surrogate)`);
}

/** The one-byte prefix of a whole keyspace. */
export function keyspacePrefix(space: Keyspace): Uint8Array {
  return Uint8Array.of(space);
}

/** Prefix of every object key in `bucket`. */
export function bucketPrefix(bucket: string): Uint8Array {
  return encodeObjectKey(bucket, '');
}

// One allocation, the strings encoded straight into it: every read and write builds a key,
// and three intermediate arrays (each its own ArrayBuffer) cost more than the rest of it.
export function encodeObjectKey(bucket: string, key: string): Uint8Array {
  checkName('bucket name', bucket);
  checkName('key', key);
  const bLen = Buffer.byteLength(bucket, 'utf8');
  if (bLen > MAX_BUCKET_BYTES) {
    throw new RangeError(`bucket name is ${bLen} bytes; at most ${MAX_BUCKET_BYTES} fit a storage key`);
  }
  const out = Buffer.allocUnsafe(3 + bLen + Buffer.byteLength(key, 'utf8'));
  out[0] = Keyspace.Object;
  out[1] = bLen >>> 8;
  out[2] = bLen & 0xff;
  out.write(bucket, 3, 'utf8');
  out.write(key, 3 + bLen, 'utf8');
  return out;
}

export function decodeObjectKey(bytes: Uint8Array): { bucket: string; key: string } {
  if (bytes.length < 3 || bytes[0] !== Keyspace.Object) {
    throw new MalformedKeyError(`not an object key (${describeKey(bytes)})`);
  }
  const len = ((bytes[1] as number) << 8) | (bytes[2] as number);
  if (3 + len > bytes.length) {
    throw new MalformedKeyError(`object key bucket length ${len} exceeds the key (${describeKey(bytes)})`);
  }
  try {
    return {
      bucket: strictUtf8.decode(bytes.subarray(3, 3 + len)),
      key: strictUtf8.decode(bytes.subarray(3 + len)),
    };
  } catch {
    throw new MalformedKeyError(`object key is not valid UTF-8 (${describeKey(bytes)})`);
  }
}

/** Metadata entries, e.g. `incarnation`. */
export function encodeMetaKey(name: string): Uint8Array {
  checkName('metadata name', name);
  const n = utf8.encode(name);
  const out = new Uint8Array(1 + n.length);
  out[0] = Keyspace.Metadata;
  out.set(n, 1);
  return out;
}

/** A readable form of any storage key for error messages: object keys as bucket/key. */
export function describeKey(bytes: Uint8Array): string {
  if (bytes[0] === Keyspace.Object && bytes.length >= 3) {
    const len = ((bytes[1] as number) << 8) | (bytes[2] as number);
    if (3 + len <= bytes.length) {
      const td = new TextDecoder();
      return `object ${JSON.stringify(td.decode(bytes.subarray(3, 3 + len)))}/${JSON.stringify(td.decode(bytes.subarray(3 + len)))}`;
    }
  }
  if (bytes[0] === Keyspace.Metadata) {
    return `metadata ${JSON.stringify(new TextDecoder().decode(bytes.subarray(1)))}`;
  }
  // Bounded so a huge key cannot flood a log line.
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 64)).toString('hex');
  return `key 0x${hex}${bytes.length > 64 ? '…' : ''}`;
}
