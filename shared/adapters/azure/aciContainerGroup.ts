import { checkArgv, checkEnv } from '../../domain/jobSpec.js';
import type { Container, ContainerGroup, ContainerState } from '@azure/arm-containerinstance';
import { BatonError } from '../../domain/errors.js';
import type { JobSpec, JobState, JobStatus } from '../../ports/compute.js';

/**
 * The two converters between Baton's jobs and ACI container groups, kept pure so they are
 * testable without a client: {@link toContainerGroup} (JobSpec → PUT body, validating
 * everything first so an invalid spec never reaches Azure) and {@link readContainerGroup}
 * (GET result → what Baton needs to know, including the outcome Baton itself recorded).
 *
 * What ACI cannot hold natively travels in tags on the group, so every Baton process that
 * looks at the group later reads the same facts:
 * - `baton-timeout-seconds`: the job's run-time limit (ACI has none per group);
 * - `baton-created-at`: when the group was created, for the start timeout;
 * - `baton-outcome` (`canceled` | `timed_out`), `baton-outcome-at`, `baton-outcome-message`:
 *   written before the group is stopped, so a stopped group keeps reporting why.
 */
export const aciTags = {
  timeoutSeconds: 'baton-timeout-seconds',
  createdAt: 'baton-created-at',
  outcome: 'baton-outcome',
  outcomeAt: 'baton-outcome-at',
  outcomeMessage: 'baton-outcome-message',
} as const;

/** The one container in every group Baton creates. */
export const jobContainerName = 'job';

export type AciOutcome = 'canceled' | 'timed_out';

/**
 * ACI's rule for container group names: 1-63 characters of `[a-z0-9-]`, no leading or trailing
 * '-', no '--'. Stricter than the port's job id pattern (which allows '--' and a trailing '-').
 */
const containerGroupNamePattern = /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,62}$/;
/** Variables whose names say they hold a secret go as `secureValue` (never echoed by ARM). */
const secretNamePattern = /SECRET|TOKEN|KEY|PASSWORD|PASSWD|CREDENTIAL|CONNECTION_?STRING/i;

const defaultCpu = 1;
const defaultMemoryGb = 1.5;

/** The job id, if it is a valid container group name; `validation` otherwise. */
export function checkContainerGroupName(jobId: unknown): string {
  if (typeof jobId !== 'string' || !containerGroupNamePattern.test(jobId)) {
    throw invalid(
      'jobId',
      'must be a valid container group name: 1-63 of a-z, 0-9 and "-", no leading, trailing or double "-"',
    );
  }
  return jobId;
}

/** Whether a variable's name says it holds a secret (sent as `secureValue`). */
export function isSecretEnvName(name: string): boolean {
  return secretNamePattern.test(name);
}

export interface ContainerGroupDefaults {
  location: string;
  osType: 'Linux';
  defaultImage?: string;
  /** Stamped into the `baton-created-at` tag. */
  createdAt: Date;
}

/**
 * The PUT body for a job: one container running `argv` exactly as given (ACI's `command` is an
 * exec array, no shell), restartPolicy Never, secret-looking variables as `secureValue`.
 * Returns the secret values too, so error messages can be scrubbed of them.
 */
export function toContainerGroup(
  spec: JobSpec,
  defaults: ContainerGroupDefaults,
): { group: ContainerGroup; secrets: string[] } {
  checkContainerGroupName(spec.jobId);
  const argv = checkArgv(spec.argv);
  const image = checkImage(spec.image ?? defaults.defaultImage);
  const cpu = checkPositive('cpu', spec.cpu) ?? defaultCpu;
  const memoryInGB = checkPositive('memoryGb', spec.memoryGb) ?? defaultMemoryGb;
  const timeoutSeconds = checkPositive('timeoutSeconds', spec.timeoutSeconds);
  if (spec.cwd !== undefined) {
    throw invalid('cwd', 'is not supported by the ACI backend (the image sets the directory)');
  }
  const secrets: string[] = [];
  const environmentVariables = Object.entries(checkEnv(spec.env)).map(([name, value]) => {
    if (!isSecretEnvName(name)) return { name, value };
    if (value !== '') secrets.push(value);
    return { name, secureValue: value };
  });
  const tags: Record<string, string> = { [aciTags.createdAt]: defaults.createdAt.toISOString() };
  if (timeoutSeconds !== undefined) tags[aciTags.timeoutSeconds] = String(timeoutSeconds);
  const container: Container = {
    name: jobContainerName,
    image,
    command: argv,
    environmentVariables,
    resources: { requests: { cpu, memoryInGB } },
  };
  return {
    group: {
      location: defaults.location,
      tags,
      osType: defaults.osType,
      restartPolicy: 'Never',
      containers: [container],
    },
    secrets,
  };
}

/** What a GET of the group says about the job, before Baton's own outcome is applied. */
export interface GroupReading {
  /** The job's state as ACI reports it (ignoring Baton's outcome tags). */
  state: JobState;
  /** The container may still be running or about to start. */
  live: boolean;
  exitCode?: number;
  startedAt?: string;
  finishedAt?: string;
  message?: string;
  /** What Baton recorded when it stopped the group. */
  outcome?: { state: AciOutcome; at?: string; message?: string };
  timeoutSeconds?: number;
  createdAt?: string;
  tags: Record<string, string>;
}

/**
 * Reads a group: the container's `currentState` decides (Terminated → exit code, Running,
 * Waiting), except that a group that failed to provision (image pull, quota) is `failed` and a
 * group stopped by anyone is `canceled`.
 */
