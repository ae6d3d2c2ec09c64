import assert from 'node:assert/strict';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FolderLake } from '../../shared/adapters/local/folderLake.js';

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
});
