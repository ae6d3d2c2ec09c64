import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { BatonError } from '../../shared/domain/errors.js';
import { errorReply, redactHostPaths } from '../../shared/app/httpResponses.js';
import { InvocationContext } from '../../shared/runtime/functionsApi.js';
import { packageRoot } from '../../shared/runtime/packageRoot.js';

describe('error replies name no folder of the host', () => {
  it('labels the app, temporary and home folders, and keeps other text', () => {
    const state = path.join(os.tmpdir(), 'baton-x', 'databanks', 'db1');
    assert.equal(
      redactHostPaths(`databank db1: no config in ${state} (create it)`),
      'databank db1: no config in <tmp>/baton-x/databanks/db1 (create it)',
    );
    assert.equal(redactHostPaths(`${packageRoot()}/host.json`), '<app>/host.json');
    assert.equal(redactHostPaths(`"${os.homedir()}"`), '"~"');
    assert.equal(
      redactHostPaths('users/alice/a.txt and /api/runs'),
      'users/alice/a.txt and /api/runs',
    );
    // A longer folder that merely starts with the same letters is not the root.
    assert.equal(redactHostPaths(`${os.tmpdir()}x/y`), `${os.tmpdir()}x/y`);
  });

  it('applies to the message of every error reply', () => {
    const context = new InvocationContext({ functionName: 'f' });
    const reply = errorReply(
      new BatonError('not_found', `nothing at ${path.join(os.tmpdir(), 's', 'f')}`, {
        field: 'path',
      }),
      context,
    );
    assert.deepEqual(reply.jsonBody, {
      error: { code: 'not_found', message: 'nothing at <tmp>/s/f', field: 'path' },
    });
  });
});
