import { PendingFlush } from '../local/fsPrimitives.js';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm, stat as statLocal } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { TokenCredential } from '@azure/identity';
import {
  DataLakeServiceClient,
  StorageSharedKeyCredential,
  type DataLakeFileClient,
  type DataLakeFileSystemClient,
  type FileParallelUploadOptions,
  type PathHttpHeaders,
} from '@azure/storage-file-datalake';
import { BatonError, conflict, isBatonError, notFound } from '../../domain/errors.js';
import { normalizeLakePath, lakeTempPrefix } from '../../domain/paths.js';
import type { Lake, LakeEntry, LakeWriteOptions } from '../../ports/lake.js';
import { callAzure, toBatonError, type CallAzureOptions } from './azureErrors.js';
import { azureCredential } from './credentials.js';

/** Prefix of in-flight uploads (the same reservation as the local lake): never a lake path, never listed. */
const TEMP_PREFIX = lakeTempPrefix;
const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;
const DEFAULT_CONCURRENCY = 4;
/** The service's cap on appends per file (the SDK refuses more chunks than this). */
const MAX_CHUNKS = 50_000;
/** Error codes that mean the filesystem itself is missing: a configuration fault, never "absent". */
const MISSING_FILESYSTEM_CODES = new Set(['ContainerNotFound', 'FilesystemNotFound']);

export interface AdlsLakeOptions {
  fileSystem: DataLakeFileSystemClient;
  /** Folder inside the filesystem that is the lake's root ('' or absent: the filesystem root). */
  rootFolder?: string;
  /** Bytes per append; uploads larger than this go as parallel appends (default 8 MiB). */
  chunkSize?: number;
  /** Appends in flight per upload (default 4). */
  concurrency?: number;
  /**
   * Retries around each SDK call (see `callAzure`): they honour Retry-After and cover 429,
   * which the SDK's own per-request policy (500/503/network only) does not.
   */
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  /**
   * Time limit of each try of a request (stat, list page, delete, rename; an upload gets this
   * plus a second per MiB). The storage SDK sets none on the client side (its `tryTimeoutInMs`
   * is only the server's timeout parameter), so a hung connection would wait forever.
   * Downloads stream for as long as they take, but a body that sends nothing for this long
   * (a stalled connection) is abandoned and the read retried. Default 60 s.
   */
  requestTimeoutMs?: number;
}

/** The slowest transfer rate an upload's time limit allows for (1 MiB/s). */
const minUploadBytesPerSecond = 1024 * 1024;

/**
 * The Lake on ADLS Gen2 (a storage account with hierarchical namespace).
 *
 * Writes upload to a temp file beside the target (`.baton-tmp-<uuid>`, parallel appends, then a
 * flush that stores the client-computed Content-MD5) and publish it with one atomic rename, so
 * readers only ever see complete files and concurrent overwrites cannot interleave their appends.
 * `createOnly` puts `If-None-Match: *` on that rename: exactly one concurrent writer wins, and a
 * failed upload never leaves a half-written file at an output path. Stat and listings report
 * paths relative to `rootFolder`. Every path goes through `normalizeLakePath` before any request.
 */
export class AdlsLake implements Lake {
  /** Local files downloaded with deferred durability; uploads are durable when acknowledged. */
  private readonly pendingDownloads = new PendingFlush();

  async flush(): Promise<void> {
    await this.pendingDownloads.flush();
  }

  private readonly fileSystem: DataLakeFileSystemClient;
  private readonly root: string;
  private readonly chunkSize: number;
  private readonly concurrency: number;
  private readonly retry: AdlsLakeOptions['retry'];
  private readonly requestTimeoutMs: number;

  constructor(options: AdlsLakeOptions) {
    this.fileSystem = options.fileSystem;
    this.root = normalizeLakePath(options.rootFolder ?? '', 'rootFolder');
    refuseReserved(this.root, 'rootFolder');
    this.chunkSize = positiveInteger(options.chunkSize ?? DEFAULT_CHUNK_SIZE, 'chunkSize');
    this.concurrency = positiveInteger(options.concurrency ?? DEFAULT_CONCURRENCY, 'concurrency');
    this.retry = options.retry;
    this.requestTimeoutMs = positiveInteger(options.requestTimeoutMs ?? 60_000, 'requestTimeoutMs');
  }

