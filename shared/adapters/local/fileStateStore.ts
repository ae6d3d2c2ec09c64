import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { BatonError, conflict, notFound, preconditionFailed } from '../../domain/errors.js';
import type {
  DocumentInput,
  DocumentQuery,
  FieldValue,
  StateStore,
  StoredDocument,
} from '../../ports/stateStore.js';
import {
  atomicWriteTempSuffix,
  encodeName,
  errnoOf,
  isLeftoverTemp,
  listNames,
  removeTempFiles,
  withFileLock,
  writeFileAtomic,
  type FileLockOptions,
} from './fsPrimitives.js';

export interface FileStateStoreOptions {
  root: string;
  /**
   * Age after which a per-document lock file is presumed left behind by a crashed process.
   * Critical sections take milliseconds, so the default leaves a wide margin.
   */
  lockStaleMs?: number;
}

/**
 * The local StateStore: one JSON file per document, `<root>/<collection>/<pk>/<id>.json`.
 *
 * Every write of a document runs under that document's lock (an in-process promise chain plus a
 * `<id>.lock` file created with `wx`), so etag checks and the write that follows are atomic
 * against other callers in this process and in other processes. Files are replaced by rename, so
 * lock-free readers see the old or the new document, never a torn one.
 */
export class FileStateStore implements StateStore {
  private readonly root: string;
  private readonly lock: FileLockOptions;

  constructor(options: FileStateStoreOptions) {
    this.root = path.resolve(options.root);
    const staleMs = options.lockStaleMs ?? 10_000;
    this.lock = { staleMs, timeoutMs: staleMs * 3 };
  }

  async create<T>(collection: string, doc: DocumentInput<T>): Promise<StoredDocument<T>> {
    const where = this.locate(collection, doc.pk, doc.id);
    return this.exclusive(where, async () => {
      const { text, stored } = stamp(doc);
      try {
        await writeFileAtomic(where.file, text, { createOnly: true });
      } catch (err) {
        if (errnoOf(err) === 'EEXIST') throw conflict(describe(collection, doc.pk, doc.id));
        throw err;
      }
      return stored;
    });
  }

  async read<T>(
    collection: string,
    pk: string,
    id: string,
  ): Promise<StoredDocument<T> | undefined> {
    return readDocument<T>(this.locate(collection, pk, id).file);
  }

  async replace<T>(
    collection: string,
    doc: DocumentInput<T>,
    ifMatch: string,
  ): Promise<StoredDocument<T>> {
    const where = this.locate(collection, doc.pk, doc.id);
    return this.exclusive(where, async () => {
      const current = await readDocument(where.file);
      if (current === undefined) throw notFound(describe(collection, doc.pk, doc.id));
      if (current.etag !== ifMatch) throw preconditionFailed(describe(collection, doc.pk, doc.id));
      const { text, stored } = stamp(doc);
      await writeFileAtomic(where.file, text);
      return stored;
    });
  }

  async upsert<T>(collection: string, doc: DocumentInput<T>): Promise<StoredDocument<T>> {
    const where = this.locate(collection, doc.pk, doc.id);
    return this.exclusive(where, async () => {
      const { text, stored } = stamp(doc);
      await writeFileAtomic(where.file, text);
      return stored;
    });
  }

  async delete(collection: string, pk: string, id: string, ifMatch?: string): Promise<void> {
    const where = this.locate(collection, pk, id);
    await this.exclusive(where, async () => {
      const current = await readDocument(where.file);
      if (current === undefined) throw notFound(describe(collection, pk, id));
      if (ifMatch !== undefined && current.etag !== ifMatch) {
        throw preconditionFailed(describe(collection, pk, id));
      }
      await unlink(where.file);
    });
  }

  async query<T>(collection: string, query: DocumentQuery = {}): Promise<StoredDocument<T>[]> {
    validateName(collection, 'collection');
    validateQuery(query);
    const collectionDir = path.join(this.root, encodeName(collection));
    const partitionDirs =
      query.pk === undefined
        ? (await listNames(collectionDir)).map((name) => path.join(collectionDir, name))
        : [path.join(collectionDir, encodeName(query.pk))];
    const docs: StoredDocument<T>[] = [];
    for (const dir of partitionDirs) {
      const files = (await listNames(dir)).filter(isDocumentFileName);
      const loaded = await Promise.all(files.map((f) => readDocument<T>(path.join(dir, f))));
      for (const doc of loaded)
        if (doc !== undefined && matches(doc.body, query.where)) docs.push(doc);
    }
    docs.sort(compareDocuments(query.orderBy));
    return query.limit === undefined ? docs : docs.slice(0, query.limit);
  }

  /**
   * Removes the temp files that writers killed mid-write left, across the whole store. A
   * document's own writes sweep its temps (see `exclusive`), but a document that is never
   * written again (one created under a random id, retried under another) would keep its temp
   * forever; the local host runs this once in the background when it starts. Returns the count.
   */
  async removeLeftoverTemps(): Promise<number> {
    let removed = 0;
    for (const collection of await listNames(this.root)) {
      const collectionDir = path.join(this.root, collection);
      for (const partition of await listNames(collectionDir)) {
        const dir = path.join(collectionDir, partition);
        for (const name of await listNames(dir)) {
          const afterBase = atomicWriteTempSuffix(name);
          if (afterBase === undefined || !isLeftoverTemp(path.join(dir, name), afterBase)) continue;
          await rm(path.join(dir, name), { force: true });
          removed++;
        }
      }
    }
    return removed;
  }

