// The opaque causal context a read hands to a client, and the sealed-token format under it.
//
// A token is base64url(payload ‖ mac), mac = first 16 bytes of HMAC-SHA256 over a domain
// tag, the payload and a scope (e.g. bucket and key), each length-prefixed so no two
// (payload, scope) pairs share an input. A context replayed against another key, another
// cluster secret, or edited by hand fails the MAC. Riak used unsigned contexts; signing
// stops a client from forging a clock that silently supersedes writes it never saw.
//
// node:crypto HMAC is pure computation (no I/O, no time), so it is allowed in core/.

import { timingSafeEqual } from 'node:crypto';
import { hmacSha256OfParts } from './hmac.ts';
import { flattenClock, packr, unflattenClock, validateHlc } from './codec.ts';
import type { CausalContext } from './object.ts';

export class ContextError extends Error {
  override readonly name = 'ContextError';
}

/** 128-bit tag: forging needs ~2^128 tries; keeps headers short. */
const MAC_BYTES = 16;
const DOMAIN = 'shoal-token-v1';
/** Far above a 1024-actor clock (~100 KB of base64); stops us decoding anything huge. */
export const MAX_TOKEN_CHARS = 200_000;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

const CONTEXT_FORMAT_VERSION = 1;
/** Distinguishes KV contexts from other token kinds (e.g. CRDT set contexts) under one secret. */
const CONTEXT_SCOPE_TAG = 'kv-context';

const DOMAIN_BYTES = Buffer.from(DOMAIN, 'utf8');

function mac(payload: Uint8Array, scope: readonly string[], secret: string): Buffer {
  const parts: Uint8Array[] = [DOMAIN_BYTES, payload];
  for (const s of scope) parts.push(Buffer.from(s, 'utf8'));
  return hmacSha256OfParts(secret, parts).subarray(0, MAC_BYTES);
}

/** Seals bytes so that only `openToken` with the same scope and secret accepts them. */
export function sealToken(payload: Uint8Array, scope: readonly string[], secret: string): string {
  return Buffer.concat([payload, mac(payload, scope, secret)]).toString('base64url');
}

/** The sealed payload, or ContextError if the text is malformed, altered or for another scope. */
export function openToken(text: string, scope: readonly string[], secret: string): Uint8Array {
  if (typeof text !== 'string' || text.length === 0) throw new ContextError('context is empty');
  if (text.length > MAX_TOKEN_CHARS) throw new ContextError('context is too long');
  if (!BASE64URL.test(text)) throw new ContextError('context is not valid base64url');
  const bytes = Buffer.from(text, 'base64url');
  // Node ignores stray trailing bits; insist on the canonical spelling so every edited
  // character is caught, not only those that change the decoded bytes.
  if (bytes.toString('base64url') !== text) throw new ContextError('context is not valid base64url');
  if (bytes.length < MAC_BYTES) throw new ContextError('context is truncated');
  const payload = bytes.subarray(0, bytes.length - MAC_BYTES);
  const tag = bytes.subarray(bytes.length - MAC_BYTES);
  if (!timingSafeEqual(tag, mac(payload, scope, secret))) {
    throw new ContextError('context was altered or belongs to another key');
  }
  return payload;
}

export function encodeContext(ctx: CausalContext, bucket: string, key: string, secret: string): string {
  const payload = packr.pack([CONTEXT_FORMAT_VERSION, flattenClock(ctx.clock), ctx.maxTs.wall, ctx.maxTs.logical]);
  return sealToken(payload, [CONTEXT_SCOPE_TAG, bucket, key], secret);
}

export function decodeContext(text: string, bucket: string, key: string, secret: string): CausalContext {
  const payload = openToken(text, [CONTEXT_SCOPE_TAG, bucket, key], secret);
  // Authentic from here on, but still checked: a node on an older or newer format may
  // share the secret, and a bad shape must be a ContextError, never a crash.
  let raw: unknown;
  try {
    raw = packr.unpack(payload);
  } catch {
    throw new ContextError('context payload is not readable');
  }
  if (!Array.isArray(raw) || raw.length !== 4) throw new ContextError('context payload has the wrong shape');
  const [version, clock, wall, logical] = raw as unknown[];
  if (version !== CONTEXT_FORMAT_VERSION) throw new ContextError(`context format ${String(version)} is not supported`);
  try {
    return { clock: unflattenClock(clock), maxTs: validateHlc({ wall, logical }) };
  } catch (err) {
    throw new ContextError(`context payload is invalid: ${(err as Error).message}`);
  }
}
