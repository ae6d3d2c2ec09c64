/**
 * `npm run bench`: every benchmark, one after another, each printing its own table. Flags
 * (`--quick`, `--json`) are passed to each. Benchmarks report; they never fail on a timing,
 * only when a result is wrong.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const benches = [
  'engine.bench.ts',
  'scheduler.bench.ts',
  'tasks.bench.ts',
  'sync.bench.ts',
  'beamline.bench.ts',
  'sweep.bench.ts',
];
const flags = process.argv.slice(2);
let failed = 0;
for (const bench of benches) {
  const args =
    bench === 'scheduler.bench.ts'
      ? flags.filter((f) => f !== '--quick' && f !== '--keep')
      : bench === 'tasks.bench.ts' ||
          bench === 'sync.bench.ts' ||
          bench === 'beamline.bench.ts' ||
          bench === 'sweep.bench.ts'
        ? flags.filter((f) => f !== '--keep')
        : flags;
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(import.meta.dirname, bench), ...args],
    { stdio: 'inherit' },
  );
  if (result.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
