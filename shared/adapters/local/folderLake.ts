import { createHash } from 'node:crypto';
import {
  copyFile,
  link,
  lstat,
  mkdir,
  open,
  readFile,
  readdir,
  realpath,
  rename,
  rm,
  stat,
  unlink,
} from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { constants, existsSync, type Stats } from 'node:fs';
import path from 'node:path';
import { BatonError, conflict, notFound } from '../../domain/errors.js';
import {
  normalizeLakePath,
  resolveInside,
  lakeTempPrefix,
  isInsidePath,
} from '../../domain/paths.js';
import type { Lake, LakeEntry, LakeWriteOptions } from '../../ports/lake.js';
import {
  claimTempPath,
  crashDue,
  crashNow,
  errnoOf,
  PendingFlush,
  removeLeftoverTempPaths,
  removeLeftoverTempsIn,
  releaseTempPath,
} from './fsPrimitives.js';

/** Prefix of in-flight files; reserved, so no lake path can name one and listings skip them. */
const TEMP_PREFIX = lakeTempPrefix;

export interface FolderLakeOptions {
  root: string;
}

/**
 * The local Lake: a plain folder. Files appear only complete (written to a synced temp file in
 * the destination folder, then renamed, or hard-linked for createOnly so an existing file is
 * never replaced). MD5 is computed by reading the file on stat, so it is always right even when
 * someone edits the folder by hand.
 */
export class FolderLake implements Lake {
  private readonly root: string;
  private readonly pending = new PendingFlush();

  constructor(options: FolderLakeOptions) {
    this.root = path.resolve(options.root);
  }

