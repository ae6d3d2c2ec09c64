import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  containerGroupNamePattern,
  createBodySchema,
  firstIssue,
  patchBodySchema,
  type ContainerBody,
} from './arm/containerGroupBody.js';
import { ContainerProcess, type ContainerSnapshot } from './arm/containerProcess.js';

/**
 * A tiny Azure Container Instances simulator for tests: the containerGroups REST surface of
 * api-version 2023-05-01 that Baton's AciBackend uses, spoken over plain HTTP on 127.0.0.1 so
 * the real `@azure/arm-containerinstance` client can be pointed at it (see
 * shared/notes/azure-on-the-wire.md §4). Each group's container really runs: its command is
 * spawned as a local process (see {@link ContainerProcess}), so status, exit codes, logs,
 * stop and delete behave like the real thing as far as the wire is concerned.
 *
 * Wire behaviour:
 * - PUT creates: 201 with `provisioningState: Pending` and an `Azure-AsyncOperation` URL that
 *   reports `InProgress` until the container started (`Succeeded`) or could not be pulled
 *   (`Failed`). `If-None-Match: *` on an existing group gives 412. A PUT over an existing group
 *   without it gives 409: the fake does not model updates, so a re-PUT fails loudly.
 * - GET returns the group with `instanceView`; secure environment values are never echoed.
 * - PATCH replaces the tags (the only field it accepts), POST `/stop` kills the process group
 *   and answers 204 once it is gone, DELETE answers 202 + `Azure-AsyncOperation` (or 200 with
 *   `deleteStyle: 'sync'`) and 204 for an unknown group.
 * - `containers/{c}/logs?tail=N` → `{content}`.
 * - Unknown resources → 404 `{error:{code:'ResourceNotFound',message}}`.
 *
 * Every request is recorded (method, path, query, headers, parsed body, status), and
 * {@link ArmContainerServer.failNext} injects throttling or faults.
 */
export const armApiVersion = '2023-05-01';

export interface ArmContainerServerOptions {
  /** Delay between the PUT and the container's start (the "image pull"). Default 20 ms. */
  startDelayMs?: number;
  /** SIGTERM-to-SIGKILL grace when a group is stopped or deleted. Default 1000 ms. */
  stopGraceMs?: number;
  /** When given, any other image fails to "pull": provisioningState Failed. */
  knownImages?: readonly string[];
  /** DELETE answers 202 + Azure-AsyncOperation (default) or 200 with the body. */
  deleteStyle?: 'async' | 'sync';
}

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  /** Lower-cased names. */
  headers: Record<string, string>;
  body: unknown;
  /** The status the server answered (set once it did). */
  status?: number;
}

export interface FaultSpec {
  /** 429, 500, 503, or any error status. */
  status: number;
  /** Sent as `Retry-After` (seconds). */
  retryAfterSeconds?: number;
  code?: string;
  message?: string;
  /** Which requests the fault applies to; all by default. */
  match?: (request: RecordedRequest) => boolean;
}

export interface SimulatedGroup {
  name: string;
  resourceGroup: string;
  tags: Record<string, string>;
  provisioningState: string;
  /** The container's environment as the fake received it, secure values included. */
  env: Record<string, string>;
  container: ContainerSnapshot;
  pid: number | undefined;
  live: boolean;
}

export interface ArmContainerServer {
  /** `http://127.0.0.1:<port>`: the client's `endpoint`. */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Answers the next `count` matching requests with `fault` instead of handling them. */
  failNext(count: number, fault: FaultSpec): void;
  /** Drops every fault not yet used. */
  clearFaults(): void;
  /** Runs before every request is handled (after it is recorded), e.g. to hold it back. */
  intercept: ((request: RecordedRequest) => Promise<void> | void) | undefined;
  group(name: string): SimulatedGroup | undefined;
  /** Requests whose method and path suffix match, e.g. `('PUT', '/containerGroups/x')`. */
  requestsTo(method: string, pathSuffix?: string): RecordedRequest[];
  close(): Promise<void>;
}

interface Group {
  id: string;
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  tags: Record<string, string>;
  spec: ContainerBody;
  env: Record<string, string>;
  process: ContainerProcess;
  provisioningState: 'Pending' | 'Succeeded' | 'Failed' | 'Deleting';
  stopped: boolean;
  pullError?: string;
  startTimer?: NodeJS.Timeout;
}

