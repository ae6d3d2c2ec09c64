import { z } from 'zod';
import { BatonError, errorCodes } from '../domain/errors.js';

/**
 * The CLI's HTTP client for `/api/`. Every reply is parsed with zod: an error body becomes a
 * BatonError with the server's code and field; a reply of the wrong shape is reported as such.
 */
const errorBodySchema = z.object({
  error: z.object({ code: z.enum(errorCodes), message: z.string(), field: z.string().optional() }),
});

const stepSchema = z.object({
  name: z.string(),
  kind: z.string(),
  taskId: z.number().optional(),
  status: z.string(),
  instanceId: z.string().optional(),
  attempts: z.array(
    z.object({
      attempt: z.number(),
      status: z.string(),
      startedAt: z.string().optional(),
      finishedAt: z.string().optional(),
      durationMs: z.number().optional(),
      error: z.string().optional(),
    }),
  ),
});

export const runViewSchema = z.object({
  runId: z.string(),
  pipeline: z.string(),
  status: z.enum(['pending', 'running', 'completed', 'failed', 'canceled']),
  createdAt: z.string(),
  updatedAt: z.string(),
  params: z.unknown(),
  output: z.unknown(),
  error: z.string().optional(),
  progress: z.unknown(),
  steps: z.array(stepSchema).optional(),
  dryRun: z.boolean().optional(),
});
export type RunViewDto = z.infer<typeof runViewSchema>;

export const logLineSchema = z.object({
  at: z.string(),
  level: z.string(),
  message: z.string(),
  step: z.string(),
});
export type LogLineDto = z.infer<typeof logLineSchema>;

export const pipelineInfoSchema = z.object({
  name: z.string(),
  description: z.string(),
  orchestrator: z.string(),
  params: z.unknown(),
});

export const datasetSchema = z.object({
  name: z.string(),
  owner: z.string(),
  path: z.string(),
  kind: z.enum(['file', 'folder']),
  items: z.number(),
  bytes: z.number(),
  registeredAt: z.string(),
  registeredBy: z.string(),
});
export type DatasetDto = z.infer<typeof datasetSchema>;

const uploadedFileSchema = z.object({ path: z.string(), size: z.number() });

export const datasetViewSchema = datasetSchema.extend({
  present: z.boolean(),
  files: z.array(z.object({ path: z.string(), name: z.string(), bytes: z.number() })),
});
export type DatasetViewDto = z.infer<typeof datasetViewSchema>;

export const deletedDatasetSchema = z.object({
  name: z.string(),
  deleted: z.literal(true),
  filesRemoved: z.boolean(),
});
export type DeletedDatasetDto = z.infer<typeof deletedDatasetSchema>;

export class ApiClient {
  /**
   * @param secret the local host's secret (see shared/runtime/localAccess.ts), sent as a bearer
   *   token; without it the client is anonymous there and may only read.
   */
  constructor(
    readonly baseUrl: string,
    readonly user: string,
    private readonly secret?: string,
  ) {}

  private headers(contentType: string): Record<string, string> {
    return {
      'content-type': contentType,
      'x-baton-user': this.user,
      ...(this.secret === undefined ? {} : { authorization: `Bearer ${this.secret}` }),
    };
  }

