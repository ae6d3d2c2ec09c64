import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import {
  link,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rename,
  rm,
  rmdir,
  stat,
  unlink,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import {
  checkDatabankFileName,
  checkDatabankName,
  conflictFolder,
  databankLakePrefix,
  defaultConfigFileName,
  defaultStateFileName,
  orchestratorLogFileName,
  defaultProjectFolder,
} from '../domain/databankLayout.js';
import {
  classifyLakePath,
  comparePaths,
  componentZipName,
  configConflict,
  downloadConflict,
  outputConflict,
  parseUploadOutputsOnly,
  pathsToHash,
  planSyncDownload,
  planSyncUpload,
  syncStamp,
  type DownloadStep,
  type SkipReason,
  type SyncConflict,
  type SyncFile,
  type SyncPlan,
  type SyncStep,
  type UploadStep,
} from '../domain/databankSync.js';
import type { DatabankFileKind } from '../domain/databankLayout.js';
import { BatonError, isBatonError } from '../domain/errors.js';
import { parseModelConfig, type ModelConfig } from '../domain/modelConfig.js';
import { lakeTempPrefix, normalizeLakePath } from '../domain/paths.js';
import { parseInput } from '../domain/validation.js';
import type { Clock } from '../ports/clock.js';
import type { Lake } from '../ports/lake.js';
import { errnoOf } from '../adapters/local/fsPrimitives.js';
import { databankDir } from './databanks.js';
import { PendingFlush } from '../adapters/local/fsPrimitives.js';
import { runLimited } from './runLimited.js';
import { extractZip, writeDeterministicZip, type ZipSourceEntry } from './databankZip.js';

/**
 * Databank cloud sync (the seed's `adls_sync`): executes the plans of `domain/databankSync`
 * between a databank folder on this machine (`<databankRoot>/<name>/`) and the lake
 * (`<project folder>/<name>/`). Used by `baton sync`, `POST /api/databanks/{name}/sync`, and by
 * model runs in cloud mode after each step (action `upload`).
 *
 * What this layer adds to the plan: the two listings (hidden files, symlinks and special files
 * are never read or followed), MD5s only where a path exists on both sides, deterministic
 * component zips, bounded parallel transfers with progress, and the guarantees the plan
 * assumes: create-only placement on both sides (a path that appeared since the listing turns
 * into a conflict copy, never an overwrite), no local write through a symlink, and an
 * all-or-nothing first download (staged in a hidden folder, moved into place at the end, so a
 * failed one leaves the databank empty and the next attempt downloads everything again).
 */

export interface DatabankSyncDeps {
  lake: Lake;
  clock: Clock;
}

export const syncActions = ['upload', 'download', 'list'] as const;
export type SyncAction = (typeof syncActions)[number];

export interface DatabankSyncRequest {
  action: SyncAction;
  databank: string;
  /** This databank's folder on this machine (`databankDir`: `<config.databankRoot>/<name>`). */
  databankDir: string;
  /** Lake project folder; default: the config's `operational_mode.cloud.adls_folder`, then `orca_model_runs`. */
  projectFolder?: string | undefined;
  /** Config file name inside the databank (default `orca_model_config.yaml`). */
  configFileName?: string | undefined;
  /** State file name inside the databank (default `orca_model_state.json`): a run record. */
  stateFileName?: string | undefined;
  /** Plan and report; change nothing on either side. */
  dryRun?: boolean | undefined;
  /** Only outputs and config files go up; default: the `UPLOAD_OUTPUTS_ONLY` environment variable. */
  outputsOnly?: boolean | undefined;
  /** Transfers in flight at once (default 8). */
  concurrency?: number | undefined;
}

/** The body of `POST /api/databanks/{name}/sync`. */
export const syncBodySchema = z
  .object({
    action: z.enum(syncActions),
    projectFolder: z.string().max(1024).optional(),
    config: z.string().max(200).optional(),
    dryRun: z.boolean().optional(),
  })
  .strict();

/**
 * `POST /api/databanks/{name}/sync`: the body parsed, the databank found below `databankRoot`.
 * Sync runs inside the request, so a large one needs a client with a long timeout.
 */
export async function syncDatabankFromBody(
  deps: DatabankSyncDeps & { databankRoot: string },
  name: string,
  body: unknown,
): Promise<SyncSummary> {
  const parsed = parseInput(syncBodySchema, body, 'body');
  return syncDatabank(deps, {
    action: parsed.action,
    databank: name,
    databankDir: databankDir(deps, name),
    projectFolder: parsed.projectFolder,
    configFileName: parsed.config,
    dryRun: parsed.dryRun,
  });
}

export interface SyncProgress {
  /** `prepare`: listing, hashing, zipping; `transfer`: files moving. */
  phase: 'prepare' | 'transfer';
  /** Transfers finished / planned (0 / 0 while preparing). */
  done: number;
  total: number;
  bytesDone: number;
  bytesTotal: number;
  /** What just happened, for a log line. */
  message: string;
}

export type ProgressListener = (progress: SyncProgress) => void;

export interface TransferSummary {
  action: 'upload' | 'download';
  databank: string;
  localFolder: string;
  lakePrefix: string;
  dryRun: boolean;
  /** Upload: `UPLOAD_OUTPUTS_ONLY` was in effect. */
  outputsOnly: boolean;
  /** Download: `everything` into an empty databank, else `newOutputs`. */
  scope?: 'everything' | 'newOutputs';
  /** Files uploaded / downloaded (in a dry run: that would be). */
  uploaded: number;
  downloaded: number;
  /** Component folders unpacked from `<step>.zip`. */
  unzipped: number;
  /** Paths with the same content on both sides. */
  unchanged: number;
  /** Paths not synced for another reason (see `skippedByReason`). */
  skipped: number;
  skippedByReason: Partial<Record<SkipReason, number>>;
  conflicts: SyncConflict[];
  /** Bytes transferred (in a dry run: planned). */
  bytes: number;
  ms: number;
  /** Dry run: every step of the plan. */
  plan?: SyncStep[];
}

export interface ListedEntry {
  /** Path below the databank's lake prefix. */
  path: string;
  kind: DatabankFileKind;
  size: number;
  md5: string | undefined;
  lastModified: string;
}

export interface ListSummary {
  action: 'list';
  databank: string;
  lakePrefix: string;
  files: number;
  bytes: number;
  ms: number;
  entries: ListedEntry[];
}

export type SyncSummary = TransferSummary | ListSummary;

const defaultConcurrency = 8;

/** Runs one sync action; see the module comment. Errors are BatonErrors naming the field. */
export async function syncDatabank(
  deps: DatabankSyncDeps,
  request: DatabankSyncRequest,
  onProgress: ProgressListener = () => undefined,
): Promise<SyncSummary> {
  const started = performance.now();
  const context = resolveRequest(request, onProgress);
  let summary: SyncSummary;
  try {
    summary =
      request.action === 'list'
        ? await listDatabank(deps, context)
        : request.action === 'upload'
          ? await uploadDatabank(deps, context)
          : await downloadDatabank(deps, context);
  } catch (error) {
    // What was published before the failure is kept, so it is made durable too.
    await flushWrites(deps.lake, context).catch(() => undefined);
    throw error;
  }
  // Each file was published atomically without its own fsync; one flush of them all, before
  // the sync reports done, makes them durable at a fraction of the cost (see bench/sync).
  await flushWrites(deps.lake, context);
  summary.ms = Math.round(performance.now() - started);
  return summary;
}

async function flushWrites(lake: Lake, context: Context): Promise<void> {
  await Promise.all([lake.flush(), context.localWrites.flush()]);
}

interface Context {
  databank: string;
  localFolder: string;
  configName: string;
  /** Top-level files the run rewrites every step: replaced in the lake without conflict copies. */
  runRecords: string[];
  projectFolderOption: string | undefined;
  dryRun: boolean;
  outputsOnly: boolean;
  concurrency: number;
  report: ProgressListener;
  /** Databank files downloaded without their own fsync, flushed when the sync ends. */
  localWrites: PendingFlush;
}

function resolveRequest(request: DatabankSyncRequest, report: ProgressListener): Context {
  if (!(syncActions as readonly string[]).includes(request.action)) {
    throw new BatonError('validation', `action: expected one of ${syncActions.join(', ')}`, {
      field: 'action',
    });
  }
  const databank = checkDatabankName(request.databank);
  const configName = checkDatabankFileName(
    request.configFileName ?? defaultConfigFileName,
    'config',
  );
  const concurrency = request.concurrency ?? defaultConcurrency;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new BatonError('validation', 'concurrency: a whole number from 1 to 256', {
      field: 'concurrency',
    });
  }
  const stateName = checkDatabankFileName(request.stateFileName ?? defaultStateFileName, 'state');
  return {
    databank,
    localFolder: path.resolve(request.databankDir),
    configName,
    runRecords: [stateName, orchestratorLogFileName],
    projectFolderOption:
      request.projectFolder === undefined ? undefined : checkProjectFolder(request.projectFolder),
    dryRun: request.dryRun === true,
    outputsOnly:
      request.action === 'upload' &&
      (request.outputsOnly ?? parseUploadOutputsOnly(process.env.UPLOAD_OUTPUTS_ONLY)),
    concurrency,
    report,
    localWrites: new PendingFlush(),
  };
}

