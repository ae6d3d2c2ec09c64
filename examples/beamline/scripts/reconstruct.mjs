#!/usr/bin/env node
// Tiny but real tomographic reconstruction for the beamline example's "HPC" step.
//
//   node reconstruct.mjs <input-file> <output-folder>
//
// The input's bytes are read as a sinogram (one uint8 detector reading per byte, A angles over
// 180° by W detector bins), ramp-filtered and back-projected into W×W slices. Each slice uses a
// shifted window of the bytes, so any non-empty file works (short files repeat) and the output
// depends on every slice's window. Slices are written as 8-bit grayscale baseline TIFFs plus
// reconstruction.json. Env: BATON_OPT_SLICES (1..64, default 4); FAIL_RECONSTRUCTION=1 fails
// on purpose (exit 3) so tests can check that a flow stops on a failed step.
// Exit codes: 0 ok, 1 unexpected I/O error, 2 bad arguments or input, 3 failure on purpose.
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

const DEFAULT_SLICES = 4;
const MAX_SLICES = 64;

/** An error whose message is the whole story: printed as one line, no stack. */
class ScriptError extends Error {
  constructor(message, exitCode) {
    super(message);
    this.exitCode = exitCode;
  }
}

function parseArgs(argv) {
  if (argv.length !== 2) {
    throw new ScriptError('usage: reconstruct.mjs <input-file> <output-folder>', 2);
  }
  return { input: argv[0], output: argv[1] };
}

function sliceCountFromEnv(env) {
  const raw = env.BATON_OPT_SLICES;
  if (raw === undefined || raw === '') return DEFAULT_SLICES;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_SLICES) {
    throw new ScriptError(`BATON_OPT_SLICES must be an integer 1..${MAX_SLICES}, got "${raw}"`, 2);
  }
  return n;
}

async function readInput(file) {
  let info;
  try {
    info = await stat(file);
  } catch {
    throw new ScriptError(`input not found: ${file}`, 2);
  }
  if (!info.isFile()) throw new ScriptError(`input is not a file: ${file}`, 2);
  const bytes = await readFile(file);
  if (bytes.length === 0) throw new ScriptError(`input is empty: ${file}`, 2);
  return bytes;
}

/**
 * Geometry grows with the file so a bigger acquisition gives a finer slice, within bounds that
 * keep the step fast: W in 32..64 (multiple of 8), 32 angles once there are enough bytes.
 */
function geometryFor(byteCount) {
  const width = Math.min(64, Math.max(32, 8 * Math.ceil(Math.sqrt(byteCount) / 8)));
  const angles = byteCount >= 4096 ? 32 : 16;
  return { width, angles };
}

/** Slice s reads A×W bytes starting at s·stride, wrapping around so short files still fill it. */
function sinogramFor(bytes, slice, sliceCount, { width, angles }) {
  const stride = Math.max(1, Math.floor(bytes.length / sliceCount));
  const start = slice * stride;
  const sino = new Float64Array(angles * width);
  for (let i = 0; i < sino.length; i++) sino[i] = bytes[(start + i) % bytes.length];
  return sino;
}

/**
 * Spatial-domain Ram-Lak kernel (h[0]=1/4, h[odd k]=-1/(π²k²), h[even]=0). Convolving in
 * space avoids an FFT and is cheap at W ≤ 64; without it the back projection is a blur.
 */
function rampKernel(width) {
  const kernel = new Float64Array(2 * width - 1);
  for (let k = -(width - 1); k <= width - 1; k++) {
    let h = 0;
    if (k === 0) h = 0.25;
    else if (k % 2 !== 0) h = -1 / (Math.PI * Math.PI * k * k);
    kernel[k + width - 1] = h;
  }
  return kernel;
}

function filterRows(sino, { width, angles }) {
  const kernel = rampKernel(width);
  const out = new Float64Array(sino.length);
  for (let a = 0; a < angles; a++) {
    const row = a * width;
    for (let d = 0; d < width; d++) {
      let sum = 0;
      for (let j = 0; j < width; j++) sum += sino[row + j] * kernel[d - j + width - 1];
      out[row + d] = sum;
    }
  }
  return out;
}

/** Smears every filtered projection back across the N×N grid, interpolating between bins. */
function backProject(filtered, { width, angles }) {
  const n = width;
  const centre = (n - 1) / 2;
  const image = new Float64Array(n * n);
  for (let a = 0; a < angles; a++) {
    const theta = (Math.PI * a) / angles;
    const cos = Math.cos(theta);
    const sin = Math.sin(theta);
    const row = a * width;
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const t = (x - centre) * cos + (y - centre) * sin + centre;
        const lo = Math.floor(t);
        if (lo < 0 || lo + 1 >= width) continue;
        const frac = t - lo;
        image[y * n + x] += (1 - frac) * filtered[row + lo] + frac * filtered[row + lo + 1];
      }
    }
  }
  const scale = Math.PI / angles;
  for (let i = 0; i < image.length; i++) image[i] *= scale;
  return image;
}