export function readContainerGroup(group: ContainerGroup): GroupReading {
  const tags = { ...group.tags };
  const container =
    group.containers.find((c) => c.name === jobContainerName) ?? group.containers[0];
  const current: ContainerState | undefined = container?.instanceView?.currentState;
  const reading: GroupReading = { state: 'pending', live: true, tags };
  const startedAt = isoOf(current?.startTime);
  const finishedAt = isoOf(current?.finishTime);
  if (startedAt !== undefined) reading.startedAt = startedAt;
  if (current?.exitCode !== undefined) reading.exitCode = current.exitCode;

  const groupState = group.instanceView?.state;
  if (current?.state === 'Terminated') {
    reading.live = false;
    if (finishedAt !== undefined) reading.finishedAt = finishedAt;
    reading.state = current.exitCode === 0 ? 'succeeded' : 'failed';
    if (current.exitCode === undefined) reading.message = current.detailStatus ?? 'terminated';
    else if (current.exitCode !== 0) reading.message = `exited with code ${current.exitCode}`;
  } else if (group.provisioningState === 'Failed' || groupState === 'Failed') {
    reading.live = false;
    reading.state = 'failed';
    reading.message = `container group failed to start: ${lastEventOf(group, container) ?? current?.detailStatus ?? 'provisioning failed'}`;
  } else if (current?.state === 'Running') {
    reading.state = 'running';
  }
  if (groupState === 'Stopped' && reading.state !== 'failed' && reading.state !== 'succeeded') {
    reading.live = false;
    reading.state = 'canceled';
    reading.message = 'container group was stopped';
  }

  const outcome = tags[aciTags.outcome];
  if (outcome === 'canceled' || outcome === 'timed_out') {
    reading.outcome = { state: outcome };
    const at = tags[aciTags.outcomeAt];
    const message = tags[aciTags.outcomeMessage];
    if (at !== undefined) reading.outcome.at = at;
    if (message !== undefined) reading.outcome.message = message;
  }
  const timeout = Number(tags[aciTags.timeoutSeconds]);
  if (Number.isFinite(timeout) && timeout > 0) reading.timeoutSeconds = timeout;
  const createdAt = tags[aciTags.createdAt];
  if (createdAt !== undefined && !Number.isNaN(Date.parse(createdAt))) {
    reading.createdAt = createdAt;
  }
  return reading;
}

/** The port's view: Baton's recorded outcome wins over what the container did after it. */
export function jobStatusOf(jobId: string, reading: GroupReading): JobStatus {
  const out: JobStatus = { jobId, state: reading.outcome?.state ?? reading.state };
  if (reading.exitCode !== undefined) out.exitCode = reading.exitCode;
  if (reading.startedAt !== undefined) out.startedAt = reading.startedAt;
  const finishedAt = reading.outcome?.at ?? reading.finishedAt;
  if (finishedAt !== undefined) out.finishedAt = finishedAt;
  const message = reading.outcome?.message ?? reading.message;
  if (message !== undefined) out.message = message;
  return out;
}

/**
 * Why a live job must be ended now, if it must: it ran longer than its `timeoutSeconds`
 * (counted from the container's start, as the local backend counts from the process start),
 * or it has not started `startTimeoutSeconds` after the group was created.
 */
export function overdueReason(
  reading: GroupReading,
  now: Date,
  startTimeoutSeconds: number,
): string | undefined {
  if (!reading.live || reading.outcome !== undefined) return undefined;
  const elapsedSince = (iso: string): number => (now.getTime() - Date.parse(iso)) / 1000;
  if (reading.state === 'running' && reading.timeoutSeconds !== undefined) {
    const since = reading.startedAt ?? reading.createdAt;
    if (since !== undefined && elapsedSince(since) >= reading.timeoutSeconds) {
      return `timed out after ${reading.timeoutSeconds} s`;
    }
  }
  if (
    reading.state === 'pending' &&
    reading.createdAt !== undefined &&
    elapsedSince(reading.createdAt) >= startTimeoutSeconds
  ) {
    return `timed out: did not start within ${startTimeoutSeconds} s`;
  }
  return undefined;
}

/**
 * Rebuilds `error` with every secret value masked when its message (or its cause's) contains
 * one: an ARM error may echo a request value, and the cause would carry it on. The rebuilt
 * error keeps code and retry meaning but drops the cause.
 */
export function redactSecrets(error: BatonError, secrets: readonly string[]): BatonError {
  const causeMessage = error.cause instanceof Error ? error.cause.message : '';
  const leaks = secrets.filter((s) => s !== '' && (error.message + causeMessage).includes(s));
  if (leaks.length === 0) return error;
  let message = error.message;
  for (const secret of leaks) message = message.split(secret).join('***');
  return new BatonError(error.code, message, {
    retryable: error.retryable,
    ...(error.field === undefined ? {} : { field: error.field }),
  });
}

function lastEventOf(group: ContainerGroup, container: Container | undefined): string | undefined {
  const events = [
    ...(group.instanceView?.events ?? []),
    ...(container?.instanceView?.events ?? []),
  ];
  return events.at(-1)?.message;
}

function isoOf(value: Date | string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

function checkImage(image: unknown): string {
  if (typeof image !== 'string' || image === '') {
    throw invalid('image', 'is required (no defaultImage is configured)');
  }
  if (/\s/.test(image) || image.length > 400) {
    throw invalid('image', 'must be an image reference without whitespace (max 400)');
  }
  return image;
}

function checkPositive(field: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw invalid(field, 'must be a positive number');
  }
  return value;
}

function invalid(field: string, why: string): BatonError {
  return new BatonError('validation', `${field}: ${why}`, { field });
}
