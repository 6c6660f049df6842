// The `shoal` command. Server commands start nodes; client commands talk HTTP to a node.
//   shoal start --node ID [--config FILE]    one node, in this process
//   shoal cluster [--config FILE]            every node of the config, one process each
//   shoal leave --node ID [--config FILE]    ask a running node to leave and exit
//   shoal get|put|delete BUCKET KEY [VALUE]  client commands (see `shoal help`)
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, nodeSpec } from './config.ts';
import { ShoalNode } from './node.ts';
import { consoleLogger } from './runtime/logger.ts';
import { offsetClock, realClock } from './runtime/clock.ts';
import { keepHelperThreadsLow } from './runtime/thread-priority.ts';
import { NODE_FLAGS, missingNodeFlags } from './runtime/node-flags.ts';
import { runClientCommand, CLIENT_USAGE } from './client/cli-commands.ts';

const USAGE = `usage:
  shoal start --node ID [--config FILE]   run one node of the config
  shoal cluster [--config FILE]           run every node of the config on this host
  shoal leave --node ID [--config FILE]   make a running node leave the cluster and exit
${CLIENT_USAGE}
FILE defaults to ./cluster.config.json.`;

const DEFAULT_CONFIG = 'cluster.config.json';

async function startOne(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { node: { type: 'string' }, config: { type: 'string' } } });
  if (!values.node) throw new ConfigError('--node ID is required');
  const config = loadConfig(values.config ?? DEFAULT_CONFIG);
  const log = consoleLogger((process.env['SHOAL_LOG'] as 'debug' | 'info' | 'warn' | undefined) ?? 'info', { node: values.node });
  // Test hooks for the chaos checker (test/chaos): fault routes and a skewed clock.
  const skewRaw = process.env['SHOAL_CLOCK_SKEW_MS'];
  const skewMs = skewRaw === undefined || skewRaw === '' ? 0 : Number(skewRaw);
  if (!Number.isSafeInteger(skewMs)) throw new ConfigError(`SHOAL_CLOCK_SKEW_MS must be an integer, got "${skewRaw}"`);
  const node = await ShoalNode.create({
    config,
    nodeId: values.node,
    log,
    processMetrics: true,
    faults: process.env['SHOAL_FAULTS'] === '1',
    ...(skewMs !== 0 && { clock: offsetClock(realClock, skewMs) }),
  });
  if (skewMs !== 0) log.warn({ skewMs }, 'clock skewed on purpose (SHOAL_CLOCK_SKEW_MS)');
  const missing = missingNodeFlags();
  if (missing.length > 0) {
    log.warn(
      { missing },
      `node started without ${missing.join(' ')}: after an idle spell, load runs up to 2x slower until the heap grows back; ` +
        `run the shoal bin (its shebang sets them) or node ${NODE_FLAGS.join(' ')} bin/shoal.js start`,
    );
  }
  await node.start();
  // This process runs exactly one node, so its threads are the node's to prioritise.
  const helpers = keepHelperThreadsLow(config.runtime.helperThreadNice);
  log.debug({ nice: config.runtime.helperThreadNice, lowered: helpers.lowered }, 'helper threads lowered');
  process.stdout.write(`shoal node ${values.node} serving HTTP at ${node.httpUrl()}\n`);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: announcing leave');
    helpers.stop();
    node
      .stop({ leave: true })
      .then(() => process.exit(0))
      .catch((err) => {
        log.error({ err: String(err) }, 'stop failed');
        process.exit(1);
      });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  node.onLeaveRequest(() => shutdown('leave request'));
}

async function runCluster(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' } } });
  const configPath = values.config ?? DEFAULT_CONFIG;
  const config = loadConfig(configPath);
  const bin = fileURLToPath(new URL('../bin/shoal.js', import.meta.url));
  const children = new Map<string, ChildProcess>();
  let stopping = false;
  for (const n of config.nodes) {
    const child = spawn(process.execPath, [...NODE_FLAGS, bin, 'start', '--node', n.id, '--config', configPath], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, SHOAL_LOG: process.env['SHOAL_LOG'] ?? 'warn' },
    });
    children.set(n.id, child);
    child.on('exit', (code, signal) => {
      children.delete(n.id);
      if (!stopping) process.stderr.write(`node ${n.id} exited (code ${code}, signal ${signal})\n`);
      if (children.size === 0) process.exit(stopping ? 0 : 1);
    });
  }
  process.stdout.write(
    `shoal cluster "${config.clusterName}": ${config.nodes.length} nodes\n` +
      config.nodes.map((n) => `  ${n.id}  http://${n.host}:${n.httpPort}`).join('\n') +
      `\nCtrl-C stops them all.\n`,
  );
  const stopAll = () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('stopping cluster...\n');
    for (const c of children.values()) c.kill('SIGTERM');
    // Bounded: anything still running after 10 s is killed.
    setTimeout(() => {
      for (const c of children.values()) c.kill('SIGKILL');
    }, 10_000).unref();
  };
  process.on('SIGINT', stopAll);
  process.on('SIGTERM', stopAll);
}

async function leave(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { node: { type: 'string' }, config: { type: 'string' } } });
  if (!values.node) throw new ConfigError('--node ID is required');
  const config = loadConfig(values.config ?? DEFAULT_CONFIG);
  const spec = nodeSpec(config, values.node);
  const res = await fetch(`http://${spec.host}:${spec.httpPort}/admin/leave`, { method: 'POST' });
  process.stdout.write(`${res.status} ${await res.text()}\n`);
  if (!res.ok) process.exitCode = 1;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      return startOne(rest);
    case 'cluster':
      return runCluster(rest);
    case 'leave':
      return leave(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return;
    default:
      if (await runClientCommand(command, rest)) return;
      process.stderr.write(`unknown command "${command}"\n${USAGE}\n`);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError || (err instanceof Error && err.name === 'ClientError')) {
    process.stderr.write(`shoal: ${err.message}\n`);
  } else {
    process.stderr.write(`shoal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  process.exit(1);
});
