import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isBatonError } from '../../shared/domain/errors.js';
import type { ErrorCode } from '../../shared/domain/errors.js';
import type { Lake, LakeEntry } from '../../shared/ports/lake.js';

export interface LakeFixture {
  lake: Lake;
  cleanup: () => Promise<void>;
}

/** Every call must yield an empty, isolated lake (a fresh folder, a fresh ADLS directory...). */
export type LakeFactory = () => Promise<LakeFixture>;

const md5 = (data: Uint8Array | string): string => createHash('md5').update(data).digest('hex');

const rejectsWith = (promise: Promise<unknown>, code: ErrorCode): Promise<void> =>
  assert.rejects(promise, (err) => isBatonError(err, code));

const escapingPaths = ['../x', '/etc/passwd', 'a/../../b', 'a/../b', '..', 'a\\b', '..\\x', 'a\0b'];

/** The Lake behaviour every adapter must show (a local folder today, ADLS Gen2 later). */
export function runLakeContract(name: string, makeAdapter: LakeFactory): void {
  const withLake = async (fn: (lake: Lake, scratch: string) => Promise<void>): Promise<void> => {
    const fixture = await makeAdapter();
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'baton-lake-scratch-'));
    try {
      await fn(fixture.lake, scratch);
    } finally {
      await rm(scratch, { recursive: true, force: true });
      await fixture.cleanup();
    }
  };

  describe(`Lake contract: ${name}`, () => {
    it('write returns the entry with size and correct md5; read returns the bytes', () =>
      withLake(async (lake) => {
        const text = 'a,b\n1,2\nnaïve ✓\n';
        const entry = await lake.write('runs/r1/out.csv', text);
        assert.equal(entry.path, 'runs/r1/out.csv');
        assert.equal(entry.isDirectory, false);
        assert.equal(entry.size, Buffer.byteLength(text));
        assert.equal(entry.md5, md5(text));
        assert.ok(!Number.isNaN(Date.parse(entry.lastModified)), entry.lastModified);
        assert.equal((await lake.read('runs/r1/out.csv')).toString('utf8'), text);
      }));

    it('binary data round-trips exactly, including the empty file', () =>
      withLake(async (lake) => {
        const bytes = new Uint8Array([0, 255, 10, 13, 0, 128, 1]);
        assert.equal((await lake.write('bin/data', bytes)).md5, md5(bytes));
        assert.deepEqual(new Uint8Array(await lake.read('bin/data')), bytes);
        const empty = await lake.write('bin/empty', new Uint8Array());
        assert.equal(empty.size, 0);
        assert.equal(empty.md5, 'd41d8cd98f00b204e9800998ecf8427e');
        assert.equal((await lake.read('bin/empty')).length, 0);
      }));

    it('paths are normalised: repeated slashes and "." segments name the same file', () =>
      withLake(async (lake) => {
        const entry = await lake.write('runs//r1/./a.txt', 'x');
        assert.equal(entry.path, 'runs/r1/a.txt');
        assert.equal((await lake.read('./runs/r1//a.txt')).toString(), 'x');
      }));

    it('write overwrites by default', () =>
      withLake(async (lake) => {
        await lake.write('f.txt', 'one');
        const second = await lake.write('f.txt', 'second version');
        assert.equal(second.md5, md5('second version'));
        assert.equal((await lake.read('f.txt')).toString(), 'second version');
      }));

    it('createOnly fails with conflict when the file exists and leaves it untouched', () =>
      withLake(async (lake) => {
        await lake.write('out/result.json', '{"v":1}', { createOnly: true });
        await rejectsWith(
          lake.write('out/result.json', '{"v":2}', { createOnly: true }),
          'conflict',
        );
        assert.equal((await lake.read('out/result.json')).toString(), '{"v":1}');
      }));

    it('20 concurrent createOnly writes of one path: exactly one wins, the rest get conflict', async () =>
      withLake(async (lake) => {
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) =>
            lake.write('race/out.txt', `writer ${i}`, { createOnly: true }),
          ),
        );
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        const losers = results.flatMap((r) =>
          r.status === 'rejected' ? [r.reason as unknown] : [],
        );
        assert.equal(winners.length, 1);
        for (const err of losers) assert.ok(isBatonError(err, 'conflict'), String(err));
        assert.equal((await lake.read('race/out.txt')).toString(), `writer ${winners[0]}`);
      }));

    it('concurrent createOnly uploads of one path: exactly one wins, the content is its file', () =>
      withLake(async (lake, scratch) => {
        const sources = await Promise.all(
          Array.from({ length: 10 }, async (_, i) => {
            const file = path.join(scratch, `source-${i}.txt`);
            await writeFile(file, `upload ${i} `.repeat(1000 + i));
            return file;
          }),
        );
        const results = await Promise.allSettled(
          sources.map((file) => lake.uploadFile(file, 'race/upload.txt', { createOnly: true })),
        );
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        assert.equal(winners.length, 1, `${winners.length} uploads won`);
        for (const r of results)
          if (r.status === 'rejected')
            assert.ok(isBatonError(r.reason, 'conflict'), String(r.reason));
        const content = (await lake.read('race/upload.txt')).toString();
        assert.equal(content, await readFile(sources[winners[0] ?? 0] ?? '', 'utf8'));
      }));

    it('concurrent overwrites never leave a mixed file: the result is one complete version', () =>
      withLake(async (lake) => {
        const versions = Array.from({ length: 10 }, (_, i) => String(i).repeat(50_000 + i));
        await Promise.all(versions.map((v) => lake.write('hot.txt', v)));
        const content = (await lake.read('hot.txt')).toString();
        assert.ok(versions.includes(content), `torn content of length ${content.length}`);
        assert.equal((await lake.stat('hot.txt'))?.md5, md5(content));
      }));

    it('read of a missing file fails with not_found', () =>
      withLake(async (lake) => {
        await rejectsWith(lake.read('nope.txt'), 'not_found');
        await lake.write('dir/a.txt', 'a');
        await rejectsWith(lake.read('dir/b.txt'), 'not_found');
        await rejectsWith(lake.read('dir/a.txt/below'), 'not_found');
      }));

    it('stat describes files (with md5) and folders, and is undefined when absent', () =>
      withLake(async (lake) => {
        const data = randomBytes(70_000);
        await lake.write('s/data.bin', data);
        const file = await lake.stat('s/data.bin');
        assert.ok(file);
        assert.equal(file.path, 's/data.bin');
        assert.equal(file.isDirectory, false);
        assert.equal(file.size, data.length);
        assert.equal(file.md5, md5(data));
        const folder = await lake.stat('s');
        assert.equal(folder?.isDirectory, true);
        assert.equal(folder?.path, 's');
        assert.equal(await lake.stat('s/missing.bin'), undefined);
        assert.equal(await lake.stat('nothing/here'), undefined);
      }));

    describe('list', () => {
      const seed = async (lake: Lake): Promise<void> => {
        await lake.write('a/1.txt', 'one');
        await lake.write('a/2.txt', 'two!');
        await lake.write('a/sub/3.txt', 'three');
        await lake.write('b.txt', 'bee');
      };
      const summary = (entries: LakeEntry[]): string[] =>
        entries.map((e) => (e.isDirectory ? `${e.path}/` : `${e.path}:${e.size}`));

      it('one level by default, sorted, folders flagged, paths relative to the lake root', () =>
        withLake(async (lake) => {
          await seed(lake);
          assert.deepEqual(summary(await lake.list('')), ['a/', 'b.txt:3']);
          assert.deepEqual(summary(await lake.list('a')), ['a/1.txt:3', 'a/2.txt:4', 'a/sub/']);
          assert.deepEqual(summary(await lake.list('a/sub/')), ['a/sub/3.txt:5']);
        }));

      it('recursive lists everything below the prefix, sorted by path', () =>
        withLake(async (lake) => {
          await seed(lake);
          assert.deepEqual(summary(await lake.list('', { recursive: true })), [
            'a/',
            'a/1.txt:3',
            'a/2.txt:4',
            'a/sub/',
            'a/sub/3.txt:5',
            'b.txt:3',
          ]);
          assert.deepEqual(summary(await lake.list('a', { recursive: true })), [
            'a/1.txt:3',
            'a/2.txt:4',
            'a/sub/',
            'a/sub/3.txt:5',
          ]);
        }));

      it('md5 in listings, when given, is correct', () =>
        withLake(async (lake) => {
          await seed(lake);
          for (const entry of await lake.list('', { recursive: true })) {
            if (entry.isDirectory || entry.md5 === undefined) continue;
            assert.equal(entry.md5, md5(await lake.read(entry.path)), entry.path);
          }
        }));

      it('an empty lake or a missing prefix lists nothing', () =>
        withLake(async (lake) => {
          assert.deepEqual(await lake.list(''), []);
          assert.deepEqual(await lake.list('', { recursive: true }), []);
          await seed(lake);
          assert.deepEqual(await lake.list('zzz'), []);
        }));
    });

    describe('delete', () => {
      it('deletes a file and returns true; returns false when nothing was there', () =>
        withLake(async (lake) => {
          await lake.write('d/f.txt', 'x');
          assert.equal(await lake.delete('d/f.txt'), true);
          assert.equal(await lake.stat('d/f.txt'), undefined);
          assert.equal(await lake.delete('d/f.txt'), false);
          assert.equal(await lake.delete('never/was'), false);
        }));

      it('a folder needs recursive: validation without it, gone with it', () =>
        withLake(async (lake) => {
          await lake.write('d/sub/f.txt', 'x');
          await lake.write('keep.txt', 'k');
          await rejectsWith(lake.delete('d'), 'validation');
          assert.equal((await lake.read('d/sub/f.txt')).toString(), 'x');
          assert.equal(await lake.delete('d', { recursive: true }), true);
          assert.equal(await lake.stat('d'), undefined);
          assert.equal(await lake.stat('d/sub/f.txt'), undefined);
          assert.deepEqual(
            (await lake.list('', { recursive: true })).map((e) => e.path),
            ['keep.txt'],
          );
        }));

      it('the root itself cannot be deleted', () =>
        withLake(async (lake) => {
          await lake.write('keep.txt', 'k');
          await rejectsWith(lake.delete('', { recursive: true }), 'validation');
          assert.equal((await lake.read('keep.txt')).toString(), 'k');
        }));
    });

    describe('uploadFile and downloadFile', () => {
      it('round-trip a multi-megabyte file with correct md5 on both sides', () =>
        withLake(async (lake, scratch) => {
          const data = randomBytes(3 * 1024 * 1024 + 17);
          const source = path.join(scratch, 'big.bin');
          await writeFile(source, data);
          const uploaded = await lake.uploadFile(source, 'inputs/big.bin');
          assert.equal(uploaded.path, 'inputs/big.bin');
          assert.equal(uploaded.size, data.length);
          assert.equal(uploaded.md5, md5(data));
          assert.equal((await lake.stat('inputs/big.bin'))?.md5, md5(data));

          const destination = path.join(scratch, 'nested', 'deeper', 'copy.bin');
          const downloaded = await lake.downloadFile('inputs/big.bin', destination);
          assert.equal(downloaded.path, 'inputs/big.bin');
          assert.equal(downloaded.size, data.length);
          assert.equal(downloaded.md5, md5(data));
          assert.ok(data.equals(await readFile(destination)));
        }));

      it('downloadFile replaces an existing local file', () =>
        withLake(async (lake, scratch) => {
          await lake.write('x.txt', 'from the lake');
          const destination = path.join(scratch, 'x.txt');
          await writeFile(destination, 'old local content that is longer');
          await lake.downloadFile('x.txt', destination);
          assert.equal(await readFile(destination, 'utf8'), 'from the lake');
        }));

      it('uploadFile honours createOnly', () =>
        withLake(async (lake, scratch) => {
          const source = path.join(scratch, 'in.txt');
          await writeFile(source, 'new');
          await lake.write('exists.txt', 'old');
          await rejectsWith(
            lake.uploadFile(source, 'exists.txt', { createOnly: true }),
            'conflict',
          );
          assert.equal((await lake.read('exists.txt')).toString(), 'old');
          await lake.uploadFile(source, 'exists.txt');
          assert.equal((await lake.read('exists.txt')).toString(), 'new');
        }));

      it('uploadFile with the md5 already known stores the same bytes, createOnly included', () =>
        withLake(async (lake, scratch) => {
          const data = randomBytes(200_000);
          const source = path.join(scratch, 'known.bin');
          await writeFile(source, data);
          const known = { md5: md5(data) };
          const uploaded = await lake.uploadFile(source, 'k/known.bin', known);
          assert.equal(uploaded.size, data.length);
          assert.equal(uploaded.md5, md5(data));
          assert.ok(data.equals(await lake.read('k/known.bin')));
          assert.equal((await lake.stat('k/known.bin'))?.md5, md5(data));
          await rejectsWith(
            lake.uploadFile(source, 'k/known.bin', { ...known, createOnly: true }),
            'conflict',
          );
          await rejectsWith(
            lake.uploadFile(path.join(scratch, 'gone.bin'), 'k/gone.bin', known),
            'not_found',
          );
          assert.equal(await lake.stat('k/gone.bin'), undefined);
        }));

      it('missing sources fail with not_found and create nothing', () =>
        withLake(async (lake, scratch) => {
          const destination = path.join(scratch, 'never.txt');
          await rejectsWith(lake.downloadFile('missing.txt', destination), 'not_found');
          await assert.rejects(stat(destination), { code: 'ENOENT' });
          await rejectsWith(
            lake.uploadFile(path.join(scratch, 'missing.txt'), 'up.txt'),
            'not_found',
          );
          assert.equal(await lake.stat('up.txt'), undefined);
        }));
    });

    describe('path confinement', () => {
      for (const bad of escapingPaths) {
        it(`refuses ${JSON.stringify(bad)} with validation in every operation`, () =>
          withLake(async (lake, scratch) => {
            const local = path.join(scratch, 'local.txt');
            await writeFile(local, 'payload');
            await rejectsWith(lake.write(bad, 'payload'), 'validation');
            await rejectsWith(lake.write(bad, 'payload', { createOnly: true }), 'validation');
            await rejectsWith(lake.uploadFile(local, bad), 'validation');
            await rejectsWith(lake.read(bad), 'validation');
            await rejectsWith(lake.downloadFile(bad, path.join(scratch, 'out.txt')), 'validation');
            await rejectsWith(lake.stat(bad), 'validation');
            await rejectsWith(lake.list(bad), 'validation');
            await rejectsWith(lake.list(bad, { recursive: true }), 'validation');
            await rejectsWith(lake.delete(bad), 'validation');
            await rejectsWith(lake.delete(bad, { recursive: true }), 'validation');
            assert.deepEqual(await lake.list('', { recursive: true }), [], 'nothing was written');
          }));
      }

      it('the root is not a file: writing "" or "." is a validation error', () =>
        withLake(async (lake) => {
          await rejectsWith(lake.write('', 'x'), 'validation');
          await rejectsWith(lake.write('.', 'x'), 'validation');
          await rejectsWith(lake.read(''), 'validation');
        }));
    });
  });
}
