// CRDT routes: /buckets/:bucket/{counters,sets,registers,flags,maps}/:key. JSON in, JSON out.
// Types whose removes need to know what the client saw (sets, flags, maps) hand out a sealed
// context on read and take it back on update, as KV does with X-Shoal-Context.
import type { FastifyInstance } from 'fastify';
import { packr, validateVersionVector } from '../core/codec.ts';
import { ContextError, openToken, sealToken } from '../core/context.ts';
import type { AnyCrdtType } from '../core/crdt/index.ts';
import type { Clock } from '../core/time.ts';
import type { VersionVector } from '../core/types.ts';
import type { ShoalConfig } from '../config.ts';
import { CrdtRejectedError, type CrdtReadResult, type CrdtWriteResult } from '../replication/coordinator.ts';
import { readQuorum, writeQuorum, type QuorumQuery, type ReadQuorum, type WriteQuorum } from '../replication/quorum.ts';
import { ApiError } from './errors.ts';
import { parseQuorum, REPLICAS_HEADER, target } from './kv-routes.ts';

export interface CrdtService {
  crdtGet(bucket: string, key: string, q: ReadQuorum): Promise<CrdtReadResult>;
  crdtUpdate(bucket: string, key: string, op: unknown, ctx: VersionVector | null, q: WriteQuorum): Promise<CrdtWriteResult>;
}

export interface CrdtRouteDeps {
  readonly config: ShoalConfig;
  readonly nodeId: string;
  readonly crdt: CrdtService;
  readonly clock: Clock;
}

const PATHS = { counters: 'counter', sets: 'set', registers: 'register', flags: 'flag', maps: 'map' } as const;
type PathName = keyof typeof PATHS;

function scope(bucket: string, key: string): string[] {
  return ['crdt-context', bucket, key];
}

function sealContext(deps: CrdtRouteDeps, type: AnyCrdtType, state: unknown, bucket: string, key: string): string | undefined {
  if (type.contextOf === undefined) return undefined;
  return sealToken(packr.pack(type.contextOf(state)), scope(bucket, key), deps.config.secret);
}

function openContext(deps: CrdtRouteDeps, raw: unknown, bucket: string, key: string): VersionVector | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'string') throw new ApiError('INVALID_CONTEXT', 'context must be the string a read returned');
  try {
    return validateVersionVector(packr.unpack(openToken(raw, scope(bucket, key), deps.config.secret)));
  } catch (err) {
    const why = err instanceof ContextError ? err.message : 'it does not decode';
    throw new ApiError('INVALID_CONTEXT', `context: ${why}`);
  }
}

export async function registerCrdtRoutes(app: FastifyInstance, deps: CrdtRouteDeps): Promise<void> {
  const targetFor = (params: { bucket: string; key: string }, path: PathName) => {
    const t = target(deps, params, 'crdt');
    const expected = PATHS[path];
    if (t.props.type !== expected) {
      const hint = t.props.type === 'kv' ? `/buckets/${t.bucket}/keys/:key` : `/buckets/${t.bucket}/${t.props.type}s/:key`;
      throw new ApiError('WRONG_BUCKET_TYPE', `bucket "${t.bucket}" holds ${t.props.type === 'kv' ? 'kv objects' : `${t.props.type} CRDTs`}, not ${expected}s: use ${hint}`);
    }
    return t;
  };

  for (const path of Object.keys(PATHS) as PathName[]) {
    app.get<{ Params: { bucket: string; key: string }; Querystring: QuorumQuery }>(`/buckets/:bucket/${path}/:key`, async (req, reply) => {
      const t = targetFor(req.params, path);
      const q = parseQuorum(() => readQuorum(t.props, req.query, deps.config.requestTimeoutMs));
      const res = await deps.crdt.crdtGet(t.bucket, t.key, q);
      void reply.header(REPLICAS_HEADER, `${res.answered}/${res.asked}`);
      if (res.state === undefined) throw new ApiError('NOT_FOUND', `${t.bucket}/${t.key} not found`);
      const context = sealContext(deps, res.type, res.state, t.bucket, t.key);
      return context === undefined ? { value: res.type.value(res.state) } : { value: res.type.value(res.state), context };
    });

    app.post<{ Params: { bucket: string; key: string }; Querystring: QuorumQuery & { returnvalue?: string } }>(
      `/buckets/:bucket/${path}/:key`,
      async (req, reply) => {
        const t = targetFor(req.params, path);
        const q = parseQuorum(() => writeQuorum(t.props, req.query, deps.config.requestTimeoutMs));
        const body = req.body;
        if (typeof body !== 'object' || body === null || Array.isArray(body)) {
          throw new ApiError('BAD_OPERATION', `send a JSON object describing the ${PATHS[path]} operation`);
        }
        const { context, ...op } = body as Record<string, unknown>;
        const ctx = openContext(deps, context, t.bucket, t.key);
        try {
          const res = await deps.crdt.crdtUpdate(t.bucket, t.key, op, ctx, q);
          void reply.header(REPLICAS_HEADER, `${res.answered}/${res.asked}`);
          if (req.query.returnvalue !== 'true') return reply.code(204).send();
          const newContext = sealContext(deps, res.type, res.state, t.bucket, t.key);
          const value = res.type.value(res.state);
          return newContext === undefined ? { value } : { value, context: newContext };
        } catch (err) {
          if (err instanceof CrdtRejectedError) {
            throw new ApiError(err.code === 'PRECONDITION' ? 'PRECONDITION_FAILED' : 'BAD_OPERATION', err.message);
          }
          throw err;
        }
      },
    );
  }
}
