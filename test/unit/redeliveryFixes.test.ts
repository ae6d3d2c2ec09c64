import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileBus } from '../../shared/adapters/local/fileBus.js';
import { FileLogStore } from '../../shared/adapters/local/fileLogStore.js';
import { FileStateStore } from '../../shared/adapters/local/fileStateStore.js';
import { backoffAfterConflict, maxConflictRetries } from '../../shared/app/conflictRetry.js';
import { relayJobEvent } from '../../shared/app/jobEvents.js';
import {
  cancelJob,
  failUndeliveredLaunch,
  jobsCollection,
  type JobDeps,
  type JobRecord,
} from '../../shared/app/jobs.js';
import { BatonError } from '../../shared/domain/errors.js';
import { systemClock } from '../../shared/ports/clock.js';
import type { ComputeBackend } from '../../shared/ports/compute.js';
import type {
  InstanceStatus,
  OrchestrationClient,
} from '../../shared/ports/orchestrationClient.js';

/**
 * The fixes the redelivery, poison and concurrency campaigns led to: a job event for an
 * orchestration that has ended is done (not retried to the dead-letter queue), a cancel of a
 * job the backend already let go of is done, a dead-lettered launch fails its job with why,
 * and conflict retries wait a jittered, bounded time.
 */
function clientWith(
  status: InstanceStatus['runtimeStatus'] | undefined,
  raised: string[],
): OrchestrationClient {
  return {
    start: () => Promise.reject(new Error('not used')),
    list: () => Promise.resolve([]),
    terminate: () => Promise.resolve(),
    purge: () => Promise.resolve(false),
    getStatus: (instanceId) =>
      Promise.resolve(
        status === undefined
          ? undefined
          : ({ instanceId, runtimeStatus: status } as unknown as InstanceStatus),
      ),
    raiseEvent: (instanceId, name) => {
      if (status !== 'Running') {
        return Promise.reject(new BatonError('conflict', `instance ${instanceId} is ${status}`));
      }
      raised.push(`${instanceId} ${name}`);
      return Promise.resolve();
    },
  };
}

const event = { runId: 'run-1', jobId: 'run-1-step-a1', state: 'succeeded' as const };

describe('relayJobEvent', () => {
  it('raises the event on a running orchestration', async () => {
    const raised: string[] = [];
    await relayJobEvent(clientWith('Running', raised), event);
    assert.deepEqual(raised, ['run-1 job:run-1-step-a1']);
  });
  for (const status of ['Completed', 'Failed', 'Terminated', undefined] as const) {
    it(`treats a late event for a ${status ?? 'purged'} orchestration as done`, async () => {
      await relayJobEvent(clientWith(status, []), event);
    });
  }
  it('still fails when the orchestration runs but the event could not be raised', async () => {
    const client = clientWith('Running', []);
    client.raiseEvent = () => Promise.reject(new BatonError('unavailable', 'host unreachable'));
    await assert.rejects(relayJobEvent(client, event), /host unreachable/);
  });
});

describe('job records: cancel and dead-lettered launches', () => {
  let dir = '';
  let deps: JobDeps;
  const released = new Set<string>();
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'baton-fixes-'));
    const compute = {
      name: 'local',
      cancel: (jobId: string) =>
        released.has(jobId)
          ? Promise.reject(new BatonError('not_found', `job ${jobId} not found`))
          : Promise.resolve({ jobId, state: 'canceled' as const }),
    } as unknown as ComputeBackend;
    deps = {
      state: new FileStateStore({ root: path.join(dir, 'state') }),
      bus: new FileBus({ root: path.join(dir, 'bus') }),
      compute,
      clock: systemClock,
      logs: new FileLogStore({ root: path.join(dir, 'logs') }),
      queues: { launchJob: 'launch-job', jobEvents: 'job-events' },
    };
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function record(jobId: string, state: JobRecord['state']): Promise<void> {
    const body: JobRecord = {
      jobId,
      runId: 'run-1',
      stepId: 'step',
      attempt: 1,
      spec: { jobId, argv: ['true'] },
      state,
      queuedAt: new Date().toISOString(),
      notified: false,
    };
    await deps.state.create(jobsCollection, { id: jobId, pk: 'run-1', body });
  }

  it('a cancel of a job the backend already released answers with the recorded state', async () => {
    await record('run-1-gone-a1', 'running');
    released.add('run-1-gone-a1');
    assert.equal(await cancelJob(deps, { runId: 'run-1', jobId: 'run-1-gone-a1' }), 'running');
  });

  it('a dead-lettered launch fails its queued job with the reason and announces it', async () => {
    await record('run-1-poison-a1', 'queued');
    const why = 'the launch-job message was dead-lettered (MaxDeliveryCountExceeded: boom)';
    const failed = await failUndeliveredLaunch(
      deps,
      { runId: 'run-1', jobId: 'run-1-poison-a1' },
      why,
    );
    assert.equal(failed?.state, 'failed');
    assert.match(failed?.message ?? '', /could not be launched: .*MaxDeliveryCountExceeded: boom/);
    const [announced] = await deps.bus.receive<{ jobId: string; state: string }>('job-events');
    assert.equal(announced?.body.jobId, 'run-1-poison-a1');
    assert.equal(announced?.body.state, 'failed');
    // A job that got further is left alone, and a missing one is no error.
    await record('run-1-launched-a1', 'running');
    const left = await failUndeliveredLaunch(
      deps,
      { runId: 'run-1', jobId: 'run-1-launched-a1' },
      why,
    );
    assert.equal(left?.state, 'running');
    assert.equal(
      await failUndeliveredLaunch(deps, { runId: 'run-1', jobId: 'run-1-none-a1' }, why),
      undefined,
    );
  });
});

describe('conflict retries', () => {
  it('wait a random time that grows with the attempt and stays under 100 ms', async () => {
    assert.ok(maxConflictRetries >= 50, 'enough retries for 50 writers of one document');
    for (const attempt of [0, 3, 40]) {
      const started = performance.now();
      await backoffAfterConflict(attempt);
      assert.ok(performance.now() - started < 150, `attempt ${attempt}`);
    }
  });
});
