import { BatonError } from './errors.js';
import { classifyDatabankPath, conflictFolder, type DatabankFileKind } from './databankLayout.js';

/**
 * Planning of databank cloud sync (the seed's `adls_sync`): which files go up or come down,
 * which are left alone and why, and where a copy goes when the two sides disagree. Pure: the
 * caller lists both sides (with MD5s where a path exists on both) and executes the plan.
 *
 * The rules, per kind of path (see `classifyDatabankPath`):
 *
 * | kind | upload | download into an empty databank |
 * | --- | --- | --- |
 * | config (top-level file) | same MD5: skip; absent: create; different: the lake copy is kept at `.cloud_sync_conflict/<name>.<stamp>`, then ours replaces it | downloaded |
 * | component (`<step>/…`) | zipped as `<step>.zip`; replaced only when the zip's MD5 differs | `<step>.zip` unzipped into `<step>/` |
 * | output, performance, error dump | create-only; same MD5: skip; different: ours goes to `.cloud_sync_conflict/<path>.<stamp>` in the lake and the lake copy stays | downloaded |
 * | input, other folders, hidden, conflict copies | not synced | not synced |
 *
 * Into a databank that already has files, only outputs come down: new ones to their path, ones
 * that differ locally to the local `.cloud_sync_conflict/<path>.<stamp>`. Nothing is ever
 * deleted, and no file is replaced except a config (after its lake copy was kept) and a
 * component zip (which is rebuilt from the folder that is the source of truth).
 *
 * Content is compared by MD5, never by name or size alone: a path whose MD5 is unknown on
 * either side counts as different, so the worst case is an extra conflict copy, never a loss.
 */

/** A file on either side, by databank-relative POSIX path. `md5` is hex, when known. */
export interface SyncFile {
  path: string;
  size: number;
  md5?: string | undefined;
}

export type SkipReason =
  | 'unchanged'
  | 'alreadyKept'
  | 'hidden'
  | 'symlink'
  | 'special'
  | 'input'
  | 'notSynced'
  | 'conflictCopy'
  | 'componentFile'
  | 'reservedName'
  | 'outputsOnly'
  | 'existingDatabank';

/** What each skip reason means, for people. */
export const skipReasonText: Record<SkipReason, string> = {
  unchanged: 'same content on both sides (MD5)',
  alreadyKept:
    'differs from the other side, which already keeps this content in .cloud_sync_conflict',
  hidden: 'hidden files are not synced',
  symlink: 'symbolic links are not followed',
  special: 'not a regular file',
  input: 'inputs come from input_data and are not uploaded',
  notSynced: 'not a databank folder that sync carries (config, outputs, components, …)',
  conflictCopy: 'conflict copies stay on the side that made them',
  componentFile: 'component files travel inside <step>.zip',
  reservedName: 'a top-level file named like a component zip would be taken for it',
  outputsOnly: 'UPLOAD_OUTPUTS_ONLY: only outputs and config files are uploaded',
  existingDatabank: 'the local databank exists: only new output files are downloaded',
};

export interface UploadStep {
  op: 'upload';
  kind: DatabankFileKind;
  /** Databank-relative local file; for a component, its folder (the zip is built from it). */
  from: string;
  /** Path below the databank's lake prefix. */
  to: string;
  size: number;
  /** The local file's MD5 when known (hashed to compare): the lake need not hash it again. */
  md5?: string;
  /** `createOnly` never replaces a lake file; `replace` does (configs and component zips). */
  mode: 'createOnly' | 'replace';
  /** Configs: keep the lake copy here before ours replaces it. */
  preserveRemoteAt?: string;
  /**
   * Where this file's copy goes if a create-only upload finds that someone else created the
   * path since it was listed, with other content.
   */
  conflictPath: string;
}

export interface DownloadStep {
  op: 'download';
  kind: DatabankFileKind;
  /** Path below the databank's lake prefix. */
  from: string;
  /** Databank-relative local path (a temp name for a component zip). */
  to: string;
  size: number;
  /** Components: the folder the zip is unpacked into (the zip itself is not kept). */
  unzipInto?: string;
  /** Where the file goes if a local file appeared at `to` since the plan, with other content. */
  conflictPath: string;
}

export interface SkipStep {
  op: 'skip';
  kind: DatabankFileKind | 'component';
  /** Databank-relative path (local or lake side). */
  path: string;
  reason: SkipReason;
}