interface Operation {
  status(): { status: 'InProgress' | 'Succeeded' | 'Failed'; error?: ArmErrorBody['error'] };
}

interface ArmErrorBody {
  error: { code: string; message: string };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const groupRoute =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ContainerInstance\/containerGroups\/([^/]+)(?:\/(stop)|\/containers\/([^/]+)\/(logs))?$/i;
const operationRoute =
  /^\/subscriptions\/([^/]+)\/providers\/Microsoft\.ContainerInstance\/locations\/([^/]+)\/operations\/([^/]+)$/i;

export async function startArmContainerServer(
  options: ArmContainerServerOptions = {},
): Promise<ArmContainerServer> {
  const startDelayMs = options.startDelayMs ?? 20;
  const stopGraceMs = options.stopGraceMs ?? 1000;
  const deleteStyle = options.deleteStyle ?? 'async';
  const groups = new Map<string, Group>();
  const operations = new Map<string, Operation>();
  const faults: { remaining: number; fault: FaultSpec }[] = [];
  const requests: RecordedRequest[] = [];
  let baseUrl = '';

  const api: ArmContainerServer = {
    get url() {
      return baseUrl;
    },
    requests,
    intercept: undefined,
    failNext(count, fault) {
      faults.push({ remaining: count, fault });
    },
    clearFaults() {
      faults.length = 0;
    },
    group(name) {
      const found = [...groups.values()].find((g) => g.name === name.toLowerCase());
      if (found === undefined) return undefined;
      return {
        name: found.name,
        resourceGroup: found.resourceGroup,
        tags: { ...found.tags },
        provisioningState: found.provisioningState,
        env: { ...found.env },
        container: found.process.snapshot(),
        pid: found.process.pid,
        live: found.process.isLive,
      };
    },
    requestsTo(method, pathSuffix = '') {
      const suffix = pathSuffix.toLowerCase();
      return requests.filter((r) => r.method === method && r.path.toLowerCase().endsWith(suffix));
    },
    async close() {
      for (const g of groups.values()) clearTimeout(g.startTimer);
      await Promise.all([...groups.values()].map((g) => g.process.stop(0)));
      groups.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const raw = await readBody(req);
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers)) {
      if (typeof value === 'string') headers[key] = value;
      else if (Array.isArray(value)) headers[key] = value.join(', ');
    }
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body: undefined,
    };
    requests.push(recorded);
    const reply = (status: number, body?: unknown, extra: Record<string, string> = {}): void => {
      recorded.status = status;
      const text = body === undefined ? '' : JSON.stringify(body);
      res.writeHead(status, {
        'x-ms-request-id': randomUUID(),
        ...(text === '' ? {} : { 'content-type': 'application/json; charset=utf-8' }),
        ...extra,
      });
      res.end(text);
    };
    try {
      if (raw !== '') {
        try {
          recorded.body = JSON.parse(raw) as unknown;
        } catch {
          throw new HttpError(400, 'InvalidRequestContent', 'The request content is not JSON.');
        }
      }
      await api.intercept?.(recorded);
      const fault = takeFault(recorded);
      if (fault !== undefined) {
        const code =
          fault.code ?? (fault.status === 429 ? 'TooManyRequests' : 'InternalServerError');
        const retryAfter: Record<string, string> =
          fault.retryAfterSeconds === undefined
            ? {}
            : { 'retry-after': String(fault.retryAfterSeconds) };
        reply(
          fault.status,
          armError(code, fault.message ?? `injected ${fault.status}`),
          retryAfter,
        );
        return;
      }
      if (recorded.query['api-version'] !== armApiVersion) {
        throw new HttpError(
          400,
          'InvalidApiVersionParameter',
          `The api-version '${recorded.query['api-version'] ?? ''}' is invalid.`,
        );
      }
      const result = await route(recorded);
      reply(result.status, result.body, result.headers);
    } catch (error) {
      if (error instanceof HttpError) reply(error.status, armError(error.code, error.message));
      else reply(500, armError('InternalServerError', String(error)));
    }
  }

  function takeFault(request: RecordedRequest): FaultSpec | undefined {
    const entry = faults.find((f) => f.remaining > 0 && (f.fault.match?.(request) ?? true));
    if (entry === undefined) return undefined;
    entry.remaining -= 1;
    return entry.fault;
  }

  interface RouteResult {
    status: number;
    body?: unknown;
    headers?: Record<string, string>;
  }

  async function route(request: RecordedRequest): Promise<RouteResult> {
    const op = operationRoute.exec(request.path);
    if (op !== null && request.method === 'GET') {
      const id = op[3] ?? '';
      const operation = operations.get(id);
      if (operation === undefined) throw notFoundError(`operation ${id}`);
      return { status: 200, body: { id: request.path, name: id, ...operation.status() } };
    }
    const match = groupRoute.exec(request.path);
    if (match === null) throw new HttpError(404, 'NotFound', `No route for ${request.path}`);
    const [, subscriptionId = '', resourceGroup = '', rawName = '', action, containerName] = match;
    const name = decodeURIComponent(rawName);
    const key = `${subscriptionId}/${resourceGroup}/${name}`.toLowerCase();
    const existing = groups.get(key);
    const what = `Microsoft.ContainerInstance/containerGroups/${name}`;
    const missing = (): HttpError =>
      notFoundError(`The Resource '${what}' under resource group '${resourceGroup}'`);

    if (action === 'stop') {
      if (request.method !== 'POST') throw methodNotAllowed(request);
      if (existing === undefined) throw missing();
      await stopGroup(existing);
      return { status: 204 };
    }
    if (containerName !== undefined) {
      if (request.method !== 'GET') throw methodNotAllowed(request);
      if (existing === undefined) throw missing();
      if (existing.spec.name !== decodeURIComponent(containerName)) {
        throw new HttpError(404, 'ContainerNotFound', `Container '${containerName}' not found.`);
      }
      const tail = request.query.tail === undefined ? undefined : Number(request.query.tail);
      return { status: 200, body: { content: existing.process.logs(tail) } };
    }
    switch (request.method) {
      case 'GET':
        if (existing === undefined) throw missing();
        return { status: 200, body: toResource(existing) };
      case 'PUT':
        return create(request, { key, name, subscriptionId, resourceGroup }, existing);
      case 'PATCH': {
        if (existing === undefined) throw missing();
        const parsed = patchBodySchema.safeParse(request.body);
        if (!parsed.success) {
          throw new HttpError(400, 'InvalidRequestContent', firstIssue(parsed.error));
        }
        existing.tags = { ...parsed.data.tags };
        return { status: 200, body: toResource(existing) };
      }
      case 'DELETE':
        return remove(key, existing);
      default:
        throw methodNotAllowed(request);
    }
  }

  function create(
    request: RecordedRequest,
    at: { key: string; name: string; subscriptionId: string; resourceGroup: string },
    existing: Group | undefined,
  ): RouteResult {
    if (existing !== undefined) {
      if (request.headers['if-none-match'] === '*') {
        throw new HttpError(412, 'PreconditionFailed', `Container group '${at.name}' exists.`);
      }
      throw new HttpError(
        409,
        'Conflict',
        `Container group '${at.name}' exists; the fake does not simulate updates.`,
      );
    }
    if (!containerGroupNamePattern.test(at.name)) {
      throw new HttpError(
        400,
        'InvalidContainerGroupName',
        `The container group name '${at.name}' is invalid.`,
      );
    }
    const parsed = createBodySchema.safeParse(request.body);
    if (!parsed.success) {
      throw new HttpError(400, 'InvalidRequestContent', firstIssue(parsed.error));
    }
    const body = parsed.data;
    const spec = body.properties.containers[0];
    if (spec === undefined) throw new HttpError(400, 'InvalidRequestContent', 'no container');
    const env: Record<string, string> = {};
    for (const v of spec.properties.environmentVariables ?? []) {
      env[v.name] = v.value ?? v.secureValue ?? '';
    }
    const group: Group = {
      id: `/subscriptions/${at.subscriptionId}/resourceGroups/${at.resourceGroup}/providers/Microsoft.ContainerInstance/containerGroups/${at.name}`,
      name: at.name,
      subscriptionId: at.subscriptionId,
      resourceGroup: at.resourceGroup,
      location: body.location,
      tags: { ...body.tags },
      spec,
      env,
      process: new ContainerProcess(spec.properties.command, env),
      provisioningState: 'Pending',
      stopped: false,
    };
    groups.set(at.key, group);
    group.startTimer = setTimeout(() => void startGroup(group), startDelayMs);
    const operationId = randomUUID();
    operations.set(operationId, {
      status: () =>
        group.provisioningState === 'Pending'
          ? { status: 'InProgress' }
          : group.provisioningState === 'Failed'
            ? {
                status: 'Failed',
                error: { code: 'InaccessibleImage', message: group.pullError ?? 'failed' },
              }
            : { status: 'Succeeded' },
    });
    return {
      status: 201,
      body: toResource(group),
      headers: { 'azure-asyncoperation': operationUrl(group, operationId) },
    };
  }

  async function startGroup(group: Group): Promise<void> {
    if (group.stopped || group.provisioningState !== 'Pending') return;
    const image = group.spec.properties.image;
    if (options.knownImages !== undefined && !options.knownImages.includes(image)) {
      group.pullError = `Failed to pull image "${image}": not found`;
      group.provisioningState = 'Failed';
      return;
    }
    await group.process.start();
    if (group.provisioningState === 'Pending') group.provisioningState = 'Succeeded';
  }

  async function stopGroup(group: Group): Promise<void> {
    clearTimeout(group.startTimer);
    if (group.process.isLive) group.stopped = true;
    await group.process.stop(stopGraceMs);
  }

  async function remove(key: string, group: Group | undefined): Promise<RouteResult> {
    if (group === undefined) return { status: 204 };
    if (deleteStyle === 'sync') {
      await stopGroup(group);
      groups.delete(key);
      return { status: 200, body: toResource(group) };
    }
    group.provisioningState = 'Deleting';
    let done = false;
    void stopGroup(group).then(() => {
      groups.delete(key);
      done = true;
    });
    const operationId = randomUUID();
    operations.set(operationId, {
      status: () => (done ? { status: 'Succeeded' } : { status: 'InProgress' }),
    });
    const url = operationUrl(group, operationId);
    return { status: 202, headers: { 'azure-asyncoperation': url, location: url } };
  }

  function operationUrl(group: Group, operationId: string): string {
    return `${baseUrl}/subscriptions/${group.subscriptionId}/providers/Microsoft.ContainerInstance/locations/${group.location}/operations/${operationId}?api-version=${armApiVersion}`;
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return api;
}

