import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isBatonError } from '../../shared/domain/errors.js';
import type { Catalogue, CatalogueDataset } from '../../shared/ports/catalogue.js';

/** What every Catalogue must do, run against the state-store and the SciCat adapters. */
export interface CatalogueWorld {
  catalogue: Catalogue;
  cleanup(): Promise<void>;
}

export function sampleDataset(datasetId: string): CatalogueDataset {
  return {
    datasetId,
    name: '20241105_scan_sample',
    owner: 'bl832',
    sourceFolder: '/data832/raw/20241105_scan_sample',
    metadata: { energy_keV: 25, detector: 'pco.edge', dark_fields: true },
    files: [
      {
        path: 'raw/20241105_scan_sample.h5',
        size: 1024,
        checksum: `sha256:${'ab'.repeat(32)}`,
      },
    ],
    creationTime: '2024-11-05T10:00:00.000Z',
  };
}

export function runCatalogueContract(name: string, makeWorld: () => Promise<CatalogueWorld>): void {
  describe(`Catalogue contract: ${name}`, () => {
    let world: CatalogueWorld;
    before(async () => {
      world = await makeWorld();
    });
    after(() => world.cleanup());

    it('ingests a dataset with its files and reads it back', async () => {
      const dataset = sampleDataset('bl832/scan-0001');
      const result = await world.catalogue.ingest(dataset);
      assert.deepEqual(result, { id: 'bl832/scan-0001', created: true });
      const read = await world.catalogue.get('bl832/scan-0001');
      assert.deepEqual(read, { ...dataset, id: 'bl832/scan-0001' });
    });

    it('ingesting the same id again creates nothing new', async () => {
      const dataset = sampleDataset('scan-0002');
      assert.equal((await world.catalogue.ingest(dataset)).created, true);
      const again = await world.catalogue.ingest({ ...dataset, name: 'changed' });
      assert.deepEqual(again, { id: 'scan-0002', created: false });
      assert.equal((await world.catalogue.get('scan-0002')).name, dataset.name);
      assert.equal((await world.catalogue.get('scan-0002')).files.length, 1);
    });

    it('an unknown dataset is not_found', async () => {
      await assert.rejects(world.catalogue.get('scan-never'), (e) => isBatonError(e, 'not_found'));
    });

    it('refuses bad input with validation before writing', async () => {
      await assert.rejects(
        world.catalogue.ingest({ ...sampleDataset('../escape'), name: 'x' }),
        (e) => isBatonError(e, 'validation') && e.field === 'dataset.datasetId',
      );
      await assert.rejects(
        world.catalogue.ingest({ ...sampleDataset('scan-bad'), creationTime: 'yesterday' }),
        (e) => isBatonError(e, 'validation') && e.field === 'dataset.creationTime',
      );
      await assert.rejects(world.catalogue.get('scan-bad'), (e) => isBatonError(e, 'not_found'));
    });
  });
}
