import { z } from 'zod';
import { isBatonError, notFound, type ErrorCode } from '../../domain/errors.js';
import type { Catalogue, CatalogueDataset } from '../../ports/catalogue.js';
import { parseCatalogueDataset, validateDatasetId } from '../catalogueDataset.js';
import { RestClient, type RetryOptions } from '../http/restClient.js';

export interface ScicatCatalogueOptions {
  /** The SciCat backend, e.g. `https://scicat.als.lbl.gov` (`/api/v3/...` is added). */
  baseUrl: string;
  /** A SciCat access token (from `POST /api/v3/auth/login` or a service account). */
  token: string;
  /** Required raw-dataset fields SciCat wants that the port does not carry. */
  ownerGroup: string;
  accessGroups?: string[];
  contactEmail: string;
  principalInvestigator: string;
  /** e.g. `/ALS/832`. */
  creationLocation: string;
  timeoutMs?: number;
  retry?: RetryOptions;
  fetch?: typeof fetch;
}

// ---------------------------------------------------------------------------------------------
// Wire shapes (SciCat backend API v3). Unknown fields are ignored.

const scalar = z.union([z.string(), z.number(), z.boolean()]);
/** SciCat convention is `{value, unit}`; plain scalars are accepted too. */
const metadataValue = z.union([
  scalar,
  z.object({ value: scalar, unit: z.string().optional() }).transform((v) => v.value),
]);
const datasetWire = z.object({
  pid: z.string().min(1),
  datasetName: z.string().optional(),
  owner: z.string(),
  sourceFolder: z.string(),
  creationTime: z.string(),
  scientificMetadata: z.record(z.string(), metadataValue).default({}),
});
const datasetOrNull = z.union([datasetWire, z.null()]);
const dataFileWire = z.object({
  path: z.string(),
  size: z.number().nonnegative(),
  chk: z.string().optional(),
});
const origDatablockWire = z.object({
  datasetId: z.string().optional(),
  dataFileList: z.array(dataFileWire),
  chkAlg: z.string().optional(),
});
const origDatablocks = z.array(origDatablockWire);
const errorBody = z.object({
  statusCode: z.number().optional(),
  message: z.union([z.string(), z.array(z.string())]).optional(),
  error: z.string().optional(),
});

/**
 * Catalogue over the SciCat REST API v3 (`fetch`, no SDK): a raw dataset
 * (`POST /api/v3/datasets` with `pid` = datasetId, owner, sourceFolder, creationTime and the
 * metadata as `scientificMetadata` `{key: {value}}`), then one orig data block
 * (`POST /api/v3/origdatablocks` with `dataFileList`: path, size, `chk`; `chkAlg` from the
 * checksums' `<algorithm>:` prefix). `get` reads `GET /api/v3/datasets/{pid}` (pid URL-encoded:
 * SciCat pids hold `/`) and `GET /api/v3/datasets/{pid}/origdatablocks`.
 *
 * Idempotency: a duplicate pid (409, or the 500 "E11000 duplicate key" older backends answer)
 * means the dataset exists: ingest answers `created: false`, and still adds the data block if
 * the earlier attempt stopped before it (no block yet). A retried create whose first answer was
 * lost also lands here, so it reports `created: false` for a dataset this call did create (the
 * beamline flow then asks the record which run made it).
 * Errors: 400 validation, 401/403 forbidden, 404 not_found; 429/5xx/timeouts retried, then
 * `unavailable`; a reply of the wrong shape is `internal`. The token is never logged.
 */
export class ScicatCatalogue implements Catalogue {
  private readonly client: RestClient;
  /** The fields every record carries; the token stays inside the client only. */
  private readonly fields: ScicatFields;

