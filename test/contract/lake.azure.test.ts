import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { DataLakeServiceClient, StorageSharedKeyCredential } from '@azure/storage-file-datalake';
import { AdlsLake, type AdlsLakeOptions } from '../../shared/adapters/azure/adlsLake.js';
import { startDfsServer, type DfsServer } from '../servers/dfsServer.js';
import { runLakeContract, type LakeFactory } from './lake.contract.js';

/**
 * The Lake contract against AdlsLake driving the real DataLake SDK (12.29.0) over HTTP into the
 * local DFS server. Shared-key signing is sent but not verified by the server.
 */
let server: DfsServer;
let service: DataLakeServiceClient;
let counter = 0;

before(async () => {
  server = await startDfsServer();
  service = new DataLakeServiceClient(
    server.accountUrl,
    new StorageSharedKeyCredential(server.account, Buffer.from('dummy-key').toString('base64')),
    { retryOptions: { maxTries: 2, retryDelayInMs: 10, maxRetryDelayInMs: 50 } },
  );
});

after(async () => {
  // Every request the SDK made was one the server understood.
  assert.deepEqual(
    server.unknown.map((r) => `${r.method} ${r.path} ${JSON.stringify(r.query)}`),
    [],
  );
  await server.close();
});

function adlsFactory(options: Omit<AdlsLakeOptions, 'fileSystem'>): LakeFactory {
  return async () => {
    const fileSystem = service.getFileSystemClient(`lake${++counter}`);
    await fileSystem.create();
    return {
      lake: new AdlsLake({ ...options, fileSystem }),
      cleanup: async () => {
        await fileSystem.deleteIfExists();
      },
    };
  };
}

runLakeContract('AdlsLake at the filesystem root', adlsFactory({}));

// A root folder, and uploads small enough chunks that the multi-megabyte case goes as parallel appends.
runLakeContract(
  'AdlsLake under a root folder, 512 KiB parallel appends',
  adlsFactory({ rootFolder: 'tenants/t1/lake', chunkSize: 512 * 1024, concurrency: 4 }),
);
