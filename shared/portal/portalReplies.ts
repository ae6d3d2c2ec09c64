import type { HttpResponseInit } from '@azure/functions';
import { readAsset } from './staticAssets.js';

/**
 * HTTP replies for the portal's pages and files. The portal is one HTML page whose modules
 * render each view from the JSON API (hash routes: `#/runs`, `#/runs/<id>`, `#/tasks`, ...), so
 * the site root serves `index.html` and everything else is a file under `/portal/`.
 */

// Only our own files run or load: no inline script, no other origin (the pages need no CDN).
const securityHeaders = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // Files change with each deployment and are small; revalidating keeps pages and modules in step.
  'cache-control': 'no-cache',
};

/** The page at the site root: `/` (and `/index.html`); any other single segment is not ours. */
export async function portalPageReply(page: string | undefined): Promise<HttpResponseInit> {
  if (page !== undefined && page !== '' && page !== 'index.html') return notFound(page);
  return assetReply('index.html');
}

/** A file under `/portal/`. */
export async function portalAssetReply(filePath: string): Promise<HttpResponseInit> {
  return assetReply(filePath);
}

async function assetReply(filePath: string): Promise<HttpResponseInit> {
  const asset = await readAsset(filePath);
  if (asset.status === 404) return notFound(filePath);
  return {
    status: 200,
    body: asset.body,
    headers: { 'content-type': asset.contentType, ...securityHeaders },
  };
}

function notFound(what: string): HttpResponseInit {
  return {
    status: 404,
    jsonBody: { error: { code: 'not_found', message: `no portal page ${what.slice(0, 200)}` } },
  };
}
