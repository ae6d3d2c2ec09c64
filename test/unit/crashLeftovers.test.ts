import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { link, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseCrashAt, writeFileAtomic } from '../../shared/adapters/local/fsPrimitives.js';
import { FolderLake } from '../../shared/adapters/local/folderLake.js';
import { FolderTransfers } from '../../shared/adapters/local/folderTransfers.js';
import { LocalProcessBackend, waitForJob } from '../../shared/adapters/local/processCompute.js';
import { FileStateStore } from '../../shared/adapters/local/fileStateStore.js';
import { initDatabank } from '../../shared/app/databanks.js';
import { finishModelStep, prepareModelRun, type ModelRunDeps } from '../../shared/app/modelRun.js';
import { buildOutputArchives } from '../../shared/app/modelStepFiles.js';
import { lakeTempPrefix } from '../../shared/domain/paths.js';
import { InstanceStore } from '../../shared/runtime/durable/instanceStore.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import type { TransferStatus } from '../../shared/ports/transfers.js';

/**
 * What a SIGKILL leaves behind, found by the crash suite (test/chaos) and fixed: half-written
 * temp files nobody removed (lake uploads, endpoint transfers, model archives), and transfers
 * that copied a file again after a restart. Plus the BATON_CRASH_AT hook the suite kills with.
 */
const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'baton-leftovers-'));
  dirs.push(dir);
  return dir;
}
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** A pid that was alive and is not any more. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], {
    encoding: 'utf8',
  });
  return Number(child.stdout.trim());
}

describe('BATON_CRASH_AT', () => {
  it('parses points and passes, and refuses anything else', () => {
    assert.equal(parseCrashAt(undefined), undefined);
    assert.equal(parseCrashAt(' '), undefined);
    assert.deepEqual(
      [...(parseCrashAt('history:3, lake-upload:1') ?? [])],
      [
        ['history', 3],
        ['lake-upload', 1],
      ],
    );
    for (const bad of ['history', 'history:0', 'nowhere:1', 'history:-1', 'history:1;x'])
      assert.throws(() => parseCrashAt(bad), /BATON_CRASH_AT/, bad);
  });

  it('SIGKILLs the process at the nth history append, leaving a torn line load() repairs', async () => {
    const root = await tempDir();
    const store = new InstanceStore(root);
    await store.init();
    const facts = { instanceId: 'i1', name: 'x', createdTime: '2026-01-01T00:00:00.000Z' };
    const episode = (seq: number) => ({
      seq,
      generation: 0,
      inboxSeq: 0,
      events: [],
      outcome: { runtimeStatus: 'Running' as const },
      at: facts.createdTime,
    });
    await store.create(facts, episode(0));
    const script = `
      import { InstanceStore } from ${JSON.stringify(path.resolve('shared/runtime/durable/instanceStore.ts'))};
      const store = new InstanceStore(${JSON.stringify(root)});
      for (let seq = 1; seq <= 3; seq++)
        await store.appendEpisode('i1', { seq, generation: 0, inboxSeq: 0, events: [], outcome: { runtimeStatus: 'Running' }, at: 'x' });
    `;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        env: { ...process.env, BATON_CRASH_AT: 'history:2' },
        stdio: 'ignore',
      },
    );
    const signal = await new Promise((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
    assert.equal(signal, 'SIGKILL');
    const history = await readFile(path.join(root, 'i1', 'history.jsonl'), 'utf8');
    assert.equal(history.split('\n').length, 3, 'creation, the first append, half of the second');
    assert.ok(!history.endsWith('\n'));
    const loaded = await store.load('i1');
    assert.deepEqual(
      loaded?.episodes.map((e) => e.seq),
      [0, 1],
    );
  });
});

