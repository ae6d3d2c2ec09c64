import * as df from 'durable-functions';
import { z } from 'zod';
import { BatonError } from '../../domain/errors.js';
import type { InvocationContext } from '../../runtime/functionsApi.js';
import type {
  InstanceQuery,
  InstanceStatus,
  OrchestrationClient,
  RuntimeStatus,
} from '../../ports/orchestrationClient.js';
import { fromDurableHistoryJson } from './durableHistoryJson.js';

/**
 * OrchestrationClient over the durable-functions `DurableClient`, taken from a function's
 * `durableClient` input binding. Under Azure the extension answers its calls; under the local
 * host, the engine's webhook routes do, so the same function code runs in both places.
 */
export class DurableFunctionsClient implements OrchestrationClient {
  constructor(private readonly client: df.DurableClient) {}

  static fromContext(context: InvocationContext): DurableFunctionsClient {
    return new DurableFunctionsClient(df.getClient(context));
  }

  async start(name: string, options: { instanceId?: string; input?: unknown }): Promise<string> {
    const startOptions: df.StartNewOptions = {};
    if (options.instanceId !== undefined) startOptions.instanceId = options.instanceId;
    if (options.input !== undefined) startOptions.input = options.input;
    try {
      return await this.client.startNew(name, startOptions);
    } catch (error) {
      throw translate(error, `starting ${name}`);
    }
  }

  async getStatus(
    instanceId: string,
    options: { history?: boolean } = {},
  ): Promise<InstanceStatus | undefined> {
    try {
      const status = await this.client.getStatus(instanceId, {
        showHistory: options.history === true,
        showHistoryOutput: false,
        showInput: true,
      });
      return fromLibraryStatus(status, options.history === true);
    } catch (error) {
      if (error instanceof Error && /404/.test(error.message)) return undefined;
      throw translate(error, `reading ${instanceId}`);
    }
  }

  async list(query: InstanceQuery = {}): Promise<InstanceStatus[]> {
    const filter: df.OrchestrationFilter = {};
    if (query.runtimeStatus)
      filter.runtimeStatus = query.runtimeStatus as df.OrchestrationRuntimeStatus[];
    if (query.createdTimeFrom) filter.createdTimeFrom = new Date(query.createdTimeFrom);
    if (query.createdTimeTo) filter.createdTimeTo = new Date(query.createdTimeTo);
    const all =
      Object.keys(filter).length > 0
        ? await this.client.getStatusBy(filter)
        : await this.client.getStatusAll();
    return all
      .map((s) => fromLibraryStatus(s, false))
      .filter((s) => !query.instanceIdPrefix || s.instanceId.startsWith(query.instanceIdPrefix));
  }

  async raiseEvent(instanceId: string, eventName: string, data?: unknown): Promise<void> {
    try {
      await this.client.raiseEvent(instanceId, eventName, data ?? null);
    } catch (error) {
      throw translate(error, `raising ${eventName} on ${instanceId}`);
    }
  }

  async terminate(instanceId: string, reason: string): Promise<void> {
    try {
      await this.client.terminate(instanceId, reason);
    } catch (error) {
      throw translate(error, `terminating ${instanceId}`);
    }
  }

  async purge(instanceId: string): Promise<boolean> {
    try {
      const result = await this.client.purgeInstanceHistory(instanceId);
      return result.instancesDeleted > 0;
    } catch (error) {
      throw translate(error, `purging ${instanceId}`);
    }
  }
}

const statusSchema = z.object({
  name: z.string().optional(),
  instanceId: z.string(),
  createdTime: z.union([z.date(), z.string()]),
  lastUpdatedTime: z.union([z.date(), z.string()]),
  runtimeStatus: z.string(),
  input: z.unknown().optional(),
  output: z.unknown().optional(),
  customStatus: z.unknown().optional(),
  history: z.array(z.unknown()).optional(),
});

function fromLibraryStatus(raw: unknown, withHistory: boolean): InstanceStatus {
  const s = statusSchema.parse(raw);
  const status: InstanceStatus = {
    instanceId: s.instanceId,
    name: s.name ?? '',
    runtimeStatus: s.runtimeStatus as RuntimeStatus,
    input: s.input ?? null,
    output: s.output ?? null,
    customStatus: s.customStatus ?? null,
    createdTime: new Date(s.createdTime).toISOString(),
    lastUpdatedTime: new Date(s.lastUpdatedTime).toISOString(),
  };
  if (withHistory) status.history = fromDurableHistoryJson(s.history ?? []);
  return status;
}

/** The library reports failures as plain Errors carrying the HTTP status in the text. */
function translate(error: unknown, what: string): BatonError {
  const message = error instanceof Error ? error.message : String(error);
  if (/\b404\b|No instance/i.test(message))
    return new BatonError('not_found', `${what}: no such instance`);
  if (/\b409\b/.test(message)) return new BatonError('conflict', `${what}: ${message}`);
  if (/\b400\b/.test(message)) return new BatonError('validation', `${what}: ${message}`);
  return new BatonError('unavailable', `${what}: ${message}`, { cause: error });
}
