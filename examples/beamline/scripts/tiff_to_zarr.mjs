#!/usr/bin/env node
// Stacks the reconstruction's slice TIFFs into a Zarr v2 multi-resolution pyramid (OME-NGFF
// style `multiscales`), the beamline example's second "HPC" step.
//
//   node tiff_to_zarr.mjs <tiff-folder> <output.zarr folder>
//
// Reads every *.tif / *.tiff in the folder (name order = z order); each must be an 8-bit
// single-sample grayscale, uncompressed, stripped TIFF of the same size. Level 0 is the full
// volume; each next level halves y and x by averaging 2×2 blocks (odd edges dropped), while the
// next level's smaller side stays ≥ 8, at most 4 levels. Everything is written into
// `<out>.tmp-<pid>` and renamed to `<out>` at the end, so a failed run leaves no `<out>` and a
// successful one replaces the old output whole. FAIL_MULTIRES=1 fails on purpose (exit 3)
// after level 0 is written, which exercises that cleanup.
// Exit codes: 0 ok, 1 unexpected I/O error, 2 bad arguments or input, 3 failure on purpose.
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

const MAX_LEVELS = 4;
const MIN_SIDE = 8;

/** An error whose message is the whole story: printed as one line, no stack. */
class ScriptError extends Error {
  constructor(message, exitCode) {
    super(message);
    this.exitCode = exitCode;
  }
}

const badInput = (message) => new ScriptError(message, 2);

function parseArgs(argv) {
  if (argv.length !== 2) {
    throw badInput('usage: tiff_to_zarr.mjs <tiff-folder> <output.zarr folder>');
  }
  const input = path.resolve(argv[0]);
  const output = path.resolve(argv[1]);
  if (input === output) throw badInput('output folder must differ from the TIFF folder');
  return { input, output };
}

async function listTiffs(folder) {
  let info;
  try {
    info = await stat(folder);
  } catch {
    throw badInput(`TIFF folder not found: ${folder}`);
  }
  if (!info.isDirectory()) throw badInput(`not a folder: ${folder}`);
  // Plain code-point order, not locale order, so z never depends on the machine's settings.
  const names = (await readdir(folder)).filter((n) => /\.tiff?$/i.test(n)).sort();
  if (names.length === 0) throw badInput(`no .tif files in ${folder}`);
  return names.map((n) => path.join(folder, n));
}

// ---- TIFF reading ------------------------------------------------------------------------

const TYPE_SIZES = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8 };
const SHORT = 3;
const LONG = 4;

/** Bounds-checked reads in the file's byte order; a short file is a bad TIFF, not a crash. */
function reader(buf, name) {
  const magic = buf.toString('latin1', 0, 2);
  if (buf.length < 8 || (magic !== 'II' && magic !== 'MM')) {
    throw badInput(`${name}: not a TIFF file`);
  }
  const little = magic === 'II';
  const check = (at, size) => {
    if (at < 0 || at + size > buf.length) throw badInput(`${name}: truncated TIFF`);
  };
  return {
    u16(at) {
      check(at, 2);
      return little ? buf.readUInt16LE(at) : buf.readUInt16BE(at);
    },
    u32(at) {
      check(at, 4);
      return little ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
    },
    check,
  };
}

/** Reads the first IFD into tag → number[] (SHORT/LONG values only; other types are skipped). */
function readIfd(buf, name) {
  const r = reader(buf, name);
  const version = r.u16(2);
  if (version === 43) throw badInput(`${name}: BigTIFF is not supported`);
  if (version !== 42) throw badInput(`${name}: not a TIFF file`);
  const ifd = r.u32(4);
  const count = r.u16(ifd);
  const tags = new Map();
  for (let i = 0; i < count; i++) {
    const at = ifd + 2 + i * 12;
    const tag = r.u16(at);
    const type = r.u16(at + 2);
    const n = r.u32(at + 4);
    if (type !== SHORT && type !== LONG) continue;
    const size = TYPE_SIZES[type] * n;
    // Values that fit in 4 bytes live in the entry itself; larger ones at the given offset.
    const base = size <= 4 ? at + 8 : r.u32(at + 8);
    r.check(base, size);
    const values = [];
    for (let k = 0; k < n; k++) {
      values.push(type === SHORT ? r.u16(base + 2 * k) : r.u32(base + 4 * k));
    }
    tags.set(tag, values);
  }
  return { tags, check: r.check };
}

