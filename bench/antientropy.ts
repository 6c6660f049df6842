// Anti-entropy cost and convergence on its own (it is also a table of `npm run bench`).
//   node --import tsx bench/antientropy.ts [--quick]
import { antiEntropyCases, antiEntropyMarkdown, runAntiEntropyCase, type AntiEntropyRow } from './lib/antientropy.ts';

const rows: AntiEntropyRow[] = [];
for (const [stored, differing] of antiEntropyCases(process.argv.includes('--quick'))) rows.push(await runAntiEntropyCase(stored, differing));
console.log(`\n${antiEntropyMarkdown(rows)}`);
