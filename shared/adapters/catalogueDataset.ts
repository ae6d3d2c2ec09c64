import { z } from 'zod';
import { BatonError } from '../domain/errors.js';
import { formatIssuePath } from '../domain/validation.js';
import type { CatalogueDataset } from '../ports/catalogue.js';

/**
 * The one validation of a dataset handed to any Catalogue adapter, so the state store and
 * SciCat refuse the same input with the same `validation` error (naming the field) before any
 * I/O. Dataset ids are SciCat pids too (`<prefix>/<name>` is allowed): letters, digits and
 * `._:/-`, no empty or `.`/`..` segments.
 */
export const datasetIdPattern = /^(?!.*(?:^|\/)\.{1,2}(?:\/|$))[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/;

const scalar = z.union([z.string(), z.number().finite(), z.boolean()]);

const datasetSchema = z.strictObject({
  datasetId: z.string().regex(datasetIdPattern, 'letters, digits and ._:/- (at most 200)'),
  name: z.string().trim().min(1).max(500),
  owner: z.string().trim().min(1).max(200),
  sourceFolder: z.string().min(1).max(2048),
  metadata: z.record(z.string().min(1).max(200), scalar),
  files: z.array(
    z.strictObject({
      path: z.string().min(1).max(2048),
      size: z.number().int().nonnegative(),
      checksum: z.string().max(200),
    }),
  ),
  creationTime: z.iso.datetime({ offset: true }),
});

export function parseCatalogueDataset(input: unknown): CatalogueDataset {
  const parsed = datasetSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const inner = formatIssuePath(issue?.path ?? []);
  const field = inner === '' ? 'dataset' : `dataset.${inner}`;
  throw new BatonError('validation', `${field}: ${issue?.message ?? 'invalid'}`, { field });
}

export function validateDatasetId(datasetId: string): string {
  if (!datasetIdPattern.test(datasetId)) {
    throw new BatonError('validation', 'datasetId: letters, digits and ._:/- (at most 200)', {
      field: 'datasetId',
    });
  }
  return datasetId;
}
