import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileStateStore } from '../../shared/adapters/local/fileStateStore.js';
import { StateStoreCatalogue } from '../../shared/adapters/local/stateStoreCatalogue.js';
import { runCatalogueContract } from './catalogue.contract.js';

runCatalogueContract('StateStoreCatalogue (FileStateStore)', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'baton-catalogue-'));
  return {
    catalogue: new StateStoreCatalogue(new FileStateStore({ root })),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});
