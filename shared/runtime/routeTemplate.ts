/**
 * Azure Functions route templates (`runs/{runId}`, `files/{*rest}`, `items/{id:int}`,
 * `a/{b?}`) matched against a request path. The most specific registration wins regardless of
 * registration order (see `specificityOf`).
 */
export interface CompiledRoute {
  template: string;
  segments: Array<
    | { literal: string }
    | { param: string; optional: boolean; catchAll: boolean; constraint?: string }
  >;
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
  return { template, segments, specificity: specificityOf(segments) };
}

/**
 * Routes compare segment by segment: a literal beats a constrained parameter, which beats a
 * plain one, which beats the end of a shorter route, which beats an optional parameter, which
 * beats a catch-all. Encoded as one number (base 6, first segment most significant) so callers
 * can simply sort by it.
 */
const rankBase = 6;
const rankedSegments = 10;
const absentRank = 2;

function specificityOf(segments: CompiledRoute['segments']): number {
  let value = 0;
  for (let i = 0; i < rankedSegments; i++) {
    const segment = segments[i];
    let rank = absentRank;
    if (segment && 'literal' in segment) rank = 5;
    else if (segment?.catchAll) rank = 0;
    else if (segment?.optional) rank = 1;
    else if (segment?.constraint) rank = 4;
    else if (segment) rank = 3;
    value = value * rankBase + rank;
  }
  return value;
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
