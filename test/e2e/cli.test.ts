import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  killHard,
  runCli,
  startHostProcess,
  stopGracefully,
  type HostProcess,
} from '../helpers/hostProcess.js';

/**
 * The `baton` CLI as a user runs it: embedded mode on a fresh state folder, then against a
 * running `baton up` found through the state folder and through `--endpoint`. Exit codes:
 * 0 success, 1 run failed, 2 user mistake (message names the field, no stack trace).
 */
describe('baton CLI', () => {
  let stateDir: string;
  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-cli-'));
  });
  after(async () => {
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });
  const cli = (...args: string[]) => runCli(['--state-dir', stateDir, ...args]);

  it('prints help and version and exits 0', async () => {
    const help = await cli('--help');
    assert.equal(help.code, 0);
    for (const command of ['up', 'run', 'runs', 'status', 'logs', 'cancel', 'demo'])
      assert.match(help.stdout, new RegExp(`\\b${command}\\b`));
    const version = await cli('--version');
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
  });

  it('runs the demo embedded and explains it', async () => {
    const demo = await cli('demo', '--count', '4');
    assert.equal(demo.code, 0, demo.stderr);
    assert.match(demo.stdout, /status\s+completed/);
    assert.match(demo.stdout, /fanned out 4 'sayHello' activities/);
  });

  it('runs a pipeline with --json and returns its view', async () => {
    const run = await cli('run', 'hello', '-p', 'count=3', '-p', 'greeting=Hi', '--json');
    assert.equal(run.code, 0, run.stderr);
    const view = JSON.parse(run.stdout) as {
      status: string;
      output: { files: number };
      params: { greeting: string };
    };
    assert.equal(view.status, 'completed');
    assert.equal(view.output.files, 3);
    assert.equal(view.params.greeting, 'Hi');
    const list = await cli('runs', 'list', '--json');
    assert.equal(list.code, 0);
    assert.ok((JSON.parse(list.stdout) as unknown[]).length >= 2);
  });

  it('runs a job embedded, with no host running (the embedded host runs the job triggers too)', async () => {
    const run = await cli(
      'run',
      'command',
      '-p',
      'argv=["node","-e","console.log(6*7)"]',
      '--json',
    );
    assert.equal(run.code, 0, run.stderr);
    const view = JSON.parse(run.stdout) as { status: string; output: { exitCode: number } };
    assert.equal(view.status, 'completed');
    assert.equal(view.output.exitCode, 0);
  });

  it('validates a run with --dry-run and starts nothing', async () => {
    const before = JSON.parse((await cli('runs', 'list', '--json')).stdout) as unknown[];
    const dry = await cli('run', 'hello', '-p', 'count=5', '--dry-run', '--json');
    assert.equal(dry.code, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout) as {
      dryRun: boolean;
      status: string;
      params: { count: number };
    };
    assert.equal(plan.dryRun, true);
    assert.deepEqual(plan.params, { count: 5, greeting: 'Hello', delayMs: 0 });
    const after = JSON.parse((await cli('runs', 'list', '--json')).stdout) as unknown[];
    assert.equal(after.length, before.length);
    const bad = await cli('run', 'hello', '-p', 'count=0', '--dry-run');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /params\.count/);
  });

  it('reports user mistakes with exit 2, naming the field, without a stack trace', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['run', 'hello', '-p', 'count=0'], /params\.count/],
      [['run', 'hello', '-p', 'colour=blue'], /params/],
      [['run', 'nope'], /'nope' is neither a pipeline .* nor a databank/],
      [['run', 'hello', '--params', '{not json'], /--params/],
      [['run', 'hello', '--timeout', '-4'], /--timeout/],
      [['status', 'no-such-run'], /not found/],
      [['status', '../etc'], /runId/],
      [['runs', 'list', '--status', 'sleeping'], /sleeping/],
      [['--no-such-flag'], /unknown option/],
    ];
    for (const [args, pattern] of cases) {
      const result = await cli(...args);
      assert.equal(result.code, 2, `${args.join(' ')} -> ${result.code}: ${result.stderr}`);
      assert.match(result.stderr, pattern, args.join(' '));
      assert.doesNotMatch(result.stderr, /\n\s+at /, `stack trace for ${args.join(' ')}`);
    }
  });

  it('prints errors as JSON with --json', async () => {
    const result = await cli('--json', 'run', 'hello', '-p', 'count=-1');
    assert.equal(result.code, 2);
    const body = JSON.parse(result.stdout) as { error: { code: string; field: string } };
    assert.equal(body.error.code, 'validation');
    assert.equal(body.error.field, 'params.count');
  });

  describe('against a running host', () => {
    let host: HostProcess;
    before(async () => {
      host = await startHostProcess(stateDir);
    });
    after(async () => {
      await killHard(host);
    });

    it('finds `baton up` through the state folder and through --endpoint', async () => {
      const viaState = await cli('run', 'hello', '-p', 'count=2', '--json');
      assert.equal(viaState.code, 0, viaState.stderr);
      const runId = (JSON.parse(viaState.stdout) as { runId: string }).runId;
      const viaEndpoint = await runCli(['--endpoint', host.url, 'status', runId, '--json']);
      assert.equal(viaEndpoint.code, 0, viaEndpoint.stderr);
      assert.equal((JSON.parse(viaEndpoint.stdout) as { status: string }).status, 'completed');
      const logs = await runCli([
        '--endpoint',
        host.url,
        'logs',
        runId,
        '--step',
        'say-hello-0001',
      ]);
      assert.equal(logs.code, 0);
      assert.match(logs.stdout, /greeting worker 1/);
      assert.doesNotMatch(logs.stdout, /worker 0/);
    });

    it('cancels a long run, refuses to delete it while running, then deletes it', async () => {
      const started = await runCli([
        '--endpoint',
        host.url,
        'run',
        'hello',
        '-p',
        'count=3',
        '-p',
        'delayMs=60000',
        '--no-wait',
        '--json',
      ]);
      assert.equal(started.code, 0, started.stderr);
      const runId = (JSON.parse(started.stdout) as { runId: string }).runId;
      const refused = await runCli(['--endpoint', host.url, 'delete', runId]);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /cancel it first/);
      const cancel = await runCli([
        '--endpoint',
        host.url,
        'cancel',
        runId,
        '--reason',
        'test over',
      ]);
      assert.equal(cancel.code, 0, cancel.stderr);
      let status = '';
      for (let i = 0; i < 100 && status !== 'canceled'; i++) {
        const s = await runCli(['--endpoint', host.url, 'status', runId, '--json']);
        status = (JSON.parse(s.stdout) as { status: string }).status;
        if (status !== 'canceled') await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(status, 'canceled');
      const deleted = await runCli(['--endpoint', host.url, 'delete', runId]);
      assert.equal(deleted.code, 0, deleted.stderr);
      const gone = await runCli(['--endpoint', host.url, 'status', runId]);
      assert.equal(gone.code, 2);
    });

    it('stops cleanly on SIGTERM', async () => {
      assert.equal(await stopGracefully(host), 0);
    });
  });
});
