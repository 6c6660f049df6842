// md5 digests for the ring's key hash and anti-entropy's element hash: short inputs, on
// every request and every stored write. node:crypto's one-shot digest costs ~1.3 µs per
// call however short the input, nearly all of it crossing into C++; hash-wasm's hasher does
// a key in ~0.3 µs and a small record in ~0.6 µs. Past a few KiB OpenSSL is faster per byte,
// so long inputs go there. Both are md5: the same digest whichever path computes it, so
// placement and what replicas compare do not change.
import { hash as oneShotHash } from 'node:crypto';
import { createMD5 } from 'hash-wasm';

/** Inputs longer than this go to OpenSSL (1 MiB: 1.4 ms there against 1.8 ms in WASM). */
const WASM_MAX_BYTES = 4096;

// Instantiating the WASM module is asynchronous, once per process (or worker), at import.
const hasher = await createMD5();

/** The 16-byte md5 digest of `data`. */
export function md5(data: Uint8Array): Uint8Array {
  if (data.length > WASM_MAX_BYTES) return oneShotHash('md5', data, 'buffer');
  // Synchronous from init to digest, so one hasher serves every caller in this thread.
  hasher.init();
  hasher.update(data);
  return hasher.digest('binary');
}

let input = Buffer.allocUnsafe(1024);

/**
 * A reused buffer of at least `size` bytes to lay an md5 input out in, so a hash per request
 * allocates nothing. Valid until the next call: fill it and hash it synchronously.
 */
export function md5Input(size: number): Buffer {
  if (input.length < size) input = Buffer.allocUnsafe(Math.max(size, 2 * input.length));
  return input;
}

/** The signed 32-bit big-endian integer at `at` in a digest. */
export function int32BE(d: Uint8Array, at: number): number {
  return ((d[at] as number) << 24) | ((d[at + 1] as number) << 16) | ((d[at + 2] as number) << 8) | (d[at + 3] as number);
}
