import { randomUUID } from 'node:crypto';
import type {
  InstanceQuery,
  InstanceStatus,
  OrchestrationClient,
} from '../../ports/orchestrationClient.js';
import type { DurableEngine } from './engine.js';

/**
 * OrchestrationClient straight over the local engine, for code that runs inside the host
 * process without an HTTP hop (tests, tools). Function handlers use the durable-functions
 * client instead, which reaches the same engine through the webhook routes; one contract suite
 * holds both to the same behaviour.
 */
export class EngineClient implements OrchestrationClient {
  constructor(private readonly engine: DurableEngine) {}

  start(name: string, options: { instanceId?: string; input?: unknown }): Promise<string> {
    return this.engine.startInstance(
      name,
      options.instanceId ?? randomUUID().replace(/-/g, ''),
      options.input,
    );
  }

  getStatus(
    instanceId: string,
    options: { history?: boolean } = {},
  ): Promise<InstanceStatus | undefined> {
    return this.engine.getStatus(instanceId, options.history === true);
  }

  async list(query: InstanceQuery = {}): Promise<InstanceStatus[]> {
    return this.engine.list(query);
  }

  raiseEvent(instanceId: string, eventName: string, data?: unknown): Promise<void> {
    return this.engine.raiseEvent(instanceId, eventName, data ?? null);
  }

  terminate(instanceId: string, reason: string): Promise<void> {
    return this.engine.terminate(instanceId, reason);
  }

  purge(instanceId: string): Promise<boolean> {
    return this.engine.purge(instanceId);
  }
}
