import { lastLines } from '../../domain/logLines.js';
import {
  ContainerInstanceManagementClient,
  type ContainerGroup,
} from '@azure/arm-containerinstance';
import type { TokenCredential } from '@azure/identity';
import { BatonError, isBatonError } from '../../domain/errors.js';
import { systemClock, type Clock } from '../../ports/clock.js';
import {
  terminalJobStates,
  type ComputeBackend,
  type JobMetricSample,
  type JobSpec,
  type JobStatus,
} from '../../ports/compute.js';
import {
  aciTags,
  checkContainerGroupName,
  jobContainerName,
  jobStatusOf,
  overdueReason,
  readContainerGroup,
  redactSecrets,
  toContainerGroup,
  type AciOutcome,
} from './aciContainerGroup.js';
import { callAzure } from './azureErrors.js';
import { azureCredential } from './credentials.js';

/** Configuration of {@link AciBackend}; explicit, never read from the environment. */
export interface AciBackendOptions {
  client: ContainerInstanceManagementClient;
  resourceGroup: string;
  location: string;
  /** Image for specs that name none; without it such specs are refused. */
  defaultImage?: string;
  /** Poll interval for long-running operations and for `cancel` waiting on the stop. Default 2000 ms. */
  pollIntervalMs?: number;
  osType?: 'Linux';
  /** Timestamps Baton writes (created-at and outcome tags) and the timeout checks. */
  clock?: Clock;
  /** A job whose container has not started this long after creation is timed out. Default 1800 s. */
  startTimeoutSeconds?: number;
  /** How long `cancel` waits for the container to stop after asking. Default 30 000 ms. */
  stopWaitMs?: number;
  /** Retries of throttled or failed calls on top of the SDK's own (see `callAzure`). */
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number };
}

/**
 * Runs jobs as Azure Container Instances: one container group per job, named by the job id
 * (derived from runId + stepId + attempt), restartPolicy Never, the argv as the container's
 * exec-form `command`.
 *
 * - **Launch is idempotent.** GET first and report an existing group; otherwise PUT with
 *   `If-None-Match: *`, so two Baton processes racing past the GET cannot both create (the
 *   loser's 412/409 turns into a GET). Whether real ARM honours that header for container
 *   groups is unverified; without it the loser's PUT would be an update of the winner's group.
 *   Launches of one id within this process share one call, so they send one PUT.
 *   Launch returns once ARM accepted the group; it does not wait for the image pull.
 * - **Timeouts are Baton's.** ACI has no per-group timeout, so the limit is tagged on the group
 *   and enforced by `status()` (counted from the container's start, as locally): a job past it
 *   is tagged `timed_out`, then stopped. A group that never starts is timed out after
 *   `startTimeoutSeconds`.
 * - **Cancel** tags the group `canceled`, then stops it (the group is kept, so status, logs and
 *   the tag survive). The tag is written first: if the stop is lost, the next `status()`
 *   repeats it.
 * - Secret-looking variables (SECRET, TOKEN, KEY, PASSWORD, ...) go as `secureValue` and are
 *   masked in any error message that would echo them.
 */
export class AciBackend implements ComputeBackend {
  readonly name = 'aci';
  private readonly client: ContainerInstanceManagementClient;
  private readonly resourceGroup: string;
  private readonly location: string;
  private readonly defaultImage: string | undefined;
  private readonly pollIntervalMs: number;
  private readonly osType: 'Linux';
  private readonly clock: Clock;
  private readonly startTimeoutSeconds: number;
  private readonly stopWaitMs: number;
  private readonly retry: NonNullable<AciBackendOptions['retry']>;
  private readonly launching = new Map<string, Promise<JobStatus>>();

  constructor(options: AciBackendOptions) {
    if (!options.resourceGroup) throw new BatonError('validation', 'resourceGroup is required');
    if (!options.location) throw new BatonError('validation', 'location is required');
    this.client = options.client;
    this.resourceGroup = options.resourceGroup;
    this.location = options.location;
    this.defaultImage = options.defaultImage;
    this.pollIntervalMs = options.pollIntervalMs ?? 2000;
    this.osType = options.osType ?? 'Linux';
    this.clock = options.clock ?? systemClock;
    this.startTimeoutSeconds = options.startTimeoutSeconds ?? 1800;
    this.stopWaitMs = options.stopWaitMs ?? 30_000;
    this.retry = options.retry ?? {};
  }

