import { listenOnLoopback } from './listenOnLoopback.js';
import { createHash, randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';

/**
 * A small in-memory stand-in for the ADLS Gen2 (DFS) REST API, just wide enough for what
 * `@azure/storage-file-datalake` 12.29.0 sends for the Lake port: filesystem create/exists/delete
 * (blob-style `?restype=container`), path create/rename, append/flush, read/HEAD (blob-style),
 * delete and listPaths. For an IP-style URL the SDK sends blob-style and DFS-style calls to the
 * same base URL, so both live here; error responses use the matching dialect (XML for blob-style,
 * JSON for DFS-style) and always carry `x-ms-error-code`, which is what the SDK reads.
 *
 * Not verified: signatures (any Authorization is accepted), ACLs, leases, encryption. Behaviour
 * the real service documents but we could not observe (rename conflicts, listing a file) is
 * marked "(unverified)" below.
 */
export interface DfsServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `<url>/<account>`: pass to `DataLakeServiceClient` (IP-style URL: the account is the first path segment). */
  readonly accountUrl: string;
  readonly account: string;
  /** Every request the server received, in arrival order (bodies omitted). */
  readonly requests: RecordedRequest[];
  /** Requests no handler understood (answered 501); a test should expect this to stay empty. */
  readonly unknown: RecordedRequest[];
  /**
   * Answers the next `count` requests (those `when` accepts, default all) with `status`, the
   * given headers (e.g. `{ 'retry-after': '1' }`) and an `x-ms-error-code`, before any handler.
   */
  failNext(count: number, status: number, options?: FailureOptions): void;
  /**
   * Drops the connection of the next `count` requests `when` accepts (the socket is destroyed
   * without an answer, as a reset or a dying load balancer does), before any handler.
   */
  dropNext(count: number, when?: (request: RecordedRequest) => boolean): void;
  /**
   * Handles the next `count` requests `when` accepts, then drops the connection instead of
   * answering: the change is made but the client never hears of it (the ambiguous failure a
   * timeout or a reset after the service acted leaves).
   */
  dropAnswerNext(count: number, when?: (request: RecordedRequest) => boolean): void;
  /**
   * Answers the next `count` requests `when` accepts with the status, headers and the first
   * `afterBytes` bytes of the body, then sends nothing more and keeps the connection open (a
   * half-open connection or a stuck proxy): the client sees a body that never ends.
   */
  stallBodyNext(
    count: number,
    afterBytes: number,
    when?: (request: RecordedRequest) => boolean,
  ): void;
  /** Drops every pending injected failure, dropped connection and delay. */
  clearFaults(): void;
  /**
   * Holds the next `count` requests `when` accepts for `ms` before handling them, e.g. to make
   * the first append of an upload land after the later ones.
   */
  delayNext(count: number, ms: number, when?: (request: RecordedRequest) => boolean): void;
  /** Appends in the order they were applied (`path` below the account, as in `requests`). */
  readonly appliedAppends: { path: string; position: number; length: number }[];
  /** Committed bytes of a file, for white-box assertions. */
  fileContent(fileSystem: string, path: string): Buffer | undefined;
  close(): Promise<void>;
}

export interface RecordedRequest {
  method: string;
  /** Decoded path below the account, e.g. `fs/dir/file.txt` ('' for the account itself). */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  bodyLength: number;
}

export interface FailureOptions {
  headers?: Record<string, string>;
  /** Defaults to `ServerBusy` for 503, `TooManyRequests`... see {@link defaultErrorCode}. */
  errorCode?: string;
  when?: (request: RecordedRequest) => boolean;
}

export interface DfsServerOptions {
  /**
   * The one account served (default `devstoreaccount1`). A URL whose first segment is not this
   * name is read as account-less `/<fs>/<path>` (what SDK 12.29.0's move() sends for IP URLs).
   */
  account?: string;
  /** Caps every listPaths page, whatever `maxResults` asks for (the real cap is 5000). */
  maxListResults?: number;
}

interface PathNode {
  kind: 'file' | 'directory';
  content: Buffer;
  /** Appended but not yet flushed data, by position: appends arrive concurrently, out of order. */
  pending: Map<number, Buffer>;
  etag: string;
  lastModified: Date;
  createdOn: Date;
  /** base64, as stored by flush from `x-ms-content-md5` */
  contentMD5: string | undefined;
  contentType: string | undefined;
  metadata: Map<string, string>;
}

