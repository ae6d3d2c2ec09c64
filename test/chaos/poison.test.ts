import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createServiceBusBus } from '../../shared/adapters/azure/serviceBusBus.js';
import { loadConfig } from '../../shared/app/config.js';
import { jobsCollection, type JobRecord } from '../../shared/app/jobs.js';
import { createLocalServices, type Services } from '../../shared/app/services.js';
import { BatonError } from '../../shared/domain/errors.js';
import type { Bus, ReceivedMessage } from '../../shared/ports/bus.js';
import type { ComputeBackend, JobSpec } from '../../shared/ports/compute.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { recordTallies } from '../campaign/tally.js';
import { api } from '../helpers/hostProcess.js';
import { AmqpBroker } from '../servers/amqpBroker.js';

/**
 * Poison messages: a `launch-job` message whose handler fails on every delivery (the compute
 * backend refuses that one job) is dead-lettered after the configured delivery count, with its
 * reason; the run it belonged to fails with an error that says so; the other runs' messages
 * keep flowing meanwhile. Once on the local file bus, once on the Service Bus adapter (the real
 * SDK) against the AMQP broker, each through a live in-process local host.
 */
interface RunView {
  runId: string;
  status: string;
  error?: string;
}

interface DeadLettered {
  queue: string;
  messageId: string;
  deliveryCount: number;
  reason: string;
  description: string | undefined;
}

const maxDeliveryCount = 3;
const healthyRuns = 3;
const marker = 'POISON';

