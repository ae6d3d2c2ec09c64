import assert from 'node:assert/strict';
import {
  access,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import yazl from 'yazl';
import { isBatonError, type BatonError, type ErrorCode } from '../../shared/domain/errors.js';
import { unpackLanduse } from '../../shared/app/unpackLanduse.js';

interface ZipEntry {
  name: string;
  data?: string | Buffer;
  mode?: number;
  directory?: boolean;
}

async function buildZip(entries: ZipEntry[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const e of entries) {
    if (e.directory) zip.addEmptyDirectory(e.name);
    else {
      const data = typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
      zip.addBuffer(data, e.name, e.mode === undefined ? {} : { mode: e.mode });
    }
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** yazl refuses hostile names, so archives are built with a same-length stand-in, then patched. */
function patchName(zip: Buffer, from: string, to: string): Buffer {
  const a = Buffer.from(from, 'latin1');
  const b = Buffer.from(to, 'latin1');
  assert.equal(a.length, b.length);
  let hits = 0;
  for (let i = zip.indexOf(a); i !== -1; i = zip.indexOf(a, i + 1)) {
    b.copy(zip, i);
    hits += 1;
  }
  assert.equal(hits, 2, 'the name appears in the local header and the central directory');
  return zip;
}

/** Rewrites the declared uncompressed size of `name` in both headers: a lying archive. */
function patchDeclaredSize(zip: Buffer, name: string, size: number): Buffer {
  const nameBytes = Buffer.from(name);
  let patched = 0;
  for (let i = 0; i + 46 <= zip.length; i += 1) {
    const sig = zip.readUInt32LE(i);
    if (sig === 0x04034b50 && zip.subarray(i + 30, i + 30 + nameBytes.length).equals(nameBytes)) {
      zip.writeUInt32LE(size, i + 22);
      patched += 1;
    } else if (
      sig === 0x02014b50 &&
      zip.subarray(i + 46, i + 46 + nameBytes.length).equals(nameBytes)
    ) {
      zip.writeUInt32LE(size, i + 24);
      patched += 1;
    }
  }
  assert.equal(patched, 2);
  return zip;
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: ErrorCode,
  includes?: string,
): Promise<BatonError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(isBatonError(caught), `expected a BatonError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (includes !== undefined) assert.ok(caught.message.includes(includes), caught.message);
  return caught;
}

async function listTree(dir: string): Promise<string[]> {
  try {
    const names = await readdir(dir, { recursive: true, withFileTypes: true });
    return names
      .filter((d) => !d.isDirectory())
      .map((d) => path.relative(dir, path.join(d.parentPath, d.name)).split(path.sep).join('/'))
      .sort();
  } catch {
    return [];
  }
}

const csv = (label: string): string => `taz,households\n1,${label.length}\n2,${label}\n`;

describe('unpackLanduse', () => {
  let root: string;
  let input: string;
  let output: string;

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'baton-unpack-'));
    input = path.join(root, 'landuse_data.zip');
    output = path.join(root, 'data');
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** Nothing outside `output` but the archive, and nothing (not even a temp file) inside it. */
  async function assertNothingWritten(): Promise<void> {
    assert.deepEqual(await listTree(root), ['landuse_data.zip']);
    assert.deepEqual(await listTree(output), []);
  }

  const yearArchive: ZipEntry[] = [
    { name: '2017', directory: true },
    { name: '2017/landuse.csv', data: csv('a') },
    { name: '2018/landuse.csv', data: csv('b') },
    { name: 'landuse_2017.csv', data: csv('c') },
    { name: 'zones/lu-2017-taz.csv', data: csv('d') },
    { name: '20170.csv', data: csv('e') },
    { name: '__MACOSX/2017/._landuse.csv', data: 'fork' },
    { name: 'README.txt', data: 'readme' },
  ];

  it("extracts only the model year's files with exact contents", async () => {
    await writeFile(input, await buildZip(yearArchive));
    const report = await unpackLanduse({ input, output, modelYear: 2017 });
    assert.equal(report.matched, 3);
    assert.equal(report.written, 3);
    assert.equal(report.skipped, 5);
    assert.deepEqual(
      report.files.map((f) => f.path),
      ['2017/landuse.csv', 'landuse_2017.csv', 'zones/lu-2017-taz.csv'],
    );
    assert.deepEqual(await listTree(output), [
      '2017/landuse.csv',
      'landuse_2017.csv',
      'zones/lu-2017-taz.csv',
    ]);
    assert.equal(await readFile(path.join(output, '2017/landuse.csv'), 'utf8'), csv('a'));
    assert.equal(await readFile(path.join(output, 'landuse_2017.csv'), 'utf8'), csv('c'));
    assert.equal(await readFile(path.join(output, 'zones/lu-2017-taz.csv'), 'utf8'), csv('d'));
    assert.equal(report.bytes, csv('a').length + csv('c').length + csv('d').length);
    assert.equal(report.files[0]?.target, path.join(output, '2017', 'landuse.csv'));
  });

  it('dry run lists the files and writes nothing, not even the output folder', async () => {
    await writeFile(input, await buildZip(yearArchive));
    const report = await unpackLanduse({ input, output, modelYear: 2017, dryRun: true });
    assert.equal(report.dryRun, true);
    assert.equal(report.matched, 3);
    assert.equal(report.written, 0);
    assert.equal(report.files.length, 3);
    await assertNothingWritten();
  });

  it('a year with no files writes nothing and reports zero matches', async () => {
    await writeFile(input, await buildZip(yearArchive));
    const report = await unpackLanduse({ input, output, modelYear: 2030 });
    assert.equal(report.matched, 0);
    await assertNothingWritten();
  });

  const hostileNames: { title: string; standIn: string; name: string; shown: string }[] = [
    { title: '../evil.csv', standIn: 'XX/evil.csv', name: '../evil.csv', shown: '../evil.csv' },
    {
      title: 'a/../../evil.csv',
      standIn: 'a/XX/XX/evil.csv',
      name: 'a/../../evil.csv',
      shown: 'a/../../evil.csv',
    },
    { title: 'absolute path', standIn: 'Xabs/evil.csv', name: '/abs/evil.csv', shown: '/abs' },
    { title: 'drive letter', standIn: 'C_/evil.csv', name: 'C:/evil.csv', shown: 'C:/evil' },
    {
      title: 'drive letter with backslash',
      standIn: 'C__evil_2017.csv',
      name: 'C:\\evil_2017.csv',
      shown: 'C:\\evil_2017.csv',
    },
    { title: 'backslashes', standIn: 'a_b_2017.csv', name: 'a\\b_2017.csv', shown: 'a\\b' },
    {
      title: 'NUL in the name',
      standIn: 'evilX2017.csv',
      name: 'evil\0' + '2017.csv',
      shown: 'evil',
    },
  ];

  for (const hostile of hostileNames) {
    it(`refuses an entry named ${hostile.title} and writes nothing`, async () => {
      const zip = await buildZip([
        { name: '2017/good.csv', data: csv('good') },
        { name: hostile.standIn, data: 'pwned' },
      ]);
      await writeFile(input, patchName(zip, hostile.standIn, hostile.name));
      const error = await rejectsWith(
        unpackLanduse({ input, output, modelYear: 2017 }),
        'validation',
        hostile.shown,
      );
      assert.equal(error.field, 'input');
      await assertNothingWritten();
      for (const escaped of [path.join(root, 'evil.csv'), '/abs/evil.csv']) {
        await assert.rejects(access(escaped), escaped);
      }
    });
  }

  it('refuses two entries that land on one path, or a file that is also a folder, before writing', async () => {
    const cases: Array<[ZipEntry[], string, string?]> = [
      [[{ name: '2017/a.csv' }, { name: '2017/A.csv' }], 'appears more than once'],
      [[{ name: '2017/a.csv' }, { name: '2017/xa.csv' }], 'appears more than once', '2017//a.csv'],
      [
        [{ name: '2017/a.csv' }, { name: 'xy2017/a.csv' }],
        'appears more than once',
        './2017/a.csv',
      ],
      [
        [{ name: '2017/a' }, { name: '2017/a/b.csv' }],
        'inside a path that another entry makes a file',
      ],
      [[{ name: '2017/a/b.csv' }, { name: '2017/a' }], 'other entries put files inside it'],
    ];
    for (const [entries, why, patched] of cases) {
      let zip = await buildZip(entries.map((e) => ({ ...e, data: csv(e.name) })));
      if (patched !== undefined) zip = patchName(zip, entries[1]?.name ?? '', patched);
      await writeFile(input, zip);
      await rejectsWith(unpackLanduse({ input, output, modelYear: 2017 }), 'validation', why);
      await assertNothingWritten();
      assert.deepEqual(await readdir(root), ['landuse_data.zip'], 'not even a folder');
    }
  });

  it('refuses a symlink entry', async () => {
    const zip = await buildZip([
      { name: '2017/good.csv', data: csv('good') },
      { name: '2017/link.csv', data: '/etc/passwd', mode: 0o120000 | 0o777 },
    ]);
    await writeFile(input, zip);
    await rejectsWith(
      unpackLanduse({ input, output, modelYear: 2017 }),
      'validation',
      '"2017/link.csv" refused: is a symbolic link',
    );
    await assertNothingWritten();
  });

  it('refuses a zip bomb by its declared ratio before inflating it', async () => {
    const zip = await buildZip([
      { name: '2017/good.csv', data: csv('good') },
      { name: '2017/bomb.csv', data: Buffer.alloc(50 * 1024 * 1024) },
    ]);
    await writeFile(input, zip);
    await rejectsWith(
      unpackLanduse({
        input,
        output,
        modelYear: 2017,
        limits: { maxRatio: 100, maxTotalBytes: 10 * 1024 * 1024 },
      }),
      'validation',
      '"2017/bomb.csv" refused: declares a compression ratio above the limit of 100',
    );
    await assertNothingWritten();
  });

  it('refuses an archive whose year files exceed maxTotalBytes or maxEntryBytes', async () => {
    await writeFile(
      input,
      await buildZip([
        { name: '2017/a.csv', data: 'x'.repeat(600) },
        { name: '2017/b.csv', data: 'y'.repeat(600) },
      ]),
    );
    await rejectsWith(
      unpackLanduse({ input, output, modelYear: 2017, limits: { maxTotalBytes: 1000 } }),
      'validation',
      'more than the limit of 1000',
    );
    await rejectsWith(
      unpackLanduse({ input, output, modelYear: 2017, limits: { maxEntryBytes: 500 } }),
      'validation',
      '"2017/a.csv" refused: declares 600 bytes',
    );
    await assertNothingWritten();
  });

  it('refuses an archive with more entries than maxEntries', async () => {
    await writeFile(input, await buildZip(yearArchive));
    await rejectsWith(
      unpackLanduse({ input, output, modelYear: 2017, limits: { maxEntries: 3 } }),
      'validation',
      'more than the limit of 3',
    );
    await assertNothingWritten();
  });

  it('aborts an entry whose header lies about its size and removes every temp file', async () => {
    // 5 MiB of zeros declared as 100 kB: the declared ratio (~20) passes the scan, the real
    // stream does not. The good entry before it was already streamed to a temp file.
    const zip = await buildZip([
      { name: '2017/good.csv', data: csv('good') },
      { name: '2017/liar.csv', data: Buffer.alloc(5 * 1024 * 1024) },
    ]);
    await writeFile(input, patchDeclaredSize(zip, '2017/liar.csv', 100_000));
    await rejectsWith(
      unpackLanduse({ input, output, modelYear: 2017 }),
      'validation',
      '"2017/liar.csv" refused: is corrupt or inconsistent (too many bytes',
    );
    assert.deepEqual(await listTree(output), []);
    assert.deepEqual(await listTree(root), ['landuse_data.zip']);
  });

  it('refuses to overwrite an existing file unless overwrite is set', async () => {
    await writeFile(input, await buildZip(yearArchive));
    await mkdir(path.join(output, '2017'), { recursive: true });
    const existing = path.join(output, '2017', 'landuse.csv');
    await writeFile(existing, 'old');
    await rejectsWith(
      unpackLanduse({ input, output, modelYear: 2017 }),
      'conflict',
      '"2017/landuse.csv"',
    );
    assert.equal(await readFile(existing, 'utf8'), 'old');
    assert.deepEqual(await listTree(output), ['2017/landuse.csv']);

    const report = await unpackLanduse({ input, output, modelYear: 2017, overwrite: true });
    assert.equal(report.written, 3);
    assert.equal(await readFile(existing, 'utf8'), csv('a'));
  });

  it('refuses to write through a symlinked folder inside the output', async () => {
    const outside = path.join(root, 'outside');
    await mkdir(outside);
    await mkdir(output);
    await symlink(outside, path.join(output, '2017'));
    await writeFile(input, await buildZip(yearArchive));
    await rejectsWith(
      unpackLanduse({ input, output, modelYear: 2017 }),
      'validation',
      'symbolic link',
    );
    assert.deepEqual(await readdir(outside), []);
  });

  it('refuses a corrupt or truncated archive with a clear validation error', async () => {
    await writeFile(input, Buffer.from('this is not a zip file at all, just text'));
    await rejectsWith(
      unpackLanduse({ input, output, modelYear: 2017 }),
      'validation',
      'is not a readable zip archive',
    );
    const zip = await buildZip(yearArchive);
    await writeFile(input, zip.subarray(0, zip.length - 30));
    await rejectsWith(unpackLanduse({ input, output, modelYear: 2017 }), 'validation', 'zip');
    await assertNothingWritten();
  });

  it('reports a missing archive as not_found and a bad year or limit as validation', async () => {
    await rejectsWith(unpackLanduse({ input, output, modelYear: 2017 }), 'not_found');
    await writeFile(input, await buildZip(yearArchive));
    await rejectsWith(unpackLanduse({ input, output, modelYear: 17 }), 'validation', 'modelYear');
    await rejectsWith(
      unpackLanduse({ input, output, modelYear: 2017, limits: { maxRatio: -1 } }),
      'validation',
      'limits.maxRatio',
    );
    await assertNothingWritten();
  });

  it('stops when aborted and leaves nothing behind', async () => {
    await writeFile(input, await buildZip(yearArchive));
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      unpackLanduse({ input, output, modelYear: 2017, signal: controller.signal }),
    );
    await assertNothingWritten();
  });
});