interface FileSystemState {
  etag: string;
  lastModified: Date;
  metadata: Map<string, string>;
  paths: Map<string, PathNode>;
}

interface Delay {
  remaining: number;
  ms: number;
  when: ((request: RecordedRequest) => boolean) | undefined;
}

interface Failure {
  remaining: number;
  status: number;
  options: FailureOptions;
}

/** Which error dialect the real service would answer in. */
type Dialect = 'blob' | 'dfs';

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
    readonly extraHeaders: Record<string, string> = {},
  ) {
    super(message);
  }
}

export async function startDfsServer(options: DfsServerOptions = {}): Promise<DfsServer> {
  const account = options.account ?? 'devstoreaccount1';
  const fileSystems = new Map<string, FileSystemState>();
  const requests: RecordedRequest[] = [];
  const unknown: RecordedRequest[] = [];
  const failures: Failure[] = [];
  const delays: Delay[] = [];
  const drops: Array<{ remaining: number; when?: (request: RecordedRequest) => boolean }> = [];
  const answerDrops: Array<{
    remaining: number;
    when?: (request: RecordedRequest) => boolean;
  }> = [];
  const stalls: Array<{
    remaining: number;
    afterBytes: number;
    when?: (request: RecordedRequest) => boolean;
  }> = [];
  const appliedAppends: { path: string; position: number; length: number }[] = [];
  let etagCounter = Date.now() * 1000;

  // Strictly increasing, so two writes in the same millisecond never share an ETag.
  const nextEtag = (): string => `"0x${(etagCounter++).toString(16).toUpperCase()}"`;

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        sendError(
          res,
          'dfs',
          req.method ?? 'GET',
          new HttpError(500, 'InternalError', String(err)),
        );
      } else {
        res.destroy();
      }
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const segments = url.pathname
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
    // IP-style URLs carry the account first. SDK 12.29.0's move() drops it from the destination
    // URL (it rebuilds the path as `/<fs>/<path>`, the real-service shape), so accept both.
    if (segments[0] !== account) segments.unshift(account);
    const method = req.method ?? 'GET';
    const query = Object.fromEntries(url.searchParams.entries());
    const recorded: RecordedRequest = {
      method,
      path: segments.slice(1).join('/'),
      query,
      headers: req.headers,
      bodyLength: body.length,
    };
    requests.push(recorded);
    const dialect: Dialect = isBlobStyle(method, query, req.headers) ? 'blob' : 'dfs';

    const drop = drops.find((d) => d.remaining > 0 && (d.when?.(recorded) ?? true));
    if (drop !== undefined) {
      drop.remaining -= 1;
      if (drop.remaining === 0) drops.splice(drops.indexOf(drop), 1);
      req.socket.destroy();
      return;
    }

    const failure = failures.find((f) => f.remaining > 0 && (f.options.when?.(recorded) ?? true));
    if (failure !== undefined) {
      failure.remaining -= 1;
      if (failure.remaining === 0) failures.splice(failures.indexOf(failure), 1);
      const code = failure.options.errorCode ?? defaultErrorCode(failure.status);
      sendError(
        res,
        dialect,
        method,
        new HttpError(
          failure.status,
          code,
          `Injected failure ${failure.status}`,
          failure.options.headers,
        ),
      );
      return;
    }

    const answerDrop = answerDrops.find((d) => d.remaining > 0 && (d.when?.(recorded) ?? true));
    if (answerDrop !== undefined) {
      answerDrop.remaining -= 1;
      if (answerDrop.remaining === 0) answerDrops.splice(answerDrops.indexOf(answerDrop), 1);
      // The handler runs and changes state; whatever it answers is never sent.
      res.writeHead = () => res;
      res.setHeader = () => res;
      res.end = () => {
        req.socket.destroy();
        return res;
      };
    }

    const stall = stalls.find((d) => d.remaining > 0 && (d.when?.(recorded) ?? true));
    if (stall !== undefined) {
      stall.remaining -= 1;
      if (stall.remaining === 0) stalls.splice(stalls.indexOf(stall), 1);
      // Headers and the start of the body go out; the rest never does, and the socket stays.
      res.end = ((chunk?: unknown) => {
        if (Buffer.isBuffer(chunk)) res.write(chunk.subarray(0, stall.afterBytes));
        else res.flushHeaders();
        return res;
      }) as typeof res.end;
    }

    const delay = delays.find((d) => d.remaining > 0 && (d.when?.(recorded) ?? true));
    if (delay !== undefined) {
      delay.remaining -= 1;
      if (delay.remaining === 0) delays.splice(delays.indexOf(delay), 1);
      await new Promise((resolve) => setTimeout(resolve, delay.ms));
    }

    try {
      const fsName = segments[1];
      const pathName = segments.slice(2).join('/');
      if (segments.length < 2 || fsName === undefined) throw notHandled();
      if (pathName === '') {
        if (query.restype === 'container' && query.comp === undefined) {
          handleContainer(method, fsName, req, res);
          return;
        }
        if (query.resource === 'filesystem' && method === 'GET') {
          handleListPaths(fsName, query, res);
          return;
        }
        throw notHandled();
      }
      const fileSystem = fileSystems.get(fsName);
      if (fileSystem === undefined) {
        throw dialect === 'blob'
          ? new HttpError(404, 'ContainerNotFound', 'The specified container does not exist.')
          : new HttpError(404, 'FilesystemNotFound', 'The specified filesystem does not exist.');
      }
      if (query.comp !== undefined) throw notHandled();
      switch (method) {
        case 'PUT':
          if (req.headers['x-ms-rename-source'] !== undefined) {
            handleRename(fileSystem, pathName, req, res);
            return;
          }
          if (query.resource === 'file' || query.resource === 'directory') {
            handleCreate(fileSystem, pathName, query.resource, req, res);
            return;
          }
          throw notHandled();
        case 'PATCH':
          if (query.action === 'append') {
            handleAppend(fileSystem, pathName, query, req, body, res);
            appliedAppends.push({
              path: recorded.path,
              position: positionOf(query),
              length: body.length,
            });
            return;
          }
          if (query.action === 'flush') {
            handleFlush(fileSystem, pathName, query, req, res);
            return;
          }
          throw notHandled();
        case 'GET':
        case 'HEAD':
          if (query.action !== undefined || query.resource !== undefined) throw notHandled();
          handleRead(fileSystem, pathName, method, req, res);
          return;
        case 'DELETE':
          handleDelete(fileSystem, pathName, query, req, res);
          return;
        default:
          throw notHandled();
      }
    } catch (err) {
      if (err instanceof NotHandled) {
        unknown.push(recorded);
        sendError(
          res,
          dialect,
          method,
          new HttpError(501, 'NotImplementedByDfsServer', `${method} ${url.pathname}${url.search}`),
        );
        return;
      }
      if (err instanceof HttpError) {
        sendError(res, dialect, method, err);
        return;
      }
      throw err;
    }
  }

  // ---- filesystem (blob-style container calls) -------------------------------------------

  function handleContainer(
    method: string,
    name: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): void {
    const existing = fileSystems.get(name);
    switch (method) {
      case 'PUT': {
        if (existing !== undefined) {
          throw new HttpError(
            409,
            'ContainerAlreadyExists',
            'The specified container already exists.',
          );
        }
        const created: FileSystemState = {
          etag: nextEtag(),
          lastModified: new Date(),
          metadata: metadataFromBlobHeaders(req.headers),
          paths: new Map(),
        };
        fileSystems.set(name, created);
        send(res, 201, { etag: created.etag, 'last-modified': created.lastModified.toUTCString() });
        return;
      }
      case 'GET':
      case 'HEAD': {
        if (existing === undefined) {
          throw new HttpError(404, 'ContainerNotFound', 'The specified container does not exist.');
        }
        send(res, 200, {
          etag: existing.etag,
          'last-modified': existing.lastModified.toUTCString(),
          'x-ms-lease-status': 'unlocked',
          'x-ms-lease-state': 'available',
          'x-ms-has-immutability-policy': 'false',
          'x-ms-has-legal-hold': 'false',
          ...metaHeaders(existing.metadata),
        });
        return;
      }
      case 'DELETE': {
        if (existing === undefined) {
          throw new HttpError(404, 'ContainerNotFound', 'The specified container does not exist.');
        }
        fileSystems.delete(name);
        send(res, 202, {});
        return;
      }
      default:
        throw notHandled();
    }
  }

  // ---- listPaths ---------------------------------------------------------------------------

  function handleListPaths(
    fsName: string,
    query: Record<string, string>,
    res: ServerResponse,
  ): void {
    const fileSystem = fileSystems.get(fsName);
    if (fileSystem === undefined) {
      throw new HttpError(404, 'FilesystemNotFound', 'The specified filesystem does not exist.');
    }
    if (query.recursive !== 'true' && query.recursive !== 'false') {
      throw new HttpError(400, 'MissingRequiredQueryParameter', 'recursive is required');
    }
    const directory = trimSlashes(query.directory ?? '');
    if (directory !== '') {
      const node = fileSystem.paths.get(directory);
      // Listing a file (unverified: the real service may answer differently); a missing
      // directory is a 404 PathNotFound.
      if (node === undefined || node.kind !== 'directory') {
        throw new HttpError(404, 'PathNotFound', 'The specified path does not exist.');
      }
    }
    const prefix = directory === '' ? '' : `${directory}/`;
    const recursive = query.recursive === 'true';
    const names = [...fileSystem.paths.keys()]
      .filter(
        (name) =>
          name.startsWith(prefix) && (recursive || !name.slice(prefix.length).includes('/')),
      )
      .sort(compareNames);
    const after = query.continuation === undefined ? undefined : decodeToken(query.continuation);
    const start = after === undefined ? 0 : names.findIndex((n) => compareNames(n, after) > 0);
    const requested = Number(query.maxResults ?? 5000);
    const limit = Math.min(
      Number.isFinite(requested) && requested > 0 ? requested : 5000,
      options.maxListResults ?? 5000,
    );
    const page = start < 0 ? [] : names.slice(start, start + limit);
    const more = start >= 0 && start + limit < names.length;
    const paths = page.map((name) => {
      const node = fileSystem.paths.get(name);
      if (node === undefined) throw new Error(`listing lost ${name}`);
      return {
        name,
        ...(node.kind === 'directory' ? { isDirectory: 'true' } : {}),
        contentLength: String(node.kind === 'file' ? node.content.length : 0),
        lastModified: node.lastModified.toUTCString(),
        etag: node.etag,
        owner: '$superuser',
        group: '$superuser',
        permissions: node.kind === 'directory' ? 'rwxr-x---' : 'rw-r-----',
        // Windows file time: 100 ns ticks since 1601-01-01.
        creationTime: String((node.createdOn.getTime() + 11_644_473_600_000) * 10_000),
      };
    });
    const last = page[page.length - 1];
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
    if (more && last !== undefined) headers['x-ms-continuation'] = encodeToken(last);
    send(res, 200, headers, Buffer.from(JSON.stringify({ paths })));
  }

  // ---- path create and rename --------------------------------------------------------------

  function handleCreate(
    fileSystem: FileSystemState,
    name: string,
    resource: 'file' | 'directory',
    req: IncomingMessage,
    res: ServerResponse,
  ): void {
    const existing = fileSystem.paths.get(name);
    checkConditions(req.headers, existing, 'dfs-create');
    ensureParents(fileSystem, name);
    if (existing !== undefined && existing.kind !== resource) {
      throw pathConflict();
    }
    const now = new Date();
    const node: PathNode = {
      kind: resource,
      content: Buffer.alloc(0),
      pending: new Map(),
      etag: nextEtag(),
      lastModified: now,
      createdOn: existing?.createdOn ?? now,
      contentMD5: undefined,
      contentType: headerOf(req.headers, 'x-ms-content-type'),
      metadata: parseProperties(headerOf(req.headers, 'x-ms-properties')),
    };
    fileSystem.paths.set(name, node);
    send(res, 201, {
      etag: node.etag,
      'last-modified': now.toUTCString(),
      'x-ms-request-server-encrypted': 'true',
    });
  }

  function handleRename(
    fileSystem: FileSystemState,
    destination: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): void {
    const source = parseRenameSource(headerOf(req.headers, 'x-ms-rename-source') ?? '');
    const sourceFs = fileSystems.get(source.fileSystem);
    const sourceNode = sourceFs?.paths.get(source.path);
    if (sourceFs === undefined || sourceNode === undefined) {
      throw new HttpError(
        404,
        'SourcePathNotFound',
        'The source path for a rename operation does not exist.',
      );
    }
    checkSourceConditions(req.headers, sourceNode);
    const existing = fileSystem.paths.get(destination);
    // (unverified) the real service's answer to If-None-Match:* on an existing destination;
    // PathAlreadyExists matches what it returns for a conditional create.
    checkConditions(req.headers, existing, 'dfs-create');
    const parent = parentOf(destination);
    if (parent !== '' && fileSystem.paths.get(parent)?.kind !== 'directory') {
      throw new HttpError(
        404,
        'RenameDestinationParentPathNotFound',
        'The parent directory of the destination path does not exist.',
      );
    }
    if (existing !== undefined && existing.kind === 'directory') {
      // (unverified) legacy-mode rename onto an existing directory.
      throw pathConflict();
    }
    if (sourceFs === fileSystem && source.path === destination) {
      send(res, 201, {
        etag: sourceNode.etag,
        'last-modified': sourceNode.lastModified.toUTCString(),
      });
      return;
    }
    const moved: [string, PathNode][] = [];
    for (const [name, node] of sourceFs.paths) {
      if (name === source.path || name.startsWith(`${source.path}/`)) moved.push([name, node]);
    }
    for (const [name] of moved) sourceFs.paths.delete(name);
    for (const [name, node] of moved) {
      fileSystem.paths.set(destination + name.slice(source.path.length), node);
    }
    send(res, 201, {
      etag: sourceNode.etag,
      'last-modified': sourceNode.lastModified.toUTCString(),
    });
  }

  function parseRenameSource(header: string): { fileSystem: string; path: string } {
    const [pathPart = ''] = header.split('?');
    const parts = pathPart
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
    // IP-style URLs carry the account as the first segment (`/<account>/<fs>/<path>`), real
    // service URLs do not (`/<fs>/<path>`).
    if (parts.length >= 3 && parts[0] === account && fileSystems.has(parts[1] ?? '')) {
      parts.shift();
    }
    const [fileSystem = '', ...rest] = parts;
    if (fileSystem === '' || rest.length === 0) {
      throw new HttpError(400, 'InvalidSourceUri', 'The source URI is invalid.');
    }
    return { fileSystem, path: rest.join('/') };
  }

  /** Files create their missing ancestors as directories (hierarchical namespace). */
  function ensureParents(fileSystem: FileSystemState, name: string): void {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const ancestor = parts.slice(0, i).join('/');
      const node = fileSystem.paths.get(ancestor);
      if (node?.kind === 'file') throw pathConflict();
    }
    for (let i = 1; i < parts.length; i++) {
      const ancestor = parts.slice(0, i).join('/');
      if (!fileSystem.paths.has(ancestor)) {
        const now = new Date();
        fileSystem.paths.set(ancestor, {
          kind: 'directory',
          content: Buffer.alloc(0),
          pending: new Map(),
          etag: nextEtag(),
          lastModified: now,
          createdOn: now,
          contentMD5: undefined,
          contentType: undefined,
          metadata: new Map(),
        });
      }
    }
  }

  // ---- append and flush --------------------------------------------------------------------

  function requireFile(fileSystem: FileSystemState, name: string): PathNode {
    const node = fileSystem.paths.get(name);
    if (node === undefined) {
      throw new HttpError(404, 'PathNotFound', 'The specified path does not exist.');
    }
    if (node.kind !== 'file') throw pathConflict();
    return node;
  }

  function positionOf(query: Record<string, string>): number {
    const position = Number(query.position);
    if (query.position === undefined || !Number.isSafeInteger(position) || position < 0) {
      throw new HttpError(400, 'InvalidQueryParameterValue', 'position is invalid');
    }
    return position;
  }

  function handleAppend(
    fileSystem: FileSystemState,
    name: string,
    query: Record<string, string>,
    req: IncomingMessage,
    body: Buffer,
    res: ServerResponse,
  ): void {
    const node = requireFile(fileSystem, name);
    const position = positionOf(query);
    // The body is raw bytes whatever content-type says (the SDK sends application/json).
    const transactionalMd5 = headerOf(req.headers, 'content-md5');
    if (
      transactionalMd5 !== undefined &&
      createHash('md5').update(body).digest('base64') !== transactionalMd5
    ) {
      throw new HttpError(
        400,
        'Md5Mismatch',
        'The MD5 value specified in the request did not match.',
      );
    }
    node.pending.set(position, body);
    if (query.flush === 'true') {
      flushInto(node, position + body.length, req.headers);
      send(res, 200, { etag: node.etag, 'last-modified': node.lastModified.toUTCString() });
      return;
    }
    send(res, 202, { 'x-ms-request-server-encrypted': 'true' });
  }

  function handleFlush(
    fileSystem: FileSystemState,
    name: string,
    query: Record<string, string>,
    req: IncomingMessage,
    res: ServerResponse,
  ): void {
    const node = requireFile(fileSystem, name);
    checkConditions(req.headers, node, 'dfs');
    flushInto(node, positionOf(query), req.headers);
    send(res, 200, {
      etag: node.etag,
      'last-modified': node.lastModified.toUTCString(),
      'x-ms-request-server-encrypted': 'true',
    });
  }

  /** Commits pending appends, which must run contiguously from the end of the file to `position`. */
  function flushInto(node: PathNode, position: number, headers: IncomingHttpHeaders): void {
    const pieces = [...node.pending.entries()].sort((a, b) => a[0] - b[0]);
    let end = node.content.length;
    const ordered: Buffer[] = [node.content];
    for (const [at, piece] of pieces) {
      if (at !== end) break;
      ordered.push(piece);
      end += piece.length;
    }
    if (end !== position) {
      throw new HttpError(
        400,
        'InvalidFlushPosition',
        'The uploaded data is not contiguous or the position query parameter value is not equal to the length of the file after appending the uploaded data.',
      );
    }
    node.content = Buffer.concat(ordered);
    node.pending.clear();
    // Flush stores the whole-file MD5 the client computed; the service does not check it.
    node.contentMD5 = headerOf(headers, 'x-ms-content-md5');
    node.contentType = headerOf(headers, 'x-ms-content-type') ?? node.contentType;
    node.etag = nextEtag();
    node.lastModified = new Date();
  }

  // ---- read and properties (blob-style) ----------------------------------------------------

  function handleRead(
    fileSystem: FileSystemState,
    name: string,
    method: 'GET' | 'HEAD',
    req: IncomingMessage,
    res: ServerResponse,
  ): void {
    const node = fileSystem.paths.get(name);
    if (node === undefined) {
      throw new HttpError(404, 'BlobNotFound', 'The specified blob does not exist.');
    }
    if (checkConditions(req.headers, node, 'blob-read') === 'not-modified') {
      send(res, 304, { etag: node.etag });
      return;
    }
    const size = node.content.length;
    const headers: Record<string, string> = {
      etag: node.etag,
      'last-modified': node.lastModified.toUTCString(),
      'content-type': node.contentType ?? 'application/octet-stream',
      'accept-ranges': 'bytes',
      'x-ms-blob-type': 'BlockBlob',
      'x-ms-creation-time': node.createdOn.toUTCString(),
      'x-ms-lease-status': 'unlocked',
      'x-ms-lease-state': 'available',
      'x-ms-server-encrypted': 'true',
      ...metaHeaders(
        node.kind === 'directory'
          ? new Map([...node.metadata, ['hdi_isfolder', 'true']])
          : node.metadata,
      ),
    };
    const range = method === 'GET' ? parseRange(req.headers, size) : undefined;
    if (range === undefined) {
      if (node.contentMD5 !== undefined) headers['content-md5'] = node.contentMD5;
      send(res, 200, headers, method === 'GET' ? node.content : undefined, size);
      return;
    }
    if (node.contentMD5 !== undefined) headers['x-ms-blob-content-md5'] = node.contentMD5;
    headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
    send(res, 206, headers, node.content.subarray(range.start, range.end + 1));
  }

  // ---- delete ------------------------------------------------------------------------------

  function handleDelete(
    fileSystem: FileSystemState,
    name: string,
    query: Record<string, string>,
    req: IncomingMessage,
    res: ServerResponse,
  ): void {
    const node = fileSystem.paths.get(name);
    if (node === undefined) {
      throw new HttpError(404, 'PathNotFound', 'The specified path does not exist.');
    }
    checkConditions(req.headers, node, 'dfs');
    const below = [...fileSystem.paths.keys()].filter((n) => n.startsWith(`${name}/`));
    if (node.kind === 'directory' && below.length > 0 && query.recursive !== 'true') {
      throw new HttpError(
        409,
        'DirectoryNotEmpty',
        'The recursive query parameter value must be true to delete a non-empty directory.',
      );
    }
    for (const n of below) fileSystem.paths.delete(n);
    fileSystem.paths.delete(name);
    send(res, 200, {});
  }

  // ---- conditions --------------------------------------------------------------------------

  /**
   * Evaluates If-Match / If-None-Match / If-(Un)Modified-Since. A create with If-None-Match:*
   * on an existing path is 409 PathAlreadyExists (what the SDK's createIfNotExists expects);
   * a read with a matching If-None-Match is 304; anything else unmet is 412 ConditionNotMet.
   */
  function checkConditions(
    headers: IncomingHttpHeaders,
    node: PathNode | undefined,
    kind: 'dfs-create' | 'dfs' | 'blob-read',
  ): 'ok' | 'not-modified' {
    const ifMatch = headerOf(headers, 'if-match');
    const ifNoneMatch = headerOf(headers, 'if-none-match');
    const ifModifiedSince = headerOf(headers, 'if-modified-since');
    const ifUnmodifiedSince = headerOf(headers, 'if-unmodified-since');
    const unmet = (): HttpError =>
      new HttpError(
        412,
        'ConditionNotMet',
        'The condition specified using HTTP conditional header(s) is not met.',
      );
    if (ifMatch !== undefined) {
      if (node === undefined || (ifMatch !== '*' && ifMatch !== node.etag)) throw unmet();
    }
    if (ifNoneMatch !== undefined && node !== undefined) {
      if (ifNoneMatch === '*' || ifNoneMatch === node.etag) {
        if (kind === 'dfs-create') {
          throw new HttpError(409, 'PathAlreadyExists', 'The specified path already exists.');
        }
        if (kind === 'blob-read') return 'not-modified';
        throw unmet();
      }
    }
    const modified = node?.lastModified.getTime();
    if (ifModifiedSince !== undefined && modified !== undefined) {
      if (Math.floor(modified / 1000) * 1000 <= Date.parse(ifModifiedSince)) {
        if (kind === 'blob-read') return 'not-modified';
        throw unmet();
      }
    }
    if (ifUnmodifiedSince !== undefined && modified !== undefined) {
      if (Math.floor(modified / 1000) * 1000 > Date.parse(ifUnmodifiedSince)) throw unmet();
    }
    return 'ok';
  }

  function checkSourceConditions(headers: IncomingHttpHeaders, node: PathNode): void {
    const ifMatch = headerOf(headers, 'x-ms-source-if-match');
    const ifNoneMatch = headerOf(headers, 'x-ms-source-if-none-match');
    const unmet = new HttpError(
      412,
      'SourceConditionNotMet',
      'The source condition specified using HTTP conditional header(s) is not met.',
    );
    if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== node.etag) throw unmet;
    if (ifNoneMatch !== undefined && (ifNoneMatch === '*' || ifNoneMatch === node.etag))
      throw unmet;
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  const port = await listenOnLoopback(server);
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    accountUrl: `${url}/${account}`,
    account,
    requests,
    unknown,
    appliedAppends,
    failNext(count, status, failureOptions = {}) {
      failures.push({ remaining: count, status, options: failureOptions });
    },
    dropNext(count, when) {
      drops.push({ remaining: count, ...(when === undefined ? {} : { when }) });
    },
    dropAnswerNext(count, when) {
      answerDrops.push({ remaining: count, ...(when === undefined ? {} : { when }) });
    },
    stallBodyNext(count, afterBytes, when) {
      stalls.push({ remaining: count, afterBytes, ...(when === undefined ? {} : { when }) });
    },
    clearFaults() {
      stalls.length = 0;
      answerDrops.length = 0;
      failures.length = 0;
      delays.length = 0;
      drops.length = 0;
    },
    delayNext(count, ms, when) {
      delays.push({ remaining: count, ms, when });
    },
    fileContent(fileSystem, path) {
      const node = fileSystems.get(fileSystem)?.paths.get(path);
      return node?.kind === 'file' ? Buffer.from(node.content) : undefined;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

// ---- helpers -----------------------------------------------------------------------------

class NotHandled extends Error {}
const notHandled = (): NotHandled => new NotHandled('not handled');

const pathConflict = (): HttpError =>
  new HttpError(
    409,
    'PathConflict',
    'The specified path, or an element of the path, exists and its resource type is invalid for this operation.',
  );

/** Blob-style: container calls and reads/properties; DFS-style: everything with resource/action or PATCH/DELETE of paths. */
function isBlobStyle(
  method: string,
  query: Record<string, string>,
  headers: IncomingHttpHeaders,
): boolean {
  if (query.restype !== undefined || query.comp !== undefined) return true;
  if (query.resource !== undefined || query.action !== undefined) return false;
  if (headers['x-ms-rename-source'] !== undefined) return false;
  return method === 'GET' || method === 'HEAD';
}

export function defaultErrorCode(status: number): string {
  switch (status) {
    case 429:
      return 'TooManyRequests';
    case 500:
      return 'InternalError';
    case 503:
      return 'ServerBusy';
    default:
      return `Injected${status}`;
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function headerOf(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function send(
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body?: Buffer,
  contentLength?: number,
): void {
  res.writeHead(status, {
    'x-ms-request-id': randomUUID(),
    'x-ms-version': headerOf(res.req.headers, 'x-ms-version') ?? '2026-02-06',
    date: new Date().toUTCString(),
    server: 'baton-dfs-test-server',
    'content-length': String(contentLength ?? body?.length ?? 0),
    ...headers,
  });
  res.end(body);
}

function sendError(res: ServerResponse, dialect: Dialect, method: string, err: HttpError): void {
  const headers: Record<string, string> = { 'x-ms-error-code': err.errorCode, ...err.extraHeaders };
  if (method === 'HEAD') {
    send(res, err.status, headers);
    return;
  }
  if (dialect === 'blob') {
    const xml =
      `<?xml version="1.0" encoding="utf-8"?><Error><Code>${err.errorCode}</Code>` +
      `<Message>${escapeXml(err.message)}\nRequestId:${randomUUID()}\nTime:${new Date().toISOString()}</Message></Error>`;
    send(res, err.status, { 'content-type': 'application/xml', ...headers }, Buffer.from(xml));
    return;
  }
  const json = JSON.stringify({ error: { code: err.errorCode, message: err.message } });
  send(
    res,
    err.status,
    { 'content-type': 'application/json;charset=utf-8', ...headers },
    Buffer.from(json),
  );
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function metaHeaders(metadata: Map<string, string>): Record<string, string> {
  return Object.fromEntries([...metadata].map(([k, v]) => [`x-ms-meta-${k}`, v]));
}

function metadataFromBlobHeaders(headers: IncomingHttpHeaders): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-ms-meta-') && typeof value === 'string') out.set(name.slice(10), value);
  }
  return out;
}

/** `x-ms-properties: k1=<base64 v1>,k2=<base64 v2>` (DFS metadata). */
function parseProperties(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (header === undefined || header === '') return out;
  for (const pair of header.split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    out.set(pair.slice(0, at).trim(), Buffer.from(pair.slice(at + 1), 'base64').toString('utf8'));
  }
  return out;
}

function parseRange(
  headers: IncomingHttpHeaders,
  size: number,
): { start: number; end: number } | undefined {
  const header = headerOf(headers, 'x-ms-range') ?? headerOf(headers, 'range');
  if (header === undefined) return undefined;
  const match = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (match === null) return undefined;
  const start = Number(match[1]);
  const end =
    match[2] === '' || match[2] === undefined ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) {
    throw new HttpError(
      416,
      'InvalidRange',
      'The range specified is invalid for the current size of the resource.',
      {
        'content-range': `bytes */${size}`,
      },
    );
  }
  return { start, end };
}

function parentOf(name: string): string {
  const at = name.lastIndexOf('/');
  return at < 0 ? '' : name.slice(0, at);
}

function trimSlashes(value: string): string {
  return value.replace(/^\/+|\/+$/g, '');
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function encodeToken(lastName: string): string {
  return Buffer.from(JSON.stringify({ after: lastName })).toString('base64url');
}

function decodeToken(token: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (typeof parsed === 'object' && parsed !== null && 'after' in parsed) {
      if (typeof parsed.after === 'string') return parsed.after;
    }
  } catch {
    // fall through
  }
  throw new HttpError(400, 'InvalidQueryParameterValue', 'continuation is invalid');
}
