import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JobDeps, JobRecord } from '../../shared/app/jobs.js';
import { jobsCollection, launchJob, requestJobLaunch } from '../../shared/app/jobs.js';
import { jobIdFor } from '../../shared/domain/jobIds.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { startAzureWorld, type AzureWorld } from '../helpers/azureWorld.js';
import { api, runToEnd } from '../helpers/hostProcess.js';

/**
 * The app on its Azure adapters, each talking through its real SDK to a local stand-in on the
 * wire (Cosmos DB emulator, DFS server, AMQP broker, ARM fake): the same functions, the same
 * pipelines, and the job path's exactly-once launch under redelivery.
 */
interface RunView {
  runId: string;
  status: string;
  output: { files?: number; state?: string; exitCode?: number } | null;
  error?: string;
}

describe('the app on Azure adapters over the wire', () => {
  let world: AzureWorld;
  let host: LocalHost;
  before(async () => {
    world = await startAzureWorld();
    host = await LocalHost.start({
      stateDir: world.stateDir,
      port: 0,
      services: world.services,
      logger: createLogger({ level: 'silent' }),
      env: { BATON_JOB_WATCH_SCHEDULE: '* * * * * *', BATON_HEARTBEAT_SCHEDULE: '0 0 0 1 1 *' },
    });
  });
  after(async () => {
    await host.stop();
    await world.stop();
  });

  const startAndWait = (body: Record<string, unknown>, runId: string): Promise<RunView> =>
    runToEnd<RunView>(host.url, { ...body, runId }, 60_000);

  it(
    'runs hello: run documents in Cosmos DB, greetings and logs in ADLS',
    { timeout: 60_000 },
    async () => {
      const view = await startAndWait({ pipeline: 'hello', params: { count: 4 } }, 'azure-hello');
      assert.equal(view.status, 'completed', JSON.stringify(view));
      assert.equal(view.output?.files, 4);
      const run = await world.services.state.read('runs', 'azure-hello', 'azure-hello');
      assert.ok(run, 'run document in Cosmos DB');
      const summary = JSON.parse(
        (await world.services.lake.read('runs/azure-hello/summary.json')).toString('utf8'),
      ) as { files: number };
      assert.equal(summary.files, 4);
      const logs = await api<Array<{ message: string }>>(
        `${host.url}/api/runs/azure-hello/logs?step=summarize`,
      );
      assert.match(logs.body[0]?.message ?? '', /4 greetings/);
    },
  );

  it(
    'runs a job as an ACI container group, through launch-job and job-events on Service Bus',
    { timeout: 60_000 },
    async () => {
      const view = await startAndWait(
        {
          pipeline: 'command',
          params: {
            argv: ['node', '-e', 'console.log("from the container")'],
            image: 'node:20-alpine',
          },
        },
        'azure-cmd',
      );
      assert.equal(view.status, 'completed', JSON.stringify(view));
      assert.equal(view.output?.exitCode, 0);
      const jobId = jobIdFor('azure-cmd', 'command', 1);
      assert.equal(world.arm.requestsTo('PUT', `/containerGroups/${jobId}`).length, 1);
      const logs = await api<Array<{ message: string }>>(
        `${host.url}/api/runs/azure-cmd/logs?step=command`,
      );
      assert.ok(
        logs.body.some((l) => l.message.includes('from the container')),
        JSON.stringify(logs.body),
      );
    },
  );

  it(
    'launches each of 1,000 jobs exactly once although 10% of launch-job messages are delivered again',
    { timeout: 180_000 },
    async () => {
      const deps: JobDeps = {
        state: world.services.state,
        bus: world.services.bus,
        compute: world.services.compute,
        clock: world.services.clock,
        logs: world.services.logs,
        queues: { launchJob: 'fanout-launch', jobEvents: 'fanout-events' },
      };
      world.broker.createQueue('fanout-launch', {
        maxDeliveryCount: 5,
        lockDurationMs: 60_000,
        duplicateDetectionWindowMs: 600_000,
      });
      world.broker.createQueue('fanout-events', {
        maxDeliveryCount: 5,
        lockDurationMs: 60_000,
        duplicateDetectionWindowMs: 600_000,
      });
      const runId = 'fanout';
      const total = 1000;
      const spec = { argv: ['true'], image: 'busybox:1.36' };
      for (let start = 0; start < total; start += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, total - start) }, (_, i) =>
            requestJobLaunch(deps, { runId, stepId: `item-${start + i}`, attempt: 1, spec }),
          ),
        );
      }
      let handled = 0;
      let redelivered = 0;
      const consumer = async (): Promise<void> => {
        for (let idle = 0; idle < 3;) {
          const messages = await deps.bus.receive<{ jobId: string }>('fanout-launch', {
            maxMessages: 10,
            maxWaitMs: 500,
          });
          if (messages.length === 0) {
            idle++;
            continue;
          }
          idle = 0;
          for (const message of messages) {
            await launchJob(deps, message.body);
            handled++;
            // Every tenth job's first delivery "crashes" after launching: the message comes back.
            const n = Number(message.body.jobId.match(/item-(\d+)/)?.[1]);
            if (n % 10 === 0 && message.deliveryCount === 1) {
              redelivered++;
              await deps.bus.abandon('fanout-launch', message);
            } else {
              await deps.bus.complete('fanout-launch', message);
            }
          }
        }
      };
      await Promise.all(Array.from({ length: 8 }, consumer));

      assert.equal(redelivered, total / 10);
      assert.equal(handled, total + total / 10);
      const puts = world.arm.requests.filter(
        (r) => r.method === 'PUT' && r.path.includes(`/containerGroups/${runId}-item-`),
      );
      assert.equal(puts.length, total, `${puts.length} container groups created for ${total} jobs`);
      assert.equal(new Set(puts.map((r) => r.path)).size, total);
      const jobs = await world.services.state.query<JobRecord>(jobsCollection, { pk: runId });
      assert.equal(jobs.length, total);
      assert.ok(
        jobs.every((j) => j.body.state !== 'queued'),
        'every job left the queue',
      );
    },
  );
});