  constructor(options: ScicatCatalogueOptions) {
    this.fields = {
      ownerGroup: options.ownerGroup,
      accessGroups: options.accessGroups ?? [],
      contactEmail: options.contactEmail,
      principalInvestigator: options.principalInvestigator,
      creationLocation: options.creationLocation,
    };
    this.client = new RestClient({
      service: 'SciCat',
      baseUrl: `${options.baseUrl.replace(/\/+$/, '')}/api/v3`,
      token: options.token,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.retry === undefined ? {} : { retry: options.retry }),
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      classifyError: classifyScicatError,
    });
  }

  async ingest(dataset: CatalogueDataset): Promise<{ id: string; created: boolean }> {
    const valid = parseCatalogueDataset(dataset);
    let created = true;
    try {
      await this.client.request('POST', {
        path: '/datasets',
        what: 'POST /datasets',
        schema: datasetWire,
        json: toScicatDataset(valid, this.fields),
      });
    } catch (error) {
      if (!isBatonError(error, 'conflict')) throw error;
      created = false;
    }
    const blocks = created ? [] : await this.datablocks(valid.datasetId);
    if (blocks.length === 0) {
      await this.client.request('POST', {
        path: '/origdatablocks',
        what: 'POST /origdatablocks',
        schema: origDatablockWire,
        json: toOrigDatablock(valid, this.fields),
      });
    }
    return { id: valid.datasetId, created };
  }

  async get(datasetId: string): Promise<CatalogueDataset & { id: string }> {
    validateDatasetId(datasetId);
    const dataset = await this.client.request('GET', {
      path: `/datasets/${encodeURIComponent(datasetId)}`,
      what: 'GET /datasets/{pid}',
      schema: datasetOrNull,
    });
    // Some SciCat versions answer a missing pid with 200 and `null`.
    if (dataset === null) throw notFound(`dataset ${datasetId}`);
    const blocks = await this.datablocks(datasetId);
    return fromScicatDataset(dataset, blocks);
  }

  private datablocks(pid: string): Promise<z.output<typeof origDatablocks>> {
    return this.client.request('GET', {
      path: `/datasets/${encodeURIComponent(pid)}/origdatablocks`,
      what: 'GET /datasets/{pid}/origdatablocks',
      schema: origDatablocks,
    });
  }
}

type ScicatFields = Pick<
  ScicatCatalogueOptions,
  'ownerGroup' | 'contactEmail' | 'principalInvestigator' | 'creationLocation'
> & { accessGroups: string[] };

export function toScicatDataset(
  dataset: CatalogueDataset,
  options: ScicatFields,
): Record<string, unknown> {
  return {
    pid: dataset.datasetId,
    type: 'raw',
    datasetName: dataset.name,
    owner: dataset.owner,
    ownerGroup: options.ownerGroup,
    accessGroups: options.accessGroups,
    contactEmail: options.contactEmail,
    principalInvestigator: options.principalInvestigator,
    creationLocation: options.creationLocation,
    sourceFolder: dataset.sourceFolder,
    creationTime: dataset.creationTime,
    size: dataset.files.reduce((sum, f) => sum + f.size, 0),
    numberOfFiles: dataset.files.length,
    isPublished: false,
    scientificMetadata: Object.fromEntries(
      Object.entries(dataset.metadata).map(([key, value]) => [key, { value }]),
    ),
  };
}

function toOrigDatablock(
  dataset: CatalogueDataset,
  options: ScicatFields,
): Record<string, unknown> {
  const algorithms = new Set(dataset.files.map((f) => f.checksum.split(':')[0] ?? ''));
  const [chkAlg] = algorithms.size === 1 ? [...algorithms] : [''];
  return {
    datasetId: dataset.datasetId,
    ownerGroup: options.ownerGroup,
    accessGroups: options.accessGroups,
    size: dataset.files.reduce((sum, f) => sum + f.size, 0),
    ...(chkAlg === undefined || chkAlg === '' ? {} : { chkAlg }),
    dataFileList: dataset.files.map((f) => ({
      path: f.path,
      size: f.size,
      time: dataset.creationTime,
      chk: f.checksum,
    })),
  };
}

function fromScicatDataset(
  dataset: z.output<typeof datasetWire>,
  blocks: z.output<typeof origDatablocks>,
): CatalogueDataset & { id: string } {
  return {
    id: dataset.pid,
    datasetId: dataset.pid,
    name: dataset.datasetName ?? dataset.pid,
    owner: dataset.owner,
    sourceFolder: dataset.sourceFolder,
    metadata: dataset.scientificMetadata,
    files: blocks.flatMap((b) =>
      b.dataFileList.map((f) => ({ path: f.path, size: f.size, checksum: f.chk ?? '' })),
    ),
    creationTime: dataset.creationTime,
  };
}

function classifyScicatError(status: number, body: unknown): { detail?: string; code?: ErrorCode } {
  const parsed = errorBody.safeParse(body);
  if (!parsed.success) return {};
  const message = Array.isArray(parsed.data.message)
    ? parsed.data.message.join('; ')
    : parsed.data.message;
  const detail = [parsed.data.error, message].filter((s) => s !== undefined && s !== '').join(': ');
  if (/E11000|duplicate key/i.test(message ?? '')) return { detail, code: 'conflict' };
  return { detail };
}
