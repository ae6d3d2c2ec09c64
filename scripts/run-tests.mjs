#!/usr/bin/env node
// Runs every test file with node's own test runner through tsx. Node 20's `--test` does not
// expand globs, so this script finds the files (optionally filtered by a path fragment) and
// passes them on; the runner's summary lines are what CI reads.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const filters = process.argv.slice(2);

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...findTests(full));
    else if (name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

const files = findTests(path.join(root, 'test')).filter(
  (file) => filters.length === 0 || filters.some((f) => path.relative(root, file).includes(f)),
);
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(2);
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
  {
    stdio: 'inherit',
    cwd: root,
    env: { ...process.env, BATON_LOG_LEVEL: process.env.BATON_LOG_LEVEL ?? 'silent' },
  },
);
process.exit(result.status ?? 1);
