import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  api,
  killHard,
  repoRoot,
  startHostProcess,
  stopGracefully,
  type HostProcess,
} from '../helpers/hostProcess.js';

/**
 * A model run whose host is SIGKILLed in the middle of its steps and started again: the durable
 * run continues where it was (jobs that were running are re-attached, not started again), and
 * the state file ends `completed` with every archive of both iterations.
 */
interface RunView {
  status: string;
  error?: string;
  output: { steps: number } | null;
}

describe('a model run across host kills (baton up as a child process)', () => {
  let work = '';
  let host: HostProcess | undefined;
  after(async () => {
    if (host) await killHard(host);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('completes with every archive after being killed mid-step', { timeout: 240_000 }, async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'baton-model-kill-'));
    const source = path.join(work, 'model');
    await cp(path.join(repoRoot, 'examples', 'transport-model'), source, { recursive: true });
    const configPath = path.join(source, 'orca_model_config.yaml');
    // Slower steps, so the kills land while a job runs.
    const config = (await readFile(configPath, 'utf8')).replace(
      "ACTIVITYSIM_SECONDS: '1'",
      "ACTIVITYSIM_SECONDS: '3'",
    );
    await writeFile(configPath, config);
    const stateDir = path.join(work, 'state');
    const env = { BATON_MODEL_SOURCES_ROOT: work, BATON_JOB_WATCH_SCHEDULE: '* * * * * *' };
    host = await startHostProcess(stateDir, env);
    const created = await api<unknown>(`${host.url}/api/databanks`, 'POST', {
      name: 'kill_scenario',
      config,
      sourceDir: source,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const started = await api<{ runId: string }>(`${host.url}/api/runs`, 'POST', {
      pipeline: 'model',
      params: { databank: 'kill_scenario' },
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const runId = started.body.runId;

    for (const delay of [2500, 3500]) {
      await new Promise((r) => setTimeout(r, delay));
      await killHard(host);
      host = await startHostProcess(stateDir, env);
    }

    let view: RunView | undefined;
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline) {
      view = (await api<RunView>(`${host.url}/api/runs/${runId}`)).body;
      if (view.status !== 'running' && view.status !== 'pending') break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(view?.status, 'completed', JSON.stringify(view));
    const dir = path.join(stateDir, 'databanks', 'kill_scenario');
    const state = JSON.parse(await readFile(path.join(dir, 'orca_model_state.json'), 'utf8')) as {
      status: string;
      current_iteration: number;
    };
    assert.equal(state.status, 'completed');
    assert.equal(state.current_iteration, 2);
    const archives = (await readdir(path.join(dir, 'outputs'))).filter((f) => f.endsWith('.zip'));
    assert.equal(archives.length, 6, archives.join(', '));
    // activitysim appends a line per run: once per iteration, so no job ran twice.
    const runs = (await readFile(path.join(dir, 'activitysim', 'runs.log'), 'utf8'))
      .trim()
      .split('\n');
    assert.deepEqual(
      runs.map((line) => line.split(' ')[0] + ' ' + line.split(' ')[1]),
      ['iteration 1', 'iteration 2'],
    );
    assert.equal(await stopGracefully(host), 0);
    host = undefined;
  });
});
