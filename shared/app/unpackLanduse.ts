import { randomUUID } from 'node:crypto';
import { createWriteStream, type Stats } from 'node:fs';
import { lstat, mkdir, realpath, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { BatonError, isBatonError } from '../domain/errors.js';
import { entryMatchesModelYear, parseModelYear } from '../domain/landuse.js';
import { lakeTempPrefix, resolveInside, isInsidePath } from '../domain/paths.js';

/**
 * Extracts the land-use files of one model year from a zip archive (seed action
 * `unpack_landuse`). Archives come from outside, so the unpack treats them as hostile:
 *
 * 1. Scan: the central directory is read (no file data is inflated) and every entry is checked
 *    before anything is written: names (absolute, `..`, backslash, drive letter, NUL), entry
 *    types (symlinks and devices refused), and for the year's entries the declared sizes and
 *    compression ratio against the limits, duplicates and existing files. Any problem refuses
 *    the whole archive.
 * 2. Stream: each of the year's entries is inflated into a temp file (`.baton-tmp-…`) in the
 *    output folder while real bytes are counted against the same limits (headers can lie);
 *    yauzl also refuses an entry whose data is longer or shorter than its header says.
 * 3. Commit: only when every entry streamed cleanly are the temp files renamed into place.
 *
 * On any failure or abort, temp files are removed and files this call created are removed, so
 * the output folder is as before (a file replaced with `overwrite: true` stays replaced).
 */

export interface UnpackLimits {
  /** Sum of the uncompressed sizes of the extracted files. */
  maxTotalBytes: number;
  /** Uncompressed size of any one extracted file. */
  maxEntryBytes: number;
  /** Uncompressed / compressed size of one entry, once it is past `ratioGraceBytes`. */
  maxRatio: number;
  /** Entries in the archive (all of them, not only the year's). */
  maxEntries: number;
  /** Entries up to this uncompressed size are not ratio-checked (small files compress well). */
  ratioGraceBytes: number;
}

const GiB = 1024 ** 3;
export const defaultUnpackLimits: UnpackLimits = {
  maxTotalBytes: 20 * GiB,
  maxEntryBytes: 20 * GiB,
  maxRatio: 100,
  maxEntries: 100_000,
  ratioGraceBytes: 1024 * 1024,
};

export interface UnpackLanduseOptions {
  input: string;
  output: string;
  modelYear: number;
  limits?: Partial<UnpackLimits>;
  /** List what would be extracted (declared sizes) without creating or writing anything. */
  dryRun?: boolean;
  /** Replace files that already exist in the output folder (refused as a conflict otherwise). */
  overwrite?: boolean;
  signal?: AbortSignal;
}

export interface UnpackedFile {
  /** Path of the entry in the archive, which is also its path under the output folder. */
  path: string;
  /** Absolute path of the file written (or that would be written in a dry run). */
  target: string;
  /** Bytes written (declared uncompressed size in a dry run). */
  bytes: number;
}

export interface UnpackReport {
  modelYear: number;
  dryRun: boolean;
  /** Entries of the model year. */
  matched: number;
  /** Files written (0 in a dry run). */
  written: number;
  /** Entries not of the model year (including folders and `__MACOSX/`). */
  skipped: number;
  /** Bytes written (declared bytes in a dry run). */
  bytes: number;
  files: UnpackedFile[];
}

interface Planned {
  entry: Entry;
  name: string;
  target: string;
  existed: boolean;
  temp?: string;
  bytes: number;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

export async function unpackLanduse(options: UnpackLanduseOptions): Promise<UnpackReport> {
  const modelYear = parseModelYear(options.modelYear);
  const limits = resolveLimits(options.limits);
  const output = path.resolve(options.output);
  const dryRun = options.dryRun ?? false;
  const overwrite = options.overwrite ?? false;
  options.signal?.throwIfAborted();

  await assertInputFile(options.input);
  await assertOutputUsable(output);
  const zip = await openArchive(options.input);
  try {
    if (zip.entryCount > limits.maxEntries) {
      throw invalid(
        'input',
        `archive has ${zip.entryCount} entries, more than the limit of ${limits.maxEntries}`,
      );
    }
    const { planned, skipped } = await scan(zip, output, modelYear, limits, overwrite);
    const declared = planned.reduce((sum, p) => sum + p.entry.uncompressedSize, 0);
    if (declared > limits.maxTotalBytes) {
      throw invalid(
        'input',
        `the ${modelYear} files would expand to ${declared} bytes, more than the limit of ${limits.maxTotalBytes}`,
      );
    }
    const report: UnpackReport = {
      modelYear,
      dryRun,
      matched: planned.length,
      written: 0,
      skipped,
      bytes: dryRun ? declared : 0,
      files: planned.map((p) => ({
        path: p.name,
        target: p.target,
        bytes: p.entry.uncompressedSize,
      })),
    };
    if (dryRun || planned.length === 0) return report;

    await extract(zip, output, planned, limits, overwrite, options.signal);
    report.written = planned.length;
    report.bytes = planned.reduce((sum, p) => sum + p.bytes, 0);
    report.files = planned.map((p) => ({ path: p.name, target: p.target, bytes: p.bytes }));
    return report;
  } finally {
    zip.close();
  }
}

function resolveLimits(partial: Partial<UnpackLimits> | undefined): UnpackLimits {
  const limits: UnpackLimits = { ...defaultUnpackLimits };
  for (const key of Object.keys(defaultUnpackLimits) as (keyof UnpackLimits)[]) {
    const value = partial?.[key];
    if (value === undefined) continue;
    if (!Number.isFinite(value) || value <= 0) {
      throw invalid(`limits.${key}`, 'must be a positive number');
    }
    limits[key] = value;
  }
  return limits;
}

async function assertInputFile(input: string): Promise<void> {
  try {
    const info = await stat(input);
    if (!info.isFile()) throw invalid('input', `${input} is not a file`);
  } catch (error) {
    if (isBatonError(error)) throw error;
    if (errnoOf(error) === 'ENOENT') {
      throw new BatonError('not_found', `input archive ${input} not found`, { field: 'input' });
    }
    throw fsError(`cannot read input archive ${input}`, error);
  }
}

async function assertOutputUsable(output: string): Promise<void> {
  try {
    const info = await stat(output);
    if (!info.isDirectory()) throw invalid('output', `${output} exists and is not a folder`);
  } catch (error) {
    if (isBatonError(error)) throw error;
    if (errnoOf(error) !== 'ENOENT') throw fsError(`cannot use output folder ${output}`, error);
  }
}

async function openArchive(input: string): Promise<ZipFile> {
  try {
    return await yauzl.openPromise(input, {
      lazyEntries: true,
      autoClose: false,
      decodeStrings: true,
      strictFileNames: true,
      validateEntrySizes: true,
    });
  } catch (error) {
    throw invalid('input', `${input} is not a readable zip archive (${messageOf(error)})`, error);
  }
}

/** Reads the central directory and checks every entry; writes nothing. */
async function scan(
  zip: ZipFile,
  output: string,
  modelYear: number,
  limits: UnpackLimits,
  overwrite: boolean,
): Promise<{ planned: Planned[]; skipped: number }> {
  const planned: Planned[] = [];
  // Keyed by target path, case folded: the output may be on a case-insensitive disk.
  const paths = new ArchivePaths(output, true);
  let skipped = 0;
  let count = 0;
  try {
    for await (const entry of zip.eachEntry()) {
      count += 1;
      if (count > limits.maxEntries) {
        throw invalid('input', `archive has more than the limit of ${limits.maxEntries} entries`);
      }
      const name = entry.fileName;
      const target = checkEntryName(output, name);
      const kind = entryKind(entry);
      if (kind === 'directory') {
        skipped += 1;
        continue;
      }
      if (!entryMatchesModelYear(name, modelYear)) {
        skipped += 1;
        continue;
      }
      checkEntryData(entry, limits);
      const clash = paths.clash(target, false);
      if (clash !== undefined) throw entryError(name, clash);
      const existed = await checkTarget(output, target, name, overwrite);
      planned.push({ entry, name, target, existed, bytes: 0 });
    }
  } catch (error) {
    throw fromYauzl(error);
  }
  return { planned, skipped };
}

/**
 * The paths an archive's entries land on, so that two entries naming one path (`a.csv`,
 * `./a.csv`, `x//a.csv`, and `A.csv` when case is folded) or a file that is also a folder (`a`
 * and `a/b.csv`) are refused while scanning, before anything is written, instead of failing
 * half-way through the extraction.
 */
export class ArchivePaths {
  private readonly entries = new Set<string>();
  private readonly files = new Set<string>();
  private readonly folders = new Set<string>();
  private readonly root: string;

  constructor(
    root: string,
    private readonly foldCase: boolean,
  ) {
    this.root = this.key(path.resolve(root));
  }

  /** Why `target` (inside the root) clashes with an earlier entry; records it when it does not. */
  clash(target: string, isDirectory: boolean): string | undefined {
    const key = this.key(target);
    if (this.entries.has(key)) return 'appears more than once in the archive';
    if (!isDirectory && this.folders.has(key)) {
      return 'is a file, but other entries put files inside it';
    }
    const parents: string[] = [];
    for (let dir = path.dirname(key); dir.length > this.root.length; dir = path.dirname(dir)) {
      if (this.files.has(dir)) return 'lies inside a path that another entry makes a file';
      parents.push(dir);
    }
    this.entries.add(key);
    (isDirectory ? this.folders : this.files).add(key);
    for (const dir of parents) this.folders.add(dir);
    return undefined;
  }

  private key(target: string): string {
    return this.foldCase ? target.toLowerCase() : target;
  }
}

/** Refuses names that could land outside `output`; returns the target path. */
function checkEntryName(output: string, name: string): string {
  if (name.includes('\0')) throw entryError(name, 'name contains NUL');
  if (name.includes('\\')) throw entryError(name, 'name contains a backslash');
  if (/^[a-zA-Z]:/.test(name)) throw entryError(name, 'name starts with a drive letter');
  if (name.startsWith('/')) throw entryError(name, 'name is an absolute path');
  if (name.split('/').includes('..')) throw entryError(name, 'name escapes the output folder (..)');
  let target: string;
  try {
    target = resolveInside(output, name, 'entry');
  } catch (error) {
    throw entryError(name, `name is not a safe relative path (${messageOf(error)})`, error);
  }
  if (target === output) throw entryError(name, 'name resolves to the output folder itself');
  const segments = name.split('/');
  if (segments.some((s) => s.startsWith(lakeTempPrefix))) {
    throw entryError(name, `name uses the reserved prefix ${lakeTempPrefix}`);
  }
  return target;
}

function entryKind(entry: Entry): 'file' | 'directory' {
  const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
  if (type === S_IFLNK) throw entryError(entry.fileName, 'is a symbolic link');
  if (type !== 0 && type !== S_IFREG && type !== S_IFDIR) {
    throw entryError(entry.fileName, `is a special file (mode 0o${type.toString(8)})`);
  }
  if (entry.fileName.endsWith('/') || type === S_IFDIR) return 'directory';
  return 'file';
}

/** Checks what the headers declare; `limitStream` enforces the same limits on real bytes. */
function checkEntryData(entry: Entry, limits: UnpackLimits): void {
  const name = entry.fileName;
  if (entry.isEncrypted()) throw entryError(name, 'is encrypted');
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    throw entryError(name, `uses unsupported compression method ${entry.compressionMethod}`);
  }
  const size = entry.uncompressedSize;
  if (size > limits.maxEntryBytes) {
    throw entryError(
      name,
      `declares ${size} bytes, more than the limit of ${limits.maxEntryBytes}`,
    );
  }
  if (size > limits.ratioGraceBytes && size > limits.maxRatio * entry.compressedSize) {
    throw entryError(
      name,
      `declares a compression ratio above the limit of ${limits.maxRatio} (${size} bytes from ${entry.compressedSize}); refusing a possible zip bomb`,
    );
  }
}

/** Returns whether the target exists; refuses it unless `overwrite` and it is a plain file. */
async function checkTarget(
  output: string,
  target: string,
  name: string,
  overwrite: boolean,
): Promise<boolean> {
  const info = await lstatOrUndefined(target);
  if (!info) {
    await assertNoSymlinkedParents(output, target, name);
    return false;
  }
  if (!info.isFile()) {
    throw new BatonError(
      'conflict',
      `archive entry "${name}": ${target} exists and is not a file`,
      {
        field: 'output',
      },
    );
  }
  if (!overwrite) {
    throw new BatonError(
      'conflict',
      `archive entry "${name}": ${target} already exists (use overwrite to replace it)`,
      { field: 'output' },
    );
  }
  await assertNoSymlinkedParents(output, target, name);
  return true;
}

/** A folder under `output` that is a symlink could lead outside it; refuse to write through it. */
async function assertNoSymlinkedParents(
  output: string,
  target: string,
  name: string,
): Promise<void> {
  let current = path.dirname(target);
  while (current.length > output.length && current.startsWith(output)) {
    const info = await lstatOrUndefined(current);
    if (info?.isSymbolicLink()) {
      throw entryError(name, `would be written through the symbolic link ${current}`);
    }
    if (info && !info.isDirectory())
      throw entryError(name, `${current} exists and is not a folder`);
    current = path.dirname(current);
  }
}

async function extract(
  zip: ZipFile,
  output: string,
  planned: Planned[],
  limits: UnpackLimits,
  overwrite: boolean,
  signal: AbortSignal | undefined,
): Promise<void> {
  const created: string[] = [];
  const total = { bytes: 0 };
  try {
    await mkdir(output, { recursive: true });
    for (const item of planned) {
      signal?.throwIfAborted();
      item.temp = path.join(output, `${lakeTempPrefix}unpack-${randomUUID()}`);
      item.bytes = await streamEntry(zip, item, item.temp, limits, total, signal);
    }
    const realOutput = await realpath(output);
    for (const item of planned) {
      signal?.throwIfAborted();
      await commit(item, output, realOutput, overwrite);
      if (!item.existed) created.push(item.target);
    }
  } catch (error) {
    await Promise.all(planned.map((p) => (p.temp ? removeQuietly(p.temp) : Promise.resolve())));
    await Promise.all(created.map(removeQuietly));
    throw error;
  }
}

async function streamEntry(
  zip: ZipFile,
  item: Planned,
  temp: string,
  limits: UnpackLimits,
  total: { bytes: number },
  signal: AbortSignal | undefined,
): Promise<number> {
  const counter = limitStream(item.entry, limits, total);
  try {
    const source = await zip.openReadStreamPromise(item.entry);
    const sink = createWriteStream(temp, { flags: 'wx' });
    await pipeline(source, counter, sink, signal ? { signal } : {});
  } catch (error) {
    await removeQuietly(temp);
    if (isBatonError(error) || signal?.aborted) throw error;
    if (isSystemError(error)) throw fsError(`cannot write ${temp}`, error);
    throw entryError(item.name, `is corrupt or inconsistent (${messageOf(error)})`, error);
  }
  return counter.bytes;
}

/** Counts real inflated bytes and fails as soon as one limit is passed. */
function limitStream(
  entry: Entry,
  limits: UnpackLimits,
  total: { bytes: number },
): Transform & { bytes: number } {
  const name = entry.fileName;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      counter.bytes += chunk.length;
      total.bytes += chunk.length;
      if (counter.bytes > entry.uncompressedSize) {
        callback(
          entryError(
            name,
            `holds more than the ${entry.uncompressedSize} bytes its header declares`,
          ),
        );
      } else if (counter.bytes > limits.maxEntryBytes) {
        callback(entryError(name, `expands past the limit of ${limits.maxEntryBytes} bytes`));
      } else if (total.bytes > limits.maxTotalBytes) {
        callback(
          entryError(
            name,
            `takes the extracted total past the limit of ${limits.maxTotalBytes} bytes`,
          ),
        );
      } else if (
        counter.bytes > limits.ratioGraceBytes &&
        counter.bytes > limits.maxRatio * entry.compressedSize
      ) {
        callback(
          entryError(name, `expands past the compression ratio limit of ${limits.maxRatio}`),
        );
      } else {
        callback(null, chunk);
      }
    },
  });
  const counter = Object.assign(stream, { bytes: 0 });
  return counter;
}

