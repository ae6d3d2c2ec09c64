import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import yazl from 'yazl';
import { BatonError, isBatonError } from '../domain/errors.js';
import { lakeTempPrefix, resolveInside } from '../domain/paths.js';
import { ArchivePaths, defaultUnpackLimits, type UnpackLimits } from './unpackLanduse.js';

/**
 * Sub-component folders travel to the lake as one zip each (`<step>.zip`). Writing is
 * deterministic, so an unchanged folder gives a byte-identical zip with the same MD5 and sync
 * skips it; reading treats the zip as hostile, because anyone with access to the lake may have
 * replaced it.
 */

export interface ZipSourceEntry {
  /** Path relative to the zipped folder, POSIX separators. */
  path: string;
  isDirectory: boolean;
  /** File mode bits (only the executable bits are kept). */
  mode: number;
}

export interface BuiltZip {
  size: number;
  md5: string;
  entries: number;
}

/**
 * A fixed modification time, built from local-time fields because zip's DOS timestamps are in
 * local time: every machine writes 2000-01-01 00:00 whatever its time zone. The extended UTC
 * timestamp field is left out (`forceDosTimestamp`), as it would differ across time zones.
 */
const fixedTime = (): Date => new Date(2000, 0, 1, 0, 0, 0);

/**
 * Zips `entries` of `folder` into `target`: entries sorted by path, a fixed time, modes reduced
 * to 644/755 (folders 755). Folders are included so that empty ones survive the round trip.
 */