/** Returns the tag's single value, its default when absent, or refuses a multi-valued tag. */
function single(tags, tag, label, name, fallback) {
  const values = tags.get(tag);
  if (values === undefined) {
    if (fallback === undefined) throw badInput(`${name}: missing ${label}`);
    return fallback;
  }
  if (values.length !== 1) throw badInput(`${name}: expected one ${label}, got ${values.length}`);
  return values[0];
}

/** Decodes an 8-bit grayscale, uncompressed, stripped TIFF; refuses anything else. */
function decodeTiff(buf, name) {
  const { tags, check } = readIfd(buf, name);
  const width = single(tags, 256, 'ImageWidth', name);
  const height = single(tags, 257, 'ImageLength', name);
  const samples = single(tags, 277, 'SamplesPerPixel', name, 1);
  const bits = single(tags, 258, 'BitsPerSample', name, 1);
  const compression = single(tags, 259, 'Compression', name, 1);
  const photometric = single(tags, 262, 'PhotometricInterpretation', name);
  const sampleFormat = single(tags, 339, 'SampleFormat', name, 1);
  if (width === 0 || height === 0) throw badInput(`${name}: empty image`);
  if (samples !== 1 || bits !== 8 || sampleFormat !== 1) {
    throw badInput(`${name}: only 8-bit unsigned grayscale is supported`);
  }
  if (compression !== 1) throw badInput(`${name}: compressed TIFF (${compression}) not supported`);
  if (photometric !== 0 && photometric !== 1) {
    throw badInput(`${name}: not grayscale (PhotometricInterpretation ${photometric})`);
  }
  if (tags.has(322)) throw badInput(`${name}: tiled TIFF not supported`);
  const offsets = tags.get(273);
  const counts = tags.get(279);
  if (!offsets || !counts || offsets.length !== counts.length) {
    throw badInput(`${name}: missing or inconsistent strip offsets/byte counts`);
  }
  const pixels = new Uint8Array(width * height);
  let filled = 0;
  for (let s = 0; s < offsets.length && filled < pixels.length; s++) {
    check(offsets[s], counts[s]);
    const take = Math.min(counts[s], pixels.length - filled);
    pixels.set(buf.subarray(offsets[s], offsets[s] + take), filled);
    filled += take;
  }
  if (filled < pixels.length) throw badInput(`${name}: strips hold fewer bytes than the image`);
  // WhiteIsZero stores inverted intensities; normalise so 255 is always bright.
  if (photometric === 0) for (let i = 0; i < pixels.length; i++) pixels[i] = 255 - pixels[i];
  return { width, height, pixels };
}

async function readVolume(files) {
  const slices = [];
  for (const file of files) {
    const name = path.basename(file);
    const slice = decodeTiff(await readFile(file), name);
    const first = slices[0];
    if (first && (slice.width !== first.width || slice.height !== first.height)) {
      throw badInput(
        `${name}: ${slice.width}x${slice.height} differs from the first slice's ` +
          `${first.width}x${first.height}`,
      );
    }
    slices.push(slice);
  }
  const { width, height } = slices[0];
  return { depth: slices.length, height, width, planes: slices.map((s) => s.pixels) };
}

// ---- Pyramid and Zarr writing ------------------------------------------------------------

