import { mkdtemp, rm } from 'node:fs/promises';
import { after } from 'node:test';
import { DataLakeServiceClient, StorageSharedKeyCredential } from '@azure/storage-file-datalake';
import { AdlsLake } from '../../shared/adapters/azure/adlsLake.js';
import { startDfsServer, type DfsServer } from '../servers/dfsServer.js';
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

// And over ADLS: the SDK against the local DFS server, which is how the deployed app keeps logs.
let dfs: DfsServer | undefined;
let dataLake: DataLakeServiceClient | undefined;
let fileSystems = 0;
after(async () => {
  await dfs?.close();
});
runLogStoreContract('lake log store over ADLS (DFS server on the wire)', async () => {
  dfs ??= await startDfsServer();
  dataLake ??= new DataLakeServiceClient(
    dfs.accountUrl,
    new StorageSharedKeyCredential(dfs.account, Buffer.from('dummy-key').toString('base64')),
  );
  const fileSystem = dataLake.getFileSystemClient(`logs${++fileSystems}`);
  await fileSystem.create();
  return {
    logs: new LakeLogStore(new AdlsLake({ fileSystem }), systemClock),
    cleanup: async () => {
      await fileSystem.deleteIfExists();
    },
  };
});