describe('FolderLake: temp files of crashed writers', () => {
  it('the first write into a folder removes temps of dead processes, not live ones', async () => {
    const root = await tempDir();
    const folder = path.join(root, 'out');
    await mkdir(folder, { recursive: true });
    const dead = `${lakeTempPrefix}${deadPid()}-1f0c6a2e-0000-4000-8000-000000000000`;
    const ownStale = `${lakeTempPrefix}${process.pid}-2f0c6a2e-0000-4000-8000-000000000000`;
    const live = `${lakeTempPrefix}${process.ppid}-3f0c6a2e-0000-4000-8000-000000000000`;
    for (const name of [dead, ownStale, live]) await writeFile(path.join(folder, name), 'half');
    const lake = new FolderLake({ root });
    await lake.write('out/a.txt', 'a', { createOnly: true });
    const left = (await readdir(folder)).sort();
    assert.deepEqual(left, [live, 'a.txt'].sort());
    assert.deepEqual(
      (await lake.list('out')).map((e) => e.path),
      ['out/a.txt'],
    );
  });

  it("removeLeftoverTemps clears dead writers' temps in folders never written again, at any depth", async () => {
    const root = await tempDir();
    const lake = new FolderLake({ root });
    // A create-only publish killed between its link and its unlink: the file is whole and a
    // hard link of it stays as the temp; the retry finds the file there and writes nothing.
    await lake.write('run/performance/a.csv', 'step,cpu\n', { createOnly: true });
    const deep = path.join(root, 'run', 'performance');
    const dead = `${lakeTempPrefix}${deadPid()}-4f0c6a2e-0000-4000-8000-000000000000`;
    const live = `${lakeTempPrefix}${process.ppid}-5f0c6a2e-0000-4000-8000-000000000000`;
    await link(path.join(deep, 'a.csv'), path.join(deep, dead));
    await writeFile(path.join(deep, live), 'half');
    await writeFile(path.join(root, dead), 'half');
    assert.equal(await lake.removeLeftoverTemps(), 2);
    assert.deepEqual((await readdir(deep)).sort(), [live, 'a.csv'].sort());
    assert.deepEqual(await readdir(root), ['run']);
    assert.equal(await readFile(path.join(deep, 'a.csv'), 'utf8'), 'step,cpu\n');
    assert.equal(
      await new FolderLake({ root: path.join(root, 'absent') }).removeLeftoverTemps(),
      0,
    );
  });
});

