import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { FolderLake } from '../../shared/adapters/local/folderLake.js';
import { uploadOutputOnce } from '../../shared/app/lakeOutputs.js';
import { isBatonError } from '../../shared/domain/errors.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('uploadOutputOnce', () => {
  it('accepts the same output again, refuses different content and never replaces it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'baton-outputs-'));
    dirs.push(dir);
    const lake = new FolderLake({ root: path.join(dir, 'lake') });
    const model = path.join(dir, 'model.onnx');
    const other = path.join(dir, 'other.onnx');
    await writeFile(model, 'weights v1');
    await writeFile(other, 'weights v2');
    await uploadOutputOnce(lake, model, 'ml/run-1/train/model.onnx');
    // A redelivered activity uploads the same file again: done, nothing changes.
    await uploadOutputOnce(lake, model, 'ml/run-1/train/model.onnx');
    await assert.rejects(uploadOutputOnce(lake, other, 'ml/run-1/train/model.onnx'), (e) =>
      isBatonError(e, 'conflict'),
    );
    assert.equal((await lake.read('ml/run-1/train/model.onnx')).toString(), 'weights v1');
  });
});
