import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, realpath, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { BatonError, notFound } from '../../domain/errors.js';
import { lakeTempPrefix, normalizeLakePath } from '../../domain/paths.js';
import { systemClock, type Clock } from '../../ports/clock.js';
import type { TransferRequest, TransferService, TransferStatus } from '../../ports/transfers.js';
import { claimTempPath, errnoOf, releaseTempPath, removeLeftoverTempsIn } from './fsPrimitives.js';

export interface FolderTransfersOptions {
  /** Endpoint name → the local folder standing for it (e.g. `spot832` → `./data/spot832`). */
  endpoints: Record<string, string>;
  clock?: Clock;
  /**
   * Awaited after a transfer is accepted and before its first byte is copied. A test seam: a
   * contract test holds a transfer `active` with it to exercise cancel.
   */
  beforeCopy?: (transferId: string) => Promise<void>;
}

/** Transfer ids are Globus task labels too (letters, digits, "_", "-"): keep them plain. */
export const transferIdPattern = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

interface Entry {
  request: string;
  status: TransferStatus;
  abort: AbortController;
  done: Promise<void>;
}

/**
 * Transfers between local folders (one machine standing in for spot832, data832, NERSC...):
 * the copy is written under a temp name beside the destination (`.baton-tmp-…`), every file's
 * sha256 is computed from the source and again from the written copy, and only when all agree
 * is the temp renamed into place — so a reader never sees a partial or unverified copy.
 *
 * Paths are endpoint-relative POSIX paths (a leading `/` means the endpoint's root) and are
 * confined to the endpoint's folder: `..` is refused, and symlinks are never followed (a
 * source or destination reached through a symlink, or a symlink inside a copied tree, fails
 * the transfer). Status is kept in memory by transferId: submitting the same id again returns
 * the first transfer (a different request under the same id is a `conflict`); a restart
 * forgets transfers (`not_found`), which is what a redelivered activity resubmits on.
 */
export class FolderTransfers implements TransferService {
  private readonly roots: Record<string, string>;
  private readonly clock: Clock;
  private readonly beforeCopy: FolderTransfersOptions['beforeCopy'];
  private readonly transfers = new Map<string, Entry>();

  constructor(options: FolderTransfersOptions) {
    this.roots = Object.fromEntries(
      Object.entries(options.endpoints).map(([name, root]) => [name, path.resolve(root)]),
    );
    this.clock = options.clock ?? systemClock;
    this.beforeCopy = options.beforeCopy;
  }

  async submit(request: TransferRequest): Promise<TransferStatus> {
    await Promise.resolve();
    validateTransferId(request.transferId);
    const key = JSON.stringify([request.source, request.destination, request.recursive ?? false]);
    const existing = this.transfers.get(request.transferId);
    if (existing !== undefined) {
      if (existing.request !== key) {
        throw new BatonError(
          'conflict',
          `transfer ${request.transferId} was already submitted with other paths`,
          { field: 'transferId' },
        );
      }
      return { ...existing.status };
    }
    const source = this.locate(request.source, 'source');
    const destination = this.locate(request.destination, 'destination');
    const status: TransferStatus = {
      transferId: request.transferId,
      state: 'active',
      files: 0,
      bytes: 0,
      startedAt: this.clock.now().toISOString(),
      checksumVerified: false,
    };
    const abort = new AbortController();
    const entry: Entry = { request: key, status, abort, done: Promise.resolve() };
    this.transfers.set(request.transferId, entry);
    entry.done = this.run(entry, source, destination, request.recursive ?? false);
    return { ...status };
  }

  status(transferId: string): Promise<TransferStatus> {
    const entry = this.transfers.get(transferId);
    if (entry === undefined) return Promise.reject(notFound(`transfer ${transferId}`));
    return Promise.resolve({ ...entry.status });
  }

  async cancel(transferId: string): Promise<TransferStatus> {
    const entry = this.transfers.get(transferId);
    if (entry === undefined) throw notFound(`transfer ${transferId}`);
    if (entry.status.state === 'active') {
      entry.abort.abort();
      await entry.done;
    }
    return { ...entry.status };
  }