  /** Retries, each try limited in time (`bytes`: what the request uploads). */
  private limited(bytes = 0): CallAzureOptions {
    const perTry = this.requestTimeoutMs + Math.ceil((bytes / minUploadBytesPerSecond) * 1000);
    return { ...this.retry, tryTimeoutMs: perTry };
  }

  async write(
    lakePath: string,
    data: Uint8Array | string,
    options: LakeWriteOptions = {},
  ): Promise<LakeEntry> {
    const rel = this.locateFile(lakePath);
    const bytes =
      typeof data === 'string'
        ? Buffer.from(data, 'utf8')
        : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const md5 = createHash('md5').update(bytes).digest();
    return this.publish(rel, bytes.length, md5, options, (file, upload) =>
      file.upload(bytes, upload),
    );
  }

  async uploadFile(
    localPath: string,
    lakePath: string,
    options: LakeWriteOptions = {},
  ): Promise<LakeEntry> {
    const rel = this.locateFile(lakePath);
    const source = path.resolve(localPath);
    const before = await describeLocalFile(source);
    const { size, md5 } = await hashLocalFile(source);
    // Cheap early answer for big files; the conditional rename below is what guarantees it.
    if (options.createOnly === true && (await this.stat(rel)) !== undefined) {
      throw conflict(`lake file ${rel}`);
    }
    return this.publish(
      rel,
      size,
      md5,
      options,
      (file, upload) => file.uploadFile(source, upload),
      async () => {
        // The MD5 was computed from a first read; refuse to publish if the file moved under us.
        const after = await describeLocalFile(source);
        if (after.size !== size || after.mtimeMs !== before.mtimeMs || before.size !== size) {
          throw new BatonError('conflict', `local file ${source} changed while it was uploaded`);
        }
      },
    );
  }

  async read(lakePath: string): Promise<Buffer> {
    const rel = this.locateFile(lakePath);
    const what = `lake read ${rel}`;
    const file = this.fileClient(rel);
    return callAzure(
      what,
      async () => {
        const response = await file.read(0, undefined, { maxRetryRequests: 5 });
        const body = response.readableStreamBody;
        if (isFolder(response.metadata)) {
          destroy(body);
          throw folderNotFile(rel);
        }
        const chunks: Buffer[] = [];
        const hash = createHash('md5');
        await drain(body, what, this.requestTimeoutMs, async (chunk) => {
          chunks.push(chunk);
          hash.update(chunk);
        });
        const content = Buffer.concat(chunks);
        verifyContent(what, content.length, hash.digest(), response);
        return content;
      },
      this.retry,
    );
  }

  async downloadFile(
    lakePath: string,
    localPath: string,
    options: { deferDurability?: boolean } = {},
  ): Promise<LakeEntry> {
    const rel = this.locateFile(lakePath);
    const what = `lake download ${rel}`;
    const destination = path.resolve(localPath);
    // The whole download is one try: a body that stalls or breaks is read again from the start.
    return callAzure(
      what,
      async () => {
        const response = await this.fileClient(rel).read(0, undefined, { maxRetryRequests: 5 });
        const body = response.readableStreamBody;
        if (isFolder(response.metadata)) {
          destroy(body);
          throw folderNotFile(rel);
        }
        const temp = path.join(path.dirname(destination), `${TEMP_PREFIX}${randomUUID()}`);
        try {
          await mkdir(path.dirname(destination), { recursive: true });
          const out = await open(temp, 'wx');
          const hash = createHash('md5');
          let size = 0;
          try {
            await drain(body, what, this.requestTimeoutMs, async (chunk) => {
              hash.update(chunk);
              size += chunk.length;
              await writeAll(out, chunk);
            });
            if (options.deferDurability !== true) await out.sync();
          } finally {
            await out.close();
          }
          const md5 = hash.digest();
          verifyContent(what, size, md5, response);
          await rename(temp, destination);
          if (options.deferDurability === true) this.pendingDownloads.add(destination);
          return {
            path: rel,
            isDirectory: false,
            size,
            lastModified: isoOf(response.lastModified),
            md5: md5.toString('hex'),
          };
        } catch (err) {
          destroy(body);
          await rm(temp, { force: true });
          throw err;
        }
      },
      this.retry,
    );
  }

