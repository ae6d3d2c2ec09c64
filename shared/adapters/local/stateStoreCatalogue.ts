import { BatonError, isBatonError, notFound } from '../../domain/errors.js';
import type { Catalogue, CatalogueDataset } from '../../ports/catalogue.js';
import type { StateStore } from '../../ports/stateStore.js';
import { parseCatalogueDataset, validateDatasetId } from '../catalogueDataset.js';

export const catalogueCollection = 'catalogue';

/**
 * The catalogue on one machine: one state-store document per dataset in the `catalogue`
 * collection (id and partition = datasetId), holding the record and its file list (the
 * "data block"). Ingest is a create: a second ingest of the same id finds the first record and
 * answers `created: false` without changing it, so a redelivered activity is harmless.
 */
export class StateStoreCatalogue implements Catalogue {
  constructor(private readonly store: StateStore) {}

  async ingest(dataset: CatalogueDataset): Promise<{ id: string; created: boolean }> {
    const valid = parseCatalogueDataset(dataset);
    try {
      await this.store.create(catalogueCollection, {
        id: valid.datasetId,
        pk: valid.datasetId,
        body: valid,
      });
      return { id: valid.datasetId, created: true };
    } catch (error) {
      if (!isBatonError(error, 'conflict')) throw error;
      return { id: valid.datasetId, created: false };
    }
  }

  async get(datasetId: string): Promise<CatalogueDataset & { id: string }> {
    validateDatasetId(datasetId);
    const doc = await this.store.read<CatalogueDataset>(catalogueCollection, datasetId, datasetId);
    if (doc === undefined) throw notFound(`dataset ${datasetId}`);
    if (doc.body.datasetId !== datasetId) {
      throw new BatonError('internal', `catalogue document ${datasetId} holds another dataset`);
    }
    return { ...doc.body, id: datasetId };
  }
}