  private locate(collection: string, pk: string, id: string): DocumentLocation {
    validateName(collection, 'collection');
    validateName(pk, 'pk');
    validateName(id, 'id');
    const dir = path.join(this.root, encodeName(collection), encodeName(pk));
    const base = encodeName(id);
    return { dir, file: path.join(dir, `${base}.json`), lockFile: path.join(dir, `${base}.lock`) };
  }

  /** Runs a read-check-write under the document's lock; stale temp files of it are swept first. */
  private async exclusive<R>(where: DocumentLocation, fn: () => Promise<R>): Promise<R> {
    await mkdir(where.dir, { recursive: true });
    return withFileLock(where.lockFile, this.lock, async () => {
      await removeTempFiles(where.file);
      return fn();
    });
  }
}

interface DocumentLocation {
  dir: string;
  file: string;
  lockFile: string;
}

function describe(collection: string, pk: string, id: string): string {
  return `document ${collection}/${pk}/${id}`;
}

/** Serialises once so the returned document is exactly what a later read will return. */
function stamp<T>(doc: DocumentInput<T>): { text: string; stored: StoredDocument<T> } {
  let text: string | undefined;
  try {
    text = JSON.stringify({ id: doc.id, pk: doc.pk, etag: randomUUID(), body: doc.body });
  } catch (err) {
    throw new BatonError('validation', 'body: must be JSON-serialisable', {
      field: 'body',
      cause: err,
    });
  }
  return { text, stored: JSON.parse(text) as StoredDocument<T> };
}

async function readDocument<T>(file: string): Promise<StoredDocument<T> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as StoredDocument<T>;
  } catch (err) {
    throw new BatonError('internal', `corrupt document file ${file}`, { cause: err });
  }
}

function isDocumentFileName(name: string): boolean {
  return name.endsWith('.json') && !name.startsWith('.');
}

function validateName(value: unknown, field: string): asserts value is string {
  const why =
    typeof value !== 'string'
      ? 'must be a string'
      : value === ''
        ? 'must not be empty'
        : value.length > 255
          ? 'must be at most 255 characters'
          : value.includes('\0')
            ? 'must not contain NUL'
            : undefined;
  if (why !== undefined) throw new BatonError('validation', `${field}: ${why}`, { field });
}

function validateQuery(query: DocumentQuery): void {
  if (query.pk !== undefined) validateName(query.pk, 'query.pk');
  if (query.limit !== undefined && !(Number.isInteger(query.limit) && query.limit >= 0)) {
    throw new BatonError('validation', 'query.limit: must be a non-negative integer', {
      field: 'query.limit',
    });
  }
  if (query.orderBy !== undefined && query.orderBy.field === '') {
    throw new BatonError('validation', 'query.orderBy.field: must not be empty', {
      field: 'query.orderBy.field',
    });
  }
}

function valueAt(body: unknown, dotted: string): unknown {
  let current: unknown = body;
  for (const key of dotted.split('.')) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, key)) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** Cosmos semantics: a missing field equals nothing, not even null. */
function matches(body: unknown, where: DocumentQuery['where']): boolean {
  if (where === undefined) return true;
  return Object.entries(where).every(([field, expected]) => {
    const actual = valueAt(body, field);
    if (actual === undefined) return false;
    const candidates: FieldValue[] = Array.isArray(expected) ? expected : [expected];
    return candidates.some((candidate) => candidate === actual);
  });
}

/** Mixed types order like Cosmos DB: missing < null < boolean < number < string < others. */
function typeRank(value: unknown): number {
  if (value === undefined) return 0;
  if (value === null) return 1;
  if (typeof value === 'boolean') return 2;
  if (typeof value === 'number') return 3;
  if (typeof value === 'string') return 4;
  return 5;
}

function compareValues(a: unknown, b: unknown): number {
  const rank = typeRank(a) - typeRank(b);
  if (rank !== 0) return rank;
  if (typeof a === 'number' || typeof a === 'string' || typeof a === 'boolean') {
    return a < (b as typeof a) ? -1 : a > (b as typeof a) ? 1 : 0;
  }
  return 0;
}

/** Without orderBy the order is (pk, id), so results are at least deterministic. */
function compareDocuments(
  orderBy: DocumentQuery['orderBy'],
): (a: StoredDocument<unknown>, b: StoredDocument<unknown>) => number {
  return (a, b) => {
    if (orderBy !== undefined) {
      const byField = compareValues(valueAt(a.body, orderBy.field), valueAt(b.body, orderBy.field));
      if (byField !== 0) return orderBy.direction === 'desc' ? -byField : byField;
    }
    return compareValues(a.pk, b.pk) || compareValues(a.id, b.id);
  };
}
