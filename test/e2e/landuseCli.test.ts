import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { finished } from 'node:stream/promises';
import yazl from 'yazl';
import { runCli } from '../helpers/hostProcess.js';

/** `baton landuse unpack` as the modellers run it (the seed's unpack_landuse action). */
async function zipOf(file: string, entries: Record<string, string>): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const [name, content] of Object.entries(entries)) zip.addBuffer(Buffer.from(content), name);
  zip.end();
  await finished(zip.outputStream.pipe(createWriteStream(file)));
}

describe('baton landuse unpack', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'baton-landuse-'));
    await zipOf(path.join(dir, 'landuse.zip'), {
      '2017/taz.csv': 'taz,jobs\n1,10\n',
      'landuse_2017_households.csv': 'taz,hh\n1,5\n',
      '2018/taz.csv': 'taz,jobs\n1,12\n',
    });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** `baton landuse unpack` of the test archive into `output` (under the temp folder). */
  const unpack = (year: string, output: string, ...flags: string[]) =>
    runCli([
      'landuse',
      'unpack',
      '--model-year',
      year,
      '--input',
      path.join(dir, 'landuse.zip'),
      '--output',
      path.join(dir, output),
      ...flags,
    ]);

  it('extracts only the files of the model year', async () => {
    const out = path.join(dir, 'data');
    const result = await unpack('2017', 'data', '--json');
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { matched: number; written: number };
    assert.equal(report.written, 2);
    assert.equal(await readFile(path.join(out, '2017', 'taz.csv'), 'utf8'), 'taz,jobs\n1,10\n');
    assert.deepEqual((await readdir(out)).sort(), ['2017', 'landuse_2017_households.csv']);
  });

  it('lists without writing on --dry-run, and refuses to overwrite without --overwrite', async () => {
    const dry = await unpack('2018', 'dry', '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /would extract 1 file/);
    await assert.rejects(readdir(path.join(dir, 'dry')));
    const again = await unpack('2017', 'data');
    assert.equal(again.code, 2);
    assert.match(again.stderr, /exist/);
  });

  it('names the flag of a bad year or a missing archive, with exit 2 and no stack', async () => {
    const badYear = await unpack('soon', 'x');
    assert.equal(badYear.code, 2);
    assert.match(badYear.stderr, /--model-year/);
    const missing = await runCli([
      'landuse',
      'unpack',
      '--model-year',
      '2017',
      '--input',
      path.join(dir, 'nope.zip'),
      '--output',
      path.join(dir, 'x'),
    ]);
    assert.equal(missing.code, 2);
    assert.doesNotMatch(missing.stderr, /\n\s+at /);
  });
});
