import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { callerOf } from '../../shared/app/identity.js';
import {
  cookieValue,
  decideAccess,
  ensureLocalSecret,
  LocalAccess,
  readLocalSecret,
  secretFile,
  sessionCookie,
} from '../../shared/runtime/localAccess.js';

const secret = 's'.repeat(43);

describe('local access', () => {
  it('a sign-in token works once, for its user, and not after 15 minutes', () => {
    let now = 0;
    const access = new LocalAccess(secret, 'me', () => now);
    const token = access.issueToken();
    assert.equal(Buffer.from(token, 'base64url').length, 32, '256 bits');
    const first = access.redeemToken(token);
    assert.equal(first?.user, 'me');
    assert.equal(access.redeemToken(token), undefined, 'used');
    assert.equal(access.redeemToken('guess'), undefined);
    const late = access.issueToken('bob');
    now += 15 * 60_000 + 1;
    assert.equal(access.redeemToken(late), undefined, 'expired');
    const cookie = sessionCookie(first?.sessionId ?? '');
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
  });

  it('knows the session cookie and the secret, and nothing else', () => {
    const access = new LocalAccess(secret, 'me');
    const session = access.redeemToken(access.issueToken('alice'));
    const cookie = `x=1; baton_session=${session?.sessionId ?? ''}`;
    assert.deepEqual(access.identify({ cookie }), { user: 'alice', via: 'session' });
    assert.deepEqual(access.identify({ cookie, 'x-baton-user': 'bob' }), {
      user: 'alice',
      via: 'session',
    });
    assert.deepEqual(access.identify({ authorization: `Bearer ${secret}` }), {
      user: 'me',
      via: 'secret',
    });
    assert.deepEqual(
      access.identify({ authorization: `Bearer ${secret}`, 'x-baton-user': 'carol' }),
      { user: 'carol', via: 'secret' },
    );
    assert.equal(access.identify({ authorization: 'Bearer wrong' }), undefined);
    assert.equal(access.identify({ 'x-baton-user': 'alice' }), undefined);
    assert.equal(access.identify({ cookie: 'baton_session=forged' }), undefined);
    access.endSession({ cookie });
    assert.equal(access.identify({ cookie }), undefined, 'signed out');
    assert.equal(cookieValue('a=1; b = 2', 'b'), '2');
  });

  it('lets anyone read, only the authenticated change, and the cookie only with the portal header', () => {
    const access = new LocalAccess(secret, 'me');
    const session = access.redeemToken(access.issueToken());
    const cookie = `baton_session=${session?.sessionId ?? ''}`;
    assert.deepEqual(decideAccess(access, 'GET', {}), { identity: undefined });
    assert.equal((decideAccess(access, 'POST', {}) as { status: number }).status, 401);
    assert.equal(
      (decideAccess(access, 'DELETE', { 'x-baton-user': 'me' }) as { status: number }).status,
      401,
    );
    assert.equal((decideAccess(access, 'POST', { cookie }) as { status: number }).status, 403);
    assert.deepEqual(decideAccess(access, 'POST', { cookie, 'x-baton-portal': '1' }), {
      identity: { user: 'me', via: 'session' },
    });
    assert.deepEqual(decideAccess(access, 'PUT', { authorization: `Bearer ${secret}` }), {
      identity: { user: 'me', via: 'secret' },
    });
  });

  it('keeps the secret in a file only its owner can read, and refuses one others can', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'baton-secret-'));
    try {
      const made = await ensureLocalSecret(dir, {});
      assert.equal(Buffer.from(made, 'base64url').length, 32);
      assert.equal((await readFile(secretFile(dir), 'utf8')).trim(), made);
      if (process.platform !== 'win32') {
        assert.equal((await stat(secretFile(dir))).mode & 0o777, 0o600);
        assert.equal(await readLocalSecret(dir, {}), made);
        await chmod(secretFile(dir), 0o644);
        assert.equal(await readLocalSecret(dir, {}), undefined, 'world-readable is no secret');
        const remade = await ensureLocalSecret(dir, {});
        assert.notEqual(remade, made);
      }
      assert.equal(await ensureLocalSecret(dir, { BATON_LOCAL_SECRET: 'from-env' }), 'from-env');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('callerOf', () => {
  const request = (headers: Record<string, string>) => ({ headers: new Headers(headers) });
  const principal = (claims: Array<{ typ: string; val: string }>): string =>
    Buffer.from(JSON.stringify({ auth_typ: 'aad', claims })).toString('base64');

  it('locally: the user the local host vouched for, never the platform headers', () => {
    assert.equal(callerOf(request({ 'x-baton-user': 'alice' }), {}), 'alice');
    assert.equal(callerOf(request({}), {}), 'anonymous');
    assert.equal(callerOf(request({ 'x-ms-client-principal-name': 'mallory' }), {}), 'anonymous');
  });

  it('in Azure (BATON_AUTH=appservice): App Service Authentication headers only', () => {
    const azure = { BATON_AUTH: 'appservice' };
    assert.equal(callerOf(request({ 'x-ms-client-principal-name': 'a@x.org' }), azure), 'a@x.org');
    assert.equal(
      callerOf(
        request({
          'x-ms-client-principal': principal([
            { typ: 'name', val: 'Alice A' },
            { typ: 'preferred_username', val: 'alice@x.org' },
          ]),
        }),
        azure,
      ),
      'alice@x.org',
    );
    assert.equal(callerOf(request({ 'x-baton-user': 'alice' }), azure), 'anonymous');
    assert.equal(
      callerOf(request({ 'x-ms-client-principal': 'not base64 json' }), azure),
      'anonymous',
    );
  });
});
