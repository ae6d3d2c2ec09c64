import { createHash, randomUUID } from 'node:crypto';
import {
  link,
  lstat,
  mkdir,
  open,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  unlink,
} from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BatonError } from '../../domain/errors.js';

// File-system primitives of the local adapters: portable file names, atomic writes, and locks
// that hold within a process (promise chains) and across processes (exclusive lock files).

/**
 * Maps any string to a file name that is the same on every file system: only `a-z 0-9 - _` stay
 * literal, everything else (dots, upper case, non-ASCII) becomes `%XX` of its UTF-8 bytes. That
 * keeps `Run1` and `run1` apart on case-insensitive disks (macOS, Windows) and makes `.`/`..`
 * impossible. Names that would exceed NAME_MAX become `~<sha256>`; callers keep the original
 * value inside the file.
 */
export function encodeName(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const plain =
      (byte >= 0x61 && byte <= 0x7a) ||
      (byte >= 0x30 && byte <= 0x39) ||
      byte === 0x2d ||
      byte === 0x5f;
    out += plain
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out.length <= 200 ? out : `~${createHash('sha256').update(value).digest('hex')}`;
}

export function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}

/** Temp files start with '.', which no encoded name does, so directory scans skip them. */
function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${randomUUID()}.tmp`);
}

/**
 * Writes via a synced temp file in the same folder, then renames (or, for createOnly, hard-links,
 * which fails with EEXIST instead of overwriting). A crash leaves the old file or the new one.
 */
export async function writeFileAtomic(
  target: string,
  data: string | Uint8Array,
  options: { createOnly?: boolean } = {},
): Promise<void> {
  const temp = tempPathFor(target);
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.createOnly === true) {
      await link(temp, target);
      await unlink(temp);
    } else {
      await rename(temp, target);
    }
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** Removes temp files a crashed writer of `target` left behind. Call only while holding its lock. */
export async function removeTempFiles(target: string): Promise<void> {
  const prefix = `.${path.basename(target)}.`;
  const dir = path.dirname(target);
  for (const name of await listNames(dir)) {
    if (name.startsWith(prefix) && name.endsWith('.tmp'))
      await rm(path.join(dir, name), { force: true });
  }
}

const chains = new Map<string, Promise<void>>();

/** Serialises async work per key in this process, so same-process callers queue instead of polling a lock file. */
export async function withKeyedMutex<R>(key: string, fn: () => Promise<R>): Promise<R> {
  const previous = chains.get(key) ?? Promise.resolve();
  let release = (): void => undefined;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const tail = previous.then(() => mine);
  chains.set(key, tail);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (chains.get(key) === tail) chains.delete(key);
  }
}

export interface FileLockOptions {
  /** A lock file older than this is presumed orphaned by a crashed process and broken. */
  staleMs: number;
  /** Give up with `unavailable` after this long. */
  timeoutMs: number;
}

/**
 * Mutual exclusion across processes: `lockFile` is created with O_EXCL and removed afterwards.
 * Within this process callers queue on a promise chain first, so at most one of them polls.
 */
export async function withFileLock<R>(
  lockFile: string,
  options: FileLockOptions,
  fn: () => Promise<R>,
): Promise<R> {
  return withKeyedMutex(lockFile, async () => {
    const token = await acquireLockFile(lockFile, options);
    try {
      return await fn();
    } finally {
      await releaseLockFile(lockFile, token);
    }
  });
}

async function acquireLockFile(lockFile: string, options: FileLockOptions): Promise<string> {
  const token = `${process.pid}:${randomUUID()}`;
  const deadline = Date.now() + options.timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(lockFile, 'wx');
      try {
        await handle.writeFile(token);
      } finally {
        await handle.close();
      }
      return token;
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') {
        await mkdir(path.dirname(lockFile), { recursive: true });
        continue;
      }
      if (errnoOf(err) !== 'EEXIST') throw err;
    }
    await breakIfStale(lockFile, options.staleMs);
    if (Date.now() > deadline) {
      throw new BatonError('unavailable', `timed out waiting for lock ${lockFile}`, {
        retryable: true,
      });
    }
    await sleep(Math.min(2 + attempt, 25) * (0.5 + Math.random()));
  }
}

/**
 * Breaks an orphaned lock by renaming it away (one breaker wins per inode). If the inode moved is
 * not the stale one we saw, a live holder re-created the lock meanwhile: put it back.
 */
async function breakIfStale(lockFile: string, staleMs: number): Promise<void> {
  let seen;
  try {
    seen = await stat(lockFile);
  } catch {
    return;
  }
  if (Date.now() - seen.mtimeMs <= staleMs) return;
  const aside = `${lockFile}.stale-${randomUUID()}`;
  try {
    await rename(lockFile, aside);
  } catch {
    return;
  }
  const moved = await stat(aside);
  if (moved.ino !== seen.ino) await link(aside, lockFile).catch(() => undefined);
  await rm(aside, { force: true });
}

/** Only removes the lock if it is still ours (it may have been broken as stale meanwhile). */
async function releaseLockFile(lockFile: string, token: string): Promise<void> {
  const current = await readFile(lockFile, 'utf8').catch(() => undefined);
  if (current === token) await rm(lockFile, { force: true });
}

/** Sorted entries of a folder; a missing folder has none. */
export async function listNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return [];
    throw err;
  }
}

/** Whether anything (a file, folder or link, not followed) is at `target`. */
export async function pathExists(target: string): Promise<boolean> {
  try {
    await lstat(target);
    return true;
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Files written without their own fsync (a sync's many small files), made durable together
 * by `flush`: each file, then each folder that got a new name, fsynced concurrently so the
 * file system commits them in a few journal transactions instead of one per file. Until then
 * a power cut may lose or empty a file that was published — never leave a half-written one
 * visible while the machine runs (writes are still temp + rename).
 */
export class PendingFlush {
  private readonly files = new Set<string>();

  add(file: string): void {
    this.files.add(file);
  }

  get size(): number {
    return this.files.size;
  }

  /**
   * Flushes what was added before the call. Flushes run one after another, so a caller whose
   * files another caller's flush took waits for that flush too; a failed flush gives its files
   * back (the next flush tries them again) and fails its own caller.
   */
  flush(concurrency = 32): Promise<void> {
    const run = this.inflight.then(() => this.flushNow(concurrency));
    this.inflight = run.catch(() => undefined);
    return run;
  }

  private inflight: Promise<void> = Promise.resolve();

  private async flushNow(concurrency: number): Promise<void> {
    const files = [...this.files];
    this.files.clear();
    const folders = [...new Set(files.map((file) => path.dirname(file)))];
    try {
      for (const batch of [files, folders]) {
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < batch.length) {
            await syncPath(batch[next++] as string);
          }
        };
        await Promise.all(Array.from({ length: Math.min(concurrency, batch.length) }, worker));
      }
    } catch (error) {
      for (const file of files) this.files.add(file);
      throw error;
    }
  }
}

/** fsync of a file or folder; gone since (replaced, removed) is fine: its writer flushed it. */
async function syncPath(target: string): Promise<void> {
  let handle;
  try {
    handle = await open(target, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    await handle.sync();
  } catch (error) {
    // Some file systems refuse fsync on a folder (EINVAL, EISDIR): the files are synced.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EBADF') throw error;
  } finally {
    await handle.close();
  }
}