/** The wire shape of a group, as ARM returns it (secure values omitted). */
function toResource(group: Group): unknown {
  const snapshot = group.process.snapshot();
  const events =
    group.pullError === undefined
      ? []
      : [{ count: 1, name: 'Failed', type: 'Warning', message: group.pullError }];
  const { environmentVariables, ...containerProperties } = group.spec.properties;
  return {
    id: group.id,
    name: group.name,
    type: 'Microsoft.ContainerInstance/containerGroups',
    location: group.location,
    tags: group.tags,
    properties: {
      provisioningState: group.provisioningState,
      osType: 'Linux',
      restartPolicy: 'Never',
      containers: [
        {
          name: group.spec.name,
          properties: {
            ...containerProperties,
            environmentVariables: (environmentVariables ?? []).map((v) =>
              v.value === undefined ? { name: v.name } : { name: v.name, value: v.value },
            ),
            instanceView: {
              restartCount: 0,
              currentState: {
                ...snapshot,
                ...(group.pullError === undefined ? {} : { detailStatus: 'ErrImagePull' }),
              },
              events,
            },
          },
        },
      ],
      instanceView: { state: groupState(group, snapshot), events },
    },
  };
}

function groupState(group: Group, container: ContainerSnapshot): string {
  if (group.provisioningState === 'Failed') return 'Failed';
  if (group.stopped) return 'Stopped';
  if (container.state === 'Waiting') return 'Pending';
  if (container.state === 'Running') return 'Running';
  return container.exitCode === 0 ? 'Succeeded' : 'Failed';
}

function armError(code: string, message: string): ArmErrorBody {
  return { error: { code, message } };
}

function notFoundError(what: string): HttpError {
  return new HttpError(404, 'ResourceNotFound', `${what} was not found.`);
}

function methodNotAllowed(request: RecordedRequest): HttpError {
  return new HttpError(
    405,
    'MethodNotAllowed',
    `${request.method} ${request.path} is not supported.`,
  );
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
