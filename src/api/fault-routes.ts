// Fault injection for the chaos checker (test/chaos): partitions through the transport's
// link filter. Registered by node.ts only when the node runs with SHOAL_FAULTS=1, so a
// production node never exposes it.
//   POST /admin/faults { "drop": ["n2", "n3"] }   drop every data frame to and from those peers
//   POST /admin/faults { "drop": [] }             heal
//   GET  /admin/faults                            the current drop list
import type { FastifyInstance } from 'fastify';
import type { LinkFilter } from '../net/ws-transport.ts';
import { ApiError } from './errors.ts';

export interface FaultDeps {
  /** The transport's fault hook (WsTransport.setLinkFilter). */
  readonly setLinkFilter: (fn: LinkFilter | null) => void;
}

const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** Bounded like the member table: a fault list is never larger than the cluster. */
const MAX_DROP = 1024;

export async function registerFaultRoutes(app: FastifyInstance, deps: FaultDeps): Promise<void> {
  let dropped: string[] = [];
  app.get('/admin/faults', async () => ({ drop: dropped }));
  app.post<{ Body: unknown }>('/admin/faults', async (req) => {
    const body = req.body as { drop?: unknown } | null | undefined;
    const drop = body?.drop;
    if (!Array.isArray(drop) || drop.length > MAX_DROP || !drop.every((d) => typeof d === 'string' && ID_RE.test(d))) {
      throw new ApiError('BAD_REQUEST', 'body must be { "drop": [node ids] }');
    }
    dropped = [...new Set(drop as string[])];
    const set = new Set(dropped);
    deps.setLinkFilter(set.size === 0 ? null : (peer) => (set.has(peer) ? 'drop' : 'pass'));
    return { drop: dropped };
  });
}