  async stat(lakePath: string): Promise<LakeEntry | undefined> {
    const rel = this.locate(lakePath);
    const full = this.fullPath(rel);
    try {
      if (full === '') {
        const props = await callAzure(
          'lake stat (filesystem root)',
          (abortSignal) => this.fileSystem.getProperties({ abortSignal }),
          this.limited(),
        );
        return { path: '', isDirectory: true, size: 0, lastModified: isoOf(props.lastModified) };
      }
      const props = await callAzure(
        `lake stat ${rel === '' ? '(root)' : rel}`,
        (abortSignal) => this.fileSystem.getFileClient(full).getProperties({ abortSignal }),
        this.limited(),
      );
      if (isFolder(props.metadata)) {
        return { path: rel, isDirectory: true, size: 0, lastModified: isoOf(props.lastModified) };
      }
      const entry: LakeEntry = {
        path: rel,
        isDirectory: false,
        size: props.contentLength ?? 0,
        lastModified: isoOf(props.lastModified),
      };
      if (props.contentMD5 !== undefined) entry.md5 = Buffer.from(props.contentMD5).toString('hex');
      return entry;
    } catch (err) {
      if (isMissingPath(err)) return undefined;
      throw err;
    }
  }

  async list(prefix: string, options: { recursive?: boolean } = {}): Promise<LakeEntry[]> {
    const rel = this.locate(prefix, 'prefix');
    const directory = this.fullPath(rel);
    const recursive = options.recursive === true;
    const what = `lake list ${rel === '' ? '(root)' : rel}`;
    const entries: LakeEntry[] = [];
    let continuationToken: string | undefined;
    let first = true;
    do {
      // One page per call, resuming from the last continuation: a retry repeats a page, not the listing.
      const token = continuationToken;
      let page;
      try {
        page = await callAzure(
          what,
          async (abortSignal) => {
            const pages = this.fileSystem
              .listPaths({ path: directory === '' ? undefined : directory, recursive, abortSignal })
              .byPage(token === undefined ? {} : { continuationToken: token });
            const next = await pages.next();
            return next.done === true ? undefined : next.value;
          },
          this.limited(),
        );
      } catch (err) {
        if (first && isMissingPath(err)) return [];
        throw err;
      }
      first = false;
      for (const item of page?.pathItems ?? []) {
        const entry = this.toListEntry(item);
        if (entry !== undefined) entries.push(entry);
      }
      continuationToken = page?.continuation === '' ? undefined : page?.continuation;
    } while (continuationToken !== undefined);
    return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async delete(lakePath: string, options: { recursive?: boolean } = {}): Promise<boolean> {
    const rel = this.locate(lakePath);
    if (rel === '') {
      throw new BatonError('validation', 'path: the lake root cannot be deleted', {
        field: 'path',
      });
    }
    const recursive = options.recursive === true;
    if (!recursive) {
      // The service would delete an empty folder without `recursive`; the port says a folder needs it.
      const existing = await this.stat(rel);
      if (existing === undefined) return false;
      if (existing.isDirectory) {
        throw folderNeedsRecursive(rel);
      }
    }
    // Not deleteIfExists: it only swallows PathNotFound, and a 404 may carry other codes.
    const client = this.fileSystem.getFileClient(this.fullPath(rel));
    try {
      await callAzure(
        `lake delete ${rel}`,
        (abortSignal) => client.delete(recursive ? true : undefined, { abortSignal }),
        this.limited(),
      );
      return true;
    } catch (err) {
      if (isMissingPath(err)) return false;
      if (isBatonError(err, 'conflict') && errorCodeOf(causeOf(err)) === 'DirectoryNotEmpty') {
        throw folderNeedsRecursive(rel, err);
      }
      throw err;
    }
  }

  /**
   * Uploads into a fresh temp file beside the target, then renames it into place (atomic on a
   * hierarchical namespace). The temp file is removed on any failure.
   */
  private async publish(
    rel: string,
    size: number,
    md5: Buffer,
    options: LakeWriteOptions,
    upload: (
      file: DataLakeFileClient,
      options: FileParallelUploadOptions,
    ) => Promise<{ lastModified?: Date }>,
    beforeRename?: () => Promise<void>,
  ): Promise<LakeEntry> {
    const tempRel = siblingTemp(rel);
    const temp = this.fileClient(tempRel);
    const headers: PathHttpHeaders = { contentMD5: md5 };
    if (options.contentType !== undefined) headers.contentType = options.contentType;
    let lastModified: Date | undefined;
    try {
      const flushed = await callAzure(
        `lake upload ${rel}`,
        async (abortSignal) => {
          if (size === 0) {
            // upload() of nothing only creates the file; flush(0) is what stores the headers.
            await temp.create({ pathHttpHeaders: headers, abortSignal });
            return temp.flush(0, { pathHttpHeaders: headers, abortSignal });
          }
          return upload(temp, { ...this.uploadOptions(size, headers), abortSignal });
        },
        this.limited(size),
      );
      lastModified = flushed.lastModified;
      await beforeRename?.();
      try {
        await callAzure(
          `lake publish ${rel}`,
          (abortSignal) =>
            temp.move(escapePath(this.fullPath(rel)), {
              abortSignal,
              ...(options.createOnly === true
                ? { destinationConditions: { ifNoneMatch: '*' } }
                : {}),
            }),
          this.limited(),
        );
      } catch (err) {
        // A rename that timed out may still have landed, and its retry then finds no temp (or,
        // create-only, its own file): ours is published when the temp is gone and the target
        // holds exactly what was uploaded.
        if (!(await this.landedAnyway(rel, tempRel, size, md5))) throw err;
      }
    } catch (err) {
      await temp.delete().catch(() => undefined);
      // If-None-Match:* on the rename: a 412 can only mean "something is there" (unverified which
      // of 409/412 the service answers for a rename, so both are a conflict).
      if (options.createOnly === true && isBatonError(err, 'precondition_failed')) {
        throw new BatonError('conflict', `lake file ${rel} already exists`, { cause: err });
      }
      throw err;
    }
    return {
      path: rel,
      isDirectory: false,
      size,
      lastModified: isoOf(lastModified),
      md5: md5.toString('hex'),
    };
  }

  private async landedAnyway(
    rel: string,
    tempRel: string,
    size: number,
    md5: Buffer,
  ): Promise<boolean> {
    const [target, temp] = await Promise.all([
      this.stat(rel).catch(() => undefined),
      this.stat(tempRel).catch(() => undefined),
    ]);
    return temp === undefined && target?.size === size && target.md5 === md5.toString('hex');
  }

  private uploadOptions(size: number, headers: PathHttpHeaders): FileParallelUploadOptions {
    // The service allows 50,000 appends per file: grow the chunk for huge files.
    const chunkSize = Math.max(this.chunkSize, Math.ceil(size / MAX_CHUNKS));
    return {
      chunkSize,
      // Without this the SDK sends anything up to 100 MiB as one append.
      singleUploadThreshold: chunkSize,
      maxConcurrency: this.concurrency,
      pathHttpHeaders: headers,
    };
  }

  private toListEntry(item: {
    name?: string;
    isDirectory?: boolean;
    contentLength?: number;
    lastModified?: Date;
  }): LakeEntry | undefined {
    if (item.name === undefined) return undefined;
    const rel = this.relativeToRoot(item.name);
    if (rel === undefined || rel === '') return undefined;
    if (rel.split('/').some((part) => part.startsWith(TEMP_PREFIX))) return undefined;
    // The generated deserializer maps "true"/"false" strings; be lenient with either form.
    const isDirectory = String(item.isDirectory) === 'true';
    return {
      path: rel,
      isDirectory,
      size: isDirectory ? 0 : Number(item.contentLength ?? 0),
      lastModified: isoOf(item.lastModified),
    };
  }

  private relativeToRoot(name: string): string | undefined {
    const trimmed = name.replace(/^\/+/, '');
    if (this.root === '') return trimmed;
    if (trimmed === this.root) return '';
    return trimmed.startsWith(`${this.root}/`) ? trimmed.slice(this.root.length + 1) : undefined;
  }

  private locate(input: string, field = 'path'): string {
    if (typeof input !== 'string') {
      throw new BatonError('validation', `${field}: must be a string`, { field });
    }
    const rel = normalizeLakePath(input, field);
    refuseReserved(rel, field);
    return rel;
  }

  private locateFile(input: string): string {
    const rel = this.locate(input);
    if (rel === '') {
      throw new BatonError('validation', 'path: must name a file, not the lake root', {
        field: 'path',
      });
    }
    return rel;
  }

  private fullPath(rel: string): string {
    if (this.root === '') return rel;
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  private fileClient(rel: string): DataLakeFileClient {
    return this.fileSystem.getFileClient(this.fullPath(rel));
  }
}

export interface CreateAdlsLakeOptions {
  /** `https://<account>.dfs.core.windows.net` (the blob endpoint works too: the SDK maps between them). */
  accountUrl: string;
  fileSystem: string;
  rootFolder?: string;
  /** Defaults to the shared `DefaultAzureCredential` (managed identity in Azure, `az login` locally). */
  credential?: TokenCredential;
  /** Account-key auth, only as an explicit fallback (e.g. a dev account without RBAC). */
  sharedKey?: { account: string; key: string };
  chunkSize?: number;
  concurrency?: number;
}

/** The SDK's own retries of one request (client-side time limits: `requestTimeoutMs`). */
export const adlsRetryOptions = { maxTries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 10_000 };

/**
 * Builds the production AdlsLake. The SDK's own retry policy handles 500/503/network faults per
 * request (so one failed append does not restart an upload); `callAzure` inside the lake adds
 * Retry-After-aware retries for 429 and whatever is left.
 */
export function createAdlsLake(options: CreateAdlsLakeOptions): AdlsLake {
  if (options.credential !== undefined && options.sharedKey !== undefined) {
    throw new BatonError('validation', 'lake: pass either a credential or a shared key, not both', {
      field: 'sharedKey',
    });
  }
  const credential =
    options.sharedKey !== undefined
      ? new StorageSharedKeyCredential(options.sharedKey.account, options.sharedKey.key)
      : (options.credential ?? azureCredential());
  const service = new DataLakeServiceClient(options.accountUrl, credential, {
    retryOptions: adlsRetryOptions,
  });
  const lakeOptions: AdlsLakeOptions = {
    fileSystem: service.getFileSystemClient(options.fileSystem),
  };
  if (options.rootFolder !== undefined) lakeOptions.rootFolder = options.rootFolder;
  if (options.chunkSize !== undefined) lakeOptions.chunkSize = options.chunkSize;
  if (options.concurrency !== undefined) lakeOptions.concurrency = options.concurrency;
  return new AdlsLake(lakeOptions);
}

// ---- helpers -----------------------------------------------------------------------------

function positiveInteger(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new BatonError('validation', `${field}: must be a positive integer`, { field });
  }
  return value;
}

function siblingTemp(rel: string): string {
  const at = rel.lastIndexOf('/');
  const name = `${TEMP_PREFIX}${randomUUID()}`;
  return at < 0 ? name : `${rel.slice(0, at)}/${name}`;
}

/** `move()` puts the destination into the URL path unescaped: escape each segment ourselves. */
function escapePath(full: string): string {
  return full
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
}

/** Directories on a hierarchical namespace answer blob-level HEAD/GET with `hdi_isfolder=true`. */
function isFolder(metadata: Record<string, string> | undefined): boolean {
  if (metadata === undefined) return false;
  return Object.entries(metadata).some(
    ([key, value]) => key.toLowerCase() === 'hdi_isfolder' && value.toLowerCase() === 'true',
  );
}

function folderNeedsRecursive(rel: string, cause?: unknown): BatonError {
  return new BatonError('validation', `path: ${rel} is a folder; pass recursive to delete it`, {
    field: 'path',
    cause,
  });
}

/** In-flight uploads are named `.baton-tmp-*`: no lake path (or root folder) may use that name. */
function refuseReserved(rel: string, field: string): void {
  if (rel.split('/').some((part) => part.startsWith(TEMP_PREFIX))) {
    throw new BatonError(
      'validation',
      `${field}: names starting with ${TEMP_PREFIX} are reserved`,
      {
        field,
      },
    );
  }
}

function folderNotFile(rel: string): BatonError {
  return new BatonError('validation', `path: ${rel} is a folder, not a file`, { field: 'path' });
}

function isoOf(date: Date | undefined): string {
  return (date ?? new Date()).toISOString();
}

interface AzureErrorDetails {
  code?: unknown;
  details?: { errorCode?: unknown };
  response?: { headers?: { get?(name: string): string | undefined } };
}

function causeOf(err: unknown): unknown {
  return err instanceof Error ? err.cause : undefined;
}

/** The service's `x-ms-error-code`, wherever the SDK put it (HEAD responses have no body). */
function errorCodeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as AzureErrorDetails;
  if (typeof e.code === 'string') return e.code;
  if (typeof e.details?.errorCode === 'string') return e.details.errorCode;
  return e.response?.headers?.get?.('x-ms-error-code');
}