  async request<S extends z.ZodType>(
    schema: S,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<z.output<S>> {
    let response: Response;
    try {
      response = await fetch(new URL(`/api/${path}`, this.baseUrl), {
        method,
        headers: this.headers('application/json'),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw new BatonError(
        'unavailable',
        `cannot reach ${this.baseUrl}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const text = await response.text();
    let json: unknown = undefined;
    if (text !== '') {
      try {
        json = JSON.parse(text) as unknown;
      } catch {
        throw new BatonError(
          'unavailable',
          `${method} ${path}: HTTP ${response.status} with a non-JSON body`,
        );
      }
    }
    if (!response.ok) {
      const parsed = errorBodySchema.safeParse(json);
      if (parsed.success) {
        const { code, message, field } = parsed.data.error;
        throw new BatonError(code, message, field === undefined ? {} : { field });
      }
      throw new BatonError(
        response.status >= 500 ? 'unavailable' : 'validation',
        `${method} ${path}: HTTP ${response.status}`,
      );
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success)
      throw new BatonError(
        'internal',
        `${method} ${path}: unexpected reply: ${parsed.error.issues[0]?.message ?? ''}`,
      );
    return parsed.data;
  }

  startRun(
    pipeline: string,
    params: Record<string, unknown>,
    runId?: string,
    dryRun = false,
  ): Promise<RunViewDto> {
    return this.request(runViewSchema, 'POST', 'runs', {
      pipeline,
      params,
      ...(runId ? { runId } : {}),
      ...(dryRun ? { dryRun } : {}),
    });
  }
  getRun(runId: string): Promise<RunViewDto> {
    return this.request(runViewSchema, 'GET', `runs/${pathSegment(runId, 'runId')}`);
  }
  listRuns(query: Record<string, string>): Promise<RunViewDto[]> {
    return this.request(
      z.array(runViewSchema),
      'GET',
      `runs?${new URLSearchParams(query).toString()}`,
    );
  }
  cancelRun(runId: string, reason?: string): Promise<RunViewDto> {
    return this.request(
      runViewSchema,
      'POST',
      `runs/${pathSegment(runId, 'runId')}/cancel`,
      reason ? { reason } : {},
    );
  }
  deleteRun(runId: string): Promise<unknown> {
    return this.request(z.unknown(), 'DELETE', `runs/${pathSegment(runId, 'runId')}`);
  }
  logs(runId: string, query: Record<string, string>): Promise<LogLineDto[]> {
    return this.request(
      z.array(logLineSchema),
      'GET',
      `runs/${pathSegment(runId, 'runId')}/logs?${new URLSearchParams(query).toString()}`,
    );
  }
  pipelines(): Promise<Array<z.infer<typeof pipelineInfoSchema>>> {
    return this.request(z.array(pipelineInfoSchema), 'GET', 'pipelines');
  }
  /** `PUT /api/files/<path>`: one file into the caller's lake folder `users/<user>/`. */
  async uploadFile(path: string, bytes: Uint8Array): Promise<{ path: string; size: number }> {
    const encoded = path
      .split('/')
      .map((part) => pathSegment(part, 'path'))
      .join('/');
    let response: Response;
    try {
      response = await fetch(new URL(`/api/files/${encoded}`, this.baseUrl), {
        method: 'PUT',
        headers: this.headers('application/octet-stream'),
        body: bytes,
      });
    } catch (error) {
      throw new BatonError(
        'unavailable',
        `cannot reach ${this.baseUrl}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    const json: unknown = await response.json().catch(() => undefined);
    if (!response.ok) {
      const parsed = errorBodySchema.safeParse(json);
      if (parsed.success) {
        const { code, message, field } = parsed.data.error;
        throw new BatonError(code, message, field === undefined ? {} : { field });
      }
      throw new BatonError('unavailable', `PUT files/${path}: HTTP ${response.status}`);
    }
    const parsed = uploadedFileSchema.safeParse(json);
    if (!parsed.success) throw new BatonError('internal', `PUT files/${path}: unexpected reply`);
    return parsed.data;
  }

  registerDataset(name: string, path: string): Promise<DatasetDto> {
    return this.request(datasetSchema, 'POST', 'datasets', { name, path });
  }
  listDatasets(owner?: string): Promise<DatasetDto[]> {
    const query = owner === undefined ? '' : `?${new URLSearchParams({ owner }).toString()}`;
    return this.request(z.array(datasetSchema), 'GET', `datasets${query}`);
  }
  getDataset(name: string): Promise<DatasetViewDto> {
    return this.request(datasetViewSchema, 'GET', `datasets/${pathSegment(name, 'dataset')}`);
  }
  deleteDataset(name: string, removeFiles: boolean): Promise<DeletedDatasetDto> {
    return this.request(
      deletedDatasetSchema,
      'DELETE',
      `datasets/${pathSegment(name, 'dataset')}${removeFiles ? '?removeFiles=true' : ''}`,
    );
  }
}

/**
 * A value as one URL path segment. A dot segment would name another route, and a string with a lone surrogate has no UTF-8 form (where
 * `encodeURIComponent` throws a URIError, an internal error to the user): refused as the
 * caller's mistake, naming `field`.
 */
export function pathSegment(value: string, field: string): string {
  // `.` and `..` would be resolved away by the URL: another route.
  if (value === '.' || value === '..') {
    throw new BatonError('validation', `${field}: must not be "." or ".."`, { field });
  }
  if (/\p{Surrogate}/u.test(value)) {
    throw new BatonError(
      'validation',
      `${field}: must be valid Unicode (it has a lone surrogate)`,
      {
        field,
      },
    );
  }
  return encodeURIComponent(value);
}
