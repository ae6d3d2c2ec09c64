import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isBatonError } from '../../shared/domain/errors.js';
import type { BatonError } from '../../shared/domain/errors.js';
import type { JobStatus } from '../../shared/ports/compute.js';
import {
  LocalProcessBackend,
  locateSupervisor,
  waitForJob,
} from '../../shared/adapters/local/processCompute.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const modulePath = path.join(repoRoot, 'shared/adapters/local/processCompute.ts');

/** A `node -e` job; arguments after `--` reach the script as process.argv[1..]. */
const nodeJob = (code: string, ...args: string[]): string[] => [
  process.execPath,
  '-e',
  code,
  '--',
  ...args,
];

/** Spawns a long-lived grandchild (ignoring SIGTERM), writes its pid to argv[1]. */
const withGrandchild = (leader: string): string =>
  `const g = require('node:child_process').spawn(process.execPath, ['-e',` +
  ` 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)'], { stdio: 'ignore' });` +
  ` require('node:fs').writeFileSync(process.argv[1], String(g.pid)); ${leader}`;

/** Zombie-aware: where PID 1 does not reap orphans, a killed process lingers as `Z`. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = text.slice(text.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return !existsSync('/proc/self');
  }
}

async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const isCode =
  (code: BatonError['code']) =>
  (error: unknown): boolean =>
    isBatonError(error, code);

describe('LocalProcessBackend', () => {
  let base: string;
  let root: string;
  let work: string;
  let backend: LocalProcessBackend;
  const ids: string[] = [];
  const newId = (label: string): string => {
    const jobId = `${label}-${randomBytes(4).toString('hex')}`;
    ids.push(jobId);
    return jobId;
  };
  const finish = (jobId: string): Promise<JobStatus> =>
    waitForJob(backend, jobId, { timeoutMs: 15_000, pollMs: 25 });
  const readJson = async (jobId: string, name: string): Promise<Record<string, unknown>> =>
    JSON.parse(await readFile(path.join(root, jobId, name), 'utf8')) as Record<string, unknown>;

  before(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'baton-compute-unit-'));
    root = path.join(base, 'jobs');
    work = path.join(base, 'work');
    await mkdir(path.join(work, 'sub', 'dir'), { recursive: true });
    backend = new LocalProcessBackend({
      root,
      workRoot: work,
      killGraceMs: 500,
      pollIntervalMs: 25,
    });
  });
  after(async () => {
    for (const jobId of ids) await backend.cancel(jobId).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  });

  it('involves no shell: hostile argv arrives verbatim and has no side effects', async () => {
    const marker = (n: number): string => path.join(work, `pwned-${n}`);
    const args = [
      `$(touch ${marker(1)})`,
      `\`touch ${marker(2)}\``,
      `; touch ${marker(3)}`,
      `| touch ${marker(4)} && touch ${marker(5)}`,
      `"quoted" 'single' \\back\\slash`,
      'new\nline',
      ' padded ',
    ];
    const jobId = newId('shell');
    await backend.launch({
      jobId,
      argv: nodeJob('process.stdout.write(JSON.stringify(process.argv.slice(1)))', ...args),
    });
    assert.equal((await finish(jobId)).state, 'succeeded');
    assert.deepEqual(JSON.parse(await backend.logs(jobId)), args);
    for (let n = 1; n <= 5; n++) assert.equal(existsSync(marker(n)), false, marker(n));
  });

  it('gives jobs a minimal env: host secrets do not leak, spec env is merged over it', async () => {
    process.env.BATON_TEST_SECRET = 'hunter2';
    try {
      const jobId = newId('env');
      const env = { CUSTOM_VAR: 'custom', HOME: '/home/override' };
      await backend.launch({
        jobId,
        env,
        argv: nodeJob('process.stdout.write(JSON.stringify(process.env))'),
      });
      assert.equal((await finish(jobId)).state, 'succeeded');
      const seen = JSON.parse(await backend.logs(jobId)) as Record<string, string>;
      assert.equal(seen.BATON_TEST_SECRET, undefined);
      assert.equal(seen.CUSTOM_VAR, 'custom');
      assert.equal(seen.HOME, '/home/override');
      assert.equal(seen.PATH, process.env.PATH);
      const allowed = new Set(['PATH', 'HOME', 'LANG', 'TMPDIR', 'CUSTOM_VAR']);
      for (const key of Object.keys(seen)) assert.ok(allowed.has(key), `unexpected ${key}`);
    } finally {
      delete process.env.BATON_TEST_SECRET;
    }
  });

  it('does not leak host secrets to the supervisor either', async (t) => {
    if (!existsSync('/proc/self/environ')) return t.skip('needs /proc');
    process.env.BATON_TEST_SECRET = 'hunter2';
    const jobId = newId('supenv');
    try {
      await backend.launch({ jobId, argv: nodeJob('setTimeout(() => {}, 5000)') });
    } finally {
      delete process.env.BATON_TEST_SECRET;
    }
    await eventually(() => existsSync(path.join(root, jobId, 'supervisor.json')), 'supervisor');
    const { pid } = await readJson(jobId, 'supervisor.json');
    const environ = await readFile(`/proc/${String(pid)}/environ`, 'utf8');
    assert.doesNotMatch(environ, /BATON_TEST_SECRET/);
    assert.equal((await backend.cancel(jobId)).state, 'canceled');
  });

  it('timeout kills the whole group, escalating to SIGKILL, grandchild included', async () => {
    const jobId = newId('timeout');
    const pidFile = path.join(work, `${jobId}.pid`);
    const started = Date.now();
    await backend.launch({
      jobId,
      timeoutSeconds: 1,
      argv: nodeJob(
        withGrandchild('process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)'),
        pidFile,
      ),
    });
    const status = await finish(jobId);
    assert.equal(status.state, 'timed_out');
    assert.equal(status.exitCode, 137, 'the SIGTERM-ignoring leader needed SIGKILL');
    assert.ok(Date.now() - started >= 1400, 'waited the kill grace');
    const grandchild = Number(await readFile(pidFile, 'utf8'));
    assert.ok(grandchild > 0);
    assert.equal(isAlive(grandchild), false, 'grandchild is dead');
  });

  it('kills processes left in the group once the main process exits', async () => {
    const jobId = newId('leftover');
    const pidFile = path.join(work, `${jobId}.pid`);
    await backend.launch({ jobId, argv: nodeJob(withGrandchild('process.exit(0)'), pidFile) });
    const status = await finish(jobId);
    assert.equal(status.state, 'succeeded');
    assert.equal(status.exitCode, 0);
    assert.equal(isAlive(Number(await readFile(pidFile, 'utf8'))), false);
  });

  it('cancel stops the whole group and records canceled', async () => {
    const jobId = newId('cancel');
    const pidFile = path.join(work, `${jobId}.pid`);
    await backend.launch({
      jobId,
      argv: nodeJob(withGrandchild('setInterval(() => {}, 1000)'), pidFile),
    });
    await eventually(() => existsSync(pidFile), 'grandchild pid file');
    const canceled = await backend.cancel(jobId);
    assert.equal(canceled.state, 'canceled');
    assert.ok(canceled.finishedAt);
    assert.equal(isAlive(Number(await readFile(pidFile, 'utf8'))), false);
    assert.deepEqual(await backend.cancel(jobId), canceled);
  });

  it('finishes a launch the launcher died in (folder made, no supervisor), running the job once', async () => {
    // What a SIGKILL between creating the job folder and spawning its supervisor leaves.
    const marker = path.join(base, `ran-${randomBytes(4).toString('hex')}`);
    const code = "require('node:fs').appendFileSync(process.argv[1], 'x'); console.log('ran')";
    for (const leftover of ['bare', 'with-spec']) {
      const jobId = newId(`crashed-${leftover}`);
      await mkdir(path.join(root, jobId), { mode: 0o700 });
      if (leftover === 'with-spec') {
        await writeFile(
          path.join(root, jobId, 'status.json'),
          JSON.stringify({ state: 'pending', createdAt: '2000-01-01T00:00:00Z' }),
        );
      }
      // Two redeliveries at once: the claim lets one supervisor run the job.
      await Promise.all([
        backend.launch({ jobId, argv: nodeJob(code, marker) }),
        backend.launch({ jobId, argv: nodeJob(code, marker) }),
      ]);
      const status = await finish(jobId);
      assert.equal(status.state, 'succeeded', JSON.stringify(status));
      assert.match(await backend.logs(jobId), /^ran\n$/);
    }
    assert.equal(await readFile(marker, 'utf8'), 'xx', 'each job ran exactly once');
  });

  it('tells a listener soon after a job ends (onJobsEnded), and stops when asked', async () => {
    let calls = 0;
    const stop = backend.onJobsEnded(() => (calls += 1));
    try {
      const jobId = newId('nudge');
      await backend.launch({ jobId, argv: nodeJob('0') });
      await finish(jobId);
      const deadline = Date.now() + 5000;
      while (calls === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(calls >= 1, 'the listener heard the job end');
    } finally {
      stop();
    }
    const before = calls;
    const jobId = newId('unheard');
    await backend.launch({ jobId, argv: nodeJob('0') });
    await finish(jobId);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(calls, before, 'nothing after stop');
  });

  it('cancel right after launch (supervisor still starting) records canceled', async () => {
    const jobId = newId('early');
    const sideEffect = path.join(work, `${jobId}.ran`);
    const code = 'setTimeout(() => require("node:fs").writeFileSync(process.argv[1], "x"), 1000)';
    await backend.launch({ jobId, argv: nodeJob(code, sideEffect) });
    assert.equal((await backend.cancel(jobId)).state, 'canceled');
    assert.equal(existsSync(sideEffect), false);
  });

  it('concurrent launches of one jobId run the job exactly once', async () => {
    const jobId = newId('once');
    const counter = path.join(work, `${jobId}.count`);
    const spec = {
      jobId,
      argv: nodeJob(
        'require("node:fs").appendFileSync(process.argv[1], "ran\\n"); setTimeout(() => {}, 300)',
        counter,
      ),
    };
    const results = await Promise.all(Array.from({ length: 6 }, () => backend.launch(spec)));
    for (const result of results) assert.equal(result.jobId, jobId);
    assert.equal((await finish(jobId)).state, 'succeeded');
    await backend.launch(spec); // and once more after it finished
    assert.equal(await readFile(counter, 'utf8'), 'ran\n');
  });

  it('the job survives the death of the host process that launched it', async () => {
    const jobId = newId('survive');
    const argv = nodeJob('setTimeout(() => process.stdout.write("survived"), 1500)');
    const script = [
      `import { LocalProcessBackend } from ${JSON.stringify(pathToFileURL(modulePath).href)};`,
      `const backend = new LocalProcessBackend({ root: ${JSON.stringify(root)} });`,
      `const status = await backend.launch(${JSON.stringify({ jobId, argv })});`,
      `process.stdout.write(JSON.stringify(status) + '\\n');`,
      `setInterval(() => {}, 1000);`,
    ].join('\n');
    const host = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    host.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    host.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const exited = new Promise((resolve) => host.once('exit', resolve));
    await eventually(() => out.includes('\n') || host.exitCode !== null, 'host launch', 10_000);
    assert.match(out, new RegExp(jobId), err);
    process.kill(-(host.pid ?? 0), 'SIGKILL'); // the host's whole process group
    await exited;
    const during = await backend.status(jobId);
    assert.ok(during.state === 'running' || during.state === 'pending', during.state);
    const final = await finish(jobId);
    assert.equal(final.state, 'succeeded');
    assert.equal(await backend.logs(jobId), 'survived');
  });

  it('reports failed "supervisor lost" when supervisor and job are gone, and persists it', async () => {
    const jobId = newId('lost');
    await backend.launch({ jobId, argv: nodeJob('setTimeout(() => {}, 30000)') });
    await eventually(async () => (await backend.status(jobId)).state === 'running', 'running');
    const { pid } = await readJson(jobId, 'supervisor.json');
    const { pgid } = await readJson(jobId, 'status.json');
    process.kill(Number(pid), 'SIGKILL');
    process.kill(-Number(pgid), 'SIGKILL');
    await eventually(() => !isAlive(Number(pid)) && !isAlive(Number(pgid)), 'processes dead');
    const status = await backend.status(jobId);
    assert.equal(status.state, 'failed');
    assert.equal(status.message, 'supervisor lost');
    assert.equal((await readJson(jobId, 'status.json')).state, 'failed');
  });

  it('cancel stops an orphaned job whose supervisor was killed', async () => {
    const jobId = newId('orphan');
    await backend.launch({ jobId, argv: nodeJob('setTimeout(() => {}, 30000)') });
    await eventually(async () => (await backend.status(jobId)).state === 'running', 'running');
    const { pid } = await readJson(jobId, 'supervisor.json');
    const { pgid } = await readJson(jobId, 'status.json');
    process.kill(Number(pid), 'SIGKILL');
    await eventually(() => !isAlive(Number(pid)), 'supervisor dead');
    assert.equal((await backend.status(jobId)).state, 'running', 'job group still alive');
    assert.equal((await backend.cancel(jobId)).state, 'canceled');
    assert.equal(isAlive(Number(pgid)), false);
  });

  it('a launch abandoned before any supervisor started turns failed after a grace', async () => {
    const later = new LocalProcessBackend({
      root,
      clock: { now: () => new Date(Date.now() + 60_000) },
    });
    const jobId = newId('abandoned');
    await mkdir(path.join(root, jobId), { recursive: true });
    assert.equal((await backend.status(jobId)).state, 'pending');
    const status = await later.status(jobId);
    assert.equal(status.state, 'failed');
    assert.equal(status.message, 'supervisor never started');
  });

  it('confines cwd under workRoot', async () => {
    const argv = nodeJob('process.stdout.write(process.cwd())');
    const refused = ['../..', '/etc', 'missing', 'sub/../../..'];
    for (const cwd of refused) {
      await assert.rejects(
        backend.launch({ jobId: newId('cwd'), argv, cwd }),
        isCode('validation'),
        cwd,
      );
    }
    await symlink(os.tmpdir(), path.join(work, 'escape'));
    await assert.rejects(
      backend.launch({ jobId: newId('cwd'), argv, cwd: 'escape' }),
      isCode('validation'),
    );
    const jobId = newId('cwd');
    await backend.launch({ jobId, argv, cwd: 'sub/dir' });
    assert.equal((await finish(jobId)).state, 'succeeded');
    assert.equal(await backend.logs(jobId), await realpath(path.join(work, 'sub', 'dir')));
  });

  it('validates argv, env and timeout before creating anything', async () => {
    const bad: Array<Record<string, unknown>> = [
      { argv: [''] },
      { argv: ['node', 'a\0b'] },
      { argv: 'node -v' },
      { argv: [process.execPath], env: { 'BAD=NAME': 'x' } },
      { argv: [process.execPath], env: { GOOD: 42 } },
      { argv: [process.execPath], timeoutSeconds: 0 },
      { argv: [process.execPath], timeoutSeconds: Number.NaN },
    ];
    for (const fields of bad) {
      const jobId = newId('bad');
      const spec = { jobId, ...fields } as unknown as Parameters<LocalProcessBackend['launch']>[0];
      await assert.rejects(backend.launch(spec), isCode('validation'), JSON.stringify(fields));
      assert.equal(existsSync(path.join(root, jobId)), false);
    }
    await assert.rejects(backend.logs('x', { tail: -1 }), isCode('validation'));
  });

  it('validates monitor before creating anything, naming the field', async () => {
    const bad: Array<[unknown, string]> = [
      [{ intervalSeconds: 0.05 }, 'monitor.intervalSeconds'],
      [{ intervalSeconds: 3601 }, 'monitor.intervalSeconds'],
      [{ intervalSeconds: Number.NaN }, 'monitor.intervalSeconds'],
      [{ intervalSeconds: '1' }, 'monitor.intervalSeconds'],
      [{}, 'monitor.intervalSeconds'],
      [1, 'monitor'],
      [null, 'monitor'],
    ];
    for (const [monitor, field] of bad) {
      const jobId = newId('badmon');
      const spec = { jobId, argv: nodeJob(''), monitor } as unknown as Parameters<
        LocalProcessBackend['launch']
      >[0];
      await assert.rejects(
        backend.launch(spec),
        (e: unknown) => isBatonError(e, 'validation') && e.field === field,
        JSON.stringify(monitor),
      );
      assert.equal(existsSync(path.join(root, jobId)), false);
    }
  });

  const onLinux = existsSync('/proc/self/stat');

  it(
    'counts the CPU of reaped subprocesses and of the exited main process',
    {
      skip: !onLinux && 'no /proc',
    },
    async () => {
      // Burns 0.5 s of CPU in a short-lived child, then 0.5 s itself, then exits. The interval
      // is longer than the job, so the only sample is the final one, taken after the main
      // process is gone: its CPU must still cover both.
      const burn = `const t = process.cpuUsage(); while (process.cpuUsage(t).user + process.cpuUsage(t).system < 5e5);`;
      const code =
        `require('node:child_process').spawnSync(process.execPath, ['-e', ${JSON.stringify(burn)}]);` +
        burn;
      const jobId = newId('cpu');
      await backend.launch({ jobId, argv: nodeJob(code), monitor: { intervalSeconds: 60 } });
      assert.equal((await finish(jobId)).state, 'succeeded');
      const samples = await backend.metrics(jobId);
      assert.equal(samples.length, 1, JSON.stringify(samples));
      const [last] = samples;
      assert.ok(last);
      const cpuSeconds = (last.cpuPercent / 100) * last.elapsedSeconds;
      assert.ok(cpuSeconds >= 0.9 && cpuSeconds < 5, `cpu seconds ${cpuSeconds}`);
      assert.equal(last.processes, 0);
      assert.ok(last.elapsedSeconds >= 0.9);
    },
  );

  it(
    'metrics ignores a torn last line and unparsable lines; a wrong header is internal',
    {
      skip: !onLinux && 'no /proc',
    },
    async () => {
      const jobId = newId('torn');
      await backend.launch({ jobId, argv: nodeJob(''), monitor: { intervalSeconds: 0.1 } });
      await finish(jobId);
      const file = path.join(root, jobId, 'metrics.csv');
      const samples = await backend.metrics(jobId);
      assert.ok(samples.length >= 1);
      const text = await readFile(file, 'utf8');
      await writeFile(file, `${text}not,a,sample\n2024-01-01T00:00:00.000Z,1.5,12.`);
      assert.deepEqual(await backend.metrics(jobId), samples);
      await writeFile(file, text.split('\n')[0] ?? '');
      assert.deepEqual(await backend.metrics(jobId), []);
      await writeFile(file, `${(text.split('\n')[0] ?? '').toUpperCase()}\n`);
      await assert.rejects(backend.metrics(jobId), isCode('internal'));
      await rm(file);
      assert.deepEqual(await backend.metrics(jobId), []);
    },
  );

  it('a missing executable is a failed job with a message', async () => {
    const jobId = newId('enoent');
    await backend.launch({ jobId, argv: ['/nonexistent/baton-no-such-binary'] });
    const status = await finish(jobId);
    assert.equal(status.state, 'failed');
    assert.match(status.message ?? '', /could not start job.*ENOENT/);
  });

  it('keeps job files private (they hold the job env)', async () => {
    const jobId = newId('private');
    await backend.launch({ jobId, argv: nodeJob(''), env: { TOKEN: 'secret' } });
    await finish(jobId);
    assert.equal((await stat(path.join(root, jobId))).mode & 0o777, 0o700);
    assert.equal((await stat(path.join(root, jobId, 'spec.json'))).mode & 0o777, 0o600);
    assert.equal(await backend.logs(jobId), '');
  });

  it('waitForJob gives up with a retryable unavailable', async () => {
    const jobId = newId('slow');
    await backend.launch({ jobId, argv: nodeJob('setTimeout(() => {}, 5000)') });
    await assert.rejects(waitForJob(backend, jobId, { timeoutMs: 150, pollMs: 20 }), (error) => {
      assert.ok(isBatonError(error, 'unavailable'));
      assert.equal(error.retryable, true);
      return true;
    });
    await backend.cancel(jobId);
  });

  it('locates the supervisor next to the module, or from the package root under dist/', async () => {
    assert.equal(
      locateSupervisor(),
      path.join(repoRoot, 'shared/adapters/local/processSupervisor.mjs'),
    );
    const pkg = await mkdtemp(path.join(os.tmpdir(), 'baton-pkg-'));
    try {
      const source = path.join(pkg, 'shared', 'adapters', 'local');
      const compiled = path.join(pkg, 'dist', 'shared', 'adapters', 'local');
      await mkdir(source, { recursive: true });
      await mkdir(compiled, { recursive: true });
      await writeFile(path.join(pkg, 'package.json'), '{}');
      await writeFile(path.join(source, 'processSupervisor.mjs'), '');
      const url = pathToFileURL(path.join(compiled, 'processCompute.js')).href;
      assert.equal(locateSupervisor(url), path.join(source, 'processSupervisor.mjs'));
      await rm(pkg, { recursive: true });
      assert.throws(() => locateSupervisor(url), isCode('internal'));
    } finally {
      await rm(pkg, { recursive: true, force: true });
    }
  });
});
