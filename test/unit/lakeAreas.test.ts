import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertMayRemoveLakePath, lakeAreaOwner } from '../../shared/app/datasets.js';
import { isBatonError } from '../../shared/domain/errors.js';

describe("a user's lake areas", () => {
  it('are users/<user>/ and the folders of their tasks', () => {
    assert.equal(lakeAreaOwner('users/alice/cfg/a.json'), 'alice');
    assert.equal(lakeAreaOwner('users/alice'), 'alice');
    assert.equal(lakeAreaOwner('tasks/user.bob.scan/outputs/j1'), 'bob');
    assert.equal(lakeAreaOwner('users'), undefined);
    assert.equal(lakeAreaOwner('runs/r1/out.txt'), undefined);
    assert.equal(lakeAreaOwner('scratch/users/alice'), undefined);
  });

  it("refuse removal of another user's files, or of a folder holding users' areas", () => {
    const refused = (path: string, caller: string): boolean => {
      try {
        assertMayRemoveLakePath(path, caller, 'path');
        return false;
      } catch (error) {
        assert.ok(isBatonError(error, 'forbidden'), String(error));
        assert.equal(error.field, 'path');
        assert.match(error.message, /^path: /);
        return true;
      }
    };
    assert.equal(refused('users/alice/cfg', 'alice'), false);
    assert.equal(refused('tasks/user.alice.scan', 'alice'), false);
    assert.equal(refused('scratch/scan-9', 'bob'), false, 'shared areas stay as documented');
    assert.equal(refused('users/alice/cfg', 'bob'), true);
    assert.equal(refused('users//alice/./cfg', 'bob'), true, 'normalised first');
    assert.equal(refused('tasks/user.alice.scan/outputs', 'bob'), true);
    assert.equal(refused('users', 'alice'), true);
    assert.equal(refused('tasks/', 'alice'), true);
  });
});
