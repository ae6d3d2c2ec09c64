import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  chmod,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
  lstat,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { DataLakeServiceClient, StorageSharedKeyCredential } from '@azure/storage-file-datalake';
import yazl from 'yazl';
import { AdlsLake } from '../../shared/adapters/azure/adlsLake.js';
import { FolderLake } from '../../shared/adapters/local/folderLake.js';
import {
  syncDatabank,
  type ListSummary,
  type SyncProgress,
  type TransferSummary,
  type DatabankSyncRequest,
} from '../../shared/app/databankSync.js';
import { writeDeterministicZip } from '../../shared/app/databankZip.js';
import { isBatonError, type ErrorCode } from '../../shared/domain/errors.js';
import type { Clock } from '../../shared/ports/clock.js';
import type { Lake } from '../../shared/ports/lake.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { runCli } from '../helpers/hostProcess.js';
import { startDfsServer, type DfsServer } from '../servers/dfsServer.js';
import { asUser } from '../helpers/localAuth.js';

/**
 * Databank sync end to end: a databank folder on disk, the folder lake (and once the ADLS
 * adapter over the DFS test server), each rule of the seed's adls_sync as a case, then the CLI
 * and the HTTP route.
 */

const configYaml = (folder?: string): string =>
  [
    'model_steps: [activitysim, quetzal]',
    'iterations: {total: 1}',
    'sub_components:',
    '  activitysim:',
    '    commands: [{command: "python run.py"}]',
    '  quetzal:',
    '    commands: [{command: "python model.py"}]',
    ...(folder === undefined
      ? []
      : [
          'operational_mode:',
          '  cloud:',
          '    adls_url: "https://account.dfs.core.windows.net"',
          '    adls_container: raw',
          `    adls_folder: ${folder}`,
        ]),
    '',
  ].join('\n');

/** A databank as the seed lays it out, with something of every kind. */
const sampleDatabank: Record<string, string> = {
  'orca_model_config.yaml': configYaml(),
  'orca_model_state.json': '{"status":"running"}\n',
  'orca_orchestrator.log': 'started\n',
  'inputs/landuse/taz.csv': 'taz\n1\n',
  'outputs/trips.csv': 'trip,mode\n1,car\n',
  'outputs/sub/skims.csv': 'o,d\n1,2\n',
  'performance/1_activitysim.csv': 'cpu\n5\n',
  'error_dumps/20250115_1_quetzal/log.txt': 'boom\n',
  'activitysim/run.py': 'print("asim")\n',
  'activitysim/configs/settings.yaml': 'a: 1\n',
  'quetzal/model.py': 'print("q")\n',
  '.secret': 'hidden\n',
  'scratch/notes.txt': 'mine\n',
};

const md5 = (data: string | Buffer): string => createHash('md5').update(data).digest('hex');

/** A clock a second further on each call, so every sync has its own conflict stamp. */
function steppingClock(start = Date.parse('2025-01-15T10:30:00Z')): Clock {
  let t = start;
  return {
    now: () => {
      t += 1000;
      return new Date(t);
    },
  };
}

async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(root, ...rel.split('/'));
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, content);
  }
}

/** Every file below `root` (hidden ones too, no symlinks followed) → content. */
async function readTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const dirent of await readdir(dir, { withFileTypes: true })) {
      const childRel = rel === '' ? dirent.name : `${rel}/${dirent.name}`;
      if (dirent.isDirectory()) await walk(path.join(dir, dirent.name), childRel);
      else if (dirent.isFile()) out[childRel] = await readFile(path.join(dir, dirent.name), 'utf8');
    }
  };
  await walk(root, '');
  return out;
}