/** A 404 about the path, not about the filesystem (a missing filesystem is a setup fault). */
function isMissingPath(err: unknown): boolean {
  if (!isBatonError(err, 'not_found')) return false;
  const code = errorCodeOf(causeOf(err));
  return code === undefined || !MISSING_FILESYSTEM_CODES.has(code);
}

/** Checks what was received against the length and whole-file MD5 the service reported. */
function verifyContent(
  what: string,
  size: number,
  md5: Buffer,
  response: { contentLength?: number; contentMD5?: Uint8Array },
): void {
  if (response.contentLength !== undefined && response.contentLength !== size) {
    throw new BatonError(
      'unavailable',
      `${what}: received ${size} of ${response.contentLength} bytes`,
    );
  }
  if (response.contentMD5 !== undefined && !md5.equals(Buffer.from(response.contentMD5))) {
    throw new BatonError('unavailable', `${what}: content does not match its stored MD5`);
  }
}

/**
 * Feeds a response body to `onChunk`. Failures of the body (the network) become Baton errors;
 * failures of `onChunk` (local disk) propagate unchanged. The SDK retries a body that breaks,
 * but one that goes silent (a half-open connection) would wait forever: after `stallMs` without
 * a chunk the body is destroyed and the read is `unavailable`, retryable.
 */
