// V8 flags every node process runs with. V8 tunes its heap for a browser tab: once a process
// has been idle for a while, the memory reducer collects and shrinks the old generation's
// limit, and the young generation shrinks towards 1 MiB. When load returns, a node with
// 100k cached objects then runs repeated major GCs and costly scavenges until the heap has
// grown back: in docs/BENCHMARKS.md, A at quorum made ~2,600 ops/s in the first 5 s after two
// idle minutes against ~5,300 without the idle spell. A server keeps the heap it earned, as
// a JVM database does with -Xms = -Xmx.
//
// V8 reads these when it creates the heap, so they must be on the command line: NODE_OPTIONS
// refuses both. bin/shoal.js passes them in its shebang, `shoal cluster` to every child.

/** Flags for `node` itself, ahead of the script. */
export const NODE_FLAGS: readonly string[] = [
  // No idle-time heap shrinking (memory is kept while idle; a server's working set returns).
  '--no-memory-reducer',
  // Young generation fixed at V8's usual maximum (16 MiB per semi-space) instead of shrinking.
  '--min-semi-space-size=16',
];

/**
 * Those of NODE_FLAGS this process was not started with. A flag given with another value
 * (say --min-semi-space-size=32) counts as given: the operator chose it. V8 also accepts
 * underscores in flag names.
 */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  const given = new Set(execArgv.map(flagName));
  return NODE_FLAGS.filter((f) => !given.has(flagName(f)));
}

function flagName(arg: string): string {
  const eq = arg.indexOf('=');
  return (eq < 0 ? arg : arg.slice(0, eq)).replaceAll('_', '-');
}
