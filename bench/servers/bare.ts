// The HTTP ceiling: fastify answering Shoal's key route with a constant value of the
// bucket's size (bucket "b100" → 100 bytes), and taking writes with 204. Nothing answers
// HTTP faster on this machine with the same framework and route shape.
import Fastify from 'fastify';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' } } });
const app = Fastify({ logger: false });
const constants = new Map<string, Buffer>();
function constant(bucket: string): Buffer {
  let b = constants.get(bucket);
  if (b === undefined) {
    const size = Math.min(1024 * 1024, Number(bucket.replace(/\D/g, '')) || 100);
    b = Buffer.alloc(size, 120);
    constants.set(bucket, b);
  }
  return b;
}
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
app.get<{ Params: { bucket: string; key: string } }>('/buckets/:bucket/keys/:key', (req, reply) => {
  void reply.code(200).type('application/octet-stream').send(constant(req.params.bucket));
});
app.put('/buckets/:bucket/keys/:key', (_req, reply) => {
  void reply.code(204).send();
});
app.get('/health', async () => ({ status: 'ok' }));
await app.listen({ host: '127.0.0.1', port: Number(values.port) });
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
process.on('SIGINT', () => void app.close().then(() => process.exit(0)));
