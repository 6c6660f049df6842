// HMAC-SHA256 (RFC 2104) from two one-shot digests over precomputed key pads. The
// streaming createHmac builds a native Hmac object per call; a context is sealed on every
// write's response, so that object was a visible share of a write's CPU. Same bytes out.
import { hash as oneShotHash } from 'node:crypto';

const BLOCK = 64;

interface Pads {
  readonly inner: Buffer;
  readonly outer: Buffer;
}

// Secrets are few (one per cluster, one per test); a bounded map keeps a misuse harmless.
const padsBySecret = new Map<string, Pads>();
const MAX_SECRETS = 64;

function padsOf(secret: string): Pads {
  let pads = padsBySecret.get(secret);
  if (pads !== undefined) return pads;
  let key = Buffer.from(secret, 'utf8');
  if (key.length > BLOCK) key = oneShotHash('sha256', key, 'buffer');
  const inner = Buffer.alloc(BLOCK, 0x36);
  const outer = Buffer.alloc(BLOCK, 0x5c);
  for (let i = 0; i < key.length; i++) {
    inner[i] = (inner[i] as number) ^ (key[i] as number);
    outer[i] = (outer[i] as number) ^ (key[i] as number);
  }
  if (padsBySecret.size >= MAX_SECRETS) padsBySecret.clear();
  pads = { inner, outer };
  padsBySecret.set(secret, pads);
  return pads;
}

/**
 * HMAC-SHA256 of the concatenation of `parts` under `secret`, each part prefixed with its
 * 4-byte big-endian length (so no two part lists share an input).
 */
export function hmacSha256OfParts(secret: string, parts: readonly Uint8Array[]): Buffer {
  const pads = padsOf(secret);
  let size = BLOCK;
  for (const p of parts) size += 4 + p.length;
  const msg = Buffer.allocUnsafe(size);
  pads.inner.copy(msg, 0);
  let at = BLOCK;
  for (const p of parts) {
    msg.writeUInt32BE(p.length, at);
    msg.set(p, at + 4);
    at += 4 + p.length;
  }
  const inner = oneShotHash('sha256', msg, 'buffer');
  const outer = Buffer.allocUnsafe(BLOCK + inner.length);
  pads.outer.copy(outer, 0);
  outer.set(inner, BLOCK);
  return oneShotHash('sha256', outer, 'buffer');
}