  async launch(spec: JobSpec): Promise<JobStatus> {
    const name = checkContainerGroupName(spec.jobId);
    const { group, secrets } = toContainerGroup(spec, {
      location: this.location,
      osType: this.osType,
      createdAt: this.clock.now(),
      ...(this.defaultImage === undefined ? {} : { defaultImage: this.defaultImage }),
    });
    const inFlight = this.launching.get(name);
    if (inFlight !== undefined) return inFlight;
    const launched = this.createOnce(name, group).catch((error: unknown) => {
      throw isBatonError(error) ? redactSecrets(error, secrets) : error;
    });
    this.launching.set(name, launched);
    try {
      return await launched;
    } finally {
      this.launching.delete(name);
    }
  }

  async status(jobId: string): Promise<JobStatus> {
    const name = checkContainerGroupName(jobId);
    return this.statusOf(name, await this.get(name));
  }

  async logs(jobId: string, options: { tail?: number } = {}): Promise<string> {
    const name = checkContainerGroupName(jobId);
    const tail = options.tail;
    if (tail !== undefined && (!Number.isInteger(tail) || tail < 0)) {
      throw new BatonError('validation', 'tail: must be a non-negative integer', { field: 'tail' });
    }
    if (tail === 0) {
      await this.get(name); // still not_found for an unknown job
      return '';
    }
    try {
      const result = await this.call(`read the logs of container group ${name}`, () =>
        this.client.containers.listLogs(
          this.resourceGroup,
          name,
          jobContainerName,
          tail === undefined ? {} : { tail },
        ),
      );
      const content = result.content ?? '';
      return tail === undefined ? content : lastLines(content, tail);
    } catch (error) {
      // ACI has no log for a container that has not started, or whose group was stopped
      // (unverified on real ARM): for a job that exists, that is an empty log, not not_found.
      if (!isBatonError(error, 'not_found') && !isBatonError(error, 'validation')) throw error;
      await this.get(name);
      return '';
    }
  }

  /**
   * Always [] for an existing group: ARM exposes no per-process metrics (Azure Monitor has
   * group-level CPU and memory, minutes apart), so `monitor` is ignored here. `not_found` for an
   * unknown group.
   */
  async metrics(jobId: string): Promise<JobMetricSample[]> {
    await this.get(checkContainerGroupName(jobId));
    return [];
  }

  async cancel(jobId: string): Promise<JobStatus> {
    const name = checkContainerGroupName(jobId);
    const group = await this.get(name);
    const current = await this.statusOf(name, group);
    if (terminalJobStates.includes(current.state)) return current;
    await this.endJob(name, group, 'canceled', 'canceled');
    const deadline = Date.now() + this.stopWaitMs;
    for (;;) {
      const reading = readContainerGroup(await this.get(name));
      if (!reading.live || Date.now() >= deadline) return jobStatusOf(name, reading);
      await sleep(this.pollIntervalMs);
    }
  }

  async release(jobId: string): Promise<void> {
    const name = checkContainerGroupName(jobId);
    const group = await this.find(name);
    if (group === undefined) return;
    const current = await this.statusOf(name, group);
    if (!terminalJobStates.includes(current.state)) {
      throw new BatonError(
        'conflict',
        `job ${jobId} is ${current.state}: cancel it before releasing`,
      );
    }
    await this.call(`delete container group ${name}`, () =>
      this.client.containerGroups.beginDeleteAndWait(this.resourceGroup, name, {
        updateIntervalInMs: this.pollIntervalMs,
      }),
    );
  }

  private async createOnce(name: string, group: ContainerGroup): Promise<JobStatus> {
    const existing = await this.find(name);
    if (existing !== undefined) return this.statusOf(name, existing);
    try {
      // The poller is dropped on purpose: ARM has accepted the group; status() follows it.
      await this.call(`create container group ${name}`, () =>
        this.client.containerGroups.beginCreateOrUpdate(this.resourceGroup, name, group, {
          updateIntervalInMs: this.pollIntervalMs,
          requestOptions: { customHeaders: { 'If-None-Match': '*' } },
        }),
      );
    } catch (error) {
      // Someone else created it between our GET and PUT: theirs is the job.
      if (!isBatonError(error, 'precondition_failed') && !isBatonError(error, 'conflict')) {
        throw error;
      }
    }
    return this.status(name);
  }

