#!/usr/bin/env node
// Runs the test files with node's own test runner through tsx. Node 20's `--test` does not
// expand globs, so this script finds the files and passes them on; the runner's summary lines
// are what CI reads.
//
//   node scripts/run-tests.mjs                  every suite: main, then chaos, then fuzz
//   node scripts/run-tests.mjs --suite chaos    one suite (main | chaos | fuzz)
//   node scripts/run-tests.mjs unit/paths e2e   the files whose path contains a fragment
//
// The campaign suites (test/chaos, test/fuzz) record their counts with test/campaign/tally.ts;
// after each suite its figures are printed as a table, and a row that misses its requirement
// fails the run even if no assertion did.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const tallyDir = path.join(root, '.tally');
const campaignSuites = ['chaos', 'fuzz'];
// The crash suite runs one host per file and SIGKILLs it; running its files one at a time
// keeps a 2-core machine from turning timing into the thing under test.
const concurrency = { main: 2, chaos: 1, fuzz: 2 };

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...findTests(full));
    else if (name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

function suiteOf(file) {
  const top = path.relative(path.join(root, 'test'), file).split(path.sep)[0];
  return campaignSuites.includes(top) ? top : 'main';
}

function parseArgs(argv) {
  const at = argv.indexOf('--suite');
  if (at === -1) return { suite: undefined, filters: argv };
  const suite = argv[at + 1];
  if (!['main', ...campaignSuites].includes(suite ?? '')) {
    console.error(`--suite: expected main, chaos or fuzz, got ${suite ?? 'nothing'}`);
    process.exit(2);
  }
  return { suite, filters: argv.filter((_, i) => i !== at && i !== at + 1) };
}

function runFiles(suite, files) {
  const tallyFile = path.join(tallyDir, `${suite}.jsonl`);
  rmSync(tallyFile, { force: true });
  console.log(`\n== ${suite} suite: ${files.length} files`);
  const result = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      `--test-concurrency=${concurrency[suite]}`,
      '--test-reporter=spec',
      ...files,
    ],
    {
      stdio: 'inherit',
      cwd: root,
      env: {
        ...process.env,
        BATON_LOG_LEVEL: process.env.BATON_LOG_LEVEL ?? 'silent',
        BATON_TALLY_FILE: tallyFile,
      },
    },
  );
  const tallyOk = printTally(suite, tallyFile);
  return (result.status ?? 1) === 0 && tallyOk;
}

function meets(count, required) {
  if (!required) return true;
  const [op, value] = required.split(' ');
  const bound = Number(value);
  if (op === '=') return count === bound;
  if (op === '>=') return count >= bound;
  return count <= bound;
}

/** Sums the rows of each (item, measure, requirement) and prints them; false if one misses. */
function printTally(suite, tallyFile) {
  if (!existsSync(tallyFile)) {
    if (campaignSuites.includes(suite)) console.log(`\n${suite}: no figures were recorded`);
    return !campaignSuites.includes(suite);
  }
  const sums = new Map();
  for (const line of readFileSync(tallyFile, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const row = JSON.parse(line);
    const key = JSON.stringify([row.item, row.measure, row.required ?? '']);
    const sum = sums.get(key) ?? { ...row, count: 0, files: new Set() };
    sum.count += row.count;
    sum.files.add(row.file);
    sums.set(key, sum);
  }
  // Rows of one item together, items in the order they first reported.
  const itemOrder = [...new Set([...sums.values()].map((r) => r.item))];
  const grouped = [...sums.values()].sort(
    (a, b) => itemOrder.indexOf(a.item) - itemOrder.indexOf(b.item),
  );
  const rows = grouped.map((r) => ({
    item: r.item,
    measure: r.measure,
    count: String(r.count),
    required: r.required ?? '',
    ok: meets(r.count, r.required) ? (r.required ? 'ok' : '') : 'MISSED',
  }));
  const heads = { item: 'item', measure: 'measure', count: 'count', required: 'required', ok: '' };
  const cols = Object.keys(heads);
  const width = Object.fromEntries(
    cols.map((c) => [c, Math.max(heads[c].length, ...rows.map((r) => r[c].length))]),
  );
  const line = (r) =>
    cols
      .map((c) => (c === 'count' ? r[c].padStart(width[c]) : r[c].padEnd(width[c])))
      .join('  ')
      .trimEnd();
  console.log(`\n${suite} figures (${path.relative(root, tallyFile)})`);
  console.log(line(heads));
  console.log(cols.map((c) => '-'.repeat(width[c])).join('  '));
  for (const r of rows) console.log(line(r));
  const missed = rows.filter((r) => r.ok === 'MISSED');
  if (missed.length > 0) console.log(`${missed.length} figure(s) missed their requirement`);
  return missed.length === 0;
}

const { suite, filters } = parseArgs(process.argv.slice(2));
const all = findTests(path.join(root, 'test')).filter(
  (file) => filters.length === 0 || filters.some((f) => path.relative(root, file).includes(f)),
);
const suites = suite ? [suite] : ['main', ...campaignSuites];
let ok = true;
let ran = 0;
for (const name of suites) {
  const files = all.filter((file) => suiteOf(file) === name);
  if (files.length === 0) continue;
  ran += files.length;
  ok = runFiles(name, files) && ok;
}
if (ran === 0) {
  console.error(`no test files match ${[suite ? `--suite ${suite}` : '', ...filters].join(' ')}`);
  process.exit(2);
}
process.exit(ok ? 0 : 1);