export async function writeDeterministicZip(
  folder: string,
  entries: readonly ZipSourceEntry[],
  target: string,
): Promise<BuiltZip> {
  const zip = new yazl.ZipFile();
  const sorted = [...entries].sort((a, b) => {
    const x = zipName(a);
    const y = zipName(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  const failed = new Promise<never>((_resolve, reject) => {
    zip.on('error', (error: unknown) => {
      (zip.outputStream as unknown as NodeJS.ReadableStream & Destroyable).destroy(asError(error));
      reject(asError(error));
    });
  });
  const mtime = fixedTime();
  for (const entry of sorted) {
    if (entry.isDirectory) {
      zip.addEmptyDirectory(entry.path, { mtime, mode: 0o40755, forceDosTimestamp: true });
    } else {
      const executable = (entry.mode & 0o111) !== 0;
      zip.addFile(path.join(folder, ...entry.path.split('/')), entry.path, {
        mtime,
        mode: executable ? 0o100755 : 0o100644,
        forceDosTimestamp: true,
        compress: true,
      });
    }
  }
  zip.end();
  const hash = createHash('md5');
  let size = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  const written = pipeline(zip.outputStream, hashing, createWriteStream(target, { flags: 'wx' }));
  // A file that changed size while zipped fails the zip itself, not its output stream.
  await Promise.race([written, failed]);
  return { size, md5: hash.digest('hex'), entries: sorted.length };
}

interface Destroyable {
  destroy(error?: Error): void;
}

function zipName(entry: ZipSourceEntry): string {
  return entry.isDirectory ? `${entry.path}/` : entry.path;
}

/**
 * Component zips may hold whole model folders, so the limits are wider than land-use's: the
 * ratio check stays only as a guard against crafted headers (deflate cannot exceed ~1032:1),
 * while the byte limits are what stop a bomb.
 */
export const componentZipLimits: UnpackLimits = {
  ...defaultUnpackLimits,
  maxEntries: 1_000_000,
  maxTotalBytes: 256 * 1024 ** 3,
  maxEntryBytes: 256 * 1024 ** 3,
  maxRatio: 1100,
};

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

export interface ExtractedZip {
  files: number;
  bytes: number;
}

/**
 * Unpacks `zipFile` into `destination`, which must not exist yet (the caller renames it into
 * place, so a component appears whole or not at all). Every entry is checked before anything is
 * written: names that could leave the folder (absolute, `..`, backslash, drive letter, NUL),
 * symlinks and special files, encryption, unknown compression, duplicates and the limits; the
 * limits are enforced again on the real bytes while inflating. On any failure `destination` is
 * removed. `label` names the zip in errors (e.g. `activitysim.zip`).
 */
export async function extractZip(
  zipFile: string,
  destination: string,
  label: string,
  limits: UnpackLimits = componentZipLimits,
): Promise<ExtractedZip> {
  let zip: ZipFile;
  try {
    zip = await yauzl.openPromise(zipFile, {
      lazyEntries: true,
      autoClose: false,
      decodeStrings: true,
      strictFileNames: true,
      validateEntrySizes: true,
    });
  } catch (error) {
    throw refused(label, `not a readable zip archive (${messageOf(error)})`, error);
  }
  try {
    if (zip.entryCount > limits.maxEntries) {
      throw refused(
        label,
        `${zip.entryCount} entries, more than the limit of ${limits.maxEntries}`,
      );
    }
    const planned = await scanEntries(zip, destination, label, limits);
    await mkdir(destination, { recursive: false });
    try {
      const total = { bytes: 0 };
      let files = 0;
      for (const item of planned) {
        if (item.isDirectory) {
          await mkdir(item.target, { recursive: true });
          continue;
        }
        await mkdir(path.dirname(item.target), { recursive: true });
        await inflateEntry(zip, item, label, limits, total);
        files += 1;
      }
      return { files, bytes: total.bytes };
    } catch (error) {
      await rm(destination, { recursive: true, force: true });
      throw error;
    }
  } finally {
    zip.close();
  }
}

interface PlannedEntry {
  entry: Entry;
  name: string;
  target: string;
  isDirectory: boolean;
  executable: boolean;
}

async function scanEntries(
  zip: ZipFile,
  destination: string,
  label: string,
  limits: UnpackLimits,
): Promise<PlannedEntry[]> {
  const planned: PlannedEntry[] = [];
  const paths = new ArchivePaths(destination, false);
  let declared = 0;
  try {
    for await (const entry of zip.eachEntry()) {
      const name = entry.fileName;
      const target = checkEntryName(destination, name, label);
      const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
      if (type === S_IFLNK) throw entryRefused(label, name, 'is a symbolic link');
      if (type !== 0 && type !== S_IFREG && type !== S_IFDIR) {
        throw entryRefused(label, name, `is a special file (mode 0o${type.toString(8)})`);
      }
      const isDirectory = name.endsWith('/') || type === S_IFDIR;
      const clash = paths.clash(target, isDirectory);
      if (clash !== undefined) throw entryRefused(label, name, clash);
      if (!isDirectory) {
        checkDeclaredData(entry, label, limits);
        declared += entry.uncompressedSize;
        if (declared > limits.maxTotalBytes) {
          throw refused(label, `would expand past the limit of ${limits.maxTotalBytes} bytes`);
        }
      }
      const executable = ((entry.externalFileAttributes >>> 16) & 0o111) !== 0;
      planned.push({ entry, name, target, isDirectory, executable });
    }
  } catch (error) {
    throw fromYauzl(error, label);
  }
  return planned;
}

/** Refuses names that could land outside `destination`; returns the target path. */
function checkEntryName(destination: string, name: string, label: string): string {
  if (name.includes('\0')) throw entryRefused(label, name, 'name contains NUL');
  if (name.includes('\\')) throw entryRefused(label, name, 'name contains a backslash');
  if (/^[a-zA-Z]:/.test(name)) throw entryRefused(label, name, 'name starts with a drive letter');
  if (name.startsWith('/')) throw entryRefused(label, name, 'name is an absolute path');
  if (name.split('/').includes('..'))
    throw entryRefused(label, name, 'name escapes the folder (..)');
  if (name.split('/').some((s) => s.startsWith(lakeTempPrefix))) {
    throw entryRefused(label, name, `name uses the reserved prefix ${lakeTempPrefix}`);
  }
  let target: string;
  try {
    target = resolveInside(destination, name, 'entry');
  } catch (error) {
    throw entryRefused(label, name, `not a safe relative path (${messageOf(error)})`, error);
  }
  if (target === path.resolve(destination)) {
    throw entryRefused(label, name, 'name resolves to the folder itself');
  }
  return target;
}

function checkDeclaredData(entry: Entry, label: string, limits: UnpackLimits): void {
  const name = entry.fileName;
  if (entry.isEncrypted()) throw entryRefused(label, name, 'is encrypted');
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    throw entryRefused(label, name, `uses unsupported compression ${entry.compressionMethod}`);
  }
  const size = entry.uncompressedSize;
  if (size > limits.maxEntryBytes) {
    throw entryRefused(label, name, `declares ${size} bytes, more than ${limits.maxEntryBytes}`);
  }
  if (size > limits.ratioGraceBytes && size > limits.maxRatio * entry.compressedSize) {
    throw entryRefused(label, name, `declares a compression ratio above ${limits.maxRatio}`);
  }
}

async function inflateEntry(
  zip: ZipFile,
  item: PlannedEntry,
  label: string,
  limits: UnpackLimits,
  total: { bytes: number },
): Promise<void> {
  const counter = countingLimit(item.entry, label, limits, total);
  try {
    const source = await zip.openReadStreamPromise(item.entry);
    await pipeline(source, counter, createWriteStream(item.target, { flags: 'wx' }));
  } catch (error) {
    if (isBatonError(error)) throw error;
    if (isSystemError(error)) {
      throw new BatonError('internal', `cannot write ${item.target}: ${messageOf(error)}`, {
        cause: error,
      });
    }
    throw entryRefused(label, item.name, `is corrupt (${messageOf(error)})`, error);
  }
  if (item.executable) await chmod(item.target, 0o755);
}

/** Counts real inflated bytes (headers can lie) and fails as soon as a limit is passed. */
function countingLimit(
  entry: Entry,
  label: string,
  limits: UnpackLimits,
  total: { bytes: number },
): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      bytes += chunk.length;
      total.bytes += chunk.length;
      const why =
        bytes > entry.uncompressedSize
          ? `holds more than the ${entry.uncompressedSize} bytes it declares`
          : bytes > limits.maxEntryBytes
            ? `expands past ${limits.maxEntryBytes} bytes`
            : total.bytes > limits.maxTotalBytes
              ? `takes the total past ${limits.maxTotalBytes} bytes`
              : bytes > limits.ratioGraceBytes && bytes > limits.maxRatio * entry.compressedSize
                ? `expands past the compression ratio limit of ${limits.maxRatio}`
                : undefined;
      if (why === undefined) callback(null, chunk);
      else callback(entryRefused(label, entry.fileName, why));
    },
  });
}

/** yauzl refuses some names itself with a plain Error: make it the same refusal. */
function fromYauzl(error: unknown, label: string): unknown {
  if (isBatonError(error)) return error;
  return refused(label, `corrupt or hostile archive (${messageOf(error)})`, error);
}

function entryRefused(label: string, name: string, why: string, cause?: unknown): BatonError {
  return refused(label, `entry "${name}" refused: ${why}`, cause);
}

/** A bad zip in the lake is bad input (a 4xx / exit 2): someone put it there. */
function refused(label: string, why: string, cause?: unknown): BatonError {
  return new BatonError('validation', `databank: ${label}: ${why}`, {
    field: 'databank',
    cause,
  });
}

function isSystemError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'syscall' in error;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
