import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as df from 'durable-functions';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { installFunctionsCore } from '../../shared/runtime/functionRegistry.js';
import { landedFilesCollection, type LandedFile } from '../../shared/app/landing.js';
import { asUser } from '../helpers/localAuth.js';

/**
 * The host's non-HTTP triggers, each through the app's real registration: the heartbeat timer,
 * the landing-folder blob trigger and the job-events queue trigger (relaying to a waiting run),
 * plus dead-lettering of a message that fails every delivery.
 */
installFunctionsCore();
df.app.orchestration('test_waitForJob', function* (context) {
  const event: unknown = yield context.df.waitForExternalEvent('job:job-1');
  return event;
});

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('local host triggers', () => {
  let stateDir: string;
  let host: LocalHost;
  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-triggers-'));
    host = await LocalHost.start({
      stateDir,
      port: 0,
      logger: createLogger({ level: 'silent' }),
      landingIntervalMs: 50,
      env: {
        BATON_HEARTBEAT_SCHEDULE: '* * * * * *',
        BATON_BUS_MAX_DELIVERY_COUNT: '3',
        BATON_PRUNE_SCHEDULE: '* * * * * *',
      },
    });
  });
  after(async () => {
    await host.stop();
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it('refuses a browser page of another site (CSRF) before any function runs', async () => {
    const response = await fetch(`${host.url}/api/runs`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'text/plain' },
      body: JSON.stringify({ pipeline: 'hello' }),
    });
    assert.equal(response.status, 403);
    const runs = (await (await fetch(`${host.url}/api/runs`)).json()) as unknown[];
    assert.equal(runs.length, 0);
  });

  it('fires the heartbeat timer every second (NCRONTAB with seconds)', async () => {
    const beats = await until(
      'two heartbeats',
      async () => {
        const health = (await (await fetch(`${host.url}/api/health`)).json()) as {
          lastHeartbeat: { beats: number } | null;
        };
        return (health.lastHeartbeat?.beats ?? 0) >= 2 ? health.lastHeartbeat?.beats : undefined;
      },
      5000,
    );
    assert.ok(beats >= 2);
  });

  it('delivers a file dropped into the landing folder once', async () => {
    const landing = path.join(stateDir, 'lake', 'landing', 'scan-001');
    await mkdir(landing, { recursive: true });
    await writeFile(path.join(landing, 'detector.h5'), 'fake detector frame');
    const docs = await until('landed file record', async () => {
      const found = await host.services.state.query<LandedFile>(landedFilesCollection, {});
      return found.length > 0 ? found : undefined;
    });
    assert.equal(docs.length, 1);
    assert.equal(docs[0]?.body.path, 'landing/scan-001/detector.h5');
    assert.equal(docs[0]?.body.size, 'fake detector frame'.length);
    const etag = docs[0]?.etag;
    await new Promise((r) => setTimeout(r, 300));
    const again = await host.services.state.query<LandedFile>(landedFilesCollection, {});
    assert.equal(again[0]?.etag, etag, 'not delivered a second time');
  });

  it('prunes what retention says is due, on the pruner timer', async () => {
    const folder = path.join(stateDir, 'lake', 'scratch', 'scan-9');
    await mkdir(folder, { recursive: true });
    await writeFile(path.join(folder, 'tmp.tif'), 'x');
    const anonymous = await fetch(`${host.url}/api/retention/prune`, { method: 'POST' });
    assert.equal(anonymous.status, 401, 'pruning on demand needs a signed-in user');
    const scheduled = await fetch(`${host.url}/api/retention`, {
      method: 'POST',
      headers: asUser('alice'),
      body: JSON.stringify({ path: 'scratch/scan-9', afterDays: 0, reason: 'test' }),
    });
    assert.equal(scheduled.status, 201);
    await until('the folder pruned', async () => {
      const entries = (await (
        await fetch(`${host.url}/api/retention?state=pruned`)
      ).json()) as unknown[];
      return entries.length === 1 ? entries : undefined;
    });
    assert.equal(await host.services.lake.stat('scratch/scan-9/tmp.tif'), undefined);
  });

  it('relays a job-events message to the run waiting for that job', async () => {
    await host.engine.startInstance('test_waitForJob', 'run-job-1', null);
    await host.services.bus.send('job-events', [
      {
        messageId: 'evt-1',
        body: { runId: 'run-job-1', jobId: 'job-1', state: 'succeeded', exitCode: 0 },
      },
    ]);
    const status = await host.engine.waitFor('run-job-1', 10_000);
    assert.equal(status?.runtimeStatus, 'Completed');
    assert.deepEqual(status?.output, {
      runId: 'run-job-1',
      jobId: 'job-1',
      state: 'succeeded',
      exitCode: 0,
    });
  });

  it('dead-letters a message that fails on every delivery, and keeps the queue flowing', async () => {
    await host.services.bus.send('job-events', [
      { messageId: 'poison-1', body: { runId: 'x', jobId: 'BAD ID', state: 'nope' } },
    ]);
    const dead = await until('dead letter', async () => {
      const got = await host.services.bus.receiveDeadLetters('job-events', {
        maxMessages: 1,
        maxWaitMs: 10,
      });
      return got.length > 0 ? got : undefined;
    });
    assert.equal(dead[0]?.messageId, 'poison-1');
    assert.equal(dead[0]?.deadLetterReason, 'MaxDeliveryCountExceeded');
    assert.ok((dead[0]?.deliveryCount ?? 0) >= 3, `delivered ${dead[0]?.deliveryCount} times`);
    await host.engine.startInstance('test_waitForJob', 'run-job-2', null);
    await host.services.bus.send('job-events', [
      {
        messageId: 'evt-2',
        body: { runId: 'run-job-2', jobId: 'job-1', state: 'failed', exitCode: 3 },
      },
    ]);
    const status = await host.engine.waitFor('run-job-2', 10_000);
    assert.equal(status?.runtimeStatus, 'Completed');
  });
});
