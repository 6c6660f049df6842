// Client subcommands of the `shoal` CLI, over the client library.
import { parseArgs } from 'node:util';
import { ShoalClient, type Quorum } from './client.ts';

export const CLIENT_USAGE = `  shoal get BUCKET KEY [--url URL] [--r Q]            print the value (siblings as JSON)
  shoal put BUCKET KEY VALUE [--url URL] [--w Q] [--context CTX] [--ttl S] [--type MIME]
  shoal delete BUCKET KEY [--url URL] [--context CTX]
  shoal members [--url URL]                          the cluster as this node sees it
URL defaults to $SHOAL_URL or http://127.0.0.1:8101; Q is one, quorum, all or a number.`;

function quorum(v: string | undefined): Quorum | undefined {
  if (v === undefined) return undefined;
  return /^\d+$/.test(v) ? Number(v) : (v as Quorum);
}

export async function runClientCommand(command: string, args: string[]): Promise<boolean> {
  if (!['get', 'put', 'delete', 'members'].includes(command)) return false;
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      r: { type: 'string' },
      w: { type: 'string' },
      context: { type: 'string' },
      ttl: { type: 'string' },
      type: { type: 'string' },
    },
  });
  const client = new ShoalClient(values.url ?? process.env['SHOAL_URL'] ?? 'http://127.0.0.1:8101');
  const [bucket, key, value] = positionals;
  if (command === 'members') {
    process.stdout.write(JSON.stringify(await client.json('/cluster/members'), null, 2) + '\n');
    return true;
  }
  if (bucket === undefined || key === undefined) throw new Error(`${command} needs BUCKET and KEY`);
  if (command === 'get') {
    const res = await client.get(bucket, key, { r: quorum(values.r) });
    if (!res.found) {
      process.stderr.write('not found\n');
      process.exitCode = 1;
    } else if (res.siblings.length === 1) {
      process.stdout.write(Buffer.from(res.siblings[0]!.value).toString() + '\n');
      process.stderr.write(`context: ${res.context}\n`);
    } else {
      const out = res.siblings.map((s) => ({ contentType: s.contentType, value: Buffer.from(s.value).toString() }));
      process.stdout.write(JSON.stringify({ siblings: out, context: res.context }, null, 2) + '\n');
    }
  } else if (command === 'put') {
    if (value === undefined) throw new Error('put needs VALUE');
    const ctx = await client.put(bucket, key, value, {
      w: quorum(values.w),
      context: values.context,
      ttlSeconds: values.ttl === undefined ? undefined : Number(values.ttl),
      contentType: values.type,
    });
    process.stderr.write(`stored; context: ${ctx}\n`);
  } else {
    await client.delete(bucket, key, { w: quorum(values.w), context: values.context });
    process.stderr.write('deleted\n');
  }
  return true;
}