async function lakeTree(lake: Lake, prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await lake.list(prefix, { recursive: true })) {
    if (!entry.isDirectory)
      out[entry.path.slice(prefix.length + 1)] = (await lake.read(entry.path)).toString('utf8');
  }
  return out;
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, field?: string) {
  try {
    await promise;
  } catch (error) {
    assert.ok(isBatonError(error), `expected a BatonError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (field !== undefined) assert.equal(error.field, field, error.message);
    return error;
  }
  assert.fail(`expected a ${code} error`);
}

/** A zip with one entry, built under a same-length stand-in name, then renamed in place. */
async function hostileZip(name: string, options: { mode?: number } = {}): Promise<Buffer> {
  const standIn = 'x'.repeat(name.length);
  const zip = new yazl.ZipFile();
  zip.addBuffer(
    Buffer.from('pwned\n'),
    standIn,
    options.mode === undefined ? {} : { mode: options.mode },
  );
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  const from = Buffer.from(standIn);
  for (let i = bytes.indexOf(from); i !== -1; i = bytes.indexOf(from, i + 1)) {
    Buffer.from(name).copy(bytes, i);
  }
  return bytes;
}

describe('databank sync against the folder lake', () => {
  let dir: string;
  let databankRoot: string;
  let lake: FolderLake;
  let clock: Clock;
  const prefix = (name: string, folder = 'orca_model_runs') => `${folder}/${name}`;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'baton-sync-'));
    databankRoot = path.join(dir, 'databanks');
    lake = new FolderLake({ root: path.join(dir, 'lake') });
    clock = steppingClock();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const databankPath = (name: string) => path.join(databankRoot, name);
  const sync = async <S = TransferSummary>(
    action: DatabankSyncRequest['action'],
    name: string,
    extra: Partial<DatabankSyncRequest> = {},
    onProgress?: (p: SyncProgress) => void,
    via: Lake = lake,
  ): Promise<S> =>
    (await syncDatabank(
      { lake: via, clock },
      { action, databank: name, databankDir: databankPath(name), outputsOnly: false, ...extra },
      onProgress,
    )) as S;

  it('upload: configs, outputs, performance and error dumps as files, components as zips; no inputs, hidden or other folders', async () => {
    await writeTree(databankPath('db'), sampleDatabank);
    const summary = await sync('upload', 'db');
    const lakeFiles = await lakeTree(lake, prefix('db'));
    assert.deepEqual(Object.keys(lakeFiles).sort(), [
      'activitysim.zip',
      'error_dumps/20250115_1_quetzal/log.txt',
      'orca_model_config.yaml',
      'orca_model_state.json',
      'orca_orchestrator.log',
      'outputs/sub/skims.csv',
      'outputs/trips.csv',
      'performance/1_activitysim.csv',
      'quetzal.zip',
    ]);
    assert.equal(lakeFiles['outputs/trips.csv'], sampleDatabank['outputs/trips.csv']);
    assert.equal(summary.uploaded, 9);
    assert.deepEqual(summary.skippedByReason, { input: 1, hidden: 1, notSynced: 1 });
    assert.deepEqual(summary.conflicts, []);
    assert.ok(summary.bytes > 0);
  });

  it('upload again: everything unchanged, even after file times change (deterministic zips)', async () => {
    await writeTree(databankPath('db'), sampleDatabank);
    await sync('upload', 'db');
    const later = new Date('2031-06-01T00:00:00Z');
    await utimes(path.join(databankPath('db'), 'activitysim', 'run.py'), later, later);
    const again = await sync('upload', 'db');
    assert.equal(again.uploaded, 0);
    assert.equal(again.unchanged, 9);

    await writeFile(path.join(databankPath('db'), 'activitysim', 'run.py'), 'print("v2")\n');
    const before = md5(await lake.read(`${prefix('db')}/activitysim.zip`));
    const changed = await sync('upload', 'db');
    assert.equal(changed.uploaded, 1, 'only the changed component');
    assert.notEqual(md5(await lake.read(`${prefix('db')}/activitysim.zip`)), before);
    assert.deepEqual(changed.conflicts, [], 'a component zip is replaced, not a conflict');
  });

  it('component zips are identical across time zones', async () => {
    await writeTree(path.join(dir, 'component'), { 'a.txt': 'a', 'sub/b.txt': 'b' });
    const entries = [
      { path: 'a.txt', isDirectory: false, mode: 0o644 },
      { path: 'sub', isDirectory: true, mode: 0o755 },
      { path: 'sub/b.txt', isDirectory: false, mode: 0o644 },
    ];
    const saved = process.env.TZ;
    try {
      process.env.TZ = 'Asia/Tokyo';
      const tokyo = await writeDeterministicZip(
        path.join(dir, 'component'),
        entries,
        path.join(dir, 'a.zip'),
      );
      process.env.TZ = 'America/New_York';
      const newYork = await writeDeterministicZip(
        path.join(dir, 'component'),
        [...entries].reverse(),
        path.join(dir, 'b.zip'),
      );
      assert.equal(tokyo.md5, newYork.md5);
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it('project folder: --project-folder, else the config adls_folder, else orca_model_runs', async () => {
    await writeTree(databankPath('db'), {
      ...sampleDatabank,
      'orca_model_config.yaml': configYaml('from_config/runs'),
    });
    const fromConfig = await sync('upload', 'db', { dryRun: true });
    assert.equal(fromConfig.lakePrefix, 'from_config/runs/db');
    const fromOption = await sync('upload', 'db', { projectFolder: 'mine/', dryRun: true });
    assert.equal(fromOption.lakePrefix, 'mine/db');
  });

  it('a config that changed in the lake is kept in .cloud_sync_conflict before ours replaces it', async () => {
    await writeTree(databankPath('db'), sampleDatabank);
    const config = path.join(databankPath('db'), 'orca_model_config.yaml');
    await sync('upload', 'db');
    const theirs = `${configYaml()}# edited in the lake\n`;
    const ours = `${configYaml()}# edited here\n`;
    await lake.write(`${prefix('db')}/orca_model_config.yaml`, theirs);
    await writeFile(config, ours);
    const summary = await sync('upload', 'db');
    const files = await lakeTree(lake, prefix('db'));
    assert.equal(files['orca_model_config.yaml'], ours);
    assert.equal(summary.conflicts.length, 1);
    const conflict = summary.conflicts[0];
    assert.ok(conflict);
    assert.match(
      conflict.keptAt,
      /^\.cloud_sync_conflict\/orca_model_config\.yaml\.\d{8}T\d{6}\.\d{3}Z$/,
    );
    assert.equal(files[conflict.keptAt], theirs);
  });

  it("the run's state file and log are replaced in the lake without conflict copies", async () => {
    await writeTree(databankPath('db'), sampleDatabank);
    await sync('upload', 'db');
    await lake.write(`${prefix('db')}/orca_model_state.json`, '{"status":"theirs"}\n');
    await writeFile(path.join(databankPath('db'), 'orca_model_state.json'), '{"status":"ours"}\n');
    await writeFile(path.join(databankPath('db'), 'orca_orchestrator.log'), 'started\nstep done\n');
    const summary = await sync('upload', 'db');
    const files = await lakeTree(lake, prefix('db'));
    assert.equal(files['orca_model_state.json'], '{"status":"ours"}\n');
    assert.equal(files['orca_orchestrator.log'], 'started\nstep done\n');
    assert.deepEqual(summary.conflicts, []);
  });

  it('outputs are never overwritten: a different one (same name and size) goes beside it, once', async () => {
    await writeTree(databankPath('db'), sampleDatabank);
    await sync('upload', 'db');
    await lake.write(`${prefix('db')}/outputs/trips.csv`, 'trip,mode\n1,bus\n'); // same size
    const summary = await sync('upload', 'db');
    const files = await lakeTree(lake, prefix('db'));
    assert.equal(files['outputs/trips.csv'], 'trip,mode\n1,bus\n', 'the lake copy stays');
    const conflict = summary.conflicts[0];
    assert.ok(conflict);
    assert.equal(conflict.path, 'outputs/trips.csv');
    assert.match(conflict.keptAt, /^\.cloud_sync_conflict\/outputs\/trips\.csv\./);
    assert.equal(files[conflict.keptAt], sampleDatabank['outputs/trips.csv'], 'ours is kept');

    const again = await sync('upload', 'db');
    assert.deepEqual(again.conflicts, []);
    assert.equal(again.skippedByReason.alreadyKept, 1, 'the same copy is not made twice');
  });

  it('error dumps go to error_dumps/ create-only, never replacing one in the lake', async () => {
    await writeTree(databankPath('db'), sampleDatabank);
    const dump = 'error_dumps/20250115_1_quetzal/log.txt';
    await lake.write(`${prefix('db')}/${dump}`, 'an earlier dump\n');
    const summary = await sync('upload', 'db');
    const files = await lakeTree(lake, prefix('db'));
    assert.equal(files[dump], 'an earlier dump\n');
    assert.deepEqual(
      summary.conflicts.map((c) => [c.path, c.kind]),
      [[dump, 'errorDump']],
    );
  });

  it('UPLOAD_OUTPUTS_ONLY=Yes: only outputs and config files go up', async () => {
    await writeTree(databankPath('db'), sampleDatabank);
    const saved = process.env.UPLOAD_OUTPUTS_ONLY;
    process.env.UPLOAD_OUTPUTS_ONLY = 'Yes';
    try {
      const summary = await sync('upload', 'db', { outputsOnly: undefined });
      assert.equal(summary.outputsOnly, true);
    } finally {
      if (saved === undefined) delete process.env.UPLOAD_OUTPUTS_ONLY;
      else process.env.UPLOAD_OUTPUTS_ONLY = saved;
    }
    assert.deepEqual(Object.keys(await lakeTree(lake, prefix('db'))).sort(), [
      'orca_model_config.yaml',
      'orca_model_state.json',
      'orca_orchestrator.log',
      'outputs/sub/skims.csv',
      'outputs/trips.csv',
    ]);
  });

  it('symlinks are skipped, never followed out of the databank', async () => {
    await writeTree(databankPath('db'), sampleDatabank);
    await writeTree(path.join(dir, 'outside'), { 'secret.csv': 'do not upload\n' });
    await symlink(
      path.join(dir, 'outside', 'secret.csv'),
      path.join(databankPath('db'), 'outputs', 'link.csv'),
    );
    await symlink(path.join(dir, 'outside'), path.join(databankPath('db'), 'outputs', 'linkdir'));
    await symlink(
      path.join(dir, 'outside'),
      path.join(databankPath('db'), 'activitysim', 'linked'),
    );
    const summary = await sync('upload', 'db');
    assert.equal(summary.skippedByReason.symlink, 3);
    const files = await lakeTree(lake, prefix('db'));
    assert.ok(!Object.values(files).some((content) => content.includes('do not upload')));
    assert.ok(!('outputs/link.csv' in files));
  });

  /** A second machine's copy of databank `name` (a folder elsewhere). */
  const elsewhere = (name: string) => path.join(dir, 'elsewhere', name);

  it('download into a missing databank: everything, components unpacked (modes and empty folders kept)', async () => {
    await writeTree(databankPath('db'), sampleDatabank);
    await mkdir(path.join(databankPath('db'), 'quetzal', 'empty'));
    await chmod(path.join(databankPath('db'), 'activitysim', 'run.py'), 0o755);
    await sync('upload', 'db');
    const progress: SyncProgress[] = [];
    const summary = await sync('download', 'db', { databankDir: elsewhere('db') }, (p) =>
      progress.push(p),
    );
    assert.equal(summary.scope, 'everything');
    assert.equal(summary.unzipped, 2);
    const expected = { ...sampleDatabank };
    for (const rel of ['inputs/landuse/taz.csv', '.secret', 'scratch/notes.txt'])
      delete expected[rel];
    assert.deepEqual(await readTree(elsewhere('db')), expected);
    assert.ok((await stat(path.join(elsewhere('db'), 'quetzal', 'empty'))).isDirectory());
    assert.equal(
      (await stat(path.join(elsewhere('db'), 'activitysim', 'run.py'))).mode & 0o111,
      0o111,
    );
    const last = progress.at(-1);
    assert.equal(last?.phase, 'transfer');
    assert.equal(last.done, last.total);
    assert.equal(last.bytesDone, summary.bytes);
  });

  it('download into an existing databank: only new outputs; a differing one goes to the local conflict folder', async () => {
    await writeTree(databankPath('db'), sampleDatabank);
    await sync('upload', 'db');
    await lake.write(`${prefix('db')}/outputs/new.csv`, 'new\n');
    await lake.write(`${prefix('db')}/orca_model_state.json`, '{"status":"elsewhere"}\n');
    await writeTree(elsewhere('db'), {
      'orca_model_config.yaml': configYaml(),
      'outputs/trips.csv': 'trip,mode\n1,bus\n', // same size, other content
      'outputs/sub/skims.csv': sampleDatabank['outputs/sub/skims.csv'] ?? '',
    });
    const summary = await sync('download', 'db', { databankDir: elsewhere('db') });
    assert.equal(summary.scope, 'newOutputs');
    const local = await readTree(elsewhere('db'));
    assert.equal(local['outputs/new.csv'], 'new\n');
    assert.equal(local['outputs/trips.csv'], 'trip,mode\n1,bus\n', 'never overwritten');
    assert.equal(local['orca_model_state.json'], undefined, 'configs do not come down');
    assert.equal(local['activitysim/run.py'], undefined, 'components do not come down');
    const conflict = summary.conflicts[0];
    assert.ok(conflict);
    assert.equal(conflict.side, 'local');
    assert.equal(local[conflict.keptAt], sampleDatabank['outputs/trips.csv']);
    assert.equal(summary.unchanged, 1, 'skims.csv: same content');

    const again = await sync('download', 'db', { databankDir: elsewhere('db') });
    assert.equal(again.downloaded, 0);
    assert.equal(again.skippedByReason.alreadyKept, 1);
  });

  it('download never writes through a symlinked folder of the databank', async () => {
    await writeTree(databankPath('db'), sampleDatabank);
    await sync('upload', 'db');
    await mkdir(path.join(dir, 'outside'));
    await mkdir(elsewhere('db'), { recursive: true });
    await symlink(path.join(dir, 'outside'), path.join(elsewhere('db'), 'outputs'));
    await rejectsWith(sync('download', 'db', { databankDir: elsewhere('db') }), 'forbidden');
    assert.deepEqual(await readdir(path.join(dir, 'outside')), []);
  });

  it('dry runs show the plan and change nothing on either side', async () => {
    await writeTree(databankPath('db'), sampleDatabank);
    const up = await sync('upload', 'db', { dryRun: true });
    assert.equal(up.uploaded, 9);
    assert.ok(up.plan?.some((s) => s.op === 'upload' && s.to === 'activitysim.zip'));
    assert.deepEqual(await lake.list('', { recursive: true }), []);
    await sync('upload', 'db');
    const down = await sync('download', 'db', { databankDir: elsewhere('db'), dryRun: true });
    assert.equal(down.downloaded, 9);
    await assert.rejects(stat(elsewhere('db')), /ENOENT/);
  });

  it('a hostile component zip is refused and leaves nothing behind', async () => {
    for (const [zip, why] of [
      [await hostileZip('../evil.txt'), /evil\.txt/],
      [await hostileZip('link', { mode: 0o120777 }), /symbolic link/],
    ] as const) {
      await rm(path.join(dir, 'lake'), { recursive: true, force: true });
      await lake.write(`${prefix('db')}/orca_model_config.yaml`, configYaml());
      await lake.write(`${prefix('db')}/outputs/a.csv`, 'a\n');
      await lake.write(`${prefix('db')}/activitysim.zip`, zip);
      const error = await rejectsWith(
        sync('download', 'db', { databankDir: elsewhere('db') }),
        'validation',
        'databank',
      );
      assert.match(error.message, /activitysim\.zip/);
      assert.match(error.message, why);
      await assert.rejects(stat(elsewhere('db')), /ENOENT/, 'the databank was not left half made');
      await assert.rejects(stat(path.join(dir, 'elsewhere', 'evil.txt')), /ENOENT/);
    }
  });

  it('a path that appears in the lake after the listing becomes a conflict copy, not an overwrite', async () => {
    await writeTree(databankPath('db'), sampleDatabank);
    // The listing misses outputs/trips.csv, which someone else writes in the meantime.
    const racing: Lake = Object.assign(Object.create(lake) as FolderLake, {
      list: async (p: string, o?: { recursive?: boolean }) => {
        const entries = await lake.list(p, o);
        await lake.write(`${prefix('db')}/outputs/trips.csv`, 'someone else\n');
        return entries;
      },
    });
    const summary = await sync('upload', 'db', {}, undefined, racing);
    const files = await lakeTree(lake, prefix('db'));
    assert.equal(files['outputs/trips.csv'], 'someone else\n');
    const conflict = summary.conflicts[0];
    assert.ok(conflict);
    assert.equal(files[conflict.keptAt], sampleDatabank['outputs/trips.csv']);
  });

  it('list: lake contents with kind, size and MD5', async () => {
    await writeTree(databankPath('db'), sampleDatabank);
    await sync('upload', 'db');
    const listing = await sync<ListSummary>('list', 'db');
    assert.equal(listing.files, 9);
    const trips = listing.entries.find((e) => e.path === 'outputs/trips.csv');
    assert.deepEqual(trips && { kind: trips.kind, size: trips.size, md5: trips.md5 }, {
      kind: 'output',
      size: Buffer.byteLength(sampleDatabank['outputs/trips.csv'] ?? ''),
      md5: md5(sampleDatabank['outputs/trips.csv'] ?? ''),
    });
    assert.equal(listing.entries.find((e) => e.path === 'quetzal.zip')?.kind, 'component');
  });

  it('bad input names the field', async () => {
    await rejectsWith(sync('upload', 'missing'), 'not_found', 'databank');
    await rejectsWith(sync('list', 'missing'), 'not_found', 'databank');
    await rejectsWith(sync('download', 'missing'), 'not_found', 'databank');
    await rejectsWith(sync('upload', '../etc'), 'validation', 'databank');
    await writeTree(databankPath('db'), { 'outputs/a.csv': 'a\n' });
    await rejectsWith(sync('upload', 'db'), 'not_found', 'config');
    await rejectsWith(
      sync('upload', 'db', { configFileName: '../x.yaml' }),
      'validation',
      'config',
    );
    await rejectsWith(
      sync('upload', 'db', { projectFolder: '/abs' }),
      'validation',
      'projectFolder',
    );
    await writeFile(path.join(databankPath('db'), 'orca_model_config.yaml'), 'model_steps: [\n');
    await rejectsWith(sync('upload', 'db'), 'validation');
  });
});

