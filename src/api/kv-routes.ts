// KV routes: /buckets/:bucket/keys/:key. Bodies are raw bytes stored with their Content-Type;
// the causal context travels in X-Shoal-Context.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bucketProps, type BucketProps, type ShoalConfig } from '../config.ts';
import { ContextError, decodeContext, encodeContext } from '../core/context.ts';
import { readSlot, writeSlot } from '../core/hidden-slot.ts';
import { contextOf, isExpired, visibleSiblings, type CausalContext } from '../core/object.ts';
import type { Sibling, VersionedObject } from '../core/types.ts';
import { QuorumParamError, readQuorum, writeQuorum, type QuorumQuery } from '../replication/quorum.ts';
import type { ReplicaCount } from '../replication/service.ts';
import type { AppDeps } from './app.ts';
import { ApiError } from './errors.ts';

export const CONTEXT_HEADER = 'x-shoal-context';
export const REPLICAS_HEADER = 'x-shoal-replicas';
const BUCKET_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_TTL_SECONDS = 10 * 365 * 24 * 3600;
const TEXTUAL = /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded)|[^;]*\+(json|xml))/i;

interface KeyParams {
  bucket: string;
  key: string;
}

export interface Target {
  readonly bucket: string;
  readonly key: string;
  readonly props: BucketProps;
}

/** Validates :bucket and :key; shared with the CRDT routes. */
export function target(deps: { readonly config: ShoalConfig }, params: KeyParams, expect: 'kv' | 'crdt'): Target {
  const { bucket, key } = params;
  if (!BUCKET_RE.test(bucket)) {
    throw new ApiError('INVALID_KEY', 'bucket names are 1-64 characters of A-Z a-z 0-9 _ . -');
  }
  if (key.length === 0) throw new ApiError('INVALID_KEY', 'key must not be empty');
  const keyBytes = Buffer.byteLength(key, 'utf8');
  if (keyBytes > deps.config.limits.maxKeyBytes) {
    throw new ApiError('KEY_TOO_LARGE', `key is ${keyBytes} bytes; the limit is ${deps.config.limits.maxKeyBytes}`);
  }
  const props = bucketProps(deps.config, bucket);
  if (expect === 'kv' && props.type !== 'kv') {
    throw new ApiError(
      'WRONG_BUCKET_TYPE',
      `bucket "${bucket}" holds ${props.type} CRDTs: use /buckets/${bucket}/${props.type}s/:key, not /keys/`,
    );
  }
  return { bucket, key, props };
}

export function parseQuorum<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof QuorumParamError) throw new ApiError('INVALID_QUORUM', err.message);
    throw err;
  }
}

function parseContext(deps: AppDeps, req: FastifyRequest, t: Target): CausalContext | null {
  const raw = req.headers[CONTEXT_HEADER];
  if (raw === undefined || raw === '') return null;
  if (typeof raw !== 'string') throw new ApiError('INVALID_CONTEXT', 'send X-Shoal-Context once');
  try {
    return decodeContext(raw, t.bucket, t.key, deps.config.secret);
  } catch (err) {
    if (err instanceof ContextError) throw new ApiError('INVALID_CONTEXT', `X-Shoal-Context: ${err.message}`);
    throw err;
  }
}

function parseTtl(query: Record<string, unknown>, props: BucketProps): number | null {
  const raw = query['ttl'];
  if (raw === undefined) return props.ttlSeconds;
  if (typeof raw !== 'string' || !/^\d{1,10}$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_TTL_SECONDS) {
    throw new ApiError('BAD_REQUEST', `ttl must be a whole number of seconds between 1 and ${MAX_TTL_SECONDS}`);
  }
  return Number(raw);
}

function replicasHeader(reply: FastifyReply, count: ReplicaCount): void {
  void reply.header(REPLICAS_HEADER, `${count.answered}/${count.asked}`);
}

/**
 * The sealed context of an object, kept in a hidden slot on it (core/hidden-slot.ts).
 * Stored objects are immutable and the store's cache hands out the same instance until the
 * key changes, so a hot key's context (an HMAC) is computed once per version rather than once
 * per read.
 */
const SEALED_CONTEXT = Symbol('shoal.sealedContext');

interface SealedContext {
  readonly bucket: string;
  readonly key: string;
  readonly ctx: string;
}

