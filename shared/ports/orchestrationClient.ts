/**
 * What HTTP functions and the CLI need from Durable Functions, behind one small interface: the
 * Azure implementation wraps the durable-functions `DurableClient`; the local engine implements
 * the same calls directly. Both return Baton's own shapes, never library classes.
 */
export type RuntimeStatus =
  | 'Pending'
  | 'Running'
  | 'Completed'
  | 'ContinuedAsNew'
  | 'Failed'
  | 'Canceled'
  | 'Terminated'
  | 'Suspended';

export const terminalRuntimeStatuses: readonly RuntimeStatus[] = [
  'Completed',
  'Failed',
  'Canceled',
  'Terminated',
];

/** One unit of work an orchestration scheduled, folded from its history. */
export interface WorkItemRecord {
  kind: 'activity' | 'subOrchestration' | 'timer' | 'event';
  /** Function (or event) name. */
  name: string;
  /** Durable task id, when the history carries one. */
  taskId?: number;
  status: 'scheduled' | 'completed' | 'failed';
  /** ISO 8601 */
  scheduledAt?: string;
  finishedAt?: string;
  error?: string;
  /** For sub-orchestrations: the child instance id. */
  instanceId?: string;
  /** For retries: the task id of the first attempt this one repeats. */
  retryOf?: number;
}

export interface InstanceStatus {
  instanceId: string;
  name: string;
  runtimeStatus: RuntimeStatus;
  input: unknown;
  output: unknown;
  customStatus: unknown;
  /** ISO 8601 */
  createdTime: string;
  lastUpdatedTime: string;
  /** Present when asked for with `history: true`. */
  history?: WorkItemRecord[];
}

export interface InstanceQuery {
  runtimeStatus?: RuntimeStatus[];
  /** ISO 8601 */
  createdTimeFrom?: string;
  createdTimeTo?: string;
  /** Only instances whose id starts with this. */
  instanceIdPrefix?: string;
}

export interface OrchestrationClient {
  /** Starts `name`; `conflict` if a non-terminal instance with that id exists. Returns the id. */
  start(name: string, options: { instanceId?: string; input?: unknown }): Promise<string>;
  /** undefined when there is no such instance. */
  getStatus(
    instanceId: string,
    options?: { history?: boolean },
  ): Promise<InstanceStatus | undefined>;
  list(query?: InstanceQuery): Promise<InstanceStatus[]>;
  /** `not_found` when there is no such instance. */
  raiseEvent(instanceId: string, eventName: string, data?: unknown): Promise<void>;
  terminate(instanceId: string, reason: string): Promise<void>;
  /** Removes a terminal instance's history; returns false when there was nothing to purge. */
  purge(instanceId: string): Promise<boolean>;
}
