import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { FolderTransfers } from '../../shared/adapters/local/folderTransfers.js';
import { runTransfersContract, waitForEnd, type TransfersWorld } from './transfers.contract.js';

async function makeWorld(): Promise<TransfersWorld & { root: string }> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'baton-transfers-'));
  const folders = { spot: path.join(root, 'spot'), data: path.join(root, 'data') };
  await mkdir(folders.spot);
  await mkdir(folders.data);
  let gate: Promise<void> | undefined;
  const service = new FolderTransfers({
    endpoints: folders,
    beforeCopy: async () => {
      if (gate !== undefined) await gate;
    },
  });
  return {
    service,
    folders,
    root,
    removes: true,
    reportsChecksums: true,
    hold: () => {
      let release: () => void = () => undefined;
      gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      return () => {
        gate = undefined;
        release();
      };
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

runTransfersContract('FolderTransfers', makeWorld);

describe('FolderTransfers: local specifics', () => {
  it('never follows a symlink out of the endpoint', async () => {
    const world = await makeWorld();
    try {
      const outside = path.join(world.root, 'outside');
      await mkdir(outside);
      await writeFile(path.join(outside, 'secret.txt'), 'secret');
      await symlink(outside, path.join(world.folders.spot, 'link'));
      await world.service.submit({
        transferId: 'sym-1',
        source: { endpoint: 'spot', path: 'link/secret.txt' },
        destination: { endpoint: 'data', path: 'secret.txt' },
      });
      const done = await waitForEnd(world.service, 'sym-1');
      assert.equal(done.state, 'failed');
      assert.match(done.reason ?? '', /symlink/);
      await mkdir(path.join(world.folders.spot, 'tree'));
      await symlink(path.join(outside, 'secret.txt'), path.join(world.folders.spot, 'tree/s'));
      await world.service.submit({
        transferId: 'sym-2',
        source: { endpoint: 'spot', path: 'tree' },
        destination: { endpoint: 'data', path: 'tree' },
        recursive: true,
      });
      assert.match((await waitForEnd(world.service, 'sym-2')).reason ?? '', /symlink/);
      await assert.rejects(readFile(path.join(world.folders.data, 'tree/s')));
    } finally {
      await world.cleanup();
    }
  });

  it('the same id with other paths is a conflict', async () => {
    const world = await makeWorld();
    try {
      await writeFile(path.join(world.folders.spot, 'a'), 'a');
      await world.service.submit({
        transferId: 'c-1',
        source: { endpoint: 'spot', path: 'a' },
        destination: { endpoint: 'data', path: 'a' },
      });
      await assert.rejects(
        world.service.submit({
          transferId: 'c-1',
          source: { endpoint: 'spot', path: 'a' },
          destination: { endpoint: 'data', path: 'b' },
        }),
        { code: 'conflict' },
      );
    } finally {
      await world.cleanup();
    }
  });
});