export function contextHeader(deps: AppDeps, reply: FastifyReply, t: Target, obj: VersionedObject | undefined): string | undefined {
  if (obj === undefined) return undefined;
  let sealed = readSlot<SealedContext>(obj, SEALED_CONTEXT);
  if (sealed === undefined || sealed.bucket !== t.bucket || sealed.key !== t.key) {
    sealed = { bucket: t.bucket, key: t.key, ctx: encodeContext(contextOf(obj), t.bucket, t.key, deps.config.secret) };
    writeSlot(obj, SEALED_CONTEXT, sealed);
  }
  const ctx = sealed.ctx;
  void reply.header(CONTEXT_HEADER, ctx);
  return ctx;
}

/** The JSON shape of one sibling in a 300 Multiple Choices body. */
function siblingJson(s: Sibling): Record<string, unknown> {
  const textual = TEXTUAL.test(s.contentType);
  return {
    contentType: s.contentType,
    encoding: textual ? 'utf8' : 'base64',
    value: Buffer.from(s.value.buffer, s.value.byteOffset, s.value.byteLength).toString(textual ? 'utf8' : 'base64'),
    lastModified: new Date(s.ts.wall).toISOString(),
    expiresAt: s.expiresAt === null ? null : new Date(s.expiresAt).toISOString(),
  };
}

const NONE: readonly Sibling[] = [];

/** visibleSiblings, without a filter and new array in the common one-live-sibling case. */
function visibleOf(obj: VersionedObject, nowMs: number): readonly Sibling[] {
  const sibs = obj.siblings;
  if (sibs.length === 1) {
    const s = sibs[0]!;
    if (!s.tombstone && !isExpired(s, nowMs)) return sibs;
  }
  return visibleSiblings(obj, nowMs);
}

export async function registerKvRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  // Values are opaque bytes whatever their Content-Type, so this scope takes every body raw.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.get<{ Params: KeyParams; Querystring: QuorumQuery }>('/buckets/:bucket/keys/:key', async (req, reply) => {
    const t = target(deps, req.params, 'kv');
    const q = parseQuorum(() => readQuorum(t.props, req.query, deps.config.requestTimeoutMs));
    const res = await deps.kv.get(t.bucket, t.key, q);
    replicasHeader(reply, res);
    const ctx = contextHeader(deps, reply, t, res.obj);
    const visible = res.obj === undefined ? NONE : visibleOf(res.obj, deps.clock.now());
    const only = visible[0];
    if (only === undefined) {
      throw new ApiError('NOT_FOUND', `${t.bucket}/${t.key} not found`);
    }
    if (visible.length === 1) {
      void reply.header('last-modified', new Date(only.ts.wall).toUTCString());
      return reply.code(200).type(only.contentType).send(Buffer.from(only.value.buffer, only.value.byteOffset, only.value.byteLength));
    }
    deps.metrics.countSiblingRead(visible.length);
    return reply.code(300).type('application/json').send({ siblings: visible.map(siblingJson), context: ctx });
  });

  const write = async (req: FastifyRequest<{ Params: KeyParams; Querystring: QuorumQuery }>, reply: FastifyReply, tombstone: boolean) => {
    const t = target(deps, req.params, 'kv');
    const q = parseQuorum(() => writeQuorum(t.props, req.query, deps.config.requestTimeoutMs));
    const context = parseContext(deps, req, t);
    const ttlSeconds = tombstone ? null : parseTtl(req.query as Record<string, unknown>, t.props);
    const body = req.body;
    const value = tombstone || body === undefined || body === null ? new Uint8Array(0) : (body as Buffer);
    const contentType = tombstone ? 'application/octet-stream' : (req.headers['content-type'] ?? 'application/octet-stream');
    if (contentType.length > 256) throw new ApiError('BAD_REQUEST', 'Content-Type is longer than 256 characters');
    const res = await deps.kv.put(t.bucket, t.key, { value, contentType, tombstone, ttlSeconds, context }, q);
    replicasHeader(reply, res);
    contextHeader(deps, reply, t, res.obj);
    return reply.code(204).send();
  };

  app.put<{ Params: KeyParams; Querystring: QuorumQuery }>('/buckets/:bucket/keys/:key', (req, reply) => write(req, reply, false));
  app.post<{ Params: KeyParams; Querystring: QuorumQuery }>('/buckets/:bucket/keys/:key', (req, reply) => write(req, reply, false));
  app.delete<{ Params: KeyParams; Querystring: QuorumQuery }>('/buckets/:bucket/keys/:key', (req, reply) => write(req, reply, true));
}
