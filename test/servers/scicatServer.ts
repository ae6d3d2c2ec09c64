import {
  ApiError,
  Reply,
  startJsonRouteServer,
  type JsonRouteServer,
  type RecordedRequest,
} from './jsonRouteServer.js';

/**
 * A stand-in for the SciCat backend REST API v3 (NestJS backend, scicat-backend-next), wide
 * enough for ScicatCatalogue: `POST /api/v3/datasets` (raw datasets; the required raw fields
 * are checked), `GET /api/v3/datasets/{pid}` (pid URL-encoded), `POST /api/v3/origdatablocks`
 * and `GET /api/v3/datasets/{pid}/origdatablocks`. Errors are NestJS bodies
 * `{statusCode, message, error}`: 400 with the list of problems, 401 without a valid bearer
 * token, 404 for a missing dataset, 409 for a duplicate pid (or, with
 * `duplicateAs500`, the 500 "E11000 duplicate key" older backends answer).
 * Not modelled: login (`POST /auth/login`; a fixed token stands in), access groups, filters.
 */
export interface ScicatServer extends JsonRouteServer {
  datasetCount(): number;
  datablockCount(): number;
}

const requiredRaw = [
  'pid',
  'owner',
  'ownerGroup',
  'contactEmail',
  'sourceFolder',
  'creationTime',
  'principalInvestigator',
  'creationLocation',
] as const;

const statusText: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

export async function startScicatServer(
  options: { token?: string; duplicateAs500?: boolean } = {},
): Promise<ScicatServer> {
  const datasets = new Map<string, Record<string, unknown>>();
  const blocks: Record<string, unknown>[] = [];

  const body = (request: RecordedRequest): Record<string, unknown> => {
    if (typeof request.body !== 'object' || request.body === null) {
      throw new ApiError(400, 'a JSON object body is required');
    }
    return request.body as Record<string, unknown>;
  };

  const server = await startJsonRouteServer({
    token: options.token,
    errorBody: (status, message) => ({
      statusCode: status,
      message,
      error: statusText[status] ?? 'Error',
    }),
    routes: [
      {
        method: 'POST',
        pattern: '/api/v3/datasets',
        handle: (request) => {
          const doc = body(request);
          const problems = requiredRaw
            .filter((key) => typeof doc[key] !== 'string' || doc[key] === '')
            .map((key) => `${key} should not be empty`);
          if (doc.type !== 'raw' && doc.type !== 'derived') {
            problems.push('type must be one of the following values: raw, derived');
          }
          if (typeof doc.creationTime === 'string' && Number.isNaN(Date.parse(doc.creationTime))) {
            problems.push('creationTime must be a valid ISO 8601 date string');
          }
          if (problems.length > 0) throw new ApiError(400, problems.join('; '));
          const pid = String(doc.pid);
          if (datasets.has(pid)) {
            if (options.duplicateAs500 === true) {
              throw new ApiError(
                500,
                `E11000 duplicate key error collection: dataset index: _id_ dup key: { _id: "${pid}" }`,
              );
            }
            throw new ApiError(409, `Dataset with pid ${pid} already exists`);
          }
          const now = new Date().toISOString();
          const stored = { ...doc, createdAt: now, updatedAt: now, version: '4.0.0' };
          datasets.set(pid, stored);
          return new Reply(201, stored);
        },
      },
      {
        method: 'GET',
        pattern: '/api/v3/datasets/:pid',
        handle: ({ params }) => {
          const found = datasets.get(params.pid ?? '');
          if (found === undefined) throw new ApiError(404, `Dataset ${params.pid} not found`);
          return found;
        },
      },
      {
        method: 'POST',
        pattern: '/api/v3/origdatablocks',
        handle: (request) => {
          const doc = body(request);
          if (typeof doc.datasetId !== 'string' || !datasets.has(doc.datasetId)) {
            throw new ApiError(400, 'datasetId must reference an existing dataset');
          }
          if (!Array.isArray(doc.dataFileList)) {
            throw new ApiError(400, 'dataFileList must be an array');
          }
          const stored = { _id: `odb-${blocks.length + 1}`, ...doc };
          blocks.push(stored);
          return new Reply(201, stored);
        },
      },
      {
        method: 'GET',
        pattern: '/api/v3/datasets/:pid/origdatablocks',
        handle: ({ params }) => {
          if (!datasets.has(params.pid ?? '')) {
            throw new ApiError(404, `Dataset ${params.pid} not found`);
          }
          return blocks.filter((b) => b.datasetId === params.pid);
        },
      },
    ],
  });
  return { ...server, datasetCount: () => datasets.size, datablockCount: () => blocks.length };
}
