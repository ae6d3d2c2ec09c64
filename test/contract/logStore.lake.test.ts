import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LakeLogStore } from '../../shared/adapters/lakeLogStore.js';
import { FolderLake } from '../../shared/adapters/local/folderLake.js';
import { systemClock } from '../../shared/ports/clock.js';
import { runLogStoreContract } from './logStore.contract.js';

// The lake-backed LogStore (what Azure uses, over ADLS) against the same contract as the file one.
runLogStoreContract('lake log store over a folder lake', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'baton-lakelogs-'));
  return {
    logs: new LakeLogStore(new FolderLake({ root }), systemClock),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});
