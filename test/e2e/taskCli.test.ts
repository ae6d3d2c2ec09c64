import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { runCli } from '../helpers/hostProcess.js';

/**
 * `baton task ...` against an in-process local host with its triggers off: the scheduler never
 * runs, so tasks stay `registered` and these tests cover what needs no job to execute (the
 * dry run, client-side checks, create, list, show, kill, delete). tasks.test.ts runs jobs.
 */
interface TaskSummary {
  name: string;
  owner: string;
  state: string;
  jobs: number;
  byState: Record<string, number>;
  percentDone: number;
}
interface TaskView extends TaskSummary {
  image?: string;
  bypass: boolean;
  gateSize: number;
  history: Array<{ from: string; to: string; event: string; by?: string }>;
  jobList: Array<{ key: string; item: string; state: string; gate: boolean }>;
}
interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

const exec = 'python3 /job.py -d %DATA -c %IN -o %OUT';

describe('baton task', () => {
  let stateDir: string;
  let host: LocalHost;
  const lakePath = (rel: string): string => path.join(stateDir, 'lake', ...rel.split('/'));
  const lakeFile = async (rel: string, content: string): Promise<void> => {
    await mkdir(path.dirname(lakePath(rel)), { recursive: true });
    await writeFile(lakePath(rel), content);
  };
  const cli = (...args: string[]) => runCli(['--endpoint', host.url, '--user', 'alice', ...args]);
  /** Where no host listens: a command that gets this far would exit 3, not 2. */
  const offline = (...args: string[]) =>
    runCli(['--endpoint', 'http://127.0.0.1:9', '--user', 'alice', ...args]);
  const create = (task: string, ...more: string[]) =>
    cli(
      'task',
      'create',
      '-c',
      'user.alice.configs',
      '-d',
      'user.alice.data',
      '-t',
      task,
      '--exec',
      exec,
      ...more,
    );
  const listed = async (): Promise<TaskSummary[]> => {
    const result = await cli('--json', 'task', 'list', '-u', 'alice');
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as TaskSummary[];
  };

  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-task-cli-'));
    host = await LocalHost.start({
      stateDir,
      port: 0,
      triggers: false,
      logger: createLogger({ level: 'silent' }),
    });
    await lakeFile('alice/data/table.csv', 'x,y\n1,2\n');
    for (let i = 0; i < 3; i++) await lakeFile(`alice/configs/c${i}.json`, JSON.stringify({ i }));
    for (const [name, lake] of [
      ['user.alice.data', 'alice/data/table.csv'],
      ['user.alice.configs', 'alice/configs'],
    ] as const) {
      const result = await cli('dataset', 'register', '-d', name, '-p', lake);
      assert.equal(result.code, 0, result.stderr);
    }
  });
  after(async () => {
    await host.stop();
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it('--dry-run prints the plan and sample commands and creates nothing', async () => {
    const human = await create('user.alice.planned', '--dry-run', '--priority', '-2');
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /would be created with 3 jobs; nothing was created/);
    assert.match(human.stdout, /priority -2/);
    assert.match(human.stdout, /test gate\s+\d+ job/);
    assert.match(human.stdout, /j000000\s+c0\.json/);
    assert.match(human.stdout, /python3 \/job\.py -d "\$BATON_DATA" -c "\$BATON_IN"/);
    assert.match(human.stdout, /BATON_IN=alice\/configs\/c0\.json/);
    assert.match(human.stdout, /BATON_DATA=alice\/data\/table\.csv/);

    const json = await create('user.alice.planned', '--dry-run', '--json');
    assert.equal(json.code, 0, json.stderr);
    const plan = JSON.parse(json.stdout) as { dryRun: boolean; task: TaskView; sampleJobs: [] };
    assert.equal(plan.dryRun, true);
    assert.equal(plan.task.jobs, 3);
    assert.equal(plan.sampleJobs.length, 3);
    assert.deepEqual(await listed(), []);
  });

  it('exits 2 naming the flag before reaching a host', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--exec', 'python3 /job.py -d %DATA -c %IN'], /--exec: %OUT is missing/],
      [['--exec', "echo '%OUT' %DATA %IN"], /--exec: .*single quotes/],
      [['-t', 'alice.task'], /--task: must start with user\./],
      [['-t', 'user.alice.a/b'], /--task: .*separator/],
      [['-c', 'configs'], /--config-dataset/],
      [['--priority', '6'], /--priority: expected a whole number from -5 to 5/],
      [['--cpu', '0'], /--cpu: expected a positive number/],
      [['--memory', 'lots'], /--memory/],
      [['--max-retries', '99'], /--max-retries/],
      [['--image', 'a', '--containerImage', 'b'], /--containerImage/],
    ];
    const base = {
      '-c': 'user.alice.configs',
      '-d': 'user.alice.data',
      '-t': 'user.alice.checked',
      '--exec': exec,
    };
    for (const [args, pattern] of cases) {
      const flags = new Map(Object.entries(base));
      const extra: string[] = [];
      for (let i = 0; i < args.length; i += 2) {
        const [flag = '', value = ''] = [args[i], args[i + 1]];
        if (flags.has(flag)) flags.set(flag, value);
        else extra.push(flag, value);
      }
      const result = await offline('task', 'create', ...[...flags].flat(), ...extra);
      assert.equal(result.code, 2, `${args.join(' ')} -> ${result.code}: ${result.stderr}`);
      assert.match(result.stderr, pattern, args.join(' '));
      assert.doesNotMatch(result.stderr, /\n\s+at /, `stack trace for ${args.join(' ')}`);
    }
    for (const command of ['kill', 'retry', 'delete']) {
      const result = await offline('task', command, '-t', 'user.alice');
      assert.equal(result.code, 2, `${command}: ${result.stderr}`);
      assert.match(result.stderr, /--task/);
    }
    const json = await offline('--json', 'task', 'show', '../etc');
    assert.equal(json.code, 2);
    assert.equal((JSON.parse(json.stdout) as ErrorBody).error.field, 'name');
  });

  it('creates, lists, shows, kills and deletes a task', async () => {
    const name = 'user.alice.scan';
    const created = await create(name, '--bypass', '--containerImage', 'alice/scan:1');
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, new RegExp(`created ${name.replace(/\./g, '\\.')}: 3 jobs`));

    const list = await listed();
    assert.deepEqual(
      list.map((t) => [t.name, t.state, t.jobs, t.byState.queued]),
      [[name, 'registered', 3, 3]],
    );
    const table = await cli('task', 'list');
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME\s+STATE\s+JOBS\s+PROGRESS\s+AGE/);
    assert.match(table.stdout, /user\.alice\.scan\s+registered\s+q3\s+0%\s+\d+s/);

    const again = await create(name, '--bypass');
    assert.equal(again.code, 2, again.stderr);
    assert.match(again.stderr, /already exists/);

    const shown = await cli('task', 'show', name);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /state\s+registered/);
    assert.match(shown.stdout, /image\s+alice\/scan:1/);
    assert.match(shown.stdout, /test gate\s+bypassed/);
    assert.match(shown.stdout, /KEY\s+ITEM\s+STATE\s+ATTEMPT\s+EXIT\s+GATE/);
    for (let i = 0; i < 3; i++)
      assert.match(shown.stdout, new RegExp(`j00000${i}\\s+c${i}\\.json\\s+queued\\s+1/3`));
    const view = JSON.parse((await cli('task', 'show', name, '--json')).stdout) as TaskView;
    assert.equal(view.image, 'alice/scan:1');
    assert.equal(view.bypass, true);
    assert.equal(view.jobList.length, 3);

    const unstarted = await cli('task', 'delete', '-t', name);
    assert.equal(unstarted.code, 0, `a registered task may be deleted: ${unstarted.stderr}`);
    const recreated = await create(name, '--image', 'alice/scan:2');
    assert.equal(recreated.code, 0, recreated.stderr);

    const killed = await cli('--json', 'task', 'kill', '-t', name);
    assert.equal(killed.code, 0, killed.stderr);
    assert.deepEqual(JSON.parse(killed.stdout), { name, state: 'killed', canceled: 3 });
    const afterKill = JSON.parse((await cli('task', 'show', name, '--json')).stdout) as TaskView;
    assert.equal(afterKill.state, 'killed');
    assert.deepEqual(
      afterKill.history.map((h) => [h.from, h.to, h.event, h.by]),
      [['registered', 'killed', 'kill', 'alice']],
    );
    const killedShown = await cli('task', 'show', name);
    assert.match(killedShown.stdout, /registered\s+killed\s+kill\s+alice/);
    assert.match(killedShown.stdout, /j000000\s+c0\.json\s+canceled/);

    const foreign = await runCli([
      '--endpoint',
      host.url,
      '--user',
      'bob',
      'task',
      'delete',
      '-t',
      name,
    ]);
    assert.equal(foreign.code, 2);
    assert.match(foreign.stderr, /belong to alice/);

    // Something in the task's lake folder, as a job would leave it.
    await lakeFile(`tasks/${name}/outputs/j000000/attempt-1/out/result.json`, '{}');
    const deleted = await cli('task', 'delete', '-t', name, '--remove-files');
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout.trim(), `deleted ${name} and its files`);
    await assert.rejects(stat(lakePath(`tasks/${name}`)));

    const gone = await cli('task', 'show', name);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /not found/);
    const goneJson = await cli('--json', 'task', 'kill', '-t', name);
    assert.equal(goneJson.code, 2);
    assert.equal((JSON.parse(goneJson.stdout) as ErrorBody).error.code, 'not_found');
    assert.deepEqual(await listed(), []);
  });
});
