import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const scriptsDir = path.join(repoRoot, 'examples', 'beamline', 'scripts');
const reconstructScript = path.join(scriptsDir, 'reconstruct.mjs');
const zarrScript = path.join(scriptsDir, 'tiff_to_zarr.mjs');

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

// The scripts read these switches; the test's own environment must not leak them in.
const SWITCHES = ['FAIL_RECONSTRUCTION', 'FAIL_MULTIRES', 'BATON_OPT_SLICES'];

function run(script: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !SWITCHES.includes(key)),
  );
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [script, ...args],
      { env: { ...base, ...env } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

interface Tiff {
  width: number;
  height: number;
  pixels: Buffer;
}

/** Just enough of a TIFF reader to check what reconstruct.mjs writes: LE, one 8-bit strip. */
function readTiff(buf: Buffer): Tiff {
  assert.equal(buf.toString('latin1', 0, 4), 'II*\0', 'little-endian TIFF header');
  const ifd = buf.readUInt32LE(4);
  const tags = new Map<number, number>();
  for (let i = 0; i < buf.readUInt16LE(ifd); i++) {
    const at = ifd + 2 + i * 12;
    const type = buf.readUInt16LE(at + 2);
    assert.equal(buf.readUInt32LE(at + 4), 1, 'single-valued tags');
    tags.set(
      buf.readUInt16LE(at),
      type === 3 ? buf.readUInt16LE(at + 8) : buf.readUInt32LE(at + 8),
    );
  }
  const tag = (id: number): number => {
    const value = tags.get(id);
    assert.ok(value !== undefined, `tag ${id} present`);
    return value;
  };
  assert.equal(tag(258), 8, 'BitsPerSample');
  assert.equal(tag(259), 1, 'Compression none');
  assert.equal(tag(262), 1, 'BlackIsZero');
  const width = tag(256);
  const height = tag(257);
  assert.equal(tag(278), height, 'one strip');
  assert.equal(tag(279), width * height, 'strip byte count');
  const offset = tag(273);
  assert.ok(offset + width * height <= buf.length, 'strip inside the file');
  return { width, height, pixels: buf.subarray(offset, offset + width * height) };
}

interface ZArray {
  shape: number[];
  chunks: number[];
  dtype: string;
  compressor: null;
}

const readJson = async <T>(file: string): Promise<T> =>
  JSON.parse(await readFile(file, 'utf8')) as T;

const exists = (file: string): Promise<boolean> =>
  stat(file).then(
    () => true,
    () => false,
  );

function assertOneLineError(result: RunResult, code: number): void {
  assert.equal(result.code, code, result.stderr);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one-line stderr: ${result.stderr}`);
  assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
}

let scratch = '';
let textInput = '';
let binaryInput = '';
before(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'baton-beamline-scripts-'));
  textInput = path.join(scratch, 'sample.txt');
  await writeFile(textInput, 'beamline 8.3.2 stand-in file\n'); // 30 bytes
  binaryInput = path.join(scratch, 'scan.bin');
  // Large enough for the 64-wide geometry (and so a 4-level pyramid), varied but fixed.
  await writeFile(binaryInput, Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 37) % 251)));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

let folders = 0;
const freshPath = (kind: string): string => path.join(scratch, `${kind}-${++folders}`);

async function reconstruct(input: string, env: Record<string, string> = {}): Promise<string> {
  const out = freshPath('slices');
  const result = await run(reconstructScript, [input, out], env);
  assert.equal(result.code, 0, result.stderr);
  return out;
}

const sliceBytes = async (dir: string): Promise<Buffer[]> => {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.tif')).sort();
  return Promise.all(names.map((n) => readFile(path.join(dir, n))));
};

describe('reconstruct.mjs', () => {
  it('writes parseable 8-bit TIFF slices and a summary for a 30-byte text file', async () => {
    const out = freshPath('slices');
    const result = await run(reconstructScript, [textInput, out]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trimEnd().split('\n').length, 4, 'one progress line per slice');
    const names = (await readdir(out)).sort();
    assert.deepEqual(names, [
      'reconstruction.json',
      'slice_0000.tif',
      'slice_0001.tif',
      'slice_0002.tif',
      'slice_0003.tif',
    ]);
    const summary = await readJson<Record<string, unknown>>(path.join(out, 'reconstruction.json'));
    const digest = createHash('sha256')
      .update(await readFile(textInput))
      .digest('hex');
    assert.equal(summary.sha256, digest);
    assert.equal(summary.slices, 4);
    assert.equal(summary.input, textInput);
    for (const buf of await sliceBytes(out)) {
      const tiff = readTiff(buf);
      assert.equal(tiff.width, summary.width);
      assert.equal(tiff.height, summary.height);
      assert.ok(new Set(tiff.pixels).size > 2, 'a slice is an image, not a constant');
    }
  });

  it('is deterministic and depends on the input bytes', async () => {
    const first = await sliceBytes(await reconstruct(textInput));
    const again = await sliceBytes(await reconstruct(textInput));
    assert.deepEqual(again, first);
    const other = path.join(scratch, 'other.txt');
    await writeFile(other, 'beamline 8.3.2 stand-in file!\n');
    const different = await sliceBytes(await reconstruct(other));
    for (let i = 0; i < first.length; i++) {
      assert.notDeepEqual(readTiff(different[i]!).pixels, readTiff(first[i]!).pixels, `slice ${i}`);
    }
  });

  it('takes the slice count from BATON_OPT_SLICES and rejects a bad one', async () => {
    const out = await reconstruct(binaryInput, { BATON_OPT_SLICES: '2' });
    const slices = await sliceBytes(out);
    assert.equal(slices.length, 2);
    assert.equal(readTiff(slices[0]!).width, 64);
    const bad = await run(reconstructScript, [textInput, freshPath('slices')], {
      BATON_OPT_SLICES: '65',
    });
    assertOneLineError(bad, 2);
  });

  it('fails on purpose with FAIL_RECONSTRUCTION=1 and writes nothing', async () => {
    const out = freshPath('slices');
    const result = await run(reconstructScript, [textInput, out], { FAIL_RECONSTRUCTION: '1' });
    assertOneLineError(result, 3);
    assert.equal(result.stderr, 'reconstruction failed: FAIL_RECONSTRUCTION is set\n');
    assert.equal(await exists(out), false);
  });

  it('exits 2 with one line and no stack on an empty or missing input', async () => {
    const empty = path.join(scratch, 'empty.h5');
    await writeFile(empty, '');
    for (const input of [empty, path.join(scratch, 'missing.h5')]) {
      const result = await run(reconstructScript, [input, freshPath('slices')]);
      assertOneLineError(result, 2);
    }
  });
});

describe('tiff_to_zarr.mjs', () => {
  let slicesDir = '';
  before(async () => {
    slicesDir = await reconstruct(binaryInput);
  });

  it('writes a Zarr v2 pyramid whose levels halve and average 2×2 blocks', async () => {
    const out = freshPath('volume.zarr');
    const result = await run(zarrScript, [slicesDir, out]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await readJson(path.join(out, '.zgroup')), { zarr_format: 2 });
    const attrs = await readJson<{ multiscales: { datasets: { path: string }[] }[] }>(
      path.join(out, '.zattrs'),
    );
    const paths = attrs.multiscales[0]!.datasets.map((d) => d.path);
    assert.deepEqual(paths, ['0', '1', '2', '3']);
    assert.equal(result.stdout.trimEnd().split('\n').length, 4, 'one progress line per level');

    const tiffs = (await sliceBytes(slicesDir)).map(readTiff);
    const arrays = await Promise.all(
      paths.map((p) => readJson<ZArray>(path.join(out, p, '.zarray'))),
    );
    assert.deepEqual(
      arrays.map((a) => a.shape),
      [
        [4, 64, 64],
        [4, 32, 32],
        [4, 16, 16],
        [4, 8, 8],
      ],
    );
    for (const [level, array] of arrays.entries()) {
      const [depth, y, x] = array.shape as [number, number, number];
      assert.deepEqual(array.chunks, [1, y, x]);
      assert.equal(array.dtype, '|u1');
      for (let z = 0; z < depth; z++) {
        const chunk = await readFile(path.join(out, String(level), `${z}.0.0`));
        assert.equal(chunk.length, y * x, `level ${level} chunk ${z}`);
      }
    }

    for (let z = 0; z < tiffs.length; z++) {
      const level0 = await readFile(path.join(out, '0', `${z}.0.0`));
      const level1 = await readFile(path.join(out, '1', `${z}.0.0`));
      assert.deepEqual(level0, tiffs[z]!.pixels, `level 0 slice ${z} is the TIFF`);
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          const at = (yy: number, xx: number): number => level0[yy * 64 + xx]!;
          const sum =
            at(2 * y, 2 * x) +
            at(2 * y, 2 * x + 1) +
            at(2 * y + 1, 2 * x) +
            at(2 * y + 1, 2 * x + 1);
          assert.equal(level1[y * 32 + x], Math.floor((sum + 2) / 4), `z${z} y${y} x${x}`);
        }
      }
    }
  });

  it('replaces an existing output whole', async () => {
    const out = freshPath('volume.zarr');
    await mkdir(path.join(out, '9'), { recursive: true });
    await writeFile(path.join(out, 'stale.txt'), 'old');
    const result = await run(zarrScript, [slicesDir, out]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual((await readdir(out)).sort(), ['.zattrs', '.zgroup', '0', '1', '2', '3']);
  });

  it('fails on purpose with FAIL_MULTIRES=1 and leaves no output behind', async () => {
    const parent = freshPath('fail');
    await mkdir(parent);
    const out = path.join(parent, 'volume.zarr');
    const result = await run(zarrScript, [slicesDir, out], { FAIL_MULTIRES: '1' });
    assertOneLineError(result, 3);
    assert.equal(await exists(out), false);
    assert.deepEqual(await readdir(parent), [], 'no temporary folder left either');
  });

  it('refuses a file that is not an 8-bit grayscale TIFF with exit 2 and no output', async () => {
    const dir = freshPath('bad-tiffs');
    await mkdir(dir);
    const tiff = Buffer.from(await readFile(path.join(slicesDir, 'slice_0000.tif')));
    // Entry 2 of the IFD is BitsPerSample; turn the 8 into a 16.
    tiff.writeUInt16LE(16, 8 + 2 + 2 * 12 + 8);
    await writeFile(path.join(dir, 'slice_0000.tif'), tiff);
    const out = path.join(dir, 'volume.zarr');
    const result = await run(zarrScript, [dir, out]);
    assertOneLineError(result, 2);
    assert.match(result.stderr, /8-bit/);
    assert.equal(await exists(out), false);

    await writeFile(path.join(dir, 'slice_0000.tif'), 'not a tiff at all');
    assertOneLineError(await run(zarrScript, [dir, out]), 2);
    assert.equal(await exists(out), false);
  });
});
