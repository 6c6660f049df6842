// Byte helpers shared by the engines and the key layout. Keys sort bytewise (memcmp order).

/** memcmp order: negative if a < b, 0 if equal, positive if a > b. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    if (bytes[i] !== prefix[i]) return false;
  }
  return true;
}

/**
 * The smallest key greater than every key starting with `prefix`, or undefined when there
 * is none (empty prefix, or only 0xff bytes): trailing 0xff bytes are dropped, then the
 * last byte is incremented.
 */
export function prefixUpperBound(prefix: Uint8Array): Uint8Array | undefined {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  const out = new Uint8Array(prefix.subarray(0, end)); // a copy even when prefix is a Buffer
  out[end - 1] = (out[end - 1] as number) + 1;
  return out;
}

/** The larger of two keys in memcmp order. */
export function maxBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  return compareBytes(a, b) >= 0 ? a : b;
}

/** Rejects what neither engine can store: RocksDB (via abstract-leveldown) refuses empty keys. */
export function assertKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array)) throw new TypeError('storage key must be a Uint8Array');
  if (key.length === 0) throw new TypeError('storage key must not be empty');
}

export function assertValue(value: Uint8Array): void {
  if (!(value instanceof Uint8Array)) throw new TypeError('storage value must be a Uint8Array');
}

export function assertLimit(limit: number | undefined): void {
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new RangeError(`iterate limit must be a non-negative integer, got ${String(limit)}`);
  }
}

/**
 * A copy that owns its memory. `Buffer#slice` returns a view, not a copy, so `.slice()` on
 * a Buffer handed in by a caller would alias (and let later writes to it leak in).
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}
