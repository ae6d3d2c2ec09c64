import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileBus } from '../../shared/adapters/local/fileBus.js';
import { FileLogStore } from '../../shared/adapters/local/fileLogStore.js';
import { FileStateStore } from '../../shared/adapters/local/fileStateStore.js';
import { FolderLake } from '../../shared/adapters/local/folderLake.js';
import { runBusContract } from './bus.contract.js';
import { runLakeContract } from './lake.contract.js';
import { runLogStoreContract } from './logStore.contract.js';
import { runStateStoreContract } from './stateStore.contract.js';

/** A fresh folder per adapter instance, removed by the fixture's cleanup. */
async function tempRoot(kind: string): Promise<{ root: string; cleanup: () => Promise<void> }> {
  const root = await mkdtemp(path.join(os.tmpdir(), `baton-${kind}-`));
  return { root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

runStateStoreContract('FileStateStore', async () => {
  const { root, cleanup } = await tempRoot('state');
  return { store: new FileStateStore({ root }), cleanup };
});

runLakeContract('FolderLake', async () => {
  const { root, cleanup } = await tempRoot('lake');
  return { lake: new FolderLake({ root }), cleanup };
});

runBusContract('FileBus', async ({ maxDeliveryCount, lockDurationMs }) => {
  const { root, cleanup } = await tempRoot('bus');
  const bus = new FileBus({ root, maxDeliveryCount, lockDurationMs });
  return { bus, queue: 'work', otherQueue: 'other', lockDurationMs, cleanup };
});

runLogStoreContract('FileLogStore', async () => {
  const { root, cleanup } = await tempRoot('logs');
  return { logs: new FileLogStore({ root }), cleanup };
});
