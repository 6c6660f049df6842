// npm run chaos -- [--minutes M] [--nodes 3|5] [--seed S] [--clients-per-node C]
// Exits 1 on any violation, printing the seed that replays the schedule.
import { parseArgs } from 'node:util';
import { runChaos } from './chaos.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '2' },
    nodes: { type: 'string', default: '3' },
    seed: { type: 'string' },
    'clients-per-node': { type: 'string', default: '2' },
  },
});
const minutes = Number(values.minutes);
const nodes = Number(values.nodes);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!(minutes > 0) || !Number.isInteger(nodes) || nodes < 3 || nodes > 9 || !Number.isSafeInteger(seed)) {
  process.stderr.write('usage: npm run chaos -- [--minutes M] [--nodes 3..9] [--seed S] [--clients-per-node C]\n');
  process.exit(2);
}
try {
  const res = await runChaos({ durationMs: minutes * 60_000, nodes, seed, clientsPerNode: Number(values['clients-per-node']) });
  process.stdout.write(res.summary + '\n');
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\nseed=${seed}\n`);
  process.exit(1);
}
