import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rejectForeignRequest } from '../../shared/runtime/requestGuard.js';

const own = 'http://127.0.0.1:7071';

describe('local host request guard', () => {
  it('lets scripts and the CLI through (loopback Host, no Origin)', () => {
    for (const host of ['127.0.0.1:7071', 'localhost:7071', '[::1]:7071', 'LOCALHOST:7071']) {
      assert.equal(rejectForeignRequest({ host }, own), undefined, host);
    }
  });

  it('lets the host’s own pages through', () => {
    assert.equal(rejectForeignRequest({ host: '127.0.0.1:7071', origin: own }, own), undefined);
    assert.equal(
      rejectForeignRequest({ host: 'localhost:7071', origin: 'http://localhost:7071' }, own),
      undefined,
    );
  });

  it('refuses DNS rebinding (a foreign name resolving to loopback)', () => {
    assert.match(
      rejectForeignRequest({ host: 'evil.example:7071' }, own) ?? '',
      /not a loopback name/,
    );
    assert.match(rejectForeignRequest({}, own) ?? '', /not a loopback name/);
  });

  it('refuses cross-site requests from a browser (CSRF)', () => {
    assert.match(
      rejectForeignRequest({ host: '127.0.0.1:7071', origin: 'https://evil.example' }, own) ?? '',
      /Origin/,
    );
    assert.match(
      rejectForeignRequest({ host: '127.0.0.1:7071', origin: 'http://127.0.0.1:9999' }, own) ?? '',
      /Origin/,
    );
    assert.match(
      rejectForeignRequest({ host: '127.0.0.1:7071', origin: 'null' }, own) ?? '',
      /null/,
    );
    assert.match(
      rejectForeignRequest({ host: '127.0.0.1:7071', 'sec-fetch-site': 'cross-site' }, own) ?? '',
      /cross-site/,
    );
  });
});
