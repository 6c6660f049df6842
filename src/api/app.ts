// The HTTP API (fastify). Built without listening, so tests drive it with inject() and the
// node composition root decides where it listens.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ShoalConfig } from '../config.ts';
import type { KvService } from '../replication/service.ts';
import { QuorumError } from '../replication/service.ts';
import { TooManySiblingsError } from '../replication/coordinator.ts';
import type { Clock } from '../core/time.ts';
import { ApiError } from './errors.ts';
import { registerKvRoutes } from './kv-routes.ts';
import { registerAdminRoutes, type ClusterInfo } from './admin-routes.ts';
import type { Metrics } from './metrics.ts';
import { registerSecurity, serverFactory } from './security.ts';
import type { Logger } from '../runtime/logger.ts';

export interface AppDeps {
  readonly config: ShoalConfig;
  readonly nodeId: string;
  readonly kv: KvService;
  readonly clock: Clock;
  readonly metrics: Metrics;
  /** Membership and ring views; absent on a node built without a cluster. */
  readonly cluster?: ClusterInfo;
  /** Routes added by later layers (CRDT buckets) in their own encapsulated scope. */
  readonly plugins?: readonly ((app: FastifyInstance) => Promise<void>)[];
  readonly logger?: boolean | Logger;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger === undefined ? false : (deps.logger as never),
    // Keys can be up to limits.maxKeyBytes, percent-encoded up to 3 bytes per byte; the
    // key route checks the decoded size itself and answers 413, so allow the raw length.
    routerOptions: { maxParamLength: deps.config.limits.maxKeyBytes * 3 + 64 },
    bodyLimit: deps.config.limits.maxValueBytes,
    return503OnClosing: true,
    serverFactory: serverFactory(deps.config),
  });

  app.setErrorHandler((err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) => {
    const apiErr = toApiError(err);
    if (apiErr.status >= 500) req.log.error({ err }, 'request failed');
    deps.metrics.countError(apiErr.code);
    void reply.code(apiErr.status).type('application/json').send(apiErr.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new ApiError('NOT_FOUND', `no route for ${req.method} ${req.url.slice(0, 200)}`);
    void reply.code(404).send(e.toJSON());
  });

  // Callback style: an async hook costs a promise and its await per request.
  app.addHook('onResponse', (req, reply, done) => {
    deps.metrics.observeRequest(req.routeOptions.url ?? 'unknown', req.method, reply.statusCode, reply.elapsedTime);
    done();
  });

  await registerSecurity(app, deps.config);
  app.get('/health', async () => ({ status: 'ok', node: deps.nodeId }));

  await app.register(async (scope) => registerKvRoutes(scope, deps));
  await app.register(async (scope) => registerAdminRoutes(scope, deps));
  for (const plugin of deps.plugins ?? []) await app.register(plugin);
  return app;
}

/** Maps anything thrown below the API onto the error registry. Client mistakes are 4xx. */
function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof QuorumError) {
    return new ApiError(err.reason === 'timeout' ? 'TIMEOUT' : 'QUORUM_UNAVAILABLE', err.message, {
      needed: err.needed,
      answered: err.answered,
      asked: err.asked,
    });
  }
  if (err instanceof TooManySiblingsError) return new ApiError('TOO_MANY_SIBLINGS', err.message);
  const e = err as Partial<FastifyError> & Error;
  if (e.name === 'CorruptRecordError') {
    return new ApiError('STORAGE_UNAVAILABLE', `this key's stored record cannot be read: ${e.message}`);
  }
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status === 413) return new ApiError('VALUE_TOO_LARGE', e.message);
  if (status === 415) return new ApiError('UNSUPPORTED_MEDIA_TYPE', e.message);
  if (status === 429) return new ApiError('RATE_LIMITED', e.message);
  if (status === 401) return new ApiError('UNAUTHORIZED', e.message);
  if (status === 503) return new ApiError('STORAGE_UNAVAILABLE', e.message);
  if (status >= 400 && status < 500) return new ApiError('BAD_REQUEST', e.message);
  return new ApiError('INTERNAL', 'internal error (logged on the node)');
}
