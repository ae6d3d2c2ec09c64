import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HostFolderStaging } from '../../shared/adapters/local/hostFolderStaging.js';
import { LocalProcessBackend } from '../../shared/adapters/local/processCompute.js';
import type { Services } from '../../shared/app/services.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { startAzureWorld, type AzureWorld } from '../helpers/azureWorld.js';
import { asUser } from '../helpers/localAuth.js';

/**
 * A task on the Azure adapters over the wire: tasks, jobs and the scheduler lease in Cosmos DB
 * (cross-partition queries, etag races), datasets, staged inputs, outputs and logs in ADLS,
 * launch-job / job-events / on-demand ticks (scheduled, deduplicated) on Service Bus. The jobs
 * themselves run as local processes: container backends cannot be staged yet.
 */
interface TaskView {
  state: string;
  jobList: Array<{ key: string; state: string; outputPath?: string; logPath?: string }>;
}

describe('a task on Cosmos DB, ADLS and Service Bus', () => {
  let world: AzureWorld;
  let host: LocalHost;
  before(async () => {
    world = await startAzureWorld();
    const base = world.services;
    const services: Services = {
      ...base,
      config: { ...base.config, BATON_TASK_TEST_JOBS: 2, BATON_BACKEND_SLOTS: 'local=3' },
      compute: new LocalProcessBackend({
        root: path.join(world.stateDir, 'jobs'),
        workRoot: world.stateDir,
      }),
      staging: new HostFolderStaging({
        lake: base.lake,
        root: path.join(world.stateDir, 'work'),
        backends: ['local'],
        workRoot: world.stateDir,
      }),
    };
    host = await LocalHost.start({
      stateDir: world.stateDir,
      port: 0,
      services,
      logger: createLogger({ level: 'silent' }),
      env: { BATON_JOB_WATCH_SCHEDULE: '* * * * * *', BATON_HEARTBEAT_SCHEDULE: '0 0 0 1 1 *' },
    });
    await base.lake.write('carol/data.csv', 'a,b\n1,2\n3,4\n');
    for (let i = 0; i < 6; i++) await base.lake.write(`carol/configs/c${i}.txt`, `config ${i}\n`);
  });
  after(async () => {
    await host.stop();
    await world.stop();
  });

  async function call<T>(method: string, route: string, body?: unknown): Promise<[number, T]> {
    const response = await fetch(`${host.url}/api/${route}`, {
      method,
      headers: asUser('carol'),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return [response.status, (await response.json()) as T];
  }

  it(
    'runs the gate and every job, outputs and logs written to ADLS',
    { timeout: 120_000 },
    async () => {
      for (const [name, lakePath] of [
        ['user.carol.data', 'carol/data.csv'],
        ['user.carol.configs', 'carol/configs'],
      ]) {
        const [status, body] = await call('POST', 'datasets', { name, path: lakePath });
        assert.equal(status, 201, JSON.stringify(body));
      }
      const [status, created] = await call<TaskView>('POST', 'tasks', {
        name: 'user.carol.scan',
        configDataset: 'user.carol.configs',
        dataDataset: 'user.carol.data',
        exec: 'wc -l < %DATA > %OUT && cat %IN >> %OUT && echo ran',
      });
      assert.equal(status, 201, JSON.stringify(created));
      let view: TaskView | undefined;
      const deadline = Date.now() + 90_000;
      while (Date.now() < deadline) {
        [, view] = await call<TaskView>('GET', 'tasks/user.carol.scan');
        if (!['registered', 'testing', 'running'].includes(view.state)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(view?.state, 'finished', JSON.stringify(view));
      for (const [i, job] of (view?.jobList ?? []).entries()) {
        assert.equal(job.state, 'succeeded');
        const out = (await world.services.lake.read(`${job.outputPath ?? ''}/out`)).toString();
        assert.equal(out, `3\nconfig ${i}\n`);
        const log = (await world.services.lake.read(job.logPath ?? '')).toString();
        assert.equal(log.trim(), 'ran');
      }
    },
  );
});
