// Operator routes: this node's own copy of a key, cluster views, metrics.
import type { FastifyInstance } from 'fastify';
import type { VersionedObject } from '../core/types.ts';
import type { AppDeps } from './app.ts';
import { ApiError } from './errors.ts';
import { target } from './kv-routes.ts';

/** Read-only views the cluster layer provides to the API. */
export interface ClusterInfo {
  members(): readonly object[];
  ring(): object;
  /** Anti-entropy and other per-subsystem status pages, by name. */
  status?(name: string): object | undefined;
}

/** The stored object as JSON, every field visible: for debugging and for checkers. */
export function objectJson(obj: VersionedObject, nowMs: number): object {
  return {
    clock: obj.clock,
    siblings: obj.siblings.map((s) => ({
      dot: { actor: s.dot[0], counter: s.dot[1] },
      contentType: s.contentType,
      tombstone: s.tombstone,
      expired: s.expiresAt !== null && s.expiresAt <= nowMs,
      expiresAt: s.expiresAt === null ? null : new Date(s.expiresAt).toISOString(),
      ts: s.ts,
      valueBase64: Buffer.from(s.value.buffer, s.value.byteOffset, s.value.byteLength).toString('base64'),
    })),
  };
}

export async function registerAdminRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.get<{ Params: { bucket: string; key: string } }>('/admin/local/buckets/:bucket/keys/:key', async (req) => {
    const t = target(deps, req.params, 'crdt');
    if (t.props.type !== 'kv' && deps.kv.localCrdtValue) {
      const crdt = await deps.kv.localCrdtValue(t.bucket, t.key);
      if (crdt === undefined) throw new ApiError('NOT_FOUND', `node ${deps.nodeId} holds nothing for ${t.bucket}/${t.key}`);
      return { node: deps.nodeId, bucket: t.bucket, key: t.key, crdt };
    }
    const obj = await deps.kv.localObject(t.bucket, t.key);
    if (obj === undefined) throw new ApiError('NOT_FOUND', `node ${deps.nodeId} holds nothing for ${t.bucket}/${t.key}`);
    return { node: deps.nodeId, bucket: t.bucket, key: t.key, object: objectJson(obj, deps.clock.now()) };
  });

  app.get('/cluster/members', async () => ({
    node: deps.nodeId,
    members: deps.cluster?.members() ?? [{ id: deps.nodeId, status: 'up' }],
  }));

  app.get('/cluster/ring', async () => deps.cluster?.ring() ?? { node: deps.nodeId, partitions: [] });

  app.get<{ Params: { name: string } }>('/cluster/:name', async (req) => {
    const page = deps.cluster?.status?.(req.params.name);
    if (page === undefined) throw new ApiError('NOT_FOUND', `no cluster status page "${req.params.name}"`);
    return page;
  });

  app.get('/metrics', async (_req, reply) => {
    const text = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(text);
  });
}
