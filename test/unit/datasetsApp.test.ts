import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { FileStateStore } from '../../shared/adapters/local/fileStateStore.js';
import { FolderLake } from '../../shared/adapters/local/folderLake.js';
import {
  datasetsCollection,
  deleteDataset,
  getDataset,
  listDatasets,
  parseDeleteOptions,
  registerDataset,
  type DatasetDeps,
} from '../../shared/app/datasets.js';
import { isBatonError, type BatonError, type ErrorCode } from '../../shared/domain/errors.js';

/**
 * The dataset use cases against the local adapters in a temp folder: registration of files and
 * folders (item counts, bytes), ownership, conflicts, missing and escaping paths, listing,
 * showing and deleting with and without the files.
 */
async function rejectsWith(
  promise: Promise<unknown>,
  code: ErrorCode,
  field?: string,
): Promise<BatonError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(isBatonError(caught), `expected a BatonError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (field !== undefined) assert.equal(caught.field, field, caught.message);
  return caught;
}

describe('dataset use cases', () => {
  let scratch: string;
  let lakeRoot: string;
  let deps: DatasetDeps;
  const at = new Date('2024-05-01T12:00:00.000Z');

  before(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'baton-datasets-app-'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });
  beforeEach(async () => {
    const dir = await mkdtemp(path.join(scratch, 'case-'));
    lakeRoot = path.join(dir, 'lake');
    const lake = new FolderLake({ root: lakeRoot });
    deps = {
      state: new FileStateStore({ root: path.join(dir, 'state') }),
      lake,
      clock: { now: () => at },
    };
    await lake.write('jodafons/my_data_file.pic', 'abcde');
    await lake.write('jodafons/configs/a.json', '{}');
    await lake.write('jodafons/configs/b.json', '{"b":1}');
    await lake.write('jodafons/configs/deep/c.json', '[]');
    await writeFile(path.join(lakeRoot, 'jodafons', 'configs', '.DS_Store'), 'x');
    await mkdir(path.join(lakeRoot, 'jodafons', 'empty'), { recursive: true });
  });

  it('registers a file as a one-item dataset and stores its record', async () => {
    const record = await registerDataset(
      deps,
      { name: 'user.jodafons.my_data_file.pic', path: './jodafons//my_data_file.pic' },
      'jodafons',
    );
    assert.deepEqual(record, {
      name: 'user.jodafons.my_data_file.pic',
      owner: 'jodafons',
      path: 'jodafons/my_data_file.pic',
      kind: 'file',
      items: 1,
      bytes: 5,
      registeredAt: at.toISOString(),
      registeredBy: 'jodafons',
    });
    const stored = await deps.state.read(datasetsCollection, 'jodafons', record.name);
    assert.deepEqual(stored?.body, record);
  });

  it('registers a folder with every file below it, hidden files skipped', async () => {
    const record = await registerDataset(
      deps,
      { name: 'user.jodafons.my_config_files', path: 'jodafons/configs/' },
      'jodafons',
    );
    assert.equal(record.kind, 'folder');
    assert.equal(record.path, 'jodafons/configs');
    assert.equal(record.items, 3);
    assert.equal(record.bytes, 2 + 7 + 2);
    const view = await getDataset(deps, 'user.jodafons.my_config_files');
    assert.equal(view.present, true);
    assert.deepEqual(
      view.files.map((f) => [f.name, f.bytes]),
      [
        ['a.json', 2],
        ['b.json', 7],
        ['deep/c.json', 2],
      ],
    );
  });

  it('lets only the owner register under user.<owner>. (403)', async () => {
    await rejectsWith(
      registerDataset(deps, { name: 'user.jodafons.x', path: 'jodafons/my_data_file.pic' }, 'eve'),
      'forbidden',
      'dataset',
    );
    assert.deepEqual(await listDatasets(deps, {}), []);
  });

  it('refuses a name that is already registered (409)', async () => {
    const body = { name: 'user.jodafons.data', path: 'jodafons/my_data_file.pic' };
    await registerDataset(deps, body, 'jodafons');
    await rejectsWith(
      registerDataset(deps, { ...body, path: 'jodafons/configs' }, 'jodafons'),
      'conflict',
      'name',
    );
    assert.equal((await getDataset(deps, 'user.jodafons.data')).kind, 'file');
  });

  it('answers not_found on path for a lake path that does not exist', async () => {
    const error = await rejectsWith(
      registerDataset(deps, { name: 'user.jodafons.nope', path: 'jodafons/nope.csv' }, 'jodafons'),
      'not_found',
      'path',
    );
    assert.match(error.message, /jodafons\/nope\.csv/);
  });

  it('refuses paths that escape the lake, the lake root and empty folders', async () => {
    for (const bad of ['../outside', 'jodafons/../../etc', '/etc/passwd', 'a\\b', 'x\0y']) {
      await rejectsWith(
        registerDataset(deps, { name: 'user.jodafons.bad', path: bad }, 'jodafons'),
        'validation',
        'path',
      );
    }
    for (const root of ['.', '/', './']) {
      await rejectsWith(
        registerDataset(deps, { name: 'user.jodafons.bad', path: root }, 'jodafons'),
        'validation',
        'path',
      );
    }
    await rejectsWith(
      registerDataset(deps, { name: 'user.jodafons.bad', path: 'jodafons/empty' }, 'jodafons'),
      'validation',
      'path',
    );
    assert.deepEqual(await listDatasets(deps, {}), []);
  });

  it('never follows a symlink out of the lake', async () => {
    const outside = path.join(scratch, 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(path.join(outside, 'secret.txt'), 'secret');
    await symlink(outside, path.join(lakeRoot, 'jodafons', 'escape'));
    await rejectsWith(
      registerDataset(deps, { name: 'user.jodafons.escape', path: 'jodafons/escape' }, 'jodafons'),
      'forbidden',
    );
  });

  it('validates the body and the name', async () => {
    for (const body of [null, [], 'text', {}, { name: 'user.jodafons.x' }, { path: 'a' }]) {
      await rejectsWith(registerDataset(deps, body, 'jodafons'), 'validation');
    }
    await rejectsWith(
      registerDataset(deps, { name: 'user.jodafons.x', path: 'a', extra: 1 }, 'jodafons'),
      'validation',
    );
    for (const name of ['jodafons.x', 'user.Jodafons.x', 'user.jodafons.', 'user.jodafons.a/b']) {
      await rejectsWith(
        registerDataset(deps, { name, path: 'jodafons/my_data_file.pic' }, 'jodafons'),
        'validation',
        'name',
      );
    }
    await rejectsWith(getDataset(deps, '../etc'), 'validation', 'name');
    await rejectsWith(getDataset(deps, 'user.jodafons.missing'), 'not_found');
  });

  it('lists datasets by name, optionally of one owner', async () => {
    await registerDataset(deps, { name: 'user.jodafons.b', path: 'jodafons/configs' }, 'jodafons');
    await registerDataset(
      deps,
      { name: 'user.jodafons.a', path: 'jodafons/my_data_file.pic' },
      'jodafons',
    );
    await deps.lake.write('alice/x.csv', '1,2');
    await registerDataset(deps, { name: 'user.alice.x', path: 'alice/x.csv' }, 'alice');
    assert.deepEqual(
      (await listDatasets(deps, {})).map((d) => d.name),
      ['user.alice.x', 'user.jodafons.a', 'user.jodafons.b'],
    );
    assert.deepEqual(
      (await listDatasets(deps, { owner: 'jodafons' })).map((d) => d.name),
      ['user.jodafons.a', 'user.jodafons.b'],
    );
    assert.deepEqual(await listDatasets(deps, { owner: 'nobody' }), []);
    await rejectsWith(listDatasets(deps, { owner: '../x' }), 'validation', 'query.owner');
  });

  it('shows a dataset whose files are gone as not present', async () => {
    await registerDataset(
      deps,
      { name: 'user.jodafons.f', path: 'jodafons/my_data_file.pic' },
      'jodafons',
    );
    await deps.lake.delete('jodafons/my_data_file.pic');
    const view = await getDataset(deps, 'user.jodafons.f');
    assert.equal(view.present, false);
    assert.deepEqual(view.files, []);
  });

  it('deletes the record only, or with removeFiles the lake path too; owner only', async () => {
    await registerDataset(
      deps,
      { name: 'user.jodafons.keep', path: 'jodafons/my_data_file.pic' },
      'jodafons',
    );
    await registerDataset(
      deps,
      { name: 'user.jodafons.gone', path: 'jodafons/configs' },
      'jodafons',
    );
    await rejectsWith(
      deleteDataset(deps, 'user.jodafons.keep', 'eve', { removeFiles: true }),
      'forbidden',
    );
    assert.ok(await deps.lake.stat('jodafons/my_data_file.pic'));

    assert.deepEqual(
      await deleteDataset(deps, 'user.jodafons.keep', 'jodafons', { removeFiles: false }),
      { name: 'user.jodafons.keep', deleted: true, filesRemoved: false },
    );
    assert.ok(await deps.lake.stat('jodafons/my_data_file.pic'), 'file kept');
    await rejectsWith(getDataset(deps, 'user.jodafons.keep'), 'not_found');

    assert.deepEqual(
      await deleteDataset(deps, 'user.jodafons.gone', 'jodafons', { removeFiles: true }),
      { name: 'user.jodafons.gone', deleted: true, filesRemoved: true },
    );
    assert.equal(await deps.lake.stat('jodafons/configs'), undefined, 'folder removed');
    assert.deepEqual(await listDatasets(deps, {}), []);
    await rejectsWith(
      deleteDataset(deps, 'user.jodafons.gone', 'jodafons', { removeFiles: false }),
      'not_found',
    );
    // The name may be registered again once deleted.
    await registerDataset(
      deps,
      { name: 'user.jodafons.keep', path: 'jodafons/my_data_file.pic' },
      'jodafons',
    );
  });

  it('parses the removeFiles query flag', async () => {
    assert.deepEqual(parseDeleteOptions({}), { removeFiles: false });
    assert.deepEqual(parseDeleteOptions({ removeFiles: 'true' }), { removeFiles: true });
    assert.deepEqual(parseDeleteOptions({ removeFiles: '0' }), { removeFiles: false });
    await rejectsWith(
      Promise.resolve().then(() => parseDeleteOptions({ removeFiles: 'yes' })),
      'validation',
      'query.removeFiles',
    );
  });
});
