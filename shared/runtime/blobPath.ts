/**
 * Blob trigger paths (`landing/{name}`, `raw/{scan}/{name}.h5`): the folder to list and a
 * matcher that binds the `{…}` parts of a blob's path, as the Functions host does. A binding
 * may span folders (`{name}` of `landing/a/b.h5` is `a/b.h5`).
 */
export interface BlobPathPattern {
  /** The fixed folder before the first `{`: what the poller lists. */
  listPrefix: string;
  match(path: string): Record<string, string> | undefined;
}

export function compileBlobPath(pattern: string): BlobPathPattern {
  const names: string[] = [];
  let source = '^';
  let rest = pattern;
  for (;;) {
    const open = rest.indexOf('{');
    if (open < 0) {
      source += escapeRegExp(rest);
      break;
    }
    const close = rest.indexOf('}', open);
    if (close < 0) throw new Error(`blob path "${pattern}" has an unclosed {`);
    source += escapeRegExp(rest.slice(0, open)) + '(.+?)';
    names.push(rest.slice(open + 1, close));
    rest = rest.slice(close + 1);
  }
  // The last binding takes the rest of the path.
  if (source.endsWith('(.+?)')) source = `${source.slice(0, -'(.+?)'.length)}(.+)`;
  const regex = new RegExp(`${source}$`);
  const firstBrace = pattern.indexOf('{');
  const fixed = firstBrace < 0 ? pattern : pattern.slice(0, firstBrace);
  const listPrefix = fixed.includes('/') ? fixed.slice(0, fixed.lastIndexOf('/')) : '';
  return {
    listPrefix,
    match(path: string) {
      const m = regex.exec(path);
      if (!m) return undefined;
      const out: Record<string, string> = {};
      names.forEach((name, i) => (out[name] = m[i + 1] ?? ''));
      return out;
    },
  };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
