import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../shared/app/config.js';
import { createLocalServices, type Services } from '../../shared/app/services.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { runCli } from '../helpers/hostProcess.js';

/**
 * `baton runs find` / `baton runs compare` and `GET /api/tracking/runs` over the tracker of a
 * live host: a parent run with three children, found by metric condition and tag, ordered by a
 * metric, compared side by side; bad flags named.
 */
describe('tracked runs: find and compare', () => {
  let stateDir: string;
  let host: LocalHost;
  let services: Services;
  const ids: Record<string, string> = {};
  const cli = (...args: string[]) => runCli(['--endpoint', host.url, ...args]);

  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-tracking-'));
    services = createLocalServices(loadConfig({ BATON_STATE_DIR: stateDir }));
    host = await LocalHost.start({
      stateDir,
      port: 0,
      services,
      triggers: false,
      logger: createLogger({ level: 'silent' }),
    });
    const { tracker } = services;
    const experimentId = await tracker.getOrCreateExperiment('churn');
    ids.parent = await tracker.startRun({ experimentId, name: 'sweep' });
    for (const [name, lr, f1] of [
      ['t0', 0.1, 0.71],
      ['t1', 0.01, 0.86],
      ['t2', 0.001, 0.82],
    ] as const) {
      const runId = await tracker.startRun({
        experimentId,
        name,
        parentRunId: ids.parent,
        tags: { team: 'ml' },
      });
      ids[name] = runId;
      await tracker.logParams(runId, { lr });
      await tracker.logMetrics(runId, [{ key: 'f1', value: f1, step: 1 }]);
      await tracker.endRun(runId, 'FINISHED');
    }
  });
  after(async () => {
    await host.stop();
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it('finds the children above a metric threshold, best first', async () => {
    const result = await cli(
      '--json',
      'runs',
      'find',
      '--experiment',
      'churn',
      '--tag',
      'team=ml',
      '--metric',
      'f1>0.8',
      '--order-by',
      'metric.f1 DESC',
      '--max',
      '5',
    );
    assert.equal(result.code, 0, result.stderr);
    const found = JSON.parse(result.stdout) as Array<{ name: string; metrics: { f1: number } }>;
    assert.deepEqual(
      found.map((r) => r.name),
      ['t1', 't2'],
    );
  });

  it('compares two runs side by side, marking what differs', async () => {
    const result = await cli('runs', 'compare', ids.t1 ?? '', ids.t2 ?? '');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /param\.lr\s+0\.01\s+0\.001\s+≠/);
    assert.match(result.stdout, /metric\.f1\s+0\.860000\s+0\.820000\s+≠/);
  });

  it('names the flag of a bad query, over the CLI and HTTP', async () => {
    const bad = await cli('runs', 'find', '--experiment', 'churn', '--metric', 'f1>>0.8');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--metric/);
    const response = await fetch(
      `${host.url}/api/tracking/runs?experiment=churn&metric=${encodeURIComponent('f1 ~ 2')}`,
    );
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: { field?: string } };
    assert.equal(body.error.field, '--metric');
    const missing = await cli('runs', 'find', '--experiment', 'nope');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no experiment named nope/);
  });
});