/** The backend refuses every launch of a job whose argv carries the marker (a transient code). */
function refusingPoison(inner: ComputeBackend, attempts: { poison: number; other: number }) {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'launch') {
        return async (spec: JobSpec) => {
          if (spec.argv.includes(marker)) {
            attempts.poison++;
            throw new BatonError(
              'unavailable',
              'the compute backend is out of capacity (injected)',
            );
          }
          attempts.other++;
          return target.launch(spec);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

/** Remembers every dead-lettering the host asks the bus for. */
function recordingDeadLetters(inner: Bus, out: DeadLettered[]): Bus {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'deadLetter') {
        return async (queue: string, m: ReceivedMessage, reason: string, description?: string) => {
          await target.deadLetter(queue, m, reason, description);
          out.push({
            queue,
            messageId: m.messageId,
            deliveryCount: m.deliveryCount,
            reason,
            description,
          });
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

async function waitForEnd(url: string, runId: string, timeoutMs: number): Promise<RunView> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const view = (await api<RunView>(`${url}/api/runs/${runId}`)).body;
    if (!['pending', 'running'].includes(view.status)) return view;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${runId} did not end within ${timeoutMs} ms`);
}

async function poisonScenario(
  name: string,
  makeBus: (services: Services) => Promise<{ bus: Bus; close: () => Promise<void> }>,
): Promise<void> {
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-poison-'));
  const env = {
    ...process.env,
    BATON_BUS_MAX_DELIVERY_COUNT: String(maxDeliveryCount),
    BATON_JOB_WATCH_SCHEDULE: '* * * * * *',
  };
  const local = createLocalServices(loadConfig({ ...env, BATON_STATE_DIR: stateDir }));
  const attempts = { poison: 0, other: 0 };
  const deadLettered: DeadLettered[] = [];
  const made = await makeBus(local);
  const services: Services = {
    ...local,
    bus: recordingDeadLetters(made.bus, deadLettered),
    compute: refusingPoison(local.compute, attempts),
  };
  const host = await LocalHost.start({
    stateDir,
    port: 0,
    logger: createLogger({ level: 'silent' }),
    env,
    services,
  });
  try {
    const start = async (argv: string[]): Promise<string> => {
      const started = await api<RunView>(`${host.url}/api/runs`, 'POST', {
        pipeline: 'command',
        params: { argv },
      });
      assert.equal(started.status, 202, JSON.stringify(started.body));
      return started.body.runId;
    };
    const poisoned = await start(['node', '-e', 'console.log("never")', marker]);
    const healthy = await Promise.all(
      Array.from({ length: healthyRuns }, (_, i) => start(['node', '-e', `console.log(${i})`])),
    );
    const poisonView = await waitForEnd(host.url, poisoned, 60_000);
    const healthyViews = await Promise.all(healthy.map((id) => waitForEnd(host.url, id, 60_000)));

    // Dead-lettered once, after exactly the configured deliveries, with the handler's reason.
    const ofPoison = deadLettered.filter((d) => d.messageId.includes(poisoned));
    assert.equal(ofPoison.length, 1, JSON.stringify(deadLettered));
    const [letter] = ofPoison;
    assert.equal(letter?.deliveryCount, maxDeliveryCount);
    assert.equal(attempts.poison, maxDeliveryCount);
    assert.equal(letter?.reason, 'MaxDeliveryCountExceeded');
    assert.match(
      letter?.description ?? '',
      /launchJob failed on each of 3 deliveries; last: .*out of capacity/,
    );
    assert.doesNotMatch(letter?.description ?? '', /\n\s+at /);

    // The run fails at once with an error naming the job and the reason, not at its timeout.
    assert.equal(poisonView.status, 'failed', JSON.stringify(poisonView));
    assert.match(
      poisonView.error ?? '',
      /could not be launched: the launch-job message was dead-lettered/,
    );
    assert.match(poisonView.error ?? '', /out of capacity/);
    assert.doesNotMatch(poisonView.error ?? '', /\n\s+at /);
    const [job] = await host.services.state.query<JobRecord>(jobsCollection, { pk: poisoned });
    assert.equal(job?.body.state, 'failed');

    // Other messages kept flowing: every other run completed, nothing else dead-lettered.
    const completed = healthyViews.filter((v) => v.status === 'completed').length;
    assert.equal(completed, healthyRuns, JSON.stringify(healthyViews));
    assert.equal(deadLettered.length, 1);
    // The dead letter was taken off the dead-letter queue by the function that failed the run.
    const left = await host.services.bus.receiveDeadLetters('launch-job', { maxWaitMs: 0 });
    assert.equal(left.length, 0);

    recordTallies('poison messages', [
      { measure: `poison messages (${name})`, count: 1 },
      {
        measure: 'dead-lettered with reason',
        count: ofPoison.filter((d) => d.reason !== '' && (d.description ?? '') !== '').length,
        required: '>= 2',
      },
      {
        measure: 'dead-lettered at a delivery count other than configured',
        count: ofPoison.filter((d) => d.deliveryCount !== maxDeliveryCount).length,
        required: '= 0',
      },
      {
        measure: 'runs failed with the dead-letter reason',
        count:
          poisonView.status === 'failed' && /dead-lettered/.test(poisonView.error ?? '') ? 1 : 0,
        required: '>= 2',
      },
      { measure: 'other runs completed meanwhile', count: completed },
      { measure: 'other runs not completed', count: healthyRuns - completed, required: '= 0' },
      {
        measure: 'other messages dead-lettered',
        count: deadLettered.length - ofPoison.length,
        required: '= 0',
      },
    ]);
  } finally {
    await host.stop();
    await made.close();
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  }
}

describe('poison messages: dead-lettered with their reason, their run failed, others flowing', () => {
  it('on the local file bus', { timeout: 60_000 }, async () => {
    await poisonScenario('file bus', async (local) => ({ bus: local.bus, close: async () => {} }));
  });

  it('on Service Bus (the SDK against the AMQP broker)', { timeout: 60_000 }, async () => {
    const broker = await AmqpBroker.start();
    try {
      await poisonScenario('Service Bus', async () => {
        for (const queue of ['launch-job', 'job-events', 'schedule-tasks']) {
          broker.createQueue(queue, {
            maxDeliveryCount,
            lockDurationMs: 30_000,
            duplicateDetectionWindowMs: 10 * 60_000,
          });
        }
        const bus = createServiceBusBus({
          fullyQualifiedNamespace: broker.host,
          connectionString: broker.connectionString,
          clientOptions: {
            retryOptions: { maxRetries: 2, retryDelayInMs: 50, timeoutInMs: 10_000 },
          },
        });
        return { bus, close: () => bus.close() };
      });
    } finally {
      await broker.stop();
    }
  });
});
