import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { confinedPath, readAsset } from '../../shared/portal/staticAssets.js';
import {
  rawRequest,
  registeredHttpRoutes,
  startInProcessHost,
  type InProcessHost,
} from '../helpers/inProcessHost.js';

/**
 * The portal's file serving (no Chromium needed, so this always runs): a URL path can name
 * only a file inside the asset folder, and every API route keeps its `/api/` URL now that
 * host.json's routePrefix is "".
 */
describe('portal assets are confined to their folder', () => {
  let root: string;
  before(async () => {
    const top = await mkdtemp(path.join(os.tmpdir(), 'baton-assets-'));
    root = path.join(top, 'assets');
    await mkdir(path.join(root, 'css'), { recursive: true });
    await writeFile(path.join(root, 'app.mjs'), 'export {};');
    await writeFile(path.join(root, 'css', 'a.css'), 'a{}');
    await writeFile(path.join(top, 'secret.txt'), 'secret');
    await symlink(path.join(top, 'secret.txt'), path.join(root, 'link.txt'));
  });
  after(async () => rm(path.dirname(root), { recursive: true, force: true }));

  it('serves files inside, with their content type', async () => {
    const reply = await readAsset('css/a.css', root);
    assert.equal(reply.status, 200);
    assert.ok(reply.status === 200 && reply.contentType.startsWith('text/css'));
  });

  it('refuses every way out', async () => {
    for (const hostile of [
      '../secret.txt',
      'css/../../secret.txt',
      './app.mjs',
      '..\\secret.txt',
      '/etc/passwd',
      'css/..',
      'a\0b',
      'C:/Windows/win.ini',
      '',
    ]) {
      const reply = await readAsset(hostile, root);
      assert.equal(reply.status, 404, hostile);
      if (!hostile.startsWith('/')) assert.equal(confinedPath(root, hostile), undefined, hostile);
    }
    assert.equal(confinedPath(root, '/etc/passwd'), path.join(root, 'etc', 'passwd'));
    assert.equal((await readAsset('link.txt', root)).status, 404, 'a link that leads out');
    assert.equal((await readAsset('css', root)).status, 404, 'a folder');
    assert.equal((await readAsset('vendor/__proto__', root)).status, 404);
    assert.equal((await readAsset('vendor/../app.mjs', root)).status, 404);
  });
});

describe('portal and API routes on the local host', () => {
  let host: InProcessHost;
  before(async () => {
    host = await startInProcessHost({ prefix: 'baton-portal-routes-' });
  });
  after(() => host.stop());

  /** A raw GET: fetch() would normalise `..` away before it left the client. */
  const rawGet = (rawPath: string): Promise<{ status: number; body: string }> =>
    rawRequest(host.url, { path: rawPath });

  it('serves the portal at / and its files under /portal/, nothing outside them', async () => {
    const page = await rawGet('/');
    assert.equal(page.status, 200);
    assert.match(page.body, /<title>Baton<\/title>/);
    assert.equal((await rawGet('/portal/app.mjs')).status, 200);
    assert.match((await rawGet('/portal/vendor/chart.umd.min.js')).body, /Chart\.js v4/);
    for (const hostile of [
      '/portal/../package.json',
      '/portal/../../package.json',
      '/portal/%2e%2e/%2e%2e/package.json',
      '/portal/..%2F..%2Fpackage.json',
      '/portal/..%5C..%5Cpackage.json',
      '/portal/vendor/..%2F..%2F..%2Fpackage.json',
      '/..%2Fpackage.json',
      '/package.json',
    ]) {
      const reply = await rawGet(hostile);
      assert.equal(reply.status, 404, hostile);
      assert.doesNotMatch(reply.body, /"name":\s*"baton"/, hostile);
    }
  });

  it('keeps every API route under /api/ (routePrefix is "", so each route says api/)', async () => {
    const portal = new Set(['portalPage', 'portalAsset']);
    for (const { name, route } of registeredHttpRoutes()) {
      if (portal.has(name)) continue;
      assert.match(route, /^api\//, `${name}: route ${route} must start with api/`);
    }
    assert.equal((await rawGet('/api/health')).status, 200);
  });
});
