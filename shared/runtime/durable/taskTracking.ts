import { createRequire } from 'node:module';

/**
 * durable-functions assigns each yielded task a sequence id inside its executor but exposes no
 * list of them, and it never compares a replayed history with the code. To find out exactly
 * which id stands for which piece of work (including the hidden ids of retries) we record every
 * id assignment made by `trackOpenTask`. This reaches into library internals, so the library
 * version is pinned exactly in package.json and the replay tests break loudly if it changes.
 */
export interface LibraryAction {
  actionType: number;
  functionName?: string;
  input?: unknown;
  instanceId?: string;
  fireAt?: Date | string;
  retryOptions?: LibraryRetryOptions;
  compoundActions?: LibraryAction[];
}

export interface LibraryRetryOptions {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

export interface LibraryTask {
  id: number | string | false;
  actionObj?: LibraryAction;
  parent?: LibraryTask & {
    children?: LibraryTask[];
    innerTask?: LibraryTask;
    retryOptions?: LibraryRetryOptions;
  };
}

interface TrackingExecutor {
  batonAssigned?: LibraryTask[];
}

const assignedKey = 'batonAssigned';
let patched = false;

function patchExecutor(): void {
  if (patched) return;
  patched = true;
  const require = createRequire(import.meta.url);
  const mod = require('durable-functions/lib/src/orchestrations/TaskOrchestrationExecutor.js') as {
    TaskOrchestrationExecutor: { prototype: { trackOpenTask: (task: LibraryTask) => void } };
  };
  const proto = mod.TaskOrchestrationExecutor.prototype;
  const original = proto.trackOpenTask;
  if (typeof original !== 'function') {
    throw new Error('durable-functions internals changed: trackOpenTask not found');
  }
  proto.trackOpenTask = function trackOpenTask(this: TrackingExecutor, task: LibraryTask) {
    const before = task.id;
    original.call(this, task);
    if (before === false && typeof task.id === 'number') {
      (this[assignedKey] ??= []).push(task);
    }
  };
}

patchExecutor();

/** The tasks that received sequence ids during the last replay, in assignment order. */
export function assignedTasks(executor: unknown): LibraryTask[] {
  return (executor as TrackingExecutor | undefined)?.[assignedKey] ?? [];
}
