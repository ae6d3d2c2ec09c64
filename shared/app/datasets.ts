import { z } from 'zod';
import {
  assertOwner,
  datasetItems,
  ownerPattern,
  parseDatasetName,
  type DatasetItem,
} from '../domain/datasets.js';
import { BatonError, isBatonError } from '../domain/errors.js';
import { normalizeLakePath } from '../domain/paths.js';
import { parseInput } from '../domain/validation.js';
import type { Clock } from '../ports/clock.js';
import type { Lake, LakeEntry } from '../ports/lake.js';
import type { StateStore } from '../ports/stateStore.js';

/**
 * Use cases behind `/api/datasets` and `baton dataset`: a dataset is a name
 * `user.<owner>.<rest>` pointing at one lake file or folder (Orchestra's registry). The record
 * lives in the `datasets` collection (partition = owner, id = name); the files stay where they
 * are in the lake, which confines every path to itself.
 */
export interface DatasetDeps {
  state: StateStore;
  lake: Lake;
  clock: Clock;
}

export type DatasetKind = 'file' | 'folder';

export interface DatasetRecord {
  name: string;
  owner: string;
  /** Normalised lake path of the file or folder. */
  path: string;
  kind: DatasetKind;
  /** How many files (items) the dataset had when registered. */
  items: number;
  bytes: number;
  registeredAt: string;
  registeredBy: string;
}

export interface DatasetFile extends DatasetItem {
  bytes: number;
}

/** A dataset with its items as the lake lists them now. */
export interface DatasetView extends DatasetRecord {
  /** False when the lake path no longer exists (the record outlived its files). */
  present: boolean;
  files: DatasetFile[];
}

export interface DeleteDatasetOptions {
  /** Also delete the dataset's file or folder from the lake. */
  removeFiles: boolean;
}

export interface DeletedDataset {
  name: string;
  deleted: true;
  filesRemoved: boolean;
}

export const datasetsCollection = 'datasets';

export const registerDatasetRequestSchema = z
  .object({
    name: z.string().max(300),
    path: z.string().min(1).max(1024),
  })
  .strict();

export const listDatasetsQuerySchema = z.object({
  owner: z
    .string()
    .regex(ownerPattern, 'a lower-case letter, then up to 31 lower-case letters, digits, _ or -')
    .optional(),
});

export const deleteDatasetQuerySchema = z.object({
  removeFiles: z.enum(['true', 'false', '1', '0']).optional(),
});

/** `?removeFiles=true` (or 1) from a query; anything but true/false/1/0 is a validation error. */
export function parseDeleteOptions(query: unknown): DeleteDatasetOptions {
  const q = parseInput(deleteDatasetQuerySchema, query, 'query');
  return { removeFiles: q.removeFiles === 'true' || q.removeFiles === '1' };
}

export async function registerDataset(
  deps: DatasetDeps,
  body: unknown,
  caller: string,
): Promise<DatasetRecord> {
  const request = parseInput(registerDatasetRequestSchema, body, 'body');
  parseDatasetName(request.name, 'name');
  const { owner } = assertOwner(request.name, caller);
  const lakePath = normalizeLakePath(request.path, 'path');
  if (lakePath === '') {
    throw new BatonError('validation', 'path: must name a file or folder, not the lake root', {
      field: 'path',
    });
  }
  if (await deps.state.read(datasetsCollection, owner, request.name)) throw exists(request.name);

  const entry = await deps.lake.stat(lakePath);
  if (entry === undefined) {
    throw new BatonError('not_found', `path: ${lakePath} does not exist in the lake`, {
      field: 'path',
    });
  }
  const kind: DatasetKind = entry.isDirectory ? 'folder' : 'file';
  const files = await listFiles(deps.lake, lakePath, entry);
  if (files.length === 0) {
    throw new BatonError('validation', `path: folder ${lakePath} has no files to register`, {
      field: 'path',
    });
  }
  const record: DatasetRecord = {
    name: request.name,
    owner,
    path: lakePath,
    kind,
    items: files.length,
    bytes: files.reduce((sum, file) => sum + file.bytes, 0),
    registeredAt: deps.clock.now().toISOString(),
    registeredBy: caller,
  };
  try {
    await deps.state.create(datasetsCollection, { id: record.name, pk: owner, body: record });
  } catch (error) {
    if (isBatonError(error, 'conflict')) throw exists(record.name);
    throw error;
  }
  return record;
}

