import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { BatonError } from './errors.js';

/**
 * What every YAML configuration file (model runs, beamline) shares: parsing with positions in
 * syntax errors, zod messages users can act on, and errors that read `<file>: <field>: <why>`.
 */

/** Default zod messages, reworded: a missing field is `required`, a wrong type says both. */
export const configErrorMap: z.core.$ZodErrorMap = (issue) => {
  if (issue.code !== 'invalid_type') return undefined;
  if (issue.input === undefined) return 'required';
  return `expected ${issue.expected}, got ${describeYamlValue(issue.input)}`;
};

export function describeYamlValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

/** `<file>: <field>: <why>` as a validation error with the field path. */
export function configError(fileName: string, field: string, why: string): BatonError {
  const where = field === '' ? fileName : `${fileName}: ${field}`;
  // A fault of the whole file names the file as the field, as a YAML syntax error does.
  return new BatonError('validation', `${where}: ${why}`, {
    field: field === '' ? fileName : field,
  });
}

/**
 * The YAML text as plain data. Syntax errors name `<file>:<line>:<column>`; duplicate keys are
 * errors; aliases are limited (no billion laughs).
 */
export function parseYamlConfig(source: string, fileName: string): unknown {
  const doc = parseDocument(source, { prettyErrors: true, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const pos = error.linePos?.[0];
    const where = pos ? `${fileName}:${pos.line}:${pos.col}` : fileName;
    const firstLine = error.message.split('\n')[0] ?? error.message;
    const why = firstLine.replace(/ at line \d+, column \d+:?$/, '');
    throw new BatonError('validation', `${where}: invalid YAML: ${why}`, { field: fileName });
  }
  try {
    return doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new BatonError('validation', `${fileName}: invalid YAML: ${why}`, {
      field: fileName,
      cause,
    });
  }
}
