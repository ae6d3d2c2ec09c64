import { realpath, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { packageRoot } from '../runtime/packageRoot.js';

/**
 * The portal's files: its own HTML, CSS and browser modules from `shared/portal/assets/`, and the
 * charting library straight from `node_modules` (so the version is the one package-lock pins,
 * and nothing is fetched from a network when a page loads). A URL path can only ever name a
 * file inside those folders.
 */
export type AssetReply =
  { status: 200; body: Buffer; contentType: string } | { status: 404; message: string };

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

export const assetsRoot = (): string => path.join(packageRoot(), 'shared', 'portal', 'assets');

/** Library files served under `vendor/`, by the name pages ask for. */
function vendorFiles(): Record<string, string> {
  const chartDist = path.dirname(createRequire(import.meta.url).resolve('chart.js'));
  return { 'chart.umd.min.js': path.join(chartDist, 'chart.umd.min.js') };
}

/**
 * The file a URL path names below `root`, or undefined when the path tries to leave it: `..`
 * and `.` segments, backslashes (a separator on Windows), NUL and absolute paths are refused
 * outright rather than normalised, because a path that needs normalising is not one our
 * pages ever ask for.
 */
export function confinedPath(root: string, urlPath: string): string | undefined {
  const segments = urlPath.split('/').filter((s) => s !== '');
  if (segments.length === 0) return undefined;
  for (const segment of segments) {
    if (segment === '.' || segment === '..') return undefined;
    if (/[\\\0:]/.test(segment)) return undefined;
  }
  const resolved = path.resolve(root, ...segments);
  return isInside(root, resolved) ? resolved : undefined;
}

function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

/** Reads the asset at `urlPath` (relative to the portal's root URL). */
export async function readAsset(urlPath: string, root: string = assetsRoot()): Promise<AssetReply> {
  const notFound: AssetReply = { status: 404, message: `no portal file ${urlPath.slice(0, 200)}` };
  const vendorName = /^vendor\/([^/]+)$/.exec(urlPath)?.[1];
  const vendor = vendorFiles();
  const file =
    vendorName === undefined
      ? confinedPath(root, urlPath)
      : Object.hasOwn(vendor, vendorName)
        ? vendor[vendorName]
        : undefined;
  if (file === undefined) return notFound;
  try {
    // A symbolic link inside the folder must not lead out of it either.
    if (vendorName === undefined && !isInside(await realpath(root), await realpath(file))) {
      return notFound;
    }
    if (!(await stat(file)).isFile()) return notFound;
    const contentType = contentTypes[path.extname(file)] ?? 'application/octet-stream';
    return { status: 200, body: await readFile(file), contentType };
  } catch {
    return notFound;
  }
}
