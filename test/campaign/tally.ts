import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

/**
 * The campaign suites (`npm run test:chaos`, `npm run test:fuzz`) print their figures as one
 * table at the end. Each test records its counts here while it runs; the test runner
 * (`scripts/run-tests.mjs`) reads them back after the suite and prints the table, and fails the
 * suite when a row misses its requirement, so the table and the assertions never disagree.
 *
 * Rows are appended as JSON lines: node's test runner runs files in separate processes, and an
 * append of one short line is a single write, so concurrent files do not interleave.
 */
export type Requirement = `= ${number}` | `>= ${number}` | `<= ${number}`;

export interface TallyRow {
  /** The campaign item, as the issue names it: "crash injection", "paths", … */
  item: string;
  /** What was counted: "SIGKILLs", "lost outputs", "5xx responses", … */
  measure: string;
  count: number;
  /** The figure the count must meet; absent for counts that are informative only. */
  required?: Requirement;
}

export const tallyDir = path.resolve(import.meta.dirname, '..', '..', '.tally');

function tallyFile(): string {
  return process.env.BATON_TALLY_FILE ?? path.join(tallyDir, 'adhoc.jsonl');
}

export function recordTally(row: TallyRow): void {
  if (!Number.isFinite(row.count))
    throw new Error(`tally ${row.item}/${row.measure}: not a number`);
  const file = tallyFile();
  mkdirSync(path.dirname(file), { recursive: true });
  appendFileSync(file, `${JSON.stringify({ ...row, file: testFileName() })}\n`);
}

/** Records several measures of one item at once. */
export function recordTallies(item: string, rows: Array<Omit<TallyRow, 'item'>>): void {
  for (const row of rows) recordTally({ item, ...row });
}

export function meets(count: number, required: Requirement | undefined): boolean {
  if (!required) return true;
  const [op, value] = required.split(' ') as [string, string];
  const bound = Number(value);
  if (op === '=') return count === bound;
  if (op === '>=') return count >= bound;
  return count <= bound;
}

function testFileName(): string {
  const argv1 = process.argv[1] ?? '';
  return path.basename(argv1);
}
