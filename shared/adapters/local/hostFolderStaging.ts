import { lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { isBatonError } from '../../domain/errors.js';
import { resolveInside } from '../../domain/paths.js';
import type { Lake } from '../../ports/lake.js';
import type {
  CollectedOutput,
  JobStaging,
  PreparedJob,
  StagedJob,
} from '../../ports/jobStaging.js';
import {
  claimTempPath,
  errnoOf,
  pathExists,
  releaseTempPath,
  removeLeftoverTempsIn,
} from './fsPrimitives.js';

export interface HostFolderStagingOptions {
  lake: Lake;
  /** Staging folder on this machine (inside the process backend's work root). */
  root: string;
  /** Backends whose jobs run on this machine and can read the staged files. */
  backends: readonly string[];
  /** The backend's work root: the job's `cwd` is given relative to it (no cwd without one). */
  workRoot?: string;
}

/**
 * Staging for backends that run jobs on this machine (the local process backend): inputs are
 * downloaded from whichever lake is configured (a folder or ADLS) into a working folder, and
 * `%OUT` is uploaded back after the job. Layout below `root`:
 *
 * ```
 * data/<incarnation>/<data file or folder>     shared by the task's jobs, downloaded once
 * jobs/<computeJobId>/in/<config item name>    the job's config item
 * jobs/<computeJobId>/out                      %OUT (the job creates it)
 * ```
 *
 * Each folder appears complete or not at all (downloaded under a temp name, then renamed), so
 * a crash mid-download is retried from scratch and two launches of one job never see half a
 * file. Symlinks a job leaves in `%OUT` are not followed (they could point anywhere on this
 * machine).
 */
export class HostFolderStaging implements JobStaging {
  private readonly root: string;

  constructor(private readonly options: HostFolderStagingOptions) {
    this.root = path.resolve(options.root);
  }

  supports(backend: string): boolean {
    return this.options.backends.includes(backend);
  }

  async prepare(job: StagedJob): Promise<PreparedJob> {
    const dataDir = this.dataDir(job.incarnation);
    await this.materialize(dataDir, async (tmp) => {
      const name = baseName(job.data.path);
      if (job.data.kind === 'file') {
        await this.options.lake.downloadFile(job.data.path, resolveInside(tmp, name));
        return;
      }
      for (const entry of await this.options.lake.list(job.data.path, { recursive: true })) {
        if (entry.isDirectory) continue;
        const relative = entry.path.slice(job.data.path.length).replace(/^\/+/, '');
        if (relative.split('/').some((part) => part.startsWith('.'))) continue;
        await this.options.lake.downloadFile(entry.path, resolveInside(tmp, `${name}/${relative}`));
      }
      await mkdir(resolveInside(tmp, name), { recursive: true });
    });
    const jobDir = this.jobDir(job.computeJobId);
    await this.materialize(jobDir, async (tmp) => {
      await this.options.lake.downloadFile(
        job.item.path,
        resolveInside(tmp, `in/${baseName(job.item.name)}`),
      );
    });
    return {
      values: {
        data: resolveInside(dataDir, baseName(job.data.path)),
        in: resolveInside(jobDir, `in/${baseName(job.item.name)}`),
        out: path.join(jobDir, 'out'),
      },
      ...(this.options.workRoot === undefined ? {} : { cwd: this.relativeCwd(jobDir) }),
    };
  }

  async collect(job: StagedJob, outputPath: string): Promise<CollectedOutput> {
    const out = path.join(this.jobDir(job.computeJobId), 'out');
    const result: CollectedOutput = { files: 0, bytes: 0 };
    const info = await lstat(out).catch((error: unknown) => {
      if (errnoOf(error) === 'ENOENT') return undefined;
      throw error;
    });
    if (info === undefined || info.isSymbolicLink()) return result;
    if (info.isFile()) {
      await this.upload(out, `${outputPath}/out`, info.size, result);
      return result;
    }
    if (!info.isDirectory()) return result;
    for (const entry of await readdir(out, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue; // symlinks, sockets and folders are not copied
      const full = path.join(entry.parentPath, entry.name);
      const relative = path.relative(out, full).split(path.sep).join('/');
      const size = (await lstat(full)).size;
      await this.upload(full, `${outputPath}/${relative}`, size, result);
    }
    return result;
  }

  async discard(job: StagedJob): Promise<void> {
    await removeFolder(this.jobDir(job.computeJobId));
  }

  async discardTask(incarnation: string): Promise<void> {
    await removeFolder(this.dataDir(incarnation));
  }

  private async upload(
    localPath: string,
    lakePath: string,
    size: number,
    result: { files: number; bytes: number },
  ): Promise<void> {
    try {
      await this.options.lake.uploadFile(localPath, lakePath, { createOnly: true });
    } catch (error) {
      // Already there from an earlier collection of this same attempt (a redelivered event).
      if (!isBatonError(error, 'conflict')) throw error;
    }
    result.files += 1;
    result.bytes += size;
  }

  private relativeCwd(jobDir: string): string {
    const relative = path.relative(path.resolve(this.options.workRoot ?? this.root), jobDir);
    return relative.split(path.sep).join('/');
  }

  private dataDir(incarnation: string): string {
    return resolveInside(this.root, `data/${safeSegment(incarnation)}`);
  }

  private jobDir(computeJobId: string): string {
    return resolveInside(this.root, `jobs/${safeSegment(computeJobId)}`);
  }

  /** Fills `target` through a temp folder renamed into place, unless it is already there. */
  private async materialize(target: string, fill: (tmp: string) => Promise<void>): Promise<void> {
    if (await pathExists(target)) return;
    // A host killed while it filled the folder left its temp: the next launch removes it.
    await removeLeftoverTempsIn(path.dirname(target), tempPrefixOf(target));
    const tmp = claimTempPath(path.dirname(target), tempPrefixOf(target));
    await mkdir(tmp, { recursive: true });
    try {
      await fill(tmp);
      await rename(tmp, target);
    } catch (error) {
      await rm(tmp, { recursive: true, force: true });
      const code = errnoOf(error);
      // Another launch of the same job or task won the race: its copy is complete.
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await pathExists(target))) return;
      throw error;
    } finally {
      releaseTempPath(tmp);
    }
  }
}

/** `<folder>.tmp-<pid>-<uuid>`: the temp a folder is filled in (fsPrimitives' claimTempPath). */
function tempPrefixOf(folder: string): string {
  return `${path.basename(folder)}.tmp-`;
}

/** The folder and whatever temps of it killed writers left. */
async function removeFolder(folder: string): Promise<void> {
  await rm(folder, { recursive: true, force: true });
  await removeLeftoverTempsIn(path.dirname(folder), tempPrefixOf(folder));
}

function baseName(lakePath: string): string {
  const parts = lakePath.split('/').filter((p) => p !== '');
  return parts[parts.length - 1] ?? 'data';
}

/** Ids are `[a-z0-9-]` by construction; anything else is a caller bug, refused before any I/O. */
function safeSegment(value: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(value)) {
    throw new Error(`staging: unsafe folder name ${JSON.stringify(value)}`);
  }
  return value;
}
