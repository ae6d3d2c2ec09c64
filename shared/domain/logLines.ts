import { BatonError } from './errors.js';
import type { LogLine } from '../ports/logStore.js';

/**
 * Validation shared by every LogStore adapter: run ids and step names become path segments
 * (files, blob names), so only plain names are allowed; lines keep exactly the port's fields.
 */
export const logLevels: ReadonlySet<string> = new Set<LogLine['level']>([
  'debug',
  'info',
  'warn',
  'error',
]);

/** No separators, no leading dot or dash. */
export const logNamePattern = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;

export function checkLogName(value: unknown, field: string): string {
  if (typeof value !== 'string' || !logNamePattern.test(value)) {
    throw new BatonError(
      'validation',
      `${field}: must be 1-200 letters, digits, ".", "_" or "-", not starting with "." or "-"`,
      { field },
    );
  }
  return value;
}

/** Keeps exactly the port's fields, so what is read back is what the port promises. */
export function normalizeLogLine(line: LogLine, index: number): LogLine {
  const field = `lines[${index}]`;
  if (typeof line !== 'object' || line === null) {
    throw new BatonError('validation', `${field}: must be an object`, { field });
  }
  if (typeof line.at !== 'string' || Number.isNaN(Date.parse(line.at))) {
    throw new BatonError('validation', `${field}.at: must be an ISO 8601 instant`, {
      field: `${field}.at`,
    });
  }
  if (!logLevels.has(line.level)) {
    throw new BatonError('validation', `${field}.level: must be debug, info, warn or error`, {
      field: `${field}.level`,
    });
  }
  if (typeof line.message !== 'string') {
    throw new BatonError('validation', `${field}.message: must be a string`, {
      field: `${field}.message`,
    });
  }
  return { at: line.at, level: line.level, message: line.message };
}

/** The last `lines` lines of `text`, a trailing newline kept (the local backend's semantics). */
export function lastLines(text: string, lines: number): string {
  if (lines <= 0 || text === '') return '';
  const trailing = text.endsWith('\n');
  const parts = (trailing ? text.slice(0, -1) : text).split('\n');
  const kept = parts.slice(-lines).join('\n');
  return trailing ? `${kept}\n` : kept;
}