/** 2×2 mean, rounded half up with integer arithmetic: floor((a + b + c + d + 2) / 4). */
function downsamplePlane(plane, height, width) {
  const h = Math.floor(height / 2);
  const w = Math.floor(width / 2);
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    const top = 2 * y * width;
    const bottom = top + width;
    for (let x = 0; x < w; x++) {
      const sum =
        plane[top + 2 * x] +
        plane[top + 2 * x + 1] +
        plane[bottom + 2 * x] +
        plane[bottom + 2 * x + 1];
      out[y * w + x] = (sum + 2) >> 2;
    }
  }
  return out;
}

function downsample(level) {
  return {
    depth: level.depth,
    height: Math.floor(level.height / 2),
    width: Math.floor(level.width / 2),
    planes: level.planes.map((p) => downsamplePlane(p, level.height, level.width)),
  };
}

const canHalve = (level) =>
  Math.min(Math.floor(level.height / 2), Math.floor(level.width / 2)) >= MIN_SIDE;

function zarray(level) {
  return {
    zarr_format: 2,
    shape: [level.depth, level.height, level.width],
    chunks: [1, level.height, level.width],
    dtype: '|u1',
    compressor: null,
    fill_value: 0,
    order: 'C',
    filters: null,
  };
}

function multiscalesAttrs(levelCount, name) {
  const datasets = [];
  for (let l = 0; l < levelCount; l++) {
    const f = 2 ** l;
    datasets.push({
      path: String(l),
      coordinateTransformations: [{ type: 'scale', scale: [1, f, f] }],
    });
  }
  return {
    multiscales: [
      {
        version: '0.4',
        name,
        axes: [
          { name: 'z', type: 'space' },
          { name: 'y', type: 'space' },
          { name: 'x', type: 'space' },
        ],
        datasets,
        type: 'mean',
        metadata: { method: '2x2 mean in y and x, rounded half up' },
      },
    ],
  };
}

const json = (value) => `${JSON.stringify(value, null, 2)}\n`;

async function writeLevel(root, index, level) {
  const dir = path.join(root, String(index));
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, '.zarray'), json(zarray(level)));
  for (let z = 0; z < level.depth; z++) {
    await writeFile(path.join(dir, `${z}.0.0`), level.planes[z]);
  }
}

/** Swaps the finished tree into place; an older output is moved aside first, then removed. */
async function promote(tmp, output) {
  const old = `${output}.old-${process.pid}`;
  let hadOld = true;
  try {
    await rename(output, old);
  } catch (err) {
    if (err?.code !== 'ENOENT') throw err;
    hadOld = false;
  }
  await rename(tmp, output);
  if (hadOld) await rm(old, { recursive: true, force: true });
}

async function buildPyramid(volume, tmp, output) {
  await mkdir(tmp, { recursive: true });
  await writeFile(path.join(tmp, '.zgroup'), json({ zarr_format: 2 }));
  let level = volume;
  let count = 0;
  for (;;) {
    await writeLevel(tmp, count, level);
    console.log(
      `level ${count}: ${level.depth}x${level.height}x${level.width} -> ` +
        `${path.join(path.basename(output), String(count))}`,
    );
    count++;
    if (count === 1 && process.env.FAIL_MULTIRES === '1') {
      throw new ScriptError('multires failed: FAIL_MULTIRES is set', 3);
    }
    if (count >= MAX_LEVELS || !canHalve(level)) break;
    level = downsample(level);
  }
  await writeFile(path.join(tmp, '.zattrs'), json(multiscalesAttrs(count, path.basename(output))));
}

async function main() {
  const { input, output } = parseArgs(process.argv.slice(2));
  const volume = await readVolume(await listTiffs(input));
  const tmp = `${output}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  try {
    await buildPyramid(volume, tmp, output);
    await promote(tmp, output);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

main().catch((err) => {
  const known = err instanceof ScriptError;
  const message = err instanceof Error ? err.message : String(err);
  const line = known ? message : `tiff_to_zarr failed: ${message}`;
  process.stderr.write(`${line.split('\n')[0]}\n`);
  process.exit(known ? err.exitCode : 1);
});