async function drain(
  body: NodeJS.ReadableStream | undefined,
  what: string,
  stallMs: number,
  onChunk: (chunk: Buffer) => Promise<void>,
): Promise<void> {
  if (body === undefined) return;
  const iterator = (body as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<unknown>;
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        destroy(body);
        reject(
          new BatonError('unavailable', `${what}: no data received for ${String(stallMs)} ms`, {
            retryable: true,
          }),
        );
      }, stallMs);
    });
    try {
      next = await Promise.race([iterator.next(), stalled]);
    } catch (err) {
      throw err instanceof BatonError ? err : toBatonError(err, what);
    } finally {
      clearTimeout(timer);
    }
    if (next.done === true) return;
    const chunk = next.value;
    await onChunk(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  }
}

function destroy(body: NodeJS.ReadableStream | undefined): void {
  const stream = body as { destroy?: () => void } | undefined;
  stream?.destroy?.();
}

async function writeAll(out: FileHandle, chunk: Buffer): Promise<void> {
  for (let offset = 0; offset < chunk.length;) {
    offset += (await out.write(chunk, offset, chunk.length - offset)).bytesWritten;
  }
}

async function describeLocalFile(localPath: string): Promise<{ size: number; mtimeMs: number }> {
  try {
    const info = await statLocal(localPath);
    if (!info.isFile()) {
      throw new BatonError('validation', `local file ${localPath} is not a regular file`);
    }
    return { size: info.size, mtimeMs: info.mtimeMs };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw notFound(`local file ${localPath}`);
    throw err;
  }
}

const HASH_CHUNK = 1024 * 1024;

async function hashLocalFile(localPath: string): Promise<{ size: number; md5: Buffer }> {
  const handle = await open(localPath, 'r');
  try {
    const hash = createHash('md5');
    const buffer = Buffer.allocUnsafe(HASH_CHUNK);
    let size = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, HASH_CHUNK, size);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      size += bytesRead;
    }
    return { size, md5: hash.digest() };
  } finally {
    await handle.close();
  }
}