describe('databank sync against ADLS (the DFS test server)', () => {
  let server: DfsServer;
  let dir: string;
  before(async () => {
    server = await startDfsServer();
    dir = await mkdtemp(path.join(os.tmpdir(), 'baton-sync-adls-'));
  });
  after(async () => {
    assert.deepEqual(
      server.unknown.map((r) => `${r.method} ${r.path} ${JSON.stringify(r.query)}`),
      [],
      'every request was one the server understood',
    );
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('uploads, lists (MD5s by stat), downloads everything, and finds a second upload unchanged', async () => {
    const service = new DataLakeServiceClient(
      server.accountUrl,
      new StorageSharedKeyCredential(server.account, Buffer.from('dummy-key').toString('base64')),
      { retryOptions: { maxTries: 2, retryDelayInMs: 10, maxRetryDelayInMs: 50 } },
    );
    const fileSystem = service.getFileSystemClient('lake');
    await fileSystem.create();
    const lake = new AdlsLake({ fileSystem });
    const deps = { lake, clock: steppingClock() };
    const source = path.join(dir, 'here', 'db');
    await writeTree(source, sampleDatabank);

    const up = (await syncDatabank(deps, {
      action: 'upload',
      databank: 'db',
      databankDir: source,
      outputsOnly: false,
    })) as TransferSummary;
    assert.equal(up.uploaded, 9);

    const listing = (await syncDatabank(deps, {
      action: 'list',
      databank: 'db',
      databankDir: source,
    })) as ListSummary;
    const trips = listing.entries.find((e) => e.path === 'outputs/trips.csv');
    assert.equal(trips?.md5, md5(sampleDatabank['outputs/trips.csv'] ?? ''));

    const target = path.join(dir, 'there', 'db');
    const down = (await syncDatabank(deps, {
      action: 'download',
      databank: 'db',
      databankDir: target,
    })) as TransferSummary;
    assert.equal(down.scope, 'everything');
    const expected = { ...sampleDatabank };
    for (const rel of ['inputs/landuse/taz.csv', '.secret', 'scratch/notes.txt'])
      delete expected[rel];
    assert.deepEqual(await readTree(target), expected);

    const again = (await syncDatabank(deps, {
      action: 'upload',
      databank: 'db',
      databankDir: source,
      outputsOnly: false,
    })) as TransferSummary;
    assert.equal(again.uploaded, 0);
    assert.equal(again.unchanged, 9);
  });
});

describe('baton sync and POST /api/databanks/{name}/sync', () => {
  let stateDir: string;
  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-sync-cli-'));
    await writeTree(path.join(stateDir, 'databanks', 'db'), sampleDatabank);
  });
  after(async () => {
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it('the CLI uploads and lists as JSON, and exits 2 naming the flag on bad input', async () => {
    const cli = (...args: string[]) =>
      runCli(['--state-dir', stateDir, ...args], { UPLOAD_OUTPUTS_ONLY: '' });
    const up = await cli('--json', 'sync', 'upload', 'db');
    assert.equal(up.code, 0, up.stderr);
    assert.equal((JSON.parse(up.stdout) as TransferSummary).uploaded, 9);
    const list = await cli('sync', 'list', 'db');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /outputs\/trips\.csv\s+output/);
    assert.match(list.stdout, /9 file\(s\)/);
    const bad = await cli('sync', 'upload', 'db', '--project-folder', '/abs');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--project-folder/);
    const unknown = await cli('sync', 'fetch', 'db');
    assert.equal(unknown.code, 2);
  });

  it('the HTTP route syncs a databank below the databank root', async () => {
    const host = await LocalHost.start({
      stateDir,
      port: 0,
      triggers: false,
      logger: createLogger({ level: 'silent' }),
    });
    try {
      const call = async (name: string, body: unknown) => {
        const response = await fetch(`${host.url}/api/databanks/${name}/sync`, {
          method: 'POST',
          headers: asUser('modeller'),
          body: JSON.stringify(body),
        });
        return {
          status: response.status,
          body: (await response.json()) as Record<string, unknown>,
        };
      };
      const listed = await call('db', { action: 'list' });
      assert.equal(listed.status, 200, JSON.stringify(listed.body));
      assert.equal(listed.body.files, 9);
      const dry = await call('db', { action: 'upload', dryRun: true });
      assert.equal(dry.status, 200);
      assert.equal(dry.body.uploaded, 0);
      const bad = await call('db', { action: 'sideways' });
      assert.equal(bad.status, 400);
      assert.equal((bad.body.error as { field?: string }).field, 'body.action');
      const missing = await call('nope', { action: 'list' });
      assert.equal(missing.status, 404);
    } finally {
      await host.stop();
    }
    assert.ok((await lstat(path.join(stateDir, 'databanks', 'db'))).isDirectory());
  });
});
