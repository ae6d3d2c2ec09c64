import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { repoRoot } from '../helpers/hostProcess.js';

/** `examples/tasks/run.sh` as a user runs it: 20 jobs in 3 slots, every output correct. */
describe('the tasks example', () => {
  let stateDir = '';
  after(async () => {
    if (stateDir)
      await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it(
    'runs the scan from the CLI and writes one correct result per config',
    { timeout: 180_000 },
    async () => {
      stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-example-tasks-'));
      const result = await new Promise<{ code: number | null; output: string }>(
        (resolve, reject) => {
          const child = spawn('sh', [path.join(repoRoot, 'examples', 'tasks', 'run.sh')], {
            env: { ...process.env, BATON_STATE_DIR: stateDir, BATON_LOG_LEVEL: 'warn' },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let output = '';
          child.stdout.on('data', (d: Buffer) => (output += d.toString()));
          child.stderr.on('data', (d: Buffer) => (output += d.toString()));
          child.on('error', reject);
          child.on('close', (code) => resolve({ code, output }));
        },
      );
      assert.equal(result.code, 0, result.output);
      const tasks = await readdir(path.join(stateDir, 'lake', 'tasks'));
      assert.equal(tasks.length, 1);
      const outputs = path.join(stateDir, 'lake', 'tasks', tasks[0] ?? '', 'outputs');
      const jobs = (await readdir(outputs)).sort();
      assert.equal(jobs.length, 20);
      // The expected counts, computed here from the same CSV files.
      const dataDir = path.join(repoRoot, 'examples', 'tasks', 'data');
      const energies: number[] = [];
      for (const file of (await readdir(dataDir)).filter((f) => f.endsWith('.csv'))) {
        const rows = (await readFile(path.join(dataDir, file), 'utf8')).trim().split('\n').slice(1);
        for (const row of rows) energies.push(Number(row.split(',')[1]));
      }
      for (const [i, job] of jobs.entries()) {
        const json = await readFile(path.join(outputs, job, 'attempt-1', 'result.json'), 'utf8');
        const threshold = (i + 1) * 5;
        assert.deepEqual(JSON.parse(json), {
          threshold,
          above: energies.filter((e) => e > threshold).length,
        });
      }
    },
  );
});