export type SyncStep = UploadStep | DownloadStep | SkipStep;

/** A path on which the two sides disagreed, and where the copy that did not win was kept. */
export interface SyncConflict {
  path: string;
  kind: DatabankFileKind;
  /** Which side holds `keptAt`. */
  side: 'lake' | 'local';
  /** Databank-relative path of the kept copy on `side`. */
  keptAt: string;
  resolution: string;
}

export interface SyncPlan {
  steps: SyncStep[];
  conflicts: SyncConflict[];
}

/** `2025-01-15T10:30:00.123Z` → `20250115T103000.123Z`: sortable, no `:` (not allowed on Windows). */
export function syncStamp(instant: Date): string {
  return instant.toISOString().replace(/[-:]/g, '');
}

/** `.cloud_sync_conflict/<path>.<stamp>`: the seed's conflict folder, with the path kept. */
export function conflictCopyPath(relativePath: string, stamp: string): string {
  return `${conflictFolder}/${relativePath}.${stamp}`;
}

/** The path a conflict copy was kept for (`conflictCopyPath` backwards), or undefined. */
export function conflictCopyOriginal(relativePath: string): string | undefined {
  const folder = `${conflictFolder}/`;
  if (!relativePath.startsWith(folder)) return undefined;
  return /^(.+)\.\d{8}T\d{6}(?:\.\d{3})?Z$/.exec(relativePath.slice(folder.length))?.[1];
}

/** Conflict copies among `files`, by the path they were kept for. */
function keptCopiesByOriginal(files: readonly SyncFile[]): Map<string, SyncFile[]> {
  const copies = new Map<string, SyncFile[]>();
  for (const file of files) {
    const original = conflictCopyOriginal(file.path);
    if (original !== undefined) copies.set(original, [...(copies.get(original) ?? []), file]);
  }
  return copies;
}

/** The lake name of a component's zip. */
export function componentZipName(component: string): string {
  return `${component}.zip`;
}

/** `UPLOAD_OUTPUTS_ONLY`: true/1/yes or false/0/no (any case); unset or empty is false. */
export function parseUploadOutputsOnly(value: string | undefined): boolean {
  const text = (value ?? '').trim().toLowerCase();
  if (text === '' || text === 'false' || text === '0' || text === 'no') return false;
  if (text === 'true' || text === '1' || text === 'yes') return true;
  throw new BatonError(
    'validation',
    `UPLOAD_OUTPUTS_ONLY: expected true, false, 1, 0, yes or no, got "${value ?? ''}"`,
    { field: 'UPLOAD_OUTPUTS_ONLY' },
  );
}

/** True when a segment of the path starts with `.` (the conflict folder among them). */
export function isHiddenPath(relativePath: string): boolean {
  return relativePath.split('/').some((segment) => segment.startsWith('.'));
}

/**
 * The kind of a path below a databank's lake prefix: as `classifyDatabankPath`, except that a
 * top-level `<step>.zip` of a known component is that component.
 */
export function classifyLakePath(
  relativePath: string,
  componentNames: readonly string[],
): DatabankFileKind {
  if (!relativePath.includes('/') && relativePath.endsWith('.zip')) {
    if (componentNames.includes(relativePath.slice(0, -'.zip'.length))) return 'component';
  }
  return classifyDatabankPath(relativePath, componentNames);
}

/**
 * The paths whose MD5s a plan needs, per side: those on both sides, and where one side holds
 * conflict copies of a path of the other side with the same size, the copies and that path (a
 * copy whose content is already kept is not made again). Hashing nothing else keeps a sync of
 * many new files from reading each of them twice.
 */
export function pathsToHash(
  local: readonly SyncFile[],
  remote: readonly SyncFile[],
): { local: Set<string>; remote: Set<string> } {
  const need = { local: new Set<string>(), remote: new Set<string>() };
  const remotePaths = new Set(remote.map((f) => f.path));
  for (const file of local) {
    if (remotePaths.has(file.path)) {
      need.local.add(file.path);
      need.remote.add(file.path);
    }
  }
  const pairCopies = (
    originals: readonly SyncFile[],
    copies: Map<string, SyncFile[]>,
    originalSide: Set<string>,
    copySide: Set<string>,
  ): void => {
    for (const file of originals) {
      for (const copy of copies.get(file.path) ?? []) {
        if (copy.size !== file.size) continue;
        originalSide.add(file.path);
        copySide.add(copy.path);
      }
    }
  };
  pairCopies(local, keptCopiesByOriginal(remote), need.local, need.remote);
  pairCopies(remote, keptCopiesByOriginal(local), need.remote, need.local);
  return need;
}