describe('FolderTransfers: a transfer resubmitted after a restart', () => {
  async function world(): Promise<{
    folders: { src: string; dst: string };
    service: FolderTransfers;
  }> {
    const root = await tempDir();
    const folders = { src: path.join(root, 'src'), dst: path.join(root, 'dst') };
    await mkdir(path.join(folders.src, 'tree', 'inner'), { recursive: true });
    await mkdir(folders.dst);
    await writeFile(path.join(folders.src, 'tree', 'a.bin'), 'alpha');
    await writeFile(path.join(folders.src, 'tree', 'inner', 'b.bin'), 'bravo!');
    return { folders, service: new FolderTransfers({ endpoints: folders }) };
  }
  async function until(service: FolderTransfers, id: string): Promise<TransferStatus> {
    for (;;) {
      const status = await service.status(id);
      if (status.state !== 'active') return status;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const request = {
    transferId: 'run-1-hop-0',
    source: { endpoint: 'src', path: 'tree' },
    destination: { endpoint: 'dst', path: 'tree' },
    recursive: true,
  };

  it('leaves an identical copy in place (same inodes) and reports what it holds', async () => {
    const { folders, service } = await world();
    await service.submit(request);
    const first = await until(service, request.transferId);
    assert.equal(first.state, 'succeeded');
    const file = path.join(folders.dst, 'tree', 'inner', 'b.bin');
    const before = await stat(file);
    const restarted = new FolderTransfers({ endpoints: folders });
    await restarted.submit(request);
    const again = await until(restarted, request.transferId);
    assert.equal(again.state, 'succeeded');
    assert.equal(again.checksumVerified, true);
    assert.deepEqual([again.files, again.bytes], [first.files, first.bytes]);
    const after = await stat(file);
    assert.deepEqual([after.ino, after.mtimeMs], [before.ino, before.mtimeMs]);
  });

  it('copies again when the copy differs, and removes the half copy a crash left', async () => {
    const { folders, service } = await world();
    await mkdir(path.join(folders.dst, 'tree'));
    await writeFile(path.join(folders.dst, 'tree', 'a.bin'), 'stale');
    const leftover = path.join(folders.dst, `${lakeTempPrefix}${request.transferId}`);
    await mkdir(leftover);
    await writeFile(path.join(leftover, 'a.bin'), 'al');
    await service.submit(request);
    assert.equal((await until(service, request.transferId)).state, 'succeeded');
    assert.equal(await readFile(path.join(folders.dst, 'tree', 'a.bin'), 'utf8'), 'alpha');
    assert.equal(
      await readFile(path.join(folders.dst, 'tree', 'inner', 'b.bin'), 'utf8'),
      'bravo!',
    );
    assert.equal(existsSync(leftover), false);
  });
});

describe('writeFileAtomic', () => {
  it('with sweepTemps, removes the temps earlier writers of the target left, and only theirs', async () => {
    const dir = await tempDir();
    const target = path.join(dir, 'orca_model_state.json');
    const stale = path.join(dir, '.orca_model_state.json.6f0c6a2e-0000-4000-8000-000000000000.tmp');
    const other = path.join(dir, '.other.json.7f0c6a2e-0000-4000-8000-000000000000.tmp');
    await writeFile(stale, '{"status":');
    await writeFile(other, '{');
    await writeFileAtomic(target, '{}');
    assert.ok(existsSync(stale), 'kept without sweepTemps');
    await writeFileAtomic(target, '{"status":"completed"}', { sweepTemps: true });
    assert.deepEqual(
      (await readdir(dir)).sort(),
      [path.basename(other), path.basename(target)].sort(),
    );
  });
});

describe('temp files of writers that are alive', () => {
  it('sweepTemps keeps the temps of a live process and of concurrent writers in this one', async () => {
    const dir = await tempDir();
    const target = path.join(dir, 'state.json');
    const uuid = '8f0c6a2e-0000-4000-8000-000000000000';
    const dead = path.join(dir, `.state.json.${deadPid()}-${uuid}.tmp`);
    const live = path.join(dir, `.state.json.${process.ppid}-${uuid}.tmp`);
    await writeFile(dead, '{');
    await writeFile(live, '{');
    // Many writers of one file at once (a redelivered activity): none removes another's temp.
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        writeFileAtomic(target, JSON.stringify({ i }), { sweepTemps: true }),
      ),
    );
    assert.deepEqual((await readdir(dir)).sort(), [path.basename(live), 'state.json'].sort());
  });

  it("FileStateStore.removeLeftoverTemps clears dead writers' temps of documents never written again", async () => {
    const root = await tempDir();
    const store = new FileStateStore({ root });
    await store.create('runs', { id: 'kept', pk: 'p', body: { n: 1 } });
    const uuid = '9f0c6a2e-0000-4000-8000-000000000000';
    const orphanDir = path.join(root, 'runs', 'orphan');
    await mkdir(orphanDir, { recursive: true });
    const dead = path.join(orphanDir, `.x1.json.${deadPid()}-${uuid}.tmp`);
    const live = path.join(orphanDir, `.x2.json.${process.ppid}-${uuid}.tmp`);
    await writeFile(dead, '{"half');
    await writeFile(live, '{"half');
    assert.equal(await store.removeLeftoverTemps(), 1);
    assert.deepEqual(await readdir(orphanDir), [path.basename(live)]);
    assert.deepEqual(
      (await store.query('runs')).map((d) => d.id),
      ['kept'],
    );
  });
});