export async function listDatasets(deps: DatasetDeps, query: unknown): Promise<DatasetRecord[]> {
  const q = parseInput(listDatasetsQuerySchema, query, 'query');
  const docs = await deps.state.query<DatasetRecord>(datasetsCollection, {
    ...(q.owner === undefined ? {} : { pk: q.owner }),
    orderBy: { field: 'name', direction: 'asc' },
  });
  return docs.map((doc) => doc.body);
}

export async function getDataset(deps: DatasetDeps, name: string): Promise<DatasetView> {
  const record = await readRecord(deps, name);
  const entry = await deps.lake.stat(record.path);
  const files = entry === undefined ? [] : await listFiles(deps.lake, record.path, entry);
  return { ...record, present: entry !== undefined, files };
}

export async function deleteDataset(
  deps: DatasetDeps,
  name: string,
  caller: string,
  options: DeleteDatasetOptions,
): Promise<DeletedDataset> {
  parseDatasetName(name, 'name');
  assertOwner(name, caller);
  const record = await readRecord(deps, name);
  // A dataset may point anywhere in the lake; its name being yours does not make the files so.
  if (options.removeFiles) assertMayRemoveLakePath(record.path, caller, 'removeFiles');
  // Files first: if that fails the record is still there to retry with.
  const filesRemoved = options.removeFiles
    ? await deps.lake.delete(record.path, { recursive: true })
    : false;
  try {
    await deps.state.delete(datasetsCollection, record.owner, record.name);
  } catch (error) {
    if (!isBatonError(error, 'not_found')) throw error;
  }
  return { name: record.name, deleted: true, filesRemoved };
}

/**
 * Who owns the lake area a path lies in: `users/<user>/…` (their uploads) and
 * `tasks/user.<user>.<rest>/…` (their tasks' outputs and logs). Other areas (runs, landing,
 * scratch folders) belong to no one user.
 */
export function lakeAreaOwner(lakePath: string): string | undefined {
  const [top, second] = normalizeLakePath(lakePath, 'path').split('/');
  if (second === undefined) return undefined;
  if (top === 'users') return second;
  if (top === 'tasks') return /^user\.([^.]+)\./.exec(second)?.[1];
  return undefined;
}

/**
 * Refuses (`forbidden`, naming `field`) a recursive removal of `lakePath` by `caller` that
 * would take files of another user: a path inside their area, or a folder holding users'
 * areas (`users`, `tasks`, the root). Deleting a dataset's files and scheduling a path's
 * retention both go through here.
 */
export function assertMayRemoveLakePath(lakePath: string, caller: string, field: string): void {
  const normalized = normalizeLakePath(lakePath, field);
  const [top, second] = normalized.split('/');
  const holdsAreas = normalized === '' || ((top === 'users' || top === 'tasks') && !second);
  const owner = lakeAreaOwner(normalized);
  if (holdsAreas || (owner !== undefined && owner !== caller)) {
    throw new BatonError(
      'forbidden',
      `${field}: ${normalized || 'the lake root'} holds files of ${holdsAreas ? 'every user' : owner}; only they may remove them`,
      { field },
    );
  }
}

async function readRecord(deps: DatasetDeps, name: string): Promise<DatasetRecord> {
  const { owner } = parseDatasetName(name, 'name');
  const doc = await deps.state.read<DatasetRecord>(datasetsCollection, owner, name);
  if (!doc) throw new BatonError('not_found', `dataset ${name} not found`, { field: 'name' });
  return doc.body;
}

/** The dataset's files with their sizes: the file itself, or every file below the folder. */
async function listFiles(lake: Lake, lakePath: string, entry: LakeEntry): Promise<DatasetFile[]> {
  const entries = entry.isDirectory ? await lake.list(lakePath, { recursive: true }) : [entry];
  const sizes = new Map(entries.map((e) => [normalizeLakePath(e.path, 'path'), e.size]));
  return datasetItems(lakePath, entries).map((item) => ({
    ...item,
    bytes: sizes.get(item.path) ?? 0,
  }));
}

function exists(name: string): BatonError {
  return new BatonError('conflict', `dataset ${name} already exists`, { field: 'name' });
}
