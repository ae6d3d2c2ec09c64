/**
 * Azure Functions route templates (`runs/{runId}`, `files/{*rest}`, `items/{id:int}`,
 * `a/{b?}`) matched against a request path. Literal segments beat parameters, so the
 * most specific registration wins regardless of registration order.
 */
export interface CompiledRoute {
  template: string;
  segments: Array<{ literal: string } | { param: string; optional: boolean; catchAll: boolean; constraint?: string }>;
  specificity: number;
}

export function compileRoute(template: string): CompiledRoute {
  const segments = template
    .split('/')
    .filter((s) => s !== '')
    .map((segment) => {
      const m = /^\{(\*)?([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?(\?)?\}$/.exec(segment);
      if (!m) return { literal: segment.toLowerCase() };
      const param = m[2] as string;
      const base = { param, optional: m[4] === '?', catchAll: m[1] === '*' };
      return m[3] ? { ...base, constraint: m[3] } : base;
    });
  const specificity = segments.reduce((n, s) => n + ('literal' in s ? 2 : 1), 0);
  return { template, segments, specificity };
}

export function matchRoute(route: CompiledRoute, path: string): Record<string, string> | undefined {
  const parts = path.split('/').filter((s) => s !== '');
  const params: Record<string, string> = {};
  let i = 0;
  for (const segment of route.segments) {
    if ('literal' in segment) {
      if (parts[i]?.toLowerCase() !== segment.literal) return undefined;
      i++;
      continue;
    }
    if (segment.catchAll) {
      params[segment.param] = parts.slice(i).map(safeDecode).join('/');
      return params;
    }
    const part = parts[i];
    if (part === undefined) {
      if (segment.optional) continue;
      return undefined;
    }
    const value = safeDecode(part);
    if (segment.constraint === 'int' && !/^-?\d+$/.test(value)) return undefined;
    params[segment.param] = value;
    i++;
  }
  return i === parts.length ? params : undefined;
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
