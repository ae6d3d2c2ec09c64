import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { repoRoot, runToEnd } from '../helpers/hostProcess.js';
import { asUser } from '../helpers/localAuth.js';

/**
 * The read-only routes behind the portal's run and slots pages, over HTTP on a live local host:
 * a model run's CPU/memory samples, its children and jobs, its outputs' provenance (the hash is
 * the file's), its error dumps and their files (confined to the run's own dumps), and the slot
 * history the sampler keeps.
 */
const exampleDir = path.join(repoRoot, 'examples', 'transport-model');

describe('run insight routes', () => {
  let stateDir: string;
  let host: LocalHost;
  let completed: string;
  let failed: string;
  const get = async <T>(route: string): Promise<[number, T]> => {
    const response = await fetch(`${host.url}/api/${route}`);
    return [response.status, (await response.json()) as T];
  };
  const init = async (name: string): Promise<void> => {
    const response = await fetch(`${host.url}/api/databanks`, {
      method: 'POST',
      headers: asUser('modeller'),
      body: JSON.stringify({
        name,
        config: await readFile(path.join(exampleDir, 'orca_model_config.yaml'), 'utf8'),
        sourceDir: exampleDir,
      }),
    });
    assert.equal(response.status, 201, await response.text());
  };

  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-insights-'));
    host = await LocalHost.start({
      stateDir,
      port: 0,
      logger: createLogger({ level: 'silent' }),
      env: {
        BATON_MODEL_SOURCES_ROOT: repoRoot,
        BATON_JOB_WATCH_SCHEDULE: '* * * * * *',
        BATON_SLOT_SAMPLE_SCHEDULE: '* * * * * *',
      },
    });
    await init('bank_ok');
    await init('bank_fail');
    await writeFile(path.join(stateDir, 'databanks', 'bank_fail', 'FAIL_QUETZAL'), '');
    const [ok, bad] = await Promise.all([
      runToEnd<{ runId: string; status: string }>(
        host.url,
        { pipeline: 'model', params: { databank: 'bank_ok' } },
        90_000,
      ),
      runToEnd<{ runId: string; status: string }>(
        host.url,
        { pipeline: 'model', params: { databank: 'bank_fail' } },
        90_000,
      ),
    ]);
    assert.equal(ok.status, 'completed');
    assert.equal(bad.status, 'failed');
    completed = ok.runId;
    failed = bad.runId;
  });
  after(async () => {
    await host.stop();
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it('serves CPU and memory samples per step, taken during the run', async () => {
    const [status, body] = await get<{
      steps: Array<{
        iteration: number;
        step: string;
        samples: Array<{
          at: string;
          cpuPercent: number | null;
          rssBytes: number | null;
          systemMemoryUsedBytes: number | null;
        }>;
      }>;
    }>(`runs/${completed}/performance`);
    assert.equal(status, 200);
    const cells = body.steps.map((s) => `${s.iteration} ${s.step}`).sort();
    assert.deepEqual(cells, [
      '1 activitysim',
      '1 populationsim',
      '1 quetzal',
      '2 activitysim',
      '2 quetzal',
    ]);
    for (const step of body.steps) {
      assert.ok(step.samples.length > 0);
      assert.ok(step.samples.every((s) => typeof s.cpuPercent === 'number'));
      assert.ok(step.samples.every((s) => (s.systemMemoryUsedBytes ?? 0) > 0));
    }
    // A step shorter than the poll interval has only its sample at exit, which may find the
    // process gone (0 MB); the one-second activitysim steps were seen running.
    const activitysim = body.steps.filter((s) => s.step === 'activitysim');
    assert.ok(
      activitysim.every((s) => s.samples.some((p) => (p.rssBytes ?? 0) > 0)),
      JSON.stringify(activitysim),
    );
  });

  it('lists the run’s iterations and jobs', async () => {
    const [status, body] = await get<{
      children: Array<{ instanceId: string; runtimeStatus: string }>;
      jobs: Array<{ stepId: string; attempt: number; state: string }>;
    }>(`runs/${completed}/children`);
    assert.equal(status, 200);
    assert.deepEqual(
      body.children.map((c) => [c.instanceId, c.runtimeStatus]),
      [
        [`${completed}-iter-1`, 'Completed'],
        [`${completed}-iter-2`, 'Completed'],
      ],
    );
    assert.ok(body.jobs.some((j) => j.stepId === 'i2-quetzal-c1' && j.state === 'succeeded'));
    const [, failedChildren] = await get<{
      children: Array<{ runtimeStatus: string; output: unknown; error?: string }>;
    }>(`runs/${failed}/children`);
    assert.equal(failedChildren.children.length, 1);
    // The iteration ended (its failure is in its summary, which failed the run).
    const [child] = failedChildren.children;
    assert.equal(child?.runtimeStatus, 'Completed');
    assert.notEqual(child.output, null);
    assert.equal(child.error, undefined);
  });

  it('records which step and jobs built each output, with the file’s own SHA-256', async () => {
    const [status, body] = await get<{
      outputs: Array<{
        path: string;
        step: string;
        iteration: number;
        sha256: string;
        size: number;
        jobs: Array<{ stepId?: string; attempt?: number }>;
      }>;
    }>(`runs/${completed}/outputs`);
    assert.equal(status, 200);
    assert.equal(body.outputs.length, 6);
    for (const output of body.outputs) {
      const bytes = await readFile(path.join(stateDir, 'databanks', 'bank_ok', output.path));
      assert.equal(output.sha256, createHash('sha256').update(bytes).digest('hex'));
      assert.equal(output.size, bytes.length);
      assert.ok(
        output.jobs.every((j) => j.stepId?.startsWith(`i${output.iteration}-${output.step}-`)),
      );
    }
  });

  it('lists the failed run’s error dump and serves its files, and nothing else', async () => {
    const [status, body] = await get<{
      dumps: Array<{
        name: string;
        step: string;
        exitCode: number;
        files: Array<{ path: string }>;
      }>;
    }>(`runs/${failed}/error-dumps`);
    assert.equal(status, 200);
    assert.equal(body.dumps.length, 1);
    const dump = body.dumps[0];
    assert.ok(dump);
    assert.equal(dump.step, 'quetzal');
    assert.equal(dump.exitCode, 3);
    assert.ok(dump.files.some((f) => f.path === 'quetzal/scripts/quetzal.mjs'));

    const file = await fetch(
      `${host.url}/api/runs/${failed}/error-dumps/${dump.name}/quetzal/scripts/quetzal.mjs`,
    );
    assert.equal(file.status, 200);
    assert.match(
      file.headers.get('content-disposition') ?? '',
      /^attachment; filename="quetzal\.mjs"/,
    );
    assert.equal(file.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(
      await file.text(),
      await readFile(
        path.join(exampleDir, 'templates', 'quetzal', 'scripts', 'quetzal.mjs'),
        'utf8',
      ),
    );

    // A link planted in the dump is not followed; another run's dumps are not this run's.
    const dumpDir = path.join(stateDir, 'databanks', 'bank_fail', 'error_dumps', dump.name);
    await symlink('/etc/passwd', path.join(dumpDir, 'passwd'));
    const refused = [
      `runs/${failed}/error-dumps/${dump.name}/passwd`,
      `runs/${failed}/error-dumps/${dump.name}/..%2F..%2Forca_model_config.yaml`,
      `runs/${failed}/error-dumps/${dump.name}/quetzal`,
      `runs/${completed}/error-dumps/${dump.name}/error_info.json`,
      `runs/${failed}/error-dumps/..%2F..%2Fbank_ok/orca_model_config.yaml`,
    ];
    for (const route of refused) {
      const response = await fetch(`${host.url}/api/${route}`);
      assert.ok([400, 404].includes(response.status), `${route} -> ${response.status}`);
      const text = await response.text();
      assert.doesNotMatch(text, /root:|model_steps/, route);
    }
    const [, none] = await get<{ dumps: unknown[] }>(`runs/${completed}/error-dumps`);
    assert.deepEqual(none.dumps, []);
  });

  it('answers not_found for an unknown run and empty views for other pipelines', async () => {
    const [missing] = await get(`runs/hello-20260101t000000-abcdef/performance`);
    assert.equal(missing, 404);
    const hello = await runToEnd<{ runId: string; status: string }>(
      host.url,
      { pipeline: 'hello', params: { count: 1 } },
      30_000,
    );
    for (const [route, field] of [
      ['performance', 'steps'],
      ['error-dumps', 'dumps'],
      ['outputs', 'outputs'],
    ] as const) {
      const [status, body] = await get<Record<string, unknown>>(`runs/${hello.runId}/${route}`);
      assert.equal(status, 200);
      assert.deepEqual(body[field], []);
    }
  });

  it('keeps slot samples, and serves the last hours of them', async () => {
    const deadline = Date.now() + 10_000;
    let samples: Array<{ at: string; backends: Array<{ backend: string; slots: number }> }> = [];
    while (Date.now() < deadline && samples.length < 2) {
      const [status, body] = await get<{ samples: typeof samples }>('slots/history?hours=1');
      assert.equal(status, 200);
      samples = body.samples;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(samples.length >= 2, `${samples.length} samples`);
    assert.deepEqual(
      samples[0]?.backends.map((b) => [b.backend, b.slots]),
      [['local', 4]],
    );
    const [bad] = await get('slots/history?hours=25');
    assert.equal(bad, 400);
  });
});
