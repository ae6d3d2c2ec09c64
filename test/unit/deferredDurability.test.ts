import assert from 'node:assert/strict';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FolderLake } from '../../shared/adapters/local/folderLake.js';
import { PendingFlush } from '../../shared/adapters/local/fsPrimitives.js';
import { syncDatabank } from '../../shared/app/databankSync.js';
import { systemClock } from '../../shared/ports/clock.js';

/**
 * Deferred durability: a write with `deferDurability` is published at once (atomically, like
 * every write) but not fsynced; `flush()` then fsyncs each such file and its folder. Counted by
 * wrapping FileHandle.sync, the one call that makes data durable.
 */
describe('FolderLake: deferred durability', () => {
  let root: string;
  let synced: string[] = [];
  let restore: () => void = () => undefined;

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'baton-defer-'));
    const probe = await open(path.join(root, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
    await probe.close();
    const original = proto.sync;
    proto.sync = function (this: { fd: number }) {
      synced.push(String(this.fd));
      return original.call(this);
    };
    restore = () => {
      proto.sync = original;
    };
  });
  after(async () => {
    restore();
    await rm(root, { recursive: true, force: true });
  });

  it('fsyncs each write at once by default', async () => {
    const lake = new FolderLake({ root: path.join(root, 'lake1') });
    synced = [];
    await lake.write('a/one.txt', 'one');
    assert.equal(synced.length, 1);
  });

  it('publishes deferred writes at once and fsyncs them (and their folders) on flush', async () => {
    const lake = new FolderLake({ root: path.join(root, 'lake2') });
    const local = path.join(root, 'local.txt');
    await writeFile(local, 'local content');
    synced = [];
    await lake.write('x/a.txt', 'a', { deferDurability: true });
    await lake.uploadFile(local, 'x/b.txt', { deferDurability: true });
    await lake.uploadFile(local, 'y/c.txt', {
      deferDurability: true,
      md5: 'c8a9ba8a1fd4d1d6d2b62b02f3a2d2d1',
    });
    await lake.downloadFile('x/a.txt', path.join(root, 'down', 'a.txt'), {
      deferDurability: true,
    });
    assert.equal(synced.length, 0, 'nothing fsynced before flush');
    assert.equal((await lake.read('x/b.txt')).toString(), 'local content', 'already visible');
    assert.equal(await readFile(path.join(root, 'down', 'a.txt'), 'utf8'), 'a');

    await lake.flush();
    // 4 files, then their 3 folders (x, y, down).
    assert.equal(synced.length, 7);
    synced = [];
    await lake.flush();
    assert.equal(synced.length, 0, 'a second flush has nothing left to do');
  });

  it('a first databank download flushes every file where it ends up', async () => {
    const lake = new FolderLake({ root: path.join(root, 'lake3') });
    const source = path.join(root, 'db-up');
    await mkdir(path.join(source, 'outputs'), { recursive: true });
    await writeFile(
      path.join(source, 'orca_model_config.yaml'),
      'model_steps: [step]\niterations: {total: 1}\nsub_components:\n  step:\n    commands: [{command: "true"}]\n',
    );
    for (let i = 0; i < 5; i++) await writeFile(path.join(source, 'outputs', `o${i}.csv`), `${i}`);
    const deps = { lake, clock: systemClock };
    await syncDatabank(deps, { action: 'upload', databank: 'db', databankDir: source });
    synced = [];
    // A fresh folder: the download is staged, then moved in; the flush must reach the files.
    const target = path.join(root, 'db-down');
    const summary = await syncDatabank(deps, {
      action: 'download',
      databank: 'db',
      databankDir: target,
    });
    assert.equal((summary as { downloaded: number }).downloaded, 6);
    assert.ok(synced.length >= 6 + 2, `6 files and their folders fsynced, got ${synced.length}`);
  });
});

describe('PendingFlush', () => {
  it('makes a second flush wait for the first, and gives a failed batch back', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'baton-pending-'));
    try {
      const pending = new PendingFlush();
      await writeFile(path.join(dir, 'a'), 'a');
      pending.add(path.join(dir, 'a'));
      const first = pending.flush();
      pending.add(path.join(dir, 'a'));
      const second = pending.flush();
      await Promise.all([first, second]);
      assert.equal(pending.size, 0);

      // A path that cannot be opened for a reason other than "gone" fails the flush and stays.
      const blocked = path.join(dir, 'blocked', 'x');
      await writeFile(path.join(dir, 'blocked'), 'a file where a folder should be');
      pending.add(blocked);
      await assert.rejects(pending.flush(), /ENOTDIR/);
      assert.equal(pending.size, 1, 'given back for the next flush');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
