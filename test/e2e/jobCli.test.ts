import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/hostProcess.js';

/**
 * `baton job submit --wait` as scripts use it: argv after `--`, env values that stay values,
 * exit 0 for a succeeded job, 1 for a failed or timed-out one (which is stopped), JSON output.
 */
interface RunJson {
  status: string;
  output: { state: string; exitCode?: number } | null;
  error?: string;
}

describe('baton job submit', () => {
  let stateDir = '';
  const env = { BATON_JOB_WATCH_SCHEDULE: '* * * * * *' };
  const cli = (...args: string[]) => runCli(['--state-dir', stateDir, ...args], env);
  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-job-cli-'));
  });
  after(async () => {
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it('runs a job to success and exits 0; env values are passed as values', async () => {
    const result = await cli(
      '--json',
      'job',
      'submit',
      '--wait',
      '--env',
      'GREETING=$(touch pwned); hi',
      '--',
      process.execPath,
      '-e',
      'process.exit(process.env.GREETING === "$(touch pwned); hi" ? 0 : 9)',
    );
    assert.equal(result.code, 0, result.stderr);
    const run = JSON.parse(result.stdout) as RunJson;
    assert.equal(run.status, 'completed');
    assert.equal(run.output?.state, 'succeeded');
    assert.equal(run.output?.exitCode, 0);
  });

  it('exits 1 for a failing job and names its exit code', async () => {
    const result = await cli(
      'job',
      'submit',
      '--wait',
      '--',
      process.execPath,
      '-e',
      'process.exit(4)',
    );
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /failed with exit code 4/);
  });

  it('stops a job at its timeout and exits 1', { timeout: 60_000 }, async () => {
    const started = Date.now();
    const result = await cli(
      '--json',
      'job',
      'submit',
      '--wait',
      '--timeout',
      '1',
      '--',
      process.execPath,
      '-e',
      'setTimeout(() => {}, 60000)',
    );
    assert.equal(result.code, 1, result.stderr);
    const run = JSON.parse(result.stdout) as RunJson;
    assert.equal(run.status, 'failed');
    assert.match(run.error ?? '', /timed_out/);
    assert.ok(Date.now() - started < 30_000, 'did not wait for the job to end by itself');
  });

  it('refuses a bad --env with exit 2', async () => {
    const result = await cli('job', 'submit', '--env', '1BAD=x', '--', 'true');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--env/);
  });
});
