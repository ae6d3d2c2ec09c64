import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, it } from 'node:test';
import { AciBackend } from '../../shared/adapters/azure/aciCompute.js';
import { AdlsLake } from '../../shared/adapters/azure/adlsLake.js';
import { CosmosStateStore } from '../../shared/adapters/azure/cosmosStateStore.js';
import { ServiceBusQueues } from '../../shared/adapters/azure/serviceBusBus.js';
import { LakeLogStore } from '../../shared/adapters/lakeLogStore.js';
import { FileBus } from '../../shared/adapters/local/fileBus.js';
import { FileLogStore } from '../../shared/adapters/local/fileLogStore.js';
import { FileStateStore } from '../../shared/adapters/local/fileStateStore.js';
import { FolderLake } from '../../shared/adapters/local/folderLake.js';
import { LocalProcessBackend } from '../../shared/adapters/local/processCompute.js';
import { StateStoreTracker } from '../../shared/adapters/local/stateStoreTracker.js';
import { MlflowTracker } from '../../shared/adapters/mlflow/mlflowTracker.js';
import { loadConfig } from '../../shared/app/config.js';
import { createServices } from '../../shared/app/services.js';
import { allAzureSettings } from '../helpers/azureSettings.js';

/** The settings choose the adapters (building clients contacts no service). */
describe('services from settings', () => {
  it('are the local adapters by default', async () => {
    const s = await createServices(loadConfig({ BATON_STATE_DIR: os.tmpdir() }));
    assert.ok(s.state instanceof FileStateStore);
    assert.ok(s.lake instanceof FolderLake);
    assert.ok(s.bus instanceof FileBus);
    assert.ok(s.compute instanceof LocalProcessBackend);
    assert.ok(s.logs instanceof FileLogStore);
    assert.ok(s.tracker instanceof StateStoreTracker);
  });

  it('track with MLflow when BATON_TRACKER=mlflow (the token read from the named variable)', async () => {
    process.env.BATON_TEST_MLFLOW_TOKEN = 'secret';
    try {
      const s = await createServices(
        loadConfig({
          BATON_STATE_DIR: os.tmpdir(),
          BATON_TRACKER: 'mlflow',
          BATON_MLFLOW_URL: 'http://127.0.0.1:5000',
          BATON_MLFLOW_TOKEN_ENV: 'BATON_TEST_MLFLOW_TOKEN',
        }),
      );
      assert.ok(s.tracker instanceof MlflowTracker);
      assert.equal(s.tracker.baseUrl, 'http://127.0.0.1:5000');
    } finally {
      delete process.env.BATON_TEST_MLFLOW_TOKEN;
    }
  });

  it('are the Azure adapters when the settings choose them, with logs in the lake', async () => {
    const s = await createServices(loadConfig({ ...allAzureSettings }));
    try {
      assert.ok(s.state instanceof CosmosStateStore);
      assert.ok(s.lake instanceof AdlsLake);
      assert.ok(s.bus instanceof ServiceBusQueues);
      assert.ok(s.compute instanceof AciBackend);
      assert.ok(s.logs instanceof LakeLogStore);
    } finally {
      await (s.bus as ServiceBusQueues).close();
      (s.state as CosmosStateStore).dispose();
    }
  });

  it('can mix: Azure state with local everything else', async () => {
    const s = await createServices(
      loadConfig({
        BATON_STATE: 'cosmos',
        BATON_COSMOS_ENDPOINT: 'https://acct.documents.azure.com:443/',
        BATON_STATE_DIR: os.tmpdir(),
      }),
    );
    try {
      assert.ok(s.state instanceof CosmosStateStore);
      assert.ok(s.lake instanceof FolderLake);
      assert.ok(s.logs instanceof FileLogStore);
    } finally {
      (s.state as CosmosStateStore).dispose();
    }
  });
});
