import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Services } from '../../shared/app/services.js';
import type { SweepOutput } from '../../shared/orchestrations/sweepTypes.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { startAzureWorld, type AzureWorld } from '../helpers/azureWorld.js';
import { repoRoot, runToEnd } from '../helpers/hostProcess.js';

/**
 * A sweep whose trials run as container groups: the ACI backend through the real ARM client
 * against the container-instances wire simulator (each container's command really runs), state
 * in Cosmos DB, logs in ADLS, launch and job events on Service Bus. A container shares no
 * folder with the host, so each trial gets no working folder or metrics file: it reports its
 * metrics on its output (`baton-metric` lines, BATON_METRICS_STDOUT=1), which the host reads
 * from the container's logs.
 */
interface RunView {
  runId: string;
  status: string;
  error?: string;
  output: SweepOutput | null;
}

const trainScript = path.join(repoRoot, 'examples', 'ml', 'train.mjs');

describe('a sweep with its trials on Azure Container Instances', () => {
  let world: AzureWorld;
  let host: LocalHost;
  before(async () => {
    world = await startAzureWorld();
    const services: Services = {
      ...world.services,
      config: { ...world.services.config, BATON_COMPUTE: 'aci' },
    };
    host = await LocalHost.start({
      stateDir: world.stateDir,
      port: 0,
      services,
      logger: createLogger({ level: 'silent' }),
      env: { BATON_JOB_WATCH_SCHEDULE: '* * * * * *', BATON_HEARTBEAT_SCHEDULE: '0 0 0 1 1 *' },
    });
  });
  after(async () => {
    await host.stop();
    await world.stop();
  });

  it(
    'runs each trial as a container group and records its reported metrics',
    { timeout: 180_000 },
    async () => {
      const view = await runToEnd<RunView>(
        host.url,
        {
          pipeline: 'sweep',
          params: {
            experiment: 'aci-sweep',
            space: {
              lr: { type: 'loguniform', low: 0.01, high: 1 },
              epochs: { type: 'int', low: 5, high: 15, step: 5 },
            },
            objective: { metric: 'val_loss', direction: 'minimize' },
            budget: { maxTrials: 3 },
            parallelism: 2,
            sampler: { kind: 'random' },
            seed: 3,
            trial: { argv: ['node', trainScript], timeoutSeconds: 120 },
          },
        },
        150_000,
      );
      assert.equal(view.status, 'completed', JSON.stringify(view));
      const output = view.output;
      assert.ok(output);
      assert.equal(output.completed, 3, JSON.stringify(output));

      // Each trial was a container group created through ARM, with no working folder and the
      // output channel switched on.
      const puts = world.arm.requestsTo('PUT').filter((r) => /trial-\d/.test(r.path));
      assert.equal(puts.length, 3);
      for (const put of puts) {
        const body = JSON.stringify(put.body);
        assert.match(body, /BATON_METRICS_STDOUT/);
        assert.doesNotMatch(body, /BATON_METRICS_FILE/);
      }

      // Every epoch's report reached the tracker from the container's output.
      const { tracker } = host.services;
      const children = await tracker.searchRuns({
        experimentIds: [output.tracking.experimentId],
        filter: { parentRunId: output.tracking.sweepRunId },
      });
      assert.equal(children.length, 3);
      for (const child of children) {
        const record = await tracker.getRun(child.runId);
        assert.equal(record.metricHistory.val_loss?.length, Number(child.params.epochs));
      }
      assert.equal(
        output.best.value,
        Math.min(...children.map((c) => c.metrics.val_loss as number)),
      );
    },
  );
});
