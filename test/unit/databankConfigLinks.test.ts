import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { readDatabankConfig } from '../../shared/app/databanks.js';
import { isBatonError } from '../../shared/domain/errors.js';

const config =
  'model_steps: [a]\niterations: { total: 1 }\nsub_components:\n  a:\n    commands:\n      - command: [node, a.mjs]\n';

describe('readDatabankConfig: only a regular file of the databank', () => {
  const roots: string[] = [];
  after(async () => {
    for (const root of roots) await rm(root, { recursive: true, force: true });
  });

  it('reads a plain config, refuses a symlinked one or a folder (never reading outside)', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'baton-bank-'));
    roots.push(root);
    const bank = path.join(root, 'bank');
    await mkdir(bank);
    await writeFile(path.join(bank, 'ok.yaml'), config);
    await writeFile(path.join(root, 'outside.yaml'), config.replace('a.mjs', 'SECRET'));
    await symlink(path.join(root, 'outside.yaml'), path.join(bank, 'link.yaml'));
    await mkdir(path.join(bank, 'folder.yaml'));
    assert.deepEqual(
      (await readDatabankConfig(bank, 'ok.yaml')).config.sub_components.a?.commands[0]?.argv,
      ['node', 'a.mjs'],
    );
    for (const [name, why] of [
      ['link.yaml', 'a symbolic link'],
      ['folder.yaml', 'not a file'],
    ] as const) {
      await assert.rejects(readDatabankConfig(bank, name), (error: unknown) => {
        assert.ok(isBatonError(error, 'validation'), String(error));
        assert.equal(error.field, 'config');
        assert.ok(error.message.includes(why), error.message);
        assert.ok(!error.message.includes('SECRET'));
        return true;
      });
    }
    await assert.rejects(readDatabankConfig(bank, 'missing.yaml'), (error: unknown) =>
      isBatonError(error, 'not_found'),
    );
  });
});
