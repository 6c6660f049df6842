// The single-node storage ceiling through HTTP: fastify + Shoal's RocksDB engine in one
// process, GET and PUT by key, no versions, no replication.
import Fastify from 'fastify';
import { parseArgs } from 'node:util';
import { openRocksEngine } from '../../src/storage/rocksdb.ts';

const { values } = parseArgs({ options: { port: { type: 'string' }, dir: { type: 'string' } } });
const engine = await openRocksEngine(values.dir!, { sync: false });
const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
type P = { Params: { bucket: string; key: string } };
const keyOf = (p: P['Params']) => Buffer.from(`${p.bucket}/${p.key}`);
app.get<P>('/buckets/:bucket/keys/:key', async (req, reply) => {
  const v = await engine.get(keyOf(req.params));
  if (v === undefined) return reply.code(404).send();
  return reply.code(200).type('application/octet-stream').send(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
});
app.put<P>('/buckets/:bucket/keys/:key', async (req, reply) => {
  await engine.put(keyOf(req.params), req.body as Buffer);
  return reply.code(204).send();
});
app.get('/health', async () => ({ status: 'ok' }));
await app.listen({ host: '127.0.0.1', port: Number(values.port) });
const stop = () => void app.close().then(() => engine.close()).then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