/** Stretches the slice to 0..255; a flat slice becomes all zeros rather than dividing by 0. */
function toUint8(image) {
  let min = Infinity;
  let max = -Infinity;
  for (const v of image) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const out = new Uint8Array(image.length);
  const span = max - min;
  if (span <= 0) return out;
  for (let i = 0; i < image.length; i++) out[i] = Math.round((255 * (image[i] - min)) / span);
  return out;
}

/**
 * Minimal baseline TIFF: little-endian header, one IFD with tags in ascending order, the two
 * resolution rationals, then the pixels as a single uncompressed strip.
 */
function encodeTiff(pixels, width, height) {
  const SHORT = 3;
  const LONG = 4;
  const RATIONAL = 5;
  const entryCount = 12;
  const ifdOffset = 8;
  const ifdSize = 2 + entryCount * 12 + 4;
  const xResOffset = ifdOffset + ifdSize;
  const yResOffset = xResOffset + 8;
  const pixelOffset = yResOffset + 8;
  const entries = [
    [256, LONG, 1, width], // ImageWidth
    [257, LONG, 1, height], // ImageLength
    [258, SHORT, 1, 8], // BitsPerSample
    [259, SHORT, 1, 1], // Compression: none
    [262, SHORT, 1, 1], // PhotometricInterpretation: BlackIsZero
    [273, LONG, 1, pixelOffset], // StripOffsets
    [277, SHORT, 1, 1], // SamplesPerPixel
    [278, LONG, 1, height], // RowsPerStrip
    [279, LONG, 1, pixels.length], // StripByteCounts
    [282, RATIONAL, 1, xResOffset], // XResolution
    [283, RATIONAL, 1, yResOffset], // YResolution
    [296, SHORT, 1, 1], // ResolutionUnit: none
  ];
  const buf = Buffer.alloc(pixelOffset + pixels.length);
  buf.write('II', 0, 'latin1');
  buf.writeUInt16LE(42, 2);
  buf.writeUInt32LE(ifdOffset, 4);
  buf.writeUInt16LE(entryCount, ifdOffset);
  entries.forEach(([tag, type, count, value], i) => {
    const at = ifdOffset + 2 + i * 12;
    buf.writeUInt16LE(tag, at);
    buf.writeUInt16LE(type, at + 2);
    buf.writeUInt32LE(count, at + 4);
    // SHORT values sit left-justified in the 4-byte value field.
    if (type === SHORT) buf.writeUInt16LE(value, at + 8);
    else buf.writeUInt32LE(value, at + 8);
  });
  buf.writeUInt32LE(0, ifdOffset + 2 + entryCount * 12); // no next IFD
  for (const at of [xResOffset, yResOffset]) {
    buf.writeUInt32LE(1, at);
    buf.writeUInt32LE(1, at + 4);
  }
  buf.set(pixels, pixelOffset);
  return buf;
}

/** Readers never see a half-written file: write beside it, then rename over it. */
async function writeAtomically(file, data) {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

const sliceName = (i) => `slice_${String(i).padStart(4, '0')}.tif`;

/** A rerun with fewer slices must not leave older slices for the next step to stack. */
async function removeStaleSlices(folder, keep) {
  for (const name of await readdir(folder)) {
    if (/^slice_\d{4}\.tif$/.test(name) && !keep.has(name)) await rm(path.join(folder, name));
  }
}

async function main() {
  const { input, output } = parseArgs(process.argv.slice(2));
  const sliceCount = sliceCountFromEnv(process.env);
  const bytes = await readInput(input);
  if (process.env.FAIL_RECONSTRUCTION === '1') {
    throw new ScriptError('reconstruction failed: FAIL_RECONSTRUCTION is set', 3);
  }
  const geometry = geometryFor(bytes.length);
  const { width, angles } = geometry;
  await mkdir(output, { recursive: true });
  const files = [];
  for (let s = 0; s < sliceCount; s++) {
    const sino = sinogramFor(bytes, s, sliceCount, geometry);
    const pixels = toUint8(backProject(filterRows(sino, geometry), geometry));
    const name = sliceName(s);
    await writeAtomically(path.join(output, name), encodeTiff(pixels, width, width));
    files.push(name);
    console.log(`slice ${s + 1}/${sliceCount}: ${name} (${width}x${width}, ${angles} angles)`);
  }
  await removeStaleSlices(output, new Set(files));
  const summary = {
    input: path.resolve(input),
    inputBytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    slices: sliceCount,
    files,
    width,
    height: width,
    angles,
    detectorWidth: width,
    filter: 'ram-lak',
  };
  await writeAtomically(
    path.join(output, 'reconstruction.json'),
    `${JSON.stringify(summary, null, 2)}\n`,
  );
}

main().catch((err) => {
  const known = err instanceof ScriptError;
  const message = err instanceof Error ? err.message : String(err);
  const line = known ? message : `reconstruction failed: ${message}`;
  process.stderr.write(`${line.split('\n')[0]}\n`);
  process.exit(known ? err.exitCode : 1);
});
