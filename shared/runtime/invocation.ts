import { randomUUID } from 'node:crypto';
import { definedFields, LogFields, type LogFieldValues } from '../telemetry/runLog.js';
import type { Logger } from './logger.js';
import { InvocationContext } from './functionsApi.js';
import type { RegisteredFunction } from './functionRegistry.js';

/**
 * Builds the InvocationContext a registered function expects: its binding options (so that
 * `df.getClient` finds its durableClient input), its extra input values, and a log handler
 * that routes `context.log` to the host's logger. Every line carries `logFields` (a message's
 * runId and jobId) plus the fields a function passes through `runLog` (shared/telemetry/runLog.ts).
 */
export function invocationContextFor(
  fn: RegisteredFunction,
  logger: Logger,
  extras: {
    inputs?: Record<string, unknown>;
    triggerMetadata?: Record<string, unknown>;
    logFields?: LogFieldValues;
  } = {},
): InvocationContext {
  const base = logger.child({ function: fn.name, ...extras.logFields });
  const context = new InvocationContext({
    invocationId: randomUUID(),
    functionName: fn.name,
    ...(extras.triggerMetadata ? { triggerMetadata: extras.triggerMetadata } : {}),
    logHandler: (level, ...all) => {
      const fields = all.filter((a): a is LogFields => a instanceof LogFields);
      const args = all.filter((a) => !(a instanceof LogFields));
      const message = args
        .map((a) =>
          a instanceof Error
            ? (a.stack ?? a.message)
            : typeof a === 'string'
              ? a
              : JSON.stringify(a),
        )
        .join(' ');
      const log =
        fields.length === 0
          ? base
          : base.child(Object.assign({}, ...fields.map((f) => f.fields)) as LogFieldValues);
      if (level === 'error' || level === 'critical') log.error(message);
      else if (level === 'warning') log.warn(message);
      else if (level === 'information') log.info(message);
      else log.debug(message);
    },
    options: {
      trigger: fn.trigger,
      extraInputs: fn.extraInputs,
      extraOutputs: fn.extraOutputs,
      ...(fn.returnBinding ? { return: fn.returnBinding } : {}),
    },
  });
  for (const input of fn.extraInputs) {
    const value = extras.inputs?.[input.type];
    if (value !== undefined) context.extraInputs.set(input.name, value);
  }
  return context;
}

/** The run and job a queue message is about (its body's `runId` and `jobId`, when present). */
export function logFieldsOfMessage(body: unknown): LogFieldValues {
  if (typeof body !== 'object' || body === null) return {};
  const { runId, jobId } = body as { runId?: unknown; jobId?: unknown };
  return definedFields({ runId, jobId });
}

/** `%NAME%` in a binding option means "the app setting NAME", as in the Functions host. */
export function resolveAppSetting(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/%([A-Za-z0-9_]+)%/g, (_, name: string) => {
    const setting = env[name];
    if (setting === undefined || setting === '') throw new Error(`app setting ${name} is not set`);
    return setting;
  });
}

/** A binding option that must be a string (route, schedule, queue name, path). */
export function stringOption(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