  /**
   * Removes, across the whole lake, the temps of writes whose writer is gone. A folder's first
   * write in a process sweeps that folder, but a folder never written again keeps them: a host
   * killed between a create-only publish (link) and removing its temp leaves a file the retry
   * finds already there, so nothing writes beside it again. The local host runs this once in the
   * background when it starts. Returns the count.
   */
  async removeLeftoverTemps(): Promise<number> {
    let entries;
    try {
      entries = await readdir(this.root, { recursive: true, withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return 0;
      throw err;
    }
    return removeLeftoverTempPaths(
      entries.map((entry) => path.join(entry.parentPath, entry.name)),
      TEMP_PREFIX,
    );
  }

  async write(
    lakePath: string,
    data: Uint8Array | string,
    options: LakeWriteOptions = {},
  ): Promise<LakeEntry> {
    const target = this.locateFile(lakePath);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    await this.prepareParent(target);
    return this.commit(target, options, async (handle) => {
      await handle.writeFile(bytes);
      return { size: bytes.byteLength, md5: createHash('md5').update(bytes).digest('hex') };
    });
  }

  async uploadFile(
    localPath: string,
    lakePath: string,
    options: LakeWriteOptions = {},
  ): Promise<LakeEntry> {
    const target = this.locateFile(lakePath);
    if (options.md5 !== undefined) {
      return this.uploadKnownFile(localPath, target, { ...options, md5: options.md5 });
    }
    const source = await openLocal(localPath);
    try {
      await this.prepareParent(target);
      return await this.commit(target, options, (handle) => copyHashing(source, handle));
    } finally {
      await source.close();
    }
  }

  /**
   * The content's MD5 is known: the kernel copies the file (copy_file_range, or a reflink where
   * the file system has them) instead of a read/hash/write loop; still synced and published
   * atomically like every write.
   */
  private async uploadKnownFile(
    localPath: string,
    target: Target,
    options: LakeWriteOptions & { md5: string },
  ): Promise<LakeEntry> {
    if (!/^[0-9a-f]{32}$/.test(options.md5)) {
      throw new BatonError('validation', 'md5: 32 lower-case hex digits', { field: 'md5' });
    }
    await this.prepareParent(target);
    const temp = claimTemp(target.abs);
    try {
      try {
        await copyFile(localPath, temp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
      } catch (err) {
        if (isMissing(err) && existsSync(path.dirname(temp))) {
          throw notFound(`local file ${localPath}`);
        }
        throw err;
      }
      const handle = await open(temp, 'r+');
      let info: Stats;
      try {
        if (crashDue('lake-upload')) await crashMidFile(handle);
        if (options.deferDurability !== true) await handle.sync();
        info = await handle.stat();
      } finally {
        await handle.close();
      }
      await this.publish(temp, target, options);
      if (options.deferDurability === true) this.pending.add(target.abs);
      return fileEntry(target.rel, info, options.md5);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    } finally {
      releaseTempPath(temp);
    }
  }

  async flush(): Promise<void> {
    await this.pending.flush();
  }

  async read(lakePath: string): Promise<Buffer> {
    const target = this.locateFile(lakePath);
    await this.assertConfined(target.abs);
    try {
      return await readFile(target.abs);
    } catch (err) {
      throw translateReadError(err, target.rel);
    }
  }

  async downloadFile(
    lakePath: string,
    localPath: string,
    options: { deferDurability?: boolean } = {},
  ): Promise<LakeEntry> {
    const target = this.locateFile(lakePath);
    await this.assertConfined(target.abs);
    let source: FileHandle;
    try {
      source = await open(target.abs, 'r');
    } catch (err) {
      throw translateReadError(err, target.rel);
    }
    try {
      const info = await source.stat();
      if (info.isDirectory()) throw isFolder(target.rel);
      const destination = path.resolve(localPath);
      await mkdir(path.dirname(destination), { recursive: true });
      const temp = claimTempPath(path.dirname(destination), TEMP_PREFIX);
      try {
        const out = await open(temp, 'wx');
        let copied;
        try {
          copied = await copyHashing(source, out);
          if (options.deferDurability !== true) await out.sync();
        } finally {
          await out.close();
        }
        await rename(temp, destination);
        if (options.deferDurability === true) this.pending.add(destination);
        return fileEntry(target.rel, info, copied.md5);
      } catch (err) {
        await rm(temp, { force: true });
        throw err;
      } finally {
        releaseTempPath(temp);
      }
    } finally {
      await source.close();
    }
  }

  async stat(lakePath: string): Promise<LakeEntry | undefined> {
    const target = this.locate(lakePath);
    await this.assertConfined(target.abs);
    let handle: FileHandle;
    try {
      handle = await open(target.abs, 'r');
    } catch (err) {
      if (isMissing(err)) return undefined;
      // Windows refuses to open folders; everywhere else a folder opens and is told by its stats.
      if (errnoOf(err) === 'EISDIR') return directoryEntry(target.rel, await stat(target.abs));
      throw err;
    }
    try {
      const info = await handle.stat();
      if (info.isDirectory()) return directoryEntry(target.rel, info);
      return fileEntry(target.rel, info, (await copyHashing(handle)).md5);
    } finally {
      await handle.close();
    }
  }

  async list(prefix: string, options: { recursive?: boolean } = {}): Promise<LakeEntry[]> {
    const target = this.locate(prefix, 'prefix');
    await this.assertConfined(target.abs);
    let info: Stats;
    try {
      info = await stat(target.abs);
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
    if (!info.isDirectory()) {
      throw new BatonError('validation', `prefix: ${target.rel} is a file, not a folder`, {
        field: 'prefix',
      });
    }
    const entries: LakeEntry[] = [];
    await this.walk(target.abs, target.rel, options.recursive === true, entries);
    return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async delete(lakePath: string, options: { recursive?: boolean } = {}): Promise<boolean> {
    const target = this.locate(lakePath);
    if (target.rel === '')
      throw new BatonError('validation', 'path: the lake root cannot be deleted', {
        field: 'path',
      });
    // The entry itself may be a symlink (deleting it is harmless); its folder must not lead outside.
    await this.assertConfined(path.dirname(target.abs));
    let info: Stats;
    try {
      info = await lstat(target.abs);
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
    if (info.isDirectory()) {
      if (options.recursive !== true) {
        throw new BatonError(
          'validation',
          `path: ${target.rel} is a folder; pass recursive to delete it`,
          {
            field: 'path',
          },
        );
      }
      await rm(target.abs, { recursive: true, force: true });
      return true;
    }
    try {
      await unlink(target.abs);
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  private locate(input: string, field = 'path'): Target {
    if (typeof input !== 'string')
      throw new BatonError('validation', `${field}: must be a string`, { field });
    const rel = normalizeLakePath(input, field);
    if (rel.split('/').some((part) => part.startsWith(TEMP_PREFIX))) {
      throw new BatonError(
        'validation',
        `${field}: names starting with ${TEMP_PREFIX} are reserved`,
        { field },
      );
    }
    return { rel, abs: resolveInside(this.root, rel, field) };
  }

  private locateFile(input: string): Target {
    const target = this.locate(input);
    if (target.rel === '')
      throw new BatonError('validation', 'path: must name a file, not the lake root', {
        field: 'path',
      });
    return target;
  }

  /**
   * Refuses paths that lead outside the root through a symlink: resolves the deepest existing
   * ancestor (the rest will be created as plain folders) and compares with the real root.
   */
  private async assertConfined(abs: string): Promise<void> {
    const realRoot = await realpath(this.root).catch(() => undefined);
    if (realRoot === undefined) return;
    for (let probe = abs; ; probe = path.dirname(probe)) {
      let real: string;
      try {
        real = await realpath(probe);
      } catch (err) {
        if (isMissing(err) && probe !== this.root) continue;
        throw err;
      }
      if (!isInsidePath(realRoot, real)) {
        throw new BatonError(
          'forbidden',
          `${path.relative(this.root, abs)} leads outside the lake`,
        );
      }
      return;
    }
  }

  private async prepareParent(target: Target): Promise<void> {
    await this.assertConfined(target.abs);
    try {
      await mkdir(path.dirname(target.abs), { recursive: true });
    } catch (err) {
      if (errnoOf(err) === 'ENOTDIR' || errnoOf(err) === 'EEXIST') {
        throw conflict(`a file on the way to ${target.rel}`);
      }
      throw err;
    }
    await removeStaleTemps(path.dirname(target.abs));
  }

  /** Fills a temp file beside the target, syncs it, then publishes it by rename or link. */
  private async commit(
    target: Target,
    options: LakeWriteOptions,
    fill: (handle: FileHandle) => Promise<{ size: number; md5: string }>,
  ): Promise<LakeEntry> {
    const temp = claimTemp(target.abs);
    try {
      const handle = await open(temp, 'wx');
      let written: { size: number; md5: string };
      let info: Stats;
      try {
        written = await fill(handle);
        if (crashDue('lake-upload')) await crashMidFile(handle);
        if (options.deferDurability !== true) await handle.sync();
        info = await handle.stat();
      } finally {
        await handle.close();
      }
      await this.publish(temp, target, options);
      if (options.deferDurability === true) this.pending.add(target.abs);
      return fileEntry(target.rel, info, written.md5);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    } finally {
      releaseTempPath(temp);
    }
  }

  /** Publishes a synced temp file: rename, or for createOnly a hard link that fails if taken. */
  private async publish(temp: string, target: Target, options: LakeWriteOptions): Promise<void> {
    try {
      if (options.createOnly === true) {
        await link(temp, target.abs);
        await unlink(temp);
      } else {
        await rename(temp, target.abs);
      }
    } catch (err) {
      const code = errnoOf(err);
      // EPERM is Windows renaming onto a folder; from link() it means "no hard links here".
      const renamedOntoFolder = code === 'EPERM' && options.createOnly !== true;
      if (code === 'EEXIST' || code === 'EISDIR' || code === 'ENOTEMPTY' || renamedOntoFolder) {
        throw conflict(target.rel);
      }
      throw err;
    }
  }

  private async walk(
    dir: string,
    rel: string,
    recursive: boolean,
    out: LakeEntry[],
  ): Promise<void> {
    const dirents = await readdir(dir, { withFileTypes: true });
    await Promise.all(
      dirents.map(async (dirent) => {
        if (dirent.name.startsWith(TEMP_PREFIX)) return;
        const abs = path.join(dir, dirent.name);
        const childRel = rel === '' ? dirent.name : `${rel}/${dirent.name}`;
        if (dirent.isSymbolicLink()) {
          // Listed as what it points to, if that is inside; never descended (no cycles).
          const inside = await this.assertConfined(abs).then(
            () => true,
            () => false,
          );
          const info = inside ? await stat(abs).catch(() => undefined) : undefined;
          if (info !== undefined)
            out.push(
              info.isDirectory() ? directoryEntry(childRel, info) : fileEntry(childRel, info),
            );
          return;
        }
        const info = await stat(abs).catch(() => undefined);
        if (info === undefined) return;
        if (info.isDirectory()) {
          out.push(directoryEntry(childRel, info));
          if (recursive) await this.walk(abs, childRel, true, out);
        } else {
          out.push(fileEntry(childRel, info));
        }
      }),
    );
  }
}

/** BATON_CRASH_AT (test/chaos): die with half the file in its temp, as a kill mid-copy would. */
async function crashMidFile(handle: FileHandle): Promise<never> {
  await handle.truncate(Math.floor((await handle.stat()).size / 2));
  await handle.sync();
  return crashNow();
}

/**
 * The first write of this process into a folder removes the temps of lake writes whose writer
 * is gone (fsPrimitives' claimTempPath): a folder retried after crashes would collect them.
 */
const sweptFolders = new Set<string>();

function claimTemp(targetAbs: string): string {
  return claimTempPath(path.dirname(targetAbs), TEMP_PREFIX);
}

async function removeStaleTemps(folder: string): Promise<void> {
  if (sweptFolders.has(folder)) return;
  if (sweptFolders.size >= 10_000) sweptFolders.clear();
  sweptFolders.add(folder);
  await removeLeftoverTempsIn(folder, TEMP_PREFIX).catch(() => undefined);
}

interface Target {
  /** Normalised lake path ('' for the root). */
  rel: string;
  abs: string;
}

async function openLocal(localPath: string): Promise<FileHandle> {
  try {
    return await open(localPath, 'r');
  } catch (err) {
    if (isMissing(err)) throw notFound(`local file ${localPath}`);
    throw err;
  }
}

const CHUNK_BYTES = 1024 * 1024;

/**
 * Copies `source` into `destination` (or just reads it when there is none) in fixed chunks,
 * hashing on the way, so big files never sit in memory. Plain positional reads rather than
 * streams: streams built on a FileHandle close it when they end, and we still need to sync.
 */
async function copyHashing(
  source: FileHandle,
  destination?: FileHandle,
): Promise<{ size: number; md5: string }> {
  const hash = createHash('md5');
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  let size = 0;
  for (;;) {
    const { bytesRead } = await source.read(buffer, 0, CHUNK_BYTES, size);
    if (bytesRead === 0) break;
    const chunk = buffer.subarray(0, bytesRead);
    hash.update(chunk);
    if (destination !== undefined) {
      for (let offset = 0; offset < bytesRead;) {
        offset += (await destination.write(chunk, offset, bytesRead - offset)).bytesWritten;
      }
    }
    size += bytesRead;
  }
  return { size, md5: hash.digest('hex') };
}

function fileEntry(rel: string, info: Stats, md5?: string): LakeEntry {
  const entry: LakeEntry = {
    path: rel,
    isDirectory: false,
    size: info.size,
    lastModified: info.mtime.toISOString(),
  };
  if (md5 !== undefined) entry.md5 = md5;
  return entry;
}

function directoryEntry(rel: string, info: Stats): LakeEntry {
  return { path: rel, isDirectory: true, size: 0, lastModified: info.mtime.toISOString() };
}

function isFolder(rel: string): BatonError {
  return new BatonError('validation', `path: ${rel} is a folder, not a file`, { field: 'path' });
}

function translateReadError(err: unknown, rel: string): unknown {
  if (isMissing(err)) return notFound(`lake file ${rel}`);
  if (errnoOf(err) === 'EISDIR') return isFolder(rel);
  return err;
}

function isMissing(err: unknown): boolean {
  return errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR';
}
