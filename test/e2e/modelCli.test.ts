import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot, runCli } from '../helpers/hostProcess.js';

/**
 * The seed's actions from the CLI, each command with its own embedded host: databank init
 * (dry run first), `baton run <databank>` creating the databank from --config and running it,
 * dry runs of what a run would do, and the mistakes users make (exit 2, the flag named).
 */
describe('baton databank / baton run <databank>', () => {
  let stateDir = '';
  const config = path.join('examples', 'transport-model', 'orca_model_config.yaml');
  const env = { BATON_MODEL_SOURCES_ROOT: repoRoot, BATON_JOB_WATCH_SCHEDULE: '* * * * * *' };
  const cli = (...args: string[]) => runCli(['--state-dir', stateDir, ...args], env);
  const dir = (name: string): string => path.join(stateDir, 'databanks', name);

  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-model-cli-'));
  });
  after(async () => {
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it('databank init --dry-run shows the plan and creates nothing; init creates it', async () => {
    const dry = await cli('databank', 'init', 'plan_only', '--config', config, '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /would create databank plan_only/);
    assert.match(dry.stdout, /copy template\s+populationsim/);
    assert.equal(existsSync(dir('plan_only')), false);
    const made = await cli('databank', 'init', 'plan_only', '--config', config);
    assert.equal(made.code, 0, made.stderr);
    assert.ok(existsSync(path.join(dir('plan_only'), 'inputs', 'landuse', 'zones.csv')));
    const again = await cli('databank', 'init', 'plan_only', '--config', config);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /--overwrite/);
  });

  it(
    'baton run <databank> creates it from --config, runs it, and exits 0',
    { timeout: 120_000 },
    async () => {
      const result = await cli('run', 'cli_run', '--config', config, '--iterations', '1');
      assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
      assert.match(result.stderr, /created databank cli_run/);
      const state = JSON.parse(
        await readFile(path.join(dir('cli_run'), 'orca_model_state.json'), 'utf8'),
      ) as {
        status: string;
        total_iterations: number;
      };
      assert.equal(state.status, 'completed');
      assert.equal(state.total_iterations, 1);

      const done = await cli('run', 'cli_run', '--dry-run');
      assert.equal(done.code, 0, done.stderr);
      assert.match(done.stdout, /complete; nothing to run/);
      const over = await cli('run', 'cli_run', '--dry-run', '--overwrite', '--steps', 'quetzal');
      assert.equal(over.code, 0, over.stderr);
      assert.match(over.stdout, /2 step\(s\) over 2 iteration/);
      assert.doesNotMatch(over.stdout, /activitysim/);
    },
  );

  it(
    'runs in cloud_production mode and the lake holds the databank (baton sync list)',
    { timeout: 120_000 },
    async () => {
      const result = await cli(
        'run',
        'cli_cloud',
        '--config',
        config,
        '--iterations',
        '1',
        '--mode',
        'cloud_production',
        '--project-folder',
        'p2030',
      );
      assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
      assert.match(result.stdout, /iteration 1 activitysim: done, [\d.]+ s, cpu avg/);
      const listed = await cli('--json', 'sync', 'list', 'cli_cloud', '--project-folder', 'p2030');
      assert.equal(listed.code, 0, listed.stderr);
      const paths = JSON.stringify(JSON.parse(listed.stdout));
      for (const file of [
        'orca_model_state.json',
        'quetzal.zip',
        'quetzal_quetzal_outputs_iter1.zip',
      ]) {
        assert.ok(paths.includes(file), `${file} in ${paths.slice(0, 400)}`);
      }
    },
  );

  it('reports mistakes with exit 2, naming the flag', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['run', 'cli_run', '--mode', 'fast'], /--mode/],
      [['run', 'cli_run', '--iterations', '0'], /--iterations/],
      [['run', 'hello', '--steps', 'a'], /are for databanks/],
      [['run', '../up', '--config', config], /databank/],
      [['databank', 'init', 'x', '--config', 'no/such.yaml'], /--config/],
    ];
    for (const [args, pattern] of cases) {
      const result = await cli(...args);
      assert.equal(result.code, 2, `${args.join(' ')} -> ${result.code}: ${result.stderr}`);
      assert.match(result.stderr, pattern, args.join(' '));
      assert.doesNotMatch(result.stderr, /\n\s+at /);
    }
  });
});
