import { stateCollections } from '../../shared/app/stateCollections.js';
import { HostFolderStaging } from '../../shared/adapters/local/hostFolderStaging.js';
import { StateStoreTracker } from '../../shared/adapters/local/stateStoreTracker.js';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { DataLakeServiceClient, StorageSharedKeyCredential } from '@azure/storage-file-datalake';
import { AciBackend } from '../../shared/adapters/azure/aciCompute.js';
import { AdlsLake } from '../../shared/adapters/azure/adlsLake.js';
import {
  CosmosStateStore,
  ensureCosmosContainers,
} from '../../shared/adapters/azure/cosmosStateStore.js';
import {
  createServiceBusBus,
  type ServiceBusQueues,
} from '../../shared/adapters/azure/serviceBusBus.js';
import { LakeLogStore } from '../../shared/adapters/lakeLogStore.js';
import { loadConfig } from '../../shared/app/config.js';
import type { Services } from '../../shared/app/services.js';
import { systemClock } from '../../shared/ports/clock.js';
import { AmqpBroker } from '../servers/amqpBroker.js';
import { createFakeAciClient } from '../servers/arm/fakeAciClient.js';
import { startArmContainerServer, type ArmContainerServer } from '../servers/armContainerServer.js';
import { startCosmosEmulator, type CosmosEmulator } from '../servers/cosmosEmulator.js';
import { startDfsServer, type DfsServer } from '../servers/dfsServer.js';

/**
 * Baton's Azure side on one machine: the Cosmos DB emulator, the DFS server, the AMQP broker
 * and the ARM fake, each on loopback, with the app's Azure adapters (the real SDK clients)
 * pointed at them. Only authentication differs from production (keys and dummy tokens, since
 * bearer tokens are refused over plain http).
 */
export interface AzureWorld {
  services: Services;
  cosmos: CosmosEmulator;
  dfs: DfsServer;
  broker: AmqpBroker;
  arm: ArmContainerServer;
  stateDir: string;
  stop(): Promise<void>;
}

export const azureCollections = stateCollections;

export async function startAzureWorld(
  options: { maxDeliveryCount?: number; lockDurationMs?: number } = {},
): Promise<AzureWorld> {
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-azure-'));
  const cosmos = await startCosmosEmulator();
  const dfs = await startDfsServer();
  const broker = await AmqpBroker.start();
  const arm = await startArmContainerServer({ stopGraceMs: 500 });
  const maxDeliveryCount = options.maxDeliveryCount ?? 5;
  for (const queue of ['launch-job', 'job-events', 'schedule-tasks']) {
    broker.createQueue(queue, {
      maxDeliveryCount,
      lockDurationMs: options.lockDurationMs ?? 30_000,
      duplicateDetectionWindowMs: 10 * 60_000,
    });
  }

  const cosmosClient = new CosmosClient({
    endpoint: cosmos.endpoint,
    key: 'emulator',
    ...cosmos.clientOptions,
  });
  const databaseId = `baton-${randomUUID().slice(0, 8)}`;
  await ensureCosmosContainers(cosmosClient, databaseId, azureCollections);
  const dataLake = new DataLakeServiceClient(
    dfs.accountUrl,
    new StorageSharedKeyCredential(dfs.account, Buffer.from('dummy-key').toString('base64')),
    {
      retryOptions: { maxTries: 2, retryDelayInMs: 10, maxRetryDelayInMs: 50 },
    },
  );
  const fileSystem = dataLake.getFileSystemClient('lake');
  await fileSystem.create();
  const bus: ServiceBusQueues = createServiceBusBus({
    fullyQualifiedNamespace: broker.host,
    connectionString: broker.connectionString,
    clientOptions: { retryOptions: { maxRetries: 2, retryDelayInMs: 50, timeoutInMs: 10_000 } },
  });
  const lake = new AdlsLake({ fileSystem });
  const config = loadConfig({
    BATON_STATE_DIR: stateDir,
    BATON_BUS_MAX_DELIVERY_COUNT: String(maxDeliveryCount),
  });
  const state = new CosmosStateStore({ client: cosmosClient, databaseId });
  const services: Services = {
    config,
    state,
    lake,
    bus,
    compute: new AciBackend({
      client: createFakeAciClient(arm.url),
      resourceGroup: 'baton-jobs',
      location: 'westeurope',
      defaultImage: 'node:20-alpine',
      pollIntervalMs: 25,
    }),
    // ACI jobs cannot be staged yet: tasks on this world are refused (see JobStaging).
    staging: new HostFolderStaging({
      lake,
      root: path.join(stateDir, 'work'),
      backends: ['local'],
    }),
    logs: new LakeLogStore(lake, systemClock),
    clock: systemClock,
    tracker: new StateStoreTracker({ store: state, clock: systemClock }),
  };
  return {
    services,
    cosmos,
    dfs,
    broker,
    arm,
    stateDir,
    stop: async () => {
      await bus.close();
      cosmosClient.dispose();
      await arm.close();
      await broker.stop();
      await dfs.close();
      await cosmos.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}