  /** The status of a fetched group, ending it first if it is past its time. */
  private async statusOf(name: string, group: ContainerGroup): Promise<JobStatus> {
    const reading = readContainerGroup(group);
    if (reading.outcome !== undefined && reading.live) {
      // Tagged but still running: the stop after the tag was lost. Ask again.
      await this.stop(name).catch(() => undefined);
    }
    const overdue = overdueReason(reading, this.clock.now(), this.startTimeoutSeconds);
    if (overdue === undefined) return jobStatusOf(name, reading);
    await this.endJob(name, group, 'timed_out', overdue);
    return jobStatusOf(name, readContainerGroup(await this.get(name)));
  }

  /** Records why the job ends (tags first, so it survives a lost stop), then stops the group. */
  private async endJob(
    name: string,
    group: ContainerGroup,
    outcome: AciOutcome,
    message: string,
  ): Promise<void> {
    const tags = {
      ...group.tags,
      [aciTags.outcome]: outcome,
      [aciTags.outcomeAt]: this.clock.now().toISOString(),
      [aciTags.outcomeMessage]: message.slice(0, 256),
    };
    await this.call(`tag container group ${name}`, () =>
      this.client.containerGroups.update(this.resourceGroup, name, { tags }),
    );
    await this.stop(name);
  }

  private stop(name: string): Promise<void> {
    return this.call(`stop container group ${name}`, () =>
      this.client.containerGroups.stop(this.resourceGroup, name),
    );
  }

  private get(name: string): Promise<ContainerGroup> {
    return this.call(`read container group ${name}`, () =>
      this.client.containerGroups.get(this.resourceGroup, name),
    );
  }

  private async find(name: string): Promise<ContainerGroup | undefined> {
    try {
      return await this.get(name);
    } catch (error) {
      if (isBatonError(error, 'not_found')) return undefined;
      throw error;
    }
  }

  private call<T>(what: string, action: () => Promise<T>): Promise<T> {
    return callAzure(what, action, this.retry);
  }
}

/** Options of {@link createAciBackend}: where the groups live, and how to reach ARM. */
export interface CreateAciBackendOptions extends Omit<AciBackendOptions, 'client'> {
  subscriptionId: string;
  /** Defaults to the shared DefaultAzureCredential (managed identity in Azure, `az login` locally). */
  credential?: TokenCredential;
  /** ARM endpoint, e.g. a sovereign cloud's; defaults to the SDK's (public Azure). */
  endpoint?: string;
}

/**
 * An {@link AciBackend} with its own ARM client, authenticated with the shared
 * DefaultAzureCredential unless `credential` is given. Needs the Contributor role (or
 * `Microsoft.ContainerInstance/containerGroups/*`) on the resource group.
 */
export function createAciBackend(options: CreateAciBackendOptions): AciBackend {
  const { subscriptionId, credential, endpoint, ...rest } = options;
  if (!subscriptionId) throw new BatonError('validation', 'subscriptionId is required');
  const client = new ContainerInstanceManagementClient(
    credential ?? azureCredential(),
    subscriptionId,
    endpoint === undefined ? {} : { endpoint },
  );
  return new AciBackend({ client: limitRequestTime(client), ...rest });
}

/** Per request to ARM; its calls are small, so a minute is slack, not a limit on real work. */
export const armRequestTimeoutMs = 60_000;

/**
 * Gives every ARM request a time limit. The SDK sets none, so a connection that hangs (a
 * half-open socket, a stalled proxy) would hold a launch or a status check forever; a try that
 * times out fails as an abort, which `callAzure` takes as `unavailable` and retries.
 */
export function limitRequestTime(
  client: ContainerInstanceManagementClient,
  ms: number = armRequestTimeoutMs,
): ContainerInstanceManagementClient {
  client.pipeline.addPolicy({
    name: 'batonRequestTimeout',
    sendRequest: (request, next) => {
      if (!request.timeout) request.timeout = ms;
      return next(request);
    },
  });
  return client;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