  async stat(
    endpoint: string,
    relative: string,
  ): Promise<{ size: number; checksum: string } | undefined> {
    const target = this.locate({ endpoint, path: relative }, 'path');
    try {
      await assertNoSymlinks(target.root, target.absolute);
      const info = await lstat(target.absolute);
      if (!info.isFile()) return undefined;
      return { size: info.size, checksum: `sha256:${await sha256File(target.absolute)}` };
    } catch (error) {
      if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return undefined;
      throw error;
    }
  }

  async remove(endpoint: string, relative: string): Promise<boolean> {
    const target = this.locate({ endpoint, path: relative }, 'path');
    try {
      await assertNoSymlinks(target.root, target.absolute);
      const info = await lstat(target.absolute);
      if (!info.isFile()) {
        throw new BatonError(
          'validation',
          `path: ${target.relative} at ${endpoint} is not a file; only files are removed`,
          { field: 'path' },
        );
      }
      await rm(target.absolute);
      return true;
    } catch (error) {
      if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return false;
      if (error instanceof TransferFailure) {
        throw new BatonError('validation', `path: ${error.message}`, { field: 'path' });
      }
      throw error;
    }
  }

  // -------------------------------------------------------------------------------------------

  private locate(
    where: { endpoint: string; path: string },
    field: string,
  ): { root: string; absolute: string; relative: string } {
    const root = Object.hasOwn(this.roots, where.endpoint) ? this.roots[where.endpoint] : undefined;
    if (root === undefined) {
      throw new BatonError(
        'validation',
        `${field}.endpoint: unknown endpoint "${where.endpoint}"`,
        {
          field: `${field}.endpoint`,
        },
      );
    }
    const relative = normalizeLakePath(where.path.replace(/^\/+/, ''), `${field}.path`);
    if (relative === '') {
      throw new BatonError(
        'validation',
        `${field}.path: must name a file or folder, not the root`,
        {
          field: `${field}.path`,
        },
      );
    }
    if (relative.split('/').some((part) => part.startsWith(lakeTempPrefix))) {
      throw new BatonError(
        'validation',
        `${field}.path: names starting ${lakeTempPrefix} are reserved`,
        {
          field: `${field}.path`,
        },
      );
    }
    return { root, absolute: path.join(root, relative), relative };
  }

  private async run(
    entry: Entry,
    source: { root: string; absolute: string; relative: string },
    destination: { root: string; absolute: string; relative: string },
    recursive: boolean,
  ): Promise<void> {
    const { status, abort } = entry;
    // A lake temp (the endpoint may lie inside the lake): the lake's sweeps keep it while this
    // process lives, and a transfer resubmitted after a crash (a restart forgets transfers)
    // removes the half copy its first run left behind.
    const temp = claimTempPath(path.dirname(destination.absolute), lakeTempPrefix);
    try {
      if (this.beforeCopy !== undefined) {
        await Promise.race([this.beforeCopy(status.transferId), whenAborted(abort.signal)]);
      }
      throwIfCanceled(abort.signal);
      await assertNoSymlinks(source.root, source.absolute).catch((error: unknown) => {
        if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') {
          throw new TransferFailure(`source ${source.relative} does not exist`);
        }
        throw error;
      });
      const info = await lstat(source.absolute);
      if (info.isDirectory() && !recursive) {
        throw new TransferFailure(`source ${source.relative} is a folder; set recursive`);
      }
      if (!info.isDirectory() && !info.isFile()) {
        throw new TransferFailure(`source ${source.relative} is not a regular file or folder`);
      }
      await mkdir(path.dirname(destination.absolute), { recursive: true });
      await assertNoSymlinks(destination.root, path.dirname(destination.absolute));
      await removeLeftoverTempsIn(path.dirname(destination.absolute), lakeTempPrefix);
      const counted = { files: 0, bytes: 0 };
      // A transfer resubmitted after a crash whose first run had already put the copy in place
      // (the same files, the same checksums) is done: copying again would replace the copy.
      const present = await identicalCopy(
        source.absolute,
        destination.absolute,
        info.isDirectory(),
      );
      if (present !== undefined) {
        Object.assign(status, present);
      } else {
        await copyVerified(
          source.absolute,
          temp,
          info.isDirectory(),
          abort.signal,
          counted,
          status,
        );
        throwIfCanceled(abort.signal);
        await rm(destination.absolute, { recursive: true, force: true });
        await rename(temp, destination.absolute);
      }
      status.state = 'succeeded';
      status.checksumVerified = true;
    } catch (error) {
      await rm(temp, { recursive: true, force: true }).catch(() => undefined);
      if (abort.signal.aborted) {
        status.state = 'canceled';
        status.reason = 'canceled on request';
      } else {
        status.state = 'failed';
        status.reason =
          error instanceof TransferFailure || error instanceof BatonError
            ? error.message
            : `copy failed: ${error instanceof Error ? error.message : String(error)}`;
      }
    } finally {
      releaseTempPath(temp);
      status.finishedAt = this.clock.now().toISOString();
    }
  }
}