describe('local host start', () => {
  it("sweeps dead writers' temps from the state folder and the lake, and a stop waits for it", async () => {
    const stateDir = await tempDir();
    const uuid = 'af0c6a2e-0000-4000-8000-000000000000';
    const pid = deadPid();
    const stateTemp = path.join(stateDir, 'state', 'runs', 'p', `.r.json.${pid}-${uuid}.tmp`);
    const lakeTemp = path.join(stateDir, 'lake', 'a', 'b', `${lakeTempPrefix}${pid}-${uuid}`);
    for (const file of [stateTemp, lakeTemp]) {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, 'half');
    }
    const host = await LocalHost.start({
      stateDir,
      port: 0,
      triggers: false,
      logger: createLogger({ level: 'silent' }),
    });
    await host.stop();
    assert.equal(existsSync(stateTemp), false, 'state store temp removed');
    assert.equal(existsSync(lakeTemp), false, 'lake temp removed');
  });
});

describe('model output archives', () => {
  it('a re-run removes the half archive a crashed run left beside its target', async () => {
    const databank = await tempDir();
    await mkdir(path.join(databank, 'step', 'outputs'), { recursive: true });
    await mkdir(path.join(databank, 'outputs'));
    await writeFile(path.join(databank, 'step', 'outputs', 'x.csv'), 'a,b\n');
    const half = path.join(
      databank,
      'outputs',
      '.step_results_iter1.zip.5f0c6a2e-0000-4000-8000-000000000000.tmp',
    );
    await writeFile(half, 'PK');
    const { built } = await buildOutputArchives(databank, 'step', 1, [
      { pattern: 'outputs/*.csv', archive_name: 'results' },
    ]);
    assert.deepEqual(
      built.map((b) => b.name),
      ['step_results_iter1.zip'],
    );
    assert.deepEqual(await readdir(path.join(databank, 'outputs')), ['step_results_iter1.zip']);
  });
});

describe('a model step re-run after a crash', () => {
  it('reports a step that had nothing to run as skipped again, not as done', async () => {
    const root = await tempDir();
    const databankRoot = path.join(root, 'databanks');
    const example = path.resolve('examples', 'transport-model');
    const clock = { now: () => new Date('2026-01-01T00:00:00Z') };
    const state = new FileStateStore({ root: path.join(root, 'state') });
    await initDatabank(
      { clock, databankRoot, sourcesRoot: path.resolve('examples'), state },
      {
        name: 'crash_b',
        config: await readFile(path.join(example, 'orca_model_config.yaml'), 'utf8'),
        sourceDir: example,
      },
    );
    const deps = {
      state,
      lake: new FolderLake({ root: path.join(root, 'lake') }),
      compute: undefined as unknown as ModelRunDeps['compute'],
      logs: undefined as unknown as ModelRunDeps['logs'],
      clock,
      databankRoot,
      workRoot: root,
    };
    const params = { databank: 'crash_b' };
    await prepareModelRun(deps, { runId: 'r1', params });
    const step = {
      runId: 'r1',
      params,
      iteration: 1,
      step: 'populationsim',
      jobIds: [],
      ran: false,
      cloud: false,
      projectFolder: '',
    };
    const first = await finishModelStep(deps, step);
    assert.equal(first, 'iteration 1 populationsim: no command selected for this iteration');
    assert.equal(await finishModelStep(deps, step), first, 'the re-run says the same');
  });
});

describe('LocalProcessBackend: a launch repeated after the launcher died', () => {
  it('removes the half-written spec of the dead launcher and starts the job', async () => {
    const root = await tempDir();
    const dir = path.join(root, 'job-1');
    await mkdir(dir, { mode: 0o700 });
    const half = path.join(dir, `.spec.json.${deadPid()}.k3x9.tmp`);
    await writeFile(half, '{"jobId":');
    const backend = new LocalProcessBackend({ root });
    await backend.launch({ jobId: 'job-1', argv: [process.execPath, '-e', ''] });
    const status = await waitForJob(backend, 'job-1', { timeoutMs: 30_000 });
    assert.equal(status.state, 'succeeded');
    assert.equal(existsSync(half), false);
  });
});
