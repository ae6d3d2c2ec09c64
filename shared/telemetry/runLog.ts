import { inspect } from 'node:util';
import type { InvocationContext } from '@azure/functions';
import { SeverityNumber, logs } from '@opentelemetry/api-logs';

/**
 * Log lines about a run carry its ids as fields, in both hosts. Functions log through
 * `runLog(context, { runId, step, jobId })` instead of `context.log`:
 *
 * - on the local host, the fields travel as a `LogFields` argument that the host's log handler
 *   (shared/runtime/invocation.ts) merges into the JSON line;
 * - in Azure, `context.log` reaches Application Insights only as formatted text (the worker
 *   `util.format`s its arguments into one message), so when Azure Monitor OpenTelemetry is on
 *   the line is emitted as an OpenTelemetry log record instead, its fields as attributes
 *   (custom dimensions in App Insights); without it, `context.log` still gets the fields,
 *   rendered as a JSON suffix of the message.
 */
export interface RunLogFields {
  runId?: string;
  step?: string;
  jobId?: string;
  attempt?: number;
}

export type LogFieldValues = Record<string, string | number>;

/** Fields attached to one log call. Printed as JSON where the host only takes text. */
export class LogFields {
  constructor(readonly fields: LogFieldValues) {}
  [inspect.custom](): string {
    return JSON.stringify(this.fields);
  }
  toJSON(): LogFieldValues {
    return this.fields;
  }
}

export function definedFields(fields: object): LogFieldValues {
  const out: LogFieldValues = {};
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value === 'string' || typeof value === 'number') out[key] = value;
  }
  return out;
}

let otelLogs = false;

/** Called once Azure Monitor has registered its logger provider. */
export function enableOtelLogs(): void {
  otelLogs = true;
}

export interface RunLog {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
}

type Level = 'info' | 'warn' | 'error' | 'debug';

const severity: Record<Level, SeverityNumber> = {
  debug: SeverityNumber.DEBUG,
  info: SeverityNumber.INFO,
  warn: SeverityNumber.WARN,
  error: SeverityNumber.ERROR,
};

/** A logger for one invocation whose every line carries `fields` (those that are defined). */
export function runLog(context: InvocationContext, fields: RunLogFields = {}): RunLog {
  const values = definedFields(fields);
  const emit =
    (level: Level) =>
    (...args: unknown[]): void => {
      if (otelLogs) {
        logs.getLogger('baton').emit({
          severityNumber: severity[level],
          severityText: level.toUpperCase(),
          body: args.map((a) => (typeof a === 'string' ? a : inspect(a))).join(' '),
          attributes: {
            ...values,
            invocationId: context.invocationId,
            functionName: context.functionName,
          },
        });
        return;
      }
      const withFields = Object.keys(values).length > 0 ? [...args, new LogFields(values)] : args;
      context[level](...withFields);
    };
  return {
    log: emit('info'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    debug: emit('debug'),
  };
}
