import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createErrorDump, type ErrorDumpInfo } from '../../shared/app/modelErrorDumps.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function databank(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'baton-dumps-'));
  dirs.push(dir);
  await mkdir(path.join(dir, 'step'));
  await writeFile(path.join(dir, 'step', 'log.txt'), 'boom\n');
  await writeFile(path.join(dir, 'orca_model_config.yaml'), 'x: 1\n');
  return dir;
}

const info = (jobId: string): ErrorDumpInfo => ({
  runId: 'run-1',
  iteration: 1,
  step: 'step',
  command: { index: 0, description: undefined, argv: ['false'] },
  jobId,
  state: 'failed',
  exitCode: 1,
  lastLogLines: ['boom'],
});

describe('error dumps delivered more than once', () => {
  it('leave one dump per failed job, whether the deliveries come one after another or at once', async () => {
    const dir = await databank();
    const at = (s: number): Date => new Date(Date.UTC(2026, 10, 28, 12, 0, s));
    const first = await createErrorDump(dir, info('job-a'), at(0));
    assert.equal(await createErrorDump(dir, info('job-a'), at(5)), first);
    // At once, stamped in the same second and in different ones.
    const together = await Promise.all(
      [0, 0, 1, 2, 2, 3].map((s) => createErrorDump(dir, info('job-b'), at(10 + s))),
    );
    assert.equal(new Set(together).size, 1, together.join(', '));
    const dumps = (await readdir(path.join(dir, 'error_dumps'))).sort();
    assert.equal(dumps.length, 2, dumps.join(', '));
    for (const dump of dumps) {
      const saved = JSON.parse(
        await readFile(path.join(dir, 'error_dumps', dump, 'error_info.json'), 'utf8'),
      ) as { jobId: string };
      assert.ok(['job-a', 'job-b'].includes(saved.jobId));
    }
    // A different job failing in the same second gets a dump of its own.
    const other = await createErrorDump(dir, info('job-c'), at(0));
    assert.notEqual(other, first);
    assert.equal((await readdir(path.join(dir, 'error_dumps'))).length, 3);
  });
});
