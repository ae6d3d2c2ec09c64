import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { StateStoreTracker } from '../../shared/adapters/local/stateStoreTracker.js';
import { FileStateStore } from '../../shared/adapters/local/fileStateStore.js';
import type { SweepOutput } from '../../shared/orchestrations/sweepTypes.js';
import {
  api,
  killHard,
  repoRoot,
  startHostProcess,
  stopGracefully,
  type HostProcess,
} from '../helpers/hostProcess.js';

/**
 * A sweep whose host is SIGKILLed after its first trials finished, then started again: the
 * sweep completes with every trial run exactly once (each trial appends to its own runs.log)
 * and recorded once in the tracker.
 */
interface RunView {
  status: string;
  error?: string;
  output: SweepOutput | null;
}

describe('a sweep across a host kill (baton up as a child process)', () => {
  let work = '';
  let host: HostProcess | undefined;
  after(async () => {
    if (host) await killHard(host);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('resumes without repeating finished trials', { timeout: 180_000 }, async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'baton-sweep-kill-'));
    const stateDir = path.join(work, 'state');
    const env = { BATON_JOB_WATCH_SCHEDULE: '* * * * * *' };
    host = await startHostProcess(stateDir, env);
    const train = path.join(repoRoot, 'examples', 'ml', 'train.mjs');
    const started = await api<{ runId: string }>(`${host.url}/api/runs`, 'POST', {
      pipeline: 'sweep',
      params: {
        experiment: 'kill',
        space: { lr: { type: 'loguniform', low: 0.01, high: 1 } },
        objective: { metric: 'val_loss', direction: 'minimize' },
        budget: { maxTrials: 6 },
        parallelism: 2,
        trial: {
          argv: ['/bin/sh', '-c', 'echo ran >> runs.log && exec node "$0"', train],
          timeoutSeconds: 60,
        },
      },
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const runId = started.body.runId;
    const trialDir = (n: number): string => path.join(stateDir, 'sweeps', runId, `trial-${n}`);

    // Kill once a third trial exists: at least one trial has finished and others are in flight.
    const waitUntil = Date.now() + 60_000;
    while (!existsSync(trialDir(2)) && Date.now() < waitUntil) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(existsSync(trialDir(2)), 'the sweep never reached its third trial');
    await killHard(host);
    host = await startHostProcess(stateDir, env);

    let view: RunView | undefined;
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      view = (await api<RunView>(`${host.url}/api/runs/${runId}`)).body;
      if (view.status !== 'running' && view.status !== 'pending') break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(view?.status, 'completed', JSON.stringify(view));
    assert.equal(view?.output?.trials, 6);
    assert.equal(await stopGracefully(host), 0);
    host = undefined;

    for (let n = 0; n < 6; n++) {
      const runs = (await readFile(path.join(trialDir(n), 'runs.log'), 'utf8')).trim().split('\n');
      assert.equal(runs.length, 1, `trial ${n} ran ${runs.length} times`);
    }
    const tracker = new StateStoreTracker({
      store: new FileStateStore({ root: path.join(stateDir, 'state') }),
    });
    const output = view?.output;
    assert.ok(output);
    const children = await tracker.searchRuns({
      experimentIds: [output.tracking.experimentId],
      filter: { parentRunId: output.tracking.sweepRunId },
    });
    assert.equal(children.length, 6);
    assert.equal(new Set(children.map((run) => run.tags.trial)).size, 6);
  });
});