async function commit(
  item: Planned,
  output: string,
  realOutput: string,
  overwrite: boolean,
): Promise<void> {
  const temp = item.temp;
  if (temp === undefined) throw new BatonError('internal', `no temp file for ${item.name}`);
  await mkdir(path.dirname(item.target), { recursive: true });
  const realParent = await realpath(path.dirname(item.target));
  if (!isInsidePath(realOutput, realParent)) {
    throw entryError(item.name, 'would be written outside the output folder (symbolic link)');
  }
  // Re-check: something may have appeared since the scan.
  await checkTarget(output, item.target, item.name, overwrite);
  await rename(temp, item.target);
  item.temp = undefined;
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return undefined;
    throw fsError(`cannot inspect ${p}`, error);
  }
}

async function removeQuietly(p: string): Promise<void> {
  try {
    await unlink(p);
  } catch {
    // already gone
  }
}

/** yauzl refuses bad names itself (absolute, `..`, backslash) with a plain Error; name them. */
function fromYauzl(error: unknown): unknown {
  if (isBatonError(error)) return error;
  const message = messageOf(error);
  const match =
    /^(invalid characters in fileName|absolute path|invalid relative path): (.*)$/s.exec(message);
  if (match) {
    const why =
      match[1] === 'absolute path'
        ? 'name is an absolute path'
        : match[1] === 'invalid relative path'
          ? 'name escapes the output folder (..)'
          : 'name contains a backslash';
    return entryError(match[2] ?? '', why, error);
  }
  return invalid('input', `archive is corrupt (${message})`, error);
}

function entryError(name: string, why: string, cause?: unknown): BatonError {
  return invalid('input', `archive entry "${name}" refused: ${why}`, cause);
}

function invalid(field: string, message: string, cause?: unknown): BatonError {
  return new BatonError(
    'validation',
    message.startsWith(field) ? message : `${field}: ${message}`,
    {
      field,
      cause,
    },
  );
}

function fsError(message: string, error: unknown): BatonError {
  const code = errnoOf(error);
  const errorCode = code === 'EACCES' || code === 'EPERM' ? 'forbidden' : 'internal';
  return new BatonError(errorCode, `${message}: ${messageOf(error)}`, { cause: error });
}

/** Errors from the file system carry a `syscall`; zlib and yauzl errors do not. */
function isSystemError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'syscall' in error;
}

function errnoOf(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = error.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
