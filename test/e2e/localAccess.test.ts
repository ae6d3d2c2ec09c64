import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/hostProcess.js';
import { startInProcessHost, type InProcessHost } from '../helpers/inProcessHost.js';
import { asUser } from '../helpers/localAuth.js';

/**
 * Access to an in-process local host: the one-time sign-in token of `baton up`'s URL gives a
 * session cookie once; the cookie authenticates (with the portal's header); a change without
 * either the cookie or the host secret is 401; a foreign Origin is refused; the CLI, holding
 * the secret, still works.
 */
describe('local host access', { timeout: 60_000 }, () => {
  let host: InProcessHost;
  const hello = JSON.stringify({ pipeline: 'hello', params: { count: 1 }, dryRun: true });

  before(async () => {
    host = await startInProcessHost({ prefix: 'baton-access-' });
  });
  after(() => host.stop());

  const redeem = (token: string): Promise<Response> =>
    fetch(`${host.url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: host.url },
      body: JSON.stringify({ token }),
    });

  it('signs in once with the token, then the cookie is the user', async () => {
    const url = new URL(host.host.signInUrl('alice'));
    assert.equal(url.hostname, '127.0.0.1');
    const token = url.searchParams.get('token') ?? '';
    const first = await redeem(token);
    assert.equal(first.status, 200);
    assert.deepEqual(await first.json(), { user: 'alice' });
    const setCookie = first.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.equal((await redeem(token)).status, 401, 'the token works once');

    const cookie = setCookie.split(';')[0] ?? '';
    const me = await fetch(`${host.url}/api/me`, { headers: { cookie } });
    assert.deepEqual(await me.json(), { user: 'alice' });
    const started = await fetch(`${host.url}/api/runs`, {
      method: 'POST',
      headers: {
        cookie,
        'content-type': 'application/json',
        origin: host.url,
        'x-baton-portal': '1',
        'x-baton-user': 'bob',
      },
      body: hello,
    });
    assert.equal(started.status, 202, await started.text());
    const noHeader = await fetch(`${host.url}/api/runs`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: hello,
    });
    assert.equal(noHeader.status, 403, 'a cookie change needs the portal header');
  });

  it('refuses a change from no one (401), whatever user it names', async () => {
    for (const headers of <Array<Record<string, string>>>[
      {},
      { 'x-baton-user': 'alice' },
      { authorization: 'Bearer not-the-secret', 'x-baton-user': 'alice' },
      { 'x-ms-client-principal-name': 'alice' },
    ]) {
      const response = await fetch(`${host.url}/api/runs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: hello,
      });
      assert.equal(response.status, 401, JSON.stringify(headers));
    }
    const webhook = await fetch(`${host.url}/runtime/webhooks/durabletask/instances`);
    assert.equal(webhook.status, 401, 'the durable webhooks need the secret too');
    const me = await fetch(`${host.url}/api/me`, {
      headers: { 'x-baton-user': 'alice', 'x-ms-client-principal-name': 'alice' },
    });
    assert.deepEqual(await me.json(), { user: 'anonymous' }, 'reading is anonymous');
  });

  it('refuses a foreign Origin even with the secret', async () => {
    const response = await fetch(`${host.url}/api/runs`, {
      method: 'POST',
      headers: { ...asUser('alice'), origin: 'https://evil.example' },
      body: hello,
    });
    assert.equal(response.status, 403);
    const signIn = await fetch(`${host.url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
      body: JSON.stringify({ token: new URL(host.host.signInUrl()).searchParams.get('token') }),
    });
    assert.equal(signIn.status, 403);
  });

  it('lets the CLI (the secret holder) change things as its user', async () => {
    const cli = await runCli(
      ['--json', '--endpoint', host.url, '--user', 'carol', 'run', 'hello', '--dry-run'],
      {},
    );
    assert.equal(cli.code, 0, cli.stderr);
    const other = await mkdtemp(path.join(os.tmpdir(), 'baton-access-other-'));
    try {
      // Another account: no secret in its environment, none in its own state folder.
      const noSecret = await runCli(
        ['--json', '--endpoint', host.url, '--state-dir', other, 'run', 'hello', '--dry-run'],
        { BATON_LOCAL_SECRET: '' },
      );
      assert.notEqual(noSecret.code, 0);
      assert.match(noSecret.stderr + noSecret.stdout, /sign in/);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });
});
