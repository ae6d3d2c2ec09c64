/**
 * The scientific catalogue (SciCat in production, the state store locally): a dataset record
 * per ingested file with its metadata, and the data blocks that say where its files are.
 */
export interface CatalogueDataset {
  /** Idempotency key: ingesting the same id twice creates one record. */
  datasetId: string;
  name: string;
  owner: string;
  sourceFolder: string;
  /** Metadata extracted from the file (scalars only). */
  metadata: Record<string, string | number | boolean>;
  files: Array<{ path: string; size: number; checksum: string }>;
  creationTime: string;
}

export interface Catalogue {
  /** Creates the dataset and its data block; returns the catalogue's id for it. */
  ingest(dataset: CatalogueDataset): Promise<{ id: string; created: boolean }>;
  /** `not_found` when absent. */
  get(datasetId: string): Promise<CatalogueDataset & { id: string }>;
}