function checkProjectFolder(value: string, field = 'projectFolder'): string {
  const folder = normalizeLakePath(value, field);
  if (folder.split('/').some((part) => part.startsWith(lakeTempPrefix))) {
    throw new BatonError(
      'validation',
      `${field}: names starting with ${lakeTempPrefix} are reserved`,
      {
        field,
      },
    );
  }
  return folder;
}

/** `--project-folder` ?? the config's `operational_mode.cloud.adls_folder` ?? `orca_model_runs`. */
function lakePrefixOf(context: Context, config: ModelConfig | undefined): string {
  const fromConfig = config?.operational_mode.cloud?.adls_folder;
  const folder =
    context.projectFolderOption ??
    (fromConfig === undefined
      ? defaultProjectFolder
      : checkProjectFolder(
          fromConfig,
          `${context.configName}: operational_mode.cloud.adls_folder`,
        ));
  return databankLakePrefix(folder, context.databank);
}

// ---------------------------------------------------------------------------------------------
// Upload

async function uploadDatabank(deps: DatabankSyncDeps, context: Context): Promise<TransferSummary> {
  const folderState = await localFolderState(context.localFolder);
  if (folderState === 'missing') {
    throw new BatonError(
      'not_found',
      `databank: no databank "${context.databank}" at ${context.localFolder}`,
      { field: 'databank' },
    );
  }
  const config = await readLocalConfig(context);
  if (config === undefined) {
    throw new BatonError(
      'not_found',
      `config: ${context.configName} not found in databank "${context.databank}" (${context.localFolder})`,
      { field: 'config' },
    );
  }
  const componentNames = Object.keys(config.sub_components);
  const prefix = lakePrefixOf(context, config);
  context.report(preparing(`scanning ${context.localFolder}`));
  const scan = await scanLocalFolder(context.localFolder);
  context.report(preparing(`listing ${prefix}/ in the lake`));
  const remote = await listRemote(deps.lake, prefix);

  const work = await mkdtemp(path.join(os.tmpdir(), 'baton-sync-'));
  try {
    const present = componentNames.filter((name) => scan.dirs.includes(name));
    // Under UPLOAD_OUTPUTS_ONLY components are not zipped, only reported as skipped.
    const zips = context.outputsOnly
      ? new Map<string, BuiltComponentZip>()
      : await buildComponentZips(scan, present, work, context);
    const componentZips = context.outputsOnly
      ? present.map((name) => ({ path: name, size: 0 }))
      : [...zips.values()].map((z) => z.file);
    const localFiles: SyncFile[] = scan.files.map((f) => ({ path: f.path, size: f.size }));
    const zipsInLakeTerms = componentZips.map((z) => ({ ...z, path: componentZipName(z.path) }));
    await fillMd5s(deps.lake, prefix, context, [...localFiles, ...zipsInLakeTerms], remote);

    const stamp = syncStamp(deps.clock.now());
    const plan = planSyncUpload({
      local: localFiles,
      componentZips,
      remote,
      componentNames,
      outputsOnly: context.outputsOnly,
      stamp,
      runRecords: context.runRecords,
    });
    const summary = startSummary('upload', context, prefix, plan, scan.skipped);
    if (context.dryRun) return summary;

    const executor = new UploadExecutor(deps.lake, context, prefix, zips, work, summary);
    const uploads = plan.steps.filter((s): s is UploadStep => s.op === 'upload');
    // Configs (the state file among them) go last: a reader who sees the new state in the lake
    // also sees the outputs and components it describes.
    const first = uploads.filter((s) => s.kind !== 'config');
    const last = uploads.filter((s) => s.kind === 'config');
    const progress = new ProgressCounter(uploads, context.report);
    await runLimited(first, context.concurrency, async (step) => {
      progress.finished(step, await executor.run(step));
    });
    await runLimited(last, context.concurrency, async (step) => {
      progress.finished(step, await executor.run(step));
    });
    summary.bytes = progress.bytesDone;
    return summary;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

interface BuiltComponentZip {
  file: SyncFile;
  localPath: string;
}

async function buildComponentZips(
  scan: LocalScan,
  present: readonly string[],
  work: string,
  context: Context,
): Promise<Map<string, BuiltComponentZip>> {
  const zips = new Map<string, BuiltComponentZip>();
  // Zipping is CPU and disk bound: fewer at once than network transfers.
  await runLimited(present, Math.min(4, context.concurrency), async (component) => {
    context.report(preparing(`zipping ${component}/`));
    const inside = `${component}/`;
    const entries: ZipSourceEntry[] = [
      ...scan.dirs
        .filter((d) => d.startsWith(inside))
        .map((d) => ({ path: d.slice(inside.length), isDirectory: true, mode: 0o755 })),
      ...scan.files
        .filter((f) => f.path.startsWith(inside))
        .map((f) => ({ path: f.path.slice(inside.length), isDirectory: false, mode: f.mode })),
    ];
    const localPath = path.join(work, componentZipName(component));
    const built = await writeDeterministicZip(
      path.join(context.localFolder, component),
      entries,
      localPath,
    );
    zips.set(component, { file: { path: component, size: built.size, md5: built.md5 }, localPath });
  });
  return zips;
}

type StepOutcome = 'transferred' | 'unchanged';

/** Carries out upload steps, turning races (a path that appeared since the listing) into conflict copies. */
class UploadExecutor {
  constructor(
    private readonly lake: Lake,
    private readonly context: Context,
    private readonly prefix: string,
    private readonly zips: Map<string, BuiltComponentZip>,
    private readonly work: string,
    private readonly summary: TransferSummary,
  ) {}

  async run(step: UploadStep): Promise<StepOutcome> {
    const target = `${this.prefix}/${step.to}`;
    if (step.kind === 'component') {
      const zip = this.zips.get(step.from);
      if (zip === undefined) throw new BatonError('internal', `no zip built for ${step.from}`);
      await this.lake.uploadFile(zip.localPath, target);
      return this.transferred();
    }
    const source = localPathOf(this.context.localFolder, step.from);
    const known = {
      deferDurability: true,
      ...(step.md5 === undefined ? {} : { md5: step.md5 }),
    };
    if (step.mode === 'replace') {
      if (step.preserveRemoteAt !== undefined)
        await this.preserveRemote(step.to, step.preserveRemoteAt);
      await this.lake.uploadFile(source, target, known);
      return this.transferred();
    }
    try {
      await this.lake.uploadFile(source, target, { createOnly: true, ...known });
      return this.transferred();
    } catch (error) {
      if (!isBatonError(error, 'conflict') || step.to !== step.from) throw error;
    }
    // Someone created the path after our listing: compare, then resolve as the plan would have.
    const [there, ours] = await Promise.all([this.lake.stat(target), hashFile(source)]);
    if (there?.md5 !== undefined && there.md5 === ours.md5 && there.size === ours.size) {
      return this.unchanged();
    }
    if (step.kind === 'config') {
      await this.preserveRemote(step.to, step.conflictPath);
      await this.lake.uploadFile(source, target);
      this.summary.conflicts.push(configConflict(step.from, step.conflictPath));
      return this.transferred();
    }
    await this.lake.uploadFile(source, `${this.prefix}/${step.conflictPath}`, { createOnly: true });
    this.summary.conflicts.push(outputConflict(step.from, step.kind, step.conflictPath));
    return this.transferred();
  }

  /** Copies the lake's file at `from` to `to` (both below the prefix), create-only. */
  private async preserveRemote(from: string, to: string): Promise<void> {
    const temp = path.join(this.work, `preserve-${randomUUID()}`);
    try {
      await this.lake.downloadFile(`${this.prefix}/${from}`, temp);
    } catch (error) {
      if (isBatonError(error, 'not_found')) return; // gone meanwhile: nothing to keep
      throw error;
    }
    try {
      await this.lake.uploadFile(temp, `${this.prefix}/${to}`, { createOnly: true });
    } finally {
      await rm(temp, { force: true });
    }
  }

  private transferred(): StepOutcome {
    this.summary.uploaded += 1;
    return 'transferred';
  }

  private unchanged(): StepOutcome {
    this.summary.unchanged += 1;
    return 'unchanged';
  }
}

// ---------------------------------------------------------------------------------------------
// Download

async function downloadDatabank(
  deps: DatabankSyncDeps,
  context: Context,
): Promise<TransferSummary> {
  const folderState = await localFolderState(context.localFolder);
  const localConfig = folderState === 'missing' ? undefined : await readLocalConfig(context);
  const prefix = lakePrefixOf(context, localConfig);
  context.report(preparing(`listing ${prefix}/ in the lake`));
  const remote = await listRemote(deps.lake, prefix);
  if (remote.length === 0) {
    throw new BatonError(
      'not_found',
      `databank: the lake has no databank "${context.databank}" at ${prefix}/`,
      { field: 'databank' },
    );
  }
  context.report(preparing(`scanning ${context.localFolder}`));
  const scan = folderState === 'missing' ? emptyScan() : await scanLocalFolder(context.localFolder);
  const localEmpty = scan.files.length === 0 && scan.dirs.length === 0 && scan.visibleOther === 0;
  // Component names only matter for a first download (which unpacks `<step>.zip`); an empty
  // databank has no config yet, so the lake's tells them.
  const config = localEmpty
    ? (localConfig ?? (await readLakeConfig(deps.lake, prefix, context.configName)))
    : localConfig;
  const componentNames = config === undefined ? [] : Object.keys(config.sub_components);
  // Local conflict copies take part, so that a copy already kept is not downloaded again.
  const localFiles: SyncFile[] = [...scan.files, ...scan.conflictCopies].map((f) => ({
    path: f.path,
    size: f.size,
  }));
  await fillMd5s(deps.lake, prefix, context, localFiles, remote);

  const plan = planSyncDownload({
    local: localFiles,
    localEmpty,
    remote,
    componentNames,
    stamp: syncStamp(deps.clock.now()),
  });
  const summary = startSummary('download', context, prefix, plan, []);
  summary.scope = localEmpty ? 'everything' : 'newOutputs';
  if (context.dryRun) return summary;

  const downloads = plan.steps.filter((s): s is DownloadStep => s.op === 'download');
  const progress = new ProgressCounter(downloads, context.report);
  const createdFolder = folderState === 'missing';
  await mkdir(context.localFolder, { recursive: true });
  // A first download is staged in a hidden folder and moved in at the end: all or nothing.
  const staging = localEmpty
    ? path.join(context.localFolder, `${lakeTempPrefix}download-${randomUUID()}`)
    : undefined;
  const root = staging ?? context.localFolder;
  try {
    if (staging !== undefined) await mkdir(staging);
    await runLimited(downloads, context.concurrency, async (step) => {
      progress.finished(
        step,
        await downloadStep(deps.lake, prefix, root, step, summary, context.localWrites),
      );
    });
    if (staging !== undefined) {
      // Flushed where they are (a move keeps the same files), then the databank's folder,
      // whose new entries the move made.
      await context.localWrites.flush();
      await moveStagedIntoPlace(staging, context.localFolder);
      context.localWrites.add(context.localFolder);
    }
  } catch (error) {
    if (staging !== undefined) await rm(staging, { recursive: true, force: true });
    if (createdFolder) await rmdir(context.localFolder).catch(() => undefined);
    throw error;
  }
  if (staging !== undefined) await rm(staging, { recursive: true, force: true });
  summary.bytes = progress.bytesDone;
  return summary;
}

async function downloadStep(
  lake: Lake,
  prefix: string,
  root: string,
  step: DownloadStep,
  summary: TransferSummary,
  localWrites: PendingFlush,
): Promise<StepOutcome> {
  const source = `${prefix}/${step.from}`;
  if (step.unzipInto !== undefined) {
    const zipTemp = path.join(root, `${lakeTempPrefix}zip-${randomUUID()}`);
    const folderTemp = path.join(root, `${lakeTempPrefix}unzip-${randomUUID()}`);
    try {
      await lake.downloadFile(source, zipTemp);
      await extractZip(zipTemp, folderTemp, step.from);
      const unzipped = localPathOf(root, step.unzipInto);
      await rename(folderTemp, unzipped);
      for (const file of await filesUnder(unzipped)) localWrites.add(file);
    } finally {
      await rm(zipTemp, { force: true });
      await rm(folderTemp, { recursive: true, force: true });
    }
    summary.downloaded += 1;
    summary.unzipped += 1;
    return 'transferred';
  }
  const target = localPathOf(root, step.to);
  await assertPlainFolders(root, path.dirname(target));
  await mkdir(path.dirname(target), { recursive: true });
  const temp = path.join(path.dirname(target), `${lakeTempPrefix}${randomUUID()}`);
  try {
    // Flushed with the rest when the sync ends, under the name it is placed at.
    const fetched = await lake.downloadFile(source, temp, { deferDurability: true });
    if (await placeWithoutReplacing(temp, target)) {
      localWrites.add(target);
      summary.downloaded += 1;
      return 'transferred';
    }
    // A local file appeared at the path since the scan: never replace it.
    const here = await hashFile(target);
    if (fetched.md5 !== undefined && here.md5 === fetched.md5 && here.size === fetched.size) {
      summary.unchanged += 1;
      return 'unchanged';
    }
    const keptAt = localPathOf(root, step.conflictPath);
    await assertPlainFolders(root, path.dirname(keptAt));
    await mkdir(path.dirname(keptAt), { recursive: true });
    if (!(await placeWithoutReplacing(temp, keptAt))) {
      throw new BatonError('conflict', `${step.conflictPath} already exists locally`);
    }
    localWrites.add(keptAt);
    summary.downloaded += 1;
    summary.conflicts.push(downloadConflict(step.from, step.kind, step.conflictPath));
    return 'transferred';
  } finally {
    await rm(temp, { force: true });
  }
}

/** Every file and folder below `folder` (absolute paths), for the flush at the sync's end. */
async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return [folder, ...entries.map((e) => path.join(e.parentPath, e.name))];
}

/** Moves each top-level entry of the staging folder into the databank, refusing to replace any. */
async function moveStagedIntoPlace(staging: string, databank: string): Promise<void> {
  for (const name of (await readdir(staging)).sort(comparePaths)) {
    const target = path.join(databank, name);
    if ((await lstatOrUndefined(target)) !== undefined) {
      throw new BatonError(
        'conflict',
        `databank: ${name} appeared in ${databank} during the download; nothing was moved over it`,
        { field: 'databank' },
      );
    }
    await rename(path.join(staging, name), target);
  }
}

/**
 * Links `temp` to `target` unless something is there (a hard link never replaces), then drops
 * `temp`. Where hard links are not supported, checks and renames instead.
 */
async function placeWithoutReplacing(temp: string, target: string): Promise<boolean> {
  try {
    await link(temp, target);
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV') throw error;
    if ((await lstatOrUndefined(target)) !== undefined) return false;
    await rename(temp, target);
    return true;
  }
  await unlink(temp);
  return true;
}

/** Refuses to write below `folder` if any folder between `root` and it is a symlink or a file. */
async function assertPlainFolders(root: string, folder: string): Promise<void> {
  const relative = path.relative(root, folder);
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new BatonError('internal', `${folder} is outside ${root}`);
  }
  let current = root;
  for (const part of relative === '' ? [] : relative.split(path.sep)) {
    current = path.join(current, part);
    const info = await lstatOrUndefined(current);
    if (info === undefined) return;
    if (info.isSymbolicLink()) {
      throw new BatonError(
        'forbidden',
        `${path.relative(root, current)} in the databank is a symbolic link; sync does not write through it`,
      );
    }
    if (!info.isDirectory()) {
      throw new BatonError(
        'conflict',
        `${path.relative(root, current)} in the databank is a file, not a folder`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// List

async function listDatabank(deps: DatabankSyncDeps, context: Context): Promise<ListSummary> {
  const localConfig =
    (await localFolderState(context.localFolder)) === 'missing'
      ? undefined
      : await readLocalConfig(context);
  const prefix = lakePrefixOf(context, localConfig);
  const entries = await deps.lake.list(prefix, { recursive: true });
  const files = entries.filter((e) => !e.isDirectory);
  if (files.length === 0) {
    throw new BatonError(
      'not_found',
      `databank: the lake has no databank "${context.databank}" at ${prefix}/`,
      { field: 'databank' },
    );
  }
  const config = (await readLakeConfig(deps.lake, prefix, context.configName)) ?? localConfig;
  const componentNames = config === undefined ? [] : Object.keys(config.sub_components);
  const listed: ListedEntry[] = files.map((e) => ({
    path: e.path.slice(prefix.length + 1),
    kind: classifyLakePath(e.path.slice(prefix.length + 1), componentNames),
    size: e.size,
    md5: e.md5,
    lastModified: e.lastModified,
  }));
  // Listings may not carry MD5s (ADLS's do not): ask for each file.
  await runLimited(
    listed.filter((e) => e.md5 === undefined),
    context.concurrency,
    async (entry) => {
      entry.md5 = (await deps.lake.stat(`${prefix}/${entry.path}`))?.md5;
    },
  );
  return {
    action: 'list',
    databank: context.databank,
    lakePrefix: prefix,
    files: listed.length,
    bytes: listed.reduce((sum, e) => sum + e.size, 0),
    ms: 0,
    entries: listed,
  };
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

function startSummary(
  action: 'upload' | 'download',
  context: Context,
  prefix: string,
  plan: SyncPlan,
  localSkips: readonly LocalSkip[],
): TransferSummary {
  const skippedByReason: Partial<Record<SkipReason, number>> = {};
  let unchanged = 0;
  let skipped = 0;
  const skipSteps: SyncStep[] = localSkips.map((s) => ({
    op: 'skip',
    kind: s.kind,
    path: s.path,
    reason: s.reason,
  }));
  for (const step of [...plan.steps, ...skipSteps]) {
    if (step.op !== 'skip') continue;
    if (step.reason === 'unchanged') unchanged += 1;
    else {
      skipped += 1;
      skippedByReason[step.reason] = (skippedByReason[step.reason] ?? 0) + 1;
    }
  }
  const transfers = plan.steps.filter((s): s is UploadStep | DownloadStep => s.op !== 'skip');
  const summary: TransferSummary = {
    action,
    databank: context.databank,
    localFolder: context.localFolder,
    lakePrefix: prefix,
    dryRun: context.dryRun,
    outputsOnly: context.outputsOnly,
    uploaded: 0,
    downloaded: 0,
    unzipped: 0,
    unchanged,
    skipped,
    skippedByReason,
    conflicts: [...plan.conflicts],
    bytes: 0,
    ms: 0,
  };
  if (context.dryRun) {
    summary.uploaded = transfers.filter((s) => s.op === 'upload').length;
    summary.downloaded = transfers.filter((s) => s.op === 'download').length;
    summary.unzipped = transfers.filter(
      (s) => s.op === 'download' && s.unzipInto !== undefined,
    ).length;
    summary.bytes = transfers.reduce((sum, s) => sum + s.size, 0);
    summary.plan = [...plan.steps, ...skipSteps];
  }
  return summary;
}

/** Counts finished transfers and reports each one. */
class ProgressCounter {
  done = 0;
  bytesDone = 0;
  private readonly total: number;
  private readonly bytesTotal: number;

  constructor(
    steps: ReadonlyArray<UploadStep | DownloadStep>,
    private readonly report: ProgressListener,
  ) {
    this.total = steps.length;
    this.bytesTotal = steps.reduce((sum, s) => sum + s.size, 0);
  }

  finished(step: UploadStep | DownloadStep, outcome: StepOutcome): void {
    this.done += 1;
    if (outcome === 'transferred') this.bytesDone += step.size;
    const verb =
      outcome === 'unchanged' ? 'unchanged' : step.op === 'upload' ? 'uploaded' : 'downloaded';
    this.report({
      phase: 'transfer',
      done: this.done,
      total: this.total,
      bytesDone: this.bytesDone,
      bytesTotal: this.bytesTotal,
      message: `${verb} ${step.from} → ${step.to}`,
    });
  }
}

function preparing(message: string): SyncProgress {
  return { phase: 'prepare', done: 0, total: 0, bytesDone: 0, bytesTotal: 0, message };
}

function localPathOf(root: string, relative: string): string {
  return path.join(root, ...relative.split('/'));
}

async function localFolderState(folder: string): Promise<'missing' | 'folder'> {
  const info = await lstatOrUndefined(folder);
  if (info === undefined) return 'missing';
  // The databank folder itself may be a symlink (someone's layout); what is inside may not.
  const resolved = info.isSymbolicLink() ? await statOrUndefined(folder) : info;
  if (resolved?.isDirectory() !== true) {
    throw new BatonError('validation', `databank: ${folder} is not a folder`, {
      field: 'databank',
    });
  }
  return 'folder';
}

/** The databank's config, parsed; undefined when the file is absent. */
async function readLocalConfig(context: Context): Promise<ModelConfig | undefined> {
  const file = path.join(context.localFolder, context.configName);
  const info = await lstatOrUndefined(file);
  if (info === undefined) return undefined;
  if (!info.isFile()) {
    throw new BatonError(
      'validation',
      `config: ${context.configName} in databank "${context.databank}" is not a regular file`,
      { field: 'config' },
    );
  }
  return parseModelConfig(await readFile(file, 'utf8'), context.configName).config;
}

async function readLakeConfig(
  lake: Lake,
  prefix: string,
  configName: string,
): Promise<ModelConfig | undefined> {
  let text: string;
  try {
    text = (await lake.read(`${prefix}/${configName}`)).toString('utf8');
  } catch (error) {
    if (isBatonError(error, 'not_found')) return undefined;
    throw error;
  }
  return parseModelConfig(text, `${prefix}/${configName}`).config;
}

async function listRemote(lake: Lake, prefix: string): Promise<SyncFile[]> {
  const entries = await lake.list(prefix, { recursive: true });
  return entries
    .filter((e) => !e.isDirectory)
    .map((e) => ({ path: e.path.slice(prefix.length + 1), size: e.size, md5: e.md5 }));
}

/**
 * Fills in the MD5s the plan needs (`pathsToHash`): local files are read, lake files stat'ed
 * (listings may not carry MD5s; ADLS's do not). Entries that already have one keep it.
 */
async function fillMd5s(
  lake: Lake,
  prefix: string,
  context: Context,
  local: SyncFile[],
  remote: SyncFile[],
): Promise<void> {
  const need = pathsToHash(local, remote);
  const localWork = local.filter((f) => need.local.has(f.path) && f.md5 === undefined);
  const remoteWork = remote.filter((f) => need.remote.has(f.path) && f.md5 === undefined);
  context.report(
    preparing(`comparing content: ${localWork.length} local, ${remoteWork.length} lake file(s)`),
  );
  await runLimited(localWork, context.concurrency, async (file) => {
    file.md5 = (await hashFile(localPathOf(context.localFolder, file.path))).md5;
  });
  await runLimited(remoteWork, context.concurrency, async (file) => {
    file.md5 = (await lake.stat(`${prefix}/${file.path}`))?.md5;
  });
}

async function hashFile(file: string): Promise<{ md5: string; size: number }> {
  const hash = createHash('md5');
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    const bytes = chunk as Buffer;
    hash.update(bytes);
    size += bytes.length;
  }
  return { md5: hash.digest('hex'), size };
}

interface LocalFile {
  path: string;
  size: number;
  mode: number;
}

interface LocalSkip {
  path: string;
  kind: DatabankFileKind;
  reason: SkipReason;
}

interface LocalScan {
  files: LocalFile[];
  /** Visible folders, databank-relative. */
  dirs: string[];
  /** Entries not read: hidden ones, symlinks, special files. */
  skipped: LocalSkip[];
  /** Visible entries that are neither files nor folders (a symlink, a socket): the databank is not empty. */
  visibleOther: number;
  /** Files in the local `.cloud_sync_conflict/` (not counted as content of the databank). */
  conflictCopies: LocalFile[];
}

function emptyScan(): LocalScan {
  return { files: [], dirs: [], skipped: [], visibleOther: 0, conflictCopies: [] };
}

/**
 * Lists a databank folder without following anything: hidden entries are not entered (the
 * conflict folder is listed on its own), symlinks and special files are reported and left alone.
 */
async function scanLocalFolder(root: string): Promise<LocalScan> {
  const scan = emptyScan();
  await walkPlain(root, '', (entry) => {
    const topLevelFile = !entry.rel.includes('/') && entry.type !== 'directory';
    const kind: DatabankFileKind = topLevelFile ? 'config' : 'other';
    if (entry.rel === conflictFolder) {
      scan.skipped.push({ path: entry.rel, kind: 'conflict', reason: 'conflictCopy' });
      return false;
    }
    if (entry.name.startsWith('.')) {
      scan.skipped.push({ path: entry.rel, kind, reason: 'hidden' });
      return false;
    }
    if (entry.type === 'directory') scan.dirs.push(entry.rel);
    else if (entry.type === 'file') scan.files.push(entry.file);
    else {
      scan.skipped.push({ path: entry.rel, kind, reason: entry.type });
      scan.visibleOther += 1;
    }
    return true;
  });
  const conflicts = await lstatOrUndefined(path.join(root, conflictFolder));
  if (conflicts?.isDirectory() === true) {
    await walkPlain(root, conflictFolder, (entry) => {
      if (entry.type === 'file') scan.conflictCopies.push(entry.file);
      return entry.type === 'directory';
    });
  }
  scan.files.sort((a, b) => comparePaths(a.path, b.path));
  scan.dirs.sort(comparePaths);
  scan.skipped.sort((a, b) => comparePaths(a.path, b.path));
  return scan;
}

type WalkEntry = { name: string; rel: string } & (
  | { type: 'file'; file: LocalFile }
  | { type: 'directory' }
  | { type: 'symlink' }
  | { type: 'special' }
);

/**
 * Visits what is below `root/rel` (never through a symlink); `visit` returns whether to enter a
 * folder. Our own temp files (`.baton-tmp-*`) are not visited.
 */
async function walkPlain(
  root: string,
  rel: string,
  visit: (entry: WalkEntry) => boolean,
): Promise<void> {
  const dirents = await readdir(rel === '' ? root : localPathOf(root, rel), {
    withFileTypes: true,
  });
  await Promise.all(
    dirents.map(async (dirent) => {
      if (dirent.name.startsWith(lakeTempPrefix)) return;
      const name = dirent.name;
      const childRel = rel === '' ? name : `${rel}/${name}`;
      if (dirent.isSymbolicLink()) {
        visit({ name, rel: childRel, type: 'symlink' });
      } else if (dirent.isDirectory()) {
        if (visit({ name, rel: childRel, type: 'directory' })) {
          await walkPlain(root, childRel, visit);
        }
      } else if (!dirent.isFile()) {
        visit({ name, rel: childRel, type: 'special' });
      } else {
        const info = await lstatOrUndefined(localPathOf(root, childRel));
        if (info?.isFile() !== true) return; // gone, or replaced since readdir
        const file = { path: childRel, size: info.size, mode: info.mode };
        visit({ name, rel: childRel, type: 'file', file });
      }
    }),
  );
}

async function lstatOrUndefined(file: string): Promise<Stats | undefined> {
  try {
    return await lstat(file);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return undefined;
    throw error;
  }
}

async function statOrUndefined(file: string): Promise<Stats | undefined> {
  try {
    return await stat(file);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return undefined;
    throw error;
  }
}