/** Equal only when both MD5s are known and match (sizes first: a cheap proof of difference). */
export function sameContent(a: SyncFile, b: SyncFile): boolean {
  if (a.size !== b.size) return false;
  return a.md5 !== undefined && b.md5 !== undefined && a.md5 === b.md5;
}

export interface UploadPlanInput {
  /** Local files (databank-relative), component folders' files included. */
  local: readonly SyncFile[];
  /** One zip per component folder present locally: `path` is the component name. */
  componentZips: readonly SyncFile[];
  /** Lake files below the databank prefix. */
  remote: readonly SyncFile[];
  componentNames: readonly string[];
  /** `UPLOAD_OUTPUTS_ONLY`: only outputs and config files. */
  outputsOnly: boolean;
  /** `syncStamp` of this sync, for conflict copy names. */
  stamp: string;
  /**
   * Top-level files the model run itself rewrites after every step (the state file, the
   * orchestrator log): they mirror this databank's run, so the lake's copy is replaced without a
   * conflict copy, or every step of a cloud run would leave two.
   */
  runRecords?: readonly string[];
}

/** The upload half of `adls_sync` (rules in the module comment). Steps are sorted by path. */
export function planSyncUpload(input: UploadPlanInput): SyncPlan {
  const remote = new Map(input.remote.map((file) => [file.path, file]));
  const keptInLake = keptCopiesByOriginal(input.remote);
  const reservedZips = new Set(input.componentNames.map(componentZipName));
  const steps: SyncStep[] = [];
  const conflicts: SyncConflict[] = [];

  for (const file of sortByPath(input.local)) {
    const kind = classifyDatabankPath(file.path, input.componentNames);
    const skip = (reason: SkipReason): void => {
      steps.push({ op: 'skip', kind, path: file.path, reason });
    };
    if (kind === 'conflict') skip('conflictCopy');
    else if (isHiddenPath(file.path)) skip('hidden');
    else if (kind === 'component')
      continue; // carried by the component's zip
    else if (kind === 'input') skip('input');
    else if (kind === 'other') skip('notSynced');
    else if (kind === 'config' && reservedZips.has(file.path)) skip('reservedName');
    else if (input.outputsOnly && kind !== 'output' && kind !== 'config') skip('outputsOnly');
    else {
      const conflictPath = conflictCopyPath(file.path, input.stamp);
      const there = remote.get(file.path);
      const base = {
        op: 'upload',
        kind,
        from: file.path,
        size: file.size,
        conflictPath,
        ...(file.md5 === undefined ? {} : { md5: file.md5 }),
      } as const;
      if (there !== undefined && sameContent(file, there)) skip('unchanged');
      else if (kind === 'config' && there !== undefined && input.runRecords?.includes(file.path)) {
        steps.push({ ...base, to: file.path, mode: 'replace' });
      } else if (kind === 'config') {
        if (there === undefined) steps.push({ ...base, to: file.path, mode: 'createOnly' });
        else {
          steps.push({ ...base, to: file.path, mode: 'replace', preserveRemoteAt: conflictPath });
          conflicts.push(configConflict(file.path, conflictPath));
        }
      } else if (there === undefined) {
        steps.push({ ...base, to: file.path, mode: 'createOnly' });
      } else if (alreadyKept(file, keptInLake)) {
        skip('alreadyKept');
      } else {
        steps.push({ ...base, to: conflictPath, mode: 'createOnly' });
        conflicts.push(outputConflict(file.path, kind, conflictPath));
      }
    }
  }

  for (const zip of sortByPath(input.componentZips)) {
    const to = componentZipName(zip.path);
    if (input.outputsOnly) {
      steps.push({ op: 'skip', kind: 'component', path: to, reason: 'outputsOnly' });
      continue;
    }
    const there = remote.get(to);
    if (there !== undefined && sameContent(zip, there)) {
      steps.push({ op: 'skip', kind: 'component', path: to, reason: 'unchanged' });
    } else {
      steps.push({
        op: 'upload',
        kind: 'component',
        from: zip.path,
        to,
        size: zip.size,
        mode: 'replace',
        conflictPath: conflictCopyPath(to, input.stamp),
      });
    }
  }
  return { steps: sortSteps(steps), conflicts };
}

