import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../shared/app/config.js';
import { callerOf, parseUserNameRules, userNameOf } from '../../shared/app/identity.js';

/**
 * Entra principal names (`alice@x.org`) mapped to Baton user names (`user.<name>.`): explicit
 * entries, or the local part for listed domains only; anything else keeps its full name and
 * owns nothing. Malformed settings stop the app at start-up with the setting's name.
 */
const request = (principal: string) => ({
  headers: new Headers({ 'x-ms-client-principal-name': principal }),
});

describe('userNameOf', () => {
  it('keeps the principal as given by default', () => {
    assert.equal(userNameOf('alice@x.org', {}), 'alice@x.org');
    assert.equal(userNameOf('alice', {}), 'alice');
  });

  it('takes the local part only for the listed domains', () => {
    const settings = { BATON_USER_NAME_FROM: 'local-part', BATON_USER_DOMAINS: 'x.org, Y.org' };
    assert.equal(userNameOf('Alice@X.org', settings), 'alice');
    assert.equal(userNameOf('carol@y.org', settings), 'carol');
    // A guest from another domain never becomes the tenant's alice.
    assert.equal(userNameOf('alice@elsewhere.org', settings), 'alice@elsewhere.org');
    // A local part that breaks the user-name rules is not mangled into one.
    assert.equal(userNameOf('bob.smith@x.org', settings), 'bob.smith@x.org');
    assert.equal(userNameOf('9lives@x.org', settings), '9lives@x.org');
    assert.equal(userNameOf('a@b@x.org', settings), 'a@b@x.org');
    assert.equal(userNameOf('@x.org', settings), '@x.org');
    // A bare name from another provider must not become the mapped alice.
    assert.equal(userNameOf('alice', settings), 'unmapped:alice');
    assert.notEqual(userNameOf('alice', settings), userNameOf('alice@x.org', settings));
  });

  it('lets explicit entries win, case-insensitively', () => {
    const settings = {
      BATON_USER_NAME_FROM: 'local-part',
      BATON_USER_DOMAINS: 'x.org',
      BATON_USER_NAMES: 'bob.smith@x.org=bsmith; ALICE@x.org=alice2',
    };
    assert.equal(userNameOf('Bob.Smith@x.org', settings), 'bsmith');
    assert.equal(userNameOf('alice@x.org', settings), 'alice2');
    assert.equal(userNameOf('dave@x.org', settings), 'dave');
  });

  it('maps the App Service principal in callerOf, and only under BATON_AUTH=appservice', () => {
    const settings = {
      BATON_AUTH: 'appservice',
      BATON_USER_NAME_FROM: 'local-part',
      BATON_USER_DOMAINS: 'x.org',
    };
    assert.equal(callerOf(request('alice@x.org'), settings), 'alice');
    assert.equal(
      callerOf(request('alice@x.org'), { ...settings, BATON_AUTH: 'local' }),
      'anonymous',
    );
  });

  it('refuses malformed settings, naming the setting', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ BATON_USER_NAME_FROM: 'email' }, /BATON_USER_NAME_FROM/],
      [{ BATON_USER_NAME_FROM: 'local-part' }, /BATON_USER_DOMAINS: required/],
      [{ BATON_USER_DOMAINS: 'not a domain' }, /BATON_USER_DOMAINS/],
      [
        { BATON_USER_NAMES: 'alice@x.org' },
        /BATON_USER_NAMES: "alice@x.org" is not principal=name/,
      ],
      [{ BATON_USER_NAMES: 'alice@x.org=Alice' }, /BATON_USER_NAMES: "Alice" is not a user name/],
      [{ BATON_USER_NAMES: 'a@x.org=a;A@x.org=b' }, /named twice/],
    ];
    for (const [settings, message] of cases) {
      assert.throws(() => parseUserNameRules(settings), message, JSON.stringify(settings));
    }
    assert.throws(
      () => loadConfig({ BATON_USER_NAME_FROM: 'local-part' }),
      /setting\.BATON_USER_DOMAINS/,
    );
    assert.doesNotThrow(() =>
      loadConfig({ BATON_USER_NAME_FROM: 'local-part', BATON_USER_DOMAINS: 'x.org' }),
    );
  });
});
