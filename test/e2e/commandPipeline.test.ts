import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jobsCollection, type JobRecord } from '../../shared/app/jobs.js';
import { jobIdFor } from '../../shared/domain/jobIds.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { api, runToEnd } from '../helpers/hostProcess.js';

/**
 * The job path end to end on the local host: POST /api/runs starts `runCommand`, whose
 * activity records the job and sends launch-job; the queue function launches a real process;
 * the watcher timer sees it end and sends job-events, which wake the run. Failures, timeouts,
 * cancellation and a redelivered launch message included.
 */
interface RunView {
  runId: string;
  status: string;
  output: { state: string; exitCode?: number } | null;
  error?: string;
}

describe('command pipeline (launch-job → backend → watcher → job-events)', () => {
  let stateDir: string;
  let host: LocalHost;
  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-command-'));
    host = await LocalHost.start({
      stateDir,
      port: 0,
      logger: createLogger({ level: 'silent' }),
      env: { BATON_JOB_WATCH_SCHEDULE: '* * * * * *' },
    });
  });
  after(async () => {
    await host.stop();
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  const runCommand = (params: unknown, runId: string): Promise<RunView> =>
    runToEnd<RunView>(host.url, { pipeline: 'command', runId, params });

  it('runs a process and brings its output into the run logs', { timeout: 30_000 }, async () => {
    const view = await runCommand(
      { argv: ['node', '-e', 'console.log("hello from the job")'] },
      'cmd-ok',
    );
    assert.equal(view.status, 'completed', JSON.stringify(view));
    assert.equal(view.output?.state, 'succeeded');
    assert.equal(view.output?.exitCode, 0);
    const logs = await api<Array<{ step: string; message: string }>>(
      `${host.url}/api/runs/cmd-ok/logs?step=command`,
    );
    assert.ok(
      logs.body.some((l) => l.message.includes('hello from the job')),
      JSON.stringify(logs.body),
    );
  });

  it('fails the run with the exit code when the job fails', { timeout: 30_000 }, async () => {
    const view = await runCommand({ argv: ['node', '-e', 'process.exit(3)'] }, 'cmd-fail');
    assert.equal(view.status, 'failed');
    assert.match(view.error ?? '', /failed with exit code 3/);
  });

  it('fails the run when the job overruns its timeout', { timeout: 30_000 }, async () => {
    const view = await runCommand(
      { argv: ['node', '-e', 'setTimeout(() => {}, 60000)'], timeoutSeconds: 1 },
      'cmd-slow',
    );
    assert.equal(view.status, 'failed');
    assert.match(view.error ?? '', /timed_out/);
  });

  it(
    'launches a job once even when its launch message is delivered again',
    { timeout: 30_000 },
    async () => {
      const view = await runCommand(
        {
          argv: ['node', '-e', 'require("fs").appendFileSync(process.env.COUNTER, "x")'],
          env: { COUNTER: path.join(stateDir, 'counter') },
        },
        'cmd-once',
      );
      assert.equal(view.status, 'completed', JSON.stringify(view));
      const jobId = jobIdFor('cmd-once', 'command', 1);
      await host.services.bus.send('launch-job', [
        { messageId: 'replayed-launch', body: { runId: 'cmd-once', jobId } },
      ]);
      await new Promise((r) => setTimeout(r, 1500));
      const { readFile } = await import('node:fs/promises');
      assert.equal(await readFile(path.join(stateDir, 'counter'), 'utf8'), 'x');
      const jobs = await host.services.state.query<JobRecord>(jobsCollection, { pk: 'cmd-once' });
      assert.equal(jobs.length, 1);
      assert.equal(jobs[0]?.body.state, 'succeeded');
      assert.equal(jobs[0]?.body.notified, true);
    },
  );

  it('stops the job when its run is canceled', { timeout: 30_000 }, async () => {
    const started = await api<RunView>(`${host.url}/api/runs`, 'POST', {
      pipeline: 'command',
      runId: 'cmd-cancel',
      params: { argv: ['node', '-e', 'setTimeout(() => {}, 60000)'] },
    });
    assert.equal(started.status, 202);
    const jobId = jobIdFor('cmd-cancel', 'command', 1);
    for (let i = 0; i < 100; i++) {
      const doc = await host.services.state.read<JobRecord>(jobsCollection, 'cmd-cancel', jobId);
      if (doc?.body.state === 'running') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const canceled = await api<RunView>(`${host.url}/api/runs/cmd-cancel/cancel`, 'POST', {
      reason: 'test',
    });
    assert.equal(canceled.status, 202);
    const status = await host.services.compute.status(jobId);
    assert.equal(status.state, 'canceled');
  });

  it('refuses a job spec with a bad environment variable name, naming the field', async () => {
    const response = await api<{ error: { field: string } }>(`${host.url}/api/runs`, 'POST', {
      pipeline: 'command',
      params: { argv: ['true'], env: { 'BAD NAME': 'x' } },
    });
    assert.equal(response.status, 400);
    assert.match(response.body.error.field, /^params\.env/);
  });
});