export interface DownloadPlanInput {
  /** Visible local files (databank-relative). */
  local: readonly SyncFile[];
  /** The local databank is missing or has nothing visible in it: everything comes down. */
  localEmpty: boolean;
  remote: readonly SyncFile[];
  componentNames: readonly string[];
  stamp: string;
}

/** The download half of `adls_sync` (rules in the module comment). Steps are sorted by path. */
export function planSyncDownload(input: DownloadPlanInput): SyncPlan {
  const local = new Map(input.local.map((file) => [file.path, file]));
  const keptLocally = keptCopiesByOriginal(input.local);
  const steps: SyncStep[] = [];
  const conflicts: SyncConflict[] = [];
  const componentZips = new Map(input.componentNames.map((c) => [componentZipName(c), c]));

  for (const file of sortByPath(input.remote)) {
    const kind = classifyLakePath(file.path, input.componentNames);
    const skip = (reason: SkipReason): void => {
      steps.push({ op: 'skip', kind, path: file.path, reason });
    };
    const conflictPath = conflictCopyPath(file.path, input.stamp);
    const download = { op: 'download', kind, from: file.path, size: file.size } as const;
    if (kind === 'conflict') skip('conflictCopy');
    else if (isHiddenPath(file.path)) skip('hidden');
    else if (!input.localEmpty) {
      if (kind !== 'output') skip('existingDatabank');
      else {
        const here = local.get(file.path);
        if (here === undefined) steps.push({ ...download, to: file.path, conflictPath });
        else if (sameContent(file, here)) skip('unchanged');
        else if (alreadyKept(file, keptLocally)) skip('alreadyKept');
        else {
          steps.push({ ...download, to: conflictPath, conflictPath });
          conflicts.push(downloadConflict(file.path, kind, conflictPath));
        }
      }
    } else if (kind === 'component') {
      const component = componentZips.get(file.path);
      if (component === undefined) skip('componentFile');
      else steps.push({ ...download, to: file.path, unzipInto: component, conflictPath });
    } else if (kind === 'input') skip('input');
    else if (kind === 'other') skip('notSynced');
    else steps.push({ ...download, to: file.path, conflictPath });
  }
  return { steps: sortSteps(steps), conflicts };
}

/** Whether a conflict copy of `file`'s path with `file`'s content is already kept. */
function alreadyKept(file: SyncFile, kept: Map<string, SyncFile[]>): boolean {
  return (kept.get(file.path) ?? []).some((copy) => sameContent(file, copy));
}

/** A config is replaced only after the differing lake copy was kept. */
export function configConflict(path: string, keptAt: string): SyncConflict {
  return {
    path,
    kind: 'config',
    side: 'lake',
    keptAt,
    resolution: `the lake copy differed: it was kept at ${keptAt}, then replaced by ours`,
  };
}

/** Outputs are never overwritten: ours is kept beside the lake's. */
export function outputConflict(path: string, kind: DatabankFileKind, keptAt: string): SyncConflict {
  return {
    path,
    kind,
    side: 'lake',
    keptAt,
    resolution: `the lake copy differs and is never overwritten: ours was uploaded to ${keptAt}`,
  };
}

/** Local files are never overwritten by a download: the lake's copy is saved beside ours. */
export function downloadConflict(
  path: string,
  kind: DatabankFileKind,
  keptAt: string,
): SyncConflict {
  return {
    path,
    kind,
    side: 'local',
    keptAt,
    resolution: `the local copy differs: the lake copy was saved at ${keptAt}`,
  };
}

/** Byte order, so plans do not depend on the locale. */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortByPath<T extends { path: string }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => comparePaths(a.path, b.path));
}

/** The databank path a step is about (a conflict copy sorts beside its original). */
function stepPath(step: SyncStep): string {
  if (step.op === 'skip') return step.path;
  if (step.op === 'download') return step.from;
  return step.kind === 'component' ? step.to : step.from;
}

function sortSteps(steps: SyncStep[]): SyncStep[] {
  return steps.sort((a, b) => comparePaths(stepPath(a), stepPath(b)));
}
