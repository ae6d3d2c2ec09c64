import { BatonError } from '../domain/errors.js';

/**
 * `-p key=value` pairs: the value is JSON when it parses as JSON (numbers, booleans, arrays),
 * otherwise the literal string; `--params '{...}'` supplies a whole object. The pipeline's own
 * schema then validates the result on the server.
 */
export function parseParams(
  pairs: readonly string[],
  paramsJson: string | undefined,
): Record<string, unknown> {
  let params: Record<string, unknown> = {};
  if (paramsJson !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(paramsJson) as unknown;
    } catch {
      throw new BatonError('validation', '--params: not valid JSON', { field: '--params' });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new BatonError('validation', '--params: must be a JSON object', { field: '--params' });
    }
    params = { ...(parsed as Record<string, unknown>) };
  }
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0)
      throw new BatonError('validation', `--param: expected key=value, got "${pair}"`, {
        field: '--param',
      });
    const key = pair.slice(0, at);
    const raw = pair.slice(at + 1);
    // defineProperty, not assignment: a key named __proto__ must stay a parameter.
    Object.defineProperty(params, key, {
      value: parseValue(raw),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return params;
}

function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}