class TransferFailure extends Error {}

function validateTransferId(transferId: string): void {
  if (!transferIdPattern.test(transferId)) {
    throw new BatonError(
      'validation',
      'transferId: letters, digits, "_" and "-", starting with a letter or digit (at most 128)',
      { field: 'transferId' },
    );
  }
}

function whenAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(), { once: true }),
  );
}

function throwIfCanceled(signal: AbortSignal): void {
  if (signal.aborted) throw new TransferFailure('canceled');
}

/**
 * Refuses a path reached through a symlink: the real path must be the lexical one (the
 * endpoint root itself may be a symlink, resolved once).
 */
async function assertNoSymlinks(root: string, absolute: string): Promise<void> {
  const realRoot = await realpath(root);
  const real = await realpath(absolute);
  const expected = path.join(realRoot, path.relative(root, absolute));
  if (real !== expected) {
    throw new TransferFailure(`${path.relative(root, absolute)} goes through a symlink; refused`);
  }
}

/** Copies a file or tree to `target`, verifying each file's sha256 against the written copy. */
async function copyVerified(
  from: string,
  to: string,
  isFolder: boolean,
  signal: AbortSignal,
  counted: { files: number; bytes: number },
  status: TransferStatus,
): Promise<void> {
  throwIfCanceled(signal);
  if (isFolder) {
    await mkdir(to);
    for (const entry of await readdir(from, { withFileTypes: true })) {
      const child = path.join(from, entry.name);
      if (entry.isSymbolicLink()) {
        throw new TransferFailure(`${entry.name} is a symlink; refused`);
      }
      if (!entry.isDirectory() && !entry.isFile()) continue;
      await copyVerified(
        child,
        path.join(to, entry.name),
        entry.isDirectory(),
        signal,
        counted,
        status,
      );
    }
    return;
  }
  const expected = await sha256File(from);
  await copyFile(from, to);
  const actual = await sha256File(to);
  if (actual !== expected) {
    throw new TransferFailure(`checksum mismatch for ${path.basename(from)} at the destination`);
  }
  const { size } = await lstat(to);
  counted.files += 1;
  counted.bytes += size;
  status.files = counted.files;
  status.bytes = counted.bytes;
}

/**
 * The files and bytes of `to` when it holds exactly what `from` holds (the same tree of files
 * with the same sha256 each, nothing more), else undefined. Symlinks never match.
 */
async function identicalCopy(
  from: string,
  to: string,
  isFolder: boolean,
): Promise<{ files: number; bytes: number } | undefined> {
  let info;
  try {
    info = await lstat(to);
  } catch {
    return undefined;
  }
  if (!isFolder) {
    if (!info.isFile()) return undefined;
    const source = await lstat(from);
    if (source.size !== info.size) return undefined;
    return (await sha256File(from)) === (await sha256File(to))
      ? { files: 1, bytes: info.size }
      : undefined;
  }
  if (!info.isDirectory()) return undefined;
  const [mine, theirs] = await Promise.all([
    readdir(from, { withFileTypes: true }),
    readdir(to, { withFileTypes: true }),
  ]);
  if (mine.some((e) => e.isSymbolicLink())) return undefined; // refused by the copy, not skipped
  const wanted = mine.filter((e) => e.isDirectory() || e.isFile());
  if (wanted.length !== theirs.length) return undefined;
  const total = { files: 0, bytes: 0 };
  for (const entry of wanted) {
    const inner = await identicalCopy(
      path.join(from, entry.name),
      path.join(to, entry.name),
      entry.isDirectory(),
    );
    if (inner === undefined) return undefined;
    total.files += inner.files;
    total.bytes += inner.bytes;
  }
  return total;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
