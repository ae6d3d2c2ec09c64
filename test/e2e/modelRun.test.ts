import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { repoRoot, runToEnd } from '../helpers/hostProcess.js';
import { asUser } from '../helpers/localAuth.js';

/**
 * Model runs (seed 000) on a live local host, over HTTP: a databank created from the example
 * config, a run of 2 iterations × 3 steps with its state file, archives, cleanup, monitoring and
 * orchestrator log; a failing command with its error dump and a resume after the fix; cloud
 * mode syncing to the (folder) lake; and the errors users make.
 */
interface RunView {
  runId: string;
  status: string;
  error?: string;
  output: {
    status: string;
    steps: number;
    resumedFrom?: { iteration: number; step: string };
    summaries: string[];
  } | null;
}
interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

const exampleDir = path.join(repoRoot, 'examples', 'transport-model');

describe('model runs on a live local host', () => {
  let stateDir: string;
  let host: LocalHost;
  const databank = (name: string): string => path.join(stateDir, 'databanks', name);

  async function call<T>(method: string, route: string, body?: unknown): Promise<[number, T]> {
    const response = await fetch(`${host.url}/api/${route}`, {
      method,
      headers: asUser('modeller'),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return [response.status, (await response.json()) as T];
  }
  const init = async (
    name: string,
    extra: Record<string, unknown> = {},
  ): Promise<[number, unknown]> =>
    call('POST', 'databanks', {
      name,
      config: await readFile(path.join(exampleDir, 'orca_model_config.yaml'), 'utf8'),
      sourceDir: exampleDir,
      ...extra,
    });
  const run = (params: Record<string, unknown>): Promise<RunView> =>
    runToEnd<RunView>(host.url, { pipeline: 'model', params }, 90_000);
  const state = async (name: string): Promise<Record<string, unknown>> =>
    JSON.parse(
      await readFile(path.join(databank(name), 'orca_model_state.json'), 'utf8'),
    ) as Record<string, unknown>;

  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-model-'));
    host = await LocalHost.start({
      stateDir,
      port: 0,
      logger: createLogger({ level: 'silent' }),
      env: {
        BATON_MODEL_SOURCES_ROOT: repoRoot,
        BATON_JOB_WATCH_SCHEDULE: '* * * * * *',
      },
    });
  });
  after(async () => {
    await host.stop();
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it('creates a databank with the seed layout, refuses to touch it again without overwrite', async () => {
    const [dry, plan] = await init('scenario_a', { dryRun: true });
    assert.equal(dry, 200, JSON.stringify(plan));
    assert.equal(existsSync(databank('scenario_a')), false, 'a dry run changes nothing');

    const [status, body] = await init('scenario_a');
    assert.equal(status, 201, JSON.stringify(body));
    const dir = databank('scenario_a');
    for (const file of [
      'orca_model_config.yaml',
      'orca_orchestrator.log',
      'inputs/landuse/zones.csv',
      'inputs/networks/skims.csv',
      'populationsim/scripts/populationsim.mjs',
      'activitysim/scripts/activitysim.mjs',
      'quetzal/scripts/quetzal.mjs',
    ]) {
      assert.ok(existsSync(path.join(dir, file)), file);
    }
    assert.ok(existsSync(path.join(dir, 'outputs')));

    const [again, error] = await init('scenario_a');
    assert.equal(again, 409);
    assert.match((error as ErrorBody).error.message, /--overwrite/);
  });

  it('runs 2 iterations × 3 steps: state file, archives, cleanup, monitoring, log', async () => {
    const view = await run({ databank: 'scenario_a' });
    assert.equal(view.status, 'completed', JSON.stringify(view));
    assert.equal(view.output?.steps, 6);
    const final = await state('scenario_a');
    assert.equal(final.status, 'completed');
    assert.equal(final.total_iterations, 2);
    assert.equal(final.current_iteration, 2);
    assert.deepEqual(final.steps, ['populationsim', 'activitysim', 'quetzal']);
    assert.deepEqual(final.completed_steps, final.steps);
    assert.match(String(final.start_time), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);

    const dir = databank('scenario_a');
    const outputs = (await readdir(path.join(dir, 'outputs'))).sort();
    assert.deepEqual(outputs, [
      'activitysim_activitysim_outputs_iter1.zip',
      'activitysim_activitysim_outputs_iter2.zip',
      'populationsim_populationsim_outputs_iter1.zip',
      'quetzal_quetzal_outputs_iter1.zip',
      'quetzal_quetzal_outputs_iter2.zip',
      'quetzal_quetzal_summary_iter2.zip',
    ]);
    // cleanup_patterns: *.tmp and temp_* are gone; the outputs stay.
    assert.equal(existsSync(path.join(dir, 'activitysim', 'temp_chunks.tmp')), false);
    assert.equal(existsSync(path.join(dir, 'populationsim', 'scratch.tmp')), false);
    assert.ok(existsSync(path.join(dir, 'activitysim', 'outputs', 'trips.csv')));
    // performance_monitoring: one CSV per iteration and step, with samples of the job.
    const csv = await readFile(path.join(dir, 'performance', '1_activitysim.csv'), 'utf8');
    const [header, ...rows] = csv.trim().split('\n');
    assert.match(header ?? '', /cpu_percent/);
    assert.match(header ?? '', /rss_mb/);
    assert.ok(rows.length >= 1, csv);
    assert.ok(view.output?.summaries.some((s) => /activitysim: done, [\d.]+ s, cpu avg/.test(s)));
    const log = await readFile(path.join(dir, 'orca_orchestrator.log'), 'utf8');
    assert.match(log, /INFO run .*: starting; 6 step\(s\)/);
    assert.match(log, /iteration 2 quetzal: done/);
    assert.match(log, /completed/);

    // Run again: the state says complete, so nothing runs (the seed would start over only when told).
    const noop = await run({ databank: 'scenario_a' });
    assert.equal(noop.output?.status, 'already_completed');
  });

  it('stops on a failed command with an error dump, then resumes after the fix', async () => {
    const [status] = await init('scenario_b');
    assert.equal(status, 201);
    const dir = databank('scenario_b');
    await writeFile(path.join(dir, 'FAIL_QUETZAL'), '');
    const failed = await run({ databank: 'scenario_b' });
    assert.equal(failed.status, 'failed');
    assert.match(
      failed.error ?? '',
      /step quetzal of iteration 1 failed at command 0: Assign demand to the network: exit code 3/,
    );
    const stopped = await state('scenario_b');
    assert.equal(stopped.status, 'failed');
    assert.equal(stopped.current_iteration, 1);
    assert.deepEqual(stopped.completed_steps, ['populationsim', 'activitysim']);

    const dumps = await readdir(path.join(dir, 'error_dumps'));
    assert.equal(dumps.length, 1);
    const dump = path.join(dir, 'error_dumps', dumps[0] ?? '');
    const info = JSON.parse(await readFile(path.join(dump, 'error_info.json'), 'utf8')) as {
      exitCode: number;
      step: string;
      iteration: number;
      lastLogLines: string[];
    };
    assert.equal(info.exitCode, 3);
    assert.equal(info.step, 'quetzal');
    assert.equal(info.iteration, 1);
    assert.ok(
      info.lastLogLines.some((l) => l.includes('does not converge')),
      JSON.stringify(info),
    );
    for (const file of [
      'system_info.json',
      'orca_model_config.yaml',
      'orca_model_state.json',
      'quetzal/scripts/quetzal.mjs',
    ]) {
      assert.ok(existsSync(path.join(dump, file)), file);
    }

    await rm(path.join(dir, 'FAIL_QUETZAL'));
    const resumed = await run({ databank: 'scenario_b' });
    assert.equal(resumed.status, 'completed', JSON.stringify(resumed));
    assert.deepEqual(resumed.output?.resumedFrom, { iteration: 1, step: 'quetzal' });
    assert.equal(resumed.output?.steps, 4, 'quetzal of iteration 1, then iteration 2');
    assert.equal((await state('scenario_b')).status, 'completed');
  });

  it('syncs the databank to the lake after each step in cloud_production mode', async () => {
    await init('scenario_c');
    const view = await run({
      databank: 'scenario_c',
      mode: 'cloud_production',
      iterations: 1,
      projectFolder: 'runs2030',
    });
    assert.equal(view.status, 'completed', JSON.stringify(view));
    const lake = path.join(stateDir, 'lake', 'runs2030', 'scenario_c');
    for (const file of [
      'orca_model_config.yaml',
      'orca_model_state.json',
      'populationsim.zip',
      'activitysim.zip',
      'outputs/quetzal_quetzal_outputs_iter1.zip',
    ]) {
      assert.ok(existsSync(path.join(lake, file)), file);
    }
    const synced = JSON.parse(await readFile(path.join(lake, 'orca_model_state.json'), 'utf8')) as {
      status: string;
    };
    assert.equal(synced.status, 'completed');
    // Three steps uploaded, the state and log replaced each time, no conflict copies.
    assert.equal(existsSync(path.join(lake, '.cloud_sync_conflict')), false);
  });

  it('names the field of a bad request and of a bad config file', async () => {
    const [badName, nameError] = await call<ErrorBody>('POST', 'runs', {
      pipeline: 'model',
      params: { databank: '../etc' },
    });
    assert.equal(badName, 400);
    assert.equal(nameError.error.field, 'params.databank');
    const [missing, missingError] = await call<ErrorBody>('POST', 'databanks/nope/plan', {});
    assert.equal(missing, 404);
    assert.match(missingError.error.message, /databank nope: no orca_model_config.yaml/);

    const [badConfig, configError] = await call<ErrorBody>('POST', 'databanks', {
      name: 'broken',
      config:
        'model_steps: [a]\niterations: { total: 1 }\nsub_components:\n  a:\n    commands:\n      - description: x\n',
      sourceDir: exampleDir,
    });
    assert.equal(badConfig, 400);
    assert.match(
      configError.error.message,
      /orca_model_config.yaml: sub_components\.a\.commands\[0\]\.command/,
    );

    const [outside, outsideError] = await init('escape', { sourceDir: os.tmpdir() });
    assert.equal(outside, 403, JSON.stringify(outsideError));
    assert.match((outsideError as ErrorBody).error.message, /BATON_MODEL_SOURCES_ROOT/);
  });
});
